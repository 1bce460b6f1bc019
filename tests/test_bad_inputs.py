"""Bad inputs that used to give an obscure error or a wrong value (issue 11, section 4).

Each case must raise a ValueError or TypeError whose message names the argument. The
valid neighbour of each case is checked too, so that a check cannot pass by rejecting
everything.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lplr_core as lc

D = 64
X = jnp.asarray(np.random.default_rng(0).normal(size=(3, D)))
Y = jnp.asarray([0.5, -0.5, 1.0])
MLP16 = lc.MLP((16,))
MLP32 = lc.MLP((32,))
MLP2 = lc.MLP((4, 4))
CNN = lc.CNN((4, 4), (8, 8, 1))
RESNET = lc.ResNetCNN(4, 1, (8, 8, 1))


def raises_naming(exc, name, call):
    with pytest.raises(exc) as info:
        call()
    assert name in str(info.value), str(info.value)
    return str(info.value)


# ------------------------------------------------------------------------------ seeds


@pytest.mark.parametrize("model", [MLP16, CNN, RESNET], ids=["mlp", "cnn", "resnet"])
def test_init_seed_beyond_int64_names_the_key(model):
    # jax.random.PRNGKey(2**63) raised "OverflowError: Python int too large to convert to C long"
    message = raises_naming(ValueError, "key", lambda: model.init(2**63, D))
    assert "2**63" in message or str(2**63 - 1) in message
    raises_naming(ValueError, "key", lambda: model.init(2**64 + 5, D))
    top = model.init(2**63 - 1, D)   # the largest seed still works
    assert jax.tree_util.tree_structure(top) == jax.tree_util.tree_structure(model.init(0, D))


# ------------------------------------------------------- params of another model's shape


@pytest.mark.parametrize("model, params, where", [
    (MLP16, MLP32.init(0, D), "params[0]['w']"),      # silently computed the width-32 net
    (MLP2, CNN.init(0, D), "params[0]['w']"),          # "x must have 3 features"
    (CNN, MLP2.init(0, D), "params[0]['w']"),          # "not enough values to unpack"
    (RESNET, MLP2.init(0, D), "params"),               # "list indices must be integers"
    (RESNET, CNN.init(0, D), "params"),
    (CNN, lc.CNN((4, 8), (8, 8, 1)).init(0, D), "params[1]['w']"),
    (RESNET, lc.ResNetCNN(4, 2, (8, 8, 1)).init(0, D), "params['blocks']"),
    (MLP2, MLP16.init(0, D), "params"),
], ids=["w32-into-w16", "cnn-into-mlp", "mlp-into-cnn", "mlp-into-resnet", "cnn-into-resnet",
        "cnn-channels", "resnet-blocks", "depth"])
def test_params_of_another_model_are_rejected(model, params, where):
    message = raises_naming(ValueError, where, lambda: model.apply(params, X))
    assert "params" in message
    # the same through the public runners (the error names params there too)
    raises_naming(ValueError, "params", lambda: lc.gradient_descent(
        model.apply, params, X, Y, step_size=0.1, steps=1))
    raises_naming(ValueError, "params", lambda: lc.empirical_ntk(model.apply, params, X))


@pytest.mark.parametrize("model", [MLP16, MLP2, CNN, RESNET], ids=["mlp", "mlp2", "cnn", "resnet"])
def test_own_params_still_work_under_jit_vmap_and_grad(model):
    params = model.init(0, D)
    out = model.apply(params, X)
    np.testing.assert_allclose(jax.jit(model.apply)(params, X), out, rtol=1e-12)
    stacked = lc.stack_params([params, model.init(1, D)])
    both = jax.vmap(model.apply, in_axes=(0, None))(stacked, X)
    np.testing.assert_allclose(both[0], out, rtol=1e-12)
    grads = jax.grad(lambda p: jnp.sum(model.apply(p, X) ** 2))(params)
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(params)


def test_mlp_input_dimension_message_is_unchanged():
    params = MLP16.init(0, D)
    raises_naming(ValueError, "x", lambda: MLP16.apply(params, X[:, :10]))


# ------------------------------------------------------------------ params leaf types


def test_python_list_leaves_are_rejected():
    params = MLP16.init(0, D)
    as_lists = [{"w": np.asarray(layer["w"]).tolist(), "b": np.asarray(layer["b"]).tolist()}
                for layer in params]
    for call in (lambda: lc.gradient_descent(MLP16.apply, as_lists, X, Y, step_size=0.1, steps=1),
                 lambda: lc.empirical_ntk(MLP16.apply, as_lists, X),
                 lambda: lc.loss(MLP16.apply, as_lists, X, Y)):
        message = raises_naming(TypeError, "params", call)
        assert "list" in message and "jnp.asarray" in message
    # converted, the same values are fine
    converted = jax.tree_util.tree_map(jnp.asarray, [{"w": np.asarray(layer["w"]),
                                                       "b": np.asarray(layer["b"])}
                                                      for layer in params])
    assert math.isfinite(lc.loss(MLP16.apply, converted, X, Y))


def test_mixed_float16_float32_params_are_rejected():
    params = MLP16.init(0, D, dtype=jnp.float32)
    mixed = [{"w": params[0]["w"].astype(jnp.float16), "b": params[0]["b"]}, params[1]]
    x32, y32 = X.astype(jnp.float32), Y.astype(jnp.float32)
    for call in (lambda: lc.gradient_descent(MLP16.apply, mixed, x32, y32, step_size=0.1,
                                             steps=1),  # was a lax.scan carry-type error
                 lambda: lc.empirical_ntk(MLP16.apply, mixed, x32)):  # silently promoted
        message = raises_naming(TypeError, "params", call)
        assert "float16" in message and "float32" in message
    # one dtype throughout is fine, float16 included
    half = jax.tree_util.tree_map(lambda a: a.astype(jnp.float16), params)
    assert lc.empirical_ntk(MLP16.apply, half, X.astype(jnp.float16)).shape == (3, 3)


# ----------------------------------------------------------------------- stack_params


@pytest.mark.parametrize("second, where", [
    (MLP32.init(1, D), "params_list[1]"),       # "All input arrays must have the same shape"
    (MLP2.init(1, D), "params_list[1]"),        # "pytree structure error: different lengths"
    (CNN.init(1, D), "params_list[1]"),
    (jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), MLP16.init(1, D)), "params_list[1]"),
], ids=["width", "depth", "model", "dtype"])
def test_stack_params_of_mismatched_trees(second, where):
    raises_naming(ValueError, where, lambda: lc.stack_params([MLP16.init(0, D), second]))


def test_stack_params_of_matching_trees():
    stacked = lc.stack_params([MLP16.init(0, D), MLP16.init(1, D)])
    assert stacked[0]["w"].shape == (2, D, 16)


# ---------------------------------------------------------------------------- pl_ratio


@pytest.mark.parametrize("args, name", [
    (("a", "b"), "loss"),           # "could not convert string to float: 'a'"
    ((1.0, "b"), "grad_norm_sq"),
    ((["1", "2"], [1.0, 2.0]), "loss"),
], ids=["both", "second", "list-of-str"])
def test_pl_ratio_with_strings(args, name):
    raises_naming(TypeError, name, lambda: lc.pl_ratio(*args))


def test_pl_ratio_from_values_with_strings():
    raises_naming(TypeError, "loss_value", lambda: lc.diagnostics.pl_ratio_from_values("1", 1.0))
    raises_naming(TypeError, "grad_norm_sq", lambda: lc.diagnostics.pl_ratio_from_values(1.0, "1"))


def test_pl_ratio_model_form_with_loss_star_at_round_off():
    params = MLP16.init(0, D)
    value = lc.loss(MLP16.apply, params, X, Y)
    below = float(np.nextafter(value, 0.0))   # L - L* = one ulp: a ratio of ~1e16 before
    raises_naming(ValueError, "loss_star",
                  lambda: lc.pl_ratio(MLP16.apply, params, X, Y, loss_star=below))
    raises_naming(ValueError, "loss_star",
                  lambda: lc.pl_ratio(MLP16.apply, params, X, Y, loss_star=value))
    # well below round-off the ratio is the plain formula
    star = value * (1 - 1e-6)
    gsq = lc.diagnostics.gradient_norm_sq(MLP16.apply, params, X, Y)
    assert float(lc.pl_ratio(MLP16.apply, params, X, Y, loss_star=star)) == pytest.approx(
        float(gsq / (2 * (value - star))), rel=1e-6)


def test_pl_ratio_value_form_with_loss_star_at_round_off():
    below = float(np.nextafter(1.0, 0.0))   # returned 9.0e15 before
    raises_naming(ValueError, "loss_star", lambda: lc.pl_ratio(1.0, 2.0, loss_star=below))
    raises_naming(ValueError, "loss_star", lambda: lc.pl_ratio(1.0, 2.0, loss_star=1.0))  # nan
    assert lc.pl_ratio(1.0, 2.0, loss_star=0.5) == 2.0
    # arrays: undefined entries are NaN (the documented marker), defined ones the formula
    out = lc.pl_ratio(np.array([1.0, 1.0, 3.0]), np.array([2.0, 2.0, 2.0]), loss_star=below)
    assert np.isnan(out[0]) and np.isnan(out[1]) and out[2] == pytest.approx(2.0 / (2 * (3 - below)))
    # float32 values: round-off is float32's
    f32 = np.float32
    out = lc.diagnostics.pl_ratio_from_values(np.array([1.0], f32), np.array([2.0], f32),
                                  float(np.nextafter(f32(1.0), f32(0.0))))
    assert np.isnan(out[0])


def test_pl_ratio_value_form_with_negative_loss_star():
    # returned 0.5 before (the model form already refused it)
    raises_naming(ValueError, "loss_star", lambda: lc.pl_ratio(1.0, 2.0, loss_star=-1.0))
    raises_naming(ValueError, "loss_star",
                  lambda: lc.pl_ratio(np.ones(3), np.ones(3), loss_star=-1e-9))
    # pl_ratio_from_values also serves general objectives, whose minimum may be negative
    assert float(lc.diagnostics.pl_ratio_from_values(1.0, 2.0, -1.0)) == 0.5


def test_pl_ratio_value_form_with_nonfinite_scalars():
    raises_naming(ValueError, "loss", lambda: lc.pl_ratio(math.inf, 2.0))
    raises_naming(ValueError, "grad_norm_sq", lambda: lc.pl_ratio(1.0, math.nan))


# ---------------------------------------------------------------------- fit_linear_rate


@pytest.mark.parametrize("steps", [[0, 1, 1, 2], [1, 1, 1, 1], [0, 2, 1, 3]],
                         ids=["repeat", "constant", "decreasing"])
def test_fit_linear_rate_with_repeated_steps(steps):
    # a repeat used to fit silently (R^2 = 0.9), a constant one gave a polyfit warning
    raises_naming(ValueError, "steps",
                  lambda: lc.fit_linear_rate([4.0, 2.0, 1.0, 0.5], steps=steps))


def test_fit_linear_rate_with_increasing_steps():
    fit = lc.fit_linear_rate([4.0, 2.0, 1.0, 0.5], steps=[0, 2, 4, 6])
    assert fit.rate == pytest.approx(2 ** -0.5, rel=1e-12)


# ---------------------------------------------------------- float64 without x64 enabled


@pytest.mark.parametrize("model", [MLP16, CNN, RESNET], ids=["mlp", "cnn", "resnet"])
def test_init_float64_without_x64(model):
    with jax.enable_x64(False):
        # silently gave float32 before
        message = raises_naming(ValueError, "dtype",
                                lambda: model.init(0, D, dtype=jnp.float64))
        assert "jax_enable_x64" in message
        single = jax.tree_util.tree_leaves(model.init(0, D, dtype=jnp.float32))
        assert all(leaf.dtype == jnp.float32 for leaf in single)
        # and the default dtype follows JAX's default float
        leaf = jax.tree_util.tree_leaves(model.init(0, D))[0]
        assert leaf.dtype == jnp.float32
    assert jax.tree_util.tree_leaves(model.init(0, D, dtype=jnp.float64))[0].dtype == jnp.float64


@pytest.mark.parametrize("seed", ["9223372036854775807", str(2**63), "-1", "1.5"])
def test_experiments_cli_rejects_seeds_jax_cannot_take(seed, capsys):
    from lplr_core.experiments.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["run", "width_ablation", "--fast", "--seed", seed])
    assert exc.value.code == 2
    assert "--seed" in capsys.readouterr().err
