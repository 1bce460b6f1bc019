"""Tests of the CNN robustness experiment (lplr_core.experiments.cnn_robustness).

Oracles: plain-Python running minima for the envelope, explicit pixel loops for
the downsampling, a Jacobian formed with jax.jacrev and NumPy's eigvalsh for the
NTK at initialization, the loss recomputed from the model's outputs.
"""

import copy
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lplr_core import data as D
from lplr_core.data import DataUnavailableError
from lplr_core.experiments import cnn_robustness as cr

S, R = cr.FAST["n_seeds"], cr.FAST["steps"] // cr.FAST["record_every"] + 1


@pytest.fixture(scope="module")
def fast(fast_cnn_robustness):
    """``cr.run(FAST)`` with only the shipped Fashion-MNIST subset reachable (the experiment
    needs nothing else) and its progress calls: conftest's one FAST run of the session,
    which test_experiments stores too."""
    return copy.deepcopy(fast_cnn_robustness)


# --------------------------------------------------------------------------- contract

def test_contract_attributes():
    assert cr.NAME == "cnn_robustness"
    assert isinstance(cr.DESCRIPTION, str) and cr.DESCRIPTION
    for config in (cr.FAST, cr.FULL):
        assert isinstance(config, dict)
        assert json.loads(json.dumps(config)) == config
        cr.check_config(config)
    assert set(cr.FAST) == set(cr.FULL)
    # the default path never downloads and never uses CIFAR-10
    assert cr.FAST["download"] is False and cr.FULL["download"] is False
    assert cr.FAST["dataset"] == cr.FULL["dataset"] == "fashion_mnist"
    assert cr.FULL["n_seeds"] == 3
    from lplr_core.experiments import validate_module
    validate_module(cr, "cnn_robustness")


def test_run_fast_shapes_and_finiteness(fast):
    results, _ = fast
    assert results["dataset"] == "fashion_mnist"
    assert tuple(results["image_shape"]) == (14, 14, 1)
    np.testing.assert_array_equal(results["seeds"], [0, 1, 2])
    np.testing.assert_array_equal(results["steps"], np.arange(0, cr.FAST["steps"] + 1, 5))
    start = results["stable_index"]
    assert start == cr.FAST["stable_from"] // cr.FAST["record_every"]
    for m in cr.MODELS:
        for field in ("loss", "grad_norm_sq", "pl_ratio", "drift", "relative_drift"):
            arr = results[f"{m}_{field}"]
            assert arr.shape == (S, R), (m, field)
            assert np.all(np.isfinite(arr)), (m, field)
        env = results[f"{m}_pl_envelope"]
        assert env.shape == (S, R)
        assert np.all(np.isnan(env[:, :start])) and np.all(np.isfinite(env[:, start:]))
        for field in ("lambda_min", "lambda_max"):
            assert results[f"{m}_{field}"].shape == (S, 2)
        for field in ("envelope_min", "kernel_drift", "step_size", "accuracy", "diverged_at"):
            assert results[f"{m}_{field}"].shape == (S,), (m, field)
        assert np.all(results[f"{m}_diverged_at"] == -1)
        assert np.all(results[f"{m}_drift"][:, 0] == 0)
        assert np.all(0 < results[f"{m}_lambda_min"])
        assert np.all(results[f"{m}_lambda_min"] <= results[f"{m}_lambda_max"])
        # eta = c / lambda_max(Theta_0)
        np.testing.assert_allclose(results[f"{m}_step_size"] * results[f"{m}_lambda_max"][:, 0],
                                   cr.FAST["step_multiple"], rtol=1e-12)
        assert isinstance(results[f"{m}_param_count"], int)


def test_progress_reports_every_run(fast):
    _, calls = fast
    total = len(cr.MODELS) * S
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert [d for d, _ in calls] == list(range(total + 1))


def test_envelope_matches_numpy_reference(fast):
    results, _ = fast
    start = results["stable_index"]
    for m in cr.MODELS:
        for i in range(S):
            loss, gsq = results[f"{m}_loss"][i], results[f"{m}_grad_norm_sq"][i]
            rho = [g / (2 * l) for l, g in zip(loss, gsq)]     # L* = 0
            np.testing.assert_allclose(results[f"{m}_pl_ratio"][i], rho, rtol=1e-12)
            running, expected = np.inf, []
            for value in rho[start:]:
                running = min(running, value)
                expected.append(running)
            np.testing.assert_allclose(results[f"{m}_pl_envelope"][i, start:], expected,
                                       rtol=1e-12)
            assert results[f"{m}_envelope_min"][i] == pytest.approx(min(rho[start:]), rel=1e-12)


