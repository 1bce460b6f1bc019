r"""lplr_core: the numerical core of the LPLR companion.

A small JAX library to see local Polyak-Lojasiewicz (PL) regions on real
networks: models, empirical neural tangent kernels (NTKs), PL diagnostics and
certificates, and gradient descent that records them as it runs. It is the
companion to Aich, Aich & Wade, *From Sublinear to Linear: Local Convergence in
Finite-Width Networks via Locally Polyak-Lojasiewicz Regions*, arXiv:2507.21429.

Conventions (stated once, used everywhere)
------------------------------------------
Data :math:`(x_i, y_i)_{i=1}^n`, scalar outputs :math:`f(x;\theta)`,
:math:`\theta \in \mathbb R^p`, residual :math:`u = f(X;\theta) - y`, Jacobian
:math:`J = \partial f(X;\theta)/\partial\theta \in \mathbb R^{n\times p}`.

* **Loss**: :math:`L(\theta) = \tfrac12 \|u\|^2` (a sum over samples, not a
  mean); gradient :math:`\nabla L = J^\top u`.
* **Empirical NTK**: :math:`\Theta(\theta) = J J^\top \in \mathbb R^{n\times n}`;
  :math:`\lambda_0 = \lambda_{\min}(\Theta(\theta_0))`.
* **PL inequality** on a set :math:`R`: :math:`\tfrac12\|\nabla L(\theta)\|^2
  \ge \mu\,(L(\theta) - L^*)` for all :math:`\theta \in R`.
* **PL ratio**: :math:`\rho(\theta) = \|\nabla L(\theta)\|^2 / (2(L(\theta) -
  L^*))`; PL with constant :math:`\mu` holds at :math:`\theta` iff :math:`\rho
  \ge \mu`. With :math:`L^* = 0`, :math:`\rho = u^\top\Theta u / \|u\|^2`, a
  Rayleigh quotient, so :math:`\lambda_{\min}(\Theta) \le \rho \le
  \lambda_{\max}(\Theta)`.
* **Certificate**: :math:`\mu(r) = \lambda_0 - L_\Theta r` where
  :math:`L_\Theta` bounds :math:`\|\Theta(\theta) - \Theta(\theta_0)\|_{op} /
  \|\theta - \theta_0\|` on the ball of radius :math:`r`; certified radius
  :math:`\lambda_0 / L_\Theta`. "Certified" and "proved" are reserved for
  rigorous bounds (:mod:`lplr_core.bounds`); with a measured (path, sampled or
  ascent) :math:`\hat L_\Theta`, a lower estimate, :math:`\hat\mu` is an
  *estimate* that proves nothing.
* **The 1/n bookkeeping**: with the mean loss :math:`\bar L = L/n`, the gradient
  and the loss gap both pick up :math:`1/n`, so :math:`\bar\rho = \|\nabla\bar
  L\|^2 / (2(\bar L - \bar L^*)) = \rho / n`: every PL constant, NTK eigenvalue
  and :math:`L_\Theta` is divided by :math:`n` (the "mean-loss NTK" is
  :math:`\Theta/n`), while the step size that gives the same iterates is
  multiplied by :math:`n`. The product :math:`\eta\mu` (the linear rate) is
  unchanged. This library always uses the sum loss, which reproduces the
  paper's constant :math:`\mu = \lambda_0 - L_\Theta r(R)` with no :math:`1/n`.

Public API
----------
About thirty names live at the top level (``dir(lplr_core)`` lists them and the
sub-namespaces); everything else lives in its module, reached as an attribute
(``lp.objectives.quadratic_plus_sine``). A name that used to be at the top level
raises an ``AttributeError`` that names its new home.

Models (:mod:`lplr_core.models`): :class:`~lplr_core.models.MLP`,
:class:`~lplr_core.models.CNN`, :class:`~lplr_core.models.ResNetCNN`,
:func:`~lplr_core.models.param_count`. Any ``apply_fn(params, x) -> (n,)`` over a pytree of
parameters works with everything below.

NTKs (:mod:`lplr_core.ntk`): :func:`~lplr_core.ntk.empirical_ntk`,
:func:`~lplr_core.ntk.empirical_ntk_fn` (a factory ``ntk(x1, x2, params)``, jittable and vmappable),
:func:`~lplr_core.ntk.ntk_matvec`, :func:`~lplr_core.ntk.infinite_width_ntk`,
:func:`~lplr_core.ntk.lambda_min`, :func:`~lplr_core.ntk.lambda_max`,
:func:`~lplr_core.ntk.condition_number`.

Diagnostics (:mod:`lplr_core.diagnostics`): :func:`~lplr_core.diagnostics.loss`,
:func:`~lplr_core.diagnostics.pl_ratio`, :func:`~lplr_core.diagnostics.pl_bound`,
:func:`~lplr_core.diagnostics.lower_envelope`, :func:`~lplr_core.diagnostics.parameter_drift`,
:func:`~lplr_core.diagnostics.kernel_drift`, :func:`~lplr_core.diagnostics.lipschitz_along_path`,
:func:`~lplr_core.diagnostics.lipschitz_in_ball`, :func:`~lplr_core.diagnostics.certificate`,
:func:`~lplr_core.diagnostics.certified_radius`, :func:`~lplr_core.diagnostics.smoothness`,
:func:`~lplr_core.diagnostics.fit_linear_rate` (estimates, unless the constants are proved).

Training (:mod:`lplr_core.training`): :func:`~lplr_core.training.gradient_descent`,
:func:`~lplr_core.training.sgd`, :func:`~lplr_core.training.gradient_descent_sweep`,
:func:`~lplr_core.training.stack_params`, :class:`~lplr_core.training.Trajectory`.

Summary of a run (:mod:`lplr_core.summary`): :func:`~lplr_core.summary.summarize_run` turns a
:class:`~lplr_core.training.Trajectory` into a :class:`~lplr_core.summary.RunSummary`
(:math:`\lambda_0`, drift, the path estimate :math:`\hat L_\Theta`, :math:`\hat\mu`, the fitted
rate: estimates) with one documented round-off floor.

Rigorous constants (:mod:`lplr_core.bounds`): :func:`~lplr_core.bounds.certify` proves or
fails every hypothesis of the linear-rate theorem for a one-hidden-layer MLP with a smooth
activation and returns a :class:`~lplr_core.bounds.Certificate`; its bounds
(``lp.bounds.ntk_lipschitz_bound`` and friends) are theorems, not estimates.

Check your own network (:mod:`lplr_core.check`): :func:`~lplr_core.check.check_network`,
:class:`~lplr_core.check.NetworkReport`.

Sub-namespaces: :mod:`~lplr_core.models`, :mod:`~lplr_core.ntk`,
:mod:`~lplr_core.diagnostics`, :mod:`~lplr_core.losses` (the loss and the PL ratio as pure
kernels), :mod:`~lplr_core.tree_math` (pytree arithmetic), :mod:`~lplr_core.training`,
:mod:`~lplr_core.summary`, :mod:`~lplr_core.rates` (the linear-rate factors),
:mod:`~lplr_core.bounds`, :mod:`~lplr_core.check`, :mod:`~lplr_core.data` (``binary_mnist``
and friends), and the chapters' helpers :mod:`~lplr_core.objectives` (chapter 1),
:mod:`~lplr_core.lqcr` (chapter 2), :mod:`~lplr_core.containment` (chapter 5) and
:mod:`~lplr_core.phase` (chapter 6).

Precision: computations run in the dtype of the inputs and parameters. For
float64, call ``jax.config.update("jax_enable_x64", True)`` before creating
arrays. The library runs on the CPU by default and on a GPU when JAX has one.
"""

