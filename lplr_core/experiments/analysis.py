r"""Reading the stored experiments: power-law exponents, the step-size window, fair envelopes.

Functions that turn stored results (:func:`lplr_core.experiments.load_results`)
into the numbers the chapters quote. They take plain arrays, so they are
tested on hand-made inputs as well as on the committed results. None of the
experiment modules imports this one, so editing it never marks stored results
stale.

* :func:`fit_power_law`: the exponent :math:`a` of :math:`y \approx c\,x^a`, by
  least squares on :math:`(\log x, \log y)`, with :math:`R^2` (say "grows like
  :math:`m^{0.45}`", not "roughly linearly");
* :func:`edge_window`: the step sizes for which a chosen set of runs, and only
  that set, lies beyond the stability edge :math:`2/\lambda_{\max}(\Theta_0)`;
  how narrow it is says how deliberately a step was placed;
* :func:`equal_progress_envelopes`: PL-ratio lower envelopes compared at equal
  progress (equal :math:`\eta t` or equal loss) rather than at the last step.
  The PL ratio falls as training removes the fast directions of the residual,
  so a run that trained less (a smaller step, the same number of steps) ends
  with a larger envelope for that reason alone.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from lplr_core._validation import check_choice, check_real, describe
# One home for the power-law fit (lplr_core.diagnostics); re-exported for the experiments.
from lplr_core.diagnostics import PowerLawFit, fit_power_law

__all__ = ["PowerLawFit", "fit_power_law", "edge_window", "EnvelopeComparison",
           "equal_progress_envelopes"]


def _positive_1d(name: str, value: Any) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 1-D array of positive numbers; got "
                        f"{describe(value)}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be finite and positive (a power law is fitted on logs); "
                         f"got {arr}")
    return arr


def edge_window(lambda_max0: Any, beyond: Any) -> tuple[float, float]:
    r"""The step sizes :math:`\eta` that put exactly the runs ``beyond`` past the edge.

    A run with top kernel eigenvalue :math:`\lambda` is beyond the stability
    edge of the linearized dynamics when :math:`\eta > 2/\lambda`. The runs
    marked in ``beyond`` (and no other) are past it exactly for
    :math:`\max_{\text{beyond}} 2/\lambda < \eta < \min_{\text{not beyond}} 2/\lambda`.

    Args:
      lambda_max0: 1-D positive :math:`\lambda_{\max}(\Theta_0)` per run.
      beyond: 1-D booleans, one per run, at least one ``True`` and one ``False``.
    Returns:
      ``(low, high)``.
    Raises:
      ValueError: no step size does it (a run marked ``beyond`` has a smaller
        :math:`\lambda` than one that is not), or bad shapes.
    """
    lam = _positive_1d("lambda_max0", lambda_max0)
    mask = np.asarray(beyond)
    if mask.dtype != bool or mask.shape != lam.shape:
        raise ValueError(f"beyond must be a boolean array of shape {lam.shape}; got "
                         f"{describe(beyond)}")
    if mask.all() or not mask.any():
        raise ValueError("beyond must mark at least one run True and one False")
    low, high = float(np.max(2.0 / lam[mask])), float(np.min(2.0 / lam[~mask]))
    if not low < high:
        raise ValueError(f"no step size puts exactly these runs beyond 2/lambda_max: the "
                         f"interval ({low:.4g}, {high:.4g}) is empty")
    return low, high


class EnvelopeComparison(NamedTuple):
    r"""PL-ratio envelopes of several runs at one common level of progress."""
    by: str                # "time" (equal eta * t) or "loss" (equal L_t)
    level: float           # the common eta * t, or the common loss
    index: np.ndarray      # per run: the record index where it reaches the level (-1: never)
    step: np.ndarray       # per run: the step of that record (-1: never)
    envelope: np.ndarray   # per run: min of rho over t0 <= t <= step (NaN: never, or before t0)


def equal_progress_envelopes(loss: Any, pl_ratio: Any, steps: Any, step_size: Any, *,
                             stable_from: int, by: str) -> EnvelopeComparison:
    r"""Each run's PL-ratio envelope at the same progress, not at the same step count.

    The envelope of run :math:`i` at record :math:`k` is
    :math:`\min_{t_0 \le t_j \le t_k} \rho_{i,j}`. The comparison record is

    * ``by="time"``: the last record with :math:`\eta_i t_k \le \tau`, where
      :math:`\tau = \min_i \eta_i T` is the training time the least-trained run
      reached (gradient flow time, the natural clock when step sizes differ);
    * ``by="loss"``: the first record with :math:`L_{i,k} \le \ell`, where
      :math:`\ell = \max_i L_{i,T}` is the final loss of the least-trained run.

    Args:
      loss, pl_ratio: ``(runs, records)`` arrays (NaN after a divergence).
      steps: ``(records,)`` step of each record (increasing).
      step_size: ``(runs,)`` positive step sizes.
      stable_from: :math:`t_0`, the first step of the stable regime.
      by: ``"time"`` or ``"loss"``.
    Returns:
      :class:`EnvelopeComparison`.
    """
    by = check_choice("by", by, ("time", "loss"))
    loss = np.asarray(loss, dtype=float)
    rho = np.asarray(pl_ratio, dtype=float)
    steps = np.asarray(steps, dtype=float)
    eta = _positive_1d("step_size", step_size)
    if loss.ndim != 2 or rho.shape != loss.shape:
        raise ValueError(f"loss and pl_ratio must be (runs, records) arrays of one shape; got "
                         f"{loss.shape} and {rho.shape}")
    if steps.shape != (loss.shape[1],) or np.any(np.diff(steps) <= 0):
        raise ValueError(f"steps must be increasing with one entry per record "
                         f"({loss.shape[1]}); got shape {steps.shape}")
    if eta.shape != (loss.shape[0],):
        raise ValueError(f"step_size must have one entry per run ({loss.shape[0]}); got "
                         f"{eta.shape[0]}")
    t0 = check_real("stable_from", stable_from, minimum=0.0)
    i0 = int(np.searchsorted(steps, t0))
    if by == "time":
        level = float(np.min(eta * steps[-1]))
    else:
        final = loss[:, -1]
        if not np.all(np.isfinite(final)):
            raise ValueError("by='loss' needs a finite final loss in every run")
        level = float(np.max(final))
    index = np.full(loss.shape[0], -1)
    envelope = np.full(loss.shape[0], np.nan)
    for i in range(loss.shape[0]):
        if by == "time":
            hit = np.flatnonzero(eta[i] * steps <= level * (1 + 1e-12))
            k = int(hit[-1]) if hit.size else -1
        else:
            hit = np.flatnonzero(loss[i] <= level)
            k = int(hit[0]) if hit.size else -1
        index[i] = k
        if k >= i0:
            envelope[i] = float(np.nanmin(rho[i, i0:k + 1]))
    step = np.where(index >= 0, steps[np.maximum(index, 0)], -1).astype(int)
    return EnvelopeComparison(by, level, index, step, envelope)
