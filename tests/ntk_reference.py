"""The reference empirical NTK the NTK tests compare with: explicit Jacobians by
``jax.jacrev``, flattened in parameter order (that of ``ravel_pytree``), contracted in
float64 NumPy."""
from __future__ import annotations

import functools

import jax
import numpy as np


@functools.lru_cache(maxsize=None)
def _jacobian_program(apply_fn):
    # One compiled program per function (and shapes): run eagerly, jacrev dispatches (and,
    # for every new shape, compiles) each of its primitives on its own, about a thousand
    # small programs over the NTK test files.
    return jax.jit(jax.jacrev(apply_fn))


def jacobian(apply_fn, params, x):
    """The explicit (n, p) Jacobian of ``apply_fn(params, x)`` in ``params``, its columns in
    the order of ``jax.flatten_util.ravel_pytree(params)`` (leaf by leaf, row-major)."""
    n = np.shape(x)[0]
    blocks = jax.tree_util.tree_leaves(_jacobian_program(apply_fn)(params, x))
    return np.concatenate([np.asarray(b, np.float64).reshape(n, -1) for b in blocks], axis=1)


def reference_ntk(apply_fn, params, x1, x2=None):
    """J1 J2^T in float64 NumPy."""
    j1 = jacobian(apply_fn, params, x1)
    j2 = j1 if x2 is None else jacobian(apply_fn, params, x2)
    return j1 @ j2.T
