"""Tests for lplr_core.phase (the phase diagram over width x step size).

Oracles are independent of the code under test: hand-made trajectories whose
labels follow from their definitions by hand, SciPy's linear regression for the
rate fit, a linear model where everything is known in closed form (constant
NTK, so L_Theta = 0; the Hessian is J^T J, so GD on the squared loss converges
iff eta < 2 / lambda_max(X-kernel)), a dense Hessian from ``jax.hessian`` on
the flattened parameters, and single ``gradient_descent`` runs against the
batched sweep.
"""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy import stats

import lplr_core as lc
from lplr_core.phase import (
    REGIMES,
    CenteredModel,
    PhaseDiagram,
    centered_params,
    label_run,
    phase_diagram,
)

# ----------------------------------------------------------------------------- helpers


def make_traj(loss, drift, *, lambda0=1.0, kernel_lipschitz=0.5, ntk_every=2,
              diverged_at=None, loss_star=0.0):
    """A hand-made Trajectory: records every step, NTK every ``ntk_every`` steps, and
    kernel drift exactly ``kernel_lipschitz * drift`` at the NTK records."""
    loss = np.asarray(loss, float)
    drift = np.asarray(drift, float)
    steps = np.arange(loss.size)
    ntk_steps = steps[::ntk_every]
    kd = kernel_lipschitz * drift[ntk_steps]
    return lc.Trajectory(
        loss=loss, grad_norm_sq=np.ones_like(loss), drift=drift,
        relative_drift=drift / 10.0, pl_ratio=np.ones_like(loss), steps=steps,
        lambda_min=np.full(ntk_steps.size, lambda0), lambda_max=np.full(ntk_steps.size, 9.0),
        kernel_drift=kd, ntk_steps=ntk_steps, diverged_at=diverged_at, params=None,
        config={"loss_star": loss_star})


@pytest.fixture(scope="module")
def small_data():
    key = jax.random.PRNGKey(3)
    x = jax.random.normal(key, (6, 5), dtype=jnp.float64)
    y = jnp.where(jnp.arange(6) % 2 == 0, 1.0, -1.0) * 0.3
    return x, y


# --------------------------------------------------------------------- label_run by hand


def test_label_run_geometric_run_has_positive_estimate_contained_linear():
    t = np.arange(41)
    traj = make_traj(2.0 * 0.9 ** t, 0.3 * (1 - 0.9 ** t), lambda0=1.0, kernel_lipschitz=0.5)
    lab = label_run(traj, radius=0.31)
    r = 0.3 * (1 - 0.9 ** 40)
    assert lab.max_drift == pytest.approx(r)
    assert lab.lipschitz == pytest.approx(0.5)
    assert lab.mu_hat == pytest.approx(1.0 - 0.5 * r)
    assert lab.radius_hat == pytest.approx(2.0)
    assert lab.rate == pytest.approx(0.9)
    assert lab.r2 == pytest.approx(1.0)
    assert lab.loss_ratio == pytest.approx(0.9 ** 40)
    assert (lab.mu_hat_positive, lab.contained, lab.linear, lab.diverged) == (True, True, True, False)


def test_label_run_certificate_sign_follows_lambda0_minus_l_r():
    t = np.arange(21)
    drift = np.linspace(0.0, 2.0, 21)
    # lambda0 = 1, L = 0.6, r = 2: mu = 1 - 1.2 < 0.
    lab = label_run(make_traj(0.8 ** t, drift, kernel_lipschitz=0.6), radius=5.0)
    assert lab.mu_hat == pytest.approx(-0.2)
    assert not lab.mu_hat_positive and lab.contained
    # L = 0.4: mu = 0.2 > 0, but the stated ball (radius 1.5) does not hold the path.
    lab = label_run(make_traj(0.8 ** t, drift, kernel_lipschitz=0.4), radius=1.5)
    assert lab.mu_hat == pytest.approx(0.2)
    assert lab.mu_hat_positive and not lab.contained


def test_label_run_linear_matches_scipy_fit_and_thresholds():
    rng = np.random.default_rng(0)
    t = np.arange(60)
    loss = np.exp(-0.05 * t + 0.3 * rng.standard_normal(60))
    traj = make_traj(loss, np.linspace(0, 0.1, 60))
    lab = label_run(traj, radius=1.0, r2_min=0.0, fit_start=0.5)
    ref = stats.linregress(t[29:], np.log(loss[29:]))  # floor(0.5 * 59) = 29
    assert lab.rate == pytest.approx(math.exp(ref.slope))
    assert lab.r2 == pytest.approx(ref.rvalue ** 2)
    assert lab.linear == (loss[-1] / loss[0] <= 0.1)
    strict = label_run(traj, radius=1.0, r2_min=min(1.0, ref.rvalue ** 2 + 0.01))
    assert not strict.linear


