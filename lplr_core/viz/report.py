r"""Figures of a :class:`~lplr_core.check.NetworkReport`, what :func:`~lplr_core.check.check_network` returns.

A report already displays itself as a table (its ``_repr_html_``, from
:func:`lplr_core.check.render_report`); this module draws it. Every curve is a
record of ``report.trajectory`` or a constant of the report, never recomputed
here except for the two overlays the report defines: the fitted line
:math:`\exp(a + b t)` of ``report.rate_fit`` on its window, and the curve
:math:`q^t (L_0 - L^*)` with D2's per-step factor ``report.bound_factor``
:math:`q = 1 - 2\hat\mu\eta(1 - \hat\beta\eta/2)`
(:func:`lplr_core.diagnostics.pl_bound`): D2's bound *with estimated
constants*, an estimate, not a guarantee.

* :func:`report_figure`: the four diagnostics of the report in four panels: the
  NTK spectral gap :math:`\lambda_{\min}(\Theta_t)` against the estimate
  :math:`\hat\mu`; the drift :math:`d_t` against the radius :math:`r` and the
  radius estimate :math:`\lambda_0/\hat L_\Theta`; the PL ratio with the stable
  regime shaded and its lower envelope there; the suboptimality on a log axis
  with the fitted line and the bound with the estimates.
* :func:`run_figure`: two panels (suboptimality with the fitted line; drift with
  :math:`r` and :math:`\lambda_0/\hat L_\Theta`), light enough for a live panel.
* :func:`reports_slider`: the two panels of :func:`run_figure` for several
  reports (e.g. one per step size) behind a native plotly slider, with the same
  axes at every position and each report's verdict in the title.
* :func:`verdict_text`: the report's verdict in a few words ("consistent",
  "fails η < 2/β̂", "diverged at step 12"), with rendered sub- and superscripts.

A diverging run is drawn to its last record (the records stop before the
flagged step) and marked by a grey vertical line at ``report.diverged_at``.
Log axes are clipped to the records (the suboptimality to at most
:data:`MAX_DECADES` decades below its largest value), so a bound curve that
falls faster than the run never stretches the axis.

Every series has its own colour *and* dash (the Okabe-Ito palette of
:data:`lplr_core.viz.COLORWAY`), so the figures read in grey and for
colour-blind readers; legends sit below the panels.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lplr_core.check import NetworkReport
from lplr_core.diagnostics import lower_envelope, pl_bound
from lplr_core.viz.figures import COLORWAY, slider_figure

__all__ = ["MAX_DECADES", "SERIES", "markup", "report_figure", "reports_slider", "run_figure",
           "verdict_text"]

#: The most decades a log axis of these figures spans (below the largest value drawn).
MAX_DECADES = 18.0

_BLUE, _VERMILLION, _GREEN, _PINK, _ORANGE, _SKY, _BLACK = COLORWAY
_GREY = "#777777"

#: Each series' legend name and line style (colour and dash together identify it).
SERIES: dict[str, dict[str, Any]] = {
    "lambda_min": dict(name="λ<sub>min</sub>(Θ<sub>t</sub>)", color=_BLUE, dash="solid"),
    "mu_hat": dict(name="estimate μ̂ = λ<sub>0</sub> − L̂<sub>Θ</sub> r", color=_VERMILLION,
                   dash="dot"),
    "drift": dict(name="drift d<sub>t</sub>", color=_SKY, dash="solid"),
    "radius": dict(name="radius r", color=_BLACK, dash="dash"),
    "radius_hat": dict(name="λ<sub>0</sub>/L̂<sub>Θ</sub> (estimate)", color=_ORANGE,
                       dash="dashdot"),
    "pl_ratio": dict(name="PL ratio ρ<sub>t</sub>", color=_PINK, dash="solid"),
    "envelope": dict(name="lower envelope (stable regime)", color=_GREEN, dash="dash"),
    "suboptimality": dict(name="L<sub>t</sub> − L*", color=_BLACK, dash="solid"),
    "fit": dict(name="fitted rate", color=_BLUE, dash="dash"),
    "bound": dict(name="D2's bound with the estimates", color=_VERMILLION, dash="dash"),
    "diverged": dict(name="divergence", color=_GREY, dash="longdash"),
}

_SUB = re.compile(r"_(\{[^}]*\}|[A-Za-z0-9Θθλ]+)")
_SUP = re.compile(r"\^(\{[^}]*\}|[A-Za-z0-9*]+)")


def markup(text: str) -> str:
    """``text`` with ``_x`` and ``^x`` as rendered ``<sub>x</sub>`` and ``<sup>x</sup>``.

    The core's statements and explanations are plain Unicode (``"λ_0 > 0"``,
    ``"max_t d_t ≤ r"``); plotly titles and legends render ``<sub>``/``<sup>``.
    A braced group (``_{op}``) is one subscript.

    Args:
      text: the plain text.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    out = _SUB.sub(lambda m: f"<sub>{m.group(1).strip('{}')}</sub>", text)
    return _SUP.sub(lambda m: f"<sup>{m.group(1).strip('{}')}</sup>", out)


