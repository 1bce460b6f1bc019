"""`pip install` of a built wheel, in a fresh virtual environment outside the repository,
runs the README's first example (issue 10, section 3).

The wheel is built from a copy of the project files (so the repository gets no ``build/``
folder), installed with ``--no-deps --no-index`` into a venv under ``tmp_path`` that sees
the dependencies already installed in this interpreter's environment through a ``.pth``
line pointing at a view of site-packages without lplr_core (``tests/_wheel.py``), so the
only ``lplr_core`` the new venv can import is the wheel's, which the test checks.
"""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path

from _wheel import REPO, build_wheel, clean_env, fresh_venv, run

README_HEADING = "## The core: `lplr_core`"
MARKER = "LPLR_CORE_FILE="


def readme_example() -> str:
    """The first ```python block under the README's heading for the core, verbatim."""
    text = (REPO / "README.md").read_text()
    start = text.index(README_HEADING)
    match = re.compile(r"^```python\n(.*?)^```", re.S | re.M).search(text, start)
    assert match is not None, f"no ```python block after {README_HEADING!r} in README.md"
    return match.group(1)


def test_readme_example_block_is_found():
    code = readme_example()
    assert "from lplr_core.data import binary_mnist" in code and "print(" in code


def test_wheel_in_a_fresh_venv_runs_the_readme_example(tmp_path):
    env = clean_env()

    # 1. Build the wheel (offline: no build isolation, so this environment's setuptools);
    #    it carries the shipped data (checked by build_wheel).
    wheel = build_wheel(tmp_path, env)

    # 2. A fresh venv outside the repository that sees the installed dependencies and
    #    neither imports nor lists lplr_core (checked by fresh_venv).
    python, _ = fresh_venv(tmp_path, env)
    venv = python.parent.parent

    # 3. Install the wheel alone (pip from the dependencies' folder, nothing from the network).
    run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed",
         "-q", str(wheel)], cwd=tmp_path, env=env)

    # 4. The README's example, verbatim, from a folder that is not the repository.
    script = tmp_path / "readme_example.py"
    script.write_text(readme_example() + textwrap.dedent(f"""
        import lplr_core as _lp
        print("{MARKER}" + _lp.__file__)
    """))
    out = run([str(python), str(script)], cwd=tmp_path, env=env, timeout=900).stdout
    printed, _, where = out.rpartition(MARKER)
    where = Path(where.strip()).resolve()
    assert where.is_relative_to(venv.resolve()), f"lplr_core imported from {where}, not the venv"
    assert not where.is_relative_to(REPO)
    numbers = re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf", printed)
    assert numbers, f"the README example printed no numbers:\n{printed}"
    values = [float(v) for v in numbers]
    assert all(math.isfinite(v) for v in values), f"non-finite output:\n{printed}"
