"""Tests for lplr_core.objectives.

Oracles are independent of the code under test: closed-form derivatives of
x^2 + a sin^2 x, NumPy eigen-decompositions and a plain Python gradient-descent
loop, brute-force minimization of the rate factor, and the theorems themselves
(the descent-lemma step bound, which must hold at every step of every run with
eta < 2/beta).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from lplr_core.diagnostics import fit_linear_rate
from lplr_core.objectives import (
    GDPath,
    gradient_descent_fn,
    least_squares,
    pl_constant_on_grid,
    quadratic_asymptotic_rate,
    quadratic_plus_sine,
    rank_deficient_least_squares,
    rate_factor,
    step_contractions,
    fit_rate_above_floor,
)


def numpy_gd(grad, x0, step_size, steps):
    xs = [np.asarray(x0, float)]
    for _ in range(steps):
        xs.append(xs[-1] - step_size * grad(xs[-1]))
    return np.array(xs)


def sine_value(x, a=3.0):
    return x ** 2 + a * np.sin(x) ** 2


def sine_grad(x, a=3.0):
    return 2 * x + a * np.sin(2 * x)


# ------------------------------------------------------------------------- objectives

def test_quadratic_plus_sine_value_and_constants_match_closed_forms():
    obj = quadratic_plus_sine(3.0)
    xs = np.linspace(-5, 5, 41)
    np.testing.assert_allclose([float(obj.value(jnp.asarray(x))) for x in xs], sine_value(xs),
                               rtol=1e-13, atol=1e-13)
    assert obj.beta == pytest.approx(8.0)           # max of f'' = 2 + 6 cos 2x
    assert obj.loss_star == 0.0 and obj.mu is None
    # f'' < 0 somewhere: the function is not convex.
    assert np.min(2 + 6 * np.cos(2 * xs)) < 0


def test_quadratic_plus_sine_vector_form_is_a_sum():
    obj = quadratic_plus_sine(2.0, dim=3)
    x = np.array([0.3, -1.2, 2.5])
    assert float(obj.value(jnp.asarray(x))) == pytest.approx(np.sum(sine_value(x, 2.0)))
    assert obj.minimizer.shape == (3,)


def test_least_squares_constants_from_numpy():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((6, 3)) @ rng.standard_normal((3, 8))   # rank 3, d = 8
    b = rng.standard_normal(6)
    obj = least_squares(a, b)
    eig = np.linalg.eigvalsh(a.T @ a)
    assert obj.beta == pytest.approx(eig[-1])
    assert obj.mu == pytest.approx(np.sort(eig)[-3])                # smallest nonzero of 3
    w_ls = np.linalg.lstsq(a, b, rcond=None)[0]
    assert obj.loss_star == pytest.approx(0.5 * np.sum((a @ w_ls - b) ** 2), abs=1e-12)
    assert float(obj.value(jnp.asarray(obj.minimizer))) == pytest.approx(obj.loss_star, abs=1e-12)
    assert "rank 3 of 8" in obj.name


def test_rank_deficient_least_squares_has_the_prescribed_spectrum():
    lam = np.array([0.5, 1.0, 2.0, 4.0])
    obj = rank_deficient_least_squares(12, 7, lam, seed=3, residual_scale=0.5)
    a, b = obj.data
    eig = np.linalg.eigvalsh(a.T @ a)
    np.testing.assert_allclose(eig[-4:], lam, rtol=1e-10)
    np.testing.assert_allclose(eig[:3], 0, atol=1e-10)
    assert obj.mu == pytest.approx(0.5) and obj.beta == pytest.approx(4.0)
    assert obj.loss_star > 0   # inconsistent system
    consistent = rank_deficient_least_squares(12, 7, lam, seed=3)
    assert consistent.loss_star == pytest.approx(0.0, abs=1e-20)


def test_least_squares_pl_inequality_holds_with_mu_and_fails_above():
    obj = rank_deficient_least_squares(10, 6, [0.3, 1.0, 3.0], seed=0, residual_scale=1.0)
    a, b = obj.data
    rng = np.random.default_rng(5)
    ratios = []
    for _ in range(300):
        w = rng.standard_normal(6) * 3
        g = a.T @ (a @ w - b)
        gap = 0.5 * np.sum((a @ w - b) ** 2) - obj.loss_star
        ratios.append(g @ g / (2 * gap))
    assert min(ratios) >= obj.mu * (1 - 1e-9)
    # attained along the bottom nonzero eigenvector: mu is the best constant
    eigval, eigvec = np.linalg.eigh(a.T @ a)
    w = obj.minimizer + eigvec[:, -3]
    g = a.T @ (a @ w - b)
    gap = 0.5 * np.sum((a @ w - b) ** 2) - obj.loss_star
    assert g @ g / (2 * gap) == pytest.approx(obj.mu, rel=1e-8)


# -------------------------------------------------------------------- gradient descent

def test_gradient_descent_fn_matches_a_numpy_loop():
    obj = quadratic_plus_sine(3.0)
    path = gradient_descent_fn(obj.value, 2.2, 0.1, 40, record_iterates=True)
    xs = numpy_gd(sine_grad, 2.2, 0.1, 40)
    np.testing.assert_allclose(path.iterates, xs, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(path.values, sine_value(xs), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(path.grad_norm_sq, sine_grad(xs) ** 2, rtol=1e-10, atol=1e-15)
    assert path.diverged_at is None and not path.diverged
    np.testing.assert_allclose(path.final, xs[-1], rtol=1e-12)


def test_gradient_descent_fn_final_without_iterates():
    obj = rank_deficient_least_squares(8, 5, [0.5, 2.0], seed=1)
    a, b = obj.data
    path = gradient_descent_fn(obj.value, np.ones(5), 0.3, 25)
    xs = numpy_gd(lambda w: a.T @ (a @ w - b), np.ones(5), 0.3, 25)
    assert path.iterates is None
    np.testing.assert_allclose(path.final, xs[-1], rtol=1e-10, atol=1e-12)
    assert len(path.values) == 26


def test_gradient_descent_fn_reports_divergence():
    obj = rank_deficient_least_squares(8, 5, [0.5, 2.0], seed=1)
    eta = 1.5  # > 2/beta = 1: the top direction grows by |1 - 3| = 2 per step
    path = gradient_descent_fn(obj.value, np.ones(5), eta, 200, blowup=1e6)
    assert path.diverged and 0 < path.diverged_at < 200
    assert len(path.values) == path.diverged_at
    gap = path.suboptimality()
    assert np.all(np.isfinite(path.values))
    assert gap[-1] <= 1e6 * max(gap[0], 1.0)        # records stop before the blow-up step
    # the growth is by (1 - eta beta)^2 = 4 per step, eventually
    assert gap[-1] / gap[-2] == pytest.approx(4.0, rel=1e-3)
    a, b = obj.data
    xs = numpy_gd(lambda w: a.T @ (a @ w - b), np.ones(5), eta, path.diverged_at - 1)
    np.testing.assert_allclose(path.final, xs[-1], rtol=1e-9)


def test_gradient_descent_fn_nonfinite_divergence():
    path = gradient_descent_fn(lambda x: jnp.exp(x * x), 1.0, 1.0, 50, blowup=math.inf)
    assert path.diverged and np.all(np.isfinite(path.values))


def test_gradient_descent_fn_pl_ratio_uses_loss_star():
    obj = rank_deficient_least_squares(10, 6, [0.3, 1.0, 3.0], seed=0, residual_scale=1.0)
    path = gradient_descent_fn(obj.value, np.ones(6), 0.2, 30, loss_star=obj.loss_star)
    rho = path.pl_ratio()
    assert np.nanmin(rho) >= obj.mu * (1 - 1e-8)
    assert np.nanmax(rho) <= obj.beta * (1 + 1e-8)


@pytest.mark.parametrize("multiple", [0.2, 0.5, 1.0, 1.5, 1.9])
def test_every_step_obeys_the_rate_factor(multiple):
    """The D2 step bound, for both objectives, from a start in the flat region."""
    for obj, x0 in ((quadratic_plus_sine(3.0), 2.2),
                    (rank_deficient_least_squares(10, 6, [0.3, 1.0, 3.0], seed=0,
                                                  residual_scale=1.0), np.ones(6))):
        mu = obj.mu if obj.mu is not None else pl_constant_on_grid(
            obj.value, np.linspace(-20, 20, 400_001), floor=1e-12).value * 0.999
        eta = multiple / obj.beta
        path = gradient_descent_fn(obj.value, x0, eta, 300, loss_star=obj.loss_star)
        q = rate_factor(eta, mu, obj.beta)
        worst = np.nanmax(step_contractions(path.values, loss_star=obj.loss_star))
        assert worst <= q * (1 + 1e-9), (obj.name, multiple, worst, q)


# --------------------------------------------------------------------- PL constant

def test_pl_constant_on_grid_matches_a_numpy_grid():
    obj = quadratic_plus_sine(3.0)
    grid = np.linspace(-10, 10, 20_001)
    est = pl_constant_on_grid(obj.value, grid, floor=1e-14)
    g = grid[grid != 0]
    ratios = sine_grad(g) ** 2 / (2 * sine_value(g))
    assert est.value == pytest.approx(ratios.min(), rel=1e-10)
    assert abs(abs(float(est.argmin)) - abs(g[np.argmin(ratios)])) < 1e-9
    assert np.isnan(est.ratios[10_000])          # x = 0: skipped
    # near the minimizer the ratio tends to f''(0)/2... = 64 x^2 / (2 * 4 x^2) = 8
    assert est.ratios[10_001] == pytest.approx(8.0, rel=1e-3)


def test_pl_constant_on_grid_vector_points():
    obj = rank_deficient_least_squares(10, 3, [0.5, 2.0], seed=2)
    rng = np.random.default_rng(0)
    pts = rng.standard_normal((200, 3))
    est = pl_constant_on_grid(obj.value, pts, loss_star=obj.loss_star)
    assert est.value >= 0.5 * (1 - 1e-9) and est.argmin.shape == (3,)


def test_pl_constant_on_grid_rejects_a_too_large_loss_star():
    obj = quadratic_plus_sine(3.0)
    with pytest.raises(ValueError, match="loss_star"):
        pl_constant_on_grid(obj.value, np.linspace(-1, 1, 11), loss_star=0.5)
    with pytest.raises(ValueError, match="points"):
        pl_constant_on_grid(obj.value, np.zeros(3))


# --------------------------------------------------------------------------- rates

def test_rate_factor_forms_and_their_ranges():
    mu, beta = 0.3, 4.0
    assert rate_factor(0.1, mu, beta, form="simple") == pytest.approx(1 - 0.1 * 0.3)
    assert rate_factor(0.1, mu, beta) == pytest.approx(1 - 2 * 0.3 * 0.1 * (1 - 0.2))
    # the two agree at 1/beta, where both are 1 - mu/beta
    assert rate_factor(0.25, mu, beta) == pytest.approx(1 - mu / beta)
    assert rate_factor(0.25, mu, beta, form="simple") == pytest.approx(1 - mu / beta)
    # the simple factor is the weaker one below 1/beta
    for eta in np.linspace(0.01, 0.25, 25):
        assert rate_factor(eta, mu, beta, form="simple") >= rate_factor(eta, mu, beta) - 1e-15


def test_rate_factor_best_step_by_brute_force():
    mu, beta = 0.7, 5.0
    etas = np.linspace(1e-4, 2 / beta - 1e-4, 20_001)
    qs = np.array([rate_factor(e, mu, beta) for e in etas])
    assert etas[np.argmin(qs)] == pytest.approx(1 / beta, abs=1e-3)
    assert qs.min() == pytest.approx(1 - mu / beta, abs=1e-9)
    assert np.all(qs < 1) and np.all(qs >= 1 - mu / beta - 1e-12)


# rate_factor's refusals (eta >= 2/beta, mu > beta, bad types) are tested in test_rates.py,
# with the function's one home.


def test_quadratic_asymptotic_rate_matches_a_long_run():
    # A consistent system (f* = 0), so that f - f* has no cancellation down to tiny gaps.
    obj = rank_deficient_least_squares(10, 6, [0.3, 1.0, 3.0], seed=0)
    for multiple in (0.5, 1.0, 1.6):
        eta = multiple / obj.beta
        path = gradient_descent_fn(obj.value, np.ones(6), eta, 120, loss_star=obj.loss_star)
        fit = fit_linear_rate(path.values, loss_star=obj.loss_star, start=60)
        lam = np.array([0.3, 1.0, 3.0])
        assert fit.rate == pytest.approx(np.max((1 - eta * lam) ** 2), rel=1e-4)
        assert quadratic_asymptotic_rate(eta, obj.hessian_eigenvalues) == pytest.approx(
            np.max((1 - eta * lam) ** 2), rel=1e-12)
        # D2 is an upper bound on it
        assert quadratic_asymptotic_rate(eta, obj.hessian_eigenvalues) <= rate_factor(
            eta, obj.mu, obj.beta)
    assert quadratic_asymptotic_rate(2.5 / 3.0, [0.0, 0.3, 3.0]) > 1   # beyond 2/beta


def test_step_contractions_by_hand():
    v = np.array([8.0, 4.0, 1.0, 1e-13, 0.0])
    q = step_contractions(v)
    np.testing.assert_allclose(q[:3], [0.5, 0.25, 1e-13])
    assert np.isnan(q[3])
    q = step_contractions(v + 2.0, loss_star=2.0)
    np.testing.assert_allclose(q[:2], [0.5, 0.25])


def test_fit_rate_above_floor_stops_at_round_off_and_divergence():
    v = 3.0 * 0.5 ** np.arange(60.0)          # reaches 1e-10 at t = 35
    v[50:] = 0.0
    fit = fit_rate_above_floor(v)
    assert fit.rate == pytest.approx(0.5, rel=1e-12)
    assert fit.stop == int(np.max(np.nonzero(v > 1e-10)))
    w = 2.0 * 0.9 ** np.arange(20.0)
    w[12:] = np.inf
    fit = fit_rate_above_floor(w + 1.0, loss_star=1.0, start=2)
    assert fit.rate == pytest.approx(0.9, rel=1e-10) and (fit.start, fit.stop) == (2, 11)
    with pytest.raises(ValueError, match="values"):
        fit_rate_above_floor(np.array([1.0, 0.0, 0.0]))


# ----------------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("call, name", [
    (lambda: quadratic_plus_sine(5.0), "amplitude"),
    (lambda: quadratic_plus_sine(3.0, dim=-1), "dim"),
    (lambda: least_squares(np.zeros((3, 2)), np.zeros(3)), "matrix"),
    (lambda: least_squares(np.ones((3, 2)), np.ones(4)), "target"),
    (lambda: least_squares(np.ones(3), np.ones(3)), "matrix"),
    (lambda: rank_deficient_least_squares(5, 3, [1.0, 2.0, 3.0]), "eigenvalues"),
    (lambda: rank_deficient_least_squares(5, 3, [1.0, -2.0]), "eigenvalues"),
    (lambda: gradient_descent_fn(quadratic_plus_sine().value, 1.0, 0.0, 5), "step_size"),
    (lambda: gradient_descent_fn(quadratic_plus_sine().value, 1.0, 0.1, -1), "steps"),
    (lambda: gradient_descent_fn(quadratic_plus_sine().value, np.ones((2, 2)), 0.1, 5), "x0"),
    (lambda: gradient_descent_fn(quadratic_plus_sine().value, np.nan, 0.1, 5), "x0"),
    (lambda: gradient_descent_fn(lambda x: x * jnp.ones(3), 1.0, 0.1, 5), "fn"),
    (lambda: gradient_descent_fn(quadratic_plus_sine().value, 1.0, 0.1, 5, loss_star=9.0),
     "loss_star"),
    (lambda: gradient_descent_fn(quadratic_plus_sine().value, 1.0, 0.1, 5, blowup=1.0), "blowup"),
    (lambda: step_contractions([1.0]), "values"),
    (lambda: quadratic_asymptotic_rate(0.1, [0.0, 0.0]), "eigenvalues"),
    (lambda: quadratic_asymptotic_rate(0.1, [-1.0, 2.0]), "eigenvalues"),
])
def test_bad_inputs_name_the_argument(call, name):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert name in str(info.value)


def test_gradient_descent_fn_rejects_non_callables_and_bad_types():
    with pytest.raises(TypeError, match="fn"):
        gradient_descent_fn(3.0, 1.0, 0.1, 5)
    with pytest.raises(TypeError, match="steps"):
        gradient_descent_fn(quadratic_plus_sine().value, 1.0, 0.1, 2.5)
    with pytest.raises(TypeError, match="x0"):
        gradient_descent_fn(quadratic_plus_sine().value, "a", 0.1, 5)


def test_gd_path_is_a_dataclass_with_suboptimality():
    path = gradient_descent_fn(quadratic_plus_sine().value, 1.0, 0.1, 3, loss_star=0.0)
    assert isinstance(path, GDPath)
    np.testing.assert_allclose(path.suboptimality(), path.values)
