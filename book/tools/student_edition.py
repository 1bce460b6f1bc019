"""Build the student edition of the book: every exercise kept, every solution removed.

``make student`` runs this script. It copies the book's sources (``_config.yml``,
``_toc.yml``, ``book/``, ``notebooks/``) into ``_build/student-src/``, removes the
solutions from every notebook and Markdown page there, and builds that copy with
Jupyter Book into ``_build/student/_build/html`` (warnings are errors, as for the
full book). The stripped notebooks are what the student site's download buttons
serve, and a copy of them is left in ``_build/student/notebooks/`` to hand out.

What counts as a solution (the two forms sphinx-exercise supports):

* a gated solution: from a ```` ```{solution-start} ```` fence to the matching
  ```` ```{solution-end} ```` fence, which may span several notebook cells (the
  code cells of a solution sit between them) -- everything in between goes;
* a ``{solution}`` directive block, with backtick or colon fences of any length
  (a longer outer fence may contain shorter inner ones).

A solution that is opened and never closed is an error, not a silent truncation.
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


def strip_notebook(nb, where: str = "<notebook>"):
    """A copy of an nbformat notebook without its solutions (cells between gates go)."""
    import copy

    stripper = _Stripper(where)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            text = _tidy(stripper.text(cell.source)).strip("\n")
            if text.strip():  # a cell that was all solution is dropped
                new = copy.deepcopy(cell)
                new.source = text
                cells.append(new)
        elif not stripper.inside:
            cells.append(copy.deepcopy(cell))
    stripper.finish()
    out = copy.deepcopy(nb)
    out.cells = cells
    out.metadata.setdefault("lplr", {})["edition"] = "student"
    return out


def count_directives(text: str, name: str) -> int:
    """How many ``{name}`` directive fences open in ``text``."""
    return sum(1 for line in text.splitlines() if (m := _FENCE.match(line)) and m["name"] == name)


def make_sources(dest: Path) -> list[Path]:
    """Copy the book's sources into ``dest`` with solutions removed; returns the notebooks."""
    import nbformat

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
        nbformat.write(strip_notebook(nb, where=path.name), path)
        notebooks.append(path)
    for path in sorted((dest / "book").rglob("*.md")):
        path.write_text(strip_markdown(path.read_text(encoding="utf-8"), where=path.name),
                        encoding="utf-8")
    config = dest / "_config.yml"
    text = config.read_text(encoding="utf-8")
    text = re.sub(r"^title: (.*)$", r"title: \1 (student edition)", text, count=1, flags=re.M)
    config.write_text(text, encoding="utf-8")
    return notebooks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    parser.add_argument("--src", type=Path, default=ROOT / "_build" / "student-src")
    parser.add_argument("--no-build", action="store_true", help="only write the stripped sources")
    args = parser.parse_args(argv)
    notebooks = make_sources(args.src)
    handout = args.out / "notebooks"
    if handout.exists():
        shutil.rmtree(handout)
    handout.mkdir(parents=True)
    for path in notebooks:
        shutil.copy2(path, handout / path.name)
    print(f"stripped {len(notebooks)} notebooks into {args.src}")
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
