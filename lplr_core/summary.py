r"""One summary of a finished run: :func:`summarize_run` and :class:`RunSummary`.

A gradient-descent :class:`~lplr_core.training.Trajectory` becomes the numbers
the book reads off a run: :math:`\lambda_0`, the parameter drift, the path
estimate :math:`\hat L_\Theta`, the estimate :math:`\hat\mu = \lambda_0 - \hat
L_\Theta r`, the estimated radius :math:`\lambda_0 / \hat L_\Theta`, the PL-ratio
envelope and the fitted linear rate on the stable regime, and the divergence
flag. :func:`~lplr_core.check.check_network`, :func:`~lplr_core.phase.label_run`
and the MLP experiments (``lplr_core.experiments``) all summarize their runs
here, so the stable window and the round-off floor have one definition.

**Estimates, not proofs.** :math:`\hat L_\Theta` is a maximum over the recorded
iterates (a lower estimate of the supremum on the ball), so :math:`\hat\mu` is
an *upper* estimate of the paper's constant and :math:`\lambda_0 / \hat L_\Theta`
an upper estimate of the radius; the field names say ``hat``. Proved constants:
:mod:`lplr_core.bounds`.

**The round-off floor** (the one rule of the package). The suboptimality of a
record counts as meaningful while

.. math:: L_t - L^* > \epsilon_{\rm floor} = 10^4\,\epsilon_{\rm mach}\,(L_0 - L^*),

with :math:`\epsilon_{\rm mach}` the machine epsilon of the dtype the run was
computed in (that of the trajectory's parameters; of its loss record when it
holds none): :math:`2.2\times 10^{-12}\,(L_0 - L^*)` in float64,
:math:`1.2\times 10^{-3}\,(L_0 - L^*)` in float32. Below it the log-suboptimality
is noise (the loss, its gradient and the PL ratio lose their digits), so a fit
of :math:`\log(L_t - L^*)` or a PL ratio means nothing there. The factor
:math:`10^4` leaves four decimal digits of margin above
:math:`\epsilon_{\rm mach}` for the accumulated error of a sum loss over the
samples and of the recorded gradient. It is :data:`ROUND_OFF_FACTOR`. (The PL
ratio of a single record has its own, finer rule, relative to :math:`L_t`
itself: :func:`lplr_core.losses.pl_gap_floor`, below which the ratio is
``NaN``; the floor here decides which records a *run's* summary reads.)

**The stable window** is the records with step :math:`\ge t_0` (``stable_from``)
up to, not including, the first record whose suboptimality is at or below the
floor or not finite. The PL envelope and the rate fit use this window only.

Host-side: the summary reads a finished run's NumPy records and returns Python
floats (``nan`` where a quantity cannot be measured, e.g. after an early
divergence); it is not meant for ``jit``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import numpy as np

from lplr_core._validation import check_int, check_real, describe
from lplr_core.diagnostics import RateFit, fit_linear_rate, lower_envelope
from lplr_core.training import Trajectory

__all__ = ["ROUND_OFF_FACTOR", "RunSummary", "round_off_floor", "summarize_run"]

#: The round-off floor is ``ROUND_OFF_FACTOR * eps * (L_0 - L*)`` (see the module docstring).
ROUND_OFF_FACTOR = 1e4


class RunSummary(NamedTuple):
    r"""The summary numbers of one run (:func:`summarize_run`).

    Scalars are Python floats, ``nan`` where the run does not allow them.
    Names with ``hat`` are *estimates* (see the module docstring).

    Attributes:
      lambda0: :math:`\lambda_0 = \lambda_{\min}(\Theta(\theta_0))` (the
        trajectory's first NTK record unless given to :func:`summarize_run`).
      lambda_max0: :math:`\lambda_{\max}(\Theta(\theta_0))`.
      lambda_min_path: :math:`\min_t \lambda_{\min}(\Theta_t)` over the NTK records.
      kernel_drift_max: :math:`\max_t \|\Theta_t - \Theta_0\|_{op}`.
      loss_star: :math:`L^*`.
      loss0: the first recorded loss.
      loss_final: the last finite recorded loss.
      diverged_at: the flagged step, or ``None`` (the trajectory's).
      divergence: the reason of the flag, or ``None`` (the trajectory's).
      max_drift: :math:`\max_t d_t = \max_t \|\theta_t - \theta_0\|`.
      max_relative_drift: :math:`\max_t d_t / \|\theta_0\|`.
      final_drift: the last recorded drift :math:`d_T`.
      final_relative_drift: the last recorded relative drift :math:`d_T / \|\theta_0\|`.
      radius: the radius :math:`r` of :math:`\hat\mu`: the given one, else ``max_drift``.
      radius_given: whether ``radius`` was given (else it is the smallest ball
        holding the path).
      lipschitz_path_hat: the path estimate :math:`\max_t \|\Theta_t -
        \Theta_0\| / d_t` (``0`` when the kernel never moved; ``nan`` with
        fewer than two NTK records).
      lipschitz_ball_hat: a sampled estimate in the ball of radius ``radius``
        (:meth:`with_ball_estimate`), or ``None``.
      lipschitz_hat: the largest finite of the two estimates (``nan`` if none).
      mu_hat: :math:`\hat\mu = \lambda_0 - \hat L_\Theta r`, an upper estimate of
        the paper's constant.
      radius_hat: :math:`\lambda_0 / \hat L_\Theta`, the estimated radius (``inf``
        if :math:`\hat L_\Theta = 0`, ``0`` if :math:`\lambda_0 \le 0`).
      stable_from: :math:`t_0`, the first step of the stable regime.
      stable_until: the last step of the stable window (``stable_from`` when the
        window is empty).
      window: the stable window as record indices ``(start, stop)``, stop exclusive.
      round_off_floor: :math:`\epsilon_{\rm floor}` (absolute, on :math:`L_t - L^*`).
      round_off_at: the first step at or after ``stable_from`` whose
        suboptimality is at or below the floor, or ``None``.
      pl_envelope: the running minimum of the PL ratio on the window (NumPy).
      pl_envelope_min: its last value (``nan`` if none).
      rate_fit: the fitted linear rate on the window
        (:func:`~lplr_core.diagnostics.fit_linear_rate`; needs 3 records), or ``None``.
    """

    lambda0: float
    lambda_max0: float
    lambda_min_path: float
    kernel_drift_max: float
    loss_star: float
    loss0: float
    loss_final: float
    diverged_at: int | None
    divergence: str | None
    max_drift: float
    max_relative_drift: float
    final_drift: float
    final_relative_drift: float
    radius: float
    radius_given: bool
    lipschitz_path_hat: float
    lipschitz_ball_hat: float | None
    lipschitz_hat: float
    mu_hat: float
    radius_hat: float
    stable_from: int
    stable_until: int
    window: tuple[int, int]
    round_off_floor: float
    round_off_at: int | None
    pl_envelope: np.ndarray
    pl_envelope_min: float
    rate_fit: RateFit | None

    @property
    def diverged(self) -> bool:
        """The run was flagged (``diverged_at`` is not ``None``)."""
        return self.diverged_at is not None

    @property
    def rate_hat(self) -> float:
        r"""The fitted per-step factor :math:`\hat q` (``nan`` without a fit)."""
        return math.nan if self.rate_fit is None else float(self.rate_fit.rate)

    def with_ball_estimate(self, lipschitz_ball_hat: float | None) -> "RunSummary":
        r"""This summary with a further estimate of :math:`L_\Theta` in the ball of radius ``radius``.

        ``lipschitz_hat`` becomes the larger finite estimate, and ``mu_hat`` and
        ``radius_hat`` follow it (e.g. the value of
        :func:`~lplr_core.diagnostics.lipschitz_in_ball` at ``radius``).
        """
        if lipschitz_ball_hat is not None:
            lipschitz_ball_hat = float(check_real("lipschitz_ball_hat", lipschitz_ball_hat,
                                                  minimum=0.0))
        lip = _largest_finite(self.lipschitz_path_hat, lipschitz_ball_hat)
        mu_hat, radius_hat = _mu_and_radius(self.lambda0, lip, self.radius)
        return self._replace(lipschitz_ball_hat=lipschitz_ball_hat, lipschitz_hat=lip,
                             mu_hat=mu_hat, radius_hat=radius_hat)


def round_off_floor(loss0: float, loss_star: float, dtype) -> float:
    r"""The round-off floor :math:`10^4\,\epsilon_{\rm mach}(\text{dtype})\,(L_0 - L^*)` (module docstring).

    Args:
      loss0: :math:`L_0`.
      loss_star: :math:`L^*`.
      dtype: a floating dtype (that of the run).
    """
    eps = float(np.finfo(np.dtype(dtype)).eps)
    return ROUND_OFF_FACTOR * eps * (float(loss0) - float(loss_star))


def summarize_run(trajectory: Trajectory, *, radius: float | None = None,
                  stable_from: int | None = None, loss_star: float | None = None,
                  lambda0: float | None = None) -> RunSummary:
    r"""The summary numbers of a finished run (definitions: the module docstring).

    Host-side (NumPy, Python floats): it reads the trajectory's records once.

    Args:
      trajectory: a :class:`~lplr_core.training.Trajectory` (NTK records, from
        ``ntk_every``, are needed for :math:`\lambda_0` and :math:`\hat L_\Theta`;
        without them those are ``nan``).
      radius: the radius :math:`r > 0` of :math:`\hat\mu`; default the run's
        maximum drift, the smallest ball around :math:`\theta_0` holding the path.
      stable_from: the first step :math:`t_0 \ge 0` of the stable regime
        (default 0).
      loss_star: :math:`L^*` (default: the run's own, ``trajectory.config
        ["loss_star"]``, else 0).
      lambda0: :math:`\lambda_0` if measured apart from the trajectory (default:
        its first NTK record).

    Returns:
      A :class:`RunSummary`.

    Raises:
      TypeError, ValueError: an argument is invalid (the message names it).

    Examples:
      >>> import numpy as np
      >>> from lplr_core.training import Trajectory
      >>> t = np.arange(6)
      >>> traj = Trajectory(loss=0.5 ** t, grad_norm_sq=np.ones(6), drift=0.1 * t,
      ...                   relative_drift=0.01 * t, pl_ratio=np.ones(6), steps=t,
      ...                   lambda_min=np.array([2.0, 1.5]), lambda_max=np.array([4.0, 4.0]),
      ...                   kernel_drift=np.array([0.0, 0.25]), ntk_steps=np.array([0, 5]),
      ...                   diverged_at=None, params=None)
      >>> s = summarize_run(traj)
      >>> print(f"{s.max_drift:.2f} {s.lipschitz_hat:.2f} {s.mu_hat:.2f} {s.rate_hat:.3f}")
      0.50 0.50 1.75 0.500
    """
    if not isinstance(trajectory, Trajectory):
        raise TypeError(f"trajectory must be a lplr_core.training.Trajectory; got "
                        f"{describe(trajectory)}")
    radius_given = radius is not None
    if radius_given:
        radius = float(check_real("radius", radius, minimum=0.0, strict_min=True))
    stable_from = 0 if stable_from is None else check_int("stable_from", stable_from, minimum=0)
    if loss_star is None:
        loss_star = trajectory.config.get("loss_star", 0.0)
    loss_star = float(check_real("loss_star", loss_star))
    if lambda0 is not None:
        lambda0 = float(check_real("lambda0", lambda0))
    return _summarize(trajectory, radius, stable_from, loss_star, lambda0)


# ------------------------------------------------------------------ the kernel (host)

def _largest_finite(*values) -> float:
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    return max(finite) if finite else math.nan


def _mu_and_radius(lambda0: float, lip: float, r: float) -> tuple[float, float]:
    """(mu_hat, radius_hat) = (lambda0 - lip r, lambda0 / lip) with the edge cases of the docstring."""
    if not (np.isfinite(lip) and np.isfinite(r) and np.isfinite(lambda0)):
        return math.nan, math.nan
    mu_hat = lambda0 - lip * r
    radius_hat = 0.0 if lambda0 <= 0 else math.inf if lip == 0 else lambda0 / lip
    return float(mu_hat), float(radius_hat)


def _run_dtype(trajectory: Trajectory) -> np.dtype:
    """The floating dtype the run was computed in: its parameters', else its loss record's."""
    leaves = [leaf for leaf in jax.tree_util.tree_leaves(trajectory.params)
              if np.issubdtype(np.asarray(leaf).dtype, np.floating)]
    if leaves:
        return np.result_type(*[np.asarray(leaf).dtype for leaf in leaves])
    dtype = np.asarray(trajectory.loss).dtype
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)


def _path_lipschitz(trajectory: Trajectory, kernel_drift_max: float) -> float:
    try:
        return float(trajectory.lipschitz_estimate())
    except ValueError:  # fewer than two NTK records, or no positive drift at them
        if trajectory.ntk_steps.size >= 2 and kernel_drift_max == 0.0:
            return 0.0  # the kernel never moved: nothing to estimate, L_hat = 0
        return math.nan


def _summarize(traj: Trajectory, radius: float | None, stable_from: int, loss_star: float,
               lambda0: float | None) -> RunSummary:
    nan = math.nan

    def largest(a):
        return float(np.max(a)) if a.size else nan

    def last(a):
        return float(a[-1]) if a.size else nan

    loss = np.asarray(traj.loss, float)
    drift = np.asarray(traj.drift, float)
    rel = np.asarray(traj.relative_drift, float)
    lam_min = np.asarray(traj.lambda_min, float)
    kd = np.asarray(traj.kernel_drift, float)
    steps = np.asarray(traj.steps)

    if lambda0 is None:
        lambda0 = float(lam_min[0]) if lam_min.size else nan
    kd_max = largest(kd)
    max_drift = largest(drift)
    r = max_drift if radius is None else radius
    lip_path = _path_lipschitz(traj, kd_max)
    lip = _largest_finite(lip_path)
    mu_hat, radius_hat = _mu_and_radius(lambda0, lip, r)

    # the stable window: from stable_from to the first record at the round-off floor
    loss0 = float(loss[0]) if loss.size else nan
    floor = round_off_floor(loss0, loss_star, _run_dtype(traj)) if loss.size else nan
    gap = loss - loss_star
    first = int(np.searchsorted(steps, stable_from))
    above = np.isfinite(gap) & (gap > floor) & (gap > 0)
    stop = first
    while stop < steps.size and above[stop]:
        stop += 1
    round_off_at = (int(steps[stop]) if stop < steps.size and np.isfinite(gap[stop])
                    else None)
    stable_until = int(steps[stop - 1]) if stop > first else int(stable_from)
    envelope = np.zeros(0)
    env_min = nan
    if stop > first:
        envelope = np.asarray(lower_envelope(np.asarray(traj.pl_ratio, float)[:stop], first),
                              float)
        if envelope.size and np.isfinite(envelope[-1]):
            env_min = float(envelope[-1])
    rate = None
    if stop - first >= 3:
        rate = fit_linear_rate(loss, loss_star=loss_star, steps=steps, start=first, stop=stop)

    return RunSummary(
        lambda0=float(lambda0), lambda_max0=float(traj.lambda_max[0]) if traj.lambda_max.size
        else nan, lambda_min_path=float(np.min(lam_min)) if lam_min.size else nan,
        kernel_drift_max=kd_max, loss_star=loss_star, loss0=loss0, loss_final=last(loss),
        diverged_at=traj.diverged_at, divergence=traj.divergence, max_drift=max_drift,
        max_relative_drift=largest(rel), final_drift=last(drift),
        final_relative_drift=last(rel), radius=float(r), radius_given=radius is not None,
        lipschitz_path_hat=lip_path, lipschitz_ball_hat=None, lipschitz_hat=lip,
        mu_hat=mu_hat, radius_hat=radius_hat, stable_from=int(stable_from),
        stable_until=stable_until, window=(first, stop), round_off_floor=float(floor),
        round_off_at=round_off_at, pl_envelope=envelope, pl_envelope_min=env_min,
        rate_fit=rate)
