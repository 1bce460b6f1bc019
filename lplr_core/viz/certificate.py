r"""The certificate curve :math:`\mu(r) = \lambda_0 - L_\Theta r` as a figure, and searches in a ball.

Two figures of the book's chapter on the local PL inequality, each a function of core
results (:func:`lplr_core.diagnostics.certificate`, :func:`~lplr_core.diagnostics.certified_radius`
and the ball searches of :mod:`lplr_core.diagnostics`):

* :func:`certificate_figure` (and :func:`certificate_traces`, :func:`certificate_slider`):
  the certificate against the radius, with its radius :math:`\lambda_0 / L_\Theta` marked
  and measured quantities (the smallest PL ratio or NTK eigenvalue found in each ball)
  beside it;
* :func:`search_figure`: what random sampling and a descent search find in each ball,
  against the certificate at that radius.

**The words matter.** With an *estimate* :math:`\hat L_\Theta` (sampled, ascent or path,
all lower estimates of the supremum) the curve is the estimate
:math:`\hat\mu(r) = \lambda_0 - \hat L_\Theta r` and its zero the *estimated* radius; only
with proved bounds (:mod:`lplr_core.bounds`) is it a certificate and its zero a
*certified* radius. Every function takes ``proved`` (default ``False``) and labels the
curve and the radius accordingly.

All figures use the book's ``"lplr"`` template, put their legend under the plot (phone
widths; :func:`lplr_core.viz.style.place_legend` moves it under a slider), and identify
each series by colour *and* dash. Display them with :func:`lplr_core.viz.figures.show`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

import numpy as np
import plotly.graph_objects as go

from lplr_core import diagnostics
from lplr_core.viz.figures import COLORWAY, slider_figure

__all__ = [
    "certificate_figure",
    "certificate_slider",
    "certificate_traces",
    "search_figure",
]

Lipschitz = Union[float, Callable[[float], float]]
Measured = Mapping[str, tuple[Sequence[float], Sequence[float]]]

CURVE_COLOR = COLORWAY[0]
RADIUS_COLOR = "#000000"
ZERO_COLOR = "#888888"
# Measured series: colour and dash and marker together identify each one.
SERIES = (
    (COLORWAY[1], "dash", "circle"),
    (COLORWAY[2], "dot", "diamond"),
    (COLORWAY[3], "dashdot", "square"),
    (COLORWAY[4], "longdash", "triangle-up"),
    (COLORWAY[5], "longdashdot", "x"),
)
RADIUS_TITLE = "radius r = ‖θ − θ<sub>0</sub>‖"
DEFAULT_GRID = 401
# Log axes: the curve is drawn down to this many decades below lambda_0 (it reaches 0 at
# the radius, which a log axis cannot show), never further.
LOG_DECADES = 2.0


# --------------------------------------------------------------------------- checks

def _real(name: str, value: Any, *, positive: bool = False, nonnegative: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            and not (hasattr(value, "shape") and np.ndim(value) == 0):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite; got {out!r}")
    if positive and not out > 0:
        raise ValueError(f"{name} must be > 0; got {out!r}")
    if nonnegative and not out >= 0:
        raise ValueError(f"{name} must be >= 0; got {out!r}")
    return out


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {type(value).__name__} {value!r}")
    return bool(value)


def _vector(name: str, values: Any) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a 1-D sequence of real numbers; got {values!r}") from exc
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite everywhere; got {arr.tolist()}")
    return arr


def _check_log(lambda0: float, log_y: bool) -> None:
    if log_y and lambda0 <= 0:
        raise ValueError(f"lambda0 = {lambda0!r} <= 0: the certificate is nowhere positive and a "
                         "log axis cannot show it; pass log_y=False")


def _grid(grid: Any) -> int:
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or grid < 2:
        raise ValueError(f"grid must be an int >= 2; got {grid!r}")
    return int(grid)


def _lipschitz(lipschitz: Any) -> Lipschitz:
    if callable(lipschitz):
        return lipschitz
    return _real("lipschitz", lipschitz, nonnegative=True)


def _measured(measured: Any, *, log_y: bool) -> list[tuple[str, np.ndarray, np.ndarray]]:
    if measured is None:
        return []
    if not isinstance(measured, Mapping):
        raise TypeError("measured must be a mapping {legend name: (radii, values)}; got "
                        f"{type(measured).__name__}")
    if len(measured) > len(SERIES):
        raise ValueError(f"measured holds at most {len(SERIES)} series; got {len(measured)}")
    out = []
    for name, pair in measured.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"measured's keys must be non-empty legend names (str); got {name!r}")
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"measured[{name!r}] must be a pair (radii, values); got {pair!r}")
        radii = _vector(f"measured[{name!r}] radii", pair[0])
        values = _vector(f"measured[{name!r}] values", pair[1])
        if radii.shape != values.shape:
            raise ValueError(f"measured[{name!r}]: radii and values must have the same length; "
                             f"got {radii.size} and {values.size}")
        if np.any(radii < 0):
            raise ValueError(f"measured[{name!r}] radii must be >= 0; got {radii.tolist()}")
        if log_y and np.any(values <= 0):
            raise ValueError(f"measured[{name!r}] has values <= 0 ({values.tolist()}), which a "
                             "log axis cannot show; pass log_y=False")
        out.append((name, radii, values))
    return out


# --------------------------------------------------------------------------- the curve

def _curve(lambda0: float, lipschitz: Lipschitz, r_max: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The radii grid and mu(r) on it, from the core's certificate."""
    grid = np.linspace(0.0, r_max, n)
    if callable(lipschitz):
        lips = []
        for r in grid:
            value = lipschitz(float(r))
            lips.append(_real(f"lipschitz({float(r)!r})", value, nonnegative=True))
        mu = np.array([float(diagnostics.certificate(lambda0, lip, float(r)))
                       for lip, r in zip(lips, grid)])
    else:
        mu = np.asarray(diagnostics.certificate(lambda0, lipschitz, grid), dtype=float)
    return grid, mu


