"""Tests for lplr_core.data. None of them touches the network."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import pickle
import re
import shutil
import socket
import struct
import tarfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lplr_core import data as D
from lplr_core.data import _fashion, _files, _mnist

REPO = Path(__file__).resolve().parent.parent
# The shipped files are package data (pyproject.toml), next to the code that reads them.
PACKAGE_FILES = REPO / "lplr_core" / "data" / "files"
SHIPPED = PACKAGE_FILES / "mnist_digits.npz"
SHIPPED_COUNTS = (1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978)


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch):
    """No network, and no data directory leaking in from the environment."""
    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in lplr_core's data tests")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("LPLR_DATA_DIR", raising=False)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _as_np(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


# ---------------------------------------------------------------------------
# The shipped file and its provenance records
# ---------------------------------------------------------------------------

def test_shipped_file_hash_matches_constant_and_readme():
    digest = _sha256(SHIPPED)
    assert digest == D.SHIPPED_MNIST_SHA256
    readme = (REPO / "data" / "README.md").read_text()
    output_section = readme[readme.index("Output `mnist_digits.npz`"):]
    assert re.search(r"[0-9a-f]{64}", output_section).group(0) == digest


def test_readme_and_build_script_agree_on_tarball_hash():
    spec = importlib.util.spec_from_file_location("build_mnist", REPO / "data" / "build_mnist.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    readme = (REPO / "data" / "README.md").read_text()
    assert build.TARBALL_SHA256 in readme
    assert build.OUTPUT == SHIPPED
    assert (PACKAGE_FILES / "LICENSE-mnist.txt").read_text().startswith("The MIT License")


def test_load_shipped_mnist_contents():
    images, labels = D.load_shipped_mnist()
    assert images.shape == (10000, 784) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert tuple(np.bincount(labels, minlength=10)) == SHIPPED_COUNTS
    assert np.all(np.diff(labels.astype(int)) >= 0)  # sorted by class
    assert images.max() == 255 and images.min() == 0
    assert not images.flags.writeable and not labels.flags.writeable
    assert D.load_shipped_mnist()[0] is images  # loaded once


def test_corrupted_copy_in_data_dir_raises(tmp_path, monkeypatch):
    blob = bytearray(SHIPPED.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (tmp_path / D.SHIPPED_MNIST_FILENAME).write_bytes(bytes(blob))
    monkeypatch.setenv("LPLR_DATA_DIR", str(tmp_path))
    with pytest.raises(D.DataIntegrityError, match="SHA-256"):
        D.load_shipped_mnist()
    with pytest.raises(D.DataIntegrityError):
        D.binary_mnist()


def test_good_copy_in_data_dir_is_used(tmp_path, monkeypatch):
    shutil.copy(SHIPPED, tmp_path / D.SHIPPED_MNIST_FILENAME)
    monkeypatch.setenv("LPLR_DATA_DIR", str(tmp_path))
    assert _mnist.shipped_mnist_path() == tmp_path / D.SHIPPED_MNIST_FILENAME
    images, _ = D.load_shipped_mnist()
    assert images.shape == (10000, 784)


def test_data_dir_without_copy_falls_back_to_package(tmp_path, monkeypatch):
    monkeypatch.setenv("LPLR_DATA_DIR", str(tmp_path))
    assert _mnist.shipped_mnist_path() == SHIPPED


def test_shipped_files_are_package_data_found_by_importlib_resources():
    import importlib.resources
    import tomllib
    from fnmatch import fnmatch

    folder = importlib.resources.files("lplr_core.data") / _files.PACKAGE_DATA_FOLDER
    assert Path(str(folder)).resolve() == PACKAGE_FILES.resolve()
    for name in (D.SHIPPED_MNIST_FILENAME, D.SHIPPED_FASHION_MNIST_FILENAME):
        assert _files.packaged_file(name) == (PACKAGE_FILES / name).resolve()
    assert _files.packaged_file("no-such-file.npz") is None
    # Every file in the folder is declared as package data, so a wheel carries it.
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["lplr_core.data"]
    shipped = sorted(p.name for p in PACKAGE_FILES.iterdir())
    assert shipped == sorted(["mnist_digits.npz", "fashion_mnist_subset.npz",
                              "LICENSE-mnist.txt", "LICENSE-fashion-mnist.txt"])
    for name in shipped:
        assert any(fnmatch(f"{_files.PACKAGE_DATA_FOLDER}/{name}", pat) for pat in patterns), name
    # Nothing is left where the package used to look for it.
    assert not list((REPO / "data").glob("*.npz"))


def test_missing_package_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(_files, "PACKAGE_DATA_FOLDER", "absent-folder")
    monkeypatch.setenv("LPLR_DATA_DIR", str(tmp_path))  # set, but without a copy
    with pytest.raises(D.DataUnavailableError, match="mnist_digits.npz") as info:
        _mnist.shipped_mnist_path()
    assert "reinstall lplr_core" in str(info.value) and "LPLR_DATA_DIR" in str(info.value)
    with pytest.raises(D.DataUnavailableError, match="fashion_mnist_subset.npz"):
        D.fashion_mnist(source="shipped")


def test_public_names_live_in_the_package():
    for name in D.__all__:
        obj = getattr(D, name)
        if callable(obj):
            assert obj.__module__ == "lplr_core.data", name
    error = pickle.loads(pickle.dumps(D.DataUnavailableError("x")))
    assert type(error) is D.DataUnavailableError and str(error) == "x"


def test_constants_are_documented_where_they_are_imported_from():
    # autodoc (book/api.md, built with -n -W) reads `#:` comments from the package's own
    # source; the docstrings' :data: references to these constants need them there.
    source = (REPO / "lplr_core" / "data" / "__init__.py").read_text().splitlines()
    constants = [n for n in D.__all__ if n.isupper()]
    assert "SHIPPED_MNIST_SHA256" in constants and "SYSTEM_FASHION_MNIST_DIR" in constants
    for name in constants:
        line = next(i for i, l in enumerate(source) if l.startswith(f"{name} = "))
        assert source[line - 1].startswith("#: "), name


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(D, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0


# ---------------------------------------------------------------------------
# binary_mnist
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [2, 3, 1000, 1001, 2002])
def test_binary_mnist_shapes_and_balance(n):
    x, y = D.binary_mnist((0, 1), n=n)
    assert x.shape == (n, 784) and y.shape == (n,)
    assert x.dtype == jnp.result_type(float) and y.dtype == x.dtype
    y = _as_np(y)
    assert set(np.unique(y)) <= {-1.0, 1.0}
    assert np.sum(y == 1) == n - n // 2 and np.sum(y == -1) == n // 2


def test_binary_mnist_labels_follow_digit_order():
    images, labels = D.load_shipped_mnist()
    rows = {d: {bytes(r) for r in images[labels == d]} for d in (3, 8)}
    x, y = D.binary_mnist((8, 3), n=40, seed=5, scale="raw")
    x = np.asarray(x).astype(np.uint8)
    for row, label in zip(x, np.asarray(y), strict=True):
        assert bytes(row) in rows[8 if label == 1 else 3]


def test_binary_mnist_deterministic_and_seed_dependent():
    x0, y0 = D.binary_mnist(n=50, seed=3)
    x1, y1 = D.binary_mnist(n=50, seed=3)
    x2, _ = D.binary_mnist(n=50, seed=4)
    assert np.array_equal(x0, x1) and np.array_equal(y0, y1)
    assert not np.array_equal(x0, x2)


def test_binary_mnist_is_shuffled():
    _, y = D.binary_mnist(n=100)
    y = _as_np(y)
    assert not (np.all(y[:50] == 1) and np.all(y[50:] == -1))


def test_binary_mnist_samples_nested_in_n():
    small, _ = D.binary_mnist(n=20, seed=7, scale="raw")
    large, _ = D.binary_mnist(n=200, seed=7, scale="raw")
    big = {bytes(np.asarray(r).astype(np.uint8)) for r in large}
    assert all(bytes(np.asarray(r).astype(np.uint8)) in big for r in small)


def test_binary_mnist_golden_sample():
    """Freezes the sampling algorithm: changing it would silently change book results."""
    x, y = D.binary_mnist(n=8, seed=0, scale="raw")
    assert _as_np(y).tolist() == [-1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0, 1.0]
    ink = _as_np(x).sum(axis=1).astype(int).tolist()
    assert ink == [22685, 44024, 42070, 14192, 17515, 28386, 21032, 41083]


def test_real_digit_sanity():
    x, y = D.binary_mnist((0, 1), n=1000)
    x, y = _as_np(x), _as_np(y)
    ink0 = x[y == 1].mean()
    ink1 = x[y == -1].mean()
    assert ink1 < 0.6 * ink0  # a 1 has far less ink than a 0
    # Pixels are k/255 exactly (up to float32 rounding).
    k = x * 255
    assert np.allclose(k, np.round(k), atol=1e-3)
    assert x.min() == 0.0 and x.max() == 1.0
    # A 0 has a hole in the middle; a 1 has ink there.
    centre = x.reshape(-1, 28, 28)[:, 12:16, 12:16].mean(axis=(1, 2))
    assert centre[y == -1].mean() > 3 * centre[y == 1].mean()


def test_raw_scale_is_integers():
    x, _ = D.binary_mnist(n=100, scale="raw")
    x = _as_np(x)
    assert np.array_equal(x, np.round(x)) and x.max() == 255.0


# ---------------------------------------------------------------------------
# Preprocessing
# ---------------------------------------------------------------------------

def test_center():
    x, _ = D.binary_mnist(n=300, center=True)
    assert np.abs(_as_np(x).mean(axis=0)).max() < 1e-5


def test_standardize():
    raw, _ = D.binary_mnist(n=300, scale="raw")
    x, _ = D.binary_mnist(n=300, standardize=True)
    raw, x = _as_np(raw), _as_np(x)
    constant = raw.max(axis=0) == raw.min(axis=0)
    assert constant.any() and not constant.all()
    assert np.abs(x.mean(axis=0)).max() < 1e-5
    assert np.allclose(x[:, ~constant].std(axis=0), 1.0, atol=1e-4)
    assert np.all(x[:, constant] == 0.0)
    # standardize already centres, so adding center changes nothing
    both, _ = D.binary_mnist(n=300, standardize=True, center=True)
    assert np.array_equal(_as_np(both), x)
    # and the unit/raw scale does not matter after standardizing
    x_raw, _ = D.binary_mnist(n=300, standardize=True, scale="raw")
    assert np.allclose(_as_np(x_raw), x, atol=1e-5)


@pytest.mark.parametrize("extra", [{}, {"center": True}, {"standardize": True}])
def test_normalize_rows(extra):
    x, _ = D.binary_mnist(n=100, normalize_rows=True, **extra)
    norms = np.linalg.norm(_as_np(x), axis=1)
    assert np.allclose(norms, 28.0, rtol=1e-5)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32])
def test_dtype(dtype):
    x, y = D.binary_mnist(n=10, dtype=dtype)
    assert x.dtype == dtype and y.dtype == dtype


def test_float64_follows_jax_enable_x64():
    with jax.enable_x64(True):
        x, y = D.binary_mnist(n=10, dtype=jnp.float64)
        assert x.dtype == jnp.float64 and y.dtype == jnp.float64
        assert D.binary_mnist(n=10)[0].dtype == jnp.float64
    with jax.enable_x64(False):
        assert D.binary_mnist(n=10)[0].dtype == jnp.float32
        # JAX would silently return float32; the loader says why instead.
        with pytest.raises(ValueError, match="jax_enable_x64"):
            D.binary_mnist(n=10, dtype=jnp.float64)


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------

BAD_BINARY_MNIST = [
    ({"digits": (1, 1)}, ValueError, "digits"),
    ({"digits": (0, 10)}, ValueError, "digits"),
    ({"digits": (-1, 2)}, ValueError, "digits"),
    ({"digits": "01"}, TypeError, "digits"),
    ({"digits": (0, 1, 2)}, ValueError, "digits"),
    ({"digits": (0,)}, ValueError, "digits"),
    ({"digits": 3}, TypeError, "digits"),
    ({"digits": None}, TypeError, "digits"),
    ({"digits": (0, 1.0)}, TypeError, "digits"),
    ({"n": 0}, ValueError, "n must"),
    ({"n": 1}, ValueError, "n must"),
    ({"n": 2003}, ValueError, "n must"),
    ({"n": 1.5}, TypeError, "n must"),
    ({"n": True}, TypeError, "n must"),
    ({"n": "10"}, TypeError, "n must"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 1.0}, TypeError, "seed"),
    ({"seed": None}, TypeError, "seed"),
    ({"scale": "bogus"}, ValueError, "scale"),
    ({"scale": 255}, ValueError, "scale"),
    ({"center": "yes"}, TypeError, "center"),
    ({"standardize": 1}, TypeError, "standardize"),
    ({"normalize_rows": None}, TypeError, "normalize_rows"),
    ({"dtype": "int32"}, ValueError, "dtype"),
    ({"dtype": "nonsense"}, TypeError, "dtype"),
]


@pytest.mark.parametrize("kwargs, error, name", BAD_BINARY_MNIST,
                         ids=[repr(k) for k, _, _ in BAD_BINARY_MNIST])
def test_binary_mnist_rejects(kwargs, error, name):
    with pytest.raises(error) as info:
        D.binary_mnist(**kwargs)
    assert name in str(info.value)
    assert "got" in str(info.value)


def test_n_too_large_says_what_is_available():
    with pytest.raises(ValueError) as info:
        D.binary_mnist((5, 8), n=1727)
    message = str(info.value)
    assert "1726" in message and "863" in message and "944" in message
    # the odd sample goes to the first class, so (8, 5) allows one more
    x, _ = D.binary_mnist((8, 5), n=1727)
    assert x.shape[0] == 1727


# ---------------------------------------------------------------------------
# mnist_digits
# ---------------------------------------------------------------------------

def test_mnist_digits_balanced():
    x, labels = D.mnist_digits((2, 7, 9), n_per_class=30, seed=1)
    assert x.shape == (90, 784) and labels.dtype == jnp.int32
    assert sorted(np.unique(np.asarray(labels)).tolist()) == [2, 7, 9]
    assert np.all(np.bincount(np.asarray(labels))[[2, 7, 9]] == 30)
    again, _ = D.mnist_digits((2, 7, 9), n_per_class=30, seed=1)
    assert np.array_equal(x, again)


def test_mnist_digits_all():
    x, labels = D.mnist_digits()
    assert x.shape == (10000, 784)
    assert tuple(np.bincount(np.asarray(labels))) == SHIPPED_COUNTS


@pytest.mark.parametrize("kwargs, error, name", [
    ({"digits": (1, 1)}, ValueError, "digits"),
    ({"digits": (0, 12)}, ValueError, "digits"),
    ({"digits": ()}, ValueError, "digits"),
    ({"digits": "0"}, TypeError, "digits"),
    ({"n_per_class": 0}, ValueError, "n_per_class"),
    ({"n_per_class": 864}, ValueError, "n_per_class"),
    ({"n_per_class": 2.0}, TypeError, "n_per_class"),
])
def test_mnist_digits_rejects(kwargs, error, name):
    with pytest.raises(error, match=name):
        D.mnist_digits(**kwargs)


# ---------------------------------------------------------------------------
# IDX parsing and Fashion-MNIST
# ---------------------------------------------------------------------------

def _idx_bytes(array: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}
    dtype = np.dtype(array.dtype)
    header = bytes([0, 0, codes[dtype], array.ndim]) + struct.pack(f">{array.ndim}I",
                                                                   *array.shape)
    return header + array.tobytes()


@pytest.mark.parametrize("dtype", [np.uint8, ">i4", ">f4"])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_roundtrip(tmp_path, dtype, compress):
    array = (np.arange(2 * 3 * 4) * 7 % 251).reshape(2, 3, 4).astype(dtype)
    blob = _idx_bytes(array)
    path = tmp_path / "a.idx"  # no .gz suffix on purpose: detection is by content
    path.write_bytes(gzip.compress(blob) if compress else blob)
    out = D.read_idx(path)
    assert out.shape == array.shape and np.array_equal(out, array)
    assert out.dtype.isnative


@pytest.mark.parametrize("blob", [b"", b"\x01\x02\x08\x01", b"\x00\x00\x08\x01\x00\x00\x00\x05ab",
                                  b"\x00\x00\x77\x01\x00\x00\x00\x01a"])
def test_read_idx_rejects_malformed(tmp_path, blob):
    path = tmp_path / "bad.idx"
    path.write_bytes(blob)
    with pytest.raises(D.DataIntegrityError):
        D.read_idx(path)


def _write_fake_fashion(folder: Path, n_per_class: int = 6) -> None:
    folder.mkdir(parents=True)
    labels = np.repeat(np.arange(10, dtype=np.uint8), n_per_class)
    images = np.zeros((labels.size, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = labels * 20 + 1  # the class is readable from one pixel
    for stem in ("train", "t10k"):
        (folder / f"{stem}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(images)))
        (folder / f"{stem}-labels-idx1-ubyte").write_bytes(_idx_bytes(labels))


def test_system_dir_is_read_from_the_package_at_call_time(tmp_path, monkeypatch):
    # tests/conftest.py hides the Debian package by setting this attribute of the package.
    _write_fake_fashion(tmp_path / "system")
    monkeypatch.setattr(D, "SYSTEM_FASHION_MNIST_DIR", tmp_path / "system")
    x, y = D.fashion_mnist((3, 7), n=4, data_dir=tmp_path / "empty", source="full",
                           scale="raw")
    first_pixel = _as_np(x)[:, 0]
    assert np.all(first_pixel[_as_np(y) == 1] == 61) and np.all(first_pixel[_as_np(y) == -1] == 141)


def test_fashion_mnist_from_data_dir(tmp_path):
    _write_fake_fashion(tmp_path / "fashion-mnist")
    x, y = D.fashion_mnist((3, 7), n=12, data_dir=tmp_path, scale="raw")
    assert x.shape == (12, 784)
    first_pixel = _as_np(x)[:, 0]
    assert np.all(first_pixel[_as_np(y) == 1] == 61) and np.all(first_pixel[_as_np(y) == -1] == 141)
    with pytest.raises(ValueError, match="n must"):
        D.fashion_mnist((3, 7), n=13, data_dir=tmp_path)


def test_fashion_mnist_missing_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "SYSTEM_FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(D.DataUnavailableError) as info:
        D.fashion_mnist(data_dir=tmp_path, source="full")
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message and "download=True" in message
    # a sample the shipped subset does not cover: the message also says what it covers
    with pytest.raises(D.DataUnavailableError) as info:
        D.fashion_mnist(seed=1, data_dir=tmp_path)
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message and "download=True" in message
    assert "seed=0" in message and "n <= 1024" in message
    assert list(tmp_path.iterdir()) == []          # nothing was fetched


@pytest.mark.parametrize("split, n", [("train", 1001), ("test", 2000)])
def test_fashion_mnist_full_set(tmp_path, split, n, full_fashion_mnist):
    x, y = D.fashion_mnist((0, 1), n=n, split=split, data_dir=tmp_path, source="full")
    x, y = _as_np(x), _as_np(y)
    assert x.shape == (n, 784) and np.sum(y == 1) == n - n // 2
    assert 0.0 <= x.min() and x.max() <= 1.0
    # trousers (class 1) cover fewer pixels than T-shirts (class 0)
    assert (x[y == -1] > 0).mean() < (x[y == 1] > 0).mean()
    with pytest.raises(ValueError, match="12000" if split == "train" else "2000"):
        D.fashion_mnist((0, 1), n=10**6, split=split, data_dir=tmp_path, source="full")


# ---------------------------------------------------------------------------
# The shipped Fashion-MNIST subset
# ---------------------------------------------------------------------------

SHIPPED_FASHION = PACKAGE_FILES / "fashion_mnist_subset.npz"


def _load_build_fashion():
    spec = importlib.util.spec_from_file_location("build_fashion_mnist",
                                                  REPO / "data" / "build_fashion_mnist.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build


def test_shipped_fashion_hash_matches_constant_and_readme():
    digest = _sha256(SHIPPED_FASHION)
    assert digest == D.SHIPPED_FASHION_MNIST_SHA256
    assert SHIPPED_FASHION.name == D.SHIPPED_FASHION_MNIST_FILENAME
    assert SHIPPED_FASHION.stat().st_size < 600_000          # small: 0.46 MB when built
    readme = (REPO / "data" / "README.md").read_text()
    section = readme[readme.index("Output `fashion_mnist_subset.npz`"):]
    assert re.search(r"[0-9a-f]{64}", section).group(0) == digest
    build = _load_build_fashion()
    assert build.OUTPUT == SHIPPED_FASHION
    for value in build.IDX_SHA256.values():
        assert value in readme


def test_shipped_fashion_contents():
    sub = D.load_shipped_fashion_mnist()
    labels, index, images = sub["train_labels"], sub["train_index"], sub["train_images"]
    # Fashion-MNIST's train split: 60,000 images, 6,000 per class
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert tuple(np.bincount(labels, minlength=10)) == (6000,) * 10
    assert index.shape == (1024,) and np.all(np.diff(index) > 0) and index[0] >= 0
    assert images.shape == (1024, 784) and images.dtype == np.uint8 and images.max() == 255
    assert tuple(np.bincount(labels[index], minlength=10)) == (512, 512) + (0,) * 8
    assert tuple(sub["classes"]) == (0, 1) and sub["seed"] == 0 and sub["max_n"] == 1024
    assert all(not a.flags.writeable for a in sub.values())
    assert D.load_shipped_fashion_mnist()["train_images"] is images   # loaded once
    # no two shipped images are identical
    assert len({bytes(row) for row in images}) == 1024


def test_corrupted_fashion_copy_in_data_dir_raises(tmp_path, monkeypatch):
    blob = bytearray(SHIPPED_FASHION.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (tmp_path / D.SHIPPED_FASHION_MNIST_FILENAME).write_bytes(bytes(blob))
    monkeypatch.setenv("LPLR_DATA_DIR", str(tmp_path))
    with pytest.raises(D.DataIntegrityError, match="SHA-256"):
        D.load_shipped_fashion_mnist()
    with pytest.raises(D.DataIntegrityError):   # never a silent fall-back to another source
        D.fashion_mnist()


@pytest.mark.parametrize("n", [2, 3, 32, 64, 1000, 1024])
def test_fashion_mnist_without_the_full_set(n, without_full_fashion):
    x, y = D.fashion_mnist((0, 1), n=n, scale="raw")
    x, y = _as_np(x), _as_np(y)
    assert x.shape == (n, 784) and np.sum(y == 1) == n - n // 2
    sub = D.load_shipped_fashion_mnist()
    rows = {bytes(r): int(sub["train_labels"][i])
            for r, i in zip(sub["train_images"], sub["train_index"])}
    # every image is a shipped one, of the class its label says (+1 = class 0)
    got = [rows[bytes(r.astype(np.uint8))] for r in x]
    assert got == [0 if v == 1 else 1 for v in y]
    if n >= 32:
        assert (x[y == -1] > 0).mean() < (x[y == 1] > 0).mean()   # trousers: fewer pixels


def test_fashion_mnist_samples_nested_in_n(without_full_fashion):
    small = {bytes(r) for r in np.asarray(D.fashion_mnist(n=64, scale="raw")[0])}
    large = {bytes(r) for r in np.asarray(D.fashion_mnist(n=1024, scale="raw")[0])}
    assert len(small) == 64 and small < large


@pytest.mark.parametrize("kwargs", [{"n": 1025}, {"seed": 1}, {"classes": (1, 0)},
                                    {"classes": (0, 2)}, {"split": "test"}])
def test_fashion_mnist_shipped_only_says_what_it_covers(kwargs, without_full_fashion):
    with pytest.raises(D.DataUnavailableError, match=r"n <= 1024") as info:
        D.fashion_mnist(**{"n": 64, **kwargs}, source="shipped")
    assert "source='shipped'" in str(info.value)
    with pytest.raises(D.DataUnavailableError, match="apt-get install dataset-fashion-mnist"):
        D.fashion_mnist(**{"n": 64, **kwargs})


def test_fashion_mnist_n_checked_against_the_whole_split(without_full_fashion):
    # the shipped labels are those of the whole split, so n's range is the full one
    with pytest.raises(ValueError, match="12000"):
        D.fashion_mnist(n=12001)


@pytest.mark.parametrize("options", [
    {}, {"scale": "raw"}, {"center": True, "dtype": "float64"},
    {"standardize": True, "normalize_rows": True}, {"center": True, "dtype": "float32"},
])
@pytest.mark.parametrize("n", [2, 3, 32, 64, 1000, 1024])
def test_shipped_fashion_equals_the_full_set(n, options, full_fashion_mnist):
    shipped = D.fashion_mnist((0, 1), n=n, seed=0, source="shipped", **options)
    full = D.fashion_mnist((0, 1), n=n, seed=0, source="full", **options)
    for a, b in zip(shipped, full, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_shipped_fashion_rows_are_the_idx_rows(full_fashion_mnist):
    images_path, labels_path = _fashion.fashion_paths("train", None, False)
    images = D.read_idx(images_path).reshape(60000, 784)
    labels = D.read_idx(labels_path)
    sub = D.load_shipped_fashion_mnist()
    np.testing.assert_array_equal(sub["train_labels"], labels)
    np.testing.assert_array_equal(sub["train_images"], images[sub["train_index"]])


def test_build_script_rebuilds_the_same_arrays(tmp_path, full_fashion_mnist):
    build = _load_build_fashion()
    folder = _fashion.fashion_paths("train", None, False)[0].parent
    out = tmp_path / "rebuilt.npz"
    build.build(folder, out)
    shipped = D.load_shipped_fashion_mnist()
    with np.load(out, allow_pickle=False) as rebuilt:
        assert sorted(rebuilt.files) == sorted(shipped)
        for key, value in shipped.items():
            assert rebuilt[key].dtype == value.dtype and rebuilt[key].shape == value.shape, key
            np.testing.assert_array_equal(rebuilt[key], value, err_msg=key)


@pytest.mark.parametrize("kwargs, error, name", [
    ({"classes": (2, 2)}, ValueError, "classes"),
    ({"classes": (0, 10)}, ValueError, "classes"),
    ({"split": "validation"}, ValueError, "split"),
    ({"download": "no"}, TypeError, "download"),
    ({"data_dir": 3}, TypeError, "data_dir"),
    ({"seed": -2}, ValueError, "seed"),
    ({"source": "system"}, ValueError, "source"),
    ({"source": 1}, ValueError, "source"),
])
def test_fashion_mnist_rejects(kwargs, error, name):
    with pytest.raises(error, match=name):
        D.fashion_mnist(**kwargs)


# ---------------------------------------------------------------------------
# Downloads (never performed: pooch.retrieve is mocked)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("loader", [D.mnist_full, D.cifar10_subset])
def test_download_false_and_no_file(tmp_path, loader):
    with pytest.raises(D.DataUnavailableError) as info:
        loader(data_dir=tmp_path)
    assert "download=True" in str(info.value) and str(tmp_path) in str(info.value)


def test_data_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LPLR_DATA_DIR", str(tmp_path / "env"))
    assert D.default_data_dir() == tmp_path / "env"
    assert D.default_data_dir(tmp_path / "arg") == tmp_path / "arg"
    with pytest.raises(D.DataUnavailableError, match=re.escape(str(tmp_path / "env"))):
        D.mnist_full()
    monkeypatch.delenv("LPLR_DATA_DIR")
    assert D.default_data_dir() == Path.home() / ".cache" / "lplr"


@pytest.mark.parametrize("loader", [D.mnist_full, D.cifar10_subset])
def test_network_failure_is_a_clear_error(tmp_path, monkeypatch, loader):
    pooch = pytest.importorskip("pooch")
    requests = pytest.importorskip("requests")

    def offline(**kwargs):
        raise requests.exceptions.ConnectionError("Name or service not known")
    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(D.DataUnavailableError) as info:
        loader(download=True, data_dir=tmp_path)
    message = str(info.value)
    assert "could not download https://" in message and "network" in message
    assert isinstance(info.value.__cause__, requests.exceptions.ConnectionError)


def test_real_network_is_blocked_and_reported(tmp_path):
    pytest.importorskip("pooch")
    # Without mocking pooch: the autouse fixture makes every connection fail.
    with pytest.raises(D.DataUnavailableError, match="could not download"):
        D.download("mnist", data_dir=tmp_path)
    assert not (tmp_path / "mnist.npz").exists()


def test_download_hash_mismatch(tmp_path, monkeypatch):
    pooch = pytest.importorskip("pooch")

    def wrong_hash(**kwargs):
        raise ValueError("SHA256 hash of downloaded file (mnist.npz) does not match the known "
                         "hash: expected 731c... got 0000...")
    monkeypatch.setattr(pooch, "retrieve", wrong_hash)
    with pytest.raises(D.DataIntegrityError, match="SHA-256"):
        D.download("mnist", data_dir=tmp_path)


def test_download_rejects_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="name"):
        D.download("imagenet", data_dir=tmp_path)


def test_corrupted_cached_download(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"not the file")
    with pytest.raises(D.DataIntegrityError, match="download=True"):
        D.mnist_full(data_dir=tmp_path)


def _pin(monkeypatch, name: str, path: Path) -> None:
    """Make the pinned hash of ``name`` that of a synthetic file, for parser tests."""
    (remote,) = _files.REMOTE[name]
    pinned = _files.Remote(remote.fname, remote.url, _sha256(path))
    monkeypatch.setitem(_files.REMOTE, name, (pinned,))


def test_mnist_full_reads_keras_npz(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, size in (("train", 60), ("test", 20)):
        labels = np.arange(size, dtype=np.uint8) % 10
        images = rng.integers(0, 256, size=(size, 28, 28), dtype=np.uint8)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images, labels
    np.savez(tmp_path / "mnist.npz", **arrays)
    _pin(monkeypatch, "mnist", tmp_path / "mnist.npz")
    x, y = D.mnist_full((4, 9), n=12, data_dir=tmp_path, scale="raw")
    assert x.shape == (12, 784)
    train = arrays["x_train"].reshape(60, 784)
    for row, label in zip(np.asarray(x).astype(np.uint8), np.asarray(y), strict=True):
        match = np.flatnonzero((train == row).all(axis=1))
        assert arrays["y_train"][match[0]] == (4 if label == 1 else 9)
    x_test, _ = D.mnist_full((4, 9), n=4, split="test", data_dir=tmp_path)
    assert x_test.shape == (4, 784)


def _fake_cifar(path: Path, per_batch: int = 10) -> np.ndarray:
    """A tarball in CIFAR-10's python layout; returns the test images as (N, 3, 32, 32)."""
    rng = np.random.default_rng(1)
    test_images = None
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            chw = rng.integers(0, 256, size=(per_batch, 3, 32, 32), dtype=np.uint8)
            batch = {b"data": chw.reshape(per_batch, 3072),
                     b"labels": [i % 10 for i in range(per_batch)]}
            blob = pickle.dumps(batch)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
            if name == "test_batch":
                test_images = chw
    return test_images


