"""Figures and widgets for the book's notebooks, on top of :mod:`lplr_core`.

This subpackage sits *above* the numerical core: it imports ``lplr_core``, and
nothing in the core imports it, so ``import lplr_core`` never loads plotly or
ipywidgets. Two modules:

* :mod:`lplr_core.viz.figures` (plotly only): :func:`show`, the one function every
  notebook uses to display a figure, which emits both the plotly JSON (rendered
  by JupyterLab, VS Code, nteract) and a plotly.js-free HTML fragment (rendered by
  the static book, which loads one ``plotly.min.js`` for the whole site);
  :func:`slider_figure`, a figure with a native plotly slider over a precomputed
  grid, which stays interactive on the static site; the ``"lplr"`` template.
* :mod:`lplr_core.viz.widgets` (needs ipywidgets and a live kernel):
  :func:`~lplr_core.viz.widgets.live_panel`, controls that recompute with the
  core when released. Import it explicitly; it is not loaded here.

Importing this package registers the ``"lplr"`` plotly template and makes it the
default (white backgrounds, legible in the book's dark mode as well).
"""

from lplr_core.viz.figures import (
    COLORWAY,
    PLOTLY_CONFIG,
    PLOTLY_MIMETYPE,
    TEMPLATE,
    TEMPLATE_NAME,
    div_id,
    figure_bundle,
    power_law_guide,
    sequential_colors,
    show,
    slider_figure,
)

__all__ = [
    "COLORWAY", "PLOTLY_CONFIG", "PLOTLY_MIMETYPE", "TEMPLATE", "TEMPLATE_NAME",
    "div_id", "figure_bundle", "power_law_guide", "sequential_colors", "show",
    "slider_figure",
]
