"""Build ``lplr_core/data/files/fashion_mnist_subset.npz`` from the Fashion-MNIST IDX files.

Usage (from the repository root)::

    python data/build_fashion_mnist.py                     # IDX files of the Debian package
    python data/build_fashion_mnist.py --idx-dir DIR       # IDX files (.gz or not) you have
    python data/build_fashion_mnist.py --download          # fetch the official archives
                                                           # (SHA-256 checked) first

The book's CNN experiment and the tests draw balanced two-class samples with
:func:`lplr_core.data.fashion_mnist`: classes (0, 1) (T-shirt/top vs Trouser),
train split, sample seed 0, n <= 64. This script ships exactly the images such
draws can touch: the rows that ``fashion_mnist((0, 1), n=MAX_N, seed=0)`` picks,
which contain the rows of every smaller ``n`` with the same seed (samples are
nested in ``n``). It also ships the labels of the whole train split, so that the
loader draws the same row numbers from the same labels as it does from the IDX
files and then reads the images from the subset: the arrays are identical.

The input files are checked by the SHA-256 of their *decompressed* contents
(Debian recompresses the archives, so the ``.gz`` hashes differ from upstream's,
while the IDX bytes are the same). The output zip has fixed timestamps,
permissions and member order, so it is byte-identical on every run with the same
zlib; the script prints its SHA-256, pinned in ``lplr_core/data/_fashion.py``.

Output members (read with ``numpy.load(path, allow_pickle=False)``):

* ``train_labels``: uint8 (60000,), the label of every row of the train split;
* ``train_index``: int32 (k,), the shipped rows (0-based row numbers of the
  train IDX file), increasing;
* ``train_images``: uint8 (k, 784), those rows' images, row-major 28x28;
* ``classes`` uint8 (2,), ``seed`` int64 (), ``max_n`` int64 (): the samples the
  subset was built for.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # lplr_core, when run from anywhere
sys.path.insert(0, str(HERE))         # build_mnist's deterministic zip writer

from build_mnist import sha256_of, write_npz  # noqa: E402

from lplr_core import data as D  # noqa: E402
from lplr_core.data._prep import balanced_pair  # noqa: E402  (the loader's own sampling)

# Package data of lplr_core.data, installed with the package (see pyproject.toml).
OUTPUT = HERE.parent / "lplr_core" / "data" / "files" / "fashion_mnist_subset.npz"
CLASSES = (0, 1)
SEED = 0
MAX_N = 1024
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

# SHA-256 of the decompressed IDX files. Measured on the Debian package
# dataset-fashion-mnist 0.0~git20200523.55506a9-1; for the train labels it is also
# the decompressed content of upstream's train-labels-idx1-ubyte.gz (git
# zalandoresearch/fashion-mnist, data/fashion/; its .gz SHA-256 a04f1713... is the
# one Keras pins).
IDX_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
}


def _idx_file(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise SystemExit(f"{folder} has neither {stem}.gz nor {stem}")


def read_checked(folder: Path, stem: str) -> np.ndarray:
    """Read one IDX file after checking the SHA-256 of its decompressed bytes."""
    import gzip

    path = _idx_file(folder, stem)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    got = hashlib.sha256(raw).hexdigest()
    if got != IDX_SHA256[stem]:
        raise SystemExit(f"{path}: decompressed SHA-256 {got}, expected {IDX_SHA256[stem]}; "
                         f"refusing to build")
    return D.read_idx(path)


def select(labels: np.ndarray, classes=CLASSES, seed: int = SEED,
           max_n: int = MAX_N) -> np.ndarray:
    """The increasing row numbers that ``fashion_mnist(classes, n, seed)`` can draw for n <= max_n."""
    idx, _ = balanced_pair(labels, tuple(classes), max_n, seed)
    return np.unique(idx).astype(np.int32)


def build(folder: Path, output: Path, max_n: int = MAX_N) -> dict[str, np.ndarray]:
    images = read_checked(folder, "train-images-idx3-ubyte")
    labels = read_checked(folder, "train-labels-idx1-ubyte")
    if images.shape != (60000, 28, 28) or labels.shape != (60000,):
        raise SystemExit(f"unexpected shapes {images.shape} / {labels.shape}")
    rows = select(labels, max_n=max_n)
    arrays = {
        "train_labels": labels.astype(np.uint8),
        "train_index": rows,
        "train_images": images.reshape(60000, 784)[rows].astype(np.uint8),
        "classes": np.asarray(CLASSES, dtype=np.uint8),
        "seed": np.asarray(SEED, dtype=np.int64),
        "max_n": np.asarray(max_n, dtype=np.int64),
    }
    write_npz(output, arrays)
    return arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idx-dir", type=Path, default=None,
                        help=f"folder with the train IDX files (default {DEBIAN_DIR})")
    parser.add_argument("--download", action="store_true",
                        help="download the official archives (SHA-256 checked) into the "
                             "lplr data directory first, and read them from there")
    parser.add_argument("--max-n", type=int, default=MAX_N)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)

    if args.download:
        paths = D.download("fashion_mnist")
        folder = paths[0].parent
    else:
        folder = args.idx_dir if args.idx_dir is not None else DEBIAN_DIR
    arrays = build(folder, args.output, args.max_n)

    labels = arrays["train_labels"][arrays["train_index"]]
    print(f"input     {folder}")
    print(f"rows      {arrays['train_index'].size} of 60000 (classes {CLASSES}: "
          f"{np.bincount(labels, minlength=10)[list(CLASSES)].tolist()}), seed {SEED}, "
          f"n <= {args.max_n}")
    print(f"zlib      {zlib.ZLIB_RUNTIME_VERSION}")
    print(f"output    {args.output} ({args.output.stat().st_size} bytes)")
    print(f"sha256    {sha256_of(args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