def test_cifar10_subset_layout(tmp_path, monkeypatch):
    tarball = tmp_path / "cifar-10-python.tar.gz"
    chw = _fake_cifar(tarball)
    _pin(monkeypatch, "cifar10", tarball)
    x, y = D.cifar10_subset((0, 1), n=2, split="test", data_dir=tmp_path, scale="raw")
    assert x.shape == (2, 3072)
    images = np.asarray(x).astype(np.uint8).reshape((-1,) + D.CIFAR10_IMAGE_SHAPE)
    for image, label in zip(images, np.asarray(y), strict=True):
        expected = chw[0 if label == 1 else 1]  # labels cycle 0, 1, 2, ... in the batch
        assert np.array_equal(image, expected.transpose(1, 2, 0))
    x_train, y_train = D.cifar10_subset((2, 3), n=10, data_dir=tmp_path)
    assert x_train.shape == (10, 3072) and float(jnp.sum(y_train)) == 0.0


# ---------------------------------------------------------------------------
# scikit-learn digits
# ---------------------------------------------------------------------------

def test_sklearn_digits():
    pytest.importorskip("sklearn")
    x, y = D.sklearn_digits()
    assert x.shape == (356, 64) and float(jnp.sum(y)) == 0.0
    k = _as_np(x) * 16
    assert np.allclose(k, np.round(k), atol=1e-4) and _as_np(x).max() == 1.0
    x2, _ = D.sklearn_digits((3, 5), n=11, seed=2, normalize_rows=True)
    assert x2.shape == (11, 64)
    assert np.allclose(np.linalg.norm(_as_np(x2), axis=1), 8.0, rtol=1e-5)
    with pytest.raises(ValueError, match="n must"):
        D.sklearn_digits(n=10_000)


