"""Tests for lplr_core.diagnostics.

Every expected value comes from an independent computation: closed forms for
the linear model, our own Jacobians (``jax.jacrev`` on the flattened
parameters), our own ``jax.grad`` of our own loss, or plain NumPy. Only
inequalities that are theorems are asserted (Rayleigh bounds, Weyl's
inequality, the PL/descent-lemma bounds for a linear model, lower estimates
of a supremum known in closed form).
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


def my_loss(apply_fn, params, x, y):
    u = apply_fn(params, x) - y
    return 0.5 * jnp.sum(u * u)


def my_loss_and_grad_norm_sq(apply_fn, params, x, y):
    value, grads = jax.value_and_grad(lambda p: my_loss(apply_fn, p, x, y))(params)
    flat, _ = ravel_pytree(grads)
    return float(value), float(np.sum(np.asarray(flat) ** 2))


def my_jacobian(apply_fn, params, x):
    """J (n x p) from reverse-mode differentiation of the flattened parameters."""
    flat, unravel = ravel_pytree(params)
    return np.asarray(jax.jacrev(lambda v: apply_fn(unravel(v), x))(flat))


def my_ntk(apply_fn, params, x):
    jac = my_jacobian(apply_fn, params, x)
    return jac @ jac.T


def flat_params(params):
    return np.asarray(ravel_pytree(params)[0])


def my_gd(apply_fn, params, x, y, step_size, steps):
    """A plain Python gradient-descent loop; returns the iterates theta_0..theta_T."""
    grad = jax.jit(jax.grad(lambda p: my_loss(apply_fn, p, x, y)))
    out = [params]
    for _ in range(steps):
        g = grad(params)
        params = jax.tree_util.tree_map(lambda a, b: a - step_size * b, params, g)
        out.append(params)
    return out


def rel_close(a, b, rtol):
    """Close relative to each entry, or to the largest entry (for matrices with cancellation)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * float(np.max(np.abs(b))))


# ---------------------------------------------------------------------------- problems


@pytest.fixture(scope="module")
def mlp_problem():
    rng = np.random.default_rng(1)
    n, d = 12, 4
    x = jnp.asarray(rng.normal(size=(n, d)))
    y = jnp.asarray(rng.normal(size=n))
    model = lc.MLP((32,), "tanh")
    params = model.init(3, d)
    return model, params, x, y


W_STD, B_STD = 1.3, 0.7


@pytest.fixture(scope="module")
def linear_problem():
    """MLP(()) is f(x) = (w_std / sqrt(d)) x^T w + b_std b; n <= p so Theta > 0."""
    rng = np.random.default_rng(2)
    n, d = 8, 12
    x = rng.normal(size=(n, d))
    y = rng.normal(size=n)
    model = lc.MLP((), w_std=W_STD, b_std=B_STD)
    params = model.init(5, d)
    w = np.asarray(params[0]["w"])[:, 0]
    b = float(np.asarray(params[0]["b"])[0])
    f0 = W_STD / math.sqrt(d) * x @ w + B_STD * b
    theta = W_STD ** 2 / d * x @ x.T + B_STD ** 2 * np.ones((n, n))
    ev = np.linalg.eigvalsh(theta)
    return dict(model=model, params=params, x=jnp.asarray(x), y=jnp.asarray(y), f0=f0,
                theta=theta, lmin=float(ev[0]), lmax=float(ev[-1]), n=n, d=d)


# -------------------------------------------------------------------- PL ratio on an MLP


def test_pl_ratio_is_rayleigh_quotient_of_the_ntk(mlp_problem):
    model, params, x, y = mlp_problem
    rho = lc.pl_ratio(model.apply, params, x, y)
    u = np.asarray(model.apply(params, x) - y)
    theta_mine = my_ntk(model.apply, params, x)
    theta_lib = np.asarray(lc.empirical_ntk(model.apply, params, x, shard=False))
    rel_close(theta_lib, theta_mine, 1e-10)
    expected = float(u @ theta_mine @ u / (u @ u))
    assert rho == pytest.approx(expected, rel=1e-10)
    ev = np.linalg.eigvalsh(theta_mine)
    assert ev[0] - 1e-10 * ev[-1] <= rho <= ev[-1] * (1 + 1e-10)
    # the library's Rayleigh quotient agrees with the definition too
    assert lc.diagnostics.rayleigh_quotient(theta_mine, u) == pytest.approx(expected, rel=1e-12)
    # the interior of the interval is strict for a generic residual
    assert ev[0] < rho < ev[-1]


def test_loss_residual_and_gradient_norm_match_own_autodiff(mlp_problem):
    model, params, x, y = mlp_problem
    value, gsq = my_loss_and_grad_norm_sq(model.apply, params, x, y)
    np.testing.assert_allclose(np.asarray(lc.diagnostics.residual(model.apply, params, x, y)),
                               np.asarray(model.apply(params, x)) - np.asarray(y), rtol=1e-12)
    assert lc.loss(model.apply, params, x, y) == pytest.approx(value, rel=1e-12)
    assert lc.diagnostics.gradient_norm_sq(model.apply, params, x, y) == pytest.approx(gsq, rel=1e-12)
    # ||grad L||^2 = u^T Theta u
    u = np.asarray(model.apply(params, x) - y)
    assert gsq == pytest.approx(float(u @ my_ntk(model.apply, params, x) @ u), rel=1e-10)


