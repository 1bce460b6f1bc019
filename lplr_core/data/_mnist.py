"""Handwritten digits: the 10,000 shipped MNIST digits, scikit-learn's 8x8 digits, and
the full MNIST (download only).

Internal to the package: the public names are re-exported by :mod:`lplr_core.data`.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from .._validation import check_bool, check_choice, check_int
from ._files import REMOTE, DataUnavailableError, check_data_dir, default_data_dir, fetch
from ._files import read_verified, shipped_path
from ._prep import (
    SPLITS,
    Scale,
    Split,
    binary_sample,
    check_class_pair,
    check_class_set,
    check_prep,
    preprocess,
)

__all__ = [
    "SHIPPED_MNIST_FILENAME",
    "SHIPPED_MNIST_SHA256",
    "MNIST_IMAGE_SHAPE",
    "shipped_mnist_path",
    "load_shipped_mnist",
    "binary_mnist",
    "mnist_digits",
    "sklearn_digits",
    "mnist_full",
]

#: Name of the shipped MNIST file, package data in ``lplr_core/data/files/``.
SHIPPED_MNIST_FILENAME = "mnist_digits.npz"
# Printed by data/build_mnist.py and recorded in data/README.md.
#: SHA-256 of ``lplr_core/data/files/mnist_digits.npz``, checked every time the file is loaded.
SHIPPED_MNIST_SHA256 = "ac6c795bfe0ae28a9437a84fa12853847947fc4ef0ecf8cea0a181f8ad0ce9c1"

#: (height, width, channels) of an MNIST or Fashion-MNIST image.
MNIST_IMAGE_SHAPE = (28, 28, 1)


def shipped_mnist_path() -> Path:
    """Where the shipped MNIST digits are read from: ``$LPLR_DATA_DIR/mnist_digits.npz``
    if that exists, else the package's own copy."""
    return shipped_path(SHIPPED_MNIST_FILENAME, "MNIST", "build_mnist.py")


