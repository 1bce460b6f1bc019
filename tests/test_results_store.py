"""The results store (issue 11, section 3): atomic, tamper-evident, quiet when unchanged.

Tiny hand-made results stored under the real experiment names (so the source and
config hashes are the real ones); nothing here runs an experiment. Cost on 2 busy
cores: the thread race (1,000 rewrites, each fsynced) about 35 s, the process race
about 10 s, the CLI tests about 30 s, the rest a few seconds. Checked against the old
store: with plain writes and one read, a reader racing 300 rewrites saw thousands of
torn pairs and crashes; with atomic writes but a single read, still thousands of torn
pairs (meta of one write, arrays of the next), hence the re-read in ``_read``.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lplr_core import experiments as ex

ROOT = Path(__file__).resolve().parents[1]
NAME = "mnist_mlp"


@pytest.fixture
def stored(tmp_path):
    """A fresh, tiny result of NAME (fast mode, seed 0) in its own folder."""
    config = ex.get_experiment(NAME).FAST
    folder = tmp_path / "store"
    arrays = {"loss": np.linspace(1.0, 0.1, 6).astype(np.float32), "width": np.array(7),
              "local_reason": np.array("all checks passed")}
    ex.save_results(NAME, arrays, fast=True, seed=0, config=config, wall_time_s=1.5,
                    out_dir=folder)
    assert ex.result_status(NAME, fast=True, out_dir=folder).state == "fresh"
    return folder, arrays


def _status(folder):
    return ex.result_status(NAME, fast=True, out_dir=folder)


# ------------------------------------------------------------------- atomic writes

def test_a_reader_racing_a_writer_never_sees_a_torn_pair(tmp_path):
    """1,000 rewrites alternating two results; a concurrent reader always gets a matching pair."""
    folder = tmp_path / "race"
    pairs = {"A": {"loss": np.full(8, 1.0)}, "B": {"loss": np.full(8, 2.0, np.float32)}}
    expected = {"A": 1.0, "B": 2.0}

    def save(which):
        ex.save_results(NAME, pairs[which], fast=True, seed=0, config={"which": which},
                        wall_time_s=0.0, out_dir=folder)

    save("A")
    errors, reads, states = [], [0], set()
    done = threading.Event()

    def writer():
        try:
            for k in range(1000):
                save("B" if k % 2 == 0 else "A")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(("writer", exc))
        finally:
            done.set()

    def reader():
        try:
            while not done.is_set():
                res = ex.load_results(NAME, fast=True, out_dir=folder)
                which = res.meta["config"]["which"]
                assert np.all(res["loss"] == expected[which]), "torn pair: meta and arrays differ"
                assert res.meta["content_sha256"] == ex.content_hash(
                    {"loss": np.asarray(res["loss"])})
                states.add(ex.result_status(NAME, fast=True, out_dir=folder).state)
                reads[0] += 1
        except BaseException as exc:
            errors.append(("reader", exc))
            done.set()

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "race test did not finish in 5 minutes"
    assert not errors, errors
    assert reads[0] >= 20, f"the reader only got {reads[0]} reads in: the race was not exercised"
    # The config is not the module's FAST one, so "stale" is right; never corrupt or missing.
    assert states == {"stale"}, states
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "meta.json"]


_WRITER = """
import sys
import numpy as np
from lplr_core import experiments as ex
folder, rounds = sys.argv[1], int(sys.argv[2])
for k in range(rounds):
    which = "B" if k % 2 == 0 else "A"
    ex.save_results("mnist_mlp", {"loss": np.full(5, 1.0 if which == "A" else 2.0)}, fast=True,
                    seed=0, config={"which": which}, wall_time_s=0.0, out_dir=folder)
