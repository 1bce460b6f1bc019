"""The layering of the package (issue 10, section 3), checked on the source and at import.

Layers, bottom up:

* **the core**: ``lplr_core/*.py`` and the ``lplr_core/data/`` package. ``import lplr_core``
  loads only these (and JAX, NumPy, SciPy);
* ``lplr_core.experiments`` (the experiments' registry, stored results, command line) and
  ``lplr_core.viz`` (plotly figures, ipywidgets panels): sub-packages *above* the core.
  They stay inside ``lplr_core`` (the top-level folders are fixed), may import the core,
  and are imported by the notebooks and the book; the core never imports them, not even
  lazily inside a function.

Modules share code through public names: no module under ``lplr_core/`` imports another
module's private (``_underscore``) name, by ``from m import _name`` or as ``m._name``.
Importing a private *module* is allowed: ``lplr_core._validation`` and
``lplr_core._devices`` are the core's shared internals, and the private modules of
``lplr_core.data`` (``_files``, ``_prep``, ...) are that package's; their public names are
the shared ones.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "lplr_core"
UPPER = ("lplr_core.viz", "lplr_core.experiments")
FORBIDDEN_AT_IMPORT = UPPER + ("plotly", "ipywidgets")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _is_module(dotted: str) -> bool:
    """Whether ``dotted`` names a module or package of lplr_core (on disk)."""
    if not dotted.startswith("lplr_core"):
        return False
    base = REPO.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _resolve(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` statement reads from."""
    if node.level == 0:
        return node.module or ""
    package = _module_name(path).split(".")
    if not _is_package(path):
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
CORE = [p for p in SOURCES
        if p.parent == PACKAGE or PACKAGE / "data" in p.parents]


def private_imports(path: Path) -> list[str]:
    """``module:line name`` for each private name of another module that ``path`` imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    module_aliases: dict[str, str] = {}  # local name -> lplr_core module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("lplr_core"):
                    if alias.asname:
                        module_aliases[alias.asname] = alias.name
                    else:
                        module_aliases.setdefault("lplr_core", "lplr_core")
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(path, node)
            if not source.startswith("lplr_core"):
                continue
            for alias in node.names:
                target = f"{source}.{alias.name}"
                if _is_module(target):
                    module_aliases[alias.asname or alias.name] = target
                elif _private(alias.name):
                    found.append(f"{_module_name(path)}:{node.lineno} imports {target}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _private(node.attr)
                and isinstance(node.value, ast.Name) and node.value.id in module_aliases):
            target = f"{module_aliases[node.value.id]}.{node.attr}"
            if not _is_module(target):
                found.append(f"{_module_name(path)}:{node.lineno} uses {target}")
    return found


def upper_imports(path: Path) -> list[str]:
    """``module:line target`` for each import of viz or experiments in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(path, node)
            targets = [source] + [f"{source}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if any(target == up or target.startswith(up + ".") for up in UPPER):
                found.append(f"{_module_name(path)}:{node.lineno} imports {target}")
                break
    return found


def test_the_source_walk_sees_the_package():
    names = {_module_name(p) for p in SOURCES}
    assert {"lplr_core", "lplr_core.ntk", "lplr_core.data", "lplr_core.data._mnist",
            "lplr_core.viz", "lplr_core.experiments"} <= names
    core = {_module_name(p) for p in CORE}
    assert "lplr_core.data._fashion" in core and "lplr_core.ntk" in core
    assert not any(n.startswith(UPPER) for n in core)


def test_no_module_imports_another_modules_private_names():
    found = [hit for path in SOURCES for hit in private_imports(path)]
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def test_the_core_never_imports_viz_or_experiments():
    found = [hit for path in CORE for hit in upper_imports(path)]
    assert not found, "the core imports a layer above it:\n" + "\n".join(found)


@pytest.mark.parametrize("statement", ["import lplr_core", "import lplr_core.data",
                                       "from lplr_core.data import binary_mnist"])
def test_importing_the_core_loads_no_upper_layer(statement):
    code = textwrap.dedent(f"""
        import sys
        {statement}
        loaded = sorted(m for m in sys.modules
                        if any(m == f or m.startswith(f + ".") for f in {FORBIDDEN_AT_IMPORT!r}))
        print("LOADED", *loaded)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(l for l in result.stdout.splitlines() if l.startswith("LOADED"))
    assert line.split()[1:] == [], f"{statement} loaded {line.split()[1:]}"


# The checkers themselves, on small sources, so that a green run means something.

def _write(tmp_path: Path, rel: str, text: str) -> Path:
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_checkers_catch_what_they_are_for(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    _write(tmp_path, "lplr_core/__init__.py", "")
    _write(tmp_path, "lplr_core/_validation.py", "def check(): pass\n_helper = 1\n")
    _write(tmp_path, "lplr_core/ntk.py", "def _mlp_of(): pass\n")
    _write(tmp_path, "lplr_core/data/__init__.py", "")
    _write(tmp_path, "lplr_core/data/_prep.py", "def preprocess(): pass\n")
    bad = _write(tmp_path, "lplr_core/check.py", """
        from lplr_core.ntk import _mlp_of
        from ._validation import _helper, check
        from lplr_core import ntk as N
        import lplr_core.viz
        def f():
            from lplr_core.experiments import run
            return N._mlp_of
    """)
    good = _write(tmp_path, "lplr_core/data/_mnist.py", """
        from .._validation import check
        from lplr_core import _validation
        from . import _prep
        from ._prep import preprocess
        x = _prep.preprocess, _validation.check, __name__
    """)
    assert private_imports(bad) == ["lplr_core.check:2 imports lplr_core.ntk._mlp_of",
                                    "lplr_core.check:3 imports lplr_core._validation._helper",
                                    "lplr_core.check:8 uses lplr_core.ntk._mlp_of"]
    assert upper_imports(bad) == ["lplr_core.check:5 imports lplr_core.viz",
                                  "lplr_core.check:7 imports lplr_core.experiments"]
    assert private_imports(good) == [] and upper_imports(good) == []
