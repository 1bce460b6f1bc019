r"""Figures of containment: is the ball the theorem needs proved to hold the path?

The linear-rate theorem (chapter 4) *assumes* that gradient descent stays in a ball
:math:`B(\theta_0, r)` on which the PL constant :math:`\mu(r) = \lambda_0 - L_\Theta(r)\,r` is
positive; for one hidden layer, :mod:`lplr_core.bounds` proves it a priori when the path-length
bound :math:`P(r) = \sqrt{2L_0/\mu(r)}/(1 - \beta(r)\eta/2)` is at most :math:`r`
(:meth:`~lplr_core.bounds.TwoLayerBounds.path_length`). Two figures (issue 13, section 1):

* :func:`path_length_figure`: the a-priori containment picture, :math:`P(r)` against the
  diagonal :math:`r` on log axes, with the proved radius marked; containment is proved where a
  curve dips below the diagonal. Given several pictures (one per width, say) it is a
  figure with a plotly slider over them whose axes are fixed across the slider's positions,
  so moving the slider never moves the plot area. :func:`path_lengths` evaluates
  :math:`P(r)` on a grid of radii, :func:`path_length_traces` gives one picture's traces.
  With ``estimated=True`` the same picture is drawn for constants that are *estimates*
  (a sampled :math:`\hat L_\Theta`, :math:`\hat\beta`, as in chapter 5's self-consistent
  radius): the words say "self-consistent" and "estimate", never "proved".
* :func:`radius_scaling_figure`: over widths, the proved certified radius
  :math:`r_c = \lambda_0/L_\Theta` against the distance gradient descent needs (e.g.
  :func:`~lplr_core.bounds.interpolation_distance`), and optionally the certified target
  scale :math:`s^*(m)`, on log-log axes, with fitted exponents in the legend.
* :func:`guarantee_figure`: what a :class:`~lplr_core.bounds.Certificate` guarantees, the
  curve :math:`q^t L(\theta_0)` over the steps it covers, or, when a hypothesis failed, an
  empty axis that names the failed hypotheses (never a curve that was not proved).

Every figure uses the book's ``"lplr"`` template, titles every axis, writes sub- and
superscripts as ``<sub>``/``<sup>``, gives each series a colour *and* a dash of its own, and
puts its legend under the plot (sized with :func:`lplr_core.viz.style.legend_height_px`; under
a slider, :func:`lplr_core.viz.style.place_legend` moves it below the slider when shown).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lplr_core._validation import check_int, check_real, describe
from lplr_core.bounds import Certificate, TwoLayerBounds
from lplr_core.diagnostics import PowerLawFit
from lplr_core.viz.figures import COLORWAY, slider_figure
from lplr_core.viz.style import legend_below

__all__ = [
    "PathLengthPicture",
    "guarantee_figure",
    "path_length_figure",
    "path_length_traces",
    "path_lengths",
    "radius_scaling_figure",
]

_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
_DIAGONAL = dict(color="#555555", dash="dot", width=1.5)
_PROVED = dict(symbol="star", size=14, color="#009E73", line=dict(color="#1A1A1A", width=1))
_ESTIMATED = dict(symbol="circle", size=11, color="#0072B2", line=dict(color="#1A1A1A", width=1))
# vertical lines at named radii: colour and dash both differ from the curves' first ones
_LINE_STYLES = (("#CC79A7", "dashdot"), ("#009E73", "dot"), ("#E69F00", "longdash"),
                ("#000000", "longdashdot"))
_VLINE = "vertical line"  # the meta of a vertical-line trace (its y is set to the axis)
_PAD_DECADES = 0.1
_BASE_HEIGHT = 450


class PathLengthPicture(NamedTuple):
    r"""One a-priori containment picture: :math:`P(r)` curves on a grid of radii.

    Attributes:
      radii: the radii :math:`r` (1-D, positive, increasing).
      curves: ``{legend name: P(r) values}`` (each the shape of ``radii``; ``NaN`` where no
        bound exists, as :func:`path_lengths` returns).
      proved_radius: the radius at which containment is proved (a star on the diagonal),
        or ``None``. In a figure drawn with ``estimated=True`` it is the self-consistent
        radius computed from estimated constants and is labelled so, not "proved".
      lines: ``{legend name: radius}``, vertical lines at named radii (e.g. the estimated
        radius :math:`\lambda_0/\hat L_\Theta`, the measured drift of a run), or ``None``.
    """

    radii: np.ndarray
    curves: dict[str, np.ndarray]
    proved_radius: float | None = None
    lines: dict[str, float] | None = None


def _radii(name: str, value: Any) -> np.ndarray:
    try:
        radii = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a 1-D array of positive radii; got "
                        f"{describe(value)}") from exc
    if radii.ndim != 1 or radii.size < 2 or not np.all(np.isfinite(radii)) \
            or not np.all(radii > 0) or not np.all(np.diff(radii) > 0):
        raise ValueError(f"{name} must be a 1-D array of at least 2 finite, positive, "
                         f"increasing radii; got {describe(value)}")
    return radii


def path_lengths(bounds: TwoLayerBounds, step_size: Any, radii: Any) -> np.ndarray:
    r"""The a-priori path-length bound :math:`P(r)` at each of ``radii`` (``NaN`` where none).

    Args:
      bounds: the rigorous constants of the network *with targets*
        (:func:`~lplr_core.bounds.two_layer_bounds` called with ``y``).
      step_size: the step size :math:`\eta > 0`.
      radii: the radii (1-D, positive, increasing).

    Returns:
      :math:`P(r)` for each radius (float64), ``NaN`` where
      :meth:`~lplr_core.bounds.TwoLayerBounds.path_length` is infinite (:math:`\mu(r) \le 0`
      or :math:`\eta \ge 2/\beta(r)`): no bound there, so nothing is drawn.
    """
    if not isinstance(bounds, TwoLayerBounds):
        raise TypeError("bounds must be a TwoLayerBounds (lplr_core.bounds.two_layer_bounds); "
                        f"got {describe(bounds)}")
    if bounds.loss0_upper is None:
        raise ValueError("bounds has no targets: call two_layer_bounds(mlp, params0, x, y) with "
                         "y (P(r) needs the initial loss)")
    step_size = check_real("step_size", step_size, minimum=0.0, strict_min=True)
    values = np.array([bounds.path_length(float(r), step_size) for r in _radii("radii", radii)])
    return np.where(np.isfinite(values), values, np.nan)


def _picture(name: str, value: Any) -> PathLengthPicture:
    if not isinstance(value, PathLengthPicture):
        raise TypeError(f"{name} must be a PathLengthPicture; got {describe(value)}")
    radii = _radii(f"{name}.radii", value.radii)
    if not isinstance(value.curves, Mapping) or not value.curves:
        raise TypeError(f"{name}.curves must be a non-empty mapping {{legend name: P(r) values}}; "
                        f"got {describe(value.curves)}")
    curves = {}
    for label, ys in value.curves.items():
        if not isinstance(label, str) or not label:
            raise TypeError(f"{name}.curves keys must be non-empty str (legend names); got "
                            f"{describe(label)}")
        try:
            arr = np.asarray(ys, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}.curves[{label!r}] must be an array of numbers; got "
                            f"{describe(ys)}") from exc
        if arr.shape != radii.shape:
            raise ValueError(f"{name}.curves[{label!r}] must have the shape of radii "
                             f"{radii.shape}; got {arr.shape}")
        shown = arr[np.isfinite(arr)]
        if np.any(shown <= 0) or np.any(np.isinf(arr)):
            raise ValueError(f"{name}.curves[{label!r}] must be positive where finite (NaN where "
                             "there is no bound, never inf): it is drawn on a log axis")
        curves[label] = arr
    proved = value.proved_radius
    if proved is not None:
        proved = check_real(f"{name}.proved_radius", proved, minimum=0.0, strict_min=True)
    lines = value.lines
    if lines is not None:
        if not isinstance(lines, Mapping):
            raise TypeError(f"{name}.lines must be a mapping {{legend name: radius}} or None; "
                            f"got {describe(lines)}")
        checked = {}
        for label, r in lines.items():
            if not isinstance(label, str) or not label:
                raise TypeError(f"{name}.lines keys must be non-empty str (legend names); got "
                                f"{describe(label)}")
            checked[label] = check_real(f"{name}.lines[{label!r}]", r, minimum=0.0,
                                        strict_min=True)
        lines = checked
    return PathLengthPicture(radii, curves, proved, lines)


def _check_estimated(value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"estimated must be True (the constants are estimates) or False (they "
                        f"are proved bounds); got {describe(value)}")
    return bool(value)


def path_length_traces(picture: PathLengthPicture, *, estimated: bool = False) -> list[go.Scatter]:
    r"""The traces of one containment picture: the diagonal, each :math:`P(r)`, the radius.

    Args:
      picture: a :class:`PathLengthPicture`.
      estimated: ``False``: the curves are proved bounds (the diagonal reads "containment
        proved below this line", the radius is a star "proved radius"). ``True``: they are
        computed from estimated constants (the diagonal reads "P = r (self-consistent below
        this line)", the radius is a circle "r* from the estimates").

    Returns:
      Plotly traces, the diagonal :math:`r`, one curve per entry of ``picture.curves``
      (colour and dash both its own, by position; a curve that is ``NaN`` everywhere is not
      drawn and has no legend entry, but keeps its style slot), a marker at :math:`(r, r)`
      for the radius when given, and one vertical line per entry of ``picture.lines`` (from
      the smallest to the largest radius of the grid; :func:`path_length_figure` stretches
      them over its y-axis).
    """
    picture = _picture("picture", picture)
    estimated = _check_estimated(estimated)
    diagonal = ("P = r (self-consistent below this line)" if estimated
                else "r (containment proved below this line)")
    traces = [go.Scatter(x=picture.radii, y=picture.radii, mode="lines",
                         name=diagonal, line=_DIAGONAL, hoverinfo="skip")]
    for i, (label, ys) in enumerate(picture.curves.items()):
        traces.append(go.Scatter(
            x=picture.radii, y=ys, mode="lines", name=label,
            showlegend=bool(np.isfinite(ys).any()),
            line=dict(color=COLORWAY[i % len(COLORWAY)], dash=_DASHES[i % len(_DASHES)],
                      width=3 if i == 0 else 2)))
    if picture.proved_radius is not None:
        traces.append(go.Scatter(
            x=[picture.proved_radius], y=[picture.proved_radius], mode="markers",
            name="r* from the estimates" if estimated else "proved radius",
            marker=_ESTIMATED if estimated else _PROVED))
    low, high = float(picture.radii[0]), float(picture.radii[-1])
    for i, (label, r) in enumerate((picture.lines or {}).items()):
        color, dash = _LINE_STYLES[i % len(_LINE_STYLES)]
        traces.append(go.Scatter(x=[r, r], y=[low, high], mode="lines", name=label, meta=_VLINE,
                                 line=dict(color=color, dash=dash, width=2)))
    return traces


def _stretch_lines(traces: list[go.Scatter], y_range: Sequence[float]) -> list[go.Scatter]:
    """Vertical-line traces spanning the y-axis range (in decades)."""
    for trace in traces:
        if trace.meta == _VLINE:
            trace.y = [10.0 ** y_range[0], 10.0 ** y_range[1]]
    return traces


def _axis_range(value: Any) -> list[float] | None:
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"axis_range must be a pair (lo, hi) of log10 values or None; got "
                        f"{describe(value)}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"axis_range must be finite with lo < hi (log10 of the radii, e.g. "
                         f"(-3, 2) for 10^-3 to 10^2); got {describe(value)}")
    return [lo, hi]


def _log_axis(values: list[np.ndarray], title: str) -> dict[str, Any]:
    """A log axis fixed to the data (padded), ticks at the powers of ten when it spans >= 2."""
    data = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in values])
    lo, hi = math.log10(float(data.min())), math.log10(float(data.max()))
    axis = dict(type="log", title_text=title, range=[lo - _PAD_DECADES, hi + _PAD_DECADES])
    if hi - lo >= 2:
        axis["dtick"] = 1
    return axis


def _check_title(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None; got {describe(value)}")


def path_length_figure(pictures: PathLengthPicture | Mapping[Any, PathLengthPicture], *,
                       label: str = "width m", active: int = 0,
                       value_label: Callable[[Any], str] = str,
                       title: str | None = None,
                       title_at: Callable[[Any], str] | None = None,
                       estimated: bool = False,
                       axis_range: Sequence[float] | None = None) -> go.Figure:
    r"""The a-priori containment picture :math:`P(r)` against :math:`r`, or a slider over several.

    Args:
      pictures: one :class:`PathLengthPicture`, or ``{value: picture}`` (e.g. one per width):
        then the figure has a plotly slider over the values (it works without a kernel).
      label: the slider's parameter name (shown as ``"label: value"``; HTML allowed).
      active: index of the slider's initial position.
      value_label: ``value -> str``, the slider's tick labels.
      title: the figure's title (one picture), or its fixed title (several).
      title_at: ``value -> str``, the title at each slider position (overrides ``title``).
      estimated: whether the curves come from estimated constants (sampled
        :math:`\hat L_\Theta`, :math:`\hat\beta`, ...) rather than proved bounds: the
        legend and the y-axis then say "self-consistent" and "estimate" (see
        :func:`path_length_traces`).
      axis_range: ``(lo, hi)`` in decades, one range for both axes (the picture is read
        against the diagonal), e.g. ``(-3, 2)``; ``None``: each axis fitted to the data.
        Curves that blow up leave through the top.

    Returns:
      A plotly figure with log axes "radius r" and "path-length bound P(r)" (ticks at the
      powers of ten when an axis spans two decades or more). With a slider,
      both axes' ranges are fixed to the data of all pictures, so neither the axes nor the
      plot area move when the slider does.
    """
    _check_title("title", title)
    estimated = _check_estimated(estimated)
    fixed = _axis_range(axis_range)
    y_title = "path-length bound P(r) (estimate)" if estimated else "path-length bound P(r)"

    def axes(xs: list[np.ndarray], ys: list[np.ndarray]) -> tuple[dict, dict]:
        if fixed is None:
            return _log_axis(xs, "radius r"), _log_axis(ys, y_title)
        ticks = dict(dtick=1) if fixed[1] - fixed[0] >= 2 else {}
        return (dict(type="log", title_text="radius r", range=fixed, **ticks),
                dict(type="log", title_text=y_title, range=fixed, **ticks))

    if isinstance(pictures, PathLengthPicture):
        picture = _picture("pictures", pictures)
        xaxis, yaxis = axes([picture.radii], [picture.radii, *picture.curves.values()])
        fig = go.Figure(_stretch_lines(path_length_traces(picture, estimated=estimated),
                                       yaxis["range"]))
        fig.update_layout(xaxis=xaxis, yaxis=yaxis, title_text=title)
        legend_below(fig, _BASE_HEIGHT, bottom_px=70)
        return fig
    if not isinstance(pictures, Mapping) or not pictures:
        raise TypeError("pictures must be a PathLengthPicture or a non-empty mapping "
                        f"{{value: PathLengthPicture}}; got {describe(pictures)}")
    checked = {key: _picture(f"pictures[{key!r}]", p) for key, p in pictures.items()}
    grid = list(checked)
    active = check_int("active", active, minimum=0)
    if active >= len(grid):
        raise ValueError(f"active must be an int in [0, {len(grid) - 1}]; got {active}")
    if not isinstance(label, str) or not label:
        raise TypeError(f"label must be a non-empty str; got {describe(label)}")
    if not callable(value_label):
        raise TypeError(f"value_label must be callable (value -> str); got {describe(value_label)}")
    if title_at is not None and not callable(title_at):
        raise TypeError(f"title_at must be callable (value -> str) or None; got "
                        f"{describe(title_at)}")
    xs = [p.radii for p in checked.values()]
    ys = [v for p in checked.values() for v in (p.radii, *p.curves.values())]
    xaxis, yaxis = axes(xs, ys)
    fig = slider_figure(
        grid, lambda key: _stretch_lines(path_length_traces(checked[key], estimated=estimated),
                                         yaxis["range"]),
        label=label, active=active, value_label=value_label, title_at=title_at,
        xaxis=xaxis, yaxis=yaxis,
        legend=dict(orientation="h", x=0.0, y=-0.3),   # place_legend puts it under the slider
        height=_BASE_HEIGHT + 60,
    )
    if title_at is None and title is not None:
        fig.update_layout(title_text=title)
    return fig


def _series(name: str, value: Any, n: int) -> dict[str, np.ndarray]:
    if not isinstance(value, Mapping) or not value:
        raise TypeError(f"{name} must be a non-empty mapping {{data set name: values per "
                        f"width}}; got {describe(value)}")
    out = {}
    for key, ys in value.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"{name} keys must be non-empty str; got {describe(key)}")
        try:
            arr = np.asarray(ys, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}[{key!r}] must be an array of numbers; got "
                            f"{describe(ys)}") from exc
        if arr.shape != (n,):
            raise ValueError(f"{name}[{key!r}] must hold one value per width ({n}); got shape "
                             f"{arr.shape}")
        if not np.all(np.isfinite(arr)) or not np.all(arr > 0):
            raise ValueError(f"{name}[{key!r}] must be finite and positive (log axes); got "
                             f"{arr.tolist()}")
        out[key] = arr
    return out


def _fit_for(fits: Any, dataset: str, key: str) -> PowerLawFit | None:
    if fits is None or dataset not in fits:
        return None
    entry = fits[dataset]
    if not isinstance(entry, Mapping):
        raise TypeError(f"fits[{dataset!r}] must be a mapping {{'radius'|'scale': "
                        f"PowerLawFit}}; got {describe(entry)}")
    fit = entry.get(key)
    if fit is not None and not isinstance(fit, PowerLawFit):
        raise TypeError(f"fits[{dataset!r}][{key!r}] must be a PowerLawFit "
                        f"(lplr_core.diagnostics.fit_power_law); got {describe(fit)}")
    return fit


def radius_scaling_figure(widths: Sequence[Any], proved_radius: Mapping[str, Any],
                          needed: Mapping[str, Any], *,
                          target_scale: Mapping[str, Any] | None = None,
                          fits: Mapping[str, Mapping[str, PowerLawFit]] | None = None,
                          title: str | None = None) -> go.Figure:
    r"""Over widths: the proved certified radius against the distance the labels need.

    Args:
      widths: the widths :math:`m` (positive, increasing).
      proved_radius: ``{data set: r_c per width}``, the proved certified radius
        :math:`\lambda_0/L_\Theta` (e.g. :meth:`~lplr_core.bounds.TwoLayerBounds.certified_radius`).
      needed: ``{data set: distance per width}`` (same keys), the distance gradient descent
        travels (e.g. :func:`~lplr_core.bounds.interpolation_distance`, an estimate).
      target_scale: optional ``{data set: s* per width}``, the certified target scale
        (:func:`~lplr_core.bounds.certified_target_scale`): drawn in a second panel.
      fits: optional ``{data set: {"radius": fit, "scale": fit}}`` of
        :func:`~lplr_core.diagnostics.fit_power_law` results: their exponents go into the
        legend entries (``r_c ~ m^k``).
      title: the figure's title.

    Returns:
      A plotly figure, log-log axes; each data set has its own colour, and each quantity its
      own dash and marker (proved radius solid with circles, needed distance dashed with
      squares, :math:`s^*` dotted with diamonds).
    """
    try:
        ms = np.asarray(widths, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"widths must be a 1-D array of positive widths; got "
                        f"{describe(widths)}") from exc
    if ms.ndim != 1 or ms.size < 2 or not np.all(np.isfinite(ms)) or not np.all(ms > 0) \
            or not np.all(np.diff(ms) > 0):
        raise ValueError(f"widths must hold at least 2 positive, increasing widths; got "
                         f"{describe(widths)}")
    radius = _series("proved_radius", proved_radius, ms.size)
    need = _series("needed", needed, ms.size)
    if set(need) != set(radius):
        raise ValueError(f"needed must have the data sets of proved_radius {sorted(radius)}; "
                         f"got {sorted(need)}")
    scale = None if target_scale is None else _series("target_scale", target_scale, ms.size)
    if scale is not None and set(scale) != set(radius):
        raise ValueError(f"target_scale must have the data sets of proved_radius "
                         f"{sorted(radius)}; got {sorted(scale)}")
    if fits is not None and not isinstance(fits, Mapping):
        raise TypeError(f"fits must be a mapping or None; got {describe(fits)}")
    _check_title("title", title)

    cols = 1 if scale is None else 2
    titles = ["radius: proved vs needed"]
    if scale is not None:
        titles.append("certified target scale")
    fig = make_subplots(rows=1, cols=cols, subplot_titles=titles, horizontal_spacing=0.14)
    for i, dataset in enumerate(radius):
        color = COLORWAY[i % len(COLORWAY)]
        fit = _fit_for(fits, dataset, "radius")
        name = f"{dataset}: r<sub>c</sub>" + (
            f" ~ m<sup>{fit.exponent:.2f}</sup>" if fit is not None else "")
        fig.add_trace(go.Scatter(x=ms, y=radius[dataset], mode="lines+markers", name=name,
                                 line=dict(color=color, width=3, dash="solid"),
                                 marker=dict(symbol="circle", size=7)), row=1, col=1)
        fig.add_trace(go.Scatter(x=ms, y=need[dataset], mode="lines+markers",
                                 name=f"{dataset}: needed d<sub>lin</sub>",
                                 line=dict(color=color, dash="dash"),
                                 marker=dict(symbol="square", size=7)), row=1, col=1)
        if scale is not None:
            fit = _fit_for(fits, dataset, "scale")
            name = f"{dataset}: s*" + (
                f" ~ m<sup>{fit.exponent:.2f}</sup>" if fit is not None else "")
            fig.add_trace(go.Scatter(x=ms, y=scale[dataset], mode="lines+markers", name=name,
                                     line=dict(color=color, width=2, dash="dot"),
                                     marker=dict(symbol="diamond", size=8)), row=1, col=2)
    for col in range(1, cols + 1):
        fig.update_xaxes(type="log", title_text="width m", row=1, col=col)
    fig.update_yaxes(type="log", title_text="distance in parameter space", row=1, col=1)
    if scale is not None:
        fig.update_yaxes(type="log", title_text="s*", row=1, col=2)
    fig.update_layout(title_text=title)
    legend_below(fig, _BASE_HEIGHT, bottom_px=70)
    return fig


def guarantee_figure(certificates: Certificate | Mapping[str, Certificate], steps: Any, *,
                     title: str | None = None, height: int = 360) -> go.Figure:
    r"""The loss a certificate guarantees, :math:`q^t L(\theta_0)`, over the steps it covers.

    Args:
      certificates: one :class:`~lplr_core.bounds.Certificate` (from
        :func:`~lplr_core.bounds.certify`), or ``{legend name: certificate}``.
      steps: the steps :math:`t` (1-D, non-negative, increasing).
      title: the figure's title (default: "proved" or "not proved", with the mode).
      height: the figure's height in px without the legend, at least 200.

    Returns:
      A one-panel figure, log y-axis. A proved certificate is drawn as
      :math:`q^t L(\theta_0)` on the steps it covers (an a-posteriori one only up to its
      run's last step); one that is not proved draws no curve, and the figure says which
      hypotheses failed.
    """
    if isinstance(certificates, Certificate):
        certs = {"proved bound": certificates}
    elif isinstance(certificates, Mapping) and certificates:
        certs = dict(certificates)
    else:
        raise TypeError("certificates must be a Certificate (lplr_core.certify) or a non-empty "
                        f"mapping {{name: Certificate}}; got {describe(certificates)}")
    for key, cert in certs.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"certificates' keys must be non-empty str; got {describe(key)}")
        if not isinstance(cert, Certificate):
            raise TypeError(f"certificates[{key!r}] must be a Certificate; got {describe(cert)}")
    try:
        t = np.asarray(steps, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"steps must be a 1-D array of steps; got {describe(steps)}") from exc
    if t.ndim != 1 or t.size < 2 or not np.all(np.isfinite(t)) or np.any(t < 0) \
            or not np.all(np.diff(t) > 0):
        raise ValueError(f"steps must hold at least 2 non-negative, increasing steps; got "
                         f"{describe(steps)}")
    _check_title("title", title)
    height = check_int("height", height, minimum=200)
    fig = go.Figure()
    failed = []
    for i, (key, cert) in enumerate(certs.items()):
        if not cert.proved:
            failed.append((key, [h.name for h in cert.hypotheses if not h.proved]))
            continue
        covered = t if cert.steps is None else t[t <= cert.steps]
        fig.add_trace(go.Scatter(
            x=covered, y=cert.guaranteed_loss(covered), mode="lines",
            name=f"{key}: {cert.mode}, q = {cert.rate:.5f}",
            line=dict(color=COLORWAY[(i + 1) % len(COLORWAY)], dash=_DASHES[(i + 1) % 6],
                      width=3)))
    if failed:
        text = "<br>".join(f"{key}: not proved ({', '.join(names)} failed)"
                           for key, names in failed)
        fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper",
                           showarrow=False, font=dict(size=14, color="#B42318"))
    if title is None:
        proved = [c for c in certs.values() if c.proved]
        title = ("proved (" + ", ".join(sorted({c.mode for c in proved})) + ")" if proved
                 and not failed else "not proved" if not proved else "partly proved")
    fig.update_layout(title_text=title, xaxis=dict(title_text="step t", range=[t[0], t[-1]]),
                      yaxis=dict(type="log", title_text="guaranteed loss q<sup>t</sup> "
                                                        "L(θ<sub>0</sub>)"))
    legend_below(fig, height, bottom_px=70)
    return fig
