"""Shared test setup: float64 available everywhere; float32 tests cast explicitly.

Compiled programs persist between runs: XLA's persistent compilation cache lives in
``<venv>/jax-cache`` (every program, however small or quick to compile), so a second run of
the suite, of one test file or of nbval (``make test`` exports the same variables) loads its
programs instead of compiling them again. Set ``JAX_COMPILATION_CACHE_DIR`` to use another
folder, or ``JAX_ENABLE_COMPILATION_CACHE=false`` to compile everything afresh. Subprocesses
started by the tests inherit the setting; tests that time a reader's fresh kernel remove it.
The folder is pruned to ``CACHE_KEEP_BYTES`` once it grows past ``CACHE_MAX_BYTES``.
"""

import os
import sys
from pathlib import Path


def _default_cache_dir() -> str:
    """``<venv>/jax-cache`` inside a virtual environment, else nothing (no cache)."""
    if sys.prefix == sys.base_prefix:
        return ""
    return str(Path(sys.prefix) / "jax-cache")


# Two host devices so that sharded code paths can be compared with unsharded ones. The rest
# trades XLA's CPU code generation for compile time, since most of a run with an empty
# compilation cache is compiling (about 7,800 programs, most of them small):
#   * LLVM's optimization level 1 instead of XLA's default 2 (CPU seconds with an empty cache,
#     per file, against the default: test_check -6%, test_cnn_robustness -23%, test_phase -2%);
#     level 0 saves more but made test_cnn_robustness's training 48% slower and moved the FAST
#     cnn_robustness run outside the tolerance of its committed results;
#   * XLA's classic elemental emitters instead of the newer MLIR fusion emitters
#     (--xla_cpu_use_fusion_emitters=false): the not-slow suite with an empty cache, 2 workers,
#     idle machine, 418 s -> 315 s wall and 494 s -> 300 s of backend compilation; the
#     compute-heavy tests got faster too (test_cnn_robustness + test_experiments 65 -> 54 CPU s).
# Tolerances are unchanged. The notebooks (nbval, JupyterLab, the book) run XLA's defaults,
# as a reader's kernel does: tests/nbval_binder.py removes XLA_FLAGS.
# Must be set before JAX initializes its backends (and its config reads these variables).
XLA_TEST_FLAGS = ("--xla_force_host_platform_device_count=2 --xla_backend_optimization_level=1 "
                  "--xla_cpu_use_fusion_emitters=false")
os.environ.setdefault("XLA_FLAGS", XLA_TEST_FLAGS)
os.environ.setdefault("JAX_PLATFORMS", "cpu")
if _default_cache_dir():
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _default_cache_dir())
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

CACHE_MAX_BYTES = 2 * 1024 ** 3
CACHE_KEEP_BYTES = 1024 ** 3

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)


import pytest  # noqa: E402


def prune_compilation_cache(folder, max_bytes=CACHE_MAX_BYTES, keep_bytes=CACHE_KEEP_BYTES):
    """Delete the least recently used entries of ``folder`` once it holds more than
    ``max_bytes``, down to ``keep_bytes``. Returns the number of bytes deleted.

    Another process reading an entry deleted under it just compiles the program again.
    """
    if not folder or not os.path.isdir(folder):
        return 0
    entries = []
    for entry in os.scandir(folder):
        try:
            if entry.is_file():
                st = entry.stat()
                entries.append((max(st.st_atime, st.st_mtime), st.st_size, entry.path))
        except FileNotFoundError:
            continue
    total = sum(size for _, size, _ in entries)
    if total <= max_bytes:
        return 0
    deleted = 0
    for _, size, path in sorted(entries):
        if total - deleted <= keep_bytes:
            break
        try:
            os.remove(path)
            deleted += size
        except FileNotFoundError:
            pass
    return deleted


