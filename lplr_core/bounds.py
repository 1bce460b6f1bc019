r"""Rigorous constants: upper bounds that are theorems, and a certificate built from them.

Everything else in :mod:`lplr_core` *estimates* the constants of the linear-rate
theorem: a maximum of :math:`\|\Theta(\theta)-\Theta_0\|/\|\theta-\theta_0\|`
over sampled points, an ascent search or the training path is a **lower**
estimate of the Lipschitz constant :math:`L_\Theta`, so the estimated
:math:`\hat\mu = \lambda_0 - \hat L_\Theta r` is an *upper* estimate of the
true :math:`\mu` and a positive :math:`\hat\mu` proves nothing. This module
returns bounds that hold for **every** point of the ball, for one-hidden-layer
:class:`~lplr_core.models.MLP`\ s with a smooth activation, so that "proved"
means proved.

The derivation (ours; the book's chapter "When does the theorem provably
apply?" states it as a theorem with proof). Write the network, in either
parameterization, as

.. math::

   f(x;\theta) = a_2 \sum_{j=1}^m v_j\,\sigma(h_j) + c_2 b_2, \qquad
   h_j = z^\top u_j, \quad z = (a_1 x, c_1), \quad u_j = (w_j, b_{1j}),

with :math:`(a_l, c_l) =` :meth:`MLP.scales <lplr_core.models.MLP.scales>`
(:math:`\sigma_w/\sqrt{n_{l-1}}, \sigma_b` in the NTK parameterization,
:math:`1, 1` in the standard one). For one sample the Hessian of :math:`f` is
block-diagonal over neurons; the block of neuron :math:`j` acts on
:math:`(v_j, u_j)` as :math:`a_2\begin{pmatrix}0 & \sigma'(h_j) z^\top\\
\sigma'(h_j) z & v_j\sigma''(h_j) zz^\top\end{pmatrix}`, whose operator norm is
:math:`a_2 (|t| + \sqrt{t^2 + 4s^2})/2` with :math:`s = \sigma'(h_j)\|z\|` and
:math:`t = v_j\sigma''(h_j)\|z\|^2`. On the ball :math:`B(\theta_0, r)` every
:math:`|v_j| \le |v_{j,0}| + r` and every :math:`h_j` stays in
:math:`[h_{j,0} - \|z\| r,\ h_{j,0} + \|z\| r]`, so with the exact suprema
:math:`D_1, D_2` of :math:`|\sigma'|, |\sigma''|` on that interval

.. math::

   \sup_{B(\theta_0, r)} \|\nabla^2 f_i\|_{op} \le H_i(r) = a_2 \max_j
   \frac{T_{ij} + \sqrt{T_{ij}^2 + 4 S_{ij}^2}}{2}, \quad
   S_{ij} = D_{1,ij}\|z_i\|,\ T_{ij} = (|v_{j,0}| + r) D_{2,ij}\|z_i\|^2 .

By the mean-value inequality each Jacobian row is :math:`H_i`-Lipschitz on the
(convex) ball, so :math:`\|J(\theta) - J(\theta')\|_{op} \le
\|J(\theta) - J(\theta')\|_F \le \mathrm{Lip}_J(r)\,\|\theta - \theta'\|` with
:math:`\mathrm{Lip}_J(r) = (\sum_i H_i^2)^{1/2}`, and

* anchored NTK stability (what the local PL inequality D1 needs):
  :math:`\|\Theta(\theta) - \Theta_0\|_{op} \le \|J - J_0\|(\|J\| + \|J_0\|)
  \le L_\Theta(r)\|\theta - \theta_0\|` with
  :math:`L_\Theta(r) = \mathrm{Lip}_J(r)\,(2\|J_0\|_{op} + \mathrm{Lip}_J(r)\,r)`;
* smoothness: :math:`\nabla^2 L = J^\top J + \sum_i u_i \nabla^2 f_i`, so
  :math:`\beta(r) = (\|J_0\|_{op} + \mathrm{Lip}_J r)^2 + \sum_i U_i H_i` with
  :math:`U_i = |u_{i,0}| + (\|\nabla f_i(\theta_0)\| + H_i r)\,r \ge |u_i|`.

ReLU has no such bound (:math:`\sigma''` is not a function), and deeper networks
need a different argument to keep the :math:`m^{-1/2}` scaling (a layer-wise
bound in Euclidean norms loses it), so both raise a ``ValueError``.

Floating point. The bounds are computed in float64 from the parameters cast
exactly to float64. Every aggregate that must be an upper (lower) bound is
rounded outward by a relative margin of :math:`10^{-6}`, far above the
worst-case accumulated rounding of sums of at most :math:`10^8` non-negative
terms (:math:`\gamma_N \le 1.2\cdot10^{-8}`); the pre-activation intervals are
widened by the rounding bound of :math:`h = z^\top u`. :math:`\lambda_0` is
enclosed *a posteriori* (:func:`lambda_min_lower_bound`): from a computed
eigendecomposition :math:`S V \approx V\Lambda`, the residual
:math:`R = SV - V\Lambda` and the loss of orthogonality
:math:`E = V^\top V - I` (each with its own rounding bound),
:math:`\lambda_{\min}(S) \ge \kappa/(1 \pm \|E\|)` with
:math:`\kappa = \min\Lambda - \|E\|\max|\Lambda| - \sqrt{1 + \|E\|}\,\|R\|`.
The NTK itself is a float64 Gram matrix of features computed from the
parameters; a margin of :math:`10^{-8}\,\mathrm{tr}\,\Theta` covers its
rounding (Gram products of length :math:`N` err by at most
:math:`\gamma_N\,\mathrm{tr}\,\Theta` in operator norm). The one assumption
beyond IEEE arithmetic: numpy/scipy evaluate ``erf``, ``tanh``, ``exp`` and
``log1p`` to within :math:`10^3` ulps.

Measured tightness (float64, ``tests/test_bounds.py``, eight random one-hidden-
layer networks of width 8-16 over erf, tanh, gelu and softplus, both
parameterizations, radii 0.02-2): the bound on :math:`L_\Theta` is 3.3-20 times
the largest ratio found by sampling and by gradient ascent on the ratio, and
the bound on :math:`\beta` is 1.7-26 times the largest
:math:`\|\nabla^2 L\|_{op}` found (the largest factors at the largest radius).
On the book's MNIST set-up (chapter "When does the theorem provably apply?":
32 pooled digits, erf, NTK parameterization) the proved :math:`L_\Theta` at the
certified radius is 5.9, 7.4 and 8.4 times the ascent estimate at widths 256,
1024 and 4096.
"""

