"""Vendor the book's third-party JavaScript into ``book/_vendor/`` (never committed).

Usage (from the repository root, with the project's virtual environment)::

    .venv/bin/python book/tools/vendor_assets.py                    # `npm pack` for MathJax
    .venv/bin/python book/tools/vendor_assets.py --tarball FILE     # a mathjax-3.2.2.tgz you have
    .venv/bin/python book/tools/vendor_assets.py --check            # verify only, change nothing
    .venv/bin/python book/tools/vendor_assets.py --plotly-bundle full   # the wheel's full plotly.js

Why: the site must render maths and figures with no network. Sphinx loads MathJax
from a CDN by default, and plotly figures need plotly.js; both are served from
``_build/html/_static/`` instead (``book/_vendor/`` is an ``html_static_path``).

* ``plotly/plotly.min.js`` is the smallest plotly.js bundle that draws every trace
  type the notebooks' stored figures use (read from their plotly JSON outputs):
  plotly's partial bundle ``plotly.js-basic-dist-min`` or
  ``plotly.js-cartesian-dist-min`` from npm (``npm pack``, SHA-256 checked), at the
  plotly.js version inside the installed plotly wheel, or else the wheel's own full
  bundle (``plotly/package_data/plotly.min.js``, copied and compared byte for byte).
  ``plotly/.vendored.json`` records which bundle and the trace types it draws; the
  book's Sphinx extension (``book/_ext/lplr_site.py``) reads it, loads plotly.js only
  on pages that draw a figure and warns when a page draws a trace type the bundle
  lacks. ``--plotly-bundle full`` forces the wheel's bundle (no network).
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
import re
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

# The partial bundles plotly publishes on npm, smallest first, with the trace types each
# one draws (from each package's README). They are used only when their plotly.js
# version is the one inside the installed plotly wheel, and only when they draw every
# trace type the notebooks' stored figures use; otherwise the wheel's full bundle is
# copied. SHA-256 recorded from `npm pack` (the registry's sha512 pins the same bytes).
PLOTLY_JS_VERSION = "4.1.1"
PLOTLY_PARTIAL = {
    "basic": {
        "package": "plotly.js-basic-dist-min",
        "file": "plotly-basic.min.js",
        "tarball_sha256": "ea907f854b6cec4f6a2fa71540ec019a21ed2c61e6a109ddd5c072103a96eed0",
        "traces": ("bar", "pie", "scatter"),
    },
    "cartesian": {
        "package": "plotly.js-cartesian-dist-min",
        "file": "plotly-cartesian.min.js",
        "tarball_sha256": "c5f9a84666b97e571a04de689e09319869e60900e265c89eac2f71d0b5a0de88",
        "traces": ("bar", "box", "contour", "heatmap", "histogram", "histogram2d",
                   "histogram2dcontour", "image", "pie", "scatter", "scatterternary", "violin"),
    },
}
PLOTLY_TARGET = Path("plotly") / "plotly.min.js"   # what _config.yml / book/_ext load
PLOTLY_MANIFEST = Path("plotly") / MANIFEST
NOTEBOOKS = ROOT / "notebooks"
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def plotly_source() -> Path:
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        sys.exit("vendor_assets: plotly is not installed in this Python "
                 f"({sys.executable}); run it with the project's .venv/bin/python")
    source = Path(spec.origin).parent / "package_data" / "plotly.min.js"
    if not source.is_file():
        sys.exit(f"vendor_assets: {source} is missing from the plotly wheel")
    return source


def wheel_plotly_js_version(source: Path) -> str:
    """The plotly.js version in the wheel's bundle header (``* plotly.js v4.1.1``)."""
    with source.open("r", encoding="utf8", errors="replace") as handle:
        head = handle.read(400)
    match = re.search(r"plotly\.js v(\d+\.\d+\.\d+)", head)
    if match is None:
        sys.exit(f"vendor_assets: no plotly.js version in the header of {source}")
    return match.group(1)


