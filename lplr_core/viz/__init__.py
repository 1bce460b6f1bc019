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

On top of them, the book's *domain figures*: each is a function of core results
(a :class:`~lplr_core.training.Trajectory`, a :class:`~lplr_core.summary.RunSummary`,
a certificate, a phase diagram, a :class:`~lplr_core.check.NetworkReport`), drawn with
the ``"lplr"`` template, so a notebook cell reads as the maths it shows:

* :mod:`~lplr_core.viz.trajectory`: a run's diagnostics (suboptimality, gradient norm,
  PL ratio, drift; stable regime, envelope, fitted rate; a diverging run cut at its
  flag and marked), measured loss against a bound, rate fits and per-step factors;
* :mod:`~lplr_core.viz.spectra`: NTK spectra and their scaling over widths;
* :mod:`~lplr_core.viz.certificate`: the certificate curve μ(r) = λ0 − L r with its
  radius, "estimated" or "proved" in every label;
* :mod:`~lplr_core.viz.containment`: the a-priori containment picture and the proved
  radius over widths;
* :mod:`~lplr_core.viz.phase`: phase-diagram heatmaps and tables;
* :mod:`~lplr_core.viz.report`: a ``check_network`` report as figures and a table;
* :mod:`~lplr_core.viz.tables`: one table helper (HTML in the book and JupyterLab,
  aligned text elsewhere).

The most used of them are re-exported here (``lp.viz.diagnostics_figure``, ...).

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

from lplr_core.viz import (  # noqa: E402  (the domain figures use the template above)
    certificate,
    containment,
    phase,
    report,
    spectra,
    tables,
    trajectory,
)
from lplr_core.viz.certificate import certificate_figure, certificate_slider  # noqa: E402
from lplr_core.viz.containment import guarantee_figure, path_length_figure  # noqa: E402
from lplr_core.viz.phase import regime_heatmap  # noqa: E402
from lplr_core.viz.report import report_figure, reports_table  # noqa: E402
from lplr_core.viz.spectra import spectrum_figure, width_figure  # noqa: E402
from lplr_core.viz.tables import Table, grid_table, table  # noqa: E402
from lplr_core.viz.trajectory import (  # noqa: E402
    diagnostics_figure,
    iterate_slider,
    rate_fit_figure,
    run_slider,
    suboptimality_figure,
)

__all__ = [
    "COLORWAY", "PLOTLY_CONFIG", "PLOTLY_MIMETYPE", "TEMPLATE", "TEMPLATE_NAME",
    "div_id", "figure_bundle", "power_law_guide", "sequential_colors", "show",
    "slider_figure",
    # domain figures and tables
    "Table", "certificate_figure", "certificate_slider", "diagnostics_figure",
    "grid_table", "guarantee_figure", "iterate_slider", "path_length_figure", "rate_fit_figure",
    "regime_heatmap", "report_figure", "reports_table", "run_slider", "spectrum_figure",
    "suboptimality_figure", "table", "width_figure",
    # their modules
    "certificate", "containment", "phase", "report", "spectra", "tables", "trajectory",
]