from __future__ import annotations

import copy
import html
import math
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np
from scipy import special

from lplr_core._validation import check_array, check_int, check_real, check_targets, describe
from lplr_core.containment import path_length_bound
from lplr_core.models import MLP
from lplr_core.rates import sharp_rate_factor

__all__ = [
    "DERIVATIVE_BOUNDS",
    "TwoLayerBounds",
    "two_layer_bounds",
    "jacobian_lipschitz_bound",
    "ntk_lipschitz_bound",
    "smoothness_bound",
    "lambda_min_lower_bound",
    "lambda_max_upper_bound",
    "Hypothesis",
    "Certificate",
    "certify",
    "TargetScale",
    "certified_target_scale",
    "interpolation_distance",
]

_EPS = float(np.finfo(np.float64).eps) / 2.0  # unit roundoff u = 2^-53
_REL = 1e-6  # outward rounding margin of every aggregate bound (see module docstring)
_KERNEL_MARGIN = 1e-8  # times trace(Theta): rounding of the float64 kernel


def _gamma(k: float) -> float:
    """:math:`\\gamma_k = k u / (1 - k u)`, the classical accumulated-rounding bound."""
    ku = k * _EPS
    if ku >= 0.5:
        return math.inf
    return ku / (1.0 - ku)


def _up(value):
    return value * (1.0 + _REL) + 1e-300


# --------------------------------------------------------------------------- activations

_SQRT_PI = math.sqrt(math.pi)
_SQRT2 = math.sqrt(2.0)


def _npdf(h):
    return np.exp(-0.5 * h * h) / math.sqrt(2.0 * math.pi)


def _sigmoid(h):
    return special.expit(h)


# name -> (sigma, sigma', sigma'', critical points of sigma', critical points of sigma'')
# The supremum of |g| over an interval is attained at an end or at a critical point of g.
_ACTIVATIONS: dict[str, tuple[Callable, Callable, Callable, tuple[float, ...], tuple[float, ...]]] = {
    "erf": (special.erf,
            lambda h: (2.0 / _SQRT_PI) * np.exp(-h * h),
            lambda h: (-4.0 / _SQRT_PI) * h * np.exp(-h * h),
            (0.0,), (-1.0 / _SQRT2, 1.0 / _SQRT2)),
    "tanh": (np.tanh,
             lambda h: 1.0 / np.cosh(h) ** 2,
             lambda h: -2.0 * np.tanh(h) / np.cosh(h) ** 2,
             (0.0,), (-math.atanh(1.0 / math.sqrt(3.0)), math.atanh(1.0 / math.sqrt(3.0)))),
    "gelu": (lambda h: h * special.ndtr(h),
             lambda h: special.ndtr(h) + h * _npdf(h),
             lambda h: _npdf(h) * (2.0 - h * h),
             (-_SQRT2, _SQRT2), (-2.0, 0.0, 2.0)),
    "softplus": (lambda h: np.logaddexp(0.0, h),
                 _sigmoid,
                 lambda h: _sigmoid(h) * (1.0 - _sigmoid(h)),
                 (), (0.0,)),
    "linear": (lambda h: h, lambda h: np.ones_like(h), lambda h: np.zeros_like(h), (), ()),
}


def _global_sup(g, crit):
    values = [abs(float(g(np.asarray(c)))) for c in crit]
    # limits at +-infinity of the derivatives used here are finite (0 or 1)
    values += [abs(float(g(np.asarray(s * 40.0)))) for s in (-1.0, 1.0)]
    return _up(max(values))


#: ``activation -> (sup|sigma'|, sup|sigma''|)``, the global constants :math:`B_1, B_2`
#: (erf: :math:`2/\sqrt\pi` and :math:`2\sqrt{2/(\pi e)}`; tanh: 1 and :math:`4/(3\sqrt3)`;
#: gelu: :math:`\Phi(\sqrt2) + \sqrt2\,\varphi(\sqrt2)` and :math:`2\varphi(0)`;
#: softplus: 1 and 1/4). ReLU is absent: its :math:`\sigma''` is not bounded.
DERIVATIVE_BOUNDS: dict[str, tuple[float, float]] = {
    name: (_global_sup(d1, c1), _global_sup(d2, c2))
    for name, (_, d1, d2, c1, c2) in _ACTIVATIONS.items()
}


def _interval_sup(g, crit, lo, hi):
    """Exact :math:`\\sup_{[lo, hi]} |g|` (elementwise), rounded outward."""
    best = np.maximum(np.abs(g(lo)), np.abs(g(hi)))
    for c in crit:
        inside = (lo <= c) & (c <= hi)
        if np.any(inside):
            best = np.where(inside, np.maximum(best, abs(float(g(np.asarray(c))))), best)
    return _up(best)


# ----------------------------------------------------------------------- validation


def _check_mlp(mlp: Any) -> MLP:
    if not isinstance(mlp, MLP):
        raise TypeError(f"mlp must be an lplr_core.MLP (rigorous bounds are derived for it); "
                        f"got {describe(mlp)}")
    if mlp.activation == "relu":
        raise ValueError(
            "mlp.activation='relu' has no rigorous NTK-Lipschitz bound: sigma'' is not bounded "
            "(sigma' jumps at 0), so the kernel is not Lipschitz on a ball that crosses an "
            "activation-pattern change. Use a smooth activation: "
            + ", ".join(repr(a) for a in DERIVATIVE_BOUNDS if a != "linear") + ".")
    if mlp.activation not in _ACTIVATIONS:
        raise ValueError(f"mlp.activation must be one of {sorted(_ACTIVATIONS)}; "
                         f"got {mlp.activation!r}")
    if mlp.depth != 1:
        raise ValueError(
            f"mlp must have exactly one hidden layer for the rigorous bounds; got widths "
            f"{mlp.widths} (depth {mlp.depth}). Deeper networks need per-layer infinity-norm "
            f"arguments that this module does not implement.")
    return mlp


def _leaf64(name, value, shape):
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating array; got dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} for this MLP; got {arr.shape}")
    arr = arr.astype(np.float64)  # exact: every float32 is a float64
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values")
    return arr


def _check_radius(radius: Any, name: str = "radius") -> float:
    return check_real(name, radius, minimum=0.0)


# ----------------------------------------------------------------- the two-layer bounds

