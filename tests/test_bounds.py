"""Rigorous bounds (lplr_core.bounds): sound against sampling and ascent, not vacuous, and the
certificate's conclusion checked on real gradient-descent runs."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lplr_core as lp
from lplr_core import bounds as lb

SMOOTH = ("erf", "tanh", "gelu", "softplus")


def _data(n=12, d=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True) / math.sqrt(d)
    y = np.sign(rng.standard_normal(n))
    return jnp.asarray(x), jnp.asarray(y)


def _net(activation="erf", parameterization="ntk", m=16, d=5, seed=0):
    mlp = lp.MLP((m,), activation=activation, parameterization=parameterization)
    return mlp, mlp.init(seed, d, dtype=jnp.float64)


def _flat(params):
    leaves, tree = jax.tree_util.tree_flatten(params)
    sizes = [leaf.size for leaf in leaves]
    shapes = [leaf.shape for leaf in leaves]

    def unflat(vec):
        out, k = [], 0
        for size, shape in zip(sizes, shapes):
            out.append(vec[k:k + size].reshape(shape))
            k += size
        return jax.tree_util.tree_unflatten(tree, out)

    return jnp.concatenate([leaf.ravel() for leaf in leaves]), unflat


def _in_ball(rng, dim, radius, count):
    """Points uniform in the ball and on its sphere (both ends matter)."""
    g = rng.standard_normal((count, dim))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    scale = radius * np.concatenate([np.ones(count // 2), rng.uniform(size=count - count // 2) ** (1 / dim)])
    return g * scale[:, None]


def _project(delta, radius):
    norm = jnp.linalg.norm(delta)
    return jnp.where(norm > radius, delta * (radius / norm), delta)


def _ascent(objective, rng, dim, radius, starts=3, steps=60, lr=0.2):
    """Projected normalized gradient ascent of objective(delta) over the ball; best value."""
    grad = jax.jit(jax.value_and_grad(objective))
    best = -np.inf
    for start in _in_ball(rng, dim, radius, starts):
        delta = jnp.asarray(start)
        for _ in range(steps):
            value, g = grad(delta)
            best = max(best, float(value))
            gn = jnp.linalg.norm(g)
            if not bool(jnp.isfinite(gn)) or float(gn) == 0:
                break
            delta = _project(delta + lr * radius * g / gn, radius)
        best = max(best, float(objective(delta)))
    return best


# ----------------------------------------------------------------- kernel and eigenvalues

@pytest.mark.parametrize("activation", SMOOTH)
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_kernel_matches_the_core_ntk(activation, parameterization):
    x, y = _data()
    mlp, p = _net(activation, parameterization)
    tb = lb.two_layer_bounds(mlp, p, x, y)
    ref = np.asarray(lp.empirical_ntk(mlp.apply, p, x, method="jacobian"))
    np.testing.assert_allclose(tb.kernel, ref, rtol=1e-11, atol=1e-11 * np.abs(ref).max())
    np.testing.assert_allclose(tb.residual, np.asarray(mlp.apply(p, x) - y), atol=1e-12)


def _tridiagonal(n):
    # tridiag(-1, 2, -1): eigenvalues 2 - 2 cos(k pi / (n + 1)), k = 1..n (closed form)
    t = 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
    k = np.arange(1, n + 1)
    return t, 2 - 2 * np.cos(k * np.pi / (n + 1))


@pytest.mark.parametrize("n", [2, 7, 64, 300])
def test_lambda_enclosure_contains_the_exact_eigenvalues(n):
    t, exact = _tridiagonal(n)
    rng = np.random.default_rng(n)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    for mat, lo_true, hi_true in ((t, exact[0], exact[-1]),
                                  (t + 3.0 * np.eye(n), exact[0] + 3, exact[-1] + 3),
                                  (-t, -exact[-1], -exact[0])):
        lo, hi = lb.lambda_min_lower_bound(mat), lb.lambda_max_upper_bound(mat)
        assert lo <= lo_true and hi >= hi_true
        # not vacuous: within 1e-9 of the truth (the matrices have norm <= 7)
        assert lo_true - lo < 1e-9 and hi - hi_true < 1e-9
    # a rotated diagonal (rounded, so only tolerance-level truth): still encloses
    diag = np.linspace(0.5, 2.0, n)
    mat = (q * diag) @ q.T
    assert lb.lambda_min_lower_bound(mat) <= 0.5 + 1e-13
    assert lb.lambda_min_lower_bound(mat) > 0.5 - 1e-10


def test_lambda_enclosure_does_not_prove_a_zero_eigenvalue_positive():
    t, exact = _tridiagonal(50)
    singular = t - exact[0] * np.eye(50)  # smallest eigenvalue ~ 0 up to rounding
    assert lb.lambda_min_lower_bound(singular) <= 1e-15
    rank_one = np.outer(np.arange(1.0, 9.0), np.arange(1.0, 9.0))  # PSD, 7 zero eigenvalues
    assert lb.lambda_min_lower_bound(rank_one) <= 0.0


def test_lambda_bounds_reject_bad_kernels():
    with pytest.raises(ValueError, match="kernel must be square"):
        lb.lambda_min_lower_bound(np.ones((3, 4)))
    with pytest.raises(ValueError, match="kernel must be symmetric"):
        lb.lambda_min_lower_bound(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="kernel"):
        lb.lambda_min_lower_bound(np.array([[np.nan, 0.0], [0.0, 1.0]]))
    with pytest.raises(TypeError, match="kernel"):
        lb.lambda_max_upper_bound("not a matrix")


# ------------------------------------------------------------------- soundness on balls

CASES = [("erf", "ntk", 0.05, 0), ("erf", "ntk", 0.5, 1), ("tanh", "standard", 0.3, 2),
         ("gelu", "ntk", 1.0, 3), ("softplus", "standard", 0.2, 4), ("tanh", "ntk", 2.0, 5),
         ("erf", "standard", 0.02, 6), ("gelu", "standard", 0.5, 7)]


@pytest.mark.parametrize("activation,parameterization,radius,seed", CASES)
def test_ntk_lipschitz_bound_is_sound_and_not_vacuous(activation, parameterization, radius, seed):
    x, y = _data(seed=seed)
    mlp, p = _net(activation, parameterization, seed=seed)
    theta0, unflat = _flat(p)

    def kernel(t):  # an NTK written here, independent of the core's
        jac = jax.jacrev(lambda q: mlp.apply(unflat(q), x))(t)
        return jac @ jac.T

    k0 = kernel(theta0)

    @jax.jit
    def ratio(delta):
        return jnp.linalg.norm(kernel(theta0 + delta) - k0, 2) / jnp.linalg.norm(delta)

    rng = np.random.default_rng(seed)
    sampled = max(float(ratio(jnp.asarray(d))) for d in _in_ball(rng, theta0.size, radius, 24))
    ascended = _ascent(ratio, rng, theta0.size, radius)
    estimate = max(sampled, ascended)
    bound = lb.ntk_lipschitz_bound(mlp, p, x, radius)
    assert bound >= estimate, (bound, sampled, ascended)
    print(f"RATIO L_Theta {activation} {parameterization} r={radius}: {bound / estimate:.2f}")
    assert bound <= 60 * estimate, (bound, estimate)


@pytest.mark.parametrize("activation,parameterization,radius,seed", CASES[:5])
def test_jacobian_lipschitz_bound_holds_for_pairs(activation, parameterization, radius, seed):
    x, _ = _data(seed=seed)
    mlp, p = _net(activation, parameterization, seed=seed)
    theta0, unflat = _flat(p)
    jac = jax.jit(lambda t: jax.jacrev(lambda q: mlp.apply(unflat(q), x))(t))
    rng = np.random.default_rng(100 + seed)
    pts = _in_ball(rng, theta0.size, radius, 16)
    bound = lb.jacobian_lipschitz_bound(mlp, p, x, radius)
    worst = 0.0
    for a, b in zip(pts[::2], pts[1::2]):
        diff = np.linalg.norm(np.asarray(jac(theta0 + a) - jac(theta0 + b)), 2)
        worst = max(worst, diff / np.linalg.norm(a - b))
    assert bound >= worst


@pytest.mark.parametrize("activation,parameterization,radius,seed", CASES)
def test_smoothness_bound_is_sound_and_not_vacuous(activation, parameterization, radius, seed):
    x, y = _data(seed=seed)
    mlp, p = _net(activation, parameterization, m=8, seed=seed)
    theta0, unflat = _flat(p)

    def loss(t):
        return 0.5 * jnp.sum((mlp.apply(unflat(t), x) - y) ** 2)

    hess = jax.hessian(loss)

    @jax.jit
    def sharpness(delta):
        return jnp.max(jnp.abs(jnp.linalg.eigvalsh(hess(theta0 + delta))))

    rng = np.random.default_rng(seed)
    sampled = max(float(sharpness(jnp.asarray(d))) for d in _in_ball(rng, theta0.size, radius, 12))
    ascended = _ascent(sharpness, rng, theta0.size, radius, starts=2, steps=30)
    estimate = max(sampled, ascended)
    bound = lb.smoothness_bound(mlp, p, x, y, radius)
    assert bound >= estimate, (bound, estimate)
    print(f"RATIO beta {activation} {parameterization} r={radius}: {bound / estimate:.2f}")
    assert bound <= 30 * estimate, (bound, estimate)


def test_bounds_grow_with_radius_and_shrink_with_width():
    x, y = _data(n=16, d=8)
    tb = lb.two_layer_bounds(*_net("erf", "ntk", m=32, d=8), x, y)
    radii = [0.0, 0.1, 1.0, 10.0]
    lips = [tb.ntk_lipschitz(r) for r in radii]
    betas = [tb.smoothness(r) for r in radii]
    assert all(a <= b for a, b in zip(lips, lips[1:]))
    assert all(a <= b for a, b in zip(betas, betas[1:]))
    narrow = lb.jacobian_lipschitz_bound(*_net("erf", "ntk", m=64, d=8), x, 0.0)
    wide = lb.jacobian_lipschitz_bound(*_net("erf", "ntk", m=4096, d=8), x, 0.0)
    assert wide < 0.4 * narrow  # ~ m^{-1/2} up to the growth of max|v_j|


def test_derivative_constants_match_closed_forms():
    b = lb.DERIVATIVE_BOUNDS
    assert b["erf"][0] == pytest.approx(2 / math.sqrt(math.pi), rel=1e-5)
    assert b["erf"][1] == pytest.approx(2 * math.sqrt(2 / (math.pi * math.e)), rel=1e-5)
    assert b["tanh"][0] == pytest.approx(1.0, rel=1e-5)
    assert b["tanh"][1] == pytest.approx(4 / (3 * math.sqrt(3)), rel=1e-5)
    assert b["softplus"] == pytest.approx((1.0, 0.25), rel=1e-5)
    phi = math.exp(-1) / math.sqrt(2 * math.pi)  # standard normal density at sqrt(2)
    big_phi = 0.5 * (1 + math.erf(1.0))  # its cdf at sqrt(2)
    assert b["gelu"][0] == pytest.approx(big_phi + math.sqrt(2) * phi, rel=1e-5)
    assert b["gelu"][1] == pytest.approx(2 / math.sqrt(2 * math.pi), rel=1e-5)
    # and each is an upper bound of a dense grid of |sigma'|, |sigma''|
    h = jnp.linspace(-12, 12, 200001)
    for name in ("erf", "tanh", "gelu", "softplus"):
        f = lp.models.ACTIVATIONS[name]
        d1 = jax.vmap(jax.grad(f))(h)
        d2 = jax.vmap(jax.grad(jax.grad(f)))(h)
        assert float(jnp.max(jnp.abs(d1))) <= b[name][0] * (1 + 1e-9)
        assert float(jnp.max(jnp.abs(d2))) <= b[name][1] * (1 + 1e-9)
        assert float(jnp.max(jnp.abs(d2))) >= b[name][1] * (1 - 1e-4)


# ------------------------------------------------------------------------- certificate

def _centred(mlp, p, x, y, scale):
    return mlp.apply(p, x) + scale * y


@pytest.mark.parametrize("activation", ["erf", "tanh"])
def test_a_priori_certificate_holds_on_the_run(activation):
    """The theorem's conclusion, checked on gradient descent: containment and the rate."""
    x, y = _data(n=10, d=6, seed=3)
    mlp, p = _net(activation, "ntk", m=512, d=6, seed=3)
    target = lb.certified_target_scale(mlp, p, x, y)
    assert target.scale > 0
    yc = _centred(mlp, p, x, y, target.scale)
    cert = lb.certify(mlp, p, x, yc, step_size=target.step_size)
    assert cert.proved and cert.mode == "a priori", str(cert)
    assert 0 < cert.rate < 1
    run = lp.gradient_descent(mlp.apply, p, x, yc, step_size=target.step_size, steps=400,
                              record_every=1)
    assert float(np.max(run.drift)) <= cert.radius
    guaranteed = cert.guaranteed_loss(run.steps)
    assert np.all(run.loss <= guaranteed * (1 + 1e-9) + 1e-300)
    # the run really is in the interesting regime: the loss fell by orders of magnitude
    assert run.loss[-1] < 1e-3 * run.loss[0]


