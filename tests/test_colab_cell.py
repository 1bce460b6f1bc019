"""The notebooks' first cell installs the companion's core with pip (issue 12, section 3).

On Colab a notebook opens alone, without the repository. Its first code cell (hidden in the
book) installs ``lplr_core`` -- with the MNIST digits it ships as package data -- with pip
from the repository, or from ``$LPLR_CORE_SOURCE`` when set (a local wheel, a fork, a
branch), and does nothing where the core is importable already.

Checked here:

* every notebook's first code cell is exactly :func:`reference_cell` for the URL in
  ``_config.yml`` (the one setting for the repository URL);
* its logic, in this process with pip replaced by a recorder: the command it runs by
  default (``pip install --quiet git+URL``) and with ``LPLR_CORE_SOURCE``; the student
  edition's copy installs the ``student`` branch;
* for real and offline: in a fresh virtual environment that has the dependencies but no
  ``lplr_core`` (as on Colab; ``tests/_wheel.py``), the cell with ``LPLR_CORE_SOURCE`` set to
  a wheel built from this checkout installs it with pip (dependency resolution included:
  nothing else is installed, nothing downloaded); then, in the same process, ``import
  lplr_core`` finds the installed copy, the shipped digits load (checked pixel for pixel
  against the repository's file read with NumPy) and a tiny empirical NTK equals ``J J^T``
  from JAX's own Jacobian; running the cell again, in that process and in a new one, calls
  nothing; the committed repository (HEAD) and the student branch that ``make student``
  commits install the same way with pip from git (``git+file://...``);
* the core's dependency ranges only set lower bounds, so installing the core on Colab
  never downgrades Colab's jax, numpy or scipy.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from _wheel import REPO, build_wheel, clean_env, fresh_venv, run

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
URL = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]

_REFERENCE = '''\
# Colab, or any environment without the companion: install its core (lplr_core and the MNIST
# digits it ships) with pip from the repository. Hidden in the book.
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("lplr_core") is None:
    repository = "{url}"
    source = os.environ.get("LPLR_CORE_SOURCE", f"git+{{repository}}")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", source], check=True)'''


def reference_cell(url: str = URL) -> str:
    """The first code cell every notebook must have, for the repository ``url``."""
    return _REFERENCE.format(url=url)


def first_code_cell(path: Path):
    """The first code cell of a notebook (nbformat node)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name} has no code cell"
    return code[0]


# ------------------------------------------------------------------ every notebook, one cell

def test_the_reference_cell_names_the_configured_repository():
    cell = reference_cell()
    assert f'repository = "{URL}"' in cell and 'f"git+{repository}"' in cell
    compile(cell, "first-cell", "exec")


def stale_notebooks(paths) -> list[str]:
    """Names of the notebooks whose first code cell is not exactly :func:`reference_cell`."""
    expected = reference_cell()
    return [p.name for p in paths if first_code_cell(p).source != expected]


def test_every_notebook_starts_with_the_reference_cell():
    assert len(NOTEBOOKS) >= 13, [p.name for p in NOTEBOOKS]
    stale = stale_notebooks(NOTEBOOKS)
    assert not stale, (
        f"{len(stale)} of {len(NOTEBOOKS)} notebooks do not start with the pip-install cell "
        f"(tests/test_colab_cell.py reference_cell): {stale}")


def test_a_stale_first_cell_is_named(tmp_path):
    import nbformat

    def write(name, first_code):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell(first_code),
                    nbformat.v4.new_code_cell(reference_cell())]   # a later cell does not count
        nbformat.write(nb, tmp_path / name)
        return tmp_path / name

    paths = [write("a.ipynb", reference_cell()),
             write("b.ipynb", reference_cell().replace("--quiet", "-q")),
             write("c.ipynb", reference_cell() + "\n"),
             write("d.ipynb", reference_cell("https://github.com/someone-else/fork")),
             write("e.ipynb", "import os")]
    assert stale_notebooks(paths) == ["b.ipynb", "c.ipynb", "d.ipynb", "e.ipynb"]


def test_the_first_cell_is_hidden_in_the_book():
    shown = [p.name for p in NOTEBOOKS
             if "remove-cell" not in first_code_cell(p).metadata.get("tags", [])]
    assert not shown, f"first cell not tagged remove-cell: {shown}"