class TwoLayerBounds:
    r"""Rigorous constants of one one-hidden-layer MLP at :math:`\theta_0` on data ``x``.

    Build it with :func:`two_layer_bounds`; the float64 features at
    :math:`\theta_0` are computed once and every method evaluates a bound at a
    radius :math:`r` in one pass over the ``n x m`` pre-activations.

    Attributes:
      n, m: samples and hidden width.
      kernel: the float64 NTK :math:`\Theta(\theta_0)` (``n x n``).
      lambda0_lower: a proved lower bound on :math:`\lambda_{\min}(\Theta_0)`.
      lambda_max_upper: a proved upper bound on :math:`\lambda_{\max}(\Theta_0) = \|J_0\|_{op}^2`.
      residual: :math:`u_0 = f(X;\theta_0) - y` (``None`` without ``y``).
      loss0_upper: an upper bound on :math:`L(\theta_0) = \tfrac12\|u_0\|^2` (``None`` without ``y``).
    """

    def __init__(self, mlp: MLP, params0: Any, x: Any, y: Any = None):
        mlp = _check_mlp(mlp)
        xa = check_array("x", x, ndim=2)
        x64 = np.asarray(xa, dtype=np.float64)
        n, d = x64.shape
        if not isinstance(params0, (list, tuple)) or len(params0) != 2:
            raise ValueError(f"params0 must be the list of 2 layers returned by MLP.init for "
                             f"widths {mlp.widths}; got {describe(params0)}")
        m = mlp.widths[0]
        try:
            w1 = _leaf64("params0[0]['w']", params0[0]["w"], (d, m))
            b1 = _leaf64("params0[0]['b']", params0[0]["b"], (m,))
            v = _leaf64("params0[1]['w']", params0[1]["w"], (m, 1))[:, 0]
            b2 = float(_leaf64("params0[1]['b']", params0[1]["b"], (1,))[0])
        except (KeyError, TypeError, IndexError) as exc:
            if isinstance(exc, TypeError) and "floating" in str(exc):
                raise
            raise ValueError(f"params0 must be the list of {{'w', 'b'}} layer dicts returned by "
                             f"MLP.init; got {describe(params0)}") from exc
        self.mlp, self.n, self.m, self.d = mlp, n, m, d
        self.a1, self.c1 = mlp.scales(d)
        self.a2, self.c2 = mlp.scales(m)
        self.v, self.b2 = v, b2
        phi, dphi, _, _, _ = _ACTIVATIONS[mlp.activation]
        self._d1 = _ACTIVATIONS[mlp.activation][1], _ACTIVATIONS[mlp.activation][3]
        self._d2 = _ACTIVATIONS[mlp.activation][2], _ACTIVATIONS[mlp.activation][4]

        self.h = self.a1 * (x64 @ w1) + self.c1 * b1                      # (n, m)
        xnorm = np.linalg.norm(x64, axis=1)
        self.z_norm = _up(np.sqrt(self.a1 ** 2 * xnorm ** 2 + self.c1 ** 2))  # ||z_i||
        # rounding of h_ij = a1 x_i.w_j + c1 b_j: at most gamma_{d+3} (a1 |x_i||w_j| + c1 |b_j|)
        wnorm = np.linalg.norm(w1, axis=0)
        self.h_err = _gamma(d + 3) * _up(self.a1 * np.outer(xnorm, wnorm) + self.c1 * np.abs(b1))

        features = self.a2 * phi(self.h)                                 # d f / d v_j
        sens = self.a2 * v * dphi(self.h)                                 # d f / d h_j
        zz = self.a1 ** 2 * (x64 @ x64.T) + self.c1 ** 2
        kernel = self.c2 ** 2 + features @ features.T + zz * (sens @ sens.T)
        self.kernel = 0.5 * (kernel + kernel.T)
        trace = float(np.trace(self.kernel))
        self.kernel_margin = _KERNEL_MARGIN * trace
        self.lambda0_lower = lambda_min_lower_bound(self.kernel) - self.kernel_margin
        self.lambda_max_upper = lambda_max_upper_bound(self.kernel) + self.kernel_margin
        self.jac_norm_upper = math.sqrt(max(self.lambda_max_upper, 0.0))
        self.row_norms = _up(np.sqrt(np.maximum(np.diag(self.kernel), 0.0) + self.kernel_margin))

        self.outputs = features @ v + self.c2 * b2
        # the rounding error of the outputs, without the targets' part (see _set_targets)
        self._out_err0 = _gamma(m + 3) * (np.abs(features) @ np.abs(v) + self.c2 * abs(b2))
        self._set_targets(y)

    def _set_targets(self, y: Any) -> None:
        """The target-dependent bounds: residual, its entrywise bound, loss0_upper."""
        if y is None:
            self.residual = None
            self.loss0_upper = None
            self._u_abs = None
            return
        y64 = np.asarray(check_targets("y", y, self.n), dtype=np.float64)
        self.residual = self.outputs - y64
        out_err = self._out_err0 + 1e-6 * np.abs(self.outputs - y64) + 4 * _EPS * np.abs(y64)
        self._u_abs = _up(np.abs(self.residual) + out_err)
        self.loss0_upper = _up(0.5 * float(np.sum(self._u_abs ** 2)))

    def with_targets(self, y: Any) -> "TwoLayerBounds":
        """The same network and data with targets ``y`` (the features are not recomputed)."""
        other = copy.copy(self)
        other._set_targets(y)
        return other

    # ------------------------------------------------------------------ per radius
    def hessian_bounds(self, radius: float) -> np.ndarray:
        r""":math:`H_i(r) \ge \sup_{B(\theta_0, r)} \|\nabla^2 f(x_i;\theta)\|_{op}` for each sample."""
        r = _check_radius(radius)
        half = self.z_norm[:, None] * r + self.h_err
        lo, hi = self.h - half, self.h + half
        d1 = _interval_sup(*self._d1, lo, hi)
        d2 = _interval_sup(*self._d2, lo, hi)
        s = d1 * self.z_norm[:, None]
        t = (np.abs(self.v) + r)[None, :] * d2 * (self.z_norm ** 2)[:, None]
        block = 0.5 * (t + np.sqrt(t * t + 4.0 * s * s))
        return _up(self.a2 * block.max(axis=1))

    def jacobian_lipschitz(self, radius: float) -> float:
        r""":math:`\mathrm{Lip}_J(r)`: :math:`\|J(\theta)-J(\theta')\|_{op} \le \mathrm{Lip}_J\|\theta-\theta'\|` on the ball."""
        return float(_up(np.linalg.norm(self.hessian_bounds(radius))))

    def ntk_lipschitz(self, radius: float) -> float:
        r""":math:`L_\Theta(r)`: :math:`\|\Theta(\theta)-\Theta_0\|_{op} \le L_\Theta(r)\|\theta-\theta_0\|` on the ball."""
        r = _check_radius(radius)
        return self._ntk_lipschitz_from(self.jacobian_lipschitz(r), r)

    def _ntk_lipschitz_from(self, lip: float, r: float) -> float:
        return float(_up(lip * (2.0 * self.jac_norm_upper + lip * r)))

    def smoothness(self, radius: float) -> float:
        r""":math:`\beta(r) \ge \sup_{B(\theta_0, r)} \|\nabla^2 L\|_{op}` (needs ``y``)."""
        return self.mu_and_smoothness(radius)[1]

    def mu_and_smoothness(self, radius: float) -> tuple[float, float]:
        r"""``(mu(r), beta(r))`` from one pass over the pre-activations (needs ``y``)."""
        _, mu, beta = self.constants(radius)
        return mu, beta

    def constants(self, radius: float) -> tuple[float, float, float]:
        r"""``(L_Theta(r), mu(r), beta(r))`` from one pass over the pre-activations (needs ``y``)."""
        if self._u_abs is None:
            raise ValueError("smoothness needs the targets y: build with two_layer_bounds(..., y)")
        r = _check_radius(radius)
        hess = self.hessian_bounds(r)
        lip = float(_up(np.linalg.norm(hess)))
        u_bound = self._u_abs + (self.row_norms + hess * r) * r
        beta = float(_up((self.jac_norm_upper + lip * r) ** 2 + float(np.dot(u_bound, hess))))
        lipschitz = self._ntk_lipschitz_from(lip, r)
        return lipschitz, float(self.lambda0_lower - _up(lipschitz * r)), beta

    def mu(self, radius: float) -> float:
        r"""Proved PL constant on the ball: :math:`\lambda_0^{\rm lower} - L_\Theta(r)\,r` (may be negative)."""
        r = _check_radius(radius)
        return float(self.lambda0_lower - _up(self.ntk_lipschitz(r) * r))

    def path_length(self, radius: float, step_size: float) -> float:
        r"""The a-priori path-length bound :math:`P(r) = \sqrt{2L_0/\mu(r)}/(1 - \beta(r)\eta/2)` (needs ``y``).

        Containment in :math:`B(\theta_0, r)` is proved when :math:`P(r) \le r`
        (:func:`certify`); ``inf`` where :math:`\mu(r) \le 0` or
        :math:`\eta \ge 2/\beta(r)`.
        """
        step_size = check_real("step_size", step_size, minimum=0.0, strict_min=True)
        mu, beta = self.mu_and_smoothness(radius)
        return _path_bound(self.loss0_upper, beta, mu, step_size)

    def certified_radius(self, *, tol: float = 1e-3) -> float:
        r"""The largest :math:`r` (to relative ``tol``) with :math:`L_\Theta(r)\,r < \lambda_0`; 0 if :math:`\lambda_0 \le 0`."""
        if self.lambda0_lower <= 0:
            return 0.0
        hi = self.lambda0_lower / self.ntk_lipschitz(0.0)  # L(r) grows with r: r_c <= hi
        lo = 0.0
        while hi - lo > tol * hi:
            mid = 0.5 * (lo + hi)
            if self.mu(mid) > 0:
                lo = mid
            else:
                hi = mid
        return lo