def test_label_run_plateau_is_not_linear_and_growth_is_diverged():
    t = np.arange(30)
    plateau = make_traj(1.0 + 0.5 * 0.5 ** t, np.linspace(0, 0.1, 30))
    lab = label_run(plateau, radius=1.0, loss_drop=0.1)
    assert not lab.linear and not lab.diverged          # L_T / L_0 ≈ 2/3 > 0.1
    growing = make_traj(1.1 ** t, np.linspace(0, 0.1, 30))
    lab = label_run(growing, radius=1.0)
    assert lab.diverged and not (lab.mu_hat_positive or lab.contained or lab.linear)
    assert lab.loss_ratio == pytest.approx(1.1 ** 29)


def test_label_run_nonfinite_divergence_and_round_off():
    t = np.arange(10)
    traj = make_traj(0.5 ** t, np.linspace(0, 0.1, 10), diverged_at=10)
    lab = label_run(traj, radius=1.0)
    assert lab.diverged and not (lab.mu_hat_positive or lab.contained or lab.linear)
    # Reaching exactly zero loss early: the run counts as linear (round-off).
    loss = np.array([1.0, 1e-3, 1e-9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    lab = label_run(make_traj(loss, np.linspace(0, 0.1, 10)), radius=1.0)
    assert lab.linear and not lab.diverged and math.isnan(lab.rate)


def test_label_run_without_two_ntk_records_has_no_positive_estimate():
    t = np.arange(5)
    traj = make_traj(0.5 ** t, np.linspace(0, 0.1, 5), ntk_every=10)  # one NTK record
    lab = label_run(traj, radius=1.0)
    assert math.isnan(lab.lipschitz) and math.isnan(lab.mu_hat) and not lab.mu_hat_positive


# ------------------------------------------------------- closed form: a linear model


def test_linear_model_labels_follow_two_over_beta():
    # n = 5 <= d = 8: X X^T is positive definite, so lambda0 > 0
    x = jax.random.normal(jax.random.PRNGKey(5), (5, 8), dtype=jnp.float64)
    y = jnp.array([1.0, -1.0, 0.5, -0.5, 0.2])
    model = lc.MLP((), activation="linear", parameterization="ntk", b_std=0.0)
    params = model.init(jax.random.PRNGKey(0), x.shape[1], dtype=jnp.float64)
    xn = np.asarray(x)
    kernel = xn @ xn.T / xn.shape[1]                  # the NTK of f(x) = w.x / sqrt(d)
    eig = np.linalg.eigvalsh(kernel)
    beta = eig[-1]                                    # Hessian J^T J has the same top eigenvalue
    assert lc.smoothness(model.apply, params, x, y, iters=200) == pytest.approx(beta, rel=1e-6)
    for multiple, converges in ((0.5, True), (1.0, True), (1.9, True), (2.05, False),
                                (3.0, False)):
        traj = lc.gradient_descent(model.apply, params, x, y, step_size=multiple / beta,
                                   steps=400, record_every=2, ntk_every=20)
        lab = label_run(traj, radius=math.inf, r2_min=0.9, fit_start=0.5)
        assert lab.lambda0 == pytest.approx(eig[0], rel=1e-6)
        assert lab.diverged is (not converges)
        if converges:
            assert lab.lipschitz < 1e-8                # the kernel does not move
            assert lab.mu_hat_positive and lab.contained and lab.linear
            # slowest mode: the loss contracts by (1 - eta lambda)^2 per step
            slowest = max((1 - multiple * e / beta) ** 2 for e in eig)
            assert lab.rate <= slowest + 1e-6


# ---------------------------------------------------------------- the centred model


def test_centered_model_zero_at_init_frozen_copy_and_same_ntk(small_data):
    x, _ = small_data
    mlp = lc.MLP((4,), activation="tanh")
    p0 = mlp.init(jax.random.PRNGKey(1), x.shape[1], dtype=jnp.float64)
    model = CenteredModel(mlp.apply)
    params = centered_params(p0)
    np.testing.assert_allclose(model(params, x), 0.0, atol=1e-14)
    grads = jax.grad(lambda p: jnp.sum(model(p, x) ** 2 + model(p, x)))(params)
    assert all(float(jnp.max(jnp.abs(g))) == 0.0 for g in jax.tree_util.tree_leaves(
        grads["theta0"]))
    vec, unravel = ravel_pytree(p0)
    jac = np.asarray(jax.jacrev(lambda v: mlp.apply(unravel(v), x))(vec))
    kernel = np.asarray(lc.empirical_ntk(model, params, x, method="ntvp"))
    np.testing.assert_allclose(kernel, jac @ jac.T, rtol=1e-10, atol=1e-12)
    assert CenteredModel(mlp.apply) == model and hash(CenteredModel(mlp.apply)) == hash(model)


# ------------------------------------------------------------------ the whole diagram

WIDTHS, MULTIPLES, SEEDS = (3, 6), (0.5, 1.5, 30.0), (0, 4)
SETTINGS = dict(steps=40, record_every=2, ntk_every=10, activation="tanh")


@pytest.fixture(scope="module")
def diagram(small_data):
    x, y = small_data
    return phase_diagram(WIDTHS, MULTIPLES, SEEDS, x, y, **SETTINGS)


def test_diagram_shapes_and_fractions(diagram):
    w, e, s = len(WIDTHS), len(MULTIPLES), len(SEEDS)
    for name in (*REGIMES, "lipschitz", "max_drift", "mu_hat", "rate", "r2", "loss_ratio",
                 "radius_hat"):
        assert getattr(diagram, name).shape == (w, e, s), name
    assert diagram.beta0.shape == diagram.lambda0.shape == diagram.radius.shape == (w, s)
    assert diagram.step_sizes.shape == (w, e)
    for name in REGIMES:
        frac = diagram.fraction(name)
        assert frac.shape == (w, e)
        np.testing.assert_array_equal(frac, getattr(diagram, name).astype(float).mean(-1))
    np.testing.assert_allclose(diagram.step_sizes,
                               np.array(MULTIPLES)[None, :] / diagram.beta0.max(1)[:, None])
    # relative radius: 1% of ||theta_0|| per initialization
    np.testing.assert_allclose(diagram.radius, 0.01 * diagram.param_norm0)


def test_diagram_beta0_matches_dense_hessian(diagram, small_data):
    x, y = small_data
    for i, width in enumerate(WIDTHS):
        mlp = lc.MLP((width,), activation="tanh")
        unravel = ravel_pytree(mlp.init(jax.random.PRNGKey(0), x.shape[1],
                                        dtype=jnp.float64))[1]

        # centred model: f(x; theta) - f(x; theta_0) with theta_0 fixed; one compiled
        # dense Hessian per width, evaluated for every seed
        @jax.jit
        def hessian(v, f0):
            def loss(w):
                u = mlp.apply(unravel(w), x) - f0 - y
                return 0.5 * jnp.sum(u * u)
            return jax.hessian(loss)(v)

        for s, seed in enumerate(SEEDS):
            p0 = mlp.init(jax.random.PRNGKey(seed), x.shape[1], dtype=jnp.float64)
            vec = ravel_pytree(p0)[0]
            top = np.linalg.eigvalsh(np.asarray(hessian(vec, mlp.apply(p0, x))))
            top = top[np.argmax(np.abs(top))]
            assert diagram.beta0[i, s] == pytest.approx(top, rel=1e-4)
            assert diagram.param_norm0[i, s] == pytest.approx(float(np.linalg.norm(vec)))


def test_diagram_agrees_with_single_runs(diagram, small_data):
    x, y = small_data
    for i, width in enumerate(WIDTHS):
        mlp = lc.MLP((width,), activation="tanh")
        model = CenteredModel(mlp.apply)
        for s, seed in enumerate(SEEDS):
            p0 = mlp.init(jax.random.PRNGKey(seed), x.shape[1], dtype=jnp.float64)
            for e in range(len(MULTIPLES)):
                traj = lc.gradient_descent(model, centered_params(p0), x, y,
                                           step_size=float(diagram.step_sizes[i, e]),
                                           steps=40, record_every=2, ntk_every=10,
                                           ntk_method="ntvp")
                lab = label_run(traj, radius=float(diagram.radius[i, s]))
                for name in REGIMES:
                    assert getattr(diagram, name)[i, e, s] == getattr(lab, name), (name, i, e, s)
                for name in ("max_drift", "loss_ratio", "mu_hat"):
                    np.testing.assert_allclose(getattr(diagram, name)[i, e, s],
                                               getattr(lab, name), rtol=1e-7, atol=1e-12)
                assert diagram.lambda0[i, s] == pytest.approx(lab.lambda0, rel=1e-8)


def test_diagram_divergence_beyond_two_over_beta(diagram):
    # eta = 30 / beta0 blows up; eta <= 1.5 / beta0 does not (tiny networks stay near
    # their quadratic model), and nothing diverged at eta * beta0 <= 2.
    assert diagram.diverged[:, 2, :].all()
    assert not diagram.diverged[:, :2, :].any()
    assert np.all(diagram.eta_beta()[diagram.diverged] > 2.0)
    for name in ("mu_hat_positive", "contained", "linear"):
        assert not (getattr(diagram, name) & diagram.diverged).any()


def test_diagram_uncentred_and_standard_run(small_data):
    x, y = small_data
    out = phase_diagram((4,), (1.0,), (0,), x, y, parameterization="standard",
                        centered=False, relative_radius=False, region_radius=0.5, **SETTINGS)
    mlp = lc.MLP((4,), activation="tanh", parameterization="standard")
    p0 = mlp.init(jax.random.PRNGKey(0), x.shape[1], dtype=jnp.float64)
    traj = lc.gradient_descent(mlp.apply, p0, x, y, step_size=float(out.step_sizes[0, 0]),
                               steps=40, record_every=2, ntk_every=10)
    lab = label_run(traj, radius=0.5)
    assert out.contained[0, 0, 0] == lab.contained
    assert out.max_drift[0, 0, 0] == pytest.approx(lab.max_drift, rel=1e-7)
    assert out.radius[0, 0] == 0.5
    assert out.config["ntk_method"] == "auto" and not out.config["centered"]


def test_diagram_to_dict_and_save(diagram, tmp_path):
    data = diagram.to_dict()
    assert set(REGIMES) <= set(data)
    assert np.asarray(data["mu_hat_positive"]).shape == diagram.mu_hat_positive.shape
    path = diagram.save(tmp_path / "phase.json")
    loaded = json.loads(path.read_text())
    assert loaded["widths"] == list(WIDTHS)
    # non-finite numbers (e.g. the rate of a diverged run) become null
    assert loaded["rate"][0][2][0] is None
    assert isinstance(diagram, PhaseDiagram)


# ------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, name", [
    (dict(widths=()), "widths"),
    (dict(widths=(0, 3)), "widths"),
    (dict(step_multiples=(1.0, -1.0)), "step_multiples"),
    (dict(step_multiples=()), "step_multiples"),
    (dict(seeds=(1, 1)), "seeds"),
    (dict(seeds=(-1,)), "seeds"),
    (dict(parameterization="mup"), "parameterization"),
    (dict(activation="sigmoid"), "activation"),
    (dict(depth=0), "depth"),
    (dict(steps=0), "steps"),
    (dict(ntk_every=0), "ntk_every"),
    (dict(region_radius=0.0), "region_radius"),
    (dict(r2_min=1.5), "r2_min"),
    (dict(loss_drop=0.0), "loss_drop"),
    (dict(fit_start=1.0), "fit_start"),
    (dict(centered="yes"), "centered"),
    (dict(ntk_method="fast"), "ntk_method"),
])
def test_phase_diagram_bad_input_names_argument(small_data, kwargs, name):
    x, y = small_data
    args = dict(widths=(3,), step_multiples=(1.0,), seeds=(0,))
    args.update({k: v for k, v in kwargs.items() if k in args})
    rest = {k: v for k, v in kwargs.items() if k not in args}
    with pytest.raises((TypeError, ValueError), match=name):
        phase_diagram(args["widths"], args["step_multiples"], args["seeds"], x, y,
                      steps=4, record_every=2, ntk_every=2, **rest)


