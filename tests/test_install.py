"""`pip install` of a built wheel, in a fresh virtual environment outside the repository,
runs the README's first example (issue 10, section 3).

The wheel is built from a copy of the project files (so the repository gets no ``build/``
folder), installed with ``--no-deps --no-index`` into a venv under ``tmp_path`` that sees
the dependencies already installed in this interpreter's environment through a ``.pth``
line. Only path lines are added that way: ``.pth`` files inside that folder (such as the
editable install of lplr_core that points back at the repository) are not processed, so
the only ``lplr_core`` the new venv can import is the wheel's, which the test checks.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README_HEADING = "## The core: `lplr_core`"
MARKER = "LPLR_CORE_FILE="


def readme_example() -> str:
    """The first ```python block under the README's heading for the core, verbatim."""
    text = (REPO / "README.md").read_text()
    start = text.index(README_HEADING)
    match = re.compile(r"^```python\n(.*?)^```", re.S | re.M).search(text, start)
    assert match is not None, f"no ```python block after {README_HEADING!r} in README.md"
    return match.group(1)


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} failed ({result.returncode}):\n"
        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "LPLR_"))}
    env["JAX_PLATFORMS"] = "cpu"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def _project_copy(dest: Path) -> Path:
    """The files a wheel is built from: pyproject.toml, README.md and lplr_core/."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "lplr_core", dest / "lplr_core",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def test_readme_example_block_is_found():
    code = readme_example()
    assert "from lplr_core.data import binary_mnist" in code and "print(" in code


def test_wheel_in_a_fresh_venv_runs_the_readme_example(tmp_path):
    env = _clean_env()

    # 1. Build the wheel (offline: no build isolation, so this environment's setuptools).
    source = _project_copy(tmp_path / "src")
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-index", "-q", "-w", str(wheels), str(source)], cwd=tmp_path, env=env)
    (wheel,) = wheels.glob("lplr_core-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for shipped in ("mnist_digits.npz", "fashion_mnist_subset.npz", "LICENSE-mnist.txt",
                    "LICENSE-fashion-mnist.txt"):
        assert f"lplr_core/data/files/{shipped}" in names, f"{shipped} is not in the wheel"

    # 2. A fresh venv outside the repository that sees the installed dependencies.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     cwd=tmp_path, env=env).stdout.strip())
    deps = sysconfig.get_path("purelib")  # this environment's site-packages (jax, numpy, pip)
    (site / "_lplr_test_dependencies.pth").write_text(deps + "\n")
    probe = _run([str(python), "-c", "import importlib.util as u; "
                  "print(u.find_spec('lplr_core') is None, u.find_spec('jax') is not None)"],
                 cwd=tmp_path, env=env).stdout.split()
    assert probe == ["True", "True"], f"before installing: lplr_core absent, jax found; got {probe}"

    # 3. Install the wheel alone (pip from the dependencies' folder, nothing from the network).
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed",
          "-q", str(wheel)], cwd=tmp_path, env=env)

    # 4. The README's example, verbatim, from a folder that is not the repository.
    script = tmp_path / "readme_example.py"
    script.write_text(readme_example() + textwrap.dedent(f"""
        import lplr_core as _lp
        print("{MARKER}" + _lp.__file__)
    """))
    out = _run([str(python), str(script)], cwd=tmp_path, env=env, timeout=900).stdout
    printed, _, where = out.rpartition(MARKER)
    where = Path(where.strip()).resolve()
    assert where.is_relative_to(venv.resolve()), f"lplr_core imported from {where}, not the venv"
    assert not where.is_relative_to(REPO)
    numbers = re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf", printed)
    assert numbers, f"the README example printed no numbers:\n{printed}"
    values = [float(v) for v in numbers]
    assert all(math.isfinite(v) for v in values), f"non-finite output:\n{printed}"