def two_layer_bounds(mlp: MLP, params0: Any, x: Any, y: Any = None) -> TwoLayerBounds:
    r"""The rigorous constants of a one-hidden-layer ``mlp`` at ``params0`` on ``x`` (and ``y``).

    Args:
      mlp: an :class:`~lplr_core.models.MLP` with one hidden layer and a smooth
        activation (erf, tanh, gelu, softplus; linear is allowed).
      params0: its parameters :math:`\theta_0` (float32 or float64).
      x: inputs, shape ``(n, d)``.
      y: targets, shape ``(n,)``; needed for the smoothness bound.

    Returns:
      A :class:`TwoLayerBounds` whose methods evaluate the bounds at any radius.

    Raises:
      TypeError, ValueError: ``mlp`` is not a one-hidden-layer MLP with a
        smooth activation (ReLU: no bounded :math:`\sigma''`), or the
        parameters or data do not fit it.
    """
    return TwoLayerBounds(mlp, params0, x, y)


def jacobian_lipschitz_bound(mlp: MLP, params0: Any, x: Any, radius: float) -> float:
    r"""A proved :math:`\mathrm{Lip}_J` with :math:`\|J(\theta)-J(\theta')\|_{op} \le \mathrm{Lip}_J\|\theta-\theta'\|` on :math:`B(\theta_0, r)`.

    See the module docstring for the derivation. ``radius`` is :math:`r \ge 0`.
    """
    radius = _check_radius(radius)
    return two_layer_bounds(mlp, params0, x).jacobian_lipschitz(radius)


def ntk_lipschitz_bound(mlp: MLP, params0: Any, x: Any, radius: float) -> float:
    r"""A proved :math:`L_\Theta`: :math:`\|\Theta(\theta)-\Theta(\theta_0)\|_{op} \le L_\Theta\|\theta-\theta_0\|` on :math:`B(\theta_0, r)`.

    :math:`L_\Theta(r) = \mathrm{Lip}_J(r)(2\|J_0\|_{op} + \mathrm{Lip}_J(r)\,r)`
    (module docstring). Anchored at :math:`\theta_0`, which is what the local
    PL inequality (D1) needs.

    Args:
      mlp: a one-hidden-layer :class:`~lplr_core.models.MLP`, smooth activation.
      params0: :math:`\theta_0`.
      x: inputs ``(n, d)``.
      radius: :math:`r \ge 0`.

    Returns:
      :math:`L_\Theta(r)`, a float.
    """
    radius = _check_radius(radius)
    return two_layer_bounds(mlp, params0, x).ntk_lipschitz(radius)