def _radius(lambda0: float, lipschitz: Lipschitz, grid: np.ndarray, mu: np.ndarray) -> float:
    """lambda_0 / L for a constant L (the core's certified_radius), else the grid's last mu > 0."""
    if not callable(lipschitz):
        return float(diagnostics.certified_radius(lambda0, lipschitz))
    positive = np.flatnonzero(mu > 0)
    if positive.size == 0:
        return 0.0
    last = positive[-1]
    if last == grid.size - 1:
        return math.inf
    # linear interpolation of the zero crossing between grid[last] and grid[last + 1]
    r0, r1, m0, m1 = grid[last], grid[last + 1], mu[last], mu[last + 1]
    return float(r0 + (r1 - r0) * m0 / (m0 - m1))


def _names(proved: bool) -> tuple[str, str]:
    if proved:
        return ("certificate μ(r) = λ<sub>0</sub> − L<sub>Θ</sub> r (proved bounds)",
                "certified radius λ<sub>0</sub>/L<sub>Θ</sub>")
    return ("estimated certificate μ̂(r) = λ<sub>0</sub> − L̂<sub>Θ</sub> r",
            "estimated radius λ<sub>0</sub>/L̂<sub>Θ</sub>")


def _y_extent(lambda0: float, measured: list, *, log_y: bool, curve_min: float) -> tuple[float, float]:
    values = [lambda0] + [float(v) for _, _, vals in measured for v in vals]
    top = max(values)
    if log_y:
        floor = lambda0 * 10.0 ** (-LOG_DECADES)
        floor = min(floor, min(values))
        return floor, top * 3.0
    low = min([0.0, curve_min] + values)
    return low, top


