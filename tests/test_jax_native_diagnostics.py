"""The JAX-native rule for lplr_core.diagnostics and lplr_core.losses (issue 10, section 1).

Every public numerical function: the same value eagerly and under ``jax.jit`` (checked against
NumPy or a closed form written here, not against the library), a ``jax.Array`` result,
``jax.vmap`` over a batch equal to a loop, ``jax.grad`` where differentiable (against
``jax.jacrev`` closed forms or central finite differences in float64), and validation that
still names the argument under ``jit`` for a bad static input.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jax_variants import assert_is_jax_array, assert_vmap_matches, variant, with_variants
from lplr_core import diagnostics as dg
from lplr_core import losses

RNG = np.random.default_rng(7)
N, D, M = 6, 3, 5


def apply_fn(params, x):
    """A two-layer tanh network written here (independent of lplr_core.models)."""
    return jnp.tanh(x @ params["w1"] + params["b1"]) @ params["w2"] / np.sqrt(M)


def make_params(seed):
    r = np.random.default_rng(seed)
    return {"w1": jnp.asarray(r.normal(size=(D, M))), "b1": jnp.asarray(r.normal(size=M)),
            "w2": jnp.asarray(r.normal(size=M))}


PARAMS = make_params(0)
X = jnp.asarray(RNG.normal(size=(N, D)))
Y = jnp.asarray(RNG.normal(size=N))


def np_residual(params, x=X, y=Y):
    h = np.tanh(np.asarray(x) @ np.asarray(params["w1"]) + np.asarray(params["b1"]))
    return h @ np.asarray(params["w2"]) / np.sqrt(M) - np.asarray(y)


def jacobian(params, x=X):
    flat, unravel = ravel_pytree(params)
    return np.asarray(jax.jacrev(lambda v: apply_fn(unravel(v), x))(flat))


def np_loss(params):
    u = np_residual(params)
    return 0.5 * float(u @ u)


def np_pl_ratio(params, loss_star=0.0):
    u, j = np_residual(params), jacobian(params)
    g = j.T @ u
    return float(g @ g) / (2 * (np_loss(params) - loss_star))


def sym(a):
    return 0.5 * (a + a.T)


K_SYM = RNG.normal(size=(N, N))
K_SYM = jnp.asarray(K_SYM @ K_SYM.T + np.eye(N))
K_SYM0 = jnp.asarray(np.asarray(K_SYM) + 0.3 * sym(RNG.normal(size=(N, N))))
K_RECT = jnp.asarray(RNG.normal(size=(N, N + 2)))


# ------------------------------------------------------------ eager vs jit, value and type

SCALAR_CASES = {
    "loss": (lambda: dg.loss(apply_fn, PARAMS, X, Y), lambda: np_loss(PARAMS)),
    "losses.loss": (lambda: losses.loss(apply_fn, PARAMS, X, Y), lambda: np_loss(PARAMS)),
    "gradient_norm_sq": (lambda: dg.gradient_norm_sq(apply_fn, PARAMS, X, Y),
                         lambda: float(np.sum((jacobian(PARAMS).T @ np_residual(PARAMS)) ** 2))),
    "pl_ratio": (lambda: dg.pl_ratio(apply_fn, PARAMS, X, Y, loss_star=0.1),
                 lambda: np_pl_ratio(PARAMS, 0.1)),
    "losses.pl_ratio": (lambda: losses.pl_ratio(apply_fn, PARAMS, X, Y, 0.1),
                        lambda: np_pl_ratio(PARAMS, 0.1)),
    "pl_ratio_from_values": (lambda: dg.pl_ratio_from_values(jnp.asarray(2.0), jnp.asarray(3.0),
                                                             0.5), lambda: 3.0 / (2 * 1.5)),
    "rayleigh_quotient": (lambda: dg.rayleigh_quotient(K_SYM, Y),
                          lambda: float(np.asarray(Y) @ np.asarray(K_SYM) @ np.asarray(Y)
                                        / (np.asarray(Y) @ np.asarray(Y)))),
    "parameter_drift": (lambda: dg.parameter_drift(make_params(1), PARAMS),
                        lambda: float(np.linalg.norm(ravel_pytree(make_params(1))[0]
                                                     - ravel_pytree(PARAMS)[0]))),
    "parameter_drift_relative": (
        lambda: dg.parameter_drift(make_params(1), PARAMS, relative=True),
        lambda: float(np.linalg.norm(ravel_pytree(make_params(1))[0] - ravel_pytree(PARAMS)[0])
                      / np.linalg.norm(ravel_pytree(PARAMS)[0]))),
    "kernel_drift": (lambda: dg.kernel_drift(K_SYM, K_SYM0),
                     lambda: float(np.linalg.norm(np.asarray(K_SYM) - np.asarray(K_SYM0), 2))),
    "operator_norm_sym": (lambda: dg.operator_norm(-K_SYM),
                          lambda: float(np.linalg.norm(np.asarray(K_SYM), 2))),
    "operator_norm_rect": (lambda: dg.operator_norm(K_RECT),
                           lambda: float(np.linalg.norm(np.asarray(K_RECT), 2))),
    "certified_radius": (lambda: dg.certified_radius(2.0, 8.0), lambda: 0.25),
    "certified_radius_linear": (lambda: dg.certified_radius(2.0, 0.0), lambda: np.inf),
    "certified_radius_negative": (lambda: dg.certified_radius(-1.0, 3.0), lambda: 0.0),
    "certificate": (lambda: dg.certificate(2.0, 8.0, 0.125), lambda: 1.0),
    "kernel_distance": (lambda: dg.kernel_distance(K_SYM, K_SYM0),
                        lambda: 1 - float(np.sum(np.asarray(K_SYM) * np.asarray(K_SYM0))
                                          / (np.linalg.norm(K_SYM) * np.linalg.norm(K_SYM0)))),
    "kernel_target_alignment": (
        lambda: dg.kernel_target_alignment(K_SYM, Y),
        lambda: float(np.asarray(Y) @ np.asarray(K_SYM) @ np.asarray(Y)
                      / (np.linalg.norm(K_SYM) * (np.asarray(Y) @ np.asarray(Y))))),
    "tree_norm": (lambda: dg.tree_norm(PARAMS),
                  lambda: float(np.linalg.norm(ravel_pytree(PARAMS)[0]))),
    "lipschitz_along_path": (
        lambda: dg.lipschitz_along_path(jnp.array([0.0, 1.0, 3.0, np.nan]),
                                        jnp.array([0.0, 2.0, 4.0, 1.0])),
        lambda: 0.75),
}


ARRAY_CASES = {
    "residual": (lambda: dg.residual(apply_fn, PARAMS, X, Y), lambda: np_residual(PARAMS)),
    "lower_envelope": (lambda: dg.lower_envelope(jnp.array([np.nan, 3.0, 4.0, np.nan, 2.0, 5.0]),
                                                 1),
                       lambda: np.array([3.0, 3.0, 3.0, 2.0, 2.0])),
    "lower_envelope_leading_nan": (lambda: dg.lower_envelope(jnp.array([np.nan, np.nan, 1.0])),
                                   lambda: np.array([np.nan, np.nan, 1.0])),
    "certificate_curve": (lambda: dg.certificate(2.0, 8.0, jnp.array([0.0, 0.25, 0.5])),
                          lambda: np.array([2.0, 0.0, -2.0])),
    "pl_ratio_values": (lambda: dg.pl_ratio(jnp.array([1.0, 0.0, 2.0]),
                                            jnp.array([4.0, 1.0, 2.0])),
                        lambda: np.array([2.0, np.nan, 0.5])),
}


@with_variants
@pytest.mark.parametrize("case", sorted({**SCALAR_CASES, **ARRAY_CASES}))
def test_kernels_eager_and_jit(case, variant_name):
    fn, want = {**SCALAR_CASES, **ARRAY_CASES}[case]
    got, expected = variant(fn, variant_name)(), np.asarray(want())
    assert_is_jax_array(got, what=case)
    assert got.shape == expected.shape      # 0-d for the scalars, never a Python float
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-10)


@with_variants
def test_pl_ratio_from_values_round_off_rule_is_the_same_under_jit(variant_name):
    # 8 ulps of max(|L|, |L*|) in the loss's dtype: a gap of 4 ulps is undefined, 16 ulps not
    for dtype in (np.float32, np.float64):
        eps = np.finfo(dtype).eps
        loss = jnp.asarray([1.0, 1.0, 1.0], dtype)
        star = jnp.asarray([1.0, 1.0 - 4 * eps, 1.0 - 16 * eps], dtype)
        fn = variant(jax.vmap(lambda l, s: dg.pl_ratio_from_values(l, jnp.ones_like(l), s)),
                     variant_name)
        got = np.asarray(fn(loss, star))
        assert got.dtype == dtype
        assert np.isnan(got[0]) and np.isnan(got[1])
        np.testing.assert_allclose(got[2], 1.0 / (2 * (1.0 - float(star[2]))), rtol=1e-5)


def test_pl_ratio_from_values_host_kernel_keeps_float64():
    # the kernel on NumPy values stays in NumPy float64 (host analyses with 32-bit JAX)
    with jax.enable_x64(False):
        out = losses.pl_ratio_from_values(np.array([1.0 + 1e-12, 2.0]), np.array([1.0, 1.0]),
                                          1.0)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_allclose(out, [1.0 / (2 * 1e-12), 0.5], rtol=1e-3)


# ------------------------------------------------------------------------------ vmap

PARAM_BATCH = jax.tree_util.tree_map(lambda *v: jnp.stack(v), *[make_params(s) for s in (1, 2, 3)])


@pytest.mark.parametrize("name", ["loss", "gradient_norm_sq", "pl_ratio", "residual"])
def test_vmap_over_a_batch_of_params(name):
    fn = {"loss": lambda p: dg.loss(apply_fn, p, X, Y),
          "gradient_norm_sq": lambda p: dg.gradient_norm_sq(apply_fn, p, X, Y),
          "pl_ratio": lambda p: dg.pl_ratio(apply_fn, p, X, Y),
          "residual": lambda p: dg.residual(apply_fn, p, X, Y)}[name]
    assert_vmap_matches(fn, (PARAM_BATCH,), 0, rtol=1e-10)
    # and each member against NumPy
    out = np.asarray(jax.vmap(fn)(PARAM_BATCH))
    for i, seed in enumerate((1, 2, 3)):
        p = make_params(seed)
        want = {"loss": lambda: np_loss(p),
                "gradient_norm_sq": lambda: float(np.sum((jacobian(p).T @ np_residual(p)) ** 2)),
                "pl_ratio": lambda: np_pl_ratio(p),
                "residual": lambda: np_residual(p)}[name]()
        np.testing.assert_allclose(out[i], want, rtol=1e-10)


def test_vmap_over_a_batch_of_inputs():
    xs = jnp.asarray(RNG.normal(size=(4, N, D)))
    ys = jnp.asarray(RNG.normal(size=(4, N)))
    assert_vmap_matches(lambda x, y: dg.loss(apply_fn, PARAMS, x, y), (xs, ys), (0, 0),
                        rtol=1e-10)
    assert_vmap_matches(lambda x, y: dg.pl_ratio(apply_fn, PARAMS, x, y), (xs, ys), (0, 0),
                        rtol=1e-10)


def test_vmap_of_the_matrix_and_vector_kernels():
    mats = jnp.stack([K_SYM, K_SYM0, jnp.asarray(RNG.normal(size=(N, N)))])  # the last: not sym
    vecs = jnp.asarray(RNG.normal(size=(3, N)))
    assert_vmap_matches(dg.operator_norm, (mats,), 0, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(jax.vmap(dg.operator_norm)(mats)),
                               [np.linalg.norm(np.asarray(m), 2) for m in mats], rtol=1e-10)
    assert_vmap_matches(lambda k: dg.kernel_drift(k, K_SYM), (mats,), 0, rtol=1e-10)
    assert_vmap_matches(lambda k: dg.kernel_distance(k, K_SYM), (mats,), 0, rtol=1e-10)
    assert_vmap_matches(lambda v: dg.rayleigh_quotient(K_SYM, v), (vecs,), 0, rtol=1e-10)
    assert_vmap_matches(lambda v: dg.kernel_target_alignment(K_SYM, v), (vecs,), 0, rtol=1e-10)
    assert_vmap_matches(lambda v: dg.lower_envelope(v, 1), (vecs,), 0)
    assert_vmap_matches(lambda a, b: dg.lipschitz_along_path(a, b),
                        (jnp.abs(vecs), jnp.abs(vecs[::-1])), (0, 0), rtol=1e-10)


def test_vmap_of_the_certificate_and_drifts():
    lams = jnp.array([1.0, 2.0, -0.5])
    lips = jnp.array([4.0, 0.0, 1.0])
    assert_vmap_matches(lambda lam, lip: dg.certificate(lam, lip, 0.25), (lams, lips), (0, 0))
    np.testing.assert_allclose(np.asarray(jax.vmap(dg.certified_radius)(lams, lips)),
                               [0.25, np.inf, 0.0])
    assert_vmap_matches(lambda p: dg.parameter_drift(p, PARAMS), (PARAM_BATCH,), 0, rtol=1e-10)
    assert_vmap_matches(dg.tree_norm, (PARAM_BATCH,), 0, rtol=1e-10)
    assert_vmap_matches(lambda l, g: dg.pl_ratio_from_values(l, g, 0.5),
                        (jnp.array([1.0, 0.5, 3.0]), jnp.array([2.0, 2.0, 1.0])), (0, 0))


# ------------------------------------------------------------------------------ grad

@with_variants
def test_grad_of_loss_is_j_transpose_u(variant_name):
    flat, unravel = ravel_pytree(PARAMS)
    g = variant(jax.grad(lambda p: dg.loss(apply_fn, p, X, Y)), variant_name)(PARAMS)
    want = jacobian(PARAMS).T @ np_residual(PARAMS)          # J^T u, J from jax.jacrev
    np.testing.assert_allclose(np.asarray(ravel_pytree(g)[0]), want, rtol=1e-10, atol=1e-13)
    # the kernel too
    g2 = jax.grad(losses.loss, argnums=1)(apply_fn, PARAMS, X, Y)
    np.testing.assert_allclose(np.asarray(ravel_pytree(g2)[0]), want, rtol=1e-10, atol=1e-13)


def central_difference(f, flat, h=1e-6):
    out = np.empty(flat.shape[0])
    for i in range(flat.shape[0]):
        e = np.zeros(flat.shape[0])
        e[i] = h
        out[i] = (f(flat + e) - f(flat - e)) / (2 * h)
    return out


@with_variants
def test_grad_of_pl_ratio_matches_central_differences(variant_name):
    flat, unravel = ravel_pytree(PARAMS)
    g = variant(jax.grad(lambda p: dg.pl_ratio(apply_fn, p, X, Y, loss_star=0.05)),
                variant_name)(PARAMS)
    fd = central_difference(lambda v: np_pl_ratio(unravel(jnp.asarray(v)), 0.05),
                            np.asarray(flat))
    np.testing.assert_allclose(np.asarray(ravel_pytree(g)[0]), fd, rtol=1e-5, atol=1e-7)


def test_grad_of_the_certificate_and_radius_are_the_closed_forms():
    g = jax.grad(dg.certificate, argnums=(0, 1, 2))(2.0, 8.0, 0.125)
    np.testing.assert_allclose([float(v) for v in g], [1.0, -0.125, -8.0])
    g = jax.grad(dg.certified_radius, argnums=(0, 1))(2.0, 8.0)
    np.testing.assert_allclose([float(v) for v in g], [1 / 8.0, -2.0 / 64.0])


def test_grad_of_the_norms_and_alignment_match_finite_differences():
    flat, unravel = ravel_pytree(PARAMS)
    g = jax.grad(dg.tree_norm)(PARAMS)
    np.testing.assert_allclose(np.asarray(ravel_pytree(g)[0]),
                               np.asarray(flat) / np.linalg.norm(flat), rtol=1e-12)
    p1 = make_params(1)
    g = jax.grad(lambda p: dg.parameter_drift(p, PARAMS))(p1)
    diff = np.asarray(ravel_pytree(p1)[0] - flat)
    np.testing.assert_allclose(np.asarray(ravel_pytree(g)[0]), diff / np.linalg.norm(diff),
                               rtol=1e-12)
    y = np.asarray(Y)
    g = jax.grad(lambda v: dg.kernel_target_alignment(K_SYM, v))(Y)
    fd = central_difference(lambda v: float(v @ np.asarray(K_SYM) @ v
                                            / (np.linalg.norm(K_SYM) * (v @ v))), y)
    np.testing.assert_allclose(np.asarray(g), fd, rtol=1e-6, atol=1e-9)
    # operator norm of a symmetric matrix with a simple top eigenvalue: d||K|| = v v^T
    g = jax.grad(dg.operator_norm)(K_SYM)
    w, v = np.linalg.eigh(np.asarray(K_SYM))
    np.testing.assert_allclose(np.asarray(sym(g)), np.outer(v[:, -1], v[:, -1]), atol=1e-8)
    g = jax.grad(lambda v: dg.rayleigh_quotient(K_SYM, v))(Y)
    fd = central_difference(lambda v: float(v @ np.asarray(K_SYM) @ v / (v @ v)), y)
    np.testing.assert_allclose(np.asarray(g), fd, rtol=1e-6, atol=1e-9)


def test_grad_of_pl_ratio_where_undefined_is_zero_not_nan():
    loss_value = jnp.asarray(1.0)
    g = jax.grad(lambda l: dg.pl_ratio_from_values(l, jnp.asarray(2.0), 1.0))(loss_value)
    assert float(g) == 0.0


# ------------------------------------------------------------ tracer-safe validation

def raises_under_jit(exc, name, fn, *args):
    with pytest.raises(exc, match=name):
        jax.jit(fn)(*args)


def test_bad_static_input_still_raises_under_jit_naming_the_argument():
    raises_under_jit(ValueError, "y", lambda p: dg.loss(apply_fn, p, X, Y[:-1]), PARAMS)
    raises_under_jit(ValueError, "x", lambda x: dg.loss(apply_fn, PARAMS, x, Y), X[:, :, None, None, None])
    raises_under_jit(TypeError, "params", lambda p: dg.loss(apply_fn, {**p, "w2": p["w2"].astype(jnp.float32)}, X, Y), PARAMS)
    raises_under_jit(ValueError, "apply_fn", lambda p: dg.loss(lambda q, x: x, p, X, Y), PARAMS)
    raises_under_jit(ValueError, "params and params0", lambda p: dg.parameter_drift(p, {"w1": p["w1"]}), PARAMS)
    raises_under_jit(ValueError, "kernel", lambda k: dg.rayleigh_quotient(k, Y), K_RECT)
    raises_under_jit(ValueError, "vector", lambda v: dg.rayleigh_quotient(K_SYM, v), Y[:-1])
    raises_under_jit(ValueError, "kernel and kernel0", lambda k: dg.kernel_drift(k, K_SYM), K_RECT)
    raises_under_jit(ValueError, "start", lambda v: dg.lower_envelope(v, 10), Y)
    raises_under_jit(ValueError, "values", lambda v: dg.lower_envelope(v), K_SYM)
    raises_under_jit(TypeError, "lambda0", lambda r: dg.certificate("2", 1.0, r), jnp.asarray(0.1))
    raises_under_jit(ValueError, "radius", lambda r: dg.certificate(1.0, 1.0, r), K_SYM)
    raises_under_jit(ValueError, "loss_value and grad_norm_sq",
                     lambda l: dg.pl_ratio_from_values(l, jnp.ones(4)), jnp.ones(3))
    raises_under_jit(ValueError, "param_drifts", lambda a: dg.lipschitz_along_path(a, a[:-1]), Y)


def test_value_checks_run_eagerly_and_give_nan_under_jit():
    # eager: a clear error naming the argument
    with pytest.raises(ValueError, match="loss_star"):
        dg.pl_ratio(apply_fn, PARAMS, X, Y, loss_star=float(dg.loss(apply_fn, PARAMS, X, Y)))
    with pytest.raises(ValueError, match="vector"):
        dg.rayleigh_quotient(K_SYM, jnp.zeros(N))
    with pytest.raises(ValueError, match="params0"):
        dg.parameter_drift(PARAMS, jax.tree_util.tree_map(jnp.zeros_like, PARAMS), relative=True)
    with pytest.raises(ValueError, match="param_drifts"):
        dg.lipschitz_along_path(jnp.ones(3), jnp.zeros(3))
    with pytest.raises(ValueError, match="lipschitz"):
        dg.certificate(1.0, -1.0, 0.5)
    with pytest.raises(ValueError, match="finite"):
        dg.loss(apply_fn, {**PARAMS, "w2": PARAMS["w2"].at[0].set(jnp.nan)}, X, Y)
    # under jit the value is undefined: NaN, never a made-up number
    star = dg.loss(apply_fn, PARAMS, X, Y)
    assert np.isnan(float(jax.jit(lambda s: dg.pl_ratio(apply_fn, PARAMS, X, Y, loss_star=s))(star)))
    assert np.isnan(float(jax.jit(dg.rayleigh_quotient)(K_SYM, jnp.zeros(N))))
    assert np.isnan(float(jax.jit(dg.lipschitz_along_path)(jnp.ones(3), jnp.zeros(3))))


def test_host_side_analyses_accept_0d_arrays_from_the_kernels():
    lam = dg.certified_radius(2.0, 8.0)           # a 0-d jax.Array
    curve = dg.certificate(jnp.asarray(2.0), jnp.asarray(8.0), lam)
    np.testing.assert_allclose(float(curve), 0.0, atol=1e-15)
    bound = dg.pl_bound(dg.loss(apply_fn, PARAMS, X, Y), jnp.asarray(0.1), jnp.asarray(0.5), 3)
    np.testing.assert_allclose(bound, np_loss(PARAMS) * (1 - 0.05) ** np.arange(4), rtol=1e-12)
    assert dg.step_size_thresholds(jnp.asarray(4.0)) == (0.25, 0.5)
