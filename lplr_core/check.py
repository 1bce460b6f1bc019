r"""Check your own network: the LPLR diagnostics and certificate for any JAX model.

:func:`check_network` takes a model ``apply_fn(params, x) -> (n,)`` with any
pytree of parameters, inputs ``x`` and targets ``y``, runs full-batch gradient
descent on the sum loss :math:`L(\theta) = \tfrac12\|f(X;\theta) - y\|^2` and
returns a :class:`NetworkReport`: the NTK spectrum at :math:`\theta_0`, the
smoothness, the four diagnostics over training, the estimate
:math:`\hat\mu = \lambda_0 - \hat L_\Theta\, r` of the paper's constant and a
verdict on each hypothesis of the book's derivations D1 (local PL from NTK
stability) and D2 (linear rate under containment). Each verdict tests one
statement that can come out either way; none is implied by another or by the
way the report chooses its constants.

It only orchestrates tested core functions (:func:`~lplr_core.ntk.kernel_fn`,
:func:`~lplr_core.diagnostics.smoothness`,
:func:`~lplr_core.training.gradient_descent`,
:func:`~lplr_core.summary.summarize_run` for every number read off the run,
:func:`~lplr_core.diagnostics.lipschitz_in_ball`); it implements no new
numerics. Its arguments are validated once, at the entry. Rendering a report
(text, HTML, Markdown) is :func:`render_report`.

**An empirical check, not a proof.** Every constant in the report is an
*estimate*: :math:`\hat L_\Theta` is a maximum over the recorded iterates (and,
optionally, random directions of a ball), so it can only under-estimate the
Lipschitz constant on the region; the smoothness is measured at the two ends of
the path, not on the whole region; the PL ratio is seen only at the recorded
iterates. A report in which every hypothesis "holds" says that the measured
quantities are consistent with the hypotheses of D1 and D2 on this run, not
that the theorem's conclusion is guaranteed.

**Rigorous mode.** For a one-hidden-layer :class:`~lplr_core.models.MLP` with a
smooth activation, ``check_network(..., rigorous=True)`` also runs
:func:`lplr_core.bounds.certify` on the finished run (a-posteriori mode: the
region is the ball whose radius is the run's maximum drift) and attaches the
resulting :class:`~lplr_core.bounds.Certificate`: every hypothesis of D1/D2
with *proved* upper and lower bounds in place of the estimates. Only then does
the report call anything certified (``NetworkReport.certified``).

:func:`~lplr_core.diagnostics.linear_onset` (re-exported here) is the book's rule for the start :math:`t_0` of the
linear phase of a loss curve (the first record from which a straight-line fit
of :math:`\log(L_t - L^*)` to the end of the window is good and falls far).

Conventions (this book's): the sum loss (no :math:`1/n`), the NTK
:math:`\Theta = J J^\top`, :math:`\lambda_0 = \lambda_{\min}(\Theta(\theta_0))`,
drift :math:`d_t = \|\theta_t - \theta_0\|_2`.
"""

from __future__ import annotations

import functools
import html
import math
from dataclasses import dataclass
from typing import Any, Callable, Literal

import jax
import jax.numpy as jnp
import numpy as np

from lplr_core._validation import (
    check_array,
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_key,
    check_params,
    check_real,
    check_targets,
    describe,
)
from lplr_core import losses
from lplr_core.diagnostics import (  # noqa: F401  (LinearOnset, linear_onset: re-exported)
    LinearOnset,
    RateFit,
    linear_onset,
    lipschitz_in_ball,
    smoothness,
)
from lplr_core.models import MLP, model_of, param_count
from lplr_core.ntk import NTK_METHODS, kernel_fn, ntk_eigenvalues
from lplr_core.rates import sharp_rate_factor
from lplr_core.summary import summarize_run
from lplr_core.training import Trajectory, gradient_descent

__all__ = ["Verdict", "NetworkReport", "check_network", "render_report", "REPORT_FORMATS",
           "LinearOnset", "linear_onset"]

DISCLAIMER = ("Estimated constants (path and sampled Lipschitz estimates, sharpness at two "
              "points): an empirical check of the hypotheses on this run, not a proof.")
RIGOROUS_NOTE = ("Proved bounds (lplr_core.bounds, float64): each line below is a theorem "
                 "about this network on the stated ball, not an estimate.")


# ----------------------------------------------------------------------------- results

@dataclass(frozen=True)
class Verdict:
    """One checked statement of the report.

    Attributes:
      name: a short identifier, e.g. ``"lambda0_positive"``.
      statement: the condition in words and symbols, e.g. ``"λ_0 > 0"``.
      holds: ``True``, ``False``, or ``None`` when it could not be evaluated.
      explanation: one line saying why, with the numbers.
      kind: ``"hypothesis"`` (of D1/D2), ``"consequence"`` (what D1/D2 then
        predict, checked on the run) or ``"run"`` (the run itself).
    """

    name: str
    statement: str
    holds: bool | None
    explanation: str
    kind: str = "hypothesis"

    @property
    def mark(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.holds]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "statement": self.statement, "holds": self.holds,
                "explanation": self.explanation, "kind": self.kind}


