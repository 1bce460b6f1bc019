"""The experiment registry, its stored results, the command line and reproducibility.

Cost (2 cores, quiet machine): the FAST re-runs take about 10-20 s per
experiment, the CLI tests about 30 s, and the one FULL re-run (``mnist_mlp``,
the cheapest FULL configuration) about 1-2 minutes; it is marked ``slow``, so
``make test`` runs it and ``make test-core`` skips it.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lplr_core import experiments as ex
from lplr_core.experiments._mlp import CURVES, PER_RUN_SCALARS, local_regime, stack_runs

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "data" / "results"

# Re-runs are compared with the committed numbers at this tolerance. The curves are
# stored as float32 (relative resolution 6e-8) after a float64 computation; on another
# CPU, XLA may order sums differently (relative differences ~1e-15 per step), and
# gradient descent can amplify them over hundreds of steps, most in runs that
# catapult. 1e-3 relative is far above both and far below any difference that would
# change a conclusion (the ablation's drifts differ by factors of 3 and more).
RTOL = 1e-3
# Entries that are tiny compared with the largest of their array (a late loss of 1e-9
# next to an initial loss of 1e2) are compared in absolute terms, at 1e-6 of that
# largest magnitude.
ATOL_FRACTION = 1e-6


def _compare(name: str, fresh: dict, stored: dict) -> None:
    assert sorted(fresh) == sorted(stored), (
        f"{name}: keys differ: fresh-only {sorted(set(fresh) - set(stored))}, "
        f"stored-only {sorted(set(stored) - set(fresh))}")
    for key in sorted(stored):
        a, b = np.asarray(fresh[key]), np.asarray(stored[key])
        assert a.shape == b.shape, f"{name}[{key}]: shape {a.shape} vs stored {b.shape}"
        if a.dtype.kind in "biuU":
            np.testing.assert_array_equal(a, b, err_msg=f"{name}[{key}]")
            continue
        finite = np.isfinite(b)
        np.testing.assert_array_equal(np.isfinite(a), finite, err_msg=f"{name}[{key}] NaN/inf")
        scale = float(np.max(np.abs(b[finite]))) if finite.any() else 0.0
        np.testing.assert_allclose(a[finite], b[finite], rtol=RTOL,
                                   atol=ATOL_FRACTION * scale, err_msg=f"{name}[{key}]")


# ------------------------------------------------------------------------- registry

def test_registry_names():
    assert ex.EXPERIMENTS == ("mnist_mlp", "width_ablation", "cnn_robustness", "erf_ntk")


@pytest.mark.parametrize("name", ex.EXPERIMENTS)
def test_every_registered_experiment_follows_the_contract(name):
    # A missing module fails here with the registry's message (no silent skip).
    module = ex.get_experiment(name)
    assert module.NAME == name
    assert isinstance(module.DESCRIPTION, str) and module.DESCRIPTION
    for mode in (module.FAST, module.FULL):
        assert isinstance(mode, dict) and mode
        assert json.loads(json.dumps(mode)) == mode, "configs must round-trip through JSON"
    assert callable(module.run) and callable(module.summarize)
    assert module.FAST != module.FULL


def test_unknown_name_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="name must be one of") as info:
        ex.get_experiment("resnet_on_imagenet")
    for name in ex.EXPERIMENTS:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="name"):
        ex.result_dir(3, fast=True)


def test_bad_seed_and_mode():
    with pytest.raises(ValueError, match="seed"):
        ex.run_experiment("mnist_mlp", fast=True, seed=-1)
    with pytest.raises(TypeError, match="seed"):
        ex.run_experiment("mnist_mlp", fast=True, seed=1.5)
    with pytest.raises(TypeError, match="fast"):
        ex.result_dir("mnist_mlp", fast="yes")
    with pytest.raises(TypeError, match="progress"):
        ex.run_experiment("mnist_mlp", fast=True, progress="bar")


def test_a_broken_module_is_rejected_by_name(tmp_path):
    path = tmp_path / "broken_experiment.py"
    path.write_text("NAME = 'mnist_mlp'\nDESCRIPTION = 'x'\nFAST = {}\nFULL = {'a': 1}\n")
    spec = importlib.util.spec_from_file_location("broken_experiment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(TypeError, match="run"):
        ex.validate_module(module, "mnist_mlp")
    module.run = module.summarize = lambda *a, **k: None
    with pytest.raises(TypeError, match="NAME"):
        ex.validate_module(module, "width_ablation")
    module.FULL = {"a": object()}
    with pytest.raises(TypeError, match="FULL"):
        ex.validate_module(module, "mnist_mlp")


def test_result_dir_layout():
    assert ex.result_dir("mnist_mlp", fast=True) == ex.results_root() / "mnist_mlp" / "fast"
    assert ex.result_dir("mnist_mlp", fast=False, seed=3).name == "full-seed3"
    assert ex.results_root() == COMMITTED or "LPLR_RESULTS_DIR" in os.environ


# -------------------------------------------------------------------------- hashing

def test_content_hash_matches_the_documented_recipe():
    arrays = {"b": np.arange(3, dtype=np.float32), "a": np.array(2.5), "s": np.array("ok")}
    digest = hashlib.sha256()
    for key in ("a", "b", "s"):  # sorted keys; an independent re-implementation
        arr = arrays[key]
        digest.update(f"{key}\0{arr.dtype.str}\0{json.dumps(list(arr.shape))}\0".encode())
        digest.update(arr.tobytes())
    assert ex.content_hash(arrays) == digest.hexdigest()


def test_content_hash_sees_every_change():
    base = {"x": np.linspace(0, 1, 5).astype(np.float32), "n": np.array(3)}
    h = ex.content_hash(base)
    changed = {**base, "x": base["x"].copy()}
    changed["x"][2] = np.nextafter(changed["x"][2], np.float32(2))  # one ulp
    assert ex.content_hash(changed) != h
    assert ex.content_hash({**base, "x": base["x"].astype(np.float64)}) != h  # dtype
    assert ex.content_hash({**base, "x": base["x"].reshape(5, 1)}) != h       # shape
    assert ex.content_hash({"y": base["x"], "n": base["n"]}) != h             # name
    assert ex.content_hash(dict(reversed(list(base.items())))) == h           # order-free
    with pytest.raises(TypeError, match="object"):
        ex.content_hash({"o": np.array([None])})


def test_config_hash_is_canonical():
    assert ex.config_hash({"a": 1, "b": [1, 2]}) == ex.config_hash({"b": [1, 2], "a": 1})
    assert ex.config_hash({"a": 1}) != ex.config_hash({"a": 2})
    expected = hashlib.sha256(b'{"a":1,"b":[1,2]}').hexdigest()
    assert ex.config_hash({"b": [1, 2], "a": 1}) == expected


def test_source_hash_follows_the_source(tmp_path):
    path = tmp_path / "some_experiment.py"
    path.write_text("X = 1\n")

    def load():
        spec = importlib.util.spec_from_file_location("some_experiment", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    first = ex.source_hash(load())
    assert first == ex.source_hash(load())
    path.write_text("X = 2\n")
    assert ex.source_hash(load()) != first
    # The MLP experiments share a helper module: editing it must mark both stale.
    module = ex.get_experiment("mnist_mlp")
    assert "lplr_core.experiments._mlp" in [m.__name__ for m in ex._helper_modules(module)]


# ---------------------------------------------------------------- storage and staleness

@pytest.fixture(scope="module")
def fast_runs(tmp_path_factory, fast_cnn_robustness):
    """Every experiment's FAST configuration, run once into a temporary root.

    cnn_robustness's ``run(FAST, seed=0)`` is the session's shared one (conftest's
    ``fast_cnn_robustness``, which test_cnn_robustness checks): ``run_experiment`` gets it
    through its module's ``run``, after checking that it asks for exactly that run.
    """
    root = tmp_path_factory.mktemp("results")
    runs = {}
    for name in ex.EXPERIMENTS:
        try:
            module = ex.get_experiment(name)
        except ImportError:
            continue  # test_every_registered_experiment_follows_the_contract fails for it
        out = ex.result_dir(name, fast=True, root=root)
        with pytest.MonkeyPatch.context() as mp:
            if name == "cnn_robustness":
                def shared_run(config, *, seed=0, progress=None, module=module):
                    assert config == module.FAST and seed == 0, (config, seed)
                    return copy.deepcopy(fast_cnn_robustness[0])
                mp.setattr(module, "run", shared_run)
            runs[name] = ex.run_experiment(name, fast=True, seed=0, out_dir=out)
    return root, runs


def _needs(fast_runs, name):
    if name not in fast_runs[1]:
        pytest.fail(f"experiment {name!r} is registered but could not be imported")
    return fast_runs[1][name]


@pytest.mark.parametrize("name", ex.EXPERIMENTS)
def test_stored_results_round_trip(fast_runs, name):
    result = _needs(fast_runs, name)
    root = fast_runs[0]
    assert ex.result_status(name, fast=True, root=root).state == "fresh"
    loaded = ex.load_results(name, fast=True, root=root)
    _compare(name, loaded, result)
    meta = loaded.meta
    for key in ("config", "seed", "versions", "wall_time_s", "date", "config_sha256",
                "content_sha256", "source_sha256", "record_sha256"):
        assert key in meta, f"meta.json lacks {key}"
    assert set(meta["versions"]) >= {"python", "numpy", "jax", "lplr_core"}
    assert meta["config"] == ex.get_experiment(name).FAST
    summary = ex.get_experiment(name).summarize(loaded)
    assert isinstance(summary, str) and summary.strip()


def test_staleness(fast_runs, tmp_path, monkeypatch):
    _needs(fast_runs, "mnist_mlp")
    root = tmp_path / "copy"
    shutil.copytree(fast_runs[0] / "mnist_mlp", root / "mnist_mlp")
    folder = ex.result_dir("mnist_mlp", fast=True, root=root)
    status = lambda: ex.result_status("mnist_mlp", fast=True, root=root)  # noqa: E731
    assert status().state == "fresh" and not ex.is_stale("mnist_mlp", fast=True, root=root)
    assert ex.result_status("mnist_mlp", fast=False, root=root).state == "missing"
    assert ex.is_stale("mnist_mlp", fast=False, root=root)

    module = ex.get_experiment("mnist_mlp")
    monkeypatch.setattr(module, "FAST", {**module.FAST, "steps": module.FAST["steps"] + 1})
    assert status() == ("stale", "the configuration changed since the results were stored")
    monkeypatch.undo()
    assert status().state == "fresh"

    monkeypatch.setattr(ex, "source_hash", lambda module: "0" * 64)
    assert status().state == "stale" and "source" in status().reason
    monkeypatch.undo()
    assert status().state == "fresh"

    # A hand-edited meta field (here the stored source hash) breaks the record hash.
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "source_sha256": "0" * 64}))
    assert status().state == "corrupt" and "record hash" in status().reason
    (folder / "meta.json").write_text(json.dumps(meta))

    with np.load(folder / "arrays.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["loss"] = arrays["loss"].copy()
    arrays["loss"][-1] *= 2
    np.savez_compressed(folder / "arrays.npz", **arrays)
    assert status().state == "corrupt" and "content hash" in status().reason

    (folder / "arrays.npz").write_bytes(b"not a zip file")
    assert status().state == "corrupt" and "cannot read" in status().reason


def test_load_or_run_recomputes_missing_then_reads(fast_runs, tmp_path, capsys, monkeypatch):
    _needs(fast_runs, "mnist_mlp")
    module = ex.get_experiment("mnist_mlp")
    # load_or_run uses FULL by default; point FULL at the FAST config to keep this quick.
    monkeypatch.setattr(module, "FULL", module.FAST)
    first = ex.load_or_run("mnist_mlp", root=tmp_path)
    assert "recomputing" in capsys.readouterr().out
    second = ex.load_or_run("mnist_mlp", root=tmp_path)
    assert capsys.readouterr().out == ""
    assert second.meta["content_sha256"] == first.meta["content_sha256"]
    with pytest.raises(FileNotFoundError, match="python -m lplr_core.experiments run"):
        ex.load_results("width_ablation", fast=True, root=tmp_path)


# ----------------------------------------------------------------------- the science

def test_local_regime_flag():
    ok = dict(diverged=False, loss=np.array([3.0, 2.0, 1.0]), lambda0=10.0,
              lambda_min=np.array([10.0, 8.0]), kernel_change=0.1, envelope_min=5.0,
              max_kernel_change=0.25, lambda_min_fraction=0.5)
    assert local_regime(**ok) == (True, "all checks passed")
    assert local_regime(**{**ok, "diverged": True})[1] == "diverged"
    assert local_regime(**{**ok, "loss": np.array([3.0, 4.0, 1.0])})[1] == "loss increased"
    assert not local_regime(**{**ok, "kernel_change": 0.3})[0]
    assert not local_regime(**{**ok, "lambda_min": np.array([10.0, 4.9])})[0]
    assert not local_regime(**{**ok, "envelope_min": 0.0})[0]


@pytest.mark.parametrize("name", ["mnist_mlp", "width_ablation", "erf_ntk"])
def test_committed_full_results_are_consistent(name):
    """Independent checks of the committed FULL numbers (Rayleigh, drift, rate fit)."""
    r = ex.load_results(name, fast=False)
    loss, rho, steps = map(np.atleast_2d, (r["loss"], r["pl_ratio"], r["steps"]))
    lam_min = np.atleast_2d(r["lambda_min"])
    lam_max = np.atleast_2d(r["lambda_max"])
    ntk_steps = np.asarray(r["ntk_steps"])
    record_steps = np.asarray(r["steps"])
    idx = np.searchsorted(record_steps, ntk_steps)
    for run in range(loss.shape[0]):
        # Rayleigh quotient with L* = 0: lambda_min(Theta_t) <= rho_t <= lambda_max(Theta_t).
        at = rho[run, idx]
        ok = np.isfinite(at)
        assert np.all(at[ok] >= lam_min[run, ok] * (1 - 1e-4))
        assert np.all(at[ok] <= lam_max[run, ok] * (1 + 1e-4))
        # The fitted rate: least squares of log L_t on t >= t0, recomputed with NumPy.
        cfg = r.meta["config"]
        window = record_steps >= cfg["stable_from"]
        slope = np.polyfit(record_steps[window], np.log(loss[run, window].astype(float)), 1)[0]
        rate = np.atleast_1d(r["rate"])[run]
        assert np.exp(slope) == pytest.approx(rate, rel=1e-5)
    drift = np.atleast_2d(r["drift"])[:, -1]
    norms = np.atleast_1d(r["params0_norm"])
    np.testing.assert_allclose(np.atleast_1d(r["final_relative_drift"]), drift / norms, rtol=1e-5)


def test_ablation_tells_the_width_story():
    """What the book says about the FULL ablation (fails if the committed numbers change)."""
    r = ex.load_results("width_ablation", fast=False)
    fixed = ~r["reduced"]
    widest = int(np.max(r["width"]))
    i_fixed = int(np.flatnonzero(fixed & (r["width"] == widest))[0])
    i_reduced = int(np.flatnonzero(r["reduced"])[0])
    assert not r["local"][i_fixed] and r["local"][i_reduced]
    assert r["final_drift"][i_reduced] < r["final_drift"][i_fixed]
    assert all(r["local"][fixed & (r["width"] < widest)])


def test_ntk_parameterization_ablation_tells_its_story():
    """What chapter 8 says about the erf / NTK-parameterization ablation (committed FULL).

    Expectations from NTK theory, not from these numbers: the kernel converges with the
    width (so one step sits at the same place relative to the edge at every width), and its
    relative change over training shrinks like m^(-1/2).
    """
    r = ex.load_results("erf_ntk", fast=False)
    cfg = r.meta["config"]
    assert cfg["activation"] == "erf" and cfg["parameterization"] == "ntk"
    edge = r["step_size"] * r["lambda_max0"]
    assert np.all(edge < 1) and edge.max() / edge.min() < 1.5     # no width near 2/lambda_max
    assert np.all(r["local"]) and np.all(r["diverged_at"] < 0)
    assert np.all(np.diff(r["kernel_change"]) < 0)                 # lazier with every doubling
    widths = r["width"].astype(float)
    slope = np.polyfit(np.log(widths), np.log(r["kernel_change"]), 1)[0]
    assert -1.0 < slope < -0.3, slope   # decays, and no faster than 1/m
    # The sharpness at initialization is close to its Gauss-Newton proxy here.
    np.testing.assert_allclose(r["beta0"], r["lambda_max0"], rtol=0.25)


# ------------------------------------------------------------------ reproducibility

@pytest.mark.parametrize("name", ex.EXPERIMENTS)
def test_fast_configuration_reproduces_the_committed_results(fast_runs, name):
    fresh = _needs(fast_runs, name)
    assert ex.result_status(name, fast=True).state == "fresh", (
        f"committed FAST results of {name} are {ex.result_status(name, fast=True)}: rerun "
        f"python -m lplr_core.experiments run {name} --fast")
    _compare(name, fresh, ex.load_results(name, fast=True))


@pytest.mark.slow
def test_full_configuration_reproduces_the_committed_results():
    """The cheapest FULL configuration (mnist_mlp, about 1-2 minutes on 2 cores)."""
    assert ex.result_status("mnist_mlp", fast=False).state == "fresh"
    fresh = ex.run_experiment("mnist_mlp", fast=False, seed=0, save=False)
    _compare("mnist_mlp", fresh, ex.load_results("mnist_mlp", fast=False))


# ---------------------------------------------------------------------- command line

def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "lplr_core.experiments", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, **(env or {})})


def _cli_here(capsys, *args):
    """The command line's ``main`` in this process: ``(exit code, stdout, stderr)`` (an
    argparse error exits with code 2, as ``python -m lplr_core.experiments`` does)."""
    from lplr_core.experiments.__main__ import main

    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_list_and_bad_input(capsys):
    out = _cli("list")          # the real entry point, in a fresh interpreter
    assert out.returncode == 0, out.stderr
    for name in ex.EXPERIMENTS:
        assert name in out.stdout
    # The argument checks are main's (argparse's), the same in this process: no interpreter
    # start (and jax import) per case.
    code, _, err = _cli_here(capsys, "run", "nope")
    assert code == 2 and "allowed: mnist_mlp, width_ablation" in err
    code, _, err = _cli_here(capsys, "run", "mnist_mlp", "--seed", "-3")
    assert code == 2 and "--seed" in err
    code, _, err = _cli_here(capsys, "run", "mnist_mlp", "--seed", "one")
    assert code == 2 and "--seed" in err
    code, help_text, _ = _cli_here(capsys, "run", "--help")
    assert code == 0 and "data/results" in help_text


def test_cli_run_fast_and_report(tmp_path):
    out_dir = tmp_path / "out"
    run = _cli("run", "mnist_mlp", "--fast", "--out", str(out_dir))
    assert run.returncode == 0, run.stderr
    assert (out_dir / "arrays.npz").exists() and (out_dir / "meta.json").exists()
    assert "stayed local" in run.stdout
    _compare("mnist_mlp", ex.load_results("mnist_mlp", fast=True, out_dir=out_dir),
             ex.load_results("mnist_mlp", fast=True))
    # report over a root holding only this run: fresh for fast, missing for full.
    root = tmp_path / "root"
    shutil.copytree(out_dir, ex.result_dir("mnist_mlp", fast=True, root=root))
    report = _cli("report", "mnist_mlp", env={"LPLR_RESULTS_DIR": str(root)})
    assert report.returncode == 0, report.stderr
    assert "[fast, seed 0]: fresh" in report.stdout
    assert "[full, seed 0]: missing" in report.stdout
    meta = json.loads((out_dir / "meta.json").read_text())
    assert meta["content_sha256"][:16] in report.stdout


def test_stack_runs_pads_curves_and_collects_scalars():
    def run(k, length):
        out = {key: float(k) for key in PER_RUN_SCALARS}
        out.update({key: np.arange(length, dtype=np.float32) + k for key in CURVES})
        out.update(steps=np.arange(length), ntk_steps=np.arange(0, length, 2))
        return out

    stacked = stack_runs([run(0, 4), run(1, 2)])   # the second run diverged after 2 records
    np.testing.assert_array_equal(stacked["steps"], np.arange(4))
    for key in PER_RUN_SCALARS:
        np.testing.assert_array_equal(stacked[key], [0.0, 1.0])
    for key in CURVES:
        assert stacked[key].dtype == np.float32 and stacked[key].shape == (2, 4)
        np.testing.assert_array_equal(stacked[key][0], [0, 1, 2, 3])
        np.testing.assert_array_equal(stacked[key][1], [1, 2, np.nan, np.nan])
    with pytest.raises(ValueError, match="runs"):
        stack_runs([])
