"""Tests for lplr_core.viz.trajectory: the figures of training runs.

The data each trace carries is checked against values recomputed independently: the closed
form of gradient descent on a linear least-squares model (L_t = (1 - η)^(2t) with X = I,
y = 1, θ_0 = 0), NumPy's running minimum for the PL envelope, a NumPy line fit for the rate.
"""

import math
import re

import numpy as np
import pytest

go = pytest.importorskip("plotly.graph_objects")

import jax.numpy as jnp  # noqa: E402

from lplr_core.diagnostics import fit_linear_rate  # noqa: E402
from lplr_core.summary import summarize_run  # noqa: E402
from lplr_core.training import Trajectory, gradient_descent  # noqa: E402
from lplr_core.viz import trajectory as vt  # noqa: E402

STEPS = 40


def _linear_run(step_size, steps=STEPS, **kw):
    """GD on L(w) = ½‖w − 1‖² in R², from w = 0."""
    return gradient_descent(lambda p, x: x @ p["w"], {"w": jnp.zeros(2, jnp.float64)},
                            jnp.eye(2, dtype=jnp.float64), jnp.ones(2, jnp.float64),
                            step_size=step_size, steps=steps, **kw)


def _closed_form(step_size, t):
    t = np.asarray(t, float)
    c = (1.0 - step_size) ** t
    return dict(loss=c ** 2, grad_norm_sq=2 * c ** 2, pl_ratio=np.ones_like(t),
                drift=math.sqrt(2) * np.abs(1 - c))


def _traces(fig, name_part=None, *, xaxis=None):
    out = [t for t in fig.data if t.x is not None and len(t.x) and t.x[0] is not None]
    if name_part is not None:
        out = [t for t in out if t.name and name_part in t.name]
    if xaxis is not None:
        out = [t for t in out if t.xaxis == xaxis]
    return out


def _panel_axis(fig, title):
    """The x-axis id ("x", "x2", ...) of the subplot titled ``title`` (found from the layout)."""
    (ann,) = [a for a in fig.layout.annotations if a.text == title]
    for key in fig.layout:
        if not key.startswith("xaxis"):
            continue
        xdom = fig.layout[key].domain
        ydom = fig.layout["yaxis" + key[5:]].domain
        if xdom[0] <= ann.x <= xdom[1] and abs(ydom[1] - ann.y) < 1e-6:
            return "x" + key[5:]
    raise AssertionError(f"no panel titled {title!r}")


# ----------------------------------------------------------------- what is drawn

def test_single_run_traces_carry_the_closed_form():
    eta = 0.3
    run = _linear_run(eta)
    fig = vt.diagnostics_figure(run)
    want = _closed_form(eta, np.arange(STEPS + 1))
    for panel, key in (("suboptimality", "loss"), ("squared gradient norm", "grad_norm_sq"),
                       ("PL ratio", "pl_ratio"), ("parameter drift", "drift")):
        axis = _panel_axis(fig, panel)
        (trace,) = [t for t in fig.data if t.xaxis == axis and t.name == panel]
        np.testing.assert_array_equal(trace.x, np.arange(STEPS + 1))
        np.testing.assert_allclose(np.asarray(trace.y, float), want[key], rtol=1e-9, atol=1e-15)


def test_suboptimality_subtracts_loss_star_and_loss_panel_does_not():
    run = _linear_run(0.3)
    fig = vt.diagnostics_figure(run, panels=("loss", "suboptimality"), loss_star=0.25)
    loss = np.asarray(run.loss)
    (a,) = [t for t in fig.data if t.name == "loss"]
    (b,) = [t for t in fig.data if t.name == "suboptimality"]
    np.testing.assert_allclose(a.y, loss)
    np.testing.assert_allclose(b.y, loss - 0.25)