from lplr_core import (  # noqa: F401  (the sub-namespaces, as attributes: lp.objectives, ...)
    bounds,
    check,
    containment,
    data,
    diagnostics,
    losses,
    lqcr,
    models,
    ntk,
    objectives,
    phase,
    rates,
    summary,
    training,
    tree_math,
)
from lplr_core.bounds import Certificate, certify
from lplr_core.check import NetworkReport, check_network
from lplr_core.diagnostics import (
    certificate,
    certified_radius,
    fit_linear_rate,
    kernel_drift,
    lipschitz_along_path,
    lipschitz_in_ball,
    loss,
    lower_envelope,
    parameter_drift,
    pl_bound,
    pl_ratio,
    smoothness,
)
from lplr_core.models import CNN, MLP, ResNetCNN, param_count
from lplr_core.ntk import (
    condition_number,
    empirical_ntk,
    empirical_ntk_fn,
    infinite_width_ntk,
    lambda_max,
    lambda_min,
    ntk_matvec,
)
from lplr_core.summary import RunSummary, summarize_run
from lplr_core.training import Trajectory, gradient_descent, gradient_descent_sweep, sgd, stack_params

__version__ = "0.1.0"

__all__ = [
    # models
    "MLP", "CNN", "ResNetCNN", "param_count",
    # neural tangent kernels
    "empirical_ntk", "empirical_ntk_fn", "ntk_matvec", "infinite_width_ntk", "lambda_min", "lambda_max",
    "condition_number",
    # diagnostics (estimates unless the constants are proved)
    "loss", "pl_ratio", "pl_bound", "lower_envelope", "parameter_drift", "kernel_drift",
    "lipschitz_along_path", "lipschitz_in_ball", "certificate", "certified_radius",
    "smoothness", "fit_linear_rate",
    # training
    "gradient_descent", "sgd", "gradient_descent_sweep", "stack_params", "Trajectory",
    # one summary of a run (estimates)
    "summarize_run", "RunSummary",
    # rigorous constants: the proof-carrying certificate
    "certify", "Certificate",
    # check your own network
    "check_network", "NetworkReport",
]

