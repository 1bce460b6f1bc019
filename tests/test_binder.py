"""Binder and Colab set-up: fully pinned, and consistent with what the tests run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pins(path):
    pins = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line == "-e .":
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line)
        assert match, f"{path.name}: not fully pinned: {line!r}"
        pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_binder_requirements_are_fully_pinned_and_install_the_core():
    text = (ROOT / ".binder" / "requirements.txt").read_text()
    assert "-e ." in text.splitlines(), "Binder must install the repository's lplr_core"
    pins = _pins(ROOT / ".binder" / "requirements.txt")
    for name in ("jax", "jaxlib", "numpy", "plotly", "ipywidgets"):
        assert name in pins, f"{name} missing from .binder/requirements.txt"


def test_binder_matches_the_tested_environment():
    binder = _pins(ROOT / ".binder" / "requirements.txt")
    tested = _pins(ROOT / "requirements.txt")
    for name in ("jax", "jaxlib", "numpy", "scipy", "plotly", "ipywidgets", "scikit-learn"):
        assert binder[name] == tested[name], (
            f"{name}: Binder pins {binder[name]} but the tests run {tested[name]}")


def test_binder_runtime_and_start():
    assert (ROOT / ".binder" / "runtime.txt").read_text().strip() == "python-3.11"
    start = (ROOT / ".binder" / "start").read_text()
    assert "JAX_PLATFORMS=cpu" in start and 'exec "$@"' in start