def test_certificate_fails_for_real_labels_and_says_which_hypothesis():
    x, y = _data(n=10, d=6, seed=3)
    mlp, p = _net("erf", "ntk", m=64, d=6, seed=3)
    tb = lb.two_layer_bounds(mlp, p, x, y)
    cert = lb.certify(mlp, p, x, y, step_size=0.5 / tb.smoothness(0.0))
    assert not cert.proved
    assert cert.hypothesis("lambda0").proved
    assert not cert.hypothesis("containment").proved
    assert math.isnan(cert.rate)
    assert np.all(np.isnan(cert.guaranteed_loss([0, 1])))
    assert "NOT PROVED" in str(cert) and "failed" in cert._repr_html_()


def test_with_targets_equals_building_the_bounds_again():
    x, y = _data(n=10, d=6, seed=4)
    mlp, p = _net("erf", "ntk", m=64, d=6, seed=4)
    first = lb.two_layer_bounds(mlp, p, x, y)
    y2 = 0.3 * np.asarray(y) + 0.1
    swapped, fresh = first.with_targets(y2), lb.two_layer_bounds(mlp, p, x, y2)
    assert swapped.loss0_upper == fresh.loss0_upper
    np.testing.assert_array_equal(swapped.residual, fresh.residual)
    assert swapped.smoothness(0.05) == fresh.smoothness(0.05)
    assert first.loss0_upper != swapped.loss0_upper  # the original is not modified
    assert first.with_targets(None).loss0_upper is None


