r"""The squared loss and its relatives: the one home of :math:`L`, :math:`u`, :math:`\nabla L` and the PL ratio.

Conventions (the package's): the residual :math:`u = f(X;\theta) - y` (shape ``(n,)``), the
loss :math:`L(\theta) = \tfrac12 \|u\|^2` (a **sum**, not a mean), its gradient
:math:`\nabla L = J^\top u`, and the empirical PL ratio

.. math:: \rho(\theta) = \frac{\|\nabla L(\theta)\|^2}{2 (L(\theta) - L^*)}.

Every function here is a **pure kernel**: it validates nothing, never syncs to the host, and is
safe under ``jax.jit``, ``jax.vmap`` and ``jax.grad``; ``apply_fn`` is the only static
argument. The validated public forms are :func:`lplr_core.diagnostics.loss`,
:func:`~lplr_core.diagnostics.pl_ratio`, ... (re-exported at the top level); composites call
the kernels below directly, so nested calls do not re-validate.

**The round-off rule of the PL ratio** (one rule for the whole package): the ratio is undefined
(``NaN``) where a value is not finite or where the gap :math:`L - L^*` is not above round-off,
i.e. :math:`L - L^* \le` ``PL_GAP_ULPS`` :math:`\cdot\,\varepsilon\,\max(|L|, |L^*|)` with
:math:`\varepsilon` the machine epsilon of the loss's floating dtype. Dividing by such a gap
gives an arbitrary, huge ratio. With :math:`L^* = 0` the floor is below :math:`L` itself, so
only :math:`L = 0` is excluded.

Examples:
    >>> import jax.numpy as jnp
    >>> from lplr_core import losses
    >>> apply_fn = lambda w, x: x @ w                      # a linear model
    >>> w, x, y = jnp.array([1.0, 0.0]), jnp.eye(2), jnp.array([0.0, 0.0])
    >>> print(f"{losses.loss(apply_fn, w, x, y):.3f}")      # 1/2 * ||(1, 0)||^2
    0.500
    >>> print(f"{losses.pl_ratio(apply_fn, w, x, y):.3f}")  # Theta = I: rho = 1
    1.000
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from lplr_core import tree_math as tm
from lplr_core.tree_math import PyTree

__all__ = [
    "PL_GAP_ULPS",
    "residual",
    "loss",
    "loss_and_grad",
    "loss_and_grad_norm_sq",
    "gradient_norm_sq",
    "pl_gap_floor",
    "pl_ratio_from_values",
    "pl_ratio",
    "rayleigh_quotient",
]

#: The PL ratio is undefined where :math:`L - L^*` is at most this many ulps of
#: :math:`\max(|L|, |L^*|)` (see the module docstring).
PL_GAP_ULPS = 8.0

ApplyFn = Callable[[PyTree, jax.Array], jax.Array]


def residual(apply_fn: ApplyFn, params: PyTree, x: ArrayLike, y: ArrayLike) -> jax.Array:
    r"""The residual :math:`u = f(X;\theta) - y`, shape ``(n,)``.

    Args:
      apply_fn: the model, ``apply_fn(params, x) -> (n,)``.
      params: the parameters :math:`\theta` (a pytree).
      x: inputs ``(n, ...)``.
      y: targets ``(n,)``.
    """
    return apply_fn(params, x) - y


def loss(apply_fn: ApplyFn, params: PyTree, x: ArrayLike, y: ArrayLike) -> jax.Array:
    r"""The squared loss :math:`L(\theta) = \tfrac12 \|f(X;\theta) - y\|^2` (a sum), a 0-d array.

    Args:
      apply_fn: the model, ``apply_fn(params, x) -> (n,)``.
      params: the parameters :math:`\theta` (a pytree).
      x: inputs ``(n, ...)``.
      y: targets ``(n,)``.
    """
    u = residual(apply_fn, params, x, y)
    return 0.5 * jnp.sum(u * u)


def loss_and_grad(apply_fn: ApplyFn, params: PyTree, x: ArrayLike,
                  y: ArrayLike) -> tuple[jax.Array, PyTree]:
    r""":math:`(L(\theta), \nabla L(\theta))`, the gradient a pytree like ``params``.

    Args:
      apply_fn: the model, ``apply_fn(params, x) -> (n,)``.
      params: the parameters :math:`\theta` (a pytree).
      x: inputs ``(n, ...)``.
      y: targets ``(n,)``.
    """
    return jax.value_and_grad(loss, argnums=1)(apply_fn, params, x, y)


def loss_and_grad_norm_sq(apply_fn: ApplyFn, params: PyTree, x: ArrayLike,
                          y: ArrayLike) -> tuple[jax.Array, jax.Array]:
    r""":math:`(L(\theta), \|\nabla L(\theta)\|^2)` from one forward and one backward pass.

    Args:
      apply_fn: the model, ``apply_fn(params, x) -> (n,)``.
      params: the parameters :math:`\theta` (a pytree).
      x: inputs ``(n, ...)``.
      y: targets ``(n,)``.
    """
    value, grads = loss_and_grad(apply_fn, params, x, y)
    return value, tm.norm_sq(grads)


def gradient_norm_sq(apply_fn: ApplyFn, params: PyTree, x: ArrayLike, y: ArrayLike) -> jax.Array:
    r""":math:`\|\nabla L(\theta)\|^2 = u^\top \Theta u`, a 0-d array.

    Args:
      apply_fn: the model, ``apply_fn(params, x) -> (n,)``.
      params: the parameters :math:`\theta` (a pytree).
      x: inputs ``(n, ...)``.
      y: targets ``(n,)``.
    """
    return loss_and_grad_norm_sq(apply_fn, params, x, y)[1]


def _xp(*values: Any):
    """jax.numpy if any value is a JAX array (or tracer), else NumPy (host float64)."""
    return jnp if any(isinstance(v, jax.Array) for v in values) else np


def _float_dtype(xp, value: Any):
    dtype = xp.result_type(value)
    if not xp.issubdtype(dtype, xp.floating):
        dtype = xp.result_type(float)
    return dtype


def pl_gap_floor(loss_value: ArrayLike, loss_star: ArrayLike = 0.0) -> Any:
    r"""The round-off floor of the gap: ``PL_GAP_ULPS`` :math:`\cdot\,\varepsilon\max(|L|, |L^*|)`.

    :math:`\varepsilon` is the epsilon of ``loss_value``'s floating dtype (float64 for Python
    numbers and NumPy integers on the host path). Same array kind as :func:`pl_ratio_from_values`.
    """
    xp = _xp(loss_value, loss_star)
    dtype = _float_dtype(xp, loss_value)
    eps = xp.finfo(dtype).eps
    value = xp.asarray(loss_value, dtype)
    return PL_GAP_ULPS * eps * xp.maximum(xp.abs(value), xp.abs(xp.asarray(loss_star, dtype)))


def pl_ratio_from_values(loss_value: ArrayLike, grad_norm_sq: ArrayLike,
                         loss_star: ArrayLike = 0.0) -> Any:
    r""":math:`\rho = \|\nabla L\|^2 / (2 (L - L^*))` elementwise, ``NaN`` where undefined.

    **The** implementation of the PL ratio (every other form calls it). Undefined entries: a
    non-finite value, or :math:`L - L^* \le` :func:`pl_gap_floor` (the module's round-off
    rule). ``loss_star`` may be any real number here (general objectives can have a negative
    minimum). The gradient is safe: undefined entries get a zero gradient, not ``NaN``.

    An array-generic kernel: JAX inputs (or tracers) give a ``jax.Array`` in the loss's dtype
    (safe under ``jit``, ``vmap``, ``grad``); only NumPy/Python inputs give a float64 NumPy
    array, so host-side analyses keep double precision when JAX runs in 32 bits.

    Args:
      loss_value: :math:`L` (a scalar or an array).
      grad_norm_sq: :math:`\|\nabla L\|^2`, same shape as ``loss_value``.
      loss_star: :math:`L^*` (a scalar).
    """
    xp = _xp(loss_value, grad_norm_sq, loss_star)
    dtype = _float_dtype(xp, loss_value)
    value = xp.asarray(loss_value, dtype)
    gsq = xp.asarray(grad_norm_sq, dtype)
    star = xp.asarray(loss_star, dtype)
    gap = value - star
    with np.errstate(invalid="ignore", over="ignore"):
        floor = pl_gap_floor(value, star)
        ok = xp.isfinite(gap) & xp.isfinite(gsq) & (gap > floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.where(ok, gsq / (2.0 * xp.where(ok, gap, 1.0)), xp.nan)


def pl_ratio(apply_fn: ApplyFn, params: PyTree, x: ArrayLike, y: ArrayLike,
             loss_star: ArrayLike = 0.0) -> jax.Array:
    r"""The empirical PL ratio :math:`\rho(\theta)` of the model, a 0-d array (``NaN`` if undefined).

    Args:
      apply_fn: the model, ``apply_fn(params, x) -> (n,)``.
      params: the parameters :math:`\theta` (a pytree).
      x: inputs ``(n, ...)``.
      y: targets ``(n,)``.
      loss_star: :math:`L^*`.
    """
    value, gsq = loss_and_grad_norm_sq(apply_fn, params, x, y)
    return pl_ratio_from_values(value, gsq, loss_star)


def rayleigh_quotient(kernel: ArrayLike, vector: ArrayLike) -> jax.Array:
    r""":math:`v^\top K v / \|v\|^2` (``NaN`` for :math:`v = 0`).

    With :math:`K = \Theta` and :math:`v = u` the residual it is the PL ratio at :math:`L^* = 0`.

    Args:
      kernel: a square matrix ``(n, n)``.
      vector: a vector ``(n,)``.
    """
    kernel, vector = jnp.asarray(kernel), jnp.asarray(vector)
    norm_sq = jnp.vdot(vector, vector)
    safe = jnp.where(norm_sq > 0, norm_sq, 1.0)
    return jnp.where(norm_sq > 0, vector @ kernel @ vector / safe, jnp.nan)