def test_summary_draws_envelope_fit_and_stable_regime():
    # a run whose PL ratio varies: loss 0.9^t with a wiggle, records by hand
    t = np.arange(60)
    loss = 0.9 ** t * (1 + 0.3 * np.sin(t))
    rho = 0.5 + 0.3 * np.cos(0.7 * t)
    traj = Trajectory(loss=loss, grad_norm_sq=2 * rho * loss, drift=np.sqrt(t),
                      relative_drift=np.sqrt(t) / 10, pl_ratio=rho, steps=t,
                      lambda_min=np.zeros(0), lambda_max=np.zeros(0),
                      kernel_drift=np.zeros(0), ntk_steps=np.zeros(0, int), diverged_at=None,
                      params={"w": np.zeros(2)})
    s = summarize_run(traj, stable_from=10)
    fig = vt.diagnostics_figure(traj, summary=s)
    (env,) = _traces(fig, "lower envelope")
    first, stop = s.window
    np.testing.assert_allclose(env.y, np.minimum.accumulate(rho[first:stop]))
    np.testing.assert_array_equal(env.x, t[first:stop])
    (fit,) = _traces(fig, "fitted rate")
    window = t[(t >= 10) & (t <= s.stable_until)]
    slope, intercept = np.polyfit(window, np.log(loss[window]), 1)
    np.testing.assert_allclose(fit.y, np.exp(intercept + slope * window), rtol=1e-9)
    assert f"{math.exp(slope):.4g}" in fit.name
    shaded = [sh for sh in fig.layout.shapes if sh.type == "rect"]
    assert len(shaded) == 4 and all((sh.x0, sh.x1) == (10, s.stable_until) for sh in shaded)
    assert _traces(fig, "stable regime") or any("stable regime" in (d.name or "")
                                                 for d in fig.data)


def test_stable_from_without_summary_computes_the_envelope():
    t = np.arange(30)
    rho = 1 + 0.5 * np.sin(t)
    run = dict(steps=t, loss=0.8 ** t, pl_ratio=rho, drift=t / 10.0, grad_norm_sq=0.8 ** t)
    fig = vt.diagnostics_figure(run, panels=("pl_ratio",), stable_from=5)
    (env,) = _traces(fig, "lower envelope")
    np.testing.assert_allclose(env.y, np.minimum.accumulate(rho[5:]))


def test_ntk_panels_read_the_ntk_records():
    run = _linear_run(0.3, ntk_every=10)
    fig = vt.diagnostics_figure(run, panels=("lambda_min", "lambda_max"))
    (lo,) = [t for t in fig.data if t.name == "NTK spectral gap"]
    np.testing.assert_array_equal(lo.x, [0, 10, 20, 30, 40])
    np.testing.assert_allclose(lo.y, np.ones(5))  # Θ = X Xᵀ = I for a linear model


def test_several_runs_get_distinct_colour_and_dash_and_their_overlays():
    runs = {"η = 0.2": _linear_run(0.2), "η = 0.5": _linear_run(0.5)}
    fig = vt.diagnostics_figure(runs, panels=("loss", "drift"), overlays=[
        vt.level("drift", 1.0, "r", run="η = 0.2"), vt.level("drift", 1.2, "r", run="η = 0.5")])
    mains = [t for t in fig.data if t.name in runs and t.xaxis == "x"]
    styles = {(t.line.color, t.line.dash) for t in mains}
    assert len(mains) == 2 and len(styles) == 2
    assert len({c for c, _ in styles}) == 2 and len({d for _, d in styles}) == 2
    levels = [t for t in fig.data if t.name == "r" and t.x[0] is not None]
    assert sorted(t.y[0] for t in levels) == [1.0, 1.2]
    by_run = {t.legendgroup: t for t in levels}
    for name in runs:
        (main,) = [t for t in mains if t.name == name]
        assert by_run[name].line.color == main.line.color
    # one grey key entry says what the per-run line is
    keys = [t for t in fig.data if t.name == "r" and t.x[0] is None]
    assert len(keys) == 1 and keys[0].showlegend is not False


def test_curve_overlay_values_and_default_x():
    run = _linear_run(0.3)
    bound = 0.8 ** np.arange(STEPS + 1)
    fig = vt.diagnostics_figure(run, panels=("suboptimality",),
                                overlays=[vt.curve("suboptimality", bound, "bound")])
    (b,) = _traces(fig, "bound")
    np.testing.assert_allclose(b.y, bound)
    np.testing.assert_array_equal(b.x, np.arange(STEPS + 1))


# ---------------------------------------------------------------------- divergence