# ------------------------------------------------------------------ its logic, pip recorded

def _exec_cell(cell: str, monkeypatch, *, core_present: bool, source: str | None = None):
    """Run ``cell`` here with pip recorded, not run; returns the recorded commands."""
    calls = []
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "lplr_core":
            return real_find_spec(name) if core_present else None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: calls.append((list(args), kw)))
    if source is None:
        monkeypatch.delenv("LPLR_CORE_SOURCE", raising=False)
    else:
        monkeypatch.setenv("LPLR_CORE_SOURCE", source)
    exec(compile(cell, "first-cell", "exec"), {"__name__": "__main__"})
    return calls


def _pip(source):
    return [([sys.executable, "-m", "pip", "install", "--quiet", source], {"check": True})]


def test_without_the_core_the_cell_installs_it_from_the_repository(monkeypatch):
    calls = _exec_cell(reference_cell(), monkeypatch, core_present=False)
    assert calls == _pip(f"git+{URL}")


def test_lplr_core_source_overrides_where_it_installs_from(monkeypatch):
    for source in ("/tmp/lplr_core-0.1.0-py3-none-any.whl",
                   "git+https://github.com/someone/fork@my-branch"):
        assert _exec_cell(reference_cell(), monkeypatch, core_present=False,
                          source=source) == _pip(source)


def test_with_the_core_present_the_cell_does_nothing(monkeypatch):
    assert _exec_cell(reference_cell(), monkeypatch, core_present=True) == []
    assert _exec_cell(reference_cell(), monkeypatch, core_present=True, source="/nope") == []


def test_the_student_copy_installs_the_student_branch(monkeypatch):
    sys.path.insert(0, str(REPO / "book" / "tools"))
    try:
        from student_edition import STUDENT_BRANCH, pin_branch
    finally:
        sys.path.remove(str(REPO / "book" / "tools"))
    pinned = pin_branch(reference_cell(), URL)
    assert pinned != reference_cell()
    calls = _exec_cell(pinned, monkeypatch, core_present=False)
    assert calls == _pip(f"git+{URL}@{STUDENT_BRANCH}")
    # LPLR_CORE_SOURCE still wins (an instructor's own wheel or fork).
    assert _exec_cell(pinned, monkeypatch, core_present=False, source="/w.whl") == _pip("/w.whl")


# ------------------------------------------------------------------ for real, offline

_DRIVER = r'''
import hashlib, json, subprocess, sys, time
from pathlib import Path

cell = Path(sys.argv[1]).read_text()
mode = sys.argv[2]
calls = []
real_run = subprocess.run
def recording_run(args, *a, **k):
    calls.append([str(x) for x in args])
    return real_run(args, *a, **k)
subprocess.run = recording_run

t0 = time.perf_counter()
exec(compile(cell, "first-cell", "exec"), {"__name__": "__main__"})
first = {"calls": list(calls), "seconds": time.perf_counter() - t0}
if mode == "again":
    print("RESULT=" + json.dumps({"first": first}))
    raise SystemExit

# What the notebook's next cells do: import the core (no cache invalidation by hand).
import importlib.resources
import numpy as np
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
import lplr_core as lp
from lplr_core.data import binary_mnist

shipped = importlib.resources.files("lplr_core.data") / "files" / "mnist_digits.npz"
repo_file = Path(sys.argv[3])
x, y = binary_mnist(digits=(3, 7), n=24, seed=1, scale="raw")
x, y = np.asarray(x), np.asarray(y)
with np.load(repo_file) as z:                           # the repository's file, read by NumPy
    images, labels = z["images"], z["labels"]
rows = {(bytes(img), int(lab)) for img, lab in zip(images, labels) if lab in (3, 7)}
found = [(bytes(np.rint(r).astype(np.uint8)), 3 if t > 0 else 7) in rows for r, t in zip(x, y)]

# A tiny NTK against J J^T from JAX's own Jacobian of the flattened parameters.
xs = jnp.asarray(x[:6] / 255.0)
mlp = lp.MLP((16,), activation="tanh", parameterization="ntk")
params = mlp.init(jax.random.PRNGKey(0), xs.shape[1])
kernel = np.asarray(lp.empirical_ntk(mlp.apply, params, xs))
flat, unravel = ravel_pytree(params)
jac = np.asarray(jax.jacrev(lambda p: mlp.apply(unravel(p), xs))(flat))
reference = jac @ jac.T

# Run the cell again in this process: it must not call anything.
calls.clear()
exec(compile(cell, "first-cell", "exec"), {"__name__": "__main__"})
print("RESULT=" + json.dumps({
    "first": first, "second_calls": list(calls),
    "lplr_core_file": lp.__file__, "shipped": str(shipped),
    "shipped_sha256": hashlib.sha256(shipped.read_bytes()).hexdigest(),
    "repo_sha256": hashlib.sha256(repo_file.read_bytes()).hexdigest(),
    "x_shape": list(x.shape), "labels": sorted(set(y.tolist())), "found": found,
    "kernel_shape": list(kernel.shape),
    "ntk_error": float(np.max(np.abs(kernel - reference))),
    "ntk_scale": float(np.max(np.abs(reference))),
}))
'''