def smoothness_bound(mlp: MLP, params0: Any, x: Any, y: Any, radius: float) -> float:
    r"""A proved :math:`\beta \ge \|\nabla^2 L(\theta)\|_{op}` for every :math:`\theta \in B(\theta_0, r)`.

    :math:`L = \tfrac12\|f(X;\theta) - y\|^2`; see the module docstring.

    Args:
      mlp: a one-hidden-layer :class:`~lplr_core.models.MLP`, smooth activation.
      params0: :math:`\theta_0`.
      x: inputs ``(n, d)``.
      y: targets ``(n,)``.
      radius: :math:`r \ge 0`.

    Returns:
      :math:`\beta(r)`, a float.
    """
    radius = _check_radius(radius)
    return two_layer_bounds(mlp, params0, x, y).smoothness(radius)


# ------------------------------------------------------------------- eigenvalue enclosure

def _symmetric64(kernel: Any) -> np.ndarray:
    arr = np.asarray(check_array("kernel", kernel, ndim=2), dtype=np.float64)
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"kernel must be square; got shape {arr.shape}")
    scale = float(np.max(np.abs(arr))) if arr.size else 0.0
    if float(np.max(np.abs(arr - arr.T))) > 1e-8 * max(scale, 1e-300):
        raise ValueError("kernel must be symmetric (an NTK); its largest asymmetry is "
                         f"{float(np.max(np.abs(arr - arr.T))):.3g}")
    return 0.5 * (arr + arr.T)


def _eigen_enclosure(kernel: Any) -> tuple[float, float]:
    """Proved ``(lower bound of lambda_min, upper bound of lambda_max)`` of the symmetric part."""
    s = _symmetric64(kernel)
    n = s.shape[0]
    w, vecs = np.linalg.eigh(s)
    big = float(np.max(np.abs(w)))
    norm_s, norm_v = float(np.linalg.norm(s)), float(np.linalg.norm(vecs))
    # residual R = S V - V diag(w), and the rounding of computing it (Frobenius)
    res = s @ vecs - vecs * w
    res_norm = float(np.linalg.norm(res)) * (1 + _gamma(n * n + 2)) \
        + _gamma(n + 2) * norm_s * norm_v + 3 * _EPS * norm_v * big
    # loss of orthogonality E = V^T V - I
    orth = vecs.T @ vecs - np.eye(n)
    eta = float(np.linalg.norm(orth)) * (1 + _gamma(n * n + 2)) + _gamma(n + 2) * norm_v ** 2
    eta = _up(eta)
    # symmetrization 0.5 (K + K^T) rounds each entry by at most u |S_ij|
    res_norm = _up(res_norm + _EPS * norm_s)
    if not eta < 0.5:
        return -math.inf, math.inf
    slack = eta * big + math.sqrt(1.0 + eta) * res_norm
    kappa_lo = float(w[0]) - slack
    kappa_hi = float(w[-1]) + slack
    lower = kappa_lo / (1.0 + eta) if kappa_lo >= 0 else kappa_lo / (1.0 - eta)
    upper = kappa_hi / (1.0 - eta) if kappa_hi >= 0 else kappa_hi / (1.0 + eta)
    # the last few operations (a subtraction and a division) round by a few u
    lower -= 16 * _EPS * (abs(float(w[0])) + slack + abs(lower)) + 1e-300
    upper += 16 * _EPS * (abs(float(w[-1])) + slack + abs(upper)) + 1e-300
    return lower, upper


def lambda_min_lower_bound(kernel: Any) -> float:
    r"""A proved lower bound on :math:`\lambda_{\min}` of a symmetric matrix, in float64.

    Not the computed eigenvalue, which can err either way, but an enclosure:
    from the computed eigendecomposition :math:`SV \approx V\Lambda`, the
    residual :math:`R` and :math:`E = V^\top V - I` bounded with their own
    rounding errors, :math:`\lambda_{\min}(S) \ge \kappa/(1\pm\|E\|)`,
    :math:`\kappa = \min\Lambda - \|E\|\max|\Lambda| - \sqrt{1+\|E\|}\,\|R\|`
    (for any unit :math:`x = Vc`: :math:`x^\top S x = c^\top\Lambda c +
    c^\top E\Lambda c + c^\top V^\top R c` and :math:`\|c\|^2 \in
    [1/(1+\|E\|), 1/(1-\|E\|)]`). Typically within :math:`10^{-12}\|S\|` of the
    computed :math:`\lambda_{\min}`, so ":math:`\lambda_0 > 0`" is proved, not
    read off.

    Args:
      kernel: a symmetric ``(n, n)`` array (asymmetry up to :math:`10^{-8}` of
        its largest entry is rounding: the symmetric part is used).

    Returns:
      The lower bound, a float (``-inf`` if the eigensolver's output is too
      far from orthogonal to conclude anything).
    """
    return _eigen_enclosure(kernel)[0]


def lambda_max_upper_bound(kernel: Any) -> float:
    r"""A proved upper bound on :math:`\lambda_{\max}` of a symmetric matrix (see :func:`lambda_min_lower_bound`)."""
    return _eigen_enclosure(kernel)[1]


# ---------------------------------------------------------------------------- certificate

class Hypothesis(NamedTuple):
    """One hypothesis of the linear-rate theorem, proved or not.

    Attributes:
      name: short identifier (``"lambda0"``, ``"lipschitz"``, ``"compatibility"``,
        ``"smoothness"``, ``"containment"``).
      proved: whether the statement is proved for this network and data.
      statement: the statement in words, with its numbers.
      value: the number the statement turns on (a bound or a margin).
    """

    name: str
    proved: bool
    statement: str
    value: float


