"""Build the student edition of the book: every exercise kept, every solution removed.

``make student`` runs this script. It copies the book's sources (``_config.yml``,
``_toc.yml``, ``book/``, ``notebooks/``) into ``_build/student-src/``, removes the
solutions from every notebook and Markdown page there, and builds that copy with
Jupyter Book into ``_build/student/_build/html`` (warnings are errors, as for the
full book). The stripped notebooks are what the student site's download buttons
serve, and a copy of them is left in ``_build/student/notebooks/`` to hand out.

Launch buttons. Binder, Colab and a JupyterHub open a notebook from a *git branch* of the
repository named by ``repository.url`` in ``_config.yml`` (the one place that URL is set).
The student site's buttons point at the branch ``student`` (:data:`STUDENT_BRANCH`), which
``make student`` generates in ``_build/student/branch/`` as a git repository with one commit:
the stripped notebooks at the same paths as on ``main`` (``notebooks/NAME.ipynb``), plus what
running them needs (``lplr_core/``, ``data/``, ``.binder/``, ``pyproject.toml``,
``requirements.txt``) and a generated README -- no book sources, no solutions. Publishing
it is one command (``git -C _build/student/branch push --force <repository.url> student``),
documented on the instructors page; nothing here touches the network. The notebooks' first
cell installs the core with pip from the repository when it is missing (Colab): in the
student copies pip's source is pinned to the ``student`` branch
(``f"git+{repository}@student"``), so a student never fetches the solutions either.

What counts as a solution (the two forms sphinx-exercise supports):

* a gated solution: from a ```` ```{solution-start} ```` fence to the matching
  ```` ```{solution-end} ```` fence, which may span several notebook cells (the
  code cells of a solution sit between them) -- everything in between goes;
* a ``{solution}`` directive block, with backtick or colon fences of any length
  (a longer outer fence may contain shorter inner ones).

A solution that is opened and never closed is an error, not a silent truncation.
A cell tagged ``solution`` (any tag containing that word) is removed as well.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("_config.yml", "_toc.yml", "book", "notebooks")
SKIP = {"tools", "__pycache__", ".ipynb_checkpoints"}
#: The branch the student site's launch buttons open (generated, force-pushed, never edited).
STUDENT_BRANCH = "student"
#: What the student branch carries besides the stripped notebooks: what running them needs.
BRANCH_ITEMS = (".binder", "lplr_core", "data", "pyproject.toml", "requirements.txt")
BRANCH_SKIP = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
_GITHUB = re.compile(r"https://github\.com/(?P<org>[A-Za-z0-9][A-Za-z0-9-]*)"
                     r"/(?P<repo>[A-Za-z0-9._-]+)")

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|:{3,})\{(?P<name>[a-z-]+)\}")
_PLAIN_FENCE = re.compile(r"^[ \t]*(`{3,}|:{3,})\s*$")


class SolutionError(ValueError):
    """A solution block that is not closed, or closed without being opened."""


def _closing(fence: str, line: str) -> bool:
    stripped = line.strip()
    return stripped == fence or (stripped.startswith(fence[0] * len(fence))
                                 and set(stripped) == {fence[0]} and len(stripped) >= len(fence))


class _Stripper:
    """A line-based state machine over a document (a list of cells' texts)."""

    def __init__(self, where: str):
        self.where = where
        self.gated = False            # inside solution-start ... solution-end
        self.block_fence: str | None = None   # inside a {solution} directive with this fence

    @property
    def inside(self) -> bool:
        return self.gated or self.block_fence is not None

    def _skip_fence_block(self, lines, i, fence):
        """Index after the end of the fenced directive that opens at lines[i]."""
        j = i + 1
        while j < len(lines):
            if _closing(fence, lines[j]):
                return j + 1
            j += 1
        return None

    def text(self, text: str) -> str:
        """Strip one Markdown text; state carries over to the next call (next cell)."""
        lines = text.splitlines(keepends=True)
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            match = _FENCE.match(line)
            if self.block_fence is not None:
                if _closing(self.block_fence, line):
                    self.block_fence = None
                i += 1
                continue
            if self.gated:
                if match and match["name"] == "solution-end":
                    end = self._skip_fence_block(lines, i, match["fence"])
                    if end is None:
                        raise SolutionError(f"{self.where}: unterminated solution-end fence")
                    self.gated = False
                    i = end
                    continue
                if match and match["name"] == "solution-start":
                    raise SolutionError(f"{self.where}: solution-start inside another solution")
                i += 1
                continue
            if match and match["name"] == "solution-start":
                end = self._skip_fence_block(lines, i, match["fence"])
                if end is None:
                    raise SolutionError(f"{self.where}: unterminated solution-start fence")
                self.gated, i = True, end
                continue
            if match and match["name"] == "solution-end":
                raise SolutionError(f"{self.where}: solution-end without solution-start")
            if match and match["name"] == "solution":
                self.block_fence = match["fence"]
                i += 1
                continue
            out.append(line)
            i += 1
        return "".join(out)

    def finish(self) -> None:
        if self.gated:
            raise SolutionError(f"{self.where}: solution-start never closed by solution-end")
        if self.block_fence is not None:
            raise SolutionError(f"{self.where}: {{solution}} block never closed")


def strip_markdown(text: str, where: str = "<text>") -> str:
    """A Markdown page without its solutions."""
    stripper = _Stripper(where)
    result = stripper.text(text)
    stripper.finish()
    return _tidy(result)


def _tidy(text: str) -> str:
    # Removing a block leaves runs of blank lines; keep at most one.
    return re.sub(r"\n{3,}", "\n\n", text)


def _tagged_solution(cell) -> bool:
    return any("solution" in str(tag).lower() for tag in cell.get("metadata", {}).get("tags", []))


def strip_notebook(nb, where: str = "<notebook>"):
    """A copy of an nbformat notebook without its solutions (cells between gates go)."""
    import copy

    stripper = _Stripper(where)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            text = _tidy(stripper.text(cell.source)).strip("\n")
            if _tagged_solution(cell):
                continue
            if text.strip():  # a cell that was all solution is dropped
                new = copy.deepcopy(cell)
                new.source = text
                cells.append(new)
        elif not stripper.inside and not _tagged_solution(cell):
            cells.append(copy.deepcopy(cell))
    stripper.finish()
    out = copy.deepcopy(nb)
    out.cells = cells
    out.metadata.setdefault("lplr", {})["edition"] = "student"
    return out


def count_directives(text: str, name: str) -> int:
    """How many ``{name}`` directive fences open in ``text``."""
    return sum(1 for line in text.splitlines() if (m := _FENCE.match(line)) and m["name"] == name)


def read_config(root: Path = ROOT) -> dict:
    """The book's ``_config.yml`` under ``root``, parsed."""
    import yaml

    return yaml.safe_load((Path(root) / "_config.yml").read_text(encoding="utf-8"))


def repository_url(config: dict) -> str:
    """``repository.url`` of a parsed ``_config.yml``: the one setting for the repository URL.

    Binder, Colab and JupyterHub links, the README badges, the notebooks' first cell and the
    citation all name this URL (``tests/test_repository_url.py`` checks that they agree).
    It must be ``https://github.com/ORG/REPO`` (no ``.git``, no trailing slash): Binder and
    Colab links are built from its two parts.
    """
    url = (config.get("repository") or {}).get("url")
    if not isinstance(url, str) or not _GITHUB.fullmatch(url) or url.endswith(".git"):
        raise ValueError(f"_config.yml repository.url={url!r}: expected "
                         "'https://github.com/ORG/REPO' (no .git, no trailing slash)")
    return url


def student_config(config: dict, branch: str = STUDENT_BRANCH,
                   jupyterhub_url: str | None = None) -> dict:
    """The student site's configuration: the full one with its launch buttons on ``branch``.

    The title says "(student edition)"; ``repository.branch`` is ``branch`` and
    ``path_to_book`` stays as it is (the branch keeps the notebooks at the paths they have on
    ``main``), so every Binder, Colab and JupyterHub button opens the stripped notebook.
    The repository button is turned off: it would link the main branch, solutions included.
    ``jupyterhub_url`` adds a JupyterHub button for a course's hub (nbgitpuller links).
    """
    import copy

    repository_url(config)                      # validated before anything is derived from it
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", branch) or branch == "main":
        raise ValueError(f"branch={branch!r}: expected a git branch name other than 'main'")
    out = copy.deepcopy(config)
    out["title"] = f"{config.get('title', '')} (student edition)".strip()
    out["repository"]["branch"] = branch
    out.setdefault("html", {})["use_repository_button"] = False
    if jupyterhub_url is not None:
        if not re.fullmatch(r"https?://[^\s?#]+[^/\s?#]", jupyterhub_url):
            raise ValueError(f"jupyterhub_url={jupyterhub_url!r}: expected an http(s) URL "
                             "without a trailing slash, query or fragment")
        out.setdefault("launch_buttons", {})["jupyterhub_url"] = jupyterhub_url
    return out


# How a notebook's first cell or a page fetches the repository, and the same pinned to a branch.
_CLONE_LIST = re.compile(r'(\[\s*"git"\s*,\s*"clone"\s*,)(?!\s*"--branch")')
_CLONE_SHELL = r"(\bgit clone)(?! --branch)(?=[ \t][^\n]*{url})"   # only clones of the repository
# The notebooks' first cell: ``repository = "URL"`` then pip's source ``f"git+{repository}"``.
_URL_VARIABLE = r"""\b(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<quote>["']){url}(?P=quote)"""
_PIP_FSTRING = r"""(\bf(?P<quote>["'])git\+\{{{name}\}})(?=(?P=quote))"""


def pin_branch(text: str, url: str, branch: str = STUDENT_BRANCH) -> str:
    """``text`` with every fetch of the repository pinned to ``branch``.

    Handles ``git clone`` (shell, or a ``["git", "clone", ...]`` list), pip's ``git+URL``,
    and the notebooks' first cell, where the URL is a variable and pip's source the
    f-string ``f"git+{repository}"`` (pinned: ``f"git+{repository}@student"``). Text that
    does not fetch the repository, or fetches a ref already, is returned unchanged.
    """
    names = [m["name"] for m in re.finditer(_URL_VARIABLE.format(url=re.escape(url)), text)]
    if "clone" not in text and f"git+{url}" not in text and not names:
        return text
    text = _CLONE_LIST.sub(rf'\1 "--branch", "{branch}",', text)
    text = re.sub(_CLONE_SHELL.format(url=re.escape(url)), rf"\1 --branch {branch}", text)
    for name in dict.fromkeys(names):
        text = re.sub(_PIP_FSTRING.format(name=re.escape(name)), rf"\1@{branch}", text)
    return re.sub(rf"git\+{re.escape(url)}(\.git)?(?![@\w./-])", rf"git+{url}\1@{branch}", text)


def pin_notebook(nb, url: str, branch: str = STUDENT_BRANCH, where: str = "<notebook>"):
    """Pin every code cell's fetch of the repository to ``branch`` (in place); returns ``nb``.

    A code cell that names the repository must fetch it in a form :func:`pin_branch`
    knows; anything else is an error rather than a student notebook that clones ``main``.
    """
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or url not in cell.source:
            continue
        pinned = pin_branch(cell.source, url, branch)
        if branch not in pinned or pinned == cell.source:
            raise ValueError(f"{where}, cell {index}: it names {url} but fetches it in a form "
                             f"that cannot be pinned to the branch {branch!r}")
        cell.source = pinned
    return nb


def make_sources(dest: Path, branch: str = STUDENT_BRANCH,
                 jupyterhub_url: str | None = None) -> list[Path]:
    """Copy the book's sources into ``dest`` with solutions removed; returns the notebooks.

    Every fetch of the repository (notebooks' first cell, the clone command on the intro
    page) is pinned to ``branch``, and ``_config.yml`` is :func:`student_config`.
    """
    import nbformat
    import yaml

    config = read_config(ROOT)
    url = repository_url(config)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in SOURCES:
        src = ROOT / name
        if src.is_file():
            shutil.copy2(src, dest / name)
        else:
            shutil.copytree(src, dest / name, ignore=lambda _d, names: [n for n in names if n in SKIP])
    notebooks = []
    for path in sorted((dest / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        stripped = pin_notebook(strip_notebook(nb, where=path.name), url, branch, where=path.name)
        nbformat.write(stripped, path)
        notebooks.append(path)
    for path in sorted((dest / "book").rglob("*.md")):
        text = strip_markdown(path.read_text(encoding="utf-8"), where=path.name)
        path.write_text(pin_branch(text, url, branch), encoding="utf-8")
    (dest / "_config.yml").write_text(
        "# Generated by book/tools/student_edition.py from the book's _config.yml.\n"
        + yaml.safe_dump(student_config(config, branch, jupyterhub_url), sort_keys=False,
                         allow_unicode=True, width=100),
        encoding="utf-8")
    return notebooks


def _git(repo: Path, *args: str) -> str:
    """Run git on the repository at ``repo`` only (explicit git dir: never a parent repo)."""
    cmd = ["git", f"--git-dir={repo / '.git'}", f"--work-tree={repo}",
           "-c", "user.name=LPLR student edition", "-c", "user.email=student-edition@localhost",
           "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null", *args]
    return subprocess.run(cmd, cwd=repo, check=True, capture_output=True, text=True).stdout


def _source_commit() -> str:
    try:
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             check=True, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--", "notebooks",
                                *BRANCH_ITEMS]).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return "an unknown commit"
    return f"commit {sha}" + (" with uncommitted changes" if dirty else "")


def _branch_readme(url: str, branch: str, notebooks: list[str], source: str) -> str:
    org_repo = url.removeprefix("https://github.com/")
    first = notebooks[0] if notebooks else "notebooks/"
    lines = [
        f"# The LPLR companion, student edition (branch `{branch}`)",
        "",
        f"Generated by `make student` from {source} of the main branch of {url}.",
        "The notebooks in `notebooks/` keep every exercise and have no worked answers;",
        "the rest is what running them needs (`lplr_core/`, `data/`, `.binder/`).",
        "Do not edit this branch: it is regenerated and force-pushed. The book, with its",
        "answers for graders, lives on the main branch.",
        "",
        f"[![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/{org_repo}/"
        f"{branch}?urlpath=lab)",
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{org_repo}/blob/{branch}/{first})",
        "",
        "Notebooks:",
        "",
        *[f"- `{name}`" for name in notebooks],
        "",
    ]
    return "\n".join(lines)


