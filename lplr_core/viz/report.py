r"""Figures and a table of a :class:`~lplr_core.check.NetworkReport` (``check_network``'s result).

A report already displays itself as a table (its ``_repr_html_``, from
:func:`lplr_core.check.render_report`); this module draws it. The run's curves,
the stable regime, the PL envelope, the fitted rate, the divergence mark and the
clipping of log axes are those of :mod:`lplr_core.viz.trajectory` (their one
home); this module adds what only a report has: its constants as overlays.

* :func:`report_figure`: the four diagnostics of the report in four panels
  (:func:`lplr_core.viz.trajectory.diagnostics_figure` with the panels
  ``lambda_min``, ``drift``, ``pl_ratio``, ``suboptimality``): the NTK spectral
  gap against the estimate :math:`\hat\mu`; the drift against the radius
  :math:`r` and the radius estimate :math:`\lambda_0/\hat L_\Theta`; the PL ratio
  with the stable regime shaded, its lower envelope there and :math:`\hat\mu`;
  the suboptimality with the fitted line and D2's bound *with the estimates*,
  :math:`q^t (L_0 - L^*)` with :math:`q = 1 - 2\hat\mu\eta(1 - \hat\beta\eta/2)`
  (``report.bound_factor``, drawn by :func:`lplr_core.diagnostics.pl_bound`): an
  estimate, not a guarantee.
* :func:`run_figure`: two panels (suboptimality with the fitted line; drift with
  :math:`r` and :math:`\lambda_0/\hat L_\Theta`), light enough for a live panel.
* :func:`reports_slider`: those two panels for several reports (e.g. one per step
  size) behind a native plotly slider, with the same axes at every position and
  each report's verdict in the title.
* :func:`verdict_text`: the report's verdict in a few words ("consistent",
  "fails η < 2/β̂", "diverged at step 12"), with rendered sub- and superscripts;
  :func:`markup` renders the core's plain ``λ_0`` as ``λ<sub>0</sub>``.

Every number drawn is a record of ``report.trajectory``, a field of the report,
or the output of a core function (:func:`lplr_core.summary.summarize_run` for
the stable window, the envelope and the round-off floor, with the report's own
``stable_from`` and ``loss_star``; :func:`lplr_core.diagnostics.pl_bound`).
Each overlay has its own colour *and* dash.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np
import plotly.graph_objects as go

from lplr_core.check import NetworkReport
from lplr_core.diagnostics import pl_bound
from lplr_core.summary import summarize_run
from lplr_core.viz.figures import COLORWAY, slider_figure
from lplr_core.viz.tables import Table, table
from lplr_core.viz.trajectory import (
    HEADROOM_DECADES,
    curve,
    diagnostics_figure,
    level,
    log_range,
    suboptimality_traces,
)

__all__ = ["RADIUS_HAT_SPAN", "SERIES", "markup", "report_figure", "reports_slider",
           "reports_table", "run_figure", "verdict_text"]

_BLUE, _VERMILLION, _GREEN, _PINK, _ORANGE, _SKY, _BLACK = COLORWAY

#: The report's overlays, each a legend name and a line style. Colour and dash together differ from
#: each other and from :mod:`lplr_core.viz.trajectory`'s run (blue, solid), fitted rate
#: (vermillion, dash) and envelope (green, dash).
SERIES: dict[str, dict[str, Any]] = {
    "mu_hat": dict(name="estimate μ̂ = λ<sub>0</sub> − L̂<sub>Θ</sub> r", color=_VERMILLION,
                   dash="dot"),
    "radius": dict(name="radius r", color=_BLACK, dash="dash"),
    "radius_hat": dict(name="λ<sub>0</sub>/L̂<sub>Θ</sub> (estimate)", color=_ORANGE,
                       dash="dashdot"),
    "bound": dict(name="D2's bound with the estimates", color=_PINK, dash="longdash"),
    "drift": dict(name="drift d<sub>t</sub>", color=_SKY, dash="solid"),
}
#: The radius estimate is drawn only up to this multiple of the largest drift (beyond it,
#: it would flatten the drift curve; the panel then names its value instead).
RADIUS_HAT_SPAN = 20.0

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

def _level(panel: str, key: str, value: float, *, name: str | None = None):
    style = SERIES[key]
    return level(panel, value, name or style["name"], color=style["color"], dash=style["dash"])


def _summary(report: NetworkReport):
    """The run's summary with the report's stable start, L* and λ_0 (window, envelope, floor)."""
    return summarize_run(report.trajectory, stable_from=report.stable_from,
                         loss_star=report.loss_star, lambda0=report.lambda0)


def _bound(report: NetworkReport) -> np.ndarray | None:
    """D2's bound with the estimates at the records (``None`` when the report has none)."""
    if not np.isfinite(report.bound_factor):
        return None
    steps = np.asarray(report.trajectory.steps)
    with np.errstate(under="ignore"):
        return pl_bound(report.loss0, report.step_size, report.mu_hat, steps,
                        loss_star=report.loss_star, beta=report.beta_hat)