def _result(stdout: str) -> dict:
    line = [ln for ln in stdout.splitlines() if ln.startswith("RESULT=")]
    assert line, f"the driver printed no result:\n{stdout[-3000:]}"
    return json.loads(line[-1].removeprefix("RESULT="))


def _install_with_the_cell(tmp_path, cell_text: str, source: str, **pip_env) -> tuple[dict, Path]:
    """Run ``cell_text`` in a fresh venv with ``LPLR_CORE_SOURCE=source`` (offline), then the
    driver's checks; returns the driver's result and the venv's python, after checking that
    pip ran once, installed the core alone, and that the core and digits come from the venv."""
    env = clean_env()
    python, site = fresh_venv(tmp_path, env)
    before = {p.name for p in site.iterdir()}
    cell = tmp_path / "first_cell.py"
    cell.write_text(cell_text)
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER)
    repo_file = REPO / "lplr_core" / "data" / "files" / "mnist_digits.npz"
    # PIP_NO_INDEX: pip may use what is installed, never the network (dependencies are
    # resolved, and found installed, as on Colab).
    install_env = dict(env, LPLR_CORE_SOURCE=source, PIP_NO_INDEX="1", **pip_env)
    out = _result(run([str(python), str(driver), str(cell), "install", str(repo_file)],
                      cwd=tmp_path, env=install_env, timeout=900).stdout)

    assert out["first"]["calls"] == [[str(python), "-m", "pip", "install", "--quiet", source]]
    added = sorted({p.name for p in site.iterdir()} - before)
    assert added and all(re.fullmatch(r"lplr_core(-[\w.]+\.dist-info)?", n) for n in added), (
        f"pip installed more than the core (a dependency changed?): {added}")
    venv = python.parent.parent.resolve()
    for key in ("lplr_core_file", "shipped"):
        where = Path(out[key]).resolve()
        assert where.is_relative_to(venv) and not where.is_relative_to(REPO), (key, where)
    assert out["shipped_sha256"] == out["repo_sha256"]
    assert out["x_shape"] == [24, 784] and out["labels"] == [-1, 1]
    assert all(out["found"]), f"digits not in the repository's MNIST file: {out['found']}"
    assert out["kernel_shape"] == [6, 6]
    assert out["ntk_error"] <= 1e-4 * out["ntk_scale"], out
    assert out["second_calls"] == [], "the second run of the cell called pip again"
    return out, python


def test_the_cell_installs_a_local_wheel_offline_in_a_fresh_environment(tmp_path):
    wheel = build_wheel(tmp_path, clean_env())
    _, python = _install_with_the_cell(tmp_path, reference_cell(), str(wheel))

    # A new process (a restarted kernel), the source pointing nowhere: still nothing runs.
    again = dict(clean_env(), LPLR_CORE_SOURCE=str(tmp_path / "missing.whl"), PIP_NO_INDEX="1")
    out = _result(run([str(python), str(tmp_path / "driver.py"), str(tmp_path / "first_cell.py"),
                       "again"], cwd=tmp_path, env=again, timeout=300).stdout)
    assert out["first"]["calls"] == [], out


