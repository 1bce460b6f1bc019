"""The live panel's determinate-progress hook (``compute(..., progress)``)."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("ipywidgets")

import ipywidgets as widgets  # noqa: E402

from lplr_core.viz import widgets as vw  # noqa: E402


def _bar(panel):
    bars = [w for w in panel.widget.children if isinstance(w, widgets.FloatProgress)]
    assert len(bars) == 1, "the panel shows exactly one progress bar"
    return bars[0]


def test_progress_bar_follows_the_reported_fractions_and_hides_after():
    seen = []

    def compute(n, progress):
        bar = _bar(panel_box[0]) if panel_box else None
        for k in range(n):
            progress(k / n, f"piece {k + 1} of {n}")
            if bar is not None:      # what the front end is sent while computing
                seen.append((bar.value, bar.layout.display, panel_box[0].status.value))
        return f"{n} pieces"

    panel_box = []
    n = vw.int_slider("n", 4, 1, 9)
    panel = vw.live_panel(compute, {"n": n}, run=False)
    panel_box.append(panel)
    bar = _bar(panel)
    assert bar.layout.display == "none"              # hidden before any compute
    panel.refresh()
    assert [v for v, _, _ in seen] == [0.0, 0.25, 0.5, 0.75]
    assert all(display != "none" for _, display, _ in seen)   # shown while computing
    assert "piece 3 of 4" in seen[2][2] and "50%" in seen[2][2]
    assert bar.layout.display == "none"              # hidden after the redraw
    assert [f for _, f in panel.progress_log[-1]] == [0.0, 0.25, 0.5, 0.75]
    times = [t for t, _ in panel.progress_log[-1]]
    assert times == sorted(times) and 0 <= times[0] <= panel.timings[-1]
    assert "done in" in panel.status.value
    assert panel.output.outputs[0]["data"]["text/plain"] == "4 pieces"


def test_compute_without_progress_gets_none_and_bar_stays_hidden():
    calls = []
    panel = vw.live_panel(lambda n: calls.append(n) or str(n), {"n": vw.int_slider("n", 2, 0, 5)})
    assert calls == [2]
    assert _bar(panel).layout.display == "none"
    assert panel.progress_log == [[]]


def test_keyword_only_progress_is_passed():
    got = []

    def compute(n, *, progress):
        got.append(callable(progress))
        progress(1.0)
        return str(n)

    vw.live_panel(compute, {"n": vw.int_slider("n", 2, 0, 5)})
    assert got == [True]


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "half", True])
def test_bad_fraction_is_a_clear_error_shown_in_the_panel(bad):
    def compute(n, progress):
        progress(bad)
        return "never"

    panel = vw.live_panel(compute, {"n": vw.int_slider("n", 2, 0, 5)})
    text = panel.output.outputs[0]["data"]["text/plain"]
    assert text.startswith("ValueError: progress fraction must be a number from 0 to 1")
    assert repr(bad) in text
    assert _bar(panel).layout.display == "none"      # hidden again after the failure


def test_bad_text_is_a_type_error():
    def compute(n, progress):
        progress(0.5, 3)

    panel = vw.live_panel(compute, {"n": vw.int_slider("n", 2, 0, 5)})
    assert panel.output.outputs[0]["data"]["text/plain"].startswith(
        "TypeError: progress text must be a string or None; got 3")


def test_a_control_named_progress_is_refused_when_compute_takes_progress():
    with pytest.raises(ValueError, match="must not be named 'progress'"):
        vw.live_panel(lambda progress: None, {"progress": vw.int_slider("p", 0, 0, 1)})
    # ... but is an ordinary control for a compute that does not take a reporter
    panel = vw.live_panel(lambda **values: str(values), {"progress": vw.int_slider("p", 0, 0, 1)})
    assert panel.output.outputs[0]["data"]["text/plain"] == "{'progress': 0}"


def test_progress_in_the_background_thread_reaches_the_bar_while_computing():
    # A worker-thread recomputation: the main thread sees the bar advance before the end.
    gate, step_done = threading.Event(), threading.Event()

    def compute(n, progress):
        progress(0.0)
        if n == 3:
            progress(0.5, "half")
            step_done.set()
            assert gate.wait(10)
        progress(1.0)
        return str(n)

    n = vw.int_slider("n", 1, 0, 5)
    panel = vw.live_panel(compute, {"n": n}, background=True)
    bar = _bar(panel)
    n.value = 3
    assert step_done.wait(10)
    assert bar.value == 0.5 and bar.layout.display != "none" and "half" in panel.status.value
    gate.set()
    assert panel.wait(10)
    assert bar.layout.display == "none"
    assert [f for _, f in panel.progress_log[-1]] == [0.0, 0.5, 1.0]
    assert panel.output.outputs[0]["data"]["text/plain"] == "3"