def make_branch(notebooks: list[Path], dest: Path, branch: str = STUDENT_BRANCH) -> Path:
    """Lay out the student branch in ``dest`` and commit it there (a local git repository).

    ``dest`` gets the stripped ``notebooks`` under ``notebooks/`` (the paths they have on
    ``main``, so the site's ``path_to_book`` does not change), :data:`BRANCH_ITEMS` copied
    from the repository, and a README; then ``git init`` on ``branch`` and one commit. What
    that commit holds is exactly what ``git push --force <url> <branch>`` publishes and what
    the student site's launch buttons open. Returns ``dest``.
    """
    url = repository_url(read_config(ROOT))
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "notebooks").mkdir(parents=True)
    for item in BRANCH_ITEMS:
        src = ROOT / item
        if src.is_file():
            shutil.copy2(src, dest / item)
        elif src.is_dir():
            shutil.copytree(src, dest / item,
                            ignore=lambda _d, names: [n for n in names if n in BRANCH_SKIP])
        else:
            raise FileNotFoundError(f"the student branch needs {src}, which does not exist")
    names = []
    for path in notebooks:
        shutil.copy2(path, dest / "notebooks" / path.name)
        names.append(f"notebooks/{path.name}")
    (dest / "README.md").write_text(_branch_readme(url, branch, names, _source_commit()),
                                    encoding="utf-8")
    subprocess.run(["git", "init", "-q", "-b", branch, str(dest)], check=True)
    top = _git(dest, "rev-parse", "--absolute-git-dir").strip()
    if Path(top).resolve() != (dest / ".git").resolve():
        raise RuntimeError(f"git init in {dest} did not create its own repository ({top})")
    _git(dest, "add", "--all", "--", ".")
    _git(dest, "commit", "-q", "-m", f"Student edition, generated from {_source_commit()}")
    return dest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    parser.add_argument("--src", type=Path, default=ROOT / "_build" / "student-src")
    parser.add_argument("--branch", default=STUDENT_BRANCH,
                        help="the branch the launch buttons open (default: %(default)s)")
    parser.add_argument("--jupyterhub-url", default=None,
                        help="add a JupyterHub launch button for this hub (no trailing slash)")
    parser.add_argument("--no-build", action="store_true", help="only write the stripped sources")
    args = parser.parse_args(argv)
    notebooks = make_sources(args.src, args.branch, args.jupyterhub_url)
    handout = args.out / "notebooks"
    if handout.exists():
        shutil.rmtree(handout)
    handout.mkdir(parents=True)
    for path in notebooks:
        shutil.copy2(path, handout / path.name)
    branch_dir = make_branch(notebooks, args.out / "branch", args.branch)
    url = repository_url(read_config(ROOT))
    print(f"stripped {len(notebooks)} notebooks into {args.src}")
    print(f"branch {args.branch!r} committed in {branch_dir}; publish it with\n"
          f"  git -C {branch_dir} push --force {url} {args.branch}")
    if args.no_build:
        return 0
    jb = Path(sys.executable).with_name("jupyter-book")
    html = args.out / "_build" / "html"
    if html.exists():
        shutil.rmtree(html)
    cmd = [str(jb), "build", str(args.src), "--builder", "html", "--path-output", str(args.out),
           "-n", "-W", "--keep-going"]
    code = subprocess.call(cmd)
    if code == 0:
        print(f"Student edition: open {html / 'index.html'}")
        print(f"Notebooks to hand out (no solutions): {handout}")
    return code


if __name__ == "__main__":
    sys.exit(main())
