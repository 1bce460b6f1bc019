"""The reference empirical NTK the NTK tests compare with: explicit Jacobians by
``jax.jacrev`` of the flattened-parameter function, contracted in float64 NumPy."""
from __future__ import annotations

import jax
import numpy as np
from jax.flatten_util import ravel_pytree


def jacobian(apply_fn, params, x):
    """The explicit (n, p) Jacobian by jax.jacrev of the flattened-parameter function.

    Compiled as one program: run eagerly, ``jacrev`` dispatches (and, for every new shape,
    compiles) each of its primitives on its own, about a thousand small programs over the
    NTK test files."""
    flat, unravel = ravel_pytree(params)
    jac = jax.jit(jax.jacrev(lambda th, x_: apply_fn(unravel(th), x_)))
    return np.asarray(jac(flat, x), np.float64)


def reference_ntk(apply_fn, params, x1, x2=None):
    """J1 J2^T in float64 NumPy."""
    j1 = jacobian(apply_fn, params, x1)
    j2 = j1 if x2 is None else jacobian(apply_fn, params, x2)
    return j1 @ j2.T