@dataclass(frozen=True, eq=False)
class NetworkReport:
    r"""What :func:`check_network` measured, with a verdict per hypothesis.

    Scalars are Python floats (``nan`` where a quantity could not be measured,
    e.g. after an early divergence). ``trajectory`` is the full
    :class:`~lplr_core.training.Trajectory` of the gradient-descent run.

    ``consistent`` is true when every hypothesis of D1 and D2 holds on the
    *estimated* constants (see ``DISCLAIMER``: an empirical check). ``mu_hat``
    is the estimate :math:`\hat\mu = \lambda_0 - \hat L_\Theta r` and
    ``radius_hat`` the estimate :math:`\lambda_0 / \hat L_\Theta` of the
    radius where the paper's condition (c) holds. ``rigorous`` is the
    :class:`~lplr_core.bounds.Certificate` of the rigorous mode (``None``
    without it), and ``certified`` is true only when that certificate proves
    every hypothesis.
    """

    model: str
    n: int
    p: int
    dtype: str
    output_squeezed: bool
    # NTK at theta_0
    lambda0: float
    lambda_max: float
    condition_number: float
    lambda_tol: float
    # smoothness and step size
    beta0: float
    beta_final: float
    beta_hat: float
    step_size: float
    step_size_rule: str
    steps: int
    loss_star: float
    # run
    diverged_at: int | None
    loss0: float
    loss_final: float
    # diagnostics over training
    lambda_min_path: float
    kernel_drift_max: float
    max_drift: float
    max_relative_drift: float
    final_drift: float
    stable_from: int
    stable_until: int
    pl_envelope_min: float
    rate_fit: RateFit | None
    # estimates of the paper's constants
    lipschitz_path: float
    lipschitz_ball: float | None
    lipschitz: float
    radius: float
    radius_rule: str
    mu_hat: float
    radius_hat: float
    bound_factor: float
    verdicts: tuple[Verdict, ...]
    trajectory: Trajectory
    rigorous: Any = None

    # ---------------------------------------------------------------- summaries
    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    @property
    def consistent(self) -> bool:
        """Every hypothesis of D1/D2 holds on the estimated constants (and no divergence).

        An empirical statement: the estimates can be too optimistic (see ``DISCLAIMER``).
        """
        return all(v.holds is True for v in self.verdicts if v.kind in ("hypothesis", "run"))

    @property
    def certified(self) -> bool:
        """The rigorous mode ran and proved every hypothesis (``rigorous.proved``)."""
        return self.rigorous is not None and bool(self.rigorous.proved)

    def verdict(self, name: str) -> Verdict:
        """The verdict called ``name`` (see ``verdicts``)."""
        for v in self.verdicts:
            if v.name == name:
                return v
        raise KeyError(f"name must be one of {[v.name for v in self.verdicts]}; got {name!r}")

    def failed(self) -> list[Verdict]:
        """The verdicts that do not hold (``holds is False``)."""
        return [v for v in self.verdicts if v.holds is False]

    def __str__(self) -> str:
        return render_report(self, "text")

    def __repr__(self) -> str:
        return (f"NetworkReport(n={self.n}, p={self.p}, lambda0={self.lambda0:.4g}, "
                f"mu_hat={self.mu_hat:.4g}, consistent={self.consistent}, "
                f"certified={self.certified})")

    def _repr_html_(self) -> str:
        return render_report(self, "html")

    def to_dict(self, *, include_trajectory: bool = False) -> dict[str, Any]:
        """Plain Python values (JSON-serializable); the trajectory's arrays on request."""
        skip = {"verdicts", "trajectory", "rate_fit", "rigorous"}
        out = {name: getattr(self, name) for name in self.__dataclass_fields__ if name not in skip}
        out["rate_fit"] = None if self.rate_fit is None else dict(self.rate_fit._asdict())
        out["verdicts"] = [v.to_dict() for v in self.verdicts]
        out["consistent"] = self.consistent
        out["certified"] = self.certified
        out["disclaimer"] = DISCLAIMER
        if self.rigorous is not None:
            cert = self.rigorous
            out["rigorous"] = {
                "proved": bool(cert.proved), "mode": str(cert.mode),
                "radius": float(cert.radius), "rate": float(cert.rate),
                "hypotheses": [{"name": str(h.name), "proved": bool(h.proved),
                                "statement": str(h.statement), "value": _plain(h.value)}
                               for h in cert.hypotheses]}
        if include_trajectory:
            t = self.trajectory
            out["trajectory"] = {name: np.asarray(getattr(t, name)).tolist() for name in (
                "steps", "loss", "grad_norm_sq", "drift", "relative_drift", "pl_ratio",
                "ntk_steps", "lambda_min", "lambda_max", "kernel_drift")}
        return out