def test_the_committed_repository_installs_with_pip_from_git(tmp_path):
    """What Colab's ``git+URL`` gets is the committed tree, not this working copy: pip
    builds the core from a git clone of HEAD (``git+file://``, offline, no build
    isolation), so a file the core needs but git does not track fails here."""
    head = run(["git", "-C", str(REPO), "rev-parse", "HEAD"]).stdout.strip()
    _install_with_the_cell(tmp_path, reference_cell(), f"git+file://{REPO}@{head}",
                           PIP_NO_BUILD_ISOLATION="0")   # pip's spelling for "do not isolate"


def test_the_student_branch_installs_with_pip_from_git(tmp_path):
    """The branch ``make student`` commits is what the student copies' cell installs: pip
    builds it from git at ref ``student`` (here over ``file://``, offline, without build
    isolation), and the installed core loads the shipped digits."""
    sys.path.insert(0, str(REPO / "book" / "tools"))
    try:
        from student_edition import STUDENT_BRANCH, make_branch, make_sources, pin_branch
    finally:
        sys.path.remove(str(REPO / "book" / "tools"))
    branch = make_branch(make_sources(tmp_path / "student-src"), tmp_path / "branch")
    _install_with_the_cell(tmp_path, pin_branch(reference_cell(), URL),
                           f"git+file://{branch}@{STUDENT_BRANCH}", PIP_NO_BUILD_ISOLATION="0")


def test_a_failed_install_stops_the_notebook(tmp_path):
    """``check=True``: a source pip cannot install is an error, not a silent no-op."""
    env = clean_env()
    python, _ = fresh_venv(tmp_path, env)
    cell = tmp_path / "first_cell.py"
    cell.write_text(reference_cell())
    result = subprocess.run(
        [str(python), str(cell)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env=dict(env, LPLR_CORE_SOURCE=str(tmp_path / "missing.whl"), PIP_NO_INDEX="1"))
    assert result.returncode != 0
    assert "CalledProcessError" in result.stderr and "pip" in result.stderr, result.stderr[-2000:]


# ------------------------------------------------------------------ Colab keeps its packages

# Versions in Colab's image in 2025 (Python 3.12), as published by Colab, not measured from
# here (no network); they only move upward, and ">=" ranges keep any later ones too.
COLAB_LIKE = {"jax": "0.5.2", "numpy": "2.0.2", "scipy": "1.15.3"}


def range_problems(requirements: list[str], installed: dict[str, str]) -> list[str]:
    """Requirements that pin, cap or exclude versions, or that reject an installed version."""
    from packaging.requirements import Requirement

    problems = []
    for text in requirements:
        req = Requirement(text)
        operators = {spec.operator for spec in req.specifier}
        if not operators <= {">="}:
            problems.append(f"{req}: only >= lower bounds, not {sorted(operators - {'>='})}")
        if req.name in installed and not req.specifier.contains(installed[req.name]):
            problems.append(f"{req} would replace the installed {req.name} {installed[req.name]}")
    return problems


def test_the_core_dependencies_are_lower_bounds_only():
    """pip keeps an installed version that satisfies the range: no pin, no upper bound."""
    from packaging.specifiers import SpecifierSet

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = project["dependencies"]
    extras = [r for reqs in project.get("optional-dependencies", {}).values() for r in reqs]
    assert {re.match(r"[\w-]+", r).group(0) for r in core} == set(COLAB_LIKE), core
    assert range_problems(core + extras, COLAB_LIKE) == []
    python = SpecifierSet(project["requires-python"])
    assert python.contains("3.12") and python.contains("%d.%d" % sys.version_info[:2])


def test_the_range_checker_can_fail():
    assert range_problems(["jax==0.4.30", "numpy<2", "scipy~=1.10", "jax>=0.6"], COLAB_LIKE) == [
        "jax==0.4.30: only >= lower bounds, not ['==']",
        "jax==0.4.30 would replace the installed jax 0.5.2",
        "numpy<2: only >= lower bounds, not ['<']",
        "numpy<2 would replace the installed numpy 2.0.2",
        "scipy~=1.10: only >= lower bounds, not ['~=']",
        "jax>=0.6 would replace the installed jax 0.5.2"]
