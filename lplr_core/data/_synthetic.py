"""Synthetic data: a fixed random teacher network, and a smooth target on the sphere.

Generated on the host with NumPy from ``numpy.random.default_rng``, so a seed gives the
same arrays on every platform (for a given NumPy version).

Internal to the package: the public names are re-exported by :mod:`lplr_core.data`.
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from .._validation import check_bool, check_choice, check_int, check_real
from ._prep import check_dtype

__all__ = ["Teacher", "Inputs", "SphereTarget", "teacher_student", "sphere_data"]

#: The teacher network of :func:`teacher_student`.
Teacher = Literal["linear", "tanh"]
#: The input distribution of :func:`teacher_student`.
Inputs = Literal["sphere", "gaussian"]
#: The target of :func:`sphere_data`.
SphereTarget = Literal["sin", "linear", "quadratic"]


# Separate streams for inputs and teacher: with a shared seed value, the same
# Gaussian draws would otherwise appear both as a teacher weight and as an input.
_INPUT_STREAM = 0
_TEACHER_STREAM = 1


def _sphere(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    g = rng.standard_normal((n, d))
    return g * (math.sqrt(d) / np.linalg.norm(g, axis=1, keepdims=True))


def teacher_student(n: int, d: int, seed: int = 0, *, teacher: Teacher = "tanh",
                    width: int = 32, teacher_seed: int = 0, inputs: Inputs = "sphere",
                    noise: float = 0.0, classify: bool = False, dtype: DTypeLike | None = None,
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
    dt = check_dtype(dtype)

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


def sphere_data(n: int, d: int, seed: int = 0, *, target: SphereTarget = "sin",
                frequency: float = 1.0, noise: float = 0.0, dtype: DTypeLike | None = None,
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
    dt = check_dtype(dtype)

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

