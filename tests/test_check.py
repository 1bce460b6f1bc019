"""Tests of lplr_core.check: the "check your own network" report.

Oracles are independent of the code under test: closed forms for a linear
model (constant NTK X X^T, exact gradient-descent losses), and for nonlinear
models a plain Python gradient-descent loop with NTKs built from
``jax.jacrev`` of the flattened model and NumPy eigen-decompositions.
"""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from lplr_core.check import (
    DISCLAIMER,
    LinearOnset,
    NetworkReport,
    Verdict,
    check_network,
    linear_onset,
    render_report,
)
from lplr_core.models import MLP

# With the default radius (r = max_t d_t) containment holds by construction and is not a
# verdict; "contained" appears only when a radius is given.
HYPOTHESES = ("lambda0_positive", "lipschitz_compatible", "step_size_stable", "no_divergence")


def linear_apply(w, x):
    return x @ w


@pytest.fixture(scope="module")
def linear_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 12))  # n < d: X X^T is positive definite
    y = rng.normal(size=8)
    w0 = rng.normal(size=12) * 0.1
    return x, y, w0


@pytest.fixture(scope="module")
def linear_report(linear_problem):
    x, y, w0 = linear_problem
    return check_network(linear_apply, jnp.asarray(w0), x, y, steps=120, record_every=1,
                         ntk_every=10)


# ------------------------------------------------------------------ linear model

def test_linear_model_ntk_and_certificate_closed_forms(linear_problem, linear_report):
    x, y, w0 = linear_problem
    rep = linear_report
    ev = np.linalg.eigvalsh(x @ x.T)  # the NTK of f = X w is X X^T, whatever w
    assert rep.lambda0 == pytest.approx(ev[0], rel=1e-10)
    assert rep.lambda_max == pytest.approx(ev[-1], rel=1e-10)
    assert rep.condition_number == pytest.approx(ev[-1] / ev[0], rel=1e-9)
    # Hessian X^T X has the same top eigenvalue; power iteration converges to it
    assert rep.beta0 == pytest.approx(ev[-1], rel=1e-6)
    assert rep.step_size == pytest.approx(1.0 / rep.beta0, rel=1e-12)
    assert rep.step_size_rule.startswith("default")
    # the kernel never moves: L_Theta = 0, certificate = lambda_0 at any radius
    assert rep.kernel_drift_max == pytest.approx(0.0, abs=1e-9 * ev[-1])
    assert rep.lipschitz == pytest.approx(0.0, abs=1e-9)
    assert rep.mu_hat == pytest.approx(ev[0], rel=1e-8)
    assert math.isinf(rep.radius_hat) or rep.radius_hat > 1e6
    assert np.allclose(rep.trajectory.lambda_min, ev[0], rtol=1e-9)


def test_linear_model_exact_losses_drift_and_rate(linear_problem, linear_report):
    x, y, w0 = linear_problem
    rep = linear_report
    eta = rep.step_size
    # closed form: u_t = (I - eta X X^T)^t u_0
    lam, vec = np.linalg.eigh(x @ x.T)
    c0 = vec.T @ (x @ w0 - y)
    steps = rep.trajectory.steps
    exact = 0.5 * np.sum(((1 - eta * lam)[None, :] ** steps[:, None] * c0) ** 2, axis=1)
    np.testing.assert_allclose(rep.trajectory.loss, exact, rtol=1e-7)
    # drift from an independent NumPy gradient-descent loop
    w, drifts = w0.copy(), [0.0]
    for _ in range(rep.steps):
        w = w - eta * x.T @ (x @ w - y)
        drifts.append(np.linalg.norm(w - w0))
    assert rep.max_drift == pytest.approx(max(drifts), rel=1e-8)
    assert rep.max_relative_drift == pytest.approx(max(drifts) / np.linalg.norm(w0), rel=1e-8)
    # fitted rate equals a NumPy polyfit of the closed-form log-losses on the stable window
    fit = rep.rate_fit
    window = (steps >= fit.start) & (steps <= fit.stop)
    slope = np.polyfit(steps[window], np.log(exact[window]), 1)[0]
    assert fit.rate == pytest.approx(np.exp(slope), rel=1e-7)
    assert rep.stable_from == rep.steps // 10 and fit.start == rep.stable_from
    # D2's factor with mu = lambda_0 and beta = lambda_max, and the rate inside it
    factor = 1 - 2 * lam[0] * eta * (1 - rep.beta_hat * eta / 2)
    assert rep.bound_factor == pytest.approx(factor, rel=1e-9)
    assert fit.rate <= factor
    # PL ratio is a Rayleigh quotient of X X^T: in [lambda_min, lambda_max]
    assert lam[0] * (1 - 1e-9) <= rep.pl_envelope_min <= lam[-1]


