"""lplr_core.viz.certificate: the certificate curve, its radius, and ball searches as figures.

Every number a trace carries is recomputed here from the inputs with NumPy (the closed
form lambda_0 - L r), not read back from the module.
"""

from __future__ import annotations

import math
import re

import numpy as np
import plotly.graph_objects as go
import pytest

from lplr_core.diagnostics import BallEigenEstimate, BallPLEstimate
from lplr_core.viz import certificate as vc

LAMBDA0, LIP = 0.0555, 0.95
RADII = [0.01, 0.05, 0.2]
RHO = [9.5, 9.1, 8.7]
LAM = [0.05549, 0.05547, 0.0554]
MEASURED = {"min PL ratio ρ in the ball": (RADII, RHO),
            "min λ<sub>min</sub>(Θ) at 2 random points": (RADII, LAM)}
TAGS = re.compile(r"<[^>]*>")


def _by_name(fig, fragment):
    hits = [t for t in fig.data if t.name and fragment in t.name]
    assert len(hits) == 1, [t.name for t in fig.data]
    return hits[0]


def _texts(fig):
    """Every title and legend name of a figure."""
    out = [t.name for t in fig.data if t.name]
    layout = fig.layout
    if layout.title.text:
        out.append(layout.title.text)
    for axis in (layout.xaxis, layout.yaxis):
        out.append(axis.title.text)
    for slider in layout.sliders:
        out.append(slider.currentvalue.prefix)
        for step in slider.steps:
            if step.method == "update":
                out.append(step.args[1]["title.text"])
    return out


def _assert_clean_titles(fig):
    for text in _texts(fig):
        assert text, "an axis or trace without a title"
        bare = TAGS.sub("", text)
        assert "_" not in bare and "^" not in bare, f"raw sub/superscript in {text!r}"


# ------------------------------------------------------------------ certificate_figure

def test_curve_is_lambda0_minus_L_r_on_its_positive_log_part():
    fig = vc.certificate_figure(LAMBDA0, LIP, r_max=0.2, measured=MEASURED)
    curve = fig.data[0]
    x, y = np.asarray(curve.x), np.asarray(curve.y)
    np.testing.assert_allclose(y, LAMBDA0 - LIP * x, rtol=1e-12, atol=1e-15)
    assert x[0] == 0.0 and np.all(np.diff(x) > 0)
    floor = 10 ** fig.layout.yaxis.range[0]
    assert np.all(y >= floor)
    # drawn right up to where it leaves the axis: the next grid step would be below it
    step = 0.2 / (vc.DEFAULT_GRID - 1)
    assert LAMBDA0 - LIP * (x[-1] + step) < floor
    # the log axis spans a handful of decades, not 40
    low, high = fig.layout.yaxis.range
    assert fig.layout.yaxis.type == "log" and 0 < high - low < 8


def test_radius_marker_and_words_for_an_estimate():
    fig = vc.certificate_figure(LAMBDA0, LIP, r_max=0.2, measured=MEASURED)
    radius = _by_name(fig, "radius")
    np.testing.assert_allclose(radius.x, [LAMBDA0 / LIP] * 2, rtol=1e-12)
    assert f"{LAMBDA0 / LIP:.3g}" in radius.name
    assert radius.line.dash == "dot"
    names = " ".join(t.name for t in fig.data if t.name)
    assert "estimated radius" in radius.name and "estimated certificate" in fig.data[0].name
    assert "certified" not in names and "proved" not in names
    # the marker spans the y-axis range
    low, high = fig.layout.yaxis.range
    np.testing.assert_allclose(np.log10(radius.y), [low, high], rtol=1e-12)


def test_proved_words():
    fig = vc.certificate_figure(LAMBDA0, LIP, r_max=0.2, proved=True)
    assert "proved" in fig.data[0].name and "estimated" not in fig.data[0].name
    assert "certified radius" in _by_name(fig, "radius").name


def test_measured_series_carry_their_data_and_differ_in_colour_and_dash():
    fig = vc.certificate_figure(LAMBDA0, LIP, r_max=0.2, measured=MEASURED)
    styles = set()
    for name, (radii, values) in MEASURED.items():
        trace = _by_name(fig, name)
        np.testing.assert_array_equal(trace.x, radii)
        np.testing.assert_array_equal(trace.y, values)
        styles.add((trace.line.color, trace.line.dash))
    styles.add((fig.data[0].line.color, fig.data[0].line.dash))
    assert len({c for c, _ in styles}) == 3 and len({d for _, d in styles}) == 3
    # the y-axis holds every measured value
    low, high = fig.layout.yaxis.range
    values = np.concatenate([v for _, v in MEASURED.values()])
    assert 10 ** low <= values.min() and values.max() <= 10 ** high


def test_layout_legend_below_and_titles_rendered():
    fig = vc.certificate_figure(LAMBDA0, LIP, r_max=0.2, measured=MEASURED,
                                title="m = 256: λ<sub>0</sub> = 0.0555")
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0
    assert fig.layout.xaxis.range[0] == 0.0 and 0.2 <= fig.layout.xaxis.range[1] < 0.21
    _assert_clean_titles(fig)


