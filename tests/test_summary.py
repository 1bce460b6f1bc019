"""summarize_run: the one summary of a finished run, against hand-computed values.

Synthetic trajectories are built by hand (geometric losses with a known rate, drifts and
kernel drifts with a known ratio), so every expected number is computed here from the
definitions, independently of lplr_core; one real run of a linear model is compared with its
closed form.
"""

from __future__ import annotations

import doctest
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lplr_core import summary as summary_module
from lplr_core.summary import ROUND_OFF_FACTOR, RunSummary, round_off_floor, summarize_run
from lplr_core.training import Trajectory, gradient_descent


def make_traj(loss, drift, *, ntk_every=2, lambda_min=None, kernel_ratio=0.5, lambda_max=9.0,
              pl_ratio=None, params=None, diverged_at=None, divergence=None, loss_star=0.0,
              norm0=10.0):
    """A Trajectory with a record every step and an NTK record every ``ntk_every`` steps, whose
    kernel drift is exactly ``kernel_ratio`` times the parameter drift there."""
    loss = np.asarray(loss, float)
    drift = np.asarray(drift, float)
    steps = np.arange(loss.size)
    ntk_steps = steps[::ntk_every]
    lam = (np.full(ntk_steps.size, 1.0) if lambda_min is None
           else np.asarray(lambda_min, float))
    return Trajectory(
        loss=loss, grad_norm_sq=np.ones_like(loss), drift=drift, relative_drift=drift / norm0,
        pl_ratio=np.ones_like(loss) if pl_ratio is None else np.asarray(pl_ratio, float),
        steps=steps, lambda_min=lam, lambda_max=np.full(ntk_steps.size, lambda_max),
        kernel_drift=kernel_ratio * drift[ntk_steps], ntk_steps=ntk_steps,
        diverged_at=diverged_at, params=params, config={"loss_star": loss_star},
        divergence=divergence)


# ------------------------------------------------------------------ hand-built trajectories

def test_geometric_run_hand_computed():
    q, t = 0.8, np.arange(31)
    loss = 0.5 + 3.0 * q ** t                     # L* = 0.5, gap 3 q^t
    drift = 0.4 * (1 - q ** t)
    lam = np.linspace(2.0, 1.6, 16)               # NTK every 2 steps: 16 records
    pl = 1.0 + 0.5 * np.cos(t)                    # a PL ratio with a known running minimum
    traj = make_traj(loss, drift, lambda_min=lam, kernel_ratio=0.25, pl_ratio=pl, loss_star=0.5)
    s = summarize_run(traj, stable_from=5)
    assert isinstance(s, RunSummary)
    r = 0.4 * (1 - q ** 30)
    assert s.lambda0 == 2.0 and s.lambda_max0 == 9.0
    assert s.lambda_min_path == pytest.approx(1.6)
    assert s.loss_star == 0.5 and s.loss0 == pytest.approx(3.5)
    assert s.loss_final == pytest.approx(0.5 + 3.0 * q ** 30)
    assert s.max_drift == pytest.approx(r) and s.final_drift == pytest.approx(r)
    assert s.max_relative_drift == pytest.approx(r / 10.0)
    assert s.radius == pytest.approx(r) and not s.radius_given
    assert s.kernel_drift_max == pytest.approx(0.25 * 0.4 * (1 - q ** 30))
    assert s.lipschitz_path_hat == pytest.approx(0.25) and s.lipschitz_hat == pytest.approx(0.25)
    assert s.lipschitz_ball_hat is None
    assert s.mu_hat == pytest.approx(2.0 - 0.25 * r)
    assert s.radius_hat == pytest.approx(2.0 / 0.25)
    # the window: steps 5..30, nothing near round-off
    assert (s.stable_from, s.stable_until, s.window) == (5, 30, (5, 31))
    assert s.round_off_at is None
    assert s.rate_fit.rate == pytest.approx(q) and s.rate_fit.r2 == pytest.approx(1.0)
    assert s.rate_hat == pytest.approx(q)
    assert (s.rate_fit.start, s.rate_fit.stop) == (5, 30)
    expected_env = [min(pl[5:k + 1]) for k in range(5, 31)]
    np.testing.assert_allclose(s.pl_envelope, expected_env)
    assert s.pl_envelope_min == pytest.approx(min(pl[5:]))
    assert not s.diverged and s.diverged_at is None and s.divergence is None


def test_stable_from_between_records_and_given_radius():
    t = np.arange(0, 41, 4)                       # records every 4 steps
    loss = 2.0 * 0.9 ** t
    traj = make_traj(loss, 0.1 * t, ntk_every=1, kernel_ratio=0.3)
    traj = traj.__class__(**{**traj.__dict__, "steps": t, "ntk_steps": t})
    s = summarize_run(traj, stable_from=10, radius=7.0)
    assert s.window[0] == 3 and s.stable_from == 10   # first record with step >= 10 is step 12
    assert s.rate_fit.start == 12 and s.rate_fit.rate == pytest.approx(0.9)
    assert s.radius == 7.0 and s.radius_given
    assert s.max_drift == pytest.approx(4.0)
    assert s.mu_hat == pytest.approx(1.0 - 0.3 * 7.0)