def test_linear_model_every_verdict_holds(linear_report):
    rep = linear_report
    for v in rep.verdicts:
        assert isinstance(v, Verdict)
        assert v.holds is True, f"{v.name}: {v.explanation}"
        assert v.explanation and "\n" not in v.explanation
    assert rep.consistent
    # "certified" is reserved for the rigorous mode's proof: estimates never certify
    assert not rep.certified and rep.rigorous is None
    assert {v.name for v in rep.verdicts} == set(HYPOTHESES) | {"linear_rate", "rate_within_bound"}
    assert rep.failed() == []


def test_render_report_formats(linear_report):
    rep = linear_report
    assert render_report(rep) == str(rep) == render_report(rep, "text")
    assert render_report(rep, "html") == rep._repr_html_()
    md = render_report(rep, "markdown")
    table = [line for line in md.splitlines() if line.startswith("| ")]
    # one row per quantity of the text report and per verdict, plus the two headers
    text_rows = str(rep).splitlines()[2:]
    assert len(table) == 2 + text_rows.index("") + len(rep.verdicts)
    assert f"`{rep.lambda0:.4g}`" in md and "**PASS**" in md and DISCLAIMER in md
    with pytest.raises(ValueError, match="fmt"):
        render_report(rep, "latex")
    with pytest.raises(TypeError, match="report"):
        render_report(rep.to_dict())


def test_report_renders_as_text_html_and_dict(linear_report):
    rep = linear_report
    text = str(rep)
    assert "not a proof" in text and "λ_0" in text and "PASS" in text
    assert "estimate μ̂" in text and "certificate μ̂" not in text and "certified radius" not in text
    lines = [line for line in text.splitlines() if line.startswith("λ_0 = λ_min")]
    assert lines and f"{rep.lambda0:.4g}" in lines[0]
    html = rep._repr_html_()
    assert html.count("<table") == 2 and "PASS" in html and "not a proof" in html
    d = rep.to_dict()
    assert d["lambda0"] == rep.lambda0 and d["consistent"] is True and d["certified"] is False
    assert d["verdicts"][0]["name"] == "lambda0_positive"
    assert d["disclaimer"] == DISCLAIMER
    json.dumps(d)
    full = rep.to_dict(include_trajectory=True)
    assert len(full["trajectory"]["loss"]) == rep.trajectory.loss.size
    json.dumps(full)
    assert "consistent=True" in repr(rep) and "certified=False" in repr(rep)
    with pytest.raises(KeyError, match="name"):
        rep.verdict("nope")
    with pytest.raises(Exception):  # frozen
        rep.lambda0 = 0.0


# --------------------------------------------------------------- nonlinear oracle

def _oracle(apply_fn, params, x, y, eta, steps, ntk_every):
    """Plain GD loop; NTKs from jacrev of the flattened model; NumPy spectra."""
    flat0, unravel = ravel_pytree(params)

    def f(flat):
        out = apply_fn(unravel(flat), x)
        return out.reshape(-1)

    jac = jax.jit(jax.jacrev(f))
    grad = jax.jit(jax.grad(lambda flat: 0.5 * jnp.sum((f(flat) - y) ** 2)))
    kernel = lambda flat: np.asarray(jac(flat) @ jac(flat).T)  # noqa: E731
    k0 = kernel(flat0)
    flat, drifts, ratios, lmins = flat0, [0.0], [], [np.linalg.eigvalsh(k0)[0]]
    for t in range(1, steps + 1):
        flat = flat - eta * grad(flat)
        d = float(jnp.linalg.norm(flat - flat0))
        drifts.append(d)
        if t % ntk_every == 0:
            k = kernel(flat)
            lmins.append(np.linalg.eigvalsh(k)[0])
            ratios.append(np.max(np.abs(np.linalg.eigvalsh(k - k0))) / d)
    ev0 = np.linalg.eigvalsh(k0)
    return dict(lambda0=ev0[0], lambda_max=ev0[-1], max_drift=max(drifts),
                lip=max(ratios), lambda_min_path=min(lmins))


