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
Models (:mod:`lplr_core.models`): :class:`~lplr_core.models.MLP`, :class:`~lplr_core.models.CNN`, :class:`~lplr_core.models.ResNetCNN`.
Any ``apply_fn(params, x) -> (n,)`` over a pytree of parameters works with
everything below.

NTKs (:mod:`lplr_core.ntk`): :func:`~lplr_core.ntk.empirical_ntk`, :func:`~lplr_core.ntk.ntk_matvec`,
:func:`~lplr_core.ntk.infinite_width_ntk`, :func:`~lplr_core.ntk.lambda_min`, :func:`~lplr_core.ntk.lambda_max`,
:func:`~lplr_core.ntk.condition_number`, :func:`~lplr_core.ntk.top_eigenvalues`.

Diagnostics (:mod:`lplr_core.diagnostics`): :func:`~lplr_core.diagnostics.pl_ratio`,
:func:`~lplr_core.diagnostics.lower_envelope`, :func:`~lplr_core.diagnostics.parameter_drift`, :func:`~lplr_core.diagnostics.kernel_drift`,
:func:`~lplr_core.diagnostics.lipschitz_along_path`, :func:`~lplr_core.diagnostics.lipschitz_in_ball`, :func:`~lplr_core.diagnostics.certificate`,
:func:`~lplr_core.diagnostics.certified_radius`, :func:`~lplr_core.diagnostics.smoothness`, :func:`~lplr_core.diagnostics.fit_linear_rate`,
:func:`~lplr_core.diagnostics.pl_bound`, :func:`~lplr_core.diagnostics.kernel_distance`, :func:`~lplr_core.diagnostics.kernel_target_alignment`.

Training (:mod:`lplr_core.training`): :func:`~lplr_core.training.gradient_descent`, :func:`~lplr_core.training.sgd`,
:func:`~lplr_core.training.gradient_descent_sweep`, :class:`~lplr_core.training.Trajectory`.

Rigorous constants (:mod:`lplr_core.bounds`): :func:`~lplr_core.bounds.certify` proves or
fails every hypothesis of the linear-rate theorem for a one-hidden-layer MLP with a smooth
activation, from :func:`~lplr_core.bounds.ntk_lipschitz_bound`,
:func:`~lplr_core.bounds.smoothness_bound` and :func:`~lplr_core.bounds.lambda_min_lower_bound`
(upper and lower bounds that are theorems, not estimates).

Data: :mod:`lplr_core.data` (``binary_mnist`` and friends).