def test_loss_star_defaults_to_the_runs_and_can_be_overridden():
    t = np.arange(12)
    traj = make_traj(1.0 + 0.5 ** t, 0.01 * t, loss_star=1.0)
    assert summarize_run(traj).rate_hat == pytest.approx(0.5)
    other = summarize_run(traj, loss_star=0.0)    # gap 1 + 0.5^t: no geometric decay to 0
    assert other.loss_star == 0.0 and other.rate_hat > 0.9


# --------------------------------------------------------------------- the round-off floor

def test_round_off_floor_formula():
    eps64, eps32 = np.finfo(np.float64).eps, np.finfo(np.float32).eps
    assert ROUND_OFF_FACTOR == 1e4
    assert round_off_floor(3.0, 1.0, np.float64) == pytest.approx(1e4 * eps64 * 2.0, rel=1e-15)
    assert round_off_floor(3.0, 1.0, "float32") == pytest.approx(1e4 * float(eps32) * 2.0,
                                                                 rel=1e-12)


def test_window_stops_at_the_first_record_at_the_floor():
    floor = 1e4 * np.finfo(np.float64).eps * 1.0  # L0 = 1, L* = 0
    loss = np.array([1.0, 0.5, 0.25, 0.1, 1e-3, floor * (1 + 1e-9), floor, floor / 2, 0.0])
    s = summarize_run(make_traj(loss, np.linspace(0, 0.1, loss.size)))
    assert s.round_off_floor == pytest.approx(floor, rel=1e-15)
    # record 5 is just above the floor (kept), record 6 is at it (excluded)
    assert s.window == (0, 6) and s.stable_until == 5 and s.round_off_at == 6
    expected = np.polyfit(np.arange(6.0), np.log(loss[:6]), 1)[0]
    assert s.rate_fit.slope == pytest.approx(expected)
    assert s.pl_envelope.size == 6
    # just above the floor at record 6 too: the window grows by one record
    loss[6] = floor * (1 + 1e-9)
    s = summarize_run(make_traj(loss, np.linspace(0, 0.1, loss.size)))
    assert s.window == (0, 7) and s.round_off_at == 7


def test_floor_uses_the_dtype_of_the_runs_parameters():
    eps32 = float(np.finfo(np.float32).eps)
    loss = np.array([1.0, 0.1, 0.01, 1e-3, 1e-4, 1e-5])
    params32 = {"w": np.zeros(3, np.float32)}
    s32 = summarize_run(make_traj(loss, np.linspace(0, 1, 6), params=params32))
    s64 = summarize_run(make_traj(loss, np.linspace(0, 1, 6),
                                  params={"w": np.zeros(3, np.float64)}))
    assert s32.round_off_floor == pytest.approx(1e4 * eps32)       # 1.19e-3
    assert s32.window == (0, 3) and s32.round_off_at == 3          # 1e-3 <= 1.19e-3
    assert s64.window == (0, 6) and s64.round_off_at is None


def test_round_off_before_three_records_gives_no_fit():
    loss = np.array([1.0, 1e-3, 0.0, 0.0, 0.0, 0.0])
    s = summarize_run(make_traj(loss, np.linspace(0, 0.1, 6)), stable_from=1)
    assert s.window == (1, 2) and s.round_off_at == 2
    assert s.rate_fit is None and math.isnan(s.rate_hat)


# ------------------------------------------------------------- divergence and edge cases

def test_divergence_passes_through():
    t = np.arange(7)
    traj = make_traj(1.3 ** t, 0.2 * t, diverged_at=7, divergence="blowup")
    s = summarize_run(traj, stable_from=2)
    assert s.diverged and s.diverged_at == 7 and s.divergence == "blowup"
    assert s.loss_final == pytest.approx(1.3 ** 6)
    assert s.rate_fit.rate == pytest.approx(1.3)  # the records before the flag are fitted
    assert s.window == (2, 7)


def test_empty_run_gives_nan_not_an_error():
    empty = np.zeros(0)
    traj = Trajectory(loss=empty, grad_norm_sq=empty, drift=empty, relative_drift=empty,
                      pl_ratio=empty, steps=np.zeros(0, int), lambda_min=empty,
                      lambda_max=empty, kernel_drift=empty, ntk_steps=np.zeros(0, int),
                      diverged_at=0, params=None, divergence="nonfinite_loss")
    s = summarize_run(traj)
    assert s.diverged_at == 0 and s.divergence == "nonfinite_loss"
    for name in ("lambda0", "loss0", "max_drift", "mu_hat", "radius_hat", "pl_envelope_min",
                 "lipschitz_hat"):
        assert math.isnan(getattr(s, name)), name
    assert s.rate_fit is None


def test_one_ntk_record_gives_no_estimate_and_a_still_kernel_gives_zero():
    t = np.arange(5)
    s = summarize_run(make_traj(0.5 ** t, 0.1 * t, ntk_every=10))
    assert math.isnan(s.lipschitz_path_hat) and math.isnan(s.mu_hat)
    assert math.isnan(s.radius_hat)
    still = summarize_run(make_traj(0.5 ** t, np.zeros(5), kernel_ratio=0.0))
    assert still.lipschitz_hat == 0.0 and still.mu_hat == 1.0
    assert still.radius_hat == math.inf


