"""Building the lplr_core wheel and a fresh virtual environment without lplr_core, offline.

Shared by ``tests/test_install.py`` (the README's example from an installed wheel) and
``tests/test_colab_cell.py`` (the notebooks' first cell installs the wheel with pip).

* :func:`build_wheel` builds from a copy of the project files (so the repository gets no
  ``build/`` folder), without build isolation and without an index: nothing is downloaded.
* :func:`fresh_venv` makes a venv (no pip of its own) that sees this interpreter's installed
  packages (jax, numpy, scipy, pip, ...) through one ``.pth`` path line pointing at a
  *view* of site-packages: a folder of symbolic links to every entry except lplr_core's
  own (its editable-install finder, ``.pth`` and ``dist-info``). In that venv
  ``import lplr_core`` fails and pip does not see lplr_core installed, as on Colab; the
  dependencies are present, as on Colab. ``.pth`` files of the view are not processed
  (only a site directory's are), and the view has none anyway.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The files the wheel must carry besides the code: the shipped data and their licences.
SHIPPED = ("mnist_digits.npz", "fashion_mnist_subset.npz", "LICENSE-mnist.txt",
           "LICENSE-fashion-mnist.txt")


def run(args, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run`` that fails the test with the command's output on a non-zero exit."""
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} failed ({result.returncode}):\n"
        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def clean_env() -> dict[str, str]:
    """This process's environment without Python, venv and LPLR_ variables; pip offline-safe."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "LPLR_", "PIP_"))}
    env["JAX_PLATFORMS"] = "cpu"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def project_copy(dest: Path) -> Path:
    """The files a wheel is built from: pyproject.toml, README.md and lplr_core/."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "lplr_core", dest / "lplr_core",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def build_wheel(tmp: Path, env: dict[str, str]) -> Path:
    """Build the lplr_core wheel under ``tmp`` (offline) and check it ships the data."""
    source = project_copy(tmp / "src")
    wheels = tmp / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(wheels), str(source)], cwd=tmp, env=env)
    (wheel,) = wheels.glob("lplr_core-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for shipped in SHIPPED:
        assert f"lplr_core/data/files/{shipped}" in names, f"{shipped} is not in the wheel"
    return wheel


def _is_lplr_core(name: str) -> bool:
    low = name.lower()
    return low.startswith(("lplr_core", "lplr-core", "__editable__")) or low.endswith(".pth")


def dependency_view(dest: Path) -> Path:
    """A folder of symbolic links to this environment's site-packages, lplr_core left out."""
    dest.mkdir()
    folders = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    for folder in folders:
        for entry in Path(folder).iterdir():
            if not _is_lplr_core(entry.name) and not (dest / entry.name).exists():
                (dest / entry.name).symlink_to(entry)
    return dest


def fresh_venv(tmp: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """A venv under ``tmp`` that sees the dependencies but not lplr_core: ``(python, site)``."""
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp, env=env)
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                    cwd=tmp, env=env).stdout.strip())
    view = dependency_view(tmp / "dependencies")
    (site / "_lplr_test_dependencies.pth").write_text(f"{view}\n")
    probe = run([str(python), "-c", "import importlib.util as u, importlib.metadata as m\n"
                 "names = {d.metadata['Name'].lower().replace('-', '_') for d in m.distributions()}\n"
                 "print(u.find_spec('lplr_core') is None, 'lplr_core' in names,"
                 " u.find_spec('jax') is not None, u.find_spec('pip') is not None)"],
                cwd=tmp, env=env).stdout.split()
    assert probe == ["True", "False", "True", "True"], (
        "the fresh venv must not import or list lplr_core, and must find jax and pip; "
        f"got {probe}")
    return python, site
