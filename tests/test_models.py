"""Tests for lplr_core.models: MLP, CNN and ResNetCNN.

Expected values come from NumPy re-implementations of the formulas in the
docstrings (never from the code under test), from closed forms, or from the
statistics of the documented initial distributions.
"""

from __future__ import annotations

import math
import typing

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf as np_erf

from lplr_core import models
from lplr_core.models import ACTIVATIONS, CNN, MLP, PARAMETERIZATIONS, ResNetCNN, param_count

ALL_ACTIVATIONS = ("relu", "tanh", "erf", "gelu", "softplus", "linear")

# Elementwise nonlinearities, written independently in NumPy. "gelu" is the
# exact (erf-based) GELU, as the models module documents.
NP_ACT = {
    "relu": lambda h: np.maximum(h, 0.0),
    "tanh": np.tanh,
    "erf": np_erf,
    "gelu": lambda h: 0.5 * h * (1.0 + np_erf(h / math.sqrt(2.0))),
    "softplus": lambda h: np.logaddexp(0.0, h),
    "linear": lambda h: h,
}


def _np_params(params):
    return jax.tree_util.tree_map(lambda a: np.asarray(a, dtype=np.float64), params)


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _np_mlp(params, x, activation, parameterization, w_std, b_std):
    """The docstring formula of MLP, in NumPy, on the stored parameters."""
    phi = NP_ACT[activation]
    z = np.asarray(x, np.float64)
    n_layers = len(params)
    for l, layer in enumerate(params):
        w, b = np.asarray(layer["w"], np.float64), np.asarray(layer["b"], np.float64)
        fan_in = w.shape[0]
        if parameterization == "ntk":
            h = (w_std / math.sqrt(fan_in)) * (z @ w) + b_std * b
        else:
            h = z @ w + b
        z = phi(h) if l < n_layers - 1 else h
    return z[:, 0]


def _x(n, d, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------

def test_registries_list_the_documented_choices():
    assert set(ACTIVATIONS) == set(ALL_ACTIVATIONS)
    assert set(PARAMETERIZATIONS) == {"ntk", "standard"}
    # the tuples are the Literal types' arguments, in order
    assert typing.get_args(models.Activation) == models.ACTIVATION_NAMES == ALL_ACTIVATIONS
    assert tuple(ACTIVATIONS) == ALL_ACTIVATIONS
    assert typing.get_args(models.Parameterization) == PARAMETERIZATIONS == ("ntk", "standard")


def test_avg_pool2_is_the_mean_of_each_2x2_block():
    x = np.arange(2 * 5 * 4 * 3, dtype=float).reshape(2, 5, 4, 3)
    want = x[:, :4].reshape(2, 2, 2, 2, 2, 3).mean(axis=(2, 4))   # odd last row cropped
    np.testing.assert_allclose(models.avg_pool2(jnp.asarray(x)), want)


@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_activation_functions_match_numpy(activation):
    h = np.linspace(-6.0, 6.0, 241)
    got = np.asarray(ACTIVATIONS[activation](jnp.asarray(h)))
    np.testing.assert_allclose(got, NP_ACT[activation](h), rtol=1e-13, atol=1e-14)


# ---------------------------------------------------------------------------
# MLP forward pass = docstring formula
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_mlp_forward_matches_numpy_formula(activation, parameterization):
    d = 4
    x = _x(9, d, seed=1) * 1.5
    for widths, w_std, b_std in [((7, 5), 1.3, 0.4), ((3,), 0.8, 0.0), ((6, 1, 4), 2.0, 1.1)]:
        model = MLP(widths, activation, parameterization, w_std=w_std, b_std=b_std)
        params = model.init(jax.random.PRNGKey(3), d)
        # Perturb the parameters so the check is not tied to the initial scale.
        rng = np.random.default_rng(7)
        params = jax.tree_util.tree_map(
            lambda a: a + 0.3 * jnp.asarray(rng.normal(size=a.shape)), params)
        got = model.apply(params, x)
        assert got.shape == (9,)
        want = _np_mlp(_np_params(params), x, activation, parameterization, w_std, b_std)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12)
        # __call__ is apply.
        np.testing.assert_allclose(np.asarray(model(params, x)), want, rtol=1e-12, atol=1e-12)