def _check_report(report: Any, name: str = "report") -> NetworkReport:
    if not isinstance(report, NetworkReport):
        raise TypeError(f"{name} must be a lplr_core.check.NetworkReport (check_network's "
                        f"result); got {type(report).__name__}")
    return report


def _check_title(title: Any) -> str | None:
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None; got {type(title).__name__}")
    return title


def _check_height(height: Any) -> int:
    if isinstance(height, bool) or not isinstance(height, (int, np.integer)) or height < 200:
        raise ValueError(f"height must be an int >= 200 (pixels); got {height!r}")
    return int(height)


def verdict_text(report: NetworkReport) -> str:
    """The report's verdict in a few words, for a title.

    ``"consistent"`` when every hypothesis holds on the estimates; else
    ``"diverged at step N"`` and/or ``"fails "`` with the failed hypotheses'
    statements (consequences are not listed: they are what the hypotheses
    predict). With a rigorous certificate attached, ``"; certified"`` or
    ``"; not certified"`` follows.

    Args:
      report: a :class:`~lplr_core.check.NetworkReport`.
    """
    report = _check_report(report)
    if report.consistent:
        words = "consistent"
    else:
        parts = []
        if report.diverged:
            parts.append(f"diverged at step {report.diverged_at}")
        failed = [markup(v.statement) for v in report.verdicts
                  if v.kind == "hypothesis" and v.holds is not True]
        if failed:
            parts.append("fails " + ", ".join(failed))
        words = "; ".join(parts) or "not consistent"
    if report.rigorous is not None:
        words += "; certified" if report.certified else "; not certified"
    return words


# ----------------------------------------------------------------------------- pieces

def _line(key: str, x, y, *, legend: bool = True, width: float = 2.0, mode: str = "lines",
          name: str | None = None, **kw) -> go.Scatter:
    style = SERIES[key]
    return go.Scatter(x=np.asarray(x), y=np.asarray(y, float), mode=mode,
                      name=name or style["name"], legendgroup=key, showlegend=legend,
                      line=dict(color=style["color"], dash=style["dash"], width=width), **kw)


def _end_step(report: NetworkReport) -> int:
    steps = report.trajectory.steps
    last = int(steps[-1]) if len(steps) else 0
    return max(last, report.diverged_at or 0, 1)


def _positive(values) -> np.ndarray:
    values = np.asarray(values, float)
    return values[np.isfinite(values) & (values > 0)]


def _log_range(values, *, decades: float = MAX_DECADES, pad: float = 0.25) -> list[float] | None:
    """[log10 low, log10 high] around the positive finite ``values``, at most ``decades`` wide."""
    good = _positive(values)
    if not good.size:
        return None
    high = math.log10(good.max())
    low = max(math.log10(good.min()), high - decades)
    if high - low < 0.5:           # a flat curve: one decade around it
        low, high = low - 0.5, high + 0.5
    return [low - pad, high + pad]