def test_nonpositive_lambda0_gives_zero_radius_hat():
    t = np.arange(6)
    s = summarize_run(make_traj(0.5 ** t, 0.1 * t, lambda_min=[-0.1, 0.2, 0.3]))
    assert s.radius_hat == 0.0 and s.mu_hat == pytest.approx(-0.1 - 0.5 * 0.5)
    given = summarize_run(make_traj(0.5 ** t, 0.1 * t), lambda0=3.0)
    assert given.lambda0 == 3.0 and given.radius_hat == pytest.approx(6.0)


def test_with_ball_estimate_takes_the_larger():
    t = np.arange(8)
    s = summarize_run(make_traj(0.5 ** t, 0.1 * t, kernel_ratio=0.5))
    r = s.radius
    larger = s.with_ball_estimate(2.0)
    assert larger.lipschitz_ball_hat == 2.0 and larger.lipschitz_hat == 2.0
    assert larger.mu_hat == pytest.approx(1.0 - 2.0 * r) and larger.radius_hat == 0.5
    smaller = s.with_ball_estimate(0.1)
    assert smaller.lipschitz_hat == pytest.approx(0.5) and smaller.mu_hat == s.mu_hat
    assert smaller.lipschitz_ball_hat == 0.1


@pytest.mark.parametrize("kwargs, name", [
    (dict(radius=0.0), "radius"), (dict(radius=-1.0), "radius"),
    (dict(stable_from=-1), "stable_from"), (dict(loss_star=float("nan")), "loss_star"),
    (dict(lambda0="big"), "lambda0"),
])
def test_bad_arguments_name_themselves(kwargs, name):
    traj = make_traj(0.5 ** np.arange(5), 0.1 * np.arange(5))
    with pytest.raises((ValueError, TypeError), match=name):
        summarize_run(traj, **kwargs)


def test_not_a_trajectory_is_a_type_error():
    with pytest.raises(TypeError, match="trajectory"):
        summarize_run({"loss": [1.0, 0.5]})


def test_doctest():
    result = doctest.testmod(summary_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 1 and result.failed == 0


# ---------------------------------------------------------- a real run: a linear model

def test_real_run_of_a_linear_model_matches_its_closed_form():
    # f(x; w) = x @ w: the NTK is X X^T at every step (L_Theta = 0), and gradient descent on
    # L = ||Xw - y||^2 / 2 from w = 0 gives residual modes that shrink by (1 - eta lambda_i).
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6))
    y = rng.standard_normal(4)
    lam, vec = np.linalg.eigh(x @ x.T)
    eta = 1.0 / lam[-1]
    steps = 60
    traj = gradient_descent(lambda w, a: a @ w, jnp.zeros(6, jnp.float64), jnp.asarray(x),
                            jnp.asarray(y), step_size=eta, steps=steps, record_every=1,
                            ntk_every=10)
    s = summarize_run(traj, stable_from=20)
    coeff = vec.T @ (-y)
    t = np.arange(steps + 1)
    exact = 0.5 * np.sum(((1 - eta * lam)[None, :] ** t[:, None] * coeff) ** 2, axis=1)
    # the drift: w_t = X^T (X X^T)^{-1} (I - (I - eta X X^T)^t) y
    w_t = [x.T @ vec @ np.diag((1 - (1 - eta * lam) ** k) / lam) @ vec.T @ y for k in t]
    drift = np.linalg.norm(np.array(w_t), axis=1)
    assert s.lambda0 == pytest.approx(lam[0], rel=1e-8)
    assert s.max_drift == pytest.approx(drift.max(), rel=1e-8)
    assert s.lipschitz_hat == pytest.approx(0.0, abs=1e-8 * lam[-1] / drift[10])
    assert s.mu_hat == pytest.approx(lam[0], rel=1e-6)
    assert s.loss0 == pytest.approx(exact[0], rel=1e-12)
    ref = np.polyfit(t[20:], np.log(exact[20:]), 1)[0]
    assert s.rate_fit.rate == pytest.approx(math.exp(ref), rel=1e-8)
    assert s.window == (20, steps + 1) and not s.diverged
    # the PL ratio of the run, recomputed from its gradient and loss
    pl = traj.grad_norm_sq / (2 * traj.loss)
    assert s.pl_envelope_min == pytest.approx(pl[20:].min(), rel=1e-8)


def test_summary_is_host_side_floats():
    t = np.arange(8)
    s = summarize_run(make_traj(jnp.asarray(0.5 ** t), 0.1 * t))
    for name in ("lambda0", "mu_hat", "radius_hat", "max_drift", "loss0", "pl_envelope_min"):
        assert type(getattr(s, name)) is float, name
    assert isinstance(s.pl_envelope, np.ndarray)
    assert jax.tree_util.tree_leaves(s.window) == [0, 8]