def test_diverging_run_stops_at_its_flag_and_is_marked():
    run = _linear_run(2.5, steps=60)            # |1 − η| = 1.5: L_t = 1.5^(2t) blows up
    assert run.diverged                           # flagged by the core (blow-up rule)
    d = run.diverged_at
    fig = vt.diagnostics_figure({"converges": _linear_run(0.5, steps=60), "diverges": run},
                                panels=("suboptimality", "drift"))
    lines = [t for t in fig.data if t.name and t.name.startswith("diverges")]
    assert lines and all("diverged at step" in t.name for t in lines)
    for t in lines:
        assert max(t.x) < d
        assert np.all(np.isfinite(np.asarray(t.y, float)))
    crosses = [t for t in fig.data if t.marker is not None and t.marker.symbol == "x"]
    assert len(crosses) == 2
    assert all(c.x[0] == d - 1 for c in crosses)
    # the log axis is not stretched by the blow-up: at most HEADROOM decades above the
    # converging run's first value (L_0 = 1), and the cross is pinned inside it
    top = fig.layout.yaxis.range[1]
    assert top <= math.log10(1.0) + vt.HEADROOM_DECADES + 0.2
    sub_cross = [c for c in crosses if c.xaxis == "x"][0]
    assert sub_cross.y[0] <= 10 ** top * (1 + 1e-12)
    # the linear drift axis is clipped too, not stretched to the diverging drift
    drift_div = max(t for t in lines if t.xaxis == "x2").y
    assert fig.layout.yaxis2.range[1] < max(drift_div)


def test_sweep_padding_with_nan_is_cut_at_diverged_at():
    t = np.arange(10)
    loss = np.r_[2.0 ** t[:6], [np.nan] * 4]
    run = dict(steps=t, loss=loss, drift=np.r_[t[:6], [np.nan] * 4] * 1.0, diverged_at=6,
               divergence="blowup")
    fig = vt.diagnostics_figure(run, panels=("suboptimality", "drift"))
    line = [t for t in fig.data if t.name and "diverged at step 6, blowup" in t.name]
    assert line and list(line[0].x) == list(range(6))


# ------------------------------------------------------------------------ log axes

def test_log_range_caps_decades_and_respects_floor():
    data = np.logspace(-40, 2, 50)
    lo, hi = vt.log_range(data)
    assert hi == pytest.approx(2 + 0.15)
    assert hi - lo <= vt.MAX_DECADES + 0.31
    lo, hi = vt.log_range(data, floor=1e-6)
    assert lo == pytest.approx(-6 - 0.15)
    assert vt.log_range(np.array([0.0, -1.0, np.nan])) is None
    lo, hi = vt.log_range(data, top=10.0)
    assert hi == pytest.approx(1 + 0.15)


def test_suboptimality_axis_uses_the_summary_round_off_floor():
    run = _linear_run(0.9, steps=40)          # gap 0.01^t: far below the floor quickly
    s = summarize_run(run)
    fig = vt.diagnostics_figure(run, panels=("suboptimality",), summary=s)
    assert fig.layout.yaxis.range[0] == pytest.approx(math.log10(s.round_off_floor) - 0.15)


# ----------------------------------------------------------- bound and rate figures

def test_suboptimality_figure_factor_bound_and_fit():
    run = _linear_run(0.3)
    fit = fit_linear_rate(run.loss, steps=run.steps, start=5)
    fig = vt.suboptimality_figure(run, bounds={"q = 0.6": 0.6, "array": np.ones(STEPS + 1)},
                                  fit=fit)
    (q,) = _traces(fig, "q = 0.6")
    np.testing.assert_allclose(q.y, 0.6 ** np.arange(STEPS + 1) * float(run.loss[0]))
    (a,) = _traces(fig, "array")
    np.testing.assert_allclose(a.y, 1.0)
    (f,) = _traces(fig, "fitted rate")
    assert f"{0.49:.4g}" in f.name   # (1 − 0.3)² = 0.49 per step, exactly geometric
    assert len({(t.line.color, t.line.dash) for t in fig.data}) == len(fig.data)


