r"""The book's experiments: a registry, stored results and a command line.

Each experiment is a module ``lplr_core.experiments.<name>`` that defines

* ``NAME: str`` (equal to ``<name>``) and ``DESCRIPTION: str`` (one line);
* ``FAST: dict`` and ``FULL: dict``: JSON-serializable configurations; ``FAST``
  runs in seconds (tests, quick checks), ``FULL`` is what the book shows;
* ``run(config: dict, *, seed: int = 0, progress=None) -> dict``: a *flat* dict
  of NumPy arrays, floats, ints and strings; ``progress(done, total, message)``
  is an optional callable for progress bars;
* ``summarize(results: dict) -> str``: a short text table (used by ``report``).

:data:`EXPERIMENTS` lists them by name; modules are imported lazily, so one
missing or broken module gives a clear error only when it is asked for.

Stored results
--------------
Results live under ``data/results/<name>/<fast|full>[-seed<k>]/`` in the
repository (the suffix only for ``seed != 0``). They are *not* in a top-level
``results/`` folder: the repository's top-level names are fixed, and results are
data. ``LPLR_RESULTS_DIR`` overrides the root ``data/results``. Each folder
holds

* ``arrays.npz``: every value of the result dict, as a NumPy array (scalars as
  0-d arrays; strings as unicode arrays; no pickled objects);
* ``meta.json``: ``name``, ``mode``, ``seed``, ``config``, ``config_sha256``,
  ``content_sha256``, ``source_sha256``, ``versions`` (python, numpy, jax,
  lplr_core), ``wall_time_s``, ``date`` (UTC, ISO 8601) and ``files`` (sizes).

Hashes (all SHA-256, hex):

* **config hash**: of ``json.dumps(config, sort_keys=True,
  separators=(",", ":"))`` encoded as UTF-8;
* **content hash** (:func:`content_hash`): over the arrays in sorted key order;
  for each key, the UTF-8 key, a NUL byte, the dtype string (``arr.dtype.str``,
  e.g. ``<f4``), a NUL byte, the shape as ``json.dumps(list(shape))``, a NUL byte
  and the array's bytes in C order, little-endian. It identifies the *numbers*,
  independently of the ``.npz`` container (zip time stamps);
* **source hash** (:func:`source_hash`): of the experiment module's source
  file, followed by the sources of the other ``lplr_core.experiments`` modules
  it uses, in sorted order. Changes to the rest of the core do not mark
  results stale; the reproducibility tests re-run the experiments to catch those.

A stored result is **fresh** when its config hash matches the module's current
config, its source hash matches the current source and the arrays on disk
still have the recorded content hash; otherwise it is **stale** (or
**missing**). :func:`load_or_run` reads fresh results and recomputes the rest.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import inspect
import json
import os
import platform
import sys
import time
import types
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from lplr_core._validation import check_bool, check_int, describe

__all__ = [
    "EXPERIMENTS",
    "Results",
    "Status",
    "get_experiment",
    "validate_module",
    "results_root",
    "result_dir",
    "config_hash",
    "content_hash",
    "source_hash",
    "run_experiment",
    "save_results",
    "load_results",
    "result_status",
    "is_stale",
    "load_or_run",
]

#: The registered experiments, by module name.
EXPERIMENTS = ("mnist_mlp", "width_ablation", "cnn_robustness", "erf_ntk")

_REQUIRED = {"NAME": str, "DESCRIPTION": str, "FAST": dict, "FULL": dict}
_ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- registry

def _check_name(name: Any) -> str:
    if not isinstance(name, str) or name not in EXPERIMENTS:
        raise ValueError(f"name must be one of {', '.join(repr(n) for n in EXPERIMENTS)}; "
                         f"got {describe(name)}")
    return name


def validate_module(module: types.ModuleType, name: str) -> types.ModuleType:
    """Check that ``module`` follows the experiment contract; return it.

    Raises:
      TypeError: an attribute is missing or has the wrong type; the message names it.
    """
    for attr, kind in _REQUIRED.items():
        if not isinstance(getattr(module, attr, None), kind):
            raise TypeError(f"experiment module {module.__name__} must define {attr} as a "
                            f"{kind.__name__}; got {describe(getattr(module, attr, None))}")
    if module.NAME != name:
        raise TypeError(f"experiment module {module.__name__} must have NAME == {name!r}; "
                        f"got {module.NAME!r}")
    for attr in ("run", "summarize"):
        if not callable(getattr(module, attr, None)):
            raise TypeError(f"experiment module {module.__name__} must define a callable "
                            f"{attr}()")
    for mode in ("FAST", "FULL"):
        try:
            json.dumps(getattr(module, mode), sort_keys=True)
        except TypeError as exc:
            raise TypeError(f"{module.__name__}.{mode} must be JSON-serializable: {exc}") from exc
    return module


def get_experiment(name: str) -> types.ModuleType:
    """Import the experiment module ``name`` (lazily) and check its contract.

    Raises:
      ValueError: ``name`` is not registered (the message lists the allowed names).
      ImportError: the module is registered but missing or fails to import.
      TypeError: the module does not follow the contract.
    """
    name = _check_name(name)
    try:
        module = importlib.import_module(f"lplr_core.experiments.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"lplr_core.experiments.{name}":
            raise ImportError(f"experiment {name!r} is registered but its module "
                              f"lplr_core/experiments/{name}.py does not exist") from exc
        raise ImportError(f"experiment {name!r} could not be imported: {exc}") from exc
    except Exception as exc:
        raise ImportError(f"experiment {name!r} failed to import: "
                          f"{type(exc).__name__}: {exc}") from exc
    return validate_module(module, name)


# ---------------------------------------------------------------------------- hashing

def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def config_hash(config: dict) -> str:
    """SHA-256 of the canonical JSON of ``config`` (sorted keys, no spaces)."""
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict; got {describe(config)}")
    return hashlib.sha256(_canonical_json(config).encode("utf-8")).hexdigest()


def content_hash(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over named arrays, independent of how they are stored (see module docs)."""
    if not isinstance(arrays, dict):
        raise TypeError(f"arrays must be a dict of NumPy arrays; got {describe(arrays)}")
    digest = hashlib.sha256()
    for key in sorted(arrays):
        arr = np.asarray(arrays[key])
        if arr.dtype.kind == "O":
            raise TypeError(f"arrays[{key!r}] must not be an object array")
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        digest.update(key.encode("utf-8") + b"\0")
        digest.update(arr.dtype.str.encode("ascii") + b"\0")
        digest.update(json.dumps(list(arr.shape)).encode("ascii") + b"\0")
        digest.update(arr.tobytes(order="C"))
    return digest.hexdigest()


