"""Files, hashes and downloads: where every data set of :mod:`lplr_core.data` is found.

* The two shipped files (MNIST digits, the Fashion-MNIST subset) are **package data**,
  installed with the package in ``lplr_core/data/files/`` and found through
  ``importlib.resources.files()``, so an installed wheel finds them wherever it lives.
  A copy in ``$LPLR_DATA_DIR`` wins if present; either way the SHA-256 is checked.
* Downloads are opt-in, go through ``pooch`` with a pinned SHA-256, and land in the data
  directory (:func:`default_data_dir`).

Internal to the package: the public names are re-exported by :mod:`lplr_core.data`.
"""

from __future__ import annotations

import atexit
import contextlib
import gzip
import hashlib
import importlib.resources
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_choice, describe

__all__ = [
    "ENV_DATA_DIR",
    "PACKAGE_DATA_FOLDER",
    "DataUnavailableError",
    "DataIntegrityError",
    "Remote",
    "REMOTE",
    "check_data_dir",
    "sha256_bytes",
    "sha256_file",
    "default_data_dir",
    "fetch",
    "download",
    "read_idx",
    "packaged_file",
    "shipped_path",
    "read_verified",
]

#: The environment variable naming the data directory.
ENV_DATA_DIR = "LPLR_DATA_DIR"
#: The folder of this package that holds the shipped files (package data).
PACKAGE_DATA_FOLDER = "files"

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
class Remote:
    fname: str  # path relative to the data directory
    url: str
    sha256: str


_KERAS_BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
REMOTE: dict[str, tuple[Remote, ...]] = {
    "mnist": (
        Remote("mnist.npz", _KERAS_BASE + "mnist.npz",
               "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),
    ),
    "cifar10": (
        Remote("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
               "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
    ),
    "fashion_mnist": (
        Remote("fashion-mnist/train-images-idx3-ubyte.gz",
               _KERAS_BASE + "train-images-idx3-ubyte.gz",
               "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        Remote("fashion-mnist/train-labels-idx1-ubyte.gz",
               _KERAS_BASE + "train-labels-idx1-ubyte.gz",
               "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        Remote("fashion-mnist/t10k-images-idx3-ubyte.gz",
               _KERAS_BASE + "t10k-images-idx3-ubyte.gz",
               "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        Remote("fashion-mnist/t10k-labels-idx1-ubyte.gz",
               _KERAS_BASE + "t10k-labels-idx1-ubyte.gz",
               "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    ),
}


def check_data_dir(data_dir: Any) -> Path | None:
    if data_dir is None:
        return None
    if not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"data_dir must be None, a str or a path; got {describe(data_dir)}")
    return Path(data_dir).expanduser()


# ---------------------------------------------------------------------------
# Files, hashes and downloads
# ---------------------------------------------------------------------------

def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
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
    explicit = check_data_dir(data_dir)
    if explicit is not None:
        return explicit
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "lplr"


def _download(remote: Remote, root: Path) -> Path:
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


def fetch(remote: Remote, root: Path, download: bool, what: str) -> Path:
    """The verified local path of ``remote``; downloads only if ``download``."""
    path = root / remote.fname
    if path.is_file():
        stat = path.stat()
        key = (path.resolve(), remote.sha256)
        if _VERIFIED.get(key) == (stat.st_size, stat.st_mtime_ns):
            return path
        digest = sha256_file(path)
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
            f"yourself, or point data_dir / ${ENV_DATA_DIR} at a folder that has it.")
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
    name = check_choice("name", name, tuple(REMOTE))
    root = default_data_dir(data_dir)
    return [fetch(r, root, True, name) for r in REMOTE[name]]


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
# Shipped files (package data)
# ---------------------------------------------------------------------------

# Keeps alive, until the interpreter exits, the temporary copies that
# importlib.resources.as_file makes when the package is not on a file system
# (e.g. imported from a zip); for an ordinary install it stays empty.
_RESOURCE_COPIES = contextlib.ExitStack()
atexit.register(_RESOURCE_COPIES.close)


def packaged_file(filename: str) -> Path | None:
    """The path of a shipped file inside the installed package, or None if it is absent.

    Found with ``importlib.resources.files()``, so it works for a source checkout,
    an installed wheel and an editable install alike.
    """
    resource = importlib.resources.files(__package__) / PACKAGE_DATA_FOLDER / filename
    if not resource.is_file():
        return None
    if isinstance(resource, Path):
        return resource.resolve()
    return _RESOURCE_COPIES.enter_context(importlib.resources.as_file(resource))


def shipped_path(filename: str, what: str, script: str) -> Path:
    """Where a shipped file is read from: ``$LPLR_DATA_DIR/filename`` if that exists,
    else the package's own copy.

    Raises:
      DataUnavailableError: neither exists (a broken install).
    """
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        candidate = Path(env).expanduser() / filename
        if candidate.is_file():
            return candidate
    packaged = packaged_file(filename)
    if packaged is not None:
        return packaged
    looked = ([f"${ENV_DATA_DIR} ({Path(env).expanduser()})"] if env else []) + [
        f"the package data of lplr_core.data ({PACKAGE_DATA_FOLDER}/)"]
    raise DataUnavailableError(
        f"the shipped {what} file {filename} was not found (looked in {' and '.join(looked)}). "
        f"It is installed with the package: reinstall lplr_core, or, in a source checkout, "
        f"restore it from git or rebuild it with `python data/{script}`; or set "
        f"${ENV_DATA_DIR} to a folder holding a copy.")


def read_verified(path: Path, expected: str, script: str) -> bytes:
    """The bytes of ``path``, after checking their SHA-256 against ``expected``.

    Raises:
      DataIntegrityError: the hash differs.
    """
    # Hash and parse the same bytes, so the file cannot change in between.
    blob = path.read_bytes()
    digest = sha256_bytes(blob)
    if digest != expected:
        raise DataIntegrityError(
            f"{path} has SHA-256 {digest}, expected {expected}: the file is "
            f"corrupted or not the one this version of lplr_core was built with. Reinstall "
            f"lplr_core, or in a source checkout restore it from git (`git checkout -- "
            f"lplr_core/data/{PACKAGE_DATA_FOLDER}/{path.name}`) or rebuild it with "
            f"`python data/{script}`.")
    return blob
