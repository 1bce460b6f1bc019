"""The notebooks in a real JupyterLab (Playwright driving Debian's Chromium), as a student sees them.

Starts ONE JupyterLab server from this environment on 127.0.0.1 (no token, a free port, its
own settings, workspaces and config folders, autosave off, on *copies* of the notebooks in a
temporary folder, so nothing in ``notebooks/`` is written), then:

* **every notebook's prose** (``test_prose_in_jupyterlab[NAME]``, rendering only, no kernel
  code runs): the notebooks are opened in turn in one JupyterLab page and closed again (their
  kernels shut down). In each, every Markdown cell is rendered by jupyterlab-myst and shows no
  raw MyST (``{prf:``, ``:label:``, ``{cite``, ``{ref}``, ``{exercise``, ``{solution``,
  ``(label)=`` targets, fences, ``$$``, TeX commands outside typeset maths) and no "Cross
  Reference Not Found" mark; every solution is collapsed: the cells between
  ``{solution-start}`` and ``{solution-end}`` (found by scanning the notebook's source) are
  collapsed cells and no other cell is, every dropdown (``{solution}`` blocks, the
  solution-start bar) is closed, and no sentence of a solution is visible; no live panel
  shows a ``VBox(`` repr. Screenshots: ``_build/jupyterlab/prose-NAME.png`` (top) and
  ``prose-NAME-exercises.png`` (the first exercise). About 10-40 s per notebook on 2 busy
  cores, a few minutes for all.
* **the checker can fail** (``test_the_prose_check_catches_a_broken_notebook``): the same
  check on a scratch notebook written by the test, with a raw directive, a reference that
  does not resolve and a solution that is not collapsed, names exactly those.
* **chapter 1 runs** (``test_chapter_1_in_jupyterlab``, ``01_pl_gradient_descent.ipynb``), in
  one visit:

  - before the kernel runs, the exercises' solutions are collapsed cells (not visible), the
    rendered Markdown has no raw MyST; the directives render as jupyterlab-myst's admonition
    boxes; the maths is typeset; the live panel shows its static placeholder ("Run this
    cell ..."), never a ``VBox(`` repr;
  - after Run All (the Run menu): every code cell ran, no error output, no traceback;
  - in the live panel, each of the width and step-size sliders (and a radius slider if the
    panel has one) moved one notch with the keyboard redraws the panel's figure.

Without jupyterlab-myst the Markdown checks fail (JupyterLab then shows the directives
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
import time
from pathlib import Path

import nbformat
import pytest

from lab_server import CHROMIUM, chromium_or_skip, running_lab

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "01_pl_gradient_descent.ipynb"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SCRATCH = "scratch/zz_broken_prose.ipynb"   # written by the fixture: the check must fail on it
SHOTS = ROOT / "_build" / "jupyterlab"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_START_S = 120      # JupyterLab's server answering /api/status
OPEN_S = 180              # the notebook rendered in the page (2 busy cores: ~45 s seen)
CLOSE_S = 60              # a notebook's tab closed and its kernel shut down
MYST_S = 60               # jupyterlab-myst's rendering of the cells JupyterLab marked rendered
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
    chromium_or_skip("Chromium not found (apt-get install chromium): the JupyterLab browser "
                     "test did NOT run")
    base = tmp_path_factory.mktemp("lab")
    (base / "notebooks").mkdir()
    for path in NOTEBOOKS:
        shutil.copy2(path, base / "notebooks" / path.name)
    (base / SCRATCH).parent.mkdir()
    nbformat.write(broken_notebook(), base / SCRATCH)
    _write_settings(base / "settings")
    config_dir = os.environ.get("LPLR_LAB_CONFIG_DIR") or str(base / "config")
    env = dict(os.environ, JAX_PLATFORMS="cpu", JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"), JUPYTER_CONFIG_DIR=config_dir,
               # The notebook's first cell finds the companion here, not by fetching it.
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    # window.jupyterapp: the prose test opens and closes notebooks with Lab's commands.
    with running_lab(base, env, "--LabApp.expose_app_in_browser=True",
                     start_seconds=SERVER_START_S) as url:
        yield url, base


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


# ------------------------------------------------------------------ every notebook's prose

# Which cells hold solutions, from the notebook's source (independent of how Lab shows them).
_SOLUTION_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|:{3,})\{(?P<name>solution(?:-start|-end)?)\}")
# A run of plain words that reads the same in the source and in the rendered text.
_PHRASE = re.compile(r"[A-Za-z][A-Za-z ,;]{28,}[A-Za-z]")


def gated_cells(nb) -> set[int]:
    """Cells after the one that opens a ``{solution-start}`` gate, through the one closing it."""
    inside, cells = False, set()
    for index, cell in enumerate(nb.cells):
        text = cell.source if cell.cell_type == "markdown" else ""
        if inside:
            cells.add(index)
        start, end = text.rfind("{solution-start}"), text.rfind("{solution-end}")
        if start >= 0 or end >= 0:          # the later marker of the cell decides
            inside = start > end
    return cells


def solution_phrases(nb) -> dict[int, list[str]]:
    """Per Markdown cell, phrases of solution text (gated prose and ``{solution}`` bodies)."""
    phrases: dict[int, list[str]] = {}
    gated, block, options = False, None, False
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            match = _SOLUTION_FENCE.match(line)
            stripped = line.strip()
            if options:                       # the option lines of a start/end fence
                options = not stripped.startswith(("```", ":::"))
                continue
            if block is not None:
                if stripped and set(stripped) == {block[0]} and len(stripped) >= len(block):
                    block = None
                    continue
            elif match:
                if match["name"] == "solution":
                    block = match["fence"]
                else:
                    gated, options = match["name"] == "solution-start", True
                continue
            if (block is not None or gated) and not stripped.startswith((":", "%", "|")):
                found = _PHRASE.findall(line)
                if found:
                    phrases.setdefault(index, []).append(max(found, key=len))
    return phrases


# Per cell of the open notebook: what the reader sees.
_CELL_STATE = """(root) => [...root.querySelectorAll('.jp-Cell')].map(cell => {
  const markdown = cell.classList.contains('jp-MarkdownCell');
  const area = cell.querySelector('.jp-Cell-inputArea');
  let text = '', noCode = '';
  if (markdown && area) {
    const clone = area.cloneNode(true);
    clone.querySelectorAll('.jp-InputArea-editor, .jp-InputPrompt, .katex, mjx-container, .MathJax')
         .forEach(e => e.remove());
    text = clone.textContent;
    clone.querySelectorAll('code, pre').forEach(e => e.remove());
    noCode = clone.textContent;
  }
  return {markdown, text, noCode,
          collapsed: !!cell.querySelector('.jp-InputPlaceholder'),
          myst: !!cell.querySelector('.myst'),
          visible: (cell.innerText || '').replace(/\\s+/g, ' '),
          present: (cell.textContent || '').replace(/\\s+/g, ' '),
          unresolved: [...cell.querySelectorAll("[title='Cross Reference Not Found']")].map(e => e.textContent),
          openDropdowns: [...cell.querySelectorAll('details')].filter(d => d.open)
                           .map(d => d.innerText.slice(0, 80)),
          outputs: [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText.slice(0, 200))};
})"""


# Scroll the first exercise box (and the solution bar under it) into view.
_SCROLL_TO_EXERCISE = """(root) => {
  const cell = [...root.querySelectorAll('.jp-MarkdownCell')].find(c =>
    [...c.querySelectorAll('.myst aside, .myst details, .myst div')]
      .some(e => /^Exercise\\s/.test(e.innerText || '')));
  if (cell) cell.scrollIntoView({block: 'start'});
  return !!cell;
}"""


def prose_problems(cells: list[dict], nb) -> list[str]:
    """What a reader of the open notebook would see wrong, one line per problem."""
    if len(cells) != len(nb.cells):
        return [f"{len(cells)} cells shown, the notebook has {len(nb.cells)}"]
    problems = []
    gated, phrases = gated_cells(nb), solution_phrases(nb)
    for index, (cell, state) in enumerate(zip(nb.cells, cells)):
        where = f"cell {index}"
        if cell.cell_type == "markdown":
            if not state["collapsed"] and not state["myst"]:
                problems.append(f"{where}: not rendered by jupyterlab-myst")
            raw = sorted({m.group(0).strip() for pat in RAW_MYST
                          for m in re.finditer(pat, state["text"], re.M)})
            if raw:
                problems.append(f"{where}: raw MyST {raw}")
            tex = sorted({m.group(0) for pat in RAW_TEX for m in re.finditer(pat, state["noCode"])})
            if tex:
                problems.append(f"{where}: raw TeX {tex[:5]}")
            if index not in gated and state["collapsed"]:
                problems.append(f"{where}: prose collapsed outside a solution")
        if state["unresolved"]:
            problems.append(f"{where}: cross-reference not found {state['unresolved']}")
        if index in gated and not state["collapsed"]:
            problems.append(f"{where}: inside a solution but not collapsed")
        if state["openDropdowns"]:
            problems.append(f"{where}: open dropdown {state['openDropdowns']}")
        shown = [p for p in phrases.get(index, []) if p in state["visible"]]
        if shown:
            problems.append(f"{where}: solution text visible {shown[:2]}")
        if any("VBox(" in o or "children=(" in o for o in state["outputs"]):
            problems.append(f"{where}: a live panel shows its VBox(...) repr")
    return problems


def broken_notebook():
    """A scratch notebook with three faults the prose check must name (and nothing else)."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [
        md("# Scratch\n\nA paragraph with maths, $x^2 + 1$, rendered as it should be."),
        code("x = 1"),
        md("A theorem indented by four spaces is a code block, so its directive shows raw:\n\n"
           "    ```{prf:theorem} Shown raw\n    :label: thm-raw\n    Text.\n    ```"),
        md("A reference to a label that no cell defines: {ref}`a-label-nowhere`."),
        md("```{exercise} Add\n:label: ex-scratch\n\nAdd two and two.\n```\n\n"
           "```{solution-start} ex-scratch\n:class: dropdown\n```"),
        md("The answer is four because two plus two makes four in any base above four.\n\n"
           "```{solution-end}\n```"),
        md("After the exercise."),
    ]
    return nb


