"""The student edition (``make student``): solutions removed, exercises and everything else kept.

The stripping is tested on hand-written documents (every form of solution block,
fences of several lengths, solutions spanning notebook cells, malformed input) and
on every real notebook and page of the book, against an independent cell-index scan.
The student branch layout (what the student site's launch buttons open) is generated
here into a temporary folder and checked file by file. The built student site itself is
checked by ``tests/browser/test_student_site.py``; its launch links are followed by
``tests/browser/test_student_launch.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "tools"))
import yaml  # noqa: E402
from student_edition import (  # noqa: E402
    STUDENT_BRANCH,
    SolutionError,
    count_directives,
    make_branch,
    make_sources,
    pin_branch,
    pin_notebook,
    repository_url,
    student_config,
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
    config = yaml.safe_load((tmp_path / "src" / "_config.yml").read_text())
    assert config["title"].endswith("(student edition)")
    assert config["repository"]["branch"] == STUDENT_BRANCH
    assert (tmp_path / "src" / "_toc.yml").read_text() == (ROOT / "_toc.yml").read_text()
    for path in notebooks:
        text = path.read_text()
        assert "{solution" not in text, path.name
    for page in (tmp_path / "src" / "book").rglob("*.md"):
        assert count_directives(page.read_text(), "solution") == 0
    assert not (tmp_path / "src" / "book" / "tools").exists()

    # Every clone of the repository on the pages is pinned to the student branch (the front
    # page's Colab instructions clone it today).
    for page in (tmp_path / "src" / "book").rglob("*.md"):
        for line in page.read_text().splitlines():
            if "git clone" in line and URL in line:
                assert f"--branch {STUDENT_BRANCH}" in line, (page.name, line)


def test_tagged_solution_cells_are_removed():
    nb = _nb(("md", "Question."), ("code", "secret = 1"), ("md", "Answer text."),
             ("code", "kept = 2"))
    nb.cells[1].metadata["tags"] = ["solution"]
    nb.cells[2].metadata["tags"] = ["hide-input", "Solution-cell"]
    out = strip_notebook(nb)
    assert [c.source for c in out.cells] == ["Question.", "kept = 2"]


# ------------------------------------------------------------------ launch buttons

URL = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
# The notebooks' former first cell (a clone onto sys.path): pages and old copies may have it.
FIRST_CELL = ('import subprocess\nrepository = "{url}"\n'
              'subprocess.run(["git", "clone", "--depth", "1", repository, "lplr-companion"],\n'
              '               check=True)\n')
# The notebooks' first cell today: pip installs the core from the repository.
PIP_CELL = ('import os, subprocess, sys\nrepository = "{url}"\n'
            'source = os.environ.get("LPLR_CORE_SOURCE", f"git+{{repository}}")\n'
            'subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", source], check=True)\n')


def test_repository_url_must_be_a_github_repository():
    good = "https://github.com/a-b/c.d"
    assert repository_url({"repository": {"url": good}}) == good
    for bad in (None, "", "https://github.com/a/b/", "https://github.com/a/b.git",
                "https://gitlab.com/a/b", "git@github.com:a/b", "https://github.com/a"):
        with pytest.raises(ValueError, match="repository.url"):
            repository_url({"repository": {"url": bad}})
    with pytest.raises(ValueError, match="repository.url"):
        repository_url({})


def test_student_config_points_the_launch_buttons_at_the_branch():
    full = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert full["repository"]["branch"] == "main"            # the full edition stays on main
    out = student_config(full)
    assert out["repository"] == {**full["repository"], "branch": "student"}
    assert out["html"]["use_repository_button"] is False
    assert out["launch_buttons"] == full["launch_buttons"]
    assert full["repository"]["branch"] == "main"             # the input is not modified
    hub = student_config(full, jupyterhub_url="https://hub.example.edu")
    assert hub["launch_buttons"]["jupyterhub_url"] == "https://hub.example.edu"
    for bad in ("https://hub.example.edu/", "hub.example.edu", "https://h.edu/?x=1"):
        with pytest.raises(ValueError, match="jupyterhub_url"):
            student_config(full, jupyterhub_url=bad)
    for bad in ("main", "", "-x", "a b"):
        with pytest.raises(ValueError, match="branch"):
            student_config(full, branch=bad)


def test_pin_branch_pins_every_form_of_fetch_and_nothing_else():
    url = "https://github.com/o/r"
    assert pin_branch(FIRST_CELL.format(url=url), url) == FIRST_CELL.format(url=url).replace(
        '["git", "clone",', '["git", "clone", "--branch", "student",')
    assert (pin_branch(f"!git clone {url}\n%cd r", url)
            == f"!git clone --branch student {url}\n%cd r")
    assert pin_branch(f"pip install git+{url}", url) == f"pip install git+{url}@student"
    assert (pin_branch(f"pip install git+{url}.git#egg=p", url)
            == f"pip install git+{url}.git@student#egg=p")
    pip_cell = PIP_CELL.format(url=url)
    pinned = pin_branch(pip_cell, url)
    assert pinned == pip_cell.replace('f"git+{repository}"', 'f"git+{repository}@student"')
    assert pin_branch(pinned, url) == pinned                   # pinning twice changes nothing
    assert pin_branch(pip_cell, url, "spring-2027").count('f"git+{repository}@spring-2027"') == 1
    for unchanged in (f"!git clone https://github.com/other/x", f"pip install git+{url}@v1",
                      f"!git clone --branch student {url}", "clone the repository",
                      pip_cell.replace('git+{repository}"', 'git+{repository}@v1"'),
                      PIP_CELL.format(url="https://github.com/other/x")):
        assert pin_branch(unchanged, url) == unchanged


def test_pin_notebook_refuses_a_fetch_it_cannot_pin():
    url = "https://github.com/o/r"
    nb = _nb(("code", FIRST_CELL.format(url=url)), ("md", f"See {url}."),
             ("code", PIP_CELL.format(url=url)))
    pin_notebook(nb, url, where="nb.ipynb")
    assert '"--branch", "student"' in nb.cells[0].source and nb.cells[1].source == f"See {url}."
    assert 'f"git+{repository}@student"' in nb.cells[2].source
    assert _fetches_branch(nb.cells[2].source, url, "student")
    assert not _fetches_branch(PIP_CELL.format(url=url), url, "student")
    bad = _nb(("code", f'import urllib.request\n'
                       f'urllib.request.urlretrieve("{url}/archive/main.zip")'))
    with pytest.raises(ValueError, match=r"nb.ipynb, cell 0: .* cannot be pinned"):
        pin_notebook(bad, url, where="nb.ipynb")


def _fetches_branch(source, url, branch):
    """Every clone (shell or list form) and every pip ``git+url`` in ``source`` names ``branch``.

    pip's source is the literal ``git+URL`` or, in the notebooks' first cell, the f-string
    ``f"git+{name}"`` where ``name = "URL"`` (its ref, if any, follows ``}``).
    """
    import re
    clones = [line for line in source.splitlines() if "clone" in line]
    pips = re.findall(rf"git\+{re.escape(url)}(?:\.git)?(@[\w./-]+)?", source)
    for name in re.findall(rf"""(\w+)\s*=\s*["']{re.escape(url)}["']""", source):
        pips += re.findall(rf"""f["']git\+\{{{name}\}}(@[\w./-]+)?["']""", source)
    return bool(clones or pips) and all(
        f'"--branch", "{branch}"' in line or f"--branch {branch}" in line for line in clones
    ) and all(ref == f"@{branch}" for ref in pips)


def _branch_files(branch_dir):
    """The branch's commit (what a push publishes), read with git itself: names -> text or None."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", f"--git-dir={branch_dir / '.git'}", *args], check=True,
                              capture_output=True, text=True).stdout
    assert git("symbolic-ref", "--short", "HEAD").strip() == STUDENT_BRANCH
    assert int(git("rev-list", "--count", STUDENT_BRANCH)) == 1
    names = [n for n in git("ls-tree", "-r", "--name-only", STUDENT_BRANCH).split("\n") if n]
    binary = (".npz", ".png", ".npy")
    return {n: None if n.endswith(binary) else git("show", f"{STUDENT_BRANCH}:{n}") for n in names}


def test_make_branch_commits_the_stripped_notebooks_and_what_running_them_needs(tmp_path):
    notebooks = make_sources(tmp_path / "src")
    branch = make_branch(notebooks, tmp_path / "branch")
    files = _branch_files(branch)
    assert {f"notebooks/{p.name}" for p in NOTEBOOKS} <= set(files)
    for needed in (".binder/requirements.txt", ".binder/runtime.txt", "pyproject.toml",
                   "requirements.txt", "lplr_core/__init__.py", "lplr_core/data/files/mnist_digits.npz",
                   "README.md"):
        assert needed in files, needed
    assert not any(n.startswith(("book/", "tests/", "_build/")) or "__pycache__" in n
                   for n in files)
    for name, text in files.items():
        assert text is None or "{solution" not in text, name
    for path in NOTEBOOKS:
        nb = nbformat.reads(files[f"notebooks/{path.name}"], as_version=4)
        assert nb.metadata["lplr"]["edition"] == "student", path.name
        fetch = [c.source for c in nb.cells if c.cell_type == "code" and URL in c.source]
        assert fetch and all(_fetches_branch(s, URL, "student") for s in fetch), path.name
    readme = files["README.md"]
    assert f"/v2/gh/{URL.removeprefix('https://github.com/')}/student?" in readme
    assert "/blob/student/notebooks/" in readme and "/blob/main/" not in readme
