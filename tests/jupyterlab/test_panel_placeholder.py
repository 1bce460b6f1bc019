"""A live panel's stored output: the widget view plus a static placeholder, never a VBox repr.

JupyterLab shows a just-opened (untrusted) notebook's outputs with "safe" renderers only; the
ipywidgets view renderer is not one, so what it shows before the kernel runs is the bundle's
text/html (and text/plain elsewhere). The browser test (test_lab.py) checks that in JupyterLab.
"""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from lplr_core.viz import widgets as vw

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _panel():
    def compute(width, multiple):
        fig = go.Figure(go.Scatter(x=[0, 1], y=[width, multiple]))
        fig.update_layout(title_text=f"m = {width}, eta = {multiple}/beta<sub>0</sub>")
        return f"beta_0 = {width * 2}  <ok>", fig

    return vw.live_panel(compute, {"width": vw.options_slider("width m", [32, 64, 128], 64),
                                   "multiple": vw.options_slider("step", [0.5, 1.0], 1.0)},
                         title="PL rate & bound")


def test_panel_bundle_carries_the_widget_view_and_a_placeholder():
    bundle = _panel()._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and bundle[WIDGET_VIEW]["model_id"]
    for mime in ("text/html", "text/plain"):
        text = bundle[mime]
        assert "VBox" not in text and "children=" not in text
        assert "Run this cell" in text
        assert "m = 64, eta = 1.0/beta0]" in text         # the last figure, by its title
        assert "beta_0 = 128" in text                     # the last text output
    html = bundle["text/html"]
    assert "PL rate &amp; bound" in html and "&lt;ok&gt;" in html   # escaped, not raw HTML
    assert "width m = <code>64</code>" in html and "step = <code>1.0</code>" in html


def test_placeholder_follows_the_controls():
    panel = _panel()
    panel.controls["width"].value = 128
    text = panel.placeholder()["text/plain"]
    assert "width m = 128" in text and "m = 128, eta = 1.0/beta0" in text
    assert "beta_0 = 256" in text and "beta_0 = 128" not in text


def test_placeholder_without_a_first_run_names_the_controls_only():
    panel = vw.live_panel(lambda n: f"n = {n}", {"n": vw.int_slider("n", 3, 0, 5)}, run=False)
    text = panel.placeholder()["text/plain"]
    assert "Live panel" in text and "n = 3" in text and "panel shows" not in text


def test_displayed_panel_is_one_raw_bundle(monkeypatch):
    shown = []
    monkeypatch.setattr(vw, "display", lambda *objs, **kw: shown.append((objs, kw)))
    panel = _panel()
    panel._ipython_display_()
    (objs, kw), = shown
    assert kw == {"raw": True} and WIDGET_VIEW in objs[0] and "text/html" in objs[0]


def test_title_must_be_a_string():
    with pytest.raises(TypeError, match="title must be a string"):
        vw.live_panel(lambda n: n, {"n": vw.int_slider("n", 0, 0, 1)}, title=3)
