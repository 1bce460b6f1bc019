"""The suite's own set-up (tests/conftest.py): the persistent XLA compilation cache and its pruning."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from conftest import prune_compilation_cache


def _entries(folder):
    return set(os.listdir(folder)) if os.path.isdir(folder) else set()


def test_a_compiled_program_is_stored_and_then_loaded_from_the_cache():
    folder = jax.config.jax_compilation_cache_dir
    if not jax.config.jax_enable_compilation_cache or not folder:
        pytest.skip("the compilation cache is turned off for this run "
                    "(JAX_ENABLE_COMPILATION_CACHE=false, or no virtual environment)")
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0
    events = []

    def listen(event, **kwargs):
        if event.startswith("/jax/compilation_cache/"):
            events.append(event.rsplit("/", 1)[-1])

    # A program no earlier run has compiled: its constant is new, and so is its name, which
    # names its cache entries (other xdist workers write to the same folder meanwhile).
    tag = uuid.uuid4().hex[:12]
    const = float(int(tag, 16) % 10**6) + 0.5
    x = jnp.arange(3.0)
    expected = jnp.sin(x) * const

    def program():
        def f(v):
            return jnp.sin(v) * const
        f.__name__ = f.__qualname__ = f"probe_{tag}"
        return jax.jit(f)

    def mine():
        return {name for name in _entries(folder) if f"probe_{tag}" in name}

    jax.monitoring.register_event_listener(listen)
    try:
        assert not mine()
        events.clear()
        first = program()(x)
        assert "cache_misses" in events and "cache_hits" not in events, events
        written = mine()
        assert len(written) == 1, written
        # The same program traced afresh (a new function object): read back, not written again.
        events.clear()
        second = program()(x)
        assert "cache_hits" in events and "cache_misses" not in events, events
        assert mine() == written
        assert jnp.allclose(first, expected) and jnp.allclose(second, expected)
    finally:
        jax.monitoring.unregister_event_listener(listen)


def test_prune_deletes_the_least_recently_used_entries_past_the_limit(tmp_path):
    sizes = {"a": 400, "b": 300, "c": 200, "d": 100}        # a is the oldest, d the newest
    for age, (name, size) in enumerate(sizes.items()):
        path = tmp_path / name
        path.write_bytes(b"x" * size)
        stamp = 1_000_000 + 10 * age
        os.utime(path, (stamp, stamp))
    assert prune_compilation_cache(tmp_path, max_bytes=1000, keep_bytes=500) == 0   # 1000: kept
    assert sorted(os.listdir(tmp_path)) == ["a", "b", "c", "d"]
    assert prune_compilation_cache(tmp_path, max_bytes=999, keep_bytes=350) == 700  # a then b
    assert sorted(os.listdir(tmp_path)) == ["c", "d"]
    # reading an entry (a newer access time) protects it
    os.utime(tmp_path / "c", (2_000_000, 1_000_020))
    assert prune_compilation_cache(tmp_path, max_bytes=250, keep_bytes=200) == 100
    assert sorted(os.listdir(tmp_path)) == ["c"]


def test_prune_of_a_missing_or_unset_folder_does_nothing(tmp_path):
    assert prune_compilation_cache(tmp_path / "absent", max_bytes=0, keep_bytes=0) == 0
    assert prune_compilation_cache(None) == 0
    assert prune_compilation_cache("") == 0


def test_longest_files_first_orders_files_by_estimate_and_keeps_each_file_together():
    from types import SimpleNamespace

    from conftest import longest_files_first

    def item(name, k):
        return SimpleNamespace(path=Path("/t") / name, k=k)

    items = [item("a.py", 0), item("a.py", 1), item("b.py", 0), item("c.py", 0),
             item("c.py", 1), item("c.py", 2), item("d.py", 0)]
    # b is listed as long; c (3 tests x 1 s) beats a (2 tests); a and d... d (1 test) last
    out = longest_files_first(items, seconds={"b.py": 10.0}, per_test=1.0)
    assert [(i.path.name, i.k) for i in out] == [
        ("b.py", 0), ("c.py", 0), ("c.py", 1), ("c.py", 2), ("a.py", 0), ("a.py", 1), ("d.py", 0)]
    # ties keep the collection order
    out = longest_files_first(items, seconds={"a.py": 1.0, "b.py": 1.0, "c.py": 1.0, "d.py": 1.0})
    assert out == items
    assert sorted(map(id, longest_files_first(items))) == sorted(map(id, items))


def test_xdist_runs_the_longest_files_first(tmp_path):
    """Integration: a pytest-xdist worker with --dist loadfile runs the files in the order of
    longest_files_first (test_install.py is listed as long), not in xdist's default order by
    number of tests (test_many.py, test_few.py, test_install.py)."""
    import shutil
    import subprocess
    import sys
    here = Path(__file__).parent
    shutil.copy(here / "conftest.py", tmp_path / "conftest.py")
    log = tmp_path / "order.log"
    for name, count in (("test_few", 2), ("test_many", 5), ("test_install", 1)):
        (tmp_path / f"{name}.py").write_text("".join(
            f"def test_{k}():\n    open({str(log)!r}, 'a').write('{name}\\n')\n\n"
            for k in range(count)))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path), "-n", "1", "--dist", "loadfile", "-q",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-o", "addopts="],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "JAX_ENABLE_COMPILATION_CACHE": "false"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    order = log.read_text().split()
    assert order == ["test_install"] + ["test_many"] * 5 + ["test_few"] * 2, order


def test_shared_by_workers_computes_once_per_session(tmp_path, monkeypatch):
    """Two xdist workers of one session (basetemps <root>/popen-gw0 and gw1): the first to ask
    computes and stores, the second loads what the first computed; without xdist, compute()."""
    from types import SimpleNamespace

    import numpy as np
    from conftest import shared_by_workers

    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(3.0) * len(calls), "n": 7}

    def factory(worker):
        base = tmp_path / "session" / f"popen-{worker}"
        base.mkdir(parents=True, exist_ok=True)
        return SimpleNamespace(getbasetemp=lambda: base)

    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    first = shared_by_workers(factory("gw0"), "probe", compute)
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    second = shared_by_workers(factory("gw1"), "probe", compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(second["x"], [0.0, 1.0, 2.0])
    assert second["n"] == 7 and second is not first
    # another session (another root folder) computes again
    other = SimpleNamespace(getbasetemp=lambda: tmp_path / "other" / "popen-gw0")
    other.getbasetemp().mkdir(parents=True)
    np.testing.assert_array_equal(shared_by_workers(other, "probe", compute)["x"], [0, 2, 4])
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    shared_by_workers(factory("gw0"), "probe", compute)
    assert len(calls) == 3
