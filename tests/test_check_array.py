"""check_array: host inputs are checked on the host (no compiled program), device inputs with
one compiled count; both reject NaN/inf, including values a cast to the target dtype turns
into inf, with an error that names the argument."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lplr_core._validation import check_array


@pytest.mark.parametrize("value", [
    np.arange(7 * 13, dtype=np.float64).reshape(7, 13) / 3,
    np.arange(11 * 5, dtype=np.int32).reshape(11, 5),          # promoted to float
    [[1.5, 2.0, -3.0], [0.0, 4.0, 5.0]],                          # a nested list
    np.ones((3, 2, 2, 1), dtype=bool),
])
def test_host_input_is_checked_without_compiling(compile_events, value):
    arr = check_array("x", value, ndim=(2, 3, 4))
    assert isinstance(arr, jax.Array)
    assert arr.dtype == jnp.result_type(float)
    np.testing.assert_array_equal(np.asarray(arr), np.asarray(value, np.float64))
    assert compile_events == [], compile_events


@pytest.mark.parametrize("device", [False, True], ids=["numpy", "jax"])
@pytest.mark.parametrize("bad, count", [(np.nan, 1), (np.inf, 2), (-np.inf, 3)])
def test_non_finite_entries_are_counted_and_named(device, bad, count):
    value = np.zeros((4, 3))
    value.flat[:count] = bad
    value = jnp.asarray(value) if device else value
    with pytest.raises(ValueError, match=rf"x_train must contain only finite values; got "
                                         rf"{count} NaN/inf"):
        check_array("x_train", value)


@pytest.mark.parametrize("device", [False, True], ids=["numpy", "jax"])
def test_a_value_the_cast_turns_into_inf_is_rejected(device):
    value = np.array([[1.0, 1e300], [2.0, -1e300]])      # finite in float64, not in float32
    value = jnp.asarray(value) if device else value
    with pytest.raises(ValueError, match="got 2 NaN/inf"):
        check_array("y", value, dtype=np.float32)
    ok = check_array("y", value)                         # float64 (the suite enables x64)
    assert ok.dtype == jnp.float64 and float(ok[0, 1]) == 1e300


def test_finite_false_and_tracers_skip_the_value_check():
    arr = check_array("x", np.array([[np.nan, 1.0]]), finite=False)
    assert np.isnan(np.asarray(arr)[0, 0])
    out = jax.jit(lambda a: check_array("x", a) * 2)(jnp.array([[np.inf, 1.0]]))
    assert np.isinf(np.asarray(out)[0, 0])