def test_mlp_from_the_core_matches_a_plain_loop():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 5))
    y = rng.choice([-1.0, 1.0], size=6)
    mlp = MLP((16,), activation="tanh")
    params = mlp.init(jax.random.PRNGKey(0), 5, dtype="float64")
    rep = check_network(mlp.apply, params, x, y, steps=60, record_every=1, ntk_every=5)
    ref = _oracle(mlp.apply, params, jnp.asarray(x), jnp.asarray(y), rep.step_size, 60, 5)
    assert rep.lambda0 == pytest.approx(ref["lambda0"], rel=1e-8)
    assert rep.lambda_max == pytest.approx(ref["lambda_max"], rel=1e-8)
    assert rep.max_drift == pytest.approx(ref["max_drift"], rel=1e-7)
    assert rep.lipschitz_path == pytest.approx(ref["lip"], rel=1e-6)
    assert rep.lambda_min_path == pytest.approx(ref["lambda_min_path"], rel=1e-6)
    mu = ref["lambda0"] - ref["lip"] * ref["max_drift"]
    assert rep.mu_hat == pytest.approx(mu, rel=1e-6, abs=1e-9)
    assert rep.radius_hat == pytest.approx(ref["lambda0"] / ref["lip"], rel=1e-6)
    assert rep.verdict("lipschitz_compatible").holds is bool(mu > 0)
    assert rep.verdict("lambda0_positive").holds is True
    assert rep.p == sum(np.size(l) for l in jax.tree_util.tree_leaves(params))


def _dict_params(key, d, m):
    k1, k2, k3 = jax.random.split(key, 3)
    return {"hidden": {"w": jax.random.normal(k1, (d, m)), "b": jnp.zeros(m)},
            "out": jax.random.normal(k2, (m,)), "skip": jax.random.normal(k3, (d,))}


def jnp_model(params, x):
    d, m = params["hidden"]["w"].shape
    h = jnp.tanh(x @ params["hidden"]["w"] / jnp.sqrt(d) + params["hidden"]["b"])
    return h @ params["out"] / jnp.sqrt(m) + x @ params["skip"] / jnp.sqrt(d)


def jnp_model_column(params, x):
    return jnp_model(params, x)[:, None]


@pytest.fixture(scope="module")
def dict_problem():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(7, 10))
    params = _dict_params(jax.random.PRNGKey(3), 10, 24)
    y = np.asarray(jnp_model(params, x)) + 0.3 * rng.choice([-1.0, 1.0], size=7)
    return params, x, y


def test_jnp_model_with_dict_params(dict_problem):
    params, x, y = dict_problem
    rep = check_network(jnp_model, params, x, y, steps=80, record_every=2, ntk_every=10,
                        name="two-layer tanh + skip")
    ref = _oracle(jnp_model, params, jnp.asarray(x), jnp.asarray(y), rep.step_size, 80, 10)
    assert rep.model == "two-layer tanh + skip" and not rep.output_squeezed
    assert rep.lambda0 == pytest.approx(ref["lambda0"], rel=1e-8)
    assert rep.max_drift == pytest.approx(ref["max_drift"], rel=1e-7)
    assert rep.lipschitz_path == pytest.approx(ref["lip"], rel=1e-6)
    assert rep.trajectory.steps[-1] == 80 and rep.trajectory.ntk_steps[-1] == 80
    assert np.isfinite(rep.mu_hat)


def test_column_output_is_squeezed_and_gives_the_same_report(dict_problem):
    params, x, y = dict_problem
    a = check_network(jnp_model, params, x, y, steps=40)
    b = check_network(jnp_model_column, params, x, y, steps=40)
    assert b.output_squeezed and not a.output_squeezed
    for name in ("lambda0", "beta0", "max_drift", "mu_hat", "lipschitz"):
        assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-10), name
    assert "squeezed" in str(b)


def test_ball_estimate_is_used_when_larger(dict_problem):
    params, x, y = dict_problem
    rep = check_network(jnp_model, params, x, y, steps=40, ball_directions=3)
    assert rep.lipschitz_ball is not None and rep.lipschitz_ball > 0
    assert rep.lipschitz == pytest.approx(max(rep.lipschitz_path, rep.lipschitz_ball))
    assert rep.mu_hat == pytest.approx(rep.lambda0 - rep.lipschitz * rep.radius)


