r"""Figures of training runs: the diagnostics of a trajectory, measured against bounds.

One home for the figures a student reads a run from (issue 13, section 1):

* :func:`diagnostics_figure`: one panel per diagnostic of one run or of several (the
  suboptimality :math:`L_t - L^*`, the squared gradient norm :math:`\|\nabla L\|^2`, the PL
  ratio :math:`\rho_t`, the drift :math:`\|\theta_t - \theta_0\|`, and, with NTK records, the
  kernel's :math:`\lambda_{\min}`, :math:`\lambda_{\max}` and drift), with the stable regime
  shaded, the PL ratio's lower envelope and the fitted linear rate overlaid when a
  :class:`~lplr_core.summary.RunSummary` (or the window and the fit) is given, and any bound
  curves or reference levels as :func:`curve` and :func:`level` overlays;
* :func:`suboptimality_figure`: the measured suboptimality against bound curves (an array, or
  a per-step factor :math:`q`, drawn as :math:`q^{t - t_0}(L_{t_0} - L^*)`);
  :func:`suboptimality_traces` gives the same traces for :func:`~lplr_core.viz.figures.slider_figure`;
* :func:`rate_fit_figure`: a fitted linear rate on its window, with the measured per-step
  factors against the fitted :math:`\hat q`;
* :func:`run_slider`: a slider over runs (e.g. widths), each position drawing some records of
  one run on one axis (the PL ratio with its envelope and :math:`\lambda_{\min}`, or the loss
  and the drift), on one y-range for every position;
* :func:`rate_factor_figure`: per-step factors against the step size, measured (markers)
  against bounds (lines), with the thresholds :math:`1/\beta` and :math:`2/\beta` marked.
* :func:`iterate_slider`: a slider over gradient-descent runs on a function of one variable:
  the iterates on the graph of :math:`f` next to their gap :math:`f(x_t) - f^*` against a
  bound :math:`q^t (f(x_0) - f^*)`.

A run is a :class:`~lplr_core.training.Trajectory`, a
:class:`~lplr_core.objectives.GDPath` (gradient descent on a function), or a mapping with the same record names
(``"steps"``, ``"loss"``, ``"drift"``, ... and optionally ``"ntk_steps"``, ``"lambda_min"``,
``"diverged_at"``), e.g. one run of a stored experiment (:func:`results_runs` splits a
stored sweep into runs). Several runs are given as a mapping ``{name: run}``; each gets a
colour *and* a dash of its own (colour-blind safe: the two together identify a series).

**A diverging run** is drawn up to its last record before the flagged step
(``Trajectory.diverged_at``) and marked there with a cross; its legend entry says where and
why it diverged. **Log axes** are clipped to the data that matters: at most
:data:`MAX_DECADES` decades below the top of the data, not below a given round-off floor, and
at most :data:`HEADROOM_DECADES` decades above the runs that did not diverge (a blowing-up run
leaves through the top, its cross pinned to the edge), so a diverging run never squeezes the
converging ones into a flat line.

Every figure uses the book's ``"lplr"`` template, puts its legend under the plot (sized from
the entries with :func:`lplr_core.viz.style.legend_height_px`, so it covers no axis title,
also on a phone), titles every axis, and writes sub- and superscripts as ``<sub>``/``<sup>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lplr_core._validation import check_int, check_real, describe
from lplr_core.diagnostics import PowerLawFit, RateFit, lower_envelope
from lplr_core.objectives import GDPath
from lplr_core.summary import RunSummary
from lplr_core.training import Trajectory
from lplr_core.viz.figures import COLORWAY, slider_figure
from lplr_core.viz.style import legend_below

__all__ = [
    "DEFAULT_PANELS",
    "HEADROOM_DECADES",
    "MAX_DECADES",
    "PANELS",
    "Overlay",
    "Panel",
    "curve",
    "diagnostics_figure",
    "level",
    "log_range",
    "log_ticks",
    "FactorPanel",
    "factor_panel",
    "iterate_slider",
    "rate_factor_figure",
    "rate_fit_figure",
    "results_runs",
    "run_slider",
    "suboptimality_figure",
    "suboptimality_traces",
]

#: A log axis spans at most this many decades below the top of its data.
MAX_DECADES = 16.0
#: A log axis reaches at most this many decades above the data of the runs that did not diverge.
HEADROOM_DECADES = 2.0
_PAD_DECADES = 0.15  # margin above and below the data on a log axis


class Panel(NamedTuple):
    """How one diagnostic is drawn: its subplot title, axis title, scale and record.

    Attributes:
      title: the subplot's title (HTML: ``<sub>``, ``<sup>``).
      axis_title: its y-axis title.
      log: a log y-axis.
      ntk: read at the NTK records (``ntk_steps``), not at every record.
    """

    title: str
    axis_title: str
    log: bool
    ntk: bool


#: The diagnostics :func:`diagnostics_figure` can draw, by name.
PANELS: dict[str, Panel] = {
    "loss": Panel("loss", "L(θ<sub>t</sub>)", True, False),
    "suboptimality": Panel("suboptimality", "L(θ<sub>t</sub>) − L*", True, False),
    "grad_norm_sq": Panel("squared gradient norm", "‖∇L(θ<sub>t</sub>)‖<sup>2</sup>", True,
                          False),
    "pl_ratio": Panel("PL ratio", "ρ<sub>t</sub>", True, False),
    "drift": Panel("parameter drift", "‖θ<sub>t</sub> − θ<sub>0</sub>‖", False, False),
    "relative_drift": Panel("relative drift",
                            "‖θ<sub>t</sub> − θ<sub>0</sub>‖ / ‖θ<sub>0</sub>‖", False, False),
    "lambda_min": Panel("NTK spectral gap", "λ<sub>min</sub>(Θ<sub>t</sub>)", False, True),
    "lambda_max": Panel("NTK top eigenvalue", "λ<sub>max</sub>(Θ<sub>t</sub>)", False, True),
    "kernel_drift": Panel("kernel drift", "‖Θ<sub>t</sub> − Θ<sub>0</sub>‖<sub>op</sub>", False,
                          True),
}
#: The four diagnostics of a run (issue 13), in this order, suboptimality, ‖∇L‖², PL ratio and drift.
DEFAULT_PANELS = ("suboptimality", "grad_norm_sq", "pl_ratio", "drift")

_STEP_TITLE = "step t"
_DASHES = ("solid", "dash", "dot", "dashdot", "longdashdot", "longdash")
_FIT_STYLE = ("#D55E00", "dash")        # the fitted rate
_TRANSIENT_STYLE = ("#CC79A7", "dot")   # the measured curve before the onset t0
_POWER_STYLE = ("#E69F00", "dashdot")   # a power-law fit of the transient
_ENVELOPE_STYLE = ("#009E73", "dash")   # the PL ratio's lower envelope
_SHADE = "#009E73"                      # the stable regime
# user overlays (bounds, levels) without a run: colour and dash both differ from the runs'
_OVERLAY_STYLES = (("#009E73", "dot"), ("#CC79A7", "dashdot"), ("#000000", "longdash"),
                   ("#E69F00", "longdashdot"), ("#56B4E9", "dot"), ("#D55E00", "dot"))
# ... and over several runs (coloured by run), in neutral greys and black
_NEUTRAL_STYLES = (("#777777", "dot"), ("#000000", "dashdot"), ("#777777", "longdash"),
                   ("#000000", "dot"))
_RECORD_NAMES = ("loss", "grad_norm_sq", "drift", "relative_drift", "pl_ratio")
_NTK_NAMES = ("lambda_min", "lambda_max", "kernel_drift")


# ------------------------------------------------------------------------- overlays

class Overlay(NamedTuple):
    """A curve or a horizontal level drawn over one panel (make it with :func:`curve`/:func:`level`).

    Attributes:
      panel: the name of the panel it is drawn on (a key of :data:`PANELS`).
      name: its legend name.
      y: the values (an array along ``x``), or a float for a horizontal level.
      x: the steps of ``y``; ``None`` for a level and for a curve along its run's steps.
      run: the run whose colour it takes; ``None``: a style of its own and a legend entry.
      color: its colour when ``run`` is ``None`` (``None``: a neutral grey).
      dash: its dash style (``"dot"``, ``"dash"``, ...; ``None``: the overlay's default).
    """

    panel: str
    name: str
    y: Any
    x: Any
    run: str | None
    color: str | None
    dash: str | None


def _check_panel(name: str, panel: Any) -> str:
    if not isinstance(panel, str) or panel not in PANELS:
        raise ValueError(f"{name} must be one of {sorted(PANELS)}; got {panel!r}")
    return panel


def _check_name(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty str; got {describe(value)}")
    return value


def _check_style(color: Any, dash: Any) -> tuple[str | None, str | None]:
    if color is not None and (not isinstance(color, str) or not color):
        raise TypeError(f"color must be a CSS colour string or None; got {describe(color)}")
    if dash is not None and dash not in _DASHES:
        raise ValueError(f"dash must be one of {list(_DASHES)} or None; got {dash!r}")
    return color, dash


def curve(panel: str, y: Any, name: str, *, x: Any = None, run: str | None = None,
          color: str | None = None, dash: str | None = None) -> Overlay:
    """A curve over a panel of :func:`diagnostics_figure`, e.g. a bound on the suboptimality.

    Args:
      panel: the panel's name (a key of :data:`PANELS`).
      y: the curve's values (1-D, finite where drawn; ``NaN`` leaves a gap).
      name: its legend entry (rendered HTML: ``<sub>``, ``<sup>``).
      x: its abscissae (steps); default the steps of its run (``run``, or the only run).
      run: the name of the run it belongs to: drawn in that run's colour, grouped with it.
      color, dash: override the style (``dash`` one of plotly's dash names).

    Returns:
      An :class:`Overlay`.
    """
    panel = _check_panel("panel", panel)
    name = _check_name("name", name)
    values = np.asarray(y, dtype=float) if not isinstance(y, str) else None
    if values is None or values.ndim != 1 or values.size == 0:
        raise ValueError(f"y must be a non-empty 1-D array of numbers; got {describe(y)}")
    if x is not None:
        xs = np.asarray(x, dtype=float)
        if xs.shape != values.shape:
            raise ValueError(f"x must have the shape of y {values.shape}; got {describe(x)}")
        x = xs
    if run is not None:
        run = _check_name("run", run)
    color, dash = _check_style(color, dash)
    return Overlay(panel, name, values, x, run, color, dash)


def level(panel: str, value: Any, name: str, *, run: str | None = None,
          color: str | None = None, dash: str | None = None) -> Overlay:
    """A horizontal line across a panel of :func:`diagnostics_figure`, e.g. a radius or a μ.

    Args:
      panel: the panel's name (a key of :data:`PANELS`).
      value: the level (a finite real number; on a log panel, > 0).
      name: its legend entry.
      run: the run it belongs to (drawn in that run's colour), or ``None``.
      color, dash: override the style.

    Returns:
      An :class:`Overlay` (with ``x = None``).
    """
    panel = _check_panel("panel", panel)
    value = check_real("value", value)
    if PANELS[panel].log and value <= 0:
        raise ValueError(f"value must be > 0 on the log panel {panel!r}; got {value}")
    name = _check_name("name", name)
    if run is not None:
        run = _check_name("run", run)
    color, dash = _check_style(color, dash)
    return Overlay(panel, name, float(value), None, run, color, dash)


# ----------------------------------------------------------------------------- runs

@dataclass
class _Run:
    """One run, normalized: records cut at the divergence, as float64 NumPy."""

    name: str
    steps: np.ndarray
    records: dict[str, np.ndarray]
    ntk_steps: np.ndarray
    loss_star: float
    diverged_at: int | None
    divergence: str | None
    color: str = COLORWAY[0]
    dash: str = "solid"
    extra: dict = field(default_factory=dict)

    def series(self, panel: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of a panel's record; raises ValueError when the run lacks it."""
        key = "loss" if panel == "suboptimality" else panel
        if key not in self.records:
            raise ValueError(f"run {self.name!r} has no {key!r} record, needed by the panel "
                             f"{panel!r}")
        y = self.records[key]
        if panel == "suboptimality":
            y = y - self.loss_star
        x = self.ntk_steps if PANELS[panel].ntk else self.steps
        if x.size != y.size:
            raise ValueError(f"run {self.name!r}: {key!r} has {y.size} entries but its steps "
                             f"have {x.size}")
        if PANELS[panel].ntk and y.size == 0:
            raise ValueError(f"run {self.name!r} has no NTK records (run with ntk_every), "
                             f"needed by the panel {panel!r}")
        return x, y


def _array(name: str, value: Any) -> np.ndarray:
    try:
        out = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers; got {describe(value)}") from None
    if out.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one run); got shape {out.shape} (split a "
                         f"stored sweep with results_runs)")
    return out


def _as_run(name: str, run: Any, loss_star: float | None) -> _Run:
    where = f"runs[{name!r}]"
    if isinstance(run, GDPath):  # gradient descent on a function (lplr_core.objectives)
        run = {"steps": np.arange(len(run.values)), "loss": run.values,
               "grad_norm_sq": run.grad_norm_sq, "pl_ratio": run.pl_ratio(),
               "diverged_at": -1 if run.diverged_at is None else run.diverged_at,
               "loss_star": run.loss_star}
    if isinstance(run, Trajectory):
        get = lambda key: getattr(run, key)  # noqa: E731
        has = lambda key: True  # noqa: E731
        diverged_at, divergence = run.diverged_at, run.divergence
        star = run.config.get("loss_star", 0.0)
    elif isinstance(run, Mapping):
        get, has = run.__getitem__, run.__contains__
        if not has("steps") or not has("loss"):
            raise ValueError(f"{where} must hold at least 'steps' and 'loss' records; got "
                             f"the keys {sorted(map(str, run))[:12]}")
        diverged_at = run.get("diverged_at")
        if diverged_at is not None:
            diverged_at = int(np.asarray(diverged_at))
            diverged_at = None if diverged_at < 0 else diverged_at
        divergence = run.get("divergence")
        star = run.get("loss_star", 0.0)
    else:
        raise TypeError(f"{where} must be a lplr_core Trajectory, a GDPath or a mapping of "
                        f"its records ('steps', 'loss', ...); got {describe(run)}")
    star = check_real("loss_star", star if loss_star is None else loss_star)
    steps = _array(f"{where}['steps']", get("steps"))
    records = {}
    for key in _RECORD_NAMES:
        if has(key):
            values = _array(f"{where}[{key!r}]", get(key))
            if values.size != steps.size:
                raise ValueError(f"{where}[{key!r}] must have one entry per step ({steps.size}); "
                                 f"got {values.size}")
            records[key] = values
    ntk_steps = _array(f"{where}['ntk_steps']", get("ntk_steps")) if has("ntk_steps") \
        else np.zeros(0)
    for key in _NTK_NAMES:
        if has(key):
            values = _array(f"{where}[{key!r}]", get(key))
            if values.size != ntk_steps.size:
                raise ValueError(f"{where}[{key!r}] must have one entry per NTK step "
                                 f"({ntk_steps.size}); got {values.size}")
            records[key] = values
    if diverged_at is not None:  # records stop before the flagged step (sweeps pad with NaN)
        keep = steps < diverged_at
        steps = steps[keep]
        records = {k: (v[keep] if k in _RECORD_NAMES else v) for k, v in records.items()}
        keep_ntk = ntk_steps < diverged_at
        ntk_steps = ntk_steps[keep_ntk]
        records.update({k: v[keep_ntk] for k, v in records.items() if k in _NTK_NAMES})
    if steps.size == 0:
        raise ValueError(f"{where} has no records to draw")
    return _Run(name, steps, records, ntk_steps, float(star), diverged_at,
                None if divergence is None else str(divergence))


def _as_runs(runs: Any, loss_star: float | None, colors: Any, dashes: Any) -> list[_Run]:
    if isinstance(runs, (Trajectory, GDPath)) or (isinstance(runs, Mapping) and "steps" in runs):
        items = [("run", runs)]
        single = True
    elif isinstance(runs, Mapping):
        if not runs:
            raise ValueError("runs must hold at least one run; got an empty mapping")
        items = [(_check_name("runs' keys", k), v) for k, v in runs.items()]
        single = False
    else:
        raise TypeError(f"runs must be a Trajectory, a GDPath, a mapping of one run's "
                        f"records, or a mapping {{name: run}}; got {describe(runs)}")
    out = [_as_run(name, run, loss_star) for name, run in items]
    n = len(out)
    palette = _styles("colors", colors, n, [COLORWAY[i % len(COLORWAY)] for i in range(n)])
    default_dashes = ["solid"] * n if single else [_DASHES[i % len(_DASHES)] for i in range(n)]
    dash_list = _styles("dashes", dashes, n, default_dashes)
    for run, color, dash in zip(out, palette, dash_list):
        if dash not in _DASHES:
            raise ValueError(f"dashes must hold plotly dash names {list(_DASHES)}; got {dash!r}")
        run.color, run.dash = str(color), dash
    return out


def _styles(name: str, given: Any, n: int, default: list[str]) -> list[str]:
    if given is None:
        return default
    if isinstance(given, str) or not isinstance(given, Sequence) or len(given) != n:
        raise ValueError(f"{name} must be a sequence of {n} strings, one per run; got "
                         f"{describe(given)}")
    return list(given)


def results_runs(results: Mapping, names: Sequence[str] | None = None) -> dict[str, dict]:
    """Split a stored sweep (record arrays of shape ``(runs, records)``) into one mapping per run.

    Arrays whose first axis has one entry per run (e.g. ``loss`` of shape ``(R, T)``,
    ``diverged_at`` of shape ``(R,)``) are indexed; the shared ones (``steps``,
    ``ntk_steps``) are kept as they are.

    Args:
      results: a mapping of arrays, e.g. ``lplr_core.experiments.load_or_run(...)``.
      names: one name per run (the legend entries); default ``"run 0"``, ``"run 1"``, ...

    Returns:
      ``{name: {record: array}}``, ready for :func:`diagnostics_figure`.
    """
    if not isinstance(results, Mapping) or "loss" not in results or "steps" not in results:
        raise TypeError(f"results must be a mapping with 'steps' and 'loss' records; got "
                        f"{describe(results)}")
    loss = np.asarray(results["loss"])
    if loss.ndim != 2:
        raise ValueError(f"results['loss'] must have shape (runs, records); got {loss.shape}")
    n = loss.shape[0]
    if names is None:
        names = [f"run {i}" for i in range(n)]
    names = list(names)
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"names must hold {n} distinct names, one per run; got {names!r}")
    shared = {"steps", "ntk_steps"}
    out = {}
    for i, name in enumerate(names):
        _check_name("names[i]", name)
        run = {}
        for key, value in results.items():
            arr = np.asarray(value)
            if key in shared:
                run[key] = arr
            elif arr.ndim >= 1 and arr.shape[0] == n and (
                    key in _RECORD_NAMES + _NTK_NAMES or arr.ndim == 1):
                run[key] = arr[i]
        out[name] = run
    return out


# ----------------------------------------------------------------------------- axes

def log_range(*arrays: Any, floor: float | None = None, max_decades: float = MAX_DECADES,
              top: float | None = None) -> list[float] | None:
    """A log axis's range ``[lo, hi]`` (in decades, as plotly wants it) for the given data.

    It spans the positive finite values of ``arrays`` with a small margin, but at most
    ``max_decades`` below their largest value, not below ``floor`` (e.g. the round-off
    floor of a suboptimality) and not above ``top``.

    Args:
      *arrays: the data drawn on the axis.
      floor: values below it do not matter (``None``: no floor); > 0.
      max_decades: the largest span below the top (> 0).
      top: a cap on the top of the axis (``None``: the data's largest value); > 0.

    Returns:
      ``[lo, hi]`` in log10 units, or ``None`` when no value is positive and finite.
    """
    max_decades = check_real("max_decades", max_decades, minimum=0.0, strict_min=True)
    if floor is not None:
        floor = check_real("floor", floor, minimum=0.0, strict_min=True)
    if top is not None:
        top = check_real("top", top, minimum=0.0, strict_min=True)
    values = [np.asarray(a, dtype=float).ravel() for a in arrays]
    values = np.concatenate(values) if values else np.zeros(0)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return None
    hi = math.log10(float(values.max()))
    if top is not None:
        hi = min(hi, math.log10(top))
    lo = math.log10(float(values.min()))
    lo = max(lo, hi - max_decades)
    if floor is not None:
        lo = max(lo, math.log10(floor))
    if lo >= hi:
        lo, hi = hi - 0.5, hi + 0.5
    return [lo - _PAD_DECADES, hi + _PAD_DECADES]


def log_ticks(log_range_: Sequence[float] | None) -> list[float] | None:
    """Tick values 1, 2, 5 × 10^k for a log axis spanning at most three decades, else ``None``.

    Over a short range plotly labels every minor tick (1, 2, ..., 9 per decade), which
    crowds the axis; ``None`` leaves plotly's decades over longer ranges.

    Args:
      log_range_: ``[lo, hi]`` in decades (as :func:`log_range` returns), or ``None``.
    """
    if log_range_ is None:
        return None
    lo, hi = (float(v) for v in log_range_)
    if not hi - lo <= 3.0:
        return None
    ticks = [c * 10.0 ** k for k in range(math.floor(lo), math.ceil(hi) + 1) for c in (1, 2, 5)]
    return [t for t in ticks if lo <= math.log10(t) <= hi]


def _linear_range(data: list[np.ndarray], tops: list[float],
                  any_diverged: bool) -> list[float] | None:
    """A linear axis's range when a diverged run would squeeze the others (else ``None``).

    With a diverged run whose values pass three times the largest value of the other runs
    (or of its own first record), the axis stops at 1.3 times that value.
    """
    if not any_diverged:
        return None
    finite = [t for t in tops if np.isfinite(t)]
    values = np.concatenate([np.asarray(d, float).ravel() for d in data]) if data else np.zeros(0)
    values = values[np.isfinite(values)]
    if not finite or values.size == 0:
        return None
    top = max(finite)
    if top <= 0 or values.max() <= 3 * top:
        return None
    low = min(0.0, float(values.min()))
    return [low, 1.3 * top]


def _grid(n: int) -> tuple[int, int]:
    return {1: (1, 1), 2: (1, 2), 3: (1, 3), 4: (2, 2)}.get(n, (math.ceil(n / 3), 3))


# ---------------------------------------------------------------------------- figure

def _check_panels(panels: Any) -> tuple[str, ...]:
    if isinstance(panels, str) or not isinstance(panels, Sequence) or not panels:
        raise ValueError(f"panels must be a non-empty sequence of panel names from "
                         f"{sorted(PANELS)}; got {describe(panels)}")
    out = tuple(_check_panel("panels[i]", p) for p in panels)
    if len(set(out)) != len(out):
        raise ValueError(f"panels must not repeat a panel; got {list(out)}")
    return out


def _per_run(name: str, value: Any, runs: list[_Run], kind: type) -> dict[str, Any]:
    """``value`` (one object for a single run, or ``{run name: object}``) as a dict by run."""
    if value is None:
        return {}
    if isinstance(value, kind):
        if len(runs) != 1:
            raise ValueError(f"{name} must be a mapping {{run name: {kind.__name__}}} for "
                             f"several runs; got one {kind.__name__}")
        return {runs[0].name: value}
    if isinstance(value, Mapping):
        known = {r.name for r in runs}
        for key, item in value.items():
            if key not in known:
                raise ValueError(f"{name} names the run {key!r}, which is not one of "
                                 f"{sorted(known)}")
            if not isinstance(item, kind):
                raise TypeError(f"{name}[{key!r}] must be a {kind.__name__}; got "
                                f"{describe(item)}")
        return dict(value)
    raise TypeError(f"{name} must be a {kind.__name__} or a mapping {{run name: "
                    f"{kind.__name__}}}; got {describe(value)}")


def _run_label(run: _Run, single: bool) -> str:
    label = "" if single else run.name
    if run.diverged_at is not None:
        why = f", {run.divergence.replace('_', ' ')}" if run.divergence else ""
        note = f"diverged at step {run.diverged_at}{why}"
        label = f"{label} ({note})" if label else note
    return label


def _fit_curve(fit: RateFit, run: _Run, offset: float) -> tuple[np.ndarray, np.ndarray]:
    window = run.steps[(run.steps >= fit.start) & (run.steps <= fit.stop)]
    return window, np.exp(fit.intercept + fit.slope * window) + offset


def diagnostics_figure(runs: Any, *, panels: Sequence[str] = DEFAULT_PANELS,
                       summary: Any = None, fit: Any = None, stable_from: Any = None,
                       overlays: Sequence[Overlay] = (), loss_star: float | None = None,
                       colors: Sequence[str] | None = None,
                       dashes: Sequence[str] | None = None, floor: float | None = None,
                       title: str | None = None, height: int | None = None) -> go.Figure:
    r"""The diagnostics of one run or several, one panel each, over the step ``t``.

    Args:
      runs: a :class:`~lplr_core.training.Trajectory` or a mapping of one run's records
        (``"steps"``, ``"loss"``, ...), or a mapping ``{name: run}`` of several (the
        names are their legend entries).
      panels: the diagnostics to draw, keys of :data:`PANELS` (default the four of
        :data:`DEFAULT_PANELS`); 1 to 3 panels make one row, 4 a 2×2 grid.
      summary: a :class:`~lplr_core.summary.RunSummary` (one run) or ``{name: summary}``:
        shades the stable regime (one run), draws the PL ratio's lower envelope on it, the
        fitted rate on the suboptimality/loss panel, and takes the round-off floor as the
        suboptimality axis's floor.
      fit: a :class:`~lplr_core.diagnostics.RateFit` (or ``{name: fit}``) to draw instead
        of the summary's.
      stable_from: the first step :math:`t_0` of the stable regime when no summary is
        given (an int, or ``{name: int}``): shades it (one run) and draws the envelope.
      overlays: :func:`curve` and :func:`level` overlays (bounds, radii, constants).
      loss_star: :math:`L^*` of every run (default each run's own, else 0).
      colors, dashes: one colour and one plotly dash name per run (default: the
        Okabe–Ito colours and a different dash for each run).
      floor: lower limit of the suboptimality/loss axis (default the summary's
        round-off floor, else :data:`MAX_DECADES` below the top).
      title: the figure's title (HTML: ``<sub>``, ``<sup>``).
      height: the height of the plot area and titles in px, without the legend
        (default 430 for one row, 720 for two).

    Returns:
      A plotly figure; show it with :func:`lplr_core.viz.figures.show`.

    Raises:
      TypeError, ValueError: an argument is invalid (the message names it), a run lacks
        a panel's record, or an overlay names an unknown run or a panel not drawn.
    """
    panels = _check_panels(panels)
    if loss_star is not None:
        loss_star = check_real("loss_star", loss_star)
    run_list = _as_runs(runs, loss_star, colors, dashes)
    single = len(run_list) == 1
    by_name = {r.name: r for r in run_list}
    summaries = _per_run("summary", summary, run_list, RunSummary)
    fits = _per_run("fit", fit, run_list, RateFit)
    if isinstance(stable_from, Mapping):
        starts = {}
        for key, value in stable_from.items():
            if key not in by_name:
                raise ValueError(f"stable_from names the run {key!r}, which is not one of "
                                 f"{sorted(by_name)}")
            starts[key] = check_int(f"stable_from[{key!r}]", value, minimum=0)
    elif stable_from is not None:
        starts = {r.name: check_int("stable_from", stable_from, minimum=0) for r in run_list}
    else:
        starts = {}
    for name, s in summaries.items():
        starts.setdefault(name, s.stable_from)
        if s.rate_fit is not None:
            fits.setdefault(name, s.rate_fit)
    if floor is not None:
        floor = check_real("floor", floor, minimum=0.0, strict_min=True)
    elif summaries:
        floors = [s.round_off_floor for s in summaries.values()
                  if np.isfinite(s.round_off_floor) and s.round_off_floor > 0]
        floor = min(floors) if floors else None
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None; got {describe(title)}")
    overlays = list(overlays)
    for i, o in enumerate(overlays):
        if not isinstance(o, Overlay):
            raise TypeError(f"overlays[{i}] must be an Overlay (from curve() or level()); got "
                            f"{describe(o)}")
        if o.panel not in panels:
            raise ValueError(f"overlays[{i}] ({o.name!r}) is for the panel {o.panel!r}, which "
                             f"is not drawn; panels are {list(panels)}")
        if o.run is not None and o.run not in by_name:
            raise ValueError(f"overlays[{i}] ({o.name!r}) names the run {o.run!r}, which is not "
                             f"one of {sorted(by_name)}")
        if o.x is None and not np.isscalar(o.y) and o.run is None and not single:
            raise ValueError(f"overlays[{i}] ({o.name!r}) needs x or run: several runs are drawn")

    rows, cols = _grid(len(panels))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[PANELS[p].title for p in panels],
                        horizontal_spacing=0.08,
                        vertical_spacing=0.2 if rows > 1 else 0.1)
    place = {p: (1 + i // cols, 1 + i % cols) for i, p in enumerate(panels)}
    legend_done: set[str] = set()

    def add(trace: go.Scatter, panel: str) -> None:
        row, col = place[panel]
        fig.add_trace(trace, row=row, col=col)

    def legend_once(key: str) -> bool:
        first = key not in legend_done
        legend_done.add(key)
        return first

    x_end = max(float(r.steps[-1]) for r in run_list)
    # a per-run line of one kind (a fit, a bound, a level) has one dash in every run, one
    # that no run uses when there is one: the run's colour says whose, the dash what
    used = {r.dash for r in run_list}
    spare = [d for d in ("longdash", "longdashdot", "dot", "dash", "dashdot") if d not in used]
    spare += [d for d in ("dot", "dash", "dashdot", "longdash", "longdashdot") if d in used]
    kinds: dict[str, str] = {}

    def kind_dash(kind: str) -> str:
        if kind not in kinds:
            kinds[kind] = spare[len(kinds) % len(spare)]
        return kinds[kind]

    ranges: dict[str, list[np.ndarray]] = {p: [] for p in panels}
    converged_tops: dict[str, list[float]] = {p: [] for p in panels}
    markers: list[tuple[str, _Run, float, float]] = []
    for run in run_list:
        label = _run_label(run, single)
        group = None if single else run.name  # one group per run (a plotly group is a column)
        for panel in panels:
            x, y = run.series(panel)
            width = 1.5 if (panel == "pl_ratio" and run.name in starts) else 2.5
            name = label or PANELS[panel].title
            show_legend = (not single or run.diverged_at is not None) and legend_once(
                "run:" + run.name)
            add(go.Scatter(x=x, y=y, mode="lines+markers" if PANELS[panel].ntk else "lines",
                           name=name or run.name, legendgroup=group, showlegend=show_legend,
                           line=dict(color=run.color, dash=run.dash, width=width),
                           marker=dict(size=4)), panel)
            ranges[panel].append(y)
            finite = y[np.isfinite(y)]
            if run.diverged_at is None:
                converged_tops[panel].append(float(np.max(finite)) if finite.size else np.nan)
            elif finite.size:
                converged_tops[panel].append(float(finite[0]))
            if run.diverged_at is not None and finite.size:
                markers.append((panel, run, float(x[np.isfinite(y)][-1]), float(finite[-1])))
        # the stable window, the envelope and the fit
        if run.name in starts:
            t0 = starts[run.name]
            s = summaries.get(run.name)
            if "pl_ratio" in panels and "pl_ratio" in run.records:
                if s is not None:
                    first, stop = s.window
                    env_x, env_y = run.steps[first:stop], np.asarray(s.pl_envelope, float)
                else:
                    first = int(np.searchsorted(run.steps, t0))
                    env_x = run.steps[first:]
                    env_y = (np.asarray(lower_envelope(run.records["pl_ratio"], first), float)
                             if first < run.steps.size else np.zeros(0))
                if env_y.size:
                    color, dash = (_ENVELOPE_STYLE if single else (run.color, run.dash))
                    add(go.Scatter(
                        x=env_x, y=env_y, mode="lines",
                        name=f"lower envelope of ρ<sub>t</sub> on t ≥ {t0}" if single
                        else f"{run.name}: envelope", legendgroup=group if not single else None,
                        showlegend=single, line=dict(color=color, dash=dash, width=3)),
                        "pl_ratio")
        if run.name in fits:
            target = next((p for p in ("suboptimality", "loss") if p in panels), None)
            if target is not None:
                f = fits[run.name]
                offset = run.loss_star if target == "loss" else 0.0
                fx, fy = _fit_curve(f, run, offset)
                color, dash = _FIT_STYLE if single else (run.color, kind_dash("fit"))
                add(go.Scatter(x=fx, y=fy, mode="lines",
                               name=(f"fitted rate q̂ = {f.rate:.4g}" if single
                                     else f"{run.name}: fitted q̂ = {f.rate:.4g}"),
                               legendgroup=group, showlegend=single,
                               line=dict(color=color, dash=dash, width=2)), target)
                if not single and legend_once("key:fit"):
                    add(go.Scatter(x=[None], y=[None], mode="lines", hoverinfo="skip",
                                   name="fitted rate (hover for q̂)", legendrank=2000,
                                   line=dict(color="#777777", dash=kind_dash("fit"),
                                             width=2)), target)

    # overlays
    style_index = 0
    for o in overlays:
        run = by_name[o.run] if o.run is not None else None
        if run is not None:
            color = o.color or run.color
            dash = o.dash or (kind_dash("overlay:" + o.name) if not single else "dot")
        else:
            cycle = _OVERLAY_STYLES if single else _NEUTRAL_STYLES
            default = cycle[style_index % len(cycle)]
            style_index += 1
            color, dash = o.color or default[0], o.dash or default[1]
        if o.x is None and np.isscalar(o.y):
            x = [0.0, x_end]
            y = [o.y, o.y]
            mode = "lines"
        else:
            owner = run if run is not None else run_list[0]
            x = owner.steps if o.x is None else o.x
            if len(x) != len(o.y):
                raise ValueError(f"the overlay {o.name!r} has {len(o.y)} values but its run "
                                 f"{owner.name!r} has {len(x)} steps: give x")
            y = o.y
            mode = "lines"
        per_run = run is not None and not single
        add(go.Scatter(x=x, y=y, mode=mode, name=o.name, hoverinfo="x+y+name",
                       legendgroup=run.name if per_run else None, showlegend=not per_run,
                       line=dict(color=color, dash=dash, width=2)), o.panel)
        if per_run and legend_once("key:" + o.name):
            # the runs' colours say which run; one grey entry says what the line is
            add(go.Scatter(x=[None], y=[None], mode="lines", name=o.name, hoverinfo="skip",
                           legendrank=2000, line=dict(color="#777777", dash=dash, width=2)),
                o.panel)
        values = np.asarray(y, dtype=float)
        ranges[o.panel].append(values)
        if np.isfinite(values).any():  # a bound or a level is data that matters: keep it in view
            converged_tops[o.panel].append(float(np.nanmax(values)))

    # the stable regime, shaded (one run)
    if single and run_list[0].name in starts:
        run = run_list[0]
        t0 = starts[run.name]
        s = summaries.get(run.name)
        t1 = s.stable_until if s is not None else float(run.steps[-1])
        if t1 > t0:
            for panel in panels:
                row, col = place[panel]
                fig.add_vrect(x0=t0, x1=t1, fillcolor=_SHADE, opacity=0.08, line_width=0,
                              layer="below", row=row, col=col)
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=(
                f"stable regime, t ≥ {t0}"), marker=dict(symbol="square", size=12,
                                                          color=_SHADE, opacity=0.3),
                hoverinfo="skip", showlegend=True, legendrank=2000), row=1, col=1)

    # axes
    any_diverged = any(r.diverged_at is not None for r in run_list)
    for panel in panels:
        row, col = place[panel]
        spec = PANELS[panel]
        fig.update_xaxes(title_text=_STEP_TITLE, row=row, col=col)
        fig.update_yaxes(title_text=spec.axis_title, row=row, col=col)
        if cols == 2 and col == 2:
            # the right-hand panel's ticks and title on its outer side, where the margin
            # grows to fit them: between the panels they would meet on a narrow screen
            fig.update_yaxes(side="right", row=row, col=col)
        if spec.log:
            tops = [t for t in converged_tops[panel] if np.isfinite(t) and t > 0]
            cap = max(tops) * 10 ** HEADROOM_DECADES if (any_diverged and tops) else None
            panel_floor = floor if panel in ("suboptimality", "loss") else None
            if panel_floor is not None and panel == "loss":
                panel_floor = None  # the loss axis is not a gap: L* may be large
            rng = log_range(*ranges[panel], floor=panel_floor, top=cap)
            fig.update_yaxes(type="log", row=row, col=col)
            if rng is not None:
                fig.update_yaxes(range=rng, tickvals=log_ticks(rng), row=row, col=col)
        else:
            if panel in ("drift", "relative_drift", "kernel_drift"):
                fig.update_yaxes(rangemode="tozero", row=row, col=col)
            rng = _linear_range(ranges[panel], converged_tops[panel], any_diverged)
            if rng is not None:
                fig.update_yaxes(range=rng, row=row, col=col)
            values = np.concatenate([np.ravel(np.asarray(v, float)) for v in ranges[panel]])
            values = values[np.isfinite(values)]
            if values.size and np.max(np.abs(values)) >= 1e4:
                # "25k", not "2.5×10⁴": short tick labels leave room for the axis title
                fig.update_yaxes(tickformat="~s", row=row, col=col)

    # divergence markers (a cross at the last record; pinned to the top if off the axis)
    for panel, run, mx, my in markers:
        row, col = place[panel]
        axis = fig.get_subplot(row, col).yaxis
        y = my
        if axis.type == "log" and axis.range is not None and my > 0:
            y = min(my, 10 ** axis.range[1])
        elif axis.type != "log" and axis.range is not None:
            y = min(max(my, axis.range[0]), axis.range[1])
        add(go.Scatter(x=[mx], y=[y], mode="markers", legendgroup=None if single else run.name,
                       name=f"last record before divergence at step {run.diverged_at}",
                       showlegend=False, hovertext=f"{run.name}: last record (t = {mx:g}) "
                       f"before divergence at step {run.diverged_at}", hoverinfo="text",
                       marker=dict(symbol="x", size=12, color=run.color,
                                   line=dict(width=1, color="black"))), panel)

    base = height if height is not None else (430 if rows == 1 else 720)
    base = check_int("height", base, minimum=200)
    if title is not None:
        fig.update_layout(title_text=title, margin=dict(t=100))
    legend_below(fig, base)
    return fig


