"""Plotly figures for the book: one display function, one template, one slider builder.

Why a display helper and not ``fig.show()``: in a headless kernel plotly 7 emits
only the ``application/vnd.plotly.v1+json`` MIME type, which JupyterLab renders
but the static book (myst-nb) cannot. :func:`show` emits a bundle with both

* ``application/vnd.plotly.v1+json``: the figure as JSON, for JupyterLab,
  VS Code and nteract;
* ``text/html``: ``fig.to_html(full_html=False, include_plotlyjs=False)``, a
  ``<div>`` and a ``<script>`` calling ``Plotly.newPlot``, for the book. It
  carries **no** plotly.js (that would add 4.8 MB per figure): the book loads
  one local ``plotly.min.js`` on every page, so ``window.Plotly`` must exist
  before the page's inline scripts run (a plain, non-deferred ``<script>``).
  On Google Colab, which renders only the HTML and has no site-wide
  plotly.js, the HTML loads plotly.js from its CDN instead.

Both apply :func:`lplr_core.viz.style.place_legend` first: a legend placed under
the plot of a figure with a slider goes under the slider instead.

The ``<div>`` id is derived from a hash of the figure's JSON, so re-executing a
notebook gives byte-identical outputs (``pytest --nbval`` compares them); a
figure shown twice in one session gets a numbered suffix so ids stay unique on
the page.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import plotly.colors
import plotly.graph_objects as go
import plotly.io as pio
from plotly.basedatatypes import BaseTraceType

from lplr_core.viz.style import place_legend

__all__ = [
    "COLORWAY",
    "PLOTLY_CONFIG",
    "PLOTLY_MIMETYPE",
    "TEMPLATE",
    "TEMPLATE_NAME",
    "div_id",
    "figure_bundle",
    "in_colab",
    "power_law_guide",
    "sequential_colors",
    "show",
    "slider_figure",
]

PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
#: The plotly.js config of every figure (a responsive size, no plotly logo).
PLOTLY_CONFIG = {"responsive": True, "displaylogo": False}
TEMPLATE_NAME = "lplr"

# Okabe & Ito's colour-blind-safe palette (yellow dropped: unreadable on white).
COLORWAY = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")

_AXIS = dict(
    showline=True, linecolor="#444444", linewidth=1, mirror=True, ticks="outside",
    tickcolor="#444444", showgrid=True, gridcolor="#E6E6E6", zeroline=False,
    automargin=True, exponentformat="power", title=dict(standoff=10),
)

# White paper and plot backgrounds: the book's dark mode then shows each figure
# as a white card with dark text, instead of dark text on a dark page.
TEMPLATE = go.layout.Template(layout=dict(
    font=dict(family="Helvetica, Arial, sans-serif", size=14, color="#1A1A1A"),
    title=dict(x=0.0, xanchor="left", xref="paper", font=dict(size=16)),
    paper_bgcolor="white",
    plot_bgcolor="white",
    colorway=list(COLORWAY),
    xaxis=_AXIS,
    yaxis=_AXIS,
    legend=dict(bgcolor="rgba(255,255,255,0.9)", bordercolor="#CCCCCC", borderwidth=1,
                font=dict(size=13)),
    hovermode="closest",
    hoverlabel=dict(font=dict(size=13)),
    height=450,
    margin=dict(l=70, r=20, t=60, b=60),
))

pio.templates[TEMPLATE_NAME] = TEMPLATE
pio.templates.default = TEMPLATE_NAME

# div ids already emitted by show() in this process: id -> times shown.
_SHOWN: dict[str, int] = {}


def _check_figure(fig: Any) -> go.Figure:
    if not isinstance(fig, go.Figure):
        raise TypeError(f"fig must be a plotly.graph_objects.Figure; got {type(fig).__name__}")
    return fig


def div_id(fig: go.Figure) -> str:
    """A deterministic HTML id for ``fig``: ``"lplr-fig-"`` + 12 hex digits of its JSON's SHA-1.

    Equal figures get equal ids, in any process; :func:`show` adds a suffix when
    one is shown twice in a session.
    """
    return _hash_id(_check_figure(fig))


def _hash_id(fig: go.Figure) -> str:
    digest = hashlib.sha1(fig.to_json().encode("utf-8")).hexdigest()
    return f"lplr-fig-{digest[:12]}"


def in_colab() -> bool:
    """True inside Google Colab, whose output frames need plotly.js from its CDN."""
    return "google.colab" in sys.modules


def figure_bundle(fig: go.Figure, *, div_id: str | None = None,
                  include_plotlyjs: bool | str = False) -> dict[str, Any]:
    """The MIME bundle :func:`show` displays: plotly JSON plus a plotly.js-free HTML fragment.

    Args:
      fig: a plotly figure.
      div_id: the HTML id of the figure's ``<div>``; default :func:`div_id` of ``fig``.
      include_plotlyjs: passed to ``fig.to_html``; ``False`` (the default) relies on
        a ``window.Plotly`` loaded by the page, ``"cdn"`` loads it from the CDN.

    Returns:
      ``{"application/vnd.plotly.v1+json": dict, "text/html": str}``, both
      carrying :data:`PLOTLY_CONFIG`, for ``place_legend(fig)`` (the legend of a
      figure with a slider moved clear of the slider; see :mod:`lplr_core.viz.style`).
    """
    fig = place_legend(_check_figure(fig))
    ident = _hash_id(fig) if div_id is None else str(div_id)
    # A JSON round trip gives plain dicts and lists, as plotly's own renderer does.
    fig_json = json.loads(fig.to_json())
    fig_json["config"] = dict(PLOTLY_CONFIG)
    html = fig.to_html(full_html=False, include_plotlyjs=include_plotlyjs,
                       include_mathjax=False, div_id=ident, config=dict(PLOTLY_CONFIG))
    return {PLOTLY_MIMETYPE: fig_json, "text/html": html}


def show(fig: go.Figure) -> None:
    """Display ``fig`` in a notebook: plotly JSON for JupyterLab, HTML for the book.

    The one function notebooks use to show a figure (never ``fig.show()``). See
    the module docstring for what each MIME type is for.
    """
    from IPython.display import display

    fig = place_legend(_check_figure(fig))
    base = _hash_id(fig)
    count = _SHOWN.get(base, 0) + 1
    _SHOWN[base] = count
    ident = base if count == 1 else f"{base}-{count}"
    display(figure_bundle(fig, div_id=ident, include_plotlyjs="cdn" if in_colab() else False),
            raw=True)


def sequential_colors(n: int, colorscale: str = "Viridis") -> list[str]:
    """``n`` colours along a sequential plotly colour scale, e.g. one per width.

    The scale is sampled on [0, 0.85]: its lightest end is too pale on white.
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be an int >= 1; got {n!r}")
    points = [0.4] if n == 1 else list(np.linspace(0.0, 0.85, int(n)))
    return plotly.colors.sample_colorscale(colorscale, points)