def test_given_radius_and_containment(dict_problem):
    params, x, y = dict_problem
    rep = check_network(jnp_model, params, x, y, steps=40)
    small = check_network(jnp_model, params, x, y, steps=40, radius=rep.max_drift / 2)
    assert small.radius == pytest.approx(rep.max_drift / 2)
    assert small.radius_rule == "given"
    assert small.verdict("contained").holds is False
    assert "max_t d_t" in small.verdict("contained").explanation
    # a larger radius gives a smaller estimate (mu is decreasing in r) and contains the path
    big = check_network(jnp_model, params, x, y, steps=40, radius=2 * rep.max_drift)
    assert big.mu_hat < rep.mu_hat < small.mu_hat
    assert big.verdict("contained").holds is True
    # with the default radius the path is in the ball by construction: no verdict
    assert "contained" not in {v.name for v in rep.verdicts}


# ------------------------------------------------------------ failures are reports

def test_divergence_is_a_verdict_not_an_exception(linear_problem):
    x, y, w0 = linear_problem
    rep = check_network(linear_apply, jnp.asarray(w0), x, y, steps=200, step_size=1e3,
                        radius=1.0)
    assert rep.diverged and rep.diverged_at is not None and rep.diverged_at <= 200
    assert rep.verdict("no_divergence").holds is False
    assert rep.verdict("step_size_stable").holds is False
    assert rep.verdict("contained").holds is False
    assert not rep.consistent and not rep.certified
    assert "diverged" in str(rep)
    json.dumps(rep.to_dict(include_trajectory=True))


def test_divergence_of_a_nonlinear_model(dict_problem):
    params, x, y = dict_problem
    rep = check_network(jnp_model, params, x, y, steps=100, step_size=50.0)
    assert rep.diverged and not rep.consistent
    assert rep.verdict("no_divergence").holds is False
    str(rep), rep._repr_html_()


def test_duplicated_inputs_fail_lambda0(dict_problem):
    params, x, y = dict_problem
    xd = np.array(x)
    xd[1] = xd[0]
    yd = np.array(y)
    yd[1] = yd[0]
    rep = check_network(jnp_model, params, xd, yd, steps=40)
    assert abs(rep.lambda0) <= rep.lambda_tol
    assert rep.verdict("lambda0_positive").holds is False
    assert "singular" in rep.verdict("lambda0_positive").explanation
    assert math.isinf(rep.condition_number) and not rep.consistent


# ------------------------------------------------------------------- bad inputs

def _bad_out(params, x):
    return jnp.stack([x @ params, x @ params], axis=1)


def _nan_out(params, x):
    return x @ params * jnp.nan


@pytest.mark.parametrize("overrides, exc, name", [
    (dict(apply_fn=3), TypeError, "apply_fn"),
    (dict(apply_fn=_bad_out), ValueError, "apply_fn"),
    (dict(apply_fn=_nan_out), ValueError, "apply_fn"),
    (dict(apply_fn=lambda p, x: jnp.sum(x @ p)), ValueError, "apply_fn"),
    (dict(params=jnp.full(12, jnp.nan)), ValueError, "params"),
    (dict(params={}), ValueError, "params"),
    (dict(x=np.full((8, 12), np.nan)), ValueError, "x"),
    (dict(x=np.ones(8)), ValueError, "x"),
    (dict(x="data"), TypeError, "x"),
    (dict(y=np.ones(7)), ValueError, "y"),
    (dict(y=np.ones((8, 2))), ValueError, "y"),
    (dict(y=np.array([np.nan] * 8)), ValueError, "y"),
    (dict(step_size=-0.1), ValueError, "step_size"),
    (dict(step_size=0.0), ValueError, "step_size"),
    (dict(step_size="big"), TypeError, "step_size"),
    (dict(steps=1), ValueError, "steps"),
    (dict(steps=2.5), TypeError, "steps"),
    (dict(radius=-1.0), ValueError, "radius"),
    (dict(loss_star=-1.0), ValueError, "loss_star"),
    (dict(loss_star=1e9), ValueError, "loss_star"),
    (dict(ntk_method="fast"), ValueError, "ntk_method"),
    (dict(ntk_method="structured"), ValueError, "structured"),
    (dict(stable_from=50), ValueError, "stable_from"),
    (dict(record_every=0), ValueError, "record_every"),
    (dict(record_every=2, ntk_every=3), ValueError, "ntk_every"),
    (dict(ball_directions=-1), ValueError, "ball_directions"),
    (dict(min_r2=1.5), ValueError, "min_r2"),
    (dict(key="seed"), TypeError, "key"),
    (dict(name=3), TypeError, "name"),
])
def test_bad_inputs_name_the_argument(linear_problem, overrides, exc, name):
    x, y, w0 = linear_problem
    kwargs = dict(apply_fn=linear_apply, params=jnp.asarray(w0), x=x, y=y, steps=50)
    kwargs.update(overrides)
    with pytest.raises(exc, match=name):
        check_network(kwargs.pop("apply_fn"), kwargs.pop("params"), kwargs.pop("x"),
                      kwargs.pop("y"), **kwargs)