def test_target_scale_is_proved_and_ten_times_more_is_not():
    x, y = _data(n=10, d=6, seed=4)
    mlp, p = _net("erf", "ntk", m=256, d=6, seed=4)
    t = lb.certified_target_scale(mlp, p, x, y)
    ok = lb.certify(mlp, p, x, _centred(mlp, p, x, y, t.scale), step_size=t.step_size,
                    radius=t.radius)
    assert ok.proved, str(ok)
    bad = lb.certify(mlp, p, x, _centred(mlp, p, x, y, 10 * t.scale), step_size=t.step_size,
                     radius=t.radius)
    assert not bad.hypothesis("containment").proved
    # the path-length bound behind it: at s*, P(r*) <= r*; it scales like s (L_0 ~ s^2)
    tb = lb.two_layer_bounds(mlp, p, x, _centred(mlp, p, x, y, t.scale))
    assert tb.path_length(t.radius, t.step_size) <= t.radius
    tb10 = lb.two_layer_bounds(mlp, p, x, _centred(mlp, p, x, y, 10 * t.scale))
    ratio = tb10.path_length(t.radius, t.step_size) / tb.path_length(t.radius, t.step_size)
    assert 9.0 < ratio < 11.0
    assert tb.path_length(2 * t.certified_radius, t.step_size) == math.inf