def power_law_guide(x: Sequence[float], *, exponent: float, through: tuple[float, float],
                    name: str | None = None, **line: Any) -> go.Scatter:
    r"""A dashed reference line :math:`y = y_0 (x / x_0)^{a}` through ``through = (x_0, y_0)``.

    On log-log axes it is a straight line of slope ``exponent``, e.g. the
    :math:`m^{-1/2}` fluctuation scale of a finite-width kernel.

    Args:
      x: abscissae (positive) at which to draw the line.
      exponent: the power ``a``.
      through: a point ``(x_0, y_0)`` with both coordinates > 0.
      name: legend entry; default ``"∝ x^a"``.
      **line: overrides for the line style (``color``, ``dash``, ``width``).
    """
    xs = np.asarray(x, dtype=float)
    if xs.ndim != 1 or xs.size < 2 or not np.all(xs > 0):
        raise ValueError(f"x must be a 1-D sequence of at least 2 positive numbers; got {x!r}")
    x0, y0 = (float(v) for v in through)
    if not (x0 > 0 and y0 > 0 and math.isfinite(x0) and math.isfinite(y0)):
        raise ValueError(f"through must be a point (x0, y0) with x0, y0 > 0; got {through!r}")
    style = dict(color="#777777", dash="dash", width=1.5)
    style.update(line)
    return go.Scatter(x=xs, y=y0 * (xs / x0) ** float(exponent), mode="lines",
                      line=style, name=name or f"∝ x^{exponent:g}", hoverinfo="skip")


