"""The built site in a real browser (Playwright driving Debian's Chromium).

Serves ``_build/html`` on 127.0.0.1 and visits every page. A page fails on a
console error, an uncaught exception, a request to any non-local host, a plotly
figure that did not draw, or math left untypeset. Screenshots go to
``_build/screenshots/``. Run after ``make book``; ``make test`` does both.

Without Chromium the tests skip with a loud message, except under CI (the CI
script installs it), where a missing browser is a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def _require_browser():
    if not Path(CHROMIUM).exists():
        message = ("NO CHROMIUM: the real-browser test of the site did not run. "
                   "Install it with `apt-get install -y chromium`.")
        if os.environ.get("CI"):
            pytest.fail(message)
        print("\n" + "!" * 78 + "\n" + message + "\n" + "!" * 78)
        pytest.skip(message)
    if not (SITE / "index.html").exists():
        pytest.fail(f"no built site at {SITE}: run `make book` first")


PAGES = (sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
               if not {"_static", "_sources", "_images"} & set(p.relative_to(SITE).parts))
         if SITE.exists() else [])


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


def test_site_has_pages():
    _require_browser()
    assert "index.html" in PAGES
    assert len(PAGES) >= 4, PAGES


@pytest.mark.parametrize("page_path", PAGES or ["index.html"])
def test_page(server, browser, page_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors, foreign = [], []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))

    def on_request(request):
        url = urlparse(request.url)
        if url.scheme in ("http", "https") and url.hostname not in LOCAL_HOSTS:
            foreign.append(request.url)

    page.on("request", on_request)
    page.goto(f"{server}/{page_path}", wait_until="networkidle")

    html = page.content()
    has_math = page.locator("span.math, div.math").count() > 0
    if has_math:
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
            " && document.querySelectorAll('mjx-container').length > 0", timeout=20000)
        page.evaluate("() => MathJax.startup.promise")
        raw = page.evaluate(
            "() => [...document.querySelectorAll('span.math, div.math')]"
            ".filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80))")
        assert not raw, f"{page_path}: untypeset math: {raw[:3]}"
    n_plots = page.locator(".plotly-graph-div").count()
    if n_plots:
        page.wait_for_function(
            "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n",
            arg=n_plots, timeout=20000)
        undrawn = page.evaluate(
            "() => [...document.querySelectorAll('.plotly-graph-div')]"
            ".filter(d => !d.querySelector('.main-svg')).map(d => d.id)")
        assert not undrawn, f"{page_path}: undrawn plotly figures {undrawn}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / (page_path.replace("/", "__") + ".png")), full_page=True)
    context.close()
    assert not foreign, f"{page_path}: requests to non-local hosts: {foreign[:5]}"
    assert not errors, f"{page_path}: console errors: {errors[:5]}"
    assert "Traceback (most recent call last)" not in html, f"{page_path} shows a traceback"


def test_static_slider_moves(server, browser):
    """A plotly slider on the static site changes which traces are visible."""
    pages = [p for p in PAGES if (SITE / p).read_text(errors="ignore").count('"sliders"')]
    assert pages, "no page carries a plotly slider"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
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
