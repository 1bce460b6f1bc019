"""Tests for lplr_core.viz.spectra: kernel spectra and quantities over widths.

Traces are checked against the inputs recomputed independently (NumPy sorting and means),
and against the core's own NTK eigenvalues of a small network.
"""

import re

import numpy as np
import pytest

go = pytest.importorskip("plotly.graph_objects")

import jax  # noqa: E402

import lplr_core as lp  # noqa: E402
from lplr_core.viz import spectra as vs  # noqa: E402

RAW = re.compile(r"[_^]")


def _texts(fig):
    texts = [fig.layout.title.text] + [a.text for a in fig.layout.annotations]
    for key in fig.layout:
        if key.startswith(("xaxis", "yaxis")):
            texts.append(fig.layout[key].title.text)
    texts += [t.name for t in fig.data]
    if fig.layout.sliders:
        texts.append(fig.layout.sliders[0].currentvalue.prefix)
    return [t for t in texts if t]


def _no_raw(fig):
    for text in _texts(fig):
        assert not RAW.search(re.sub(r"<[^>]*>", "", text)), text
    for key in fig.layout:
        if key.startswith(("xaxis", "yaxis")):
            assert fig.layout[key].title.text, key


def test_spectrum_figure_sorts_eigenvalues_of_a_real_kernel():
    x = jax.random.normal(jax.random.PRNGKey(0), (6, 3))
    mlp = lp.MLP((16,), activation="erf", parameterization="ntk")
    params = mlp.init(jax.random.PRNGKey(1), 3)
    eigs = np.asarray(lp.ntk.ntk_eigenvalues(lp.empirical_ntk(mlp.apply, params, x)))
    limit = np.asarray(lp.ntk.ntk_eigenvalues(lp.infinite_width_ntk(mlp, x)))
    fig = vs.spectrum_figure({"m = 16": eigs}, limit=limit, title="m = 16")
    (lim,) = [t for t in fig.data if t.name == "Θ<sub>∞</sub>"]
    (emp,) = [t for t in fig.data if t.name == "m = 16"]
    np.testing.assert_allclose(emp.y, sorted(eigs, reverse=True))
    np.testing.assert_allclose(lim.y, sorted(limit, reverse=True))
    np.testing.assert_array_equal(emp.x, np.arange(1, 7))
    lo, hi = fig.layout.yaxis.range
    positive = np.r_[eigs, limit]
    positive = positive[positive > 0]
    assert lo == pytest.approx(np.log10(positive.min()) - 0.1)
    assert hi == pytest.approx(np.log10(positive.max()) + 0.1)
    assert (lim.line.color, lim.line.dash) != (emp.line.color, emp.line.dash)
    _no_raw(fig)


def test_spectrum_slider_one_trace_per_width_and_fixed_range():
    eigs = {8: [1.0, 3.0, 2.0], 16: [0.5, 4.0, 2.0]}
    fig = vs.spectrum_slider(eigs, limit=[1.0, 2.0, 3.5], active=1,
                             title_at=lambda w: f"m = {w}")
    assert len(fig.data) == 3 and len(fig.layout.sliders[0].steps) == 2
    assert list(fig.data[2].y) == [4.0, 2.0, 0.5]
    assert fig.data[2].visible is True and fig.data[1].visible is False
    assert fig.layout.yaxis.range[0] == pytest.approx(np.log10(0.5) - 0.1)
    assert fig.layout.yaxis.range[1] == pytest.approx(np.log10(4.0) + 0.1)
    _no_raw(fig)


