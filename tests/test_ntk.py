"""Tests for lplr_core.ntk: empirical and infinite-width NTKs and their spectra.

Reference values are computed independently of the code under test:

* the empirical NTK from the full Jacobian of a flattened-parameter function
  (``jax.jacfwd`` of ``theta -> apply_fn(unflatten(theta), x)``), or from central
  finite differences of that function;
* closed forms for the linear model;
* the infinite-width NTK from the recursion of Jacot et al. with every
  Gaussian expectation computed by adaptive 2-D quadrature (``scipy.integrate``),
  and from the convergence of wide networks' empirical NTKs;
* spectra from ``numpy.linalg.eigvalsh``.

conftest.py forces two host CPU devices, so ``shard=None`` (the default) shards.
Correctness tests pass ``shard=False`` so that a failure points at the method,
not at the sharding; the sharding tests compare ``shard=True``/``None`` with it.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate
from scipy.special import erf as np_erf
from scipy.special import expit

import lplr_core.ntk as ntk_module
from lplr_core.models import CNN, MLP, ResNetCNN
from lplr_core.ntk import (
    condition_number,
    empirical_ntk,
    infinite_width_ntk,
    lambda_max,
    lambda_min,
    matrix_free_eigenvalues,
    ntk_matvec,
    top_eigenvalues,
)

ALL_ACTIVATIONS = ("relu", "tanh", "erf", "gelu", "softplus", "linear")
METHODS = ("jacobian", "ntvp", "structured", "jaxpr", "auto")
GENERIC_METHODS = ("jacobian", "ntvp", "jaxpr", "auto")


# ---------------------------------------------------------------------------
# Independent references
# ---------------------------------------------------------------------------

def _flatten(params):
    """(theta, unravel): the parameters as one float64 vector, and the inverse map."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    arrays = [np.asarray(l, np.float64) for l in leaves]
    shapes = [a.shape for a in arrays]
    flat = np.concatenate([a.ravel() for a in arrays])

    def unravel(theta):
        out, i = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            out.append(theta[i:i + size].reshape(shape))
            i += size
        return jax.tree_util.tree_unflatten(treedef, out)
    return flat, unravel


@functools.lru_cache(maxsize=None)
def _jacfwd_program(apply_fn):
    # One compiled program per function and shapes (a closure built per call compiled anew
    # every time).
    return jax.jit(jax.jacfwd(apply_fn))


def ref_jacobian(apply_fn, params, x):
    """Full Jacobian (n, p) of the flattened-parameter function, forward mode, float64: the
    parameters' leaves as float64 arrays, the columns leaf by leaf, each leaf row-major (the
    order of :func:`_flatten`)."""
    params = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf, np.float64), params)
    x = np.asarray(x, np.float64)
    blocks = jax.tree_util.tree_leaves(_jacfwd_program(apply_fn)(params, x))
    return np.concatenate([np.asarray(b).reshape(x.shape[0], -1) for b in blocks], axis=1)


def ref_ntk(apply_fn, params, x1, x2=None):
    """J1 J2^T from one Jacobian of the stacked inputs."""
    x1 = np.asarray(x1)
    if x2 is None:
        j = ref_jacobian(apply_fn, params, x1)
        return j @ j.T
    j = ref_jacobian(apply_fn, params, np.concatenate([x1, np.asarray(x2)]))
    return j[:x1.shape[0]] @ j[x1.shape[0]:].T


def ref_pair(apply_fn, params, x1, x2):
    """{None: Theta(x1, x1), "x2": Theta(x1, x2)} from one reference Jacobian."""
    n1 = np.asarray(x1).shape[0]
    full = ref_ntk(apply_fn, params, np.concatenate([np.asarray(x1), np.asarray(x2)]))
    return {None: full[:n1, :n1], "x2": full[:n1, n1:]}


def fd_jacobian(apply_fn, params, x, h=1e-5):
    """Central finite differences w.r.t. each flattened parameter, float64."""
    flat, unravel = _flatten(params)
    x = np.asarray(x, np.float64)
    f = jax.jit(lambda th: apply_fn(unravel(th), x))
    cols = []
    for k in range(flat.size):
        e = np.zeros_like(flat)
        e[k] = h
        cols.append((np.asarray(f(flat + e)) - np.asarray(f(flat - e))) / (2 * h))
    return np.stack(cols, axis=1)


def mlp_params(model, d, seed, dtype=np.float64):
    """Parameters for an MLP drawn with NumPy from the documented distributions
    (the NTK code does not care how they were drawn; this keeps the tests free of
    the compile time of jax.random for every layer shape)."""
    r = np.random.default_rng(seed)
    sizes = (d, *model.widths, 1)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w, b = r.normal(size=(fan_in, fan_out)), r.normal(size=(fan_out,))
        if model.parameterization == "standard":
            w, b = w * model.w_std / math.sqrt(fan_in), b * model.b_std
        params.append({"w": jnp.asarray(w.astype(dtype)), "b": jnp.asarray(b.astype(dtype))})
    return params


def rel_err(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def n_params(params) -> int:
    return sum(int(np.size(l)) for l in jax.tree_util.tree_leaves(params))


def _x(n, d, seed):
    return np.random.default_rng(seed).normal(size=(n, d))


# User-defined models (not MLP).

def dict_model(params, x):
    """A function over a nested dict pytree, with a scalar leaf."""
    h = jnp.tanh(params["scale"] * (x @ params["emb"]) + params["shift"])
    return h @ params["head"]["v"] + jnp.sin(x[:, 0]) * params["head"]["c"][0]


def dict_params(d, k, seed):
    r = np.random.default_rng(seed)
    return {"emb": jnp.asarray(r.normal(size=(d, k)) / math.sqrt(d)),
            "scale": jnp.asarray(1.3),
            "shift": jnp.asarray(r.normal(size=(k,))),
            "head": {"v": jnp.asarray(r.normal(size=(k,)) / math.sqrt(k)),
                     "c": jnp.asarray(r.normal(size=(1,)))}}


def two_layer(params, x):
    w1, b1, w2 = params
    return jax.nn.softplus(x @ w1 + b1) @ w2 / math.sqrt(w2.shape[0])


def two_layer_params(d, m, seed):
    r = np.random.default_rng(seed)
    return (jnp.asarray(r.normal(size=(d, m)) / math.sqrt(d)), jnp.asarray(r.normal(size=(m,))),
            jnp.asarray(r.normal(size=(m,))))


def _np_like_init(model, d, seed):
    """Parameters with the structure of model.init (found by tracing it, without
    compiling it) and N(0, 1) entries drawn with NumPy."""
    shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), d))
    r = np.random.default_rng(seed)
    return jax.tree_util.tree_map(lambda s: jnp.asarray(r.normal(size=s.shape)), shapes)