# ---------------------------------------------------------------- measured vs bound

def _bound_values(name: str, bound: Any, run: _Run) -> np.ndarray:
    """A bound curve along ``run.steps``: an array, or a factor ``q`` drawn as ``q^{t - t_0} gap_0``."""
    if isinstance(bound, (int, float, np.floating, np.integer)) and not isinstance(bound, bool):
        q = check_real(f"bounds[{name!r}]", bound, minimum=0.0, strict_min=True)
        gap0 = float(run.records["loss"][0] - run.loss_star)
        return q ** (run.steps - run.steps[0]) * gap0
    values = np.asarray(bound, dtype=float)
    if values.shape != run.steps.shape:
        raise ValueError(f"bounds[{name!r}] must be a factor q > 0 or one value per record "
                         f"({run.steps.size}); got {describe(bound)}")
    return values


def suboptimality_traces(run: Any, *, bounds: Mapping[str, Any] | None = None,
                         fit: RateFit | None = None, loss_star: float | None = None,
                         name: str = "measured L<sub>t</sub> − L*",
                         xaxis: str = "x", yaxis: str = "y") -> list[go.Scatter]:
    r"""Traces of a run's suboptimality, its bounds and its fit (e.g. for a slider figure).

    Args:
      run: a :class:`~lplr_core.training.Trajectory` or a mapping of its records.
      bounds: ``{legend name: bound}``, each bound one value per record or a per-step
        factor :math:`q > 0`, drawn as :math:`q^{t - t_0}(L_{t_0} - L^*)` from the first
        record.
      fit: a fitted rate to draw on its window.
      loss_star: :math:`L^*` (default the run's, else 0).
      name: the measured curve's legend entry.
      xaxis, yaxis: the axes the traces go on (``"x2"``, ``"y2"`` for a second panel).

    Returns:
      A list of plotly traces, the measured curve (cut at a divergence, with a cross at its
      last record), then the bounds, then the fit.
    """
    if loss_star is not None:
        loss_star = check_real("loss_star", loss_star)
    r = _as_runs(run, loss_star, None, None)[0]
    if r.name != "run":
        raise TypeError("run must be one run (a Trajectory or a mapping of its records); got "
                        "a mapping of several")
    bounds = {} if bounds is None else bounds
    if not isinstance(bounds, Mapping):
        raise TypeError(f"bounds must be a mapping {{name: bound}}; got {describe(bounds)}")
    if fit is not None and not isinstance(fit, RateFit):
        raise TypeError(f"fit must be a RateFit or None; got {describe(fit)}")
    _check_name("name", name)
    axes = dict(xaxis=xaxis, yaxis=yaxis)
    x, gap = r.series("suboptimality")
    label = name + (f" (diverged at step {r.diverged_at})" if r.diverged_at is not None else "")
    traces = [go.Scatter(x=x, y=gap, name=label, mode="lines",
                         line=dict(color=COLORWAY[0], width=3), **axes)]
    if r.diverged_at is not None and np.isfinite(gap).any():
        ok = np.isfinite(gap)
        traces.append(go.Scatter(x=[x[ok][-1]], y=[gap[ok][-1]], mode="markers",
                                 showlegend=False, hoverinfo="text",
                                 hovertext=f"last record before divergence at step "
                                           f"{r.diverged_at}",
                                 marker=dict(symbol="x", size=12, color=COLORWAY[0]), **axes))
    for i, (key, bound) in enumerate(bounds.items()):
        _check_name("bounds' keys", key)
        color, dash = _OVERLAY_STYLES[i % len(_OVERLAY_STYLES)]
        traces.append(go.Scatter(x=r.steps, y=_bound_values(key, bound, r), name=key,
                                 mode="lines", line=dict(color=color, dash=dash, width=2),
                                 **axes))
    if fit is not None:
        fx, fy = _fit_curve(fit, r, 0.0)
        traces.append(go.Scatter(x=fx, y=fy, name=f"fitted rate q̂ = {fit.rate:.4g}",
                                 mode="lines", line=dict(color=_FIT_STYLE[0], dash=_FIT_STYLE[1],
                                                         width=2), **axes))
    return traces