def test_suboptimality_traces_go_on_the_given_axes():
    traces = vt.suboptimality_traces(_linear_run(0.3), bounds={"b": 0.5}, xaxis="x2",
                                     yaxis="y2")
    assert all(t.xaxis == "x2" and t.yaxis == "y2" for t in traces)


def test_rate_fit_figure_factors():
    run = _linear_run(0.3)
    s = summarize_run(run)
    fig = vt.rate_fit_figure(run, summary=s)
    (factors,) = _traces(fig, "measured per-step factor")
    gap = np.asarray(run.loss)
    ok = gap[1:] > s.round_off_floor
    want = np.where(ok, gap[1:] / gap[:-1], np.nan)
    np.testing.assert_allclose(np.asarray(factors.y, float), want, rtol=1e-9)
    np.testing.assert_allclose(np.asarray(factors.y, float)[ok], 0.49, rtol=1e-9)


def test_results_runs_splits_a_stored_sweep():
    results = {"steps": np.arange(5), "ntk_steps": np.array([0, 4]),
               "loss": np.arange(10.0).reshape(2, 5), "diverged_at": np.array([-1, 3]),
               "lambda_min": np.ones((2, 2)), "width": np.array([8, 16]), "meta": 3.0}
    runs = vt.results_runs(results, ["a", "b"])
    np.testing.assert_array_equal(runs["b"]["loss"], [5, 6, 7, 8, 9])
    assert runs["b"]["diverged_at"] == 3 and runs["a"]["width"] == 8
    np.testing.assert_array_equal(runs["a"]["steps"], np.arange(5))
    fig = vt.diagnostics_figure(runs, panels=("loss",))
    (b,) = [t for t in fig.data if t.name and t.name.startswith("b")]
    assert list(b.x) == [0, 1, 2]


# -------------------------------------------------------------------------- style

_RAW = re.compile(r"[_^]")


def _texts(fig):
    texts = [fig.layout.title.text] + [a.text for a in fig.layout.annotations]
    for key in fig.layout:
        if key.startswith(("xaxis", "yaxis")):
            texts.append(fig.layout[key].title.text)
    texts += [t.name for t in fig.data]
    return [t for t in texts if t]


@pytest.mark.parametrize("make", [
    lambda r, s: vt.diagnostics_figure(r, summary=s, title="η = 1/β<sub>0</sub>"),
    lambda r, s: vt.diagnostics_figure(r, panels=tuple(vt.PANELS)),
    lambda r, s: vt.suboptimality_figure(r, bounds={"q<sup>t</sup>": 0.5}),
    lambda r, s: vt.rate_fit_figure(r, summary=s),
])
def test_titles_have_no_raw_sub_or_superscripts_and_every_axis_a_title(make):
    run = _linear_run(0.3, ntk_every=10)
    fig = make(run, summarize_run(run))
    for text in _texts(fig):
        stripped = re.sub(r"<[^>]*>", "", text)
        assert not _RAW.search(stripped), text
    for key in fig.layout:
        if key.startswith(("xaxis", "yaxis")):
            assert fig.layout[key].title.text, key
    legend = fig.layout.legend
    assert legend.orientation == "h" and legend.yref == "container" and legend.y == 0
    assert fig.layout.margin.b >= 64


# ---------------------------------------------------------------------- bad input