def certificate_traces(lambda0: float, lipschitz: Lipschitz, *, r_max: float,
                       measured: Measured | None = None, proved: bool = False,
                       log_y: bool = True, y_range: tuple[float, float] | None = None,
                       showlegend: bool = True, grid: int = DEFAULT_GRID) -> list[go.Scatter]:
    r"""The traces of :func:`certificate_figure`: the curve, the radius and the measured series.

    Args:
      lambda0: :math:`\lambda_0 = \lambda_{\min}(\Theta(\theta_0))` (a proved lower bound
        when ``proved``).
      lipschitz: :math:`L_\Theta \ge 0`, a number, or a function ``r -> L_Theta(r)`` for a
        bound that depends on the radius (e.g. ``TwoLayerBounds.ntk_lipschitz``).
      r_max: the largest radius drawn (> 0).
      measured: ``{legend name: (radii, values)}``, at most five series, e.g. the smallest
        PL ratio found in each ball.
      proved: ``True`` only when ``lambda0`` and ``lipschitz`` are proved bounds; names
        the curve a certificate and its zero the certified radius (else "estimated").
      log_y: a log axis (the curve drawn where :math:`\mu \ge \lambda_0 / 100`) or a
        linear one (the whole line, negative part included, and a zero line).
      y_range: ``(low, high)`` in data units, the extent of the radius marker; default
        from ``lambda0`` and the measured values.
      showlegend: legend entries for these traces.
      grid: number of radii on ``[0, r_max]`` (>= 2).

    Returns:
      A list of plotly traces, the curve, the radius marker (a vertical line, if the
      radius is within ``[0, r_max]``), one trace per measured series and, on a linear
      axis, the zero line.
    """
    lambda0 = _real("lambda0", lambda0)
    lipschitz = _lipschitz(lipschitz)
    r_max = _real("r_max", r_max, positive=True)
    proved = _bool("proved", proved)
    log_y = _bool("log_y", log_y)
    showlegend = _bool("showlegend", showlegend)
    grid = _grid(grid)
    series = _measured(measured, log_y=log_y)
    _check_log(lambda0, log_y)
    radii, mu = _curve(lambda0, lipschitz, r_max, grid)
    radius = _radius(lambda0, lipschitz, radii, mu)
    if y_range is None:
        low, high = _y_extent(lambda0, series, log_y=log_y, curve_min=float(mu.min()))
    else:
        if not isinstance(y_range, (tuple, list)) or len(y_range) != 2:
            raise TypeError(f"y_range must be a pair (low, high); got {y_range!r}")
        low = _real("y_range[0]", y_range[0], positive=log_y)
        high = _real("y_range[1]", y_range[1], positive=log_y)
        if not high > low:
            raise ValueError(f"y_range must have low < high; got {y_range!r}")

    curve_name, radius_name = _names(proved)
    if log_y:
        keep = mu >= low
        xs, ys = radii[keep], mu[keep]
    else:
        xs, ys = radii, mu
    traces = [go.Scatter(x=xs, y=ys, mode="lines", name=curve_name, showlegend=showlegend,
                         line=dict(color=CURVE_COLOR, width=3),
                         hovertemplate="r = %{x:.3g}<br>μ = %{y:.3g}<extra></extra>")]
    if 0 < radius <= r_max:
        traces.append(go.Scatter(x=[radius, radius], y=[low, high], mode="lines",
                                 name=f"{radius_name} = {radius:.3g}", showlegend=showlegend,
                                 line=dict(color=RADIUS_COLOR, dash="dot", width=2),
                                 hoverinfo="skip"))
    for (name, rs, values), (color, dash, symbol) in zip(series, SERIES):
        traces.append(go.Scatter(x=rs, y=values, mode="lines+markers", name=name,
                                 showlegend=showlegend,
                                 line=dict(color=color, dash=dash, width=2),
                                 marker=dict(color=color, symbol=symbol, size=9)))
    if not log_y:
        traces.append(go.Scatter(x=[0.0, r_max], y=[0.0, 0.0], mode="lines", showlegend=False,
                                 line=dict(color=ZERO_COLOR, width=1), hoverinfo="skip"))
    return traces


