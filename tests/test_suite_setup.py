"""The suite's own set-up (tests/conftest.py): the persistent XLA compilation cache and its pruning."""

from __future__ import annotations

import os
import uuid

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
