"""Tests of lplr_core.viz.report: a NetworkReport as figures.

Each figure's traces are compared with the report's records and constants read
directly, and the overlays (fitted line, D2's bound with the estimates, PL
envelope, estimate μ̂ and radius estimate) with NumPy recomputations from the
report's raw fields: ``np.polyfit`` of the log-suboptimality, the sharp factor
``1 - 2μ̂η(1 - β̂η/2)`` written out, ``np.minimum.accumulate`` of the PL ratio,
``λ_0 - L̂_Θ r`` and ``λ_0 / L̂_Θ``.
"""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

go = pytest.importorskip("plotly.graph_objects")

from lplr_core.check import check_network  # noqa: E402
from lplr_core.viz import report as vrep  # noqa: E402
from lplr_core.viz import trajectory as vtraj  # noqa: E402

jax.config.update("jax_enable_x64", True)


def model(params, x):
    """A two-layer tanh network with a linear skip connection (dict parameters)."""
    hidden = jnp.tanh(x @ params["W"] / jnp.sqrt(x.shape[1]))
    return hidden @ params["a"] / jnp.sqrt(params["a"].shape[0]) + x @ params["v"]


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 10))
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(1), 3)
    params = {"W": jax.random.normal(k1, (10, 24), dtype=jnp.float64),
              "a": jax.random.normal(k2, (24,), dtype=jnp.float64),
              "v": 0.1 * jax.random.normal(k3, (10,), dtype=jnp.float64)}
    y = np.asarray(model(params, x)) + 0.05 * rng.choice([-1.0, 1.0], size=7)
    return params, x, y


@pytest.fixture(scope="module")
def good(problem):
    params, x, y = problem
    return check_network(model, params, x, y, steps=150, record_every=1, ntk_every=10,
                         name="tanh + skip")


@pytest.fixture(scope="module")
def diverged(problem, good):
    params, x, y = problem
    return check_network(model, params, x, y, steps=150, record_every=1, ntk_every=10,
                         step_size=6.0 / good.beta0)


def _on(fig, xaxis):
    return [t for t in fig.data if (t.xaxis or "x") == xaxis]


def _matching(fig, xaxis, x, y):
    """The traces on ``xaxis`` whose data are exactly ``(x, y)``."""
    out = []
    for t in _on(fig, xaxis):
        tx, ty = np.asarray(t.x, float), np.asarray(t.y, float)
        if tx.shape == np.shape(x) and np.array_equal(tx, np.asarray(x, float)) \
                and np.allclose(ty, np.asarray(y, float), rtol=1e-14, equal_nan=True):
            out.append(t)
    return out


def _named(fig, prefix, xaxis=None):
    return [t for t in fig.data if (t.name or "").startswith(prefix)
            and (xaxis is None or (t.xaxis or "x") == xaxis)]


def _texts(fig):
    """Every text a reader sees: title, axis titles, annotations, legend names."""
    out = [fig.layout.title.text or ""]
    for name in dir(fig.layout):
        if re.fullmatch(r"[xy]axis\d*", name):
            out.append(getattr(fig.layout, name).title.text or "")
    out += [a.text or "" for a in fig.layout.annotations]
    out += [t.name or "" for t in fig.data]
    for slider in fig.layout.sliders:
        out.append(slider.currentvalue.prefix or "")
        for step in slider.steps:
            if len(step.args) > 1:
                out.append(step.args[1].get("title.text", ""))
    return out


def test_fixtures_are_what_the_tests_need(good, diverged):
    assert good.consistent and not good.diverged and good.rate_fit is not None
    assert np.isfinite(good.bound_factor) and good.mu_hat > 0
    assert diverged.diverged and not diverged.consistent


# ---------------------------------------------------------------- report_figure

# panels: NTK gap (x, y), drift (x2, y2), PL ratio (x3, y3), suboptimality (x4, y4)

def test_report_figure_traces_carry_the_records(good):
    fig = vrep.report_figure(good)
    t = good.trajectory
    assert _matching(fig, "x", t.ntk_steps, t.lambda_min)
    assert _matching(fig, "x2", t.steps, t.drift)
    assert _matching(fig, "x3", t.steps, t.pl_ratio)
    assert _matching(fig, "x4", t.steps, np.asarray(t.loss) - good.loss_star)
    # the constants, recomputed from the report's raw fields
    mu = good.lambda0 - good.lipschitz * good.radius
    mus = _named(fig, vrep.SERIES["mu_hat"]["name"])
    assert sorted(m.xaxis for m in mus) == ["x", "x3"]              # NTK and PL panels
    assert all(np.allclose(m.y, mu, rtol=1e-12) for m in mus)
    assert sum(m.showlegend is not False for m in mus) == 1        # one legend entry
    (radius,) = _named(fig, "radius r", "x2")
    assert np.allclose(radius.y, good.radius)
    rhat = _named(fig, vrep.SERIES["radius_hat"]["name"], "x2")
    expected = good.lambda0 / good.lipschitz
    if expected <= vrep.RADIUS_HAT_SPAN * max(good.max_drift, good.radius):
        assert len(rhat) == 1 and np.allclose(rhat[0].y, expected, rtol=1e-12)
    else:
        assert not rhat and any(f"{expected:.3g}" in (a.text or "")
                                for a in fig.layout.annotations)
    assert f"{good.model}: consistent" == fig.layout.title.text


