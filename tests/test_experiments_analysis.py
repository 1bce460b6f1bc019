"""lplr_core.experiments.analysis: power laws, the edge window, envelopes at equal progress.

Hand-made inputs with answers worked out by hand, then the claims chapters 7 and 8 make
about the committed results (these fail if the committed numbers change).
"""

from __future__ import annotations

import numpy as np
import pytest

from lplr_core.experiments import load_results
from lplr_core.experiments.analysis import (edge_window, equal_progress_envelopes,
                                            fit_power_law)


# ---------------------------------------------------------------------- fit_power_law

def test_power_law_recovers_an_exact_power():
    x = np.array([64.0, 128, 256, 512, 1024])
    fit = fit_power_law(x, 3.0 * x ** 0.7)
    assert fit.exponent == pytest.approx(0.7, abs=1e-12)
    assert fit.prefactor == pytest.approx(3.0, rel=1e-10)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    assert fit.n == 5
    # Two points: the slope through them, computed by hand.
    two = fit_power_law([2.0, 8.0], [5.0, 20.0])
    assert two.exponent == pytest.approx(np.log(4) / np.log(4))


def test_power_law_r2_drops_for_a_curved_relation():
    x = np.array([1.0, 2, 4, 8, 16, 32])
    curved = fit_power_law(x, np.exp(x / 8))          # not a power law
    assert curved.r2 < 0.95


@pytest.mark.parametrize("x, y, match", [
    ([1.0, 2.0], [1.0, -1.0], "positive"),
    ([1.0, 2.0], [1.0, np.nan], "positive"),
    ([0.0, 2.0], [1.0, 2.0], "positive"),
    ([1.0, 2.0, 3.0], [1.0, 2.0], "same length"),
    ([2.0, 2.0], [1.0, 3.0], "two different values"),
    ([[1.0, 2.0]], [[1.0, 2.0]], "1 dimension"),
])
def test_power_law_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        fit_power_law(x, y)
    with pytest.raises(TypeError, match="x"):
        fit_power_law(["a", "b"], [1.0, 2.0])


# ------------------------------------------------------------------------ edge_window

def test_edge_window_by_hand():
    # 2/lambda = 0.2, 0.1, 0.05: only the last beyond for 0.05 < eta < 0.1.
    assert edge_window([10.0, 20.0, 40.0], [False, False, True]) == pytest.approx((0.05, 0.1))
    assert edge_window([10.0, 20.0, 40.0], [False, True, True]) == pytest.approx((0.1, 0.2))
    with pytest.raises(ValueError, match="empty"):
        edge_window([10.0, 20.0, 40.0], [True, False, False])
    with pytest.raises(ValueError, match="True and one False"):
        edge_window([10.0, 20.0], [True, True])
    with pytest.raises(ValueError, match="boolean"):
        edge_window([10.0, 20.0], [1, 0])


# ----------------------------------------------------------- equal_progress_envelopes

def _two_runs():
    steps = np.array([0, 10, 20, 30, 40])
    loss = np.array([[8.0, 4.0, 2.0, 1.0, 0.5],      # eta 1: trains fast
                     [8.0, 6.0, 5.0, 4.5, 4.0]])     # eta 1/4: trains slowly
    rho = np.array([[9.0, 7.0, 5.0, 3.0, 1.0],
                    [9.0, 8.5, 8.0, 7.5, 7.0]])
    return loss, rho, steps, np.array([1.0, 0.25])


def test_envelopes_at_equal_time_by_hand():
    loss, rho, steps, eta = _two_runs()
    cmp = equal_progress_envelopes(loss, rho, steps, eta, stable_from=10, by="time")
    # tau = min(1 * 40, 0.25 * 40) = 10: run 0 at step 10, run 1 at step 40.
    assert cmp.by == "time" and cmp.level == pytest.approx(10.0)
    assert list(cmp.index) == [1, 4] and list(cmp.step) == [10, 40]
    np.testing.assert_allclose(cmp.envelope, [7.0, 7.0])   # min over t0=10 .. step


