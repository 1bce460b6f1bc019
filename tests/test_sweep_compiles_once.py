"""A second gradient-descent sweep of the same shapes compiles nothing.

The live panels of chapters 1 and 4 run a sweep per slider move; when every call built its
batched program anew, a move to a width already seen recompiled the whole program (seconds
on 2 cores). Compilations are counted from JAX's own monitoring events.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lplr_core as lp


def _problem(width, n=12, d=5):
    model = lp.MLP((width,), activation="tanh")
    x = jax.random.normal(jax.random.PRNGKey(1), (n, d))
    y = jnp.sin(x[:, 0])
    params = lp.stack_params([model.init(jax.random.PRNGKey(s), d) for s in (0, 1)])
    return model, params, x, y


def _sweep(model, params, x, y, sizes=(0.05, 0.2)):
    return lp.gradient_descent_sweep(model.apply, params, x, y, step_sizes=list(sizes),
                                     steps=20, record_every=4, ntk_every=8, shard=False)


def test_repeated_sweep_compiles_nothing_and_gives_the_same_numbers(compile_events):
    model, params, x, y = _problem(7)
    first = _sweep(model, params, x, y)
    assert len(compile_events) > 0          # the counter sees real compilations
    compile_events.clear()
    again = _sweep(model, params, x, y)
    assert compile_events == []
    np.testing.assert_array_equal(first.loss, again.loss)
    # other step sizes of the same count: the same program, no compilation either
    compile_events.clear()
    other = _sweep(model, params, x, y, sizes=(0.1, 0.3))
    assert compile_events == []
    assert not np.array_equal(other.loss, first.loss)


def test_a_new_shape_still_compiles(compile_events):
    model, params, x, y = _problem(9)
    _sweep(model, params, x, y)
    compile_events.clear()
    model2, params2, x2, y2 = _problem(11)
    _sweep(model2, params2, x2, y2)
    assert len(compile_events) > 0