# ---------------------------------------------------------------------------
# Synthetic data
# ---------------------------------------------------------------------------

def test_teacher_student_shapes_and_sphere():
    x, y = D.teacher_student(50, 7, seed=1)
    assert x.shape == (50, 7) and y.shape == (50,)
    assert np.allclose(np.linalg.norm(_as_np(x), axis=1), np.sqrt(7), rtol=1e-5)
    x2, y2 = D.teacher_student(50, 7, seed=1)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    x3, _ = D.teacher_student(50, 7, seed=2)
    assert not np.array_equal(x, x3)


def test_teacher_is_shared_across_input_seeds():
    d = 5
    fits = []
    for seed in (0, 1):
        x, y = D.teacher_student(40, d, seed=seed, teacher="linear", dtype=jnp.float32)
        w, *_ = np.linalg.lstsq(_as_np(x) / np.sqrt(d), _as_np(y), rcond=None)
        fits.append(w)
    assert np.allclose(fits[0], fits[1], atol=1e-4)
    _, y_other = D.teacher_student(40, d, seed=0, teacher="linear", teacher_seed=1)
    _, y_same = D.teacher_student(40, d, seed=0, teacher="linear")
    assert not np.allclose(y_other, y_same)


def test_teacher_inputs_do_not_echo_teacher_weights():
    # seed == teacher_seed must not make an input parallel to the teacher vector.
    x, y = D.teacher_student(1, 50, seed=0, teacher="linear")
    assert abs(float(y[0])) < 4.0