def _helper_modules(module: types.ModuleType) -> list[types.ModuleType]:
    """Other ``lplr_core.experiments`` modules whose objects ``module`` uses."""
    found = {}
    for value in vars(module).values():
        owner = value if isinstance(value, types.ModuleType) else sys.modules.get(
            getattr(value, "__module__", None) or "")
        if (isinstance(owner, types.ModuleType) and owner is not module
                and owner.__name__.startswith("lplr_core.experiments.")
                and getattr(owner, "__file__", None)):
            found[owner.__name__] = owner
    return [found[k] for k in sorted(found)]


def source_hash(module: types.ModuleType) -> str:
    """SHA-256 of the experiment module's source and of the experiment helpers it uses."""
    digest = hashlib.sha256()
    for mod in (module, *_helper_modules(module)):
        path = inspect.getsourcefile(mod)
        if path is None:
            raise ValueError(f"no source file for module {mod.__name__}")
        digest.update(mod.__name__.encode("utf-8") + b"\0")
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------- storage

def results_root() -> Path:
    """``$LPLR_RESULTS_DIR`` if set, else ``data/results`` in the repository."""
    env = os.environ.get("LPLR_RESULTS_DIR")
    return Path(env) if env else _ROOT / "data" / "results"


def result_dir(name: str, *, fast: bool, seed: int = 0, root: str | Path | None = None) -> Path:
    """``<root>/<name>/<fast|full>[-seed<k>]`` (the suffix only for ``seed != 0``)."""
    name = _check_name(name)
    fast = check_bool("fast", fast)
    seed = check_int("seed", seed, minimum=0)
    base = results_root() if root is None else Path(root)
    return base / name / (("fast" if fast else "full") + (f"-seed{seed}" if seed else ""))


