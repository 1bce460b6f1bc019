"""A theory notebook in a real JupyterLab (Playwright driving Debian's Chromium), as a student sees it.

Starts JupyterLab from this environment on 127.0.0.1 (no token, a free port, its own
settings, workspaces and config folders, autosave off, on a *copy* of the notebook in a
temporary folder, so nothing in ``notebooks/`` is written), opens chapter 1
(``01_pl_gradient_descent.ipynb``) and checks, in one visit:

* before the kernel runs, the exercises' solutions are collapsed cells (not visible), the
  rendered Markdown has no raw MyST (``{prf:``, ``:label:``,
  ``{cite``, ``{ref}``, ``{exercise``, ``{solution``, ``(label)=`` targets, fences, ``$$``,
  TeX commands outside typeset maths) and no "Cross Reference Not Found" mark; the
  directives render as jupyterlab-myst's admonition boxes; the maths is typeset; the live
  panel shows its static placeholder ("Run this cell ..."), never a ``VBox(`` repr;
* after Run All (the Run menu): every code cell ran, no error output, no traceback;
* in the live panel, each of the width and step-size sliders (and a radius slider if
  the panel has one) moved one notch with the keyboard redraws the panel's figure.

Without jupyterlab-myst the Markdown check fails (JupyterLab then shows the directives
and roles as raw text). Screenshots go to ``_build/jupyterlab/``. Everything is bounded
by timeouts, and the server's whole process group is killed at the end.

Without Chromium the test skips with a loud message, except under CI, where a missing
browser is a failure (as in ``tests/browser``). ``LPLR_LAB_CONFIG_DIR`` names the Jupyter
config folder the server uses (default: a fresh temporary one); it exists to check that
the test fails with the extension disabled there
(``JUPYTER_CONFIG_DIR=... jupyter labextension disable jupyterlab-myst``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "01_pl_gradient_descent.ipynb"
SHOTS = ROOT / "_build" / "jupyterlab"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
JUPYTER_LAB = Path(sys.executable).with_name("jupyter-lab")
SERVER_START_S = 120      # JupyterLab's server answering /api/status
OPEN_S = 180              # the notebook rendered in the page (2 busy cores: ~45 s seen)
RUN_ALL_S = 900           # every code cell of chapter 1 executed
MOVE_S = 240              # one slider notch recomputed and redrawn (a new width trains)

# Raw MyST that must never reach the reader as text.
RAW_MYST = [r"\{prf:", r"^:label:", r":label:\s", r"\{cite", r"\{ref\}", r"\{numref\}",
            r"\{exercise\}", r"\{solution", r"\{admonition\}", r"^\([\w:.-]+\)=\s*$",
            r"^```", r"^:::", r"\$\$", r"\{doc\}"]
# TeX left as text outside typeset maths (code spans excluded).
RAW_TEX = [r"\\(frac|lambda|mu|theta|eta|beta|nabla|sum|le|ge|min|max|mathbb|mathrm|Theta)\b",
           r"(?<![\w$])\$[^$\s][^$]*\$"]
# Which slider each knob is: its description, as the panel labels it.
KNOBS = {"width": re.compile(r"width", re.I), "step size": re.compile(r"η|eta|step", re.I),
         "radius": re.compile(r"radius|\br\b", re.I)}


def _chromium_or_skip():
    if not Path(CHROMIUM).exists():
        message = ("Chromium not found (apt-get install chromium): the JupyterLab browser test "
                   "did NOT run")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_settings(folder: Path) -> None:
    settings = {
        # Every cell in the DOM (no virtual scrolling), so the page can be read whole.
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        # The test must never write the notebook it runs.
        "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
        # No news or update checks (no request leaves the machine).
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                        "checkForUpdates": False},
    }
    for plugin, values in settings.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of the notebook: ``(base_url, folder)``."""
    _chromium_or_skip()
    assert JUPYTER_LAB.exists(), f"{JUPYTER_LAB} missing: JupyterLab is not installed in .venv"
    base = tmp_path_factory.mktemp("lab")
    (base / "notebooks").mkdir()
    shutil.copy2(NOTEBOOK, base / "notebooks" / NOTEBOOK.name)
    _write_settings(base / "settings")
    config_dir = os.environ.get("LPLR_LAB_CONFIG_DIR") or str(base / "config")
    env = dict(os.environ, JAX_PLATFORMS="cpu", JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"), JUPYTER_CONFIG_DIR=config_dir,
               # The notebook's first cell finds the companion here, not by fetching it.
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    port = _free_port()
    log = open(base / "server.log", "w")
    server = subprocess.Popen(
        [str(JUPYTER_LAB), "--no-browser", "--ip", "127.0.0.1", f"--port={port}",
         "--ServerApp.token=", "--ServerApp.password=", "--allow-root",
         "--ServerApp.port_retries=0", f"--ServerApp.root_dir={base}",
         "--NotebookNotary.db_file=:memory:"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("JupyterLab did not start:\n"
                                         + (base / "server.log").read_text()[-3000:])
                time.sleep(0.5)
        yield url, base
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
        except ProcessLookupError:
            pass
        log.close()


# The rendered Markdown of every Markdown cell, maths removed (it is checked apart), and
# the same with code spans and blocks removed too (for the TeX check).
_MARKDOWN_TEXT = """() => [...document.querySelectorAll('.jp-MarkdownCell .jp-Cell-inputArea')].map(area => {
  const clone = area.cloneNode(true);
  clone.querySelectorAll('.jp-InputArea-editor, .jp-InputPrompt, .katex, mjx-container, .MathJax')
       .forEach(e => e.remove());
  const text = clone.innerText || clone.textContent;
  clone.querySelectorAll('code, pre').forEach(e => e.remove());
  return [text, clone.innerText || clone.textContent];
})"""

_PANEL_STATE = """(panel) => {
  const plot = panel.querySelector('.js-plotly-plot');
  const title = plot && plot.querySelector('.gtitle');
  const svg = plot && plot.querySelector('.main-svg');
  return {title: title ? title.textContent : null,
          traces: svg ? [...svg.querySelectorAll('.scatterlayer path.js-line')].map(p => p.getAttribute('d')).join('|') : null,
          status: panel.innerText};
}"""


def _shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def _menu(page, menu, item):
    page.click(f".lm-MenuBar-itemLabel:text-is('{menu}')")
    page.click(f".lm-Menu-itemLabel:text-is('{item}')")


def _run_all(page):
    # The stored outputs carry execution counts: clear them first, so that a numbered
    # prompt means "ran in this kernel".
    _menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea .jp-InputPrompt')]"
        ".every(e => !/\\d/.test(e.textContent))", timeout=30_000)
    _menu(page, "Run", "Run All Cells")


def _prompts(page):
    # The prompts of the code cells whose input is shown (a collapsed solution shows none).
    return page.eval_on_selector_all(".jp-CodeCell .jp-InputArea .jp-InputPrompt",
                                     "els => els.map(e => e.textContent.trim())")


def _kernel_idle(page) -> bool:
    return "| Idle" in page.locator(".jp-StatusBar-Widget").inner_text()


def test_chapter_1_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    url, _ = lab
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            foreign = []
            page.on("request", lambda req: foreign.append(req.url)
                    if not re.match(r"(https?|wss?)://(127\.0\.0\.1|localhost)[:/]", req.url)
                    and not req.url.startswith(("data:", "blob:")) else None)
            page.goto(f"{url}/lab/tree/notebooks/{NOTEBOOK.name}", timeout=OPEN_S * 1000)
            page.wait_for_selector(".jp-Notebook .jp-MarkdownCell", timeout=OPEN_S * 1000)
            # Rendered: every Markdown cell shows its rendered output (or, for a collapsed
            # solution, its placeholder bar).
            page.wait_for_function(
                "() => document.querySelectorAll('.jp-MarkdownCell').length > 0 && "
                "[...document.querySelectorAll('.jp-MarkdownCell')].every(c => "
                "c.classList.contains('jp-mod-rendered') || c.querySelector('.jp-Placeholder'))",
                timeout=OPEN_S * 1000)
            page.wait_for_timeout(3000)           # maths typesetting settles
            _shot(page, "01-opened")

            # --- the prose, before anything runs
            texts = page.evaluate(_MARKDOWN_TEXT)
            assert len(texts) >= 15, f"only {len(texts)} Markdown cells rendered"
            raw = [(i, pat, m.group(0)) for i, (text, _) in enumerate(texts) for pat in RAW_MYST
                   for m in re.finditer(pat, text, re.M)]
            assert not raw, f"raw MyST in the rendered Markdown (cell, pattern, text): {raw[:10]}"
            tex = [(i, m.group(0)) for i, (_, text) in enumerate(texts) for pat in RAW_TEX
                   for m in re.finditer(pat, text)]
            assert not tex, f"raw TeX outside typeset maths (cell, text): {tex[:10]}"
            unresolved = page.eval_on_selector_all(
                ".jp-MarkdownCell [title='Cross Reference Not Found']",
                "els => els.map(e => e.textContent)")
            assert not unresolved, f"cross-references that do not resolve in Lab: {unresolved}"
            assert page.locator(".jp-MarkdownCell .myst").count() >= 15, \
                "Markdown is not rendered by jupyterlab-myst"
            boxes = page.locator(".jp-MarkdownCell .myst aside, .jp-MarkdownCell .myst details")
            assert boxes.count() >= 8, f"only {boxes.count()} directive boxes rendered"
            assert page.locator(".jp-MarkdownCell .katex").count() >= 50, "maths not typeset"
            # Solutions (text and code, between {solution-start} and {solution-end}) are
            # collapsed cells: chapter 1's three solutions are at least six collapsed cells,
            # and a sentence of a solution is not visible until the reader expands it.
            collapsed = page.locator(".jp-Cell .jp-InputPlaceholder").count()
            assert collapsed >= 6, f"only {collapsed} collapsed cells: solutions are shown"
            rendered = page.locator(".jp-MarkdownCell .myst").filter(
                has_text="converges to the spurious local minimum")
            assert rendered.count() == 0, "a solution's text is shown uncollapsed"
            previews = page.eval_on_selector_all(
                ".jp-MarkdownCell .jp-InputPlaceholder", "els => els.map(e => e.innerText)")
            assert all("solution" in p for p in previews), f"collapsed prose shows: {previews}"

            # --- the live panel before the kernel runs: the static placeholder
            outputs = page.eval_on_selector_all(".jp-CodeCell .jp-OutputArea-output",
                                                "els => els.map(e => e.innerText)")
            assert not [o for o in outputs if "VBox(" in o or "children=(" in o], \
                "a live panel shows its VBox(...) repr before the kernel runs"
            placeholder = page.locator(".lplr-panel-placeholder")
            assert placeholder.count() >= 1, "no live-panel placeholder in the stored outputs"
            assert "Run this cell" in placeholder.first.inner_text()
            placeholder.first.scroll_into_view_if_needed()
            _shot(page, "02-panel-placeholder")

            # --- Run All
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle'], "
                                   ".jp-KernelStatus", timeout=OPEN_S * 1000)
            assert _prompts(page), "no code cell prompts found"
            _run_all(page)
            deadline, idle_polls = time.monotonic() + RUN_ALL_S, 0
            while True:
                prompts = _prompts(page)
                # Done: every shown prompt numbered, and the kernel idle on three polls in a
                # row (a collapsed solution cell, whose prompt is not shown, may run last).
                numbered = all(re.fullmatch(r"\[\d+\]:", p) for p in prompts)
                idle_polls = idle_polls + 1 if numbered and _kernel_idle(page) else 0
                if idle_polls >= 3:
                    break
                errors = page.locator("[data-mime-type='application/vnd.jupyter.error']").count()
                assert errors == 0, "a cell raised: " + page.locator(
                    "[data-mime-type='application/vnd.jupyter.error']").first.inner_text()[:2000]
                assert time.monotonic() < deadline, (
                    f"Run All did not finish in {RUN_ALL_S} s: prompts {prompts}")
                page.wait_for_timeout(1000)
            assert len(prompts) >= 10, f"only {len(prompts)} code cells ran: {prompts}"
            _shot(page, "03-ran-all")
            errors = page.locator("[data-mime-type='application/vnd.jupyter.error']")
            assert errors.count() == 0, f"error output: {errors.first.inner_text()[:2000]}"
            outputs = page.eval_on_selector_all(".jp-CodeCell .jp-OutputArea-output",
                                                "els => els.map(e => e.innerText)")
            bad = [o[:300] for o in outputs if "Traceback" in o or "Could not compute" in o]
            assert not bad, f"error text in the outputs: {bad}"

            # --- the live panel: each knob redraws the figure
            panel = page.locator(".jp-OutputArea-output .widget-vbox").filter(
                has=page.locator(".widget-slider")).first
            panel.wait_for(timeout=MOVE_S * 1000)
            panel.scroll_into_view_if_needed()
            page.wait_for_function(
                "(p) => p.querySelector('.js-plotly-plot .main-svg') && /done in/.test(p.innerText)",
                arg=panel.element_handle(), timeout=MOVE_S * 1000)
            _shot(page, "04-panel-live")
            sliders = panel.locator(".widget-slider")
            labels = [sliders.nth(i).locator(".widget-label").inner_text()
                      for i in range(sliders.count())]
            moved = []
            for knob, pattern in KNOBS.items():
                hits = [i for i, label in enumerate(labels) if pattern.search(label)]
                if not hits:
                    assert knob == "radius", f"no {knob} slider in the panel: {labels}"
                    continue
                before = panel.evaluate(_PANEL_STATE)
                handle = sliders.nth(hits[0]).locator(".noUi-handle, .ui-slider-handle").first
                handle.focus()
                handle.press("ArrowRight")
                page.wait_for_function(
                    "([p, before]) => { const plot = p.querySelector('.js-plotly-plot');"
                    " const t = plot && plot.querySelector('.gtitle');"
                    " const d = plot ? [...plot.querySelectorAll('.scatterlayer path.js-line')]"
                    ".map(x => x.getAttribute('d')).join('|') : null;"
                    " return /done in/.test(p.innerText) && plot &&"
                    " ((t ? t.textContent : null) !== before.title || d !== before.traces); }",
                    arg=[panel.element_handle(), before], timeout=MOVE_S * 1000)
                after = panel.evaluate(_PANEL_STATE)
                assert after["traces"] != before["traces"], f"moving {knob} kept the curves"
                moved.append(knob)
                _shot(page, f"05-moved-{knob.replace(' ', '-')}")
            assert {"width", "step size"} <= set(moved), moved
            assert not foreign, f"requests to non-local hosts: {foreign[:5]}"
        finally:
            browser.close()
