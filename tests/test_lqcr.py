"""Tests for lplr_core.lqcr (the typical LQCR form and the sublinear baseline).

Oracles are independent of the code under test: closed forms (quadratics, where
the quasi-convexity ratio is exactly 2; L = theta^4, where it is exactly 4),
central finite differences of our own loss, a plain Python gradient-descent
loop, hand-computed values of the bound, and direct NumPy iteration of
theta_{t+1} = theta_t - 4 eta theta_t^3. Bounds are asserted only where they
are theorems.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import lplr_core as lc
from lplr_core.lqcr import (
    QuasiConvexityPath,
    descent_ratio,
    quartic_gd_bounds,
    quasi_convexity_path,
    quasi_convexity_ratio,
    quasi_convexity_ratio_kernel,
    sublinear_bound,
)
from jax_variants import assert_is_jax_array, assert_vmap_matches, variant, with_variants

# ----------------------------------------------------------------------------- helpers


def linear_apply(params, x):
    return x @ params["w"]


def quartic_apply(params, x):
    """f = sqrt(2) theta^2 on one sample with target 0, so L = theta^4."""
    return jnp.sqrt(2.0) * params["theta"] ** 2 * jnp.ones(x.shape[0])


def my_loss(apply_fn, params, x, y):
    u = apply_fn(params, x) - y
    return 0.5 * jnp.sum(u * u)


def my_gd(apply_fn, params, x, y, step_size, steps):
    grad = jax.jit(jax.grad(lambda p: my_loss(apply_fn, p, x, y)))
    out = [params]
    for _ in range(steps):
        g = grad(params)
        params = jax.tree_util.tree_map(lambda a, b: a - step_size * b, params, g)
        out.append(params)
    return out


def flat(params):
    return np.asarray(ravel_pytree(params)[0])


@pytest.fixture(scope="module")
def mlp_problem():
    key = jax.random.PRNGKey(3)
    kx, ky = jax.random.split(key)
    x = jax.random.normal(kx, (6, 5))
    y = jnp.sign(jax.random.normal(ky, (6,)))
    mlp = lc.MLP((8,), activation="erf", parameterization="ntk")
    params0 = mlp.init(jax.random.PRNGKey(0), 5, dtype="float64")
    star = mlp.init(jax.random.PRNGKey(1), 5, dtype="float64")
    return mlp, params0, star, x, y


@pytest.fixture(scope="module")
def quadratic_problem():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(5, 3)))
    w_star = jnp.asarray(rng.normal(size=3))
    y = x @ w_star
    return x, y, {"w": w_star}


# ------------------------------------------------------------- quasi_convexity_ratio


def test_ratio_is_two_for_a_quadratic(quadratic_problem):
    x, y, star = quadratic_problem
    for seed in range(3):
        w = jnp.asarray(np.random.default_rng(seed + 10).normal(size=3))
        q = quasi_convexity_ratio(linear_apply, {"w": w}, x, y, star)
        assert q == pytest.approx(2.0, rel=1e-12)


def test_ratio_matches_numpy_for_a_linear_model_with_another_reference(quadratic_problem):
    x, y, _ = quadratic_problem
    xn, yn = np.asarray(x), np.asarray(y)
    w = np.array([0.3, -1.0, 2.0])
    w_ref = np.array([1.0, 0.5, -0.5])
    u = xn @ w - yn
    grad = xn.T @ u
    loss, loss_star = 0.5 * u @ u, 0.1
    expected = grad @ (w - w_ref) / (loss - loss_star)
    got = quasi_convexity_ratio(linear_apply, {"w": jnp.asarray(w)}, x, y,
                                {"w": jnp.asarray(w_ref)}, loss_star=loss_star)
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("theta", [0.3, -1.7, 2.5])
def test_ratio_is_four_for_the_quartic(theta):
    x, y = jnp.zeros((1, 1)), jnp.zeros(1)
    q = quasi_convexity_ratio(quartic_apply, {"theta": jnp.asarray(theta)}, x, y,
                              {"theta": jnp.asarray(0.0)})
    assert q == pytest.approx(4.0, rel=1e-12)


def test_ratio_matches_finite_differences_on_an_mlp(mlp_problem):
    mlp, params0, star, x, y = mlp_problem
    v0, unravel = ravel_pytree(params0)
    d = v0 - ravel_pytree(star)[0]

    def loss_flat(v):
        return float(my_loss(mlp.apply, unravel(v), x, y))

    eps = 1e-5
    directional = (loss_flat(v0 + eps * d) - loss_flat(v0 - eps * d)) / (2 * eps)
    expected = directional / loss_flat(v0)
    got = quasi_convexity_ratio(mlp.apply, params0, x, y, star)
    assert got == pytest.approx(expected, rel=1e-6)


def test_ratio_rejects_bad_input(mlp_problem):
    mlp, params0, star, x, y = mlp_problem
    with pytest.raises(ValueError, match="params_star"):
        quasi_convexity_ratio(mlp.apply, params0, x, y, star[:1])
    bad = jax.tree_util.tree_map(lambda a: a * jnp.nan, star)
    with pytest.raises(ValueError, match="params_star"):
        quasi_convexity_ratio(mlp.apply, params0, x, y, bad)
    with pytest.raises(ValueError, match="loss_star"):
        quasi_convexity_ratio(mlp.apply, params0, x, y, star, loss_star=-1.0)
    with pytest.raises(ValueError, match="loss_star"):
        quasi_convexity_ratio(mlp.apply, params0, x, y, star, loss_star=1e6)
    with pytest.raises(ValueError, match="y"):
        quasi_convexity_ratio(mlp.apply, params0, x, y[:3], star)
    with pytest.raises(TypeError, match="apply_fn"):
        quasi_convexity_ratio("not a function", params0, x, y, star)


# -------------------------------------------------------------- quasi_convexity_path


def test_path_matches_a_plain_loop(mlp_problem):
    mlp, params0, star, x, y = mlp_problem
    eta, steps = 0.05, 12
    path = quasi_convexity_path(mlp.apply, params0, x, y, star, step_size=eta, steps=steps)
    assert isinstance(path, QuasiConvexityPath)
    iterates = my_gd(mlp.apply, params0, x, y, eta, steps)
    assert path.steps.tolist() == list(range(steps + 1))
    for t in (0, 1, 5, steps):
        theta = iterates[t]
        assert path.loss[t] == pytest.approx(float(my_loss(mlp.apply, theta, x, y)), rel=1e-10)
        assert path.ratio[t] == pytest.approx(
            float(quasi_convexity_ratio(mlp.apply, theta, x, y, star)), rel=1e-8)
        assert path.pl_ratio[t] == pytest.approx(
            float(lc.pl_ratio(mlp.apply, theta, x, y)), rel=1e-8)
        assert path.distance[t] == pytest.approx(
            np.linalg.norm(flat(theta) - flat(star)), rel=1e-10)
        assert path.drift[t] == pytest.approx(
            np.linalg.norm(flat(theta) - flat(params0)), rel=1e-10, abs=1e-14)
    assert path.diverged_at is None
    np.testing.assert_allclose(path.suboptimality(), path.loss)


def test_path_losses_match_gradient_descent(mlp_problem):
    mlp, params0, star, x, y = mlp_problem
    traj = lc.gradient_descent(mlp.apply, params0, x, y, step_size=0.05, steps=20)
    path = quasi_convexity_path(mlp.apply, params0, x, y, star, step_size=0.05, steps=20)
    np.testing.assert_allclose(path.loss, traj.loss, rtol=1e-10)
    np.testing.assert_allclose(path.grad_norm_sq, traj.grad_norm_sq, rtol=1e-9)


def test_several_reference_points_give_the_single_rows(mlp_problem):
    mlp, params0, star, x, y = mlp_problem
    other = jax.tree_util.tree_map(lambda a: 0.5 * a, star)
    both = quasi_convexity_path(mlp.apply, params0, x, y, [star, other], step_size=0.05,
                                steps=6, loss_star=0.01)
    assert both.ratio.shape == (2, 7) and both.distance.shape == (2, 7)
    for k, ref in enumerate((star, other)):
        one = quasi_convexity_path(mlp.apply, params0, x, y, ref, step_size=0.05, steps=6,
                                   loss_star=0.01)
        np.testing.assert_allclose(both.ratio[k], one.ratio, rtol=1e-10)
        np.testing.assert_allclose(both.inner[k], one.inner, rtol=1e-10)


def test_quadratic_path_has_ratio_two_and_linear_pl_ratio(quadratic_problem):
    x, y, star = quadratic_problem
    w0 = {"w": jnp.zeros(3)}
    eig = np.linalg.eigvalsh(np.asarray(x).T @ np.asarray(x))
    path = quasi_convexity_path(linear_apply, w0, x, y, star, step_size=0.5 / eig[-1], steps=30)
    np.testing.assert_allclose(path.ratio, 2.0, rtol=1e-8)
    # Rayleigh quotient of the Hessian X^T X: between its extreme eigenvalues.
    assert np.all(path.pl_ratio >= eig[0] * (1 - 1e-9))
    assert np.all(path.pl_ratio <= eig[-1] * (1 + 1e-9))


def test_path_records_divergence():
    x, y = jnp.zeros((1, 1)), jnp.zeros(1)
    # theta_{t+1} = theta_t (1 - 4 eta theta_t^2) blows up when 4 eta theta_0^2 > 2.
    path = quasi_convexity_path(quartic_apply, {"theta": jnp.asarray(3.0)}, x, y,
                                {"theta": jnp.asarray(0.0)}, step_size=0.1, steps=40)
    assert path.diverged_at is not None and path.diverged_at > 0
    assert len(path.loss) == path.diverged_at
    for name in ("loss", "grad_norm_sq", "inner", "distance", "drift"):  # no inf recorded
        assert len(getattr(path, name)) == path.diverged_at, name
        assert np.all(np.isfinite(getattr(path, name))), name


def test_path_rejects_bad_input(mlp_problem):
    mlp, params0, star, x, y = mlp_problem
    with pytest.raises(ValueError, match="step_size"):
        quasi_convexity_path(mlp.apply, params0, x, y, star, step_size=0.0, steps=3)
    with pytest.raises(ValueError, match="steps"):
        quasi_convexity_path(mlp.apply, params0, x, y, star, step_size=0.1, steps=0)
    with pytest.raises(TypeError, match="steps"):
        quasi_convexity_path(mlp.apply, params0, x, y, star, step_size=0.1, steps=2.5)
    with pytest.raises(ValueError, match="params_star"):
        quasi_convexity_path(mlp.apply, params0, x, y, {"w": jnp.asarray(1.0)}, step_size=0.1,
                             steps=3)


# -------------------------------------------------------------------- sublinear_bound


def test_sublinear_bound_hand_values():
    # a = 1/2 (eta <= 1/beta): (D^2 + 2 eta g0) / (2 eta c t + 2 eta)
    bound = sublinear_bound(1.0, 0.5, 2.0, 1.0, 3)
    np.testing.assert_allclose(bound, [2.0 / 1.0, 2.0 / 3.0, 2.0 / 5.0, 2.0 / 7.0])
    # with beta = 2, eta = 0.5: a = 1/2 again; with beta = 1: a = 3/4, eta/a = 2/3
    np.testing.assert_allclose(sublinear_bound(1.0, 0.5, 2.0, 1.0, [3], beta=2.0), [2.0 / 7.0])
    expected = (1.0 + (2.0 / 3.0) * 0.5) / (2 * 0.5 * 2.0 * 4 + 2.0 / 3.0)
    np.testing.assert_allclose(
        sublinear_bound(1.5, 0.5, 2.0, 1.0, np.array([4.0]), loss_star=1.0, beta=1.0),
        [expected])


def test_sublinear_bound_holds_on_quadratic_and_quartic(quadratic_problem):
    x, y, star = quadratic_problem
    eig = np.linalg.eigvalsh(np.asarray(x).T @ np.asarray(x))
    for multiple in (0.5, 1.0, 1.8):
        eta = multiple / eig[-1]
        path = quasi_convexity_path(linear_apply, {"w": jnp.zeros(3)}, x, y, star,
                                    step_size=eta, steps=50)
        beta = None if multiple <= 1.0 else eig[-1]
        bound = sublinear_bound(path.loss[0], eta, 2.0, path.distance[0], path.steps, beta=beta)
        assert np.all(path.loss <= bound * (1 + 1e-12))
    xq, yq = jnp.zeros((1, 1)), jnp.zeros(1)
    theta0 = 1.2
    eta = 1.0 / (12 * theta0 ** 2)
    path = quasi_convexity_path(quartic_apply, {"theta": jnp.asarray(theta0)}, xq, yq,
                                {"theta": jnp.asarray(0.0)}, step_size=eta, steps=200)
    bound = sublinear_bound(theta0 ** 4, eta, 4.0, theta0, path.steps)
    assert np.all(path.loss <= bound * (1 + 1e-12))


def test_sublinear_bound_is_order_one_over_t():
    bound = sublinear_bound(2.0, 0.1, 1.5, 3.0, np.array([1e3, 1e4, 1e5, 1e6]))
    products = bound * np.array([1e3, 1e4, 1e5, 1e6])
    # t * bound -> (D^2 + 2 eta g0) / (2 eta c) = (9 + 0.4) / 0.3
    assert products[-1] == pytest.approx(9.4 / 0.3, rel=1e-5)


def test_sublinear_bound_rejects_bad_input():
    with pytest.raises(ValueError, match="c"):
        sublinear_bound(1.0, 0.1, 0.0, 1.0, 5)
    with pytest.raises(ValueError, match="step_size"):
        sublinear_bound(1.0, 1.0, 1.0, 1.0, 5, beta=2.0)
    with pytest.raises(ValueError, match="loss0"):
        sublinear_bound(0.5, 0.1, 1.0, 1.0, 5, loss_star=1.0)
    with pytest.raises(ValueError, match="distance0"):
        sublinear_bound(1.0, 0.1, 1.0, -1.0, 5)
    with pytest.raises(ValueError, match="steps"):
        sublinear_bound(1.0, 0.1, 1.0, 1.0, np.array([-1.0, 2.0]))
    with pytest.raises(ValueError, match="beta"):
        sublinear_bound(1.0, 0.1, 1.0, 1.0, 5, beta=-1.0)
    with pytest.raises(TypeError, match="c"):
        sublinear_bound(1.0, 0.1, "two", 1.0, 5)


# ---------------------------------------------------------------------- descent_ratio


def test_descent_ratio_is_tight_on_a_one_dimensional_quadratic():
    lam, eta, theta0 = 3.0, 0.2, 1.5
    thetas = theta0 * (1 - eta * lam) ** np.arange(10)
    losses = 0.5 * lam * thetas ** 2
    gsq = (lam * thetas) ** 2
    np.testing.assert_allclose(descent_ratio(losses, gsq, eta), 1 - eta * lam / 2, rtol=1e-12)


def test_descent_ratio_on_a_network_meets_the_descent_lemma(mlp_problem):
    mlp, params0, star, x, y = mlp_problem
    beta = lc.smoothness(mlp.apply, params0, x, y)
    path = quasi_convexity_path(mlp.apply, params0, x, y, star, step_size=0.5 / beta, steps=10)
    a = descent_ratio(path.loss, path.grad_norm_sq, 0.5 / beta)
    assert a.shape == (10,)
    assert np.all(a > 0.5)  # roughly 1 - beta eta / 2 = 0.75 while the sharpness stays near beta


def test_descent_ratio_rejects_bad_input():
    with pytest.raises(ValueError, match="grad_norm_sq"):
        descent_ratio([1.0, 0.5], [1.0], 0.1)
    with pytest.raises(ValueError, match="losses"):
        descent_ratio([1.0], [1.0], 0.1)
    with pytest.raises(ValueError, match="step_size"):
        descent_ratio([1.0, 0.5], [1.0, 1.0], -0.1)
    assert np.isnan(descent_ratio([1.0, 1.0, 0.5], [0.0, 1.0, 1.0], 0.1)[0])


# ------------------------------------------------------------------ quartic_gd_bounds


@pytest.mark.parametrize("theta0,fraction", [(1.0, 1.0), (-0.7, 0.5), (3.0, 0.1)])
def test_quartic_bounds_sandwich_direct_iteration(theta0, fraction):
    eta = fraction / (12 * theta0 ** 2)
    theta, losses = theta0, []
    for _ in range(2001):
        losses.append(theta ** 4)
        theta = theta - 4 * eta * theta ** 3
    losses = np.array(losses)
    lower, upper = quartic_gd_bounds(theta0, eta, 2000)
    assert np.all(lower <= losses * (1 + 1e-12))
    assert np.all(losses <= upper * (1 + 1e-12))
    # sublinear: the per-step factor tends to 1
    assert losses[-1] / losses[-2] > 0.99


def test_quartic_bounds_match_the_path_function():
    x, y = jnp.zeros((1, 1)), jnp.zeros(1)
    theta0, eta = 0.8, 0.1
    path = quasi_convexity_path(quartic_apply, {"theta": jnp.asarray(theta0)}, x, y,
                                {"theta": jnp.asarray(0.0)}, step_size=eta, steps=300)
    lower, upper = quartic_gd_bounds(theta0, eta, path.steps)
    assert np.all((lower <= path.loss * (1 + 1e-12)) & (path.loss <= upper * (1 + 1e-12)))
    np.testing.assert_allclose(path.pl_ratio, 8 * np.asarray(path.loss) ** 0.5, rtol=1e-9)


def test_quartic_bounds_reject_bad_input():
    with pytest.raises(ValueError, match="theta0"):
        quartic_gd_bounds(0.0, 0.1, 5)
    with pytest.raises(ValueError, match="step_size"):
        quartic_gd_bounds(1.0, 0.1, 5)
    with pytest.raises(ValueError, match="steps"):
        quartic_gd_bounds(1.0, 0.01, -2)
    assert math.isfinite(quartic_gd_bounds(1.0, 1 / 12, 3)[0][-1])


def test_path_names_params_star_for_python_number_leaves():
    mlp = lc.MLP((4,), activation="tanh")
    params0 = mlp.init(0, 3)
    x, y = jnp.ones((5, 3)), jnp.ones(5)
    with pytest.raises(TypeError, match="params_star"):
        quasi_convexity_path(mlp.apply, params0, x, y, {"w": 1.0}, step_size=0.1, steps=3)


# ------------------------------------------------------------------- JAX-native (jit, vmap, grad)

@with_variants
def test_quasi_convexity_ratio_is_jax_native(variant_name, quadratic_problem):
    """A quadratic has q = 2 exactly, eagerly and under jit; the result is a 0-d jax.Array."""
    x, y, star = quadratic_problem
    fn = variant(lambda p: quasi_convexity_ratio(linear_apply, p, x, y, star), variant_name)
    got = fn({"w": star["w"] + jnp.asarray([0.3, -0.2, 0.1])})
    assert_is_jax_array(got)
    assert got.shape == () and float(got) == pytest.approx(2.0, rel=1e-12)


def test_quasi_convexity_ratio_under_vmap_and_grad(mlp_problem):
    mlp, params0, star, x, y = mlp_problem
    ratio = functools.partial(quasi_convexity_ratio_kernel, mlp.apply)
    batch = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b, 0.5 * (a + b)]), params0, star)
    assert_vmap_matches(lambda p: quasi_convexity_ratio(mlp.apply, p, x, y, params0),
                        (batch,), 0, rtol=1e-12)
    # grad against central finite differences of our own ratio, along a random direction
    direction = jax.tree_util.tree_map(lambda a: jnp.cos(3.0 * a), params0)

    def mine(t):
        p = jax.tree_util.tree_map(lambda a, d: a + t * d, params0, direction)
        value, grads = jax.value_and_grad(lambda q: my_loss(mlp.apply, q, x, y))(p)
        inner = np.dot(flat(grads), flat(p) - flat(star))
        return inner / float(value)

    slope = jax.grad(lambda t: quasi_convexity_ratio(
        mlp.apply, jax.tree_util.tree_map(lambda a, d: a + t * d, params0, direction),
        x, y, star))(0.0)
    h = 1e-5
    assert float(slope) == pytest.approx((mine(h) - mine(-h)) / (2 * h), rel=1e-5)
    # under jit an undefined ratio is NaN, not an error; eagerly it is an error
    traced = jax.jit(lambda s: ratio(params0, x, y, star, s))(jnp.asarray(1e6))
    assert np.isnan(float(traced))
    with pytest.raises(ValueError, match="loss_star must be below"):
        quasi_convexity_ratio(mlp.apply, params0, x, y, star, loss_star=jnp.asarray(1e6))


@with_variants
def test_descent_ratio_is_jax_native(variant_name):
    lam, eta = 3.0, 0.2
    theta = 1.5 * (1 - eta * lam) ** np.arange(6)
    losses, gsq = 0.5 * lam * theta ** 2, (lam * theta) ** 2
    fn = variant(lambda l, g: descent_ratio(l, g, eta), variant_name)
    got = fn(jnp.asarray(losses), jnp.asarray(gsq))
    assert_is_jax_array(got)
    np.testing.assert_allclose(np.asarray(got), 1 - eta * lam / 2, rtol=1e-12)
    # host inputs keep float64 NumPy (differences of nearby losses keep their digits)
    host = descent_ratio(losses, gsq, eta)
    assert isinstance(host, np.ndarray) and host.dtype == np.float64
    # vmap over a batch of runs, and grad through the ratio
    assert_vmap_matches(lambda l: descent_ratio(l, jnp.asarray(gsq), eta),
                        (jnp.stack([jnp.asarray(losses), 2 * jnp.asarray(losses)]),), 0)
    d = jax.grad(lambda l: jnp.sum(descent_ratio(l, jnp.asarray(gsq), eta)))(jnp.asarray(losses))
    want = np.zeros(6)
    want[:-1] += 1 / (eta * gsq[:-1])
    want[1:] -= 1 / (eta * gsq[:-1])
    np.testing.assert_allclose(np.asarray(d), want, rtol=1e-12)