def test_mlp_apply_is_jittable():
    """The shape checks in apply are static, so apply works under jit."""
    model = MLP((5, 3), "gelu", "standard", w_std=1.1, b_std=0.3)
    params = model.init(2, 4)
    x = _x(6, 4, seed=3)
    want = _np_mlp(_np_params(params), x, "gelu", "standard", 1.1, 0.3)
    np.testing.assert_allclose(np.asarray(jax.jit(model.apply)(params, x)), want,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_mlp_parameter_layout_and_count(parameterization):
    d, widths = 5, (7, 3)
    params = MLP(widths, "tanh", parameterization).init(0, d)
    assert isinstance(params, list) and len(params) == 3
    sizes = (d, *widths, 1)
    for layer, fan_in, fan_out in zip(params, sizes[:-1], sizes[1:]):
        assert set(layer) == {"w", "b"}
        assert layer["w"].shape == (fan_in, fan_out)
        assert layer["b"].shape == (fan_out,)
    assert param_count(params) == 5 * 7 + 7 + 7 * 3 + 3 + 3 * 1 + 1


def test_mlp_widths_forms():
    assert MLP(4).widths == (4,)
    assert MLP([4, 5]).widths == (4, 5)
    assert MLP(np.array([2, 3])).widths == (2, 3)
    assert MLP(()).widths == () and MLP([]).widths == ()
    assert MLP((3, 2)).depth == 2 and MLP(()).depth == 0
    assert MLP((3, 2)).layer_sizes(6) == (6, 3, 2, 1)


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_linear_model_closed_form(parameterization):
    d, w_std, b_std = 6, 1.7, 0.35
    model = MLP((), "relu", parameterization, w_std=w_std, b_std=b_std)
    params = model.init(jax.random.PRNGKey(11), d)
    assert len(params) == 1
    w = np.asarray(params[0]["w"])[:, 0]
    b = float(np.asarray(params[0]["b"])[0])
    x = _x(8, d, seed=2)
    if parameterization == "ntk":
        want = (w_std / math.sqrt(d)) * (x @ w) + b_std * b
    else:
        want = x @ w + b
    got = np.asarray(model.apply(params, x))
    # No activation anywhere: relu must not be applied to the output.
    assert np.any(want < 0)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------------------
# Initialization
# ---------------------------------------------------------------------------

def _check_std(sample, want, rel_tol):
    sample = np.asarray(sample, np.float64).ravel()
    se = want / math.sqrt(sample.size)
    assert abs(sample.mean()) < 5 * se, (sample.mean(), se)
    assert abs(sample.std() / want - 1.0) < rel_tol, (sample.std(), want)


def test_init_variances_ntk_parameterization():
    d, m = 800, 1500
    params = MLP((m,), "relu", "ntk", w_std=1.7, b_std=0.3).init(jax.random.PRNGKey(0), d)
    # Stored entries are N(0, 1) regardless of w_std, b_std and fan-in.
    _check_std(params[0]["w"], 1.0, 0.01)           # 1.2e6 entries
    _check_std(params[0]["b"], 1.0, 0.08)           # 1500 entries
    _check_std(params[1]["w"], 1.0, 0.08)           # 1500 entries
    w = np.asarray(params[0]["w"]).ravel()
    # Gaussian shape: mass within one standard deviation.
    assert abs(np.mean(np.abs(w) < 1.0) - 0.682689) < 0.003


def test_init_variances_standard_parameterization():
    d, m, w_std, b_std = 800, 1500, 1.7, 0.3
    params = MLP((m,), "relu", "standard", w_std=w_std, b_std=b_std).init(
        jax.random.PRNGKey(0), d)
    _check_std(params[0]["w"], w_std / math.sqrt(d), 0.01)
    _check_std(params[0]["b"], b_std, 0.08)
    _check_std(params[1]["w"], w_std / math.sqrt(m), 0.08)


def test_standard_init_with_zero_b_std_zeroes_biases():
    params = MLP((5, 4), "tanh", "standard", b_std=0.0).init(1, 3)
    for layer in params:
        assert np.all(np.asarray(layer["b"]) == 0.0)
    assert np.any(np.asarray(params[0]["w"]) != 0.0)


@pytest.mark.parametrize("activation", ["relu", "tanh", "softplus"])
def test_parameterizations_define_the_same_function_at_init(activation):
    d, widths, w_std, b_std = 5, (9, 6), 1.4, 0.6
    key = jax.random.PRNGKey(42)
    ntk = MLP(widths, activation, "ntk", w_std=w_std, b_std=b_std)
    std = MLP(widths, activation, "standard", w_std=w_std, b_std=b_std)
    p_ntk, p_std = ntk.init(key, d), std.init(key, d)
    # Standard stores the scaled draws: W_std = (w_std / sqrt(fan_in)) W_ntk, b_std = b_std * b_ntk.
    for a, b in zip(p_ntk, p_std):
        fan_in = a["w"].shape[0]
        np.testing.assert_allclose(np.asarray(b["w"]), np.asarray(a["w"]) * w_std / math.sqrt(fan_in),
                                   rtol=1e-14, atol=0)
        np.testing.assert_allclose(np.asarray(b["b"]), np.asarray(a["b"]) * b_std, rtol=1e-14, atol=0)
    x = _x(10, d, seed=4)
    out_ntk, out_std = np.asarray(ntk.apply(p_ntk, x)), np.asarray(std.apply(p_std, x))
    assert _rel(out_ntk, out_std) < 1e-12
    # ... and the two are genuinely different parameterizations of that function.
    assert _rel(ntk.apply(p_std, x), out_std) > 1e-3


def test_init_is_deterministic_and_key_dependent():
    model = MLP((6, 4), "tanh")
    a, b = model.init(jax.random.PRNGKey(5), 3), model.init(jax.random.PRNGKey(5), 3)
    c = model.init(jax.random.PRNGKey(6), 3)
    for la, lb in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert np.array_equal(np.asarray(la), np.asarray(lb))
    assert not np.array_equal(np.asarray(a[0]["w"]), np.asarray(c[0]["w"]))
    # An int seed is the PRNGKey of that seed.
    d = model.init(5, 3)
    for la, ld in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(d)):
        assert np.array_equal(np.asarray(la), np.asarray(ld))


