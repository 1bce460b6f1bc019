"""Execute the book's notebooks in place and stamp them with a source hash.

The book is built with ``execute_notebooks: "off"``: the HTML shows the outputs
committed with each notebook, and nbval (``make test``) re-executes every
notebook and compares. This script is how those outputs are produced::

    .venv/bin/python book/tools/execute_notebooks.py            # every notebook
    .venv/bin/python book/tools/execute_notebooks.py notebooks/00_empirical_ntk.ipynb

Each executed notebook gets ``metadata.lplr.source_sha256``, a hash of its
code cells. ``tests/test_notebooks.py`` recomputes it, so a notebook whose code
was edited without re-running fails the suite even before nbval runs.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def source_sha256(nb) -> str:
    """Hash of the code cells' sources, in order (what the outputs depend on)."""
    digest = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode("utf-8"))
            digest.update(b"\0")
    return digest.hexdigest()


def execute(path: Path, timeout: int = 600) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    nb.metadata.setdefault("lplr", {})["source_sha256"] = source_sha256(nb)
    # Widget state is never useful in the committed file (the book hides live
    # panels; nbval ignores them), and it makes diffs noisy.
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        print(f"executing {path} ...", flush=True)
        print(f"  done in {execute(path):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