def test_pl_ratio_with_positive_loss_star(mlp_problem):
    model, params, x, y = mlp_problem
    value, gsq = my_loss_and_grad_norm_sq(model.apply, params, x, y)
    star = 0.4 * value
    rho = lc.pl_ratio(model.apply, params, x, y, loss_star=star)
    assert float(rho) == pytest.approx(float(gsq / (2 * (value - star))), rel=1e-12)
    # a larger L* can only increase the ratio
    assert rho > lc.pl_ratio(model.apply, params, x, y)
    assert float(lc.diagnostics.pl_ratio_from_values(value, gsq, star)) == pytest.approx(float(rho), rel=1e-12)


@pytest.mark.parametrize("factor", [1.5, 10.0])
def test_pl_ratio_raises_when_loss_at_or_below_loss_star(mlp_problem, factor):
    model, params, x, y = mlp_problem
    value, _ = my_loss_and_grad_norm_sq(model.apply, params, x, y)
    with pytest.raises(ValueError, match="loss_star"):
        lc.pl_ratio(model.apply, params, x, y, loss_star=factor * value)


def _scaled_identity(params, x):
    return params["a"][0] * x[:, 0]


def test_pl_ratio_raises_at_an_exact_interpolant():
    x = jnp.asarray([[1.0, 0.0], [2.0, 1.0], [-3.0, 2.0]])
    params = {"a": jnp.asarray([0.5])}
    y = 0.5 * x[:, 0]  # exactly representable: u == 0, L == L* == 0
    with pytest.raises(ValueError, match="loss_star"):
        lc.pl_ratio(_scaled_identity, params, x, y)


def test_pl_ratio_from_values_elementwise():
    loss = np.array([2.0, 1.0, 0.5, 0.25, np.nan, 3.0])
    gsq = np.array([4.0, 3.0, 1.0, 2.0, 1.0, np.inf])
    out = lc.diagnostics.pl_ratio_from_values(loss, gsq, 0.5)
    expected = np.array([4.0 / 3.0, 3.0 / 1.0, np.nan, np.nan, np.nan, np.nan])
    np.testing.assert_allclose(out, expected, rtol=1e-15, equal_nan=True)
    with pytest.raises(ValueError, match="loss_value"):
        lc.diagnostics.pl_ratio_from_values(np.ones(3), np.ones(4))


# --------------------------------------------------------------------- the linear model


def test_linear_model_ntk_is_the_closed_form(linear_problem):
    P = linear_problem
    theta = np.asarray(lc.empirical_ntk(P["model"].apply, P["params"], P["x"], shard=False))
    rel_close(theta, P["theta"], 1e-12)
    # and the NTK does not move: another parameter point has the same kernel
    other = P["model"].init(11, P["d"])
    theta_other = lc.empirical_ntk(P["model"].apply, other, P["x"], shard=False)
    rel_close(np.asarray(theta_other), P["theta"], 1e-12)


def test_linear_model_pl_ratio_is_rayleigh_quotient(linear_problem):
    P = linear_problem
    u = P["f0"] - np.asarray(P["y"])
    rho = lc.pl_ratio(P["model"].apply, P["params"], P["x"], P["y"])
    assert rho == pytest.approx(float(u @ P["theta"] @ u / (u @ u)), rel=1e-12)
    assert P["lmin"] <= rho <= P["lmax"]


def test_linear_model_lipschitz_in_ball_vanishes(linear_problem):
    P = linear_problem
    est = lc.lipschitz_in_ball(P["model"].apply, P["params"], P["x"], 3.0, n_directions=4,
                               ascent_steps=2, key=0)
    assert 0.0 <= est.value <= 1e-10 * P["lmax"]
    assert est.lambda0 == pytest.approx(P["lmin"], rel=1e-10)
    assert est.radius == 3.0
    # with the exact L_Theta = 0 nothing limits the certified region
    assert lc.certified_radius(P["lmin"], 0.0) == math.inf
    assert lc.certified_radius(est.lambda0, est.value) >= 1e9


def test_linear_model_gd_loss_follows_exact_recursion(linear_problem):
    P = linear_problem
    lmax, theta = P["lmax"], P["theta"]
    u0 = P["f0"] - np.asarray(P["y"])
    for eta in (0.5 / lmax, 1.0 / lmax, 2.1 / lmax):
        traj = lc.gradient_descent(P["model"].apply, P["params"], P["x"], P["y"],
                                   step_size=eta, steps=40, record_every=4, ntk_every=8)
        us = [u0]
        for _ in range(40):
            us.append(us[-1] - eta * theta @ us[-1])
        expected = np.array([0.5 * us[t] @ us[t] for t in traj.steps])
        rel_close(traj.loss, expected, 1e-10)
        # gradient norm: ||J^T u||^2 = u^T Theta u
        rel_close(traj.grad_norm_sq, [us[t] @ theta @ us[t] for t in traj.steps], 1e-10)
        # constant kernel along the path
        np.testing.assert_allclose(traj.lambda_min, P["lmin"], rtol=1e-10)
        np.testing.assert_allclose(traj.lambda_max, lmax, rtol=1e-10)
        assert np.all(np.abs(traj.kernel_drift) <= 1e-10 * lmax)
        assert traj.lipschitz_estimate() <= 1e-10 * lmax
        drift_at_ntk = traj.drift[np.searchsorted(traj.steps, traj.ntk_steps)]
        assert lc.lipschitz_along_path(traj.kernel_drift, drift_at_ntk) <= 1e-10 * lmax
        # every PL ratio is a Rayleigh quotient of the constant kernel
        assert np.all(traj.pl_ratio >= P["lmin"] * (1 - 1e-10))
        assert np.all(traj.pl_ratio <= lmax * (1 + 1e-10))
    # past the stability edge 2/lambda_max the top mode grows: the loss increases
    assert traj.loss[-1] > traj.loss[0]


