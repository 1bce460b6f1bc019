"""Wall time of the test suite before and after issue 10 section 4, on a clean clone.

Each run is `pytest tests --ignore=tests/browser --ignore=tests/jupyterlab` on a fresh
``git clone`` of this repository (committed files only) that uses this checkout's .venv
through a symlink, with ``LPLR_HIDE_FULL_FASHION=1`` as in CI. The clone's own
``lplr_core`` is imported (``PYTHONPATH``), also by the subprocesses the tests start.

Phases (run in the order given, so that each sees the same machine load as its neighbours):

* ``old``  -- the old invocation: one process, no persistent compilation cache
  (``JAX_ENABLE_COMPILATION_CACHE=false``), the tests not marked slow;
* ``cold`` -- the new invocation (``make test``'s first line): ``-n 2 --dist loadfile``, the
  tests not marked slow, with an empty compilation cache folder (what CI sees);
* ``warm`` -- the same again, the cache folder filled by ``cold`` (a developer's rerun);
* ``slow`` -- ``make test``'s second line, the tests marked slow, one process, with the cache
  as ``cold`` left it;
* ``slow-old`` -- the slow tests without the cache (the old invocation's share of them);
* ``nbval`` (not run by default) -- ``make test``'s nbval line, which also checks Binder's
  limits for every notebook (tests/nbval_binder.py, uncached kernels);
* ``nbval-old`` (not run by default) -- nbval as before that plugin: kernels sharing the
  compilation cache, no Binder limits (those were a slow test that executed every notebook a
  second time, ~300 s on 2 cores, until the plugin replaced it).

Before = old + slow-old; after (CI, cold) = cold + slow; after (warm) = warm + slow: the same
tests on both sides (:func:`ratios`). A run without the old phases (they take ~11 minutes)
compares with the recorded baseline ``BEFORE`` instead (``ratio_cold_vs_recorded``).
The machine is shared: compare phases of one run of this script, not absolute numbers, or say
the load (each phase records it, and its CPU seconds, which load distorts less).
Each phase also records ``file_seconds``: seconds per test file (conftest's FILE_SECONDS).
The JSON file is rewritten after every phase, so an interrupted run keeps what it measured.

Usage: python benchmarks/bench_suite.py [--phases old,cold,warm,slow,slow-old]
           [--clone /tmp/suite-clone] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHASES = ("old", "cold", "warm", "slow", "slow-old")
NBVAL_PHASES = ("nbval", "nbval-old")
NBVAL = ["--nbval", "notebooks", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg",
         "-p", "no:cacheprovider", "-q"]
SUITE = ["tests", "--ignore=tests/browser", "--ignore=tests/jupyterlab", "-p", "no:cacheprovider",
         "-q", "--durations=0", "--durations-min=0.05"]
# The baseline of issue 10 section 4, measured on 2026-11-29 on a clean clone (commit 841f915,
# load 1.4-1.6): the old invocation (one process, no compilation cache), tests not marked slow
# ("old_rerun" in results/suite.json) and the slow ones ("slow-old").
BEFORE = {"old": 645.1, "slow-old": 31.2, "cpu_old": 807.1, "cpu_slow-old": 45.0}
DURATION = re.compile(r"^\s*([\d.]+)s (?:setup|call|teardown)\s+(tests/[^:\s]+)::", re.M)


def _command(phase: str) -> tuple[list[str], dict[str, str]]:
    if phase == "old":
        return SUITE + ["-m", "not slow"], {"JAX_ENABLE_COMPILATION_CACHE": "false"}
    if phase in ("cold", "warm"):
        return SUITE + ["-m", "not slow", "-n", "2", "--dist", "loadfile"], {}
    if phase == "slow":
        return SUITE + ["-m", "slow"], {}
    if phase == "slow-old":
        return SUITE + ["-m", "slow"], {"JAX_ENABLE_COMPILATION_CACHE": "false"}
    if phase == "nbval":
        return NBVAL + ["-p", "tests.nbval_binder"], {}
    if phase == "nbval-old":
        return NBVAL, {"JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                       "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
    raise ValueError(f"phase={phase!r}: allowed {', '.join(PHASES + NBVAL_PHASES)}")


def _summary(output: str) -> str:
    lines = [ln for ln in output.splitlines() if re.search(r"\d+ (passed|failed)", ln)]
    return lines[-1].strip("= ") if lines else output.strip().splitlines()[-1:][0]


def _file_seconds(output: str, top: int = 25) -> dict[str, float]:
    """Seconds per test file (setup, call and teardown of its tests, as ``--durations`` lists
    them: a file's share of its worker's time), the ``top`` longest: conftest's FILE_SECONDS."""
    files: dict[str, float] = {}
    for seconds, path in DURATION.findall(output):
        name = path.rsplit("/", 1)[-1]
        files[name] = files.get(name, 0.0) + float(seconds)
    ranked = sorted(files.items(), key=lambda kv: -kv[1])[:top]
    return {name: round(sec, 1) for name, sec in ranked}


