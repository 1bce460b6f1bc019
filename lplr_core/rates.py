r"""The per-step factors of the PL linear rate, in one place.

This module is the one home of :math:`q = 1 - 2\mu\eta(1 - \beta\eta/2)`.

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

from typing import Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lplr_core._validation import check_choice, check_real

__all__ = ["RATE_FORMS", "descent_factor", "sharp_rate_factor", "simple_rate_factor",
           "rate_factor"]

#: The forms of :func:`rate_factor`.
RATE_FORMS = ("sharp", "simple")
RateForm = Literal["sharp", "simple"]


def descent_factor(step_size, beta):
    r"""The descent lemma's factor :math:`c(\eta) = 1 - \beta\eta/2`.

    Positive iff :math:`\eta < 2/\beta`.

    A pure kernel (no validation): floats in, float out; arrays in, array out.
    """
    return 1.0 - beta * step_size / 2.0


def sharp_rate_factor(step_size, mu, beta):
    r"""The sharp PL factor :math:`1 - 2\mu\eta\,(1 - \beta\eta/2)` (a pure kernel).

    Args:
      step_size: :math:`\eta`.
      mu: the PL constant :math:`\mu`.
      beta: the smoothness constant :math:`\beta`.
    """
    return 1.0 - 2.0 * mu * step_size * descent_factor(step_size, beta)


def simple_rate_factor(step_size, mu):
    r"""The simple PL factor :math:`1 - \eta\mu` (a pure kernel, no validation)."""
    return 1.0 - step_size * mu


def rate_factor(step_size: ArrayLike, mu: ArrayLike, beta: ArrayLike | None = None, *,
                form: RateForm = "sharp") -> jax.Array:
    r"""The per-step factor :math:`q` of the PL rate, :math:`f_{t+1} - f^* \le q\,(f_t - f^*)`.

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
    form = check_choice("form", form, RATE_FORMS)
    # types always; values (returned as floats) only when concrete (a tracer comes back as is)
    eta = check_real("step_size", step_size, minimum=0.0, strict_min=True)
    m = check_real("mu", mu, minimum=0.0, strict_min=True)
    if beta is None:
        if form == "sharp":
            raise ValueError("beta must be given (a real number > 0) for form='sharp'; got None")
        b = None
    else:
        b = check_real("beta", beta, minimum=0.0, strict_min=True)
    concrete = all(isinstance(v, float) for v in (eta, m) + (() if b is None else (b,)))
    if not concrete:
        eta = b = m = None
    if b is not None and m > b * (1 + 1e-12):
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