def _radius_hat_drawn(report: NetworkReport) -> bool:
    drift = np.asarray(report.trajectory.drift, float)
    top = max(float(np.nanmax(drift)) if np.isfinite(drift).any() else 0.0, report.radius
              if np.isfinite(report.radius) else 0.0)
    rhat = report.radius_hat
    return bool(np.isfinite(rhat) and rhat > 0 and top > 0 and rhat <= RADIUS_HAT_SPAN * top)


def _radius_overlays(report: NetworkReport, show_radius: bool) -> list:
    out = []
    if show_radius and np.isfinite(report.radius) and report.radius > 0:
        out.append(_level("drift", "radius", report.radius))
    if _radius_hat_drawn(report):
        out.append(_level("drift", "radius_hat", report.radius_hat))
    return out


def _note_radius_hat(fig: go.Figure, report: NetworkReport, xref: str, yref: str) -> None:
    """Name the radius estimate in the drift panel when it is too far out to draw."""
    rhat = report.radius_hat
    if np.isfinite(rhat) and rhat > 0 and not _radius_hat_drawn(report):
        fig.add_annotation(text=f"λ<sub>0</sub>/L̂<sub>Θ</sub> = {rhat:.3g} (estimate), "
                                "off the panel",
                           xref=f"{xref} domain", yref=f"{yref} domain", x=0.98, y=0.04,
                           xanchor="right", yanchor="bottom", showarrow=False,
                           font=dict(size=12, color=SERIES["radius_hat"]["color"]))


def _x_range(report: NetworkReport) -> list[float]:
    """Every panel over the same steps: the records, and a diverging run's flagged step."""
    steps = np.asarray(report.trajectory.steps)
    end = float(steps[-1]) if steps.size else 0.0
    if report.diverged:
        end = max(end, float(report.diverged_at))
    return [0.0, max(end, 1.0)]


def _one_legend_entry_per_name(fig: go.Figure) -> go.Figure:
    seen = set()
    for trace in fig.data:
        if trace.showlegend is not False and trace.name:
            if trace.name in seen:
                trace.showlegend = False
            seen.add(trace.name)
    return fig


# ----------------------------------------------------------------------------- figures

def report_figure(report: NetworkReport, *, title: str | None = None,
                  height: int = 720) -> go.Figure:
    r"""The four diagnostics of a report, with the report's constants, in four panels.

    :func:`lplr_core.viz.trajectory.diagnostics_figure` of ``report.trajectory`` with
    the panels NTK spectral gap, parameter drift, PL ratio and suboptimality, the
    stable regime ``[report.stable_from, report.stable_until]`` shaded, the PL
    ratio's lower envelope on it (its last value is ``report.pl_envelope_min``) and
    the fitted line of ``report.rate_fit``; over them:

    * the estimate :math:`\hat\mu` on the NTK and PL panels, when it is positive (a
      negative estimate bounds nothing);
    * the radius :math:`r` and the radius estimate :math:`\lambda_0/\hat L_\Theta`
      on the drift panel (the estimate named instead of drawn when it exceeds
      :data:`RADIUS_HAT_SPAN` times the largest drift);
    * D2's bound with the estimates on the suboptimality panel, when the report has
      a factor (``report.bound_factor`` finite).

    A diverging run ends at its last record, marked with a cross, and its legend
    entry says at which step it diverged.

    Args:
      report: a :class:`~lplr_core.check.NetworkReport`.
      title: the figure's title (plotly markup: ``<sub>``, ``<sup>``); default the
        report's model name and :func:`verdict_text`.
      height: the height of the panels in pixels (the legend adds to it), at least 200.

    Returns:
      A plotly figure; show it with :func:`lplr_core.viz.figures.show`.
    """
    report = _check_report(report)
    title = _check_title(title)
    height = _check_height(height)
    if title is None:
        title = f"{report.model}: {verdict_text(report)}"
    overlays = []
    if np.isfinite(report.mu_hat) and report.mu_hat > 0:
        overlays += [_level("lambda_min", "mu_hat", report.mu_hat),
                     _level("pl_ratio", "mu_hat", report.mu_hat)]
    overlays += _radius_overlays(report, show_radius=True)
    bound = _bound(report)
    if bound is not None:
        style = SERIES["bound"]
        overlays.append(curve("suboptimality", bound,
                              f"{style['name']}, q = {report.bound_factor:.4g}",
                              color=style["color"], dash=style["dash"]))
    fig = diagnostics_figure(report.trajectory,
                             panels=("lambda_min", "drift", "pl_ratio", "suboptimality"),
                             summary=_summary(report), overlays=overlays,
                             loss_star=report.loss_star, title=title, height=height)
    _note_radius_hat(fig, report, "x2", "y2")
    fig.update_xaxes(range=_x_range(report))
    return _one_legend_entry_per_name(fig)


