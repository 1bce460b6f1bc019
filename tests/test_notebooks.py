"""Guards around the notebooks that nbval alone cannot give.

nbval (run by ``make test`` over ``notebooks/``) re-executes each notebook and
compares its outputs with the committed ones. It passes trivially on a notebook
committed without outputs, or with outputs of another version of its code. These
tests close those gaps:

* every notebook is in the book's table of contents;
* every code cell was executed, in order, with stored outputs and no errors;
* the committed outputs belong to the committed code (source hash stamped by
  ``book/tools/execute_notebooks.py``);
* no notebook embeds plotly.js or widget state.

Binder's limits (each notebook's default path in under 2 minutes and 2 GiB, on a
fresh kernel without the compilation cache) are checked during nbval's own run,
by the plugin tests/nbval_binder.py that ``make test`` loads on its nbval line
(tested in tests/test_nbval_binder.py), rather than by executing every notebook
a second time here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
sys.path.insert(0, str(ROOT / "book" / "tools"))
from execute_notebooks import source_sha256  # noqa: E402

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