def _to_arrays(results: dict, name: str) -> dict[str, np.ndarray]:
    if not isinstance(results, dict) or not results:
        raise TypeError(f"{name}.run must return a non-empty flat dict; got {describe(results)}")
    arrays = {}
    for key, value in results.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise TypeError(f"{name}.run returned a key that is not an identifier: {key!r}")
        if isinstance(value, (dict, list, tuple)) and not isinstance(value, np.ndarray):
            raise TypeError(f"{name}.run must return a flat dict of arrays, numbers and "
                            f"strings; key {key!r} holds {describe(value)}")
        arr = np.asarray(value)
        if arr.dtype.kind not in "biufU":
            raise TypeError(f"{name}.run returned {key!r} of dtype {arr.dtype}; allowed are "
                            "bool, int, float and str")
        arrays[key] = arr
    return arrays


def _versions() -> dict[str, str]:
    import jax

    import lplr_core
    return {"python": platform.python_version(), "numpy": np.__version__,
            "jax": jax.__version__, "lplr_core": getattr(lplr_core, "__version__", "unknown")}


def save_results(name: str, results: dict, *, fast: bool, seed: int, config: dict,
                 wall_time_s: float, out_dir: str | Path | None = None) -> Path:
    """Write ``arrays.npz`` and ``meta.json`` for one run; return the folder."""
    module = get_experiment(name)
    arrays = _to_arrays(results, name)
    folder = result_dir(name, fast=fast, seed=seed) if out_dir is None else Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / "arrays.npz", **arrays)
    meta = {
        "name": name, "mode": "fast" if fast else "full", "seed": seed, "config": config,
        "config_sha256": config_hash(config), "content_sha256": content_hash(arrays),
        "source_sha256": source_hash(module), "versions": _versions(),
        "wall_time_s": round(float(wall_time_s), 2),
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "content_hash_method": "sha256 over sorted keys: key NUL dtype.str NUL json(shape) NUL "
                               "C-order little-endian bytes",
    }
    meta["files"] = {"arrays.npz": (folder / "arrays.npz").stat().st_size}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return folder


class Results(dict):
    """A result dict (0-d arrays as Python scalars) with ``.meta`` and ``.path``."""

    meta: dict
    path: Path | None

    def __init__(self, values: dict, meta: dict, path: Path | None = None):
        super().__init__(values)
        self.meta = meta
        self.path = path


def _scalarize(arr: np.ndarray) -> Any:
    return arr.item() if arr.ndim == 0 else arr


