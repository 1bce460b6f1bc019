r"""Diagnostics of a locally Polyak-Lojasiewicz region, and estimates of its constants.

Conventions (see the package docstring): loss :math:`L(\theta) = \tfrac12
\|u\|^2` with residual :math:`u = f(X;\theta) - y`, gradient :math:`J^\top u`,
NTK :math:`\Theta = J J^\top`. The empirical PL ratio is

.. math:: \rho(\theta) = \frac{\|\nabla L(\theta)\|^2}{2 (L(\theta) - L^*)},

so the PL inequality with constant :math:`\mu` holds at :math:`\theta` iff
:math:`\rho(\theta) \ge \mu`. With :math:`L^* = 0`, :math:`\rho = u^\top \Theta u
/ \|u\|^2` is a Rayleigh quotient of the NTK, hence :math:`\lambda_{\min}(\Theta)
\le \rho \le \lambda_{\max}(\Theta)`.

The certificate (the paper's constant, derived in this book by Weyl's
inequality) is :math:`\mu(r) = \lambda_0 - L_\Theta r`, positive up to the
radius :math:`\lambda_0 / L_\Theta`. **Everything here is an estimate**: the
Lipschitz constants of this module (path, sampled, ascent) are *lower*
estimates of :math:`L_\Theta`, so :math:`\hat\mu = \lambda_0 - \hat L_\Theta r`
over-estimates :math:`\mu` and a positive value proves nothing. Proved bounds,
and the only certificates that certify, are in :mod:`lplr_core.bounds`.

**JAX-native functions.** The numerical functions (:func:`loss`, :func:`residual`,
:func:`gradient_norm_sq`, :func:`pl_ratio`, :func:`pl_ratio_from_values`,
:func:`rayleigh_quotient`, :func:`lower_envelope`, :func:`parameter_drift`,
:func:`kernel_drift`, :func:`operator_norm`, :func:`lipschitz_along_path`,
:func:`certificate`, :func:`certified_radius`, :func:`kernel_distance`,
:func:`kernel_target_alignment`, :func:`tree_norm`) return a ``jax.Array`` (0-d for a
scalar) and work eagerly and under ``jax.jit``, ``jax.vmap`` and ``jax.grad``. Each
validates its arguments once at entry: the static properties (types, shapes, tree
structure) always, the values (finite, positive, non-zero) only when they are concrete;
under a transformation an undefined value is ``NaN`` instead of an error. The loss and
the PL ratio are computed by the kernels of :mod:`lplr_core.losses` (their one home).

The searches and fits (:func:`lipschitz_in_ball`, :func:`min_pl_ratio_in_ball`,
:func:`min_lambda_min_in_ball`, :func:`smoothness`, :func:`fit_linear_rate`,
:func:`linear_onset`, :func:`fit_power_law`, :func:`pl_bound`,
:func:`step_size_thresholds`) are **host-side** analyses: they return Python floats and
NumPy arrays, and loop on the host over compiled kernels.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from lplr_core import losses as _losses
from lplr_core import tree_math as tm
from lplr_core._validation import (
    check_apply_fn,
    check_array,
    check_bool,
    check_choice,
    check_int,
    check_kernel,
    check_key,
    check_loss_pair,
    check_model_data,
    check_params,
    check_real,
    check_real_values,
    check_same_structure,
    check_step_grid,
    check_targets,
    describe,
    is_concrete,
)
from lplr_core.losses import PL_GAP_ULPS
from lplr_core.ntk import NTK_METHODS, kernel_fn
from lplr_core.rates import sharp_rate_factor, simple_rate_factor
from lplr_core.tree_math import PyTree

try:  # the Literal type of the NTK methods (lplr_core.ntk defines it)
    from lplr_core.ntk import NTKMethod
except ImportError:  # pragma: no cover - an older ntk
    from typing import Literal
    NTKMethod = Literal["auto", "jacobian", "ntvp", "structured", "jaxpr"]

__all__ = [
    "loss",
    "residual",
    "gradient_norm_sq",
    "pl_ratio",
    "pl_ratio_from_values",
    "rayleigh_quotient",
    "lower_envelope",
    "parameter_drift",
    "kernel_drift",
    "operator_norm",
    "lipschitz_along_path",
    "LipschitzEstimate",
    "lipschitz_in_ball",
    "BallPLEstimate",
    "min_pl_ratio_in_ball",
    "certificate",
    "certified_radius",
    "smoothness",
    "step_size_thresholds",
    "RateFit",
    "fit_linear_rate",
    "pl_bound",
    "kernel_distance",
    "kernel_target_alignment",
    "tree_norm",
    "BallEigenEstimate",
    "min_lambda_min_in_ball",
    "PowerLawFit",
    "fit_power_law",
    "LinearOnset",
    "linear_onset",
]

#: ``apply_fn(params, x) -> (n,)``: a model evaluated on a batch of inputs.
ApplyFn = Callable[[PyTree, jax.Array], jax.Array]


# --------------------------------------------------------------------- pytree helpers

def tree_norm(tree: PyTree) -> jax.Array:
    r"""Euclidean norm :math:`\|\theta\|_2` of a pytree, as if flattened into one vector.

    The same as :func:`lplr_core.tree_math.norm` (kept under this name for its users).
    """
    return tm.norm(tree)


def _concrete_nan(value: jax.Array) -> bool:
    """True when the 0-d ``value`` is concrete and NaN (a host check, outside transformations)."""
    return is_concrete(value) and math.isnan(float(value))


def _violated(check: Callable[..., Any], *values: Any) -> bool:
    """True when every value is concrete and ``check(*values)`` is false.

    Evaluated at once (``jax.ensure_compile_time_eval``), so concrete arrays closed over by
    an outer ``jit`` are still checked; traced values are not (the rule's value checks).
    """
    if not is_concrete(values):
        return False
    with jax.ensure_compile_time_eval():
        return not bool(check(*values))


# ------------------------------------------------------------------ loss and PL ratio

# One compiled program per model and shapes for eager calls; inside an outer jit they inline.
_loss_jit = jax.jit(_losses.loss, static_argnums=0)
_residual_jit = jax.jit(_losses.residual, static_argnums=0)
_loss_and_grad_norm_sq = jax.jit(_losses.loss_and_grad_norm_sq, static_argnums=0)
_pl_ratio_jit = jax.jit(_losses.pl_ratio, static_argnums=0)
_pl_ratio_from_values_jit = jax.jit(_losses.pl_ratio_from_values)
_rayleigh_quotient_jit = jax.jit(_losses.rayleigh_quotient)


def residual(apply_fn: ApplyFn, params: PyTree, x: ArrayLike, y: ArrayLike) -> jax.Array:
    r"""The residual :math:`u = f(X; \theta) - y`, shape ``(n,)``.

    Args:
      apply_fn, params, x, y: the model, its parameters, inputs and targets, as in
        :func:`loss`.
    """
    params, x, y = check_model_data(apply_fn, params, x, y)
    return _residual_jit(apply_fn, params, x, y)


def loss(apply_fn: ApplyFn, params: PyTree, x: ArrayLike, y: ArrayLike) -> jax.Array:
    r"""The squared loss :math:`L(\theta) = \tfrac12 \|f(X;\theta) - y\|^2` (a sum, not a mean).

    A 0-d ``jax.Array``; differentiable in ``params`` (``jax.grad`` gives :math:`J^\top u`).

    Args:
      apply_fn: the model, ``apply_fn(params, x) -> (n,)``.
      params: the parameters :math:`\theta` (a pytree of floating arrays).
      x: inputs ``(n, ...)``.
      y: targets ``(n,)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from lplr_core.diagnostics import loss
      >>> apply_fn = lambda w, x: x @ w
      >>> w, x, y = jnp.array([1.0, 2.0]), jnp.eye(2), jnp.array([0.0, 0.0])
      >>> print(f"{loss(apply_fn, w, x, y):.3f}")
      2.500
    """
    params, x, y = check_model_data(apply_fn, params, x, y)
    return _loss_jit(apply_fn, params, x, y)


def gradient_norm_sq(apply_fn: ApplyFn, params: PyTree, x: ArrayLike, y: ArrayLike) -> jax.Array:
    r""":math:`\|\nabla L(\theta)\|^2 = u^\top \Theta u`, a 0-d ``jax.Array``.

    Args:
      apply_fn, params, x, y: the model, its parameters, inputs and targets, as in
        :func:`loss`.
    """
    params, x, y = check_model_data(apply_fn, params, x, y)
    return _loss_and_grad_norm_sq(apply_fn, params, x, y)[1]


def _check_loss_values(name: str, value: Any) -> jax.Array:
    """Real values (NaN/inf allowed) as a floating jax.Array; tracer-safe."""
    if isinstance(value, jax.Array):
        if np.dtype(value.dtype).kind not in "biuf":
            raise TypeError(f"{name} must be real numbers (float, int or bool); got "
                            f"{describe(value)}")
    else:
        check_real_values(name, value)
        value = np.asarray(value)
    value = jnp.asarray(value)
    if not jnp.issubdtype(value.dtype, jnp.floating):
        value = value.astype(jnp.result_type(float))
    return value


def pl_ratio_from_values(loss_value: ArrayLike, grad_norm_sq: ArrayLike,
                         loss_star: ArrayLike = 0.0) -> jax.Array:
    r""":math:`\rho = \|\nabla L\|^2 / (2 (L - L^*))`, elementwise over arrays.

    Entries where a value is not finite, or where :math:`L - L^*` is not above
    round-off (at most 8 ulps of :math:`\max(|L|, |L^*|)` in the floating dtype of
    ``loss_value``), are ``NaN``: the ratio is undefined there (:func:`lower_envelope`
    skips them). With :math:`L^* = 0` only :math:`L = 0` is excluded. ``loss_star``
    may be any real number here, since this form also serves general objectives whose
    minimum can be negative; :func:`pl_ratio` (squared loss) requires :math:`L^* \ge 0`.
    The rule and the formula live in :func:`lplr_core.losses.pl_ratio_from_values`.

    Args:
      loss_value: :math:`L`, a scalar or an array.
      grad_norm_sq: :math:`\|\nabla L\|^2`, the same shape.
      loss_star: :math:`L^*`, a real number.

    Returns:
      A ``jax.Array`` of the shape of ``loss_value`` (in JAX's float precision: a host
      analysis that needs float64 with 32-bit JAX calls the kernel with NumPy arrays).
    """
    loss_value = _check_loss_values("loss_value", loss_value)
    grad_norm_sq = _check_loss_values("grad_norm_sq", grad_norm_sq)
    if loss_value.shape != grad_norm_sq.shape:
        raise ValueError(f"loss_value and grad_norm_sq must have the same shape; got "
                         f"{loss_value.shape} and {grad_norm_sq.shape}")
    loss_star = check_real("loss_star", loss_star)
    return _pl_ratio_from_values_jit(loss_value, grad_norm_sq, loss_star)


def pl_ratio(apply_fn: ApplyFn | ArrayLike, params: PyTree, x: ArrayLike | None = None,
             y: ArrayLike | None = None, *, loss_star: ArrayLike = 0.0) -> jax.Array:
    r"""The empirical PL ratio :math:`\rho(\theta) = \|\nabla L(\theta)\|^2 / (2(L(\theta) - L^*))`.

    Two forms:

    * ``pl_ratio(apply_fn, params, x, y, loss_star=0.0)`` evaluates the model
      and returns a 0-d ``jax.Array``, differentiable in ``params``;
    * ``pl_ratio(loss, grad_norm_sq, loss_star=0.0)`` takes recorded values
      (scalars or arrays, e.g. ``Trajectory.loss`` and
      ``Trajectory.grad_norm_sq``) and is :func:`pl_ratio_from_values` with
      :math:`L^* \ge 0`.

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)`` (or the loss values).
      params: the parameters :math:`\theta` (or :math:`\|\nabla L\|^2` values).
      x: inputs ``(n, ...)``.
      y: targets ``(n,)``.
      loss_star: the optimal value :math:`L^* \ge 0` (0 for an interpolating task).

    Raises:
      ValueError: eagerly, for a scalar ratio that is undefined (:math:`L - L^*` not
        above round-off, or a non-finite value). Under ``jit``/``vmap``/``grad`` an
        undefined ratio is ``NaN``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from lplr_core.diagnostics import pl_ratio
      >>> apply_fn = lambda w, x: x @ w          # linear: Theta = X X^T
      >>> x = jnp.array([[1.0, 0.0], [0.0, 2.0]])
      >>> w, y = jnp.array([1.0, 1.0]), jnp.array([0.0, 0.0])
      >>> print(f"{pl_ratio(apply_fn, w, x, y):.3f}")   # u = (1, 2): (1 + 16) / 5
      3.400
      >>> print(f"{pl_ratio(2.5, 17.0):.3f}")           # from recorded values
      3.400
    """
    if not callable(apply_fn):
        if x is not None or y is not None:
            raise TypeError("pl_ratio takes either (apply_fn, params, x, y) or "
                            f"(loss, grad_norm_sq); got a non-callable first argument "
                            f"{describe(apply_fn)} together with x and y")
        loss_values = _check_loss_values("loss (the first argument)", apply_fn)
        grad_values = _check_loss_values("grad_norm_sq (the second argument)", params)
        if loss_values.shape != grad_values.shape:
            raise ValueError(f"loss and grad_norm_sq must have the same shape; got "
                             f"{loss_values.shape} and {grad_values.shape}")
        # the squared loss is >= 0, so is its minimum (pl_ratio_from_values allows any L*)
        loss_star = check_real("loss_star", loss_star, minimum=0.0)
        values = _pl_ratio_from_values_jit(loss_values, grad_values, loss_star)
        if values.ndim == 0 and _concrete_nan(values):
            _raise_undefined(loss_values, grad_values, loss_star)
        return values
    if x is None or y is None:
        raise TypeError("pl_ratio(apply_fn, params, x, y) needs x and y")
    params, x, y = check_model_data(apply_fn, params, x, y)
    loss_star = check_real("loss_star", loss_star, minimum=0.0)
    rho = _pl_ratio_jit(apply_fn, params, x, y, loss_star)
    if _concrete_nan(rho):
        _raise_undefined(*_loss_and_grad_norm_sq(apply_fn, params, x, y), loss_star)
    return rho


def _raise_undefined(value: jax.Array, gsq: jax.Array, loss_star: float) -> None:
    value_f, gsq_f = float(value), float(gsq)
    if not (math.isfinite(value_f) and math.isfinite(gsq_f)):
        raise ValueError(f"loss and grad_norm_sq must be finite; got {value_f} and {gsq_f}")
    floor = float(_losses.pl_gap_floor(value, loss_star))
    raise ValueError(f"loss_star must be below the loss L = {value_f:.17g} by more than "
                     f"round-off ({PL_GAP_ULPS:g} ulps of max(L, L*), i.e. > {floor:.3g}) "
                     f"for the PL ratio to be defined; got loss_star={loss_star!r}")


def rayleigh_quotient(kernel: ArrayLike, vector: ArrayLike) -> jax.Array:
    r""":math:`u^\top \Theta u / \|u\|^2`: the PL ratio at :math:`L^* = 0` with :math:`u` the residual.

    Raises:
      ValueError: a non-square ``kernel``, a ``vector`` of another length, or (when
        concrete) a zero ``vector`` (``NaN`` under a transformation).
    """
    kernel = check_kernel("kernel", kernel)
    vector = check_array("vector", vector, ndim=1)
    if vector.shape[0] != kernel.shape[0]:
        raise ValueError(f"vector must have length {kernel.shape[0]} to match kernel; got "
                         f"{vector.shape[0]}")
    value = _rayleigh_quotient_jit(kernel, vector)
    if _concrete_nan(value):  # the inputs are finite: only a zero vector gives NaN
        raise ValueError("vector must be non-zero for a Rayleigh quotient")
    return value


@jax.jit
def _lower_envelope(values: jax.Array) -> jax.Array:
    tail = jnp.where(jnp.isnan(values), jnp.inf, values)
    env = jax.lax.cummin(tail)
    return jnp.where(jnp.isinf(env) & (env > 0), jnp.nan, env)


def lower_envelope(values: ArrayLike, start: int = 0) -> jax.Array:
    r"""Running minimum :math:`\min_{t_0 \le s \le t} \rho_s` for :math:`t \ge t_0 = ` ``start``.

    ``NaN`` entries (undefined ratios) are skipped; the envelope is ``NaN``
    only before the first defined value. ``start`` is static (it fixes the shape).

    Args:
      values: a 1-D array (e.g. ``Trajectory.pl_ratio``).
      start: index :math:`t_0` where the stable regime begins.
    Returns:
      A ``jax.Array`` of length ``len(values) - start``.
    """
    values = check_array("values", values, ndim=1, finite=False)
    start = check_int("start", start, minimum=0, maximum=max(0, values.shape[0] - 1))
    return _lower_envelope(values[start:])


def parameter_drift(params: PyTree, params0: PyTree, *, relative: bool = False) -> jax.Array:
    r"""Parameter drift :math:`\|\theta - \theta_0\|_2`, or :math:`\|\theta - \theta_0\|_2 / \|\theta_0\|_2`.

    Args:
      params: the parameters :math:`\theta` (a pytree).
      params0: the reference :math:`\theta_0`, the same structure and shapes.
      relative: divide by :math:`\|\theta_0\|_2` (static).

    Returns:
      A 0-d ``jax.Array``.

    Raises:
      ValueError: different structures or shapes; with ``relative=True``, a zero
        ``params0`` (when concrete; ``inf``/``NaN`` under a transformation).
    """
    params = check_params("params", params)
    params0 = check_params("params0", params0)
    check_same_structure("params", params, "params0", params0)
    relative = check_bool("relative", relative)
    drift = tm.norm(tm.sub(params, params0))
    if relative:
        if _violated(lambda p: tm.norm(p) > 0, params0):
            raise ValueError("params0 must be non-zero for the relative drift")
        return drift / tm.norm(params0)
    return drift


def operator_norm(matrix: ArrayLike) -> jax.Array:
    """Spectral norm (largest singular value); for a symmetric matrix, the largest absolute eigenvalue."""
    matrix = check_array("matrix", matrix, ndim=2)
    return _op_norm(matrix)


def _spectral_norm(matrix: jax.Array) -> jax.Array:
    return jnp.linalg.norm(matrix, ord=2)


def _symmetric_op_norm(matrix: jax.Array) -> jax.Array:
    return jnp.max(jnp.abs(jnp.linalg.eigvalsh(0.5 * (matrix + matrix.T))))


@jax.jit
def _op_norm(matrix: jax.Array) -> jax.Array:
    """The spectral norm; by the symmetric eigenvalues when ``matrix`` is symmetric."""
    if matrix.shape[0] != matrix.shape[1]:
        return _spectral_norm(matrix)
    symmetric = jnp.allclose(0.5 * (matrix + matrix.T), matrix, rtol=1e-6, atol=0.0)
    return jax.lax.cond(symmetric, _symmetric_op_norm, _spectral_norm, matrix)


def kernel_drift(kernel: ArrayLike, kernel0: ArrayLike) -> jax.Array:
    r"""Kernel drift :math:`\|\Theta - \Theta_0\|_{op}`."""
    kernel = check_array("kernel", kernel, ndim=2)
    kernel0 = check_array("kernel0", kernel0, ndim=2)
    if kernel.shape != kernel0.shape:
        raise ValueError(f"kernel and kernel0 must have the same shape; got "
                         f"{tuple(kernel.shape)} and {tuple(kernel0.shape)}")
    return _op_norm(kernel - kernel0)


def lipschitz_along_path(kernel_drifts: ArrayLike, param_drifts: ArrayLike) -> jax.Array:
    r"""Path estimate :math:`\hat L_\Theta = \max_t \|\Theta_t - \Theta_0\|_{op} / \|\theta_t - \theta_0\|`.

    Entries with zero parameter drift (e.g. :math:`t = 0`) or undefined values
    are skipped. Raises (when concrete; ``NaN`` under a transformation) if no entry
    is usable.
    """
    kd = check_array("kernel_drifts", kernel_drifts, ndim=1, finite=False)
    pd = check_array("param_drifts", param_drifts, ndim=1, finite=False)
    if kd.shape != pd.shape:
        raise ValueError(f"kernel_drifts and param_drifts must have the same length; got "
                         f"{kd.shape[0]} and {pd.shape[0]}")
    value = _path_lipschitz(kd, pd)
    if _concrete_nan(value):
        raise ValueError("param_drifts must contain at least one finite positive drift")
    return value


@jax.jit
def _path_lipschitz(kd: jax.Array, pd: jax.Array) -> jax.Array:
    ok = jnp.isfinite(kd) & jnp.isfinite(pd) & (pd > 0)
    ratios = jnp.where(ok, kd / jnp.where(ok, pd, 1.0), -jnp.inf)
    return jnp.where(jnp.any(ok), jnp.max(ratios), jnp.nan)


class LipschitzEstimate(NamedTuple):
    r"""Estimates of :math:`L_\Theta` in a ball of radius ``radius`` around :math:`\theta_0`."""
    value: float          # the best (largest) estimate found
    sampled: float        # max over random directions
    ascent: float         # after projected gradient ascent (== sampled if no ascent)
    radius: float
    lambda0: float        # lambda_min(Theta(theta_0)), computed on the way


def _check_ball_args(radius, n_directions, steps, lr, key, *, prefix):
    radius = check_real("radius", radius, minimum=0.0, strict_min=True)
    n_directions = check_int("n_directions", n_directions, minimum=1)
    steps = check_int(f"{prefix}_steps", steps, minimum=0)
    lr = check_real(f"{prefix}_lr", lr, minimum=0.0, strict_min=True)
    key = check_key("key", key)
    return radius, n_directions, steps, lr, key


def _kernel_change_impl(apply_fn, method, delta, params0, x, kernel0):
    """||Theta(theta_0 + delta) - Theta_0||_op (largest absolute eigenvalue)."""
    diff = kernel_fn(apply_fn, method)(tm.add(params0, delta), x) - kernel0
    return jnp.max(jnp.abs(jnp.linalg.eigvalsh(0.5 * (diff + diff.T))))


# Compiled once per (apply_fn, method) and argument shapes, not once per call.
_kernel_change = jax.jit(_kernel_change_impl, static_argnums=(0, 1))
_kernel_change_grad = jax.jit(jax.grad(_kernel_change_impl, argnums=2), static_argnums=(0, 1))


def _rho_impl(apply_fn, delta, params0, x, y, loss_star):
    """The PL ratio at theta_0 + delta (inf where undefined, so a minimum search skips it)."""
    rho = _losses.pl_ratio(apply_fn, tm.add(params0, delta), x, y, loss_star)
    return jnp.where(jnp.isnan(rho), jnp.inf, rho)


_rho = jax.jit(_rho_impl, static_argnums=(0,))
_rho_grad = jax.jit(jax.grad(_rho_impl, argnums=1), static_argnums=(0,))


def lipschitz_in_ball(apply_fn: ApplyFn, params0: PyTree, x: ArrayLike, radius: float, *,
                      n_directions: int = 8, ascent_steps: int = 0, ascent_lr: float = 0.1,
                      key: ArrayLike | int = 0, method: NTKMethod = "auto") -> LipschitzEstimate:
    r"""Estimate :math:`L_\Theta = \sup_{\|\delta\| \le r} \|\Theta(\theta_0+\delta) - \Theta(\theta_0)\|_{op} / \|\delta\|`.

    Two lower estimates of the supremum (each a valid witness of kernel change):

    * **sampled directions**: ``n_directions`` perturbations drawn uniformly on
      the sphere of radius ``r``;
    * **ascent**: from the best sampled perturbation, ``ascent_steps`` steps of
      projected gradient ascent on :math:`\|\Theta(\theta_0+\delta) -
      \Theta_0\|_{op}` over the sphere, with normalized steps of length
      ``ascent_lr * r``.

    Cost: ``n_directions + 2 * ascent_steps`` kernel evaluations (each step
    differentiates through the kernel). A host-side search (a Python loop over compiled
    kernels); its fields are Python floats.

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)``.
      params0: the centre :math:`\theta_0` (a pytree).
      x: inputs ``(n, ...)``.
      radius: :math:`r > 0`.
      n_directions: random directions on the sphere of radius ``r``.
      ascent_steps: projected-ascent steps (0: sampling only).
      ascent_lr: step length as a fraction of ``radius``.
      key: a ``jax.random`` key or a non-negative int seed.
      method: the NTK method (see :func:`lplr_core.ntk.kernel_fn`).

    Returns:
      A :class:`LipschitzEstimate`; ``value`` is the larger of the two.
    """
    params0 = check_params("params0", params0)
    x = check_array("x", x, ndim=(2, 3, 4))
    check_apply_fn("apply_fn", apply_fn, params0, x)
    radius, n_directions, ascent_steps, ascent_lr, key = _check_ball_args(
        radius, n_directions, ascent_steps, ascent_lr, key, prefix="ascent")
    method = check_choice("method", method, NTK_METHODS)
    kernel0 = kernel_fn(apply_fn, method)(params0, x)
    lambda0 = float(jnp.linalg.eigvalsh(kernel0)[0])

    def change(delta):
        return float(_kernel_change(apply_fn, method, delta, params0, x, kernel0))

    keys = jax.random.split(key, n_directions)
    best_delta, sampled = None, -math.inf
    for k in keys:
        delta = tm.random_direction(k, params0, radius)
        value = change(delta)
        if value > sampled:
            best_delta, sampled = delta, value
    sampled /= radius
    ascent = sampled
    if ascent_steps:
        delta = best_delta
        for _ in range(ascent_steps):
            g = _kernel_change_grad(apply_fn, method, delta, params0, x, kernel0)
            gnorm = tm.norm(g)
            if not bool(jnp.isfinite(gnorm)) or float(gnorm) == 0:
                break
            delta = tm.project_to_sphere(tm.axpy(ascent_lr * radius / gnorm, g, delta), radius)
            ascent = max(ascent, change(delta) / radius)
    return LipschitzEstimate(max(sampled, ascent), sampled, ascent, radius, lambda0)


def _sample_in_ball(value_fn: Callable[[PyTree], float], key: jax.Array, params0: PyTree,
                    radius: float, n_directions: int) -> tuple[PyTree, float]:
    """The smallest ``value_fn(delta)`` over ``n_directions`` points uniform in the ball
    (radius ``r U^(1/p)``) and ``n_directions`` on its sphere: ``(delta, value)``."""
    p = tm.size(params0)
    best_delta, best = None, math.inf
    for i, k in enumerate(jax.random.split(key, 2 * n_directions)):
        kd, kr = jax.random.split(k)
        scale = 1.0 if i % 2 else float(jax.random.uniform(kr)) ** (1.0 / p)
        delta = tm.random_direction(kd, params0, radius * scale)
        value = value_fn(delta)
        if value < best:
            best_delta, best = delta, value
    return best_delta, best


def _descend_in_ball(value_fn: Callable[[PyTree], float], grad_fn: Callable[[PyTree], PyTree],
                     delta: PyTree, value: float, radius: float, steps: int,
                     lr: float) -> tuple[PyTree, float]:
    """``steps`` normalized gradient steps of length ``lr * radius`` from ``delta``, projected
    back onto the ball; stops at a zero or non-finite gradient. The best ``(delta, value)``."""
    best_delta, best = delta, value
    for _ in range(steps):
        g = grad_fn(delta)
        gnorm = tm.norm(g)
        if not bool(jnp.isfinite(gnorm)) or float(gnorm) == 0:
            break
        delta = tm.axpy(-lr * radius / gnorm, g, delta)
        if float(tm.norm(delta)) > radius:
            delta = tm.project_to_sphere(delta, radius)
        value = value_fn(delta)
        if value < best:
            best_delta, best = delta, value
    return best_delta, best


class BallPLEstimate(NamedTuple):
    """Smallest PL ratio found in a ball, with the witness's distance."""
    value: float        # min over everything tried
    sampled: float      # min over random points
    descent: float      # after projected descent on rho
    radius: float