@dataclass(frozen=True)
class Certificate:
    r"""The result of :func:`certify`: every hypothesis of the linear-rate theorem, proved or failed.

    The theorem (the book's D1 + D2 + D3, our formalization of the paper's
    sufficient condition): if (a) :math:`\lambda_0 > 0`, (b) :math:`L_\Theta`
    bounds the anchored NTK change on :math:`B(\theta_0, r)`, (c)
    :math:`L_\Theta r < \lambda_0`, :math:`L` is :math:`\beta`-smooth on the ball
    with :math:`\eta < 2/\beta`, and every iterate stays in the ball, then
    :math:`L(\theta_t) \le q^t L(\theta_0)` with :math:`q = 1 - 2\mu\eta(1 -
    \beta\eta/2)` (:math:`\le 1 - \eta\mu` when :math:`\eta \le 1/\beta`).

    Attributes:
      mode: ``"a priori"`` (containment proved before training by the
        path-length bound) or ``"a posteriori"`` (a finished run's iterates all
        lie in the ball).
      hypotheses: the :class:`Hypothesis` lines, in the theorem's order.
      proved: every hypothesis is proved.
      radius: the ball's radius :math:`r`.
      lambda0_lower: proved lower bound on :math:`\lambda_0`.
      lipschitz: proved :math:`L_\Theta(r)`.
      mu: :math:`\lambda_0^{\rm lower} - L_\Theta r`.
      beta: proved :math:`\beta(r)`.
      step_size: :math:`\eta`.
      loss0: :math:`L(\theta_0)` (an upper bound).
      rate: the guaranteed per-step factor :math:`q` (``nan`` unless proved).
      steps: for ``"a posteriori"``, the number of steps the guarantee covers
        (``None``: every step).
    """

    mode: str
    hypotheses: tuple[Hypothesis, ...]
    radius: float
    lambda0_lower: float
    lipschitz: float
    mu: float
    beta: float
    step_size: float
    loss0: float
    rate: float
    steps: int | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def proved(self) -> bool:
        return all(h.proved for h in self.hypotheses)

    def guaranteed_loss(self, steps: Any) -> np.ndarray:
        r""":math:`q^t L(\theta_0)` at the given steps (``nan`` if not proved)."""
        t = np.asarray(steps, dtype=np.float64)
        if not self.proved:
            return np.full(t.shape, np.nan)
        return self.loss0 * self.rate ** t

    def hypothesis(self, name: str) -> Hypothesis:
        for h in self.hypotheses:
            if h.name == name:
                return h
        raise KeyError(f"no hypothesis named {name!r}; have {[h.name for h in self.hypotheses]}")

    def __str__(self) -> str:
        head = (f"Certificate ({self.mode}) on B(theta0, r = {self.radius:.4g}): "
                + ("PROVED" if self.proved else "NOT PROVED"))
        lines = [head]
        for h in self.hypotheses:
            lines.append(f"  [{'proved' if h.proved else 'FAILED'}] {h.name}: {h.statement}")
        if self.proved:
            scope = "every step" if self.steps is None else f"steps 0..{self.steps}"
            lines.append(f"  => L(theta_t) <= {self.rate:.6g}^t * {self.loss0:.4g} for {scope}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='color:{'#1a7f37' if h.proved else '#b42318'};font-weight:bold'>"
            f"{'proved' if h.proved else 'failed'}</td><td><code>{html.escape(h.name)}</code></td>"
            f"<td>{html.escape(h.statement)}</td></tr>" for h in self.hypotheses)
        verdict = "PROVED" if self.proved else "NOT PROVED"
        tail = ""
        if self.proved:
            scope = "every step" if self.steps is None else f"steps 0..{self.steps}"
            tail = (f"<p>Guarantee: L(θ<sub>t</sub>) ≤ {self.rate:.6g}<sup>t</sup> · "
                    f"{self.loss0:.4g} for {scope}.</p>")
        notes = "".join(f"<p><em>{html.escape(n)}</em></p>" for n in self.notes)
        return (f"<div class='lplr-certificate'><p><b>Certificate ({html.escape(self.mode)}) on "
                f"B(θ<sub>0</sub>, r = {self.radius:.4g}): {verdict}</b></p>"
                f"<table>{rows}</table>{tail}{notes}</div>")


def _step_ok(step_size: float, beta: float) -> tuple[bool, str]:
    if step_size <= 1.0 / beta:
        return True, f"eta = {step_size:.4g} <= 1/beta = {1.0 / beta:.4g}"
    if step_size < 2.0 / beta:
        return True, f"eta = {step_size:.4g} < 2/beta = {2.0 / beta:.4g}"
    return False, f"eta = {step_size:.4g} >= 2/beta = {2.0 / beta:.4g}"


def _path_bound(loss0: float, beta: float, mu: float, step_size: float) -> float:
    if mu <= 0 or step_size >= 2.0 / beta:
        return math.inf
    return float(_up(path_length_bound(loss0, beta, mu, step_size=step_size, form="sharp")))


def _containment_ratio(tb: TwoLayerBounds, r: float, step_size: float) -> float:
    """``r / P(r)``: containment in ``B(theta0, r)`` is proved a priori iff it is >= 1."""
    path = tb.path_length(r, step_size)
    return r / path if path > 0 else math.inf


def _best_apriori_radius(tb: TwoLayerBounds, step_size: float) -> float:
    """The smallest radius at which containment is proved; else the one that comes closest.

    ``r / P(r)`` rises from 0 and falls back to 0 at the certified radius; at the largest
    provable target scale its maximum is exactly 1, so a grid alone can miss the feasible
    window: a grid, a golden-section search around its best point, then a bisection down
    to the smallest feasible radius (the best rate).
    """
    r_c = tb.certified_radius()
    if r_c <= 0 or tb.loss0_upper == 0:
        return r_c
    logs = np.log(r_c * np.geomspace(1e-9, 1.0, 37)[:-1])
    ratios = [_containment_ratio(tb, float(np.exp(v)), step_size) for v in logs]
    k = int(np.argmax(ratios))
    lo, hi = logs[max(k - 1, 0)], logs[min(k + 1, len(logs) - 1)] if k + 1 < len(logs) \
        else math.log(r_c)
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo + (1 - golden) * (hi - lo), lo + golden * (hi - lo)
    fa, fb = (_containment_ratio(tb, math.exp(v), step_size) for v in (a, b))
    for _ in range(40):
        if fa >= 1.0 or fb >= 1.0 or hi - lo < 1e-9:
            break
        if fa > fb:
            hi, b, fb = b, a, fa
            a = lo + (1 - golden) * (hi - lo)
            fa = _containment_ratio(tb, math.exp(a), step_size)
        else:
            lo, a, fa = a, b, fb
            b = lo + golden * (hi - lo)
            fb = _containment_ratio(tb, math.exp(b), step_size)
    candidates = [(ratios[k], logs[k]), (fa, a), (fb, b)]
    best_ratio, best_log = max(candidates)
    best = math.exp(best_log)
    if best_ratio < 1.0:
        return best  # not provable: report the radius that came closest
    # smallest feasible radius: bisection between an infeasible smaller radius and best
    below = [v for v, f in zip(logs, ratios) if v < best_log and f < 1.0]
    low = math.exp(below[-1]) if below else 0.0
    high = best
    for _ in range(30):
        if high - low <= 1e-3 * high:
            break
        mid = 0.5 * (low + high)
        if mid > 0 and _containment_ratio(tb, mid, step_size) >= 1.0:
            high = mid
        else:
            low = mid
    return high


