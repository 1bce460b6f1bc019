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
  lplr_core), ``wall_time_s``, ``date`` (UTC, ISO 8601), ``files`` (sizes) and
  ``record_sha256``.

Both files are written atomically: each goes to a temporary file in the same
folder, is flushed to disk and moved into place with ``os.replace``, the
arrays first and ``meta.json`` last. A reader therefore sees either file whole,
never half-written; and it reads ``meta.json``, the arrays and ``meta.json``
again, retrying (briefly) until both reads of the meta agree and the arrays
have the recorded content hash, so it never returns a meta of one write with
the arrays of another. Writing a result whose numbers, configuration, source,
name, mode and seed equal the stored ones changes nothing on disk (so ``run
--fast`` does not dirty a committed tree), and the target folder is checked to
be writable *before* an experiment is computed.

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
* **record hash** (:func:`record_hash`): of the canonical JSON of every other
  field of ``meta.json`` (the content hash, hence the numbers, included). It
  binds the arrays to their ``name``, ``mode``, ``seed`` and ``config``: a
  hand-edited field (say ``config.record_every``, which the notebooks read)
  no longer matches. It detects accidents and edits, not an adversary who
  recomputes it: it is a checksum, not a signature.

A stored result is

* **missing** when either file is absent;
* **corrupt** when it is not what the store wrote: a file cannot be read, the
  meta is valid JSON but not an object (``[]``, ``null``), a field is missing
  or of the wrong type, the record hash does not match the meta, or the
  arrays do not have the recorded content hash;
* **stale** when it is intact but no longer matches the code: another name,
  mode or seed than asked for, a changed configuration or source, or a meta
  written before record hashes existed (:func:`restamp` adds one without
  recomputing, after checking the arrays);
* **fresh** otherwise. :func:`load_or_run` reads fresh results and
  recomputes the rest.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib
import inspect
import json
import os
import platform
import sys
import tempfile
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
    "record_hash",
    "check_writable",
    "run_experiment",
    "save_results",
    "load_results",
    "result_status",
    "is_stale",
    "restamp",
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


#: Fields every meta.json must hold, with their JSON types.
_META_FIELDS = {"name": str, "mode": str, "seed": int, "config": dict, "config_sha256": str,
                "content_sha256": str, "source_sha256": str}


def record_hash(meta: dict) -> str:
    """SHA-256 of the canonical JSON of every field of ``meta`` but ``record_sha256``."""
    if not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict; got {describe(meta)}")
    body = {k: v for k, v in meta.items() if k != "record_sha256"}
    return hashlib.sha256(_canonical_json(body).encode("utf-8")).hexdigest()


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