def min_pl_ratio_in_ball(apply_fn: ApplyFn, params0: PyTree, x: ArrayLike, y: ArrayLike,
                         radius: float, *, loss_star: float = 0.0, n_directions: int = 8,
                         descent_steps: int = 0, descent_lr: float = 0.1,
                         key: ArrayLike | int = 0) -> BallPLEstimate:
    r"""Search for the smallest PL ratio :math:`\rho(\theta)` over :math:`\|\theta - \theta_0\| \le r`.

    The measured counterpart of the certificate: by the book's derivation D1,
    :math:`\rho(\theta) \ge \lambda_{\min}(\Theta(\theta)) \ge \lambda_0 - L_\Theta r`
    on the ball when :math:`L_\Theta` bounds the kernel's Lipschitz constant.
    Random points are drawn uniformly in the ball (radius ``r U^{1/p}``) and on
    its sphere; ``descent_steps`` steps of projected gradient descent on
    :math:`\rho` then refine the worst point. Every value returned is attained
    at a point of the ball, so it is an upper estimate of the true minimum. A host-side
    search (a Python loop over compiled kernels: :func:`lplr_core.losses.pl_ratio`, with the
    package's one round-off rule; an undefined ratio counts as ``inf``).

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)``.
      params0: the centre :math:`\theta_0` (a pytree).
      x: inputs ``(n, ...)``.
      y: targets ``(n,)``.
      radius: :math:`r > 0`.
      loss_star: :math:`L^* \ge 0`.
      n_directions: random points drawn in the ball and on its sphere (each).
      descent_steps: projected-descent steps on :math:`\rho` (0: sampling only).
      descent_lr: step length as a fraction of ``radius``.
      key: a ``jax.random`` key or a non-negative int seed.

    Returns:
      A :class:`BallPLEstimate`.
    """
    params0, x, y = check_model_data(apply_fn, params0, x, y)
    loss_star = check_real("loss_star", loss_star, minimum=0.0)
    radius, n_directions, descent_steps, descent_lr, key = _check_ball_args(
        radius, n_directions, descent_steps, descent_lr, key, prefix="descent")

    star = jnp.asarray(loss_star, jnp.result_type(*jax.tree_util.tree_leaves(params0)))

    def rho(delta):
        return float(_rho(apply_fn, delta, params0, x, y, star))

    best_delta, sampled = _sample_in_ball(rho, key, params0, radius, n_directions)
    descent = sampled
    if descent_steps and math.isfinite(sampled):
        _, descent = _descend_in_ball(
            rho, lambda delta: _rho_grad(apply_fn, delta, params0, x, y, star),
            best_delta, sampled, radius, descent_steps, descent_lr)
    return BallPLEstimate(min(sampled, descent), sampled, descent, radius)