def certify(mlp: MLP, params0: Any, x: Any, y: Any, *, step_size: float,
            radius: float | None = None, trajectory: Any = None) -> Certificate:
    r"""Prove, or fail to prove, every hypothesis of the linear-rate theorem for this network.

    For a one-hidden-layer :class:`~lplr_core.models.MLP` with a smooth
    activation, with the rigorous constants of this module:

    * (a) :math:`\lambda_0 > 0` (:func:`lambda_min_lower_bound`);
    * (b) :math:`L_\Theta(r)` on :math:`B(\theta_0, r)` (:func:`ntk_lipschitz_bound`);
    * (c) :math:`L_\Theta(r)\,r < \lambda_0`, which gives :math:`\mu`;
    * smoothness: :math:`\beta(r)` (:func:`smoothness_bound`) with
      :math:`\eta < 2/\beta` (:math:`\le 1/\beta` for the simple rate);
    * containment, either **a priori** (no ``trajectory``): the path-length
      bound of chapter 5 with these constants,
      :math:`P(r) = \sqrt{2L_0/\mu}/(1 - \beta\eta/2) \le r` (our induction:
      the last step before leaving the ball is itself at most
      :math:`\eta\sqrt\beta\,\sqrt{2L_t} \le \eta\beta\sqrt{2L_t/\mu}`, which
      the bound already budgets), so *every* iterate of exact gradient descent
      stays in the ball (``radius=None`` searches the smallest such :math:`r`);
      or **a posteriori** (``trajectory``, recorded at every step): the run's
      maximum drift :math:`d` is the radius; every iterate lies in
      :math:`B(\theta_0, d)` and so does every segment between iterates (the
      ball is convex), which is all the descent lemma needs.

    Args:
      mlp: a one-hidden-layer :class:`~lplr_core.models.MLP`, smooth activation.
      params0: :math:`\theta_0`.
      x: inputs ``(n, d)``.
      y: targets ``(n,)``; :math:`L^* = 0` (the PL inequality of D1 holds with
        :math:`L^* = 0`).
      step_size: :math:`\eta > 0`.
      radius: the ball's radius for the a-priori mode; ``None`` searches the
        best one. Not allowed with ``trajectory``.
      trajectory: a :class:`~lplr_core.training.Trajectory` of gradient
        descent from ``params0`` on ``(x, y)`` with ``step_size``, recorded at
        every step (``record_every=1``).

    Returns:
      A :class:`Certificate`.

    Raises:
      TypeError, ValueError: an argument is invalid (the message names it),
        including a ReLU or deeper network, a trajectory not recorded at every
        step, or one that does not start at ``params0``.
    """
    step_size = check_real("step_size", step_size, minimum=0.0, strict_min=True)
    if radius is not None and trajectory is not None:
        raise ValueError("radius and trajectory are exclusive: the a-posteriori radius is the "
                         "trajectory's maximum drift")
    if radius is not None:
        radius = check_real("radius", radius, minimum=0.0, strict_min=True)
    tb = two_layer_bounds(mlp, params0, x, y)
    notes: list[str] = []
    steps = None
    if trajectory is None:
        mode = "a priori"
        r = radius if radius is not None else _best_apriori_radius(tb, step_size)
        if r <= 0:
            r = max(tb.certified_radius(), 1e-300)
    else:
        mode = "a posteriori"
        d, steps = _check_trajectory(trajectory, tb, step_size)
        r = float(_up(d))
        notes.append("A-posteriori: the guarantee covers the steps of this run; the run itself "
                     "is computed in floating point, so it is shown to be consistent with the "
                     "proved curve, while the theorem is about exact gradient descent.")
    lam = tb.lambda0_lower
    lip, mu, beta = tb.constants(r)
    hyps = [
        Hypothesis("lambda0", lam > 0,
                   f"lambda_min(Theta(theta0)) >= {lam:.6g} (float64 enclosure)"
                   + (" > 0" if lam > 0 else ": not proved positive"), lam),
        Hypothesis("lipschitz", math.isfinite(lip),
                   f"||Theta(theta) - Theta(theta0)|| <= {lip:.4g} ||theta - theta0|| on "
                   f"B(theta0, {r:.4g})", lip),
        Hypothesis("compatibility", mu > 0,
                   f"L_Theta r = {lip * r:.4g} {'<' if mu > 0 else '>='} lambda0 >= {lam:.4g}: "
                   f"mu = {mu:.4g}", mu),
    ]
    ok, text = _step_ok(step_size, beta)
    hyps.append(Hypothesis("smoothness", ok,
                           f"||Hess L|| <= beta = {beta:.4g} on the ball; {text}", beta))
    if mode == "a priori":
        path = _path_bound(tb.loss0_upper, beta, mu, step_size)
        hyps.append(Hypothesis(
            "containment", path <= r,
            f"path-length bound P(r) = {path:.4g} {'<=' if path <= r else '>'} r = {r:.4g}"
            + ("" if math.isfinite(path) else " (needs mu > 0 and eta < 2/beta)"), path))
    else:
        diverged = getattr(trajectory, "diverged_at", None) is not None
        hyps.append(Hypothesis(
            "containment", not diverged,
            (f"every iterate of the run (steps 0..{steps}) lies in B(theta0, {r:.4g}), "
             "and every segment between them (convexity)") if not diverged
            else f"the run diverged at step {trajectory.diverged_at}", r))
    all_ok = all(h.proved for h in hyps)
    # eta < 2/beta is the smoothness hypothesis, so the sharp factor applies (float64 arithmetic)
    rate = sharp_rate_factor(step_size, mu, beta) if all_ok else math.nan
    if all_ok:
        rate = float(min(_up(rate), 1.0))
    return Certificate(mode=mode, hypotheses=tuple(hyps), radius=r, lambda0_lower=lam,
                       lipschitz=lip, mu=mu, beta=beta, step_size=step_size,
                       loss0=float(tb.loss0_upper), rate=rate, steps=steps, notes=tuple(notes))