"""


def test_a_reader_racing_a_writer_process_never_sees_a_torn_pair(tmp_path):
    """The same race across processes: 300 rewrites in a child, load_or_run-style reads here."""
    folder = tmp_path / "race"
    ex.save_results(NAME, {"loss": np.full(5, 1.0)}, fast=True, seed=0, config={"which": "A"},
                    wall_time_s=0.0, out_dir=folder)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(folder), "300"], env=env,
                             stderr=subprocess.PIPE, text=True)
    reads = 0
    try:
        deadline = time.monotonic() + 300
        while child.poll() is None and time.monotonic() < deadline:
            res = ex.load_results(NAME, fast=True, out_dir=folder)
            expected = 1.0 if res.meta["config"]["which"] == "A" else 2.0
            assert np.all(res["loss"] == expected), "torn pair across processes"
            assert ex.result_status(NAME, fast=True, out_dir=folder).state == "stale"
            reads += 1
    finally:
        if child.poll() is None:
            child.kill()
        _, err = child.communicate()
    assert child.returncode == 0, err
    assert reads >= 5, f"only {reads} reads overlapped the writer"


def test_a_failed_write_leaves_the_old_files_and_no_temporary(stored, monkeypatch):
    folder, arrays = stored
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def boom(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError, match="disk full"):
        ex.save_results(NAME, {**arrays, "loss": arrays["loss"] * 2}, fast=True, seed=0,
                        config=ex.get_experiment(NAME).FAST, wall_time_s=0.0, out_dir=folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert _status(folder).state == "fresh"


def test_an_unchanged_result_is_not_rewritten(stored):
    """Same numbers, config, source, name, mode and seed: no byte and no mtime changes."""
    folder, arrays = stored
    stat = {p.name: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino)
            for p in folder.iterdir()}
    time.sleep(0.01)
    ex.save_results(NAME, copy.deepcopy(arrays), fast=True, seed=0,
                    config=ex.get_experiment(NAME).FAST, wall_time_s=99.0, out_dir=folder)
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino)
            for p in folder.iterdir()} == stat
    # One changed number is written.
    changed = {**arrays, "loss": arrays["loss"].copy()}
    changed["loss"][0] += 1
    ex.save_results(NAME, changed, fast=True, seed=0, config=ex.get_experiment(NAME).FAST,
                    wall_time_s=99.0, out_dir=folder)
    assert (folder / "meta.json").read_bytes() != stat["meta.json"][0]
    assert _status(folder).state == "fresh"


# ---------------------------------------------------------------- tamper evidence

def _edits(meta):
    """One edit per field of meta.json (nested config too), each keeping valid JSON."""
    for key, value in meta.items():
        edited = copy.deepcopy(meta)
        if key == "config":
            edited["config"]["record_every"] = value["record_every"] + 1
        elif isinstance(value, bool):
            edited[key] = not value
        elif isinstance(value, (int, float)):
            edited[key] = value + 1
        elif isinstance(value, str):
            edited[key] = value[:-1] + ("0" if value[-1:] != "0" else "1")
        elif isinstance(value, dict):
            edited[key] = {**value, "extra": 1}
        else:  # pragma: no cover - meta holds no other types
            raise AssertionError(f"unexpected meta field {key!r}: {value!r}")
        yield key, edited


def test_every_tampered_meta_field_is_detected(stored):
    folder, _ = stored
    meta = json.loads((folder / "meta.json").read_text())
    fields = {"name", "mode", "seed", "config", "config_sha256", "content_sha256",
              "source_sha256", "record_sha256", "versions", "wall_time_s", "date", "files"}
    assert fields <= set(meta)
    seen = set()
    for key, edited in _edits(meta):
        (folder / "meta.json").write_text(json.dumps(edited, indent=2))
        status = _status(folder)
        assert status.state == "corrupt", (key, status)
        seen.add(key)
        with pytest.raises(ValueError, match="cannot re-stamp"):   # never blessed
            ex.restamp(NAME, fast=True, out_dir=folder)
    assert seen == set(meta)
    # Removing a field is detected too (a required one by name, any other by the record hash).
    for key in meta:
        edited = {k: v for k, v in meta.items() if k != key}
        (folder / "meta.json").write_text(json.dumps(edited))
        assert _status(folder).state in ("corrupt", "stale"), key
    (folder / "meta.json").write_text(json.dumps(meta))
    assert _status(folder).state == "fresh"


@pytest.mark.parametrize("text", ["[]", "null", "3", '"meta"', "true", "[1, 2]"])
def test_meta_that_is_json_but_not_an_object_is_corrupt(stored, text):
    folder, _ = stored
    (folder / "meta.json").write_text(text)
    status = _status(folder)
    assert status.state == "corrupt" and "not an object" in status.reason
    with pytest.raises(ValueError, match="corrupt"):
        ex.load_results(NAME, fast=True, out_dir=folder)


@pytest.mark.parametrize("edit", ["value", "new key", "dropped key", "dtype", "shape"])
def test_every_tampered_array_is_detected(stored, edit):
    folder, arrays = stored
    arrays = dict(arrays)
    if edit == "value":
        arrays["loss"] = arrays["loss"].copy()
        arrays["loss"][3] = np.nextafter(arrays["loss"][3], np.float32(9))
    elif edit == "new key":
        arrays["extra"] = np.array(1.0)
    elif edit == "dropped key":
        del arrays["width"]
    elif edit == "dtype":
        arrays["loss"] = arrays["loss"].astype(np.float64)
    else:
        arrays["loss"] = arrays["loss"].reshape(2, 3)
    np.savez_compressed(folder / "arrays.npz", **arrays)
    status = _status(folder)
    assert status.state == "corrupt" and "content hash" in status.reason


@pytest.mark.parametrize("victim, garbage", [("meta.json", b"{not json"),
                                             ("meta.json", b"\xff\xfe"),
                                             ("arrays.npz", b"not a zip file"),
                                             ("arrays.npz", b"")])
def test_unreadable_files_are_corrupt(stored, victim, garbage):
    folder, _ = stored
    (folder / victim).write_bytes(garbage)
    status = _status(folder)
    assert status.state == "corrupt" and "cannot read" in status.reason


def test_results_of_another_experiment_or_mode_are_stale(stored):
    folder, _ = stored
    assert ex.result_status("width_ablation", fast=True, out_dir=folder).state == "stale"
    status = ex.result_status(NAME, fast=False, out_dir=folder)
    assert status.state == "stale" and "fast" in status.reason


def test_restamp_adds_a_record_hash_without_recomputing(stored):
    folder, arrays = stored
    meta = json.loads((folder / "meta.json").read_text())
    old = {k: v for k, v in meta.items() if k not in ("record_sha256", "record_hash_method")}
    (folder / "meta.json").write_text(json.dumps(old))
    npz = (folder / "arrays.npz").read_bytes()
    status = _status(folder)
    assert status.state == "stale" and "restamp" in status.reason
    assert ex.restamp(NAME, fast=True, out_dir=folder) is True
    assert _status(folder).state == "fresh"
    assert (folder / "arrays.npz").read_bytes() == npz                 # not recomputed
    assert ex.restamp(NAME, fast=True, out_dir=folder) is False        # idempotent
    # An old meta whose arrays or config changed is refused.
    (folder / "meta.json").write_text(json.dumps({**old, "config": {"steps": 1}}))
    with pytest.raises(ValueError, match="config"):
        ex.restamp(NAME, fast=True, out_dir=folder)
    (folder / "meta.json").write_text(json.dumps(old))
    np.savez_compressed(folder / "arrays.npz", **{**arrays, "width": np.array(8)})
    with pytest.raises(ValueError, match="content hash"):
        ex.restamp(NAME, fast=True, out_dir=folder)


def test_committed_results_all_have_record_hashes():
    for name in ex.EXPERIMENTS:
        for fast in (True, False):
            meta = json.loads((ex.result_dir(name, fast=fast) / "meta.json").read_text())
            assert meta["record_sha256"] == ex.record_hash(meta), (name, fast)


# ------------------------------------------------------------ writable, before computing

def test_check_writable(tmp_path):
    assert ex.check_writable(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir() and not list((tmp_path / "a" / "b").iterdir())
    with pytest.raises(ValueError, match="non-empty path"):
        ex.check_writable("")
    with pytest.raises(ValueError, match="non-empty path"):
        ex.check_writable(None)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        ex.check_writable(tmp_path / "file")
    with pytest.raises(ValueError, match="is a file"):
        ex.check_writable(tmp_path / "file" / "sub")


def test_run_experiment_checks_the_folder_before_computing(tmp_path, monkeypatch):
    module = ex.get_experiment(NAME)

    def never(*args, **kwargs):
        raise AssertionError("the experiment ran before the folder was checked")
    monkeypatch.setattr(module, "run", never)
    with pytest.raises(ValueError, match="non-empty path"):
        ex.run_experiment(NAME, fast=True, out_dir="")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        ex.run_experiment(NAME, fast=True, out_dir=tmp_path / "file")
    monkeypatch.setenv("LPLR_RESULTS_DIR", str(tmp_path / "file" / "results"))
    with pytest.raises(ValueError, match="is a file"):
        ex.run_experiment(NAME, fast=True)


# ---------------------------------------------------------------------- command line

def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "lplr_core.experiments", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, **(env or {})})


def test_cli_rejects_a_bad_out_before_computing(tmp_path):
    empty = _cli("run", NAME, "--fast", "--out", "")
    assert empty.returncode == 2 and "--out" in empty.stderr and "empty" in empty.stderr
    (tmp_path / "file").write_text("x")
    start = time.perf_counter()
    bad = _cli("run", NAME, "--fast", "--out", str(tmp_path / "file" / "out"))
    assert bad.returncode == 2 and "error:" in bad.stderr and "is a file" in bad.stderr
    assert "stayed local" not in bad.stdout                  # nothing was computed
    bad_root = _cli("run", NAME, "--fast",
                    env={"LPLR_RESULTS_DIR": str(tmp_path / "file" / "results")})
    assert bad_root.returncode == 2 and "is a file" in bad_root.stderr
    assert time.perf_counter() - start < 120


def test_cli_report_goes_on_past_a_corrupt_experiment_and_fails(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(ex.result_dir(NAME, fast=True), ex.result_dir(NAME, fast=True, root=root))
    bad = ex.result_dir("width_ablation", fast=True, root=root)
    bad.mkdir(parents=True)
    (bad / "meta.json").write_text("[]")
    (bad / "arrays.npz").write_bytes(b"")
    report = _cli("report", env={"LPLR_RESULTS_DIR": str(root)})
    assert report.returncode == 1, report.stdout + report.stderr
    assert f"== {NAME} [fast, seed 0]: fresh" in report.stdout
    assert "== width_ablation [fast, seed 0]: corrupt" in report.stdout
    last = ex.EXPERIMENTS[-1]
    assert f"== {last} [full, seed 0]: missing" in report.stdout      # it went on
    assert "1 problem(s)" in report.stdout
    # Only fresh and missing results: success.
    (bad / "meta.json").unlink()
    report = _cli("report", env={"LPLR_RESULTS_DIR": str(root)})
    assert report.returncode == 0, report.stdout