# --------------------------------------------------------------------- certificates

def certificate(lambda0: ArrayLike, lipschitz: ArrayLike, radius: ArrayLike) -> jax.Array:
    r"""The local PL constant :math:`\mu(r) = \lambda_0 - L_\Theta r` (the paper's constant).

    ``radius`` may be a scalar or a 1-D array of radii (a certificate curve). The
    formula certifies only what its inputs do: with a *proved* upper bound on
    :math:`L_\Theta` (:func:`lplr_core.bounds.ntk_lipschitz_bound`) and a proved
    lower bound on :math:`\lambda_0` a positive value is a proof of the local PL
    inequality; with an *estimate* :math:`\hat L_\Theta` (path, sampled or
    ascent, which can only under-estimate the supremum) it is the estimate
    :math:`\hat\mu`, an upper estimate of :math:`\mu` that proves nothing. A
    non-positive value means that the condition fails at that radius.

    Args:
      lambda0: :math:`\lambda_0 = \lambda_{\min}(\Theta(\theta_0))`.
      lipschitz: :math:`L_\Theta \ge 0` (a proved bound, or an estimate).
      radius: :math:`r \ge 0`, a scalar or a 1-D array.

    Returns:
      A ``jax.Array`` of the shape of ``radius``; differentiable in every argument.

    Examples:
      >>> from lplr_core.diagnostics import certificate
      >>> print(f"{certificate(2.0, 4.0, 0.25):.3f}")       # 2 - 4 * 0.25
      1.000
      >>> [round(float(v), 3) for v in certificate(2.0, 4.0, [0.0, 0.5, 1.0])]
      [2.0, 0.0, -2.0]
    """
    lambda0 = check_real("lambda0", lambda0)
    lipschitz = check_real("lipschitz", lipschitz, minimum=0.0)
    if np.ndim(radius) == 0:
        r = jnp.asarray(check_real("radius", radius, minimum=0.0))
    else:
        r = check_array("radius", radius, ndim=1)
        if _violated(lambda v: jnp.all(v >= 0), r):
            raise ValueError(f"radius must be >= 0 everywhere; got min {float(np.min(np.asarray(r)))}")
    return lambda0 - lipschitz * r