def test_linear_model_pl_bounds_hold_at_every_step(linear_problem):
    P = linear_problem
    lmin, lmax = P["lmin"], P["lmax"]
    assert lmin > 0
    for eta, beta in ((1.0 / lmax, None), (0.3 / lmax, None), (1.0 / lmax, lmax),
                      (1.5 / lmax, lmax)):
        traj = lc.gradient_descent(P["model"].apply, P["params"], P["x"], P["y"],
                                   step_size=eta, steps=40, record_every=4)
        bound = lc.pl_bound(traj.loss[0], eta, lmin, traj.steps, beta=beta)
        assert bound.shape == traj.loss.shape
        assert np.all(traj.loss <= bound * (1 + 1e-12)), (eta, beta)
        # the bound is not vacuous: it decreases strictly
        assert np.all(np.diff(bound) < 0)


def test_linear_model_smoothness_is_lambda_max(linear_problem):
    P = linear_problem
    beta = lc.smoothness(P["model"].apply, P["params"], P["x"], P["y"], iters=200, key=1)
    # Hessian of 1/2 ||J theta - y||^2 is J^T J; its top eigenvalue is lambda_max(J J^T)
    jac = my_jacobian(P["model"].apply, P["params"], P["x"])
    hess_top = np.linalg.eigvalsh(jac.T @ jac)[-1]
    assert hess_top == pytest.approx(P["lmax"], rel=1e-10)
    assert beta == pytest.approx(P["lmax"], rel=1e-8)
    lo, hi = lc.diagnostics.step_size_thresholds(beta)
    assert lo == pytest.approx(1.0 / P["lmax"], rel=1e-8)
    assert hi == pytest.approx(2.0 / P["lmax"], rel=1e-8)


def test_step_size_thresholds_closed_form():
    assert lc.diagnostics.step_size_thresholds(4.0) == (0.25, 0.5)
    assert lc.diagnostics.step_size_thresholds(0.5) == (2.0, 4.0)


def test_linear_model_min_pl_ratio_in_ball_within_spectrum(linear_problem):
    P = linear_problem
    est = lc.diagnostics.min_pl_ratio_in_ball(P["model"].apply, P["params"], P["x"], P["y"], 2.0,
                                  n_directions=4, descent_steps=3, key=4)
    # rho(theta) is a Rayleigh quotient of the same constant kernel at every theta
    assert P["lmin"] * (1 - 1e-10) <= est.value <= P["lmax"] * (1 + 1e-10)
    assert est.value == min(est.sampled, est.descent)
    assert est.descent <= est.sampled
    assert est.radius == 2.0


# ----------------------------------------------------------- Weyl along an MLP trajectory


def test_weyl_bound_and_rayleigh_bound_along_mlp_trajectory(mlp_problem):
    model, params, x, y = mlp_problem
    eta, T = 0.02, 30
    traj = lc.gradient_descent(model.apply, params, x, y, step_size=eta, steps=T,
                               record_every=2, ntk_every=10)
    np.testing.assert_array_equal(traj.ntk_steps, [0, 10, 20, 30])
    lam0 = traj.lambda_min[0]
    scale = traj.lambda_max[0]
    for k, s in enumerate(traj.ntk_steps):
        i = int(np.searchsorted(traj.steps, s))
        assert traj.steps[i] == s
        # Weyl: lambda_min(Theta_t) >= lambda_0 - ||Theta_t - Theta_0||_op
        assert traj.lambda_min[k] >= lam0 - traj.kernel_drift[k] - 1e-10 * scale
        # Rayleigh: rho_t >= lambda_min(Theta_t) (L* = 0)
        assert traj.pl_ratio[i] >= traj.lambda_min[k] - 1e-10 * scale
        assert traj.pl_ratio[i] <= traj.lambda_max[k] + 1e-10 * scale
    # the kernel really moves here, so the Weyl check is not trivially an identity
    assert traj.kernel_drift[-1] > 1e-6 * scale
    # and the recorded spectra are those of our own NTK at our own iterates
    iterates = my_gd(model.apply, params, x, y, eta, T)
    theta0 = my_ntk(model.apply, params, x)
    for k, s in enumerate(traj.ntk_steps):
        theta_t = my_ntk(model.apply, iterates[s], x)
        ev = np.linalg.eigvalsh(theta_t)
        assert traj.lambda_min[k] == pytest.approx(ev[0], rel=1e-8)
        assert traj.lambda_max[k] == pytest.approx(ev[-1], rel=1e-8)
        assert traj.kernel_drift[k] == pytest.approx(np.linalg.norm(theta_t - theta0, 2),
                                                     rel=1e-8, abs=1e-12 * scale)


# ---------------------------------------------------------------- certificates and radii


def test_certificate_scalar_and_array():
    assert lc.certificate(2.0, 0.5, 3.0) == pytest.approx(0.5, abs=0)
    assert lc.certificate(2.0, 0.5, 0.0) == 2.0
    assert lc.certificate(1.0, 4.0, 1.0) == -3.0  # nothing certified: negative, not clipped
    r = np.array([0.0, 1.0, 2.5, 10.0])
    out = lc.certificate(3.0, 0.4, r)
    np.testing.assert_allclose(out, 3.0 - 0.4 * r, rtol=0, atol=1e-15)
    assert np.shape(out) == (4,)