def _layout(*, r_max: float, log_y: bool, y_range: tuple[float, float], y_title: str,
            title: str | None, height: int) -> dict[str, Any]:
    low, high = y_range
    if log_y:
        yaxis = dict(type="log", range=[math.log10(low), math.log10(high)], title_text=y_title)
    else:
        pad = 0.05 * (high - low)
        yaxis = dict(range=[low - pad, high + pad], title_text=y_title)
    # a little room right of r_max, so markers at r_max are not cut in half
    layout = dict(xaxis=dict(title_text=RADIUS_TITLE, range=[0.0, 1.03 * r_max]), yaxis=yaxis,
                  legend=dict(orientation="h", y=-0.22, x=0.0, yanchor="top"), height=height)
    if title is not None:
        if not isinstance(title, str):
            raise TypeError(f"title must be a str; got {type(title).__name__}")
        layout["title_text"] = title
    return layout


def _height(height: Any) -> int:
    if isinstance(height, bool) or not isinstance(height, (int, np.integer)) or height < 200:
        raise ValueError(f"height must be an int >= 200 (px); got {height!r}")
    return int(height)


def certificate_figure(lambda0: float, lipschitz: Lipschitz, *, r_max: float,
                       measured: Measured | None = None, proved: bool = False,
                       log_y: bool = True, title: str | None = None,
                       y_title: str = "PL constant / eigenvalue", height: int = 480,
                       grid: int = DEFAULT_GRID) -> go.Figure:
    r"""The certificate :math:`\mu(r) = \lambda_0 - L_\Theta r` against the radius, with its radius marked.

    With an estimate :math:`\hat L_\Theta` (``proved=False``, the default) the curve is
    labelled :math:`\hat\mu(r)`, an estimate, and its zero the estimated radius; with
    proved bounds (``proved=True``) a certificate and the certified radius. Measured
    quantities in each ball (e.g. the smallest PL ratio and :math:`\lambda_{\min}(\Theta)`
    found there) are drawn beside it: the theorem says they are never below a *proved*
    certificate.

    Args:
      lambda0, lipschitz, r_max, measured, proved, log_y, grid: as in
        :func:`certificate_traces`.
      title: the figure title (``<sub>``/``<sup>`` for indices), or ``None``.
      y_title: the y-axis title.
      height: in px (>= 200).

    Returns:
      A plotly figure; show it with :func:`lplr_core.viz.figures.show`.

    Raises:
      ValueError, TypeError: a bad argument, named with its value.
    """
    height = _height(height)
    log_y = _bool("log_y", log_y)
    lam = _real("lambda0", lambda0)
    lip = _lipschitz(lipschitz)
    r_max_f = _real("r_max", r_max, positive=True)
    grid = _grid(grid)
    series = _measured(measured, log_y=log_y)
    _check_log(lam, log_y)
    _, mu = _curve(lam, lip, r_max_f, grid)
    y_range = _y_extent(lam, series, log_y=log_y, curve_min=float(mu.min()))
    fig = go.Figure(certificate_traces(lam, lip, r_max=r_max_f, measured=measured,
                                       proved=proved, log_y=log_y, y_range=y_range, grid=grid))
    fig.update_layout(**_layout(r_max=r_max_f, log_y=log_y, y_range=y_range, y_title=y_title,
                                title=title, height=height))
    return fig