@pytest.mark.parametrize("call, error, words", [
    (lambda r: vt.diagnostics_figure(3), TypeError, "runs must be"),
    (lambda r: vt.diagnostics_figure(r, panels="loss"), ValueError, "panels must be"),
    (lambda r: vt.diagnostics_figure(r, panels=("speed",)), ValueError, "'speed'"),
    (lambda r: vt.diagnostics_figure(r, panels=("loss", "loss")), ValueError, "repeat"),
    (lambda r: vt.diagnostics_figure({"steps": [0, 1]}), ValueError, "'loss'"),
    (lambda r: vt.diagnostics_figure({"steps": np.arange(3), "loss": np.ones((2, 3))}),
     ValueError, "results_runs"),
    (lambda r: vt.diagnostics_figure({"steps": np.arange(3), "loss": np.ones(4)}),
     ValueError, "one entry per step"),
    (lambda r: vt.diagnostics_figure(r, panels=("lambda_min",)), ValueError, "NTK"),
    (lambda r: vt.diagnostics_figure({"a": r, "b": r}, colors=["red"]), ValueError, "colors"),
    (lambda r: vt.diagnostics_figure(r, summary="s"), TypeError, "summary"),
    (lambda r: vt.diagnostics_figure(r, overlays=[vt.level("loss", 1.0, "x")],
                                     panels=("drift",)), ValueError, "not drawn"),
    (lambda r: vt.diagnostics_figure(r, overlays=[vt.level("loss", 1.0, "x", run="nope")],
                                     panels=("loss",)), ValueError, "'nope'"),
    (lambda r: vt.diagnostics_figure(r, overlays=["bound"]), TypeError, "Overlay"),
    (lambda r: vt.diagnostics_figure(r, stable_from=-1), ValueError, "stable_from"),
    (lambda r: vt.level("loss", 0.0, "zero"), ValueError, "log panel"),
    (lambda r: vt.level("loss", float("nan"), "nan"), ValueError, "value"),
    (lambda r: vt.curve("loss", [[1.0]], "c"), ValueError, "1-D"),
    (lambda r: vt.curve("loss", [1.0, 2.0], "c", x=[1.0]), ValueError, "shape"),
    (lambda r: vt.curve("loss", [1.0], ""), TypeError, "name"),
    (lambda r: vt.curve("loss", [1.0], "c", dash="wavy"), ValueError, "dash"),
    (lambda r: vt.suboptimality_figure(r, bounds={"b": -0.5}), ValueError, "bounds['b']"),
    (lambda r: vt.suboptimality_figure(r, bounds={"b": np.ones(3)}), ValueError, "bounds['b']"),
    (lambda r: vt.rate_fit_figure(r), ValueError, "fit must be"),
    (lambda r: vt.log_range([1.0], max_decades=0), ValueError, "max_decades"),
    (lambda r: vt.results_runs({"steps": [0], "loss": np.ones((2, 1))}, ["a"]), ValueError,
     "names"),
])
def test_bad_inputs_raise_clear_errors(call, error, words):
    run = _linear_run(0.3, steps=5)
    with pytest.raises(error, match=re.escape(words)):
        call(run)


# ------------------------------------------------------------- GDPath and factors

def test_gdpath_runs_are_drawn_and_cut_at_divergence():
    from lplr_core.objectives import gradient_descent_fn

    path = gradient_descent_fn(lambda v: v ** 2, 1.0, 0.25, 20)      # x_t = 0.5^t, f = 0.25^t
    fig = vt.diagnostics_figure(path, panels=("suboptimality", "pl_ratio"))
    (sub,) = [t for t in fig.data if t.name == "suboptimality"]
    np.testing.assert_allclose(sub.y, 0.25 ** np.arange(21), rtol=1e-12)
    (rho,) = [t for t in fig.data if t.name == "PL ratio"]
    np.testing.assert_allclose(rho.y, 2.0, rtol=1e-12)              # f'^2 / 2f = 4x^2 / 2x^2
    bad = gradient_descent_fn(lambda v: v ** 2, 1.0, 1.5, 200)       # x_t = (−2)^t
    assert bad.diverged
    traces = vt.suboptimality_traces(bad, bounds={"q": 0.5})
    assert "diverged at step" in traces[0].name and max(traces[0].x) < bad.diverged_at