def test_report_type(linear_report):
    assert isinstance(linear_report, NetworkReport)


# ------------------------------------------------------- every verdict, both ways

def cube_apply(w, x):
    """f(x; w) = x w^3: the NTK 9 w^4 x^2 shrinks twentyfold as w goes from 1 to 0.46."""
    return x[:, 0] * w[0] ** 3


def test_every_verdict_can_pass_and_fail(linear_problem, linear_report):
    """No verdict is a tautology: each one is seen holding and failing on some run."""
    x, y, w0 = linear_problem
    w0 = jnp.asarray(w0)
    one, target = np.array([[1.0]]), np.array([0.1])
    reports = [
        linear_report,
        check_network(linear_apply, w0, x, y, steps=60, radius=10.0),          # contained
        check_network(linear_apply, w0, x, y, steps=60, radius=1e-3),          # not contained
        check_network(linear_apply, w0, x, y, steps=60, step_size=1e3, radius=1.0),  # diverges
        # the kernel shrinks along the path: the path estimate times the drift exceeds λ_0
        check_network(cube_apply, jnp.array([1.0]), one, target, steps=300, ntk_every=1),
        # a radius far below the drift makes μ̂ ≈ λ_0 too optimistic: the fitted rate is
        # slower than D2's factor with it
        check_network(cube_apply, jnp.array([1.0]), one, target, steps=300, ntk_every=1,
                      radius=1e-3),
    ]
    xd, yd = np.array(x), np.array(y)
    xd[1], yd[1] = xd[0], yd[0] + 1.0          # one input, two targets: λ_0 = 0
    reports.append(check_network(linear_apply, w0, xd, yd, steps=60))
    seen = {}
    for rep in reports:
        for v in rep.verdicts:
            seen.setdefault(v.name, set()).add(v.holds)
    names = set(HYPOTHESES) | {"contained", "linear_rate", "rate_within_bound"}
    assert set(seen) == names
    for name in names:
        assert {True, False} <= seen[name], f"{name} only came out {seen[name]}"
    cube_small_r = reports[5]
    assert cube_small_r.verdict("rate_within_bound").holds is False
    assert cube_small_r.rate_fit.rate > cube_small_r.bound_factor
    assert reports[4].verdict("lipschitz_compatible").holds is False
    assert reports[4].lipschitz * reports[4].radius > reports[4].lambda0


def test_containment_is_not_the_lipschitz_verdict(dict_problem):
    """A path inside a given ball where L̂_Θ r ≥ λ_0: contained passes, compatibility fails."""
    params, x, y = dict_problem
    rep = check_network(jnp_model, params, x, y, steps=40)
    big = check_network(jnp_model, params, x, y, steps=40, radius=100 * rep.max_drift)
    assert big.verdict("contained").holds is True
    assert big.lipschitz * big.radius >= big.lambda0
    assert big.verdict("lipschitz_compatible").holds is False


# ------------------------------------------------------------------ linear onset

def _onset_oracle(losses, steps, min_r2, min_decades):
    """Brute force: np.polyfit on every window [i, end), first that satisfies the rule."""
    z = np.log(losses)
    for i in range(len(z) - 2):
        t, zz = steps[i:], z[i:]
        slope, icpt = np.polyfit(t, zz, 1)
        res = zz - (icpt + slope * t)
        r2 = 1 - np.sum(res ** 2) / np.sum((zz - zz.mean()) ** 2)
        if slope < 0 and r2 >= min_r2 and -slope * (t[-1] - t[0]) / np.log(10) >= min_decades:
            return i
    return None