def ratios(ph: dict, before: dict = BEFORE) -> dict:
    """After / before, like with like: the same tests (not slow + slow) on both sides.

    ``ratio_<fast>`` divides ``<fast> + slow`` by ``old + slow-old`` of the same run when it
    measured both (same machine load); otherwise by the recorded baseline ``before``
    (``ratio_<fast>_vs_recorded``), whose load may differ: ``cpu`` ratios (CPU seconds of all
    processes) are less sensitive to that.
    """
    out = {}
    for fast in ("cold", "warm"):
        if fast not in ph or "slow" not in ph:
            continue
        after, after_cpu = (ph[fast]["wall_s"] + ph["slow"]["wall_s"],
                            ph[fast]["cpu_s"] + ph["slow"]["cpu_s"])
        if {"old", "slow-old"} <= set(ph):
            out[f"ratio_{fast}"] = round(after / (ph["old"]["wall_s"] + ph["slow-old"]["wall_s"]), 3)
            out[f"ratio_{fast}_cpu"] = round(
                after_cpu / (ph["old"]["cpu_s"] + ph["slow-old"]["cpu_s"]), 3)
        else:
            out[f"ratio_{fast}_vs_recorded"] = round(after / (before["old"] + before["slow-old"]), 3)
            out[f"ratio_{fast}_cpu_vs_recorded"] = round(
                after_cpu / (before["cpu_old"] + before["cpu_slow-old"]), 3)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--clone", default="/tmp/suite-clone")
    parser.add_argument("--out", default=None)
    parser.add_argument("--timeout", type=float, default=3600.0)
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    for p in phases:
        _command(p)   # names a bad phase before anything runs

    clone = Path(args.clone)
    if clone.exists():
        shutil.rmtree(clone)
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], check=True)
    head = subprocess.run(["git", "-C", str(clone), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (clone / ".venv").symlink_to(REPO / ".venv")
    cache = clone / "jax-cache-bench"            # empty: the cold run fills it
    env = {**os.environ, "LPLR_HIDE_FULL_FASHION": "1", "PYTHONPATH": str(clone),
           "JAX_COMPILATION_CACHE_DIR": str(cache)}
    for name in ("JAX_ENABLE_COMPILATION_CACHE", "XLA_FLAGS"):
        env.pop(name, None)

    results = {"commit": head, "cpus": os.cpu_count(), "phases": {}}
    for phase in phases:
        cmd, extra = _command(phase)
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        try:
            proc = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-m", "pytest",
                                   *cmd], cwd=clone, env={**env, **extra}, capture_output=True,
                                  text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout or ""
            proc = subprocess.CompletedProcess(exc.cmd, -9, out if isinstance(out, str) else
                                               out.decode(errors="replace"), "")
            proc.stdout += f"\ntimed out after {args.timeout:.0f} s"
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU seconds of the run and every process it waited for (xdist workers, kernels):
        # far less sensitive to other load on the machine than the wall time.
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        entries = len(os.listdir(cache)) if cache.is_dir() else 0
        results["phases"][phase] = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                                    "returncode": proc.returncode,
                                    "load_at_end": os.getloadavg()[0],
                                    "summary": _summary(proc.stdout), "load_at_start": load,
                                    "cache_entries_after": entries,
                                    "file_seconds": _file_seconds(proc.stdout)}
        (Path(args.out or "/tmp/bench_suite") .with_suffix(f".{phase}.log")).write_text(
            proc.stdout + proc.stderr)
        print(f"{phase:9s} {wall:7.1f} s  cpu {cpu:7.1f} s  rc={proc.returncode}  "
              f"load {load:.1f}  {_summary(proc.stdout)}  (cache: {entries} entries)", flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=2) + "\n")

    ph = results["phases"]
    results.update(ratios(ph))
    for key, value in ratios(ph).items():
        print(f"{key}: {value:.3f}", flush=True)
    if "old" in ph:
        for fast in ("cold", "warm"):
            if fast in ph:
                print(f"tests not marked slow, {fast}: {ph[fast]['wall_s'] / ph['old']['wall_s']:.2f}"
                      " of old", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