def _check_trajectory(trajectory: Any, tb: TwoLayerBounds, step_size: float) -> tuple[float, int]:
    from lplr_core.training import Trajectory  # training imports nothing from here

    if not isinstance(trajectory, Trajectory):
        raise TypeError(f"trajectory must be an lplr_core.Trajectory; got {describe(trajectory)}")
    steps = np.asarray(trajectory.steps)
    if steps.size < 2 or not np.all(np.diff(steps) == 1) or steps[0] != 0:
        raise ValueError("trajectory must record every step (gradient_descent(..., "
                         "record_every=1)): the a-posteriori radius is the maximum drift over "
                         "every iterate")
    cfg = getattr(trajectory, "config", {}) or {}
    if cfg.get("algorithm", "gd") not in ("gd", "gradient_descent"):
        raise ValueError(f"trajectory must come from full-batch gradient descent; got "
                         f"{cfg.get('algorithm')!r}")
    run_eta = cfg.get("step_size")
    if run_eta is not None and not math.isclose(float(run_eta), step_size, rel_tol=1e-9):
        raise ValueError(f"step_size={step_size!r} differs from the trajectory's step size "
                         f"{run_eta!r}")
    loss0 = float(trajectory.loss[0])
    exact = 0.5 * float(np.sum(tb.residual ** 2))
    if not math.isclose(loss0, exact, rel_tol=1e-3, abs_tol=1e-12):
        raise ValueError(f"trajectory does not start at params0 on (x, y): its first loss is "
                         f"{loss0:.6g}, the loss at params0 is {exact:.6g}")
    drift = np.asarray(trajectory.drift, dtype=np.float64)
    finite = drift[np.isfinite(drift)]
    return float(finite.max()) if finite.size else 0.0, int(steps[-1])


# --------------------------------------------------------------- certified target scale

class TargetScale(NamedTuple):
    r"""The largest target scale :math:`s` proved a priori (:func:`certified_target_scale`).

    Attributes:
      scale: :math:`s^*`: with targets :math:`y' = f(X;\theta_0) + s\,y`, every
        hypothesis is proved a priori for :math:`s \le s^*` at ``step_size``.
      radius: the radius :math:`r` achieving it.
      mu: :math:`\mu(r)`.
      beta: :math:`\beta(r)` at :math:`s^*`.
      step_size: :math:`\eta = 1/\beta(r)`, the step the proof uses.
      certified_radius: :math:`\lambda_0/L_\Theta`, the largest radius with :math:`\mu > 0`.
    """

    scale: float
    radius: float
    mu: float
    beta: float
    step_size: float
    certified_radius: float


def certified_target_scale(mlp: MLP, params0: Any, x: Any, y: Any, *,
                           grid: int = 60) -> TargetScale:
    r"""The largest scale :math:`s^*` of centred targets for which the theorem is proved a priori.

    Centred targets :math:`y' = f(X;\theta_0) + s\,y` give :math:`u_0 = -s\,y`
    and :math:`L_0 = s^2\|y\|^2/2`. At :math:`\eta = 1/\beta(r)` the path bound
    is :math:`2\sqrt{2L_0/\mu(r)} = 2s\|y\|/\sqrt{\mu(r)}`, so containment in
    :math:`B(\theta_0, r)` is proved for :math:`s \le r\sqrt{\mu(r)}/(2\|y\|)`;
    :math:`s^* = \max_r` of that (on a log grid of ``grid`` radii below the
    certified radius; any grid point is itself a proof). :math:`\beta(r)` is
    then evaluated with the residual bound of :math:`s^*`.

    Args:
      mlp: a one-hidden-layer :class:`~lplr_core.models.MLP`, smooth activation.
      params0: :math:`\theta_0`.
      x: inputs ``(n, d)``.
      y: the labels :math:`y` (``(n,)``, not all zero).
      grid: number of radii tried, ``>= 4``.

    Returns:
      A :class:`TargetScale` (``scale = 0`` when :math:`\lambda_0` is not proved positive).
    """
    grid = check_int("grid", grid, minimum=4)
    tb = two_layer_bounds(mlp, params0, x)
    y64 = np.asarray(check_targets("y", y, tb.n), dtype=np.float64)
    ynorm = float(np.linalg.norm(y64))
    if ynorm == 0:
        raise ValueError("y must not be all zero: the target scale multiplies it")
    r_c = tb.certified_radius()
    if r_c <= 0:
        return TargetScale(0.0, 0.0, tb.lambda0_lower, math.nan, math.nan, 0.0)
    radii = r_c * np.geomspace(1e-3, 1.0, grid)[:-1]
    ynorm_up = float(_up(ynorm))
    best = (0.0, math.nan, math.nan)
    for r in radii:
        mu = tb.mu(float(r))
        if mu <= 0:
            continue
        # 2 s ||y|| / sqrt(mu) <= r, rounded down
        s = float(r) * math.sqrt(mu) / (2.0 * ynorm_up) * (1.0 - 1e-4)
        if s > best[0]:
            best = (s, float(r), mu)
    s, r, mu = best
    centred_y = tb.outputs + s * y64
    beta = tb.with_targets(centred_y).smoothness(r)
    return TargetScale(s, r, mu, beta, 1.0 / beta, r_c)


def interpolation_distance(kernel: Any, residual: Any) -> float:
    r"""The distance :math:`\sqrt{u_0^\top \Theta_0^{-1} u_0}` the linearized model travels to interpolate.

    For the linearization :math:`f(\theta_0) + J_0(\theta - \theta_0)` with
    :math:`\Theta_0 = J_0J_0^\top` invertible, gradient descent from
    :math:`\theta_0` converges to the interpolating point nearest to
    :math:`\theta_0`, :math:`\theta_0 - J_0^\top\Theta_0^{-1}u_0`, at this
    distance. It is an *estimate* of the drift a network needs (exact for a
    linear model, approximate in the lazy regime), the scale against which a
    certified radius :math:`\lambda_0/L_\Theta` is compared.

    Args:
      kernel: :math:`\Theta_0`, symmetric positive definite ``(n, n)``.
      residual: :math:`u_0 = f(X;\theta_0) - y`, shape ``(n,)``.

    Returns:
      The distance, a float.

    Raises:
      ValueError: the kernel is not symmetric positive definite (no
        interpolating point of the linearization), or the shapes disagree.
    """
    k = _symmetric64(kernel)
    u = np.asarray(check_targets("residual", residual, k.shape[0]), dtype=np.float64)
    try:
        chol = np.linalg.cholesky(k)
    except np.linalg.LinAlgError as exc:
        raise ValueError("kernel must be positive definite: the linearized model cannot "
                         "interpolate every target") from exc
    z = np.linalg.solve(chol, u)  # u^T K^{-1} u = ||L^{-1} u||^2
    return float(np.linalg.norm(z))
