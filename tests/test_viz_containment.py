"""lplr_core.viz.containment: the a-priori containment picture and the radius-scaling figure.

The traces must carry the data they are given or that the core computes (recomputed here
from the core's constants by the closed form of P(r)); series must differ in colour *and*
dash; axis titles, subplot titles and legend entries must use rendered sub/superscripts
(no raw ``_`` or ``^``); bad inputs raise errors that name the argument.
"""

from __future__ import annotations

import math
import re

import jax
import numpy as np
import plotly.graph_objects as go
import pytest

import lplr_core as lp
from lplr_core import bounds
from lplr_core.diagnostics import fit_power_law
from lplr_core.viz import containment as vc

jax.config.update("jax_enable_x64", True)

RAW = re.compile(r"[_^]")


@pytest.fixture(scope="module")
def network():
    """A one-hidden-layer erf network on 8 random unit-norm points, centred targets s·y."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 5))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = np.sign(rng.normal(size=8))
    mlp = lp.MLP((256,), activation="erf", parameterization="ntk")
    params0 = mlp.init(jax.random.PRNGKey(0), 5, dtype="float64")
    tb0 = bounds.two_layer_bounds(mlp, params0, x)
    outputs = np.asarray(mlp.apply(params0, x))
    return tb0, outputs, labels, (mlp, params0, x)


def _texts(fig: go.Figure) -> list[str]:
    texts = [t.name for t in fig.data if t.name]
    texts += [a.text for a in fig.layout.annotations if a.text]
    for axis in ("xaxis", "yaxis", "xaxis2", "yaxis2"):
        ax = getattr(fig.layout, axis, None)
        if ax is not None and ax.title.text:
            texts.append(ax.title.text)
    if fig.layout.title.text:
        texts.append(fig.layout.title.text)
    return texts


def _no_raw_scripts(fig: go.Figure) -> None:
    for text in _texts(fig):
        stripped = re.sub(r"<[^>]*>", "", text)
        assert not RAW.search(stripped), f"raw sub/superscript in {text!r}"


def _styles_unique(traces) -> None:
    styles = [(t.line.color, t.line.dash) for t in traces if t.mode and "lines" in t.mode]
    assert len(styles) == len(set(styles)), f"two series share colour and dash: {styles}"


def test_path_lengths_match_the_closed_form(network):
    tb0, outputs, labels, _ = network
    tb = tb0.with_targets(outputs + 1e-3 * labels)
    r_c = tb.certified_radius()
    radii = r_c * np.geomspace(1e-3, 1.5, 12)          # beyond r_c: mu <= 0, no bound
    eta = 0.5 / tb.smoothness(float(radii[0]))
    got = vc.path_lengths(tb, eta, radii)
    expected = []
    for r in radii:
        mu, beta = tb.mu_and_smoothness(float(r))
        ok = mu > 0 and eta * beta < 2
        expected.append(math.sqrt(2 * tb.loss0_upper / mu) / (1 - beta * eta / 2) if ok
                        else np.nan)
    expected = np.array(expected)
    assert np.isnan(got[-1]) and np.isfinite(got[0])   # both regimes present
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    finite = ~np.isnan(got)
    # the core rounds the bound outward (up, by about 1e-6 relative): never below the formula
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-5)
    assert np.all(got[finite] >= expected[finite])


def test_path_lengths_bad_inputs(network):
    tb0, outputs, labels, _ = network
    tb = tb0.with_targets(outputs + 1e-3 * labels)
    with pytest.raises(ValueError, match="no targets"):
        vc.path_lengths(tb0, 0.1, [0.1, 0.2])
    with pytest.raises(TypeError, match="bounds"):
        vc.path_lengths("tb", 0.1, [0.1, 0.2])
    with pytest.raises(ValueError, match="step_size"):
        vc.path_lengths(tb, -1.0, [0.1, 0.2])
    for radii in ([0.2, 0.1], [0.0, 0.1], [[0.1, 0.2]], [0.1], [0.1, np.nan]):
        with pytest.raises(ValueError, match="radii"):
            vc.path_lengths(tb, 0.1, radii)


def test_path_length_traces_carry_the_data():
    radii = np.geomspace(1e-3, 1e-1, 5)
    p1, p2 = 0.5 * radii ** 0.5, np.array([np.nan, 1.0, 2.0, 3.0, 4.0])
    picture = vc.PathLengthPicture(radii, {"P(r) at s = s*": p1, "P(r) at s = 2 s*": p2},
                                   proved_radius=0.01)
    traces = vc.path_length_traces(picture)
    assert len(traces) == 4
    diagonal, first, second, star = traces
    np.testing.assert_array_equal(diagonal.x, radii)
    np.testing.assert_array_equal(diagonal.y, radii)
    np.testing.assert_array_equal(first.y, p1)
    np.testing.assert_array_equal(second.y, p2)            # NaN kept: a gap, no bound there
    assert (first.name, second.name) == ("P(r) at s = s*", "P(r) at s = 2 s*")
    assert list(star.x) == [0.01] and list(star.y) == [0.01] and star.mode == "markers"
    _styles_unique(traces)


def test_path_length_figure_one_picture():
    radii = np.geomspace(1e-3, 1e-1, 5)
    curve = 0.02 * np.ones(5)
    fig = vc.path_length_figure(vc.PathLengthPicture(radii, {"P(r)": curve}),
                                title="width 256: s* = 10<sup>-4</sup>")
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    lo, hi = fig.layout.yaxis.range
    assert lo <= math.log10(1e-3) and hi >= math.log10(1e-1)  # the diagonal and the curve
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.yref == "container"
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    _no_raw_scripts(fig)


def test_path_length_figure_slider_keeps_the_axes_fixed():
    pictures = {}
    for k, m in enumerate((256, 1024, 4096)):
        radii = (k + 1) * np.geomspace(1e-3, 1e-1, 6)
        pictures[m] = vc.PathLengthPicture(radii, {"P(r) at s*": radii ** 0.5,
                                                   "P(r) at 2 s*": 2 * radii ** 0.5},
                                           proved_radius=float(radii[2]))
    fig = vc.path_length_figure(pictures, label="width m", active=1,
                                title_at=lambda m: f"width {m}")
    slider = fig.layout.sliders[0]
    assert len(slider.steps) == 3 and slider.active == 1
    assert [s.label for s in slider.steps] == ["256", "1024", "4096"]
    # every trace of each picture, visible at its step only
    assert len(fig.data) == 3 * 4
    visible = slider.steps[2].args[0]["visible"]
    assert visible == [False] * 8 + [True] * 4
    np.testing.assert_array_equal(fig.data[9].y, pictures[4096].curves["P(r) at s*"])
    # fixed ranges spanning all pictures: the plot area does not move with the slider
    all_r = np.concatenate([p.radii for p in pictures.values()])
    all_y = np.concatenate([np.concatenate([p.radii, *p.curves.values()])
                            for p in pictures.values()])
    x_lo, x_hi = fig.layout.xaxis.range
    y_lo, y_hi = fig.layout.yaxis.range
    assert x_lo <= math.log10(all_r.min()) and x_hi >= math.log10(all_r.max())
    assert y_lo <= math.log10(all_y.min()) and y_hi >= math.log10(all_y.max())
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0  # not on the right
    assert fig.layout.title.text == "width 1024"
    _no_raw_scripts(fig)


def test_path_length_figure_bad_inputs():
    radii = np.geomspace(1e-3, 1e-1, 4)
    good = vc.PathLengthPicture(radii, {"P": radii})
    with pytest.raises(TypeError, match="pictures"):
        vc.path_length_figure([good])
    with pytest.raises(TypeError, match="pictures"):
        vc.path_length_figure({})
    with pytest.raises(ValueError, match=r"curves\['P'\] must have the shape"):
        vc.path_length_figure(vc.PathLengthPicture(radii, {"P": radii[:2]}))
    with pytest.raises(ValueError, match="positive where finite"):
        vc.path_length_figure(vc.PathLengthPicture(radii, {"P": -radii}))
    with pytest.raises(ValueError, match="never inf"):
        vc.path_length_figure(vc.PathLengthPicture(radii, {"P": radii * np.inf}))
    with pytest.raises(TypeError, match="curves"):
        vc.path_length_figure(vc.PathLengthPicture(radii, {}))
    with pytest.raises(ValueError, match="proved_radius"):
        vc.path_length_figure(vc.PathLengthPicture(radii, {"P": radii}, proved_radius=-1.0))
    with pytest.raises(ValueError, match="active"):
        vc.path_length_figure({1: good, 2: good}, active=2)
    with pytest.raises(TypeError, match="title"):
        vc.path_length_figure(good, title=3)


def test_radius_scaling_figure_carries_the_data_and_the_fits():
    widths = [256, 1024, 4096]
    rc = {"MNIST": [0.01, 0.02, 0.04], "sphere": [0.1, 0.2, 0.4]}
    need = {"MNIST": [5.0, 5.1, 5.2], "sphere": [1.0, 1.0, 1.0]}
    scale = {"MNIST": [1e-4, 2e-4, 4e-4], "sphere": [1e-2, 2e-2, 4e-2]}
    fits = {name: {"radius": fit_power_law(widths, rc[name]),
                   "scale": fit_power_law(widths, scale[name])} for name in rc}
    fig = vc.radius_scaling_figure(widths, rc, need, target_scale=scale, fits=fits)
    by_name = {t.name: t for t in fig.data}
    assert len(fig.data) == 6
    # exponent 0.5 exactly (doubling per factor 4 in width), written rendered in the legend
    assert "MNIST: r<sub>c</sub> ~ m<sup>0.50</sup>" in by_name
    np.testing.assert_allclose(by_name["MNIST: r<sub>c</sub> ~ m<sup>0.50</sup>"].y, rc["MNIST"])
    np.testing.assert_allclose(by_name["sphere: needed d<sub>lin</sub>"].y, need["sphere"])
    np.testing.assert_allclose(by_name["sphere: s* ~ m<sup>0.50</sup>"].y, scale["sphere"])
    assert by_name["sphere: s* ~ m<sup>0.50</sup>"].xaxis == "x2"
    np.testing.assert_array_equal(fig.data[0].x, widths)
    _styles_unique(fig.data)
    for axis in (fig.layout.xaxis, fig.layout.xaxis2, fig.layout.yaxis, fig.layout.yaxis2):
        assert axis.type == "log" and axis.title.text
    _no_raw_scripts(fig)
    # without the scale: one panel
    one = vc.radius_scaling_figure(widths, rc, need)
    assert len(one.data) == 4 and "xaxis2" not in one.layout.to_plotly_json()


def test_radius_scaling_figure_bad_inputs():
    widths = [256, 1024]
    rc, need = {"A": [0.1, 0.2]}, {"A": [1.0, 1.0]}
    with pytest.raises(ValueError, match="widths"):
        vc.radius_scaling_figure([1024, 256], rc, need)
    with pytest.raises(ValueError, match=r"proved_radius\['A'\]"):
        vc.radius_scaling_figure(widths, {"A": [0.1, -0.2]}, need)
    with pytest.raises(ValueError, match=r"needed\['A'\] must hold one value per width"):
        vc.radius_scaling_figure(widths, rc, {"A": [1.0]})
    with pytest.raises(ValueError, match="data sets"):
        vc.radius_scaling_figure(widths, rc, {"B": [1.0, 1.0]})
    with pytest.raises(TypeError, match="PowerLawFit"):
        vc.radius_scaling_figure(widths, rc, need, fits={"A": {"radius": 0.5}})
    with pytest.raises(TypeError, match="proved_radius"):
        vc.radius_scaling_figure(widths, [0.1, 0.2], need)


def test_guarantee_figure(network):
    tb0, outputs, labels, _ = network
    del tb0
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 5))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    mlp = lp.MLP((256,), activation="erf", parameterization="ntk")
    params0 = mlp.init(jax.random.PRNGKey(0), 5, dtype="float64")
    target = bounds.certified_target_scale(mlp, params0, x, labels, grid=8)
    y_ok = outputs + target.scale * labels
    proved = lp.certify(mlp, params0, x, y_ok, step_size=target.step_size)
    failed = lp.certify(mlp, params0, x, outputs + 100 * target.scale * labels,
                        step_size=target.step_size)
    assert proved.proved and not failed.proved
    steps = np.arange(0, 101, 10)
    fig = vc.guarantee_figure(proved, steps)
    (trace,) = fig.data
    np.testing.assert_allclose(trace.y, proved.loss0 * proved.rate ** steps, rtol=1e-12)
    assert "a priori" in trace.name and fig.layout.title.text.startswith("proved")
    assert fig.layout.yaxis.type == "log"
    _no_raw_scripts(fig)
    # not proved: no curve, the failed hypotheses named
    bad = vc.guarantee_figure(failed, steps)
    assert len(bad.data) == 0 and bad.layout.title.text == "not proved"
    failing = [h.name for h in failed.hypotheses if not h.proved]
    assert failing and all(name in bad.layout.annotations[0].text for name in failing)
    both = vc.guarantee_figure({"s*": proved, "100 s*": failed}, steps)
    assert len(both.data) == 1 and both.layout.title.text == "partly proved"
    with pytest.raises(TypeError, match="certificates"):
        vc.guarantee_figure([proved], steps)
    with pytest.raises(ValueError, match="steps"):
        vc.guarantee_figure(proved, [5, 1])
    with pytest.raises(ValueError, match="height"):
        vc.guarantee_figure(proved, steps, height=10)


# ------------------------------------------------------------ estimated constants (chapter 5)

def _estimated_picture():
    """P(μ(r)) = sqrt(2 L0 / (λ0 − L r)) for λ0 = 1, L = 10, L0 = 1e-4 (no bound for r ≥ 0.1)."""
    radii = np.geomspace(1e-3, 1.0, 60)
    mu = 1.0 - 10.0 * radii
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(mu > 0, np.sqrt(2e-4 / np.where(mu > 0, mu, 1.0)), np.nan)
    return radii, p, vc.PathLengthPicture(
        radii, {"sharp bound P(μ(r))": p, "classical bound": 3 * p,
                "not covered here": np.full_like(radii, np.nan)},
        proved_radius=0.02, lines={"estimated radius λ<sub>0</sub>/L̂<sub>Θ</sub>": 0.1,
                                   "measured max drift": 0.003})


def test_estimated_picture_says_estimate_never_proved():
    radii, p, picture = _estimated_picture()
    fig = vc.path_length_figure(picture, estimated=True, axis_range=(-3, 0),
                                title="m = 2048, η = 1/β<sub>0</sub>")
    names = [t.name for t in fig.data]
    assert not any("proved" in n.lower() or "certified" in n.lower() for n in names), names
    assert "P = r (self-consistent below this line)" in names
    assert "estimate" in fig.layout.yaxis.title.text
    (marker,) = [t for t in fig.data if t.mode == "markers"]
    assert marker.name == "r* from the estimates" and list(marker.x) == [0.02]
    (sharp,) = [t for t in fig.data if t.name == "sharp bound P(μ(r))"]
    np.testing.assert_array_equal(sharp.y, p)
    (empty,) = [t for t in fig.data if t.name == "not covered here"]
    assert empty.showlegend is False                      # all NaN: no legend entry
    # the vertical lines sit at their radii and span the fixed y-axis
    assert list(fig.layout.xaxis.range) == [-3, 0] and list(fig.layout.yaxis.range) == [-3, 0]
    for name, r in (("estimated radius λ<sub>0</sub>/L̂<sub>Θ</sub>", 0.1),
                    ("measured max drift", 0.003)):
        (line,) = [t for t in fig.data if t.name == name]
        assert list(line.x) == [r, r]
        np.testing.assert_allclose(line.y, [1e-3, 1.0])
    _styles_unique([t for t in fig.data if t.showlegend is not False])
    _no_raw_scripts(fig)
    # the proved wording is unchanged by default
    proved = vc.path_length_figure(picture)
    assert "proved radius" in [t.name for t in proved.data]
    assert proved.layout.yaxis.title.text == "path-length bound P(r)"


def test_estimated_slider_keeps_lines_and_axes_fixed():
    _, _, picture = _estimated_picture()
    fig = vc.path_length_figure({64: picture, 2048: picture}, estimated=True,
                                axis_range=(-3, 0), label="width m", active=1,
                                title_at=lambda m: f"m = {m}")
    assert fig.layout.sliders[0].active == 1
    lines = [t for t in fig.data if t.name == "measured max drift"]
    assert len(lines) == 2
    for line in lines:
        np.testing.assert_allclose(line.y, [1e-3, 1.0])
    assert list(fig.layout.yaxis.range) == [-3, 0]


def test_estimated_and_lines_bad_inputs():
    radii = np.geomspace(1e-3, 1e-1, 4)
    good = vc.PathLengthPicture(radii, {"P": radii})
    with pytest.raises(TypeError, match="estimated"):
        vc.path_length_figure(good, estimated="yes")
    with pytest.raises(TypeError, match="estimated"):
        vc.path_length_traces(good, estimated=1)
    with pytest.raises(ValueError, match="axis_range"):
        vc.path_length_figure(good, axis_range=(2, -3))
    with pytest.raises(TypeError, match="axis_range"):
        vc.path_length_figure(good, axis_range=3)
    with pytest.raises(ValueError, match=r"lines\['drift'\]"):
        vc.path_length_figure(vc.PathLengthPicture(radii, {"P": radii}, lines={"drift": -1.0}))
    with pytest.raises(TypeError, match="lines"):
        vc.path_length_figure(vc.PathLengthPicture(radii, {"P": radii}, lines=[0.1]))