def certified_radius(lambda0: ArrayLike, lipschitz: ArrayLike) -> jax.Array:
    r"""The largest radius with a positive :func:`certificate`, :math:`\lambda_0 / L_\Theta`.

    A certified radius only when ``lipschitz`` is a proved bound (see
    :func:`certificate`); with an estimate it is an estimated radius, an
    *upper* estimate of the true one. ``inf`` when :math:`L_\Theta = 0` and
    :math:`\lambda_0 > 0` (a linear model); ``0`` when :math:`\lambda_0 \le 0`.
    A 0-d ``jax.Array``.
    """
    lambda0 = jnp.asarray(check_real("lambda0", lambda0))
    lipschitz = jnp.asarray(check_real("lipschitz", lipschitz, minimum=0.0))
    safe = jnp.where(lipschitz > 0, lipschitz, 1.0)
    return jnp.where(lambda0 <= 0, jnp.zeros_like(lambda0),
                     jnp.where(lipschitz > 0, lambda0 / safe, jnp.inf))


@partial(jax.jit, static_argnames=("apply_fn", "iters"))
def _power_iteration(apply_fn, params, x, y, v0, iters):
    grad = jax.grad(_losses.loss, argnums=1)

    def hvp(v):
        return jax.jvp(lambda p: grad(apply_fn, p, x, y), (params,), (v,))[1]

    def body(_, state):
        v, _ = state
        hv = hvp(v)
        eig = tm.vdot(v, hv)
        norm = tm.norm(hv)
        v = jax.tree_util.tree_map(lambda a: a / jnp.where(norm > 0, norm, 1.0), hv)
        return v, eig

    v0 = tm.project_to_sphere(v0, 1.0)
    _, eig = jax.lax.fori_loop(0, iters, body, (v0, jnp.zeros((), tm.norm(v0).dtype)))
    return eig