def _cnn_case():
    model = CNN((3,), (5, 5, 2), "tanh")
    return model.apply, _np_like_init(model, 50, 0), 50


def _resnet_case():
    model = ResNetCNN(2, 1, (4, 4, 1), "gelu")
    return model.apply, _np_like_init(model, 16, 1), 16


USER_MODELS = {
    "dict": lambda: (dict_model, dict_params(4, 6, 0), 4),
    "two_layer": lambda: (two_layer, two_layer_params(3, 8, 1), 3),
    "cnn": _cnn_case,
    "resnet": _resnet_case,
}


# One small MLP shared by several tests (so that its compiled kernels are reused).
SMALL = MLP((6, 5), "tanh", w_std=1.2, b_std=0.5)
SMALL_D, SMALL_N1, SMALL_N2 = 3, 7, 5


def _small():
    params = mlp_params(SMALL, SMALL_D, 4)
    return SMALL, params, _x(SMALL_N1, SMALL_D, 20), _x(SMALL_N2, SMALL_D, 21)


# ---------------------------------------------------------------------------
# 2. Method agreement on a zoo of MLPs
# ---------------------------------------------------------------------------

# Every activation, both parameterizations, depths 1..3, widths from {1, 3, 17}
# (depth 0, for every method and both parameterizations, is in the closed-form tests).
ZOO = [
    ("relu", "ntk", (17, 3)),
    ("tanh", "standard", (1, 3, 17)),
    ("erf", "ntk", (17,)),
    ("gelu", "standard", (3, 17, 1)),
    ("softplus", "ntk", (17, 1, 3)),
    ("linear", "standard", (3, 3)),
]


def test_zoo_covers_the_required_product():
    assert {a for a, _, _ in ZOO} == set(ALL_ACTIVATIONS)
    assert {p for _, p, _ in ZOO} == {"ntk", "standard"}
    assert {len(w) for _, _, w in ZOO} == {1, 2, 3}
    assert {m for _, _, w in ZOO for m in w} == {1, 3, 17}


def _check_methods_agree(model, params, x1, x2, tol, dtype):
    n1 = x1.shape[0]
    full = ref_ntk(model.apply, params, np.concatenate([x1, x2]))
    for method in METHODS:
        for x2_, want in ((None, full[:n1, :n1]), (x2, full[:n1, n1:])):
            got = empirical_ntk(model.apply, params, x1, x2_, method=method, shard=False)
            assert got.dtype == dtype, (method, got.dtype)
            err = rel_err(got, want)
            assert err < tol, (method, model, x2_ is None, err)
            if x2_ is None:
                g = np.asarray(got)
                assert np.array_equal(g, g.T), method  # symmetrized exactly


@pytest.mark.parametrize("activation, parameterization, widths", ZOO)
def test_methods_agree_float64(activation, parameterization, widths):
    d = 4
    model = MLP(widths, activation, parameterization, w_std=1.3, b_std=0.2)
    params = mlp_params(model, d, len(widths))
    _check_methods_agree(model, params, _x(7, d, 10), _x(4, d, 11), 1e-10, jnp.float64)


@pytest.mark.parametrize("activation, parameterization, widths", [
    ("tanh", "ntk", (17, 3)), ("relu", "standard", (3, 1, 17)),
])
def test_methods_agree_float32(activation, parameterization, widths):
    d = 5
    model = MLP(widths, activation, parameterization)
    params = mlp_params(model, d, 2, np.float32)
    # Reference: the same float32 numbers, computed in float64.
    _check_methods_agree(model, params, _x(6, d, 12).astype(np.float32),
                         _x(3, d, 13).astype(np.float32), 1e-4, jnp.float32)


def test_kernel_is_positive_semidefinite_and_has_expected_rank():
    # n > p: J has rank <= p, so Theta = J J^T has exactly n - p zero eigenvalues.
    model = MLP((2,), "tanh")
    params = mlp_params(model, 2, 0)    # p = 2*2 + 2 + 2 + 1 = 9
    x = _x(14, 2, 3)
    for method in METHODS:
        ev = np.linalg.eigvalsh(np.asarray(empirical_ntk(model.apply, params, x, method=method,
                                                         shard=False)))
        assert ev[0] > -1e-12 * ev[-1]
        assert np.sum(ev > 1e-9 * ev[-1]) == 9


# ---------------------------------------------------------------------------
# 3. Finite differences
# ---------------------------------------------------------------------------

def test_ntk_matches_finite_difference_jacobian():
    model, params, x1, x2 = _small()
    assert n_params(params) == 65
    j = fd_jacobian(model.apply, params, np.concatenate([x1, x2]))
    j1, j2 = j[:x1.shape[0]], j[x1.shape[0]:]
    for method in METHODS:
        assert rel_err(empirical_ntk(model.apply, params, x1, method=method, shard=False),
                       j1 @ j1.T) < 1e-6, method
        assert rel_err(empirical_ntk(model.apply, params, x1, x2, method=method, shard=False),
                       j1 @ j2.T) < 1e-6, method


def test_user_function_ntk_matches_finite_differences():
    params = dict_params(4, 6, 3)
    x = _x(5, 4, 22)
    j = fd_jacobian(dict_model, params, x)
    for method in GENERIC_METHODS:
        assert rel_err(empirical_ntk(dict_model, params, x, method=method, shard=False),
                       j @ j.T) < 1e-6, method