def test_linear_onset_of_a_geometric_curve_is_its_start():
    t = np.arange(200.0)
    onset = linear_onset(3.0 * 0.97 ** t)
    assert isinstance(onset, LinearOnset) and onset.index == 0 and onset.step == 0
    assert onset.fit.rate == pytest.approx(0.97, rel=1e-10)
    assert onset.decades == pytest.approx(-199 * np.log10(0.97), rel=1e-9)


def test_linear_onset_finds_the_switch_of_a_power_law_then_geometric_curve():
    # L_t = 1/(1+t)^2 up to t = 300, then geometric with factor 0.98 for 300 more steps
    # (continuous; the power law's own factor at t = 300 is 0.993)
    t = np.arange(0.0, 600.0, 2.0)
    switch, q = 300.0, 0.98
    losses = np.where(t <= switch, (1 + t) ** -2.0, (1 + switch) ** -2.0 * q ** (t - switch))
    onset = linear_onset(losses, steps=t)
    assert onset.index == _onset_oracle(losses, t, 0.99, 1.0)
    # R² >= 0.99 tolerates a little of the transient: the onset is before the switch
    assert 0.6 * switch <= onset.step <= switch
    assert onset.fit.rate == pytest.approx(q, rel=2e-3)
    stricter = linear_onset(losses, steps=t, min_r2=0.9999)
    assert onset.step < stricter.step <= switch + 2


def test_linear_onset_of_sublinear_curves_is_none():
    t = np.arange(1.0, 1001.0)
    for power in (1.0, 2.0):
        assert linear_onset(t ** -power, steps=t) is None
        assert _onset_oracle(t ** -power, t, 0.99, 1.0) is None


def test_linear_onset_needs_the_fall():
    t = np.arange(100.0)
    shallow = 0.999 ** t                    # falls 0.04 decades: straight but flat
    assert linear_onset(shallow) is None
    assert linear_onset(shallow, min_decades=0.01).index == 0
    # a stop before round-off; the window then ends there
    losses = np.concatenate([0.9 ** t, np.zeros(5)])
    assert linear_onset(losses, stop=100).fit.stop == 99


