r"""The per-step factors of the PL linear rate: the one home of :math:`1 - 2\mu\eta(1 - \beta\eta/2)`.

From the descent lemma and the PL inequality (the book's derivation D2, after Polyak 1963 and
Karimi, Nutini & Schmidt 2016), gradient descent with step :math:`\eta` on a
:math:`\beta`-smooth function that satisfies the PL inequality with constant :math:`\mu` obeys
:math:`f_{t+1} - f^* \le q\,(f_t - f^*)` with

* the *sharp* factor :math:`q = 1 - 2\mu\eta\,c(\eta)`, valid for :math:`0 < \eta < 2/\beta`,
  where :math:`c(\eta) = 1 - \beta\eta/2` is the *descent factor* (the descent lemma's
  :math:`L_{t+1} \le L_t - \eta\,c(\eta)\,\|\nabla L_t\|^2`);
* the *simple* factor :math:`q = 1 - \eta\mu`, valid for :math:`0 < \eta \le 1/\beta`.

The kernels :func:`descent_factor`, :func:`sharp_rate_factor` and :func:`simple_rate_factor`
are plain arithmetic: on Python floats they return Python floats (full double precision, for
host-side bounds), on arrays they return arrays, and they are safe under ``jax.jit``,
``jax.vmap`` and ``jax.grad``. They validate nothing. :func:`rate_factor` is the validated
public form; it returns a 0-d ``jax.Array``.

Examples:
    >>> from lplr_core.rates import rate_factor, descent_factor
    >>> round(float(rate_factor(0.5, 1.0, 2.0)), 3)    # eta = 1/beta: q = 1 - mu/beta
    0.5
    >>> descent_factor(0.5, 2.0)
    0.5
"""

from __future__ import annotations

import math
import numbers
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = ["RATE_FORMS", "descent_factor", "sharp_rate_factor", "simple_rate_factor",
           "rate_factor"]

#: The forms of :func:`rate_factor`.
RATE_FORMS = ("sharp", "simple")
RateForm = Literal["sharp", "simple"]


def descent_factor(step_size, beta):
    r"""The descent lemma's factor :math:`c(\eta) = 1 - \beta\eta/2` (positive iff :math:`\eta < 2/\beta`).

    A pure kernel (no validation): floats in, float out; arrays in, array out.
    """
    return 1.0 - beta * step_size / 2.0


def sharp_rate_factor(step_size, mu, beta):
    r"""The sharp PL factor :math:`1 - 2\mu\eta\,(1 - \beta\eta/2)` (a pure kernel, no validation)."""
    return 1.0 - 2.0 * mu * step_size * descent_factor(step_size, beta)


def simple_rate_factor(step_size, mu):
    r"""The simple PL factor :math:`1 - \eta\mu` (a pure kernel, no validation)."""
    return 1.0 - step_size * mu


def _is_concrete(value) -> bool:
    return not isinstance(value, jax.core.Tracer)


def _check_scalar(name: str, value) -> None:
    """Static check (works on tracers): a real scalar, not a bool."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number; got {value!r} (type bool)")
    if isinstance(value, numbers.Real):
        return
    if isinstance(value, (np.ndarray, np.generic, jax.Array)) and np.shape(value) == () and (
            jnp.issubdtype(value.dtype, jnp.floating) or jnp.issubdtype(value.dtype, jnp.integer)):
        return
    shape = getattr(value, "shape", None)
    what = (f"array of shape {tuple(shape)} and dtype {value.dtype}" if shape is not None
            else f"{value!r} (type {type(value).__name__})")
    raise TypeError(f"{name} must be a real scalar (a float or a 0-d array); got {what}")


def _positive(name: str, value) -> float | None:
    """The value as a float when concrete (checked finite and > 0), else ``None``."""
    if not _is_concrete(value):
        return None
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite real number > 0; got {v}")
    return v


def rate_factor(step_size: ArrayLike, mu: ArrayLike, beta: ArrayLike | None = None, *,
                form: RateForm = "sharp") -> jax.Array:
    r"""The per-step factor :math:`q` of the PL linear rate, :math:`f_{t+1} - f^* \le q\,(f_t - f^*)`.

    * ``form="sharp"``: :math:`q = 1 - 2\mu\eta(1 - \beta\eta/2)`, valid for
      :math:`0 < \eta < 2/\beta`; smallest at :math:`\eta = 1/\beta`, where
      :math:`q = 1 - \mu/\beta`;
    * ``form="simple"``: :math:`q = 1 - \eta\mu`, valid for :math:`0 < \eta \le 1/\beta`
      (there it is at least the sharp factor).

    With :math:`\mu \le \beta` (always true of a non-constant :math:`\beta`-smooth PL
    function) the factor lies in :math:`[1 - \mu/\beta, 1)`.

    Works eagerly and under ``jax.jit``, ``jax.vmap`` and ``jax.grad``. Types are checked
    always; the values (positive, :math:`\mu \le \beta`, :math:`\eta` in range) only when
    they are concrete, so under a transformation an out-of-range :math:`\eta` gives the
    formula's value, not an error.

    Args:
      step_size: :math:`\eta > 0`.
      mu: the PL constant, :math:`0 < \mu \le \beta`.
      beta: the smoothness constant :math:`\beta > 0`; may be ``None`` only for
        ``form="simple"`` (the range :math:`\eta \le 1/\beta` is then not checked).
      form: ``"sharp"`` or ``"simple"``.

    Returns:
      :math:`q`, a 0-d ``jax.Array``.

    Raises:
      ValueError: if :math:`\eta \ge 2/\beta` (``"sharp"``) or :math:`\eta > 1/\beta`
        (``"simple"``): the descent lemma then guarantees no decrease and there is no
        rate to give.

    Examples:
      >>> from lplr_core.rates import rate_factor
      >>> round(float(rate_factor(0.1, 1.0, 4.0)), 4)
      0.84
      >>> round(float(rate_factor(0.1, 1.0, 4.0, form="simple")), 4)
      0.9
    """
    if not isinstance(form, str) or form not in RATE_FORMS:
        raise ValueError(f"form must be one of {RATE_FORMS}; got {form!r}")
    _check_scalar("step_size", step_size)
    _check_scalar("mu", mu)
    if beta is None:
        if form == "sharp":
            raise ValueError("beta must be given (a real number > 0) for form='sharp'; got None")
    else:
        _check_scalar("beta", beta)
    eta = _positive("step_size", step_size)
    b = None if beta is None else _positive("beta", beta)
    m = _positive("mu", mu)
    if b is not None and m is not None and m > b * (1 + 1e-12):
        raise ValueError(f"mu must be <= beta = {b:.6g} (a beta-smooth function cannot be PL "
                         f"with a larger constant); got mu={m}")
    if form == "simple":
        if b is not None and eta is not None and eta > (1.0 / b) * (1 + 1e-12):
            raise ValueError(f"step_size must be <= 1/beta = {1.0 / b:.6g} for the factor "
                             f"1 - eta*mu; got {eta}. Use form='sharp' up to 2/beta.")
        return jnp.asarray(simple_rate_factor(step_size, mu))
    if b is not None and eta is not None and eta >= 2.0 / b:
        raise ValueError(f"step_size must be < 2/beta = {2.0 / b:.6g}; got {eta}: at or "
                         "beyond 2/beta the descent lemma guarantees no decrease, so there is no "
                         "rate (gradient descent may diverge)")
    return jnp.asarray(sharp_rate_factor(step_size, mu, beta))
