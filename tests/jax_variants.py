"""chex-style variants for the JAX-native tests: the same call with and without ``jax.jit``.

``variants(fn)`` yields ``(name, fn_variant)`` for ``"eager"`` and ``"jit"``; static arguments
(callables, strings, ints that fix shapes) must be closed over by the caller, as with
``chex.variants``. ``assert_vmap_matches(fn, batched_args, in_axes)`` checks that ``jax.vmap``
over a batch gives the same values as a Python loop over its members.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

VARIANTS = ("eager", "jit")


def variant(fn, name: str):
    """``fn`` itself (``"eager"``) or ``jax.jit(fn)`` (``"jit"``)."""
    if name == "eager":
        return fn
    if name == "jit":
        return jax.jit(fn)
    raise ValueError(f"variant must be one of {VARIANTS}; got {name!r}")


#: ``@with_variants`` parametrizes a test over ``variant_name`` in VARIANTS.
with_variants = pytest.mark.parametrize("variant_name", VARIANTS)


def assert_is_jax_array(value, *, what: str = "result") -> None:
    """Every leaf of ``value`` is a ``jax.Array`` (no Python floats, no NumPy arrays)."""
    for leaf in jax.tree_util.tree_leaves(value):
        assert isinstance(leaf, jax.Array), f"{what}: a leaf is {type(leaf).__name__}, not jax.Array"


def assert_vmap_matches(fn, batched_args: tuple, in_axes, *, rtol=1e-6, atol=1e-9) -> None:
    """``jax.vmap(fn, in_axes)(*batched_args)`` equals stacking ``fn`` over the batch."""
    out = jax.vmap(fn, in_axes=in_axes)(*batched_args)
    axes = in_axes if isinstance(in_axes, (tuple, list)) else (in_axes,) * len(batched_args)
    sizes = {jax.tree_util.tree_leaves(a)[0].shape[ax] for a, ax in zip(batched_args, axes)
             if ax is not None}
    assert len(sizes) == 1, f"batched arguments disagree on the batch size: {sizes}"
    (b,) = sizes
    for i in range(b):
        args_i = tuple(a if ax is None else jax.tree_util.tree_map(lambda v: v[i], a)
                       for a, ax in zip(batched_args, axes))
        want = fn(*args_i)
        got = jax.tree_util.tree_map(lambda v: v[i], out)
        for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol)
