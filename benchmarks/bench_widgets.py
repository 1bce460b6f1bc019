"""First-visit redraw latency of every knob of every live panel (issue 12 §1).

The goal, per knob: the median of its redraw times is at most 2 s, or every slow move
of it (over 2 s) showed *determinate progress* and the slowest move stays under 10 s.

Each notebook is executed top to bottom in a fresh Jupyter kernel (nbclient), as a
Binder reader runs it: nothing is cached but what the notebook itself computed, and
JAX's persistent compilation cache is switched off in the kernel
(``JAX_ENABLE_COMPILATION_CACHE=false``), so every new shape compiles. Then one extra
cell, in the same kernel, finds every live panel the notebook created
(``LivePanel.instances()``) and moves each of its knobs, one at a time with the other
knobs at their defaults, through **every value it offers, each visited for the first
time**: from the default up to the largest value notch by notch, then from the value
below the default down to the smallest, then back to the default (that return is not
timed: it is cached). A move sets the control's ``value`` from the kernel, which fires
the same ``observe`` handler as a slider released in the browser; its time is the
panel's own timing of that refresh (the core's recomputation plus building and
emitting the new figure; in a kernel the panel recomputes in a worker thread, which the
probe waits for). The browser's drawing and the websocket round trip are not included.

*Determinate progress* is read from the widget state, not from a flag: the probe
observes the panel's ``FloatProgress`` bar (its ``value`` and ``layout.display``
traits, whose changes are what the kernel sends to the front end) and counts a move as
showing progress when, while that move computed, the bar was visible and took at least
one value strictly between its ``min`` and ``max``, in non-decreasing order.

``--quick`` visits only the values next to each default (one notch each way), for
tests and a first look. ``--goal``/``--limit`` change the 2 s / 10 s thresholds (the
tests use small ones on a synthetic notebook).

Usage::

    .venv/bin/python benchmarks/bench_widgets.py                 # every notebook with a panel
    .venv/bin/python benchmarks/bench_widgets.py notebooks/04_linear_rate_containment.ipynb
    .venv/bin/python benchmarks/bench_widgets.py --quick --out /tmp/widgets.json

Writes ``benchmarks/results/widgets.json`` (or ``--out``), prints a per-knob table, and
exits 1 when a knob misses the goal.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 2.0        # median redraw per knob ...
LIMIT_SECONDS = 10.0      # ... or determinate progress and every move under this
MARK = "LPLR-WIDGET-BENCH "

# Runs inside the notebook's kernel after the notebook itself; QUICK is substituted.
PROBE = r'''
import json as _json
import time as _time
import ipywidgets as _widgets
from lplr_core.viz.widgets import LivePanel as _LivePanel

_QUICK = __QUICK__

def _values(control):
    if hasattr(control, "options") and control.options:
        return [v for _, v in control._options_full] if hasattr(control, "_options_full") \
            else list(control.options)
    step = getattr(control, "step", 1) or 1
    out, v = [], control.min
    while v <= control.max:
        out.append(v)
        v += step
    return out

def _tour(control):
    """First visits: default+1 .. max, then default-1 .. min (one notch each way if quick)."""
    values = _values(control)
    i = values.index(control.value)
    up, down = values[i + 1:], values[:i][::-1]
    return (up[:1] + down[:1]) if _QUICK else (up + down)

def _bars(widget):
    found = []
    if isinstance(widget, (_widgets.FloatProgress, _widgets.IntProgress)):
        found.append(widget)
    for child in getattr(widget, "children", ()):
        found.extend(_bars(child))
    return found

_report = []
for _k, _panel in enumerate(_LivePanel.instances()):
    _events = []           # (time, kind, value) of every change of a progress bar
    _bar_list = _bars(_panel.widget)
    for _bar in _bar_list:
        _bar.observe(lambda ch, b=_bar: _events.append(
            (_time.perf_counter(), "value", ch["new"], b.layout.display != "none",
             b.min, b.max)), names="value")
        _bar.layout.observe(lambda ch: _events.append(
            (_time.perf_counter(), "display", ch["new"], None, None, None)), names="display")
    _moves = []
    for _name, _control in _panel.controls.items():
        _default = _control.value
        for _target in _tour(_control) + [_default]:
            _before, _seen = len(_panel.timings), len(_events)
            _start = _time.perf_counter()
            _control.value = _target
            _panel.wait()          # a kernel recomputes in a worker thread
            _end = _time.perf_counter()
            if _target == _default and len(_panel.timings) == _before:
                continue           # the return to the default: already shown
            if len(_panel.timings) == _before:
                _moves.append({"control": _name, "value": repr(_target), "seconds": None,
                               "progress": False, "bar_values": [],
                               "note": "no refresh happened"})
                continue
            _vals = [(v, shown, lo, hi) for t, kind, v, shown, lo, hi in _events[_seen:]
                     if kind == "value" and _start <= t <= _end]
            _inner = [v for v, shown, lo, hi in _vals if shown and lo < v < hi]
            _order = [v for v, shown, _, _ in _vals if shown]
            _moves.append({"control": _name, "value": repr(_target),
                           "seconds": _panel.timings[-1],
                           "return_to_default": _target == _default,
                           "progress": bool(_inner) and _order == sorted(_order),
                           "bar_values": [round(v, 4) for v, _, _, _ in _vals]})
    _report.append({"panel": _k, "controls": list(_panel.controls), "bars": len(_bar_list),
                    "initial_seconds": _panel.timings[0] if _panel.timings else None,
                    "moves": _moves})
print("''' + MARK + r'''" + _json.dumps(_report))
'''


def measure(path: Path, *, quick: bool = False, timeout: int = 3600) -> dict:
    """Execute ``path`` in a fresh kernel, then the probe; the probe's report."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE.replace("__QUICK__", repr(bool(quick)))))
    env_before = os.environ.get("JAX_ENABLE_COMPILATION_CACHE")
    os.environ["JAX_ENABLE_COMPILATION_CACHE"] = "false"     # inherited by the kernel
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if env_before is None:
            os.environ.pop("JAX_ENABLE_COMPILATION_CACHE", None)
        else:
            os.environ["JAX_ENABLE_COMPILATION_CACHE"] = env_before
    elapsed = time.perf_counter() - start
    text = "".join(out.get("text", "") for out in nb.cells[-1].outputs
                   if out.get("output_type") == "stream")
    line = next(ln for ln in text.splitlines() if ln.startswith(MARK))
    panels = json.loads(line[len(MARK):])
    return {"notebook": path.name, "execute_seconds": elapsed, "panels": panels}