def suboptimality_figure(run: Any, *, bounds: Mapping[str, Any] | None = None,
                         fit: RateFit | None = None, loss_star: float | None = None,
                         floor: float | None = None, title: str | None = None,
                         height: int = 430) -> go.Figure:
    r"""The measured suboptimality :math:`L_t - L^*` of a run against bound curves.

    Args:
      run: a :class:`~lplr_core.training.Trajectory` or a mapping of its records.
      bounds: ``{legend name: bound}``: one value per record, or a per-step factor
        :math:`q` drawn as :math:`q^{t - t_0}(L_{t_0} - L^*)`.
      fit: a fitted rate (:class:`~lplr_core.diagnostics.RateFit`) to overlay.
      loss_star: :math:`L^*` (default the run's, else 0).
      floor: the axis's lower limit (e.g. the round-off floor of
        :func:`~lplr_core.summary.round_off_floor`).
      title: the figure's title.
      height: the plot's height in px, without the legend.

    Returns:
      A one-panel plotly figure on a log axis clipped as :func:`log_range` says.
    """
    traces = suboptimality_traces(run, bounds=bounds, fit=fit, loss_star=loss_star)
    if floor is not None:
        floor = check_real("floor", floor, minimum=0.0, strict_min=True)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None; got {describe(title)}")
    height = check_int("height", height, minimum=200)
    fig = go.Figure(traces)
    r = _as_runs(run, loss_star, None, None)[0]
    _, gap = r.series("suboptimality")
    cap = None
    if r.diverged_at is not None:
        first = gap[np.isfinite(gap)]
        cap = float(first[0]) * 10 ** HEADROOM_DECADES if first.size and first[0] > 0 else None
    drawn = [np.asarray(t.y, dtype=float) for t in traces if t.y is not None]
    rng = log_range(*drawn, floor=floor, top=cap)
    fig.update_yaxes(type="log", title_text=PANELS["suboptimality"].axis_title)
    if rng is not None:
        fig.update_yaxes(range=rng, tickvals=log_ticks(rng))
        for trace in fig.data:  # the divergence cross, pinned to the top edge
            if trace.marker.symbol == "x" and trace.y[0] > 10 ** rng[1]:
                trace.y = [10 ** rng[1]]
    fig.update_xaxes(title_text=_STEP_TITLE)
    if title is not None:
        fig.update_layout(title_text=title, margin=dict(t=80))
    legend_below(fig, height)
    return fig


