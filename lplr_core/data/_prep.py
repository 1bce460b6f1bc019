"""Sampling and preprocessing shared by every image loader of :mod:`lplr_core.data`.

The conventions (balanced two-class samples labelled +-1, nested in ``n``; scale, then
standardize or centre, then normalize rows; statistics from the sample itself) are stated
in the package docstring. Host-side NumPy on purpose: data are prepared once, before any
JAX program, so nothing here needs to be traceable.

Internal to the package: the public names are re-exported by :mod:`lplr_core.data`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from .._validation import (
    check_bool,
    check_choice,
    check_int,
    check_sequence_of_ints,
    describe,
)

__all__ = [
    "Scale",
    "Split",
    "SCALES",
    "SPLITS",
    "Prep",
    "check_class_pair",
    "check_class_set",
    "check_dtype",
    "check_prep",
    "check_n_pair",
    "balanced_pair",
    "preprocess",
    "binary_sample",
]

#: How pixels are scaled: ``"unit"`` (divided by their maximum) or ``"raw"``.
Scale = Literal["unit", "raw"]
#: Which split of a data set: ``"train"`` or ``"test"``.
Split = Literal["train", "test"]
SCALES = ("unit", "raw")
SPLITS = ("train", "test")

# ---------------------------------------------------------------------------
# Validation of the arguments every loader shares
# ---------------------------------------------------------------------------

def check_class_pair(name: str, value: Any, num_classes: int = 10) -> tuple[int, int]:
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


def check_class_set(name: str, value: Any, num_classes: int = 10) -> tuple[int, ...]:
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


def check_dtype(dtype: Any) -> np.dtype:
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


@dataclass(frozen=True)
class Prep:
    scale: str
    center: bool
    standardize: bool
    normalize_rows: bool
    dtype: np.dtype


def check_prep(scale: Any, center: Any, standardize: Any, normalize_rows: Any,
               dtype: Any) -> Prep:
    return Prep(
        scale=check_choice("scale", scale, SCALES),
        center=check_bool("center", center),
        standardize=check_bool("standardize", standardize),
        normalize_rows=check_bool("normalize_rows", normalize_rows),
        dtype=check_dtype(dtype),
    )


def check_n_pair(n: Any, counts: tuple[int, int], pair: tuple[int, int], arg: str,
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

def balanced_pair(labels: np.ndarray, pair: tuple[int, int], n: int,
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


def preprocess(raw: np.ndarray, max_value: float, prep: Prep) -> jax.Array:
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


def binary_sample(images: np.ndarray, labels: np.ndarray, pair: tuple[int, int], n: Any,
                  seed: int, prep: Prep, max_value: float, *, arg: str,
                  source: str) -> tuple[jax.Array, jax.Array]:
    counts = (int(np.sum(labels == pair[0])), int(np.sum(labels == pair[1])))
    n = check_n_pair(n, counts, pair, arg, source)
    idx, sign = balanced_pair(labels, pair, n, seed)
    return preprocess(images[idx], max_value, prep), jnp.asarray(sign, dtype=prep.dtype)

