"""Command line: ``python -m lplr_core.experiments list | run NAME | report [NAME] | restamp``.

``report`` prints every experiment's status (fresh, stale, corrupt or missing)
and goes on past a broken one; it exits with 1 when anything is stale,
corrupt or unavailable. ``run`` checks that its output folder is writable
before computing.

Results are stored under ``data/results/<name>/<fast|full>[-seed<k>]/`` in the
repository (set ``LPLR_RESULTS_DIR`` to use another root), never in a
top-level ``results/`` folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # the experiments run in float64

from lplr_core._validation import MAX_SEED
from lplr_core import experiments as ex  # noqa: E402

_EPILOG = ("Results go to data/results/<name>/<fast|full>[-seed<k>]/ in the repository "
           "(arrays.npz + meta.json; LPLR_RESULTS_DIR overrides data/results), not to a "
           "top-level results/ folder. Experiments: " + ", ".join(ex.EXPERIMENTS))


def _progress_bar(name: str):
    """A progress(done, total, message) callable: tqdm if installed, else one text line."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the pinned environment
        start = time.perf_counter()

        def text(done, total, message):
            print(f"\r{name}: [{done}/{total}] {message} ({time.perf_counter() - start:.0f} s)",
                  end="\n" if done >= total else "", file=sys.stderr, flush=True)
        return text, lambda: None

    bar = tqdm(total=None, desc=name, unit="run", file=sys.stderr, dynamic_ncols=True)

    def update(done, total, message):
        if bar.total != total:
            bar.total = total
        bar.n = done
        bar.set_postfix_str(message, refresh=False)
        bar.refresh()
    return update, bar.close


_MAX_CLI_SEED = MAX_SEED - 1024


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed must be a non-negative integer; got {text!r}")
    # experiments derive further seeds as seed + k (k < 1024), each passed to
    # jax.random.PRNGKey, which takes a signed 64-bit int
    if not 0 <= value <= _MAX_CLI_SEED:
        raise argparse.ArgumentTypeError(
            f"--seed must be an integer in [0, {_MAX_CLI_SEED}]; got {value}")
    return value


def _out(text: str) -> str:
    if text == "":
        raise argparse.ArgumentTypeError("--out must be a folder path; got an empty string")
    return text


def _name(text: str) -> str:
    if text not in ex.EXPERIMENTS:
        raise argparse.ArgumentTypeError(
            f"unknown experiment {text!r}; allowed: {', '.join(ex.EXPERIMENTS)}")
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lplr_core.experiments",
                                     description="Run and report the book's experiments.",
                                     epilog=_EPILOG)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered experiments", epilog=_EPILOG)
    run = sub.add_parser("run", help="run one experiment and store its results", epilog=_EPILOG)
    run.add_argument("name", type=_name, help="one of: " + ", ".join(ex.EXPERIMENTS))
    run.add_argument("--fast", action="store_true", help="the FAST configuration (seconds)")
    run.add_argument("--seed", type=_seed, default=0, help="non-negative int (default 0)")
    run.add_argument("--out", default=None, metavar="DIR", type=_out,
                     help="write arrays.npz and meta.json to DIR instead of data/results/...")
    report = sub.add_parser("report", help="summaries, status and hashes of stored results",
                            epilog=_EPILOG)
    report.add_argument("name", nargs="?", type=_name, help="one experiment (default: all)")
    report.add_argument("--seed", type=_seed, default=0, help="non-negative int (default 0)")
    restamp = sub.add_parser("restamp", help="add record hashes to results stored before them "
                                             "(checks the arrays; never recomputes)",
                             epilog=_EPILOG)
    restamp.add_argument("name", nargs="?", type=_name, help="one experiment (default: all)")
    restamp.add_argument("--seed", type=_seed, default=0, help="non-negative int (default 0)")
    return parser


def _list() -> int:
    for name in ex.EXPERIMENTS:
        try:
            module = ex.get_experiment(name)
            print(f"{name:16s} {module.DESCRIPTION}")
        except (ImportError, TypeError) as exc:
            print(f"{name:16s} UNAVAILABLE: {exc}")
    return 0


def _run(args) -> int:
    try:
        ex.get_experiment(args.name)
        folder = (ex.result_dir(args.name, fast=args.fast, seed=args.seed) if args.out is None
                  else args.out)
        ex.check_writable(folder)  # before computing, not after
    except (ImportError, TypeError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    progress, close = _progress_bar(args.name)
    start = time.perf_counter()
    try:
        results = ex.run_experiment(args.name, fast=args.fast, seed=args.seed,
                                    out_dir=args.out, progress=progress)
    finally:
        close()
    print(f"{args.name} ({'fast' if args.fast else 'full'}, seed {args.seed}): "
          f"{time.perf_counter() - start:.1f} s -> {results.path}")
    print(ex.get_experiment(args.name).summarize(results))
    return 0


def _report(args) -> int:
    names = [args.name] if args.name else list(ex.EXPERIMENTS)
    problems = []
    for name in names:
        try:
            module = ex.get_experiment(name)
        except (ImportError, TypeError) as exc:
            print(f"== {name}: UNAVAILABLE: {exc}\n")
            problems.append(f"{name}: unavailable")
            continue
        for fast in (True, False):
            mode = "fast" if fast else "full"
            try:
                status = ex.result_status(name, fast=fast, seed=args.seed)
            except Exception as exc:  # one broken experiment must not hide the others
                print(f"== {name} [{mode}, seed {args.seed}]: error ({type(exc).__name__}: "
                      f"{exc})\n")
                problems.append(f"{name} [{mode}]: error")
                continue
            print(f"== {name} [{mode}, seed {args.seed}]: {status.state} ({status.reason})")
            if status.state in ("stale", "corrupt"):
                problems.append(f"{name} [{mode}]: {status.state}")
            if status.state in ("missing", "corrupt"):
                print()
                continue
            try:
                results = ex.load_results(name, fast=fast, seed=args.seed)
                meta = results.meta
                print(f"   {results.path}")
                print(f"   content {str(meta.get('content_sha256', '?'))[:16]}  config "
                      f"{str(meta.get('config_sha256', '?'))[:16]}  source "
                      f"{str(meta.get('source_sha256', '?'))[:16]}  record "
                      f"{str(meta.get('record_sha256', '?'))[:16]}")
                print(f"   {meta.get('date', '?')}, {meta.get('wall_time_s', '?')} s, "
                      f"versions {meta.get('versions', {})}")
                print(module.summarize(results))
            except Exception as exc:  # unreadable or unexpected contents: report, go on
                print(f"   cannot summarize: {type(exc).__name__}: {exc}")
                if status.state == "fresh":
                    problems.append(f"{name} [{mode}]: cannot summarize")
            print()
    if problems:
        print(f"{len(problems)} problem(s): " + "; ".join(problems))
    return 1 if problems else 0


def _restamp(args) -> int:
    names = [args.name] if args.name else list(ex.EXPERIMENTS)
    failed = 0
    for name in names:
        for fast in (True, False):
            mode = "fast" if fast else "full"
            if ex.result_status(name, fast=fast, seed=args.seed).state == "missing":
                continue
            try:
                done = ex.restamp(name, fast=fast, seed=args.seed)
                print(f"{name} [{mode}]: {'re-stamped' if done else 'already has a record hash'}")
            except (ValueError, OSError) as exc:
                print(f"{name} [{mode}]: {exc}", file=sys.stderr)
                failed += 1
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "list":
        return _list()
    if args.command == "run":
        return _run(args)
    if args.command == "restamp":
        return _restamp(args)
    return _report(args)


if __name__ == "__main__":
    sys.exit(main())
