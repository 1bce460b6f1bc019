"""The student edition (``make student``): solutions removed, exercises and everything else kept.

The stripping is tested on hand-written documents (every form of solution block,
fences of several lengths, solutions spanning notebook cells, malformed input) and
on every real notebook and page of the book, against an independent cell-index scan.
The built student site itself is checked by ``tests/browser/test_student_site.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "tools"))
from student_edition import (  # noqa: E402
    SolutionError,
    count_directives,
    make_sources,
    strip_markdown,
    strip_notebook,
)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Pages that are not chapters (no exercises of their own).
NOT_CHAPTERS = {"11_results.ipynb"}


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, text in cells:
        make = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        nb.cells.append(make(text))
    return nb


# ------------------------------------------------------------------ Markdown pages

def test_solution_directive_is_removed_and_exercise_kept():
    text = ("Intro.\n\n```{exercise} Sum\n:label: ex-a\n\nAdd.\n```\n\n"
            "````{solution} ex-a\n:class: dropdown\n\nIt is\n```python\n1 + 1\n```\nTwo.\n````\n\n"
            "After.\n")
    out = strip_markdown(text)
    assert "```{exercise} Sum" in out and "Add." in out
    assert "Intro." in out and "After." in out
    assert "solution" not in out and "1 + 1" not in out and "Two." not in out


def test_colon_fenced_solution_is_removed():
    text = ":::{exercise}\n:label: ex-b\nQ\n:::\n\n:::{solution} ex-b\nA secret\n:::\nTail\n"
    out = strip_markdown(text)
    assert "A secret" not in out and "Q" in out and "Tail" in out


def test_gated_solution_in_one_text_is_removed():
    text = ("```{exercise} E\n:label: ex-c\nQ\n```\n\n```{solution-start} ex-c\n:class: dropdown\n```\n"
            "Hidden answer.\n\n```{solution-end}\n```\n\nKept.\n")
    out = strip_markdown(text)
    assert "Hidden answer." not in out and "solution" not in out
    assert "Kept." in out and "```{exercise} E" in out


@pytest.mark.parametrize("text, message", [
    ("```{solution-start} ex\n```\nno end\n", "never closed"),
    ("```{solution-end}\n```\n", "without solution-start"),
    ("````{solution} ex\nanswer\n", "never closed"),
    ("```{solution-start} a\n```\n```{solution-start} b\n```\n", "inside another"),
])
def test_malformed_solutions_are_errors(text, message):
    with pytest.raises(SolutionError, match=message):
        strip_markdown(text, where="page.md")


def test_text_without_solutions_is_unchanged():
    text = "# Title\n\n```{exercise} E\n:label: ex-d\nQ\n```\n\n```python\nx = 1\n```\n"
    assert strip_markdown(text) == text


# ------------------------------------------------------------------ notebooks

def test_gated_solution_spanning_cells_removes_the_cells_between():
    nb = _nb(("md", "Before."),
             ("md", "```{exercise} E\n:label: ex-e\nQ\n```"),
             ("md", "```{solution-start} ex-e\n:class: dropdown\n```"),
             ("code", "answer = 42"),
             ("md", "Explanation.\n\n```{solution-end}\n```\n\n```{exercise} F\n:label: ex-f\nQ2\n```"),
             ("code", "after = 1"))
    out = strip_notebook(nb)
    sources = [c.source for c in out.cells]
    assert "answer = 42" not in sources
    assert not any("Explanation." in s or "solution" in s for s in sources)
    assert sources[0] == "Before." and sources[-1] == "after = 1"
    assert any("```{exercise} F" in s for s in sources)       # text after the gate is kept
    assert out.metadata["lplr"]["edition"] == "student"
    assert len(nb.cells) == 6                                  # the input is not modified


def test_unclosed_gate_in_a_notebook_is_an_error():
    nb = _nb(("md", "```{solution-start} ex\n```"), ("code", "x = 1"))
    with pytest.raises(SolutionError, match="never closed"):
        strip_notebook(nb, where="nb.ipynb")


def _solution_cell_indices(nb):
    """Independent scan: indices of cells inside a gate (from the start cell to the end cell)."""
    inside, indices = False, set()
    for i, cell in enumerate(nb.cells):
        text = cell.source if cell.cell_type == "markdown" else ""
        start, end = text.rfind("{solution-start}"), text.rfind("{solution-end}")
        if inside or start >= 0:
            indices.add(i)
        if start >= 0 or end >= 0:      # the later marker of the cell decides
            inside = start > end
    return indices


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_real_notebook_keeps_exercises_and_loses_only_solutions(path):
    nb = nbformat.read(path, as_version=4)
    out = strip_notebook(nb, where=path.name)
    md_in = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    md_out = "\n".join(c.source for c in out.cells if c.cell_type == "markdown")
    if path.name not in NOT_CHAPTERS:
        assert count_directives(md_in, "exercise") >= 3, "each chapter has at least 3 exercises"
    assert count_directives(md_out, "exercise") == count_directives(md_in, "exercise")
    for name in ("solution", "solution-start", "solution-end"):
        assert count_directives(md_out, name) == 0
    # Code cells: exactly those outside the gates survive, unchanged and in order.
    gated = _solution_cell_indices(nb)
    expected = [c.source for i, c in enumerate(nb.cells) if c.cell_type == "code" and i not in gated]
    assert [c.source for c in out.cells if c.cell_type == "code"] == expected
    had_code_solution = any(nb.cells[i].cell_type == "code" for i in gated)
    if had_code_solution:
        assert len(expected) < sum(c.cell_type == "code" for c in nb.cells)


def test_make_sources_writes_a_stripped_copy(tmp_path):
    notebooks = make_sources(tmp_path / "src")
    assert sorted(p.name for p in notebooks) == [p.name for p in NOTEBOOKS]
    config = (tmp_path / "src" / "_config.yml").read_text()
    assert "(student edition)" in config
    assert (tmp_path / "src" / "_toc.yml").read_text() == (ROOT / "_toc.yml").read_text()
    for path in notebooks:
        text = path.read_text()
        assert "{solution" not in text, path.name
    for page in (tmp_path / "src" / "book").rglob("*.md"):
        assert count_directives(page.read_text(), "solution") == 0
    assert not (tmp_path / "src" / "book" / "tools").exists()