@functools.lru_cache(maxsize=4)
def _load_shipped(path: Path) -> tuple[np.ndarray, np.ndarray]:
    blob = read_verified(path, SHIPPED_MNIST_SHA256, "build_mnist.py")
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        images = archive["images"]
        labels = archive["labels"]
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_shipped_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 shipped MNIST digits, as stored.

    The file is read and its SHA-256 checked once per process.

    Returns:
      ``(images, labels)``: read-only NumPy arrays, ``images`` uint8 of shape
      (10000, 784) with values 0..255 (row-major 28x28), ``labels`` uint8 of
      shape (10000,), sorted by class (0 first).

    Raises:
      DataUnavailableError: the file is missing.
      DataIntegrityError: the file's SHA-256 is not :data:`SHIPPED_MNIST_SHA256`.
    """
    return _load_shipped(shipped_mnist_path())


def binary_mnist(digits: Sequence[int] = (0, 1), n: int = 1000, seed: int = 0, *,
                 scale: Scale = "unit", center: bool = False, standardize: bool = False,
                 normalize_rows: bool = False, dtype: DTypeLike | None = None,
                 ) -> tuple[jax.Array, jax.Array]:
    """A balanced two-digit sample of the shipped MNIST digits, labelled ±1.

    Args:
      digits: two distinct digits; the first is labelled +1, the second -1.
      n: sample size, at least 2 and at most what the two classes allow: with
        counts ``c1, c2`` of the two digits, ``n <= min(2*c1, 2*c2 + 1)``
        (2002 for ``(0, 1)``; 1726 for pairs starting with digit 5).
      seed: non-negative int; fixes which images are drawn and their order.
      scale: ``"unit"`` (pixels / 255, in [0, 1]) or ``"raw"`` (0..255).
      center: subtract each pixel's mean over the sample.
      standardize: z-score each pixel over the sample (constant pixels become 0).
      normalize_rows: rescale each image to Euclidean norm sqrt(784) = 28.
      dtype: floating dtype of ``x`` and ``y``; default JAX's default float.

    Returns:
      ``(x, y)`` with ``x`` of shape (n, 784) and ``y`` of shape (n,) in {+1, -1},
      ``ceil(n/2)`` of them +1.

    Raises:
      TypeError, ValueError: an argument is invalid; the message names it.
      DataIntegrityError: the shipped file does not have the expected SHA-256.

    Examples:
      >>> from lplr_core.data import binary_mnist
      >>> x, y = binary_mnist(digits=(3, 8), n=5, seed=0, normalize_rows=True)
      >>> x.shape, y.shape
      ((5, 784), (5,))
      >>> sorted(int(v) for v in y)          # ceil(5/2) images of 3 (+1), two of 8 (-1)
      [-1, -1, 1, 1, 1]
      >>> print(f"{float((x * x).sum(axis=1).mean()) / 784:.3f}")   # rows of norm sqrt(784)
      1.000
    """
    pair = check_class_pair("digits", digits)
    seed = check_int("seed", seed, minimum=0)
    prep = check_prep(scale, center, standardize, normalize_rows, dtype)
    images, labels = load_shipped_mnist()
    return binary_sample(images, labels, pair, n, seed, prep, 255.0, arg="digits",
                          source="the shipped MNIST file")


def mnist_digits(digits: Sequence[int] | None = None, n_per_class: int | None = None,
                 seed: int = 0, *, scale: Scale = "unit", center: bool = False,
                 standardize: bool = False, normalize_rows: bool = False, dtype: DTypeLike | None = None,
                 ) -> tuple[jax.Array, jax.Array]:
    """A multi-class sample of the shipped MNIST digits with integer labels.

    Args:
      digits: the digits to include (distinct, in 0..9); ``None`` means all ten.
      n_per_class: images drawn from each digit, at most the smallest class
        count among ``digits`` (863 if digit 5 is included). ``None`` takes
        every image of every selected digit, so classes are then unbalanced.
      seed: non-negative int; fixes the draw and the shuffle.
      scale, center, standardize, normalize_rows, dtype: as in :func:`binary_mnist`.

    Returns:
      ``(x, labels)``: ``x`` of shape (n, 784) and ``labels`` int32 of shape (n,)
      holding the digit itself (not an index into ``digits``), shuffled.

    Raises:
      TypeError, ValueError: an argument is invalid; the message names it.
      DataIntegrityError: the shipped file does not have the expected SHA-256.
    """
    chosen = check_class_set("digits", digits)
    seed = check_int("seed", seed, minimum=0)
    prep = check_prep(scale, center, standardize, normalize_rows, dtype)
    images, labels = load_shipped_mnist()
    pools = [np.flatnonzero(labels == d) for d in chosen]
    if n_per_class is not None:
        n_per_class = check_int("n_per_class", n_per_class, minimum=1)
        smallest = min(len(p) for p in pools)
        if n_per_class > smallest:
            counts = {d: len(p) for d, p in zip(chosen, pools, strict=True)}
            raise ValueError(
                f"n_per_class must be an integer in [1, {smallest}] for digits={chosen}: the "
                f"shipped MNIST file has {counts} images per digit; got {n_per_class}")
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.permutation(p)[:n_per_class] for p in pools])
    idx = idx[rng.permutation(idx.size)]
    return (preprocess(images[idx], 255.0, prep),
            jnp.asarray(labels[idx], dtype=jnp.int32))



# ---------------------------------------------------------------------------
# scikit-learn 8x8 digits
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _sklearn_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise DataUnavailableError(
            "sklearn_digits needs scikit-learn (pip install scikit-learn)") from exc
    bunch = load_digits()
    images = bunch.data.astype(np.uint8)  # integer grey levels 0..16 stored as floats
    labels = bunch.target.astype(np.uint8)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def sklearn_digits(digits: Sequence[int] = (0, 1), n: int | None = None, seed: int = 0, *,
                   scale: Scale = "unit", center: bool = False, standardize: bool = False,
                   normalize_rows: bool = False, dtype: DTypeLike | None = None,
                   ) -> tuple[jax.Array, jax.Array]:
    """A balanced two-digit sample of scikit-learn's 8x8 digits, labelled ±1.

    Args:
      digits: two distinct digits; the first is labelled +1, the second -1.
      n: sample size; ``None`` takes the largest balanced sample
        (``min(2*c1, 2*c2 + 1)`` for class counts ``c1, c2``; 356 for (0, 1)).
      seed: non-negative int; fixes the draw and the shuffle.
      scale: ``"unit"`` (grey levels / 16, in [0, 1]) or ``"raw"`` (0..16).
      center, standardize, normalize_rows, dtype: as in :func:`binary_mnist`
        (``normalize_rows`` gives norm sqrt(64) = 8).

    Returns:
      ``(x, y)`` with ``x`` of shape (n, 64) and ``y`` of shape (n,) in {+1, -1}.

    Raises:
      TypeError, ValueError: an argument is invalid; the message names it.
    """
    pair = check_class_pair("digits", digits)
    seed = check_int("seed", seed, minimum=0)
    prep = check_prep(scale, center, standardize, normalize_rows, dtype)
    images, labels = _sklearn_digits_arrays()
    if n is None:
        counts = (int(np.sum(labels == pair[0])), int(np.sum(labels == pair[1])))
        n = min(2 * counts[0], 2 * counts[1] + 1)
    return binary_sample(images, labels, pair, n, seed, prep, 16.0, arg="digits",
                          source="scikit-learn's digits")


# ---------------------------------------------------------------------------
# Download-only data sets: full MNIST and CIFAR-10
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=2)
def _load_keras_mnist(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    key = "train" if split == "train" else "test"
    with np.load(path, allow_pickle=False) as archive:
        images = archive[f"x_{key}"]
        labels = archive[f"y_{key}"]
    images = images.reshape(images.shape[0], -1)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def mnist_full(digits: Sequence[int] = (0, 1), n: int = 1000, seed: int = 0, *,
               split: Split = "train", download: bool = False,
               data_dir: str | os.PathLike | None = None, scale: Scale = "unit",
               center: bool = False, standardize: bool = False,
               normalize_rows: bool = False, dtype: DTypeLike | None = None,
               ) -> tuple[jax.Array, jax.Array]:
    """A balanced two-digit sample of the full MNIST (60,000 + 10,000), labelled ±1.

    Reads Keras's ``mnist.npz`` from the data directory. It is fetched only
    with ``download=True`` (11 MB, SHA-256 checked); use :func:`binary_mnist`
    when the 10,000 shipped digits are enough.

    Args:
      digits: two distinct digits; the first is labelled +1, the second -1.
      n: sample size; at least 2, at most ``min(2*c1, 2*c2 + 1)``.
      seed: non-negative int; fixes the draw and the shuffle.
      split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
      download: allow fetching ``mnist.npz`` if it is not in the data directory.
      data_dir: the data directory; default as in :func:`default_data_dir`.
      scale, center, standardize, normalize_rows, dtype: as in :func:`binary_mnist`.

    Returns:
      ``(x, y)`` with ``x`` of shape (n, 784) and ``y`` of shape (n,) in {+1, -1}.

    Raises:
      TypeError, ValueError: an argument is invalid; the message names it.
      DataUnavailableError: the file is absent and ``download`` is False, or the
        download failed.
      DataIntegrityError: the file has the wrong SHA-256.
    """
    pair = check_class_pair("digits", digits)
    seed = check_int("seed", seed, minimum=0)
    split = check_choice("split", split, SPLITS)
    download = check_bool("download", download)
    root = default_data_dir(check_data_dir(data_dir))
    prep = check_prep(scale, center, standardize, normalize_rows, dtype)
    path = fetch(REMOTE["mnist"][0], root, download, "Full MNIST (mnist.npz)")
    images, labels = _load_keras_mnist(path, split)
    return binary_sample(images, labels, pair, n, seed, prep, 255.0, arg="digits",
                          source=f"the MNIST {split} split")


