"""Tests for lplr_core.training.

References are independent: a plain Python gradient-descent loop on our own
loss with ``jax.grad``, our own Jacobian NTK (``jax.jacrev`` on the flattened
parameters) and NumPy. Models are tiny so that the file runs in seconds.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import lplr_core as lc

# ----------------------------------------------------------------------------- helpers


def my_loss(apply_fn, params, x, y):
    u = apply_fn(params, x) - y
    return 0.5 * jnp.sum(u * u)


def flat(params):
    return np.asarray(ravel_pytree(params)[0])


@functools.lru_cache(maxsize=None)
def _jitted(apply_fn):
    """Our own jitted loss/gradient and Jacobian for one model (compiled once per model)."""
    value_and_grad = jax.jit(jax.value_and_grad(lambda p, x, y: my_loss(apply_fn, p, x, y)))

    @jax.jit
    def jacobian(params, x):
        vec, unravel = ravel_pytree(params)
        return jax.jacrev(lambda v: apply_fn(unravel(v), x))(vec)

    return value_and_grad, jacobian


def my_ntk(apply_fn, params, x):
    jac = np.asarray(_jitted(apply_fn)[1](params, x))
    return jac @ jac.T


def my_gd(apply_fn, params, x, y, step_size, steps, stop_at_nonfinite=False):
    """Plain Python GD. Returns iterates theta_0..theta_T and the losses L(theta_t)."""
    value_and_grad = _jitted(apply_fn)[0]
    iterates, losses = [params], []
    for t in range(steps + 1):
        value, grads = value_and_grad(params, x, y)
        losses.append(float(value))
        if t == steps or (stop_at_nonfinite and not math.isfinite(float(value))):
            break
        params = jax.tree_util.tree_map(lambda a, g: a - step_size * g, params, grads)
        iterates.append(params)
    return iterates, np.array(losses)


def my_grad_norm_sq(apply_fn, params, x, y):
    _, grads = _jitted(apply_fn)[0](params, x, y)
    return float(np.sum(flat(grads) ** 2))


def assert_params_close(a, b, rtol=1e-12):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    va, vb = flat(a), flat(b)
    np.testing.assert_allclose(va, vb, rtol=0, atol=rtol * max(1.0, float(np.max(np.abs(vb)))))


def assert_params_identical(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


ARRAYS = ("loss", "grad_norm_sq", "drift", "relative_drift", "pl_ratio", "steps", "lambda_min",
          "lambda_max", "kernel_drift", "ntk_steps")


def assert_trajectories_identical(a, b):
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.diverged_at == b.diverged_at
    assert_params_identical(a.params, b.params)


# ---------------------------------------------------------------------------- problems

N, D = 10, 3
ETA = 0.05          # stable for both MLPs below
ETA_DIVERGE = 2.0   # the ReLU MLP's loss overflows within ten steps for seeds 0, 1, 2

# Divergence is tested on a ReLU network: its derivative is exactly 0 or 1, so the blow-up is
# well conditioned and mathematically equal programs agree to round-off all the way to the
# overflow. (With tanh, 1 - tanh(h)^2 at |h| ~ 20 loses all its digits, and two equal
# programs that differ in summation order part company at 1e-10..1e-6 as the weights explode.)
RELU = lc.MLP((16,), "relu")


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(N, D)))
    y = jnp.asarray(rng.normal(size=N))
    model = lc.MLP((16,), "tanh")
    params = model.init(0, D)
    return model, params, x, y


@pytest.fixture(scope="module")
def diverged(problem):
    """A diverging ReLU run (blow-up test off: it overflows) and its plain-loop reference."""
    _, _, x, y = problem
    params = RELU.init(0, D)
    traj = lc.gradient_descent(RELU.apply, params, x, y, step_size=ETA_DIVERGE, steps=40,
                               ntk_every=2, blowup=math.inf)
    iterates, losses = my_gd(RELU.apply, params, x, y, ETA_DIVERGE, 40, stop_at_nonfinite=True)
    return traj, iterates, losses, params


# ------------------------------------------------------------------ records and the engine


@pytest.mark.parametrize("steps, record_every, ntk_every, expected_steps, expected_ntk", [
    (23, 5, 10, [0, 5, 10, 15, 20, 23], [0, 10, 20]),
    (20, 5, 10, [0, 5, 10, 15, 20], [0, 10, 20]),
    (7, 1, None, list(range(8)), []),
    (9, 4, 4, [0, 4, 8, 9], [0, 4, 8]),
])
def test_record_layout_and_values_match_plain_loop(problem, steps, record_every, ntk_every,
                                                   expected_steps, expected_ntk):
    model, params, x, y = problem
    traj = lc.gradient_descent(model.apply, params, x, y, step_size=ETA, steps=steps,
                               record_every=record_every, ntk_every=ntk_every)
    np.testing.assert_array_equal(traj.steps, expected_steps)
    np.testing.assert_array_equal(traj.ntk_steps, expected_ntk)
    assert traj.diverged_at is None and not traj.diverged
    iterates, losses = my_gd(model.apply, params, x, y, ETA, steps)
    # final parameters: the hand-written loop, to 1e-12
    assert_params_close(traj.params, iterates[-1], 1e-12)
    theta0 = flat(params)
    for i, s in enumerate(traj.steps):
        assert traj.loss[i] == pytest.approx(losses[s], rel=1e-10)
        assert traj.grad_norm_sq[i] == pytest.approx(
            my_grad_norm_sq(model.apply, iterates[s], x, y), rel=1e-9)
        d = np.linalg.norm(flat(iterates[s]) - theta0)
        assert traj.drift[i] == pytest.approx(d, rel=1e-9, abs=1e-13)
        assert traj.relative_drift[i] == pytest.approx(d / np.linalg.norm(theta0), rel=1e-9,
                                                       abs=1e-13)
        assert traj.pl_ratio[i] == pytest.approx(traj.grad_norm_sq[i] / (2 * traj.loss[i]),
                                                 rel=1e-12)
    # entry 0 is theta_0 exactly
    assert traj.drift[0] == 0.0 and traj.relative_drift[0] == 0.0
    value0 = float(my_loss(model.apply, params, x, y))
    gsq0 = my_grad_norm_sq(model.apply, params, x, y)
    assert traj.loss[0] == pytest.approx(value0, rel=1e-13)
    assert traj.grad_norm_sq[0] == pytest.approx(gsq0, rel=1e-12)
    assert traj.pl_ratio[0] == pytest.approx(gsq0 / (2 * value0), rel=1e-12)
    # NTK records: spectra of our own NTK at our own iterates
    if ntk_every:
        k0 = my_ntk(model.apply, params, x)
        ev0 = np.linalg.eigvalsh(k0)
        assert traj.lambda0 == pytest.approx(ev0[0], rel=1e-9)
        assert traj.lambda_min[0] == pytest.approx(ev0[0], rel=1e-9)
        lib0 = np.linalg.eigvalsh(np.asarray(lc.empirical_ntk(model.apply, params, x,
                                                                shard=False)))
        assert traj.lambda_min[0] == pytest.approx(lib0[0], rel=1e-9)
        assert traj.kernel_drift[0] == pytest.approx(0.0, abs=1e-12 * ev0[-1])
        for k, s in enumerate(traj.ntk_steps):
            kt = my_ntk(model.apply, iterates[s], x)
            ev = np.linalg.eigvalsh(kt)
            assert traj.lambda_min[k] == pytest.approx(ev[0], rel=1e-8)
            assert traj.lambda_max[k] == pytest.approx(ev[-1], rel=1e-9)
            assert traj.kernel_drift[k] == pytest.approx(np.linalg.norm(kt - k0, 2), rel=1e-7,
                                                         abs=1e-12 * ev0[-1])
    else:
        for name in ("lambda_min", "lambda_max", "kernel_drift"):
            assert getattr(traj, name).shape == (0,)


def test_zero_steps(problem):
    model, params, x, y = problem
    traj = lc.gradient_descent(model.apply, params, x, y, step_size=ETA, steps=0, ntk_every=5)
    np.testing.assert_array_equal(traj.steps, [0])
    np.testing.assert_array_equal(traj.ntk_steps, [0])
    assert traj.loss.shape == (1,)
    assert traj.loss[0] == pytest.approx(float(my_loss(model.apply, params, x, y)), rel=1e-13)
    assert traj.diverged_at is None
    assert_params_identical(traj.params, params)
    assert traj.lambda0 == pytest.approx(np.linalg.eigvalsh(my_ntk(model.apply, params, x))[0],
                                         rel=1e-9)


def test_config_records_the_settings(problem):
    model, params, x, y = problem
    traj = lc.gradient_descent(model.apply, params, x, y, step_size=ETA, steps=7)
    cfg = traj.config
    assert cfg["algorithm"] == "gradient_descent"
    assert cfg["step_size"] == ETA and cfg["steps"] == 7 and cfg["record_every"] == 1
    assert cfg["n"] == N
    assert cfg["p"] == flat(params).size


# ------------------------------------------------------------------------- validation


def _gd(problem, **overrides):
    model, params, x, y = problem
    kwargs = dict(step_size=ETA, steps=4)
    kwargs.update(overrides)
    x_ = kwargs.pop("x", x)
    y_ = kwargs.pop("y", y)
    return lc.gradient_descent(model.apply, params, x_, y_, **kwargs)


def _sgd(problem, **overrides):
    model, params, x, y = problem
    kwargs = dict(step_size=ETA, steps=4, batch_size=4)
    kwargs.update(overrides)
    return lc.sgd(model.apply, params, x, y, **kwargs)


def _sweep(problem, **overrides):
    model, params, x, y = problem
    kwargs = dict(step_sizes=[ETA], steps=4)
    kwargs.update(overrides)
    stacked = kwargs.pop("params", lc.stack_params([params, params]))
    return lc.gradient_descent_sweep(model.apply, stacked, x, y, **kwargs)


@pytest.mark.parametrize("runner, overrides, exc, name", [
    (_gd, dict(record_every=2, ntk_every=3), ValueError, "ntk_every"),
    (_gd, dict(ntk_every=0), ValueError, "ntk_every"),
    (_gd, dict(step_size=0.0), ValueError, "step_size"),
    (_gd, dict(step_size=-0.1), ValueError, "step_size"),
    (_gd, dict(step_size=float("nan")), ValueError, "step_size"),
    (_gd, dict(step_size=float("inf")), ValueError, "step_size"),
    (_gd, dict(step_size=True), TypeError, "step_size"),
    (_gd, dict(step_size="0.1"), TypeError, "step_size"),
    (_gd, dict(steps=-1), ValueError, "steps"),
    (_gd, dict(steps=3.0), TypeError, "steps"),
    (_gd, dict(record_every=0), ValueError, "record_every"),
    (_gd, dict(y=np.zeros(N + 1)), ValueError, "y"),
    (_gd, dict(y=np.zeros((N, 2))), ValueError, "y"),
    (_gd, dict(x=np.full((N, D), np.nan)), ValueError, "x"),
    (_gd, dict(x=np.zeros(N)), ValueError, "x"),
    (_gd, dict(loss_star=-1.0), ValueError, "loss_star"),
    (_gd, dict(ntk_method="bogus"), ValueError, "ntk_method"),
    (_sgd, dict(batch_size=N + 1), ValueError, "batch_size"),
    (_sgd, dict(batch_size=0), ValueError, "batch_size"),
    (_sgd, dict(key="seed"), TypeError, "key"),
    (_sgd, dict(step_size=0.0), ValueError, "step_size"),
    (_sgd, dict(record_every=3, ntk_every=4), ValueError, "ntk_every"),
    (_sweep, dict(step_sizes=[ETA, 0.0]), ValueError, "step_sizes"),
    (_sweep, dict(step_sizes=[ETA, float("nan")]), ValueError, "step_sizes"),
    (_sweep, dict(step_sizes=[]), ValueError, "step_sizes"),
    (_sweep, dict(record_every=2, ntk_every=5), ValueError, "ntk_every"),
    (_sweep, dict(shard="yes"), TypeError, "shard"),
], ids=lambda v: getattr(v, "__name__", None))
def test_run_argument_errors_name_the_argument(problem, runner, overrides, exc, name):
    with pytest.raises(exc) as info:
        runner(problem, **overrides)
    assert name in str(info.value), str(info.value)


def test_sweep_needs_a_leading_seed_axis(problem):
    model, params, x, y = problem
    with pytest.raises(ValueError, match="params"):
        lc.gradient_descent_sweep(model.apply, params, x, y, step_sizes=[ETA], steps=2)


# ------------------------------------------------------------------------- divergence


def test_divergence_is_recorded_not_raised(diverged):
    traj, iterates, losses, _ = diverged
    d = traj.diverged_at
    assert type(d) is int and traj.diverged
    # the reference loop: finite at d - 1, not finite at d
    assert len(losses) == d + 1
    assert math.isfinite(losses[d - 1])
    assert not math.isfinite(losses[d])
    # records stop before it and are all finite
    assert traj.steps.size > 1 and traj.steps[-1] < d
    assert d >= 4
    np.testing.assert_array_equal(traj.steps, np.arange(d))
    for name in ("loss", "grad_norm_sq", "drift", "relative_drift", "pl_ratio", "lambda_min",
                 "lambda_max", "kernel_drift"):
        assert np.all(np.isfinite(getattr(traj, name))), name
    assert np.all(traj.ntk_steps < d)
    np.testing.assert_array_equal(traj.ntk_steps, np.arange(0, d, 2))
    # the recorded losses are those of the loop (the last ones are huge, but finite)
    np.testing.assert_allclose(traj.loss, losses[:d], rtol=1e-12)
    assert traj.loss[-1] > 1e100
    # params: the last ones with a finite loss, theta_{d-1}
    assert all(np.all(np.isfinite(np.asarray(l))) for l in jax.tree_util.tree_leaves(traj.params))
    assert_params_close(traj.params, iterates[d - 1], 1e-12)
    assert traj.divergence == "nonfinite_loss"


def test_small_step_does_not_diverge(problem, diverged):
    _, _, x, y = problem
    params = diverged[3]
    traj = lc.gradient_descent(RELU.apply, params, x, y, step_size=ETA, steps=40, ntk_every=2)
    assert traj.diverged_at is None
    assert np.all(np.isfinite(traj.loss)) and traj.loss.shape == (41,)
    assert traj.loss[-1] < traj.loss[0]


@pytest.mark.parametrize("offset", [0, 1, 2])
def test_divergence_detected_when_the_run_ends_near_it(problem, diverged, offset):
    # Running exactly up to (or just past) the first non-finite step must report it:
    # a trajectory with diverged_at None has only finite records and finite-loss params.
    _, _, x, y = problem
    first, iterates, _, params = diverged
    d = first.diverged_at
    traj = lc.gradient_descent(RELU.apply, params, x, y, step_size=ETA_DIVERGE, steps=d + offset,
                               blowup=math.inf)
    assert traj.diverged_at == d
    assert np.all(np.isfinite(traj.loss))
    assert traj.steps[-1] == d - 1
    assert_params_close(traj.params, iterates[d - 1], 1e-12)


# ------------------------------------------------------------------------- determinism


def test_identical_calls_are_bitwise_identical(problem):
    model, params, x, y = problem
    kwargs = dict(step_size=ETA, steps=20, record_every=2, ntk_every=4)
    a = lc.gradient_descent(model.apply, params, x, y, **kwargs)
    b = lc.gradient_descent(model.apply, params, x, y, **kwargs)
    assert_trajectories_identical(a, b)
    # the same seed gives the same initialization, hence the same run
    again = lc.MLP((16,), "tanh").init(0, D)
    assert_params_identical(again, params)
    c = lc.gradient_descent(model.apply, again, x, y, **kwargs)
    assert_trajectories_identical(a, c)
    # a different seed gives a different run
    other = lc.gradient_descent(model.apply, model.init(1, D), x, y, **kwargs)
    assert not np.array_equal(other.loss, a.loss)


def test_sgd_determinism_by_key(problem):
    model, params, x, y = problem
    kwargs = dict(step_size=ETA, steps=12, batch_size=3, record_every=2)
    a = lc.sgd(model.apply, params, x, y, key=5, **kwargs)
    b = lc.sgd(model.apply, params, x, y, key=5, **kwargs)
    assert_trajectories_identical(a, b)
    c = lc.sgd(model.apply, params, x, y, key=jax.random.PRNGKey(5), **kwargs)
    assert_trajectories_identical(a, c)
    other = lc.sgd(model.apply, params, x, y, key=6, **kwargs)
    assert not np.array_equal(other.loss[1:], a.loss[1:])
    assert other.loss[0] == a.loss[0]


# ------------------------------------------------------------------------------- sgd


def test_sgd_full_batch_equals_gradient_descent(problem):
    model, params, x, y = problem
    kwargs = dict(step_size=ETA, steps=20, record_every=2, ntk_every=4)
    gd = lc.gradient_descent(model.apply, params, x, y, **kwargs)
    st = lc.sgd(model.apply, params, x, y, batch_size=N, key=3, **kwargs)
    np.testing.assert_array_equal(st.steps, gd.steps)
    np.testing.assert_array_equal(st.ntk_steps, gd.ntk_steps)
    for name in ("loss", "grad_norm_sq", "drift", "pl_ratio", "lambda_min", "lambda_max"):
        np.testing.assert_allclose(getattr(st, name), getattr(gd, name), rtol=1e-10,
                                   err_msg=name)
    assert_params_close(st.params, gd.params, 1e-10)
    assert st.config["algorithm"] == "sgd" and st.config["batch_size"] == N


def test_sgd_step_is_scaled_minibatch_gradient_of_distinct_samples():
    # One SGD step from theta_0 must equal theta_0 - eta (n/b) grad L_B(theta_0) for one of the
    # C(n, b) subsets B of distinct samples.
    rng = np.random.default_rng(9)
    n, b, eta = 6, 2, 0.3
    x = jnp.asarray(rng.normal(size=(n, 2)))
    y = jnp.asarray(rng.normal(size=n))
    model = lc.MLP((4,), "tanh")
    params = model.init(2, 2)
    for key in (0, 1, 2):
        traj = lc.sgd(model.apply, params, x, y, step_size=eta, steps=1, batch_size=b, key=key)
        got = flat(traj.params)
        matches = []
        for subset in itertools.combinations(range(n), b):
            idx = np.array(subset)
            _, g = _jitted(model.apply)[0](params, x[idx], y[idx])
            cand = flat(params) - eta * (n / b) * flat(g)
            if np.allclose(got, cand, rtol=0, atol=1e-12):
                matches.append(subset)
        assert len(matches) == 1, (key, matches)


def test_sgd_decreases_the_loss_on_an_easy_problem():
    rng = np.random.default_rng(4)
    n, d = 16, 5
    x = jnp.asarray(rng.normal(size=(n, d)))
    y = jnp.asarray(x @ rng.normal(size=d) / math.sqrt(d))  # a linear target
    model = lc.MLP((), b_std=0.0)
    params = model.init(0, d)
    traj = lc.sgd(model.apply, params, x, y, step_size=0.02, steps=200, batch_size=4, key=0,
                  record_every=50)
    assert traj.diverged_at is None
    assert traj.loss[-1] < 1e-3 * traj.loss[0]


# ----------------------------------------------------------------------------- sweeps


@pytest.fixture(scope="module")
def sweep_setup(problem):
    _, _, x, y = problem
    model = RELU
    seeds = [model.init(s, D) for s in (0, 1, 2)]
    stacked = lc.stack_params(seeds)
    sizes = [0.02, ETA, ETA_DIVERGE]
    kwargs = dict(steps=60, record_every=3, ntk_every=6)
    assert jax.device_count() == 2
    plain = lc.gradient_descent_sweep(model.apply, stacked, x, y, step_sizes=sizes, shard=False,
                                      **kwargs)
    singles = [[lc.gradient_descent(model.apply, p, x, y, step_size=e, **kwargs) for e in sizes]
               for p in seeds]
    return plain, singles, sizes, (stacked, kwargs)


def test_sweep_entries_equal_individual_runs(sweep_setup):
    plain, singles, sizes, _ = sweep_setup
    assert plain.loss.shape == (3, 3, 21)
    assert plain.lambda_min.shape == (3, 3, 11)
    np.testing.assert_array_equal(plain.step_sizes, sizes)
    n_diverged = 0
    for i, row in enumerate(singles):
        for j, single in enumerate(row):
            traj = plain.trajectory(i, j)
            assert traj.diverged_at == single.diverged_at
            expected_flag = -1 if single.diverged_at is None else single.diverged_at
            assert plain.diverged_at[i, j] == expected_flag
            np.testing.assert_array_equal(traj.steps, single.steps)
            np.testing.assert_array_equal(traj.ntk_steps, single.ntk_steps)
            for name in ("loss", "grad_norm_sq", "drift", "relative_drift", "pl_ratio"):
                np.testing.assert_allclose(getattr(traj, name), getattr(single, name),
                                           rtol=1e-12, atol=1e-12, err_msg=name)
            # eigenvalues are accurate to round-off times ||Theta||, not relative to themselves
            # (lambda_min of the exploded kernels is round-off noise)
            scale = 1e-12 * max(1.0, float(np.max(np.abs(single.lambda_max))))
            for name in ("lambda_min", "lambda_max", "kernel_drift"):
                np.testing.assert_allclose(getattr(traj, name), getattr(single, name),
                                           rtol=1e-12, atol=scale, err_msg=name)
            assert_params_close(traj.params, single.params, 1e-12)
            assert traj.config["step_size"] == sizes[j]
            if single.diverged:
                n_diverged += 1
                # cut at divergence, finite before it; raw arrays NaN from it on
                assert np.all(traj.steps < single.diverged_at)
                assert np.all(np.isfinite(traj.loss))
                late = plain.steps >= single.diverged_at
                assert late.any() and np.all(np.isnan(plain.loss[i, j][late]))
            else:
                assert np.all(np.isfinite(plain.loss[i, j]))
    # the huge step diverges for every seed, the small ones for none
    assert n_diverged == 3
    assert np.all(plain.diverged_at[:, 2] >= 0) and np.all(plain.diverged_at[:, :2] == -1)


def test_sweep_raw_records_are_nan_from_divergence_on(problem):
    # SweepResult: "records at or after a run's divergence are NaN" -- NTK records included.
    _, _, x, y = problem
    stacked = lc.stack_params([RELU.init(s, D) for s in (0, 1, 2)])
    sweep = lc.gradient_descent_sweep(RELU.apply, stacked, x, y, step_sizes=[ETA_DIVERGE],
                                      steps=12, ntk_every=2, shard=False)
    flags = sweep.diverged_at[:, 0]
    assert np.all(flags >= 0)
    # with this data at least one run diverges exactly at an NTK step
    assert any(d in sweep.ntk_steps for d in flags)
    for i, d in enumerate(flags):
        late, early = sweep.steps >= d, sweep.steps < d
        assert np.all(np.isnan(sweep.loss[i, 0][late]))
        assert np.all(np.isfinite(sweep.loss[i, 0][early]))
        late_ntk = sweep.ntk_steps >= d
        for name in ("lambda_min", "lambda_max", "kernel_drift"):
            assert np.all(np.isnan(getattr(sweep, name)[i, 0][late_ntk])), (name, i, d)


@pytest.mark.parametrize("shard", [True, None])
def test_sharded_sweep_equals_unsharded(problem, sweep_setup, shard):
    # 3 seeds x 3 step sizes = 9 runs on 2 devices: the batch is padded to 10 and sharded;
    # shard=None shards automatically when there are several devices.
    _, _, x, y = problem
    plain, _, sizes, (stacked, kwargs) = sweep_setup
    assert jax.device_count() == 2
    sharded = lc.gradient_descent_sweep(RELU.apply, stacked, x, y, step_sizes=sizes,
                                        shard=shard, **kwargs)
    for name in ("loss", "grad_norm_sq", "drift", "relative_drift", "pl_ratio"):
        np.testing.assert_allclose(getattr(sharded, name), getattr(plain, name), rtol=1e-12,
                                   atol=1e-12, equal_nan=True, err_msg=name)
    for i, j in np.ndindex(*plain.diverged_at.shape):
        # eigenvalues to round-off times ||Theta|| (see test_sweep_entries_equal_individual_runs)
        scale = 1e-12 * max(1.0, float(np.nanmax(np.abs(plain.lambda_max[i, j]))))
        for name in ("lambda_min", "lambda_max", "kernel_drift"):
            np.testing.assert_allclose(getattr(sharded, name)[i, j], getattr(plain, name)[i, j],
                                       rtol=1e-12, atol=scale, equal_nan=True, err_msg=name)
    np.testing.assert_array_equal(sharded.diverged_at, plain.diverged_at)
    np.testing.assert_array_equal(sharded.steps, plain.steps)
    assert_params_close(sharded.params, plain.params, 1e-12)


def test_sharded_sweep_of_a_cnn_equals_unsharded():
    # Regression: partitioning the vmapped program across devices failed inside JAX for
    # convolutions (NotImplementedError in the conv batching rule under a mesh).
    assert jax.device_count() == 2
    model = lc.CNN((3,), image_shape=(6, 6, 1))
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(8, 36)), np.sign(rng.normal(size=8))
    stacked = lc.stack_params([model.init(jax.random.PRNGKey(s), 36) for s in range(3)])
    kwargs = dict(step_sizes=np.array([0.01, 0.03]), steps=12, record_every=3, ntk_every=6)
    plain = lc.gradient_descent_sweep(model.apply, stacked, x, y, shard=False, **kwargs)
    split = lc.gradient_descent_sweep(model.apply, stacked, x, y, shard=True, **kwargs)
    for name in ("loss", "drift", "pl_ratio", "lambda_min", "kernel_drift"):
        np.testing.assert_allclose(getattr(split, name), getattr(plain, name), rtol=1e-12,
                                   atol=1e-13, equal_nan=True, err_msg=name)
    single = lc.gradient_descent(model.apply, model.init(jax.random.PRNGKey(2), 36), x, y,
                                 step_size=0.03, steps=12, record_every=3, ntk_every=6)
    np.testing.assert_allclose(split.trajectory(2, 1).loss, single.loss, rtol=1e-10)
    assert_params_close(split.params, plain.params, 1e-12)


# ------------------------------------------------------------------------ persistence


def _roundtrip(traj, path):
    written = traj.save(path)
    loaded = lc.Trajectory.load(path)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(loaded, name), getattr(traj, name), err_msg=name)
        assert getattr(loaded, name).dtype == getattr(traj, name).dtype, name
    assert loaded.diverged_at == traj.diverged_at
    assert loaded.config == traj.config
    assert_params_identical(loaded.params, traj.params)
    return written, loaded


def test_save_load_roundtrip(problem, diverged, tmp_path):
    model, params, x, y = problem
    traj = lc.gradient_descent(model.apply, params, x, y, step_size=ETA, steps=20,
                               record_every=2, ntk_every=4, loss_star=0.01)
    written, loaded = _roundtrip(traj, tmp_path / "run.npz")
    assert written.exists() and written.with_suffix(".json").exists()
    assert loaded.lambda0 == traj.lambda0
    # a diverged run, saved without a suffix
    written, loaded = _roundtrip(diverged[0], tmp_path / "diverged")
    assert written.suffix == ".npz"
    assert loaded.diverged_at == diverged[0].diverged_at and loaded.diverged
    assert loaded.divergence == diverged[0].divergence == "nonfinite_loss"
    # a run without NTK records, with a dict-of-lists parameter pytree
    tree = {"layers": params, "extra": (jnp.asarray([0.0]),)}

    def apply_tree(p, xx):
        return model.apply(p["layers"], xx) + p["extra"][0][0]

    plain = lc.gradient_descent(apply_tree, tree, x, y, step_size=ETA, steps=3)
    _roundtrip(plain, tmp_path / "tree.npz")


def test_load_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        lc.Trajectory.load(tmp_path / "nothing_here.npz")
    # an .npz without its .json is incomplete
    np.savez(tmp_path / "half.npz", loss=np.ones(2))
    with pytest.raises(FileNotFoundError):
        lc.Trajectory.load(tmp_path / "half.npz")


class LinearParams(NamedTuple):
    """Module-level, so that Trajectory.load can import it back by module and qualname."""
    w: jax.Array
    b: jax.Array


def _linear_apply(p, x):
    return x @ p.w + p.b


@pytest.fixture(scope="module")
def linear_run(problem):
    _, _, x, y = problem
    params = LinearParams(jnp.asarray(np.random.default_rng(1).normal(size=D) / 10), jnp.zeros(()))
    return lc.gradient_descent(_linear_apply, params, x, y, step_size=0.01, steps=4)


def test_save_load_keeps_namedtuples_and_exotic_containers(problem, linear_run, tmp_path):
    _, loaded = _roundtrip(linear_run, tmp_path / "nt.npz")
    assert type(loaded.params) is LinearParams
    assert loaded.params.w.dtype == linear_run.params.w.dtype
    # int dict keys, None, nested tuples and lists, and a NamedTuple inside a dict
    model, params, x, y = problem
    tree = {"layers": params, "extra": {3: (None, [jnp.asarray([0.0])])}, "lin": linear_run.params}

    def apply_tree(p, xx):
        return (model.apply(p["layers"], xx) + p["extra"][3][1][0][0]
                + 0.0 * _linear_apply(p["lin"], xx))

    run = lc.gradient_descent(apply_tree, tree, x, y, step_size=ETA, steps=2)
    _, loaded = _roundtrip(run, tmp_path / "tree.npz")
    assert list(loaded.params) == list(run.params) and list(loaded.params["extra"]) == [3]
    extra = loaded.params["extra"][3]
    assert isinstance(extra, tuple) and extra[0] is None and isinstance(extra[1], list)
    assert type(loaded.params["lin"]) is LinearParams
    # the file records no pickle: the description is plain JSON
    meta = json.loads((tmp_path / "tree.json").read_text())
    assert meta["params_tree"]["dict"][2][1]["namedtuple"]["qualname"] == "LinearParams"


def test_save_load_namedtuple_that_cannot_be_imported(problem, tmp_path):
    _, _, x, y = problem

    class Local(NamedTuple):
        w: jax.Array

    run = lc.gradient_descent(lambda p, xx: xx @ p.w, Local(jnp.zeros(D)), x, y,
                              step_size=0.01, steps=1)
    run.save(tmp_path / "local.npz")
    with pytest.raises(ValueError, match=r"local\.json.*Local.*cannot be imported"):
        lc.Trajectory.load(tmp_path / "local.npz")
    meta = json.loads((tmp_path / "local.json").read_text())
    meta["params_tree"]["namedtuple"].update(module="no_such_module_xyz", qualname="P")
    (tmp_path / "local.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"no_such_module_xyz\.P.*cannot be imported"):
        lc.Trajectory.load(tmp_path / "local.npz")
    meta["params_tree"]["namedtuple"].update(module="json", qualname="dumps")
    (tmp_path / "local.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"json\.dumps is not a NamedTuple"):
        lc.Trajectory.load(tmp_path / "local.npz")


def test_save_refuses_unknown_pytree_nodes(linear_run, tmp_path):
    from dataclasses import replace

    @jax.tree_util.register_pytree_node_class
    class Box:
        def __init__(self, v):
            self.v = v

        def tree_flatten(self):
            return (self.v,), None

        @classmethod
        def tree_unflatten(cls, aux, children):
            return cls(*children)

    with pytest.raises(TypeError, match=r"params\['box'\] is a .*Box"):
        replace(linear_run, params={"box": Box(jnp.zeros(2))}).save(tmp_path / "box.npz")
    assert not (tmp_path / "box.npz").exists() and not list(tmp_path.iterdir())


def _damaged(linear_run, tmp_path, name):
    path = linear_run.save(tmp_path / f"{name}.npz")
    return path, path.with_suffix(".json")


def _rewrite_npz(path, change):
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    np.savez(path, **arrays)


@pytest.mark.parametrize("damage, message", [
    ("truncated_npz", r"truncated\.npz: not a readable trajectory archive"),
    ("garbage_npz", r"garbage_npz\.npz: not a readable trajectory archive"),
    ("bad_json", r"bad_json\.json: not valid JSON"),
    ("json_list", r"json_list\.json: must hold a JSON object"),
    ("json_missing_config", r"json_missing_config\.json: missing entries \['config'\]"),
    ("json_missing_tree", r"json_missing_tree\.json: missing entries \['params_tree'\]"),
    ("json_bad_divergence", r"json_bad_divergence\.json: divergence must be"),
    ("json_bad_diverged_at", r"json_bad_diverged_at\.json: diverged_at must be"),
    ("json_bad_tree", r"json_bad_tree\.json: unknown params_tree entry"),
    ("json_leaf_out_of_range", r"json_leaf_out_of_range\.json: params_tree names leaf 7"),
    ("npz_missing_loss", r"npz_missing_loss\.npz: missing arrays \['loss'\]"),
    ("npz_missing_leaf", r"npz_missing_leaf\.json: params_tree names leaf 1"),
    ("npz_extra_leaf", r"npz_extra_leaf\.json: .*holds 3 parameter arrays but params_tree uses 2"),
    ("npz_short_loss", r"npz_short_loss\.npz: array 'loss' has 4 entries but 'steps' has 5"),
    ("npz_2d_drift", r"npz_2d_drift\.npz: array 'drift' must be 1-D"),
    ("npz_leaf_shape",
     r"npz_leaf_shape\.npz: array 'params_0' has shape \(17,\); .*records \(3,\)"),
    ("npz_leaf_dtype", r"npz_leaf_dtype\.npz: array 'params_0' has dtype int32"),
])
def test_load_damaged_files_give_a_clear_value_error(linear_run, tmp_path, damage, message):
    path, json_path = _damaged(linear_run, tmp_path, damage.replace("truncated_npz", "truncated"))
    meta = json.loads(json_path.read_text())
    if damage == "truncated_npz":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage_npz":
        path.write_bytes(b"PK\x03\x04 not really a zip archive")
    elif damage == "bad_json":
        json_path.write_text(json_path.read_text()[:-20])
    elif damage == "json_list":
        json_path.write_text("[]")
    elif damage.startswith("json_"):
        if damage == "json_missing_config":
            del meta["config"]
        elif damage == "json_missing_tree":
            del meta["params_tree"]
        elif damage == "json_bad_divergence":
            meta["divergence"] = "exploded"
        elif damage == "json_bad_diverged_at":
            meta["diverged_at"] = "3"
        elif damage == "json_bad_tree":
            meta["params_tree"] = {"set": []}
        elif damage == "json_leaf_out_of_range":
            meta["params_tree"]["children"][0]["leaf"] = 7
        json_path.write_text(json.dumps(meta))
    elif damage == "npz_missing_loss":
        _rewrite_npz(path, lambda a: a.pop("loss"))
    elif damage == "npz_missing_leaf":
        _rewrite_npz(path, lambda a: a.pop("params_1"))
    elif damage == "npz_extra_leaf":
        _rewrite_npz(path, lambda a: a.update(params_2=np.zeros(1)))
    elif damage == "npz_short_loss":
        _rewrite_npz(path, lambda a: a.update(loss=a["loss"][:-1]))
    elif damage == "npz_2d_drift":
        _rewrite_npz(path, lambda a: a.update(drift=a["drift"][:, None]))
    elif damage == "npz_leaf_shape":
        _rewrite_npz(path, lambda a: a.update(params_0=np.zeros(17)))
    elif damage == "npz_leaf_dtype":
        _rewrite_npz(path, lambda a: a.update(params_0=a["params_0"].astype(np.int32)))
    with pytest.raises(ValueError, match=message):
        lc.Trajectory.load(path)


def test_save_overwrites_in_place_without_leftovers(linear_run, tmp_path):
    linear_run.save(tmp_path / "run.npz")
    linear_run.save(tmp_path / "run.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "run.npz"]


# -------------------------------------------------------------------- trajectory helpers


def test_trajectory_helpers(problem):
    model, params, x, y = problem
    traj = lc.gradient_descent(model.apply, params, x, y, step_size=ETA, steps=20,
                               record_every=2, ntk_every=4, loss_star=0.01)
    # pl_envelope: running min of the PL ratio from a start record
    for start in (0, 3):
        expected = np.minimum.accumulate(traj.pl_ratio[start:])
        np.testing.assert_array_equal(traj.pl_envelope(start), expected)
    # suboptimality: default L* from the run's config, or an explicit one
    np.testing.assert_allclose(traj.suboptimality(), traj.loss - 0.01, rtol=0, atol=0)
    np.testing.assert_allclose(traj.suboptimality(0.0), traj.loss, rtol=0, atol=0)
    # PL ratio uses the run's L*
    np.testing.assert_allclose(traj.pl_ratio, traj.grad_norm_sq / (2 * (traj.loss - 0.01)),
                               rtol=1e-12)
    # lipschitz_estimate: max ||Theta_t - Theta_0|| / ||theta_t - theta_0|| with our own kernels
    iterates, _ = my_gd(model.apply, params, x, y, ETA, 20)
    k0 = my_ntk(model.apply, params, x)
    ratios = [np.linalg.norm(my_ntk(model.apply, iterates[s], x) - k0, 2)
              / np.linalg.norm(flat(iterates[s]) - flat(params)) for s in traj.ntk_steps[1:]]
    assert traj.lipschitz_estimate() == pytest.approx(max(ratios), rel=1e-7)
    assert traj.lambda0 == pytest.approx(np.linalg.eigvalsh(k0)[0], rel=1e-9)


def test_fit_rate_on_an_eigenvector_residual():
    # Linear model, residual an eigenvector of Theta: u_t = (1 - eta lambda)^t u_0 exactly,
    # so L_t = L_0 (1 - eta lambda)^(2t) and the fitted rate is (1 - eta lambda)^2 per step.
    rng = np.random.default_rng(11)
    n, d, w_std, b_std = 6, 9, 1.2, 0.5
    x = rng.normal(size=(n, d))
    model = lc.MLP((), w_std=w_std, b_std=b_std)
    params = model.init(1, d)
    w = np.asarray(params[0]["w"])[:, 0]
    b = float(np.asarray(params[0]["b"])[0])
    f0 = w_std / math.sqrt(d) * x @ w + b_std * b
    theta = w_std ** 2 / d * x @ x.T + b_std ** 2 * np.ones((n, n))
    ev, vecs = np.linalg.eigh(theta)
    lam, v = ev[0], vecs[:, 0]
    y = f0 - v  # u_0 = v
    eta = 0.5 / ev[-1]
    traj = lc.gradient_descent(model.apply, params, jnp.asarray(x), jnp.asarray(y),
                               step_size=eta, steps=40, record_every=4)
    fit = traj.fit_rate()
    q = (1 - eta * lam) ** 2
    assert fit.rate == pytest.approx(q, rel=1e-9)
    assert fit.slope == pytest.approx(2 * math.log(1 - eta * lam), rel=1e-9)
    assert fit.intercept == pytest.approx(math.log(0.5), rel=1e-9, abs=1e-9)
    assert fit.r2 == pytest.approx(1.0, abs=1e-9)
    assert (fit.start, fit.stop) == (0, 40)
    windowed = traj.fit_rate(2, 6)
    assert (windowed.start, windowed.stop) == (8, 20)
    assert windowed.rate == pytest.approx(q, rel=1e-9)
    # the PL ratio is the eigenvalue at every record
    np.testing.assert_allclose(traj.pl_ratio, lam, rtol=1e-9)


def test_lambda0_and_lipschitz_estimate_need_ntk_records(problem):
    model, params, x, y = problem
    traj = lc.gradient_descent(model.apply, params, x, y, step_size=ETA, steps=7)
    with pytest.raises(ValueError, match="ntk_every"):
        traj.lambda0
    with pytest.raises(ValueError, match="ntk_every"):
        traj.lipschitz_estimate()
    zero = lc.gradient_descent(model.apply, params, x, y, step_size=ETA, steps=0, ntk_every=5)
    with pytest.raises(ValueError, match="ntk_every"):
        zero.lipschitz_estimate()


# ------------------------------------- divergence: every step, every record quantity, blow-up
#
# A linear model f(x; w) = x . w with two weights on one sample x = (c, c), y = 0, both
# weights starting at w0: they stay equal, w_{t+1} = (1 - 2 eta c^2) w_t, and L = 2 c^2 w^2,
# ||grad||^2 = 8 c^4 w^2, drift^2 = 2 (w - w0)^2. (Two weights, not one: XLA may simplify
# sqrt(sum(square)) of a single element to abs, which never overflows.) The references are
# NumPy evaluations in the run's dtype, not the library's code.


def line(params, x):
    return x @ params["w"]


def _line_problem(c, w0, dtype):
    x = jnp.asarray([[c, c]], dtype)
    y = jnp.zeros((1,), dtype)
    return {"w": jnp.asarray([w0, w0], dtype)}, x, y


def _line_reference(c, w0, eta, steps, dtype):
    """Plain NumPy GD in `dtype`; the first step where a record value is not finite."""
    x = np.asarray([c, c], dtype)
    w = np.asarray([w0, w0], dtype)
    start = w.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps + 1):
            u = x @ w
            loss = dtype(0.5) * u * u
            grad = u * x
            gsq = np.sum(grad * grad)
            drift_sq = np.sum((w - start) ** 2)
            if not (np.isfinite(loss) and np.isfinite(gsq) and np.isfinite(drift_sq)):
                return t, dict(loss=bool(np.isfinite(loss)), gsq=bool(np.isfinite(gsq)),
                               drift=bool(np.isfinite(drift_sq)))
            w = w - dtype(eta) * grad
    return None, None


def _all_records_finite(traj):
    for name in ("loss", "grad_norm_sq", "drift", "relative_drift", "pl_ratio", "lambda_min",
                 "lambda_max", "kernel_drift"):
        assert np.all(np.isfinite(getattr(traj, name))), name


GRAD_CASE = (1e3, 1.5e-6)   # c, eta: w_t = (-2)^t; ||grad||^2 = 8e12 4^t overflows first
DRIFT_CASE = (1e-3, 2e6)    # c, eta: w_t = (-3)^t; drift^2 overflows first


@pytest.mark.parametrize("record_every", [1, 7])
def test_nonfinite_gradient_is_flagged_at_a_step_with_a_finite_loss(record_every):
    # float32: ||grad||^2 overflows at t = 43 while L_43 = 2e6 4^43 ~ 1.5e32 is finite (the
    # issue's case: inf ||grad||^2 at a step with a finite loss, once flagged two steps late).
    c, eta = GRAD_CASE
    d, finite = _line_reference(c, 1.0, eta, 60, np.float32)
    assert d == 43 and finite == dict(loss=True, gsq=False, drift=True)
    params, x, y = _line_problem(c, 1.0, jnp.float32)
    traj = lc.gradient_descent(line, params, x, y, step_size=eta, steps=60,
                               record_every=record_every, blowup=math.inf)
    assert traj.diverged_at == d and traj.divergence == "nonfinite_gradient"
    assert np.all(traj.steps < d) and traj.steps[-1] >= d - record_every
    _all_records_finite(traj)
    assert float(traj.params["w"][0]) == (-2.0) ** (d - 1)   # theta_{d-1}
    # with the default blow-up test the loss passes 1e10 max(L_0, 1) first
    default = lc.gradient_descent(line, params, x, y, step_size=eta, steps=60,
                                  record_every=record_every)
    l0 = 2 * c ** 2
    first_blowup = next(t for t in range(61) if l0 * 4.0 ** t > 1e10 * max(l0, 1.0))
    assert default.diverged_at == first_blowup < d and default.divergence == "blowup"
    _all_records_finite(default)


@pytest.mark.parametrize("record_every", [1, 10])
def test_nonfinite_drift_is_flagged_when_loss_and_gradient_are_finite(record_every):
    # float32: drift^2 = 2 (w - 1)^2 overflows at t = 41 (|w| ~ 3.6e19) while L = 2e-6 w^2 and
    # ||grad||^2 = 8e-12 w^2 stay finite. Between records the drift is tested through its
    # path-length bound; record_every=10 checks the fallback to the exact drift.
    c, eta = DRIFT_CASE
    d, finite = _line_reference(c, 1.0, eta, 60, np.float32)
    assert d == 41 and finite == dict(loss=True, gsq=True, drift=False)
    params, x, y = _line_problem(c, 1.0, jnp.float32)
    traj = lc.gradient_descent(line, params, x, y, step_size=eta, steps=60,
                               record_every=record_every, blowup=math.inf)
    assert traj.diverged_at == d and traj.divergence == "nonfinite_drift"
    assert np.all(traj.steps < d)
    _all_records_finite(traj)


def test_nonfinite_pl_ratio_is_flagged():
    # float32, c^2 = 1e33, w = 3.5e-15: ||grad||^2 = 8 c^4 w^2 ~ 1e38 is finite, L = 2 c^2 w^2
    # ~ 2.5e4, and L* is 16 ulps below L: the gap is defined (above 8 ulps) but
    # ||grad||^2 / (2 gap) overflows.
    f32 = np.float32
    c, w0 = float(np.sqrt(f32(1e33))), 3.5e-15
    params, x, y = _line_problem(c, w0, jnp.float32)
    xv, wv = np.asarray(x[0]), np.asarray(params["w"])
    u = xv @ wv
    loss0, gsq0 = f32(0.5) * u * u, np.sum((u * xv) ** 2)
    star = float(loss0) * (1 - 16 * float(np.finfo(f32).eps))
    gap = loss0 - f32(star)
    with np.errstate(over="ignore"):
        assert np.isfinite(loss0) and np.isfinite(gsq0) and np.isinf(gsq0 / (f32(2) * gap))
    traj = lc.gradient_descent(line, params, x, y, step_size=1e-40, steps=3, loss_star=star,
                               blowup=math.inf)
    assert traj.diverged_at == 0 and traj.divergence == "nonfinite_pl_ratio"
    assert traj.loss.size == 0


@pytest.mark.parametrize("factor", [None, 100.0, math.inf])
def test_blowup_is_flagged_at_the_documented_threshold(factor):
    # float64, c = 1, eta = 1.5: w_t = (-2)^t, L_t = 2 4^t. No overflow in 60 steps, but the
    # loss passes blowup * max(L_0 - L*, 1) = 2 blowup.
    params, x, y = _line_problem(1.0, 1.0, jnp.float64)
    kwargs = {} if factor is None else {"blowup": factor}
    traj = lc.gradient_descent(line, params, x, y, step_size=1.5, steps=60, **kwargs)
    blowup = 1e10 if factor is None else factor
    losses = 2.0 * 4.0 ** np.arange(61)
    over = np.nonzero(losses > blowup * max(losses[0], 1.0))[0]
    assert traj.config["blowup"] == blowup
    if factor == math.inf:
        assert over.size == 0 and traj.diverged_at is None and traj.divergence is None
        assert traj.loss[-1] == losses[-1]   # 2.7e36: the old behaviour, now opt-in
        return
    d = int(over[0])
    assert traj.diverged_at == d and traj.divergence == "blowup"
    np.testing.assert_array_equal(traj.loss, losses[:d])
    assert float(traj.params["w"][0]) == (-2.0) ** (d - 1)


def test_blowup_argument_is_checked():
    params, x, y = _line_problem(1.0, 1.0, jnp.float64)
    for bad, exc in ((1.0, ValueError), (0.5, ValueError), (float("nan"), ValueError),
                     ("big", TypeError)):
        with pytest.raises(exc, match="blowup"):
            lc.gradient_descent(line, params, x, y, step_size=0.1, steps=2, blowup=bad)


def test_sgd_and_sweep_flag_the_same_step_and_never_hold_inf():
    # one sample: SGD with batch_size=1 is GD; a sweep over a stable and the exploding step
    c, eta = GRAD_CASE
    d, _ = _line_reference(c, 1.0, eta, 60, np.float32)
    params, x, y = _line_problem(c, 1.0, jnp.float32)
    sg = lc.sgd(line, params, x, y, step_size=eta, steps=60, batch_size=1, blowup=math.inf)
    assert sg.diverged_at == d and sg.divergence == "nonfinite_gradient"
    _all_records_finite(sg)
    sweep = lc.gradient_descent_sweep(line, lc.stack_params([params, params]), x, y,
                                      step_sizes=[1e-9, eta], steps=60, blowup=math.inf,
                                      shard=False)
    np.testing.assert_array_equal(sweep.diverged_at, [[-1, d], [-1, d]])
    assert sweep.divergence.tolist() == [[None, "nonfinite_gradient"]] * 2
    for name in ("loss", "grad_norm_sq", "drift", "relative_drift", "pl_ratio"):
        values = getattr(sweep, name)
        assert not np.any(np.isinf(values)), name
        assert np.all(np.isfinite(values[:, 0])), name
        assert np.all(np.isnan(values[:, 1, d:])) and np.all(np.isfinite(values[:, 1, :d]))
    one = sweep.trajectory(1, 1)
    assert one.diverged_at == d and one.divergence == "nonfinite_gradient"
    _all_records_finite(one)
    assert sweep.trajectory(0, 0).divergence is None


def test_check_network_fails_no_divergence_on_a_blowup():
    # The issue's float64 case in miniature: a loss that grows 4x per step without
    # overflowing used to pass "no_divergence".
    params, x, y = _line_problem(1.0, 1.0, jnp.float64)
    report = lc.check_network(line, params, x, y, step_size=1.5, steps=40)
    d = int(np.nonzero(2.0 * 4.0 ** np.arange(41) > 1e10 * 2.0)[0][0])
    verdict = report.verdict("no_divergence")
    assert verdict.holds is False and f"flagged at step {d}" in verdict.explanation
    assert report.diverged_at == d and report.trajectory.divergence == "blowup"
    _all_records_finite(report.trajectory)


def test_issue_example_mlp_on_digits_float32_never_records_inf():
    # gradient_descent(MLP((64,), 'relu').apply, ..., step_size=10, steps=60) on 32 digits in
    # float32: ||grad||^2 was inf at step 24 and flagged only at 26 (inf in the records).
    from lplr_core.data import binary_mnist

    x, y = binary_mnist((0, 1), n=32, seed=0)
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    model = lc.MLP((64,), "relu")
    params = model.init(0, x.shape[1], dtype=jnp.float32)
    for kwargs in ({}, {"blowup": math.inf}):
        traj = lc.gradient_descent(model.apply, params, x, y, step_size=10, steps=60, **kwargs)
        assert traj.diverged
        _all_records_finite(traj)
        assert traj.steps[-1] == traj.diverged_at - 1
    assert traj.divergence == "nonfinite_gradient"


def test_sweep_flags_the_exact_drift_step_between_records():
    # The sweep decides between the drift bound and the exact drift once per batch (pmax over
    # the vmapped runs); a stable run next to the exploding one must not change either flag.
    c, eta = DRIFT_CASE
    d, _ = _line_reference(c, 1.0, eta, 60, np.float32)
    params, x, y = _line_problem(c, 1.0, jnp.float32)
    sweep = lc.gradient_descent_sweep(line, lc.stack_params([params]), x, y,
                                      step_sizes=[1e3, eta], steps=60, record_every=10,
                                      blowup=math.inf, shard=False)
    np.testing.assert_array_equal(sweep.diverged_at, [[-1, d]])
    assert sweep.divergence.tolist() == [[None, "nonfinite_drift"]]
    assert not np.any(np.isinf(sweep.drift))
    single = lc.gradient_descent(line, params, x, y, step_size=1e3, steps=60, record_every=10,
                                 blowup=math.inf)
    np.testing.assert_allclose(sweep.loss[0, 0], single.loss, rtol=1e-6)
