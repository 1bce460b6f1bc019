"""Tests for the figure and widget layer (lplr_core.viz): fast, no kernel needed."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

go = pytest.importorskip("plotly.graph_objects")
pytest.importorskip("ipywidgets")

from lplr_core import viz  # noqa: E402
from lplr_core.viz import figures  # noqa: E402
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