def _plain(value: Any) -> Any:
    """A JSON-friendly version of a Hypothesis value (a number, or its text)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _fmt_any(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    try:
        return _fmt(float(value))
    except (TypeError, ValueError):
        return str(value)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}"


# --------------------------------------------------------------------------- rendering

REPORT_FORMATS = ("text", "html", "markdown")


def render_report(report: NetworkReport, fmt: Literal["text", "html", "markdown"] = "text") -> str:
    """A :class:`NetworkReport` as plain text (``str(report)``), HTML (the notebook display)
    or Markdown.

    Args:
      report: the report to render.
      fmt: ``"text"``, ``"html"`` or ``"markdown"``.
    """
    if not isinstance(report, NetworkReport):
        raise TypeError(f"report must be a NetworkReport; got {describe(report)}")
    fmt = check_choice("fmt", fmt, REPORT_FORMATS)
    return {"text": _render_text, "html": _render_html, "markdown": _render_markdown}[fmt](report)


def _rows(rep: NetworkReport) -> list[tuple[str, str, str]]:
    """(quantity, value, note) per line of the report's table."""
    fit = rep.rate_fit
    rows = [
        ("model", rep.model, f"n = {rep.n}, p = {rep.p:,}, {rep.dtype}"
         + (", output (n, 1) squeezed" if rep.output_squeezed else "")),
        ("λ_0 = λ_min(Θ(θ_0))", _fmt(rep.lambda0), "NTK spectral gap at initialization"),
        ("λ_max(Θ(θ_0))", _fmt(rep.lambda_max), f"condition number {_fmt(rep.condition_number)}"),
        ("β_0, β(θ_T)", f"{_fmt(rep.beta0)}, {_fmt(rep.beta_final)}",
         "sharpness at the two ends of the path"),
        ("step size η", _fmt(rep.step_size),
         f"{rep.step_size_rule}; η β̂ = {_fmt(rep.step_size * rep.beta_hat)}"),
        ("steps T, L*", f"{rep.steps}, {_fmt(rep.loss_star)}",
         "diverged at step " + str(rep.diverged_at) if rep.diverged else "no divergence"),
        ("L(θ_0) → L(θ_T)", f"{_fmt(rep.loss0)} → {_fmt(rep.loss_final)}",
         "last finite record" if rep.diverged else "sum loss"),
        ("min_t λ_min(Θ_t)", _fmt(rep.lambda_min_path), "NTK spectral gap over training"),
        ("max_t ‖Θ_t − Θ_0‖_op", _fmt(rep.kernel_drift_max), "kernel drift"),
        ("max_t d_t (relative)", f"{_fmt(rep.max_drift)} ({_fmt(rep.max_relative_drift)})",
         "parameter drift ‖θ_t − θ_0‖ (/ ‖θ_0‖)"),
        ("min PL ratio, stable regime", _fmt(rep.pl_envelope_min),
         f"lower envelope of ρ_t on steps [{rep.stable_from}, {rep.stable_until}]"),
        ("fitted rate q̂", "n/a" if fit is None else _fmt(fit.rate),
         "no window to fit" if fit is None else
         f"R² = {fit.r2:.3f} on steps [{fit.start}, {fit.stop}]"),
        ("L̂_Θ (path estimate)", _fmt(rep.lipschitz_path), "max_t ‖Θ_t − Θ_0‖ / d_t"),
    ]
    if rep.lipschitz_ball is not None:
        rows.append(("L̂_Θ (ball estimate, sampled)", _fmt(rep.lipschitz_ball),
                     f"random directions, radius {_fmt(rep.radius)}"))
    rows += [
        ("radius r", _fmt(rep.radius), rep.radius_rule),
        ("estimate μ̂ = λ_0 − L̂_Θ r", _fmt(rep.mu_hat),
         f"with L̂_Θ = {_fmt(rep.lipschitz)} (an upper estimate of μ)"),
        ("radius estimate λ_0 / L̂_Θ", _fmt(rep.radius_hat), "largest r with μ̂ > 0"),
        ("bound factor 1 − 2μ̂η(1 − β̂η/2)", _fmt(rep.bound_factor),
         "D2's per-step factor with the estimates (n/a if μ̂ ≤ 0 or η β̂ ≥ 2)"),
    ]
    return rows


def _overall(rep: NetworkReport) -> str:
    if rep.consistent:
        return "consistent: every hypothesis of D1/D2 holds on the estimated constants"
    return "not consistent: " + ", ".join(
        v.statement for v in rep.verdicts
        if v.kind in ("hypothesis", "run") and v.holds is not True)


def _rigorous_lines(rep: NetworkReport) -> list[tuple[str, str, str, str]]:
    """(mark, name, statement, value) per hypothesis of the attached Certificate."""
    out = []
    for h in rep.rigorous.hypotheses:
        value = getattr(h, "value", None)
        out.append(("PROVED" if h.proved else "FAILED", str(h.name), str(h.statement),
                    "" if value is None else _fmt_any(value)))
    return out


def _rigorous_overall(rep: NetworkReport) -> str:
    cert = rep.rigorous
    if cert.proved:
        rate = getattr(cert, "rate", math.nan)
        return ("certified: every hypothesis is proved"
                + ("" if not np.isfinite(rate) else
                   f"; guaranteed per-step loss factor {_fmt(rate)}"))
    failed = [str(h.name) for h in cert.hypotheses if not h.proved]
    return "not certified: not proved: " + ", ".join(failed)


def _render_text(rep: NetworkReport) -> str:
    rows = _rows(rep)
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = ["LPLR check of your network", "=" * 26]
    lines += [f"{a:<{w0}}  {b:>{w1}}  {c}" for a, b, c in rows]
    lines += ["", "Verdicts (D1: local PL from NTK stability; D2: linear rate under "
              "containment)"]
    wn = max(len(v.statement) for v in rep.verdicts)
    for v in rep.verdicts:
        lines.append(f"  {v.mark:<4}  {v.statement:<{wn}}  {v.explanation}")
    lines += ["", "Overall (estimates): " + _overall(rep) + ".", DISCLAIMER]
    if rep.rigorous is not None:
        lines += ["", f"Rigorous bounds ({rep.rigorous.mode}, radius "
                  f"{_fmt(rep.rigorous.radius)})", RIGOROUS_NOTE]
        rl = _rigorous_lines(rep)
        wn = max(len(r[1]) for r in rl) if rl else 0
        for mark, name, statement, value in rl:
            lines.append(f"  {mark:<6}  {name:<{wn}}  {statement}"
                         + (f"  [{value}]" if value else ""))
        lines.append("Overall (proved): " + _rigorous_overall(rep) + ".")
    return "\n".join(lines)