def _fit_trace(report: NetworkReport, **kw) -> go.Scatter | None:
    fit = report.rate_fit
    if fit is None or not np.isfinite(fit.rate):
        return None
    steps = np.asarray(report.trajectory.steps)
    window = steps[(steps >= fit.start) & (steps <= fit.stop)]
    if window.size < 2:
        return None
    return _line("fit", window, np.exp(fit.intercept + fit.slope * window),
                 name=f"fitted rate, q̂ = {fit.rate:.4g}", **kw)


def _bound_trace(report: NetworkReport, **kw) -> go.Scatter | None:
    """D2's bound with the estimates, :func:`lplr_core.diagnostics.pl_bound` (sharp factor)."""
    gap = np.asarray(report.trajectory.suboptimality(report.loss_star), float)
    if not (np.isfinite(report.bound_factor) and gap.size and np.isfinite(gap[0])
            and gap[0] > 0):
        return None
    steps = np.asarray(report.trajectory.steps)
    with np.errstate(under="ignore"):
        bound = pl_bound(report.loss0, report.step_size, report.mu_hat, steps,
                         loss_star=report.loss_star, beta=report.beta_hat)
    return _line("bound", steps, bound,
                 name=f"D2's bound with the estimates, q = {report.bound_factor:.4g}", **kw)


def _divergence_trace(report: NetworkReport, y_range: list[float] | None, *, log: bool,
                      **kw) -> go.Scatter | None:
    """A vertical line at the flagged step, spanning ``y_range`` (log10 values when ``log``)."""
    if not report.diverged or y_range is None:
        return None
    low, high = y_range
    ys = [10.0 ** low, 10.0 ** high] if log else [low, high]
    t = report.diverged_at
    return _line("diverged", [t, t], ys, name=f"diverged at step {t}", width=2.5, **kw)


def _hline(key: str, value: float, end: int, **kw) -> go.Scatter | None:
    if value is None or not np.isfinite(value):
        return None
    return _line(key, [0, end], [value, value], **kw)


def _add(fig: go.Figure, trace: go.Scatter | None, row: int | None = None,
         col: int | None = None) -> None:
    if trace is None:
        return
    if row is None:
        fig.add_trace(trace)
    else:
        fig.add_trace(trace, row=row, col=col)


def _pl_ticks(values: np.ndarray) -> list[float] | None:
    """1-2-5 ticks over ``values`` (plotly leaves a log axis of a decade or two unlabelled)."""
    good = _positive(values)
    if not good.size:
        return None
    decades = range(int(math.floor(math.log10(good.min()))),
                    int(math.ceil(math.log10(good.max()))) + 1)
    return [c * 10.0 ** k for k in decades for c in (1, 2, 5)]


def _x_range(report: NetworkReport) -> list[float]:
    """[0, last step], with room after a flagged step so that its mark is not on the frame."""
    end = _end_step(report)
    return [0, end + max(1.0, 0.04 * end)] if report.diverged else [0, end]


def _legend_below(fig: go.Figure, height: int, title: str | None, y: float) -> None:
    fig.update_layout(height=height, legend=dict(orientation="h", x=0.0, xanchor="left",
                                                 y=y, yanchor="top"),
                      margin=dict(t=90 if title else 50, b=120))
    if title is not None:
        fig.update_layout(title_text=title)


# ----------------------------------------------------------------------------- figures