def smoothness(apply_fn: ApplyFn, params: PyTree, x: ArrayLike, y: ArrayLike, *,
               iters: int = 100, key: ArrayLike | int = 0) -> float:
    r"""Smoothness :math:`\beta`: the top eigenvalue of :math:`\nabla^2 L(\theta)` (sharpness).

    Power iteration with Hessian-vector products (forward-over-reverse), so the
    Hessian is never formed: each iteration costs about two gradient
    evaluations. Power iteration finds the eigenvalue of largest magnitude;
    for the squared loss near a minimum it is the largest positive one. Host-side: one
    compiled power iteration, returned as a Python float.

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)``.
      params: the parameters :math:`\theta` (a pytree).
      x: inputs ``(n, ...)``.
      y: targets ``(n,)``.
      iters: number of power iterations (>= 1).
      key: random start vector (a ``jax.random`` key or an int seed).
    """
    params, x, y = check_model_data(apply_fn, params, x, y)
    iters = check_int("iters", iters, minimum=1)
    key = check_key("key", key)
    v0 = tm.random_direction(key, params, 1.0)
    return float(_power_iteration(apply_fn, params, x, y, v0, iters))


def step_size_thresholds(beta: ArrayLike) -> tuple[float, float]:
    r"""The step sizes :math:`1/\beta` (descent-lemma rate) and :math:`2/\beta` (stability edge).

    Host-side: two Python floats.
    """
    beta = check_real("beta", beta, minimum=0.0, strict_min=True)
    return 1.0 / beta, 2.0 / beta