def test_linear_axis_draws_the_negative_part_and_a_zero_line():
    fig = vc.certificate_figure(LAMBDA0, LIP, r_max=0.1, log_y=False,
                                measured={"min λ<sub>min</sub> found at radius r": ([0.1], [0.05])})
    curve = fig.data[0]
    x, y = np.asarray(curve.x), np.asarray(curve.y)
    assert x[-1] == pytest.approx(0.1) and len(x) == vc.DEFAULT_GRID
    np.testing.assert_allclose(y, LAMBDA0 - LIP * x, rtol=1e-12, atol=1e-15)
    assert y.min() < 0
    zero = [t for t in fig.data if t.showlegend is False]
    assert len(zero) == 1 and list(zero[0].y) == [0.0, 0.0]
    low, high = fig.layout.yaxis.range
    assert low < y.min() and high > LAMBDA0


def test_radius_outside_the_drawn_range_has_no_marker():
    fig = vc.certificate_figure(LAMBDA0, LIP, r_max=0.01)      # radius 0.058 > 0.01
    assert not [t for t in fig.data if t.name and "radius" in t.name]


def test_radius_dependent_lipschitz_bound():
    a, b = 0.5, 20.0                                   # L(r) = a + b r: mu = l0 - a r - b r^2

    def lip(r):
        return a + b * r

    fig = vc.certificate_figure(LAMBDA0, lip, r_max=0.2, log_y=False, proved=True)
    x, y = np.asarray(fig.data[0].x), np.asarray(fig.data[0].y)
    np.testing.assert_allclose(y, LAMBDA0 - (a + b * x) * x, rtol=1e-12, atol=1e-15)
    root = (-a + math.sqrt(a * a + 4 * b * LAMBDA0)) / (2 * b)
    marker = _by_name(fig, "certified radius")
    assert marker.x[0] == pytest.approx(root, rel=1e-3)


def test_traces_without_legend():
    traces = vc.certificate_traces(LAMBDA0, LIP, r_max=0.2, measured=MEASURED,
                                   showlegend=False)
    assert all(isinstance(t, go.Scatter) and t.showlegend is False for t in traces)


# ------------------------------------------------------------------ certificate_slider

def test_slider_one_position_per_network_with_one_y_range():
    cases = {64: (0.04, 1.96, {"min ρ": (RADII, [12.0, 11.0, 10.0])}),
             128: (0.057, 1.4, {"min ρ": (RADII, [9.0, 8.0, 7.0])}),
             512: (0.0715, 0.69, {"min ρ": (RADII, [30.0, 29.0, 28.0])})}
    widths = list(cases)
    fig = vc.certificate_slider(widths, cases.__getitem__, label="width m", r_max=0.2,
                                active=1, title_at=lambda w: f"m = {w}: λ<sub>0</sub>")
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["64", "128", "512"]
    assert fig.layout.sliders[0].active == 1
    assert fig.layout.title.text == "m = 128: λ<sub>0</sub>"
    per = len(fig.data) // len(widths)
    for k, (w, step) in enumerate(zip(widths, steps)):
        visible = step.args[0]["visible"]
        shown = [t for t, v in zip(fig.data, visible) if v]
        assert len(shown) == per
        lam, lip, measured = cases[w]
        x, y = np.asarray(shown[0].x), np.asarray(shown[0].y)
        np.testing.assert_allclose(y, lam - lip * x, rtol=1e-12, atol=1e-15)
        radius = [t for t in shown if t.name and "radius" in t.name][0]
        assert radius.x[0] == pytest.approx(lam / lip)
        rho = [t for t in shown if t.name == "min ρ"][0]
        np.testing.assert_array_equal(rho.y, measured["min ρ"][1])
    # one range holds everything: the smallest floor and the largest value
    low, high = fig.layout.yaxis.range
    assert 10 ** low <= 0.04 / 100 * (1 + 1e-9) and 10 ** high >= 30.0
    _assert_clean_titles(fig)


def test_slider_bad_inputs():
    with pytest.raises(ValueError, match="values"):
        vc.certificate_slider([], lambda w: (1.0, 1.0, None), label="m", r_max=1.0)
    with pytest.raises(TypeError, match="at"):
        vc.certificate_slider([1], "not callable", label="m", r_max=1.0)
    with pytest.raises(TypeError, match=r"at\(1\) must return"):
        vc.certificate_slider([1], lambda w: (1.0, 1.0), label="m", r_max=1.0)
    with pytest.raises(ValueError, match="lambda0"):
        vc.certificate_slider([1], lambda w: (-1.0, 1.0, None), label="m", r_max=1.0)


# ------------------------------------------------------------------ search_figure

def _searches(values, sampled, radii=(0.01, 0.05, 0.2, 1.0, 4.0)):
    return [BallEigenEstimate(value=v, sampled=s, descent=v, radius=r, lambda0=LAMBDA0,
                              distance=r, delta=None)
            for v, s, r in zip(values, sampled, radii)]