def test_rate_factor_figure_styles_and_data():
    x = np.array([0.5, 1.0, 1.5])
    panels = [vt.factor_panel("a", measured={"worst": (x, [0.8, 0.6, 0.7]),
                                             "fitted": (x, [0.7, 0.5, 0.6])},
                              bounds={"bound": (x, [0.9, 0.7, 0.9])}, y_range=(0, 1.5)),
              vt.factor_panel("b", measured={"worst": (x, [0.85, 0.65, 0.75])},
                              bounds={"exact": (x, [0.8, 0.6, 0.7])})]
    fig = vt.rate_factor_figure(panels)
    worst = [t for t in fig.data if t.name == "worst"]
    assert len(worst) == 2 and sum(t.showlegend is not False for t in worst) == 1
    assert worst[0].marker.symbol == worst[1].marker.symbol
    np.testing.assert_allclose(worst[1].y, [0.85, 0.65, 0.75])
    styles = {(t.marker.color, t.marker.symbol) if t.mode == "markers"
              else (t.line.color, t.line.dash) for t in fig.data if t.showlegend is not False}
    assert len(styles) == 5                    # 4 series and the thresholds' entry
    assert fig.layout.yaxis.title.text and not fig.layout.yaxis2.title.text
    vlines = [s for s in fig.layout.shapes if s.x0 == s.x1]
    assert sorted({s.x0 for s in vlines}) == [1.0, 2.0]
    assert list(fig.layout.yaxis.range) == [0, 1.5]
    with pytest.raises(ValueError, match="measured"):
        vt.factor_panel("c", measured={})
    with pytest.raises(ValueError, match=re.escape("bounds['b']")):
        vt.factor_panel("c", measured={"m": (x, x)}, bounds={"b": (x, x[:2])})
    with pytest.raises(TypeError, match=re.escape("panels[0]")):
        vt.rate_factor_figure(["a"])
    with pytest.raises(ValueError, match="low < high"):
        vt.factor_panel("c", measured={"m": (x, x)}, y_range=(1, 0))


def test_run_slider_positions_envelope_and_fixed_range():
    runs = {"a": _linear_run(0.2, ntk_every=10), "b": _linear_run(0.5, ntk_every=10)}
    fig = vt.run_slider(runs, records=("pl_ratio", "lambda_min"), stable_from=5, active=1,
                        title_at=lambda n: f"run {n}")
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["a", "b"] and len(fig.data) == 6
    env = [t for t in fig.data if t.name.startswith("lower envelope")]
    np.testing.assert_allclose(env[0].y, np.minimum.accumulate(np.asarray(runs["a"].pl_ratio)[5:]))
    lam = [t for t in fig.data if t.name.startswith("λ")]
    assert lam[0].mode == "lines+markers" and list(lam[0].x) == [0, 10, 20, 30, 40]
    assert [t.visible for t in fig.data] == [False] * 3 + [True] * 3
    everything = np.concatenate([np.asarray(t.y, float) for t in fig.data
                                 if not t.name.startswith("lower")])
    assert fig.layout.yaxis.range == pytest.approx(vt.log_range(everything))
    with pytest.raises(TypeError, match="runs must be"):
        vt.run_slider(runs["a"])


def test_log_ticks_one_two_five_on_short_ranges_only():
    assert vt.log_ticks([-1.2, 1.1]) == pytest.approx([0.1, 0.2, 0.5, 1, 2, 5, 10])
    assert vt.log_ticks([-8, 2]) is None and vt.log_ticks(None) is None
    run = _linear_run(0.3)
    fig = vt.diagnostics_figure(run, panels=("pl_ratio", "suboptimality"))
    assert fig.layout.yaxis.tickvals is not None       # ρ_t = 1: a short range
    assert fig.layout.yaxis2.tickvals is None          # 0.49^t over 40 steps: 12 decades


def test_large_linear_values_get_short_tick_labels():
    t = np.arange(5)
    run = dict(steps=t, loss=np.ones(5), drift=t * 0.1, ntk_steps=t,
               lambda_max=2.5e4 + t)
    fig = vt.diagnostics_figure(run, panels=("drift", "lambda_max"))
    assert fig.layout.yaxis.tickformat is None and fig.layout.yaxis2.tickformat == "~s"
    assert fig.layout.yaxis2.side == "right"   # outside: clear of the left panel on a phone


# ------------------------------------------------------------------ iterate_slider

def _quadratic_paths():
    """GD on f(x) = x², x_0 = 1: x_t = (1 − 2η)^t, f(x_t) = (1 − 2η)^(2t); η = 1.5 diverges."""
    from lplr_core.objectives import gradient_descent_fn

    return {k: gradient_descent_fn(lambda v: v ** 2, 1.0, k / 2.0, 20, record_iterates=True)
            for k in (0.5, 1.5, 3.0)}