# The sub-namespaces, reached as attributes (``lp.objectives.quadratic_plus_sine``).
_SUBMODULES = (
    "models", "ntk", "diagnostics", "losses", "tree_math", "training", "rates", "summary",
    "bounds", "check", "data", "objectives", "lqcr", "containment", "phase",
)

# Names that were at the top level before the API was trimmed, and where they live now.
_MOVED = {
    **{name: f"lplr_core.models.{name}" for name in ("ACTIVATIONS", "PARAMETERIZATIONS")},
    **{name: f"lplr_core.ntk.{name}" for name in (
        "NTK_METHODS", "ntk_cost", "kernel_fn", "ntk_eigenvalues", "top_eigenvalues",
        "matrix_free_eigenvalues")},
    **{name: f"lplr_core.diagnostics.{name}" for name in (
        "residual", "gradient_norm_sq", "pl_ratio_from_values", "rayleigh_quotient",
        "operator_norm", "LipschitzEstimate", "min_pl_ratio_in_ball", "BallPLEstimate",
        "step_size_thresholds", "RateFit", "linear_onset", "LinearOnset", "kernel_distance",
        "kernel_target_alignment", "min_lambda_min_in_ball", "BallEigenEstimate",
        "fit_power_law", "PowerLawFit")},
    "tree_norm": "lplr_core.tree_math.norm",
    "SweepResult": "lplr_core.training.SweepResult",
    **{name: f"lplr_core.objectives.{name}" for name in (
        "Objective", "GDPath", "GridPL", "quadratic_plus_sine", "least_squares",
        "rank_deficient_least_squares", "gradient_descent_fn", "pl_constant_on_grid",
        "step_contractions", "fit_rate_above_floor", "quadratic_asymptotic_rate")},
    "rate_factor": "lplr_core.rates.rate_factor",
    **{name: f"lplr_core.lqcr.{name}" for name in (
        "quasi_convexity_ratio", "quasi_convexity_path", "QuasiConvexityPath",
        "sublinear_bound", "descent_ratio", "quartic_gd_bounds")},
    **{name: f"lplr_core.containment.{name}" for name in (
        "path_length_bound", "path_length_curve", "self_consistent_radius",
        "SelfConsistentRadius", "PATH_BOUNDS")},
    **{name: f"lplr_core.phase.{name}" for name in (
        "phase_diagram", "PhaseDiagram", "label_run", "RunLabels", "CenteredModel",
        "centered_params", "REGIMES")},
    **{name: f"lplr_core.bounds.{name}" for name in (
        "certified_target_scale", "ntk_lipschitz_bound", "smoothness_bound",
        "lambda_min_lower_bound")},
    "Verdict": "lplr_core.check.Verdict",
}


def __getattr__(name: str):
    """A clear error for a name that moved off the top level (no silent alias)."""
    home = _MOVED.get(name)
    if home is not None:
        short = home.removeprefix("lplr_core.")
        raise AttributeError(
            f"lplr_core.{name} is no longer at the top level of lplr_core: it lives at "
            f"{home} (use lp.{short}, or `from {home.rpartition('.')[0]} import "
            f"{home.rpartition('.')[2]}`)")
    raise AttributeError(f"module 'lplr_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public surface only: the top-level names, the sub-namespaces and ``__version__``."""
    return sorted([*__all__, *_SUBMODULES, "__version__"])
