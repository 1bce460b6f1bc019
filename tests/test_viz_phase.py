"""Tests for lplr_core.viz.phase: the phase diagram's heatmap, width trends, run figure, tables.

Diagrams are built by hand (a PhaseDiagram from known arrays, no training), so every number a
trace or a table carries is recomputed here with NumPy from those arrays.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

go = pytest.importorskip("plotly.graph_objects")

from lplr_core import training  # noqa: E402
from lplr_core.phase import REGIMES, PhaseDiagram, label_run  # noqa: E402
from lplr_core.viz import phase as vphase  # noqa: E402
from lplr_core.viz.tables import MISSING, Table  # noqa: E402

WIDTHS = np.array([16, 64, 256])
MULTIPLES = np.array([0.5, 1.0, 1.9, 2.5, 4.0])
SEEDS = np.array([0, 1])


def make_diagram(parameterization="ntk", seed=0):
    rng = np.random.default_rng(seed)
    shape = (len(WIDTHS), len(MULTIPLES), len(SEEDS))
    flags = {name: rng.random(shape) < 0.5 for name in REGIMES}
    flags["diverged"][:, -1, :] = True            # every run at c = 4 diverged
    flags["diverged"][:, 0, :] = False
    return PhaseDiagram(
        widths=WIDTHS, step_multiples=MULTIPLES, seeds=SEEDS,
        beta0=rng.uniform(5, 15, (3, 2)), lambda0=rng.uniform(0.01, 0.1, (3, 2)),
        param_norm0=rng.uniform(20, 40, (3, 2)), step_sizes=rng.uniform(0.01, 1, (3, 5)),
        radius=np.full((3, 2), 0.3), **flags,
        lipschitz=rng.uniform(0.01, 1.0, shape), max_drift=rng.uniform(0.01, 3.0, shape),
        mu_hat=rng.normal(0, 0.1, shape), radius_hat=rng.uniform(0.1, 2, shape),
        rate=rng.uniform(0.5, 1, shape), r2=rng.uniform(0, 1, shape),
        loss_ratio=rng.uniform(0, 1, shape), config={"parameterization": parameterization})


@pytest.fixture(scope="module")
def diagrams():
    return {"ntk": make_diagram("ntk", 0), "standard": make_diagram("standard", 1)}


def _raw_markup(text):
    """Raw TeX-like sub/superscripts: an underscore or caret outside HTML tags."""
    return re.search(r"[_^]", re.sub(r"<[^>]*>", "", text or "")) is not None


# --------------------------------------------------------------------------- heatmap

def test_heatmap_traces_carry_the_fractions(diagrams):
    fig = vphase.regime_heatmap(diagrams)
    grid = [(k, r) for k in diagrams for r in REGIMES]
    heatmaps = [t for t in fig.data if isinstance(t, go.Heatmap)]
    assert len(heatmaps) == len(grid) == len(fig.layout.sliders[0].steps)
    for trace, (key, regime) in zip(heatmaps, grid):
        expected = getattr(diagrams[key], regime).astype(float).mean(axis=2)
        np.testing.assert_allclose(np.asarray(trace.z, dtype=float), expected)
        assert list(trace.x) == ["0.5", "1", "1.9", "2.5", "4"]
        assert list(trace.y) == ["16", "64", "256"]
        assert [list(r) for r in trace.text] == [[f"{v:.2f}" for v in row] for row in expected]
        assert trace.zmin == 0 and trace.zmax == 1
    # the slider's titles name the parameterization and the regime, with no raw markup
    for step, (key, regime) in zip(fig.layout.sliders[0].steps, grid):
        title = step.args[1]["title.text"] if "title.text" in step.args[1] else \
            step.args[1]["title"]["text"]
        assert f"{key} parameterization" in title and vphase.REGIME_NAMES[regime] in title
        assert not _raw_markup(title)
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    assert not _raw_markup(fig.layout.xaxis.title.text)


def test_heatmap_edge_line_between_the_categories(diagrams):
    fig = vphase.regime_heatmap(diagrams)
    (shape,) = fig.layout.shapes
    # c = 2 lies between 1.9 (index 2) and 2.5 (index 3)
    assert shape.x0 == shape.x1 == 2.5 and shape.line.dash == "dash"
    assert not vphase.regime_heatmap(diagrams, edge=10.0).layout.shapes
    assert vphase.regime_heatmap(diagrams, edge=1.0).layout.shapes[0].x0 == 1.0


@pytest.mark.parametrize("multiples, edge, expected", [
    ([0.5, 1.0, 1.9, 2.5], 2.0, 2.5), ([1.0, 2.0, 3.0], 2.0, 1.0), ([1.0, 3.0], 0.5, None),
    ([1.0, 3.0], 3.0, 1.0), ([1.0, 3.0, 9.0], 4.0, 1.5)])
def test_edge_position(multiples, edge, expected):
    assert vphase.edge_position(multiples, edge) == expected


def test_single_diagram_is_named_by_its_parameterization():
    fig = vphase.regime_heatmap(make_diagram("standard"), regimes=["linear"])
    assert len(fig.data) == 1 and "standard" in fig.data[0].name


# ----------------------------------------------------------------------- width trends

def test_width_trends_carry_the_means(diagrams):
    fig = vphase.width_trends_figure(diagrams, multiple=1.0, title="means over seeds")
    assert fig.layout.title.text == "means over seeds"
    assert len(fig.data) == 6
    for i, key in enumerate(diagrams):
        d = diagrams[key]
        beta, lam, lip = fig.data[3 * i: 3 * i + 3]
        np.testing.assert_allclose(beta.y, d.beta0.mean(axis=1))
        np.testing.assert_allclose(lam.y, d.lambda0.mean(axis=1))
        np.testing.assert_allclose(lip.y, d.lipschitz[:, 1].mean(axis=1))
        np.testing.assert_allclose(beta.x, WIDTHS)
        assert beta.showlegend and not lam.showlegend and not lip.showlegend
    styles = {(t.line.color, t.line.dash) for t in fig.data if t.showlegend}
    assert len(styles) == 2 and len({c for c, _ in styles}) == 2 and len({d for _, d in styles}) == 2
    for axis in ("xaxis", "xaxis2", "xaxis3", "yaxis", "yaxis2", "yaxis3"):
        assert fig.layout[axis].title.text and fig.layout[axis].type == "log"
    for ann in fig.layout.annotations:
        assert not _raw_markup(ann.text)
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.yref == "container"


# --------------------------------------------------------------------------- tables

def test_fraction_tables_are_the_fractions(diagrams):
    tables = vphase.fraction_tables(diagrams)
    assert len(tables) == 2 * len(REGIMES)
    t = tables[len(REGIMES) + 2]                  # standard, "linear"
    assert "standard" in t.caption and "linear" in t.caption
    frac = diagrams["standard"].linear.astype(float).mean(axis=2)
    assert t.columns == ("m \\ c", "0.5", "1", "1.9", "2.5", "4")
    for i, m in enumerate(WIDTHS):
        assert t.cells[i] == (str(m), *[f"{v:.2f}" for v in frac[i]])


def test_median_relative_drift_is_recomputed(diagrams):
    d = diagrams["ntk"]
    got = vphase.median_relative_drift(d)
    for e in range(len(MULTIPLES)):
        values = [d.max_drift[i, e, s] / d.param_norm0[i, s]
                  for i in range(len(WIDTHS)) for s in range(len(SEEDS))
                  if not d.diverged[i, e, s]]
        if values:
            assert got[e] == pytest.approx(float(np.median(values)), rel=1e-12)
        else:
            assert math.isnan(got[e])
    assert math.isnan(got[-1])                    # every run at c = 4 diverged
    t = vphase.median_drift_table(diagrams)
    assert t.cells[0][0] == "ntk" and t.cells[0][-1] == MISSING and MISSING in t.note
    assert t.cells[0][1] == format(got[0], ".2g")


def test_constants_table(diagrams):
    d = diagrams["standard"]
    t = vphase.constants_table(d, multiple=1.9)
    assert isinstance(t, Table) and "c = 1.9" in t.caption
    i, e = 1, 2
    beta, lam = d.beta0[i].mean(), d.lambda0[i].mean()
    assert t.rows[i][0] == 64
    np.testing.assert_allclose(t.rows[i][1:], [
        beta, lam, d.lipschitz[i, e].mean(), d.max_drift[i, e].mean(),
        (d.max_drift[i, e] / d.param_norm0[i]).mean(), d.mu_hat[i, e].mean(), beta / lam])
    assert t.cells[i][1] == format(beta, ".4g")
    assert "β_0" in repr(t) and "<sub>" not in repr(t)


# ------------------------------------------------------------------------- one cell

def _run(diverge=False):
    t = np.arange(11)
    loss = 0.8 ** t
    drift = 0.1 * (1 - 0.8 ** t)
    diverged_at = None
    if diverge:
        loss, drift, diverged_at = loss[:6] * 10.0 ** np.arange(6), drift[:6], 6
        t = t[:6]
    ntk = t[::2]
    return training.Trajectory(
        loss=loss, grad_norm_sq=loss, drift=drift, relative_drift=drift / 10, pl_ratio=np.ones_like(loss),
        steps=t, lambda_min=np.full(ntk.size, 0.5), lambda_max=np.full(ntk.size, 2.0),
        kernel_drift=0.4 * drift[ntk], ntk_steps=ntk, diverged_at=diverged_at, params=None,
        config={"loss_star": 0.0}, divergence="loss_blowup" if diverge else None)


def test_cell_figure_and_table():
    traj = _run()
    labels = label_run(traj, radius=0.05)
    fig = vphase.cell_figure(traj, labels, radius=0.05, title="m = 64, c = 1")
    names = [t.name or "" for t in fig.data]
    assert any("stated radius" in n for n in names)
    assert any("estimated radius" in n for n in names)
    stated = next(t for t in fig.data if "stated radius" in (t.name or ""))
    assert set(np.asarray(stated.y, dtype=float)) == {0.05}
    estimated = next(t for t in fig.data if "estimated radius" in (t.name or ""))
    np.testing.assert_allclose(np.asarray(estimated.y, dtype=float), labels.radius_hat)
    assert labels.radius_hat == pytest.approx(0.5 / 0.4)     # λ0 / L̂_Θ of the records
    loss = next(t for t in fig.data if np.allclose(np.asarray(t.y, dtype=float), traj.loss))
    np.testing.assert_allclose(loss.x, traj.steps)
    t = vphase.cell_table(labels, beta0=12.0, radius=0.05)
    values = dict(zip((r[0] for r in t.rows), (r[1] for r in t.rows)))
    assert values["max drift r"] == pytest.approx(float(traj.drift.max()))
    assert values["labels"] == ", ".join(vphase.REGIME_NAMES[r] for r in REGIMES
                                         if getattr(labels, r))


def test_cell_figure_cuts_a_diverging_run():
    traj = _run(diverge=True)
    labels = label_run(traj, radius=0.05)
    fig = vphase.cell_figure(traj, labels, radius=0.05)
    xs = np.concatenate([np.asarray(t.x, dtype=float) for t in fig.data if t.x is not None])
    assert np.nanmax(xs) <= 6


# ----------------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("call, error, words", [
    (lambda d: vphase.regime_heatmap({}), TypeError, ["diagrams", "PhaseDiagram"]),
    (lambda d: vphase.regime_heatmap({"a": 3}), TypeError, ["diagrams['a']", "PhaseDiagram"]),
    (lambda d: vphase.regime_heatmap(d, regimes=["stable"]), ValueError, ["regimes", "'stable'"]),
    (lambda d: vphase.regime_heatmap(d, regimes="linear"), TypeError, ["regimes"]),
    (lambda d: vphase.regime_heatmap(d, active=99), ValueError, ["active", "99"]),
    (lambda d: vphase.width_trends_figure(d, multiple=3.0), ValueError,
     ["multiple", "3.0", "[0.5, 1.0, 1.9, 2.5, 4.0]"]),
    (lambda d: vphase.constants_table(d["ntk"], multiple=-1), ValueError, ["multiple"]),
    (lambda d: vphase.median_relative_drift([1]), TypeError, ["diagram", "PhaseDiagram"]),
    (lambda d: vphase.cell_table((1, 2), beta0=1.0, radius=1.0), TypeError, ["labels"]),
    (lambda d: vphase.edge_position([2.0, 1.0], 1.5), ValueError, ["multiples", "increasing"]),
])
def test_bad_inputs_name_the_argument(diagrams, call, error, words):
    with pytest.raises(error) as info:
        call(diagrams)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_diagrams_on_different_grids_are_refused(diagrams):
    other = make_diagram("standard")
    other.step_multiples = MULTIPLES * 2
    with pytest.raises(ValueError, match="one grid"):
        vphase.regime_heatmap({"ntk": diagrams["ntk"], "standard": other})