def check_writable(folder: str | Path) -> Path:
    """Create ``folder`` if needed and check that a file can be written in it; return it.

    Called before an experiment is computed, so that a bad ``--out`` fails in
    a second, not after the run.

    Raises:
      ValueError: ``folder`` is empty, or exists and is not a folder.
      PermissionError: the folder cannot be created or written to.
    """
    if not isinstance(folder, (str, os.PathLike)) or str(folder) == "":
        raise ValueError(f"the results folder must be a non-empty path; got {describe(folder)}")
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise ValueError(f"the results folder {str(path)!r} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-check-", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ValueError(f"cannot create the results folder {str(path)!r}: a part of the "
                         f"path is a file ({exc})") from exc
    except OSError as exc:
        raise PermissionError(f"cannot write results to {str(path)!r}: {exc}") from exc
    return path


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Write ``path`` through a temporary file in its folder and ``os.replace``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
    fast = check_bool("fast", fast)
    seed = check_int("seed", seed, minimum=0)
    folder = check_writable(result_dir(name, fast=fast, seed=seed) if out_dir is None
                            else out_dir)
    mode = "fast" if fast else "full"
    identity = {"name": name, "mode": mode, "seed": seed, "config_sha256": config_hash(config),
                "content_sha256": content_hash(arrays), "source_sha256": source_hash(module)}
    if _same_record(folder, identity):
        return folder  # the same numbers from the same code: leave the files (and git) alone
    _atomic_write(folder / "arrays.npz", lambda handle: np.savez_compressed(handle, **arrays))
    meta = {
        **identity, "config": config, "versions": _versions(),
        "wall_time_s": round(float(wall_time_s), 2),
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "content_hash_method": "sha256 over sorted keys: key NUL dtype.str NUL json(shape) NUL "
                               "C-order little-endian bytes",
        "record_hash_method": "sha256 of the canonical JSON (sorted keys, no spaces) of every "
                              "other field of meta.json",
    }
    meta["files"] = {"arrays.npz": (folder / "arrays.npz").stat().st_size}
    _write_meta(folder, meta)
    return folder


def _write_meta(folder: Path, meta: dict) -> None:
    meta = {**meta, "record_sha256": record_hash(meta)}
    text = json.dumps(meta, indent=2, sort_keys=True) + "\n"
    _atomic_write(folder / "meta.json", lambda handle: handle.write(text.encode("utf-8")))


def _same_record(folder: Path, identity: dict) -> bool:
    """Is an intact record with exactly these hashes, name, mode and seed stored in ``folder``?"""
    if not (folder / "meta.json").exists() or not (folder / "arrays.npz").exists():
        return False
    try:
        arrays, meta = _read(folder)
    except Exception:  # unreadable: overwrite it
        return False
    return (_meta_problem(meta) is None and meta.get("record_sha256") == record_hash(meta)
            and content_hash(arrays) == meta["content_sha256"]
            and all(meta.get(k) == v for k, v in identity.items()))


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


def _read_once(folder: Path) -> tuple[bytes, dict[str, np.ndarray], bytes]:
    before = (folder / "meta.json").read_bytes()
    with np.load(folder / "arrays.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return before, arrays, (folder / "meta.json").read_bytes()


def _read(folder: Path, *, attempts: int = 50) -> tuple[dict[str, np.ndarray], Any]:
    """The arrays and the parsed meta of one write, never a torn pair.

    The store writes the arrays first and the meta last, each atomically. Read
    the meta, the arrays and the meta again: if the two metas differ, or the
    arrays lack the content hash the meta records, a writer was between its two
    replacements; wait a little and read again. A pair that still disagrees
    after ``attempts`` reads is returned as is (it is corrupt, and
    :func:`result_status` says so).
    """
    for attempt in range(attempts):
        before, arrays, after = _read_once(folder)
        if before != after:
            continue
        meta = json.loads(before.decode("utf-8"))
        if not isinstance(meta, dict) or not isinstance(meta.get("content_sha256"), str):
            return arrays, meta
        try:
            if content_hash(arrays) == meta["content_sha256"]:
                return arrays, meta
        except TypeError:
            return arrays, meta
        time.sleep(0.002 * (attempt + 1) if attempt < 10 else 0.02)
    return arrays, json.loads(after.decode("utf-8"))


def _meta_problem(meta: Any) -> str | None:
    """Why ``meta`` is not a well-formed meta.json object, or ``None``."""
    if not isinstance(meta, dict):
        return f"meta.json is valid JSON but not an object (it holds {describe(meta)})"
    for key, kind in _META_FIELDS.items():
        value = meta.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return (f"meta.json field {key!r} must be a {kind.__name__}; "
                    f"got {describe(value) if key in meta else 'nothing'}")
    if meta["mode"] not in ("fast", "full"):
        return f"meta.json field 'mode' must be 'fast' or 'full'; got {meta['mode']!r}"
    return None


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
    if not isinstance(meta, dict):
        raise ValueError(f"stored results in {folder} are corrupt: "
                         f"{_meta_problem(meta)}; recompute them with: python -m "
                         f"lplr_core.experiments run {name}{' --fast' if fast else ''}")
    return Results({k: _scalarize(v) for k, v in arrays.items()}, meta, folder)


class Status(NamedTuple):
    """``state``: ``"fresh"``, ``"stale"``, ``"corrupt"`` or ``"missing"``; ``reason`` says why."""
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
    except Exception as exc:  # a truncated or garbled file is corrupt, not a crash
        return Status("corrupt", f"cannot read stored files: {type(exc).__name__}: {exc}")
    problem = _meta_problem(meta)
    if problem:
        return Status("corrupt", problem)
    if "record_sha256" not in meta:
        return Status("stale", "meta.json has no record hash (written by an older store); add "
                               f"one with: python -m lplr_core.experiments restamp {name}")
    if meta["record_sha256"] != record_hash(meta):
        return Status("corrupt", "meta.json was changed after it was written: its record hash "
                                 "does not match its fields")
    if meta["config_sha256"] != config_hash(meta["config"]):
        return Status("corrupt", "meta.json's config does not match its config hash")
    try:
        content = content_hash(arrays)
    except TypeError as exc:
        return Status("corrupt", f"arrays.npz holds an unsupported array: {exc}")
    if meta["content_sha256"] != content:
        return Status("corrupt", "the stored arrays do not match their recorded content hash")
    mode = "fast" if fast else "full"
    if (meta["name"], meta["mode"]) != (name, mode):
        return Status("stale", f"the folder holds {meta['name']} ({meta['mode']}), not "
                               f"{name} ({mode})")
    config = module.FAST if fast else module.FULL
    if meta["config_sha256"] != config_hash(config):
        return Status("stale", "the configuration changed since the results were stored")
    if meta["seed"] != seed:
        return Status("stale", f"stored seed {meta['seed']} differs from {seed}")
    if meta["source_sha256"] != source_hash(module):
        return Status("stale", f"the source of lplr_core.experiments.{name} changed since the "
                               "results were stored")
    return Status("fresh", "record, config, source and content hashes match")


def is_stale(name: str, *, fast: bool, seed: int = 0, root: str | Path | None = None,
             out_dir: str | Path | None = None) -> bool:
    """True when the stored results are not fresh (see :func:`result_status`)."""
    return result_status(name, fast=fast, seed=seed, root=root, out_dir=out_dir).state != "fresh"


def restamp(name: str, *, fast: bool, seed: int = 0, root: str | Path | None = None,
            out_dir: str | Path | None = None) -> bool:
    """Add a record hash to a meta.json written before record hashes; never recompute.

    Only an intact record is re-stamped: the arrays must still have the
    recorded content hash and the config its config hash. A meta that already
    has a record hash is left alone (a mismatching one means it was edited:
    recompute instead).

    Returns:
      ``True`` when meta.json was rewritten, ``False`` when it already had a
      record hash.
    Raises:
      FileNotFoundError: nothing is stored there.
      ValueError: the stored record is corrupt (the message says how).
    """
    get_experiment(name)
    folder = result_dir(name, fast=fast, seed=seed, root=root) if out_dir is None \
        else Path(out_dir)
    if not (folder / "meta.json").exists() or not (folder / "arrays.npz").exists():
        raise FileNotFoundError(f"no stored results for {name} in {folder}")
    arrays, meta = _read(folder)
    problem = _meta_problem(meta)
    if problem:
        raise ValueError(f"cannot re-stamp {folder}: {problem}")
    if "record_sha256" in meta:
        if meta["record_sha256"] != record_hash(meta):
            raise ValueError(f"cannot re-stamp {folder}: its record hash does not match (the "
                             "meta was edited); recompute the results instead")
        return False
    if content_hash(arrays) != meta["content_sha256"]:
        raise ValueError(f"cannot re-stamp {folder}: the arrays do not match their recorded "
                         "content hash; recompute the results instead")
    if config_hash(meta["config"]) != meta["config_sha256"]:
        raise ValueError(f"cannot re-stamp {folder}: the config does not match its config "
                         "hash; recompute the results instead")
    meta.setdefault("record_hash_method", "sha256 of the canonical JSON (sorted keys, no "
                                          "spaces) of every other field of meta.json")
    _write_meta(folder, meta)
    return True


# ---------------------------------------------------------------------------- running

def run_experiment(name: str, *, fast: bool, seed: int = 0, out_dir: str | Path | None = None,
                   progress: Callable[[int, int, str], None] | None = None,
                   save: bool = True) -> Results:
    """Run an experiment with its ``FAST`` or ``FULL`` configuration; store and return it.

    Args:
      name: one of :data:`EXPERIMENTS`.
      fast: ``True`` for the ``FAST`` configuration, ``False`` for ``FULL``.
      seed: non-negative int passed to the experiment's ``run``.
      out_dir: folder to write to (default :func:`result_dir`); checked to be
        writable before the run (an empty path is an error).
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
    if save:  # fail now, not after the run
        check_writable(result_dir(name, fast=fast, seed=seed) if out_dir is None else out_dir)
    config = module.FAST if fast else module.FULL
    start = time.perf_counter()
    results = module.run(dict(config), seed=seed, progress=progress)
    wall = time.perf_counter() - start
    arrays = _to_arrays(results, name)
    path = None
    if save:
        path = save_results(name, arrays, fast=fast, seed=seed, config=config, wall_time_s=wall,
                            out_dir=out_dir)
        meta = _read(path)[1]
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
