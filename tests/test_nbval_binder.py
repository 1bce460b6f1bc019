"""The nbval plugin tests/nbval_binder.py (Binder's limits for every notebook, run by
``make test``'s nbval line) fails a notebook over its limits, and passes one within them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]

_CELLS = {
    # Over the time limit, little memory.
    "sleeper": ["import time", "time.sleep(7.0)"],
    # Over the memory limit, quickly: 400 MiB touched (np.ones writes every page).
    "hog": ["import numpy as np", "block = np.ones(400 * 2**20 // 8)", "float(block[-1])"],
    # Within both; a reader's environment: no compilation cache, no forced host devices.
    "light": ["import os",
              "assert os.environ.get('JAX_ENABLE_COMPILATION_CACHE') == 'false', os.environ",
              "assert not any(k.startswith(('JAX_COMPILATION_CACHE', 'JAX_PERSISTENT_CACHE'))"
              " or k in ('XLA_FLAGS', 'LPLR_FAST') for k in os.environ), os.environ",
              "1 + 1"],
}


def _write(folder: Path, name: str, lines) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(line) for line in lines]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def _start(folder: Path, names, max_seconds: float) -> subprocess.Popen:
    for name in names:
        _write(folder, name, _CELLS[name])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")]), "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_COMPILATION_CACHE_DIR": str(folder / "cache"), "LPLR_FAST": "1",
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    env.pop("JAX_ENABLE_COMPILATION_CACHE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "--nbval-lax", str(folder), "-p", "tests.nbval_binder",
         "--binder-max-seconds", str(max_seconds), "--binder-max-mib", "300",
         "-p", "no:cacheprovider", "-p", "no:xdist", "-rA", "--rootdir", str(folder),
         "-o", "addopts="],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory):
    """Two nbval runs at once: the time limit (lowered to 6 s) on the sleeper; the memory
    limit (lowered to 300 MiB) on the hog and the light notebook, with time to spare."""
    timed = _start(tmp_path_factory.mktemp("binder-time"), ["sleeper"], 6)
    sized = _start(tmp_path_factory.mktemp("binder-memory"), ["hog", "light"], 120)
    outputs = []
    for proc in (timed, sized):
        out, _ = proc.communicate(timeout=300)
        outputs.append((proc.returncode, out))
    return outputs


def _failure(output, name):
    """The message under ``name``'s binder-limits item in the FAILURES section, or None."""
    match = re.search(rf"_ {name}\.ipynb::binder-limits _+\n(.*)\n", output)
    return match.group(1) if match else None


def _passed(output, name):
    return re.search(rf"^PASSED \S*{name}\.ipynb::binder-limits$", output, re.MULTILINE)


def test_a_notebook_over_the_time_limit_fails(plugin_run):
    returncode, out = plugin_run[0]
    assert returncode == 1 and re.search(r"\b1 failed, 2 passed\b", out), out
    message = _failure(out, "sleeper")
    assert message and message.startswith("sleeper.ipynb does not fit Binder: took "), out
    seconds = float(re.search(r"took ([0-9.]+) s", message).group(1))
    assert 7.0 <= seconds < 90, message        # the sleep counts, kernel start-up too
    assert "Binder limit 6 s" in message and "MiB" not in message


def test_a_notebook_over_the_memory_limit_fails(plugin_run):
    returncode, out = plugin_run[1]
    assert returncode == 1, out
    message = _failure(out, "hog")
    assert message and message.startswith("hog.ipynb does not fit Binder: its kernel peaked"), out
    mib = float(re.search(r"peaked at ([0-9.]+) MiB", message).group(1))
    assert 400 <= mib < 1000, message          # the 400 MiB block, plus the interpreter
    assert "Binder limit 300 MiB" in message and "took" not in message


def test_a_notebook_within_the_limits_passes_in_a_readers_environment(plugin_run):
    returncode, out = plugin_run[1]
    assert _passed(out, "light") and _failure(out, "light") is None, out
    # every cell of both notebooks passed (the environment asserts included)
    assert re.search(r"\b1 failed, 8 passed\b", out), out
    summary = re.search(r"light\.ipynb: ([0-9.]+) s, peak ([0-9]+) MiB", out)
    assert summary, out
    assert float(summary.group(1)) < 120 and 10 < int(summary.group(2)) < 300


def test_the_plugin_is_on_the_nbval_line_of_make_test():
    makefile = (ROOT / "Makefile").read_text()
    nbval = re.search(r"^NBVAL\s*:=((?:.*\\\n)*.*)$", makefile, re.MULTILINE)
    assert nbval and "-p tests.nbval_binder" in nbval.group(1), nbval
    for target in ("test", "test-notebooks"):
        body = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
        assert "$(NBVAL)" in body, (target, body)