def certificate_slider(values: Sequence[Any], at: Callable[[Any], tuple[float, Lipschitz, Measured | None]],
                       *, label: str, r_max: float, proved: bool = False, log_y: bool = True,
                       active: int = 0, value_label: Callable[[Any], str] = str,
                       title_at: Callable[[Any], str] | None = None,
                       y_title: str = "PL constant / eigenvalue", height: int = 480,
                       grid: int = DEFAULT_GRID) -> go.Figure:
    r""":func:`certificate_figure` for each of several networks, one per slider position.

    One y-axis range holds every position (the slider only shows and hides traces), so
    the curves of different positions can be compared by eye.

    Args:
      values: the slider's values, e.g. widths ``[64, 128, 256]``.
      at: ``value -> (lambda0, lipschitz, measured)`` for that position (``measured`` as
        in :func:`certificate_traces`, or ``None``).
      label: the slider's name, e.g. ``"width m"``.
      r_max, proved, log_y, y_title, height, grid: as in :func:`certificate_figure`.
      active: index of the initial position.
      value_label: ``value -> str``, the slider's tick labels.
      title_at: ``value -> str``, the title at that position, or ``None``.

    Returns:
      A plotly figure with a native slider (works in the static book).
    """
    values = list(values)
    if not values:
        raise ValueError("values must hold at least one slider position; got an empty sequence")
    if not callable(at):
        raise TypeError(f"at must be a function value -> (lambda0, lipschitz, measured); got {at!r}")
    height = _height(height)
    log_y = _bool("log_y", log_y)
    r_max = _real("r_max", r_max, positive=True)
    grid = _grid(grid)
    cases = []
    lows, highs = [], []
    for value in values:
        case = at(value)
        if not isinstance(case, tuple) or len(case) != 3:
            raise TypeError(f"at({value!r}) must return (lambda0, lipschitz, measured); got {case!r}")
        lam, lip, measured = case
        lam = _real(f"lambda0 at {value!r}", lam)
        series = _measured(measured, log_y=log_y)
        _check_log(lam, log_y)
        _, mu = _curve(lam, _lipschitz(lip), r_max, grid)
        low, high = _y_extent(lam, series, log_y=log_y, curve_min=float(mu.min()))
        lows.append(low)
        highs.append(high)
        cases.append((lam, lip, measured))
    y_range = (min(lows), max(highs))
    if not callable(value_label):
        raise TypeError(f"value_label must be a function value -> str; got {value_label!r}")
    if title_at is not None and not callable(title_at):
        raise TypeError(f"title_at must be a function value -> str or None; got {title_at!r}")

    def traces(i):
        lam, lip, measured = cases[i]
        return certificate_traces(lam, lip, r_max=r_max, measured=measured, proved=proved,
                                  log_y=log_y, y_range=y_range, grid=grid)

    layout = _layout(r_max=r_max, log_y=log_y, y_range=y_range, y_title=y_title, title=None,
                     height=height)
    return slider_figure(list(range(len(values))), traces, label=label, active=active,
                         value_label=lambda i: value_label(values[i]),
                         title_at=None if title_at is None else (lambda i: title_at(values[i])),
                         **layout)


# --------------------------------------------------------------------------- searches