@pytest.mark.parametrize("model, d", [
    (MLP((6, 4), "tanh"), 3), (CNN((2,), (4, 4, 1)), 16), (ResNetCNN(2, 1, (4, 4, 1)), 16)],
    ids=["mlp", "cnn", "resnet"])
def test_init_accepts_typed_prng_keys(model, d):
    """check_key documents new-style typed keys (jax.random.key) as accepted."""
    a = model.init(jax.random.key(5), d)
    b = model.init(jax.random.key(5), d)
    ref = model.init(jax.random.PRNGKey(5), d)
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(ref)
    for la, lb, lr in zip(*(jax.tree_util.tree_leaves(t) for t in (a, b, ref))):
        assert la.shape == lr.shape and la.dtype == lr.dtype
        assert np.array_equal(np.asarray(la), np.asarray(lb))
        assert np.all(np.isfinite(np.asarray(la)))


@pytest.mark.parametrize("model", [MLP((4,)), CNN((2,), (4, 4, 1)), ResNetCNN(2, 1, (4, 4, 1))])
def test_init_dtype(model):
    d = 4 if isinstance(model, MLP) else 16
    p32 = model.init(0, d, dtype=jnp.float32)
    assert all(l.dtype == jnp.float32 for l in jax.tree_util.tree_leaves(p32))
    out = model.apply(p32, np.ones((3, d), np.float32))
    assert out.dtype == jnp.float32
    p64 = model.init(0, d)  # conftest enables x64: the default float is float64
    assert all(l.dtype == jnp.float64 for l in jax.tree_util.tree_leaves(p64))