def test_certified_radius_cases():
    assert lc.certified_radius(3.0, 0.5) == pytest.approx(6.0, rel=1e-15)
    assert lc.certified_radius(0.0, 0.5) == 0.0
    assert lc.certified_radius(-1.0, 0.5) == 0.0
    assert lc.certified_radius(0.0, 0.0) == 0.0
    assert lc.certified_radius(2.0, 0.0) == math.inf
    # the certificate vanishes exactly at the certified radius
    lam0, lip = 1.7, 0.3
    assert lc.certificate(lam0, lip, lc.certified_radius(lam0, lip)) == pytest.approx(
        0.0, abs=1e-14)


def _quad1(params, x):
    """f(x; a) = a^2 g(x) with g(x) = x[:, 0]: Theta = 4 a^2 g g^T."""
    return params["a"][0] ** 2 * x[:, 0]


def _quad2(params, x):
    """f(x; t) = t1^2 g(x) + t2^2 h(x): Theta = 4 (t1^2 g g^T + t2^2 h h^T)."""
    return params["t"][0] ** 2 * x[:, 0] + params["t"][1] ** 2 * x[:, 1]


def test_lipschitz_in_ball_one_parameter_closed_form():
    # At a = 0: Theta(delta) - Theta(0) = 4 delta^2 g g^T, so for |delta| = r the ratio is
    # 4 r ||g||^2 in both directions of the (two-point) sphere.
    g = np.array([1.0, -2.0, 0.5, 3.0])
    x = jnp.asarray(np.stack([g, np.zeros(4)], axis=1))
    params = {"a": jnp.asarray([0.0])}
    r = 0.7
    est = lc.lipschitz_in_ball(_quad1, params, x, r, n_directions=3, ascent_steps=2, key=0)
    expected = 4 * r * float(g @ g)
    assert est.sampled == pytest.approx(expected, rel=1e-12)
    assert est.ascent == pytest.approx(expected, rel=1e-12)
    assert est.value == pytest.approx(expected, rel=1e-12)
    assert est.lambda0 == 0.0


def test_lipschitz_in_ball_estimates_are_lower_bounds_of_the_known_supremum():
    # g and h orthogonal with ||g||^2 = a, ||h||^2 = b. At theta_0 = 0 and ||delta|| = r:
    # ||Theta(delta) - Theta(0)||_op = 4 max(d1^2 a, d2^2 b) in [4 r^2 ab/(a+b), 4 r^2 max(a, b)].
    g = np.array([1.0, 1.0, 0.0, 0.0])
    h = np.array([0.0, 0.0, 1.0, -2.0])
    a, b = float(g @ g), float(h @ h)
    x = jnp.asarray(np.stack([g, h], axis=1))
    params = {"t": jnp.asarray([0.0, 0.0])}
    r = 1.3
    est = lc.lipschitz_in_ball(_quad2, params, x, r, n_directions=5, ascent_steps=5,
                               ascent_lr=0.2, key=7)
    lower, upper = 4 * r * a * b / (a + b), 4 * r * max(a, b)
    for v in (est.sampled, est.ascent, est.value):
        assert lower * (1 - 1e-12) <= v <= upper * (1 + 1e-12)
    assert est.ascent >= est.sampled
    assert est.value == max(est.sampled, est.ascent)


def test_lipschitz_in_ball_mlp_structure(mlp_problem):
    model, params, x, _ = mlp_problem
    est = lc.lipschitz_in_ball(model.apply, params, x, 0.5, n_directions=3, ascent_steps=2,
                               key=1)
    assert isinstance(est, lc.diagnostics.LipschitzEstimate)
    assert est.lambda0 == pytest.approx(np.linalg.eigvalsh(my_ntk(model.apply, params, x))[0],
                                        rel=1e-9)
    assert est.sampled > 0
    assert est.ascent >= est.sampled
    assert est.value == max(est.sampled, est.ascent)
    assert est.radius == 0.5
    # same key, same numbers
    again = lc.lipschitz_in_ball(model.apply, params, x, 0.5, n_directions=3, ascent_steps=2,
                                 key=1)
    assert again == est


def test_min_pl_ratio_in_ball_mlp_structure(mlp_problem):
    model, params, x, y = mlp_problem
    est = lc.diagnostics.min_pl_ratio_in_ball(model.apply, params, x, y, 0.3, n_directions=3,
                                  descent_steps=2, key=2)
    assert isinstance(est, lc.diagnostics.BallPLEstimate)
    assert est.value == min(est.sampled, est.descent)
    assert est.descent <= est.sampled
    assert 0 <= est.value < math.inf


# ------------------------------------------------------------------------- rate fitting


def test_fit_linear_rate_recovers_geometric_sequence():
    c, q = 3.5, 0.83
    steps = np.arange(0, 60, 5)
    losses = c * q ** steps
    fit = lc.fit_linear_rate(losses, steps=steps)
    assert fit.slope == pytest.approx(math.log(q), rel=1e-12)
    assert fit.rate == pytest.approx(q, rel=1e-12)
    assert fit.intercept == pytest.approx(math.log(c), rel=1e-12)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    assert (fit.start, fit.stop) == (0, 55)


def test_fit_linear_rate_with_loss_star_and_window():
    star, c, q = 0.25, 2.0, 0.9
    t = np.arange(20)
    losses = star + c * q ** t
    # the tail after index 15 is garbage (e.g. after divergence); the window excludes it
    losses[15:] = np.nan
    fit = lc.fit_linear_rate(losses, loss_star=star, start=3, stop=12)
    assert fit.rate == pytest.approx(q, rel=1e-10)
    assert fit.r2 == pytest.approx(1.0, abs=1e-10)
    assert (fit.start, fit.stop) == (3, 11)
    # the wrong L* bends the log-curve: the fit is no longer exact
    assert lc.fit_linear_rate(losses, loss_star=0.0, start=3, stop=12).r2 < 1 - 1e-6