def pytest_configure(config):
    if _loadfile(config):
        # the scheduler follows the collection order (longest_files_first), not test counts
        config.option.loadscopereorder = False
    # Once per run: in the controller, not in each pytest-xdist worker.
    if hasattr(config, "workerinput") or not jax.config.jax_enable_compilation_cache:
        return
    prune_compilation_cache(jax.config.jax_compilation_cache_dir)


# pytest-xdist with --dist loadfile (make test's first line) keeps a test file on one worker and
# hands the next file to whichever worker runs short of work, in collection order (xdist's own
# default, --loadscope-reorder, would put the files with the most tests first, leaving a few
# long files with few tests, such as whole experiment re-runs, for the end: the critical path).
# So the files that take longest are collected first (longest processing time first) and the
# short ones fill the gaps. Estimated seconds with an empty compilation cache: each file's share
# of its worker's time in a cold `-n 2 --dist loadfile` run on 2 idle cores (2026-11-30, with
# the XLA flags above; `--durations=0`, summed per file). A scheduling hint
# only, never a test outcome; a file not listed counts FILE_SECONDS_PER_TEST per test.
FILE_SECONDS = {
    "test_ntk.py": 97, "test_jax_native_ntk.py": 82, "test_training.py": 40,
    "test_ntk_structured.py": 30, "test_experiments.py": 29, "test_bounds.py": 27,
    "test_phase.py": 24, "test_check.py": 20, "test_results_store.py": 18,
    "test_colab_cell.py": 15, "test_models.py": 14, "test_diagnostics.py": 14,
    "test_install.py": 12, "test_bad_inputs.py": 11, "test_nbval_binder.py": 10,
    "test_lqcr.py": 10, "test_jax_native_diagnostics.py": 10, "test_bench_widgets.py": 9,
    "test_viz_trajectory.py": 8, "test_sweep_compiles_once.py": 8,
}
FILE_SECONDS_PER_TEST = 0.25


def _loadfile(config) -> bool:
    """True in the controller of ``-n N --dist loadfile`` and in its workers (xdist sets a
    worker's own ``dist`` option to "no"; the controller passes its choice on)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return workerinput.get("lplr_dist") == "loadfile"
    return getattr(config.option, "dist", "no") == "loadfile"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    node.workerinput["lplr_dist"] = getattr(node.config.option, "dist", "no")


def longest_files_first(items, seconds=None, per_test=FILE_SECONDS_PER_TEST):
    """``items`` regrouped by file, the files in decreasing order of their estimated seconds
    (``seconds[file name]``, else ``per_test`` times their number of tests; ties keep the
    collection order), each file's tests in their own order."""
    seconds = FILE_SECONDS if seconds is None else seconds
    files = {}
    for item in items:
        files.setdefault(item.path, []).append(item)
    ranked = sorted(files.items(), key=lambda kv: -seconds.get(kv[0].name, per_test * len(kv[1])))
    return [item for _, group in ranked for item in group]


def pytest_collection_modifyitems(config, items):
    if _loadfile(config):
        items[:] = longest_files_first(items)


def pytest_report_header(config):
    folder = jax.config.jax_compilation_cache_dir
    if not jax.config.jax_enable_compilation_cache or not folder:
        return "jax compilation cache: off"
    count = len(os.listdir(folder)) if os.path.isdir(folder) else 0
    return f"jax compilation cache: {folder} ({count} entries at start)"


def _hide_full_fashion(mp: pytest.MonkeyPatch, empty_dir) -> None:
    """Make the full Fashion-MNIST unreachable: no system package, an empty data directory."""
    from lplr_core import data

    mp.setattr(data, "SYSTEM_FASHION_MNIST_DIR", empty_dir / "no-system-package")
    mp.setenv("LPLR_DATA_DIR", str(empty_dir))