def _check_local_factor(value: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise TypeError(f"local_factor must be a pair (steps, factors) of 1-D arrays or None; "
                        f"got {describe(value)}")
    x, y = (np.asarray(v, dtype=float) for v in value)
    if x.ndim != 1 or x.shape != y.shape or x.size == 0:
        raise ValueError(f"local_factor must be two 1-D arrays of one length (>= 1); got shapes "
                         f"{x.shape} and {y.shape}")
    if not np.isfinite(x).all():
        raise ValueError("local_factor's steps must be finite")
    return x, y


def rate_fit_figure(run: Any, fit: RateFit | None = None, *, summary: RunSummary | None = None,
                    loss_star: float | None = None, title: str | None = None,
                    height: int = 430, transient: PowerLawFit | None = None,
                    onset: float | None = None, local_factor: Sequence[Any] | None = None,
                    local_factor_title: str | None = None) -> go.Figure:
    r"""A fitted linear rate, seen two ways: the line on :math:`\log(L_t - L^*)`, and the factors.

    Left: the suboptimality on a log axis with the fitted line on its window (shaded).
    Right: the measured per-step factor between consecutive records,
    :math:`\big((L_{t'} - L^*)/(L_t - L^*)\big)^{1/(t' - t)}`, against the fitted
    :math:`\hat q` (a geometric decay at rate :math:`\hat q` is a flat line there).

    Args:
      run: a :class:`~lplr_core.training.Trajectory` or a mapping of its records.
      fit: the fit to show (default the summary's).
      summary: a :class:`~lplr_core.summary.RunSummary` of the run, for its fit and its
        round-off floor (factors below the floor are not drawn: they are noise).
      loss_star: :math:`L^*` (default the run's, else 0).
      title: the figure's title.
      height: the plot's height in px, without the legend.
      transient: a power-law fit :math:`L_t - L^* \approx a\,t^k` of the transient before the
        geometric phase (:func:`~lplr_core.diagnostics.fit_power_law` of the steps and the
        suboptimality there): drawn on the left as :math:`a\,t^k` over the records with
        :math:`0 < t \le t_0` (``onset``, default the fit's first step), its exponent and
        :math:`R^2` in the legend.
      onset: :math:`t_0`, where the geometric phase starts (e.g.
        :func:`~lplr_core.diagnostics.linear_onset`'s step): the measured curve is then drawn
        in two parts, the transient :math:`t < t_0` and the linear phase :math:`t \ge t_0`
        (each its own colour and dash), and :math:`t_0` is marked in both panels.
      local_factor: ``(steps, factors)`` to draw on the right instead of the factor between
        consecutive records, e.g. a local per-step factor fitted over sliding windows.
      local_factor_title: the right panel's y-axis title for ``local_factor`` (default
        "local per-step factor").
    """
    if transient is not None and not isinstance(transient, PowerLawFit):
        raise TypeError(f"transient must be a PowerLawFit (lplr_core.diagnostics.fit_power_law) "
                        f"or None; got {describe(transient)}")
    if onset is not None:
        onset = check_real("onset", onset, minimum=0.0)
    if local_factor is not None:
        local_factor = _check_local_factor(local_factor)
    if local_factor_title is not None:
        _check_name("local_factor_title", local_factor_title)
    if summary is not None and not isinstance(summary, RunSummary):
        raise TypeError(f"summary must be a RunSummary or None; got {describe(summary)}")
    if fit is None and summary is not None:
        fit = summary.rate_fit
    if not isinstance(fit, RateFit):
        raise ValueError(f"fit must be a RateFit (or a summary with one); got {describe(fit)}")
    if loss_star is None and summary is not None:
        loss_star = summary.loss_star
    r = _as_runs(run, loss_star, None, None)[0]
    height = check_int("height", height, minimum=200)
    x, gap = r.series("suboptimality")
    floor = summary.round_off_floor if summary is not None else None
    if onset is not None and not x[0] < onset <= x[-1]:
        raise ValueError(f"onset must lie in the run's steps ({x[0]:g}, {x[-1]:g}]; got {onset:g}")
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=(
        "log suboptimality and the fitted line",
        "per-step factor between records" if local_factor is None
        else "local per-step factor"))
    if onset is None:
        fig.add_trace(go.Scatter(x=x, y=gap, name="measured L<sub>t</sub> − L*", mode="lines",
                                 line=dict(color=COLORWAY[0], width=3)), row=1, col=1)
    else:   # the transient and the linear phase, each its colour and dash (they meet at t0)
        before, after = x <= onset, x >= onset
        fig.add_trace(go.Scatter(x=x[before], y=gap[before], mode="lines",
                                 name="measured, transient (t < t<sub>0</sub>)",
                                 line=dict(color=_TRANSIENT_STYLE[0], dash=_TRANSIENT_STYLE[1],
                                           width=3)), row=1, col=1)
        fig.add_trace(go.Scatter(x=x[after], y=gap[after], mode="lines",
                                 name="measured, linear phase (t ≥ t<sub>0</sub>)",
                                 line=dict(color=COLORWAY[0], width=3)), row=1, col=1)
    if transient is not None:
        end = onset if onset is not None else fit.start
        tx = x[(x > 0) & (x <= end)]
        if tx.size:
            fig.add_trace(go.Scatter(
                x=tx, y=transient.prefactor * tx ** transient.exponent, mode="lines",
                name=f"power-law fit ∝ t<sup>{transient.exponent:.2f}</sup> "
                     f"(R<sup>2</sup> = {transient.r2:.2f})",
                line=dict(color=_POWER_STYLE[0], dash=_POWER_STYLE[1], width=2)), row=1, col=1)
    fx, fy = _fit_curve(fit, r, 0.0)
    fig.add_trace(go.Scatter(x=fx, y=fy, name=f"fitted rate q̂ = {fit.rate:.4g} "
                             f"(R<sup>2</sup> = {fit.r2:.3f})", mode="lines",
                             line=dict(color=_FIT_STYLE[0], dash=_FIT_STYLE[1], width=2)),
                  row=1, col=1)
    for col in (1, 2):
        fig.add_vrect(x0=fit.start, x1=fit.stop, fillcolor=_SHADE, opacity=0.08, line_width=0,
                      layer="below", row=1, col=col)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.isfinite(gap[:-1]) & np.isfinite(gap[1:]) & (gap[:-1] > 0) & (gap[1:] > 0)
        if floor is not None and np.isfinite(floor):
            ok &= gap[1:] > floor
        factors = np.where(ok, (gap[1:] / np.where(ok, gap[:-1], 1.0))
                           ** (1.0 / np.diff(x)), np.nan)
    if local_factor is None:
        fig.add_trace(go.Scatter(x=x[1:], y=factors, name="measured per-step factor",
                                 mode="lines", line=dict(color=COLORWAY[2], dash="solid",
                                                         width=1.5)), row=1, col=2)
    else:
        fig.add_trace(go.Scatter(x=local_factor[0], y=local_factor[1],
                                 name="local per-step factor", mode="lines",
                                 line=dict(color=COLORWAY[2], dash="solid", width=2)),
                      row=1, col=2)
    fig.add_trace(go.Scatter(x=[fit.start, fit.stop], y=[fit.rate, fit.rate], mode="lines",
                             name="q̂ on the fit's window", showlegend=True,
                             line=dict(color=_FIT_STYLE[0], dash="dot", width=2)), row=1, col=2)
    rng = log_range(gap, floor=floor)
    fig.update_yaxes(type="log", title_text=PANELS["suboptimality"].axis_title, row=1, col=1)
    if rng is not None:
        fig.update_yaxes(range=rng, tickvals=log_ticks(rng), row=1, col=1)
    fig.update_yaxes(title_text=(local_factor_title or "local per-step factor")
                     if local_factor is not None
                     else "(L<sub>t'</sub> − L*) / (L<sub>t</sub> − L*), per step",
                     side="right", row=1, col=2)
    fig.update_xaxes(title_text=_STEP_TITLE)
    if onset is not None:
        for col in (1, 2):
            fig.add_vline(x=onset, line=dict(color="#000000", dash="dash", width=1), row=1,
                          col=col)
        fig.add_annotation(x=onset, y=1, yref="y domain", text=f"t<sub>0</sub> = {onset:g}",
                           showarrow=False, xanchor="left", yanchor="top", row=1, col=1)
    if title is not None:
        if not isinstance(title, str):
            raise TypeError(f"title must be a str or None; got {describe(title)}")
        fig.update_layout(title_text=title, margin=dict(t=100))
    legend_below(fig, height)
    return fig