class RateFit(NamedTuple):
    r"""Least-squares fit of :math:`\log(L_t - L^*) \approx a + s\,t` over a window."""
    slope: float      # s, per step
    intercept: float  # a
    rate: float       # q = exp(s): the fitted contraction factor per step
    r2: float         # coefficient of determination of the fit
    start: int        # first step of the window
    stop: int         # last step of the window


def _check_steps(steps: Any, n: int) -> np.ndarray:
    """The step index of each of ``n`` losses as float64 (default ``0..n-1``), strictly increasing."""
    if steps is None:
        return np.arange(n, dtype=float)
    steps = np.asarray(check_array("steps", steps, ndim=1), float)
    if steps.shape[0] != n:
        raise ValueError(f"steps must have one entry per loss ({n}); got {steps.shape[0]}")
    repeat = np.nonzero(np.diff(steps) <= 0)[0]
    if repeat.size:
        i = int(repeat[0])
        raise ValueError(f"steps must be strictly increasing (one step per loss); got "
                         f"steps[{i}] = {steps[i]:g} then steps[{i + 1}] = {steps[i + 1]:g}")
    return steps


def fit_linear_rate(losses: ArrayLike, *, loss_star: ArrayLike = 0.0,
                    steps: ArrayLike | None = None, start: int = 0,
                    stop: int | None = None) -> RateFit:
    r"""Fit a linear (geometric) rate to a loss curve on the window ``[start, stop)``.

    The slope of :math:`\log(L_t - L^*)` against :math:`t` gives
    :math:`\hat q = e^{\text{slope}}`, to compare with :math:`1 - \eta\mu`. A host-side
    fit (NumPy float64); its fields are Python numbers.

    Args:
      losses: 1-D array of losses (e.g. ``Trajectory.loss``).
      loss_star: :math:`L^*`.
      steps: step index of each loss (default ``0, 1, 2, ...``; use
        ``Trajectory.steps`` when recording every few steps).
      start, stop: index window into ``losses`` (``stop=None`` is the end).
    Raises:
      ValueError: if the window has fewer than 2 points or a suboptimality
        :math:`L_t - L^* \le 0` or non-finite inside it.

    Examples:
      >>> from lplr_core.diagnostics import fit_linear_rate
      >>> fit = fit_linear_rate([8.0, 4.0, 2.0, 1.0])      # halves every step
      >>> round(fit.rate, 3), round(fit.r2, 3)
      (0.5, 1.0)
    """
    losses = np.asarray(check_array("losses", losses, ndim=1, finite=False), float)
    loss_star = check_real("loss_star", loss_star)
    n = losses.shape[0]
    if n < 2:
        raise ValueError(f"losses must hold at least 2 values to fit a rate; got {n}")
    steps = _check_steps(steps, n)
    start = check_int("start", start, minimum=0, maximum=max(0, n - 2))
    stop = n if stop is None else check_int("stop", stop, minimum=start + 2, maximum=n)
    gap = losses[start:stop] - loss_star
    if not np.all(np.isfinite(gap)) or np.any(gap <= 0):
        raise ValueError(
            f"losses - loss_star must be finite and positive on the window [{start}, {stop}); "
            f"min is {np.nanmin(gap) if np.isfinite(gap).any() else 'nan'} (loss_star={loss_star}). "
            "Choose a window before divergence or convergence to round-off, or lower loss_star.")
    return _rate_fit(steps[start:stop], gap)


