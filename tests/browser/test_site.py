"""The built site in a real browser (Playwright driving Debian's Chromium), as a reader sees it.

Serves the built site on 127.0.0.1 and opens every page at two viewports, a desktop
(1366x900) and a phone (390x844). Each page is loaded once per viewport; what the
reader would see is measured in that one visit and each check below is its own test
function, so a failure names the check, the page and the viewport:

* ``test_page_loads_cleanly``: no console error, uncaught exception, request to a
  non-local host or traceback; every plotly figure drew; every ``span.math`` /
  ``div.math`` was typeset by MathJax.
* ``test_no_raw_tex``: no TeX left as text outside typeset maths (``\\frac``, ``\\(``,
  ``$...$``, ``^{``/``_{``), in the page text and in the text plotly draws; in figure
  text also no ``^``/``_`` sub/superscript markup (plotly draws ``<sub>``/``<sup>``).
* ``test_no_sideways_scroll``: no page is wider than the viewport.
* ``test_figure_titles_not_clipped``: every figure title and subplot title lies inside
  its figure and is not under the plotly toolbar.
* ``test_no_split_output_tables``: no cell prints one table as several output boxes.
* ``test_log_axes_span_at_most_40_decades``: no log axis of any figure, at any step of
  its sliders, spans more than 40 decades.
* ``test_legends_do_not_overlap``: no legend box covers a slider, an axis title or
  another legend.
* ``test_one_search_box`` and ``test_plotly_js_only_on_figure_pages``: site chrome.

Two site-wide checks: ``test_plotly_bundle_is_the_smallest_that_draws_the_book`` (the
served plotly.js draws every trace type the figures use and no smaller plotly bundle
would) and ``test_api_page_documents_namedtuple_fields`` (no "Alias for field number N").

One full-page screenshot per page per viewport goes to ``screenshots/`` next to the
site's ``html/`` folder (``_build/screenshots/`` for the default site), named
``PAGE--VIEWPORT.png``.

The site is ``_build/html`` unless ``LPLR_SITE`` names another built ``html`` folder
(e.g. ``LPLR_SITE=/tmp/book/_build/html``). Run after ``make book``; ``make test``
does both. Without Chromium the tests skip with a loud message, except under CI (the
CI script installs it), where a missing browser is a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("LPLR_SITE") or ROOT / "_build" / "html").resolve()
SHOTS = SITE.parent / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
MAX_LOG_DECADES = 40.0
# A box counts as overlapping another when they share more than this many px in
# both directions (anti-aliasing and rounding stay below it).
OVERLAP_PX = 2.0


def _require_browser():
    if not Path(CHROMIUM).exists():
        message = ("NO CHROMIUM: the real-browser test of the site did not run. "
                   "Install it with `apt-get install -y chromium`.")
        if os.environ.get("CI"):
            pytest.fail(message)
        print("\n" + "!" * 78 + "\n" + message + "\n" + "!" * 78)
        pytest.skip(message)
    if not (SITE / "index.html").exists():
        pytest.fail(f"no built site at {SITE}: run `make book` first (or set LPLR_SITE)")


# Every page of the book. index.html only redirects to book/intro.html, and the
# generated genindex / search / py-modindex / prf index pages are not the book's text;
# they are still visited for console errors and foreign requests (test_page_loads_cleanly).
ALL_PAGES = (sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
                    if not {"_static", "_sources", "_images"} & set(p.relative_to(SITE).parts))
             if SITE.exists() else [])
GENERATED = {"index.html", "genindex.html", "search.html", "py-modindex.html", "prf-prf.html"}
PAGES = [p for p in ALL_PAGES if p not in GENERATED]
CASES = [(v, p) for p in (PAGES or ["book/intro.html"]) for v in VIEWPORTS]
ALL_CASES = [(v, p) for p in (ALL_PAGES or ["index.html"]) for v in VIEWPORTS]


def _case_id(case):
    viewport, page = case
    return f"{page}@{viewport}"


@pytest.fixture(scope="module")
def server():
    _require_browser()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


# --- what a reader sees: measured once per page and viewport ---------------------------

# Text nodes that are not maths on the page: everything but typeset maths, code, and
# the page's machinery. Figure text (plotly's SVG) is collected separately.
_MEASURE_JS = r"""
async (opts) => {
  const out = {};
  const rect = (el) => { const r = el.getBoundingClientRect();
    return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom, w: r.width, h: r.height}; };
  const visible = (el) => { const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'
      && Number(s.opacity) > 0; };
  const describe = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    const cls = (el.getAttribute('class') || '').trim().split(/\s+/).filter(Boolean).slice(0, 3);
    if (cls.length) s += '.' + cls.join('.');
    return s; };

  // 1. Width: the page and the elements that stick out past the viewport.
  const vw = document.documentElement.clientWidth;
  out.viewportWidth = vw;
  out.scrollWidth = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
  out.wide = [];
  if (out.scrollWidth > vw + 1) {
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.right <= vw + 1) continue;
      // a box as wide as the widened page is a consequence, not a cause; fixed boxes
      // (off-canvas drawers) do not widen the page at all
      if (r.left <= 1 && r.width >= out.scrollWidth - 1) continue;
      if ((() => { for (let a = el; a; a = a.parentElement)
                     if (getComputedStyle(a).position === 'fixed') return true;
                   return false; })()) continue;
      // only the outermost culprits: skip an element whose parent already sticks out
      const p = el.parentElement && el.parentElement.getBoundingClientRect();
      if (p && p.right > vw + 1) continue;
      // and nothing inside a box that scrolls or clips horizontally on its own
      let a = el.parentElement, boxed = false;
      while (a && a !== document.body) {
        const ox = getComputedStyle(a).overflowX;
        if (ox === 'auto' || ox === 'scroll' || ox === 'hidden' || ox === 'clip') { boxed = true; break; }
        a = a.parentElement; }
      if (boxed) continue;
      out.wide.push(describe(el) + ` right=${Math.round(r.right)}px: ` +
                    (el.textContent || '').trim().slice(0, 60));
      if (out.wide.length >= 8) break;
    }
  }

  // 2. Text outside typeset maths.
  const skip = 'script,style,noscript,template,pre,code,kbd,samp,textarea,mjx-container,' +
               '.MathJax,.math,.highlight,.js-plotly-plot,svg,dialog,.headerlink';
  const pageText = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const t = node.nodeValue;
    if (!t || !t.trim()) continue;
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    pageText.push(t);
  }
  out.pageText = pageText.join('\u2063');
  // Figure text: every <text> plotly drew (titles, axis titles, ticks, legends, annotations,
  // slider labels), per figure, with the figure's id.
  out.figures = [];
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  for (const [i, gd] of plots.entries()) {
    const fig = {id: gd.id || `figure ${i + 1}`, index: i + 1};
    fig.text = [...gd.querySelectorAll('svg text')].filter(t => !t.closest('mjx-container'))
      .map(t => t.textContent).filter(t => t && t.trim());
    const box = rect(gd);
    const svg = gd.querySelector('.main-svg');
    const svgBox = svg ? rect(svg) : box;
    // What of the figure a reader can see: its SVG, cut by every ancestor that clips.
    for (let a = gd.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      const s = getComputedStyle(a), r = rect(a);
      if (['hidden', 'clip'].includes(s.overflowX)) { svgBox.x0 = Math.max(svgBox.x0, r.x0); svgBox.x1 = Math.min(svgBox.x1, r.x1); }
      if (['hidden', 'clip'].includes(s.overflowY)) { svgBox.y0 = Math.max(svgBox.y0, r.y0); svgBox.y1 = Math.min(svgBox.y1, r.y1); }
    }
    fig.box = svgBox;
    // Titles: the main title and the subplot titles (annotations plotly puts above a
    // subplot are ordinary annotations; take every annotation whose text sits in the
    // top part of a subplot row, i.e. all of them: a clipped annotation is clipped too).
    const titles = [];
    for (const t of gd.querySelectorAll('.g-gtitle text, .infolayer .annotation text, .annotation-text-g text')) {
      if (!(t.textContent || '').trim()) continue;
      titles.push({text: t.textContent.slice(0, 60), box: rect(t),
                   kind: t.closest('.g-gtitle') ? 'title' : 'annotation'});
    }
    fig.titles = titles;
    const mb = gd.querySelector('.modebar');
    fig.modebar = mb ? rect(mb) : null;
    // Legends (plotly >= 5.15 may draw several: legend, legend2, ...): their background box.
    fig.legends = [...gd.querySelectorAll('.infolayer > g[class^="legend"]')].map(g => {
      const bg = g.querySelector('rect.bg') || g;
      return {name: g.getAttribute('class'), box: rect(bg)}; }).filter(l => l.box.w > 0 && l.box.h > 0);
    fig.sliders = [...gd.querySelectorAll('.slider-container .slider-group, .slider-container > g')]
      .map(s => ({name: 'slider', box: rect(s)})).filter(s => s.box.w > 0 && s.box.h > 0);
    fig.axisTitles = [...gd.querySelectorAll('.infolayer g[class^="g-"][class$="title"]')]
      .filter(g => !g.classList.contains('g-gtitle'))
      .map(g => ({name: g.getAttribute('class') + ': ' + (g.textContent || '').slice(0, 40), box: rect(g)}))
      .filter(a => a.box.w > 0 && a.box.h > 0);
    // Log axes: their range (in decades) in the figure as drawn and at every slider step.
    fig.logAxes = [];
    const logRanges = (label) => {
      const fl = gd._fullLayout || {};
      for (const key of Object.keys(fl)) {
        if (!/^[xy]axis\d*$/.test(key)) continue;
        const ax = fl[key];
        if (!ax || ax.type !== 'log' || !ax.range || ax.visible === false) continue;
        const span = Math.abs(Number(ax.range[1]) - Number(ax.range[0]));
        fig.logAxes.push({axis: key, state: label, decades: span,
                          range: [Number(ax.range[0]), Number(ax.range[1])]});
      } };
    logRanges('as drawn');
    const sliders = (gd.layout && gd.layout.sliders) || [];
    if (opts.stepSliders && window.Plotly) {
      for (const [si, s] of sliders.entries()) {
        const steps = s.steps || [];
        for (const [k, st] of steps.entries()) {
          if (!['restyle', 'relayout', 'update'].includes(st.method)) continue;
          try { await Plotly[st.method](gd, ...(st.args || [])); } catch (e) { continue; }
          logRanges(`slider ${si + 1} step ${k + 1} (${st.label ?? ''})`);
        }
        const a = s.active ?? 0;
        if (steps[a] && ['restyle', 'relayout', 'update'].includes(steps[a].method)) {
          try { await Plotly[steps[a].method](gd, ...(steps[a].args || [])); } catch (e) {} }
      }
    }
    out.figures.push(fig);
  }

  // Trace types the loaded plotly.js bundle does not draw (a partial bundle too small).
  out.unregisteredTraces = [];
  if (window.Plotly && plots.length) {
    const known = new Set(Object.keys(Plotly.PlotSchema.get().traces));
    for (const [i, gd] of plots.entries())
      for (const t of (gd.data || []))
        if (!known.has(t.type || 'scatter')) out.unregisteredTraces.push(`figure ${i + 1}: ${t.type}`);
  }

  // 3. Output boxes: a cell whose output area holds two stream boxes in a row printed
  // one text as several boxes (myst-nb without merge_streams).
  out.splitOutputs = [];
  for (const [i, area] of [...document.querySelectorAll('.cell_output')].entries()) {
    const kids = [...area.children];
    let run = 0, most = 0;
    for (const k of kids) {
      if (k.classList.contains('stream') && !k.classList.contains('stderr')) { run += 1; most = Math.max(most, run); }
      else run = 0;
    }
    if (most >= 2) out.splitOutputs.push({cell: i + 1, boxes: most,
      first: (area.textContent || '').trim().slice(0, 60)});
  }

  // 4. Search boxes a reader can see without opening a menu.
  out.searchBoxes = [...document.querySelectorAll(
      'input[type=search], .search-button-field, .search-button, form.bd-search')]
    .filter(el => !el.closest('dialog') && visible(el))
    .filter((el, i, all) => !all.some(o => o !== el && o.contains(el)))
    .map(el => describe(el));
  return out;
}
"""


def _wait_for_page(page, page_path):
    """Wait until MathJax has typeset and every plotly figure has drawn."""
    if page.locator("span.math, div.math").count() > 0:
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
            " && document.querySelectorAll('mjx-container').length > 0", timeout=30000)
        page.evaluate("() => MathJax.startup.promise")
    n_plots = page.locator(".plotly-graph-div").count()
    if n_plots:
        page.wait_for_function(
            "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n",
            arg=n_plots, timeout=30000)
    page.wait_for_timeout(300)   # plotly's responsive relayout after the first draw


@pytest.fixture(scope="module")
def visits(server, browser):
    """Load each (viewport, page) once, on first use; keep only the measurements."""
    cache: dict[tuple[str, str], dict] = {}

    def visit(viewport: str, page_path: str) -> dict:
        key = (viewport, page_path)
        if key in cache:
            return cache[key]
        context = browser.new_context(viewport=VIEWPORTS[viewport],
                                      is_mobile=viewport == "phone",
                                      has_touch=viewport == "phone",
                                      device_scale_factor=1)
        page = context.new_page()
        errors, foreign, scripts = [], [], []
        # Chromium asks for /favicon.ico by itself on a page without an icon link (the
        # index.html redirect page, when it is slow to redirect): not the site's request.
        def browser_own(url: str) -> bool:
            return urlparse(url).path == "/favicon.ico"

        page.on("console", lambda m: errors.append(m.text)
                if m.type == "error" and not browser_own(m.location.get("url", "")) else None)
        page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))

        def on_request(request):
            url = urlparse(request.url)
            if url.scheme in ("http", "https") and url.hostname not in LOCAL_HOSTS:
                foreign.append(request.url)
            if url.path.endswith(".js"):
                scripts.append(url.path)

        page.on("request", on_request)
        page.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}")
                if r.status >= 400 and not browser_own(r.url) else None)
        page.goto(f"{server}/{page_path}", wait_until="networkidle")
        result: dict = {"errors": errors, "foreign": foreign, "scripts": scripts}
        try:
            _wait_for_page(page, page_path)
        except Exception as exc:  # recorded; test_page_loads_cleanly reports it
            result["wait_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        result["html"] = page.content()
        result["untypeset"] = page.evaluate(
            "() => [...document.querySelectorAll('span.math, div.math')]"
            ".filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80))")
        result["undrawn"] = page.evaluate(
            "() => [...document.querySelectorAll('.plotly-graph-div')]"
            ".filter(d => !d.querySelector('.main-svg')).map(d => d.id)")
        # Measure before the screenshot and before stepping any slider.
        result.update(page.evaluate(_MEASURE_JS, {"stepSliders": False}))
        SHOTS.mkdir(parents=True, exist_ok=True)
        shot = SHOTS / (page_path.removesuffix(".html").replace("/", "__") + f"--{viewport}.png")
        try:   # the API page is some 40,000 px tall: on busy cores its PNG takes a while
            page.screenshot(path=str(shot), full_page=True, timeout=180000)
        except Exception as exc:   # recorded; test_page_loads_cleanly reports it
            result["shot_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        stepped = page.evaluate(_MEASURE_JS, {"stepSliders": True})
        result["logAxes"] = [dict(ax, figure=f["index"]) for f in stepped["figures"]
                             for ax in f["logAxes"]]
        context.close()
        cache[key] = result
        return result

    return visit


def test_site_has_pages():
    _require_browser()
    assert "index.html" in ALL_PAGES
    assert len(PAGES) >= 4, PAGES


@pytest.mark.parametrize("case", ALL_CASES, ids=_case_id)
def test_page_loads_cleanly(visits, case):
    viewport, page_path = case
    seen = visits(viewport, page_path)
    assert "wait_error" not in seen, f"{page_path}: {seen['wait_error']}"
    assert "shot_error" not in seen, f"{page_path}: no screenshot: {seen['shot_error']}"
    assert not seen["untypeset"], f"{page_path}: untypeset math: {seen['untypeset'][:3]}"
    assert not seen["undrawn"], f"{page_path}: undrawn plotly figures {seen['undrawn']}"
    assert not seen["unregisteredTraces"], (
        f"{page_path}: trace types the loaded plotly.js does not draw: {seen['unregisteredTraces']}")
    assert not seen["foreign"], f"{page_path}: requests to non-local hosts: {seen['foreign'][:5]}"
    assert not seen["errors"], f"{page_path}: console errors: {seen['errors'][:5]}"
    assert "Traceback (most recent call last)" not in seen["html"], f"{page_path} shows a traceback"


# --- raw TeX ----------------------------------------------------------------------------

# A TeX control word (\frac, \le, \theta, \mathrm) or control symbol that opens or closes
# maths (\( \) \[ \]), a $...$ pair around non-space text, or a braced sub/superscript.
_TEX_ANYWHERE = re.compile(
    r"\\(?:[A-Za-z]{2,}|[()\[\]{}])"
    r"|\$[^$\s\u2063][^$\u2063]{0,200}?[^$\s\\\u2063]\$|\$[^$\s\u2063]\$"
    r"|[\^_]\{")
# In figure text plotly draws <sub>/<sup> itself, so a ^ or _ between a symbol and a
# letter or digit is markup the reader sees raw (x^t, θ_0, μ_path).
_TEX_FIGURE = re.compile(r"[A-Za-z0-9\u0370-\u03ff)\]*'′]\s?[\^_][A-Za-z0-9\u0370-\u03ff*(]")


def _raw_tex(text: str, pattern: re.Pattern) -> list[str]:
    """The fragments of ``text`` that match, with some context; matches closer than 40
    characters to each other make one fragment (one broken formula, not ten)."""
    spans: list[list[int]] = []
    for m in pattern.finditer(text):
        if spans and m.start() - spans[-1][1] < 40:
            spans[-1][1] = m.end()
        else:
            spans.append([m.start(), m.end()])
    hits = []
    for start, end in spans:
        lo, hi = max(0, start - 20), min(len(text), end + 20)
        fragment = text[lo:hi].replace("\u2063", " | ").replace("\n", " ")
        hits.append(fragment if len(fragment) <= 140 else fragment[:100] + " ... " + fragment[-35:])
    return hits


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_no_raw_tex(visits, case):
    """No TeX outside typeset maths: in the page text, and in the text a figure draws."""
    viewport, page_path = case
    seen = visits(viewport, page_path)
    found = [f"page text: {h!r}" for h in _raw_tex(seen["pageText"], _TEX_ANYWHERE)]
    for fig in seen["figures"]:
        text = "\u2063".join(fig["text"])
        hits = _raw_tex(text, _TEX_ANYWHERE) + _raw_tex(text, _TEX_FIGURE)
        found += [f"figure {fig['index']} text: {h!r}" for h in dict.fromkeys(hits)]
    assert not found, (f"{page_path} at {viewport}: {len(found)} raw-TeX fragment(s):\n  "
                       + "\n  ".join(found[:25]))


# --- layout -----------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_no_sideways_scroll(visits, case):
    """No page is wider than the viewport (wide content scrolls inside its own box)."""
    viewport, page_path = case
    seen = visits(viewport, page_path)
    assert seen["scrollWidth"] <= seen["viewportWidth"] + 1, (
        f"{page_path} at {viewport}: the page is {seen['scrollWidth']} px wide in a "
        f"{seen['viewportWidth']} px viewport; sticking out: {seen['wide']}")


def _overlap(a: dict, b: dict) -> float:
    """Area shared by two boxes, counting only overlaps deeper than OVERLAP_PX both ways."""
    dx = min(a["x1"], b["x1"]) - max(a["x0"], b["x0"])
    dy = min(a["y1"], b["y1"]) - max(a["y0"], b["y0"])
    return dx * dy if dx > OVERLAP_PX and dy > OVERLAP_PX else 0.0


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_figure_titles_not_clipped(visits, case):
    """Each figure's title and subplot titles lie inside the figure, clear of the toolbar."""
    viewport, page_path = case
    seen = visits(viewport, page_path)
    clipped = []
    for fig in seen["figures"]:
        box = fig["box"]
        for title in fig["titles"]:
            t = title["box"]
            outside = [side for side, bad in (
                ("left", t["x0"] < box["x0"] - 1), ("right", t["x1"] > box["x1"] + 1),
                ("top", t["y0"] < box["y0"] - 1), ("bottom", t["y1"] > box["y1"] + 1)) if bad]
            if outside:
                clipped.append(f"figure {fig['index']} {title['kind']} {title['text']!r} "
                               f"cut at the {'/'.join(outside)} edge")
            if fig["modebar"] and _overlap(t, fig["modebar"]):
                clipped.append(f"figure {fig['index']} {title['kind']} {title['text']!r} "
                               "under the plotly toolbar")
    assert not clipped, f"{page_path} at {viewport}:\n  " + "\n  ".join(clipped)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_no_split_output_tables(visits, case):
    """A cell's printed output is one box, not one box per print call."""
    viewport, page_path = case
    split = visits(viewport, page_path)["splitOutputs"]
    assert not split, (f"{page_path} at {viewport}: {len(split)} code cell(s) print one output "
                       f"as several boxes: " + "; ".join(
                           f"cell {s['cell']} in {s['boxes']} boxes ({s['first']!r})" for s in split))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_log_axes_span_at_most_40_decades(visits, case):
    """No log axis, as drawn or at any slider step, spans more than 40 decades."""
    viewport, page_path = case
    wide = [ax for ax in visits(viewport, page_path)["logAxes"]
            if not ax["decades"] <= MAX_LOG_DECADES]        # NaN fails too
    worst = {}
    for ax in wide:
        key = (ax["figure"], ax["axis"])
        if key not in worst or ax["decades"] > worst[key]["decades"]:
            worst[key] = ax
    assert not worst, f"{page_path} at {viewport}:\n  " + "\n  ".join(
        f"figure {ax['figure']} {ax['axis']} spans {ax['decades']:.0f} decades "
        f"(10^{ax['range'][0]:.0f} to 10^{ax['range'][1]:.0f}, {ax['state']})"
        for ax in worst.values())


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_legends_do_not_overlap(visits, case):
    """No legend box covers a slider, an axis title or another legend."""
    viewport, page_path = case
    seen = visits(viewport, page_path)
    hits = []
    for fig in seen["figures"]:
        legends = fig["legends"]
        for i, legend in enumerate(legends):
            others = ([("slider", s) for s in fig["sliders"]]
                      + [("axis title", a) for a in fig["axisTitles"]]
                      + [("legend", other) for other in legends[i + 1:]])
            for kind, other in others:
                if _overlap(legend["box"], other["box"]):
                    hits.append(f"figure {fig['index']} {legend['name']} covers {kind} "
                                f"{other['name']!r}")
    assert not hits, f"{page_path} at {viewport}:\n  " + "\n  ".join(dict.fromkeys(hits))


