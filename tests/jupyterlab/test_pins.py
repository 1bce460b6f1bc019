"""JupyterLab, jupyterlab-myst and ipykernel: pinned, the same in Binder, and the pair that runs here.

jupyterlab-myst 2.7.0 works with JupyterLab 4.4.10 and is rejected by JupyterLab 4.6.6
(TOOLCHAIN.md, checked 2026-11-30), so the pair is pinned together and test_lab.py checks
in a real JupyterLab that the installed pair renders the notebooks' MyST.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAB_PACKAGES = ("jupyterlab", "jupyterlab-myst", "ipykernel")


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line == "-e .":
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line)
        assert match, f"{path}: not fully pinned: {line!r}"
        pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def test_lab_packages_are_pinned_in_both_environments():
    tested = _pins(ROOT / "requirements.txt")
    binder = _pins(ROOT / ".binder" / "requirements.txt")
    for name in LAB_PACKAGES:
        assert name in tested, f"{name} missing from requirements.txt"
        assert name in binder, f"{name} missing from .binder/requirements.txt"
        assert binder[name] == tested[name], f"{name}: Binder {binder[name]}, tests {tested[name]}"


def test_every_binder_pin_is_the_tested_version():
    tested = _pins(ROOT / "requirements.txt")
    binder = _pins(ROOT / ".binder" / "requirements.txt")
    differ = {name: (version, tested.get(name)) for name, version in binder.items()
              if tested.get(name) != version}
    assert not differ, f"Binder pins that the tests do not run (binder, tested): {differ}"


def test_the_pinned_pair_is_the_installed_pair():
    # What test_lab.py drives is what is pinned (a stale .venv would test another pair).
    tested = _pins(ROOT / "requirements.txt")
    for name in LAB_PACKAGES:
        assert importlib.metadata.version(name) == tested[name], name