def test_step_size_beyond_two_over_beta_fails_smoothness():
    x, y = _data(n=10, d=6, seed=4)
    mlp, p = _net("erf", "ntk", m=256, d=6, seed=4)
    t = lb.certified_target_scale(mlp, p, x, y)
    cert = lb.certify(mlp, p, x, _centred(mlp, p, x, y, t.scale), step_size=2.5 * t.step_size,
                      radius=t.radius)
    assert not cert.hypothesis("smoothness").proved and not cert.proved


def test_a_posteriori_certificate_from_a_finished_run():
    x, y = _data(n=10, d=6, seed=5)
    mlp, p = _net("erf", "ntk", m=512, d=6, seed=5)
    t = lb.certified_target_scale(mlp, p, x, y)
    scale = 1.5 * t.scale  # beyond the a-priori scale, the finished run may still be proved
    yc = _centred(mlp, p, x, y, scale)
    eta = 0.9 * t.step_size
    run = lp.gradient_descent(mlp.apply, p, x, yc, step_size=eta, steps=300, record_every=1)
    cert = lb.certify(mlp, p, x, yc, step_size=eta, trajectory=run)
    assert cert.mode == "a posteriori" and cert.steps == 300
    assert cert.radius >= float(np.max(run.drift))
    assert cert.proved, str(cert)
    assert np.all(run.loss <= cert.guaranteed_loss(run.steps) * (1 + 1e-9))
    # a far larger scale leaves the certified radius: the same check fails
    yb = _centred(mlp, p, x, y, 1000 * t.scale)
    big = lp.gradient_descent(mlp.apply, p, x, yb, step_size=eta, steps=300, record_every=1)
    assert not lb.certify(mlp, p, x, yb, step_size=eta, trajectory=big).proved


