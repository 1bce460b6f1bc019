"""Figure layout rules that keep a legend clear of sliders (applied by :func:`~lplr_core.viz.figures.figure_bundle`).

The ``"lplr"`` template (:mod:`lplr_core.viz.figures`) gives every figure its look:
the Okabe-Ito colour-blind-safe palette, axis titles with a standoff, white
backgrounds, a 60 px top margin under the plotly toolbar. A template cannot place
a legend, though: notebooks set ``legend=dict(orientation="h", y=-0.25)`` to put
it under the plot, and in a figure with a slider that is where the slider is.
:func:`place_legend` computes the legend's place from the figure's layout instead:

* a figure with a slider whose legend is placed *below the plot area* (paper
  ``y < 0``) gets the legend at the very bottom of the figure (``yref="container"``,
  ``y=0``, ``yanchor="bottom"``), and its bottom margin and height grow by what the
  slider and the legend need, so the legend sits under the slider and the plot area
  keeps its height;
* every other figure is returned unchanged (the same object): a legend on the right
  (plotly's default) or above the plot cannot meet a slider, which spans the plot
  area's width under it.

The sizes are in CSS pixels. A slider's height below the plot area is its ``pad``
plus :data:`SLIDER_BODY_PX` (measured in Chromium with the book's plotly.js for
:func:`~lplr_core.viz.figures.slider_figure`'s sliders: 74 px drawn plus 12 px of
automargin); a legend's height is estimated by laying its entries out in rows on
a :data:`LEGEND_WIDTH_PX`-wide figure, the narrowest desktop figure of the book, at
every slider step (a slider shows and hides traces, so their legend entries too).
On a phone the site's script (``book/assets/lplr_figures.js``) lays figures out
again from what the browser measures.
"""

from __future__ import annotations

import math
import re
from typing import Any

import plotly.graph_objects as go

__all__ = [
    "LEGEND_ROW_PX",
    "LEGEND_WIDTH_PX",
    "SLIDER_BODY_PX",
    "legend_below",
    "legend_height_px",
    "place_legend",
    "slider_extent_px",
]

#: A slider's height without its pad, in CSS pixels (86 px measured, with a margin).
SLIDER_BODY_PX = 90.0
#: The width a horizontal legend is assumed to wrap at, in CSS pixels.
LEGEND_WIDTH_PX = 600.0
#: One row of a horizontal legend at font size 13, in CSS pixels.
LEGEND_ROW_PX = 20.0
_LEGEND_PAD_PX = 12.0    # the legend box's border and inner padding, top + bottom
_GAP_PX = 8.0            # between the slider and the legend
_SYMBOL_PX = 46.0        # a legend entry's symbol and the gaps around it
_CHAR_EM = 0.6           # average glyph width of Helvetica/Arial, in em (generous)
_TAGS = re.compile(r"<[^>]*>")


def slider_extent_px(slider: Any) -> float:
    """How far below the plot area a slider reaches, in px (its pad plus its body)."""
    pad = slider["pad"] if isinstance(slider, dict) else slider.pad
    pad = pad or {}
    top = pad["t"] if "t" in pad and pad["t"] is not None else 0.0
    bottom = pad["b"] if "b" in pad and pad["b"] is not None else 0.0
    return float(top) + SLIDER_BODY_PX + float(bottom)


def legend_height_px(names: list[str], *, width_px: float = LEGEND_WIDTH_PX,
                     font_size: float = 13.0) -> float:
    """Estimated height of a horizontal legend holding ``names``, wrapped at ``width_px``.

    Entries are laid out left to right, a new row starting when the next entry would
    pass ``width_px``; an entry is its symbol plus its text at ``0.6 em`` per character
    (tags such as ``<sub>`` removed).
    """
    if not isinstance(width_px, (int, float)) or not width_px > 0 or not math.isfinite(width_px):
        raise ValueError(f"width_px must be a positive number; got {width_px!r}")
    if not isinstance(font_size, (int, float)) or not font_size > 0:
        raise ValueError(f"font_size must be a positive number; got {font_size!r}")
    if not names:
        return 0.0
    rows, used = 1, 0.0
    for name in names:
        entry = _SYMBOL_PX + _CHAR_EM * font_size * len(_TAGS.sub("", str(name)))
        if used and used + entry > width_px:
            rows, used = rows + 1, 0.0
        used += entry
    return rows * LEGEND_ROW_PX * font_size / 13.0 + _LEGEND_PAD_PX