def test_envelopes_at_equal_loss_by_hand():
    loss, rho, steps, eta = _two_runs()
    cmp = equal_progress_envelopes(loss, rho, steps, eta, stable_from=10, by="loss")
    # level = the larger final loss, 4.0: run 0 first reaches it at step 10, run 1 at 40.
    assert cmp.level == pytest.approx(4.0)
    assert list(cmp.step) == [10, 40]
    np.testing.assert_allclose(cmp.envelope, [7.0, 7.0])
    # At the last step instead, the slow run "wins" 7 to 1: the confound.
    assert rho[1].min() > 5 * rho[0].min()


def test_envelope_before_the_stable_regime_is_nan():
    loss, rho, steps, eta = _two_runs()
    cmp = equal_progress_envelopes(loss, rho, steps, eta, stable_from=20, by="time")
    assert np.isnan(cmp.envelope[0]) and cmp.envelope[1] == pytest.approx(7.0)


def test_envelopes_bad_input():
    loss, rho, steps, eta = _two_runs()
    with pytest.raises(ValueError, match="by must be one of"):
        equal_progress_envelopes(loss, rho, steps, eta, stable_from=0, by="steps")
    with pytest.raises(ValueError, match="step_size"):
        equal_progress_envelopes(loss, rho, steps, eta[:1], stable_from=0, by="time")
    with pytest.raises(ValueError, match="steps"):
        equal_progress_envelopes(loss, rho, steps[::-1], eta, stable_from=0, by="time")
    with pytest.raises(ValueError, match="pl_ratio"):
        equal_progress_envelopes(loss, rho[:, :3], steps, eta, stable_from=0, by="time")
    with pytest.raises(ValueError, match="stable_from"):
        equal_progress_envelopes(loss, rho, steps, eta, stable_from=-1, by="time")


# --------------------------------------------------- the chapters' claims, committed data

def test_width_ablation_step_was_placed_in_a_narrow_window():
    """Chapter 8: eta = 1e-4 is beyond 2/lambda_max(Theta_0) for width 1024 only."""
    r = load_results("width_ablation", fast=False)
    fixed = ~r["reduced"]
    lam, widths, eta = r["lambda_max0"][fixed], r["width"][fixed], r["step_size"][fixed][0]
    beyond = widths == widths.max()
    assert list(eta * lam > 2) == list(beyond)            # only the widest is past the edge
    low, high = edge_window(lam, beyond)
    assert low < eta < high and high / low < 2            # a window less than a factor 2 wide


def test_width_ablation_lambda_max_exponent():
    """Chapter 8: lambda_max(Theta_0) grows like m^0.45, not linearly."""
    r = load_results("width_ablation", fast=False)
    fixed = ~r["reduced"]
    fit = fit_power_law(r["width"][fixed], r["lambda_max0"][fixed])
    assert 0.40 < fit.exponent < 0.50
    # The endpoint slope, independently: log(lam_1024 / lam_64) / log(16).
    lam = r["lambda_max0"][fixed]
    assert np.log(lam[-1] / lam[0]) / np.log(16) == pytest.approx(fit.exponent, abs=0.05)


def test_reduced_step_envelope_advantage_shrinks_at_equal_progress():
    """Chapter 8: the eta/8 run's largest envelope is mostly being less trained."""
    r = load_results("width_ablation", fast=False)
    i_red = int(np.flatnonzero(r["reduced"])[0])
    i_fix = int(np.flatnonzero(~r["reduced"] & (r["width"] == r["width"].max()))[0])
    t0 = r.meta["config"]["stable_from"]
    at_end = r["pl_envelope_min"][i_red] / r["pl_envelope_min"][i_fix]
    assert at_end > 2.5
    for by in ("time", "loss"):
        cmp = equal_progress_envelopes(r["loss"], r["pl_ratio"], r["steps"], r["step_size"],
                                       stable_from=t0, by=by)
        ratio = cmp.envelope[i_red] / cmp.envelope[i_fix]
        assert 1.0 < ratio < 1.3, (by, ratio)
        assert cmp.step[i_red] == r["steps"][-1]      # the least-trained run sets the level