def test_fit_linear_rate_r2_below_one_for_noisy_curve():
    rng = np.random.default_rng(0)
    t = np.arange(30.0)
    z = -0.1 * t + 0.3 * rng.normal(size=30)
    fit = lc.fit_linear_rate(np.exp(z))
    slope, intercept = np.polyfit(t, z, 1)
    resid = z - (intercept + slope * t)
    r2 = 1 - np.sum(resid ** 2) / np.sum((z - z.mean()) ** 2)
    assert fit.slope == pytest.approx(slope, rel=1e-12)
    assert fit.r2 == pytest.approx(r2, rel=1e-12)


@pytest.mark.parametrize("losses", [
    [1.0, 0.5, 0.0, 0.1],    # zero gap
    [1.0, 0.5, -0.2, 0.1],   # negative gap
    [1.0, np.nan, 0.3],      # non-finite inside the window
    [1.0, np.inf, 0.3],
])
def test_fit_linear_rate_rejects_non_positive_or_non_finite_gaps(losses):
    with pytest.raises(ValueError, match="loss"):
        lc.fit_linear_rate(losses)


def test_fit_linear_rate_rejects_gap_below_loss_star():
    with pytest.raises(ValueError, match="loss"):
        lc.fit_linear_rate([1.0, 0.5, 0.25], loss_star=0.3)


def test_fit_linear_rate_rejects_short_windows():
    losses = [1.0, 0.5, 0.25, 0.125]
    with pytest.raises(ValueError, match="stop"):
        lc.fit_linear_rate(losses, start=1, stop=2)
    with pytest.raises(ValueError, match="start"):
        lc.fit_linear_rate(losses, start=3)


@pytest.mark.parametrize("losses", [[2.0], [1.0]])
def test_fit_linear_rate_rejects_a_single_point(losses):
    # A one-point window has no slope; the docstring promises a ValueError about the window
    # (not a numpy.linalg.LinAlgError from inside polyfit).
    with pytest.raises(ValueError, match="losses|window|points") as info:
        lc.fit_linear_rate(losses)
    assert not isinstance(info.value, np.linalg.LinAlgError)


# ---------------------------------------------------------------------- small utilities


def _running_min_skip_nan(values):
    out, best = [], np.nan
    for v in values:
        if not np.isnan(v) and (np.isnan(best) or v < best):
            best = v
        out.append(best)
    return np.array(out)


def test_lower_envelope_running_min_with_nans_and_start():
    values = np.array([np.nan, 3.0, np.nan, 2.0, 5.0, 1.0, np.nan, 4.0, 0.5])
    for start in range(len(values)):
        got = lc.lower_envelope(values, start)
        assert got.shape == (len(values) - start,)
        np.testing.assert_array_equal(got, _running_min_skip_nan(values[start:]))
    np.testing.assert_array_equal(lc.lower_envelope(values),
                                  [np.nan, 3, 3, 2, 2, 1, 1, 1, 0.5])
    rng = np.random.default_rng(3)
    r = rng.normal(size=50)
    r[rng.random(50) < 0.3] = np.nan
    np.testing.assert_array_equal(lc.lower_envelope(r, 7), _running_min_skip_nan(r[7:]))


def test_kernel_distance_properties():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(6, 6))
    k1 = a @ a.T
    b = rng.normal(size=(6, 6))
    k2 = b @ b.T
    assert lc.diagnostics.kernel_distance(k1, 3.7 * k1) == pytest.approx(0.0, abs=1e-14)
    assert lc.diagnostics.kernel_distance(k1, -k1) == pytest.approx(2.0, rel=1e-14)
    expected = 1 - np.sum(k1 * k2) / (np.linalg.norm(k1, "fro") * np.linalg.norm(k2, "fro"))
    assert lc.diagnostics.kernel_distance(k1, k2) == pytest.approx(expected, rel=1e-12)
    assert float(lc.diagnostics.kernel_distance(k2, k1)) == pytest.approx(
        float(lc.diagnostics.kernel_distance(k1, k2)), rel=1e-14)
    assert 0 < lc.diagnostics.kernel_distance(k1, k2) < 2


def test_kernel_target_alignment_formula():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(7, 7))
    k = a @ a.T
    y = rng.normal(size=7)
    expected = (y @ k @ y) / (np.linalg.norm(k, "fro") * (y @ y))
    assert lc.diagnostics.kernel_target_alignment(k, y) == pytest.approx(expected, rel=1e-12)
    # a perfectly aligned rank-one kernel has alignment 1
    assert lc.diagnostics.kernel_target_alignment(np.outer(y, y), 2.0 * y) == pytest.approx(1.0, rel=1e-12)


def test_parameter_drift_absolute_and_relative():
    rng = np.random.default_rng(6)
    p0 = [{"w": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}, {"w": rng.normal(size=(4, 1)),
                                                                   "b": rng.normal(size=1)}]
    p1 = jax.tree_util.tree_map(lambda a: a + rng.normal(size=a.shape), p0)
    v0, v1 = flat_params(p0), flat_params(p1)
    d = np.linalg.norm(v1 - v0)
    assert lc.parameter_drift(p1, p0) == pytest.approx(d, rel=1e-12)
    assert lc.parameter_drift(p1, p0, relative=True) == pytest.approx(d / np.linalg.norm(v0),
                                                                      rel=1e-12)
    assert lc.parameter_drift(p0, p0) == 0.0
    assert float(lc.diagnostics.tree_norm(p0)) == pytest.approx(np.linalg.norm(v0), rel=1e-12)