def test_teacher_student_options():
    x, y = D.teacher_student(200, 10, inputs="gaussian", classify=True)
    assert set(np.unique(_as_np(y))) == {-1.0, 1.0}
    assert not np.allclose(np.linalg.norm(_as_np(x), axis=1), np.sqrt(10))
    x0, y0 = D.teacher_student(30, 4, seed=3)
    x1, y1 = D.teacher_student(30, 4, seed=3, noise=0.5)
    assert np.array_equal(x0, x1) and not np.allclose(y0, y1)
    _, y_tanh = D.teacher_student(2000, 64, width=512)
    assert 0.2 < float(jnp.var(y_tanh)) < 0.7


def test_sphere_data():
    x, y = D.sphere_data(100, 3, seed=2, frequency=2.0)
    x, y = _as_np(x), _as_np(y)
    assert np.allclose(np.linalg.norm(x, axis=1), np.sqrt(3), rtol=1e-5)
    assert np.allclose(y, np.sin(2 * np.pi * x[:, 0]), atol=1e-5)
    _, lin = D.sphere_data(100, 3, seed=2, target="linear")
    assert np.allclose(_as_np(lin), x[:, 0], atol=1e-6)
    _, quad = D.sphere_data(100, 3, seed=2, target="quadratic")
    assert np.allclose(_as_np(quad), (x[:, 0] ** 2 - 1) / np.sqrt(2), atol=1e-5)
    x_big, _ = D.sphere_data(4000, 20, seed=0)
    assert abs(float(np.mean(_as_np(x_big)[:, 0] ** 2)) - 1.0) < 0.1