def test_report_figure_overlays_recomputed_with_numpy(good):
    fig = vrep.report_figure(good)
    t = good.trajectory
    steps = np.asarray(t.steps, float)
    gap = np.asarray(t.loss) - good.loss_star
    # fitted line: least squares of log(gap) on the fit's window
    fit = good.rate_fit
    window = (steps >= fit.start) & (steps <= fit.stop)
    slope, intercept = np.polyfit(steps[window], np.log(gap[window]), 1)
    (line,) = _named(fig, "fitted rate", "x4")
    assert np.array_equal(line.x, steps[window])
    assert np.allclose(line.y, np.exp(intercept + slope * steps[window]), rtol=1e-8)
    assert f"{math.exp(slope):.4g}" in line.name
    # D2's bound with the estimates: the sharp factor written out
    eta, mu, beta = good.step_size, good.mu_hat, good.beta_hat
    q = 1 - 2 * mu * eta * (1 - beta * eta / 2)
    (bound,) = _named(fig, vrep.SERIES["bound"]["name"], "x4")
    assert np.allclose(bound.y, gap[0] * q ** steps, rtol=1e-9)
    assert f"{q:.4g}" in bound.name
    # the PL envelope on the stable window: a running minimum, ending at the report's value
    stable = (steps >= good.stable_from) & (steps <= good.stable_until)
    (env,) = _named(fig, "lower envelope", "x3")
    rho = np.asarray(t.pl_ratio)[stable]
    assert np.array_equal(env.x, steps[stable])
    assert np.allclose(env.y, np.fmin.accumulate(rho), rtol=0)
    assert env.y[-1] == pytest.approx(good.pl_envelope_min, rel=1e-12)
    # the stable regime is shaded exactly
    rects = {(s.x0, s.x1) for s in fig.layout.shapes if s.type == "rect"}
    assert rects == {(good.stable_from, good.stable_until)}


def test_log_axes_are_clipped_to_the_records(good):
    fig = vrep.report_figure(good)
    low, high = fig.layout.yaxis4.range
    gap = np.asarray(good.trajectory.loss) - good.loss_star
    assert fig.layout.yaxis4.type == "log"
    assert high >= math.log10(gap.max()) and high - low <= vtraj.MAX_DECADES + 0.5
    # never below the round-off floor 1e4 eps (L_0 - L*), though the bound may fall below
    floor = 1e4 * np.finfo(np.float64).eps * gap[0]
    assert low >= math.log10(floor) - 0.5
    (bound,) = _named(fig, vrep.SERIES["bound"]["name"], "x4")
    assert low <= math.log10(max(gap.min(), floor)) + 1e-9


def test_a_diverging_run_is_drawn_to_its_divergence_and_marked(diverged):
    fig = vrep.report_figure(diverged)
    t_div = diverged.diverged_at
    for trace in fig.data:
        if trace.x is not None and len(trace.x):
            assert max(x for x in trace.x if x is not None) < t_div, trace.name
    for axis in ("xaxis", "xaxis2", "xaxis3", "xaxis4"):
        assert getattr(fig.layout, axis).range[1] >= t_div        # the flagged step is in view
    crosses = [t for t in fig.data if t.mode == "markers" and t.marker.symbol == "x"]
    assert len(crosses) == 4                                       # one per panel
    assert any(f"diverged at step {t_div}" in (t.name or "") and t.showlegend
               for t in fig.data)
    assert f"diverged at step {t_div}" in fig.layout.title.text
    low, high = fig.layout.yaxis4.range
    assert high - low <= vtraj.MAX_DECADES + 0.5


def test_every_legend_entry_has_its_own_colour_and_dash(good, diverged):
    styles = [(s["color"], s["dash"]) for s in vrep.SERIES.values()]
    assert len(set(styles)) == len(styles)
    for fig in (vrep.report_figure(good), vrep.report_figure(diverged), vrep.run_figure(good),
                vrep.reports_slider({1.0: good}, label="η")):
        seen = {}
        for trace in fig.data:
            if trace.showlegend is False or not trace.name or trace.line.color is None:
                continue
            style = (trace.line.color, trace.line.dash or "solid")
            assert seen.setdefault(style, trace.name) == trace.name, (style, trace.name)