# ---------------------------------------------------------------------------
# 4. User-defined apply functions, ntk_matvec, matrix-free eigenvalues
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(USER_MODELS))
def test_user_defined_apply_fn(name):
    apply_fn, params, d = USER_MODELS[name]()
    # x2 has as many rows as x1 for the (slow to compile) conv models, so that
    # compiled programs are shared between the two calls; fewer for the others.
    x1, x2 = _x(6, d, 30), _x(6 if name in ("cnn", "resnet") else 3, d, 31)
    full = ref_ntk(apply_fn, params, np.concatenate([x1, x2]))
    want_11, want_12 = full[:6, :6], full[:6, 6:]
    for method in GENERIC_METHODS:
        k11 = empirical_ntk(apply_fn, params, x1, method=method, shard=False)
        k12 = empirical_ntk(apply_fn, params, x1, x2, method=method, shard=False)
        assert rel_err(k11, want_11) < 1e-10, method
        assert rel_err(k12, want_12) < 1e-10, method
    if name in ("cnn", "resnet"):   # the convolutional models have a structured rule
        k11 = empirical_ntk(apply_fn, params, x1, method="structured", shard=False)
        k12 = empirical_ntk(apply_fn, params, x1, x2, method="structured", shard=False)
        assert rel_err(k11, want_11) < 1e-10
        assert rel_err(k12, want_12) < 1e-10
        return
    with pytest.raises(ValueError, match="structured"):
        empirical_ntk(apply_fn, params, x1, method="structured", shard=False)


def test_wrapped_mlp_is_a_generic_function():
    """A lambda around an MLP is not an MLP: 'auto' must still work; 'structured' must refuse."""
    model = MLP((5,), "relu")
    params = mlp_params(model, 3, 0)
    fn = lambda p, x: model.apply(p, x)  # noqa: E731
    x = _x(5, 3, 32)
    want = ref_ntk(model.apply, params, x)
    assert rel_err(empirical_ntk(fn, params, x, shard=False), want) < 1e-10
    with pytest.raises(ValueError, match="structured"):
        empirical_ntk(fn, params, x, method="structured", shard=False)
    # The model object itself (callable) is recognized as the MLP.
    assert rel_err(empirical_ntk(model, params, x, method="structured", shard=False), want) < 1e-10


@pytest.mark.parametrize("name", ["dict", "mlp"])
def test_ntk_matvec_equals_kernel_times_vector(name):
    if name == "mlp":
        model = MLP((7, 4), "erf", "standard")
        apply_fn, params, d = model.apply, mlp_params(model, 4, 3), 4
    else:
        apply_fn, params, d = USER_MODELS[name]()
    x1, x2 = _x(8, d, 40), _x(5, d, 41)
    r = np.random.default_rng(0)
    refs = ref_pair(apply_fn, params, x1, x2)
    k11, k12 = refs[None], refs["x2"]
    mv = ntk_matvec(apply_fn, params, x1)
    v, vk = r.normal(size=8), r.normal(size=(8, 3))
    out = mv(v)
    assert out.shape == (8,)
    assert rel_err(out, k11 @ v) < 1e-10
    outk = mv(vk)
    assert outk.shape == (8, 3)
    assert rel_err(outk, k11 @ vk) < 1e-10
    mv12 = ntk_matvec(apply_fn, params, x1, x2)
    w, wk = r.normal(size=5), r.normal(size=(5, 2))
    assert mv12(w).shape == (8,)
    assert rel_err(mv12(w), k12 @ w) < 1e-10
    assert rel_err(mv12(wk), k12 @ wk) < 1e-10
    for bad in (np.ones(8), np.ones((5, 2, 2)), np.ones(())):
        with pytest.raises(ValueError, match=r"\bv\b"):
            mv12(bad)


def test_ntk_matvec_float32_params_with_numpy_vector():
    """Computations run in the dtype of params and x; a NumPy (float64) v must work."""
    model = MLP((5, 4), "tanh")
    params = mlp_params(model, 3, 0, np.float32)
    x = _x(7, 3, 42).astype(np.float32)
    v = np.random.default_rng(1).normal(size=7)
    want = ref_ntk(model.apply, params, x) @ v
    out = ntk_matvec(model.apply, params, x)(v)
    assert out.dtype == jnp.float32
    assert rel_err(out, want) < 1e-4


def test_matrix_free_eigenvalues_match_eigvalsh():
    apply_fn, params, d = USER_MODELS["two_layer"]()
    x = _x(12, d, 43)
    ev = np.linalg.eigvalsh(ref_ntk(apply_fn, params, x))
    top = matrix_free_eigenvalues(apply_fn, params, x, k=2, which="largest", tol=1e-12)
    bottom = matrix_free_eigenvalues(apply_fn, params, x, k=2, which="smallest", tol=1e-12)
    np.testing.assert_allclose(top, ev[::-1][:2], rtol=1e-8)
    np.testing.assert_allclose(bottom, ev[:2], rtol=1e-6, atol=1e-10 * ev[-1])
    assert top[0] >= top[1] and bottom[0] <= bottom[1]
    with pytest.raises(ValueError, match=r"\bk\b"):
        matrix_free_eigenvalues(apply_fn, params, x, k=12)
    with pytest.raises(ValueError, match="which"):
        matrix_free_eigenvalues(apply_fn, params, x, which="middle")


# ---------------------------------------------------------------------------
# 5. Blocked Jacobian contraction
# ---------------------------------------------------------------------------

def _blocked_case():
    model, params, _, _ = _small()
    return model, params, n_params(params)