@pytest.mark.parametrize("fn, kwargs, error, name", [
    (D.teacher_student, {"n": 0, "d": 3}, ValueError, "n must"),
    (D.teacher_student, {"n": 5, "d": 0}, ValueError, "d must"),
    (D.teacher_student, {"n": 5, "d": 3, "teacher": "relu"}, ValueError, "teacher"),
    (D.teacher_student, {"n": 5, "d": 3, "width": 0}, ValueError, "width"),
    (D.teacher_student, {"n": 5, "d": 3, "teacher_seed": -1}, ValueError, "teacher_seed"),
    (D.teacher_student, {"n": 5, "d": 3, "inputs": "cube"}, ValueError, "inputs"),
    (D.teacher_student, {"n": 5, "d": 3, "noise": -0.1}, ValueError, "noise"),
    (D.teacher_student, {"n": 5, "d": 3, "noise": float("nan")}, ValueError, "noise"),
    (D.teacher_student, {"n": 5, "d": 3, "classify": 1}, TypeError, "classify"),
    (D.sphere_data, {"n": 5, "d": 1}, ValueError, "d must"),
    (D.sphere_data, {"n": 5.0, "d": 3}, TypeError, "n must"),
    (D.sphere_data, {"n": 5, "d": 3, "target": "cos"}, ValueError, "target"),
    (D.sphere_data, {"n": 5, "d": 3, "frequency": 0.0}, ValueError, "frequency"),
    (D.sphere_data, {"n": 5, "d": 3, "seed": -1}, ValueError, "seed"),
])
def test_synthetic_rejects(fn, kwargs, error, name):
    with pytest.raises(error, match=name):
        fn(**kwargs)