def test_titles_render_sub_and_superscripts(good, diverged):
    figs = [vrep.report_figure(good), vrep.report_figure(diverged), vrep.run_figure(diverged),
            vrep.reports_slider({1.0: good, 6.0: diverged}, label="η β<sub>0</sub>")]
    for fig in figs:
        for text in _texts(fig):
            assert "_" not in text and "^" not in text, text
    assert "<sub>" in figs[-1].layout.yaxis.title.text


def test_figures_have_axis_titles_and_the_legend_below(good):
    fig = vrep.report_figure(good)
    for name in ("xaxis", "xaxis2", "xaxis3", "xaxis4", "yaxis", "yaxis2", "yaxis3", "yaxis4"):
        assert getattr(fig.layout, name).title.text, name
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.yanchor == "bottom"
    run = vrep.run_figure(good)
    for name in ("xaxis", "xaxis2", "yaxis", "yaxis2"):
        assert getattr(run.layout, name).title.text, name


def test_a_far_radius_estimate_is_named_not_drawn(problem):
    params, x, y = problem
    # a tiny step: the drift stays far inside λ_0 / L̂_Θ
    rep = check_network(model, params, x, y, steps=20, record_every=1, ntk_every=10,
                        step_size=1e-4)
    assert rep.radius_hat > vrep.RADIUS_HAT_SPAN * rep.max_drift
    fig = vrep.report_figure(rep)
    assert not _named(fig, vrep.SERIES["radius_hat"]["name"])
    (note,) = [a for a in fig.layout.annotations if "off the panel" in (a.text or "")]
    assert f"{rep.radius_hat:.3g}" in note.text


# ------------------------------------------------------------------ run_figure

def test_run_figure(good, diverged):
    fig = vrep.run_figure(good)
    t = good.trajectory
    assert _matching(fig, "x", t.steps, np.asarray(t.loss) - good.loss_star)
    assert _matching(fig, "x2", t.steps, t.drift)
    (radius,) = _named(fig, "radius r", "x2")
    assert np.allclose(radius.y, good.radius)
    assert fig.layout.title.text == "consistent"
    assert not _named(vrep.run_figure(good, show_radius=False), "radius r")
    div = vrep.run_figure(diverged, title="η = 6/β<sub>0</sub>")
    assert len([t for t in div.data if t.mode == "markers"]) == 2     # a cross per panel
    assert div.layout.title.text == "η = 6/β<sub>0</sub>"


# -------------------------------------------------------------- reports_slider

def test_reports_slider_shows_one_report_per_step(good, diverged):
    reports = {1.0: good, 6.0: diverged}
    fig = vrep.reports_slider(reports, label="η β<sub>0</sub>", active=6.0)
    (slider,) = fig.layout.sliders
    assert [s.label for s in slider.steps] == ["1", "6"] and slider.active == 1
    for step, rep in zip(slider.steps, reports.values()):
        shown = [tr for tr, vis in zip(fig.data, step.args[0]["visible"]) if vis]
        sub = [tr for tr in shown if (tr.name or "").startswith("measured")]
        assert len(sub) == 1
        assert np.allclose(sub[0].y, np.asarray(rep.trajectory.loss) - rep.loss_star)
        assert vrep.verdict_text(rep) in step.args[1]["title.text"]
    # fixed axes that hold every report's records (clipped): the plot area does not move
    low, high = fig.layout.yaxis.range
    top = np.nanmax(np.asarray(good.trajectory.loss) - good.loss_star)
    assert high >= math.log10(top) and high - low <= vtraj.MAX_DECADES + 0.5
    # the diverging report leaves through the top, a few decades above the converging one
    start = np.asarray(diverged.trajectory.loss)[0] - diverged.loss_star
    blowup = np.nanmax(np.asarray(diverged.trajectory.loss) - diverged.loss_star)
    cap = math.log10(max(top, start)) + vtraj.HEADROOM_DECADES
    assert math.log10(blowup) > cap
    assert high == pytest.approx(cap + 0.15, abs=0.01)
    assert fig.layout.yaxis2.range is not None
    assert fig.layout.title.text.startswith("η β<sub>0</sub> = 6: diverged at step")


def test_verdict_text(good, diverged):
    assert vrep.verdict_text(good) == "consistent"
    text = vrep.verdict_text(diverged)
    assert text.startswith(f"diverged at step {diverged.diverged_at}")
    assert "η < 2/β̂" in text                     # the step-size hypothesis, which failed
    assert diverged.verdict("step_size_stable").holds is False


