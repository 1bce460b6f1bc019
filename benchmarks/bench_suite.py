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

Before = old + slow-old; after (CI, cold) = cold + slow; after (warm) = warm + slow.
The machine is shared: compare phases of one run of this script, not absolute numbers.
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
         "-q", "--durations=15"]


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
                                    "cache_entries_after": entries}
        (Path(args.out or "/tmp/bench_suite") .with_suffix(f".{phase}.log")).write_text(
            proc.stdout + proc.stderr)
        print(f"{phase:9s} {wall:7.1f} s  cpu {cpu:7.1f} s  rc={proc.returncode}  "
              f"load {load:.1f}  {_summary(proc.stdout)}  (cache: {entries} entries)", flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=2) + "\n")

    ph = results["phases"]
    if {"old", "slow-old"} <= set(ph):
        before = ph["old"]["wall_s"] + ph["slow-old"]["wall_s"]
        for fast in ("cold", "warm"):
            if fast in ph and "slow" in ph:
                after = ph[fast]["wall_s"] + ph["slow"]["wall_s"]
                results[f"ratio_{fast}"] = round(after / before, 3)
                print(f"suite {fast}: {after:.0f} s vs {before:.0f} s before: "
                      f"{after / before:.2f}", flush=True)
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