def _legend_names(fig: go.Figure, visible: list[Any] | None = None) -> list[str]:
    """Legend entries shown when trace ``i`` has visibility ``visible[i]`` (default: as stored)."""
    names, groups = [], set()
    for i, trace in enumerate(fig.data):
        shown = trace.visible if visible is None or i >= len(visible) else visible[i]
        if shown is False or trace.showlegend is False or not trace.name:
            continue
        group = getattr(trace, "legendgroup", None)
        if group and group in groups:
            continue
        if group:
            groups.add(group)
        names.append(trace.name)
    return names


def legend_below(fig: go.Figure, base_height: int, *, bottom_px: int = 64,
                 set_showlegend: bool = True) -> go.Figure:
    """Put ``fig``'s legend under the plot, at the figure's bottom, in place.

    The legend is horizontal, anchored at the bottom-left of the figure (``yref="container"``);
    the figure's height and bottom margin grow by the legend's height
    (:func:`legend_height_px` of its entries: every named trace not hidden from the legend,
    one per ``legendgroup``), so the plot area keeps ``base_height``'s share.

    Args:
      fig: the figure (changed in place and returned).
      base_height: the figure's height without a legend, in CSS pixels.
      bottom_px: the bottom margin without a legend (room for the x-axis title).
      set_showlegend: also set ``showlegend`` to whether there is any entry.
    """
    names = _legend_names(fig, [True] * len(fig.data))
    legend_px = math.ceil(legend_height_px(names)) if names else 0
    layout = dict(height=base_height + legend_px, margin=dict(b=bottom_px + legend_px),
                  legend=dict(orientation="h", x=0.0, xanchor="left", y=0.0,
                              yanchor="bottom", yref="container"))
    if set_showlegend:
        layout["showlegend"] = bool(names)
    fig.update_layout(**layout)
    return fig


def _legend_states(fig: go.Figure) -> list[list[str]]:
    """The legend's entries as drawn and at every slider step that sets trace visibility."""
    states = [_legend_names(fig)]
    for slider in fig.layout.sliders:
        for step in slider.steps or ():
            args = step.args or ()
            restyle = args[0] if args and isinstance(args[0], dict) else {}
            visible = restyle.get("visible")
            if isinstance(visible, (list, tuple)):
                states.append(_legend_names(fig, list(visible)))
    return states


def place_legend(fig: go.Figure) -> go.Figure:
    """``fig`` with its legend moved under its slider when it would cover it.

    Returns ``fig`` itself when nothing needs to move (no slider, no legend, or a
    legend that is not below the plot area), else a new figure: the legend at the
    bottom of the figure, horizontal, and the bottom margin and height grown by the
    slider's extent and the legend's estimated height. ``fig`` is not modified.
    """
    if not isinstance(fig, go.Figure):
        raise TypeError(f"fig must be a plotly.graph_objects.Figure; got {type(fig).__name__}")
    layout = fig.layout
    if not layout.sliders or layout.showlegend is False:
        return fig
    legend = layout.legend
    if legend.y is None or legend.y >= 0 or legend.yref == "container":
        return fig
    states = [names for names in _legend_states(fig) if names]
    if not states:
        return fig
    font = legend.font.size or (layout.font.size if layout.font else None) or 13
    legend_px = max(legend_height_px(names, font_size=float(font)) for names in states)
    slider_px = max(slider_extent_px(s) for s in layout.sliders)
    height = layout.height or fig.layout.template.layout.height or 450
    margin_b = layout.margin.b if layout.margin.b is not None else 0
    # The slider's automargin already gives the bottom margin slider_px; keep the plot
    # area's height by growing the figure as much as the margin grows beyond that.
    new_b = slider_px + _GAP_PX + legend_px
    grow = new_b - max(float(margin_b), slider_px)
    out = go.Figure(fig)
    out.update_layout(
        legend=dict(orientation="h", x=0.0, xanchor="left",
                    y=0.0, yanchor="bottom", yref="container"),
        margin=dict(b=math.ceil(new_b)),
        height=math.ceil(height + max(grow, 0.0)),
    )
    return out