def report_figure(report: NetworkReport, *, title: str | None = None,
                  height: int = 760) -> go.Figure:
    r"""The four diagnostics of a report, with the report's constants, in four panels.

    1. NTK spectral gap :math:`\lambda_{\min}(\Theta_t)` at the NTK records, with
       the estimate :math:`\hat\mu` when it is positive (a negative estimate
       bounds nothing);
    2. parameter drift :math:`d_t`, with the radius :math:`r` and the radius
       estimate :math:`\lambda_0/\hat L_\Theta` (left out, and named in the
       panel, when it is more than 20 times the largest drift: it would flatten
       the curve);
    3. PL ratio :math:`\rho_t` (log axis), the stable regime
       ``[report.stable_from, report.stable_until]`` shaded, the lower envelope
       on it (its last value is ``report.pl_envelope_min``) and :math:`\hat\mu`;
    4. suboptimality :math:`L_t - L^*` (log axis, clipped to the records), the
       fitted line of ``report.rate_fit`` on its window and the curve
       ``bound_factor ** t * (L_0 - L*)`` (D2's bound with the estimates) when
       the report has one.

    A diverging run ends at its last record, and a grey dotted line marks
    ``report.diverged_at`` in every panel.

    Args:
      report: a :class:`~lplr_core.check.NetworkReport`.
      title: the figure's title (plotly markup: ``<sub>``, ``<sup>``); default the
        report's model name and :func:`verdict_text`.
      height: the figure's height in pixels, at least 200.

    Returns:
      A plotly figure.
    """
    report = _check_report(report)
    title = _check_title(title)
    height = _check_height(height)
    if title is None:
        title = f"{report.model}: {verdict_text(report)}"
    t = report.trajectory
    steps = np.asarray(t.steps)
    end = _end_step(report)
    fig = make_subplots(rows=2, cols=2, horizontal_spacing=0.14, vertical_spacing=0.2,
                        subplot_titles=("NTK spectral gap", "parameter drift",
                                        "PL ratio (stable regime shaded)",
                                        "suboptimality (log axis)"))

    # 1. NTK spectral gap.
    lam = np.asarray(t.lambda_min, float)
    _add(fig, _line("lambda_min", t.ntk_steps, lam, mode="lines+markers"), 1, 1)
    mu_shown = np.isfinite(report.mu_hat) and report.mu_hat > 0
    if mu_shown:
        _add(fig, _hline("mu_hat", report.mu_hat, end), 1, 1)
    gap_values = np.concatenate([lam[np.isfinite(lam)], [report.mu_hat] if mu_shown else []])
    if gap_values.size:
        span = (gap_values.min(), gap_values.max())
        _add(fig, _divergence_trace(report, [min(span[0], 0.0), span[1]], log=False), 1, 1)

    # 2. parameter drift.
    drift = np.asarray(t.drift, float)
    _add(fig, _line("drift", steps, drift), 1, 2)
    _add(fig, _hline("radius", report.radius, end), 1, 2)
    max_drift = float(np.nanmax(drift)) if np.isfinite(drift).any() else math.nan
    rhat = report.radius_hat
    if np.isfinite(rhat) and rhat > 0:
        if np.isfinite(max_drift) and rhat <= 20 * max(max_drift, report.radius):
            _add(fig, _hline("radius_hat", rhat, end), 1, 2)
        else:
            fig.add_annotation(text=f"λ<sub>0</sub>/L̂<sub>Θ</sub> = {rhat:.3g}, off the panel",
                               xref="x2 domain", yref="y2 domain", x=0.98, y=0.05,
                               xanchor="right", yanchor="bottom", showarrow=False,
                               font=dict(size=12, color=SERIES["radius_hat"]["color"]))
    if np.isfinite(max_drift):
        _add(fig, _divergence_trace(report, [0.0, max(max_drift, report.radius)], log=False,
                                    legend=False), 1, 2)

    # 3. PL ratio on the stable regime.
    rho = np.asarray(t.pl_ratio, float)
    _add(fig, _line("pl_ratio", steps, rho), 2, 1)
    fig.add_vrect(x0=report.stable_from, x1=report.stable_until, fillcolor=_GREEN, opacity=0.1,
                  line_width=0, layer="below", row=2, col=1)
    window = (steps >= report.stable_from) & (steps <= report.stable_until)
    if window.any() and np.isfinite(rho[window]).any():
        envelope = np.asarray(lower_envelope(rho[window]), float)
        _add(fig, _line("envelope", steps[window], envelope), 2, 1)
    if mu_shown:
        _add(fig, _hline("mu_hat", report.mu_hat, end, legend=False), 2, 1)
    rho_shown = np.concatenate([rho, [report.mu_hat] if mu_shown else []])
    rho_range = _log_range(rho_shown, pad=0.1)
    if rho_range is not None:
        fig.update_yaxes(type="log", range=rho_range, tickvals=_pl_ticks(rho_shown),
                         row=2, col=1)
        _add(fig, _divergence_trace(report, rho_range, log=True, legend=False), 2, 1)

    # 4. suboptimality.
    gap = np.asarray(t.suboptimality(report.loss_star), float)
    _add(fig, _line("suboptimality", steps, gap, width=3), 2, 2)
    _add(fig, _fit_trace(report), 2, 2)
    _add(fig, _bound_trace(report), 2, 2)
    gap_range = _log_range(gap)
    fig.update_yaxes(type="log", row=2, col=2)
    if gap_range is not None:
        fig.update_yaxes(range=gap_range, row=2, col=2)
        _add(fig, _divergence_trace(report, gap_range, log=True, legend=False), 2, 2)

    fig.update_xaxes(title_text="step t", range=_x_range(report))
    fig.update_yaxes(title_text="λ<sub>min</sub>(Θ<sub>t</sub>)", row=1, col=1)
    fig.update_yaxes(title_text="d<sub>t</sub> = ‖θ<sub>t</sub> − θ<sub>0</sub>‖", row=1, col=2)
    fig.update_yaxes(title_text="ρ<sub>t</sub>", row=2, col=1)
    fig.update_yaxes(title_text="L<sub>t</sub> − L*", row=2, col=2)
    _legend_below(fig, height, title, -0.1)
    return fig