def _search_fields(searches: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(searches, (str, bytes)) or not isinstance(searches, Sequence) or not searches:
        raise TypeError("searches must be a non-empty sequence of ball-search results "
                        "(lp.diagnostics.min_lambda_min_in_ball or min_pl_ratio_in_ball); got "
                        f"{type(searches).__name__}")
    rows = []
    for i, s in enumerate(searches):
        try:
            rows.append((float(s.radius), float(s.sampled), float(s.value)))
        except AttributeError as exc:
            raise TypeError(f"searches[{i}] must have the fields radius, sampled and value "
                            f"(a BallEigenEstimate or BallPLEstimate); got {type(s).__name__}") from exc
    radii, sampled, found = (np.array(col) for col in zip(*rows))
    for name, arr in (("radius", radii), ("sampled", sampled), ("value", found)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"every search's {name} must be finite; got {arr.tolist()}")
    if not np.all(radii > 0):
        raise ValueError(f"every search's radius must be > 0 (a log axis); got {radii.tolist()}")
    if np.any(np.diff(radii) <= 0):
        raise ValueError(f"searches must be in increasing order of radius; got {radii.tolist()}")
    return radii, sampled, found


def search_figure(searches: Sequence[Any], *, lambda0: float, lipschitz: float,
                  proved: bool = False, quantity: str = "λ<sub>min</sub>(Θ)",
                  n_sampled: int | None = None, title: str | None = None,
                  height: int = 460) -> go.Figure:
    r"""What sampling and a descent search find in each ball, against the certificate there.

    For each ball :math:`B(\theta_0, r)` of ``searches``: the smallest value at random
    points (``sampled``), the smallest after the descent search (``value``; an upper
    estimate of the minimum over the ball, since it is attained at a point of the ball), and
    the certificate :math:`\lambda_0 - L_\Theta r` at that radius (:func:`lplr_core.diagnostics.certificate`;
    "estimated" unless ``proved``). A linear y-axis (the certificate turns negative), a log
    radius axis.

    Args:
      searches: results of :func:`lplr_core.diagnostics.min_lambda_min_in_ball` or
        :func:`~lplr_core.diagnostics.min_pl_ratio_in_ball`, in increasing order of radius
        (each has ``radius``, ``sampled`` and ``value``).
      lambda0: :math:`\lambda_0`.
      lipschitz: :math:`L_\Theta \ge 0` (an estimate unless ``proved``).
      proved: ``True`` only for proved ``lambda0`` and ``lipschitz``.
      quantity: what was minimized, for the legend (``<sub>`` for indices).
      n_sampled: how many random points per ball, for the legend (or ``None``).
      title: the figure title, or ``None``.
      height: in px (>= 200).

    Returns:
      A plotly figure.
    """
    radii, sampled, found = _search_fields(searches)
    lambda0 = _real("lambda0", lambda0)
    lipschitz = _real("lipschitz", lipschitz, nonnegative=True)
    proved = _bool("proved", proved)
    height = _height(height)
    if not isinstance(quantity, str) or not quantity:
        raise TypeError(f"quantity must be a non-empty str; got {quantity!r}")
    if n_sampled is not None and (isinstance(n_sampled, bool)
                                  or not isinstance(n_sampled, (int, np.integer)) or n_sampled < 1):
        raise ValueError(f"n_sampled must be an int >= 1 or None; got {n_sampled!r}")
    cert = np.asarray(diagnostics.certificate(lambda0, lipschitz, radii), dtype=float)
    curve_name = ("certificate λ<sub>0</sub> − L<sub>Θ</sub> r (proved bounds)" if proved
                  else "estimated certificate λ<sub>0</sub> − L̂<sub>Θ</sub> r")
    at = f"at {int(n_sampled)} random points" if n_sampled is not None else "at random points"
    fig = go.Figure([
        go.Scatter(x=radii, y=cert, mode="lines+markers", name=curve_name,
                   line=dict(color=CURVE_COLOR, width=3), marker=dict(symbol="circle", size=8)),
        go.Scatter(x=radii, y=sampled, mode="lines+markers", name=f"min {quantity} {at}",
                   line=dict(color=COLORWAY[2], dash="dot", width=2),
                   marker=dict(symbol="diamond", size=9)),
        go.Scatter(x=radii, y=found, mode="lines+markers",
                   name=f"min {quantity} found by the adversarial search",
                   line=dict(color=COLORWAY[1], dash="dash", width=3),
                   marker=dict(symbol="square", size=8)),
        go.Scatter(x=[radii[0], radii[-1]], y=[0.0, 0.0], mode="lines", showlegend=False,
                   line=dict(color=ZERO_COLOR, width=1), hoverinfo="skip"),
    ])
    # The measured values decide the range; the certificate may leave it downwards (it
    # falls linearly in r), but never by more than half of lambda_0 below zero.
    high = max(lambda0, float(sampled.max()), float(found.max()))
    low = min(-0.5 * abs(lambda0), float(found.min()), float(sampled.min()))
    pad = 0.05 * (high - low)
    ticks = [f"{r:g}" for r in radii]
    fig.update_layout(xaxis=dict(type="log", title_text="radius r", tickvals=radii.tolist(),
                                 ticktext=ticks),
                      yaxis=dict(range=[low - pad, high + pad], title_text=quantity),
                      legend=dict(orientation="h", y=-0.22, x=0.0, yanchor="top"),
                      height=height)
    if title is not None:
        if not isinstance(title, str):
            raise TypeError(f"title must be a str; got {type(title).__name__}")
        fig.update_layout(title_text=title)
    return fig
