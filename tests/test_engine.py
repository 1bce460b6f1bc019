"""lplr_core.engine: the one update rule (gd_step, descend) and the one runner behind GD and SGD.

References are NumPy and plain Python loops.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_variants import assert_is_jax_array, assert_vmap_matches, variant, with_variants
from lplr_core import MLP, training
from lplr_core.engine import descend, gd_step


def _tree(dtype=jnp.float64):
    rng = np.random.default_rng(0)
    return {"w": jnp.asarray(rng.normal(size=(3, 2)), dtype),
            "layers": [jnp.asarray(rng.normal(size=4), dtype), jnp.asarray(rng.normal(), dtype)]}


@with_variants
def test_gd_step_is_theta_minus_eta_g(variant_name):
    params, grads = _tree(), jax.tree_util.tree_map(lambda a: 2.0 * a + 1.0, _tree())
    step = variant(gd_step, variant_name)
    out = step(params, grads, jnp.asarray(0.3))
    assert_is_jax_array(out)
    assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(params)
    for o, p, g in zip(*(jax.tree_util.tree_leaves(t) for t in (out, params, grads))):
        # to round-off: under jit XLA may fuse the multiply-add
        np.testing.assert_allclose(np.asarray(o), np.asarray(p) - 0.3 * np.asarray(g),
                                   rtol=1e-15, atol=1e-15)


def test_gd_step_keeps_each_leafs_dtype():
    params = _tree(jnp.float32)
    out = gd_step(params, params, jnp.asarray(0.1, jnp.float64))
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(out))


def test_gd_step_under_vmap_and_grad():
    params = jax.tree_util.tree_map(lambda a: jnp.stack([a, 2 * a, -a]), _tree())
    grads = jax.tree_util.tree_map(jnp.ones_like, params)
    etas = jnp.asarray([0.1, 0.2, 0.5])
    assert_vmap_matches(gd_step, (params, grads, etas), (0, 0, 0), rtol=0, atol=0)
    # d/d eta of sum(theta - eta g) = -sum(g)
    one, g = _tree(), jax.tree_util.tree_map(lambda a: a ** 2, _tree())
    d = jax.grad(lambda eta: sum(jnp.sum(leaf) for leaf in
                                 jax.tree_util.tree_leaves(gd_step(one, g, eta))))(0.3)
    want = -sum(np.sum(np.asarray(leaf)) for leaf in jax.tree_util.tree_leaves(g))
    assert float(d) == pytest.approx(want, rel=1e-12)


@with_variants
def test_descend_matches_a_python_loop(variant_name):
    target = _tree()

    def grad(p):  # gradient of 1/2 ||p - target||^2 + 1/4 sum p^4
        return jax.tree_util.tree_map(lambda a, t: a - t + a ** 3, p, target)

    start = jax.tree_util.tree_map(lambda a: 0.5 * a, target)
    run = variant(lambda p, n: descend(lambda q, k: (grad(q), k), p, 0.05, n), variant_name)
    want = start
    for _ in range(7):
        want = jax.tree_util.tree_map(lambda a, g: np.asarray(a) - 0.05 * np.asarray(g),
                                      want, grad(want))
    got = run(start, 7)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-14, atol=1e-15)
    # zero steps: the start itself
    for a, b in zip(jax.tree_util.tree_leaves(run(start, 0)), jax.tree_util.tree_leaves(start)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_descend_carries_the_key():
    """A random direction sees a fresh key at every step, as SGD's mini-batches do."""
    def direction(p, key):
        key, sub = jax.random.split(key)
        return jax.random.normal(sub, p.shape), key

    got = descend(direction, jnp.zeros(3), 1.0, 4, jax.random.PRNGKey(5))
    key, want = jax.random.PRNGKey(5), np.zeros(3)
    for _ in range(4):
        key, sub = jax.random.split(key)
        want = want - np.asarray(jax.random.normal(sub, (3,)))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-14)


# ----------------------------------------------------------------- one runner for GD and SGD

@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(3)
    x, y = jnp.asarray(rng.normal(size=(12, 4))), jnp.asarray(rng.normal(size=12))
    model = MLP((8,), "tanh")
    return model, model.init(0, 4), x, y


def test_sgd_with_the_full_batch_is_gradient_descent(small):
    """Full batch = one batch of all n samples per step: the same run up to summation order."""
    model, params, x, y = small
    gd = training.gradient_descent(model.apply, params, x, y, step_size=0.05, steps=15,
                                   record_every=5)
    full = training.sgd(model.apply, params, x, y, step_size=0.05, steps=15, batch_size=12,
                        record_every=5, key=1)
    for name in ("loss", "grad_norm_sq", "drift", "pl_ratio", "steps"):
        np.testing.assert_allclose(getattr(full, name), getattr(gd, name), rtol=1e-12,
                                   err_msg=name)
    for a, b in zip(jax.tree_util.tree_leaves(full.params), jax.tree_util.tree_leaves(gd.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-14)
    assert gd.config["algorithm"] == "gradient_descent" and "batch_size" not in gd.config
    assert full.config["algorithm"] == "sgd" and full.config["batch_size"] == 12


def test_runners_accept_array_scalars_for_step_size(small):
    model, params, x, y = small
    ref = training.gradient_descent(model.apply, params, x, y, step_size=0.05, steps=3)
    for eta in (np.float64(0.05), jnp.asarray(0.05), np.asarray(0.05)):
        run = training.gradient_descent(model.apply, params, x, y, step_size=eta, steps=3)
        np.testing.assert_array_equal(run.loss, ref.loss)
        assert isinstance(run.config["step_size"], float)
    with pytest.raises(ValueError, match="step_size"):
        training.sgd(model.apply, params, x, y, step_size=jnp.asarray(-0.1), steps=3,
                     batch_size=4)
    with pytest.raises(ValueError, match="batch_size"):
        training.sgd(model.apply, params, x, y, step_size=0.1, steps=3, batch_size=13)
