"""Vendor the book's third-party JavaScript into ``book/_vendor/`` (never committed).

Usage (from the repository root, with the project's virtual environment)::

    .venv/bin/python book/tools/vendor_assets.py                    # `npm pack` for MathJax
    .venv/bin/python book/tools/vendor_assets.py --tarball FILE     # a mathjax-3.2.2.tgz you have
    .venv/bin/python book/tools/vendor_assets.py --check            # verify only, change nothing

Why: the site must render maths and figures with no network. Sphinx loads MathJax
from a CDN by default, and plotly figures need plotly.js; both are served from
``_build/html/_static/`` instead (``book/_vendor/`` is an ``html_static_path``).

* ``plotly/plotly.min.js`` is copied from the installed plotly wheel
  (``plotly/package_data/plotly.min.js``), so the JavaScript always matches the
  Python package that wrote the figures. Its hash is whatever that wheel ships;
  the copy is checked against the source byte for byte.
* ``mathjax/`` is the ``es5/`` build of the npm package ``mathjax@3.2.2``,
  fetched with ``npm pack`` and checked against the SHA-256 below. Only what the
  ``tex-chtml.js`` entry point can load at run time is extracted: the entry
  itself, the CHTML woff fonts (without them every glyph is a fallback font),
  the TeX extensions that ``autoload``/``\\require`` pull in (``\\color``,
  ``\\cancel``, ``\\boldsymbol``, ...), the accessibility components the
  right-click menu offers (assistive MathML, explorer, speech with its rule
  maps) and the MathML input they depend on.

Idempotent: when every expected file is present with the recorded hash, the
script prints what it found and exits without touching the network. Stdlib only.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "book" / "_vendor"

MATHJAX_SPEC = "mathjax@3.2.2"
MATHJAX_TARBALL = "mathjax-3.2.2.tgz"
# Recorded from `npm pack mathjax@3.2.2` (6,132,118 bytes); the registry's own
# integrity field (sha512) pins the same bytes.
MATHJAX_SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
MATHJAX_ENTRY = "tex-chtml.js"  # TeX input, CommonHTML output: what `mathjax_path` names
# Paths under package/es5/ that tex-chtml.js may request at run time. A trailing
# slash means "everything below". The other combined entries (tex-svg, mml-chtml,
# ...), the SVG output, AsciiMath input and the Node adaptors are never loaded.
MATHJAX_KEEP = (
    MATHJAX_ENTRY,
    "output/chtml/fonts/woff-v2/",   # the CHTML fonts, found relative to the entry script
    "input/tex/extensions/",         # autoload / \require
    "a11y/",                         # menu: assistive MathML, explorer, complexity, enrich
    "sre/",                          # speech rule engine maps used by the explorer
    "input/mml.js",                  # semantic-enrich depends on the MathML input
    "input/mml/",
    "ui/",                           # lazy typesetting / safe mode, offered by the menu
)
MATHJAX_LICENSE = "LICENSE"  # package/LICENSE (Apache-2.0), kept next to the files
MANIFEST = ".vendored.json"  # records {path: sha256} of what was extracted


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _human(size: int) -> str:
    return f"{size / 1e6:.2f} MB"


def _tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# --- plotly.js ------------------------------------------------------------------------

def plotly_source() -> Path:
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        sys.exit("vendor_assets: plotly is not installed in this Python "
                 f"({sys.executable}); run it with the project's .venv/bin/python")
    source = Path(spec.origin).parent / "package_data" / "plotly.min.js"
    if not source.is_file():
        sys.exit(f"vendor_assets: {source} is missing from the plotly wheel")
    return source


def vendor_plotly(check_only: bool) -> bool:
    source = plotly_source()
    target = VENDOR / "plotly" / "plotly.min.js"
    want = sha256_file(source)
    if target.is_file() and sha256_file(target) == want:
        print(f"plotly.js   ok       {_human(target.stat().st_size)}  sha256 {want}")
        return True
    if check_only:
        print(f"plotly.js   MISSING or stale: {target}")
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    if sha256_file(target) != want:
        sys.exit(f"vendor_assets: copy of {source} to {target} does not match its source")
    print(f"plotly.js   copied   {_human(target.stat().st_size)}  sha256 {want}  (from {source})")
    return True


# --- MathJax --------------------------------------------------------------------------

def _keep(relative: str) -> bool:
    return any(relative == k or (k.endswith("/") and relative.startswith(k))
               for k in MATHJAX_KEEP)


def mathjax_manifest_ok(folder: Path) -> bool:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return False
    try:
        recorded = json.loads(manifest.read_text(encoding="utf8"))
    except json.JSONDecodeError:
        return False
    if recorded.get("tarball_sha256") != MATHJAX_SHA256:
        return False
    files = recorded.get("files", {})
    if MATHJAX_ENTRY not in files:
        return False
    return all((folder / rel).is_file() and sha256_file(folder / rel) == digest
               for rel, digest in files.items())


def fetch_mathjax_tarball(workdir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("vendor_assets: `npm` is needed to fetch MathJax (e.g. `apt-get install npm`),"
                 f" or pass --tarball with a {MATHJAX_TARBALL} you already have")
    print(f"mathjax     fetching {MATHJAX_SPEC} with npm pack ...")
    subprocess.run([npm, "pack", MATHJAX_SPEC, "--silent"], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    tarball = workdir / MATHJAX_TARBALL
    if not tarball.is_file():
        sys.exit(f"vendor_assets: npm pack did not produce {tarball}")
    return tarball


def extract_mathjax(tarball: Path, folder: Path) -> dict[str, str]:
    got = sha256_file(tarball)
    if got != MATHJAX_SHA256:
        sys.exit(f"vendor_assets: {tarball} has SHA-256 {got}, expected {MATHJAX_SHA256}")
    staging = Path(tempfile.mkdtemp(prefix="mathjax-", dir=folder.parent))
    files: dict[str, str] = {}
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive.getmembers():
                if not member.isfile():
                    continue
                name = member.name
                if name == f"package/{MATHJAX_LICENSE}":
                    relative = MATHJAX_LICENSE
                elif name.startswith("package/es5/") and _keep(name[len("package/es5/"):]):
                    relative = name[len("package/es5/"):]
                else:
                    continue
                target = staging / relative
                # The names come from a hash-checked tarball, but refuse escapes anyway.
                if ".." in Path(relative).parts or Path(relative).is_absolute():
                    sys.exit(f"vendor_assets: refusing tar member {name!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.extractfile(member) as source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
                files[relative] = sha256_file(target)
        if MATHJAX_ENTRY not in files:
            sys.exit(f"vendor_assets: {MATHJAX_ENTRY} not found in {tarball}")
        manifest = {"spec": MATHJAX_SPEC, "tarball_sha256": MATHJAX_SHA256,
                    "entry": MATHJAX_ENTRY, "files": dict(sorted(files.items()))}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf8")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return files


def vendor_mathjax(tarball: Path | None, check_only: bool) -> bool:
    folder = VENDOR / "mathjax"
    if mathjax_manifest_ok(folder):
        print(f"mathjax     ok       {_human(_tree_size(folder))}  tarball sha256 {MATHJAX_SHA256}")
        return True
    if check_only:
        print(f"mathjax     MISSING or stale: {folder}")
        return False
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = tarball if tarball is not None else fetch_mathjax_tarball(Path(tmp))
        files = extract_mathjax(source, folder)
    print(f"mathjax     vendored {_human(_tree_size(folder))} in {len(files)} files"
          f"  tarball sha256 {MATHJAX_SHA256}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tarball", type=Path, default=None,
                        help=f"use this {MATHJAX_TARBALL} instead of running `npm pack`")
    parser.add_argument("--check", action="store_true",
                        help="only verify what is vendored; exit 1 if anything is missing")
    args = parser.parse_args(argv)
    if args.tarball is not None and not args.tarball.is_file():
        parser.error(f"--tarball {args.tarball}: no such file")
    ok = vendor_plotly(args.check)
    ok = vendor_mathjax(args.tarball, args.check) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
