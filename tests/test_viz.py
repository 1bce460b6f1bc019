"""Tests for the figure and widget layer (lplr_core.viz): fast, no kernel needed."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

go = pytest.importorskip("plotly.graph_objects")
pytest.importorskip("ipywidgets")

from lplr_core import viz  # noqa: E402
from lplr_core.viz import figures  # noqa: E402
from lplr_core.viz import style  # noqa: E402
from lplr_core.viz import widgets as vw  # noqa: E402

CORE = Path(__file__).resolve().parent.parent / "lplr_core"


def _figure(y=(3.0, 4.0)):
    fig = go.Figure(go.Scatter(x=[1.0, 2.0], y=list(y), name="a"))
    fig.update_layout(xaxis_title="width m", yaxis_title="λ")
    return fig


# ----------------------------------------------------------------------- layering

def test_core_does_not_import_viz_plotly_or_widgets():
    code = ("import lplr_core, sys; "
            "bad = [m for m in ('lplr_core.viz', 'plotly', 'ipywidgets') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_no_core_module_imports_viz():
    for path in CORE.glob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                assert not name.startswith(("lplr_core.viz", "plotly", "ipywidgets")), \
                    f"{path.name} imports {name}"


# ------------------------------------------------------------------------- bundle

def test_bundle_has_plotly_json_and_html_without_plotlyjs():
    fig = _figure()
    bundle = viz.figure_bundle(fig)
    assert set(bundle) == {viz.PLOTLY_MIMETYPE, "text/html"}
    html = bundle["text/html"]
    assert len(html) < 100_000
    assert "plotly.js v" not in html
    assert "<script src=" not in html
    assert "Plotly.newPlot" in html
    assert f'id="{viz.div_id(fig)}"' in html
    assert '"displaylogo": false' in html and '"responsive": true' in html
    spec = bundle[viz.PLOTLY_MIMETYPE]
    assert spec["config"] == viz.PLOTLY_CONFIG
    assert spec["data"][0]["type"] == "scatter"
    assert spec["layout"]["xaxis"]["title"]["text"] == "width m"


def test_div_id_is_deterministic_and_content_based():
    a, b = _figure(), _figure()
    assert viz.div_id(a) == viz.div_id(a) == viz.div_id(b)
    assert viz.div_id(a).startswith("lplr-fig-")
    assert viz.div_id(_figure(y=(3.0, 5.0))) != viz.div_id(a)
    assert viz.figure_bundle(a) == viz.figure_bundle(b)


def test_show_displays_bundle_with_unique_ids(monkeypatch):
    shown = []
    import IPython.display
    monkeypatch.setattr(IPython.display, "display",
                        lambda obj, raw=False: shown.append((obj, raw)))
    monkeypatch.setattr(figures, "_SHOWN", {})
    fig = _figure(y=(7.0, 8.0))
    viz.show(fig)
    viz.show(fig)
    assert [raw for _, raw in shown] == [True, True]
    base = viz.div_id(fig)
    assert f'id="{base}"' in shown[0][0]["text/html"]
    assert f'id="{base}-2"' in shown[1][0]["text/html"]
    assert set(shown[0][0]) == {viz.PLOTLY_MIMETYPE, "text/html"}


def test_show_loads_plotlyjs_from_cdn_on_colab(monkeypatch):
    shown = []
    import IPython.display
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    viz.show(_figure())
    html = shown[0]["text/html"]
    assert "cdn.plot.ly" in html and len(html) < 100_000


def test_figure_bundle_rejects_non_figures():
    with pytest.raises(TypeError, match="fig must be"):
        viz.figure_bundle({"data": []})


def test_template_is_default_with_white_backgrounds():
    import plotly.io as pio
    assert pio.templates.default == viz.TEMPLATE_NAME
    layout = go.Figure().layout.template.layout
    assert layout.paper_bgcolor == "white" and layout.plot_bgcolor == "white"
    assert layout.font.size >= 12


# ------------------------------------------------------------------------- slider

def test_slider_figure_one_step_per_value_and_toggles_visibility():
    grid = [64, 128, 256]
    reference = go.Scatter(x=[0, 1], y=[0, 0], name="reference")

    def traces_at(width):  # two traces per value
        return [go.Scatter(x=[0, 1], y=[width, width], name=f"m={width}"),
                go.Scatter(x=[0, 1], y=[-width, -width], name=f"-m={width}")]

    fig = viz.slider_figure(grid, traces_at, label="width m", static_traces=[reference],
                            active=1, xaxis_title="index")
    assert len(fig.data) == 1 + 2 * len(grid)
    (slider,) = fig.layout.sliders
    assert len(slider.steps) == len(grid)
    assert slider.active == 1
    assert [s.label for s in slider.steps] == ["64", "128", "256"]
    for i, step in enumerate(slider.steps):
        visible = step.args[0]["visible"]
        assert len(visible) == len(fig.data)
        assert visible[0] is True  # the reference is always shown
        shown = [fig.data[j].name for j, v in enumerate(visible) if v and j > 0]
        assert shown == [f"m={grid[i]}", f"-m={grid[i]}"]
    # The initial state matches the active step.
    assert [bool(t.visible) for t in fig.data] == list(slider.steps[1].args[0]["visible"])
    assert fig.layout.xaxis.title.text == "index"


def test_slider_figure_titles_and_validation():
    fig = viz.slider_figure([1, 2], lambda v: [go.Scatter(y=[v])], label="n",
                            title_at=lambda v: f"n = {v}", value_label=lambda v: f"{v}!")
    assert fig.layout.title.text == "n = 1"
    assert fig.layout.sliders[0].steps[1].args[1] == {"title.text": "n = 2"}
    assert fig.layout.sliders[0].steps[1].method == "update"
    assert fig.layout.sliders[0].steps[0].label == "1!"
    with pytest.raises(ValueError, match="grid"):
        viz.slider_figure([], lambda v: [go.Scatter()], label="n")
    with pytest.raises(ValueError, match="active"):
        viz.slider_figure([1], lambda v: [go.Scatter()], label="n", active=1)
    with pytest.raises(TypeError, match="traces_at"):
        viz.slider_figure([1], lambda v: [], label="n")


# ------------------------------------------------------------ legend placement (style)

# Measured in Chromium with the book's plotly.js (tests/browser, chapter 3's slider
# figure): a slider_figure slider's body (current value, rail, ticks, tick labels) is
# 74 px tall and starts 5 px under its pad.t; its automargin adds 7 px under pad.b.
SLIDER_BODY_MEASURED_PX = 5 + 74 + 7


def _slider_with_legend_below(names=("a", "b", "c"), **layout):
    def traces_at(v):
        return [go.Scatter(x=[0, 1], y=[v, v + k], name=n) for k, n in enumerate(names)]

    return viz.slider_figure([1, 2, 3], traces_at, label="n", xaxis_title="radius r",
                             legend=dict(orientation="h", x=0.0, y=-0.22), height=480,
                             **layout)


def test_place_legend_puts_a_legend_below_the_plot_under_the_slider():
    fig = _slider_with_legend_below()
    placed = style.place_legend(fig)
    assert placed is not fig and fig.layout.legend.y == -0.22        # the input is kept
    legend, margin = placed.layout.legend, placed.layout.margin
    assert (legend.yref, legend.y, legend.yanchor) == ("container", 0.0, "bottom")
    # In paper coordinates of the placed figure (0 = bottom of the plot area).
    top = margin.t if margin.t is not None else 60                    # the template's
    plot_h = placed.layout.height - top - margin.b
    pad = placed.layout.sliders[0].pad
    slider_bottom = -(pad.t + SLIDER_BODY_MEASURED_PX + pad.b) / plot_h
    # Three one-letter entries make one legend row: at most 20 px + its 12 px box.
    legend_top = -(margin.b - (20 + 12)) / plot_h
    assert legend_top < slider_bottom
    # The plot area keeps its height: the slider alone pushed the bottom margin to its extent.
    before = fig.layout.height - top - max(fig.layout.margin.b, pad.t + 90 + pad.b)
    assert plot_h == pytest.approx(before, abs=1.0)


def test_place_legend_counts_the_entries_of_one_slider_step_not_all_of_them():
    long = [f"legend entry number {k}" for k in range(3)]             # 21 characters each
    placed = style.place_legend(_slider_with_legend_below(names=long))
    # 3 steps x 3 traces are stored, but one step's 3 entries are shown at a time:
    # an entry is 46 + 0.6 * 13 * 21 = 209.8 px, two fit in a 600 px row, three do not:
    # 2 rows, where the 9 stored traces would make 5.
    assert style.legend_height_px(long) == pytest.approx(2 * 20 + 12)
    assert placed.layout.margin.b == pytest.approx(55 + 90 + 10 + 8 + 2 * 20 + 12, abs=1)


def test_place_legend_leaves_figures_that_cannot_collide_alone():
    plain = _figure()
    plain.update_layout(legend=dict(orientation="h", y=-0.3))         # no slider
    right = viz.slider_figure([1, 2], lambda v: [go.Scatter(y=[v], name="x")], label="n",
                             legend=dict(orientation="v", x=1.02, y=1.0, yanchor="top"))
    above = _slider_with_legend_below()
    above.update_layout(legend=dict(y=1.02, yanchor="bottom"))
    hidden = _slider_with_legend_below(showlegend=False)
    for fig in (plain, right, above, hidden):
        assert style.place_legend(fig) is fig
        assert viz.figure_bundle(fig)[viz.PLOTLY_MIMETYPE]["layout"] == \
            json.loads(fig.to_json())["layout"]
    placed = style.place_legend(_slider_with_legend_below())
    assert style.place_legend(placed) is placed                       # idempotent


def test_figure_bundle_and_show_place_the_legend():
    fig = _slider_with_legend_below()
    bundle = viz.figure_bundle(fig)
    assert bundle[viz.PLOTLY_MIMETYPE]["layout"]["legend"]["yref"] == "container"
    assert '"yref":"container"' in bundle["text/html"].replace(" ", "")


def test_legend_height_and_validation():
    assert style.legend_height_px([]) == 0.0
    assert style.legend_height_px(["a"]) == pytest.approx(32.0)
    assert style.legend_height_px(["a"] * 40) > style.legend_height_px(["a"] * 4)
    assert style.legend_height_px(["x<sub>0</sub>"]) == style.legend_height_px(["x0"])
    with pytest.raises(ValueError, match="width_px"):
        style.legend_height_px(["a"], width_px=0)
    with pytest.raises(TypeError, match="fig must be"):
        style.place_legend({"data": []})


def test_power_law_guide_and_colors():
    guide = viz.power_law_guide([1, 4, 16], exponent=-0.5, through=(4, 2.0), name="1/√m")
    assert list(guide.y) == pytest.approx([4.0, 2.0, 1.0])
    assert guide.name == "1/√m" and guide.line.dash == "dash"
    with pytest.raises(ValueError, match="through"):
        viz.power_law_guide([1, 2], exponent=1, through=(0, 1))
    colors = viz.sequential_colors(5)
    assert len(colors) == 5 and len(set(colors)) == 5
    assert len(viz.sequential_colors(1)) == 1


# ------------------------------------------------------------------------ widgets

def test_live_panel_debounces_and_coalesces():
    calls = []
    width = vw.options_slider("width", [64, 128, 256])
    n = vw.int_slider("n", 8, 2, 32)
    n.continuous_update = True  # the panel must switch it off
    panel = vw.live_panel(lambda width, n: calls.append((width, n)) or f"{width} {n}",
                          {"width": width, "n": n})
    assert width.continuous_update is False and n.continuous_update is False
    assert calls == [(64, 8)]
    width.value = 128
    assert calls == [(64, 8), (128, 8)]
    panel.refresh()  # a queued event for values already shown does no work
    assert panel.calls == 2
    panel.refresh(force=True)
    assert panel.calls == 3
    assert "done in" in panel.status.value
    assert not width.disabled and not n.disabled


def test_live_panel_shows_errors_as_messages():
    def compute(n):
        if n > 3:
            raise ValueError("n must be <= 3")
        return go.Figure()

    n = vw.int_slider("n", 1, 0, 5)
    panel = vw.live_panel(compute, {"n": n})
    n.value = 4  # must not raise
    assert "error" in panel.status.value
    assert not n.disabled
    n.value = 2
    assert "done in" in panel.status.value


def test_live_panel_validates_arguments():
    with pytest.raises(TypeError, match="compute"):
        vw.live_panel(None, {"n": vw.int_slider("n", 1, 0, 2)})
    with pytest.raises(ValueError, match="controls"):
        vw.live_panel(lambda: None, {})
    with pytest.raises(TypeError, match="controls"):
        vw.live_panel(lambda n: None, {"n": 3})


def test_live_panel_registry_and_timings():
    n = vw.int_slider("n", 1, 0, 5)
    panel = vw.live_panel(lambda n: f"{n}", {"n": n})
    assert panel in vw.LivePanel.instances()
    n.value = 2
    n.value = 3
    assert len(panel.timings) == panel.calls == 3
    assert all(t >= 0 for t in panel.timings)
    other = vw.live_panel(lambda n: f"{n}", {"n": vw.int_slider("n", 1, 0, 5)}, run=False)
    order = vw.LivePanel.instances()
    assert order.index(panel) < order.index(other) and other.timings == []


def test_live_panel_background_coalesces_and_keeps_controls_usable():
    import threading
    started, release = threading.Event(), threading.Event()
    seen = []

    def compute(n):
        seen.append(n)
        if len(seen) == 2:          # the first background computation blocks until released
            started.set()
            release.wait(5)
        return (f"n = {n}", go.Figure(go.Scatter(x=[0, 1], y=[n, n])))

    n = vw.int_slider("n", 0, 0, 9)
    panel = vw.live_panel(compute, {"n": n}, background=True)
    assert seen == [0] and panel.background            # the first call is synchronous
    n.value = 1                                          # returns at once; computes in a thread
    assert started.wait(5)
    assert not n.disabled                                # controls stay usable meanwhile
    assert "computing" in panel.status.value
    n.value = 2
    n.value = 3                                          # queued moves are coalesced
    release.set()
    assert panel.wait(10)
    assert seen == [0, 1, 3]                             # 2 was skipped: only the latest runs
    assert "done in" in panel.status.value and len(panel.timings) == 3
    data = [o["data"] for o in panel.output.outputs]
    assert "n = 3" in data[0]["text/plain"]
    assert viz.PLOTLY_MIMETYPE in data[1] and "<div" in data[1]["text/html"]


def test_live_panel_background_reports_errors():
    def compute(n):
        if n == 2:
            raise ValueError("n must not be 2")
        return f"{n}"

    n = vw.int_slider("n", 0, 0, 5)
    panel = vw.live_panel(compute, {"n": n}, background=True)
    n.value = 2
    assert panel.wait(10)
    assert "error" in panel.status.value
    assert "n must not be 2" in panel.output.outputs[0]["data"]["text/plain"]
    n.value = 3
    assert panel.wait(10) and "done in" in panel.status.value


def test_live_panel_background_default_is_off_outside_a_kernel():
    panel = vw.live_panel(lambda n: f"{n}", {"n": vw.int_slider("n", 0, 0, 2)})
    assert panel.background is False
    with pytest.raises(TypeError, match="background"):
        vw.live_panel(lambda n: f"{n}", {"n": vw.int_slider("n", 0, 0, 2)}, background="yes")


def test_domain_figures_are_reexported_from_their_one_home():
    """``lp.viz.X`` is the object defined in its module (one home per figure), and every
    name in ``lp.viz.__all__`` exists."""
    import importlib

    import lplr_core.viz as viz

    homes = {"certificate", "containment", "phase", "report", "spectra", "tables", "trajectory"}
    for name in viz.__all__:
        obj = getattr(viz, name)
        if name in homes:
            assert obj is importlib.import_module(f"lplr_core.viz.{name}")
            continue
        module = getattr(obj, "__module__", "")
        if module.startswith("lplr_core.viz.") and module.split(".")[-1] in homes:
            assert getattr(importlib.import_module(module), name) is obj, name
            assert name in importlib.import_module(module).__all__, name


def test_slider_figure_keeps_its_legend_off_the_side_and_its_ticks_inside():
    """By default a slider figure's legend is horizontal under the plot (a legend on the right
    takes a width that changes with the visible traces, so the plot area would move with the
    slider), and ``figure_bundle`` puts it under the slider; the slider leaves room at both
    ends for its first and last tick labels."""
    fig = viz.slider_figure([64, 1024], lambda v: [go.Scatter(y=[v, 1], name=f"m = {v}")],
                            label="width")
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0
    slider = fig.layout.sliders[0]
    assert slider.x > 0 and slider.x + slider.len < 1
    layout = viz.figure_bundle(fig)[viz.PLOTLY_MIMETYPE]["layout"]
    assert layout["legend"]["yref"] == "container" and layout["legend"]["y"] == 0
    kept = viz.slider_figure([1, 2], lambda v: [go.Scatter(y=[v])], label="n",
                             legend=dict(orientation="v", x=1.02, y=1.0))
    assert kept.layout.legend.orientation == "v"               # a caller's legend wins