def slider_figure(grid: Sequence[Any], traces_at: Callable[[Any], Iterable[BaseTraceType]], *,
                  label: str, static_traces: Iterable[BaseTraceType] = (), active: int = 0,
                  value_label: Callable[[Any], str] = str,
                  title_at: Callable[[Any], str] | None = None,
                  **layout: Any) -> go.Figure:
    """A figure with a native plotly slider over a precomputed grid of parameter values.

    Every trace for every grid value is stored in the figure; the slider only
    toggles their visibility (plotly.js does this in the browser), so the
    control works on the static site, without a kernel.

    Args:
      grid: the parameter values, e.g. widths ``[64, 128, ...]``; at least one.
      traces_at: ``value -> traces`` (one or more plotly traces) drawn for that value.
      label: the parameter's name, shown as ``"label: value"`` above the slider.
      static_traces: traces shown at every position (e.g. a reference curve).
      active: index into ``grid`` of the initial position.
      value_label: ``value -> str`` for the slider's tick labels.
      title_at: optional ``value -> str``, the figure title at that position.
      **layout: passed to ``fig.update_layout`` (axis titles, ``xaxis_type="log"``, ...);
        the legend is horizontal under the plot unless ``legend=`` says otherwise.

    Returns:
      A figure whose ``layout.sliders[0].steps`` has one step per grid value;
      step ``i`` makes the static traces and the traces of ``grid[i]`` visible
      and hides all others.
    """
    grid = list(grid)
    if not grid:
        raise ValueError("grid must hold at least one parameter value; got an empty sequence")
    if not isinstance(active, (int, np.integer)) or isinstance(active, bool) \
            or not 0 <= active < len(grid):
        raise ValueError(f"active must be an int in [0, {len(grid) - 1}]; got {active!r}")
    if not isinstance(label, str) or not label:
        raise ValueError(f"label must be a non-empty str; got {label!r}")

    static = list(static_traces)
    for trace in static:
        if not isinstance(trace, BaseTraceType):
            raise TypeError(f"static_traces must hold plotly traces; got {type(trace).__name__}")
    fig = go.Figure()
    for trace in static:
        trace.visible = True  # as every step sets it
        fig.add_trace(trace)

    groups = []  # (first trace index, count) per grid value
    for i, value in enumerate(grid):
        traces = list(traces_at(value))
        if not traces or not all(isinstance(t, BaseTraceType) for t in traces):
            raise TypeError(f"traces_at({value!r}) must return one or more plotly traces; "
                            f"got {traces!r}")
        groups.append((len(fig.data), len(traces)))
        for trace in traces:
            trace.visible = i == active
            fig.add_trace(trace)

    total = len(fig.data)
    steps = []
    for value, (first, count) in zip(grid, groups):
        visible = [True] * len(static) + [False] * (total - len(static))
        visible[first:first + count] = [True] * count
        if title_at is None:
            step = dict(method="restyle", args=[{"visible": visible}])
        else:
            step = dict(method="update",
                        args=[{"visible": visible}, {"title.text": title_at(value)}])
        step["label"] = value_label(value)
        steps.append(step)

    # The slider spans 92% of the width, centred, so that the end ticks' labels are not
    # clipped at the figure's edges. The legend goes under the plot by default: a legend on
    # the right would take a width that changes with the visible traces, so the plot area
    # would move as the slider does (``place_legend`` then puts it under the slider).
    fig.update_layout(
        sliders=[dict(active=int(active), steps=steps, pad=dict(t=55, b=10), x=0.04, len=0.92,
                      currentvalue=dict(prefix=f"{label}: ", font=dict(size=14)))],
        margin=dict(b=110),
        legend=dict(orientation="h", x=0.0, xanchor="left", y=-0.25, yanchor="top"),
    )
    if title_at is not None:
        fig.update_layout(title_text=title_at(grid[active]))
    fig.update_layout(**layout)
    return fig