def _line_fit(u: np.ndarray, z: np.ndarray) -> tuple[float, float, float]:
    """Least-squares line ``z ~ intercept + slope * u``: (slope, intercept, R^2)."""
    slope, intercept = np.polyfit(u, z, 1)
    fitted = intercept + slope * u
    ss_res = float(np.sum((z - fitted) ** 2))
    ss_tot = float(np.sum((z - z.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return float(slope), float(intercept), r2


def _rate_fit(t: np.ndarray, gap: np.ndarray) -> RateFit:
    """The RateFit of log(gap) against the steps t (valid, positive gaps: no checks)."""
    slope, intercept, r2 = _line_fit(t, np.log(gap))
    return RateFit(slope, intercept, float(np.exp(slope)), r2, int(t[0]), int(t[-1]))


def pl_bound(loss0: ArrayLike, step_size: ArrayLike, mu: ArrayLike, steps: ArrayLike | int, *,
             loss_star: ArrayLike = 0.0, beta: ArrayLike | None = None) -> np.ndarray:
    r"""The linear-rate bound on the suboptimality :math:`L(\theta_t) - L^*`.

    :math:`(1 - \eta\mu)^t (L(\theta_0) - L^*)` (book derivation D2, for
    :math:`\eta \le 1/\beta`); with ``beta`` given, the sharper factor
    :math:`1 - 2\mu\eta(1 - \beta\eta/2)` valid for :math:`\eta < 2/\beta`. Host-side:
    a NumPy float64 array.

    Args:
      loss0: :math:`L(\theta_0)`.
      step_size: :math:`\eta > 0`.
      mu: the PL constant :math:`\mu > 0`.
      steps: an int ``T`` (returns ``t = 0..T``) or an array of step indices.
      loss_star: :math:`L^* \ge 0`, at most ``loss0``.
      beta: the smoothness :math:`\beta > 0` for the sharp factor (``None``: the simple one).
        The factors are :func:`lplr_core.rates.simple_rate_factor` and
        :func:`~lplr_core.rates.sharp_rate_factor` (their one home).
    Returns:
      The bound on :math:`L_t - L^*` at each step (clipped at 0 if the factor is
      negative, which happens only when :math:`\eta\mu > 1`).
    """
    loss0, loss_star = check_loss_pair(loss0, loss_star)
    step_size = check_real("step_size", step_size, minimum=0.0, strict_min=True)
    mu = check_real("mu", mu, minimum=0.0, strict_min=True)
    t = check_step_grid("steps", steps)
    if beta is None:
        factor = simple_rate_factor(step_size, mu)
    else:
        beta = check_real("beta", beta, minimum=0.0, strict_min=True)
        if step_size >= 2.0 / beta:
            raise ValueError(f"step_size must be < 2/beta = {2.0 / beta:.6g} for the bound with "
                             f"beta; got {step_size}")
        factor = sharp_rate_factor(step_size, mu, beta)
    factor = max(factor, 0.0)
    return factor ** t * (loss0 - loss_star)


def kernel_distance(kernel1: ArrayLike, kernel2: ArrayLike) -> jax.Array:
    r"""Kernel distance :math:`1 - \langle K_1, K_2 \rangle_F / (\|K_1\|_F \|K_2\|_F)` (Fort et al. 2020).

    0 for kernels equal up to a positive scale; at most 2. A 0-d ``jax.Array``.

    Raises:
      ValueError: different shapes, or (when concrete) a zero kernel.
    """
    k1 = check_array("kernel1", kernel1, ndim=2)
    k2 = check_array("kernel2", kernel2, ndim=2)
    if k1.shape != k2.shape:
        raise ValueError(f"kernel1 and kernel2 must have the same shape; got {tuple(k1.shape)} "
                         f"and {tuple(k2.shape)}")
    value = _kernel_distance(k1, k2)
    if _concrete_nan(value):  # finite inputs: only a zero kernel gives NaN
        raise ValueError("kernel1 and kernel2 must be non-zero")
    return value


@jax.jit
def _kernel_distance(k1: jax.Array, k2: jax.Array) -> jax.Array:
    return 1.0 - jnp.sum(k1 * k2) / (jnp.linalg.norm(k1) * jnp.linalg.norm(k2))


def kernel_target_alignment(kernel: ArrayLike, y: ArrayLike) -> jax.Array:
    r"""Kernel-target alignment :math:`y^\top K y / (\|K\|_F \|y\|^2)` (Cristianini et al. 2002).

    A 0-d ``jax.Array``.

    Raises:
      ValueError: a non-square ``kernel``, ``y`` of another length, or (when concrete) a
        zero ``kernel`` or ``y``.
    """
    kernel = check_kernel("kernel", kernel)
    y = check_targets("y", y, kernel.shape[0])
    value = _alignment(kernel, y)
    if _concrete_nan(value):  # finite inputs: only a zero kernel or y gives NaN
        raise ValueError("kernel and y must be non-zero")
    return value


@jax.jit
def _alignment(kernel: jax.Array, y: jax.Array) -> jax.Array:
    return y @ kernel @ y / (jnp.linalg.norm(kernel) * (y @ y))


# ------------------------------------------------- adversarial search for lambda_min in a ball

class BallEigenEstimate(NamedTuple):
    r"""Smallest :math:`\lambda_{\min}(\Theta(\theta))` found in a ball :math:`B(\theta_0, r)`."""
    value: float        # min over everything tried (attained at a point of the ball)
    sampled: float      # min over random points in the ball and on its sphere
    descent: float      # after projected gradient descent (== sampled if no descent)
    radius: float
    lambda0: float      # lambda_min(Theta(theta_0)), computed on the way
    distance: float     # ||delta|| of the point that attains `value`
    delta: Any          # the witness: lambda_min(Theta(theta_0 + delta)) == value


def _lambda_min_at_impl(apply_fn, method, delta, params0, x):
    """lambda_min(Theta(theta_0 + delta))."""
    kernel = kernel_fn(apply_fn, method)(tm.add(params0, delta), x)
    return jnp.linalg.eigvalsh(0.5 * (kernel + kernel.T))[0]


# Compiled once per (apply_fn, method) and argument shapes, not once per call.
_lambda_min_at = jax.jit(_lambda_min_at_impl, static_argnums=(0, 1))
_lambda_min_at_grad = jax.jit(jax.grad(_lambda_min_at_impl, argnums=2), static_argnums=(0, 1))


def min_lambda_min_in_ball(apply_fn: ApplyFn, params0: PyTree, x: ArrayLike, radius: float, *,
                           n_directions: int = 8, steps: int = 0, lr: float = 0.1,
                           key: ArrayLike | int = 0,
                           method: NTKMethod = "auto") -> BallEigenEstimate:
    r"""Adversarial search for :math:`\min_{\|\theta - \theta_0\| \le r} \lambda_{\min}(\Theta(\theta))`.

    The quantity that the book's derivation D1 bounds from below: on the ball,
    :math:`\lambda_{\min}(\Theta(\theta)) \ge \lambda_0 - L_\Theta r` when
    :math:`L_\Theta` bounds :math:`\|\Theta(\theta) - \Theta(\theta_0)\|_{op} /
    \|\theta - \theta_0\|` there. This function looks for the worst point:

    * **sampled**: ``n_directions`` points uniform in the ball (radius
      :math:`r U^{1/p}`) and ``n_directions`` on its sphere;
    * **descent**: from the worst of them, ``steps`` steps of projected
      gradient descent on :math:`\lambda_{\min}(\Theta(\theta_0 + \delta))`,
      each of length ``lr * r`` along the normalized negative gradient,
      projected back onto the ball. The gradient of a simple eigenvalue is
      :math:`v^\top (\partial\Theta) v` with :math:`v` its eigenvector; at a
      repeated eigenvalue it may not exist, and the search stops there.

    Every value returned is attained at a point of the ball, so it is an
    **upper** estimate of the true minimum (never below it): an estimate, not a
    certificate. Comparing it with :math:`\lambda_0 - \hat L_\Theta r` shows how
    much of Weyl's worst case a search can realize.

    Cost: ``2 * n_directions + 2 * steps`` kernel evaluations (each descent
    step differentiates through the kernel and its eigendecomposition). A host-side
    search (a Python loop over compiled kernels).

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)``.
      params0: the centre :math:`\theta_0` (a pytree).
      x: inputs ``(n, ...)``.
      radius: :math:`r > 0`.
      n_directions: random points drawn in the ball and on its sphere (each).
      steps: projected-descent steps (0: sampling only).
      lr: step length as a fraction of ``radius``.
      key: a ``jax.random`` key or a non-negative int seed.
      method: the NTK method (see :func:`lplr_core.ntk.kernel_fn`).

    Returns:
      A :class:`BallEigenEstimate`; its ``delta`` is the witness, a
      perturbation with :math:`\|\delta\| \le r` at which
      :math:`\lambda_{\min}(\Theta(\theta_0 + \delta))` equals ``value``.

    Raises:
      ValueError, TypeError: an argument is invalid (the message names it).
    """
    params0 = check_params("params0", params0)
    x = check_array("x", x, ndim=(2, 3, 4))
    check_apply_fn("apply_fn", apply_fn, params0, x)
    radius = check_real("radius", radius, minimum=0.0, strict_min=True)
    n_directions = check_int("n_directions", n_directions, minimum=1)
    steps = check_int("steps", steps, minimum=0)
    lr = check_real("lr", lr, minimum=0.0, strict_min=True)
    key = check_key("key", key)
    method = check_choice("method", method, NTK_METHODS)
    zero = jax.tree_util.tree_map(jnp.zeros_like, params0)

    def lam(delta):
        return float(_lambda_min_at(apply_fn, method, delta, params0, x))

    lambda0 = lam(zero)
    best_delta, sampled = _sample_in_ball(lam, key, params0, radius, n_directions)
    descent, best = sampled, best_delta
    if steps:
        best, descent = _descend_in_ball(
            lam, lambda delta: _lambda_min_at_grad(apply_fn, method, delta, params0, x),
            best_delta, sampled, radius, steps, lr)
    value = min(sampled, descent)
    return BallEigenEstimate(value, sampled, descent, radius, lambda0, float(tm.norm(best)),
                             best)


# --------------------------------------------------------------------- power-law fits

class PowerLawFit(NamedTuple):
    r"""Least-squares fit of :math:`\log y \approx \log a + k \log x`, i.e. :math:`y \approx a x^k`."""
    exponent: float   # k
    prefactor: float  # a
    r2: float         # coefficient of determination in log-log coordinates
    n: int            # number of points fitted


def fit_power_law(x: ArrayLike, y: ArrayLike) -> PowerLawFit:
    r"""Fit :math:`y = a\,x^k` by least squares on :math:`(\log x, \log y)`.

    The slope of a log-log plot, as a number: e.g. how :math:`\hat L_\Theta`
    scales with the width :math:`m`, or an estimate with the radius :math:`r`.
    With two points it is the exact exponent through them. A host-side fit (NumPy).

    Args:
      x: 1-D array of positive, finite abscissae, not all equal.
      y: 1-D array of positive, finite values, same length as ``x``.

    Returns:
      A :class:`PowerLawFit` (``exponent``, ``prefactor``, ``r2``, ``n``).

    Raises:
      ValueError: fewer than 2 points, different lengths, a non-positive or
        non-finite entry, or all ``x`` equal.
    """
    xs = np.asarray(check_array("x", x, ndim=1, finite=False), float)
    ys = np.asarray(check_array("y", y, ndim=1, finite=False), float)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must have the same length; got {xs.shape[0]} and {ys.shape[0]}")
    if xs.shape[0] < 2:
        raise ValueError(f"x and y must hold at least 2 points to fit a power law; got "
                         f"{xs.shape[0]}")
    for name, v in (("x", xs), ("y", ys)):
        bad = ~(np.isfinite(v) & (v > 0))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name} must be positive and finite everywhere (a power law is "
                             f"fitted in log-log coordinates); got {name}[{i}] = {v[i]}")
    lx, ly = np.log(xs), np.log(ys)
    if np.ptp(lx) == 0:
        raise ValueError(f"x must contain at least two different values; got all equal to {xs[0]}")
    slope, intercept, r2 = _line_fit(lx, ly)
    return PowerLawFit(slope, float(np.exp(intercept)), r2, int(xs.shape[0]))


# ------------------------------------------------------------------- the linear phase

class LinearOnset(NamedTuple):
    r"""Where a loss curve's linear (geometric) phase starts, by :func:`linear_onset`'s rule."""
    step: int        # t_0, the step of the first record of the linear phase
    index: int       # the index of that record
    fit: RateFit     # the straight-line fit of log(L_t - L*) on the records [index, stop)
    decades: float   # how far the fitted line falls on the window, in decades


def linear_onset(losses: ArrayLike, *, steps: ArrayLike | None = None,
                 loss_star: ArrayLike = 0.0,
                 min_r2: float = 0.99, min_decades: float = 1.0,
                 stop: int | None = None) -> LinearOnset | None:
    r"""The start :math:`t_0` of the linear phase of a loss curve, by a stated rule.

    **The rule** (this book's): :math:`t_0` is the first record :math:`i` such that
    the least-squares line through :math:`(t_j, \log(L_j - L^*))`, :math:`i \le j <`
    ``stop``, has

    * :math:`R^2 \ge` ``min_r2`` (the log-suboptimality is straight from
      :math:`t_0` to the end of the window),
    * a negative slope, and
    * a fall of at least ``min_decades`` decades over the window,
      :math:`-\text{slope}\,(t_{\rm stop-1} - t_0) \ge` ``min_decades`` :math:`\ln 10`.

    Before :math:`t_0` the curve is the transient; from :math:`t_0` on it is
    indistinguishable from :math:`(L_0 - L^*)\,\hat q^{\,t}` at this tolerance.
    The second and third conditions keep a short, flat tail from passing: any
    smooth curve is straight on a short enough window. What the rule cannot do
    is tell a geometric decay from a fast power law over a window where both
    are straight to within ``min_r2`` (for instance :math:`t^{-5}` on
    :math:`[457, 1000]` passes with the defaults); a :math:`t^{-1}` or
    :math:`t^{-2}` curve on :math:`[1, 1000]` does not.

    The search is :math:`O(n)` and host-side (NumPy): running sums give every window's fit at once;
    the returned ``fit`` is recomputed on the chosen window as
    :func:`~lplr_core.diagnostics.fit_linear_rate` would.

    Args:
      losses: 1-D array of losses (e.g. ``Trajectory.loss``).
      steps: the step of each loss (default ``0, 1, 2, ...``; use
        ``Trajectory.steps`` when records are every few steps).
      loss_star: :math:`L^*`.
      min_r2: the straightness required, in ``[0, 1]``.
      min_decades: the fall required over the linear phase, ``>= 0``.
      stop: end of the window (exclusive record index); default: every record.
        End it before the loss reaches round-off, where the curve flattens.

    Returns:
      A :class:`LinearOnset`, or ``None`` when no record satisfies the rule.

    Raises:
      ValueError: an argument is invalid, or :math:`L - L^*` is not finite and
        positive on the window.
    """
    losses = np.asarray(check_array("losses", losses, ndim=1, finite=False), float)
    n = losses.shape[0]
    if n < 3:
        raise ValueError(f"losses must hold at least 3 values; got {n}")
    t = _check_steps(steps, n)
    loss_star = check_real("loss_star", loss_star)
    min_r2 = check_real("min_r2", min_r2, minimum=0.0, maximum=1.0)
    min_decades = check_real("min_decades", min_decades, minimum=0.0)
    stop = n if stop is None else check_int("stop", stop, minimum=3, maximum=n)
    gap = losses[:stop] - loss_star
    if not np.all(np.isfinite(gap)) or np.any(gap <= 0):
        bad = int(np.flatnonzero(~(np.isfinite(gap) & (gap > 0)))[0])
        raise ValueError(f"losses - loss_star must be finite and positive on the window "
                         f"[0, {stop}); record {bad} is {gap[bad]!r}. Pass stop= to end the "
                         "window before divergence or round-off, or lower loss_star.")
    t, z = t[:stop], np.log(gap)
    # Centre for numerical stability; suffix sums give every window [i, stop) at once.
    tc, zc = t - t.mean(), z - z.mean()

    def suffix(v):
        return np.cumsum(v[::-1])[::-1]

    k = suffix(np.ones(stop))
    st, sz = suffix(tc), suffix(zc)
    stt, szz, stz = suffix(tc * tc), suffix(zc * zc), suffix(tc * zc)
    vt = stt - st * st / k
    vz = szz - sz * sz / k
    ctz = stz - st * sz / k
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = ctz / vt
        r2 = np.where(vz > 0, ctz * ctz / (vt * vz), 1.0)
    fall = -slope * (t[-1] - t) / math.log(10.0)
    ok = (k >= 3) & (vt > 0) & (slope < 0) & (r2 >= min_r2) & (fall >= min_decades)
    hits = np.flatnonzero(ok)
    if hits.size == 0:
        return None
    i = int(hits[0])
    fit = _rate_fit(t[i:], gap[i:])
    return LinearOnset(int(round(t[i])), i, fit, float(-fit.slope * (t[-1] - t[i])
                                                       / math.log(10.0)))