@pytest.fixture(scope="session", autouse=True)
def _honour_hide_full_fashion(tmp_path_factory):
    """With LPLR_HIDE_FULL_FASHION=1 the whole session runs as if the full set were absent."""
    if os.environ.get("LPLR_HIDE_FULL_FASHION", "") in ("", "0"):
        yield
        return
    with pytest.MonkeyPatch.context() as mp:
        _hide_full_fashion(mp, tmp_path_factory.mktemp("hidden-fashion"))
        yield


@pytest.fixture
def without_full_fashion(monkeypatch, tmp_path):
    """This test sees only the shipped Fashion-MNIST subset (see _hide_full_fashion)."""
    _hide_full_fashion(monkeypatch, tmp_path)


@pytest.fixture(scope="session")
def hide_full_fashion():
    """``hide(mp, empty_dir)`` as in _hide_full_fashion, for wider-scoped fixtures.

    Use it inside ``with pytest.MonkeyPatch.context() as mp:`` so that it ends with them.
    """
    return _hide_full_fashion


@pytest.fixture
def full_fashion_mnist():
    """Skip unless the full Fashion-MNIST IDX files are on this machine.

    Nothing the suite needs comes from them: the book's samples come from the
    shipped subset (lplr_core/data/files/fashion_mnist_subset.npz). Tests using this fixture
    compare that subset with the official files, or use samples it does not cover.
    """
    from lplr_core import data
    from lplr_core.data._fashion import fashion_paths

    try:
        for split in ("train", "test"):
            fashion_paths(split, None, False)
    except data.DataUnavailableError as exc:
        pytest.skip(f"the full Fashion-MNIST is absent (optional: apt-get install "
                    f"dataset-fashion-mnist, or lplr_core.data.download('fashion_mnist')): {exc}")


def shared_by_workers(tmp_path_factory, name, compute):
    """``compute()``, run once per test session and shared by every pytest-xdist worker.

    The first worker to ask computes it under a file lock in the session's common temporary
    folder and pickles it there; the others wait for the lock and load the pickle (a result
    computed in another process of the same session, from the same code and configuration).
    Without xdist it is just ``compute()``, once per session (the caller's fixture scope).
    """
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return compute()
    import fcntl
    import pickle

    root = tmp_path_factory.getbasetemp().parent      # common to this session's workers
    path = root / f"shared-{name}.pickle"
    with open(root / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if path.is_file():
                return pickle.loads(path.read_bytes())
            value = compute()
            tmp = path.with_suffix(".partial")
            tmp.write_bytes(pickle.dumps(value))
            tmp.replace(path)
            return value
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def fast_cnn_robustness(hide_full_fashion, tmp_path_factory):
    """``(results, progress_calls)`` of ``cnn_robustness.run(FAST)`` (seed 0) with only the
    shipped Fashion-MNIST subset reachable: the one FAST run that test_cnn_robustness checks
    and test_experiments stores, computed once per session (shared by xdist workers)."""
    from lplr_core.experiments import cnn_robustness as cr

    def compute():
        calls = []
        with pytest.MonkeyPatch.context() as mp:
            hide_full_fashion(mp, tmp_path_factory.mktemp("no-full-fashion"))
            results = cr.run(dict(cr.FAST), seed=0,
                             progress=lambda done, total, msg: calls.append((done, total)))
        return results, calls

    return shared_by_workers(tmp_path_factory, "fast-cnn-robustness", compute)


# A program compiled by XLA, or one read back from the persistent compilation cache (the
# suite's cache may already hold it): either means XLA was asked, not a program reused in memory.
COMPILE_EVENTS = ("/jax/core/compile/backend_compile_duration",
                  "/jax/compilation_cache/cache_retrieval_time_sec")


@pytest.fixture
def compile_events():
    """The names of the compile events (:data:`COMPILE_EVENTS`) JAX reports during a test."""
    events = []

    def listener(event, duration, **kwargs):
        if event in COMPILE_EVENTS:
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    yield events
    jax.monitoring.unregister_event_duration_listener(listener)
