"""The NTK and the models are JAX-native (issue 10 section 1), in the manner of chex's variants.

Every public kernel of lplr_core.ntk (and the models' ``apply``/``init``) is run eagerly and
under ``jax.jit``, under ``jax.vmap`` over a batch of parameters (three seeds stacked) and over
inputs, and under ``jax.grad`` where it is differentiable; results are ``jax.Array``. The
reference is independent of the code under test: the explicit Jacobian from ``jax.jacrev`` of
the flattened-parameter function, then ``J1 J2^T`` in float64 NumPy; gradients are checked
against a jacrev-based formula or central finite differences. Method dispatch is checked
through ``jax.jit``/``functools.partial`` wrappers (the structured fast path is kept) and a
lambda (the generic path).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jax_variants import assert_is_jax_array, assert_vmap_matches, variant, with_variants
from lplr_core import ntk
from ntk_reference import jacobian, reference_ntk
from lplr_core.models import CNN, MLP, ResNetCNN, model_of

F64 = jnp.float64
D = 3
MLP_MODEL = MLP((6, 5), "tanh")
CNN_MODEL = CNN((2,), (4, 4, 1))
RESNET_MODEL = ResNetCNN(2, 1, (4, 4, 1))


def user_fn(params, x):
    """A user's network (a dict of arrays), not one of lplr_core's models."""
    return jnp.sin(x @ params["a"]) @ params["b"] + params["c"]


def user_init(seed):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    return {"a": jax.random.normal(k1, (D, 4), F64), "b": jax.random.normal(k2, (4,), F64),
            "c": jax.random.normal(k3, (), F64)}


# (name, apply_fn, init(seed), input dim, methods to test)
CASES = {
    "mlp": (MLP_MODEL.apply, lambda s: MLP_MODEL.init(s, D, dtype=F64), D,
            ("auto", "jacobian", "ntvp", "structured", "jaxpr")),
    "user": (user_fn, user_init, D, ("auto", "jacobian", "ntvp", "jaxpr")),
    "cnn": (CNN_MODEL.apply, lambda s: CNN_MODEL.init(s, 16, dtype=F64), 16,
            ("jacobian", "structured", "jaxpr")),
    "resnet": (RESNET_MODEL.apply, lambda s: RESNET_MODEL.init(s, 16, dtype=F64), 16,
               ("structured", "jaxpr")),
}
CASE_METHODS = [(name, m) for name, case in CASES.items() for m in case[3]]


def _x(n, d, seed):
    return jax.random.normal(jax.random.PRNGKey(100 + seed), (n, d), F64)


def _stack(trees):
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *trees)


def _close(got, want, rtol=1e-9):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = max(np.max(np.abs(want)), 1e-300)
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= rtol * scale, np.max(np.abs(got - want)) / scale


# ---------------------------------------------------------------------- empirical NTK

@with_variants
@pytest.mark.parametrize("name, method", CASE_METHODS)
def test_empirical_ntk_eager_and_jit_equal_the_jacrev_reference(variant_name, name, method):
    apply_fn, init, d, _ = CASES[name]
    params, x1, x2 = init(0), _x(5, d, 0), _x(3, d, 1)
    sym = variant(lambda p, a: ntk.empirical_ntk(apply_fn, p, a, method=method, shard=False),
                  variant_name)
    two = variant(lambda p, a, b: ntk.empirical_ntk(apply_fn, p, a, b, method=method,
                                                    shard=False), variant_name)
    got_sym, got_two = sym(params, x1), two(params, x1, x2)
    assert_is_jax_array((got_sym, got_two))
    _close(got_sym, reference_ntk(apply_fn, params, x1))
    _close(got_two, reference_ntk(apply_fn, params, x1, x2))


@pytest.mark.parametrize("name, method", CASE_METHODS)
def test_empirical_ntk_fn_vmaps_over_stacked_params(name, method):
    apply_fn, init, d, _ = CASES[name]
    seeds = (0, 1, 2)
    stacked = _stack([init(s) for s in seeds])
    x1, x2 = _x(4, d, 2), _x(3, d, 3)
    fn = ntk.empirical_ntk_fn(apply_fn, method, shard=False)
    batched = jax.jit(jax.vmap(fn, in_axes=(None, None, 0)))(x1, x2, stacked)
    assert_is_jax_array(batched)
    assert batched.shape == (3, 4, 3)
    for i, s in enumerate(seeds):
        _close(batched[i], reference_ntk(apply_fn, init(s), x1, x2))
    assert_vmap_matches(lambda p: fn(x1, None, p), (stacked,), 0, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, method", CASE_METHODS)
def test_empirical_ntk_fn_vmaps_over_inputs(name, method):
    apply_fn, init, d, _ = CASES[name]
    params = init(4)
    xs = jnp.stack([_x(4, d, 10 + i) for i in range(3)])
    fn = jax.jit(ntk.empirical_ntk_fn(apply_fn, method, shard=False))
    sym = jax.vmap(fn, in_axes=(0, None, None))(xs, None, params)
    two = jax.vmap(fn, in_axes=(0, 0, None))(xs, xs[::-1, :2], params)
    for i in range(3):
        _close(sym[i], reference_ntk(apply_fn, params, xs[i]))
        _close(two[i], reference_ntk(apply_fn, params, xs[i], xs[2 - i, :2]))


@pytest.mark.parametrize("name, method", CASE_METHODS)
def test_grad_of_trace_matches_a_jacrev_formula(name, method):
    """d/d(theta, x) of trace Theta(x, x) = sum_i |grad_theta f(x_i)|^2, by jacrev directly."""
    apply_fn, init, d, _ = CASES[name]
    params, x = init(5), _x(4, d, 5)
    flat, unravel = ravel_pytree(params)

    def trace_by_jacrev(th, xx):
        return jnp.sum(jax.jacrev(lambda t: apply_fn(unravel(t), xx))(th) ** 2)

    def trace(p, xx):
        return jnp.trace(ntk.empirical_ntk(apply_fn, p, xx, method=method, shard=False))

    g_params, g_x = jax.jit(jax.grad(trace, argnums=(0, 1)))(params, x)
    want_params, want_x = jax.jit(jax.grad(trace_by_jacrev, argnums=(0, 1)))(flat, x)
    assert_is_jax_array((g_params, g_x))
    _close(ravel_pytree(g_params)[0], want_params, rtol=1e-8)
    _close(g_x, want_x, rtol=1e-8)


@pytest.mark.parametrize("method", ["jacobian", "ntvp", "structured"])
def test_grad_of_lambda_max_matches_finite_differences(method):
    apply_fn, init, d, _ = CASES["mlp"]
    params, x = init(6), _x(5, d, 6)
    flat, unravel = ravel_pytree(params)
    grad = jax.jit(jax.grad(lambda p: ntk.lambda_max(
        ntk.empirical_ntk(apply_fn, p, x, method=method, shard=False))))(params)
    direction = np.asarray(jax.random.normal(jax.random.PRNGKey(7), flat.shape, F64))
    eps = 1e-5

    def lam(th):  # independent: jacrev kernel, NumPy eigvalsh
        return np.linalg.eigvalsh(reference_ntk(apply_fn, unravel(jnp.asarray(th)), x))[-1]

    fd = (lam(flat + eps * direction) - lam(flat - eps * direction)) / (2 * eps)
    got = float(ravel_pytree(grad)[0] @ direction)
    assert abs(got - fd) <= 1e-6 * max(1.0, abs(fd))


@with_variants
def test_kernel_fn_is_the_symmetric_kernel(variant_name):
    for name in ("mlp", "user"):
        apply_fn, init, d, _ = CASES[name]
        params, x = init(8), _x(4, d, 8)
        got = variant(ntk.kernel_fn(apply_fn), variant_name)(params, x)
        assert_is_jax_array(got)
        _close(got, reference_ntk(apply_fn, params, x))
        stacked = _stack([init(s) for s in (0, 1, 2)])
        batched = jax.vmap(ntk.kernel_fn(apply_fn), in_axes=(0, None))(stacked, x)
        for i in range(3):
            _close(batched[i], reference_ntk(apply_fn, init(i), x))


# ------------------------------------------------------------ dispatch through wrappers

def _declared(params, x):
    return MLP_MODEL.apply(params, x)


_declared.model = MLP_MODEL


@pytest.mark.parametrize("wrapper, expected", [
    ("bound", "structured"), ("jit", "structured"), ("partial", "structured"),
    ("jit_of_partial", "structured"), ("declared", "structured"), ("lambda", "jaxpr"),
    ("partial_with_args", "jaxpr")])
def test_method_dispatch_survives_wrappers(wrapper, expected):
    """jax.jit(mlp.apply) and partial(mlp.apply) keep the structured path; a lambda says
    nothing about its model, so "auto" reads its jaxpr (dense weights: the "jaxpr"
    method). Every form gives the same kernel."""
    fns = {
        "bound": MLP_MODEL.apply,
        "jit": jax.jit(MLP_MODEL.apply),
        "partial": functools.partial(MLP_MODEL.apply),
        "jit_of_partial": jax.jit(functools.partial(MLP_MODEL.apply)),
        "declared": _declared,
        "lambda": lambda p, x: MLP_MODEL.apply(p, x),
        "partial_with_args": functools.partial(lambda scale, p, x: scale * MLP_MODEL.apply(p, x),
                                               1.0),
    }
    fn = fns[wrapper]
    params, x = MLP_MODEL.init(9, D, dtype=F64), _x(4, D, 9)
    assert ntk.choose_method(fn, params, x) == expected
    assert (model_of(fn) is MLP_MODEL) == (expected == "structured")
    want = reference_ntk(MLP_MODEL.apply, params, x)
    _close(ntk.empirical_ntk(fn, params, x, shard=False), want)
    _close(jax.jit(ntk.empirical_ntk_fn(fn))(x, None, params), want)
    if expected == "structured":
        _close(ntk.empirical_ntk(fn, params, x, method="structured", shard=False), want)
    else:
        with pytest.raises(ValueError, match="structured"):
            ntk.empirical_ntk_fn(fn, "structured")
        # model= forces the structured rule for a wrapper that does not say what it is
        assert ntk.choose_method(fn, params, x, model=MLP_MODEL) == "structured"
        _close(ntk.empirical_ntk(fn, params, x, model=MLP_MODEL, shard=False), want)


def test_dispatch_for_conv_models_and_overrides():
    assert model_of(jax.jit(CNN_MODEL.apply)) is CNN_MODEL
    assert model_of(functools.partial(RESNET_MODEL.apply)) is RESNET_MODEL
    assert model_of(CNN_MODEL) is CNN_MODEL
    # "auto" keeps the Jacobian contraction for the convolutional models
    params, x = CNN_MODEL.init(0, 16, dtype=F64), _x(3, 16, 12)
    assert ntk.choose_method(jax.jit(CNN_MODEL.apply), params, x) == "jacobian"
    assert ntk.choose_method(jax.jit(CNN_MODEL.apply), params, x,
                             method="structured") == "structured"

    class Doubled(MLP):  # overrides apply: the MLP rule would be wrong for it
        def apply(self, params, x):
            return 2.0 * MLP.apply(self, params, x)

    doubled = Doubled((4,))
    assert model_of(doubled.apply) is None and model_of(doubled) is None
    params = doubled.init(0, D, dtype=F64)
    x = _x(3, D, 13)
    _close(doubled(params, x), 2.0 * MLP((4,)).apply(params, x))   # calling it is its apply
    for fn in (doubled.apply, doubled):
        _close(ntk.empirical_ntk(fn, params, x, shard=False),
               reference_ntk(doubled.apply, params, x))
    with pytest.raises(TypeError, match="model"):
        ntk.empirical_ntk(user_fn, user_init(0), x, model="mlp")
    with pytest.raises(ValueError, match="model"):
        ntk.empirical_ntk(user_fn, user_init(0), x, model=MLP_MODEL)   # wrong params


# -------------------------------------------------------------------------- validation

def test_validation_is_static_under_jit_and_checks_values_when_concrete():
    apply_fn, init, d, _ = CASES["mlp"]
    params, x = init(0), _x(4, d, 14)
    bad = jax.tree_util.tree_map(lambda a: a.at[..., 0].set(jnp.nan) if a.ndim else a, params)
    with pytest.raises(ValueError, match="params"):
        ntk.empirical_ntk(apply_fn, bad, x)
    # traced: the values cannot be checked (no error, a NaN kernel)
    out = jax.jit(lambda p: ntk.empirical_ntk(apply_fn, p, x))(bad)
    assert np.isnan(np.asarray(out)).any()
    # a concrete array closed over by a jitted function is still checked
    with pytest.raises(ValueError, match="params"):
        jax.jit(lambda a: ntk.empirical_ntk(apply_fn, bad, a))(x)
    # static properties are checked under jit too
    with pytest.raises(ValueError, match="x1"):
        jax.jit(lambda p, a: ntk.empirical_ntk(apply_fn, p, a))(params, x[0])
    with pytest.raises(ValueError, match="kernel"):
        jax.jit(ntk.lambda_min)(jnp.ones((3, 4)))
    with pytest.raises(TypeError, match=r"\bk\b"):
        jax.jit(ntk.top_eigenvalues)(jnp.eye(3), 2)
    with pytest.raises(ValueError, match="method"):
        ntk.empirical_ntk_fn(apply_fn, "fast")
    # validate=False (for composites that validated already) checks nothing
    assert np.isnan(np.asarray(ntk.empirical_ntk_fn(apply_fn, validate=False)(x, None, bad))).any()
    assert np.isnan(np.asarray(ntk.kernel_fn(apply_fn)(bad, x))).any()


# ----------------------------------------------------------------------------- spectra

def _spd(n, seed):
    a = np.random.default_rng(seed).normal(size=(n, n + 2))
    return a @ a.T / n


SPECTRA = {
    "ntk_eigenvalues": (ntk.ntk_eigenvalues, lambda ev: ev),
    "lambda_min": (ntk.lambda_min, lambda ev: ev[0]),
    "lambda_max": (ntk.lambda_max, lambda ev: ev[-1]),
    "condition_number": (ntk.condition_number, lambda ev: ev[-1] / ev[0]),
    "top_eigenvalues": (lambda k: ntk.top_eigenvalues(k, 2), lambda ev: ev[::-1][:2]),
}


@with_variants
@pytest.mark.parametrize("name", list(SPECTRA))
def test_spectra_eager_jit_vmap_match_numpy(variant_name, name):
    fn, from_eigenvalues = SPECTRA[name]
    kernels = np.stack([_spd(5, s) for s in range(3)])
    got = variant(fn, variant_name)(kernels[0])
    assert_is_jax_array(got)
    assert got.shape == np.shape(from_eigenvalues(np.linalg.eigvalsh(kernels[0])))
    np.testing.assert_allclose(got, from_eigenvalues(np.linalg.eigvalsh(kernels[0])), rtol=1e-10)
    batched = jax.vmap(variant(fn, variant_name))(jnp.asarray(kernels))
    for i in range(3):
        np.testing.assert_allclose(batched[i], from_eigenvalues(np.linalg.eigvalsh(kernels[i])),
                                   rtol=1e-10)


@with_variants
def test_condition_number_is_inf_when_not_positive_definite(variant_name):
    cond = variant(ntk.condition_number, variant_name)
    for k in (np.diag([0.0, 1.0, 2.0]), np.array([[1.0, 2.0], [2.0, 1.0]])):
        value = cond(k)
        assert_is_jax_array(value)
        assert value.shape == () and np.isinf(float(value))


def test_grad_of_extreme_eigenvalues_is_the_eigenvector_outer_product():
    """d lambda / d K = v v^T for a simple eigenvalue (NumPy eigenvectors as the reference)."""
    k = _spd(5, 4)
    _, vecs = np.linalg.eigh(k)
    for fn, v in ((ntk.lambda_min, vecs[:, 0]), (ntk.lambda_max, vecs[:, -1])):
        got = jax.jit(jax.grad(fn))(jnp.asarray(k))
        np.testing.assert_allclose(got, np.outer(v, v), atol=1e-10)


# ---------------------------------------------------------------------------- ntk_matvec

@with_variants
def test_ntk_matvec_eager_jit_vmap_grad(variant_name):
    apply_fn, init, d, _ = CASES["user"]
    params, x1, x2 = init(0), _x(4, d, 15), _x(3, d, 16)
    v, vs = jnp.arange(1.0, 4.0), jnp.arange(6.0).reshape(3, 2)
    kref = reference_ntk(apply_fn, params, x1, x2)
    product = variant(lambda p, w: ntk.ntk_matvec(apply_fn, p, x1, x2)(w), variant_name)
    got = product(params, v)
    assert_is_jax_array(got)
    _close(got, kref @ np.asarray(v))
    _close(product(params, vs), kref @ np.asarray(vs))
    stacked = _stack([init(s) for s in (0, 1, 2)])
    batched = jax.vmap(product, in_axes=(0, None))(stacked, v)
    for i in range(3):
        _close(batched[i], reference_ntk(apply_fn, init(i), x1, x2) @ np.asarray(v))
    # linear in v: the gradient of <u, Theta v> in v is Theta^T u
    u = jnp.arange(4.0) - 1.5
    grad_v = jax.grad(lambda w: u @ product(params, w))(v)
    _close(grad_v, kref.T @ np.asarray(u))


# ------------------------------------------------------------------------ infinite width

@with_variants
@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_infinite_width_ntk_eager_jit_vmap_grad(variant_name, activation):
    mlp = MLP((8, 8), activation)
    x1, x2 = _x(4, D, 17), _x(3, D, 18)
    fn = variant(lambda a, b: ntk.infinite_width_ntk(mlp, a, b), variant_name)
    got = fn(x1, x2)
    assert_is_jax_array(got)
    _close(got, ntk.infinite_width_ntk(mlp, x1, x2), rtol=1e-12)   # eager = jit
    # the diagonal (correlation 1) goes through arccos(1 - O(eps)) = O(sqrt(eps)): round-off
    # of the compiled program moves it by ~1e-9 relative
    _close(variant(lambda a: ntk.infinite_width_ntk(mlp, a), variant_name)(x1),
           ntk.infinite_width_ntk(mlp, x1), rtol=1e-8)
    xs = jnp.stack([x1, x1 + 0.5, 2 * x1])
    assert_vmap_matches(lambda a: ntk.infinite_width_ntk(mlp, a, x2), (xs,), 0, rtol=1e-10)
    # the off-diagonal block is smooth in x1: gradient vs central finite differences
    grad = jax.grad(lambda a: jnp.sum(fn(a, x2)))(x1)
    direction = np.asarray(jax.random.normal(jax.random.PRNGKey(19), x1.shape, F64))
    eps = 1e-6
    total = lambda a: float(jnp.sum(ntk.infinite_width_ntk(mlp, a, x2)))  # noqa: E731
    fd = (total(x1 + eps * direction) - total(x1 - eps * direction)) / (2 * eps)
    assert abs(float(jnp.vdot(grad, direction)) - fd) <= 1e-6 * max(1.0, abs(fd))


# --------------------------------------------------------------------------------- models

@with_variants
@pytest.mark.parametrize("name", ["mlp", "cnn", "resnet"])
def test_model_apply_eager_jit_vmap_grad(variant_name, name):
    apply_fn, init, d, _ = CASES[name]
    params, x = init(0), _x(4, d, 20)
    out = variant(apply_fn, variant_name)(params, x)
    assert_is_jax_array(out)
    np.testing.assert_allclose(out, apply_fn(params, x), rtol=1e-12)
    stacked = _stack([init(s) for s in (0, 1, 2)])
    assert_vmap_matches(apply_fn, (stacked, x), (0, None), rtol=1e-12)
    assert_vmap_matches(apply_fn, (params, jnp.stack([x, -x])), (None, 0), rtol=1e-12)
    # grad in params equals the jacrev Jacobian's column sums; grad in x vs finite differences
    g_params = jax.grad(lambda p: jnp.sum(variant(apply_fn, variant_name)(p, x)))(params)
    _close(ravel_pytree(g_params)[0], jacobian(apply_fn, params, x).sum(0), rtol=1e-10)
    g_x = jax.grad(lambda a: jnp.sum(apply_fn(params, a)))(x)
    direction = np.asarray(jax.random.normal(jax.random.PRNGKey(21), x.shape, F64))
    eps = 1e-6
    fd = (float(jnp.sum(apply_fn(params, x + eps * direction)))
          - float(jnp.sum(apply_fn(params, x - eps * direction)))) / (2 * eps)
    assert abs(float(jnp.vdot(g_x, direction)) - fd) <= 1e-6 * max(1.0, abs(fd))


@pytest.mark.parametrize("model, d", [(MLP_MODEL, D), (CNN_MODEL, 16), (RESNET_MODEL, 16)])
def test_model_init_takes_seeds_and_keys_under_jit_and_vmap(model, d):
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    batched = jax.vmap(lambda k: model.init(k, d))(keys)
    jitted_seed = jax.jit(lambda s: model.init(s, d))(5)
    for i in range(3):
        for got, want in zip(jax.tree_util.tree_leaves(batched),
                             jax.tree_util.tree_leaves(model.init(keys[i], d))):
            np.testing.assert_array_equal(got[i], want)
    for got, want in zip(jax.tree_util.tree_leaves(jitted_seed),
                         jax.tree_util.tree_leaves(model.init(5, d))):
        np.testing.assert_array_equal(got, want)
    assert_is_jax_array((batched, jitted_seed))