def test_width_figure_seeds_means_guide_and_levels():
    widths = np.array([10.0, 40.0, 160.0])
    values = np.array([[1.0, 3.0], [0.5, 1.5], [0.25, 0.75]])
    fig = vs.width_figure([
        vs.width_panel("distance", "δ<sub>m</sub>", {"": (widths, values)}, guide=-0.5),
        vs.width_panel("gap", "λ<sub>0</sub>", {"": (widths, values)}, log=False,
                       levels={"λ<sub>∞</sub>": 2.0}),
    ])
    means = [t for t in fig.data if t.name and t.name.startswith("mean of 2 seeds")]
    assert len(means) == 2
    np.testing.assert_allclose(means[0].y, values.mean(axis=1))
    dots = [t for t in fig.data if t.mode == "markers"]
    assert len(dots) == 4
    assert sum(t.showlegend is not False for t in dots) == 1   # one legend entry
    (guide,) = [t for t in fig.data if t.name and t.name.startswith("∝")]
    assert guide.name == "∝ m<sup>−1/2</sup>"
    np.testing.assert_allclose(guide.y, 2.0 * (widths / 10.0) ** -0.5)
    (lvl,) = [t for t in fig.data if t.name == "λ<sub>∞</sub>"]
    assert list(lvl.y) == [2.0, 2.0]
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert fig.layout.yaxis2.type == "linear"
    narrow = vs.width_figure([vs.width_panel("d", "δ", {"": (widths, [1.0, 2.0, 3.5])})])
    assert narrow.layout.yaxis.dtick is None     # less than a decade: plotly's own ticks
    wide = vs.width_figure([vs.width_panel("d", "δ", {"": (widths, [1.0, 0.1, 0.01])})])
    assert wide.layout.yaxis.dtick == "D2"       # two decades: 1, 2, 5 labels only
    _no_raw(fig)


def test_width_figure_normalize_and_shared_series_style():
    w = [64, 128, 256]
    fig = vs.width_figure([
        vs.width_panel("a", "ratio", {"ReLU": (w, [2.0, 4.0, 8.0]), "erf": (w, [1.0, 1.0, 2.0])},
                       normalize=True),
        vs.width_panel("b", "change", {"ReLU": (w, [0.1, 0.2, 0.3]), "erf": (w, [1, 2, 3])}),
    ])
    relu = [t for t in fig.data if t.name == "ReLU"]
    np.testing.assert_allclose(relu[0].y, [1.0, 2.0, 4.0])
    assert len({(t.line.color, t.line.dash) for t in relu}) == 1
    assert sum(t.showlegend is not False for t in relu) == 1
    erf = [t for t in fig.data if t.name == "erf"][0]
    assert (erf.line.color, erf.line.dash) != (relu[0].line.color, relu[0].line.dash)


@pytest.mark.parametrize("call, error, words", [
    (lambda: vs.spectrum_figure({}), TypeError, "spectra"),
    (lambda: vs.spectrum_figure({"a": [[1.0]]}), ValueError, "spectra['a']"),
    (lambda: vs.spectrum_figure({"a": [1.0, np.nan]}), ValueError, "finite"),
    (lambda: vs.spectrum_figure({"a": [1.0]}, limit="x"), TypeError, "limit"),
    (lambda: vs.spectrum_slider([1, 2]), TypeError, "spectra"),
    (lambda: vs.width_panel("t", "y", {"a": ([1, 2], [1.0])}), ValueError, "shape"),
    (lambda: vs.width_panel("t", "y", {"a": ([0, 2], [1.0, 2.0])}), ValueError, "positive"),
    (lambda: vs.width_panel("t", "y", {"a": ([1, 2], [-1.0, 2.0])}), ValueError, "> 0"),
    (lambda: vs.width_panel("t", "y", {"a": [1, 2, 3]}), TypeError, "pair"),
    (lambda: vs.width_panel("", "y", {"a": ([1], [1.0])}), TypeError, "title"),
    (lambda: vs.width_panel("t", "y", {"a": ([1], [1.0])}, levels={"l": 0.0}), ValueError,
     "levels['l']"),
    (lambda: vs.width_figure([]), ValueError, "panels"),
    (lambda: vs.width_figure(["p"]), TypeError, "panels[0]"),
])
def test_bad_inputs(call, error, words):
    with pytest.raises(error, match=re.escape(words)):
        call()