# ---------------------------------------------------------------------------
# CNN and ResNetCNN
# ---------------------------------------------------------------------------

def _np_conv_same(x, w):
    """Stride-1 SAME cross-correlation, NHWC x HWIO -> NHWC (odd kernel sizes)."""
    k1, k2, cin, cout = w.shape
    p1, p2 = (k1 - 1) // 2, (k2 - 1) // 2
    n, h, wd, _ = x.shape
    xp = np.zeros((n, h + k1 - 1, wd + k2 - 1, cin))
    xp[:, p1:p1 + h, p2:p2 + wd, :] = x
    out = np.zeros((n, h, wd, cout))
    for a in range(k1):
        for b in range(k2):
            out += np.einsum("nhwc,co->nhwo", xp[:, a:a + h, b:b + wd, :], w[a, b])
    return out


def _np_pool2(x):
    n, h, w, c = x.shape
    out = np.zeros((n, h // 2, w // 2, c))
    for i in range(h // 2):
        for j in range(w // 2):
            out[:, i, j, :] = x[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2, :].mean(axis=(1, 2))
    return out


def _np_scales(parameterization, w_std, b_std, fan_in):
    if parameterization == "ntk":
        return w_std / math.sqrt(fan_in), b_std
    return 1.0, 1.0


def _np_cnn(params, x, image_shape, activation, parameterization, w_std, b_std):
    """The CNN docstring: conv (SAME) -> phi -> 2x2 avg pool per layer, GAP, dense."""
    phi = NP_ACT[activation]
    z = np.asarray(x, np.float64).reshape((x.shape[0], *image_shape))
    for layer in params[:-1]:
        w, b = np.asarray(layer["w"]), np.asarray(layer["b"])
        a, c = _np_scales(parameterization, w_std, b_std, w.shape[0] * w.shape[1] * w.shape[2])
        z = _np_pool2(phi(a * _np_conv_same(z, w) + c * b))
    z = z.mean(axis=(1, 2))
    w, b = np.asarray(params[-1]["w"]), np.asarray(params[-1]["b"])
    a, c = _np_scales(parameterization, w_std, b_std, w.shape[0])
    return (a * (z @ w) + c * b)[:, 0]


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_cnn_forward_matches_numpy_formula(activation, parameterization):
    # 7 x 6 images: the first pooling crops the odd height (7 -> 3), then 3 -> 1.
    image_shape = (7, 6, 2)
    model = CNN((3, 4), image_shape, activation, parameterization, w_std=1.3, b_std=0.4)
    d = 7 * 6 * 2
    params = model.init(jax.random.PRNGKey(0), d)
    assert [l["w"].shape for l in params] == [(3, 3, 2, 3), (3, 3, 3, 4), (4, 1)]
    assert [l["b"].shape for l in params] == [(3,), (4,), (1,)]
    x = _x(5, d, seed=3)
    got = np.asarray(model.apply(params, x))
    want = _np_cnn(_np_params(params), x, image_shape, activation, parameterization, 1.3, 0.4)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


def _np_resnet_linear(params, x, image_shape, blocks, pool_every, w_std, b_std):
    """ResNetCNN docstring with the identity activation (no ambiguity about where phi sits)."""
    def conv(layer, z):
        w, b = np.asarray(layer["w"]), np.asarray(layer["b"])
        a = w_std / math.sqrt(w.shape[0] * w.shape[1] * w.shape[2])
        return a * _np_conv_same(z, w) + b_std * b
    z = conv(params["stem"], np.asarray(x, np.float64).reshape((x.shape[0], *image_shape)))
    for i in range(blocks):
        c1, c2 = params["blocks"][i]
        z = (z + conv(c2, conv(c1, z))) / math.sqrt(2.0)
        if (i + 1) % pool_every == 0:
            z = _np_pool2(z)
    z = z.mean(axis=(1, 2))
    w, b = np.asarray(params["head"]["w"]), np.asarray(params["head"]["b"])
    return (w_std / math.sqrt(w.shape[0]) * (z @ w) + b_std * b)[:, 0]


def test_resnet_forward_matches_numpy_formula_linear_activation():
    image_shape = (8, 8, 1)
    model = ResNetCNN(3, 3, image_shape, "linear", "ntk", pool_every=2, w_std=1.2, b_std=0.3)
    params = model.init(jax.random.PRNGKey(1), 64)
    assert set(params) == {"stem", "blocks", "head"}
    assert params["stem"]["w"].shape == (3, 3, 1, 3)
    assert len(params["blocks"]) == 3 and all(len(b) == 2 for b in params["blocks"])
    assert all(c["w"].shape == (3, 3, 3, 3) for b in params["blocks"] for c in b)
    assert params["head"]["w"].shape == (3, 1)
    x = _x(4, 64, seed=5)
    got = np.asarray(model.apply(params, x))
    want = _np_resnet_linear(_np_params(params), x, image_shape, 3, 2, 1.2, 0.3)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


CONV_MODELS = [
    pytest.param(lambda p, a: CNN((4, 3), (6, 6, 2), a, p), 72, id="cnn"),
    pytest.param(lambda p, a: CNN((3,), (5, 4, 3), a, p, kernel_size=5), 60, id="cnn-k5"),
    pytest.param(lambda p, a: ResNetCNN(4, 2, (8, 8, 1), a, p), 64, id="resnet"),
    pytest.param(lambda p, a: ResNetCNN(3, 0, (4, 6, 2), a, p), 48, id="resnet-0blocks"),
    pytest.param(lambda p, a: ResNetCNN(3, 3, (8, 8, 1), a, p, pool_every=3), 64,
                 id="resnet-pool3"),
]


@pytest.mark.parametrize("make, d", CONV_MODELS)
def test_conv_models_shapes_finite_deterministic(make, d):
    model = make("ntk", "relu")
    assert model.input_dim == d
    a = model.init(jax.random.PRNGKey(0), d)
    b = model.init(jax.random.PRNGKey(0), d)
    c = model.init(jax.random.PRNGKey(1), d)
    la, lb, lc = (jax.tree_util.tree_leaves(t) for t in (a, b, c))
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    assert all(np.array_equal(np.asarray(u), np.asarray(v)) for u, v in zip(la, lb))
    assert any(not np.array_equal(np.asarray(u), np.asarray(v)) for u, v in zip(la, lc))
    x = _x(7, d, seed=6)
    apply = jax.jit(model.apply)   # compiled once: keeps the suite fast (eager: see below)
    out = apply(a, x)
    assert out.shape == (7,)
    assert np.all(np.isfinite(np.asarray(out)))
    assert np.array_equal(np.asarray(out), np.asarray(apply(a, x)))
    assert np.unique(np.asarray(out)).size == 7  # samples are not collapsed
    # Different parameters, different function.
    assert not np.allclose(np.asarray(apply(c, x)), np.asarray(out))


@pytest.mark.parametrize("make, d", CONV_MODELS)
def test_conv_parameterizations_same_function_at_init(make, d):
    key = jax.random.PRNGKey(9)
    ntk, std = make("ntk", "tanh"), make("standard", "tanh")
    x = _x(5, d, seed=8)
    out_ntk = jax.jit(ntk.apply)(ntk.init(key, d), x)
    out_std = jax.jit(std.apply)(std.init(key, d), x)
    assert _rel(out_ntk, out_std) < 1e-12


@pytest.mark.parametrize("model", [CNN((3,), (4, 4, 1), "relu"), ResNetCNN(2, 1, (4, 4, 1), "tanh")],
                         ids=["cnn", "resnet"])
def test_conv_apply_eager_equals_jit(model):
    params = model.init(0, 16)
    x = _x(3, 16)
    eager = model.apply(params, x)
    np.testing.assert_allclose(np.asarray(jax.jit(model.apply)(params, x)),
                               np.asarray(eager), rtol=1e-13, atol=1e-14)
    assert np.array_equal(np.asarray(model(params, x)), np.asarray(eager))


@pytest.mark.parametrize("make", [
    pytest.param(lambda: CNN((2, 2, 2), (4, 4, 1)), id="cnn-3-pools-on-4x4"),
    pytest.param(lambda: ResNetCNN(2, 3, (4, 4, 1)), id="resnet-3-pools-on-4x4"),
])
def test_conv_models_never_return_nan_for_too_many_poolings(make):
    """Three 2x2 poolings on a 4x4 image leave a 0x0 map; the global mean of an
    empty map is NaN. A valid configuration must either be rejected with a
    ValueError naming the offending argument, or produce finite outputs."""
    x = np.ones((2, 16))
    try:
        model = make()
        out = model.apply(model.init(0, 16), x)
    except ValueError as exc:
        assert any(name in str(exc) for name in ("image_shape", "channels", "blocks",
                                                 "pool_every"))
        return
    assert np.all(np.isfinite(np.asarray(out))), f"silent NaN output: {out}"


@pytest.mark.parametrize("make", [
    pytest.param(lambda: CNN((2, 2), (4, 5, 1)), id="cnn-2-pools-on-4x5"),
    pytest.param(lambda: ResNetCNN(2, 2, (5, 4, 1)), id="resnet-2-pools-on-5x4"),
    pytest.param(lambda: ResNetCNN(2, 4, (4, 4, 1), pool_every=2), id="resnet-pool_every-2"),
])
def test_conv_models_accept_poolings_down_to_one_pixel(make):
    model = make()
    out = model.apply(model.init(0, model.input_dim), _x(3, model.input_dim, 9))
    assert out.shape == (3,)
    assert np.all(np.isfinite(np.asarray(out)))


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("widths, exc", [
    (0, ValueError), (-2, ValueError), ((4, 0), ValueError), ((3, -1), ValueError),
    (2.5, TypeError), ((3, 2.0), TypeError), ("abc", TypeError), ("3", TypeError),
    (True, TypeError), (None, TypeError),
])
def test_mlp_rejects_bad_widths(widths, exc):
    with pytest.raises(exc, match="widths"):
        MLP(widths)


@pytest.mark.parametrize("kwargs, exc, name", [
    (dict(activation="sigmoid"), ValueError, "activation"),
    (dict(activation=None), ValueError, "activation"),
    (dict(parameterization="mup"), ValueError, "parameterization"),
    (dict(w_std=0.0), ValueError, "w_std"),
    (dict(w_std=-1.0), ValueError, "w_std"),
    (dict(w_std=float("nan")), ValueError, "w_std"),
    (dict(w_std=float("inf")), ValueError, "w_std"),
    (dict(w_std="1"), TypeError, "w_std"),
    (dict(b_std=-0.1), ValueError, "b_std"),
    (dict(b_std=float("nan")), ValueError, "b_std"),
])
def test_mlp_rejects_bad_hyperparameters(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        MLP((3,), **kwargs)


def test_mlp_accepts_boundary_hyperparameters():
    m = MLP((3,), w_std=1e-3, b_std=0.0)
    assert m.w_std == 1e-3 and m.b_std == 0.0


@pytest.mark.parametrize("model", [MLP((3,)), CNN((2,), (2, 2, 1)), ResNetCNN(2, 1, (2, 2, 1))],
                         ids=["mlp", "cnn", "resnet"])
@pytest.mark.parametrize("key, input_dim, exc, name", [
    ("a", 4, TypeError, "key"),
    (-1, 4, ValueError, "key"),
    (1.5, 4, TypeError, "key"),
    (None, 4, TypeError, "key"),
    (0, 0, ValueError, "input_dim"),
    (0, -3, ValueError, "input_dim"),
    (0, 4.0, TypeError, "input_dim"),
])
def test_init_rejects_bad_key_and_input_dim(model, key, input_dim, exc, name):
    with pytest.raises(exc, match=name):
        model.init(key, input_dim)


def test_init_rejects_integer_dtype():
    with pytest.raises(TypeError, match="dtype"):
        MLP((3,)).init(0, 4, dtype=jnp.int32)


@pytest.mark.parametrize("make", [
    lambda: CNN((2,), (4, 4, 1)), lambda: ResNetCNN(2, 1, (4, 4, 1))], ids=["cnn", "resnet"])
def test_conv_init_rejects_input_dim_mismatch(make):
    with pytest.raises(ValueError, match="input_dim"):
        make().init(0, 15)


@pytest.mark.parametrize("make, exc, name", [
    (lambda: CNN((0,), (4, 4, 1)), ValueError, "channels"),
    (lambda: CNN((2, -1), (4, 4, 1)), ValueError, "channels"),
    (lambda: CNN("ab", (4, 4, 1)), TypeError, "channels"),
    (lambda: CNN((2,), (4, 4)), ValueError, "image_shape"),
    (lambda: CNN((2,), (4, 0, 1)), ValueError, "image_shape"),
    (lambda: CNN((2,), (4, 4, 1), kernel_size=0), ValueError, "kernel_size"),
    (lambda: CNN((2,), (4, 4, 1), activation="swish"), ValueError, "activation"),
    (lambda: CNN((2,), (4, 4, 1), parameterization="x"), ValueError, "parameterization"),
    (lambda: CNN((2,), (4, 4, 1), w_std=0.0), ValueError, "w_std"),
    (lambda: CNN((2,), (4, 4, 1), b_std=-1.0), ValueError, "b_std"),
    (lambda: ResNetCNN(0, 1, (4, 4, 1)), ValueError, "channels"),
    (lambda: ResNetCNN(2.0, 1, (4, 4, 1)), TypeError, "channels"),
    (lambda: ResNetCNN(2, -1, (4, 4, 1)), ValueError, "blocks"),
    (lambda: ResNetCNN(2, 1, (4, 4, 1), pool_every=0), ValueError, "pool_every"),
    (lambda: ResNetCNN(2, 1, (4, 4, 1, 1)), ValueError, "image_shape"),
    (lambda: ResNetCNN(2, 1, (4, 4, 1), w_std=float("nan")), ValueError, "w_std"),
])
def test_conv_constructors_reject_bad_arguments(make, exc, name):
    with pytest.raises(exc, match=name):
        make()


@pytest.mark.parametrize("model, d", [
    (MLP((3,)), 4), (CNN((2,), (2, 2, 1)), 4), (ResNetCNN(2, 1, (2, 2, 1)), 4)],
    ids=["mlp", "cnn", "resnet"])
def test_apply_rejects_wrong_x(model, d):
    params = model.init(0, d)
    for bad in (np.ones((3, d + 1)), np.ones((3, d - 1)), np.ones(d), np.ones((2, 3, d))):
        with pytest.raises(ValueError, match=r"^x\b"):
            model.apply(params, bad)


def test_mlp_apply_rejects_params_of_another_depth():
    params = MLP((3, 2)).init(0, 4)
    with pytest.raises(ValueError, match="params"):
        MLP((3,)).apply(params, np.ones((2, 4)))
    with pytest.raises(ValueError, match="params"):
        MLP((3,)).apply({"w": 1.0}, np.ones((2, 4)))
