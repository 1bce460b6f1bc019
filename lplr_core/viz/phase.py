r"""Figures and tables of a phase diagram (:func:`lplr_core.phase.phase_diagram`).

A :class:`~lplr_core.phase.PhaseDiagram` labels every run of a width × step-size grid with the
regimes of :data:`lplr_core.phase.REGIMES` ("μ̂ > 0", an **estimate**, never a proof;
"contained"; "linear"; "diverged"). This module draws them (issue 13, section 1):

* :func:`regime_heatmap`: the fraction of seeds in each regime per cell, one heatmap per
  regime and diagram (e.g. parameterization), switched by a plotly slider that works in the
  static book; the stability edge :math:`c = 2` of the quadratic model is a dashed line;
* :func:`width_trends_figure`: how :math:`\beta_0`, :math:`\lambda_0` and the path estimate
  :math:`\hat L_\Theta` change with the width, one series per diagram, log-log;
* :func:`cell_figure`: one run of one cell, its loss and its drift against the stated radius
  and the estimated radius :math:`\lambda_0/\hat L_\Theta` (drawn with
  :func:`lplr_core.viz.trajectory.diagnostics_figure`, which cuts a diverging run at its
  divergence and marks it);
* tables (:mod:`lplr_core.viz.tables`): :func:`fraction_tables` (the heatmaps' numbers),
  :func:`constants_table` (the constants per width), :func:`median_drift_table` and
  :func:`cell_table` (the numbers behind one run's labels).

Every figure uses the book's ``"lplr"`` template, titles every axis, writes sub- and
superscripts as ``<sub>``/``<sup>`` and puts its legend under the plot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lplr_core._validation import check_real, describe
from lplr_core.phase import REGIMES, PhaseDiagram, RunLabels
from lplr_core.training import Trajectory
from lplr_core.viz.figures import COLORWAY, slider_figure
from lplr_core.viz.style import legend_height_px
from lplr_core.viz.tables import Table, grid_table, table
from lplr_core.viz.trajectory import diagnostics_figure, level

__all__ = [
    "REGIME_COLORS",
    "REGIME_NAMES",
    "cell_figure",
    "cell_table",
    "constants_table",
    "edge_position",
    "fraction_tables",
    "median_drift_table",
    "median_relative_drift",
    "regime_heatmap",
    "width_trends_figure",
]

#: How each regime is named in titles, tables and legends ("μ̂ > 0" is an estimate).
REGIME_NAMES = {"mu_hat_positive": "μ̂ > 0 (estimate)", "contained": "contained",
                "linear": "linear", "diverged": "diverged"}
#: The colour of each regime's heatmap (Okabe–Ito).
REGIME_COLORS = {"mu_hat_positive": COLORWAY[2], "contained": COLORWAY[0],
                 "linear": COLORWAY[3], "diverged": COLORWAY[1]}
_DASHES = ("solid", "dash", "dot", "dashdot")
_CORNER = "m \\ c"


# ------------------------------------------------------------------------ validation

def _diagrams(value: Any) -> dict[str, PhaseDiagram]:
    """``{name: diagram}`` from one diagram (named by its parameterization) or a mapping."""
    if isinstance(value, PhaseDiagram):
        return {str(value.config.get("parameterization", "diagram")): value}
    if not isinstance(value, Mapping) or not value:
        raise TypeError("diagrams must be a PhaseDiagram or a non-empty mapping {name: "
                        f"PhaseDiagram}}; got {describe(value)}")
    out = {}
    for key, diagram in value.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"diagrams keys must be non-empty str; got {describe(key)}")
        if not isinstance(diagram, PhaseDiagram):
            raise TypeError(f"diagrams[{key!r}] must be a PhaseDiagram "
                            f"(lplr_core.phase.phase_diagram); got {describe(diagram)}")
        out[key] = diagram
    return out


def _same_grid(diagrams: dict[str, PhaseDiagram]) -> tuple[np.ndarray, np.ndarray]:
    first_key, first = next(iter(diagrams.items()))
    widths, multiples = np.asarray(first.widths), np.asarray(first.step_multiples, dtype=float)
    for key, d in diagrams.items():
        if not (np.array_equal(d.widths, widths)
                and np.array_equal(np.asarray(d.step_multiples, dtype=float), multiples)):
            raise ValueError(f"diagrams[{key!r}] has widths {np.asarray(d.widths).tolist()} and "
                             f"step multiples {np.asarray(d.step_multiples).tolist()}, but "
                             f"diagrams[{first_key!r}] has {widths.tolist()} and "
                             f"{multiples.tolist()}: one figure needs one grid")
    return widths, multiples


def _regimes(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise TypeError(f"regimes must be a non-empty sequence of names from {REGIMES}; got "
                        f"{describe(value)}")
    for name in value:
        if name not in REGIMES:
            raise ValueError(f"regimes holds {name!r}; allowed: {REGIMES}")
    return tuple(value)


def _multiple_index(diagram: PhaseDiagram, multiple: Any, key: str) -> int:
    multiple = check_real("multiple", multiple, minimum=0.0, strict_min=True)
    multiples = np.asarray(diagram.step_multiples, dtype=float)
    hits = np.flatnonzero(np.isclose(multiples, multiple, rtol=1e-12, atol=0.0))
    if hits.size == 0:
        raise ValueError(f"multiple must be one of the step multiples of diagrams[{key!r}], "
                         f"{multiples.tolist()}; got {multiple}")
    return int(hits[0])


def _title_name(key: str, diagram: PhaseDiagram) -> str:
    return (f"{key} parameterization" if diagram.config.get("parameterization") == key
            else key)


def _label(value: float) -> str:
    return format(float(value), "g")


def edge_position(multiples: Sequence[float], edge: float) -> float | None:
    """Where ``edge`` lies on a category axis of the sorted ``multiples`` (index units).

    Args:
      multiples: the step multiples, increasing.
      edge: the value to place, e.g. 2 (the stability edge :math:`c = 2`).

    Returns:
      The index of ``edge`` if it is one of ``multiples``, the midpoint ``i + 0.5`` of the
      two categories around it otherwise, or ``None`` when it lies outside their range.
    """
    values = np.asarray(multiples, dtype=float)
    edge = check_real("edge", edge)
    if values.ndim != 1 or values.size == 0 or np.any(np.diff(values) <= 0):
        raise ValueError(f"multiples must be a non-empty increasing 1-D sequence; got "
                         f"{describe(multiples)}")
    exact = np.flatnonzero(np.isclose(values, edge, rtol=1e-12, atol=0.0))
    if exact.size:
        return float(exact[0])
    if edge < values[0] or edge > values[-1]:
        return None
    return float(np.searchsorted(values, edge) - 1) + 0.5


# -------------------------------------------------------------------------- figures

def regime_heatmap(diagrams: Any, *, regimes: Sequence[str] = REGIMES, edge: float = 2.0,
                   active: int = 0, height: int = 520) -> go.Figure:
    r"""Fraction of seeds per cell in each regime: a heatmap per (diagram, regime), a slider.

    Args:
      diagrams: a :class:`~lplr_core.phase.PhaseDiagram` or ``{name: diagram}`` (e.g. one
        per parameterization; all on the same widths and step multiples).
      regimes: the regimes to show, from :data:`lplr_core.phase.REGIMES`.
      edge: the step multiple :math:`c = \eta\beta_0` marked by a dashed line (default the
        stability edge 2 of the quadratic model); nothing is drawn when it lies outside the
        grid. On the category axis the line sits on the category ``edge`` or midway between
        the two around it.
      active: index of the slider's initial position (positions: diagram by diagram, each
        regime in order).
      height: the figure's height in px.

    Returns:
      A plotly figure with a slider over every (diagram, regime) pair; each heatmap's cells
      carry their fraction (two decimals) as text, white for 0 up to the regime's colour for 1.
    """
    checked = _diagrams(diagrams)
    widths, multiples = _same_grid(checked)
    regimes = _regimes(regimes)
    position = edge_position(multiples, edge)
    grid = [(key, regime) for key in checked for regime in regimes]
    if not isinstance(active, int) or isinstance(active, bool) or not 0 <= active < len(grid):
        raise ValueError(f"active must be an int in [0, {len(grid) - 1}]; got {active!r}")
    x_labels = [_label(c) for c in multiples]
    y_labels = [str(int(m)) for m in widths]

    def traces(item):
        key, regime = item
        frac = checked[key].fraction(regime)
        return [go.Heatmap(
            z=frac, x=x_labels, y=y_labels, zmin=0.0, zmax=1.0,
            colorscale=[[0.0, "#FFFFFF"], [1.0, REGIME_COLORS[regime]]],
            text=[[f"{v:.2f}" for v in row] for row in frac], texttemplate="%{text}",
            colorbar=dict(title=dict(text="fraction<br>of seeds")),
            hovertemplate="c = %{x}, m = %{y}: %{z:.2f}<extra></extra>",
            name=f"{key}: {REGIME_NAMES[regime]}", showscale=True)]

    edge_note = ("" if position is None else
                 f" (dashed: c = {_label(edge)})")
    fig = slider_figure(
        grid, traces, label="regime", active=active,
        value_label=lambda item: f"{REGIME_NAMES[item[1]]} ({item[0]})",
        title_at=lambda item: (f"{_title_name(item[0], checked[item[0]])}: fraction of seeds "
                               f"<b>{REGIME_NAMES[item[1]]}</b>"),
        height=height,
        xaxis=dict(title_text=f"step multiple c = η β<sub>0</sub>(m){edge_note}",
                   type="category"),
        yaxis=dict(title_text="width m", type="category"),
    )
    if position is not None:
        fig.add_shape(type="line", x0=position, x1=position, xref="x", y0=0, y1=1,
                      yref="y domain", line=dict(color="black", dash="dash", width=2))
    return fig


def width_trends_figure(diagrams: Any, *, multiple: float = 1.0, title: str | None = None,
                        height: int = 420) -> go.Figure:
    r"""The sharpness, :math:`\lambda_0` and the path estimate :math:`\hat L_\Theta` over widths.

    Three log-log panels, each the mean over seeds per width: :math:`\beta_0`,
    :math:`\lambda_0 = \lambda_{\min}(\Theta(\theta_0))` and :math:`\hat L_\Theta` of the runs
    at step multiple ``multiple`` (an estimate along the path, not a bound).

    Args:
      diagrams: a :class:`~lplr_core.phase.PhaseDiagram` or ``{name: diagram}``; each is one
        series (its own colour and dash), named by its key.
      multiple: the step multiple :math:`c` whose runs give :math:`\hat L_\Theta`; one of
        every diagram's step multiples.
      title: the figure's title (HTML: ``<sub>``, ``<sup>``).
      height: the height of the plot area and titles in px, without the legend.

    Returns:
      A plotly figure, legend under the plot.
    """
    checked = _diagrams(diagrams)
    # Short panel titles: three panels share 390 px on a phone.
    titles = ("sharpness", "NTK λ<sub>min</sub>", f"L̂<sub>Θ</sub> (c = {_label(multiple)})")
    y_titles = ("β<sub>0</sub>", "λ<sub>0</sub>", "L̂<sub>Θ</sub>")
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.13, subplot_titles=titles)
    for i, (key, d) in enumerate(checked.items()):
        e = _multiple_index(d, multiple, key)
        color, dash = COLORWAY[i % len(COLORWAY)], _DASHES[i % len(_DASHES)]
        name = _title_name(key, d)
        for col, values in enumerate((np.mean(d.beta0, axis=1), np.mean(d.lambda0, axis=1),
                                      np.mean(d.lipschitz[:, e], axis=1)), start=1):
            fig.add_trace(go.Scatter(x=np.asarray(d.widths, dtype=float), y=values, name=name,
                                     legendgroup=key, showlegend=col == 1,
                                     mode="lines+markers", line=dict(color=color, dash=dash)),
                          row=1, col=col)
    widths = sorted({int(m) for d in checked.values() for m in d.widths})
    for col, y_title in enumerate(y_titles, start=1):
        fig.update_xaxes(type="log", title_text="width m", tickvals=widths,
                         ticktext=[str(m) for m in widths], row=1, col=col)
        fig.update_yaxes(type="log", title_text=y_title, title_standoff=4, nticks=5,
                         row=1, col=col)
    names = [t.name for t in fig.data if t.showlegend]
    legend_px = math.ceil(legend_height_px(names))
    fig.update_layout(height=height + legend_px, margin=dict(b=64 + legend_px),
                      legend=dict(orientation="h", x=0.0, xanchor="left", y=0.0,
                                  yanchor="bottom", yref="container"), title_text=title)
    return fig


def cell_figure(trajectory: Trajectory, labels: RunLabels, *, radius: float,
                title: str | None = None) -> go.Figure:
    r"""One run of one cell: its loss and its drift against the stated and estimated radii.

    Args:
      trajectory: the run (a :class:`~lplr_core.training.Trajectory`).
      labels: its :func:`~lplr_core.phase.label_run` result.
      radius: the stated region's radius (absolute, in parameter space), the one ``labels``
        was computed with.
      title: the figure's title (HTML: ``<sub>``, ``<sup>``).

    Returns:
      :func:`lplr_core.viz.trajectory.diagnostics_figure` with the panels ``loss`` and
      ``drift``, the stated radius and, when finite, the estimated radius
      :math:`\lambda_0/\hat L_\Theta` drawn as levels on the drift panel.
    """
    if not isinstance(labels, RunLabels):
        raise TypeError(f"labels must be a RunLabels (lplr_core.phase.label_run); got "
                        f"{describe(labels)}")
    radius = check_real("radius", radius, minimum=0.0)
    overlays = [level("drift", radius, "stated radius", color="#000000", dash="dash")]
    if math.isfinite(labels.radius_hat):
        overlays.append(level("drift", labels.radius_hat,
                              "estimated radius λ<sub>0</sub>/L̂<sub>Θ</sub>",
                              color=COLORWAY[2], dash="dot"))
    return diagnostics_figure(trajectory, panels=("loss", "drift"), overlays=overlays,
                              title=title, height=400)


# --------------------------------------------------------------------------- tables

def fraction_tables(diagrams: Any, *, regimes: Sequence[str] = REGIMES) -> list[Table]:
    """The heatmaps' numbers: per diagram and regime, the fraction of seeds per cell.

    Args:
      diagrams: a :class:`~lplr_core.phase.PhaseDiagram` or ``{name: diagram}``.
      regimes: the regimes, from :data:`lplr_core.phase.REGIMES`.

    Returns:
      One :class:`~lplr_core.viz.tables.Table` per (diagram, regime): rows the widths
      :math:`m`, columns the step multiples :math:`c`, values with two decimals.
    """
    checked = _diagrams(diagrams)
    regimes = _regimes(regimes)
    return [grid_table(d.fraction(regime), [int(m) for m in d.widths],
                       [float(c) for c in d.step_multiples], corner=_CORNER, format=".2f",
                       caption=f"{_title_name(key, d)}: fraction of seeds "
                               f"{REGIME_NAMES[regime]}")
            for key, d in checked.items() for regime in regimes]


def median_relative_drift(diagram: PhaseDiagram) -> np.ndarray:
    r"""Per step multiple, the median relative drift :math:`r/\|\theta_0\|` of the runs that
    did not diverge (all widths and seeds pooled); ``NaN`` where every run diverged.

    Args:
      diagram: a :class:`~lplr_core.phase.PhaseDiagram`.

    Returns:
      An array with one value per step multiple.
    """
    if not isinstance(diagram, PhaseDiagram):
        raise TypeError(f"diagram must be a PhaseDiagram; got {describe(diagram)}")
    rel = np.asarray(diagram.max_drift) / np.asarray(diagram.param_norm0)[:, None, :]
    ok = ~np.asarray(diagram.diverged, dtype=bool)
    return np.array([np.median(rel[:, e][ok[:, e]]) if ok[:, e].any() else np.nan
                     for e in range(rel.shape[1])])


def median_drift_table(diagrams: Any) -> Table:
    r"""The median relative drift :math:`r/\|\theta_0\|` of the runs that did not diverge,
    per diagram (rows) and step multiple (columns); see :func:`median_relative_drift`.

    Args:
      diagrams: a :class:`~lplr_core.phase.PhaseDiagram` or ``{name: diagram}`` on one grid.

    Returns:
      A :class:`~lplr_core.viz.tables.Table` (two significant digits; ``–`` where every run
      diverged).
    """
    checked = _diagrams(diagrams)
    _, multiples = _same_grid(checked)
    values = np.array([median_relative_drift(d) for d in checked.values()])
    has_missing = bool(np.isnan(values).any())
    return grid_table(values, list(checked), [float(c) for c in multiples],
                      corner="c =", format=".2g",
                      caption="median relative drift r/‖θ<sub>0</sub>‖ of the runs that did "
                              "not diverge",
                      note="–: every run at that c diverged" if has_missing else None)


def constants_table(diagram: PhaseDiagram, *, multiple: float = 1.0,
                    caption: str | None = None) -> Table:
    r"""Per width, the mean over seeds of the constants behind the diagram.

    Columns: :math:`m`, :math:`\beta_0`, :math:`\lambda_0`, and at step multiple
    ``multiple``: the path estimate :math:`\hat L_\Theta`, the drift :math:`r`, the relative
    drift :math:`r/\|\theta_0\|`, the estimate :math:`\hat\mu = \lambda_0 - \hat L_\Theta r`;
    then :math:`\kappa_0 = \bar\beta_0/\bar\lambda_0` (ratio of the means).

    Args:
      diagram: a :class:`~lplr_core.phase.PhaseDiagram`.
      multiple: one of its step multiples.
      caption: the table's caption (default: the parameterization and ``c``).

    Returns:
      A :class:`~lplr_core.viz.tables.Table`.
    """
    (key, d), = _diagrams(diagram).items()
    e = _multiple_index(d, multiple, key)
    beta, lam = np.mean(d.beta0, axis=1), np.mean(d.lambda0, axis=1)
    lip, drift = np.mean(d.lipschitz[:, e], axis=1), np.mean(d.max_drift[:, e], axis=1)
    rel = np.mean(d.max_drift[:, e] / d.param_norm0, axis=1)
    mu = np.mean(d.mu_hat[:, e], axis=1)
    rows = [(int(m), *vals) for m, vals in
            zip(d.widths, zip(beta, lam, lip, drift, rel, mu, beta / lam))]
    columns = ["m", "β<sub>0</sub>", "λ<sub>0</sub>", "L̂<sub>Θ</sub>", "r",
               "r/‖θ<sub>0</sub>‖", "μ̂", "κ<sub>0</sub> = β<sub>0</sub>/λ<sub>0</sub>"]
    formats = [None, ".4g", ".3g", ".3g", ".3g", ".3g", ".3g", ".3g"]
    if caption is None:
        caption = (f"{_title_name(key, d)}: means over seeds (L̂<sub>Θ</sub>, r, μ̂ at "
                   f"c = {_label(multiple)})")
    return table(rows, columns, formats=formats, caption=caption)


def cell_table(labels: RunLabels, *, beta0: float, radius: float,
               caption: str | None = None) -> Table:
    r"""The numbers behind one run's labels, and the labels, as a two-column table.

    Args:
      labels: a :func:`~lplr_core.phase.label_run` result.
      beta0: the sharpness :math:`\beta_0` the step size was set from.
      radius: the stated region's radius (absolute).
      caption: the table's caption.

    Returns:
      A :class:`~lplr_core.viz.tables.Table` with rows "quantity", "value".
    """
    if not isinstance(labels, RunLabels):
        raise TypeError(f"labels must be a RunLabels (lplr_core.phase.label_run); got "
                        f"{describe(labels)}")
    beta0 = check_real("beta0", beta0, minimum=0.0, strict_min=True)
    radius = check_real("radius", radius, minimum=0.0)
    names = [REGIME_NAMES[r] for r in REGIMES if getattr(labels, r)] or ["none"]
    rows = [("sharpness β<sub>0</sub>", beta0), ("λ<sub>0</sub>", labels.lambda0),
            ("path estimate L̂<sub>Θ</sub>", labels.lipschitz),
            ("estimate μ̂ = λ<sub>0</sub> − L̂<sub>Θ</sub> r", labels.mu_hat),
            ("max drift r", labels.max_drift), ("stated radius", radius),
            ("estimated radius λ<sub>0</sub>/L̂<sub>Θ</sub>", labels.radius_hat),
            ("fitted rate q̂", labels.rate), ("R² of the fit", labels.r2),
            ("L<sub>T</sub>/L<sub>0</sub>", labels.loss_ratio),
            ("labels", ", ".join(names))]
    return table(rows, ["quantity", "value"], formats={"value": ".4g"},
                 align={"value": "right"}, caption=caption)