def run_figure(report: NetworkReport, *, title: str | None = None, show_radius: bool = True,
               height: int = 400) -> go.Figure:
    r"""Two panels of a report: the suboptimality and the drift.

    Left: :math:`L_t - L^*` (log axis) with the fitted line of ``report.rate_fit``
    and the stable regime shaded. Right: the drift :math:`d_t` with the radius
    :math:`r` (``show_radius``) and the radius estimate
    :math:`\lambda_0/\hat L_\Theta`. A diverging run is marked as in
    :func:`report_figure`.

    Args:
      report: a :class:`~lplr_core.check.NetworkReport`.
      title: the figure's title; default :func:`verdict_text`.
      show_radius: draw the radius :math:`r` of the report.
      height: the height of the panels in pixels (the legend adds to it), at least 200.

    Returns:
      A plotly figure.
    """
    report = _check_report(report)
    title = _check_title(title)
    height = _check_height(height)
    if not isinstance(show_radius, bool):
        raise TypeError(f"show_radius must be a bool; got {type(show_radius).__name__}")
    fig = diagnostics_figure(report.trajectory, panels=("suboptimality", "drift"),
                             summary=_summary(report),
                             overlays=_radius_overlays(report, show_radius),
                             loss_star=report.loss_star,
                             title=verdict_text(report) if title is None else title,
                             height=height)
    _note_radius_hat(fig, report, "x2", "y2")
    fig.update_xaxes(range=_x_range(report))
    return fig


def _slider_traces(report: NetworkReport, drift_range) -> list[go.Scatter]:
    """The two panels of one report as traces on x/y (suboptimality) and x2/y2 (drift)."""
    fit = report.rate_fit if report.rate_fit is not None and report.rate_fit.rate < 1 else None
    traces = suboptimality_traces(report.trajectory, fit=fit, loss_star=report.loss_star)
    t = report.trajectory
    style = SERIES["drift"]
    traces.append(go.Scatter(x=np.asarray(t.steps), y=np.asarray(t.drift, float),
                             name=style["name"], mode="lines", xaxis="x2", yaxis="y2",
                             line=dict(color=style["color"], dash=style["dash"], width=2)))
    rhat = report.radius_hat
    if np.isfinite(rhat) and rhat > 0:
        style = SERIES["radius_hat"]
        end = float(t.steps[-1]) if len(t.steps) else 1.0
        traces.append(go.Scatter(x=[0.0, end], y=[rhat, rhat], name=style["name"],
                                 mode="lines", xaxis="x2", yaxis="y2",
                                 line=dict(color=style["color"], dash=style["dash"], width=2)))
    return traces


def _headroom(arrays, reports) -> float | None:
    """The top of a log axis with a diverging run: the others' top (or its first value) plus
    :data:`~lplr_core.viz.trajectory.HEADROOM_DECADES`; ``None`` when no run diverged."""
    reports = list(reports)
    if not any(r.diverged for r in reports):
        return None
    tops = []
    for i, values in enumerate(arrays):
        good = np.asarray(values, float)
        good = good[np.isfinite(good) & (good > 0)]
        if good.size:
            diverged = i < len(reports) and reports[i].diverged
            tops.append(float(good[0]) if diverged else float(good.max()))
    return max(tops) * 10.0 ** HEADROOM_DECADES if tops else None


