"""Fashion-MNIST: the shipped subset (package data) and the full set (Debian package or
opt-in download), which give the same arrays for the samples the subset covers.

Internal to the package: the public names are re-exported by :mod:`lplr_core.data`.
"""

from __future__ import annotations

import functools
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from .._validation import check_bool, check_choice, check_int
from ._files import (
    REMOTE,
    DataIntegrityError,
    DataUnavailableError,
    check_data_dir,
    default_data_dir,
    fetch,
    read_idx,
    read_verified,
    shipped_path,
)
from ._prep import (
    SPLITS,
    Scale,
    Split,
    balanced_pair,
    binary_sample,
    check_class_pair,
    check_n_pair,
    check_prep,
    preprocess,
)

__all__ = [
    "SHIPPED_FASHION_MNIST_FILENAME",
    "SHIPPED_FASHION_MNIST_SHA256",
    "FASHION_MNIST_CLASSES",
    "SYSTEM_FASHION_MNIST_DIR",
    "FashionSource",
    "fashion_paths",
    "load_shipped_fashion_mnist",
    "fashion_mnist",
]

#: Name of the shipped Fashion-MNIST subset, package data in ``lplr_core/data/files/``.
SHIPPED_FASHION_MNIST_FILENAME = "fashion_mnist_subset.npz"
# Printed by data/build_fashion_mnist.py and recorded in data/README.md.
#: SHA-256 of ``lplr_core/data/files/fashion_mnist_subset.npz``, checked every time the
#: file is loaded.
SHIPPED_FASHION_MNIST_SHA256 = "2e5473d7bfcb6e75c93b44ad0dc65f4220da4b9ea55202694dea6a95a4f779ba"

#: Fashion-MNIST class names, by label.
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files. The loaders
#: read ``lplr_core.data.SYSTEM_FASHION_MNIST_DIR`` when called, so setting that
#: attribute (as the tests do) redirects them.
SYSTEM_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

#: Where :func:`fashion_mnist` takes its images from.
FashionSource = Literal["auto", "shipped", "full"]
_FASHION_SOURCES = ("auto", "shipped", "full")


def _system_dir() -> Path:
    # The package's attribute, looked up at call time (it is the documented place to
    # change it); this module's value if the package is not initialised yet.
    package = sys.modules.get(__package__)
    return Path(getattr(package, "SYSTEM_FASHION_MNIST_DIR", SYSTEM_FASHION_MNIST_DIR))

# ---------------------------------------------------------------------------

_FASHION_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