@pytest.mark.parametrize("rows_per_block, n1, n2", [(3, 10, 7), (1, 3, 2)])
def test_blocked_jacobian_equals_unblocked(rows_per_block, n1, n2):
    model, params, p = _blocked_case()
    x1, x2 = _x(n1, 3, 50), _x(n2, 3, 51)   # not multiples of the block size
    budget = rows_per_block * p * 8
    refs = ref_pair(model.apply, params, x1, x2)
    for x2_, key in ((None, None), (x2, "x2")):
        full = empirical_ntk(model.apply, params, x1, x2_, method="jacobian", shard=False)
        blocked = empirical_ntk(model.apply, params, x1, x2_, method="jacobian",
                                memory_budget=budget, shard=False)
        assert blocked.shape == full.shape
        assert rel_err(blocked, full) < 1e-13
        assert rel_err(blocked, refs[key]) < 1e-10
    # The user-function path too.
    fparams = dict_params(3, 5, 2)
    q = n_params(fparams)
    refs = ref_pair(dict_model, fparams, x1, x2)
    for x2_, key in ((None, None), (x2, "x2")):
        blocked = empirical_ntk(dict_model, fparams, x1, x2_, method="jacobian",
                                memory_budget=rows_per_block * q * 8, shard=False)
        assert rel_err(blocked, refs[key]) < 1e-10


def test_blocked_jacobian_respects_memory_budget(monkeypatch):
    """Every block of per-sample gradients holds at most memory_budget bytes, and a
    leaf too large for the budget is split into blocks of samples."""
    model, params, p = _blocked_case()
    budget = 3 * p * 8
    sizes = [int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(params)]
    blocks = []   # (rows, parameters) of every block of per-sample gradients formed
    original = ntk_module._leaf_grads

    def spy(apply_fn, params_, group, x):
        blocks.append((x.shape[0], sum(sizes[i] for i in group)))
        return original(apply_fn, params_, group, x)

    monkeypatch.setattr(ntk_module, "_leaf_grads", spy)
    x1, x2 = _x(10, 3, 50), _x(7, 3, 51)
    refs = ref_pair(model.apply, params, x1, x2)
    for x2_, key in ((None, None), (x2, "x2")):
        blocks.clear()
        ntk_module._jacobian_kernel.clear_cache()   # the spy runs while tracing
        k = empirical_ntk(model.apply, params, x1, x2_, method="jacobian",
                          memory_budget=budget, shard=False)
        assert rel_err(k, refs[key]) < 1e-10
        assert blocks, "no gradient block traced"
        assert max(r * s * 8 for r, s in blocks) <= budget, blocks
        assert sum(s for _, s in blocks) > p, blocks          # some leaf in several blocks
        assert min(r for r, _ in blocks) < x1.shape[0], blocks


def test_jacobian_plan_covers_every_leaf_and_sample_once():
    """The plan's groups partition the leaves, and each group's blocks partition the samples."""
    model, params, p = _blocked_case()
    sizes = [int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(params)]
    for budget in (8, 3 * p * 8, 40 * 8 * 10, 1 << 30):
        plan = ntk_module._jacobian_plan(params, 10, 7, 8, budget)
        assert sorted(i for group, _, _ in plan for i in group) == list(range(len(sizes)))
        for group, rows, cols in plan:
            for blocks, n in ((rows, 10), (cols, 7)):
                assert blocks[0][0] == 0 and blocks[-1][1] == n
                assert all(a[1] == b[0] for a, b in zip(blocks[:-1], blocks[1:]))
                s = sum(sizes[i] for i in group)
                rows = max(b - a for a, b in blocks)
                assert len(blocks) == 1 or rows == 1 or rows * s * 8 <= budget
    # A budget for everything gives one group of all leaves, one block.
    assert ntk_module._jacobian_plan(params, 10, 7, 8, 1 << 30) == (
        (tuple(range(len(sizes))), ((0, 10),), ((0, 7),)),)


# ---------------------------------------------------------------------------
# 6. Spectrum helpers
# ---------------------------------------------------------------------------

def _spd(n, seed, cond=50.0):
    r = np.random.default_rng(seed)
    q, _ = np.linalg.qr(r.normal(size=(n, n)))
    ev = np.geomspace(1.0, cond, n)
    k = (q * ev) @ q.T
    return 0.5 * (k + k.T)


@pytest.mark.parametrize("n, seed", [(1, 0), (5, 1), (23, 2)])
def test_spectrum_helpers_match_eigvalsh(n, seed):
    k = _spd(n, seed) * 0.37
    ev = np.linalg.eigvalsh(k)
    assert lambda_min(k) == pytest.approx(ev[0], rel=1e-12)
    assert lambda_max(k) == pytest.approx(ev[-1], rel=1e-12)
    assert condition_number(k) == pytest.approx(ev[-1] / ev[0], rel=1e-10)
    for value in (lambda_min(k), lambda_max(k), condition_number(k)):
        assert isinstance(value, jax.Array) and value.shape == ()
    for kk in range(1, n + 1):
        top = np.asarray(top_eigenvalues(k, kk))
        assert top.shape == (kk,)
        np.testing.assert_allclose(top, ev[::-1][:kk], rtol=1e-12, atol=1e-14)
    # jax arrays are accepted too
    assert lambda_max(jnp.asarray(k)) == pytest.approx(ev[-1], rel=1e-12)


def test_condition_number_infinite_when_not_positive_definite():
    assert condition_number(np.diag([0.0, 1.0, 2.0])) == math.inf
    assert condition_number(np.diag([-0.5, 1.0, 2.0])) == math.inf
    assert condition_number(np.diag([2.0, 3.0])) == pytest.approx(1.5, rel=1e-14)
    # a rank-2 Gram matrix pushed slightly indefinite
    a = np.random.default_rng(0).normal(size=(6, 2))
    k = np.diag([-1e-3, 0, 0, 0, 0, 0]) + a @ a.T
    assert condition_number(k) == math.inf
    indef = np.array([[1.0, 2.0], [2.0, 1.0]])   # eigenvalues -1, 3
    assert lambda_min(indef) == pytest.approx(-1.0, rel=1e-14)
    assert lambda_max(indef) == pytest.approx(3.0, rel=1e-14)
    assert condition_number(indef) == math.inf


@pytest.mark.parametrize("fn", [lambda_min, lambda_max, condition_number,
                                lambda k: top_eigenvalues(k, 1)],
                         ids=["lambda_min", "lambda_max", "condition_number", "top_eigenvalues"])
def test_spectrum_helpers_reject_bad_kernels(fn):
    with pytest.raises(ValueError, match="kernel"):
        fn(np.ones((3, 4)))
    with pytest.raises(ValueError, match="kernel"):
        fn(np.ones(3))
    with pytest.raises(ValueError, match="kernel"):
        fn(np.ones((2, 2, 2)))
    bad = np.eye(3)
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="kernel"):
        fn(bad)
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="kernel"):
        fn(bad)