# ------------------------------------------------------------ factors against the step

_MEASURED_STYLES = (("#0072B2", "circle"), ("#D55E00", "diamond-open"), ("#CC79A7", "square"),
                    ("#E69F00", "triangle-up"), ("#56B4E9", "x"))
_BOUND_STYLES = (("#009E73", "solid"), ("#009E73", "dash"), ("#000000", "dot"),
                 ("#CC79A7", "dashdot"), ("#E69F00", "longdash"))


class FactorPanel(NamedTuple):
    """One panel of :func:`rate_factor_figure` (make it with :func:`factor_panel`).

    Attributes:
      title: the panel's title.
      measured: ``{legend name: (x, y)}`` measured factors, drawn as markers.
      bounds: ``{legend name: (x, y)}`` bound curves, drawn as lines.
      y_range: the y-axis range ``(low, high)``, or ``None`` (automatic).
    """

    title: str
    measured: dict
    bounds: dict
    y_range: tuple[float, float] | None


def _pairs(name: str, given: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise TypeError(f"{name} must be a mapping {{legend name: (x, y)}}; got "
                        f"{describe(given)}")
    out = {}
    for key, pair in given.items():
        _check_name(f"{name}' keys", key)
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"{name}[{key!r}] must be a pair (x, y); got {describe(pair)}")
        x, y = (np.asarray(v, dtype=float) for v in pair)
        if x.ndim != 1 or x.shape != y.shape or x.size == 0:
            raise ValueError(f"{name}[{key!r}] must be two 1-D arrays of one shape; got shapes "
                             f"{x.shape} and {y.shape}")
        out[key] = (x, y)
    return out