@functools.lru_cache(maxsize=4)
def _load_image_label_idx(images_path: Path, labels_path: Path,
                          side: int) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (side, side):
        raise DataIntegrityError(
            f"{images_path}: expected uint8 images of shape (N, {side}, {side}); got "
            f"{images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.shape != (images.shape[0],) or labels.max() > 9:
        raise DataIntegrityError(
            f"{labels_path}: expected {images.shape[0]} uint8 labels in 0..9; got "
            f"{labels.dtype} {labels.shape}")
    images = images.reshape(images.shape[0], side * side)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def fashion_paths(split: str, data_dir: Path | None, download: bool) -> tuple[Path, Path]:
    """The (images, labels) IDX files of the full Fashion-MNIST ``split``.

    Looked for in ``<data dir>/fashion-mnist`` and then in
    ``lplr_core.data.SYSTEM_FASHION_MNIST_DIR``; downloaded only if ``download``.

    Args:
      split: ``"train"`` or ``"test"`` (not validated here: the loaders do it).
      data_dir: the data directory, or None for :func:`default_data_dir`'s.
      download: fetch the official archives (SHA-256 checked) if not found.

    Returns:
      The paths of the images file and of the labels file.

    Raises:
      DataUnavailableError: not found, and ``download`` is False or the download failed.
    """
    root = default_data_dir(data_dir)
    folders = [root / "fashion-mnist", _system_dir()]
    for folder in folders:
        found = [_find_idx(folder, stem) for stem in _FASHION_STEMS[split]]
        if all(found):
            return found[0], found[1]
    if not download:
        raise DataUnavailableError(
            f"the full Fashion-MNIST ({split} split) was not found in "
            f"{' or '.join(str(f) for f in folders)}. Install it with "
            f"`apt-get install dataset-fashion-mnist` (Debian/Ubuntu, as root), or pass "
            f"download=True to fetch the official archives (SHA-256 checked) into "
            f"{root / 'fashion-mnist'}.")
    by_name = {Path(r.fname).name: r for r in REMOTE["fashion_mnist"]}
    images_stem, labels_stem = _FASHION_STEMS[split]
    return (fetch(by_name[images_stem + ".gz"], root, True, "Fashion-MNIST"),
            fetch(by_name[labels_stem + ".gz"], root, True, "Fashion-MNIST"))


_SHIPPED_FASHION_MEMBERS = ("train_labels", "train_index", "train_images", "classes", "seed",
                            "max_n")


@functools.lru_cache(maxsize=4)
def _load_shipped_fashion(path: Path) -> dict[str, np.ndarray]:
    blob = read_verified(path, SHIPPED_FASHION_MNIST_SHA256, "build_fashion_mnist.py")
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        missing = [m for m in _SHIPPED_FASHION_MEMBERS if m not in archive.files]
        if missing:  # only reachable with a matching hash if the pinned file itself is wrong
            raise DataIntegrityError(f"{path} lacks the member(s) {missing}")
        arrays = {m: archive[m] for m in _SHIPPED_FASHION_MEMBERS}
    for array in arrays.values():
        array.setflags(write=False)
    return arrays


def load_shipped_fashion_mnist() -> dict[str, np.ndarray]:
    """The shipped Fashion-MNIST subset, as stored.

    The file is read and its SHA-256 checked once per process. It holds the
    labels of the whole train split and the images of the rows that
    ``fashion_mnist(classes, n, seed)`` draws, for the stored ``classes`` and
    ``seed`` and every ``n <= max_n`` (samples are nested in ``n``).

    Returns:
      A dict of read-only NumPy arrays, keyed by name. ``train_labels`` uint8
      (60000,), the label of every train row; ``train_index`` int32 (k,), the shipped row
      numbers, increasing; ``train_images`` uint8 (k, 784), their images
      (row-major 28x28, 0..255); ``classes`` uint8 (2,) = (0, 1), ``seed``
      (= 0) and ``max_n`` (= 1024), the samples the subset covers.

    Raises:
      DataUnavailableError: the file is missing.
      DataIntegrityError: the file's SHA-256 is not
        :data:`SHIPPED_FASHION_MNIST_SHA256`.
    """
    return _load_shipped_fashion(
        shipped_path(SHIPPED_FASHION_MNIST_FILENAME, "Fashion-MNIST", "build_fashion_mnist.py"))


def _shipped_fashion_coverage(sub: dict[str, np.ndarray]) -> str:
    return (f"the shipped subset ({SHIPPED_FASHION_MNIST_FILENAME}) covers the train split, "
            f"classes={tuple(int(c) for c in sub['classes'])}, seed={int(sub['seed'])} and "
            f"n <= {int(sub['max_n'])}")


def fashion_mnist(classes: Sequence[int] = (0, 1), n: int = 1000, seed: int = 0, *,
                  split: Split = "train", source: FashionSource = "auto", download: bool = False,
                  data_dir: str | os.PathLike | None = None, scale: Scale = "unit",
                  center: bool = False, standardize: bool = False,
                  normalize_rows: bool = False, dtype: DTypeLike | None = None,
                  ) -> tuple[jax.Array, jax.Array]:
    """A balanced two-class Fashion-MNIST sample, labelled ±1.

    Two sources give the same arrays for the same arguments:

    * the **shipped subset** (``load_shipped_fashion_mnist()``), installed with
      the package: it covers the train split, ``classes=(0, 1)``, ``seed=0`` and
      ``n <= 1024``, which includes the book's CNN experiment and the tests;
    * the **full set**: IDX files looked for in ``<data dir>/fashion-mnist`` and
      then in :data:`SYSTEM_FASHION_MNIST_DIR` (the Debian package
      ``dataset-fashion-mnist``), as ``.gz`` or uncompressed, or downloaded with
      ``download=True``. Files found locally are checked for structure, not
      hashed (Debian recompresses the archives, so their hashes differ from
      upstream's); downloaded ones are checked against pinned SHA-256s.

    Either way the row numbers are drawn from the labels of the whole split
    (the shipped file carries them), so a sample does not depend on the source.

    Args:
      classes: two distinct class indices (see :data:`FASHION_MNIST_CLASSES`,
        e.g. 0 = T-shirt/top, 1 = Trouser); the first is +1, the second -1.
      n: sample size; at least 2, at most ``min(2*c1, 2*c2 + 1)`` for class
        counts ``c1, c2`` (12000 in the train split, 2000 in the test split).
      seed: non-negative int; fixes the draw and the shuffle.
      split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
      source: ``"auto"`` (the shipped subset when it holds every row of the
        sample, else the full set), ``"shipped"`` (only the shipped subset) or
        ``"full"`` (only the full set).
      download: allow fetching the full set if it is not found locally (never
        needed for a sample the shipped subset covers).
      data_dir: the data directory; default as in :func:`default_data_dir`.
      scale, center, standardize, normalize_rows, dtype: as in :func:`binary_mnist`.

    Returns:
      ``(x, y)``: ``x`` of shape (n, 784) (reshape with ``MNIST_IMAGE_SHAPE``
      for CNNs) and ``y`` of shape (n,) in {+1, -1}.

    Raises:
      TypeError, ValueError: an argument is invalid; the message names it.
      DataUnavailableError: the sample needs the full set, whose files are
        absent and ``download`` is False, or the download failed; or
        ``source="shipped"`` and the subset does not cover the sample.
      DataIntegrityError: a file is malformed or has the wrong SHA-256.
    """
    pair = check_class_pair("classes", classes)
    seed = check_int("seed", seed, minimum=0)
    split = check_choice("split", split, SPLITS)
    source = check_choice("source", source, _FASHION_SOURCES)
    download = check_bool("download", download)
    folder = check_data_dir(data_dir)
    prep = check_prep(scale, center, standardize, normalize_rows, dtype)
    what = f"the Fashion-MNIST {split} split"

    coverage = None
    if source != "full":
        try:
            sub = load_shipped_fashion_mnist()
        except DataUnavailableError:
            if source == "shipped":
                raise
        else:
            coverage = _shipped_fashion_coverage(sub)
            if split == "train":
                labels = sub["train_labels"]
                counts = (int(np.sum(labels == pair[0])), int(np.sum(labels == pair[1])))
                n = check_n_pair(n, counts, pair, "classes", what)
                idx, sign = balanced_pair(labels, pair, n, seed)
                index = sub["train_index"]
                pos = np.minimum(np.searchsorted(index, idx), index.size - 1)
                if np.array_equal(index[pos], idx):
                    return (preprocess(sub["train_images"][pos], 255.0, prep),
                            jnp.asarray(sign, dtype=prep.dtype))
            if source == "shipped":
                raise DataUnavailableError(
                    f"source='shipped' cannot give classes={pair}, n={n}, seed={seed}, "
                    f"split={split!r}: {coverage}. Use source='auto' or 'full' with the full "
                    f"set (`apt-get install dataset-fashion-mnist`, or download=True).")
    try:
        images_path, labels_path = fashion_paths(split, folder, download)
    except DataUnavailableError as exc:
        if coverage is None:
            raise
        raise DataUnavailableError(
            f"classes={pair}, n={n}, seed={seed}, split={split!r} needs the full "
            f"Fashion-MNIST: {coverage}; {exc}") from exc
    images, labels = _load_image_label_idx(images_path, labels_path, 28)
    return binary_sample(images, labels, pair, n, seed, prep, 255.0, arg="classes",
                          source=what)