def test_kernel_drift_and_operator_norm_match_numpy():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    k0, k1 = a @ a.T, b @ b.T
    assert lc.kernel_drift(k1, k0) == pytest.approx(np.linalg.norm(k1 - k0, 2), rel=1e-12)
    assert lc.kernel_drift(k0, k0) == 0.0
    # symmetric indefinite: max |eigenvalue|
    s = k1 - 2 * k0
    assert lc.diagnostics.operator_norm(s) == pytest.approx(np.max(np.abs(np.linalg.eigvalsh(s))), rel=1e-12)
    # non-symmetric and rectangular: largest singular value
    assert lc.diagnostics.operator_norm(a) == pytest.approx(np.linalg.norm(a, 2), rel=1e-12)
    rect = rng.normal(size=(4, 7))
    assert lc.diagnostics.operator_norm(rect) == pytest.approx(np.linalg.norm(rect, 2), rel=1e-12)
    # slightly non-symmetric: still the largest singular value
    near = s + 1e-8 * (a - a.T)
    assert lc.diagnostics.operator_norm(near) == pytest.approx(np.linalg.norm(near, 2), rel=1e-10)


def test_lipschitz_along_path_skips_zero_and_undefined_drifts():
    kd = np.array([0.0, 1.0, 3.0, np.nan, 5.0])
    pd = np.array([0.0, 2.0, 2.0, 1.0, 10.0])
    assert lc.lipschitz_along_path(kd, pd) == pytest.approx(1.5, rel=1e-15)
    kd2 = np.array([0.0, 0.2, 9.0])
    pd2 = np.array([0.0, 0.1, np.inf])
    assert lc.lipschitz_along_path(kd2, pd2) == pytest.approx(2.0, rel=1e-15)


def test_pl_bound_closed_form():
    np.testing.assert_allclose(lc.pl_bound(2.0, 0.1, 0.5, 3), 2.0 * 0.95 ** np.arange(4),
                               rtol=1e-15)
    np.testing.assert_allclose(lc.pl_bound(2.0, 0.1, 0.5, 3, loss_star=0.5),
                               1.5 * 0.95 ** np.arange(4), rtol=1e-15)
    steps = np.array([0.0, 2.0, 7.0])
    factor = 1 - 2 * 0.5 * 0.1 * (1 - 4.0 * 0.1 / 2)
    np.testing.assert_allclose(lc.pl_bound(2.0, 0.1, 0.5, steps, beta=4.0),
                               2.0 * factor ** steps, rtol=1e-15)
    # eta mu > 1: the factor is clipped at 0
    np.testing.assert_array_equal(lc.pl_bound(1.0, 3.0, 1.0, 2), [1.0, 0.0, 0.0])


# ------------------------------------------------------------------------ validation