def _render_html(rep: NetworkReport) -> str:
    esc = html.escape
    cell = "padding:2px 8px;border-bottom:1px solid #ddd;text-align:left"
    out = ["<div class='lplr-report'><table style='border-collapse:collapse'>",
           f"<tr><th style='{cell}'>quantity</th><th style='{cell}'>value</th>"
           f"<th style='{cell}'>note</th></tr>"]
    for a, b, c in _rows(rep):
        out.append(f"<tr><td style='{cell}'>{esc(a)}</td>"
                   f"<td style='{cell};font-family:monospace'>{esc(b)}</td>"
                   f"<td style='{cell}'>{esc(c)}</td></tr>")
    out.append("</table><table style='border-collapse:collapse;margin-top:0.6em'>")
    out.append(f"<tr><th style='{cell}'>verdict</th><th style='{cell}'>condition</th>"
               f"<th style='{cell}'>kind</th><th style='{cell}'>why</th></tr>")
    colors = {True: "#009E73", False: "#D55E00", None: "#777777"}
    for v in rep.verdicts:
        out.append(f"<tr><td style='{cell};color:{colors[v.holds]};font-weight:bold'>"
                   f"{v.mark}</td><td style='{cell}'>{esc(v.statement)}</td>"
                   f"<td style='{cell}'>{esc(v.kind)}</td>"
                   f"<td style='{cell}'>{esc(v.explanation)}</td></tr>")
    out.append("</table>")
    out.append(f"<p><b>Overall (estimates):</b> {esc(_overall(rep))}. "
               f"<i>{esc(DISCLAIMER)}</i></p>")
    if rep.rigorous is not None:
        out.append("<table style='border-collapse:collapse;margin-top:0.6em'>"
                   f"<tr><th style='{cell}'>proof</th><th style='{cell}'>hypothesis</th>"
                   f"<th style='{cell}'>statement</th><th style='{cell}'>value</th></tr>")
        for mark, name, statement, value in _rigorous_lines(rep):
            color = "#009E73" if mark == "PROVED" else "#D55E00"
            out.append(f"<tr><td style='{cell};color:{color};font-weight:bold'>{mark}</td>"
                       f"<td style='{cell}'>{esc(name)}</td><td style='{cell}'>"
                       f"{esc(statement)}</td><td style='{cell};font-family:monospace'>"
                       f"{esc(value)}</td></tr>")
        out.append("</table>")
        out.append(f"<p><b>Overall (proved, {esc(str(rep.rigorous.mode))}):</b> "
                   f"{esc(_rigorous_overall(rep))}. <i>{esc(RIGOROUS_NOTE)}</i></p>")
    out.append("</div>")
    return "".join(out)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


def _render_markdown(rep: NetworkReport) -> str:
    lines = ["| quantity | value | note |", "|---|---|---|"]
    lines += [f"| {_md(a)} | `{_md(b)}` | {_md(c)} |" for a, b, c in _rows(rep)]
    lines += ["", "| verdict | condition | kind | why |", "|---|---|---|---|"]
    lines += [f"| **{v.mark}** | {_md(v.statement)} | {v.kind} | {_md(v.explanation)} |"
              for v in rep.verdicts]
    lines += ["", f"**Overall (estimates):** {_overall(rep)}. *{DISCLAIMER}*"]
    if rep.rigorous is not None:
        lines += ["", "| proof | hypothesis | statement | value |", "|---|---|---|---|"]
        lines += [f"| **{mark}** | {_md(name)} | {_md(statement)} | {_md(value)} |"
                  for mark, name, statement, value in _rigorous_lines(rep)]
        lines += ["", f"**Overall (proved, {rep.rigorous.mode}):** {_rigorous_overall(rep)}. "
                  f"*{RIGOROUS_NOTE}*"]
    return "\n".join(lines)


# -------------------------------------------------------------------------- validation

@functools.lru_cache(maxsize=64)
def _squeezed_cached(apply_fn):
    return _make_squeezed(apply_fn)


def _make_squeezed(apply_fn):
    def squeezed(params, x):
        return apply_fn(params, x)[:, 0]
    squeezed.__qualname__ = f"{getattr(apply_fn, '__qualname__', 'apply_fn')}[:, 0]"
    return squeezed


def _check_model(apply_fn, params, x):
    """Output shape (n,) (or (n, 1), squeezed), floating, finite at theta_0."""
    check_callable("apply_fn", apply_fn)
    n = x.shape[0]
    try:
        out = jax.eval_shape(apply_fn, params, x)
    except Exception as exc:  # the user's function failed on these shapes
        raise ValueError(f"apply_fn(params, x) failed for x of shape {tuple(x.shape)}: "
                         f"{type(exc).__name__}: {exc}") from exc
    shape = getattr(out, "shape", None)
    squeeze = False
    if shape == (n, 1):
        squeeze = True
    elif shape != (n,):
        got = describe(out) if shape is None else f"shape {tuple(shape)}"
        raise ValueError(f"apply_fn(params, x) must return one scalar output per sample, shape "
                         f"({n},) (or ({n}, 1), which is squeezed); got {got}")
    if not np.issubdtype(out.dtype, np.floating):
        raise TypeError(f"apply_fn(params, x) must return floats; got dtype {out.dtype}")
    if squeeze:
        try:
            fn = _squeezed_cached(apply_fn)
        except TypeError:  # unhashable callable: no cache, recompiles per call
            fn = _make_squeezed(apply_fn)
    else:
        fn = apply_fn
    values = np.asarray(jax.jit(fn)(params, x))
    bad = int(np.size(values) - np.isfinite(values).sum())
    if bad:
        raise ValueError(f"apply_fn(params, x) must be finite at the initial params; got {bad} "
                         "NaN/inf outputs")
    return fn, squeeze