def test_iterate_slider_draws_iterates_gap_and_bound_per_position():
    paths = _quadratic_paths()
    xs = np.linspace(-2, 2, 41)
    fig = vt.iterate_slider(paths, (xs, xs ** 2), bound_factors={0.5: 0.9, 1.5: None},
                            shown=5, active=1, title_at={k: f"k = {k}" for k in paths})
    (curve,) = [t for t in fig.data if t.name == "f"]
    np.testing.assert_allclose(curve.y, xs ** 2)
    assert curve.visible is True
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["0.5", "1.5", "3"]
    assert fig.layout.sliders[0].active == 1
    for k, step in zip(paths, steps):
        shown = [t for t, v in zip(fig.data, step.args[0]["visible"]) if v and t.name != "f"]
        q = 1.0 - k                                          # x_{t+1} = (1 − 2 k/2) x_t
        (it,) = [t for t in shown if t.name == "iterates x<sub>t</sub>"]
        n = min(5, paths[k].values.size)
        np.testing.assert_allclose(it.x, q ** np.arange(n), rtol=1e-12)
        np.testing.assert_allclose(it.y, q ** (2 * np.arange(n)), rtol=1e-12)
        assert it.xaxis in (None, "x") and it.yaxis in (None, "y")
        (gap,) = [t for t in shown if t.name and t.name.startswith("f(x<sub>t</sub>) − f*")]
        assert gap.xaxis == "x2" and gap.yaxis == "y2"
        np.testing.assert_allclose(gap.y, q ** (2 * np.asarray(gap.x, float)), rtol=1e-12)
        bound = [t for t in shown if t.name and t.name.startswith("bound")]
        if k == 0.5:
            (b,) = bound
            np.testing.assert_allclose(b.y, 0.9 ** np.asarray(b.x, float), rtol=1e-12)
        else:
            assert bound == []
        assert step.args[1]["title.text"] == f"k = {k}"
    # η = 3/2 on x²: |x_t| = 2^t diverges; the curve stops before the flag, the cross is pinned
    assert paths[3.0].diverged
    shown = [t for t, v in zip(fig.data, steps[2].args[0]["visible"]) if v]
    (gap,) = [t for t in shown if t.name and "diverged at step" in t.name]
    assert max(gap.x) < paths[3.0].diverged_at
    (cross,) = [t for t in shown if t.marker.symbol == "x"]
    assert math.log10(cross.y[0]) <= fig.layout.yaxis2.range[1] + 1e-12
    # one range on every axis at every position (the plot does not move)
    assert fig.layout.yaxis2.type == "log" and fig.layout.xaxis2.range == (0, 20)
    assert tuple(fig.layout.xaxis.range) == (-2.0, 2.0)


def test_iterate_slider_titles_are_rendered():
    fig = vt.iterate_slider(_quadratic_paths(), (np.linspace(-1, 1, 5), np.linspace(-1, 1, 5) ** 2),
                            bound_factors={0.5: 0.5})
    for text in _texts(fig):
        assert not _RAW.search(re.sub(r"<[^>]*>", "", text)), text
    for key in ("xaxis", "yaxis", "xaxis2", "yaxis2"):
        assert fig.layout[key].title.text, key


@pytest.mark.parametrize("call, error, words", [
    (lambda p, o: vt.iterate_slider({}, o), TypeError, "paths must be"),
    (lambda p, o: vt.iterate_slider({1: "run"}, o), TypeError, "paths[1]"),
    (lambda p, o: vt.iterate_slider(p, (o[0],)), TypeError, "objective must be a pair"),
    (lambda p, o: vt.iterate_slider(p, (o[0], o[1][:-1])), ValueError, "one length"),
    (lambda p, o: vt.iterate_slider(p, (o[0], o[1] * np.nan)), ValueError, "finite"),
    (lambda p, o: vt.iterate_slider(p, o, bound_factors={0.5: -1.0}), ValueError,
     "bound_factors[0.5]"),
    (lambda p, o: vt.iterate_slider(p, o, bound_factors={7: 0.5}), ValueError, "[7]"),
    (lambda p, o: vt.iterate_slider(p, o, title_at={0.5: "a"}), ValueError, "no title"),
    (lambda p, o: vt.iterate_slider(p, o, shown=0), ValueError, "shown"),
    (lambda p, o: vt.iterate_slider(p, o, active=9), ValueError, "active"),
])
def test_iterate_slider_bad_inputs(call, error, words):
    xs = np.linspace(-1, 1, 5)
    with pytest.raises(error, match=re.escape(words)):
        call(_quadratic_paths(), (xs, xs ** 2))