def used_trace_types(notebooks: Path = NOTEBOOKS) -> tuple[set[str], list[str]]:
    """Trace types of every figure stored in the notebooks' outputs (and frames).

    Returns ``(types, unreadable)``: ``unreadable`` names outputs that draw a plotly
    figure in HTML without the plotly JSON next to it (their traces cannot be listed,
    so only the full bundle is safe).
    """
    types: set[str] = set()
    unreadable: list[str] = []
    for path in sorted(notebooks.glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf8"))
        for index, cell in enumerate(notebook.get("cells", [])):
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                figure = data.get(PLOTLY_MIME)
                if figure is not None:
                    traces = list(figure.get("data", []))
                    for frame in figure.get("frames", []) or []:
                        traces += frame.get("data", [])
                    types.update(t.get("type", "scatter") for t in traces)
                    continue
                html = data.get("text/html", "")
                html = "".join(html) if isinstance(html, list) else html
                if "Plotly.newPlot" in html or "plotly-graph-div" in html:
                    unreadable.append(f"{path.name} cell {index}")
    return types, unreadable


def choose_plotly_bundle(types: set[str], unreadable: list[str], wheel_version: str,
                         requested: str = "auto") -> str:
    """The smallest bundle that draws ``types``: "basic", "cartesian" or "full"."""
    if requested != "auto":
        if requested != "full" and not types <= set(PLOTLY_PARTIAL[requested]["traces"]):
            sys.exit(f"vendor_assets: --plotly-bundle {requested} cannot draw "
                     f"{sorted(types - set(PLOTLY_PARTIAL[requested]['traces']))}")
        return requested
    if unreadable:
        print(f"plotly.js   full bundle: figures without plotly JSON in {unreadable[:3]}")
        return "full"
    if wheel_version != PLOTLY_JS_VERSION:
        print(f"plotly.js   full bundle: the wheel ships plotly.js {wheel_version}, the partial "
              f"bundles pinned here are {PLOTLY_JS_VERSION} (update PLOTLY_JS_VERSION and the "
              "SHA-256s in book/tools/vendor_assets.py)")
        return "full"
    for name, bundle in PLOTLY_PARTIAL.items():          # smallest first
        if types <= set(bundle["traces"]):
            return name
    return "full"


def plotly_manifest_ok(folder: Path, want: dict) -> bool:
    manifest = folder / PLOTLY_MANIFEST
    target = folder / PLOTLY_TARGET
    if not (manifest.is_file() and target.is_file()):
        return False
    try:
        recorded = json.loads(manifest.read_text(encoding="utf8"))
    except json.JSONDecodeError:
        return False
    keys = ("bundle", "version", "source_sha256", "traces")
    return (all(recorded.get(k) == want.get(k) for k in keys)
            and sha256_file(target) == recorded.get("file_sha256"))


def fetch_npm_tarball(spec: str, workdir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit(f"vendor_assets: `npm` is needed to fetch {spec} (e.g. `apt-get install npm`),"
                 " or pass --plotly-bundle full (the wheel's full bundle, no network)")
    print(f"plotly.js   fetching {spec} with npm pack ...")
    subprocess.run([npm, "pack", spec, "--silent"], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    name, version = spec.rsplit("@", 1)
    tarball = workdir / f"{name}-{version}.tgz"
    if not tarball.is_file():
        sys.exit(f"vendor_assets: npm pack did not produce {tarball}")
    return tarball


def extract_partial_bundle(tarball: Path, bundle: dict, target: Path) -> None:
    got = sha256_file(tarball)
    if got != bundle["tarball_sha256"]:
        sys.exit(f"vendor_assets: {tarball} has SHA-256 {got}, expected {bundle['tarball_sha256']}")
    with tarfile.open(tarball, "r:gz") as archive:
        for member_name, out in ((f"package/{bundle['file']}", target),
                                 ("package/LICENSE", target.with_name("LICENSE"))):
            member = archive.getmember(member_name)
            with archive.extractfile(member) as source, out.open("wb") as sink:
                shutil.copyfileobj(source, sink)
    head = target.read_text(encoding="utf8", errors="replace")[:400]
    if f"v{PLOTLY_JS_VERSION}" not in head:
        sys.exit(f"vendor_assets: {target} is not plotly.js v{PLOTLY_JS_VERSION}: {head[:120]!r}")


def vendor_plotly(check_only: bool, requested: str = "auto", tarball: Path | None = None) -> bool:
    source = plotly_source()
    version = wheel_plotly_js_version(source)
    types, unreadable = used_trace_types()
    name = choose_plotly_bundle(types, unreadable, version, requested)
    bundle = PLOTLY_PARTIAL.get(name)
    want = {"bundle": name, "version": version,
            "source_sha256": bundle["tarball_sha256"] if bundle else sha256_file(source),
            "traces": sorted(bundle["traces"]) if bundle else "all"}
    target = VENDOR / PLOTLY_TARGET
    used = ", ".join(sorted(types)) or "none"
    if plotly_manifest_ok(VENDOR, want):
        print(f"plotly.js   ok       {name} bundle {_human(target.stat().st_size)}"
              f"  (traces used: {used})")
        return True
    if check_only:
        print(f"plotly.js   MISSING or stale: {target} (want the {name} bundle; traces used: {used})")
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    if bundle is None:
        shutil.copyfile(source, target)
        if sha256_file(target) != want["source_sha256"]:
            sys.exit(f"vendor_assets: copy of {source} to {target} does not match its source")
        origin = str(source)
    else:
        spec = f"{bundle['package']}@{PLOTLY_JS_VERSION}"
        with tempfile.TemporaryDirectory() as tmp:
            path = tarball if tarball is not None else fetch_npm_tarball(spec, Path(tmp))
            extract_partial_bundle(path, bundle, target)
        origin = f"npm {spec}, tarball sha256 {bundle['tarball_sha256']}"
    manifest = dict(want, file_sha256=sha256_file(target), used=sorted(types))
    (VENDOR / PLOTLY_MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf8")
    print(f"plotly.js   vendored {name} bundle {_human(target.stat().st_size)}  (traces used: "
          f"{used}; from {origin})")
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
    parser.add_argument("--plotly-bundle", choices=("auto", "basic", "cartesian", "full"),
                        default="auto", help="which plotly.js bundle (default: the smallest "
                        "that draws every trace type in the notebooks' stored figures)")
    parser.add_argument("--plotly-tarball", type=Path, default=None,
                        help="use this npm tarball of the chosen partial bundle instead of "
                        "running `npm pack`")
    args = parser.parse_args(argv)
    for option in ("tarball", "plotly_tarball"):
        path = getattr(args, option)
        if path is not None and not path.is_file():
            parser.error(f"--{option.replace('_', '-')} {path}: no such file")
    ok = vendor_plotly(args.check, args.plotly_bundle, args.plotly_tarball)
    ok = vendor_mathjax(args.tarball, args.check) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
