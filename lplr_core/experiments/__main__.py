"""Command line: ``python -m lplr_core.experiments list | run NAME | report [NAME]``.

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


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed must be a non-negative integer; got {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"--seed must be a non-negative integer; got {value}")
    return value


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
    run.add_argument("--out", default=None, metavar="DIR",
                     help="write arrays.npz and meta.json to DIR instead of data/results/...")
    report = sub.add_parser("report", help="summaries, status and hashes of stored results",
                            epilog=_EPILOG)
    report.add_argument("name", nargs="?", type=_name, help="one experiment (default: all)")
    report.add_argument("--seed", type=_seed, default=0, help="non-negative int (default 0)")
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
    except (ImportError, TypeError) as exc:
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
    problems = 0
    for name in names:
        try:
            module = ex.get_experiment(name)
        except (ImportError, TypeError) as exc:
            print(f"== {name}: UNAVAILABLE: {exc}\n")
            problems += 1
            continue
        for fast in (True, False):
            mode = "fast" if fast else "full"
            status = ex.result_status(name, fast=fast, seed=args.seed)
            print(f"== {name} [{mode}, seed {args.seed}]: {status.state} ({status.reason})")
            if status.state == "missing":
                continue
            try:
                results = ex.load_results(name, fast=fast, seed=args.seed)
            except Exception as exc:  # unreadable files: report, do not crash
                print(f"   cannot read: {exc}\n")
                continue
            meta = results.meta
            print(f"   {results.path}")
            print(f"   content {meta.get('content_sha256', '?')[:16]}  config "
                  f"{meta.get('config_sha256', '?')[:16]}  source "
                  f"{meta.get('source_sha256', '?')[:16]}")
            print(f"   {meta.get('date', '?')}, {meta.get('wall_time_s', '?')} s, "
                  f"versions {meta.get('versions', {})}")
            print(module.summarize(results))
            print()
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "list":
        return _list()
    if args.command == "run":
        return _run(args)
    return _report(args)


if __name__ == "__main__":
    sys.exit(main())
