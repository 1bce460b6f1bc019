"""lplr_core.rates: the one home of the PL rate factors (closed forms, ranges, jit/vmap/grad)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_variants import assert_is_jax_array, assert_vmap_matches, variant, with_variants
from lplr_core.rates import (
    descent_factor,
    rate_factor,
    sharp_rate_factor,
    simple_rate_factor,
)


def test_kernels_are_plain_arithmetic_on_floats():
    # Python floats in, Python floats out (double precision for host-side bounds).
    c = descent_factor(0.1, 4.0)
    assert isinstance(c, float) and c == 1 - 4.0 * 0.1 / 2
    q = sharp_rate_factor(0.1, 0.3, 4.0)
    assert isinstance(q, float) and q == pytest.approx(1 - 2 * 0.3 * 0.1 * (1 - 0.2), rel=1e-15)
    assert simple_rate_factor(0.1, 0.3) == pytest.approx(0.97, rel=1e-15)
    # NumPy arrays in, arrays out, elementwise
    etas = np.linspace(0.01, 0.4, 7)
    np.testing.assert_allclose(sharp_rate_factor(etas, 0.3, 4.0),
                               1 - 2 * 0.3 * etas + 0.3 * 4.0 * etas ** 2, rtol=1e-14)


@with_variants
def test_rate_factor_is_jax_native(variant_name):
    fn = variant(lambda eta, mu, beta: rate_factor(eta, mu, beta), variant_name)
    got = fn(jnp.asarray(0.1), jnp.asarray(0.3), jnp.asarray(4.0))
    assert_is_jax_array(got)
    assert got.shape == ()
    assert float(got) == pytest.approx(1 - 2 * 0.3 * 0.1 * (1 - 0.2), rel=1e-12)
    simple = variant(lambda eta, mu: rate_factor(eta, mu, form="simple"), variant_name)
    assert float(simple(jnp.asarray(0.1), jnp.asarray(0.3))) == pytest.approx(0.97, rel=1e-12)


def test_rate_factor_under_vmap_and_grad():
    etas = jnp.linspace(0.01, 0.45, 9)
    assert_vmap_matches(lambda e: rate_factor(e, 0.3, 4.0), (etas,), 0, rtol=1e-12)
    # dq/deta = -2 mu + 2 mu beta eta, zero at eta = 1/beta
    d = jax.grad(lambda e: rate_factor(e, 0.3, 4.0))(0.1)
    assert float(d) == pytest.approx(-2 * 0.3 + 2 * 0.3 * 4.0 * 0.1, rel=1e-12)
    assert abs(float(jax.grad(lambda e: rate_factor(e, 0.3, 4.0))(0.25))) < 1e-12
    dmu = jax.grad(lambda m: rate_factor(0.1, m, 4.0, form="simple"))(0.3)
    assert float(dmu) == pytest.approx(-0.1, rel=1e-12)


def test_rate_factor_accepts_numpy_and_jax_scalars():
    want = 1 - 2 * 0.3 * 0.1 * (1 - 0.2)
    for eta in (np.float64(0.1), np.asarray(0.1), jnp.asarray(0.1), 0.1):
        assert float(rate_factor(eta, 0.3, 4)) == pytest.approx(want, rel=1e-12)


def test_rate_factor_value_checks_only_when_concrete():
    with pytest.raises(ValueError, match="step_size must be < 2/beta"):
        rate_factor(0.5, 0.1, 4.0)
    # under jit the value is not known: the formula's value, no error
    q = jax.jit(lambda e: rate_factor(e, 0.1, 4.0))(0.5)
    assert float(q) == pytest.approx(1 - 2 * 0.1 * 0.5 * (1 - 1.0), abs=1e-15)


def test_rate_factor_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="step_size must be <= 1/beta"):
        rate_factor(0.3, 0.1, 4.0, form="simple")
    with pytest.raises(ValueError, match="mu must be <= beta"):
        rate_factor(0.1, 5.0, 4.0)
    with pytest.raises(ValueError, match="form"):
        rate_factor(0.1, 0.1, 4.0, form="tight")
    with pytest.raises(ValueError, match="beta must be given"):
        rate_factor(0.1, 0.1)
    with pytest.raises(ValueError, match="step_size"):
        rate_factor(-0.1, 0.1, 4.0)
    with pytest.raises(ValueError, match="beta"):
        rate_factor(0.1, 0.1, float("nan"))
    with pytest.raises(TypeError, match="mu"):
        rate_factor(0.1, "0.1", 4.0)
    with pytest.raises(TypeError, match="step_size"):
        rate_factor(True, 0.1, 4.0)
    with pytest.raises(TypeError, match="beta"):
        rate_factor(0.1, 0.1, np.ones(3))