def _run_traces(report: NetworkReport, *, sub_range: list[float] | None,
                drift_range: list[float] | None, show_radius: bool,
                xaxes: tuple[str, str] = ("x", "x2"),
                yaxes: tuple[str, str] = ("y", "y2")) -> list[go.Scatter]:
    """The traces of :func:`run_figure` on the given axes (for a slider as well)."""
    t = report.trajectory
    steps = np.asarray(t.steps)
    end = _end_step(report)
    left = dict(xaxis=xaxes[0], yaxis=yaxes[0])
    right = dict(xaxis=xaxes[1], yaxis=yaxes[1])
    traces = [_line("suboptimality", steps, t.suboptimality(report.loss_star), width=3,
                    **left)]
    if report.rate_fit is not None and report.rate_fit.rate < 1:
        traces.append(_fit_trace(report, **left))
    traces.append(_divergence_trace(report, sub_range, log=True, **left))
    traces.append(_line("drift", steps, t.drift, **right))
    if show_radius:
        traces.append(_hline("radius", report.radius, end, **right))
    if np.isfinite(report.radius_hat) and report.radius_hat > 0:
        traces.append(_hline("radius_hat", report.radius_hat, end, **right))
    traces.append(_divergence_trace(report, drift_range, log=True, legend=False, **right))
    return [trace for trace in traces if trace is not None]


def _run_layout(sub_range, drift_range) -> dict[str, Any]:
    return dict(
        xaxis=dict(domain=[0.0, 0.42], title_text="step t", anchor="y"),
        yaxis=dict(type="log", range=sub_range, title_text="L<sub>t</sub> − L*", anchor="x"),
        xaxis2=dict(domain=[0.58, 1.0], title_text="step t", anchor="y2"),
        yaxis2=dict(type="log", range=drift_range, anchor="x2",
                    title_text="d<sub>t</sub> = ‖θ<sub>t</sub> − θ<sub>0</sub>‖"),
    )


def _drift_values(reports) -> np.ndarray:
    parts = []
    for rep in reports:
        parts.append(np.asarray(rep.trajectory.drift, float)[1:])
        if np.isfinite(rep.radius_hat) and rep.radius_hat > 0:
            parts.append([rep.radius_hat])
    return np.concatenate(parts) if parts else np.zeros(0)


