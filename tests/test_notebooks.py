"""Guards around the notebooks that nbval alone cannot give.

nbval (run by ``make test`` over ``notebooks/``) re-executes each notebook and
compares its outputs with the committed ones. It passes trivially on a notebook
committed without outputs, and it says nothing about memory or time. These
tests close those gaps:

* every notebook is in the book's table of contents;
* every code cell was executed, in order, with stored outputs and no errors;
* the committed outputs belong to the committed code (source hash stamped by
  ``book/tools/execute_notebooks.py``);
* no notebook embeds plotly.js or widget state;
* each notebook's default path runs in under 2 minutes and 2 GiB (Binder's
  limits), measured on a fresh kernel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
sys.path.insert(0, str(ROOT / "book" / "tools"))
from execute_notebooks import source_sha256  # noqa: E402

MAX_SECONDS = 120
MAX_BYTES = 2 * 1024 ** 3
MAX_FILE_BYTES = 1_500_000


def _load(path):
    import nbformat
    return nbformat.read(path, as_version=4)


def _ids(paths):
    return [p.name for p in paths]


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb: nothing would be tested"


def test_every_notebook_is_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in toc, f"{path.name} is not in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_outputs_are_stored_in_order_and_without_errors(path):
    nb = _load(path)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert code, f"{path.name} has no code cells"
    counts = [c.execution_count for c in code]
    assert None not in counts, f"{path.name}: unexecuted code cells (committed without outputs)"
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: cells were not executed top to bottom in one fresh kernel: {counts}")
    assert any(c.outputs for c in code), f"{path.name}: no stored outputs at all"
    for c in code:
        for out in c.outputs:
            assert out.output_type != "error", f"{path.name}: a stored error output"
            if out.output_type == "stream":
                assert out.name != "stderr" or "Warning" not in out.text, (
                    f"{path.name}: a warning in stored output: {out.text[:200]}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_outputs_are_not_stale(path):
    nb = _load(path)
    stamp = nb.metadata.get("lplr", {}).get("source_sha256")
    assert stamp, (f"{path.name} has no source stamp: execute it with "
                   "book/tools/execute_notebooks.py")
    assert stamp == source_sha256(nb), (
        f"{path.name}: code changed since its outputs were produced; re-run "
        "book/tools/execute_notebooks.py")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_small_and_embeds_no_javascript_libraries(path):
    size = path.stat().st_size
    assert size < MAX_FILE_BYTES, f"{path.name} is {size} bytes"
    text = path.read_text()
    assert "plotly.js v" not in text and "Plotly.register" not in text, (
        f"{path.name} embeds plotly.js; use lplr_core.viz.show")
    assert "widgets" not in json.loads(text).get("metadata", {}), (
        f"{path.name} stores widget state")


_RUNNER = r"""
import sys, nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[2]}}).execute()
"""


def _peak_tree_rss(pid, stop, result):
    import psutil
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    peak = 0
    while not stop.is_set():
        total = 0
        try:
            procs = [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        peak = max(peak, total)
        time.sleep(0.05)
    result.append(peak)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_default_path_fits_binder(path):
    """Fresh kernel, default settings: < 2 minutes and < 2 GiB (driver + kernel)."""
    # A reader's kernel: default settings, one JAX device (tests/conftest.py forces
    # two host devices for the sharding tests; a notebook must not inherit that), and
    # nothing compiled yet (no persistent compilation cache, which tests/conftest.py sets).
    env = {k: v for k, v in os.environ.items() if k not in ("LPLR_FAST", "XLA_FLAGS")
           and not k.startswith(("JAX_COMPILATION_CACHE", "JAX_PERSISTENT_CACHE"))}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _RUNNER, str(path), str(path.parent)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stop, result = threading.Event(), []
    watcher = threading.Thread(target=_peak_tree_rss, args=(proc.pid, stop, result))
    watcher.start()
    try:
        output, _ = proc.communicate(timeout=MAX_SECONDS * 3)
    finally:
        stop.set()
        watcher.join()
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, f"{path.name} failed to execute:\n{output[-3000:]}"
    peak = result[0] if result else 0
    print(f"{path.name}: {elapsed:.1f} s, peak {peak / 2**20:.0f} MiB")
    assert peak > 50 * 2**20, "memory watcher saw nothing: the measurement is broken"
    assert elapsed < MAX_SECONDS, f"{path.name} took {elapsed:.0f} s (limit {MAX_SECONDS})"
    assert peak < MAX_BYTES, f"{path.name} peaked at {peak / 2**30:.2f} GiB"