def test_top_eigenvalues_rejects_bad_k():
    k = _spd(4, 3)
    for bad in (0, -1, 5):
        with pytest.raises(ValueError, match=r"\bk\b"):
            top_eigenvalues(k, bad)
    with pytest.raises(TypeError, match=r"\bk\b"):
        top_eigenvalues(k, 2.0)


# ---------------------------------------------------------------------------
# 7. Closed forms for the linear model
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_linear_model_kernel_closed_form(parameterization):
    d, w_std, b_std = 5, 1.7, 0.35
    model = MLP((), "tanh", parameterization, w_std=w_std, b_std=b_std)
    x1, x2 = _x(9, d, 60), _x(4, d, 61)
    if parameterization == "ntk":
        want11 = (w_std ** 2 / d) * x1 @ x1.T + b_std ** 2
        want12 = (w_std ** 2 / d) * x1 @ x2.T + b_std ** 2
    else:
        want11 = x1 @ x1.T + 1.0
        want12 = x1 @ x2.T + 1.0
    for seed in (0, 1):   # the kernel does not depend on the parameters
        params = mlp_params(model, d, seed)
        params = jax.tree_util.tree_map(lambda a: a * (1 + 3 * seed), params)
        for method in METHODS:
            assert rel_err(empirical_ntk(model.apply, params, x1, method=method, shard=False),
                           want11) < 1e-13, method
            assert rel_err(empirical_ntk(model.apply, params, x1, x2, method=method, shard=False),
                           want12) < 1e-13, method


# ---------------------------------------------------------------------------
# 8. Infinite-width NTK
# ---------------------------------------------------------------------------

def test_infinite_width_linear_model_is_exact():
    d, w_std, b_std = 6, 0.8, 0.45
    x1, x2 = _x(7, d, 70), _x(3, d, 71)
    for act in ("relu", "tanh"):
        model = MLP((), act, w_std=w_std, b_std=b_std)
        want11 = (w_std ** 2 / d) * x1 @ x1.T + b_std ** 2
        assert rel_err(infinite_width_ntk(model, x1), want11) < 1e-13
        assert rel_err(infinite_width_ntk(model, x1, x2),
                       (w_std ** 2 / d) * x1 @ x2.T + b_std ** 2) < 1e-13
        emp = empirical_ntk(model.apply, mlp_params(model, d, 3), x1, shard=False)
        assert rel_err(emp, want11) < 1e-13


# Activations and derivatives, written here in NumPy.
NP_PHI = {
    "relu": (lambda u: max(u, 0.0), lambda u: 1.0 if u > 0 else 0.0),
    "erf": (np_erf, lambda u: 2 / math.sqrt(math.pi) * np.exp(-u * u)),
    "tanh": (np.tanh, lambda u: 1 - np.tanh(u) ** 2),
    "gelu": (lambda u: 0.5 * u * (1 + np_erf(u / math.sqrt(2))),
             lambda u: 0.5 * (1 + np_erf(u / math.sqrt(2)))
             + u * np.exp(-u * u / 2) / math.sqrt(2 * math.pi)),
    "softplus": (lambda u: np.logaddexp(0.0, u), expit),
}
_L = 9.0   # integration range in standard deviations
_GAUSS = 1.0 / (2 * math.pi)


def _expect_pair(g, qa, qb, c):
    """E[g(u) g(v)] for (u, v) ~ N(0, [[qa, c], [c, qb]]), |c| < sqrt(qa qb), by
    adaptive 2-D quadrature over the Cholesky coordinates."""
    sa, sb = math.sqrt(qa), math.sqrt(qb)
    rho = c / (sa * sb)
    comp = math.sqrt(1 - rho * rho)

    def integrand(z2, z1):
        return g(sa * z1) * g(sb * (rho * z1 + comp * z2)) * _GAUSS * math.exp(-(z1 * z1 + z2 * z2) / 2)
    val, _ = integrate.dblquad(integrand, -_L, _L, -_L, _L, epsabs=1e-12, epsrel=1e-11)
    return val


def _expect_pair_relu(kind, qa, qb, c):
    """Same for relu (kind 'phi') and its step derivative ('dphi'), integrating only
    over the quadrant u > 0, v > 0 where the integrand is smooth."""
    sa, sb = math.sqrt(qa), math.sqrt(qb)
    rho = c / (sa * sb)
    comp = math.sqrt(1 - rho * rho)

    def integrand(z2, z1):
        u, v = sa * z1, sb * (rho * z1 + comp * z2)
        val = u * v if kind == "phi" else 1.0
        return val * _GAUSS * math.exp(-(z1 * z1 + z2 * z2) / 2)
    val, _ = integrate.dblquad(integrand, 0.0, _L, lambda z1: min(-rho * z1 / comp, _L), _L,
                               epsabs=1e-13, epsrel=1e-11)
    return val


def _expect_var(g, q):
    """E[g(u)^2] for u ~ N(0, q)."""
    s = math.sqrt(q)
    val, _ = integrate.quad(lambda z: g(s * z) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi),
                            -_L, _L, epsabs=1e-14, epsrel=1e-13, limit=200, points=[0.0])
    return val


def quadrature_ntk_pair(activation, w_std, b_std, xa, xb, depth):
    """Theta(xa, xb) of the infinite-width MLP from the NTK recursion, with the
    Gaussian expectations by numerical integration (off-diagonal pair)."""
    phi, dphi = NP_PHI[activation]
    d = xa.size
    sw2, sb2 = w_std ** 2, b_std ** 2
    c = sw2 * xa @ xb / d + sb2
    qa = sw2 * xa @ xa / d + sb2
    qb = sw2 * xb @ xb / d + sb2
    theta = c
    for _ in range(depth):
        if activation == "relu":
            e_phi = _expect_pair_relu("phi", qa, qb, c)
            e_dphi = _expect_pair_relu("dphi", qa, qb, c)
        else:
            e_phi = _expect_pair(phi, qa, qb, c)
            e_dphi = _expect_pair(dphi, qa, qb, c)
        c_new = sw2 * e_phi + sb2
        theta = theta * sw2 * e_dphi + c_new
        qa, qb, c = sw2 * _expect_var(phi, qa) + sb2, sw2 * _expect_var(phi, qb) + sb2, c_new
    return theta