def _default_layout(steps: int, record_every: int | None, ntk_every: int | None):
    if record_every is None:
        record_every = max(1, steps // 200)
    else:
        record_every = check_int("record_every", record_every, minimum=1)
    if ntk_every is None:
        ntk_every = record_every * max(1, (steps // record_every) // 20)
    else:
        ntk_every = check_int("ntk_every", ntk_every, minimum=1)
        if ntk_every % record_every:
            raise ValueError(f"ntk_every must be a multiple of record_every={record_every}; "
                             f"got {ntk_every}")
    return record_every, ntk_every


# ------------------------------------------------------------------------------ check

def check_network(apply_fn: Callable, params: Any, x: Any, y: Any, *,
                  step_size: float | None = None, steps: int = 500,
                  loss_star: float = 0.0, radius: float | None = None,
                  ntk_method: str = "auto", stable_from: int | None = None,
                  record_every: int | None = None, ntk_every: int | None = None,
                  ball_directions: int = 0, smoothness_iters: int = 100,
                  min_r2: float = 0.9, key: Any = 0, name: str | None = None,
                  rigorous: bool = False, mlp: MLP | None = None) -> NetworkReport:
    r"""Measure the LPLR diagnostics and estimated constants of a user's model on its data.

    Steps (each a tested core function):

    1. the empirical NTK at :math:`\theta_0` (:func:`~lplr_core.ntk.empirical_ntk`):
       :math:`\lambda_0`, :math:`\lambda_{\max}`, the condition number;
    2. the sharpness :math:`\beta_0` (:func:`~lplr_core.diagnostics.smoothness`);
       the step size defaults to :math:`\eta = 1/\beta_0`;
    3. ``steps`` of full-batch gradient descent with records
       (:func:`~lplr_core.training.gradient_descent`), and the sharpness
       :math:`\beta(\theta_T)` at the last finite iterate; :math:`\hat\beta =
       \max(\beta_0, \beta(\theta_T))`;
    4. the four diagnostics: NTK spectral gap :math:`\lambda_{\min}(\Theta_t)`
       and kernel drift; parameter drift :math:`d_t` (absolute and relative);
       PL ratio :math:`\rho_t` and its lower envelope on the stable regime;
       suboptimality :math:`L_t - L^*` with a fitted linear rate
       (:func:`~lplr_core.diagnostics.fit_linear_rate`);
    5. :math:`\hat L_\Theta` along the path (and, with ``ball_directions > 0``,
       in random directions of the ball of radius :math:`r`,
       :func:`~lplr_core.diagnostics.lipschitz_in_ball`; the larger is used),
       the estimate :math:`\hat\mu = \lambda_0 - \hat L_\Theta r`
       (:func:`~lplr_core.diagnostics.certificate` applied to the estimates)
       and the radius estimate :math:`\lambda_0/\hat L_\Theta`;
    6. verdicts on the hypotheses of the book's D1 and D2, each a separate
       statement — :math:`\lambda_0 > 0`; :math:`\hat L_\Theta r < \lambda_0`;
       :math:`\eta < 2/\hat\beta`; containment :math:`\max_t d_t \le r` (only
       when ``radius`` is given: with the default :math:`r = \max_t d_t` it holds
       by construction and is not reported as a verdict); no divergence — and
       on what they predict: a linear rate observed, no slower than D2's factor
       with the estimates;
    7. with ``rigorous=True``, :func:`lplr_core.bounds.certify` on the run
       (a-posteriori mode), attached as ``NetworkReport.rigorous``.

    **Verdicts are independent.** No verdict restates another (containment does
    not re-test :math:`\hat L_\Theta r < \lambda_0`), and none holds by the
    construction of the estimates: the PL envelope is reported, but not
    compared with :math:`\hat\mu`, because at every recorded NTK it is at least
    :math:`\hat\mu` by Weyl's inequality and the definition of the path
    estimate.

    **The stable regime** is the records with :math:`t \ge t_0` (``stable_from``,
    default ``steps // 10``) and :math:`L_t - L^* > \epsilon_{\rm floor}
    (L_0 - L^*)` with :math:`\epsilon_{\rm floor} = 10^4\,\epsilon_{\rm mach}` of
    the parameters' dtype (the package's round-off floor,
    :mod:`lplr_core.summary`): once the loss reaches round-off, neither the rate
    nor the PL ratio means anything. The PL envelope and the rate fit use this
    window.

    **Divergence is a result**: if the loss stops being finite, the report says
    so (``diverged_at``; the "no divergence" verdict fails) and the quantities
    that need the rest of the run are ``nan``. No exception is raised.

    **Outputs of shape (n, 1)** are accepted and squeezed to ``(n,)`` (the
    report's ``output_squeezed`` says so); any other shape is an error.

    This is an **empirical check, not a proof**: all constants are estimates
    (see the module docstring and ``DISCLAIMER``), except in the rigorous mode's
    attached certificate.

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)``, any JAX-traceable function.
      params: the initial parameters :math:`\theta_0`, any pytree of float arrays.
      x: inputs of shape ``(n, ...)`` (2 to 4 dimensions), finite.
      y: targets of shape ``(n,)`` (or ``(n, 1)``), finite.
      step_size: :math:`\eta > 0`; default :math:`1/\beta_0`.
      steps: number of gradient-descent steps :math:`T \ge 2`.
      loss_star: :math:`L^* \ge 0`, below :math:`L(\theta_0)` (0 for a task the
        model can interpolate).
      radius: the region's radius :math:`r > 0`; default :math:`\max_t d_t`,
        the smallest ball around :math:`\theta_0` that holds the path.
      ntk_method: ``"auto"``, ``"jacobian"``, ``"ntvp"``, ``"jaxpr"`` (structured
        derivatives read from any function's jaxpr) or ``"structured"``
        (:class:`~lplr_core.models.MLP` only).
      stable_from: first step :math:`t_0` of the stable regime, in
        ``[0, steps - 1]``; default ``steps // 10``.
      record_every: record every this many steps; default ``max(1, steps // 200)``.
      ntk_every: NTK every this many steps (a multiple of ``record_every``);
        default about 20 NTK records per run.
      ball_directions: random directions for the ball estimate of
        :math:`L_\Theta` (0: path estimate only).
      smoothness_iters: power iterations for each sharpness estimate.
      min_r2: the fit quality (:math:`R^2`) required to call the decay linear.
      key: PRNG key or int seed (sharpness start vectors, ball directions).
      name: a label for the model in the report (default: ``apply_fn``'s name).
      rigorous: also prove (or fail to prove) every hypothesis with
        :func:`lplr_core.bounds.certify` on the finished run. Needs a
        one-hidden-layer :class:`~lplr_core.models.MLP` with a smooth activation
        (``apply_fn=mlp.apply``, or pass ``mlp``) and records at every step
        (``record_every`` 1, the default in this mode).
      mlp: the :class:`~lplr_core.models.MLP` whose ``apply`` is ``apply_fn``,
        for the rigorous mode when ``apply_fn`` is a wrapper of it.

    Returns:
      A :class:`NetworkReport` (print it, or display it in a notebook).

    Raises:
      TypeError, ValueError: an argument is invalid; the message names it.
    """
    apply_fn = check_callable("apply_fn", apply_fn)
    params = check_params("params", params)
    x = check_array("x", x, ndim=(2, 3, 4))
    y = check_targets("y", y, x.shape[0])
    steps = check_int("steps", steps, minimum=2)
    loss_star = check_real("loss_star", loss_star, minimum=0.0)
    if step_size is not None:
        step_size = check_real("step_size", step_size, minimum=0.0, strict_min=True)
    if radius is not None:
        radius = check_real("radius", radius, minimum=0.0, strict_min=True)
    ntk_method = check_choice("ntk_method", ntk_method, NTK_METHODS)
    stable_from = steps // 10 if stable_from is None else check_int(
        "stable_from", stable_from, minimum=0, maximum=steps - 1)
    rigorous = check_bool("rigorous", rigorous)
    mlp = _rigorous_mlp(apply_fn, mlp, rigorous)
    if rigorous:
        if record_every is None:
            record_every = 1
        elif check_int("record_every", record_every, minimum=1) != 1:
            raise ValueError("record_every must be 1 with rigorous=True (the a-posteriori proof "
                             f"needs the drift of every iterate); got {record_every}")
    record_every, ntk_every = _default_layout(steps, record_every, ntk_every)
    ball_directions = check_int("ball_directions", ball_directions, minimum=0)
    smoothness_iters = check_int("smoothness_iters", smoothness_iters, minimum=1)
    min_r2 = check_real("min_r2", min_r2, minimum=0.0, maximum=1.0)
    key = check_key("key", key)
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str or None; got {describe(name)}")

    fn, squeezed = _check_model(apply_fn, params, x)
    if mlp is not None:
        _check_same_model(mlp, fn, params, x)
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(params))
    eps = float(np.finfo(np.dtype(dtype)).eps)
    y = y.astype(dtype)
    model = name or getattr(apply_fn, "__qualname__", None) or type(apply_fn).__name__

    # 1. NTK at theta_0.
    n = x.shape[0]
    lambda0, lam_max, lambda_tol, cond = _ntk_at_start(fn, params, x, ntk_method, eps)

    # 2. smoothness and step size.
    key_beta0, key_beta1, key_ball = jax.random.split(key, 3)
    beta0 = float(smoothness(fn, params, x, y, iters=smoothness_iters, key=key_beta0))
    step_size, step_rule = _step_size(fn, params, x, y, step_size, beta0, loss_star)

    # 3. the run.
    traj = gradient_descent(fn, params, x, y, step_size=step_size, steps=steps,
                            record_every=record_every, ntk_every=ntk_every,
                            loss_star=loss_star, ntk_method=ntk_method)
    beta_final = float(smoothness(fn, traj.params, x, y, iters=smoothness_iters, key=key_beta1))
    beta_hat = max(beta0, beta_final) if np.isfinite(beta_final) else beta0

    # 4. the run's summary (drifts, stable window, PL envelope, rate fit, path estimate,
    # mu_hat), with the sampled estimate in the ball when asked for.
    summary = summarize_run(traj, radius=radius, stable_from=stable_from, loss_star=loss_star,
                            lambda0=lambda0)
    r = summary.radius
    if ball_directions and np.isfinite(r) and r > 0:
        summary = summary.with_ball_estimate(
            lipschitz_in_ball(fn, params, x, r, n_directions=ball_directions, key=key_ball,
                              method=ntk_method).value)
    mu_hat = summary.mu_hat
    if mu_hat > 0 and step_size * beta_hat < 2:
        bound_factor = max(sharp_rate_factor(step_size, mu_hat, beta_hat), 0.0)
    else:
        bound_factor = math.nan

    verdicts = _verdicts(
        lambda0=lambda0, lambda_tol=lambda_tol, lip=summary.lipschitz_hat, r=r, mu_hat=mu_hat,
        step_size=step_size, beta_hat=beta_hat, max_drift=summary.max_drift,
        radius_given=summary.radius_given, diverged_at=traj.diverged_at,
        rate=summary.rate_fit, min_r2=min_r2, bound_factor=bound_factor,
        stable=(summary.stable_from, summary.stable_until))

    # 5. the rigorous mode: proved bounds on the ball the run actually used.
    proof = None
    if rigorous:
        from lplr_core.bounds import certify  # imported here: only this mode needs it
        proof = certify(mlp, params, x, y, step_size=step_size, trajectory=traj)

    return NetworkReport(
        model=str(model)[:120], n=n, p=param_count(params), dtype=str(np.dtype(dtype)),
        output_squeezed=squeezed, lambda0=lambda0, lambda_max=lam_max, condition_number=cond,
        lambda_tol=lambda_tol, beta0=float(beta0), beta_final=float(beta_final),
        beta_hat=float(beta_hat), step_size=float(step_size), step_size_rule=step_rule,
        steps=steps, loss_star=loss_star, diverged_at=traj.diverged_at,
        loss0=summary.loss0, loss_final=summary.loss_final,
        lambda_min_path=summary.lambda_min_path, kernel_drift_max=summary.kernel_drift_max,
        max_drift=summary.max_drift, max_relative_drift=summary.max_relative_drift,
        final_drift=summary.final_drift, stable_from=summary.stable_from,
        stable_until=summary.stable_until, pl_envelope_min=summary.pl_envelope_min,
        rate_fit=summary.rate_fit, lipschitz_path=summary.lipschitz_path_hat,
        lipschitz_ball=summary.lipschitz_ball_hat, lipschitz=summary.lipschitz_hat,
        radius=r, radius_rule=("given" if summary.radius_given
                               else "max_t d_t (smallest ball holding the path)"),
        mu_hat=mu_hat, radius_hat=summary.radius_hat, bound_factor=bound_factor,
        verdicts=tuple(verdicts), trajectory=traj, rigorous=proof)


def _ntk_at_start(fn, params, x, ntk_method, eps):
    """(λ_0, λ_max, the round-off tolerance of λ_0, the condition number) of Θ(θ_0)."""
    ev = np.asarray(ntk_eigenvalues(kernel_fn(fn, ntk_method)(params, x)), float)
    lambda0, lam_max = float(ev[0]), float(ev[-1])
    # Below this, λ_0 is round-off: the kernel is numerically singular.
    lambda_tol = 100.0 * x.shape[0] * eps * max(abs(lam_max), np.finfo(float).tiny)
    cond = math.inf if lambda0 <= lambda_tol else lam_max / lambda0
    return lambda0, lam_max, lambda_tol, cond


def _step_size(fn, params, x, y, step_size, beta0, loss_star):
    """(η, its rule): the given one or 1/β_0; checks L* < L(θ_0) on the way."""
    loss_at_0 = float(losses.loss(fn, params, x, y))
    if not loss_at_0 > loss_star:
        raise ValueError(f"loss_star must be below the initial loss L(θ_0) = {loss_at_0:.6g}; "
                         f"got {loss_star}")
    if step_size is not None:
        return step_size, "given"
    if not beta0 > 0:
        raise ValueError(f"step_size must be given: the sharpness β_0 = {beta0:.3g} is not "
                         "positive, so the default 1/β_0 is undefined")
    return 1.0 / beta0, "default 1/β_0"


SMOOTH_ACTIVATIONS = ("erf", "tanh", "gelu", "softplus")


def _rigorous_mlp(apply_fn, mlp, rigorous):
    """The one-hidden-layer smooth MLP the rigorous mode needs, or None without the mode."""
    if mlp is not None and not isinstance(mlp, MLP):
        raise TypeError(f"mlp must be an lplr_core.models.MLP or None; got {describe(mlp)}")
    if not rigorous:
        return None
    found = mlp if mlp is not None else model_of(apply_fn)
    if not isinstance(found, MLP):
        raise ValueError(
            "rigorous=True needs a one-hidden-layer lplr_core.models.MLP with a smooth "
            "activation: pass apply_fn=mlp.apply, or mlp=... when apply_fn wraps it; got "
            f"apply_fn={getattr(apply_fn, '__qualname__', describe(apply_fn))}, which is not "
            "an MLP's apply (the proved bounds exist only for that architecture)")
    if found.depth != 1:
        raise ValueError(f"rigorous=True needs an MLP with one hidden layer; got widths "
                         f"{found.widths} ({found.depth} hidden layers)")
    if found.activation not in SMOOTH_ACTIVATIONS:
        why = (" (σ'' is unbounded at the kink, so the NTK has no Lipschitz bound from σ'')"
               if found.activation == "relu" else "")
        raise ValueError(f"rigorous=True needs a smooth activation, one of "
                         f"{list(SMOOTH_ACTIVATIONS)}; got activation={found.activation!r}{why}")
    return found


def _check_same_model(mlp, fn, params, x):
    """The given mlp must compute apply_fn at the initial params (else its proof is not ours)."""
    try:
        ours = np.asarray(mlp.apply(params, x))
    except Exception as exc:
        raise ValueError(f"mlp.apply(params, x) failed: {type(exc).__name__}: {exc}; mlp must "
                         "be the network whose apply is apply_fn") from exc
    theirs = np.asarray(fn(params, x))
    if ours.shape != theirs.shape or not np.allclose(ours, theirs, rtol=1e-6, atol=1e-9):
        raise ValueError("mlp must be the network whose apply is apply_fn: mlp.apply(params, x) "
                         "differs from apply_fn(params, x) at the initial params")


def _verdicts(*, lambda0, lambda_tol, lip, r, mu_hat, step_size, beta_hat, max_drift,
              radius_given, diverged_at, rate, min_r2, bound_factor, stable) -> list[Verdict]:
    f = _fmt
    out = []
    if lambda0 > lambda_tol:
        why = f"λ_0 = {f(lambda0)} > 0: the NTK is positive definite at θ_0"
    else:
        why = (f"λ_0 = {f(lambda0)} is zero up to round-off (tolerance {f(lambda_tol)}): the "
               "NTK is singular, e.g. duplicated inputs or more samples than the model can fit")
    out.append(Verdict("lambda0_positive", "λ_0 > 0", lambda0 > lambda_tol, why))

    if not np.isfinite(mu_hat):
        out.append(Verdict("lipschitz_compatible", "L̂_Θ r < λ_0", None,
                           "L̂_Θ could not be estimated (fewer than two NTK records before "
                           "divergence, or no drift)"))
    else:
        holds = mu_hat > 0 and lambda0 > lambda_tol
        why = (f"L̂_Θ r = {f(lip)} × {f(r)} = {f(lip * r)} "
               f"{'<' if lip * r < lambda0 else '≥'} λ_0 = {f(lambda0)}, so μ̂ = {f(mu_hat)}")
        out.append(Verdict("lipschitz_compatible", "L̂_Θ r < λ_0", bool(holds), why))

    eb = step_size * beta_hat
    if eb < 2:
        form = "η ≤ 1/β̂ (first form of D2)" if eb <= 1 else "1/β̂ < η < 2/β̂ (second form)"
        why = f"η β̂ = {f(eb)} < 2 ({form}); β̂ = max(β_0, β(θ_T)) = {f(beta_hat)}"
    else:
        why = (f"η β̂ = {f(eb)} ≥ 2: the step is beyond the stability edge 2/β̂ = "
               f"{f(2 / beta_hat)}; D2 does not apply")
    out.append(Verdict("step_size_stable", "η < 2/β̂", bool(eb < 2), why))

    # Containment in the region of radius r, and nothing else (whether r is small enough
    # is the verdict above). With the default r = max_t d_t it holds by construction,
    # so it is not a verdict then.
    if radius_given:
        if diverged_at is not None:
            out.append(Verdict("contained", "max_t d_t ≤ r", False,
                               f"the run diverged at step {diverged_at}: it left every ball"))
        else:
            inside = bool(max_drift <= r * (1 + 1e-12))
            out.append(Verdict("contained", "max_t d_t ≤ r", inside,
                               f"max_t d_t = {f(max_drift)} {'≤' if inside else '>'} r = {f(r)}: "
                               f"the path {'stays in' if inside else 'leaves'} the region"))

    out.append(Verdict("no_divergence", "no divergence", diverged_at is None,
                       "at every step the loss, ‖∇L‖², drift and PL ratio stayed finite and "
                       "the loss did not blow up (L_t − L* ≤ blowup · max(L_0 − L*, 1), "
                       "see gradient_descent)" if diverged_at is None else
                       f"the run was flagged at step {diverged_at}: a non-finite loss, "
                       "‖∇L‖², drift, PL ratio or NTK record, or a loss blow-up (the reason is "
                       "report.trajectory.divergence); records stop before that step (a "
                       "report, not an error)", kind="run"))

    if rate is None:
        out.append(Verdict("linear_rate", "linear rate observed", None if diverged_at is None
                           else False,
                           f"fewer than 3 records in the stable regime [{stable[0]}, "
                           f"{stable[1]}] above round-off: nothing to fit", kind="consequence"))
    else:
        holds = rate.rate < 1 and rate.r2 >= min_r2
        why = (f"log(L_t − L*) fits a line with q̂ = {f(rate.rate)} per step, R² = "
               f"{rate.r2:.3f} (needs q̂ < 1 and R² ≥ {min_r2:g}) on steps "
               f"[{rate.start}, {rate.stop}]")
        out.append(Verdict("linear_rate", "linear rate observed", bool(holds), why,
                           kind="consequence"))

    if rate is None or not np.isfinite(bound_factor):
        out.append(Verdict("rate_within_bound", "q̂ ≤ 1 − 2μ̂η(1 − β̂η/2)", None,
                           "no bound to compare: needs μ̂ > 0, η β̂ < 2 and a fitted rate",
                           kind="consequence"))
    else:
        holds = rate.rate <= bound_factor * (1 + 1e-9)
        out.append(Verdict("rate_within_bound", "q̂ ≤ 1 − 2μ̂η(1 − β̂η/2)", bool(holds),
                           f"fitted q̂ = {f(rate.rate)} {'≤' if holds else '>'} D2's factor "
                           f"{f(bound_factor)}", kind="consequence"))

    return out