def test_iterate_slider_needs_recorded_one_dimensional_iterates():
    from lplr_core.objectives import gradient_descent_fn

    xs = np.linspace(-1, 1, 5)
    no_iterates = gradient_descent_fn(lambda v: v ** 2, 1.0, 0.25, 5)
    with pytest.raises(ValueError, match="record_iterates=True"):
        vt.iterate_slider({1: no_iterates}, (xs, xs ** 2))
    vector = gradient_descent_fn(lambda v: (v ** 2).sum(), jnp.ones(2), 0.25, 5,
                                 record_iterates=True)
    with pytest.raises(ValueError, match="one variable"):
        vt.iterate_slider({1: vector}, (xs, xs ** 2))


# ------------------------------------------------- rate fit: transient, onset, local factor

def test_rate_fit_figure_transient_onset_and_local_factor():
    from lplr_core.diagnostics import fit_power_law

    # a power law for t < 20, then geometric: L_t = 5 t^-1.5 (t < 20), then q^(t-20) L_20
    t = np.arange(0, 61, dtype=float)
    loss = np.where(t < 20, 5 * np.maximum(t, 1) ** -1.5, 5 * 20 ** -1.5 * 0.9 ** (t - 20))
    run = {"steps": t, "loss": loss}
    fit = fit_linear_rate(loss, steps=t, start=20)
    transient = fit_power_law(t[1:20], loss[1:20])
    local = (t[:50] + 5, np.full(50, 0.95))
    fig = vt.rate_fit_figure(run, fit, transient=transient, onset=20, local_factor=local,
                             local_factor_title="(L<sub>t+10</sub> / L<sub>t</sub>)<sup>1/10</sup>")
    (before,) = _traces(fig, "transient (t < t<sub>0</sub>)")
    (after,) = _traces(fig, "linear phase")
    np.testing.assert_array_equal(before.x, t[t <= 20])
    np.testing.assert_array_equal(after.x, t[t >= 20])
    np.testing.assert_allclose(after.y, loss[t >= 20])
    (power,) = _traces(fig, "power-law fit")
    assert "t<sup>-1.50</sup>" in power.name
    tx = t[(t > 0) & (t <= 20)]
    np.testing.assert_array_equal(power.x, tx)
    np.testing.assert_allclose(power.y, 5 * tx ** -1.5, rtol=1e-9)   # the exact power law
    (factor,) = _traces(fig, "local per-step factor")
    np.testing.assert_array_equal(factor.x, local[0])
    assert factor.xaxis == "x2"
    assert fig.layout.yaxis2.title.text.startswith("(L<sub>t+10</sub>")
    assert [s.x0 for s in fig.layout.shapes if s.line.dash == "dash"] == [20, 20]  # t0 in both
    assert (before.line.color, before.line.dash) != (after.line.color, after.line.dash)
    for text in _texts(fig):
        assert not _RAW.search(re.sub(r"<[^>]*>", "", text)), text
    # without the options the figure is as before: one measured curve, the between-records factor
    plain = vt.rate_fit_figure(run, fit)
    assert _traces(plain, "measured L<sub>t</sub> − L*") and _traces(plain,
                                                                     "measured per-step factor")
    assert not _traces(plain, "power-law")


@pytest.mark.parametrize("kw, error, words", [
    (dict(transient=0.5), TypeError, "transient must be a PowerLawFit"),
    (dict(onset=-1.0), ValueError, "onset"),
    (dict(onset=500.0), ValueError, "onset must lie"),
    (dict(local_factor=[1.0, 2.0, 3.0]), TypeError, "local_factor"),
    (dict(local_factor=([1.0, 2.0], [0.9])), ValueError, "local_factor"),
    (dict(local_factor=([1.0], [0.9]), local_factor_title=""), TypeError, "local_factor_title"),
])
def test_rate_fit_figure_new_options_bad_inputs(kw, error, words):
    run = _linear_run(0.3)
    with pytest.raises(error, match=re.escape(words)):
        vt.rate_fit_figure(run, summary=summarize_run(run), **kw)