def test_initial_loss_and_ntk_against_independent_computation(fast, without_full_fashion):
    results, _ = fast
    x, y, shape = cr.load_data(cr.FAST)
    assert x.shape == (cr.FAST["n"], 14 * 14) and shape == (14, 14, 1)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 14.0, rtol=1e-12)
    for m in cr.MODELS:
        model = cr.build_model(m, cr.FAST, shape)
        init_key = jax.random.split(jax.random.PRNGKey(1))[0]      # seed 1, first half
        params = model.init(init_key, x.shape[1], dtype="float32")
        params64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
        out = np.asarray(model.apply(params64, jnp.asarray(x)))
        loss0 = 0.5 * np.sum((out - y) ** 2)
        assert results[f"{m}_loss"][1, 0] == pytest.approx(loss0, rel=1e-4)   # float32 run
        jac = jax.jacrev(model.apply)(params64, jnp.asarray(x))
        flat = np.concatenate([np.asarray(j).reshape(x.shape[0], -1)
                               for j in jax.tree_util.tree_leaves(jac)], axis=1)
        eig = np.linalg.eigvalsh(flat @ flat.T)
        np.testing.assert_allclose(results[f"{m}_lambda_min"][1, 0], eig[0], rtol=1e-6)
        np.testing.assert_allclose(results[f"{m}_lambda_max"][1, 0], eig[-1], rtol=1e-8)


def test_deterministic_for_a_fixed_seed(fast):
    results, _ = fast
    again = cr.run(dict(cr.FAST))
    assert set(again) == set(results)
    for key, value in results.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            np.testing.assert_array_equal(again[key], value, err_msg=key)
        else:
            assert np.all(again[key] == value), key


def test_seed_offsets_the_seeds(fast):
    results, _ = fast
    one = cr.run({**cr.FAST, "n_seeds": 1}, seed=1)      # same layout: no new compilation
    np.testing.assert_array_equal(one["seeds"], [1])
    for m in cr.MODELS:
        np.testing.assert_array_equal(one[f"{m}_loss"][0], results[f"{m}_loss"][1])
        np.testing.assert_array_equal(one[f"{m}_lambda_min"][0], results[f"{m}_lambda_min"][1])


def test_results_are_storable_by_the_framework(fast, tmp_path):
    from lplr_core.experiments import load_results, save_results
    results, _ = fast
    save_results("cnn_robustness", results, fast=True, seed=0, config=cr.FAST, wall_time_s=0.0,
                 out_dir=tmp_path)
    loaded = load_results("cnn_robustness", fast=True, out_dir=tmp_path)
    np.testing.assert_array_equal(loaded["resnet_pl_envelope"], results["resnet_pl_envelope"])
    assert loaded["dataset"] == "fashion_mnist"
    text = cr.summarize(loaded)
    assert "cnn" in text and "resnet" in text and "envelope" in text


# -------------------------------------------------------------------------- helpers