@pytest.mark.parametrize("kwargs, exc, name", [
    (dict(losses=np.ones((3, 3))), ValueError, "losses"),
    (dict(losses=np.ones(2)), ValueError, "losses"),
    (dict(losses=np.array([1.0, 0.5, 0.0, 0.1])), ValueError, "losses - loss_star"),
    (dict(losses=np.ones(5), steps=np.arange(4)), ValueError, "steps"),
    (dict(losses=np.ones(5), steps=np.array([0, 1, 1, 2, 3])), ValueError, "steps"),
    (dict(losses=np.ones(5), min_r2=1.5), ValueError, "min_r2"),
    (dict(losses=np.ones(5), min_decades=-1.0), ValueError, "min_decades"),
    (dict(losses=np.ones(5), stop=9), ValueError, "stop"),
    (dict(losses=np.ones(5), loss_star="zero"), TypeError, "loss_star"),
])
def test_linear_onset_bad_inputs(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        linear_onset(kwargs.pop("losses"), **kwargs)


# ------------------------------------------------------------ rigorous mode: inputs

@pytest.mark.parametrize("make, match", [
    (lambda: dict(apply_fn=jnp_model), "one-hidden-layer"),
    (lambda: dict(apply_fn=MLP((8, 8), "erf").apply), "one hidden layer"),
    (lambda: dict(apply_fn=MLP((8,), "relu").apply), "unbounded"),
    (lambda: dict(apply_fn=MLP((8,), "erf").apply, record_every=2), "record_every"),
])
def test_rigorous_mode_refuses_what_it_cannot_prove(dict_problem, make, match):
    params, x, y = dict_problem
    kwargs = make()
    with pytest.raises(ValueError, match=match):
        check_network(kwargs.pop("apply_fn"), params, x, y, steps=20, rigorous=True, **kwargs)


def test_rigorous_mode_checks_its_mlp_argument(dict_problem):
    params, x, y = dict_problem
    mlp = MLP((8,), "erf")
    theta = mlp.init(jax.random.PRNGKey(0), x.shape[1], dtype="float64")
    with pytest.raises(TypeError, match="mlp"):
        check_network(mlp.apply, theta, x, y, steps=20, rigorous=True, mlp="erf")
    other = MLP((8,), "tanh")             # same shapes, a different function
    with pytest.raises(ValueError, match="mlp"):
        check_network(mlp.apply, theta, x, y, steps=20, rigorous=True, mlp=other)
    with pytest.raises(TypeError, match="rigorous"):
        check_network(mlp.apply, theta, x, y, steps=20, rigorous="yes")


# ------------------------------------------------------- rigorous mode: proofs

@pytest.fixture(scope="module")
def provable_problem():
    """A wide erf network, NTK parameterization, and the largest target scale proved a priori."""
    from lplr_core import bounds

    rng = np.random.default_rng(3)
    x = rng.standard_normal((10, 6))
    labels = np.sign(rng.standard_normal(10))
    mlp = MLP((512,), "erf", "ntk")
    params = mlp.init(3, 6, dtype="float64")
    target = bounds.certified_target_scale(mlp, params, x, labels)
    return mlp, params, x, labels, target


def test_rigorous_mode_proves_a_provable_run(provable_problem):
    from lplr_core import bounds

    mlp, params, x, labels, target = provable_problem
    y = np.asarray(mlp.apply(params, x)) + target.scale * labels
    rep = check_network(mlp.apply, params, x, y, steps=150, step_size=target.step_size,
                        rigorous=True)
    cert = rep.rigorous
    assert cert is not None and cert.mode == "a posteriori" and cert.proved
    assert rep.certified and rep.consistent
    # the same proof, computed directly from an independent run of the same descent
    run = lp_gradient_descent(mlp, params, x, y, target.step_size, 150)
    direct = bounds.certify(mlp, params, x, y, step_size=target.step_size, trajectory=run)
    assert direct.proved
    assert cert.radius == pytest.approx(direct.radius, rel=1e-9)
    assert cert.rate == pytest.approx(direct.rate, rel=1e-12)
    assert cert.radius >= rep.max_drift
    # the theorem's conclusion holds on the run: the loss is under the proved curve
    assert np.all(rep.trajectory.loss <= cert.guaranteed_loss(rep.trajectory.steps) * (1 + 1e-9))
    text, page = str(rep), rep._repr_html_()
    assert text.count("PROVED") == len(cert.hypotheses) and "FAILED" not in text
    assert "Overall (proved): certified" in text and "Overall (estimates): consistent" in text
    assert page.count("PROVED") >= len(cert.hypotheses) and "not an estimate" in page
    d = rep.to_dict()
    assert d["certified"] is True and d["rigorous"]["proved"] is True
    assert [h["name"] for h in d["rigorous"]["hypotheses"]] == [h.name for h in cert.hypotheses]
    json.dumps(d)


def test_rigorous_mode_fails_when_the_drift_is_too_large(provable_problem):
    mlp, params, x, labels, target = provable_problem
    y = np.asarray(mlp.apply(params, x)) + 1000 * target.scale * labels
    rep = check_network(mlp.apply, params, x, y, steps=150, step_size=target.step_size,
                        rigorous=True)
    assert not rep.rigorous.proved and not rep.certified
    # the estimates may still look fine: consistency is not a proof
    failed = [h.name for h in rep.rigorous.hypotheses if not h.proved]
    assert "compatibility" in failed
    assert rep.rigorous.hypothesis("lambda0").proved
    assert "FAILED" in str(rep) and "not certified" in str(rep)
    assert np.isnan(rep.rigorous.rate)


def lp_gradient_descent(mlp, params, x, y, step_size, steps):
    from lplr_core.training import gradient_descent

    return gradient_descent(mlp.apply, params, x, y, step_size=step_size, steps=steps,
                            record_every=1)


def test_rigorous_mode_reports_a_diverged_run_without_raising():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((10, 6))
    labels = np.sign(rng.standard_normal(10))
    mlp = MLP((64,), "erf", "ntk")
    params = mlp.init(3, 6, dtype="float64")
    rep = check_network(mlp.apply, params, x, labels, steps=100, step_size=50.0, rigorous=True)
    assert rep.diverged and not rep.certified and not rep.consistent
    assert not rep.rigorous.hypothesis("containment").proved
    assert not rep.rigorous.hypothesis("smoothness").proved      # η far beyond 2/β
    assert "FAILED" in str(rep)
