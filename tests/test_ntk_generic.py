"""Tests for the generic Jacobian contraction (``method="jacobian"``) of lplr_core.ntk:
its Gram products split over chunks of parameter columns (issue 11 section 1).

Every kernel is compared with an explicit reference computed independently of the code
under test: the full Jacobian of the flattened-parameter function by ``jax.jacrev`` in
float64, contracted with NumPy (``J1 @ J2.T``). The chunking may change only the order
of the floating-point sums, so the float64 results agree to ~1e-12 relative.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lplr_core.ntk as ntk_module
from lplr_core.models import CNN, MLP
from lplr_core.ntk import empirical_ntk
from ntk_reference import reference_ntk


def _reference(apply_fn, params, x1, x2=None):
    """J1 J2ᵀ from jax.jacrev Jacobians (tests/ntk_reference.py) of the float64 parameters
    and inputs, NumPy product."""
    params = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf, np.float64), params)
    x2 = None if x2 is None else np.asarray(x2, np.float64)
    return reference_ntk(apply_fn, params, np.asarray(x1, np.float64), x2)


def _rel(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def _user_fn(params, x):
    """A user network that is not an lplr_core model: a dense layer, a gated product, a
    scalar leaf."""
    h = jnp.tanh(x @ params["w1"] + params["b1"])
    g = jax.nn.sigmoid(x @ params["wg"])
    return (h * g) @ params["v"] / math.sqrt(params["v"].shape[0]) + params["c"] * x[:, 0]


def _user_params(d, k, seed):
    r = np.random.default_rng(seed)
    return {"w1": jnp.asarray(r.normal(size=(d, k)) / math.sqrt(d)),
            "b1": jnp.asarray(r.normal(size=(k,))),
            "wg": jnp.asarray(r.normal(size=(d, k)) / math.sqrt(d)),
            "v": jnp.asarray(r.normal(size=(k,))),
            "c": jnp.asarray(0.7)}


def _x(n, d, seed):
    return np.random.default_rng(seed).normal(size=(n, d))


@pytest.mark.parametrize("n1, n2, s, width", [(5, 4, 10, 3), (6, 6, 7, 1), (3, 2, 8, 8),
                                              (4, 3, 9, 100)])
def test_gram_over_column_chunks_equals_numpy(n1, n2, s, width):
    """_gram sums products over column chunks of the requested width (last chunk shorter
    when s is not a multiple) and equals the one-product Gram matrix."""
    r = np.random.default_rng(n1 * 100 + s)
    a, b = r.normal(size=(n1, s)), r.normal(size=(n2, s))
    chunk_bytes = width * (n1 + n2) * 8
    got = ntk_module._gram(jnp.asarray(a), jnp.asarray(b), chunk_bytes)
    assert _rel(got, a @ b.T) < 1e-13
    # The number of products is the number of chunks: ceil(s / width).
    jaxpr = jax.make_jaxpr(lambda u, v: ntk_module._gram(u, v, chunk_bytes))(a, b)
    products = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "dot_general"]
    assert len(products) == math.ceil(s / min(width, s))


def test_gram_without_chunking_is_one_product():
    a = np.random.default_rng(0).normal(size=(4, 6))
    jaxpr = jax.make_jaxpr(lambda u: ntk_module._gram(u, u, None))(a)
    assert [e.primitive.name for e in jaxpr.jaxpr.eqns].count("dot_general") == 1
    assert _rel(ntk_module._gram(jnp.asarray(a), jnp.asarray(a), None), a @ a.T) < 1e-14


@pytest.mark.parametrize("budget_rows", [None, 2])
@pytest.mark.parametrize("chunk_columns", [1, 4, 1000])
def test_chunked_jacobian_kernel_equals_jacrev(budget_rows, chunk_columns):
    """The whole Jacobian contraction, with sample blocks (a small memory budget) or one
    block, and Gram products over chunks of 1, 4 or all parameter columns, equals the
    jax.jacrev reference, symmetric and with x2."""
    d, k = 3, 5
    params = _user_params(d, k, 1)
    p = sum(int(np.size(l)) for l in jax.tree_util.tree_leaves(params))
    x1, x2 = _x(7, d, 2), _x(4, d, 3)
    budget = (1 << 30) if budget_rows is None else budget_rows * p * 8
    for x2_ in (None, x2):
        n2 = 7 if x2_ is None else 4
        plan = ntk_module._jacobian_plan(params, 7, n2, 8, budget)
        if budget_rows is not None:
            assert any(len(rows) > 1 for _, rows, _ in plan)   # sample blocks in play
        # chunk_bytes for at most `chunk_columns` columns per product of the largest blocks.
        kernel = ntk_module._jacobian_kernel(
            _user_fn, params, jnp.asarray(x1), jnp.asarray(x1 if x2_ is None else x2_), plan,
            x2_ is None, chunk_bytes=chunk_columns * 2 * 8)
        want = _reference(_user_fn, params, x1, x2_)
        assert _rel(kernel, want) < 1e-12, (budget_rows, chunk_columns, x2_ is None)


def test_public_jacobian_default_chunking_equals_jacrev_for_mlp_and_cnn():
    """empirical_ntk(method="jacobian") with the default chunk size, forced generic path
    (a lambda wrapper is not recognized as a model) on an MLP and a CNN."""
    mlp = MLP((6, 5), "tanh")
    params = mlp.init(0, 4)
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
    x1, x2 = _x(6, 4, 5), _x(3, 4, 6)
    f = lambda p, x: mlp.apply(p, x)  # noqa: E731
    for x2_ in (None, x2):
        got = empirical_ntk(f, params, x1, x2_, method="jacobian", shard=False)
        assert _rel(got, _reference(mlp.apply, params, x1, x2_)) < 1e-12
    cnn = CNN((2, 3), (6, 6, 1), "relu")
    cparams = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64),
                                     cnn.init(1, cnn.input_dim))
    xc = _x(4, cnn.input_dim, 7)
    got = empirical_ntk(cnn.apply, cparams, xc, method="jacobian", shard=False)
    assert _rel(got, _reference(cnn.apply, cparams, xc)) < 1e-12


def test_default_chunk_splits_large_blocks_only():
    """The default chunk size leaves small blocks as one product and splits a block of
    the benchmark's size (256 samples x 802,816 parameters, float32) into chunks of
    at most _GRAM_CHUNK_BYTES for both operands."""
    small = jax.ShapeDtypeStruct((64, 5000), jnp.float32)
    jaxpr = jax.make_jaxpr(lambda u: ntk_module._gram(u, u, ntk_module._GRAM_CHUNK_BYTES))(small)
    assert [e.primitive.name for e in jaxpr.jaxpr.eqns].count("dot_general") == 1
    big = jax.ShapeDtypeStruct((256, 802816), jnp.float32)
    jaxpr = jax.make_jaxpr(lambda u: ntk_module._gram(u, u, ntk_module._GRAM_CHUNK_BYTES))(big)
    products = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "dot_general"]
    widths = {e.invars[0].aval.shape[1] for e in products}
    assert len(products) > 1
    assert max(widths) * (256 + 256) * 4 <= ntk_module._GRAM_CHUNK_BYTES
    assert sum(e.invars[0].aval.shape[1] for e in products) == 802816
