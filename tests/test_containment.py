"""Tests for lplr_core.containment: path-length bounds and the self-consistent radius.

Oracles: closed forms written out here, gradient descent run with NumPy on
quadratics and linear least squares (where beta, mu and L_Theta = 0 are known
exactly), polynomial roots from numpy.roots, and brute-force grid search plus
bisection on the defining inequality P(mu(r)) <= r.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lplr_core.containment import (
    PATH_BOUNDS,
    SelfConsistentRadius,
    path_length_bound,
    path_length_curve,
    self_consistent_radius,
)


# ----------------------------------------------------------------------------- oracles

def _gd_path(grad, theta0, eta, steps):
    """Iterates of plain gradient descent (NumPy), path length and max drift."""
    theta, length, drift = theta0.copy(), 0.0, 0.0
    for _ in range(steps):
        step = eta * grad(theta)
        theta = theta - step
        length += float(np.linalg.norm(step))
        drift = max(drift, float(np.linalg.norm(theta - theta0)))
    return theta, length, drift


def _condition(r, lambda0, lip, beta, gap, eta, form):
    """P(mu(r)) <= r, written from the formulas (not from the module)."""
    mu = lambda0 - lip * r
    if mu <= 0:
        return False
    if form == "sharp":
        bound = math.sqrt(2 * gap / mu) / (1 - beta * eta / 2)
    else:
        bound = 2 * math.sqrt(2 * beta * gap) / mu
    return bound <= r


def _brute_force_radius(lambda0, lip, beta, gap, eta, form):
    """Smallest r with the condition: a grid scan, then bisection."""
    top = lambda0 / lip if lip > 0 else 1e6
    grid = np.linspace(0.0, top, 200_001)[1:]
    ok = [i for i, r in enumerate(grid) if _condition(r, lambda0, lip, beta, gap, eta, form)]
    if not ok:
        return None
    hi = grid[ok[0]]
    lo = grid[ok[0] - 1] if ok[0] > 0 else 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _condition(mid, lambda0, lip, beta, gap, eta, form):
            hi = mid
        else:
            lo = mid
    return hi


# ------------------------------------------------------------------ path_length_bound

def test_path_length_bound_closed_forms():
    loss0, beta, mu = 0.8, 4.0, 0.5
    # eta = 1/beta: sharp is 2 sqrt(2 L0 / mu); classical is 2 sqrt(2 beta L0) / mu.
    assert path_length_bound(loss0, beta, mu) == pytest.approx(2 * math.sqrt(1.6 / 0.5))
    assert path_length_bound(loss0, beta, mu, form="classical") == pytest.approx(
        2 * math.sqrt(2 * 4.0 * 0.8) / 0.5)
    # general step: sqrt(2 gap / mu) / (1 - beta eta / 2), with L* subtracted
    got = path_length_bound(loss0, beta, mu, step_size=0.1, loss_star=0.3)
    assert got == pytest.approx(math.sqrt(2 * 0.5 / 0.5) / (1 - 0.2))
    assert path_length_bound(0.3, beta, mu, loss_star=0.3) == 0.0


def test_sharp_bound_is_below_classical_when_mu_below_beta():
    for mu in (0.01, 0.3, 1.0, 3.9):
        assert path_length_bound(2.0, 4.0, mu) <= path_length_bound(2.0, 4.0, mu,
                                                                    form="classical")


@pytest.mark.parametrize("eta_beta", [0.2, 0.7, 1.0, 1.5, 1.9])
def test_path_length_bound_holds_for_gd_on_a_quadratic(eta_beta):
    # L = 1/2 theta^T A theta: PL with mu = lambda_min(A), beta = lambda_max(A), L* = 0.
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    eig = np.array([0.2, 0.5, 1.0, 2.0, 3.0, 5.0])
    a = q @ np.diag(eig) @ q.T
    theta0 = rng.normal(size=6)
    loss0 = 0.5 * theta0 @ a @ theta0
    eta = eta_beta / eig.max()
    _, length, drift = _gd_path(lambda t: a @ t, theta0, eta, 3000)
    bound = path_length_bound(loss0, eig.max(), eig.min(), step_size=eta)
    assert drift <= length <= bound
    if eta_beta == 1.0:
        assert length <= path_length_bound(loss0, eig.max(), eig.min(), form="classical")


def test_path_length_bound_is_attained_up_to_constants_in_one_dimension():
    # 1-D quadratic, eta = 1/beta = 1/mu: one step to the minimum, length |theta0|.
    # Bound: 2 sqrt(2 * (theta0^2 mu / 2) / mu) = 2 |theta0|: tight within a factor 2.
    mu = beta = 3.0
    theta0 = np.array([1.7])
    _, length, _ = _gd_path(lambda t: mu * t, theta0, 1 / beta, 5)
    bound = path_length_bound(0.5 * mu * 1.7 ** 2, beta, mu)
    assert length == pytest.approx(1.7)
    assert bound == pytest.approx(2 * 1.7)


# ------------------------------------------------------------ self_consistent_radius

CASES = [
    # lambda0, lipschitz, beta, loss0, step_size (None = 1/beta)
    (1.0, 0.5, 4.0, 0.01, None),
    (0.05, 0.006, 13.0, 0.0016, None),
    (0.05, 0.006, 13.0, 0.0016, 0.5 / 13.0),
    (0.05, 0.006, 13.0, 0.0016, 1.8 / 13.0),
    (2.0, 0.1, 10.0, 0.05, 0.03),
    (0.3, 1e-4, 2.0, 1.0, None),
    (1.0, 0.05, 4.0, 0.001, None),
    (0.05, 0.02, 13.0, 0.0016, 1.9 / 13.0),   # no radius: the step is too close to 2/beta
]


@pytest.mark.parametrize("case, form", [(c, "sharp") for c in CASES]
                         + [(c, "classical") for c in CASES if c[4] is None])
def test_radius_matches_brute_force(case, form):
    lambda0, lip, beta, loss0, eta = case
    res = self_consistent_radius(lambda0, lip, beta, loss0, step_size=eta, form=form)
    brute = _brute_force_radius(lambda0, lip, beta, loss0, eta or 1 / beta, form)
    assert res.exists == (brute is not None)
    if brute is None:
        assert math.isinf(res.radius) and math.isnan(res.mu) and res.margin < 0 and res.reason
    else:
        assert res.radius == pytest.approx(brute, rel=1e-7)
        assert res.mu == pytest.approx(lambda0 - lip * brute, rel=1e-6)
        assert 0 <= res.margin <= 1 and res.reason == ""
        # and the bound at r* equals r* (the two sides agree there)
        assert path_length_bound(loss0, beta, res.mu, step_size=eta, form=form) == \
            pytest.approx(res.radius, rel=1e-7)


def test_radius_matches_polynomial_roots():
    lambda0, lip, beta, loss0 = 0.8, 0.3, 5.0, 0.004
    eta = 1.2 / beta
    need = 2 * loss0 / (1 - beta * eta / 2) ** 2
    roots = np.roots([lip, -lambda0, 0.0, need])            # L r^3 - lambda0 r^2 + A
    positive = np.sort(roots[(abs(roots.imag) < 1e-12) & (roots.real > 0)].real)
    res = self_consistent_radius(lambda0, lip, beta, loss0, step_size=eta)
    assert res.radius == pytest.approx(positive[0], rel=1e-10)
    assert res.upper == pytest.approx(positive[1], rel=1e-10)
    need_c = 2 * math.sqrt(2 * beta * loss0)
    roots_c = np.sort(np.roots([lip, -lambda0, need_c]).real)   # L r^2 - lambda0 r + A
    res_c = self_consistent_radius(lambda0, lip, beta, loss0, form="classical")
    assert res_c.radius == pytest.approx(roots_c[0], rel=1e-10)
    assert res_c.upper == pytest.approx(roots_c[1], rel=1e-10)


def test_existence_threshold_and_margin():
    lambda0, beta, loss0 = 0.5, 2.0, 0.02
    need = 2 * loss0 / 0.25                               # sharp, eta = 1/beta: c = 1/2
    lip_edge = math.sqrt(4 * lambda0 ** 3 / (27 * need))  # 27 L^2 A = 4 lambda0^3
    below = self_consistent_radius(lambda0, lip_edge * (1 - 1e-6), beta, loss0)
    above = self_consistent_radius(lambda0, lip_edge * (1 + 1e-6), beta, loss0)
    assert below.exists and not above.exists
    assert below.margin == pytest.approx(0.0, abs=1e-5) and above.margin < 0
    # at the edge the two roots merge at 2 lambda0 / (3 L)
    assert below.radius == pytest.approx(2 * lambda0 / (3 * lip_edge), rel=1e-2)
    assert below.upper == pytest.approx(2 * lambda0 / (3 * lip_edge), rel=1e-2)
    # classical: lambda0^2 = 4 L A; the double root is lambda0 / (2 L)
    need_c = 2 * math.sqrt(2 * beta * loss0)
    lip_c = lambda0 ** 2 / (4 * need_c)
    at = self_consistent_radius(lambda0, lip_c * (1 - 1e-9), beta, loss0, form="classical")
    assert at.exists and at.radius == pytest.approx(lambda0 / (2 * lip_c), rel=1e-3)
    assert not self_consistent_radius(lambda0, lip_c * 1.001, beta, loss0,
                                      form="classical").exists


def test_linear_model_closed_form_and_gd_containment():
    # f(x; theta) = X theta: Theta = X X^T is constant, so L_Theta = 0 and r* is explicit.
    rng = np.random.default_rng(0)
    n, p = 5, 12
    x = rng.normal(size=(n, p))
    y = rng.normal(size=n)
    ntk = x @ x.T
    lambda0, beta = np.linalg.eigvalsh(ntk)[[0, -1]]      # beta = lambda_max(X^T X)
    theta0 = np.zeros(p)
    loss0 = 0.5 * y @ y
    for eta_beta in (0.5, 1.0, 1.7):
        eta = eta_beta / beta
        res = self_consistent_radius(lambda0, 0.0, beta, loss0, step_size=eta)
        assert res.exists and res.margin == 1.0 and math.isinf(res.upper)
        assert res.radius == pytest.approx(math.sqrt(2 * loss0 / lambda0) / (1 - eta_beta / 2))
        assert res.mu == lambda0
        _, _, drift = _gd_path(lambda t: x.T @ (x @ t - y), theta0, eta, 4000)
        assert drift <= res.radius
        # the limit is the min-norm solution, at distance sqrt(y^T Theta^-1 y) <= r*
        assert np.linalg.norm(np.linalg.lstsq(x, y, rcond=None)[0]) <= res.radius
    res_c = self_consistent_radius(lambda0, 0.0, beta, loss0, form="classical")
    assert res_c.radius == pytest.approx(2 * math.sqrt(2 * beta * loss0) / lambda0)


def test_monotonicity():
    base = dict(lambda0=0.5, lipschitz=0.05, beta=3.0, loss0=0.01)

    def radius(**change):
        return self_consistent_radius(**{**base, **change}).radius

    losses = [0.001, 0.005, 0.01, 0.02]
    assert np.all(np.diff([radius(loss0=v) for v in losses]) > 0)
    assert np.all(np.diff([radius(lipschitz=v) for v in (0.0, 0.01, 0.05, 0.1)]) > 0)
    assert np.all(np.diff([radius(lambda0=v) for v in (0.3, 0.5, 1.0, 2.0)]) < 0)
    steps = np.array([0.2, 0.6, 1.0, 1.5]) / 3.0
    assert np.all(np.diff([radius(step_size=float(s)) for s in steps]) > 0)
    margins = [self_consistent_radius(**{**base, "lipschitz": v}).margin for v in (0.01, 0.05, 0.1)]
    assert np.all(np.diff(margins) < 0)


def test_no_radius_reasons():
    res = self_consistent_radius(0.5, 0.1, 2.0, 0.1, step_size=1.0)   # eta = 2/beta
    assert not res.exists and "2/beta" in res.reason and math.isinf(res.radius)
    res = self_consistent_radius(-0.1, 0.1, 2.0, 0.1)
    assert not res.exists and "lambda0" in res.reason
    res = self_consistent_radius(0.5, 100.0, 2.0, 1.0)
    assert not res.exists and "every radius" in res.reason and res.margin < 0
    assert isinstance(res, SelfConsistentRadius)


def test_zero_gap_gives_zero_radius():
    res = self_consistent_radius(0.5, 0.1, 2.0, 0.2, loss_star=0.2)
    assert res.exists and res.radius == 0.0 and res.mu == 0.5 and res.upper == pytest.approx(5.0)


@pytest.mark.parametrize("form", PATH_BOUNDS)
def test_path_length_curve(form):
    lambda0, lip, beta, loss0 = 1.0, 0.5, 4.0, 0.01
    radii = np.linspace(0.0, 2.5, 501)
    curve = path_length_curve(lambda0, lip, beta, loss0, radii, form=form)
    for r, value in zip(radii[::50], curve[::50]):
        mu = lambda0 - lip * r
        if mu > 0:
            assert value == pytest.approx(path_length_bound(loss0, beta, mu, form=form))
        else:
            assert math.isinf(value)
    res = self_consistent_radius(lambda0, lip, beta, loss0, form=form)
    inside = curve <= radii
    assert np.all((radii[inside] >= res.radius * (1 - 1e-9))
                  & (radii[inside] <= res.upper * (1 + 1e-9)))
    strictly = (radii > res.radius * 1.001) & (radii < res.upper * 0.999)
    assert np.all(inside[strictly])


# ------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs, name", [
    (dict(loss0=0.1, beta=0.0, mu=1.0), "beta"),
    (dict(loss0=0.1, beta=1.0, mu=0.0), "mu"),
    (dict(loss0=0.1, beta=1.0, mu=-1.0), "mu"),
    (dict(loss0=float("nan"), beta=1.0, mu=1.0), "loss0"),
    (dict(loss0=0.1, beta=1.0, mu=1.0, loss_star=0.2), "loss0"),
    (dict(loss0=0.1, beta=1.0, mu=1.0, loss_star=-0.1), "loss_star"),
    (dict(loss0=0.1, beta=1.0, mu=1.0, step_size=2.0), "step_size"),
    (dict(loss0=0.1, beta=1.0, mu=1.0, step_size=0.0), "step_size"),
    (dict(loss0=0.1, beta=1.0, mu=1.0, step_size=0.5, form="classical"), "step_size"),
    (dict(loss0=0.1, beta=1.0, mu=1.0, form="tight"), "form"),
])
def test_path_length_bound_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        path_length_bound(**kwargs)


@pytest.mark.parametrize("kwargs, name, error", [
    (dict(lipschitz=-1.0), "lipschitz", ValueError),
    (dict(lambda0=float("inf")), "lambda0", ValueError),
    (dict(lambda0="big"), "lambda0", TypeError),
    (dict(beta=-2.0), "beta", ValueError),
    (dict(loss0=[0.1]), "loss0", TypeError),
    (dict(step_size=-0.1), "step_size", ValueError),
    (dict(form=None), "form", ValueError),
])
def test_self_consistent_radius_bad_input(kwargs, name, error):
    args = {**dict(lambda0=0.5, lipschitz=0.1, beta=2.0, loss0=0.1), **kwargs}
    with pytest.raises(error, match=name):
        self_consistent_radius(args.pop("lambda0"), args.pop("lipschitz"), args.pop("beta"),
                               args.pop("loss0"), **args)


def test_path_length_curve_bad_input():
    with pytest.raises(ValueError, match="radii"):
        path_length_curve(1.0, 0.1, 2.0, 0.1, np.array([0.1, -0.2]))
    with pytest.raises(ValueError, match="radii"):
        path_length_curve(1.0, 0.1, 2.0, 0.1, np.ones((2, 2)))
    with pytest.raises(ValueError, match="lipschitz"):
        path_length_curve(1.0, -0.1, 2.0, 0.1, np.ones(3))
