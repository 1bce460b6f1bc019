r"""Arithmetic on parameter pytrees: the one home of the vector operations the core uses.

Parameters are pytrees of arrays (a list of dicts for :class:`~lplr_core.models.MLP`, any
nesting for a user's model). The core treats such a pytree as one vector
:math:`\theta \in \mathbb R^p`; these are the operations it needs on it. Every function
here is a pure JAX kernel: it returns ``jax.Array`` (or a pytree of them), never syncs to the
host, and is safe under ``jax.jit``, ``jax.vmap`` and ``jax.grad``. None validates its inputs
(the public functions that call them do).

Examples:
    >>> import jax.numpy as jnp
    >>> from lplr_core import tree_math as tm
    >>> a = {"w": jnp.array([3.0, 0.0]), "b": jnp.array(4.0)}
    >>> float(tm.norm(a))
    5.0
    >>> float(tm.vdot(a, tm.sub(a, a)))
    0.0
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

#: A pytree of arrays (the parameters of a model, or a direction in parameter space).
PyTree = Any

__all__ = ["PyTree", "norm", "norm_sq", "sub", "add", "scale", "axpy", "vdot", "zeros_like",
           "random_direction", "project_to_sphere", "size"]


def _leaves(tree: PyTree) -> list:
    return jax.tree_util.tree_leaves(tree)


def norm_sq(tree: PyTree) -> jax.Array:
    r"""Squared Euclidean norm :math:`\|\theta\|^2` of the whole pytree as one vector."""
    leaves = _leaves(tree)
    if not leaves:
        return jnp.zeros(())
    return sum(jnp.sum(jnp.square(jnp.abs(leaf))) for leaf in leaves)


def norm(tree: PyTree) -> jax.Array:
    r"""Euclidean norm :math:`\|\theta\|` of the whole pytree as one vector."""
    return jnp.sqrt(norm_sq(tree))


def sub(a: PyTree, b: PyTree) -> PyTree:
    """Leafwise ``a - b`` (same structure)."""
    return jax.tree_util.tree_map(lambda u, v: u - v, a, b)


def add(a: PyTree, b: PyTree) -> PyTree:
    """Leafwise ``a + b`` (same structure)."""
    return jax.tree_util.tree_map(lambda u, v: u + v, a, b)


def scale(alpha: Any, tree: PyTree) -> PyTree:
    """``alpha * tree``, each leaf keeping its dtype."""
    return jax.tree_util.tree_map(lambda u: (alpha * u).astype(jnp.result_type(u)), tree)


def axpy(alpha: Any, x: PyTree, y: PyTree) -> PyTree:
    """``alpha * x + y`` leafwise (the BLAS name), each leaf keeping the dtype of ``y``.

    The gradient step :math:`\\theta - \\eta\\,g` is ``axpy(-eta, g, theta)``.
    """
    return jax.tree_util.tree_map(lambda u, v: (alpha * u + v).astype(jnp.result_type(v)), x, y)


def vdot(a: PyTree, b: PyTree) -> jax.Array:
    r"""Inner product :math:`\langle a, b\rangle` of two pytrees of the same structure."""
    pairs = list(zip(_leaves(a), _leaves(b)))
    if not pairs:
        return jnp.zeros(())
    return sum(jnp.vdot(u, v) for u, v in pairs)


def zeros_like(tree: PyTree) -> PyTree:
    """A pytree of zeros with the structure, shapes and dtypes of ``tree``."""
    return jax.tree_util.tree_map(jnp.zeros_like, tree)


def size(tree: PyTree) -> int:
    """Number of scalar parameters :math:`p` (static: shapes only, safe under ``jit``)."""
    return sum(int(jnp.size(leaf)) for leaf in _leaves(tree))


def project_to_sphere(delta: PyTree, radius: Any) -> PyTree:
    r"""``delta`` rescaled to norm ``radius`` (``delta`` must be non-zero)."""
    return scale(radius / norm(delta), delta)


def random_direction(key: jax.Array, tree: PyTree, radius: Any = 1.0) -> PyTree:
    r"""A point uniform on the sphere :math:`\{\delta: \|\delta\| = r\}` in the space of ``tree``.

    A standard Gaussian in every leaf (in the leaf's dtype), normalised as one vector: its
    direction is uniform on the sphere of :math:`\mathbb R^p`.
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    keys = jax.random.split(key, len(leaves))
    noise = [jax.random.normal(k, jnp.shape(leaf), jnp.result_type(leaf))
             for k, leaf in zip(keys, leaves)]
    return project_to_sphere(jax.tree_util.tree_unflatten(treedef, noise), radius)