def factor_panel(title: str, *, measured: Mapping[str, Any],
                 bounds: Mapping[str, Any] | None = None,
                 y_range: Sequence[float] | None = None) -> FactorPanel:
    r"""A panel of :func:`rate_factor_figure`: per-step factors against the step size.

    Args:
      title: the panel's title.
      measured: ``{legend name: (x, y)}`` measured factors (drawn as markers), e.g. the
        worst per-step factor and the fitted :math:`\hat q` against :math:`\eta\beta`.
      bounds: ``{legend name: (x, y)}`` bound curves (drawn as lines).
      y_range: the y-axis range ``(low, high)``, or ``None`` (automatic).

    Returns:
      A :class:`FactorPanel`.
    """
    _check_name("title", title)
    m = _pairs("measured", measured)
    if not m:
        raise ValueError("measured must hold at least one series of measured factors")
    if y_range is not None:
        if not isinstance(y_range, (tuple, list)) or len(y_range) != 2:
            raise ValueError(f"y_range must be a pair (low, high); got {describe(y_range)}")
        low, high = (check_real("y_range[i]", v) for v in y_range)
        if not low < high:
            raise ValueError(f"y_range must have low < high; got {y_range!r}")
        y_range = (low, high)
    return FactorPanel(title, m, _pairs("bounds", bounds), y_range)