def reports_slider(reports: Mapping[Any, NetworkReport], *, label: str,
                   active: Any = None, value_label: Callable[[Any], str] | None = None,
                   title_at: Callable[[Any], str] | None = None,
                   height: int = 520) -> go.Figure:
    r"""Suboptimality and drift of several reports, one per position of a slider.

    Each position shows one report (e.g. one step size): left, its suboptimality
    with the fitted line (:func:`lplr_core.viz.trajectory.suboptimality_traces`; a
    diverging run ends with a cross at its last record); right, its drift with the
    radius estimate :math:`\lambda_0/\hat L_\Theta`. Both axes are logarithmic and
    the same at every position (:func:`lplr_core.viz.trajectory.log_range` over all
    the reports), so the plot area does not move; a diverging report leaves through
    the top, at most :data:`~lplr_core.viz.trajectory.HEADROOM_DECADES` decades above
    the others (its legend entry says where it diverged). The slider works without a
    kernel (:func:`lplr_core.viz.figures.slider_figure`).

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
    gaps = [np.asarray(r.trajectory.suboptimality(r.loss_star), float) for r in reports.values()]
    drifts = [np.asarray(r.trajectory.drift, float)[1:] for r in reports.values()]
    floors = [_summary(r).round_off_floor for r in reports.values()]
    floors = [f for f in floors if np.isfinite(f) and f > 0]
    sub_range = log_range(*gaps, floor=min(floors) if floors else None,
                          top=_headroom(gaps, reports.values()))
    drifts += [[r.radius_hat] for r in reports.values()
               if np.isfinite(r.radius_hat) and r.radius_hat > 0]
    drift_range = log_range(*drifts, top=_headroom(drifts, reports.values()))
    fig = slider_figure(
        keys, lambda v: _slider_traces(reports[v], drift_range), label=label,
        active=keys.index(active), value_label=value_label, title_at=title_at,
        xaxis=dict(domain=[0.0, 0.42], title_text="step t", anchor="y"),
        yaxis=dict(type="log", range=sub_range, title_text="L<sub>t</sub> − L*", anchor="x"),
        xaxis2=dict(domain=[0.58, 1.0], title_text="step t", anchor="y2"),
        yaxis2=dict(type="log", range=drift_range, anchor="x2",
                    title_text="d<sub>t</sub> = ‖θ<sub>t</sub> − θ<sub>0</sub>‖"),
        height=height, margin=dict(t=90),
        legend=dict(orientation="h", x=0.0, xanchor="left", y=-0.3, yanchor="top"))
    return fig


# ----------------------------------------------------------------------------- tables

def _cell(x: Any, ok: bool = True) -> float | None:
    """A table cell: the number, or ``None`` (shown as "–") when absent or not usable."""
    return float(x) if ok and x is not None and np.isfinite(x) else None


def reports_table(reports: Mapping[str, NetworkReport], *, label: str = "run",
                  caption: str | None = None) -> Table:
    r"""The key numbers of one or several reports, one row each, as a table.

    Columns: :math:`\lambda_0` ("≈ 0" when below the report's round-off tolerance),
    :math:`\eta\hat\beta`, the largest drift, :math:`\hat L_\Theta`, :math:`\hat\mu`,
    :math:`\lambda_0/\hat L_\Theta`, the fitted factor :math:`\hat q` and its
    :math:`R^2`, whether a linear rate is observed (the ``linear_rate`` verdict:
    PASS, FAIL or n/a) and the verdict on the hypotheses (:func:`verdict_text`).
    Quantities a diverged run does not allow are shown as "–".

    Args:
      reports: ``{row label: NetworkReport}``, at least one.
      label: the header of the row labels' column (e.g. ``"η β<sub>0</sub>"`` with the
        step-size multiples as row labels: a narrow first column).
      caption: a line above the table.

    Returns:
      A :class:`lplr_core.viz.tables.Table` (HTML in a notebook, aligned text with ``print``).
    """
    if not isinstance(reports, Mapping) or not reports:
        raise ValueError(f"reports must be a non-empty mapping {{label: NetworkReport}}; got "
                         f"{reports!r}"[:300])
    rows = []
    for row, rep in reports.items():
        _check_report(rep, f"reports[{row!r}]")
        if not isinstance(row, str) or not row:
            raise TypeError(f"reports' keys must be non-empty str (row labels); got {row!r}")
        singular = not rep.lambda0 > rep.lambda_tol
        fit = rep.rate_fit
        usable = not rep.diverged
        value = _cell
        rows.append((
            row,
            "≈ 0" if singular else value(rep.lambda0),
            value(rep.step_size * rep.beta_hat),
            value(rep.max_drift, usable),
            value(rep.lipschitz, usable),
            value(rep.mu_hat, usable),
            "≈ 0" if singular and usable else value(rep.radius_hat, usable),
            value(None if fit is None else fit.rate, usable),
            value(None if fit is None else fit.r2, usable),
            rep.verdict("linear_rate").mark,
            verdict_text(rep),
        ))
    if not isinstance(label, str) or not label:
        raise ValueError(f"label must be a non-empty str; got {label!r}")
    columns = [label, "λ<sub>0</sub>", "η β̂", "max d<sub>t</sub>", "L̂<sub>Θ</sub>", "μ̂",
               "λ<sub>0</sub>/L̂<sub>Θ</sub>", "q̂", "R<sup>2</sup>", "linear rate",
               "hypotheses (estimates)"]
    formats = {"λ<sub>0</sub>": ".3g", "η β̂": ".3g", "max d<sub>t</sub>": ".3g",
               "L̂<sub>Θ</sub>": ".3g", "μ̂": ".3g", "λ<sub>0</sub>/L̂<sub>Θ</sub>": ".3g",
               "q̂": ".4g", "R<sup>2</sup>": ".2f"}
    return table(rows, columns, formats=formats, caption=caption,
                 note="– : not measurable on a diverged run (or no fit). Every constant is an "
                      "estimate from this run.")
