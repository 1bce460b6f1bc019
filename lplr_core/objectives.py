r"""Plain objectives on :math:`\mathbb R^d`: PL examples and gradient descent on them.

The book's first chapter studies the Polyak-Lojasiewicz (PL) inequality on its
own, away from networks:

.. math:: \tfrac12 \|\nabla f(x)\|^2 \ge \mu\,(f(x) - f^*) \quad \text{for all } x,

and the linear rate it gives gradient descent on a :math:`\beta`-smooth
:math:`f` (the book's derivation D2, after Polyak 1963 and Karimi, Nutini &
Schmidt 2016): for :math:`0 < \eta < 2/\beta`,

.. math:: f(x_{t+1}) - f^* \le q(\eta)\,(f(x_t) - f^*), \qquad
          q(\eta) = 1 - 2\mu\eta\,(1 - \beta\eta/2),

and :math:`q(\eta) \le 1 - \eta\mu` when :math:`\eta \le 1/\beta`.

This module holds

* example objectives with known constants: :func:`quadratic_plus_sine`
  (:math:`x^2 + a \sin^2 x`, non-convex yet PL), :func:`least_squares` and
  :func:`rank_deficient_least_squares` (PL with :math:`\mu` the smallest
  *nonzero* eigenvalue of :math:`A^\top A`, not strongly convex), each an
  :class:`Objective`;
* :func:`gradient_descent_fn`, gradient descent on any scalar function of a
  vector, compiled as one ``lax.scan``, that reports divergence instead of
  failing;
* :func:`pl_constant_on_grid`, the smallest PL ratio over a set of points;
* :func:`rate_factor` (the factor :math:`q(\eta)` above, from :mod:`lplr_core.rates`),
  :func:`step_contractions` (the measured per-step factors) and
  :func:`quadratic_asymptotic_rate` (what gradient descent actually does on a quadratic).

PL ratios are computed with :func:`lplr_core.diagnostics.pl_ratio_from_values`
and rates fitted with :func:`lplr_core.diagnostics.fit_linear_rate`; this module
does not duplicate them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from functools import partial
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
    describe,
)
from lplr_core.diagnostics import RateFit, fit_linear_rate, pl_ratio_from_values
from lplr_core.engine import descend, gd_step
from lplr_core.rates import rate_factor  # the one home of the PL rate factor; re-exported

__all__ = [
    "Objective",
    "quadratic_plus_sine",
    "least_squares",
    "rank_deficient_least_squares",
    "GDPath",
    "gradient_descent_fn",
    "GridPL",
    "pl_constant_on_grid",
    "rate_factor",
    "step_contractions",
    "fit_rate_above_floor",
    "quadratic_asymptotic_rate",
]

# The largest amplitude a for which x = 0 is the only stationary point of x^2 + a sin^2 x:
# 2x + a sin 2x = 0 has a second root once the line t meets -a sin t tangentially, at
# tan t = t (t = 4.4934...), i.e. a = -t / sin t = 4.6033...
_MAX_AMPLITUDE = 4.6


class Objective(NamedTuple):
    r"""A scalar objective :math:`f: \mathbb R^d \to \mathbb R` with what is known about it.

    Attributes:
      name: a short readable name (for legends).
      value: ``value(x) -> scalar``, a pure JAX function (differentiate it with
        ``jax.grad``).
      loss_star: the minimum value :math:`f^*`.
      beta: the smoothness constant :math:`\beta = \sup_x \lambda_{\max}(\nabla^2 f(x))`.
      mu: the PL constant where it is known in closed form, else ``None``
        (estimate it with :func:`pl_constant_on_grid`).
      dim: the dimension :math:`d` of ``x`` (``0`` for a scalar argument).
      minimizer: one minimizer (the minimum-norm one for least squares).
      hessian_eigenvalues: the eigenvalues of the (constant) Hessian of a
        quadratic, ascending; ``None`` otherwise.
      data: ``(A, b)`` for least squares; ``None`` otherwise.
    """

    name: str
    value: Callable
    loss_star: float
    beta: float
    mu: float | None
    dim: int
    minimizer: np.ndarray
    hessian_eigenvalues: np.ndarray | None = None
    data: tuple | None = None


# ------------------------------------------------------------------------ objectives

def _quadratic_plus_sine_value(x, amplitude):
    return jnp.sum(x * x + amplitude * jnp.sin(x) ** 2)


@functools.lru_cache(maxsize=32)
def _quadratic_plus_sine_fn(amplitude: float) -> Callable:
    # One function object per amplitude, so that compiled programs are reused.
    return partial(_quadratic_plus_sine_value, amplitude=amplitude)


def quadratic_plus_sine(amplitude: float = 3.0, dim: int = 0) -> Objective:
    r"""The objective :math:`f(x) = \sum_i x_i^2 + a \sin^2 x_i`: PL, and non-convex for :math:`a > 1`.

    :math:`f''(x) = 2 + 2a\cos 2x` per coordinate, so :math:`f` is
    :math:`\beta`-smooth with :math:`\beta = 2 + 2a` and non-convex where
    :math:`\cos 2x < -1/a`. For :math:`0 \le a < 4.6` its only stationary point
    is :math:`x = 0` (the next root of :math:`2x + a \sin 2x` appears at
    :math:`a \approx 4.603`), :math:`f^* = 0`, and :math:`f` is PL; the constant
    has no closed form (estimate it with :func:`pl_constant_on_grid`). With
    :math:`a = 3` this is the example of a non-convex PL function used by
    Karimi, Nutini & Schmidt (2016). A sum over coordinates has the same PL
    constant as one coordinate, because the ratio of sums is at least the
    smallest ratio.

    Args:
      amplitude: :math:`a`, in ``[0, 4.6]``.
      dim: ``0`` for a scalar argument ``x`` (shape ``()``), else the length
        :math:`d \ge 1` of the vector ``x``.
    Returns:
      An :class:`Objective` with ``mu=None``.
    """
    amplitude = check_real("amplitude", amplitude, minimum=0.0, maximum=_MAX_AMPLITUDE)
    dim = check_int("dim", dim, minimum=0)
    shape = () if dim == 0 else (dim,)
    return Objective(
        name=f"x² + {amplitude:g} sin² x", value=_quadratic_plus_sine_fn(amplitude),
        loss_star=0.0, beta=2.0 + 2.0 * amplitude, mu=None, dim=dim,
        minimizer=np.zeros(shape))


def least_squares(matrix: Any, target: Any, *, rank_tol: float | None = None) -> Objective:
    r"""The least-squares objective :math:`f(w) = \tfrac12 \|A w - b\|^2`.

    Its Hessian is :math:`A^\top A`, so :math:`\beta = \lambda_{\max}(A^\top A)`.
    It is PL with :math:`\mu = \lambda_{\min}^{+}(A^\top A)`, the smallest
    **nonzero** eigenvalue, whatever :math:`A`'s rank: with :math:`w^*` a
    minimizer, :math:`\nabla f(w) = A^\top A (w - w^*)` and :math:`f(w) - f^* =
    \tfrac12 \|A(w - w^*)\|^2`, and :math:`\|A^\top v\|^2 \ge \lambda_{\min}^+
    \|v\|^2` for every :math:`v` in the range of :math:`A`. When :math:`A` has
    rank below :math:`d` the minimizers form an affine subspace, so :math:`f` is
    not strongly convex, yet it is PL.

    Args:
      matrix: :math:`A`, shape ``(n, d)``, not zero.
      target: :math:`b`, shape ``(n,)``.
      rank_tol: eigenvalues of :math:`A^\top A` at most this are treated as
        zero (default ``max(n, d) * eps * lambda_max``, NumPy's rank rule).
    Returns:
      An :class:`Objective` with ``mu`` the smallest nonzero eigenvalue,
      ``minimizer`` the minimum-norm solution, ``hessian_eigenvalues`` and
      ``data=(A, b)`` as NumPy arrays.
    """
    a = np.asarray(check_array("matrix", matrix, ndim=2), dtype=float)
    b = np.asarray(check_array("target", target, ndim=1), dtype=float)
    if b.shape[0] != a.shape[0]:
        raise ValueError(f"target must have one entry per row of matrix ({a.shape[0]}); got "
                         f"{b.shape[0]}")
    eig = np.linalg.eigvalsh(a.T @ a)
    top = float(eig[-1])
    if not top > 0:
        raise ValueError("matrix must not be zero: its least-squares objective is constant")
    if rank_tol is None:
        rank_tol = max(a.shape) * np.finfo(float).eps * top
    else:
        rank_tol = check_real("rank_tol", rank_tol, minimum=0.0)
    nonzero = eig[eig > rank_tol]
    w_star = np.linalg.pinv(a) @ b
    residual = a @ w_star - b
    loss_star = 0.5 * float(residual @ residual)
    a_j, b_j = jnp.asarray(a), jnp.asarray(b)

    def value(w):
        u = a_j @ w - b_j
        return 0.5 * jnp.sum(u * u)

    return Objective(
        name=f"least squares, rank {nonzero.size} of {a.shape[1]}", value=value,
        loss_star=loss_star, beta=top, mu=float(nonzero[0]), dim=a.shape[1],
        minimizer=w_star, hessian_eigenvalues=eig, data=(a, b))


def rank_deficient_least_squares(n: int, dim: int, eigenvalues: Any, *, seed: int = 0,
                                 residual_scale: float = 0.0) -> Objective:
    r"""A least-squares objective whose :math:`A^\top A` has prescribed nonzero eigenvalues.

    :math:`A = U \operatorname{diag}(\sqrt{\lambda}) V^\top` with :math:`U`
    (``n x r``) and :math:`V` (``dim x r``) random with orthonormal columns, so
    :math:`A^\top A` has the eigenvalues ``eigenvalues`` (``r`` of them, all
    positive) and ``dim - r`` zeros: :math:`\mu = \min\lambda`,
    :math:`\beta = \max\lambda`. The target is :math:`b = A w_0 + s\,e` with
    :math:`w_0`, :math:`e` standard normal and :math:`e` projected off the range
    of :math:`A`, so :math:`f^* = \tfrac12 s^2 \|e\|^2` (``residual_scale`` is
    :math:`s`).

    Args:
      n: number of rows, ``>= 1``.
      dim: number of unknowns :math:`d`, ``>= 2``.
      eigenvalues: the ``r`` nonzero eigenvalues, positive, with
        ``1 <= r < dim`` and ``r <= n`` (rank-deficient by construction).
      seed: NumPy seed.
      residual_scale: :math:`s \ge 0`; ``0`` makes the system consistent
        (:math:`f^* = 0`); needs ``r < n`` to have any effect.
    Returns:
      :func:`least_squares` of the matrix and target built here.
    """
    n = check_int("n", n, minimum=1)
    dim = check_int("dim", dim, minimum=2)
    lam = np.asarray(check_array("eigenvalues", eigenvalues, ndim=1), dtype=float)
    r = lam.size
    if r >= dim or r > n:
        raise ValueError(f"eigenvalues must hold r values with 1 <= r < dim={dim} and r <= n={n} "
                         f"(a rank-deficient matrix); got r={r}")
    if not np.all(lam > 0):
        raise ValueError(f"eigenvalues must all be > 0; got min {lam.min()}")
    seed = check_int("seed", seed, minimum=0)
    residual_scale = check_real("residual_scale", residual_scale, minimum=0.0)
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((n, r)))
    v, _ = np.linalg.qr(rng.standard_normal((dim, r)))
    a = u @ np.diag(np.sqrt(lam)) @ v.T
    e = rng.standard_normal(n)
    e -= u @ (u.T @ e)
    b = a @ rng.standard_normal(dim) + residual_scale * e
    return least_squares(a, b)


# ------------------------------------------------------------------- gradient descent

@dataclass(frozen=True)
class GDPath:
    r"""The record of gradient descent :math:`x_{t+1} = x_t - \eta \nabla f(x_t)`.

    Attributes:
      values: :math:`f(x_t)` for ``t = 0 .. T`` (cut at divergence).
      grad_norm_sq: :math:`\|\nabla f(x_t)\|^2`, same length.
      iterates: :math:`x_t` stacked, shape ``(len(values),) + x0.shape``, or
        ``None`` unless ``record_iterates=True``.
      final: the last kept iterate.
      diverged_at: ``None``, or the first step ``t`` at which :math:`f(x_t)` or
        its gradient is not finite or :math:`f(x_t) - f^*` exceeds the
        divergence threshold; records stop before it.
      step_size: :math:`\eta`.
      loss_star: the :math:`f^*` used for the threshold and :meth:`pl_ratio`.
    """

    values: np.ndarray
    grad_norm_sq: np.ndarray
    iterates: np.ndarray | None
    final: np.ndarray
    diverged_at: int | None
    step_size: float
    loss_star: float

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    def suboptimality(self) -> np.ndarray:
        r""":math:`f(x_t) - f^*`."""
        return self.values - self.loss_star

    def pl_ratio(self) -> np.ndarray:
        r"""The PL ratio :math:`\|\nabla f(x_t)\|^2 / (2(f(x_t) - f^*))` at each iterate."""
        return pl_ratio_from_values(self.values, self.grad_norm_sq, self.loss_star)


@partial(jax.jit, static_argnames=("fn", "steps", "record_iterates"))
def _gd_program(fn, x0, step_size, loss_star, threshold, steps, record_iterates):
    value_and_grad = jax.value_and_grad(fn)

    def body(carry, t):
        x, diverged_at = carry
        value, grad = value_and_grad(x)
        grad_sq = jnp.sum(grad * grad)
        bad = ~(jnp.isfinite(value) & jnp.isfinite(grad_sq)) | (value - loss_star > threshold)
        diverged_at = jnp.where((diverged_at < 0) & bad, t, diverged_at)
        alive = diverged_at < 0
        x_next = jnp.where(alive, gd_step(x, grad, step_size), x)
        out = (value, grad_sq, x) if record_iterates else (value, grad_sq)
        return (x_next, diverged_at), out

    init = (x0, jnp.asarray(-1, jnp.int32))
    (_, diverged_at), records = jax.lax.scan(body, init, jnp.arange(steps + 1, dtype=jnp.int32))
    return records, diverged_at


def _check_scalar_fn(name, fn, x0):
    try:
        out = jax.eval_shape(fn, x0)
    except Exception as exc:
        raise ValueError(f"{name}(x) failed for x of shape {tuple(x0.shape)}: "
                         f"{type(exc).__name__}: {exc}") from exc
    if getattr(out, "shape", None) != ():
        raise ValueError(f"{name}(x) must return a scalar; got "
                         f"{describe(out) if not hasattr(out, 'shape') else 'shape ' + str(tuple(out.shape))}")
    if not np.issubdtype(out.dtype, np.floating):
        raise TypeError(f"{name}(x) must return a float; got dtype {out.dtype}")


def gradient_descent_fn(fn: Callable, x0: Any, step_size: float, steps: int, *,
                        loss_star: float = 0.0, blowup: float = 1e10,
                        record_iterates: bool = False) -> GDPath:
    r"""Gradient descent :math:`x_{t+1} = x_t - \eta \nabla f(x_t)` on a scalar function.

    Compiled as one ``jax.jit``-ed ``lax.scan`` (cached per ``fn``, ``steps``
    and ``record_iterates``; a new step size does not recompile). Divergence is
    a result, not an error: at the first step ``t`` where :math:`f(x_t)` or its
    gradient is not finite, or :math:`f(x_t) - f^*` exceeds ``blowup`` times
    :math:`\max(f(x_0) - f^*, 1)`, the run stops, ``diverged_at = t`` and the
    records are cut before ``t``.

    Args:
      fn: ``fn(x) -> scalar``, differentiable by JAX (e.g. ``Objective.value``).
      x0: the starting point, a scalar or a 1-D array.
      step_size: :math:`\eta > 0`.
      steps: the number of steps :math:`T \ge 0` (records ``t = 0 .. T``).
      loss_star: :math:`f^*`, for the divergence test and the PL ratio.
      blowup: the growth factor of :math:`f - f^*` treated as divergence (> 1).
      record_iterates: also return every :math:`x_t` (memory ``T * d``).
    Returns:
      A :class:`GDPath`.
    Raises:
      ValueError: if ``fn(x0)`` is not a finite scalar, or an argument is out
        of range (the message names it).
    """
    fn = check_callable("fn", fn)
    x0 = check_array("x0", x0, ndim=(0, 1))
    if not jnp.issubdtype(x0.dtype, jnp.floating):  # pragma: no cover - check_array promotes
        x0 = x0.astype(float)
    step_size = check_real("step_size", step_size, minimum=0.0, strict_min=True)
    steps = check_int("steps", steps, minimum=0, maximum=10_000_000)
    loss_star = check_real("loss_star", loss_star)
    blowup = check_real("blowup", blowup, minimum=1.0, strict_min=True, allow_inf=True)
    record_iterates = check_bool("record_iterates", record_iterates)
    _check_scalar_fn("fn", fn, x0)
    value0 = float(fn(x0))
    if not math.isfinite(value0):
        raise ValueError(f"fn(x0) must be finite; got {value0}")
    if value0 < loss_star - 1e-9 * max(1.0, abs(loss_star)):
        raise ValueError(f"loss_star must be <= fn(x0) = {value0:.6g} (it is the minimum value); "
                         f"got {loss_star}")
    threshold = blowup * max(value0 - loss_star, 1.0)
    dtype = x0.dtype
    records, diverged_at = _gd_program(
        fn, x0, jnp.asarray(step_size, dtype), jnp.asarray(loss_star, dtype),
        jnp.asarray(threshold, dtype), steps, record_iterates)
    diverged_at = int(diverged_at)
    keep = steps + 1 if diverged_at < 0 else diverged_at
    values = np.asarray(records[0])[:keep]
    grad_sq = np.asarray(records[1])[:keep]
    if record_iterates:
        iterates = np.asarray(records[2])[:keep]
        final = iterates[-1]
    else:
        iterates = None
        # Re-run to the last kept iterate: cheap, and keeps the scan free of an extra carry.
        final = np.asarray(_final_iterate(fn, x0, jnp.asarray(step_size, dtype), keep - 1))
    return GDPath(values, grad_sq, iterates, final, None if diverged_at < 0 else diverged_at,
                  step_size, loss_star)


@partial(jax.jit, static_argnames=("fn",))
def _final_iterate(fn, x0, step_size, steps):
    grad = jax.grad(fn)
    return descend(lambda x, key: (grad(x), key), x0, step_size, steps)


# ---------------------------------------------------------------------- PL constant

class GridPL(NamedTuple):
    r"""The smallest PL ratio found over a set of points."""
    value: float          # min over the points of ||grad f||^2 / (2 (f - f*))
    argmin: np.ndarray    # the point where it is attained
    ratios: np.ndarray    # the ratio at every point (NaN where f - f* <= floor)


@partial(jax.jit, static_argnames=("fn",))
def _values_and_grad_norms(fn, points):
    def one(x):
        value, grad = jax.value_and_grad(fn)(x)
        return value, jnp.sum(grad * grad)
    return jax.vmap(one)(points)


def pl_constant_on_grid(fn: Callable, points: Any, *, loss_star: float = 0.0,
                        floor: float = 0.0) -> GridPL:
    r"""The smallest PL ratio :math:`\min_x \|\nabla f(x)\|^2 / (2(f(x) - f^*))` over given points.

    On a grid this is an **upper** estimate of the best PL constant on the
    gridded set: the true infimum can fall between grid points. Refine the
    grid near ``argmin`` to tighten it. Ratios come from
    :func:`lplr_core.diagnostics.pl_ratio_from_values`.

    Args:
      fn: ``fn(x) -> scalar``.
      points: shape ``(m,)`` for a scalar argument, or ``(m, d)`` for vectors.
      loss_star: :math:`f^*`; must not exceed :math:`f` at any point.
      floor: points with :math:`f(x) - f^* \le` ``floor`` are skipped (the
        ratio is 0/0 at a minimizer and round-off dominates next to it).
    Returns:
      A :class:`GridPL`.
    Raises:
      ValueError: if ``loss_star`` exceeds :math:`f` somewhere on the grid, or
        no point has :math:`f - f^* >` ``floor``.
    """
    fn = check_callable("fn", fn)
    pts = check_array("points", points, ndim=(1, 2))
    loss_star = check_real("loss_star", loss_star)
    floor = check_real("floor", floor, minimum=0.0)
    _check_scalar_fn("fn", fn, pts[0])
    values, grad_sq = (np.asarray(a, dtype=float) for a in _values_and_grad_norms(fn, pts))
    if not (np.all(np.isfinite(values)) and np.all(np.isfinite(grad_sq))):
        raise ValueError("fn must be finite at every point of points")
    lowest = float(values.min())
    if lowest < loss_star - 1e-12 * max(1.0, abs(loss_star)):
        raise ValueError(f"loss_star must be <= min f on the grid = {lowest:.6g}; got {loss_star}")
    ratios = pl_ratio_from_values(values, grad_sq, loss_star)
    ratios = np.where(values - loss_star > floor, ratios, np.nan)
    if np.all(np.isnan(ratios)):
        raise ValueError(f"points must include a point with f - loss_star > floor={floor}")
    i = int(np.nanargmin(ratios))
    return GridPL(float(ratios[i]), np.asarray(pts[i]), ratios)


# ----------------------------------------------------------------------------- rates

def step_contractions(values: Any, *, loss_star: float = 0.0,
                      floor: float | None = None) -> np.ndarray:
    r"""Measured per-step factors :math:`(f_{t+1} - f^*) / (f_t - f^*)`, ``t = 0 .. T-1``.

    The D2 argument bounds *each* of them by :func:`rate_factor`, so their
    maximum is the sharpest measured check of it. Entries where
    :math:`f_t - f^* \le` ``floor`` are ``NaN``: there the gap is round-off.
    A host-side analysis of a recorded run: NumPy float64 in and out (not traceable).

    Args:
      values: 1-D array :math:`f(x_0), \dots, f(x_T)` (at least 2 values).
      loss_star: :math:`f^*`.
      floor: default ``1e-10 * max(1, |loss_star|)``, where float64 round-off of
        :math:`f - f^*` is still far below the gap.
    Returns:
      An array of length ``T``.
    """
    v = np.asarray(check_array("values", values, ndim=1, finite=False), dtype=float)
    if v.size < 2:
        raise ValueError(f"values must hold at least 2 values; got {v.size}")
    loss_star = check_real("loss_star", loss_star)
    floor = (1e-10 * max(1.0, abs(loss_star)) if floor is None
             else check_real("floor", floor, minimum=0.0))
    gap = v - loss_star
    ok = np.isfinite(gap[:-1]) & np.isfinite(gap[1:]) & (gap[:-1] > floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, gap[1:] / np.where(ok, gap[:-1], 1.0), np.nan)


def fit_rate_above_floor(values: Any, *, loss_star: float = 0.0, floor: float | None = None,
                         start: int = 0) -> RateFit:
    r"""Fitted linear rate :math:`\hat q` on the run's prefix where :math:`f_t - f^*` is above round-off.

    :func:`lplr_core.diagnostics.fit_linear_rate` on records ``[start, stop)``,
    with ``stop`` the first record (after ``start``) where :math:`f_t - f^* \le`
    ``floor`` or is not finite: a run that converges to machine precision, or
    diverges, is fitted only where its gap is meaningful. A host-side fit (NumPy float64).

    Args:
      values: 1-D array :math:`f(x_0), \dots, f(x_T)`.
      loss_star: :math:`f^*`.
      floor: as in :func:`step_contractions`.
      start: first record of the window.
    Raises:
      ValueError: if fewer than 2 records lie above the floor from ``start``.
    """
    v = np.asarray(check_array("values", values, ndim=1, finite=False), dtype=float)
    loss_star = check_real("loss_star", loss_star)
    floor = (1e-10 * max(1.0, abs(loss_star)) if floor is None
             else check_real("floor", floor, minimum=0.0))
    start = check_int("start", start, minimum=0, maximum=max(0, v.size - 1))
    gap = v[start:] - loss_star
    below = np.nonzero(~(np.isfinite(gap) & (gap > floor)))[0]
    stop = start + (int(below[0]) if below.size else gap.size)
    if stop - start < 2:
        raise ValueError(f"values must stay above loss_star + floor (floor={floor:.3g}) for at "
                         f"least 2 records from start={start}; got {stop - start}")
    return fit_linear_rate(v, loss_star=loss_star, start=start, stop=stop)


def quadratic_asymptotic_rate(step_size: float, eigenvalues: Any, *,
                              rank_tol: float | None = None) -> float:
    r"""The asymptotic per-step factor of :math:`f - f^*` for gradient descent on a quadratic.

    On :math:`f(w) = \tfrac12\|Aw - b\|^2` the error along each eigenvector of
    :math:`A^\top A` with eigenvalue :math:`\lambda > 0` is multiplied by
    :math:`1 - \eta\lambda` per step, and :math:`f - f^*` by its square; the
    slowest direction wins: :math:`q_\infty = \max_{\lambda > 0} (1 - \eta\lambda)^2`
    (zero eigenvalues do not enter :math:`f - f^*`). It is below 1 iff
    :math:`\eta < 2/\lambda_{\max}`. Host-side (NumPy float64; the rank filter is
    data-dependent, so not traceable); returns a Python float.

    Args:
      step_size: :math:`\eta > 0`.
      eigenvalues: eigenvalues of the Hessian :math:`A^\top A` (non-negative).
      rank_tol: eigenvalues at most this count as zero (default
        ``len * eps * max``).
    """
    step_size = check_real("step_size", step_size, minimum=0.0, strict_min=True)
    lam = np.asarray(check_array("eigenvalues", eigenvalues, ndim=1), dtype=float)
    top = float(lam.max())
    if not top > 0:
        raise ValueError("eigenvalues must include a positive value")
    if np.any(lam < -1e-12 * top):
        raise ValueError(f"eigenvalues must be >= 0 (a Hessian A^T A); got min {lam.min()}")
    tol = lam.size * np.finfo(float).eps * top if rank_tol is None else check_real(
        "rank_tol", rank_tol, minimum=0.0)
    lam = lam[lam > tol]
    return float(np.max((1.0 - step_size * lam) ** 2))