def rate_factor_figure(panels: Sequence[FactorPanel], *,
                       thresholds: Sequence[float] = (1.0, 2.0),
                       threshold_name: str = "thresholds 1/β and 2/β",
                       x_title: str = "η β", y_title: str = "per-step factor of L − L*",
                       title: str | None = None, height: int = 450) -> go.Figure:
    r"""Per-step factors against the step size: measured (markers) against bounds (lines).

    A series keeps its style in every panel (one legend entry). Grey dotted vertical lines
    mark ``thresholds`` (in the units of the x-axis, e.g. :math:`1/\beta` and
    :math:`2/\beta` when x is :math:`\eta\beta`), a grey line the factor 1 (no decrease).

    Args:
      panels: one to three :class:`FactorPanel`.
      thresholds: x positions of the vertical lines.
      threshold_name: their legend entry.
      x_title, y_title: the axis titles (HTML: ``<sub>``, ``<sup>``); the y-axis title is
        on the first panel only (the panels share it), so none runs into its neighbour.
      title: the figure's title.
      height: the plot's height in px, without the legend.
    """
    if isinstance(panels, FactorPanel) or not isinstance(panels, Sequence) \
            or not 1 <= len(panels) <= 3:
        raise ValueError(f"panels must be a sequence of 1 to 3 FactorPanel (from "
                         f"factor_panel); got {describe(panels)}")
    for i, p in enumerate(panels):
        if not isinstance(p, FactorPanel):
            raise TypeError(f"panels[{i}] must be a FactorPanel (from factor_panel); got "
                            f"{describe(p)}")
    marks = [check_real("thresholds[i]", t) for t in thresholds]
    _check_name("threshold_name", threshold_name)
    _check_name("x_title", x_title)
    _check_name("y_title", y_title)
    height = check_int("height", height, minimum=200)
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p.title for p in panels],
                        horizontal_spacing=0.1)
    m_names = list(dict.fromkeys(n for p in panels for n in p.measured))
    b_names = list(dict.fromkeys(n for p in panels for n in p.bounds))
    m_style = {n: _MEASURED_STYLES[i % len(_MEASURED_STYLES)] for i, n in enumerate(m_names)}
    b_style = {n: _BOUND_STYLES[i % len(_BOUND_STYLES)] for i, n in enumerate(b_names)}
    shown: set[str] = set()
    for col, panel in enumerate(panels, start=1):
        for name, (x, y) in panel.bounds.items():
            color, dash = b_style[name]
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name, legendgroup=name,
                                     showlegend=name not in shown,
                                     line=dict(color=color, dash=dash, width=2.5)),
                          row=1, col=col)
            shown.add(name)
        for name, (x, y) in panel.measured.items():
            color, symbol = m_style[name]
            fig.add_trace(go.Scatter(x=x, y=y, mode="markers", name=name, legendgroup=name,
                                     showlegend=name not in shown,
                                     marker=dict(color=color, symbol=symbol, size=8)),
                          row=1, col=col)
            shown.add(name)
        for mark in marks:
            fig.add_vline(x=mark, line=dict(color="grey", dash="dot"), row=1, col=col)
        fig.add_hline(y=1.0, line=dict(color="grey", width=1), row=1, col=col)
        if col == 1:
            fig.update_yaxes(title_text=y_title, row=1, col=col)
        if panel.y_range is not None:
            fig.update_yaxes(range=list(panel.y_range), row=1, col=col)
    if marks:  # a legend entry for the vertical lines (shapes have none)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=threshold_name,
                                 hoverinfo="skip", line=dict(color="grey", dash="dot")),
                      row=1, col=1)
    fig.update_xaxes(title_text=x_title)
    if title is not None:
        if not isinstance(title, str):
            raise TypeError(f"title must be a str or None; got {describe(title)}")
        fig.update_layout(title_text=title, margin=dict(t=100))
    legend_below(fig, height)
    return fig


# ------------------------------------------------------------------- a run per position

_LEGEND_NAMES = {
    "loss": "loss L<sub>t</sub>", "suboptimality": "L<sub>t</sub> − L*",
    "grad_norm_sq": "‖∇L‖<sup>2</sup>", "pl_ratio": "PL ratio ρ<sub>t</sub>",
    "drift": "drift d<sub>t</sub>", "relative_drift": "relative drift",
    "lambda_min": "λ<sub>min</sub>(Θ<sub>t</sub>)", "lambda_max": "λ<sub>max</sub>(Θ<sub>t</sub>)",
    "kernel_drift": "‖Θ<sub>t</sub> − Θ<sub>0</sub>‖<sub>op</sub>",
}
_RECORD_STYLES = (("#0072B2", "solid"), ("#CC79A7", "dot"), ("#D55E00", "dashdot"),
                  ("#000000", "longdash"))


def run_slider(runs: Mapping[str, Any], *, records: Sequence[str] = ("pl_ratio",),
               stable_from: int | None = None, log: bool = True, y_title: str | None = None,
               label: str = "run", active: int = 0, title_at: Any = None,
               loss_star: float | None = None, height: int = 480) -> go.Figure:
    r"""A slider over runs: each position draws some records of one run on one shared axis.

    The records share the axis, so they should share units (the PL ratio and
    :math:`\lambda_{\min}(\Theta_t)`; the loss and the drift on a log axis). One y-range
    (:func:`log_range` of every run) holds at every position, so positions compare by eye.
    A diverging run is cut at its flag and its legend entry says so.

    Args:
      runs: ``{name: run}`` (the names label the slider's positions), each a
        :class:`~lplr_core.training.Trajectory` or a mapping of its records.
      records: the records to draw, keys of :data:`PANELS` (NTK ones as markers).
      stable_from: :math:`t_0`: with ``"pl_ratio"`` among the records, its lower envelope
        on :math:`t \ge t_0` is drawn too.
      log: a log y-axis.
      y_title: the y-axis title (default the first record's).
      label: the slider's label.
      active: the index of the initial position.
      title_at: ``name -> title`` at that position, or ``None``.
      loss_star: :math:`L^*` of every run (default each run's own, else 0).
      height: the figure's height in px.

    Returns:
      A :func:`~lplr_core.viz.figures.slider_figure`.
    """
    if not isinstance(runs, Mapping) or not runs or "steps" in runs:
        raise TypeError(f"runs must be a non-empty mapping {{name: run}}; got {describe(runs)}")
    records = _check_panels(records)
    if stable_from is not None:
        stable_from = check_int("stable_from", stable_from, minimum=0)
    if loss_star is not None:
        loss_star = check_real("loss_star", loss_star)
    if y_title is not None:
        _check_name("y_title", y_title)
    height = check_int("height", height, minimum=200)
    run_list = {r.name: r for r in _as_runs(runs, loss_star, None, None)}
    series: dict[str, list[tuple[str, np.ndarray, np.ndarray, dict]]] = {}
    drawn = []
    for name, run in run_list.items():
        items = []
        for i, rec in enumerate(records):
            x, y = run.series(rec)
            color, dash = _RECORD_STYLES[i % len(_RECORD_STYLES)]
            text = _LEGEND_NAMES[rec]
            items.append((text, x, y, dict(color=color, dash=dash,
                                           width=3 if i == 0 else 2), PANELS[rec].ntk))
            drawn.append(y)
            if rec == "pl_ratio" and stable_from is not None:
                first = int(np.searchsorted(run.steps, stable_from))
                if first < run.steps.size:
                    env = np.asarray(lower_envelope(run.records["pl_ratio"], first), float)
                    items.append((f"lower envelope on t ≥ {stable_from}", run.steps[first:], env,
                                  dict(color=_ENVELOPE_STYLE[0], dash=_ENVELOPE_STYLE[1],
                                       width=3), False))
        if run.diverged_at is not None:
            text, x, y, line, ntk = items[0]
            items[0] = (f"{text} (diverged at step {run.diverged_at})", x, y, line, ntk)
        series[name] = items

    def traces(name):
        out = []
        for text, x, y, line, ntk in series[name]:
            out.append(go.Scatter(x=x, y=y, name=text, line=line,
                                  mode="lines+markers" if ntk else "lines",
                                  marker=dict(size=6, color=line["color"])))
        return out

    yaxis = dict(title_text=y_title or PANELS[records[0]].axis_title)
    if log:
        rng = log_range(*drawn)
        yaxis.update(type="log", range=rng, tickvals=log_ticks(rng))
    return slider_figure(list(run_list), traces, label=label, active=active,
                         value_label=str, title_at=title_at, height=height,
                         xaxis=dict(title_text=_STEP_TITLE), yaxis=yaxis,
                         legend=dict(orientation="h", x=0.0, y=-0.3))


