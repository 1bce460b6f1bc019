"""lplr_core.tree_math: each operation against NumPy on the flattened vector, eager, jitted,
vmapped and differentiated."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lplr_core import tree_math as tm
from jax_variants import assert_is_jax_array, assert_vmap_matches, variant, with_variants


def _tree(seed, dtype=jnp.float64):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    return [{"w": jax.random.normal(k1, (3, 4), dtype), "b": jax.random.normal(k2, (4,), dtype)},
            {"w": jax.random.normal(k3, (4, 1), dtype)}]


def _flat(tree):
    return np.concatenate([np.ravel(np.asarray(l)) for l in jax.tree_util.tree_leaves(tree)])


@with_variants
def test_reductions_match_numpy(variant_name):
    a, b = _tree(0), _tree(1)
    va, vb = _flat(a), _flat(b)
    for fn, want in [(tm.norm, np.linalg.norm(va)), (tm.norm_sq, va @ va)]:
        got = variant(fn, variant_name)(a)
        assert_is_jax_array(got)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    got = variant(tm.vdot, variant_name)(a, b)
    np.testing.assert_allclose(got, va @ vb, rtol=1e-12)


@with_variants
def test_linear_maps_match_numpy(variant_name):
    a, b = _tree(0), _tree(1)
    va, vb = _flat(a), _flat(b)
    np.testing.assert_allclose(_flat(variant(tm.sub, variant_name)(a, b)), va - vb)
    np.testing.assert_allclose(_flat(variant(tm.add, variant_name)(a, b)), va + vb)
    np.testing.assert_allclose(_flat(variant(tm.scale, variant_name)(2.5, a)), 2.5 * va)
    np.testing.assert_allclose(_flat(variant(tm.axpy, variant_name)(-0.5, a, b)), vb - 0.5 * va)
    assert not np.any(_flat(tm.zeros_like(a)))


def test_dtypes_are_kept():
    a = _tree(0, jnp.float32)
    for out in (tm.axpy(0.1, a, a), tm.scale(jnp.float64(3.0), a), tm.random_direction(
            jax.random.PRNGKey(0), a)):
        assert {l.dtype for l in jax.tree_util.tree_leaves(out)} == {jnp.dtype("float32")}


@with_variants
def test_random_direction_is_on_the_sphere_and_isotropic(variant_name):
    a = _tree(0)
    draw = variant(lambda k: tm.random_direction(k, a, 0.3), variant_name)
    d = draw(jax.random.PRNGKey(3))
    np.testing.assert_allclose(tm.norm(d), 0.3, rtol=1e-12)
    # isotropy: the mean of many draws is near 0 and each coordinate's second moment is r^2/p
    keys = jax.random.split(jax.random.PRNGKey(1), 4000)
    draws = jax.vmap(lambda k: tm.random_direction(k, a, 1.0))(keys)
    flats = np.concatenate([np.asarray(l).reshape(4000, -1)
                            for l in jax.tree_util.tree_leaves(draws)], axis=1)
    p = flats.shape[1]
    assert np.abs(flats.mean(axis=0)).max() < 4.5 / np.sqrt(4000 * p)
    np.testing.assert_allclose((flats ** 2).mean(axis=0), 1.0 / p, rtol=0.25)


def test_vmap_over_a_batch_of_trees():
    batch = jax.tree_util.tree_map(lambda *v: jnp.stack(v), *[_tree(s) for s in range(4)])
    other = _tree(9)
    assert_vmap_matches(tm.norm, (batch,), 0)
    assert_vmap_matches(tm.vdot, (batch, other), (0, None))
    assert_vmap_matches(lambda t: tm.axpy(2.0, t, other), (batch,), 0)


def test_gradients_match_closed_forms():
    a, b = _tree(0), _tree(1)
    np.testing.assert_allclose(_flat(jax.grad(tm.norm_sq)(a)), 2 * _flat(a), rtol=1e-12)
    np.testing.assert_allclose(_flat(jax.grad(tm.norm)(a)), _flat(a) / np.linalg.norm(_flat(a)),
                               rtol=1e-12)
    np.testing.assert_allclose(_flat(jax.grad(tm.vdot)(a, b)), _flat(b), rtol=1e-12)


def test_empty_tree():
    assert float(tm.norm([])) == 0.0 and float(tm.vdot([], [])) == 0.0 and tm.size([]) == 0
    assert tm.size(_tree(0)) == 12 + 4 + 4