Precision: computations run in the dtype of the inputs and parameters. For
float64, call ``jax.config.update("jax_enable_x64", True)`` before creating
arrays. The library runs on the CPU by default and on a GPU when JAX has one.
"""

from lplr_core.bounds import (
    Certificate,
    certified_target_scale,
    certify,
    lambda_min_lower_bound,
    ntk_lipschitz_bound,
    smoothness_bound,
)
from lplr_core.check import NetworkReport, Verdict, check_network
from lplr_core.containment import (
    PATH_BOUNDS,
    SelfConsistentRadius,
    path_length_bound,
    path_length_curve,
    self_consistent_radius,
)
from lplr_core.diagnostics import (
    BallPLEstimate,
    LipschitzEstimate,
    RateFit,
    certificate,
    certified_radius,
    fit_linear_rate,
    gradient_norm_sq,
    kernel_distance,
    kernel_drift,
    kernel_target_alignment,
    LinearOnset,
    linear_onset,
    lipschitz_along_path,
    lipschitz_in_ball,
    loss,
    lower_envelope,
    min_pl_ratio_in_ball,
    operator_norm,
    parameter_drift,
    pl_bound,
    pl_ratio,
    pl_ratio_from_values,
    rayleigh_quotient,
    residual,
    smoothness,
    step_size_thresholds,
    tree_norm,
)
from lplr_core.diagnostics import (BallEigenEstimate, PowerLawFit, fit_power_law,
                                    min_lambda_min_in_ball)
from lplr_core.lqcr import (
    QuasiConvexityPath,
    descent_ratio,
    quartic_gd_bounds,
    quasi_convexity_path,
    quasi_convexity_ratio,
    sublinear_bound,
)
from lplr_core.models import ACTIVATIONS, CNN, MLP, PARAMETERIZATIONS, ResNetCNN, param_count
from lplr_core.ntk import (
    NTK_METHODS,
    condition_number,
    empirical_ntk,
    infinite_width_ntk,
    kernel_fn,
    lambda_max,
    lambda_min,
    matrix_free_eigenvalues,
    ntk_cost,
    ntk_eigenvalues,
    ntk_matvec,
    top_eigenvalues,
)
from lplr_core.objectives import (
    GDPath,
    GridPL,
    Objective,
    fit_rate_above_floor,
    gradient_descent_fn,
    least_squares,
    pl_constant_on_grid,
    quadratic_asymptotic_rate,
    quadratic_plus_sine,
    rank_deficient_least_squares,
    rate_factor,
    step_contractions,
)
from lplr_core.phase import (
    REGIMES,
    CenteredModel,
    PhaseDiagram,
    RunLabels,
    centered_params,
    label_run,
    phase_diagram,
)
from lplr_core.training import (
    SweepResult,
    Trajectory,
    gradient_descent,
    gradient_descent_sweep,
    sgd,
    stack_params,
)

from lplr_core import bounds, data  # noqa: E402  (lplr_core.data.binary_mnist after `import lplr_core`)

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "PARAMETERIZATIONS", "NTK_METHODS",
    "MLP", "CNN", "ResNetCNN", "param_count",
    "empirical_ntk", "ntk_matvec", "ntk_cost", "kernel_fn", "infinite_width_ntk",
    "ntk_eigenvalues", "lambda_min", "lambda_max", "condition_number", "top_eigenvalues",
    "matrix_free_eigenvalues",
    "loss", "residual", "gradient_norm_sq", "pl_ratio", "pl_ratio_from_values",
    "rayleigh_quotient", "lower_envelope", "parameter_drift", "kernel_drift", "operator_norm",
    "lipschitz_along_path", "lipschitz_in_ball", "LipschitzEstimate", "min_pl_ratio_in_ball",
    "BallPLEstimate", "certificate", "certified_radius", "smoothness", "step_size_thresholds",
    "fit_linear_rate", "RateFit", "linear_onset", "LinearOnset", "pl_bound", "kernel_distance", "kernel_target_alignment",
    "tree_norm", "min_lambda_min_in_ball", "BallEigenEstimate", "fit_power_law", "PowerLawFit",
    "gradient_descent", "sgd", "gradient_descent_sweep", "stack_params", "Trajectory",
    "SweepResult", "data",
    # chapter 1: PL functions and gradient descent on plain functions
    "Objective", "GDPath", "GridPL", "quadratic_plus_sine", "least_squares",
    "rank_deficient_least_squares", "gradient_descent_fn", "pl_constant_on_grid", "rate_factor",
    "step_contractions", "fit_rate_above_floor", "quadratic_asymptotic_rate",
    # chapter 2: the quasi-convex lens
    "quasi_convexity_ratio", "quasi_convexity_path", "QuasiConvexityPath", "sublinear_bound",
    "descent_ratio", "quartic_gd_bounds",
    # chapter 5: containment by self-consistency
    "path_length_bound", "path_length_curve", "self_consistent_radius", "SelfConsistentRadius",
    "PATH_BOUNDS",
    # chapter 6: the phase diagram
    "phase_diagram", "PhaseDiagram", "label_run", "RunLabels", "CenteredModel",
    "centered_params", "REGIMES",
    # rigorous constants and the proof-carrying certificate (lplr_core.bounds)
    "certify", "Certificate", "certified_target_scale", "ntk_lipschitz_bound",
    "smoothness_bound", "lambda_min_lower_bound", "bounds",
    # check your own network
    "check_network", "NetworkReport", "Verdict",
]
