"""benchmarks/bench_widgets.py judges each knob as issue 12 asks, from the widget state.

A synthetic notebook with one live panel whose knobs are built to pass or fail in known
ways (with thresholds scaled down: goal 0.2 s, limit 2 s) runs through the benchmark's
real path: a fresh kernel, the probe cell, the per-knob verdicts.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_widgets", ROOT / "benchmarks" / "bench_widgets.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

PANEL = r'''
import time
from lplr_core.viz.widgets import live_panel, options_slider

def explore(fast, bar, nobar, fake, toolong, progress):
    if bar != 1:                          # slow, with a bar that advances
        for k in range(4):
            progress(k / 4, f"piece {k + 1} of 4")
            time.sleep(0.12)
    if nobar != 1:                        # slow, no bar at all
        time.sleep(0.45)
    if fake != 1:                         # a "bar" that never shows an intermediate value
        progress(0.0)
        time.sleep(0.45)
        progress(1.0)
    if toolong != 1:                      # a real bar, but over the limit
        progress(0.5)
        time.sleep(2.3)
    return f"{fast} {bar} {nobar} {fake} {toolong}"

panel = live_panel(explore, {name: options_slider(name, [0, 1, 2], 1)
                             for name in ("fast", "bar", "nobar", "fake", "toolong")})
panel
'''


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(PANEL)]
    path = folder / "panel.ipynb"
    nbformat.write(nb, path)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), old]))
    try:
        out = folder / "widgets.json"
        code = bench.main([str(path), "--goal", "0.2", "--limit", "2.0", "--out", str(out)])
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = old
    return code, json.loads(out.read_text())


def _knobs(data):
    return {k["control"]: k for k in data["summary"][0]["knobs"]}


def test_every_knob_visits_every_other_value_once(result):
    _, data = result
    moves = data["raw"][0]["panels"][0]["moves"]
    first = [(m["control"], m["value"]) for m in moves if not m.get("return_to_default")]
    names = ("fast", "bar", "nobar", "fake", "toolong")
    assert first == [(n, v) for n in names for v in ("2", "0")]
    assert all(k["moves"] == 2 for k in _knobs(data).values())


def test_verdicts_follow_time_and_the_bar_state(result):
    code, data = result
    knobs = _knobs(data)
    assert knobs["fast"]["pass"] and knobs["fast"]["median_s"] < 0.2
    assert knobs["bar"]["pass"] and knobs["bar"]["median_s"] > 0.2
    assert knobs["bar"]["moves_with_progress"] == 2 and "progress" in knobs["bar"]["how"]
    assert not knobs["nobar"]["pass"] and knobs["nobar"]["moves_with_progress"] == 0
    assert not knobs["fake"]["pass"] and knobs["fake"]["moves_with_progress"] == 0
    assert not knobs["toolong"]["pass"] and knobs["toolong"]["max_s"] > 2.0
    assert knobs["toolong"]["moves_with_progress"] == 2
    assert code == 1 and data["summary"][0]["pass"] is False


def test_bar_values_are_what_the_widget_held(result):
    _, data = result
    moves = [m for m in data["raw"][0]["panels"][0]["moves"] if m["control"] == "bar"
             and not m.get("return_to_default")]
    for m in moves:   # 0 is the bar's value already, so no change event; then the rest and the reset
        assert m["bar_values"] == [0.25, 0.5, 0.75, 0.0]


def test_judge_rules():
    assert bench.judge([0.1, 5.0, 0.2], [False, False, False]) == (True, "median <= 2 s")
    assert bench.judge([3.0, 9.0], [True, True])[0]
    assert not bench.judge([3.0, 11.0], [True, True])[0]
    assert not bench.judge([3.0, 4.0], [True, False])[0]
    assert bench.judge([], []) == (True, "no moves")


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["--goal", "5", "--limit", "1", "--out", str(tmp_path / "x.json")])
    with pytest.raises(SystemExit):
        bench.main([str(tmp_path / "missing.ipynb"), "--out", str(tmp_path / "x.json")])