def _read(folder: Path) -> tuple[dict[str, np.ndarray], dict]:
    meta = json.loads((folder / "meta.json").read_text())
    with np.load(folder / "arrays.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, meta


def load_results(name: str, *, fast: bool, seed: int = 0, root: str | Path | None = None,
                 out_dir: str | Path | None = None) -> Results:
    """Read stored results (``out_dir`` overrides the standard folder).

    Raises:
      FileNotFoundError: nothing is stored there (the message says how to compute it).
    """
    folder = result_dir(name, fast=fast, seed=seed, root=root) if out_dir is None \
        else Path(out_dir)
    if not (folder / "meta.json").exists() or not (folder / "arrays.npz").exists():
        flag = " --fast" if fast else ""
        raise FileNotFoundError(
            f"no stored results for {name} ({'fast' if fast else 'full'}, seed {seed}) in "
            f"{folder}; compute them with: python -m lplr_core.experiments run {name}{flag} "
            f"--seed {seed}")
    arrays, meta = _read(folder)
    return Results({k: _scalarize(v) for k, v in arrays.items()}, meta, folder)


class Status(NamedTuple):
    """``state`` is ``"fresh"``, ``"stale"`` or ``"missing"``; ``reason`` says why."""
    state: str
    reason: str


def result_status(name: str, *, fast: bool, seed: int = 0, root: str | Path | None = None,
                  out_dir: str | Path | None = None) -> Status:
    """Whether stored results are fresh, stale (and why) or missing."""
    module = get_experiment(name)
    folder = result_dir(name, fast=fast, seed=seed, root=root) if out_dir is None \
        else Path(out_dir)
    if not (folder / "meta.json").exists() or not (folder / "arrays.npz").exists():
        return Status("missing", f"nothing stored in {folder}")
    try:
        arrays, meta = _read(folder)
    except Exception as exc:  # a truncated or corrupt file is stale, not a crash
        return Status("stale", f"cannot read stored files: {type(exc).__name__}: {exc}")
    config = module.FAST if fast else module.FULL
    if meta.get("config_sha256") != config_hash(config):
        return Status("stale", "the configuration changed since the results were stored")
    if meta.get("seed") != seed:
        return Status("stale", f"stored seed {meta.get('seed')} differs from {seed}")
    if meta.get("source_sha256") != source_hash(module):
        return Status("stale", f"the source of lplr_core.experiments.{name} changed since the "
                               "results were stored")
    if meta.get("content_sha256") != content_hash(arrays):
        return Status("stale", "the stored arrays do not match their recorded content hash")
    return Status("fresh", "config, source and content hashes match")


def is_stale(name: str, *, fast: bool, seed: int = 0, root: str | Path | None = None,
             out_dir: str | Path | None = None) -> bool:
    """True when the stored results are missing or stale (see :func:`result_status`)."""
    return result_status(name, fast=fast, seed=seed, root=root, out_dir=out_dir).state != "fresh"


# ---------------------------------------------------------------------------- running

def run_experiment(name: str, *, fast: bool, seed: int = 0, out_dir: str | Path | None = None,
                   progress: Callable[[int, int, str], None] | None = None,
                   save: bool = True) -> Results:
    """Run an experiment with its ``FAST`` or ``FULL`` configuration; store and return it.

    Args:
      name: one of :data:`EXPERIMENTS`.
      fast: ``True`` for the ``FAST`` configuration, ``False`` for ``FULL``.
      seed: non-negative int passed to the experiment's ``run``.
      out_dir: folder to write to (default :func:`result_dir`).
      progress: optional ``progress(done, total, message)``.
      save: write ``arrays.npz`` and ``meta.json`` (``False``: only return).
    Returns:
      :class:`Results` (``.path`` is the folder written, or ``None``).
    """
    module = get_experiment(name)
    fast = check_bool("fast", fast)
    seed = check_int("seed", seed, minimum=0)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable or None; got {describe(progress)}")
    config = module.FAST if fast else module.FULL
    start = time.perf_counter()
    results = module.run(dict(config), seed=seed, progress=progress)
    wall = time.perf_counter() - start
    arrays = _to_arrays(results, name)
    path = None
    if save:
        path = save_results(name, arrays, fast=fast, seed=seed, config=config, wall_time_s=wall,
                            out_dir=out_dir)
        meta = json.loads((path / "meta.json").read_text())
    else:
        meta = {"name": name, "mode": "fast" if fast else "full", "seed": seed,
                "config": config, "wall_time_s": wall, "content_sha256": content_hash(arrays)}
    return Results({k: _scalarize(v) for k, v in arrays.items()}, meta, path)


def load_or_run(name: str, *, fast: bool = False, seed: int = 0,
                root: str | Path | None = None, verbose: bool = True) -> Results:
    """Stored results if fresh; otherwise recompute (saying why) and store them.

    This is what the notebooks call: the default path reads the committed
    ``FULL`` results and takes well under a second.
    """
    status = result_status(name, fast=fast, seed=seed, root=root)
    if status.state == "fresh":
        return load_results(name, fast=fast, seed=seed, root=root)
    if verbose:
        print(f"{name} ({'fast' if fast else 'full'}, seed {seed}): results {status.state} "
              f"({status.reason}); recomputing...")
    out_dir = None if root is None else result_dir(name, fast=fast, seed=seed, root=root)
    return run_experiment(name, fast=fast, seed=seed, out_dir=out_dir)