def quadrature_ntk_diag(activation, w_std, b_std, xa, depth):
    phi, dphi = NP_PHI[activation]
    sw2, sb2 = w_std ** 2, b_std ** 2
    q = sw2 * xa @ xa / xa.size + sb2
    theta = q
    for _ in range(depth):
        q_new = sw2 * _expect_var(phi, q) + sb2
        theta = theta * sw2 * _expect_var(dphi, q) + q_new
        q = q_new
    return theta


@pytest.mark.parametrize("activation, depth, w_std, b_std, scale, tol", [
    ("relu", 1, 1.4, 0.3, 1.0, 1e-10),
    ("erf", 2, 1.6, 0.4, 1.0, 1e-10),
    # Numerical-quadrature path (documented as accurate to about 1e-11): checked at 1e-9,
    # from moderate to large pre-activation variances (q up to about 25).
    ("tanh", 2, 1.3, 0.1, 1.0, 1e-9),
    ("tanh", 1, 2.0, 0.3, 1.0, 1e-9),
    ("gelu", 1, 1.2, 0.3, 1.0, 1e-9),
    ("softplus", 1, 1.5, 0.5, 1.0, 1e-9),
    ("tanh", 1, 2.5, 0.2, 2.0, 1e-9),
])
def test_infinite_width_matches_quadrature(activation, depth, w_std, b_std, scale, tol):
    xa = scale * np.array([0.9, -0.4, 1.3])
    xb = scale * np.array([0.2, 0.8, 1.1])
    model = MLP((5,) * depth, activation, w_std=w_std, b_std=b_std)
    x = np.stack([xa, xb])
    got = np.asarray(infinite_width_ntk(model, x))
    off = quadrature_ntk_pair(activation, w_std, b_std, xa, xb, depth)
    assert got[0, 1] == pytest.approx(off, rel=tol)
    assert got[1, 0] == pytest.approx(off, rel=tol)
    assert got[0, 0] == pytest.approx(quadrature_ntk_diag(activation, w_std, b_std, xa, depth),
                                      rel=tol)
    assert got[1, 1] == pytest.approx(quadrature_ntk_diag(activation, w_std, b_std, xb, depth),
                                      rel=tol)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_infinite_width_two_argument_form_is_a_block_of_the_full_kernel(activation):
    # The two call forms must agree (to round-off for the closed forms, to the
    # quadrature's accuracy otherwise).
    model = MLP((4, 4), activation, w_std=1.3, b_std=0.4)
    x1, x2 = _x(5, 3, 72), _x(2, 3, 73)
    k = np.asarray(infinite_width_ntk(model, x1, x2))
    assert k.shape == (5, 2)
    full = np.asarray(infinite_width_ntk(model, np.concatenate([x1, x2])))
    np.testing.assert_allclose(k, full[:5, 5:], rtol=1e-12 if activation == "relu" else 1e-10,
                               atol=1e-14)
    assert np.array_equal(full, full.T)


@pytest.mark.slow
def test_empirical_ntk_converges_to_infinite_width():
    """||Theta_m - Theta_inf||_F / ||Theta_inf||_F, averaged over 3 seeds, falls like
    1/sqrt(m) for two hidden layers of width m."""
    d, n = 5, 6
    x = _x(n, d, 80)
    x = x / np.linalg.norm(x, axis=1, keepdims=True) * math.sqrt(d)   # x.x/d = 1
    widths = (64, 512, 4096)
    params = {m: [mlp_params(MLP((m, m)), d, 100 + s) for s in range(3)] for m in widths}
    for act in ("relu", "erf", "tanh"):
        errs = []
        limit = np.asarray(infinite_width_ntk(MLP((1, 1), act, w_std=1.5, b_std=0.2), x))
        for m in widths:
            model = MLP((m, m), act, w_std=1.5, b_std=0.2)
            e = [np.linalg.norm(np.asarray(empirical_ntk(model.apply, p, x, method="structured",
                                                         shard=False)) - limit)
                 / np.linalg.norm(limit) for p in params[m]]
            errs.append(float(np.mean(e)))
        assert errs[0] > errs[1] > errs[2], (act, errs)
        assert errs[2] < 0.1, (act, errs)
        assert errs[0] / errs[2] > 3.0, (act, errs)   # sqrt(4096 / 64) = 8


def test_infinite_width_rejects_bad_models_and_inputs():
    x = _x(3, 2, 81)
    with pytest.raises(ValueError, match="parameterization"):
        infinite_width_ntk(MLP((4,), "relu", "standard"), x)
    for bad in (CNN((2,), (2, 2, 1)), MLP((4,)).apply, None, "relu"):
        with pytest.raises(TypeError, match="MLP"):
            infinite_width_ntk(bad, x)
    with pytest.raises(ValueError, match="x1"):
        infinite_width_ntk(MLP((4,)), x[0])
    with pytest.raises(ValueError, match="x1"):
        infinite_width_ntk(MLP((4,)), np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="x2"):
        infinite_width_ntk(MLP((4,)), x, np.ones((2, 3)))


# ---------------------------------------------------------------------------
# 9. Sharding across the two host devices of conftest.py
# ---------------------------------------------------------------------------

def _sharded_equals_unsharded(apply_fn, params, x1, x2, method, **kw):
    ref = empirical_ntk(apply_fn, params, x1, x2, method=method, shard=False, **kw)
    for shard in (True, None):
        got = empirical_ntk(apply_fn, params, x1, x2, method=method, shard=shard, **kw)
        n2 = x1.shape[0] if x2 is None else x2.shape[0]
        assert got.shape == (x1.shape[0], n2)
        # The result must be an ordinary array that later JAX code can use.
        diff = float(jnp.max(jnp.abs(got - ref)))
        assert diff <= 1e-12 * float(jnp.max(jnp.abs(ref))), (method, shard, diff)
        assert np.asarray(got).dtype == np.asarray(ref).dtype
        if x2 is None:
            assert float(lambda_min(got)) == pytest.approx(float(lambda_min(ref)), rel=1e-9,
                                                            abs=1e-12)


