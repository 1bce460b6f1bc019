"""The NTK's ``"jaxpr"`` method: structured derivatives read from any ``apply_fn``'s jaxpr.

Every kernel is compared with an independent reference: the explicit (n, p) Jacobian from
``jax.jacrev`` of the flattened-parameter function, then ``J1 J2^T`` in float64 NumPy. The
networks are written by hand as plain functions (no model class), plus the book's CNN and
ResNetCNN. What the jaxpr analysis finds (which leaves are structured, which fall back and
why) is checked against what each function does with its parameters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from lplr_core import ntk
from ntk_reference import reference_ntk
from lplr_core.models import CNN, ResNetCNN
from lplr_core.structured import (
    contraction_rules,
    formless_fraction,
    jaxpr_ntk_flops,
    jaxpr_structure,
)

F64 = jnp.float64


def _close(got, want, rtol=1e-10):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    scale = max(np.max(np.abs(want)), 1e-300)
    err = np.max(np.abs(got - want)) / scale
    assert err <= rtol, err


def _normal(seed, shape):
    return jax.random.normal(jax.random.PRNGKey(seed), shape, F64)


def _check(apply_fn, params, d, n1=5, n2=3, **kwargs):
    """The jaxpr kernel, symmetric and two-set, against the jacrev reference."""
    x1, x2 = _normal(101, (n1, *d)), _normal(102, (n2, *d))
    _close(ntk.empirical_ntk(apply_fn, params, x1, method="jaxpr", shard=False, **kwargs),
           reference_ntk(apply_fn, params, x1))
    _close(ntk.empirical_ntk(apply_fn, params, x1, x2, method="jaxpr", shard=False, **kwargs),
           reference_ntk(apply_fn, params, x1, x2))


def _leaf_index(params, path):
    paths = [p for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    return paths.index(path)


# ------------------------------------------------------------------ hand-written networks

def mlp_fn(params, x):
    """A plain MLP with biases: tanh hidden layers, NTK multipliers, scalar read-out."""
    h = x
    for layer in params[:-1]:
        h = jnp.tanh(h @ layer["w"] / jnp.sqrt(h.shape[1]) + layer["b"])
    last = params[-1]
    return (h @ last["w"] + last["b"])[:, 0]


def mlp_init(sizes, seed=0):
    keys = jax.random.split(jax.random.PRNGKey(seed), len(sizes))
    return [{"w": jax.random.normal(k, (a, b), F64), "b": 0.1 * jax.random.normal(k, (b,), F64)}
            for k, a, b in zip(keys, sizes[:-1], sizes[1:])]


def test_hand_written_mlp_with_biases():
    params = mlp_init((4, 7, 6, 1))
    _check(mlp_fn, params, (4,))
    found = jaxpr_structure(mlp_fn, params, jnp.zeros((2, 4), F64))
    weights = tuple(_leaf_index(params, (jax.tree_util.SequenceKey(i), jax.tree_util.DictKey("w")))
                    for i in range(3))
    biases = tuple(_leaf_index(params, (jax.tree_util.SequenceKey(i), jax.tree_util.DictKey("b")))
                   for i in range(3))
    assert found.structured == tuple(sorted(weights))
    assert found.fallback == tuple(sorted(biases))   # biases: added, not multiplied
    assert all(s.kind == "dot" and s.positions == 1 for s in found.sites)


def test_weight_as_left_operand_and_transposed_contraction():
    """W on the left of dot_general (W @ x.T) and contracted over its second axis."""
    def fn(p, x):
        h = jnp.tanh(p["w1"] @ x.T)              # (h, n): W is the lhs operand
        out = jax.lax.dot_general(h, p["w2"], (((0,), (1,)), ((), ())))  # w2's axis 1
        return jnp.sin(out).sum(axis=1)
    params = {"w1": _normal(1, (5, 3)), "w2": _normal(2, (2, 5))}
    _check(fn, params, (3,))
    assert jaxpr_structure(fn, params, jnp.zeros((2, 3), F64)).structured == (0, 1)


def test_tokens_use_both_contractions():
    """Per-sample positions (tokens): the "pairs" contraction (few tokens, wide layers) and
    the "gram" one (many tokens, narrow layers: per-sample gradients from the backward
    pass) both match the reference."""
    def fn(p, x):
        h = jnp.tanh(x @ p["w"])                 # (n, T, h)
        return jnp.sum(h @ p["v"], axis=(1, 2))
    for tokens, width, hidden, rule in [(2, 9, 8, "pairs"), (12, 2, 2, "gram")]:
        params = {"w": _normal(3, (width, hidden)), "v": _normal(4, (hidden, 1))}
        found = jaxpr_structure(fn, params, jnp.zeros((2, tokens, width), F64))
        assert {s.positions for s in found.sites} == {tokens}
        assert contraction_rules(found, 5, 3)[1] == rule    # leaves sorted: v=0, w=1
        _check(fn, params, (tokens, width))


def test_pairs_memory_cap_switches_to_gram():
    """Many samples x many positions: the (n1, n2, P, P) products of "pairs" would exceed
    PAIRS_MAX_ENTRIES, so "gram" is used even where its FLOPs are higher."""
    from lplr_core.structured import PAIRS_MAX_ENTRIES

    def fn(p, x):
        return jnp.sum(jnp.tanh(x @ p["w"]), axis=(1, 2))
    params = {"w": jnp.zeros((512, 512), F64)}
    found = jaxpr_structure(fn, params, jnp.zeros((2, 4, 512), F64))
    assert contraction_rules(found, 4, 4) == {0: "pairs"}
    n = int(np.sqrt(PAIRS_MAX_ENTRIES / 4 ** 2)) + 1   # pairs still has fewer FLOPs here
    assert 2.0 * n * n * 16 * 1024 < 2.0 * n * n * 512 * 512
    assert contraction_rules(found, n, n) == {0: "gram"}


def test_shared_weight_same_layout_sums_its_sites():
    """A square W used twice (h2 = tanh(h1 W)): both sites are summed, no fallback."""
    def fn(p, x):
        h = jnp.tanh(x @ p["w"])
        h = jnp.tanh(h @ p["w"])
        return h @ p["v"]
    params = {"w": _normal(5, (4, 4)) / 2, "v": _normal(6, (4,))}
    found = jaxpr_structure(fn, params, jnp.zeros((2, 4), F64))
    assert found.fallback == () and found.structured == (0, 1)
    assert sum(s.leaf == 1 for s in found.sites) == 2   # leaves sorted: v=0, w=1
    _check(fn, params, (4,))


def test_shared_weight_different_layouts_falls_back():
    """W used as x W and as h Wᵀ (tied encoder/decoder): different layouts, fallback."""
    def fn(p, x):
        h = jnp.tanh(x @ p["w"])
        return jnp.sum(jnp.sin(h @ p["w"].T), axis=1)
    params = {"w": _normal(7, (3, 5))}
    found = jaxpr_structure(fn, params, jnp.zeros((2, 3), F64))
    assert found.fallback == (0,) and found.structured == ()
    _check(fn, params, (3,))


def test_leaf_used_nonlinearly_falls_back_and_others_stay_structured():
    def fn(p, x):
        h = jnp.tanh(x @ (p["a"] ** 2))          # a used through a square: nonlinear
        return jnp.sum(h @ p["b"], axis=1) * jnp.exp(p["s"])
    params = {"a": _normal(8, (3, 4)), "b": _normal(9, (4, 2)), "s": jnp.asarray(0.3, F64)}
    found = jaxpr_structure(fn, params, jnp.zeros((2, 3), F64))
    assert found.structured == (1,) and found.fallback == (0, 2)
    assert "integer_pow" in found.reasons[0] or "pow" in found.reasons[0]
    _check(fn, params, (3,))


def test_leaf_inside_scan_or_remat_falls_back():
    """A recurrent weight applied in a lax.scan, a layer under jax.checkpoint: those leaves
    flow into primitives the reader does not open, so they take per-sample gradients."""
    def fn(p, x):
        def step(h, _):
            return jnp.tanh(h @ p["r"]), None
        h, _ = jax.lax.scan(step, jnp.tanh(x @ p["w"]), None, length=3)
        h = jax.checkpoint(lambda h_, v: jnp.tanh(h_ @ v))(h, p["v"])
        return h[:, 0]
    params = {"r": _normal(19, (4, 4)) / 2, "v": _normal(21, (4, 2)), "w": _normal(20, (3, 4))}
    found = jaxpr_structure(fn, params, jnp.zeros((2, 3), F64))
    assert found.structured == (2,) and found.fallback == (0, 1)
    assert "scan" in found.reasons[0]
    _check(fn, params, (3,))


def test_ntk_cost_reports_the_jaxpr_method():
    params = mlp_init((5, 16, 16, 1))
    x = _normal(41, (8, 5))
    cost = ntk.ntk_cost(mlp_fn, params, x)["jaxpr"]
    assert cost["available"] and np.isfinite(cost["flops"]) and cost["bytes"] > 0


def test_unused_leaf_contributes_nothing():
    def fn(p, x):
        return jnp.tanh(x @ p["w"])[:, 0]
    params = {"unused": _normal(10, (7,)), "w": _normal(11, (3, 2))}
    found = jaxpr_structure(fn, params, jnp.zeros((2, 3), F64))
    assert found.unused == (0,)
    _check(fn, params, (3,))


def test_parameters_inside_a_jitted_layer_are_inlined():
    @jax.jit
    def layer(w, h):
        return jnp.tanh(h @ w)

    def fn(p, x):
        return layer(p["w2"], layer(p["w1"], x))[:, 0]
    params = {"w1": _normal(12, (3, 4)), "w2": _normal(13, (4, 1))}
    found = jaxpr_structure(fn, params, jnp.zeros((2, 3), F64))
    assert found.structured == (0, 1) and all(len(s.path) == 2 for s in found.sites)
    _check(fn, params, (3,))


def test_large_fallback_leaves_go_to_the_jacobian_fallback():
    """With a budget too small to form the fallback leaves' gradients in the structured
    pass, they are contracted by the Jacobian method; same kernel."""
    params = mlp_init((4, 6, 1), seed=3)
    _check(mlp_fn, params, (4,), memory_budget=64)


# ----------------------------------------------------------------------- convolutions

def conv_fn(params, x):
    """NCHW convolutions with stride 2, rhs dilation and VALID padding, then a dense read-out."""
    z = x.reshape(x.shape[0], 2, 7, 7)
    z = jax.lax.conv_general_dilated(z, params["k1"], (2, 2), "VALID", rhs_dilation=(1, 1),
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
    z = jnp.tanh(z)
    z = jax.lax.conv_general_dilated(z, params["k2"], (1, 1), ((1, 1), (0, 2)),
                                     rhs_dilation=(2, 1),
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return jnp.tanh(z).mean(axis=(2, 3)) @ params["v"]


def test_conv_strides_dilation_padding_and_nchw_layout():
    params = {"k1": _normal(14, (3, 2, 3, 3)) / 3, "k2": _normal(15, (4, 3, 2, 2)) / 3,
              "v": _normal(16, (4,))}
    found = jaxpr_structure(conv_fn, params, jnp.zeros((2, 98), F64))
    assert found.structured == (0, 1, 2)
    assert sorted(s.kind for s in found.sites) == ["conv", "conv", "dot"]
    _check(conv_fn, params, (98,))


@pytest.mark.parametrize("case", ["lhs_dilation", "strided"])
def test_conv_pairs_contraction_from_patches(case):
    """Few output positions, many channels: the kernel's block is contracted from the input
    patches and output cotangents ("pairs"), through lhs/rhs dilation, asymmetric padding
    and strides."""
    if case == "lhs_dilation":
        shape, kernel = (2, 3, 3), (8, 2, 3, 3)

        def conv(z, k):   # 3x3 dilated to 5x5, padded to 7x6; kernel spans 7x5 -> 1x2
            return jax.lax.conv_general_dilated(z, k, (1, 1), ((1, 1), (0, 1)),
                                                lhs_dilation=(2, 2), rhs_dilation=(3, 2),
                                                dimension_numbers=("NCHW", "OIHW", "NCHW"))
    else:
        shape, kernel = (4, 7, 7), (64, 4, 3, 3)

        def conv(z, k):   # stride 3, VALID: 2x2 output positions
            return jax.lax.conv_general_dilated(z, k, (3, 3), "VALID",
                                                dimension_numbers=("NCHW", "OIHW", "NCHW"))

    def fn(p, x):
        z = conv(x.reshape(x.shape[0], *shape), p["k"])
        return jnp.tanh(z).sum(axis=(1, 2, 3))
    params = {"k": _normal(18, kernel) / 4}
    d = int(np.prod(shape))
    found = jaxpr_structure(fn, params, jnp.zeros((2, d), F64))
    assert [s.kind for s in found.sites] == ["conv"]
    assert contraction_rules(found, 5, 3) == {0: "pairs"}
    assert formless_fraction(found, params, 5, 3) == 1.0
    _check(fn, params, (d,))


@pytest.mark.parametrize("image", [1, 6], ids=["pairs", "gram"])
def test_shared_conv_kernel_sums_its_sites(image):
    """One kernel applied twice (a weight-tied conv block): both sites of one layout are
    joined, by pairs (few positions) or by gram (more positions)."""
    def fn(p, x):
        z = x.reshape(x.shape[0], image, image, 3)
        for _ in range(2):
            z = jnp.tanh(jax.lax.conv_general_dilated(
                z, p["k"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))
        return z.mean(axis=(1, 2)) @ p["v"]
    params = {"k": _normal(22, (3, 3, 3, 3)) / 3, "v": _normal(23, (3,))}
    d = image * image * 3
    found = jaxpr_structure(fn, params, jnp.zeros((2, d), F64))
    assert found.structured == (0, 1) and sum(s.leaf == 0 for s in found.sites) == 2
    assert contraction_rules(found, 5, 3)[0] == ("pairs" if image == 1 else "gram")
    _check(fn, params, (d,))


def test_grouped_convolution_falls_back():
    def fn(p, x):
        z = x.reshape(x.shape[0], 5, 5, 2)
        z = jax.lax.conv_general_dilated(z, p["k"], (1, 1), "SAME", feature_group_count=2,
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jnp.tanh(z).sum(axis=(1, 2, 3))
    params = {"k": _normal(17, (3, 3, 1, 4))}
    found = jaxpr_structure(fn, params, jnp.zeros((2, 50), F64))
    assert found.fallback == (0,) and "grouped" in found.reasons[0]
    _check(fn, params, (50,))


@pytest.mark.parametrize("model", [CNN((2, 3), (6, 6, 1)), ResNetCNN(2, 2, (4, 4, 1))])
def test_book_conv_models(model):
    params = model.init(0, model.input_dim, dtype=F64)
    _check(model.apply, params, (model.input_dim,))
    # jaxpr on the bare function equals the model's own structured rule
    x = _normal(20, (4, model.input_dim))
    _close(ntk.empirical_ntk(lambda p, a: model.apply(p, a), params, x, method="jaxpr",
                             shard=False),
           ntk.empirical_ntk(model.apply, params, x, method="structured", shard=False))


# --------------------------------------------------------------------- JAX transforms

def test_jit_vmap_over_params_and_grad():
    sizes = (3, 5, 1)
    stacked = jax.tree_util.tree_map(lambda *l: jnp.stack(l),
                                     *[mlp_init(sizes, seed=s) for s in range(3)])
    x = _normal(30, (4, 3))
    fn = ntk.empirical_ntk_fn(mlp_fn, "jaxpr", shard=False)
    batched = jax.jit(jax.vmap(fn, in_axes=(None, None, 0)))(x, None, stacked)
    for s in range(3):
        _close(batched[s], reference_ntk(mlp_fn, mlp_init(sizes, seed=s), x))
    params = mlp_init(sizes, seed=4)
    flat, unravel = ravel_pytree(params)
    got = jax.jit(jax.grad(lambda p: jnp.trace(fn(x, None, p))))(params)
    want = jax.grad(lambda th: jnp.sum(jax.jacrev(lambda t: mlp_fn(unravel(t), x))(th) ** 2))(
        flat)
    _close(ravel_pytree(got)[0], want, rtol=1e-9)


# ------------------------------------------------------------------------- interface

def test_method_name_and_cost():
    params = mlp_init((4, 8, 1))
    x = _normal(40, (6, 4))
    assert "jaxpr" in ntk.NTK_METHODS
    assert ntk.choose_method(mlp_fn, params, x, method="jaxpr") == "jaxpr"
    cost = ntk.ntk_cost(mlp_fn, params, x)
    assert cost["jaxpr"]["available"] and cost["jaxpr"]["flops"] < cost["jacobian"]["flops"]
    found = jaxpr_structure(mlp_fn, params, x)
    # dense sites (P = 1): two n x n Grams of (C + F) columns each, plus the biases' Gram
    want = sum(2.0 * 36 * (a + b) + 36 for a, b in [(4, 8), (8, 1)]) + 2.0 * 36 * (8 + 1)
    assert jaxpr_ntk_flops(found, params, 6, 6) == pytest.approx(want)
    with pytest.raises(ValueError, match="method"):
        ntk.empirical_ntk(mlp_fn, params, x, method="jaxpr-typo")