# --- site chrome ------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_one_search_box(visits, case):
    """At most one search box is on screen (the sidebar's on a desktop)."""
    viewport, page_path = case
    boxes = visits(viewport, page_path)["searchBoxes"]
    assert len(boxes) <= 1, f"{page_path} at {viewport}: {len(boxes)} search boxes: {boxes}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_plotly_js_only_on_figure_pages(visits, case):
    """A page without a figure loads no plotly.js; a page with one loads it once."""
    viewport, page_path = case
    seen = visits(viewport, page_path)
    plotly = [s for s in seen["scripts"] if "plotly" in s.rsplit("/", 1)[-1].lower()]
    if seen["figures"]:
        assert len(plotly) == 1, f"{page_path}: {len(seen['figures'])} figures, plotly.js: {plotly}"
    else:
        assert not plotly, f"{page_path} draws no figure but loads {plotly}"


def test_api_page_documents_namedtuple_fields():
    """Every field of every result tuple on the API page is an entry with a description,
    and no entry is Python's "Alias for field number N"."""
    _require_browser()
    import importlib
    import html as html_lib

    api = (SITE / "book" / "api.html").read_text(encoding="utf-8")
    assert "Alias for field number" not in api
    classes = set(re.findall(r'<dt class="sig sig-object py" id="(lplr_core\.[\w.]+)">', api))
    checked, problems = 0, []
    for dotted in sorted(classes):
        module_name, _, name = dotted.rpartition(".")
        try:
            obj = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):
            continue
        if not (isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields")):
            continue
        checked += 1
        for field in obj._fields:
            entry = re.search(r'id="' + re.escape(f"{dotted}.{field}") + r'">(.*?)</dt>\s*<dd>(.*?)</dd>',
                              api, re.S)
            if entry is None:
                problems.append(f"{dotted}.{field}: no entry")
                continue
            text = html_lib.unescape(re.sub(r"<[^>]+>", "", entry.group(2))).strip()
            if not text:
                problems.append(f"{dotted}.{field}: empty description")
    assert checked >= 5, f"only {checked} NamedTuple classes found on the API page"
    assert not problems, "\n".join(problems)


def _vendor_assets():
    import importlib.util

    spec = importlib.util.spec_from_file_location("vendor_assets", ROOT / "book" / "tools" / "vendor_assets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plotly_bundle_is_the_smallest_that_draws_the_book(server, browser):
    """The served plotly.js is the wheel's version, registers exactly the trace types its
    bundle is said to have, draws every trace type the site's figures use, and no smaller
    bundle would."""
    va = _vendor_assets()
    served = SITE / "_static" / "plotly" / "plotly.min.js"
    assert served.is_file(), "no plotly.js in the site"
    head = served.read_text(encoding="utf8", errors="replace")[:300]
    match = re.search(r"plotly\.js(?: \((\w+) - minified\))? v(\d+\.\d+\.\d+)", head)
    assert match, head
    bundle, version = match.group(1) or "full", match.group(2)
    assert version == va.wheel_plotly_js_version(va.plotly_source())
    figure_pages = [p for p in PAGES if "plotly-graph-div" in (SITE / p).read_text(encoding="utf-8")]
    assert figure_pages, "no page draws a figure"
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    page.goto(f"{server}/{figure_pages[0]}", wait_until="networkidle")
    registered = set(page.evaluate("() => Object.keys(Plotly.PlotSchema.get().traces)"))
    used = set()
    for path in figure_pages:
        page.goto(f"{server}/{path}", wait_until="networkidle")
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length"
                               " >= document.querySelectorAll('.plotly-graph-div').length")
        used |= set(page.evaluate(
            "() => [...document.querySelectorAll('.js-plotly-plot')]"
            ".flatMap(d => (d.data || []).map(t => t.type || 'scatter'))"))
    context.close()
    assert used <= registered, f"{bundle} bundle lacks {sorted(used - registered)}"
    if bundle != "full":
        assert registered == set(va.PLOTLY_PARTIAL[bundle]["traces"]), sorted(registered)
    order = list(va.PLOTLY_PARTIAL) + ["full"]
    smaller = [name for name in order[:order.index(bundle)]
               if used <= set(va.PLOTLY_PARTIAL[name]["traces"])]
    assert not smaller, f"the {smaller[0]} bundle would draw {sorted(used)} too"


def test_static_slider_moves(server, browser):
    """A plotly slider on the static site changes which traces are visible."""
    pages = [p for p in PAGES if (SITE / p).read_text(errors="ignore").count('"sliders"')]
    assert pages, "no page carries a plotly slider"
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    page.goto(f"{server}/{pages[0]}", wait_until="networkidle")
    page.wait_for_selector(".js-plotly-plot .slider-container", timeout=20000)
    plot = page.locator(".js-plotly-plot").filter(has=page.locator(".slider-container")).first
    before = plot.evaluate("d => d.data.map(t => t.visible)")
    steps = plot.evaluate("d => d.layout.sliders[0].steps.length")
    assert steps >= 2
    # Click the right end of the slider's rail, as a reader would.
    rail = plot.locator(".slider-container .slider-rail-rect").first
    rail.scroll_into_view_if_needed()
    box = rail.bounding_box()
    page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(500)
    after = plot.evaluate("d => d.data.map(t => t.visible)")
    context.close()
    assert before != after, "moving the slider changed nothing"


# --- phone: every slider step's title inside its figure; no squeezed side-by-side panels ---
# (added with the phone re-grid of book/assets/lplr_figures.js: a three-column figure is
# stacked at 390 px, and a slider step that sets a longer, wrapped title stays inside.)

MIN_PANEL_PX = 100.0   # the narrowest plot area a phone may show (lplr_figures.js: 110)

_PHONE_STEPS_JS = r"""
async () => {
  const out = [];
  const figs = [...document.querySelectorAll('.js-plotly-plot')];
  const box = e => { const r = e.getBoundingClientRect();
                     return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom, h: r.height}; };
  const titleState = (gd, where) => {
    const t = gd.querySelector('.g-gtitle text'), svg = gd.querySelector('.main-svg');
    if (!t || !svg) return null;
    const tb = box(t), fb = box(svg);
    if (!tb.h) return null;
    return {where, text: t.textContent.slice(0, 90),
            out: Math.max(fb.y0 - tb.y0, tb.x1 - fb.x1, fb.x0 - tb.x0, 0)};
  };
  for (let i = 0; i < figs.length; i++) {
    const gd = figs[i], fl = gd._fullLayout;
    if (!fl) continue;
    const panels = Object.keys(fl).filter(k => /^xaxis\d*$/.test(k) && fl[k] && fl[k]._length)
      .map(k => ({axis: k, px: fl[k]._length}));
    const titles = [titleState(gd, 'as drawn')];
    const sliders = (gd.layout.sliders || []);
    for (let s = 0; s < sliders.length; s++) {
      const steps = sliders[s].steps || [];
      for (let k = 0; k < steps.length; k++) {
        const st = steps[k];
        if (!st.method || st.method === 'skip') continue;
        await window.Plotly[st.method](gd, ...(st.args || []));
        await new Promise(r => setTimeout(r, 250));   // the title check after each draw
        titles.push(titleState(gd, `slider ${s} step ${k}`));
      }
    }
    out.push({index: i, id: gd.id, panels, titles: titles.filter(t => t)});
  }
  return out;
}
"""

FIGURE_PAGES = [p for p in PAGES
                if SITE.exists() and "plotly-graph-div" in (SITE / p).read_text(errors="ignore")]


@pytest.mark.parametrize("page_path", FIGURE_PAGES or ["book/intro.html"])
def test_phone_slider_titles_and_panel_widths(server, browser, page_path):
    """At 390 px every slider step's title lies inside its figure, and no panel is squeezed."""
    context = browser.new_context(viewport=VIEWPORTS["phone"], is_mobile=True, has_touch=True,
                                  device_scale_factor=1)
    page = context.new_page()
    page.goto(f"{server}/{page_path}", wait_until="networkidle")
    _wait_for_page(page, page_path)
    page.wait_for_timeout(500)   # lplr_figures.js's measure-and-correct rounds
    figures = page.evaluate(_PHONE_STEPS_JS)
    context.close()
    clipped = [(f["index"], t["where"], t["text"], round(t["out"], 1)) for f in figures
               for t in f["titles"] if t["out"] > 1.5]
    squeezed = [(f["index"], p["axis"], round(p["px"])) for f in figures for p in f["panels"]
                if p["px"] < MIN_PANEL_PX]
    assert not clipped, f"{page_path}: titles outside their figure at 390 px: {clipped}"
    assert not squeezed, f"{page_path}: plot areas narrower than {MIN_PANEL_PX} px: {squeezed}"
