"""Tests for the adversarial lambda_min search in a ball and the power-law fit.

Expected values come from closed forms (a model whose NTK is diagonal with known
entries, the linear model) or from the tests' own computations (a Jacobian by
``jax.jacrev`` on the flattened parameters, random points drawn here with NumPy,
NumPy's least squares on synthetic power laws), never from the code under test.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import lplr_core as lc

# ----------------------------------------------------------------------------- helpers


def my_lambda_min(apply_fn, params, x):
    """lambda_min of J J^T with J from reverse mode on the flattened parameters."""
    flat, unravel = ravel_pytree(params)
    jac = np.asarray(jax.jacrev(lambda v: apply_fn(unravel(v), x))(flat))
    return float(np.linalg.eigvalsh(jac @ jac.T)[0])


def _exp2(params, x):
    """f(x; a, b) = x_1 e^a + x_2 e^b: on x = I, Theta = diag(e^{2a}, e^{2b})."""
    return x[:, 0] * jnp.exp(params["t"][0]) + x[:, 1] * jnp.exp(params["t"][1])


EYE = jnp.eye(2)


def exp2_true_minimum(t0, radius):
    """min over ||t - t0|| <= r of min(e^{2 t_1}, e^{2 t_2}) = e^{2 (min(t0) - r)}."""
    return math.exp(2.0 * (min(t0) - radius))


# ------------------------------------------------------- min_lambda_min_in_ball: known answers


@pytest.mark.parametrize("t0, radius", [((0.3, -0.2), 0.5), ((1.0, 1.4), 0.05), ((0.0, 2.0), 1.7)])
def test_never_below_the_true_minimum_and_descent_reaches_it(t0, radius):
    params = {"t": jnp.asarray(t0)}
    truth = exp2_true_minimum(t0, radius)
    est = lc.diagnostics.min_lambda_min_in_ball(_exp2, params, EYE, radius, n_directions=3, steps=60,
                                    lr=0.2, key=4)
    assert isinstance(est, lc.diagnostics.BallEigenEstimate)
    for v in (est.value, est.sampled, est.descent):
        assert v >= truth * (1 - 1e-12)          # attained in the ball: never below the minimum
    assert est.lambda0 == pytest.approx(math.exp(2 * min(t0)), rel=1e-12)
    assert est.value <= est.lambda0 * (1 + 1e-12)
    # descent converges to the boundary point t0 - r e_min (within 1 % of the gap)
    assert est.value - truth <= 0.01 * (est.lambda0 - truth)
    assert est.distance == pytest.approx(radius, rel=1e-9)


def test_sampling_alone_is_above_the_minimum_and_descent_improves_it():
    t0, radius = (0.2, 0.6), 0.4
    params = {"t": jnp.asarray(t0)}
    truth = exp2_true_minimum(t0, radius)
    sampled = lc.diagnostics.min_lambda_min_in_ball(_exp2, params, EYE, radius, n_directions=4, key=1)
    assert sampled.sampled == sampled.descent == sampled.value   # steps=0: no descent
    assert sampled.value > truth                                 # random points miss the corner
    searched = lc.diagnostics.min_lambda_min_in_ball(_exp2, params, EYE, radius, n_directions=4, steps=30,
                                         lr=0.2, key=1)
    assert searched.sampled == sampled.sampled                   # same key, same samples
    assert truth * (1 - 1e-12) <= searched.value < sampled.value


@pytest.mark.parametrize("radius", [0.1, 3.0])
def test_linear_model_lambda_min_is_constant_in_every_ball(radius):
    # MLP(()) is linear in theta: Theta = (w^2/d) X X^T + b^2 11^T at every theta.
    rng = np.random.default_rng(5)
    n, d, w_std, b_std = 6, 10, 1.2, 0.4
    x = rng.normal(size=(n, d))
    model = lc.MLP((), w_std=w_std, b_std=b_std)
    params = model.init(2, d)
    lam = float(np.linalg.eigvalsh(w_std ** 2 / d * x @ x.T + b_std ** 2 * np.ones((n, n)))[0])
    est = lc.diagnostics.min_lambda_min_in_ball(model.apply, params, jnp.asarray(x), radius, n_directions=3,
                                    steps=3, key=0)
    for v in (est.value, est.sampled, est.descent, est.lambda0):
        assert v == pytest.approx(lam, rel=1e-9)


# ------------------------------------------ min_lambda_min_in_ball: against independent sampling


@pytest.fixture(scope="module")
def mlp_problem():
    rng = np.random.default_rng(3)
    n, d = 10, 5
    x = jnp.asarray(rng.normal(size=(n, d)))
    model = lc.MLP((24,), "tanh")
    params = model.init(1, d)
    return model, params, x


def test_search_beats_independent_random_sampling_on_an_mlp(mlp_problem):
    model, params, x = mlp_problem
    radius = 0.8
    flat, unravel = ravel_pytree(params)
    rng = np.random.default_rng(11)
    # our own random points: 32 on the sphere (where the minimum of a smooth perturbation lies
    # at first order) and 32 inside, evaluated with our own Jacobian
    ours = []
    for i in range(64):
        v = rng.normal(size=flat.shape)
        scale = radius if i % 2 else radius * rng.uniform() ** (1.0 / flat.size)
        ours.append(my_lambda_min(model.apply, unravel(flat + scale * v / np.linalg.norm(v)), x))
    est = lc.diagnostics.min_lambda_min_in_ball(model.apply, params, x, radius, n_directions=4, steps=15,
                                    lr=0.1, key=3)
    assert est.lambda0 == pytest.approx(my_lambda_min(model.apply, params, x), rel=1e-9)
    assert est.value <= min(ours)
    assert est.descent <= est.sampled
    assert est.value < est.lambda0
    assert 0 < est.distance <= radius * (1 + 1e-12)


def test_witness_attains_the_value_and_lies_in_the_ball(mlp_problem):
    model, params, x = mlp_problem
    radius = 0.3
    est = lc.diagnostics.min_lambda_min_in_ball(model.apply, params, x, radius, n_directions=2, steps=5,
                                    key=0)
    delta, _ = ravel_pytree(est.delta)
    flat, unravel = ravel_pytree(params)
    assert np.linalg.norm(delta) <= radius * (1 + 1e-12)
    assert np.linalg.norm(delta) == pytest.approx(est.distance, rel=1e-12)
    assert my_lambda_min(model.apply, unravel(flat + delta), x) == pytest.approx(est.value,
                                                                                 rel=1e-9)
    again = lc.diagnostics.min_lambda_min_in_ball(model.apply, params, x, radius, n_directions=2, steps=5,
                                      key=0)
    assert (again.value, again.sampled, again.descent) == (est.value, est.sampled, est.descent)


# ------------------------------------------------------------------ min_lambda_min_in_ball: inputs


@pytest.mark.parametrize("kwargs, exc, name", [
    (dict(radius=0.0), ValueError, "radius"),
    (dict(radius=-1.0), ValueError, "radius"),
    (dict(radius=float("nan")), ValueError, "radius"),
    (dict(radius=math.inf), ValueError, "radius"),
    (dict(n_directions=0), ValueError, "n_directions"),
    (dict(n_directions=2.5), TypeError, "n_directions"),
    (dict(steps=-1), ValueError, "steps"),
    (dict(lr=0.0), ValueError, "lr"),
    (dict(key="seed"), TypeError, "key"),
    (dict(method="magic"), ValueError, "method"),
])
def test_bad_arguments_raise_and_name_the_argument(kwargs, exc, name):
    args = dict(radius=0.5)
    args.update(kwargs)
    radius = args.pop("radius")
    with pytest.raises(exc, match=name):
        lc.diagnostics.min_lambda_min_in_ball(_exp2, {"t": jnp.asarray([0.0, 0.0])}, EYE, radius, **args)


def test_bad_model_inputs_raise():
    params = {"t": jnp.asarray([0.0, 0.0])}
    with pytest.raises(ValueError, match="x"):
        lc.diagnostics.min_lambda_min_in_ball(_exp2, params, jnp.ones(2), 0.5)
    with pytest.raises(ValueError, match="params0"):
        lc.diagnostics.min_lambda_min_in_ball(_exp2, {"t": jnp.asarray([0.0, jnp.nan])}, EYE, 0.5)
    with pytest.raises(ValueError, match="apply_fn"):
        lc.diagnostics.min_lambda_min_in_ball(lambda p, x: jnp.sum(x), params, EYE, 0.5)


# ----------------------------------------------------------------------------- fit_power_law


def test_fit_power_law_recovers_an_exact_power_law():
    x = np.array([64.0, 128.0, 256.0, 512.0, 2048.0])
    y = 3.5 * x ** -0.75
    fit = lc.diagnostics.fit_power_law(x, y)
    assert isinstance(fit, lc.diagnostics.PowerLawFit)
    assert fit.exponent == pytest.approx(-0.75, abs=1e-12)
    assert fit.prefactor == pytest.approx(3.5, rel=1e-12)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    assert fit.n == 5


def test_fit_power_law_two_points_and_noisy_data():
    # two points: the exponent through them, log(y2/y1)/log(x2/x1)
    fit = lc.diagnostics.fit_power_law([0.001, 0.1], [12.0, 0.877])
    assert fit.exponent == pytest.approx(math.log(0.877 / 12.0) / math.log(100.0), rel=1e-12)
    # noisy: the same slope as NumPy's least squares on the logs, r2 < 1
    rng = np.random.default_rng(0)
    x = np.geomspace(1.0, 1e3, 20)
    y = 2.0 * x ** 0.5 * np.exp(0.3 * rng.normal(size=20))
    slope = np.linalg.lstsq(np.stack([np.log(x), np.ones(20)], 1), np.log(y), rcond=None)[0][0]
    fit = lc.diagnostics.fit_power_law(x, y)
    assert fit.exponent == pytest.approx(slope, rel=1e-10)
    assert 0.5 < fit.r2 < 1.0


@pytest.mark.parametrize("x, y, match", [
    ([1.0], [1.0], "at least 2"),
    ([1.0, 2.0], [1.0, 2.0, 3.0], "same length"),
    ([1.0, -2.0], [1.0, 2.0], "x must be positive"),
    ([1.0, 2.0], [0.0, 2.0], "y must be positive"),
    ([1.0, 2.0], [1.0, float("nan")], "y must be positive"),
    ([1.0, math.inf], [1.0, 2.0], "x must be positive"),
    ([3.0, 3.0], [1.0, 2.0], "two different values"),
])
def test_fit_power_law_bad_inputs_raise(x, y, match):
    with pytest.raises(ValueError, match=match):
        lc.diagnostics.fit_power_law(x, y)
