r"""Locally quasi-convex regions (LQCR) and the sublinear baseline.

The paper's abstract (arXiv:2507.21429) recalls that prior work keeps gradient
descent inside a *Locally Quasi-Convex Region* around initialization but gets
only a sublinear rate. Which paper defines the LQCR, and its exact definition,
are not known to this project. This module works with **a typical form, in this
book's notation** (the book's derivation D4): for a reference point
:math:`\theta^*` and a constant :math:`c > 0`,

.. math:: \langle \nabla L(\theta), \theta - \theta^* \rangle \;\ge\; c\,(L(\theta) - L^*)
          \qquad \text{for all } \theta \in R .

Conventions as in the package docstring: :math:`L(\theta) = \tfrac12\|u\|^2`,
:math:`u = f(X;\theta) - y`.

* :func:`quasi_convexity_ratio`: the empirical ratio
  :math:`q(\theta) = \langle \nabla L(\theta), \theta - \theta^*\rangle / (L(\theta) - L^*)`;
  the typical form holds at :math:`\theta` with constant :math:`c` iff :math:`q \ge c`.
* :func:`quasi_convexity_path`: gradient descent that records :math:`q` and the
  PL ratio at **every** iterate (one compiled ``lax.scan``), so that the path
  minimum is exactly the constant the sublinear proof uses.
* :func:`sublinear_bound`: the book's :math:`O(1/t)` bound under the typical
  form plus sufficient decrease.
* :func:`descent_ratio`: the measured sufficient-decrease factor
  :math:`(L_t - L_{t+1}) / (\eta \|\nabla L_t\|^2)`, the hypothesis that the
  descent lemma supplies.
* :func:`quartic_gd_bounds`: two-sided closed-form bounds for gradient descent on
  :math:`L(\theta) = \theta^4`, which satisfies the typical form with
  :math:`c = 4` but no PL inequality near its minimizer.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from lplr_core import tree_math
from lplr_core._validation import (
    check_array,
    check_int,
    check_loss_pair,
    check_model_data,
    check_params,
    check_real,
    check_same_structure,
    check_step_grid,
    is_concrete,
)
from lplr_core.engine import gd_step
from lplr_core.losses import loss, loss_and_grad
from lplr_core.rates import descent_factor
from lplr_core.tree_math import PyTree

__all__ = [
    "quasi_convexity_ratio",
    "quasi_convexity_ratio_kernel",
    "QuasiConvexityPath",
    "quasi_convexity_path",
    "sublinear_bound",
    "descent_ratio",
    "quartic_gd_bounds",
]


@partial(jax.jit, static_argnames=("apply_fn",))
def _ratio_values(apply_fn, params, x, y, params_star):
    """L(theta) and <grad L(theta), theta - theta*>."""
    value, grads = loss_and_grad(apply_fn, params, x, y)
    return value, tree_math.vdot(grads, tree_math.sub(params, params_star))


def _check_star(params, params_star):
    params_star = check_params("params_star", params_star)
    check_same_structure("params", params, "params_star", params_star)
    return params_star


def _check_stars(params, params_star):
    """One reference point, or a list/tuple of several: returns (stacked, several)."""
    same = jax.tree_util.tree_structure(params_star) == jax.tree_util.tree_structure(params)
    if not same and isinstance(params_star, (list, tuple)) and params_star and all(
            jax.tree_util.tree_structure(s) == jax.tree_util.tree_structure(params)
            for s in params_star):
        stars = [_check_star(params, s) for s in params_star]
        several = True
    else:
        stars = [_check_star(params, params_star)]
        several = False
    stacked = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *stars)
    return stacked, several


def quasi_convexity_ratio_kernel(apply_fn: Callable, params: PyTree, x: ArrayLike,
                                 y: ArrayLike, params_star: PyTree,
                                 loss_star: ArrayLike = 0.0) -> jax.Array:
    r"""The pure kernel of :func:`quasi_convexity_ratio`: no validation, ``NaN`` where
    :math:`L(\theta) \le L^*`; safe under ``jit``, ``vmap`` and ``grad``.

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)``.
      params: :math:`\theta`.
      x: inputs ``(n, ...)``.
      y: targets ``(n,)``.
      params_star: :math:`\theta^*` (same pytree structure).
      loss_star: :math:`L^*`.
    """
    value, inner = _ratio_values(apply_fn, params, x, y, params_star)
    gap = value - loss_star
    return jnp.where(gap > 0, inner / jnp.where(gap > 0, gap, 1.0), jnp.nan)


def quasi_convexity_ratio(apply_fn: Callable, params: PyTree, x: ArrayLike, y: ArrayLike,
                          params_star: PyTree, *, loss_star: ArrayLike = 0.0) -> jax.Array:
    r"""The empirical quasi-convexity ratio at :math:`\theta`.

    .. math:: q(\theta) = \frac{\langle \nabla L(\theta), \theta - \theta^* \rangle}
                               {L(\theta) - L^*} .

    The typical LQCR form (book derivation D4, in this book's notation) holds at
    :math:`\theta` with constant :math:`c` iff :math:`q(\theta) \ge c`. For a
    convex loss with :math:`L^* = L(\theta^*)`, :math:`q \ge 1`; for a quadratic
    :math:`\tfrac12(\theta-\theta^*)^\top A (\theta-\theta^*)`, :math:`q = 2`.

    Works eagerly and under ``jax.jit``, ``jax.vmap`` and ``jax.grad``: the inputs'
    types, shapes and structures are checked always, their values only when concrete;
    under a transformation an undefined ratio is ``NaN`` instead of an error.

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)``.
      params: the parameters :math:`\theta` (a pytree).
      x: inputs ``(n, ...)``.
      y: targets ``(n,)``.
      params_star: the reference point :math:`\theta^*` (same pytree structure).
      loss_star: the reference value :math:`L^* \ge 0`.

    Returns:
      :math:`q(\theta)`, a 0-d ``jax.Array``.

    Raises:
      ValueError: an argument is invalid, or (for concrete inputs) :math:`L(\theta) \le L^*`
        (the ratio is undefined there).

    Examples:
      >>> import jax.numpy as jnp
      >>> from lplr_core.lqcr import quasi_convexity_ratio
      >>> apply_fn = lambda w, x: x @ w             # a linear model: L is a quadratic
      >>> x, y = jnp.eye(2), jnp.zeros(2)
      >>> q = quasi_convexity_ratio(apply_fn, jnp.array([1.0, 2.0]), x, y, jnp.zeros(2))
      >>> round(float(q), 6)
      2.0
    """
    params, x, y = check_model_data(apply_fn, params, x, y)
    params_star = _check_star(params, params_star)
    loss_star = check_real("loss_star", loss_star, minimum=0.0)
    ratio = quasi_convexity_ratio_kernel(apply_fn, params, x, y, params_star, loss_star)
    if is_concrete(ratio) and bool(jnp.isnan(ratio)):
        value = float(loss(apply_fn, params, x, y))
        raise ValueError(f"loss_star must be below the current loss L(theta) = {value:.6g} for "
                         f"the quasi-convexity ratio to be defined; got loss_star={loss_star}")
    return ratio


class QuasiConvexityPath(NamedTuple):
    r"""Gradient descent recorded at every iterate :math:`t = 0, \dots, T`.

    ``loss``, ``grad_norm_sq``, ``inner`` (:math:`\langle\nabla L_t, \theta_t -
    \theta^*\rangle`), ``distance`` (:math:`\|\theta_t - \theta^*\|`), ``drift``
    (:math:`\|\theta_t - \theta_0\|`), ``ratio`` (the quasi-convexity ratio
    :math:`q_t`) and ``pl_ratio`` (:math:`\rho_t`) have one entry per iterate;
    ratios are ``NaN`` where :math:`L_t \le L^*`. With several reference points
    ``inner``, ``distance`` and ``ratio`` have shape ``(K, T + 1)``, one row per
    reference point. If a record (loss, gradient, drift, inner product or
    distance) stops being finite at step ``diverged_at``, every array is cut
    there, so no record holds an infinity.
    """
    steps: np.ndarray
    loss: np.ndarray
    grad_norm_sq: np.ndarray
    inner: np.ndarray
    distance: np.ndarray
    drift: np.ndarray
    ratio: np.ndarray
    pl_ratio: np.ndarray
    step_size: float
    loss_star: float
    diverged_at: int | None

    def suboptimality(self) -> np.ndarray:
        r""":math:`L_t - L^*`."""
        return self.loss - self.loss_star


@partial(jax.jit, static_argnames=("apply_fn", "steps"))
def _path_program(apply_fn, params0, x, y, stars, step_size, steps):
    grad_loss = loss_and_grad

    def evaluate(params):
        value, grads = grad_loss(apply_fn, params, x, y)

        def against(star):  # <grad L, theta - theta*> and ||theta - theta*|| for one theta*
            diff = tree_math.sub(params, star)
            return tree_math.vdot(grads, diff), tree_math.norm(diff)

        inner, dist = jax.vmap(against)(stars)
        drift = tree_math.norm(tree_math.sub(params, params0))
        return (value, jnp.square(tree_math.norm(grads)), drift, inner, dist), grads

    def body(params, _):
        rec, grads = evaluate(params)
        params = gd_step(params, grads, step_size)
        return params, rec

    params, recs = jax.lax.scan(body, params0, None, length=steps)
    last, _ = evaluate(params)
    return tuple(jnp.concatenate([r, l[None]]) for r, l in zip(recs, last))


def _ratios(loss, numerator, loss_star):
    gap = loss - loss_star
    ok = np.isfinite(gap) & np.isfinite(numerator) & (gap > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, numerator / np.where(ok, gap, 1.0), np.nan)


def quasi_convexity_path(apply_fn: Callable, params: Any, x: Any, y: Any, params_star: Any, *,
                         step_size: float, steps: int,
                         loss_star: float = 0.0) -> QuasiConvexityPath:
    r"""Run gradient descent and record both lenses at every iterate.

    The iterates are :math:`\theta_{t+1} = \theta_t - \eta\nabla L(\theta_t)`
    from :math:`\theta_0 =` ``params``, the same as
    :func:`~lplr_core.training.gradient_descent`. At every :math:`t` it records
    the quasi-convexity ratio :math:`q_t` (against ``params_star``) and the PL
    ratio :math:`\rho_t`, so that :math:`\min_{t<T} q_t` and
    :math:`\min_{t<T}\rho_t` are exactly the constants the sublinear and linear
    proofs use on this path. One compiled ``lax.scan``; memory is
    :math:`O(T)` scalars (the iterates themselves are not stored).

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)``.
      params: :math:`\theta_0`.
      x: inputs ``(n, ...)``.
      y: targets ``(n,)``.
      params_star: the reference point :math:`\theta^*`, or a list of several
        (to compare choices of :math:`\theta^*` on the same run at no extra
        gradient cost); then ``inner``, ``distance`` and ``ratio`` have shape
        ``(K, T + 1)``, one row per reference point.
      step_size: :math:`\eta > 0`.
      steps: :math:`T \ge 1`.
      loss_star: :math:`L^* \ge 0`.

    Returns:
      A :class:`QuasiConvexityPath`.
    """
    params, x, y = check_model_data(apply_fn, params, x, y)
    stars, several = _check_stars(params, params_star)
    step_size = check_real("step_size", step_size, minimum=0.0, strict_min=True)
    steps = check_int("steps", steps, minimum=1)
    loss_star = check_real("loss_star", loss_star, minimum=0.0)
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(params))
    recs = _path_program(apply_fn, params, x, y.astype(dtype), stars,
                         jnp.asarray(step_size, dtype), steps)
    loss, gsq, drift, inner, dist = (np.asarray(r, dtype=float) for r in recs)
    inner, dist = inner.T, dist.T          # (K, T + 1): one row per reference point
    t = np.arange(steps + 1)
    # the first iterate with any non-finite record (loss, gradient, drift, inner product or
    # distance): no inf is ever recorded
    bad = ~(np.isfinite(loss) & np.isfinite(gsq) & np.isfinite(drift)
            & np.isfinite(inner).all(axis=0) & np.isfinite(dist).all(axis=0))
    diverged_at = int(np.argmax(bad)) if bad.any() else None
    if diverged_at is not None:
        loss, gsq, drift, t = (a[:diverged_at] for a in (loss, gsq, drift, t))
        inner, dist = inner[:, :diverged_at], dist[:, :diverged_at]
    ratio = _ratios(loss[None, :], inner, loss_star)
    if not several:
        inner, dist, ratio = inner[0], dist[0], ratio[0]
    return QuasiConvexityPath(
        steps=t, loss=loss, grad_norm_sq=gsq, inner=inner, distance=dist, drift=drift,
        ratio=ratio, pl_ratio=_ratios(loss, 0.5 * gsq, loss_star),
        step_size=step_size, loss_star=loss_star, diverged_at=diverged_at)


def _descent_constant(step_size, beta):
    """The descent constant a: 1/2 for eta <= 1/beta (beta=None), else 1 - beta eta / 2."""
    if beta is None:
        return 0.5
    beta = check_real("beta", beta, minimum=0.0, strict_min=True)
    if step_size >= 2.0 / beta:
        raise ValueError(f"step_size must be < 2/beta = {2.0 / beta:.6g} for the bound with "
                         f"beta; got {step_size}")
    return descent_factor(step_size, beta)


def sublinear_bound(loss0: float, step_size: float, c: float, distance0: float, steps: Any, *,
                    loss_star: float = 0.0, beta: float | None = None) -> np.ndarray:
    r"""The book's sublinear bound under the typical LQCR form (derivation D4).

    If the iterates of gradient descent stay in a region :math:`R` where
    :math:`\langle\nabla L(\theta), \theta - \theta^*\rangle \ge c\,(L(\theta) - L^*)`
    with :math:`c > 0`, and every step decreases the loss by at least
    :math:`\eta a \|\nabla L(\theta_t)\|^2` (the descent lemma gives
    :math:`a = 1 - \beta\eta/2` for a :math:`\beta`-smooth loss and
    :math:`\eta < 2/\beta`, and :math:`a \ge 1/2` when :math:`\eta \le 1/\beta`), then

    .. math:: L(\theta_t) - L^* \le
              \frac{\|\theta_0 - \theta^*\|^2 + (\eta/a)\,(L(\theta_0) - L^*)}
                   {2\eta c\, t + \eta / a} .

    Args:
      loss0: :math:`L(\theta_0) \ge L^*`.
      step_size: :math:`\eta > 0`.
      c: the quasi-convexity constant :math:`c > 0`.
      distance0: :math:`\|\theta_0 - \theta^*\| \ge 0`.
      steps: an int ``T`` (returns ``t = 0..T``) or a 1-D array of step indices.
      loss_star: :math:`L^*`.
      beta: the smoothness :math:`\beta`; ``None`` means :math:`\eta \le 1/\beta`
        is assumed and :math:`a = 1/2` is used.

    Returns:
      The bound at each step, an array.
    """
    loss0, loss_star = check_loss_pair(loss0, loss_star)
    step_size = check_real("step_size", step_size, minimum=0.0, strict_min=True)
    c = check_real("c", c, minimum=0.0, strict_min=True)
    distance0 = check_real("distance0", distance0, minimum=0.0)
    t = check_step_grid("steps", steps)
    a = _descent_constant(step_size, beta)
    slack = step_size / a
    return (distance0 ** 2 + slack * (loss0 - loss_star)) / (2.0 * step_size * c * t + slack)


def descent_ratio(losses: ArrayLike, grad_norm_sq: ArrayLike, step_size: ArrayLike) -> Any:
    r"""Measured sufficient decrease :math:`a_t = (L_t - L_{t+1}) / (\eta \|\nabla L_t\|^2)`.

    For a :math:`\beta`-smooth loss the descent lemma guarantees
    :math:`a_t \ge 1 - \beta\eta/2`; both the sublinear and the linear bound use
    only :math:`\min_t a_t`. ``NaN`` where :math:`\|\nabla L_t\|^2 = 0`.

    Array-generic, as :func:`lplr_core.losses.pl_ratio_from_values`: JAX inputs (or
    tracers) give a ``jax.Array`` (safe under ``jit``, ``vmap`` and ``grad``); NumPy or
    Python inputs give a float64 NumPy array, so that the differences :math:`L_t - L_{t+1}`
    keep double precision when JAX runs in 32 bits. Shapes and types are checked always,
    ``step_size > 0`` only when concrete.

    Args:
      losses: :math:`L_0, \dots, L_T` at consecutive iterates (every step).
      grad_norm_sq: :math:`\|\nabla L_t\|^2`, same length.
      step_size: :math:`\eta > 0`.

    Returns:
      An array of length :math:`T`.

    Examples:
      >>> import numpy as np
      >>> from lplr_core.lqcr import descent_ratio
      >>> descent_ratio(np.array([4.0, 3.0, 2.5]), np.array([10.0, 5.0, 1.0]), 0.1).tolist()
      [1.0, 1.0]
    """
    use_jax = any(isinstance(v, jax.Array) for v in (losses, grad_norm_sq, step_size))
    if use_jax:
        losses = check_array("losses", losses, ndim=1)
        gsq = check_array("grad_norm_sq", grad_norm_sq, ndim=1)
        xp = jnp
    else:
        losses = np.asarray(check_array("losses", losses, ndim=1), float)
        gsq = np.asarray(check_array("grad_norm_sq", grad_norm_sq, ndim=1), float)
        xp = np
    if losses.shape != gsq.shape:
        raise ValueError(f"losses and grad_norm_sq must have the same length; got "
                         f"{losses.shape[0]} and {gsq.shape[0]}")
    if losses.shape[0] < 2:
        raise ValueError(f"losses must hold at least 2 values; got {losses.shape[0]}")
    step_size = check_real("step_size", step_size, minimum=0.0, strict_min=True)
    denom = step_size * gsq[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.where(denom > 0, (losses[:-1] - losses[1:]) / xp.where(denom > 0, denom, 1.0),
                        xp.nan)


def quartic_gd_bounds(theta0: float, step_size: float, steps: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""Closed-form bounds on gradient descent for :math:`L(\theta) = \theta^4` (book's derivation).

    :math:`L` satisfies the typical LQCR form with :math:`\theta^* = 0`,
    :math:`L^* = 0`, :math:`c = 4` everywhere, but its PL ratio
    :math:`\rho = 8\theta^2` vanishes at the minimizer. With
    :math:`12\eta\theta_0^2 \le 1` (that is :math:`\eta \le 1/\beta` for
    :math:`\beta = 12\theta_0^2`, the smoothness on :math:`[-|\theta_0|, |\theta_0|]`),

    .. math:: \bigl(\theta_0^{-2} + 15\eta t\bigr)^{-2} \;\le\; L(\theta_t)
              \;\le\; \bigl(\theta_0^{-2} + 8\eta t\bigr)^{-2},

    so :math:`L(\theta_t) = \Theta(1/t^2)`: sublinear, never geometric.

    Args:
      theta0: :math:`\theta_0 \ne 0`.
      step_size: :math:`\eta` with :math:`0 < \eta \le 1/(12\theta_0^2)`.
      steps: an int ``T`` (returns ``t = 0..T``) or a 1-D array of step indices.

    Returns:
      ``(lower, upper)``, arrays of the bounds at each step.
    """
    theta0 = check_real("theta0", theta0)
    if theta0 == 0:
        raise ValueError("theta0 must be non-zero (theta0 = 0 is the minimizer); got 0.0")
    step_size = check_real("step_size", step_size, minimum=0.0, strict_min=True)
    limit = 1.0 / (12.0 * theta0 ** 2)
    if step_size > limit:
        raise ValueError(f"step_size must be <= 1/(12 theta0^2) = {limit:.6g}; got {step_size}")
    t = check_step_grid("steps", steps)
    inv0 = 1.0 / theta0 ** 2
    return (inv0 + 15.0 * step_size * t) ** -2.0, (inv0 + 8.0 * step_size * t) ** -2.0