def test_downsample_images_against_loops():
    rng = np.random.default_rng(0)
    h, w, c, f = 6, 4, 3, 2
    x = rng.standard_normal((5, h * w * c))
    small, shape = cr.downsample_images(x, (h, w, c), f)
    assert shape == (3, 2, 3) and small.shape == (5, 18)
    images = x.reshape(5, h, w, c)
    for k in range(5):
        for i in range(h // f):
            for j in range(w // f):
                for ch in range(c):
                    block = [images[k, f * i + a, f * j + b, ch] for a in range(f)
                             for b in range(f)]
                    assert small.reshape(5, 3, 2, 3)[k, i, j, ch] == pytest.approx(
                        sum(block) / len(block), rel=1e-12, abs=1e-15)
    # centring survives the averaging
    centred = x - x.mean(axis=0)
    np.testing.assert_allclose(cr.downsample_images(centred, (h, w, c), f)[0].mean(axis=0), 0,
                               atol=1e-12)
    same, shape1 = cr.downsample_images(x, (h, w, c), 1)
    np.testing.assert_array_equal(same, x)
    assert shape1 == (h, w, c)


def test_normalize_rows():
    x = np.array([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    out = cr.normalize_rows(x)
    np.testing.assert_allclose(out[0], [1.2, 1.6, 0, 0])
    np.testing.assert_array_equal(out[1], 0)
    np.testing.assert_allclose(out[2], 1.0)


@pytest.mark.parametrize("args, name", [
    ((np.zeros((2, 12)), (2, 2, 3), 3), "factor"),
    ((np.zeros((2, 12)), (2, 2, 3), 0), "factor"),
    ((np.zeros((2, 11)), (2, 2, 3), 1), "x"),
    ((np.zeros((2, 12)), (2, 6), 1), "image_shape"),
    ((np.full((2, 12), np.nan), (2, 2, 3), 1), "x"),
])
def test_downsample_bad_input_names_argument(args, name):
    with pytest.raises((TypeError, ValueError), match=name):
        cr.downsample_images(*args)


# ---------------------------------------------------------------- data

@pytest.mark.parametrize("config", [cr.FAST, cr.FULL], ids=["fast", "full"])
def test_load_data_needs_only_the_shipped_subset(config, without_full_fashion):
    x, y, shape = cr.load_data(dict(config))
    assert x.shape == (config["n"], 14 * 14) and shape == (14, 14, 1)
    assert np.sum(y == 1) == np.sum(y == -1) == config["n"] // 2
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 14.0, rtol=1e-12)


@pytest.mark.parametrize("config", [cr.FAST, cr.FULL], ids=["fast", "full"])
def test_load_data_is_what_the_full_set_gives(config, full_fashion_mnist):
    # the experiment's inputs before the shipped subset existed: the IDX files,
    # centred, pooled 2x2 by explicit loops, rows rescaled to norm sqrt(196) = 14
    c = dict(config)
    raw, y_full = D.fashion_mnist(c["classes"], n=c["n"], seed=c["data_seed"], source="full",
                                  center=True, dtype="float64")
    images = np.asarray(raw).reshape(-1, 28, 28)
    pooled = np.empty((images.shape[0], 14, 14))
    for i in range(14):
        for j in range(14):
            pooled[:, i, j] = images[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean(axis=(1, 2))
    pooled = pooled.reshape(images.shape[0], -1)
    expected = pooled * (14.0 / np.linalg.norm(pooled, axis=1, keepdims=True))
    x, y, _ = cr.load_data(c)
    np.testing.assert_array_equal(y, np.asarray(y_full))
    np.testing.assert_allclose(x, expected, rtol=1e-12, atol=1e-12)
    # and bit for bit the arrays of the full set through the experiment's own steps
    small, _ = cr.downsample_images(np.asarray(raw), (28, 28, 1), c["downsample"])
    np.testing.assert_array_equal(x, cr.normalize_rows(small))


# ---------------------------------------------------------------- opt-in and errors

def test_cifar_without_opt_in_names_download(tmp_path, monkeypatch):
    monkeypatch.setenv("LPLR_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailableError, match=r"config\['download'\]") as info:
        cr.run({**cr.FAST, "dataset": "cifar10"})
    assert "True" in str(info.value) and "CIFAR-10" in str(info.value)
    assert list(tmp_path.iterdir()) == []          # nothing was fetched


@pytest.mark.parametrize("change, name", [
    ({"dataset": "mnist"}, "dataset"),
    ({"download": "yes"}, "download"),
    ({"classes": [3, 3]}, "classes"),
    ({"classes": [0, 10]}, "classes"),
    ({"n": 1}, "n"),
    ({"downsample": 3}, "downsample"),
    ({"n_seeds": 0}, "n_seeds"),
    ({"cnn_channels": [4, 0]}, "cnn_channels"),
    ({"resnet_channels": 2.5}, "resnet_channels"),
    ({"activation": "sigmoid"}, "activation"),
    ({"step_multiple": 0.0}, "step_multiple"),
    ({"step_multiple": float("nan")}, "step_multiple"),
    ({"steps": 203}, "steps"),
    ({"batch_size": 33}, "batch_size"),
    ({"stable_from": 200}, "stable_from"),
    ({"stable_from": 52}, "stable_from"),
    ({"dtype": "float16"}, "dtype"),
])
def test_bad_config_values_name_the_key(change, name):
    with pytest.raises((TypeError, ValueError), match=rf"config\['{name}'\]"):
        cr.run({**cr.FAST, **change})


def test_unknown_and_missing_keys_are_named():
    with pytest.raises(ValueError, match="learning_rate"):
        cr.run({**cr.FAST, "learning_rate": 0.1})
    config = dict(cr.FAST)
    del config["steps"]
    with pytest.raises(ValueError, match="steps"):
        cr.run(config)
    with pytest.raises(TypeError, match="config"):
        cr.run([("n", 3)])


def test_bad_seed_and_progress_are_named():
    with pytest.raises(ValueError, match="seed"):
        cr.run(dict(cr.FAST), seed=-1)
    with pytest.raises(TypeError, match="progress"):
        cr.run(dict(cr.FAST), progress="bar")