def test_two_devices_are_visible():
    assert jax.device_count() == 2


@pytest.mark.parametrize("method", ["jacobian", "ntvp", "structured", "jaxpr"])  # auto = structured
@pytest.mark.parametrize("n1", [7, 8], ids=["n1odd", "n1even"])
@pytest.mark.parametrize("with_x2", [False, True], ids=["x1", "x1x2"])
def test_sharded_mlp_equals_unsharded(method, n1, with_x2):
    assert jax.device_count() == 2
    model, params, x1, x2 = _small()
    x1 = _x(n1, SMALL_D, 90) if n1 != SMALL_N1 else x1
    _sharded_equals_unsharded(model.apply, params, x1, x2 if with_x2 else None, method)


@pytest.mark.parametrize("method", GENERIC_METHODS)
def test_sharded_user_function_equals_unsharded(method):
    assert jax.device_count() == 2
    apply_fn, params, d = USER_MODELS["dict"]()
    x1, x2 = _x(5, d, 92), _x(3, d, 93)
    _sharded_equals_unsharded(apply_fn, params, x1, None, method)
    _sharded_equals_unsharded(apply_fn, params, x1, x2, method)


@pytest.mark.parametrize("method", GENERIC_METHODS)
@pytest.mark.parametrize("name", ["cnn", "resnet", "two_layer"])
def test_sharded_conv_and_user_models_equal_unsharded(name, method):
    # Regression: XLA's automatic partitioning of the Jacobian contraction once gave
    # kernels off by 10 % for convolutional models on two CPU devices.
    assert jax.device_count() == 2
    apply_fn, params, d = USER_MODELS[name]()
    x1, x2 = _x(7, d, 96), _x(4, d, 97)
    _sharded_equals_unsharded(apply_fn, params, x1, None, method)
    _sharded_equals_unsharded(apply_fn, params, x1, x2, method)


def test_sharded_blocked_jacobian_equals_unsharded():
    assert jax.device_count() == 2
    model, params, p = _blocked_case()
    x1, x2 = _x(9, 3, 94), _x(4, 3, 95)
    _sharded_equals_unsharded(model.apply, params, x1, None, "jacobian", memory_budget=2 * p * 8)
    _sharded_equals_unsharded(model.apply, params, x1, x2, "jacobian", memory_budget=2 * p * 8)


def test_default_call_matches_reference():
    assert jax.device_count() == 2
    model, params, x1, x2 = _small()
    refs = ref_pair(model.apply, params, x1, x2)
    assert rel_err(empirical_ntk(model.apply, params, x1), refs[None]) < 1e-10
    assert rel_err(empirical_ntk(model.apply, params, x1, x2), refs["x2"]) < 1e-10


# ---------------------------------------------------------------------------
# 10. Validation of empirical_ntk's arguments
# ---------------------------------------------------------------------------

def _valid():
    model = MLP((4,), "tanh")
    return model.apply, mlp_params(model, 3, 0), _x(5, 3, 100)


def test_rejects_unknown_method():
    f, p, x = _valid()
    with pytest.raises(ValueError, match="method"):
        empirical_ntk(f, p, x, method="exact", shard=False)
    with pytest.raises(ValueError, match="method"):
        empirical_ntk(f, p, x, method=None, shard=False)


@pytest.mark.parametrize("bad, name", [
    (np.ones(3), "x1"),
    (np.ones((0, 3)), "x1"),
    (np.array([[1.0, np.nan, 0.0]]), "x1"),
    (np.array([[1.0, np.inf, 0.0]]), "x1"),
    ("abc", "x1"),
])
def test_rejects_bad_x1(bad, name):
    f, p, _ = _valid()
    with pytest.raises((ValueError, TypeError), match=name):
        empirical_ntk(f, p, bad, shard=False)


def test_rejects_bad_x2():
    f, p, x = _valid()
    with pytest.raises(ValueError, match="x2"):
        empirical_ntk(f, p, x, np.ones((2, 4)), shard=False)
    with pytest.raises(ValueError, match="x2"):
        empirical_ntk(f, p, x, np.array([[0.0, np.nan, 1.0]]), shard=False)


def test_rejects_bad_apply_fn():
    _, p, x = _valid()
    with pytest.raises(TypeError, match="apply_fn"):
        empirical_ntk("not a function", p, x, shard=False)
    with pytest.raises(ValueError, match="apply_fn"):
        empirical_ntk(lambda params, x: jnp.stack([x[:, 0], x[:, 1]], axis=1), p, x, shard=False)
    with pytest.raises(ValueError, match="apply_fn"):
        empirical_ntk(lambda params, x: jnp.sum(x), p, x, shard=False)
    with pytest.raises(ValueError, match="apply_fn"):   # wrong feature count for the MLP
        empirical_ntk(MLP((4,)).apply, p, np.ones((3, 5)), shard=False)


def test_rejects_bad_params():
    f, p, x = _valid()
    bad = jax.tree_util.tree_map(lambda a: a, p)
    bad[0]["w"] = bad[0]["w"].at[0, 0].set(jnp.nan)
    with pytest.raises(ValueError, match="params"):
        empirical_ntk(f, bad, x, shard=False)
    ints = jax.tree_util.tree_map(lambda a: a, p)
    ints[1]["b"] = jnp.asarray([1], jnp.int32)
    with pytest.raises(TypeError, match="params"):
        empirical_ntk(f, ints, x, shard=False)
    with pytest.raises(ValueError, match="params"):
        empirical_ntk(f, [], x, shard=False)


@pytest.mark.parametrize("budget, exc", [(0, ValueError), (-5, ValueError), (1.5, TypeError)])
def test_rejects_bad_memory_budget(budget, exc):
    f, p, x = _valid()
    with pytest.raises(exc, match="memory_budget"):
        empirical_ntk(f, p, x, method="jacobian", memory_budget=budget, shard=False)