def test_certify_rejects_bad_trajectories_and_arguments():
    x, y = _data(n=8, d=4, seed=6)
    mlp, p = _net("erf", "ntk", m=32, d=4, seed=6)
    sparse = lp.gradient_descent(mlp.apply, p, x, y, step_size=0.01, steps=20, record_every=5)
    with pytest.raises(ValueError, match="record every step"):
        lb.certify(mlp, p, x, y, step_size=0.01, trajectory=sparse)
    run = lp.gradient_descent(mlp.apply, p, x, y, step_size=0.01, steps=5, record_every=1)
    with pytest.raises(ValueError, match="step_size"):
        lb.certify(mlp, p, x, y, step_size=0.02, trajectory=run)
    with pytest.raises(ValueError, match="does not start at params0"):
        lb.certify(mlp, p, x, y + 1.0, step_size=0.01, trajectory=run)
    with pytest.raises(ValueError, match="exclusive"):
        lb.certify(mlp, p, x, y, step_size=0.01, radius=0.1, trajectory=run)
    with pytest.raises(TypeError, match="trajectory"):
        lb.certify(mlp, p, x, y, step_size=0.01, trajectory={"loss": [1.0]})
    with pytest.raises(ValueError, match="step_size"):
        lb.certify(mlp, p, x, y, step_size=-1.0)
    with pytest.raises(ValueError, match="radius"):
        lb.certify(mlp, p, x, y, step_size=0.01, radius=float("nan"))


def test_unsupported_networks_raise_clear_errors():
    x, y = _data(n=6, d=4)
    relu, pr = _net("relu", "ntk", d=4)
    with pytest.raises(ValueError, match="relu.*sigma'' is not bounded"):
        lb.ntk_lipschitz_bound(relu, pr, x, 0.1)
    deep = lp.MLP((8, 8), activation="erf")
    with pytest.raises(ValueError, match="exactly one hidden layer"):
        lb.smoothness_bound(deep, deep.init(0, 4), x, y, 0.1)
    with pytest.raises(TypeError, match="mlp must be an lplr_core.MLP"):
        lb.certify(lp.CNN(image_shape=(4, 4, 1)), None, x, y, step_size=0.1)
    mlp, p = _net("erf", "ntk", d=4)
    with pytest.raises(ValueError, match="radius"):
        lb.ntk_lipschitz_bound(mlp, p, x, -1.0)
    with pytest.raises(ValueError, match=r"params0\[0\]\['w'\] must have shape"):
        lb.ntk_lipschitz_bound(mlp, p, jnp.ones((6, 5)), 0.1)
    with pytest.raises(ValueError, match="y must have one target per sample"):
        lb.smoothness_bound(mlp, p, x, y[:3], 0.1)
    with pytest.raises(ValueError, match="params0 must be the list of 2 layers"):
        lb.ntk_lipschitz_bound(mlp, p[:1], x, 0.1)
    with pytest.raises(ValueError, match="y must not be all zero"):
        lb.certified_target_scale(mlp, p, x, jnp.zeros(6))


def test_interpolation_distance_is_the_drift_of_gd_on_a_linear_model():
    x, y = _data(n=6, d=10, seed=8)
    lin = lp.MLP((), activation="linear", parameterization="standard")
    p = lin.init(8, 10, dtype=jnp.float64)
    kernel = np.asarray(lp.empirical_ntk(lin.apply, p, x))
    u0 = np.asarray(lin.apply(p, x) - y)
    run = lp.gradient_descent(lin.apply, p, x, y, step_size=1.0 / np.linalg.eigvalsh(kernel)[-1],
                              steps=4000, record_every=4000)
    assert run.loss[-1] < 1e-20
    assert lb.interpolation_distance(kernel, u0) == pytest.approx(float(run.drift[-1]), rel=1e-8)
    with pytest.raises(ValueError, match="positive definite"):
        lb.interpolation_distance(np.ones((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match="residual"):
        lb.interpolation_distance(kernel, u0[:2])