# ------------------------------------------------------------ gradient descent on a 1-D function

_ITERATE_STYLE = ("#0072B2", "solid")    # the iterates x_t on the graph of f
_OBJECTIVE_COLOR = "#bbbbbb"             # the graph of f, drawn at every position


def iterate_slider(paths: Mapping[Any, GDPath], objective: Sequence[Any], *,
                   bound_factors: Mapping[Any, Any] | None = None, label: str = "η β",
                   active: int = 0, title_at: Any = None, shown: int = 31,
                   value_label: Any = None, x_range: Sequence[float] | None = None,
                   y_range: Sequence[float] | None = None, height: int = 480) -> go.Figure:
    r"""A slider over gradient-descent runs on a function of one variable, two panels.

    Left: the graph of :math:`f` (grey, at every position) and the first ``shown`` iterates
    :math:`(x_t, f(x_t))` of the selected run. Right: its gap :math:`f(x_t) - f^*` on a log
    axis (cut at a divergence and marked there, as :func:`suboptimality_traces` draws it)
    against the bound :math:`q^t (f(x_0) - f^*)` when the position has a factor :math:`q`.
    Both axes keep one range at every position, so positions compare by eye and the plot
    area does not move.

    Args:
      paths: ``{slider value: GDPath}``, each from
        :func:`~lplr_core.objectives.gradient_descent_fn` with ``record_iterates=True`` on a
        function of one variable; the keys (e.g. step-size multiples) label the positions.
      objective: ``(xs, f(xs))``, the graph of :math:`f` to draw (two 1-D arrays of one
        length, finite).
      bound_factors: ``{slider value: q}``, the per-step factor of the bound at that
        position (> 0), or ``None`` where no bound holds; missing keys have none.
      label: the slider's label (the parameter's name).
      active: the index of the initial position.
      title_at: the figure title at each position: a mapping ``{value: title}`` or a
        callable ``value -> title``; ``None``: no title.
      shown: how many iterates (from :math:`x_0`) the left panel draws (>= 1).
      value_label: ``value -> str`` for the slider's tick labels (default ``f"{v:g}"`` for
        numbers).
      x_range, y_range: the left panel's axis ranges (default the graph's).
      height: the figure's height in px (>= 200).

    Returns:
      A :func:`~lplr_core.viz.figures.slider_figure` whose first trace is the graph of
      :math:`f`, then per position the iterates, the gap curve (and its divergence cross),
      and the bound.
    """
    if not isinstance(paths, Mapping) or not paths:
        raise TypeError(f"paths must be a non-empty mapping {{slider value: GDPath}}; "
                        f"got {describe(paths)}")
    for key, path in paths.items():
        if not isinstance(path, GDPath):
            raise TypeError(f"paths[{key!r}] must be a GDPath (from gradient_descent_fn); "
                            f"got {describe(path)}")
        if path.iterates is None:
            raise ValueError(f"paths[{key!r}] has no iterates: run gradient_descent_fn with "
                             f"record_iterates=True")
        if np.ndim(path.iterates) != 1:
            raise ValueError(f"paths[{key!r}] must be gradient descent on a function of one "
                             f"variable (iterates of shape (T+1,)); got iterates of shape "
                             f"{np.shape(path.iterates)}")
    if isinstance(objective, (str, bytes)) or not isinstance(objective, Sequence) \
            or len(objective) != 2:
        raise TypeError(f"objective must be a pair (xs, f(xs)) of 1-D arrays; got "
                        f"{describe(objective)}")
    xs, fs = (np.asarray(v, dtype=float) for v in objective)
    if xs.ndim != 1 or xs.shape != fs.shape or xs.size < 2:
        raise ValueError(f"objective must be two 1-D arrays of one length (>= 2); got shapes "
                         f"{xs.shape} and {fs.shape}")
    if not (np.isfinite(xs).all() and np.isfinite(fs).all()):
        raise ValueError("objective (xs, f(xs)) must be finite everywhere")
    bound_factors = {} if bound_factors is None else bound_factors
    if not isinstance(bound_factors, Mapping):
        raise TypeError(f"bound_factors must be a mapping {{slider value: q or None}}; got "
                        f"{describe(bound_factors)}")
    unknown = [k for k in bound_factors if k not in paths]
    if unknown:
        raise ValueError(f"bound_factors has keys that are not slider values of paths: "
                         f"{unknown!r}; the values are {list(paths)!r}")
    factors = {k: (None if bound_factors.get(k) is None else
                   check_real(f"bound_factors[{k!r}]", bound_factors[k], minimum=0.0,
                              strict_min=True)) for k in paths}
    _check_name("label", label)
    shown = check_int("shown", shown, minimum=1)
    height = check_int("height", height, minimum=200)
    if title_at is not None and not (callable(title_at) or isinstance(title_at, Mapping)):
        raise TypeError(f"title_at must be a mapping {{value: title}}, a callable or None; "
                        f"got {describe(title_at)}")
    if isinstance(title_at, Mapping):
        missing = [k for k in paths if k not in title_at]
        if missing:
            raise ValueError(f"title_at has no title for the slider values {missing!r}")
        titles = title_at
        title_at = titles.__getitem__
    if value_label is None:
        value_label = lambda v: f"{v:g}" if isinstance(v, (int, float)) else str(v)  # noqa: E731
    bound_name = "bound q(η)<sup>t</sup> (f(x<sub>0</sub>) − f*)"

    def traces(key):
        path = paths[key]
        n = min(shown, path.values.size)
        out = [go.Scatter(x=np.asarray(path.iterates[:n], float),
                          y=np.asarray(path.values[:n], float), mode="lines+markers",
                          name="iterates x<sub>t</sub>",
                          line=dict(color=_ITERATE_STYLE[0], dash=_ITERATE_STYLE[1], width=1))]
        bounds = {} if factors[key] is None else {bound_name: factors[key]}
        out += suboptimality_traces(path, bounds=bounds, name="f(x<sub>t</sub>) − f*",
                                    xaxis="x2", yaxis="y2")
        return out

    every = [traces(k) for k in paths]
    gaps = [np.asarray(t.y, float) for ts in every for t in ts[1:] if t.y is not None]
    rng = log_range(*gaps)
    last = max(int(p.values.size) - 1 for p in paths.values())
    curve_trace = go.Scatter(x=xs, y=fs, name="f", mode="lines", hoverinfo="skip",
                             line=dict(color=_OBJECTIVE_COLOR, width=2))
    pad = 0.05 * float(fs.max() - fs.min() or 1.0)
    xaxis = dict(domain=[0, 0.44], title_text="x",
                 range=list(x_range) if x_range is not None else [float(xs[0]), float(xs[-1])])
    yaxis = dict(title_text="f(x)",
                 range=list(y_range) if y_range is not None
                 else [float(fs.min()) - pad, float(fs.max()) + pad])
    yaxis2 = dict(anchor="x2", type="log", title_text="f(x<sub>t</sub>) − f*", side="right")
    if rng is not None:
        yaxis2.update(range=rng, tickvals=log_ticks(rng))
        for trace in (t for ts in every for t in ts):  # a divergence cross, pinned to the top
            if trace.marker.symbol == "x" and trace.y[0] > 10 ** rng[1]:
                trace.y = [10 ** rng[1]]
    lookup = dict(zip(paths, every))
    fig = slider_figure(list(paths), lambda k: lookup[k], label=label,
                        static_traces=[curve_trace], active=active, value_label=value_label,
                        title_at=title_at, xaxis=xaxis, yaxis=yaxis,
                        xaxis2=dict(domain=[0.56, 1], anchor="y2", title_text=_STEP_TITLE,
                                    range=[0, last]),
                        yaxis2=yaxis2, height=height)
    return fig
