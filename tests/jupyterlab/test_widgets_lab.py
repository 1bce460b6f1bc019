"""The live panel's progress bar moves in a real JupyterLab while the kernel computes.

A JupyterLab server from this environment (127.0.0.1, no token, its own settings and
config folders) on a temporary folder holding one scratch notebook: a live panel whose
``compute`` takes about 3.6 s in six reported pieces. Playwright drives Debian's Chromium:
Run All, then the slider is moved one notch with the keyboard (the browser's own comm
message, as a reader's release), and the page is sampled every 100 ms. The bar must be
seen at two or more distinct fractions strictly between empty and full while the status
line says "computing", in increasing order (so the kernel's updates reach the front end
during the computation, not only when it ends), then be hidden once the panel says
"done in". Without Chromium the test skips loudly, except under CI.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import nbformat
import pytest

from lab_server import CHROMIUM, chromium_or_skip, running_lab

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "_build" / "jupyterlab"

PANEL = r'''
import time
from lplr_core.viz.widgets import live_panel, options_slider

def explore(n, progress):
    if n != 1:
        for k in range(6):
            progress(k / 6, f"piece {k + 1} of 6")
            time.sleep(0.6)
    return f"n = {n}"

live_panel(explore, {"n": options_slider("n", [0, 1, 2], 1)}, title="Progress check")
'''

# The panel's progress bar: shown or not, and its fill (percent of the track).
_BAR = """(p) => { const fill = p.querySelector('.progress-bar');
  if (!fill) return null;
  const bar = fill.closest('.widget-hprogress, .jupyter-widget-hprogress, .widget-progress, '
                           + '.widget-inline-hbox') || fill;
  const shown = bar.offsetParent !== null && getComputedStyle(bar).display !== 'none';
  const track = fill && fill.parentElement;
  const pct = fill && track && track.clientWidth ? 100 * fill.clientWidth / track.clientWidth
                                                 : null;
  const styled = fill ? parseFloat(fill.style.width) : null;
  return {shown, pct, styled, text: p.innerText}; }"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    chromium_or_skip("Chromium not found: the JupyterLab progress-bar test did NOT run")
    pytest.importorskip("playwright")
    base = tmp_path_factory.mktemp("lab-progress")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(PANEL)]
    nbformat.write(nb, base / "progress.ipynb")
    settings = base / "settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    env = dict(os.environ, JAX_PLATFORMS="cpu", JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
               JUPYTER_CONFIG_DIR=str(base / "config"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    with running_lab(base, env) as url:
        yield url


def test_progress_bar_moves_while_the_kernel_computes(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(f"{lab}/lab/tree/progress.ipynb", timeout=180_000)
            page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=180_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle'], "
                                   ".jp-KernelStatus", timeout=180_000)
            try:   # a notebook JupyterLab has not run yet may ask which kernel to start
                page.click(".jp-Dialog .jp-mod-accept", timeout=15_000)
            except Exception:
                pass
            page.wait_for_function("() => /\\| Idle/.test(document.querySelector("
                                   "'.jp-StatusBar-Widget')?.innerText || '')",
                                   timeout=180_000)
            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
            panel = page.locator(".jp-OutputArea-output .widget-vbox").filter(
                has=page.locator(".widget-slider")).first
            try:
                panel.wait_for(timeout=240_000)
            except Exception:
                SHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SHOTS / "progress-no-panel.png"))
                raise
            page.wait_for_function("(p) => /done in/.test(p.innerText)",
                                   arg=panel.element_handle(), timeout=240_000)
            before = panel.evaluate(_BAR)
            assert before is not None, "the panel has no progress bar"
            assert not before["shown"], "the bar is shown before any computation"
            handle = panel.locator(".noUi-handle, .ui-slider-handle").first
            handle.focus()
            handle.press("ArrowRight")
            samples, deadline = [], time.monotonic() + 120
            while time.monotonic() < deadline:
                state = panel.evaluate(_BAR)
                samples.append(state)
                if state["shown"] and not any(x["shown"] for x in samples[:-1]):
                    SHOTS.mkdir(parents=True, exist_ok=True)    # the bar, mid-computation
                    page.screenshot(path=str(SHOTS / "progress-computing.png"))
                if "n = 2" in state["text"] and "done in" in state["text"]:
                    break
                page.wait_for_timeout(100)
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "progress-after.png"))
        finally:
            browser.close()
    computing = [s for s in samples if "computing" in s["text"] and s["shown"]]
    fractions = [round(s["styled"] if s["styled"] == s["styled"] and s["styled"] is not None
                       else s["pct"], 1) for s in computing]
    inner = sorted({f for f in fractions if f is not None and 0 < f < 100})
    assert len(inner) >= 2, f"the bar did not advance while computing: {fractions}"
    assert [f for f in fractions if f is not None] == sorted(f for f in fractions
                                                             if f is not None), fractions
    texts = {re.search(r"piece \d of 6", s["text"]).group(0) for s in computing
             if re.search(r"piece \d of 6", s["text"])}
    assert len(texts) >= 2, f"the status line did not follow the pieces: {texts}"
    assert "done in" in samples[-1]["text"] and not samples[-1]["shown"], \
        "the bar is still shown after the redraw"
