r"""A phase diagram of gradient descent over width x step size (this book's own study).

Nothing here comes from the paper: the paper's abstract reports a width
ablation with one step-size reduction (arXiv:2507.21429); the grid, the regime
definitions and the thresholds below are ours.

For every hidden width :math:`m` of a fully connected network, and every seed,
we draw :math:`\theta_0`, measure the sharpness :math:`\beta_0 =
\lambda_{\max}(\nabla^2 L(\theta_0))` (:func:`~lplr_core.diagnostics.smoothness`)
and run full-batch gradient descent at the step sizes :math:`\eta = c /
\beta_0(m)` for a grid of multiples :math:`c`, where :math:`\beta_0(m)` is the
**largest** sharpness over the seeds at that width (one step-size grid per width
is what one batched run allows; taking the largest keeps
:math:`\eta\,\beta_0(\text{seed}) \le c` for every seed). All seeds and step
sizes of one width run as **one** :func:`~lplr_core.training.gradient_descent_sweep`,
a single ``vmap``-ed program sharded across devices when there are several.

Each run then gets four labels (:func:`label_run`), defined in this book:

* ``diverged``: the run was flagged by
  :func:`~lplr_core.training.gradient_descent_sweep` (a non-finite loss,
  gradient, drift, PL ratio or NTK record, or a loss blow-up past ``blowup``
  times its initial suboptimality), or the run ended above where it started,
  :math:`L_T - L^* > L_0 - L^*` (a run that grows geometrically may not reach
  the blow-up threshold within the run).
* ``mu_hat_positive``: the run did not diverge and the *estimated* certificate
  at the smallest ball holding its path is positive, :math:`\hat\mu = \lambda_0
  - \hat L_\Theta r > 0` with :math:`r = \max_t \|\theta_t - \theta_0\|` and
  :math:`\hat L_\Theta` the path estimate
  (:meth:`~lplr_core.training.Trajectory.lipschitz_estimate`). Equivalently,
  :math:`r` is below the estimated radius :math:`\lambda_0 / \hat L_\Theta`
  (``radius_hat``). An estimate, not a proof: the path estimate is a lower
  estimate of :math:`L_\Theta`, so :math:`\hat\mu` over-states :math:`\mu`
  (proved constants: :mod:`lplr_core.bounds`).
* ``contained``: the run did not diverge and stayed in the stated region, the
  ball of radius ``radius`` around :math:`\theta_0`:
  :math:`\max_t \|\theta_t - \theta_0\| \le` ``radius``.
* ``linear``: the run did not diverge, reduced the suboptimality by at least
  the factor ``loss_drop`` (:math:`L_T - L^* \le` ``loss_drop`` :math:`(L_0 -
  L^*)`), and a straight line fits :math:`\log(L_t - L^*)` on the window of
  the last ``1 - fit_start`` of the records with slope :math:`< 0` and
  :math:`R^2 \ge` ``r2_min`` (:func:`~lplr_core.diagnostics.fit_linear_rate`).
  The window ends at the first record at the package's round-off floor
  (:math:`L_t - L^* \le 10^4\,\epsilon_{\rm mach}(L_0 - L^*)`, see
  :mod:`lplr_core.summary`); a run that reaches round-off before the window
  has three records counts as linear.

The labels are not exclusive: a run with :math:`\hat\mu > 0` is usually also
contained and linear, and a run can converge linearly with :math:`\hat\mu < 0`
(the paper's condition is sufficient, not necessary).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lplr_core._validation import (
    check_array,
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_real,
    check_sequence_of_ints,
    check_targets,
    describe,
)
from lplr_core.diagnostics import smoothness, tree_norm
from lplr_core.models import ACTIVATIONS, MLP, PARAMETERIZATIONS
from lplr_core.ntk import NTK_METHODS
from lplr_core.summary import summarize_run
from lplr_core.training import Trajectory, gradient_descent_sweep, stack_params

__all__ = ["REGIMES", "RunLabels", "label_run", "CenteredModel", "centered_params",
           "PhaseDiagram", "phase_diagram"]

#: The four regime labels, in the order used by :class:`PhaseDiagram`.
REGIMES = ("mu_hat_positive", "contained", "linear", "diverged")

# ------------------------------------------------------------------ labels of one run

class RunLabels(NamedTuple):
    r"""The regime labels of one run and the numbers behind them (see the module docstring)."""
    mu_hat_positive: bool  # the estimate mu_hat > 0 (not a proof)
    contained: bool
    linear: bool
    diverged: bool
    lambda0: float         # lambda_min(Theta(theta_0))
    lipschitz: float       # path estimate L_Theta_hat (NaN if fewer than two usable NTK records; 0 if the kernel never moved)
    max_drift: float       # r = max_t ||theta_t - theta_0|| over the records before divergence
    mu_hat: float          # lambda0 - lipschitz * max_drift (NaN if lipschitz is NaN)
    radius_hat: float      # estimated radius lambda0 / lipschitz (inf if lipschitz == 0, 0 if lambda0 <= 0)
    rate: float            # fitted contraction factor per step on the window (NaN if no fit)
    r2: float              # R^2 of that fit (NaN if no fit)
    loss_ratio: float      # (L_T - L*) / (L_0 - L*) (NaN if diverged)


def _check_label_args(radius, r2_min, loss_drop, fit_start):
    radius = check_real("radius", radius, minimum=0.0, allow_inf=True)
    r2_min = check_real("r2_min", r2_min, minimum=0.0, maximum=1.0)
    loss_drop = check_real("loss_drop", loss_drop, minimum=0.0, maximum=1.0, strict_min=True)
    fit_start = check_real("fit_start", fit_start, minimum=0.0, maximum=1.0)
    if fit_start >= 1.0:
        raise ValueError(f"fit_start must be in [0, 1) (the fraction of records before the "
                         f"fit window); got {fit_start}")
    return radius, r2_min, loss_drop, fit_start


def label_run(trajectory: Trajectory, *, radius: float, r2_min: float = 0.9,
              loss_drop: float = 0.1, fit_start: float = 0.5,
              loss_star: float | None = None) -> RunLabels:
    r"""The regime labels of one gradient-descent run (definitions: module docstring).

    Args:
      trajectory: a :class:`~lplr_core.training.Trajectory` with NTK records
        (``ntk_every`` set); the estimate needs at least two of them before
        any divergence, otherwise ``mu_hat_positive`` is ``False`` and
        ``lipschitz``/``mu_hat`` are ``NaN``.
      radius: radius of the stated region (a ball around :math:`\theta_0`), in
        parameter space, ``>= 0`` (``inf`` allowed).
      r2_min: smallest :math:`R^2` of the log-linear fit that counts as linear,
        in [0, 1].
      loss_drop: the suboptimality must end at most this fraction of its initial
        value, in (0, 1].
      fit_start: the fit window starts at this fraction of the records, in [0, 1).
      loss_star: :math:`L^*` (default: the run's own).

    Returns:
      A :class:`RunLabels`.

    Raises:
      TypeError, ValueError: an argument is invalid (the message names it).
    """
    if not isinstance(trajectory, Trajectory):
        raise TypeError(f"trajectory must be a lplr_core.training.Trajectory; got "
                        f"{describe(trajectory)}")
    radius, r2_min, loss_drop, fit_start = _check_label_args(radius, r2_min, loss_drop,
                                                             fit_start)
    diverged = trajectory.diverged
    if trajectory.lambda_min.size == 0 and not (diverged and trajectory.loss.size == 0):
        raise ValueError("trajectory must have NTK records (run it with ntk_every set) to "
                         "compute the certificate")
    star = trajectory.config.get("loss_star", 0.0) if loss_star is None else loss_star
    star = check_real("loss_star", star)
    n_rec = trajectory.loss.size
    start = int(math.floor(fit_start * (n_rec - 1))) if n_rec else 0
    summary = summarize_run(trajectory, loss_star=star,
                            stable_from=int(trajectory.steps[start]) if n_rec else 0)
    lambda0, lipschitz = summary.lambda0, summary.lipschitz_hat
    max_drift = summary.max_drift if trajectory.drift.size else 0.0
    mu_hat, cert_radius = summary.mu_hat, summary.radius_hat
    rate, r2, loss_ratio, linear = math.nan, math.nan, math.nan, False
    gap0 = summary.loss0 - star
    if not diverged and gap0 > 0:
        loss_ratio = float((summary.loss_final - star) / gap0)
        diverged = loss_ratio > 1.0  # ended above its start: growing, not converging
    if not diverged and gap0 > 0:
        fit = summary.rate_fit
        if fit is not None:
            rate, r2 = fit.rate, fit.r2
            linear = loss_ratio <= loss_drop and fit.slope < 0 and fit.r2 >= r2_min
        elif summary.round_off_at is not None:
            linear = True  # reached round-off before the window held three records
    mu_hat_positive = (not diverged) and bool(mu_hat > 0)
    contained = (not diverged) and max_drift <= radius
    return RunLabels(mu_hat_positive, contained, linear, diverged, lambda0, lipschitz, max_drift,
                     mu_hat, cert_radius, rate, r2, loss_ratio)


# --------------------------------------------------------------------- centred model

class CenteredModel:
    r"""The centred model :math:`f(x;\theta) - f(x;\theta_0)` as an ``apply_fn``.

    Its parameters are ``{"theta": theta, "theta0": theta0}`` (see
    :func:`centered_params`); the second copy is frozen by
    ``jax.lax.stop_gradient``, so gradient descent moves only ``theta``, the
    parameter drift is that of ``theta`` and the NTK is that of :math:`f` at
    ``theta``. Training it on targets :math:`s y` is training :math:`f` on
    :math:`f(X;\theta_0) + s y`, the device of chapter 4 (after Chizat et al.,
    2019), but with a per-seed offset that a batched sweep with shared targets
    can carry. Equal for equal ``apply_fn``, so compiled programs are reused.
    """

    def __init__(self, apply_fn: Callable):
        self.apply_fn = check_callable("apply_fn", apply_fn)

    def __call__(self, params: dict, x: jax.Array) -> jax.Array:
        frozen = jax.lax.stop_gradient(self.apply_fn(params["theta0"], x))
        return self.apply_fn(params["theta"], x) - frozen

    def __eq__(self, other):
        return isinstance(other, CenteredModel) and other.apply_fn == self.apply_fn

    def __hash__(self):
        return hash((CenteredModel, self.apply_fn))

    def __repr__(self):
        return f"CenteredModel({self.apply_fn!r})"


def centered_params(params0: Any) -> dict:
    """Parameters of a :class:`CenteredModel` that start at ``params0``."""
    return {"theta": params0, "theta0": jax.tree_util.tree_map(jnp.array, params0)}


# ------------------------------------------------------------------------ the diagram

@dataclass
class PhaseDiagram:
    r"""Regime labels and their numbers over widths x step multiples x seeds.

    Per-run arrays have shape ``(W, E, S)`` (widths, step multiples, seeds);
    ``beta0`` and ``lambda0`` are per initialization, shape ``(W, S)``;
    ``step_sizes`` are per width, shape ``(W, E)``: ``step_multiples /
    beta0.max(axis=1)``. ``radius`` is the stated region's radius per
    initialization (``(W, S)``, absolute, in parameter space).
    """

    widths: np.ndarray
    step_multiples: np.ndarray
    seeds: np.ndarray
    beta0: np.ndarray
    lambda0: np.ndarray
    param_norm0: np.ndarray
    step_sizes: np.ndarray
    radius: np.ndarray
    mu_hat_positive: np.ndarray
    contained: np.ndarray
    linear: np.ndarray
    diverged: np.ndarray
    lipschitz: np.ndarray
    max_drift: np.ndarray
    mu_hat: np.ndarray
    radius_hat: np.ndarray
    rate: np.ndarray
    r2: np.ndarray
    loss_ratio: np.ndarray
    config: dict = field(default_factory=dict)

    def fraction(self, regime: str) -> np.ndarray:
        """Fraction of seeds in ``regime`` (one of :data:`REGIMES`) per cell, shape ``(W, E)``."""
        regime = check_choice("regime", regime, REGIMES)
        return getattr(self, regime).mean(axis=-1)

    def summary(self) -> dict[str, np.ndarray]:
        """``{regime: fraction}`` for every regime of :data:`REGIMES`."""
        return {name: self.fraction(name) for name in REGIMES}

    def eta_beta(self) -> np.ndarray:
        r""":math:`\eta\,\beta_0(\text{seed})` per run, shape ``(W, E, S)``."""
        return self.step_sizes[:, :, None] * self.beta0[:, None, :]

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers (JSON-ready; non-finite floats become ``None``)."""
        out = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = _plain(value) if name != "config" else value
        return out

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path``."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True))
        return path


def _plain(value):
    arr = np.asarray(value)
    if arr.dtype == bool:
        return arr.tolist()
    out = arr.astype(float).tolist()

    def clean(v):
        if isinstance(v, list):
            return [clean(u) for u in v]
        return v if math.isfinite(v) else None

    return clean(out)


def _check_multiples(value):
    arr = np.asarray(check_array("step_multiples", value, ndim=1), float)
    if arr.size == 0 or not np.all(arr > 0):
        raise ValueError(f"step_multiples must be a non-empty 1-D sequence of numbers > 0; "
                         f"got {arr.tolist()}")
    return arr


def phase_diagram(widths: Any, step_multiples: Any, seeds: Any, x: Any, y: Any, *,
                  parameterization: str = "ntk", activation: str = "erf", depth: int = 1,
                  steps: int = 200, record_every: int = 5, ntk_every: int = 50,
                  centered: bool = True, region_radius: float = 0.01,
                  relative_radius: bool = True, r2_min: float = 0.9, loss_drop: float = 0.1,
                  fit_start: float = 0.5, w_std: float = 1.0, b_std: float = 0.1,
                  smoothness_iters: int = 30, ntk_method: str = "auto",
                  shard: bool | None = None) -> PhaseDiagram:
    r"""Label gradient-descent runs over widths x step sizes x seeds (this book's study).

    For each width ``m`` the network is ``MLP((m,) * depth, activation,
    parameterization)``; each seed gives one :math:`\theta_0` (``mlp.init(seed,
    d)``). Step sizes are ``step_multiples / beta0(m)`` with ``beta0(m)`` the
    largest sharpness at initialization over the seeds. All seeds x step
    sizes of a width run as one :func:`~lplr_core.training.gradient_descent_sweep`.
    Labels: :func:`label_run`, with the region a ball of radius
    ``region_radius`` (times :math:`\|\theta_0\|` if ``relative_radius``).

    Args:
      widths: hidden widths, a sequence of ints ``>= 1``.
      step_multiples: the multiples ``c`` of :math:`1/\beta_0`, numbers ``> 0``.
      seeds: initialization seeds, a sequence of ints ``>= 0``.
      x: inputs ``(n, d)``; y: targets ``(n,)``.
      parameterization: ``"ntk"`` or ``"standard"`` (see :class:`~lplr_core.models.MLP`).
      activation: a name in ``lplr_core.models.ACTIVATIONS``.
      depth: number of hidden layers ``>= 1``.
      steps, record_every, ntk_every: as in :func:`~lplr_core.training.gradient_descent`
        (``ntk_every`` is required here: the certificate needs NTK records).
      centered: train the centred model :math:`f(x;\theta) - f(x;\theta_0)`
        (:class:`CenteredModel`) on ``y``, i.e. :math:`f` on
        :math:`f(X;\theta_0) + y`; ``False`` trains :math:`f` on ``y``.
      region_radius: the stated region's radius, ``> 0``.
      relative_radius: if ``True`` the radius is ``region_radius *
        ||theta_0||`` per initialization.
      r2_min, loss_drop, fit_start: thresholds of the ``linear`` label (:func:`label_run`).
      w_std, b_std: the MLP's scales.
      smoothness_iters: power iterations for :math:`\beta_0`.
      ntk_method: NTK method inside the sweep; ``"auto"`` is ``"structured"``
        for the plain MLP and ``"ntvp"`` for the centred model.
      shard: passed to the sweep.

    Returns:
      A :class:`PhaseDiagram`.

    Raises:
      TypeError, ValueError: an argument is invalid (the message names it).
    """
    widths = check_sequence_of_ints("widths", widths, minimum=1)
    multiples = _check_multiples(step_multiples)
    seeds = check_sequence_of_ints("seeds", seeds, minimum=0)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct; got {list(seeds)}")
    parameterization = check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    activation = check_choice("activation", activation, ACTIVATIONS)
    depth = check_int("depth", depth, minimum=1)
    x = check_array("x", x, ndim=2)
    y = check_targets("y", y, x.shape[0])
    steps = check_int("steps", steps, minimum=1)
    record_every = check_int("record_every", record_every, minimum=1)
    ntk_every = check_int("ntk_every", ntk_every, minimum=1)
    centered = check_bool("centered", centered)
    region_radius = check_real("region_radius", region_radius, minimum=0.0, strict_min=True)
    relative_radius = check_bool("relative_radius", relative_radius)
    _, r2_min, loss_drop, fit_start = _check_label_args(0.0, r2_min, loss_drop, fit_start)
    smoothness_iters = check_int("smoothness_iters", smoothness_iters, minimum=1)
    ntk_method = check_choice("ntk_method", ntk_method, NTK_METHODS)
    if centered and ntk_method == "auto":
        ntk_method = "ntvp"  # the structured kernel knows only a plain MLP

    dtype = x.dtype
    y = y.astype(dtype)
    n_w, n_e, n_s = len(widths), multiples.size, len(seeds)
    per_run = {name: np.zeros((n_w, n_e, n_s), bool) for name in REGIMES}
    numbers = {name: np.full((n_w, n_e, n_s), np.nan) for name in
               ("lipschitz", "max_drift", "mu_hat", "radius_hat", "rate", "r2",
                "loss_ratio")}
    beta0 = np.zeros((n_w, n_s))
    lambda0 = np.zeros((n_w, n_s))
    norm0 = np.zeros((n_w, n_s))
    radius = np.zeros((n_w, n_s))
    step_sizes = np.zeros((n_w, n_e))
    for i, width in enumerate(widths):
        mlp = MLP((width,) * depth, activation, parameterization, w_std=w_std, b_std=b_std)
        inits = [mlp.init(jax.random.PRNGKey(seed), x.shape[1], dtype=dtype) for seed in seeds]
        if centered:
            apply_fn = CenteredModel(mlp.apply)
            params = [centered_params(p) for p in inits]
        else:
            apply_fn, params = mlp.apply, inits
        for s, p in enumerate(params):
            beta0[i, s] = smoothness(apply_fn, p, x, y, iters=smoothness_iters)
            norm0[i, s] = float(tree_norm(inits[s]))
        if not np.all(beta0[i] > 0):
            raise ValueError(f"the sharpness at initialization must be > 0 to scale step "
                             f"sizes; got {beta0[i].tolist()} at width {width}")
        radius[i] = region_radius * norm0[i] if relative_radius else region_radius
        step_sizes[i] = multiples / beta0[i].max()
        sweep = gradient_descent_sweep(apply_fn, stack_params(params), x, y,
                                       step_sizes=step_sizes[i], steps=steps,
                                       record_every=record_every, ntk_every=ntk_every,
                                       ntk_method=ntk_method, shard=shard)
        for s in range(n_s):
            for e in range(n_e):
                labels = label_run(sweep.trajectory(s, e), radius=float(radius[i, s]),
                                   r2_min=r2_min, loss_drop=loss_drop, fit_start=fit_start)
                for name in REGIMES:
                    per_run[name][i, e, s] = getattr(labels, name)
                for name in numbers:
                    numbers[name][i, e, s] = getattr(labels, name)
                lambda0[i, s] = labels.lambda0
    config = {"parameterization": parameterization, "activation": activation, "depth": depth,
              "n": int(x.shape[0]), "d": int(x.shape[1]), "steps": steps,
              "record_every": record_every, "ntk_every": ntk_every, "centered": centered,
              "region_radius": region_radius, "relative_radius": relative_radius,
              "r2_min": r2_min, "loss_drop": loss_drop, "fit_start": fit_start,
              "w_std": float(w_std), "b_std": float(b_std), "ntk_method": ntk_method,
              "dtype": str(dtype)}
    return PhaseDiagram(widths=np.asarray(widths), step_multiples=multiples,
                        seeds=np.asarray(seeds), beta0=beta0, lambda0=lambda0,
                        param_norm0=norm0, step_sizes=step_sizes, radius=radius,
                        **per_run, **numbers, config=config)
