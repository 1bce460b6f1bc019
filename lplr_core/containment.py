r"""When can containment be proved? Path-length bounds and the self-consistent radius.

The paper assumes that the gradient-descent iterates stay in the region where
its PL constant :math:`\mu = \lambda_0 - L_\Theta r(R)` holds. This module
implements the book's own derivation (D3) of when that hypothesis can instead
be *proved*, by the classical self-consistency argument (Du et al. 2019;
Liu, Zhu & Belkin 2022):

1. If :math:`L` is :math:`\beta`-smooth and satisfies the PL inequality with
   constant :math:`\mu > 0` on a ball around :math:`\theta_0`, and the iterates
   stay in it, the total length of the gradient-descent path is bounded by
   :math:`P(\mu)` (:func:`path_length_bound`).
2. On the ball of radius :math:`r` the certificate gives :math:`\mu(r) =
   \lambda_0 - L_\Theta r`. If :math:`P(\mu(r)) \le r`, the path cannot reach
   the sphere of radius :math:`r`, so containment holds and need not be
   assumed. The smallest such :math:`r` is the **self-consistent radius**
   :math:`r^*` (:func:`self_consistent_radius`).

Two path-length bounds (``form``), with :math:`\Delta_0 = L(\theta_0) - L^*`
and :math:`c = 1 - \beta\eta/2` (:func:`lplr_core.rates.descent_factor`):

* ``"sharp"`` (ours, a telescoping argument on :math:`\sqrt{L - L^*}`), for
  :math:`0 < \eta < 2/\beta`: :math:`P(\mu) = \sqrt{2\Delta_0/\mu}\,/\,c`; at
  :math:`\eta = 1/\beta`, :math:`2\sqrt{2\Delta_0/\mu}`. Self-consistency
  :math:`r^2(\lambda_0 - L_\Theta r) \ge 2\Delta_0 / c^2` is a cubic in :math:`r`.
* ``"classical"`` (D3), for :math:`\eta = 1/\beta` only: :math:`P(\mu) =
  2\sqrt{2\beta\Delta_0}/\mu`. Self-consistency :math:`r(\lambda_0 - L_\Theta r)
  \ge 2\sqrt{2\beta\Delta_0}` is a quadratic in :math:`r`.

The sharp bound is the smaller of the two whenever :math:`\mu \le \beta`.

A self-consistent radius proves containment only when its inputs are proved:
with the rigorous :math:`\lambda_0`, :math:`L_\Theta(r)` and :math:`\beta(r)` of
:mod:`lplr_core.bounds` (which :func:`lplr_core.bounds.certify` uses, with the
induction's last step handled), it is a proof; with estimated constants
(:math:`\hat L_\Theta` from a path or an ascent search, :math:`\hat\beta` at a
few points) it is an estimate of where containment would follow.

Everything here is host-side arithmetic on Python floats and float64 NumPy (a bound used in a
proof keeps double precision; :func:`self_consistent_radius` branches on the values to give a
reason), not traceable by ``jax.jit``; the descent factor :math:`c` comes from
:func:`lplr_core.rates.descent_factor`, which is.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from lplr_core._validation import check_array, check_choice, check_real
from lplr_core.rates import descent_factor

__all__ = [
    "PATH_BOUNDS",
    "SelfConsistentRadius",
    "path_length_bound",
    "path_length_curve",
    "self_consistent_radius",
]

PATH_BOUNDS = ("sharp", "classical")


def _check_common(beta, loss0, step_size, loss_star, form, *, allow_unstable=False):
    """Validate the shared arguments; return (beta, gap, eta, form)."""
    form = check_choice("form", form, PATH_BOUNDS)
    beta = check_real("beta", beta, minimum=0.0, strict_min=True)
    loss0 = check_real("loss0", loss0)
    loss_star = check_real("loss_star", loss_star, minimum=0.0)
    if loss0 < loss_star:
        raise ValueError(f"loss0 must be >= loss_star={loss_star}; got {loss0}")
    eta = 1.0 / beta if step_size is None else check_real(
        "step_size", step_size, minimum=0.0, strict_min=True)
    if form == "classical" and step_size is not None and not math.isclose(
            eta * beta, 1.0, rel_tol=1e-9):
        raise ValueError(f"step_size must be 1/beta = {1.0 / beta:.6g} (or None) for "
                         f"form='classical', whose argument needs eta = 1/beta; got {eta} "
                         f"(use form='sharp' for other step sizes)")
    if not allow_unstable and eta * beta >= 2.0:
        raise ValueError(f"step_size must be < 2/beta = {2.0 / beta:.6g} for a path-length "
                         f"bound (the descent lemma gives no decrease beyond it); got {eta}")
    return beta, loss0 - loss_star, eta, form


def _required(gap, beta, eta, form):
    """The constant the self-consistency inequality must reach.

    sharp:     r**2 * mu(r) >= 2 gap / c**2    (from sqrt(2 gap / mu) / c <= r)
    classical: r    * mu(r) >= 2 sqrt(2 beta gap)
    """
    if form == "sharp":
        c = descent_factor(eta, beta)
        return 2.0 * gap / (c * c)
    return 2.0 * math.sqrt(2.0 * beta * gap)


def path_length_bound(loss0: float, beta: float, mu: float, *, step_size: float | None = None,
                      loss_star: float = 0.0, form: str = "sharp") -> float:
    r"""Bound on the length :math:`\sum_t \|\theta_{t+1} - \theta_t\|` of the gradient-descent path.

    Valid (the book's derivation) when :math:`L` is :math:`\beta`-smooth, satisfies
    the PL inequality with constant :math:`\mu` and :math:`L \ge L^*` on a convex
    set that contains every iterate and the segments between them. It also
    bounds the drift :math:`\|\theta_t - \theta_0\|` at every step.

    * ``form="sharp"``: :math:`\sqrt{2(L_0 - L^*)/\mu}\,/\,(1 - \beta\eta/2)`
      for :math:`0 < \eta < 2/\beta`;
    * ``form="classical"``: :math:`2\sqrt{2\beta(L_0 - L^*)}/\mu` at
      :math:`\eta = 1/\beta` (the textbook argument through
      :math:`\|\nabla L\|^2 \le 2\beta(L - L^*)` and the linear rate).

    Args:
      loss0: :math:`L(\theta_0)` (or the loss at any later iterate, for the
        length of the rest of the path).
      beta: the smoothness constant :math:`\beta > 0`.
      mu: the PL constant :math:`\mu > 0`.
      step_size: :math:`\eta`; ``None`` means :math:`1/\beta`.
      loss_star: :math:`L^* \ge 0`, at most ``loss0``.
      form: ``"sharp"`` or ``"classical"``.

    Returns:
      The bound, a float (0 when ``loss0 == loss_star``).

    Raises:
      ValueError: ``mu <= 0``, ``step_size >= 2/beta``, ``loss0 < loss_star``,
        or ``form="classical"`` with a step size other than :math:`1/\beta`.
    """
    beta, gap, eta, form = _check_common(beta, loss0, step_size, loss_star, form)
    mu = check_real("mu", mu, minimum=0.0, strict_min=True)
    if form == "sharp":
        return math.sqrt(2.0 * gap / mu) / descent_factor(eta, beta)
    return 2.0 * math.sqrt(2.0 * beta * gap) / mu


def path_length_curve(lambda0: float, lipschitz: float, beta: float, loss0: float, radii: Any, *,
                      step_size: float | None = None, loss_star: float = 0.0,
                      form: str = "sharp") -> np.ndarray:
    r""":math:`P(\mu(r))` for each radius :math:`r`: the path-length bound with the certificate at :math:`r`.

    With :math:`\mu(r) = \lambda_0 - L_\Theta r`; ``inf`` where :math:`\mu(r) \le 0`.
    The radius :math:`r` is self-consistent where the curve lies below the
    diagonal, :math:`P(\mu(r)) \le r`.

    Args:
      lambda0: :math:`\lambda_0`.
      lipschitz: :math:`L_\Theta \ge 0`.
      beta, loss0, step_size, loss_star, form: as in :func:`path_length_bound`.
      radii: a 1-D array of radii :math:`\ge 0`.

    Returns:
      A float array of the same length as ``radii``.
    """
    beta, gap, eta, form = _check_common(beta, loss0, step_size, loss_star, form)
    lambda0 = check_real("lambda0", lambda0)
    lipschitz = check_real("lipschitz", lipschitz, minimum=0.0)
    r = np.asarray(check_array("radii", radii, ndim=1), float)
    if (r < 0).any():
        raise ValueError(f"radii must be >= 0 everywhere; got min {r.min()}")
    mu = lambda0 - lipschitz * r
    ok = mu > 0
    safe = np.where(ok, mu, 1.0)
    if form == "sharp":
        bound = np.sqrt(2.0 * gap / safe) / descent_factor(eta, beta)
    else:
        bound = 2.0 * math.sqrt(2.0 * beta * gap) / safe
    return np.where(ok, bound, np.inf)


class SelfConsistentRadius(NamedTuple):
    r"""The result of :func:`self_consistent_radius`.

    ``radius`` is :math:`r^*`, the smallest :math:`r` with :math:`P(\mu(r))
    \le r` (``inf`` if none); ``upper`` the largest (``inf`` when
    :math:`L_\Theta = 0`); ``mu`` the certificate :math:`\lambda_0 - L_\Theta
    r^*` (``nan`` if none); ``margin`` is :math:`1 - A/A_{\max}` where
    :math:`A` is what the self-consistency inequality requires and
    :math:`A_{\max}` the most any radius delivers (positive iff a radius
    exists; 1 for a linear model); ``reason`` says why none exists ("" if
    one does).
    """

    radius: float
    mu: float
    exists: bool
    margin: float
    upper: float
    reason: str


def _none(reason, margin=-math.inf):
    return SelfConsistentRadius(math.inf, math.nan, False, margin, math.inf, reason)


def _cubic_roots(a, b, margin):
    r"""Positive roots of :math:`r^3 - a r^2 + b = 0` (:math:`a, b > 0`, three real roots).

    Trigonometric form: with :math:`r = a/3 + (2a/3)\cos\psi`, the cubic becomes
    :math:`\cos 3\psi = 1 - 27b/(2a^3) = 2\,\text{margin} - 1`; the two positive
    roots are :math:`\psi = \phi/3` (largest) and :math:`\phi/3 - 2\pi/3`
    (smallest), :math:`\phi = \arccos(2\,\text{margin} - 1)`. Each root is then
    polished by Newton steps, because the trigonometric form loses digits on the
    small root when :math:`b \ll a^3`.
    """
    phi = math.acos(min(1.0, max(-1.0, 2.0 * margin - 1.0)))
    roots = [a / 3.0 + (2.0 * a / 3.0) * math.cos(phi / 3.0 - k * 2.0 * math.pi / 3.0)
             for k in (1, 0)]
    if margin > 1e-6:  # simple roots: Newton converges quadratically
        polished = []
        for r in roots:
            for _ in range(4):
                slope = 3.0 * r * r - 2.0 * a * r
                if slope == 0:
                    break
                r -= (r * r * r - a * r * r + b) / slope
            polished.append(r)
        roots = polished
    small, large = roots
    if small > large:  # only possible through round-off at a double root
        small = large = 0.5 * (small + large)
    return small, large


def self_consistent_radius(lambda0: float, lipschitz: float, beta: float, loss0: float, *,
                           step_size: float | None = None, loss_star: float = 0.0,
                           form: str = "sharp") -> SelfConsistentRadius:
    r"""The smallest radius :math:`r^*` at which the path-length bound and :math:`\mu(r)` agree.

    The book's derivation (D3): :math:`r` is self-consistent when the
    path-length bound with the certificate at :math:`r` fits inside the ball,
    :math:`P(\lambda_0 - L_\Theta r) \le r`. If the loss is :math:`\beta`-smooth,
    :math:`L \ge L^*` and :math:`\|\Theta(\theta) - \Theta(\theta_0)\|_{op} \le
    L_\Theta\|\theta - \theta_0\|` on a ball slightly larger than :math:`r^*`,
    gradient descent never leaves the ball of radius :math:`r^*` and converges
    linearly with :math:`\mu(r^*)`.

    Closed forms, with :math:`A` the constant of :func:`path_length_bound`'s form:

    * ``"classical"``: :math:`L_\Theta r^2 - \lambda_0 r + A \le 0`,
      :math:`A = 2\sqrt{2\beta\Delta_0}`; a radius exists iff
      :math:`\lambda_0^2 \ge 4 L_\Theta A`, and
      :math:`r^* = (\lambda_0 - \sqrt{\lambda_0^2 - 4L_\Theta A})/(2L_\Theta)
      = 2A/(\lambda_0 + \sqrt{\lambda_0^2 - 4 L_\Theta A})` (the second form is
      also the limit :math:`A/\lambda_0` at :math:`L_\Theta = 0`).
    * ``"sharp"``: :math:`L_\Theta r^3 - \lambda_0 r^2 + A \le 0`,
      :math:`A = 2\Delta_0/(1 - \beta\eta/2)^2`; a radius exists iff
      :math:`27 L_\Theta^2 A \le 4\lambda_0^3` (the maximum of
      :math:`r^2(\lambda_0 - L_\Theta r)` is at :math:`r = 2\lambda_0/(3L_\Theta)`);
      :math:`r^*` is the smaller positive root, :math:`\sqrt{A/\lambda_0}` when
      :math:`L_\Theta = 0`.

    Args:
      lambda0: :math:`\lambda_0 = \lambda_{\min}(\Theta(\theta_0))`.
      lipschitz: :math:`L_\Theta \ge 0` (an estimate makes the result an estimate).
      beta: smoothness :math:`\beta > 0` on the ball.
      loss0: :math:`L(\theta_0)`.
      step_size: :math:`\eta > 0`; ``None`` means :math:`1/\beta`. For
        ``"sharp"`` a step :math:`\ge 2/\beta` gives no radius (with a reason).
      loss_star: :math:`L^* \ge 0`, at most ``loss0``.
      form: ``"sharp"`` or ``"classical"``.

    Returns:
      A :class:`SelfConsistentRadius`; when none exists, ``radius`` is ``inf``,
      ``exists`` is False and ``reason`` says why.

    Raises:
      ValueError, TypeError: an argument is invalid (the message names it).
    """
    beta, gap, eta, form = _check_common(beta, loss0, step_size, loss_star, form,
                                         allow_unstable=True)
    lambda0 = check_real("lambda0", lambda0)
    lipschitz = check_real("lipschitz", lipschitz, minimum=0.0)
    if lambda0 <= 0:
        return _none(f"lambda0 = {lambda0:.4g} <= 0: the certificate mu(r) is not positive "
                     "at any radius")
    if eta * beta >= 2.0:
        return _none(f"step_size = {eta:.4g} >= 2/beta = {2.0 / beta:.4g}: the descent lemma "
                     "gives no decrease, so there is no path-length bound")
    upper_cert = math.inf if lipschitz == 0 else lambda0 / lipschitz  # mu(r) > 0 below this
    need = _required(gap, beta, eta, form)
    if need == 0:  # theta_0 is optimal: gradient descent does not move
        return SelfConsistentRadius(0.0, lambda0, True, 1.0, upper_cert, "")
    if lipschitz == 0:
        radius = need / lambda0 if form == "classical" else math.sqrt(need / lambda0)
        return SelfConsistentRadius(radius, lambda0, True, 1.0, math.inf, "")
    if form == "classical":
        best = lambda0 ** 2 / (4.0 * lipschitz)           # max of r (lambda0 - L r)
    else:
        best = 4.0 * lambda0 ** 3 / (27.0 * lipschitz ** 2)  # max of r^2 (lambda0 - L r)
    margin = 1.0 - need / best
    if margin < 0:
        at = "lambda0 / (2 L_Theta)" if form == "classical" else "2 lambda0 / (3 L_Theta)"
        return _none(f"the path-length bound exceeds r at every radius: the self-consistency "
                     f"inequality needs {need:.4g} but gives at most {best:.4g} (at r = {at})",
                     margin)
    if form == "classical":
        root = math.sqrt(max(lambda0 ** 2 - 4.0 * lipschitz * need, 0.0))
        radius = 2.0 * need / (lambda0 + root)
        upper = (lambda0 + root) / (2.0 * lipschitz)
    else:
        radius, upper = _cubic_roots(lambda0 / lipschitz, need / lipschitz, margin)
    return SelfConsistentRadius(radius, lambda0 - lipschitz * radius, True, margin, upper, "")
