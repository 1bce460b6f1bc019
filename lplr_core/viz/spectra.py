r"""Figures of kernels over widths: NTK spectra, and scalar measurements against the width.

* :func:`spectrum_figure`: eigenvalue spectra (largest first, by rank, on log-log axes), one
  curve per kernel, e.g. :math:`\Theta(\theta_0)` at one width against :math:`\Theta_\infty`;
* :func:`spectrum_slider`: the same with a native slider over widths (it works on the static
  site), one y-range for every position so positions compare by eye;
* :func:`width_figure`: quantities measured at several widths, one panel each
  (:func:`width_panel`): per-seed values as dots and their mean as a line, an optional
  power-law guide (:math:`\propto m^{a}`) and reference levels.

Eigenvalues come from :func:`lplr_core.ntk.ntk_eigenvalues` (ascending, as the core returns
them); the figures sort them. Every figure uses the book's template, titles every axis, and
puts its legend under the plot (:func:`lplr_core.viz.trajectory` does the same for runs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lplr_core._validation import check_int, check_real, describe
from lplr_core.viz.figures import COLORWAY, power_law_guide, sequential_colors, slider_figure
from lplr_core.viz.style import legend_below

__all__ = ["WidthPanel", "spectrum_figure", "spectrum_slider", "width_figure", "width_panel"]

_RANK_TITLE = "rank k (largest first)"
_EIGEN_TITLE = "k-th largest eigenvalue"
_WIDTH_TITLE = "width m"
_LIMIT_STYLE = dict(color="#000000", dash="dash", width=2)
_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
_SYMBOLS = ("circle", "diamond", "square", "triangle-up", "cross", "x")
_LEVEL_STYLES = (("#E69F00", "dot"), ("#000000", "dashdot"), ("#CC79A7", "longdash"))


def _eigenvalues(name: str, values: Any) -> np.ndarray:
    try:
        out = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 1-D array of eigenvalues; got "
                        f"{describe(values)}") from None
    if out.ndim != 1 or out.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of eigenvalues; got "
                         f"{describe(values)}")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} must hold finite eigenvalues; got a NaN or an infinity")
    return np.sort(out)[::-1]


def _spectrum_trace(values: np.ndarray, name: str, line: dict) -> go.Scatter:
    ranks = np.arange(1, values.size + 1)
    return go.Scatter(x=ranks, y=values, mode="lines+markers", name=name, line=line,
                      marker=dict(size=4, color=line.get("color")))


def _positive_range(arrays: Sequence[np.ndarray]) -> list[float] | None:
    values = np.concatenate([a[a > 0] for a in arrays]) if arrays else np.zeros(0)
    if values.size == 0:
        return None
    return [math.log10(values.min()) - 0.1, math.log10(values.max()) + 0.1]


def _check_title(title: Any) -> str | None:
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None; got {describe(title)}")
    return title


def spectrum_figure(spectra: Mapping[str, Any], *, limit: Any = None,
                    limit_name: str = "Θ<sub>∞</sub>", title: str | None = None,
                    height: int = 450) -> go.Figure:
    r"""Eigenvalue spectra by rank (largest first) on log-log axes, one curve per kernel.

    Args:
      spectra: ``{legend name: eigenvalues}`` (1-D, any order; e.g. from
        :func:`lplr_core.ntk.ntk_eigenvalues`).
      limit: the eigenvalues of a reference kernel (e.g. :math:`\Theta_\infty`), drawn
        black and dashed, or ``None``.
      limit_name: its legend entry.
      title: the figure's title.
      height: the plot's height in px, without the legend.

    Returns:
      A plotly figure; each curve's ``y`` is its eigenvalues sorted in decreasing order,
      ``x`` the ranks ``1 .. n``.
    """
    if not isinstance(spectra, Mapping) or not spectra:
        raise TypeError(f"spectra must be a non-empty mapping {{name: eigenvalues}}; got "
                        f"{describe(spectra)}")
    height = check_int("height", height, minimum=200)
    colors = sequential_colors(len(spectra)) if len(spectra) > 1 else [COLORWAY[0]]
    traces = []
    arrays = []
    if limit is not None:
        values = _eigenvalues("limit", limit)
        arrays.append(values)
        traces.append(_spectrum_trace(values, limit_name, dict(_LIMIT_STYLE)))
    for i, (name, eigs) in enumerate(spectra.items()):
        values = _eigenvalues(f"spectra[{name!r}]", eigs)
        arrays.append(values)
        traces.append(_spectrum_trace(values, str(name), dict(
            color=colors[i], dash=_DASHES[i % len(_DASHES)], width=2)))
    fig = go.Figure(traces)
    rng = _positive_range(arrays)
    fig.update_xaxes(type="log", title_text=_RANK_TITLE)
    fig.update_yaxes(type="log", title_text=_EIGEN_TITLE, range=rng)
    if _check_title(title) is not None:
        fig.update_layout(title_text=title, margin=dict(t=80))
    return legend_below(fig, height, set_showlegend=False)


def spectrum_slider(spectra: Mapping[Any, Any], *, limit: Any = None,
                    limit_name: str = "Θ<sub>∞</sub>", label: str = "width m",
                    active: int = 0, name_at: Callable[[Any], str] | None = None,
                    title_at: Callable[[Any], str] | None = None,
                    height: int = 500) -> go.Figure:
    r"""Spectra by rank with a slider over their keys (e.g. widths), on one fixed y-range.

    Args:
      spectra: ``{width: eigenvalues}``, in slider order.
      limit: the eigenvalues of a reference kernel shown at every position, or ``None``.
      limit_name: its legend entry.
      label: the slider's label.
      active: the index of the initial position.
      name_at: ``width -> legend name`` (default ``"Θ(θ<sub>0</sub>), m = width"``).
      title_at: ``width -> title`` at that position, or ``None``.
      height: the figure's height in px.

    Returns:
      A :func:`~lplr_core.viz.figures.slider_figure` (one trace per width, the limit static).
    """
    if not isinstance(spectra, Mapping) or not spectra:
        raise TypeError(f"spectra must be a non-empty mapping {{width: eigenvalues}}; got "
                        f"{describe(spectra)}")
    keys = list(spectra)
    values = {k: _eigenvalues(f"spectra[{k!r}]", v) for k, v in spectra.items()}
    colors = dict(zip(keys, sequential_colors(len(keys))))
    name_at = name_at or (lambda k: f"Θ(θ<sub>0</sub>), m = {k}")
    static, arrays = [], list(values.values())
    if limit is not None:
        lim = _eigenvalues("limit", limit)
        arrays.append(lim)
        static.append(_spectrum_trace(lim, limit_name, dict(_LIMIT_STYLE)))
    height = check_int("height", height, minimum=200)
    return slider_figure(
        keys, lambda k: [_spectrum_trace(values[k], name_at(k),
                                         dict(color=colors[k], width=2))],
        label=label, static_traces=static, active=active, title_at=title_at,
        value_label=str, xaxis=dict(type="log", title_text=_RANK_TITLE),
        yaxis=dict(type="log", range=_positive_range(arrays), title_text=_EIGEN_TITLE),
        height=height, legend=dict(orientation="h", x=0.0, y=-0.3))


# ------------------------------------------------------------------ over widths

class WidthPanel(NamedTuple):
    """One panel of :func:`width_figure` (make it with :func:`width_panel`).

    Attributes:
      title: the panel's title (HTML: ``<sub>``, ``<sup>``).
      axis_title: its y-axis title.
      series: ``{name: (widths, values)}``; values of shape ``(W,)`` or ``(W, S)`` (seeds).
      log: a log y-axis.
      guide: the exponent of a dashed power-law guide, or ``None``.
      levels: ``{name: value}`` horizontal reference lines.
      normalize: each series divided by its (mean) value at its smallest width.
    """

    title: str
    axis_title: str
    series: dict
    log: bool
    guide: float | None
    levels: dict
    normalize: bool


def width_panel(title: str, axis_title: str, series: Mapping[str, Any], *, log: bool = True,
                guide: float | None = None, levels: Mapping[str, float] | None = None,
                normalize: bool = False) -> WidthPanel:
    r"""A panel of :func:`width_figure`: quantities against the width.

    Args:
      title: the panel's title (HTML: ``<sub>``, ``<sup>``).
      axis_title: its y-axis title.
      series: ``{name: (widths, values)}``; ``values`` of shape ``(W,)``, or ``(W, S)``
        for ``S`` seeds (drawn as dots, with their mean as a line).
      log: a log y-axis.
      guide: an exponent :math:`a`: a dashed :math:`\propto m^{a}` line through the
        first series' first (mean) value, or ``None``.
      levels: ``{name: value}`` horizontal reference lines.
      normalize: divide each series by its (mean) value at its smallest width.

    Returns:
      A :class:`WidthPanel`.
    """
    for name, value in (("title", title), ("axis_title", axis_title)):
        if not isinstance(value, str) or not value:
            raise TypeError(f"{name} must be a non-empty str; got {describe(value)}")
    if not isinstance(series, Mapping) or not series:
        raise TypeError(f"series must be a non-empty mapping {{name: (widths, values)}}; got "
                        f"{describe(series)}")
    checked = {}
    for name, pair in series.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"series[{name!r}] must be a pair (widths, values); got "
                            f"{describe(pair)}")
        widths = np.asarray(pair[0], dtype=float)
        values = np.asarray(pair[1], dtype=float)
        if widths.ndim != 1 or widths.size < 1 or not np.all(widths > 0):
            raise ValueError(f"series[{name!r}] widths must be a 1-D array of positive "
                             f"numbers; got {describe(pair[0])}")
        if values.ndim not in (1, 2) or values.shape[0] != widths.size:
            raise ValueError(f"series[{name!r}] values must have shape (W,) or (W, seeds) with "
                             f"W = {widths.size}; got shape {values.shape}")
        if log and not np.all(values[np.isfinite(values)] > 0):
            raise ValueError(f"series[{name!r}] values must be > 0 on a log axis (log=True)")
        checked[str(name)] = (widths, values)
    if guide is not None:
        guide = check_real("guide", guide)
    lv = {}
    for name, value in (levels or {}).items():
        lv[str(name)] = check_real(f"levels[{name!r}]", value,
                                   minimum=0.0 if log else None, strict_min=log)
    return WidthPanel(title, axis_title, checked, bool(log), guide, lv, bool(normalize))


def width_figure(panels: Sequence[WidthPanel], *, title: str | None = None,
                 height: int = 430) -> go.Figure:
    r"""Quantities against the width, one panel per :func:`width_panel`, on a log width axis.

    A series keeps its colour, marker and dash in every panel (one legend entry); seeds are
    faint dots, their mean a line.

    Args:
      panels: one to three :class:`WidthPanel`.
      title: the figure's title.
      height: the plot's height in px, without the legend.

    Returns:
      A plotly figure.
    """
    if isinstance(panels, WidthPanel) or not isinstance(panels, Sequence) \
            or not 1 <= len(panels) <= 3:
        raise ValueError(f"panels must be a sequence of 1 to 3 WidthPanel (from width_panel); "
                         f"got {describe(panels)}")
    for i, p in enumerate(panels):
        if not isinstance(p, WidthPanel):
            raise TypeError(f"panels[{i}] must be a WidthPanel (from width_panel); got "
                            f"{describe(p)}")
    height = check_int("height", height, minimum=200)
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p.title for p in panels],
                        horizontal_spacing=0.08 if len(panels) == 2 else 0.09)
    names = list(dict.fromkeys(n for p in panels for n in p.series))
    style = {n: (COLORWAY[i % len(COLORWAY)], _DASHES[i % len(_DASHES)],
                 _SYMBOLS[i % len(_SYMBOLS)]) for i, n in enumerate(names)}
    shown: set[str] = set()
    level_index = 0
    for col, panel in enumerate(panels, start=1):
        for name, (widths, values) in panel.series.items():
            color, dash, symbol = style[name]
            mean = values if values.ndim == 1 else np.nanmean(values, axis=1)
            scale = float(mean[np.argmin(widths)]) if panel.normalize else 1.0
            if values.ndim == 2:
                seeds = values.shape[1]
                for j in range(seeds):
                    key = f"seed:{name}"
                    fig.add_trace(go.Scatter(
                        x=widths, y=values[:, j] / scale, mode="markers",
                        name=f"{name}: one seed" if name else "one seed",
                        legendgroup=key, showlegend=key not in shown,
                        marker=dict(color=color, size=7, opacity=0.35, symbol=symbol)),
                        row=1, col=col)
                    shown.add(key)
                label = f"{name} (mean of {seeds} seeds)" if name else f"mean of {seeds} seeds"
            else:
                label = name
            fig.add_trace(go.Scatter(x=widths, y=mean / scale, mode="lines+markers",
                                     name=label, legendgroup=name, showlegend=name not in shown,
                                     line=dict(color=color, dash=dash, width=2),
                                     marker=dict(color=color, symbol=symbol, size=8)),
                          row=1, col=col)
            shown.add(name)
        all_w = np.unique(np.concatenate([w for w, _ in panel.series.values()]))
        if panel.guide is not None and all_w.size >= 2:
            w0, v0 = next(iter(panel.series.values()))
            m0 = v0 if v0.ndim == 1 else np.nanmean(v0, axis=1)
            first = float(m0[np.argmin(w0)]) / (float(m0[np.argmin(w0)]) if panel.normalize
                                                 else 1.0)
            exponent = panel.guide
            guide_name = f"∝ m<sup>{_exponent_text(exponent)}</sup>"
            guide_trace = power_law_guide(all_w, exponent=exponent, name=guide_name,
                                          through=(float(w0.min()), first))
            guide_trace.update(showlegend=guide_name not in shown, legendgroup=guide_name)
            fig.add_trace(guide_trace, row=1, col=col)
            shown.add(guide_name)
        for name, value in panel.levels.items():
            color, dash = _LEVEL_STYLES[level_index % len(_LEVEL_STYLES)]
            level_index += 1
            fig.add_trace(go.Scatter(x=[all_w.min(), all_w.max()], y=[value, value],
                                     mode="lines", name=name,
                                     line=dict(color=color, dash=dash, width=2)),
                          row=1, col=col)
        fig.update_yaxes(type="log" if panel.log else "linear", title_text=panel.axis_title,
                         row=1, col=col)
        if panel.log and _decades(fig, col) >= 1.0:
            # labels at 1, 2, 5 of each decade (plotly labels 1..9 over one or two decades)
            fig.update_yaxes(dtick="D2", row=1, col=col)
        if len(panels) == 2 and col == 2:
            # ticks and title on the outer side, where the margin grows to fit them
            fig.update_yaxes(side="right", row=1, col=col)
    fig.update_xaxes(type="log", title_text=_WIDTH_TITLE, dtick="D2")
    if _check_title(title) is not None:
        fig.update_layout(title_text=title, margin=dict(t=100))
    return legend_below(fig, height, set_showlegend=False)


def _decades(fig: go.Figure, col: int) -> float:
    """How many decades the positive y values drawn in panel ``col`` span."""
    axis = "x" if col == 1 else f"x{col}"
    values = [np.asarray(t.y, dtype=float) for t in fig.data
              if (t.xaxis or "x") == axis and t.y is not None]
    values = np.concatenate(values) if values else np.zeros(0)
    values = values[np.isfinite(values) & (values > 0)]
    return float(np.log10(values.max() / values.min())) if values.size else 0.0


def _exponent_text(exponent: float) -> str:
    """``-0.5`` as ``−1/2``, ``1`` as ``1``, ``0.25`` as ``1/4``; else ``%g`` with a true minus."""
    for den in (1, 2, 3, 4):
        num = exponent * den
        if abs(num - round(num)) < 1e-9:
            num = int(round(num))
            text = f"{abs(num)}" if den == 1 else f"{abs(num)}/{den}"
            return ("−" if num < 0 else "") + text
    return f"{exponent:g}".replace("-", "−")