K = np.eye(3)
_VALIDATION_CASES = [
    # lipschitz_in_ball
    (lambda f, p, x, y: lc.lipschitz_in_ball(f, p, x, -1.0), ValueError, "radius"),
    (lambda f, p, x, y: lc.lipschitz_in_ball(f, p, x, 0.0), ValueError, "radius"),
    (lambda f, p, x, y: lc.lipschitz_in_ball(f, p, x, float("nan")), ValueError, "radius"),
    (lambda f, p, x, y: lc.lipschitz_in_ball(f, p, x, math.inf), ValueError, "radius"),
    (lambda f, p, x, y: lc.lipschitz_in_ball(f, p, x, 1.0, n_directions=0), ValueError,
     "n_directions"),
    (lambda f, p, x, y: lc.lipschitz_in_ball(f, p, x, 1.0, n_directions=2.0), TypeError,
     "n_directions"),
    (lambda f, p, x, y: lc.lipschitz_in_ball(f, p, x, 1.0, ascent_steps=-1), ValueError,
     "ascent_steps"),
    (lambda f, p, x, y: lc.lipschitz_in_ball(f, p, x, 1.0, ascent_lr=0.0), ValueError,
     "ascent_lr"),
    (lambda f, p, x, y: lc.lipschitz_in_ball(f, p, x, 1.0, key="seed"), TypeError, "key"),
    (lambda f, p, x, y: lc.lipschitz_in_ball(f, p, x, 1.0, method="magic"), ValueError,
     "method"),
    (lambda f, p, x, y: lc.lipschitz_in_ball(f, p, x[0], 1.0), ValueError, "x"),
    # min_pl_ratio_in_ball
    (lambda f, p, x, y: lc.diagnostics.min_pl_ratio_in_ball(f, p, x, y, -0.5), ValueError, "radius"),
    (lambda f, p, x, y: lc.diagnostics.min_pl_ratio_in_ball(f, p, x, y, 1.0, loss_star=-1.0), ValueError,
     "loss_star"),
    (lambda f, p, x, y: lc.diagnostics.min_pl_ratio_in_ball(f, p, x, y, 1.0, n_directions=0), ValueError,
     "n_directions"),
    (lambda f, p, x, y: lc.diagnostics.min_pl_ratio_in_ball(f, p, x, y, 1.0, descent_steps=-1),
     ValueError, "descent_steps"),
    (lambda f, p, x, y: lc.diagnostics.min_pl_ratio_in_ball(f, p, x, y, 1.0, descent_lr=-0.1),
     ValueError, "descent_lr"),
    (lambda f, p, x, y: lc.diagnostics.min_pl_ratio_in_ball(f, p, x, y[:-1], 1.0), ValueError, "y"),
    # certificate / certified_radius
    (lambda f, p, x, y: lc.certificate(float("nan"), 1.0, 1.0), ValueError, "lambda0"),
    (lambda f, p, x, y: lc.certificate(1.0, -1.0, 1.0), ValueError, "lipschitz"),
    (lambda f, p, x, y: lc.certificate(1.0, float("nan"), 1.0), ValueError, "lipschitz"),
    (lambda f, p, x, y: lc.certificate(1.0, 1.0, -1.0), ValueError, "radius"),
    (lambda f, p, x, y: lc.certificate(1.0, 1.0, float("nan")), ValueError, "radius"),
    (lambda f, p, x, y: lc.certificate(1.0, 1.0, np.array([0.0, -1.0])), ValueError, "radius"),
    (lambda f, p, x, y: lc.certificate(1.0, 1.0, np.array([0.0, np.nan])), ValueError, "radius"),
    (lambda f, p, x, y: lc.certificate("1", 1.0, 1.0), TypeError, "lambda0"),
    (lambda f, p, x, y: lc.certified_radius(float("nan"), 1.0), ValueError, "lambda0"),
    (lambda f, p, x, y: lc.certified_radius(1.0, -0.1), ValueError, "lipschitz"),
    (lambda f, p, x, y: lc.certified_radius(1.0, math.inf), ValueError, "lipschitz"),
    # step_size_thresholds
    (lambda f, p, x, y: lc.diagnostics.step_size_thresholds(0.0), ValueError, "beta"),
    (lambda f, p, x, y: lc.diagnostics.step_size_thresholds(-2.0), ValueError, "beta"),
    (lambda f, p, x, y: lc.diagnostics.step_size_thresholds(float("nan")), ValueError, "beta"),
    (lambda f, p, x, y: lc.diagnostics.step_size_thresholds(True), TypeError, "beta"),
    # pl_bound
    (lambda f, p, x, y: lc.pl_bound(1.0, 0.0, 1.0, 5), ValueError, "step_size"),
    (lambda f, p, x, y: lc.pl_bound(1.0, -0.1, 1.0, 5), ValueError, "step_size"),
    (lambda f, p, x, y: lc.pl_bound(1.0, math.inf, 1.0, 5), ValueError, "step_size"),
    (lambda f, p, x, y: lc.pl_bound(1.0, float("nan"), 1.0, 5), ValueError, "step_size"),
    (lambda f, p, x, y: lc.pl_bound(1.0, "0.1", 1.0, 5), TypeError, "step_size"),
    (lambda f, p, x, y: lc.pl_bound(1.0, 0.1, 0.0, 5), ValueError, "mu"),
    (lambda f, p, x, y: lc.pl_bound(1.0, 0.1, -1.0, 5), ValueError, "mu"),
    (lambda f, p, x, y: lc.pl_bound(1.0, 0.1, 1.0, -1), ValueError, "steps"),
    (lambda f, p, x, y: lc.pl_bound(1.0, 0.1, 1.0, 2.5), TypeError, "steps"),
    (lambda f, p, x, y: lc.pl_bound(1.0, 0.1, 1.0, np.array([0.0, -1.0])), ValueError, "steps"),
    (lambda f, p, x, y: lc.pl_bound(1.0, 0.1, 1.0, 5, loss_star=2.0), ValueError, "loss0"),
    (lambda f, p, x, y: lc.pl_bound(1.0, 0.1, 1.0, 5, loss_star=-1.0), ValueError, "loss_star"),
    (lambda f, p, x, y: lc.pl_bound(float("nan"), 0.1, 1.0, 5), ValueError, "loss0"),
    (lambda f, p, x, y: lc.pl_bound(1.0, 0.1, 1.0, 5, beta=0.0), ValueError, "beta"),
    (lambda f, p, x, y: lc.pl_bound(1.0, 0.5, 1.0, 5, beta=4.0), ValueError, "step_size"),
    # fit_linear_rate
    (lambda f, p, x, y: lc.fit_linear_rate([1.0, 0.5, 0.25], steps=[0, 1]), ValueError, "steps"),
    (lambda f, p, x, y: lc.fit_linear_rate([1.0, 0.5, 0.25], steps=[0, 1, np.nan]), ValueError,
     "steps"),
    (lambda f, p, x, y: lc.fit_linear_rate(np.ones((3, 2))), ValueError, "losses"),
    (lambda f, p, x, y: lc.fit_linear_rate([1.0, 0.5], loss_star=float("nan")), ValueError,
     "loss_star"),
    (lambda f, p, x, y: lc.fit_linear_rate([1.0, 0.5, 0.25], stop=5), ValueError, "stop"),
    (lambda f, p, x, y: lc.fit_linear_rate([1.0, 0.5, 0.25], start=-1), ValueError, "start"),
    # lipschitz_along_path
    (lambda f, p, x, y: lc.lipschitz_along_path([1.0, 2.0], [1.0, 2.0, 3.0]), ValueError,
     "kernel_drifts"),
    (lambda f, p, x, y: lc.lipschitz_along_path([1.0, 2.0], [0.0, 0.0]), ValueError,
     "param_drifts"),
    (lambda f, p, x, y: lc.lipschitz_along_path(np.ones((2, 2)), np.ones((2, 2))), ValueError,
     "kernel_drifts"),
    # smoothness
    (lambda f, p, x, y: lc.smoothness(f, p, x, y, iters=0), ValueError, "iters"),
    (lambda f, p, x, y: lc.smoothness(f, p, x, y[:-1]), ValueError, "y"),
    (lambda f, p, x, y: lc.smoothness(f, p, x[:, 0], y), ValueError, "x"),
    (lambda f, p, x, y: lc.smoothness(f, p, x, y, key=-1), ValueError, "key"),
    # pl_ratio, loss, residual, gradient_norm_sq
    (lambda f, p, x, y: lc.pl_ratio(f, p, x, y[:-1]), ValueError, "y"),
    (lambda f, p, x, y: lc.pl_ratio(f, p, x, np.ones((len(y), 2))), ValueError, "y"),
    (lambda f, p, x, y: lc.pl_ratio(f, p, x[:, 0], y), ValueError, "x"),
    (lambda f, p, x, y: lc.pl_ratio(f, p, x.at[0, 0].set(jnp.nan), y), ValueError, "x"),
    (lambda f, p, x, y: lc.pl_ratio(f, p, x, y.at[1].set(jnp.inf)), ValueError, "y"),
    (lambda f, p, x, y: lc.pl_ratio(f, p, x, y, loss_star=-0.1), ValueError, "loss_star"),
    (lambda f, p, x, y: lc.pl_ratio(f, p, x, y, loss_star=float("nan")), ValueError,
     "loss_star"),
    (lambda f, p, x, y: lc.pl_ratio(f, jax.tree_util.tree_map(lambda a: a * jnp.nan, p), x,
                         y), ValueError, "params"),
    (lambda f, p, x, y: lc.pl_ratio(42, p, x, y), TypeError, "apply_fn"),
    (lambda f, p, x, y: lc.loss(f, p, x, y[:3]), ValueError, "y"),
    (lambda f, p, x, y: lc.diagnostics.residual(f, p, x[:, :2], y), ValueError, "apply_fn"),
    (lambda f, p, x, y: lc.diagnostics.gradient_norm_sq(f, p, x, "y"), TypeError, "y"),
    # Rayleigh quotient, alignment, distances, drifts, norms
    (lambda f, p, x, y: lc.diagnostics.rayleigh_quotient(K, np.ones(4)), ValueError, "vector"),
    (lambda f, p, x, y: lc.diagnostics.rayleigh_quotient(K, np.zeros(3)), ValueError, "vector"),
    (lambda f, p, x, y: lc.diagnostics.rayleigh_quotient(np.ones((3, 4)), np.ones(3)), ValueError, "kernel"),
    (lambda f, p, x, y: lc.diagnostics.kernel_target_alignment(K, np.ones(4)), ValueError, "y"),
    (lambda f, p, x, y: lc.diagnostics.kernel_target_alignment(np.ones((3, 2)), np.ones(3)), ValueError,
     "kernel"),
    (lambda f, p, x, y: lc.diagnostics.kernel_distance(K, np.eye(4)), ValueError, "kernel1"),
    (lambda f, p, x, y: lc.diagnostics.kernel_distance(K, np.zeros((3, 3))), ValueError, "kernel"),
    (lambda f, p, x, y: lc.kernel_drift(K, np.eye(4)), ValueError, "kernel"),
    (lambda f, p, x, y: lc.kernel_drift(np.ones(3), K), ValueError, "kernel"),
    (lambda f, p, x, y: lc.diagnostics.operator_norm(np.ones(3)), ValueError, "matrix"),
    (lambda f, p, x, y: lc.diagnostics.operator_norm(np.array([[1.0, np.nan], [0.0, 1.0]])), ValueError,
     "matrix"),
    (lambda f, p, x, y: lc.parameter_drift({"a": jnp.ones(3)}, {"a": jnp.ones(4)}), ValueError,
     "params"),
    (lambda f, p, x, y: lc.parameter_drift({"a": jnp.ones(3)}, {"b": jnp.ones(3)}), ValueError,
     "params"),
    (lambda f, p, x, y: lc.parameter_drift({"a": jnp.ones(3)}, {"a": jnp.zeros(3)}, relative=True),
     ValueError, "params0"),
    (lambda f, p, x, y: lc.lower_envelope([1.0, 2.0], 2), ValueError, "start"),
    (lambda f, p, x, y: lc.lower_envelope([1.0, 2.0], -1), ValueError, "start"),
    (lambda f, p, x, y: lc.lower_envelope(np.ones((2, 2))), ValueError, "values"),
    (lambda f, p, x, y: lc.diagnostics.pl_ratio_from_values([1.0], [1.0], loss_star="0"), TypeError,
     "loss_star"),
]