BROKEN_EXPECTED = [
    "cell 2: raw MyST",
    "cell 3: cross-reference not found",
    "cell 5: inside a solution but not collapsed",
    "cell 5: solution text visible",
]


def _open_notebook(page, path: str, n_cells: int) -> float:
    """Open ``path`` (relative to the server root) in the running Lab page; seconds taken."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    start = time.monotonic()
    page.evaluate("(path) => window.jupyterapp.commands.execute('docmanager:open', {path})", path)
    page.wait_for_function(
        "(n) => { const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');"
        " if (!nb) return false; const cells = nb.querySelectorAll('.jp-Cell');"
        " return cells.length === n && [...nb.querySelectorAll('.jp-MarkdownCell')].every(c =>"
        " c.classList.contains('jp-mod-rendered') || c.querySelector('.jp-InputPlaceholder')); }",
        arg=n_cells, timeout=OPEN_S * 1000)
    # jupyterlab-myst renders after JupyterLab marks a cell rendered: wait for its output in
    # every shown Markdown cell (without the extension this times out, and the check names
    # every cell it did not render).
    try:
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
            ".jp-MarkdownCell')].every(c => c.querySelector('.jp-InputPlaceholder, .myst'))",
            timeout=MYST_S * 1000)
    except PlaywrightTimeout:
        pass
    page.wait_for_timeout(1500)               # maths typesetting settles
    return time.monotonic() - start


def _close_all(page) -> None:
    """Dispose every open document (no save prompt) and shut down every kernel."""
    page.evaluate("async () => { const app = window.jupyterapp;"
                  " for (const w of [...app.shell.widgets('main')]) w.dispose();"
                  " await app.serviceManager.sessions.shutdownAll(); }")
    page.wait_for_function("() => !document.querySelector('.jp-NotebookPanel')",
                           timeout=CLOSE_S * 1000)


def _check_prose(page, path: str, nb, shot: str) -> tuple[list[str], float]:
    try:
        seconds = _open_notebook(page, path, len(nb.cells))
        root = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
        cells = root.evaluate(_CELL_STATE)
        problems = prose_problems(cells, nb)
        _shot(page, f"prose-{shot}")
        if root.evaluate(_SCROLL_TO_EXERCISE):
            page.wait_for_timeout(500)
            _shot(page, f"prose-{shot}-exercises")
    finally:
        _close_all(page)         # the next notebook opens alone, whatever happened here
    return problems, seconds


@pytest.fixture(scope="module")
def browser(lab):
    """Headless Chromium driven by Playwright, shared by every test of this module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _watch_foreign(page) -> list[str]:
    """The requests ``page`` makes to hosts other than this machine (filled as they happen)."""
    foreign: list[str] = []
    page.on("request", lambda req: foreign.append(req.url)
            if not re.match(r"(https?|wss?)://(127\.0\.0\.1|localhost)[:/]", req.url)
            and not req.url.startswith(("data:", "blob:")) else None)
    return foreign