def test_phase_diagram_bad_data_names_argument(small_data):
    x, y = small_data
    with pytest.raises(ValueError, match="y"):
        phase_diagram((3,), (1.0,), (0,), x, y[:4], steps=4, ntk_every=2)
    with pytest.raises(ValueError, match="x"):
        phase_diagram((3,), (1.0,), (0,), np.full((6, 5), np.nan), y, steps=4, ntk_every=2)


def test_label_run_bad_input_names_argument():
    t = np.arange(5)
    traj = make_traj(0.5 ** t, np.linspace(0, 0.1, 5))
    with pytest.raises(TypeError, match="trajectory"):
        label_run({"loss": [1.0]}, radius=1.0)
    with pytest.raises(ValueError, match="radius"):
        label_run(traj, radius=-1.0)
    with pytest.raises(ValueError, match="fit_start"):
        label_run(traj, radius=1.0, fit_start=1.0)
    no_ntk = make_traj(0.5 ** t, np.linspace(0, 0.1, 5))
    no_ntk.lambda_min = np.zeros(0)
    with pytest.raises(ValueError, match="ntk_every"):
        label_run(no_ntk, radius=1.0)


def test_fraction_bad_regime(diagram):
    with pytest.raises(ValueError, match="regime"):
        diagram.fraction("stable")