@pytest.mark.parametrize("call, exc, name", _VALIDATION_CASES,
                         ids=[f"{i}-{c[2]}" for i, c in enumerate(_VALIDATION_CASES)])
def test_validation_errors_name_the_argument(mlp_problem, call, exc, name):
    model, params, x, y = mlp_problem
    with pytest.raises(exc) as info:
        call(model.apply, params, x, y)
    assert name in str(info.value), str(info.value)


def test_linear_onset_with_steps_and_an_early_stop():
    # records every 2 steps, the curve halves per record, then flattens at round-off;
    # stop= ends the window before the flat tail (this raised a ValueError before: the
    # steps of the window were passed with the full loss curve)
    steps = np.arange(0, 40, 2)
    losses = np.where(steps < 30, 10.0 * 0.5 ** (steps / 2), 10.0 * 0.5 ** 15)
    onset = lc.diagnostics.linear_onset(losses, steps=steps, stop=15)
    assert onset is not None and onset.index == 0 and onset.step == 0
    assert onset.fit.rate == pytest.approx(math.sqrt(0.5), rel=1e-12)
    assert (onset.fit.start, onset.fit.stop) == (0, 28)
    ref = lc.diagnostics.fit_linear_rate(losses[:15], steps=steps[:15])
    assert onset.fit == ref