@pytest.fixture(scope="module")
def lab_page(lab, browser):
    """One page with JupyterLab loaded (no document open), for the prose checks."""
    url, _ = lab
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    foreign = _watch_foreign(page)
    page.goto(f"{url}/lab?reset", timeout=OPEN_S * 1000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands"
                           ".hasCommand('docmanager:open')", timeout=OPEN_S * 1000)
    _close_all(page)
    yield page
    page.close()
    assert not foreign, f"requests to non-local hosts: {foreign[:5]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_prose_in_jupyterlab(lab_page, path):
    nb = nbformat.read(path, as_version=4)
    problems, seconds = _check_prose(lab_page, f"notebooks/{path.name}", nb, path.stem)
    print(f"\n{path.name}: opened and rendered in {seconds:.1f} s")
    assert not problems, (f"{path.name} in JupyterLab ({len(problems)} problems):\n  "
                          + "\n  ".join(problems))


def test_the_prose_check_catches_a_broken_notebook(lab_page):
    problems, _ = _check_prose(lab_page, SCRATCH, broken_notebook(), "scratch-broken")
    kinds = sorted({p.split(" [")[0].split(" {")[0] for p in problems})
    assert kinds == sorted(BROKEN_EXPECTED), problems


def test_chapter_1_in_jupyterlab(lab, browser):
    url, _ = lab
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        foreign = _watch_foreign(page)
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
        page.close()