def run_figure(report: NetworkReport, *, title: str | None = None, show_radius: bool = True,
               height: int = 420) -> go.Figure:
    r"""Two panels of a report: the suboptimality and the drift (log axes).

    Left: :math:`L_t - L^*` with the fitted line of ``report.rate_fit`` (when its
    factor is below 1). Right: the drift :math:`d_t` with the radius :math:`r`
    (``show_radius``) and the radius estimate :math:`\lambda_0/\hat L_\Theta`.
    A diverging run is marked at ``report.diverged_at``.

    Args:
      report: a :class:`~lplr_core.check.NetworkReport`.
      title: the figure's title; default :func:`verdict_text`.
      show_radius: draw the radius :math:`r` of the report.
      height: the figure's height in pixels, at least 200.

    Returns:
      A plotly figure.
    """
    report = _check_report(report)
    title = _check_title(title)
    height = _check_height(height)
    if not isinstance(show_radius, bool):
        raise TypeError(f"show_radius must be a bool; got {type(show_radius).__name__}")
    sub_range = _log_range(report.trajectory.suboptimality(report.loss_star))
    drifts = _drift_values([report])
    if show_radius:
        drifts = np.concatenate([drifts, [report.radius]])
    drift_range = _log_range(drifts)
    fig = go.Figure(_run_traces(report, sub_range=sub_range, drift_range=drift_range,
                                show_radius=show_radius))
    fig.update_layout(**_run_layout(sub_range, drift_range))
    fig.update_xaxes(range=_x_range(report))
    _legend_below(fig, height, verdict_text(report) if title is None else title, -0.22)
    return fig


def reports_slider(reports: Mapping[Any, NetworkReport], *, label: str,
                   active: Any = None, value_label: Callable[[Any], str] | None = None,
                   title_at: Callable[[Any], str] | None = None,
                   height: int = 520) -> go.Figure:
    r"""The two panels of :func:`run_figure` for several reports, behind a slider.

    Each slider position shows one report (e.g. one step size): its
    suboptimality with the fitted line and its drift with the radius estimate
    :math:`\lambda_0/\hat L_\Theta`. The axes are the same at every position
    (computed from all the reports and clipped), so the plot area does not move.
    The slider works without a kernel (:func:`lplr_core.viz.slider_figure`).

    Args:
      reports: ``{value: NetworkReport}`` in slider order, at least one.
      label: the slider's name (plotly markup allowed, e.g. ``"η β<sub>0</sub>"``).
      active: the key of the initial position; default the first.
      value_label: ``value -> str`` for the ticks; default ``f"{value:g}"`` for
        numbers, else ``str``.
      title_at: ``value -> str``, the title at each position; default
        ``"label = value: "`` followed by :func:`verdict_text`.
      height: the figure's height in pixels, at least 200.

    Returns:
      A plotly figure with one slider step per report.
    """
    if not isinstance(reports, Mapping) or not reports:
        raise ValueError(f"reports must be a non-empty mapping {{value: NetworkReport}}; got "
                         f"{reports!r}"[:300])
    for key, rep in reports.items():
        _check_report(rep, f"reports[{key!r}]")
    if not isinstance(label, str) or not label:
        raise ValueError(f"label must be a non-empty str; got {label!r}")
    keys = list(reports)
    if active is None:
        active = keys[0]
    if active not in reports:
        raise ValueError(f"active must be one of the keys of reports {keys}; got {active!r}")
    height = _check_height(height)
    for name, fn in (("value_label", value_label), ("title_at", title_at)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable or None; got {type(fn).__name__}")
    if value_label is None:
        def value_label(v):
            return f"{v:g}" if isinstance(v, (int, float, np.number)) else str(v)
    if title_at is None:
        def title_at(v):
            return f"{label} = {value_label(v)}: {verdict_text(reports[v])}"
    subs = np.concatenate([np.asarray(rep.trajectory.suboptimality(rep.loss_star), float)
                           for rep in reports.values()])
    sub_range = _log_range(subs)
    drift_range = _log_range(_drift_values(reports.values()))
    fig = slider_figure(
        keys, lambda v: _run_traces(reports[v], sub_range=sub_range, drift_range=drift_range,
                                    show_radius=False),
        label=label, active=keys.index(active), value_label=value_label, title_at=title_at,
        **_run_layout(sub_range, drift_range), height=height)
    fig.update_layout(legend=dict(orientation="h", x=0.0, xanchor="left", y=-0.3,
                                  yanchor="top"), margin=dict(t=90))
    return fig