def judge(seconds: list[float], progress: list[bool], *, goal: float = GOAL_SECONDS,
          limit: float = LIMIT_SECONDS) -> tuple[bool, str]:
    """The goal for one knob's first-visit moves: ``(passed, how)``."""
    if not seconds:
        return True, "no moves"
    median = statistics.median(seconds)
    if median <= goal:
        return True, f"median <= {goal:g} s"
    slow_without_bar = [s for s, p in zip(seconds, progress) if s > goal and not p]
    if max(seconds) <= limit and not slow_without_bar:
        return True, f"progress shown, max <= {limit:g} s"
    if slow_without_bar:
        return False, f"{len(slow_without_bar)} slow move(s) without progress"
    return False, f"max {max(seconds):.1f} s > {limit:g} s"


def summarize(result: dict, *, goal: float = GOAL_SECONDS, limit: float = LIMIT_SECONDS) -> dict:
    """Per panel and knob: the first-visit moves (the return to the default excluded)."""
    knobs = []
    for panel in result["panels"]:
        for name in panel["controls"]:
            moves = [m for m in panel["moves"] if m["control"] == name
                     and not m.get("return_to_default")]
            missing = [m for m in moves if m["seconds"] is None]
            timed = [m for m in moves if m["seconds"] is not None]
            seconds = [m["seconds"] for m in timed]
            ok, how = judge(seconds, [m["progress"] for m in timed], goal=goal, limit=limit)
            if missing:
                ok, how = False, f"{len(missing)} move(s) did not refresh"
            knobs.append({
                "panel": panel["panel"], "control": name, "moves": len(moves),
                "median_s": statistics.median(seconds) if seconds else None,
                "max_s": max(seconds) if seconds else None,
                "slowest_value": max(timed, key=lambda m: m["seconds"])["value"] if timed else None,
                "moves_with_progress": sum(m["progress"] for m in timed),
                "pass": ok, "how": how})
    return {"notebook": result["notebook"], "execute_seconds": result["execute_seconds"],
            "knobs": knobs, "pass": all(k["pass"] for k in knobs)}


def table(rows: list[dict]) -> str:
    lines = [f"{'notebook':<34}{'knob':<20}{'moves':>6}{'median':>9}{'max':>8}{'bar':>5}  goal"]
    for r in rows:
        if not r["knobs"]:
            lines.append(f"{r['notebook']:<34}(no live panel)")
        for k in r["knobs"]:
            med = "-" if k["median_s"] is None else f"{k['median_s']:.2f}s"
            mx = "-" if k["max_s"] is None else f"{k['max_s']:.2f}s"
            knob = k["control"] if k["panel"] == 0 else f"{k['panel']}:{k['control']}"
            lines.append(f"{r['notebook']:<34}{knob:<20}{k['moves']:>6}{med:>9}{mx:>8}"
                         f"{k['moves_with_progress']:>5}  {'PASS' if k['pass'] else 'FAIL'} "
                         f"({k['how']})")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "widgets.json")
    parser.add_argument("--quick", action="store_true",
                        help="visit only the values next to each default")
    parser.add_argument("--goal", type=float, default=GOAL_SECONDS,
                        help="median redraw per knob, seconds (default 2)")
    parser.add_argument("--limit", type=float, default=LIMIT_SECONDS,
                        help="max redraw with determinate progress, seconds (default 10)")
    args = parser.parse_args(argv)
    if not 0 < args.goal <= args.limit:
        parser.error(f"need 0 < --goal <= --limit; got goal {args.goal}, limit {args.limit}")
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        if not path.is_file():
            parser.error(f"notebook not found: {path}")
    paths = [p for p in paths if "live_panel(" in p.read_text(encoding="utf-8")]
    load_before = os.getloadavg()
    rows, raw = [], []
    for path in paths:
        print(f"measuring {path.name} ...", flush=True)
        result = measure(path, quick=args.quick)
        raw.append(result)
        rows.append(summarize(result, goal=args.goal, limit=args.limit))
        print(table(rows[-1:]), flush=True)
    print()
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "goal": {"median_seconds": args.goal, "or_progress_and_max_seconds": args.limit,
                 "moves": "every value of every knob, first visits, fresh kernel, "
                          "no persistent compilation cache" + (" (quick: one notch each way)"
                                                                if args.quick else "")},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": sys.version.split()[0],
                    "load_average_before": [round(v, 2) for v in load_before],
                    "load_average_after": [round(v, 2) for v in os.getloadavg()]},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "summary": rows, "raw": raw}, indent=1))
    print(f"\nwrote {args.out}")
    return 0 if all(r["pass"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