def test_search_figure_carries_the_three_series():
    radii = np.array([0.01, 0.05, 0.2, 1.0, 4.0])
    found = [0.0554, 0.0550, 0.0540, 0.0500, 0.0300]
    sampled = [0.05549, 0.05548, 0.05545, 0.0554, 0.0553]
    fig = vc.search_figure(_searches(found, sampled), lambda0=LAMBDA0, lipschitz=LIP,
                           n_sampled=8, title="m = 256: B(θ<sub>0</sub>, r)")
    cert = _by_name(fig, "certificate")
    np.testing.assert_allclose(cert.y, LAMBDA0 - LIP * radii, rtol=1e-12)
    np.testing.assert_array_equal(cert.x, radii)
    np.testing.assert_array_equal(_by_name(fig, "8 random points").y, sampled)
    np.testing.assert_array_equal(_by_name(fig, "adversarial search").y, found)
    assert "estimated" in cert.name
    assert fig.layout.xaxis.type == "log"
    low, high = fig.layout.yaxis.range
    # every measured value inside, and the zero crossing of the certificate visible
    assert low < 0 < LAMBDA0 < high and low <= min(found) and max(sampled) <= high
    assert low >= -0.5 * LAMBDA0 - 0.1 * (high - low)
    _assert_clean_titles(fig)


def test_search_figure_takes_pl_searches_and_proved_words():
    pl = [BallPLEstimate(value=1.0, sampled=2.0, descent=1.0, radius=0.1),
          BallPLEstimate(value=0.5, sampled=1.5, descent=0.5, radius=0.2)]
    fig = vc.search_figure(pl, lambda0=2.0, lipschitz=1.0, proved=True, quantity="ρ")
    assert "proved" in fig.data[0].name and "estimated" not in fig.data[0].name
    np.testing.assert_allclose(fig.data[0].y, [1.9, 1.8])


@pytest.mark.parametrize("searches, match", [
    ([], "non-empty sequence"),
    ("abc", "non-empty sequence"),
    ([object()], r"searches\[0\] must have the fields"),
])
def test_search_figure_bad_searches(searches, match):
    with pytest.raises(TypeError, match=match):
        vc.search_figure(searches, lambda0=1.0, lipschitz=1.0)


def test_search_figure_bad_values():
    with pytest.raises(ValueError, match="increasing order of radius"):
        vc.search_figure(_searches([1, 1], [1, 1], radii=(0.2, 0.1)), lambda0=1.0, lipschitz=1.0)
    with pytest.raises(ValueError, match="finite"):
        vc.search_figure(_searches([np.nan, 1], [1, 1], radii=(0.1, 0.2)), lambda0=1.0,
                         lipschitz=1.0)
    with pytest.raises(ValueError, match="lipschitz must be >= 0"):
        vc.search_figure(_searches([1, 1], [1, 1], radii=(0.1, 0.2)), lambda0=1.0, lipschitz=-1)
    with pytest.raises(ValueError, match="n_sampled"):
        vc.search_figure(_searches([1, 1], [1, 1], radii=(0.1, 0.2)), lambda0=1.0,
                         lipschitz=1.0, n_sampled=0)


# ------------------------------------------------------------------ bad inputs

@pytest.mark.parametrize("kwargs, error, match", [
    (dict(lambda0=float("nan")), ValueError, "lambda0 must be finite"),
    (dict(lambda0="big"), TypeError, "lambda0 must be a real number"),
    (dict(lipschitz=-0.1), ValueError, "lipschitz must be >= 0"),
    (dict(r_max=0.0), ValueError, "r_max must be > 0"),
    (dict(lambda0=-0.01), ValueError, "nowhere positive"),
    (dict(grid=1), ValueError, "grid must be an int >= 2"),
    (dict(height=50), ValueError, "height"),
    (dict(title=3), TypeError, "title must be a str"),
    (dict(proved="yes"), TypeError, "proved must be True or False"),
    (dict(measured=[1, 2]), TypeError, "measured must be a mapping"),
    (dict(measured={"a": ([0.1, 0.2], [1.0])}), ValueError, "same length"),
    (dict(measured={"a": ([0.1], [0.0])}), ValueError, "log axis cannot show"),
    (dict(measured={"a": ([-0.1], [1.0])}), ValueError, "radii must be >= 0"),
    (dict(measured={"a": [0.1]}), TypeError, "pair"),
    (dict(measured={"": ([0.1], [1.0])}), TypeError, "legend names"),
    (dict(lipschitz=lambda r: -1.0), ValueError, r"lipschitz\(0.0\) must be >= 0"),
])
def test_bad_inputs_are_named(kwargs, error, match):
    args = dict(lambda0=LAMBDA0, lipschitz=LIP, r_max=0.2)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        vc.certificate_figure(**args)


def test_negative_lambda0_is_fine_on_a_linear_axis():
    fig = vc.certificate_figure(-0.01, LIP, r_max=0.2, log_y=False)
    assert np.all(np.asarray(fig.data[0].y) < 0)
    assert not [t for t in fig.data if t.name and "radius" in t.name]   # radius 0: no marker