def test_markup():
    assert vrep.markup("λ_0 > 0") == "λ<sub>0</sub> > 0"
    assert vrep.markup("max_t d_t ≤ r") == "max<sub>t</sub> d<sub>t</sub> ≤ r"
    assert vrep.markup("L̂_Θ r < λ_0") == "L̂<sub>Θ</sub> r < λ<sub>0</sub>"
    assert vrep.markup("‖Θ_t − Θ_0‖_{op}, q^t") == (
        "‖Θ<sub>t</sub> − Θ<sub>0</sub>‖<sub>op</sub>, q<sup>t</sup>")
    with pytest.raises(TypeError, match="text must be a str"):
        vrep.markup(3)


# ---------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("call, exc, match", [
    (lambda g: vrep.report_figure("report"), TypeError, "report must be a lplr_core.check"),
    (lambda g: vrep.report_figure(g, title=3), TypeError, "title must be a str"),
    (lambda g: vrep.report_figure(g, height=50), ValueError, "height must be an int >= 200"),
    (lambda g: vrep.report_figure(g, height=True), ValueError, "height must be an int"),
    (lambda g: vrep.run_figure(None), TypeError, "report must be"),
    (lambda g: vrep.run_figure(g, show_radius="yes"), TypeError, "show_radius must be a bool"),
    (lambda g: vrep.verdict_text({}), TypeError, "report must be"),
    (lambda g: vrep.reports_slider({}, label="η"), ValueError, "reports must be a non-empty"),
    (lambda g: vrep.reports_slider([g], label="η"), ValueError, "reports must be a non-empty"),
    (lambda g: vrep.reports_slider({1.0: "r"}, label="η"), TypeError,
     r"reports\[1.0\] must be a lplr_core.check.NetworkReport"),
    (lambda g: vrep.reports_slider({1.0: g}, label=""), ValueError, "label must be"),
    (lambda g: vrep.reports_slider({1.0: g}, label="η", active=2.0), ValueError,
     r"active must be one of the keys of reports \[1.0\]; got 2.0"),
    (lambda g: vrep.reports_slider({1.0: g}, label="η", title_at="x"), TypeError,
     "title_at must be callable"),
])
def test_bad_inputs_name_the_argument(good, call, exc, match):
    with pytest.raises(exc, match=match):
        call(good)


# ----------------------------------------------------------------- reports_table

def test_reports_table_rows_are_the_reports_numbers(good, diverged):
    tab = vrep.reports_table({"good": good, "too large a step": diverged}, caption="two runs")
    text = str(tab)
    lines = text.splitlines()
    assert lines[0] == "two runs"
    good_line = next(line for line in lines if line.startswith("good"))
    for number in (f"{good.lambda0:.3g}", f"{good.step_size * good.beta_hat:.3g}",
                   f"{good.max_drift:.3g}", f"{good.lambda0 - good.lipschitz * good.radius:.3g}",
                   f"{good.rate_fit.rate:.4g}", f"{good.rate_fit.r2:.2f}"):
        assert number in good_line, (number, good_line)
    assert good_line.rstrip().endswith("consistent")
    assert " PASS " in good_line
    bad_line = next(line for line in lines if line.startswith("too large a step"))
    assert f"diverged at step {diverged.diverged_at}" in bad_line
    assert f"{diverged.max_drift:.3g}" not in bad_line and "–" in bad_line
    html = tab._repr_html_()
    assert "λ<sub>0</sub>" in html and "<table" in html
    with pytest.raises(ValueError, match="reports must be a non-empty mapping"):
        vrep.reports_table({})
    with pytest.raises(TypeError, match=r"reports\['x'\] must be a lplr_core.check"):
        vrep.reports_table({"x": 1})
    with pytest.raises(TypeError, match="reports' keys must be non-empty str"):
        vrep.reports_table({2.0: good})
    with pytest.raises(ValueError, match="label must be a non-empty str"):
        vrep.reports_table({"a": good}, label="")
    assert str(vrep.reports_table({"1": good}, label="η β<sub>0</sub>")).startswith("η β_0")


def test_reports_table_marks_a_singular_ntk(problem):
    params, x, y = problem
    xd, yd = np.array(x), np.array(y)
    xd[1], yd[1] = xd[0], yd[0] + 0.5            # the same input, two targets: λ_0 = 0
    rep = check_network(model, params, xd, yd, steps=30, record_every=1, ntk_every=10)
    assert not rep.lambda0 > rep.lambda_tol
    line = str(vrep.reports_table({"dup": rep})).splitlines()[2]
    assert line.split()[1] == "≈"
