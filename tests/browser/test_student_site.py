"""The built student edition (``make student``, run by ``make test`` after ``make book``).

Every page of the full site has its student twin; the twin shows the same exercises
and no solution at all; the stripped notebooks handed out run nothing hidden; and
the front page opens in Chromium without console errors or foreign requests.
Outside CI a missing build or browser skips loudly; under ``CI`` it fails.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FULL = ROOT / "_build" / "html"
STUDENT = ROOT / "_build" / "student" / "_build" / "html"
HANDOUT = ROOT / "_build" / "student" / "notebooks"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

_SOLUTION = re.compile(r'class="[^"]*\bsolution\b[^"]*"')
_EXERCISE = re.compile(r'class="[^"]*\bexercise\b[^"]*admonition[^"]*"')


def _require(path: Path, what: str):
    if not path.exists():
        message = f"NO {what} at {path}: run `make book student` first."
        if os.environ.get("CI"):
            pytest.fail(message)
        print("\n" + "!" * 78 + "\n" + message + "\n" + "!" * 78)
        pytest.skip(message)


def _chapters(site: Path):
    return sorted(p.relative_to(site).as_posix() for p in (site / "notebooks").glob("*.html"))


def test_every_chapter_has_a_student_twin():
    _require(FULL / "index.html", "full site")
    _require(STUDENT / "index.html", "student site")
    full = _chapters(FULL)
    assert full, "the full site has no chapters"
    assert _chapters(STUDENT) == full
    front = STUDENT / "book" / "intro.html"     # index.html only redirects there
    assert "student edition" in front.read_text(encoding="utf-8")


def test_student_pages_keep_exercises_and_show_no_solution():
    _require(STUDENT / "index.html", "student site")
    pages = [p for p in STUDENT.rglob("*.html") if "_static" not in p.parts]
    assert pages
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert not _SOLUTION.search(html), f"a solution is shown on {page.relative_to(STUDENT)}"
    for rel in _chapters(FULL):
        full_html = (FULL / rel).read_text(encoding="utf-8")
        student_html = (STUDENT / rel).read_text(encoding="utf-8")
        n_full = len(_EXERCISE.findall(full_html))
        assert len(_EXERCISE.findall(student_html)) == n_full, rel
        assert _SOLUTION.search(full_html) or n_full == 0, f"the full site lost solutions: {rel}"
        if not rel.endswith("11_results.html"):   # the results page is not a chapter
            assert n_full >= 3, f"{rel} has {n_full} exercises (at least 3 per chapter)"


def test_handout_notebooks_have_no_solutions():
    _require(HANDOUT, "handout folder")
    notebooks = sorted(HANDOUT.glob("*.ipynb"))
    assert [p.name for p in notebooks] == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    for path in notebooks:
        text = path.read_text(encoding="utf-8")
        assert "{solution" not in text and '"edition": "student"' in text, path.name


def test_student_front_page_in_a_browser():
    _require(STUDENT / "index.html", "student site")
    if not Path(CHROMIUM).exists():
        message = "NO CHROMIUM: install it with `apt-get install -y chromium`."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright
    errors, foreign = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: foreign.append(r.url)
                if not r.url.startswith(("file:", "data:", "blob:", "about:")) else None)
        page.goto((STUDENT / "index.html").as_uri(), wait_until="load")   # redirects
        page.wait_for_url("**/book/intro.html")
        title = page.title()
        browser.close()
    assert "student edition" in title
    assert not errors, errors
    assert not foreign, foreign
