"""CIFAR-10 (download only: no package registry ships it).

Internal to the package: the public names are re-exported by :mod:`lplr_core.data`.
"""

from __future__ import annotations

import functools
import os
import pickle
import tarfile
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np
from jax.typing import DTypeLike

from .._validation import check_bool, check_choice, check_int
from ._files import REMOTE, DataIntegrityError, check_data_dir, default_data_dir, fetch
from ._prep import SPLITS, Scale, Split, binary_sample, check_class_pair, check_prep

__all__ = ["CIFAR10_IMAGE_SHAPE", "CIFAR10_CLASSES", "cifar10_subset"]

#: (height, width, channels) of a CIFAR-10 image; rows of ``x`` are in this (HWC) order.
CIFAR10_IMAGE_SHAPE = (32, 32, 3)
#: CIFAR-10 class names, by label.
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


@functools.lru_cache(maxsize=2)
def _load_cifar10(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    names = ([f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)]
             if split == "train" else ["cifar-10-batches-py/test_batch"])
    images, labels = [], []
    with tarfile.open(path, "r:gz") as tar:
        for name in names:
            member = tar.extractfile(name)
            if member is None:
                raise DataIntegrityError(f"{path} has no member {name}")
            # The batches are pickles; unpickling is acceptable only because the
            # archive's SHA-256 was checked against the pinned value just before.
            batch = pickle.load(member, encoding="bytes")
            images.append(np.asarray(batch[b"data"], dtype=np.uint8))
            labels.append(np.asarray(batch[b"labels"], dtype=np.uint8))
    # Stored channel-major (3, 32, 32) per row; store rows as (32, 32, 3).
    x = np.concatenate(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    x = np.ascontiguousarray(x).reshape(x.shape[0], -1)
    y = np.concatenate(labels)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def cifar10_subset(classes: Sequence[int] = (0, 1), n: int = 1000, seed: int = 0, *,
                   split: Split = "train", download: bool = False,
                   data_dir: str | os.PathLike | None = None, scale: Scale = "unit",
                   center: bool = False, standardize: bool = False,
                   normalize_rows: bool = False, dtype: DTypeLike | None = None,
                   ) -> tuple[jax.Array, jax.Array]:
    """A balanced two-class CIFAR-10 sample, labelled ±1.

    Reads the CIFAR-10 python tarball from the data directory. It is fetched
    only with ``download=True`` (163 MB, SHA-256 checked); no package registry
    ships it.

    Args:
      classes: two distinct class indices (see :data:`CIFAR10_CLASSES`, e.g.
        0 = airplane, 1 = automobile); the first is +1, the second -1.
      n: sample size; at least 2, at most 10000 (train) or 2000 (test) since
        every class has 5000 / 1000 images.
      seed: non-negative int; fixes the draw and the shuffle.
      split: ``"train"`` (50,000 images) or ``"test"`` (10,000).
      download: allow fetching the tarball if it is not in the data directory.
      data_dir: the data directory; default as in :func:`default_data_dir`.
      scale, center, standardize, normalize_rows, dtype: as in :func:`binary_mnist`
        (``normalize_rows`` gives norm sqrt(3072)).

    Returns:
      ``(x, y)``: ``x`` of shape (n, 3072), each row an image of shape
      :data:`CIFAR10_IMAGE_SHAPE` = (32, 32, 3) flattened in C order (so
      ``x.reshape(-1, 32, 32, 3)`` gives channels-last images), and ``y`` of
      shape (n,) in {+1, -1}.

    Raises:
      TypeError, ValueError: an argument is invalid; the message names it.
      DataUnavailableError: the file is absent and ``download`` is False, or the
        download failed.
      DataIntegrityError: the file has the wrong SHA-256 or is malformed.
    """
    pair = check_class_pair("classes", classes)
    seed = check_int("seed", seed, minimum=0)
    split = check_choice("split", split, SPLITS)
    download = check_bool("download", download)
    root = default_data_dir(check_data_dir(data_dir))
    prep = check_prep(scale, center, standardize, normalize_rows, dtype)
    path = fetch(REMOTE["cifar10"][0], root, download, "CIFAR-10 (cifar-10-python.tar.gz)")
    images, labels = _load_cifar10(path, split)
    return binary_sample(images, labels, pair, n, seed, prep, 255.0, arg="classes",
                          source=f"the CIFAR-10 {split} split")