def test_rejects_bad_columns_and_shard():
    f, p, x = _valid()
    with pytest.raises(ValueError, match="columns"):
        empirical_ntk(f, p, x, method="ntvp", columns=0, shard=False)
    with pytest.raises(TypeError, match="shard"):
        empirical_ntk(f, p, x, shard="yes")


# ---------------------------------------------------------------------------
# 11. Determinism; ntvp column batching
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shard", [False, None], ids=["unsharded", "default"])
@pytest.mark.parametrize("method", METHODS)
def test_same_call_twice_is_bitwise_identical(method, shard):
    model, params, x1, x2 = _small()
    for x2_ in (None, x2):
        a = empirical_ntk(model.apply, params, x1, x2_, method=method, shard=shard)
        b = empirical_ntk(model.apply, params, x1, x2_, method=method, shard=shard)
        assert np.array_equal(np.asarray(a), np.asarray(b))
    # The user-function path, blocked.
    fparams = dict_params(3, 4, 5)
    budget = 2 * n_params(fparams) * 8
    if method != "structured":
        a = empirical_ntk(dict_model, fparams, x1, method=method, memory_budget=budget, shard=shard)
        b = empirical_ntk(dict_model, fparams, x1, method=method, memory_budget=budget, shard=shard)
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_ntvp_columns_do_not_change_the_kernel():
    apply_fn, params, d = USER_MODELS["two_layer"]()
    x1, x2 = _x(6, d, 120), _x(5, d, 121)
    refs = ref_pair(apply_fn, params, x1, x2)
    # 3 columns: 5 and 6 are not multiples (padding); 64 columns: more than n.
    for x2_, key, columns in ((x2, "x2", 3), (None, None, 64), (None, None, 1)):
        got = empirical_ntk(apply_fn, params, x1, x2_, method="ntvp", columns=columns,
                            shard=False)
        assert rel_err(got, refs[key]) < 1e-10, columns


# ---------------------------------------------------------------------------
# 12. The structured rule for the convolutional models
# ---------------------------------------------------------------------------

CONV_ZOO = [
    lambda: CNN((3, 4), (6, 6, 2), "tanh", w_std=1.3, b_std=0.2),
    lambda: CNN((2,), (5, 5, 1), "relu", "standard", kernel_size=2),
    lambda: CNN((2, 3, 2), (8, 8, 1), "softplus", "standard", kernel_size=3),
    lambda: ResNetCNN(3, 2, (4, 4, 2), "gelu"),
    lambda: ResNetCNN(2, 2, (5, 5, 1), "erf", "standard", pool_every=2),
    lambda: ResNetCNN(2, 0, (3, 3, 1), "linear", kernel_size=1),
]


@pytest.mark.parametrize("case", range(len(CONV_ZOO)))
def test_conv_structured_equals_jacobian_float64(case):
    """Every shape family, both parameterizations, several activations, x1 != x2."""
    model = CONV_ZOO[case]()
    d = model.input_dim
    params = _np_like_init(model, d, 40 + case)
    x1, x2 = _x(5, d, 60 + case), _x(3, d, 70 + case)
    for x2_ in (None, x2):
        want = empirical_ntk(model.apply, params, x1, x2_, method="jacobian", shard=False)
        got = empirical_ntk(model.apply, params, x1, x2_, method="structured", shard=False)
        assert got.dtype == jnp.float64 and got.shape == want.shape
        assert rel_err(got, want) < 1e-10, (model, x2_ is None, rel_err(got, want))


def test_conv_structured_matches_independent_reference():
    model = CONV_ZOO[1]()
    params = _np_like_init(model, model.input_dim, 5)
    x1, x2 = _x(4, model.input_dim, 80), _x(3, model.input_dim, 81)
    refs = ref_pair(model.apply, params, x1, x2)
    for x2_, key in ((None, None), (x2, "x2")):
        got = empirical_ntk(model.apply, params, x1, x2_, method="structured", shard=False)
        assert rel_err(got, refs[key]) < 1e-10
    k = ntk_module.kernel_fn(model.apply, "structured")(params, x1)
    assert rel_err(k, refs[None]) < 1e-10


def test_conv_auto_uses_the_jacobian_contraction(monkeypatch):
    """'auto' keeps the Jacobian contraction for the conv models (faster at the book's sizes)."""
    model = CONV_ZOO[0]()
    params = _np_like_init(model, model.input_dim, 6)
    x = _x(4, model.input_dim, 82)
    called = []
    monkeypatch.setattr(ntk_module, "_conv_structured_ntk",
                        lambda *a: called.append(1) or (_ for _ in ()).throw(AssertionError))
    empirical_ntk(model.apply, params, x, shard=False)
    assert not called


def test_structured_rejects_other_convolutional_callables():
    model = CONV_ZOO[0]()
    params = _np_like_init(model, model.input_dim, 7)
    x = _x(3, model.input_dim, 83)
    with pytest.raises(ValueError, match="structured"):
        empirical_ntk(lambda p, x_: model.apply(p, x_), params, x, method="structured",
                      shard=False)


def test_ntk_cost_jacobian_and_conv_structured():
    """With one group and one block, the Jacobian cost is 3 F (n1 + n2) + 2 n1 n2 p (F
    from XLA's count of one forward pass); the conv models report a structured cost."""
    from lplr_core.ntk import ntk_cost
    model, params, p = _blocked_case()
    x1, x2 = _x(6, 3, 84), _x(4, 3, 85)
    forward = float(jax.jit(model.apply).lower(params, x1[:1]).compile().cost_analysis()["flops"])
    cost = ntk_cost(model.apply, params, x1, x2)["jacobian"]
    assert cost["flops"] == pytest.approx(3 * forward * 10 + 2 * 6 * 4 * p)
    conv = CONV_ZOO[0]()
    cparams = _np_like_init(conv, conv.input_dim, 8)
    c = ntk_cost(conv.apply, cparams, _x(3, conv.input_dim, 86))["structured"]
    assert c["available"] and math.isfinite(c["flops"]) and c["flops"] > 0
