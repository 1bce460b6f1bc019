r"""The update rule of every gradient-descent runner in the core, in one place.

Gradient descent, SGD, the step-size sweeps (:mod:`lplr_core.training`), gradient descent on
a plain function (:func:`lplr_core.objectives.gradient_descent_fn`) and the quasi-convexity
path (:func:`lplr_core.lqcr.quasi_convexity_path`) all take the step

.. math:: \theta_{t+1} = \theta_t - \eta\, g_t

with :math:`g_t` the gradient (or, for SGD, its unbiased mini-batch estimate). This module is
its one home: :func:`gd_step` is the step (``tree_math.axpy(-eta, g, theta)``), and
:func:`descend` repeats it a given number of times inside one ``lax.fori_loop`` (the runners
use it to recompute the last finite iterate of a diverged run). Both are pure JAX kernels:
no validation, no host sync, safe under ``jax.jit``, ``jax.vmap`` and ``jax.grad``; the
runners that call them validate their own inputs.

Examples:
    >>> import jax, jax.numpy as jnp
    >>> from lplr_core.engine import gd_step, descend
    >>> theta = {"w": jnp.array([1.0, -2.0])}
    >>> step = gd_step(theta, {"w": jnp.array([0.5, 0.5])}, 0.1)
    >>> [round(v, 4) for v in step["w"].tolist()]
    [0.95, -2.05]
    >>> grad = jax.grad(lambda p: 0.5 * jnp.sum(p["w"] ** 2))   # gradient of |w|^2/2 is w
    >>> out = descend(lambda p, key: (grad(p), key), theta, 0.5, 3)
    >>> [round(v, 4) for v in out["w"].tolist()]                # w * (1 - 0.5)^3
    [0.125, -0.25]
"""

from __future__ import annotations

from typing import Callable

import jax
from jax.typing import ArrayLike

from lplr_core import tree_math
from lplr_core.tree_math import PyTree

__all__ = ["gd_step", "descend"]


def gd_step(params: PyTree, grads: PyTree, step_size: ArrayLike) -> PyTree:
    r"""One gradient step :math:`\theta - \eta\,g`, leafwise, each leaf keeping its dtype.

    Args:
      params: :math:`\theta`, a pytree of arrays (or one array).
      grads: :math:`g`, the same structure.
      step_size: :math:`\eta` (a Python float or a 0-d array; for SGD the caller passes the
        scaled step :math:`\eta\,n/b`).
    """
    return tree_math.axpy(-step_size, grads, params)


def descend(direction: Callable, params: PyTree, step_size: ArrayLike, count,
            key: jax.Array | None = None) -> PyTree:
    r"""``count`` steps :math:`\theta \leftarrow \theta - \eta\,g(\theta)` in one ``lax.fori_loop``.

    Args:
      direction: ``direction(params, key) -> (g, key)``: the step's gradient (or gradient
        estimate) and the random key to carry to the next step (return ``key`` unchanged for
        a deterministic direction).
      params: :math:`\theta_0`.
      step_size: :math:`\eta`.
      count: the number of steps (an int or a traced integer scalar).
      key: the first key handed to ``direction`` (``None`` when it needs none).

    Returns:
      :math:`\theta_{\text{count}}` (the key is dropped).
    """
    def body(_, state):
        params, key = state
        grads, key = direction(params, key)
        return gd_step(params, grads, step_size), key

    return jax.lax.fori_loop(0, count, body, (params, key))[0]
