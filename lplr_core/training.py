r"""Gradient descent with on-the-fly LPLR diagnostics, as one compiled program.

:func:`gradient_descent` runs full-batch gradient descent on
:math:`L(\theta) = \tfrac12\|f(X;\theta) - y\|^2`,
:math:`\theta_{t+1} = \theta_t - \eta \nabla L(\theta_t)`, as a single
``jax.jit``-compiled ``lax.scan``: Python is not re-entered between records.
Every ``record_every`` steps it records the loss, :math:`\|\nabla L\|^2`, the
parameter drift :math:`\|\theta_t - \theta_0\|` and the PL ratio; every
``ntk_every`` steps it also computes the empirical NTK and records
:math:`\lambda_{\min}`, :math:`\lambda_{\max}` and the kernel drift
:math:`\|\Theta_t - \Theta_0\|_{op}`.

Divergence is a result, not a crash. Every step measures what a record holds;
at the first step ``t`` where the loss, :math:`\|\nabla L\|^2`, the drift or
the PL ratio is not finite (or an NTK record is not), or the loss blows up,
:math:`L_t - L^* > \text{blowup} \cdot \max(L_0 - L^*, 1)` (default
``blowup = BLOWUP = 1e10``, the rule of
:func:`~lplr_core.objectives.gradient_descent_fn`), the run is flagged:
``Trajectory.diverged_at = t``, ``Trajectory.divergence`` names the reason
(one of :data:`DIVERGENCE_REASONS`), the records stop before ``t`` and
``Trajectory.params`` are :math:`\theta_{t-1}`. So no record of a run holds an
infinity, and none holds a NaN except the PL ratio where it is undefined
(:math:`L_t - L^*` at round-off or below).

:func:`gradient_descent_sweep` runs many seeds and step sizes as one
``vmap``-ed program, sharded across devices when there are several;
:func:`sgd` is the mini-batch variant used for the convolutional networks.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from lplr_core._validation import (
    check_apply_fn,
    check_array,
    check_bool,
    check_choice,
    check_int,
    check_key,
    check_params,
    check_real,
    check_targets,
    describe,
)
from lplr_core import tree_math
from lplr_core.diagnostics import fit_linear_rate, lipschitz_along_path, lower_envelope
from lplr_core.engine import descend, gd_step
from lplr_core.losses import loss as squared_loss
from lplr_core.losses import loss_and_grad, pl_gap_floor, pl_ratio_from_values
from lplr_core.models import param_count
from lplr_core.ntk import NTK_METHODS, kernel_fn

__all__ = ["Trajectory", "gradient_descent", "gradient_descent_sweep", "sgd", "SweepResult",
           "stack_params", "DIVERGENCE_REASONS", "BLOWUP"]

_RECORD_FIELDS = ("loss", "grad_norm_sq", "drift", "pl_ratio")
_NTK_FIELDS = ("lambda_min", "lambda_max", "kernel_drift")

#: Why a run was flagged (``Trajectory.divergence``), in the order they are tested at a step.
DIVERGENCE_REASONS = ("nonfinite_loss", "nonfinite_gradient", "nonfinite_drift",
                      "nonfinite_pl_ratio", "nonfinite_ntk", "blowup")
_REASON_CODE = {name: code for code, name in enumerate(DIVERGENCE_REASONS, start=1)}
#: Default blow-up factor, the same as ``lplr_core.objectives.gradient_descent_fn``'s: a run
#: is flagged once ``L_t - L* > BLOWUP * max(L_0 - L*, 1)``, long before float32 overflows.
BLOWUP = 1e10


def _first_reason(bad):
    """The code of the first true entry of ``bad`` (in DIVERGENCE_REASONS order), else 0."""
    code = jnp.asarray(0, jnp.int32)
    for c, flagged in reversed(list(enumerate(bad, start=1))):
        code = jnp.where(flagged, c, code)
    return code


def _reason_name(code) -> str | None:
    code = int(code)
    return DIVERGENCE_REASONS[code - 1] if code > 0 else None


# ---------------------------------------------------------------------- Trajectory

@dataclass
class Trajectory:
    r"""The record of one training run.

    Per record (``steps[i]`` is the step of record ``i``; entry 0 is
    :math:`\theta_0`): ``loss``, ``grad_norm_sq``, ``drift``
    (:math:`\|\theta_t - \theta_0\|_2`), ``relative_drift``
    (``drift / ||theta_0||``) and ``pl_ratio`` (``NaN`` where
    :math:`L_t \le L^*`). Per NTK record (``ntk_steps``; entry 0 at
    :math:`\theta_0`; empty without ``ntk_every``): ``lambda_min``,
    ``lambda_max`` and ``kernel_drift``. ``diverged_at`` is ``None`` or the
    flagged step (the first with a non-finite loss, gradient, drift, PL ratio
    or NTK record, or a loss blow-up; see :func:`gradient_descent`), and
    ``divergence`` the reason, one of :data:`DIVERGENCE_REASONS` (``None``
    when the run was not flagged); records stop before ``diverged_at``.
    ``params`` are the final parameters (after a flag, :math:`\theta_{t-1}`
    for ``t = diverged_at``); ``config`` holds the run's settings.

    Examples:
      >>> import tempfile, pathlib
      >>> import jax.numpy as jnp
      >>> from lplr_core.training import Trajectory, gradient_descent
      >>> params = {"w": jnp.zeros(2)}
      >>> run = gradient_descent(lambda p, x: x @ p["w"], params, jnp.eye(2), jnp.ones(2),
      ...                        step_size=0.5, steps=3)
      >>> len(run.loss), run.diverged, round(float(run.suboptimality()[-1]), 4)
      (4, False, 0.0156)
      >>> with tempfile.TemporaryDirectory() as folder:
      ...     back = Trajectory.load(run.save(pathlib.Path(folder) / "run.npz"))
      >>> sorted(back.params), bool((back.loss == run.loss).all())
      (['w'], True)
    """

    loss: np.ndarray
    grad_norm_sq: np.ndarray
    drift: np.ndarray
    relative_drift: np.ndarray
    pl_ratio: np.ndarray
    steps: np.ndarray
    lambda_min: np.ndarray
    lambda_max: np.ndarray
    kernel_drift: np.ndarray
    ntk_steps: np.ndarray
    diverged_at: int | None
    params: Any
    config: dict = field(default_factory=dict)
    divergence: str | None = None

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    @property
    def lambda0(self) -> float:
        r""":math:`\lambda_0 = \lambda_{\min}(\Theta(\theta_0))` (needs ``ntk_every``)."""
        if self.lambda_min.size == 0:
            raise ValueError("this trajectory has no NTK records: run with ntk_every set")
        return float(self.lambda_min[0])

    def suboptimality(self, loss_star: float | None = None) -> np.ndarray:
        r""":math:`L_t - L^*` (``loss_star`` defaults to the run's)."""
        star = self.config.get("loss_star", 0.0) if loss_star is None else loss_star
        return self.loss - check_real("loss_star", star)

    def pl_envelope(self, start: int = 0) -> np.ndarray:
        """Running minimum of the PL ratio from record ``start`` (the stable regime)."""
        return lower_envelope(self.pl_ratio, start)

    def lipschitz_estimate(self) -> float:
        r"""Path estimate :math:`\hat L_\Theta = \max_t \|\Theta_t - \Theta_0\| / \|\theta_t - \theta_0\|`."""
        if self.ntk_steps.size < 2:
            raise ValueError("need at least two NTK records (ntk_every) for a path estimate")
        drift_at_ntk = self.drift[np.searchsorted(self.steps, self.ntk_steps)]
        return lipschitz_along_path(self.kernel_drift, drift_at_ntk)

    def fit_rate(self, start: int = 0, stop: int | None = None, *,
                 loss_star: float | None = None):
        """Fitted linear rate on records ``[start, stop)`` (see :func:`~lplr_core.diagnostics.fit_linear_rate`).

        Args:
          start: first record of the fit.
          stop: one past the last record (``None``: to the end).
          loss_star: :math:`L^*` (``None``: the run's).
        """
        star = self.config.get("loss_star", 0.0) if loss_star is None else loss_star
        return fit_linear_rate(self.loss, loss_star=star, steps=self.steps, start=start,
                               stop=stop)

    # -------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the arrays to ``path`` (``.npz``) and the rest to the same name with ``.json``.

        The ``.json`` holds ``diverged_at``, ``divergence``, ``config`` and a description of
        the params' pytree (dicts, lists, tuples, ``None`` and NamedTuples, by module and
        qualified name; each leaf with its shape and dtype), so that :meth:`load` rebuilds
        the same structure. Nothing is pickled. Each file is written to a temporary file in
        the same folder and moved into place, the ``.json`` last.

        Raises:
          TypeError: the params contain a pytree node of another kind (a registered custom
            class): convert it to dicts/lists/tuples/NamedTuples first.
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        arrays = {name: np.asarray(getattr(self, name)) for name in _SAVED_ARRAYS}
        leaves, tree = _describe_tree(self.params)
        for i, leaf in enumerate(leaves):
            arrays[f"params_{i}"] = leaf
        meta = {"format": _SAVE_FORMAT, "diverged_at": self.diverged_at,
                "divergence": self.divergence, "config": self.config, "params_tree": tree}
        text = json.dumps(meta, indent=2, sort_keys=True, default=_json_default)
        _write_atomic(path, lambda f: np.savez(f, **arrays))
        _write_atomic(path.with_suffix(".json"), lambda f: f.write(text.encode()))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Trajectory":
        """Read a trajectory written by :meth:`save`, with the params' pytree structure.

        Raises:
          FileNotFoundError: the ``.npz`` or its ``.json`` does not exist.
          ValueError: a file is damaged (a truncated or unreadable archive, invalid JSON,
            a missing entry, an array of the wrong shape or dtype) or names a NamedTuple
            class that cannot be imported; the message names the file and the problem.
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        json_path = path.with_suffix(".json")
        if not path.exists() or not json_path.exists():
            raise FileNotFoundError(f"path must name a saved trajectory ({path} and "
                                    f"{json_path}); not found")
        meta = _read_meta(json_path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except Exception as exc:  # BadZipFile, EOFError, zlib.error, OSError, ValueError...
            raise ValueError(f"{path}: not a readable trajectory archive (truncated or "
                             f"damaged?): {type(exc).__name__}: {exc}") from None
        fields = _check_saved_arrays(path, arrays)
        params = _rebuild_params(path, json_path, arrays, meta)
        return cls(**fields, diverged_at=meta["diverged_at"], params=params,
                   config=meta["config"], divergence=meta["divergence"])


_SAVED_ARRAYS = (*_RECORD_FIELDS, "relative_drift", "steps", *_NTK_FIELDS, "ntk_steps")
_SAVE_FORMAT = 2


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.ndarray, jax.Array)):
        return np.asarray(value).tolist()
    return str(value)


def _write_atomic(target: Path, write) -> None:
    """Write through a temporary file in the same folder, then ``os.replace`` it into place."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _is_namedtuple(node) -> bool:
    return isinstance(node, tuple) and hasattr(type(node), "_fields")


def _describe_tree(tree):
    """``(leaves, description)``: the leaves as NumPy arrays in walk order, and a JSON-safe
    description of the containers (dict / list / tuple / None / NamedTuple)."""
    leaves = []

    def walk(node, where):
        if node is None:
            return {"none": None}
        if isinstance(node, dict):
            items = []
            for k, v in node.items():
                if isinstance(k, bool) or not isinstance(k, (str, int)):
                    raise TypeError(f"params{where} has a dict key {k!r} of type "
                                    f"{type(k).__name__}; Trajectory.save supports str and int "
                                    f"keys")
                items.append([k, walk(v, f"{where}[{k!r}]")])
            return {"dict": items}
        if _is_namedtuple(node):
            cls = type(node)
            return {"namedtuple": {"module": cls.__module__, "qualname": cls.__qualname__,
                                   "fields": list(cls._fields)},
                    "children": [walk(v, f"{where}.{f}") for f, v in zip(cls._fields, node)]}
        if isinstance(node, (list, tuple)):
            kind = "list" if isinstance(node, list) else "tuple"
            return {kind: [walk(v, f"{where}[{i}]") for i, v in enumerate(node)]}
        if isinstance(node, (jax.Array, np.ndarray, np.generic, int, float, complex)):
            leaf = np.asarray(node)
            leaves.append(leaf)
            return {"leaf": len(leaves) - 1, "shape": list(leaf.shape), "dtype": leaf.dtype.str}
        raise TypeError(f"params{where} is a {type(node).__module__}.{type(node).__qualname__}; "
                        f"Trajectory.save stores dicts, lists, tuples, NamedTuples, None and "
                        f"arrays (convert other pytree nodes first)")

    return leaves, walk(tree, "")


def _read_meta(json_path: Path) -> dict:
    try:
        meta = json.loads(json_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{json_path}: not valid JSON (damaged?): {exc}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{json_path}: must hold a JSON object; got {type(meta).__name__}")
    missing = [k for k in ("diverged_at", "config") if k not in meta]
    if "params_tree" not in meta and "params_spec" not in meta:
        missing.append("params_tree")
    if missing:
        raise ValueError(f"{json_path}: missing entries {missing} (damaged, or not written by "
                         f"Trajectory.save?)")
    at = meta["diverged_at"]
    if at is not None and (isinstance(at, bool) or not isinstance(at, int) or at < 0):
        raise ValueError(f"{json_path}: diverged_at must be null or an integer >= 0; got {at!r}")
    meta.setdefault("divergence", None)
    if meta["divergence"] is not None and meta["divergence"] not in DIVERGENCE_REASONS:
        raise ValueError(f"{json_path}: divergence must be null or one of "
                         f"{DIVERGENCE_REASONS}; got {meta['divergence']!r}")
    if not isinstance(meta["config"], dict):
        raise ValueError(f"{json_path}: config must be a JSON object; got "
                         f"{type(meta['config']).__name__}")
    return meta


def _check_saved_arrays(path: Path, arrays: dict) -> dict:
    missing = [name for name in _SAVED_ARRAYS if name not in arrays]
    if missing:
        raise ValueError(f"{path}: missing arrays {missing} (damaged, or not written by "
                         f"Trajectory.save?)")
    fields = {name: arrays[name] for name in _SAVED_ARRAYS}
    for name, value in fields.items():
        if value.ndim != 1:
            raise ValueError(f"{path}: array {name!r} must be 1-D; got shape {value.shape}")
    for group, steps in (((*_RECORD_FIELDS, "relative_drift"), "steps"),
                         (_NTK_FIELDS, "ntk_steps")):
        n = fields[steps].shape[0]
        for name in group:
            if fields[name].shape[0] != n:
                raise ValueError(f"{path}: array {name!r} has {fields[name].shape[0]} entries "
                                 f"but {steps!r} has {n}")
    return fields


def _import_namedtuple(json_path: Path, info) -> type:
    if not isinstance(info, dict) or not all(isinstance(info.get(k), str)
                                             for k in ("module", "qualname")):
        raise ValueError(f"{json_path}: a NamedTuple entry must name its module and qualname; "
                         f"got {info!r}")
    module, qualname = info["module"], info["qualname"]
    where = f"{module}.{qualname}"
    if "<locals>" in qualname:
        raise ValueError(f"{json_path}: the params use the NamedTuple {where}, defined inside a "
                         f"function, which cannot be imported; define it at module level")
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        raise ValueError(f"{json_path}: the params use the NamedTuple {where}, which cannot be "
                         f"imported ({type(exc).__name__}: {exc})") from None
    if not (isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields")):
        raise ValueError(f"{json_path}: {where} is not a NamedTuple class")
    if list(obj._fields) != list(info.get("fields", obj._fields)):
        raise ValueError(f"{json_path}: the NamedTuple {where} now has fields "
                         f"{list(obj._fields)}, the file has {info.get('fields')}")
    return obj


def _rebuild_params(path: Path, json_path: Path, arrays: dict, meta: dict):
    n_leaves = sum(1 for k in arrays if k.startswith("params_"))
    leaves = []
    for i in range(n_leaves):
        if f"params_{i}" not in arrays:
            raise ValueError(f"{path}: missing array 'params_{i}' (damaged?)")
        leaves.append(arrays[f"params_{i}"])
    used = set()

    def bad(msg):
        return ValueError(f"{json_path}: {msg} (damaged, or not written by Trajectory.save?)")

    def build(node):
        if not isinstance(node, dict):
            raise bad(f"params_tree entries must be JSON objects; got {node!r:.80}")
        if "leaf" in node:
            i = node["leaf"]
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n_leaves:
                raise bad(f"params_tree names leaf {i!r}, but {path} holds {n_leaves}")
            leaf = leaves[i]
            if "shape" in node and list(leaf.shape) != list(node["shape"]):
                raise ValueError(f"{path}: array 'params_{i}' has shape {tuple(leaf.shape)}; "
                                 f"{json_path} records {tuple(node['shape'])}")
            if "dtype" in node and leaf.dtype.str != node["dtype"]:
                raise ValueError(f"{path}: array 'params_{i}' has dtype {leaf.dtype}; "
                                 f"{json_path} records {node['dtype']}")
            used.add(i)
            return jnp.asarray(leaf)
        if "none" in node:
            return None
        if "dict" in node:
            items = node["dict"]
            if isinstance(items, dict):  # format 1: {"key": node}
                items = list(items.items())
            if not isinstance(items, list) or not all(
                    isinstance(kv, list) and len(kv) == 2 for kv in items):
                raise bad("a params_tree dict must be a list of [key, entry] pairs")
            return {k: build(v) for k, v in items}
        if "namedtuple" in node:
            cls = _import_namedtuple(json_path, node["namedtuple"])
            children = node.get("children")
            if not isinstance(children, list) or len(children) != len(cls._fields):
                raise bad(f"the NamedTuple {cls.__qualname__} needs {len(cls._fields)} entries")
            return cls(*(build(c) for c in children))
        for kind, make in (("list", list), ("tuple", tuple)):
            if kind in node:
                if not isinstance(node[kind], list):
                    raise bad(f"a params_tree {kind} must be a JSON list")
                return make(build(c) for c in node[kind])
        raise bad(f"unknown params_tree entry {node!r:.80}")

    if "params_tree" in meta:
        params = build(meta["params_tree"])
    else:  # format 1 (before NamedTuples and leaf shapes were recorded)
        spec = meta["params_spec"]
        if isinstance(spec, dict) and "leaves" in spec:
            return [jnp.asarray(leaf) for leaf in leaves]
        params = build(spec)
    if len(used) != n_leaves:
        raise bad(f"{path} holds {n_leaves} parameter arrays but params_tree uses {len(used)}")
    return params


# ------------------------------------------------------------------ compiled engine

@dataclass(frozen=True)
class _Layout:
    """Static shape of a run: how steps group into records and NTK records."""
    record_every: int
    ntk_stride: int        # records per NTK record (0: no NTK)
    periods: int           # number of NTK periods (each ntk_stride records)
    leftover: int          # full records after the last NTK period
    remainder: int         # steps after the last full record (recorded if > 0)

    @classmethod
    def make(cls, steps, record_every, ntk_every):
        full = steps // record_every
        if ntk_every:
            stride = ntk_every // record_every
            periods = full // stride
            leftover = full - periods * stride
        else:
            stride, periods, leftover = 0, 0, full
        return cls(record_every, stride, periods, leftover, steps % record_every)

    def record_steps(self):
        full = self.periods * self.ntk_stride + self.leftover
        steps = [r * self.record_every for r in range(full + 1)]
        if self.remainder:
            steps.append(full * self.record_every + self.remainder)
        return np.asarray(steps)

    def ntk_record_steps(self):
        if not self.ntk_stride:
            return np.zeros((0,), int)
        return np.asarray([k * self.ntk_stride * self.record_every
                           for k in range(self.periods + 1)])


def _sgd_batch(key, x, y, batch_size):
    key, sub = jax.random.split(key)
    idx = jax.random.choice(sub, x.shape[0], (batch_size,), replace=False)
    return key, x[idx], y[idx]


@lru_cache(maxsize=64)
def _plain_steps(apply_fn, batch_size: int | None):
    """``count`` bare steps (no records): recovers the last finite parameters."""
    def grad_loss(apply_fn, params, x, y):
        return loss_and_grad(apply_fn, params, x, y)[1]

    def run(params, x, y, step_size, key, count):
        if batch_size is None:
            def direction(params, key):
                return grad_loss(apply_fn, params, x, y), key
            return descend(direction, params, step_size, count, key)

        def direction(params, key):
            key, xb, yb = _sgd_batch(key, x, y, batch_size)
            return grad_loss(apply_fn, params, xb, yb), key
        return descend(direction, params, step_size * (x.shape[0] / batch_size), count, key)

    return jax.jit(run)


@lru_cache(maxsize=64)
def _program(apply_fn, layout: _Layout, ntk_method: str | None, batch_size: int | None,
             axis_name: str | None = None):
    """Build (once per static configuration) the jitted training program.

    Each record segment starts with one full-batch evaluation at the current
    iterate, which both fills the record and (for GD) drives the first step of
    the segment, so recording costs no extra gradient. Every step measures the
    same quantities a record holds (loss, ``||grad||^2``, drift, PL ratio) and
    flags the first step where one is not finite or the loss blows up (see
    :func:`gradient_descent`), so the flag does not depend on ``record_every``.
    After the flag the iterates go on (as NaN, cheaply) but every record is
    masked; the caller cuts the records and recovers the last iterate before
    the flagged one.

    ``axis_name`` names the ``vmap`` axis of a batched program (the sweep): the
    choice between the drift bound and the exact drift is then made once for the
    whole batch (a real branch), not per run (which ``vmap`` turns into
    computing both).
    """
    kfn = kernel_fn(apply_fn, ntk_method) if ntk_method else None
    grad_loss = loss_and_grad

    def run(params0, x, y, step_size, loss_star, blowup, key):
        dtype = jnp.result_type(*jax.tree_util.tree_leaves(params0))
        nan = jnp.asarray(jnp.nan, dtype)
        scale = 1.0 if batch_size is None else x.shape[0] / batch_size  # unbiased SGD step
        # The blow-up threshold of gradient_descent_fn: L_t - L* > blowup * max(L_0 - L*, 1).
        threshold = blowup * jnp.maximum(squared_loss(apply_fn, params0, x, y) - loss_star, 1.0)

        # Below this bound on ||theta_t - theta_0||, the drift's sum of squares cannot overflow.
        drift_limit = 0.5 * jnp.sqrt(jnp.finfo(dtype).max)

        def exact_drift(params):
            return tree_math.norm(tree_math.sub(params, params0))

        def measure(params, value, grads, bound, *, exact=True, estimate_scale=1.0,
                    with_ratio=True):
            """The record at one iterate, the first reason to flag it (0: none), ||grad||.

            Between records (``exact=False``) the drift is not computed while the
            carried bound ``||theta_t - theta_0|| <= bound`` (the path length,
            by the triangle inequality) shows it finite: one reduction over the
            parameters per step instead of two, and the same flag.
            """
            gnorm = tree_math.norm(grads)
            gsq = jnp.square(gnorm)
            if exact:
                drift = exact_drift(params)
            else:
                if axis_name is not None:  # an unbatched predicate: the largest live bound
                    bound = jax.lax.pmax(bound, axis_name)
                drift = jax.lax.cond(bound < drift_limit, lambda p: jnp.zeros((), dtype),
                                     exact_drift, params)
            # the package's one PL ratio and round-off rule (lplr_core.losses); where the
            # ratio is defined it must be finite
            defined = value - loss_star > pl_gap_floor(value, loss_star)
            rho = pl_ratio_from_values(value, gsq, loss_star)
            bad = (~jnp.isfinite(value), ~jnp.isfinite(gsq), ~jnp.isfinite(drift),
                   defined & ~jnp.isfinite(rho) if with_ratio else False, False,
                   estimate_scale * value - loss_star > threshold)
            return (value, gsq, drift, rho), _first_reason(bad), gnorm

        def flag(carry, code):
            params, diverged_at, reason, t, key, bound = carry
            newly = (diverged_at < 0) & (code > 0)
            return (params, jnp.where(newly, t, diverged_at), jnp.where(newly, code, reason),
                    t, key, bound)

        def advance(carry, grads, gnorm):
            """One step from the current iterate, with the drift bound carried along."""
            params, diverged_at, reason, t, key, bound = carry
            # once a run is flagged its bound no longer matters; zero keeps it from
            # forcing exact drifts on the rest of a batch
            bound = jnp.where(diverged_at >= 0, 0.0, bound + (step_size * scale) * gnorm)
            return (gd_step(params, grads, step_size * scale), diverged_at, reason, t + 1, key,
                    bound.astype(dtype))

        def step(carry, _):
            params, key, bound = carry[0], carry[4], carry[5]
            if batch_size is None:
                value, grads = grad_loss(apply_fn, params, x, y)
                _, code, gnorm = measure(params, value, grads, bound, exact=False)
            else:
                key, xb, yb = _sgd_batch(key, x, y, batch_size)
                value, grads = grad_loss(apply_fn, params, xb, yb)
                # a mini-batch has no PL ratio; (n/b) L_B estimates L for the blow-up test
                _, code, gnorm = measure(params, value, grads, bound, exact=False,
                                         estimate_scale=scale, with_ratio=False)
            carry = flag(carry[:4] + (key,) + carry[5:], code)
            return advance(carry, grads, gnorm), None

        def run_steps(carry, count):
            if count <= 0:
                return carry
            return jax.lax.scan(step, carry, None, length=count)[0]

        def record(carry):
            """Record at the current iterate; returns (carry, record, grads, ||grads||)."""
            params = carry[0]
            value, grads = grad_loss(apply_fn, params, x, y)
            values, code, gnorm = measure(params, value, grads, carry[5])
            carry = flag(carry, code)
            drift = values[2]  # the exact drift is a tighter bound than the path length
            carry = carry[:5] + (jnp.where(jnp.isfinite(drift), drift, carry[5]),)
            rec = tuple(jnp.where(carry[1] >= 0, nan, v.astype(dtype)) for v in values)
            return carry, rec, grads, gnorm

        def segment(carry, length):
            carry, rec, grads, gnorm = record(carry)
            if batch_size is None:  # the record's gradient is this step's gradient
                carry = advance(carry, grads, gnorm)
                length -= 1
            return run_steps(carry, length), rec

        def records(carry, count):
            if count == 0:
                return carry, tuple(jnp.zeros((0,), dtype) for _ in _RECORD_FIELDS)
            return jax.lax.scan(lambda c, _: segment(c, layout.record_every), carry, None,
                                length=count)

        def ntk_record(carry, kernel0):
            params = carry[0]
            value, grads = grad_loss(apply_fn, params, x, y)
            carry = flag(carry, measure(params, value, grads, carry[5])[1])  # loss reasons first
            kernel = kfn(params, x)
            # One eigvalsh call on the stacked pair, not two: under vmap two batched
            # eigen-solvers in flight at once could deadlock XLA's CPU thread pool
            # on a 2-core machine (each waited for pool threads the other held).
            ev, diff = jnp.linalg.eigvalsh(jnp.stack([kernel, kernel - kernel0]))
            drift = jnp.maximum(jnp.abs(diff[0]), jnp.abs(diff[-1]))
            values = (ev[0], ev[-1], drift)
            finite = jnp.all(jnp.isfinite(jnp.stack(values)))
            carry = flag(carry, jnp.where(finite, 0, _REASON_CODE["nonfinite_ntk"]))
            return carry, tuple(jnp.where(carry[1] >= 0, nan, v) for v in values)

        carry = (params0, jnp.asarray(-1, jnp.int32), jnp.asarray(0, jnp.int32),
                 jnp.zeros((), jnp.int32), key, jnp.zeros((), dtype))
        rec, ntk = [], []
        if kfn is not None:
            kernel0 = kfn(params0, x)

            def period(carry, _):
                carry, nrec = ntk_record(carry, kernel0)
                carry, recs = records(carry, layout.ntk_stride)
                return carry, (recs, nrec)

            if layout.periods:
                carry, (recs, nrecs) = jax.lax.scan(period, carry, None, length=layout.periods)
                rec.append(tuple(v.reshape(-1) for v in recs))
                ntk.append(nrecs)
            carry, nrec = ntk_record(carry, kernel0)
            ntk.append(tuple(v[None] for v in nrec))
        carry, recs = records(carry, layout.leftover)
        rec.append(recs)
        if layout.remainder:
            carry, recs = segment(carry, layout.remainder)
            rec.append(tuple(v[None] for v in recs))
        carry, last, _, _ = record(carry)
        rec.append(tuple(v[None] for v in last))
        rec_out = tuple(jnp.concatenate([r[i] for r in rec]) for i in range(len(_RECORD_FIELDS)))
        if ntk:
            ntk_out = tuple(jnp.concatenate([r[i] for r in ntk]) for i in range(len(_NTK_FIELDS)))
        else:
            ntk_out = tuple(jnp.zeros((0,), dtype) for _ in _NTK_FIELDS)
        params, diverged_at, reason = carry[:3]
        return rec_out, ntk_out, diverged_at, reason, params

    return jax.jit(run)


def _last_finite_params(apply_fn, batch_size, params0, x, y, step_size, key, diverged_at):
    """The iterate before the first non-finite loss, recomputed deterministically."""
    count = max(int(diverged_at) - 1, 0)
    return _plain_steps(apply_fn, batch_size)(params0, x, y, step_size, key, count)


# ------------------------------------------------------------------ public runners

def _check_run_args(apply_fn, params, x, y, step_size, steps, record_every, ntk_every,
                    loss_star, ntk_method, blowup):
    params = check_params("params", params)
    x = check_array("x", x, ndim=(2, 3, 4))
    y = check_targets("y", y, x.shape[0])
    check_apply_fn("apply_fn", apply_fn, params, x)
    steps = check_int("steps", steps, minimum=0)
    record_every = check_int("record_every", record_every, minimum=1)
    if ntk_every is not None:
        ntk_every = check_int("ntk_every", ntk_every, minimum=1)
        if ntk_every % record_every:
            raise ValueError(f"ntk_every must be a multiple of record_every={record_every}; "
                             f"got {ntk_every}")
    loss_star = check_real("loss_star", loss_star, minimum=0.0)
    ntk_method = check_choice("ntk_method", ntk_method, NTK_METHODS)
    blowup = check_real("blowup", blowup, minimum=1.0, strict_min=True, allow_inf=True)
    return params, x, y, steps, record_every, ntk_every, loss_star, ntk_method, blowup


def _check_step_size(name, value):
    return check_real(name, value, minimum=0.0, strict_min=True)


def _trajectory(rec, ntk, diverged_at, reason, params, layout, params0_norm, config):
    rec = [np.asarray(r, dtype=float) for r in rec]
    ntk = [np.asarray(r, dtype=float) for r in ntk]
    steps = layout.record_steps()
    ntk_steps = layout.ntk_record_steps()
    diverged_at = int(diverged_at)
    if diverged_at >= 0:
        keep, keep_ntk = steps < diverged_at, ntk_steps < diverged_at
        rec = [r[keep] for r in rec]
        ntk = [r[keep_ntk] for r in ntk]
        steps, ntk_steps = steps[keep], ntk_steps[keep_ntk]
    loss, gsq, drift, rho = rec
    return Trajectory(loss=loss, grad_norm_sq=gsq, drift=drift,
                      relative_drift=drift / params0_norm if params0_norm > 0 else drift * np.nan,
                      pl_ratio=rho, steps=steps, lambda_min=ntk[0], lambda_max=ntk[1],
                      kernel_drift=ntk[2], ntk_steps=ntk_steps,
                      diverged_at=diverged_at if diverged_at >= 0 else None,
                      params=params, config=config,
                      divergence=_reason_name(reason) if diverged_at >= 0 else None)


def _config(kind, apply_fn, params, x, **settings):
    owner = getattr(apply_fn, "__self__", None)
    model = repr(owner) if owner is not None else getattr(apply_fn, "__qualname__", repr(apply_fn))
    return {"algorithm": kind, "model": model[:300],
            "n": int(x.shape[0]), "p": param_count(params),
            "dtype": str(jnp.result_type(*jax.tree_util.tree_leaves(params))), **settings}


def gradient_descent(apply_fn: Callable, params: Any, x: Any, y: Any, *, step_size: float,
                     steps: int, record_every: int = 1, ntk_every: int | None = None,
                     loss_star: float = 0.0, ntk_method: str = "auto",
                     blowup: float = BLOWUP) -> Trajectory:
    r"""Full-batch gradient descent with diagnostics, as one compiled ``lax.scan``.

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)``.
      params: initial parameters :math:`\theta_0` (a pytree).
      x: inputs ``(n, ...)``.
      y: targets ``(n,)``.
      step_size: :math:`\eta > 0` (a float or a 0-d array).
      steps: number of steps :math:`T \ge 0`.
      record_every: record every this many steps (records at ``0, k, 2k, ...``
        and at ``T``).
      ntk_every: compute the NTK every this many steps (a multiple of
        ``record_every``); ``None`` for no NTK records.
      loss_star: :math:`L^*` for the PL ratio.
      ntk_method: NTK method inside the program (see :func:`~lplr_core.ntk.kernel_fn`).
      blowup: the growth factor treated as divergence (``> 1``; ``inf`` turns the
        test off): the run is flagged at the first step with
        :math:`L_t - L^* >` ``blowup`` :math:`\cdot \max(L_0 - L^*, 1)`.

    Returns:
      A :class:`Trajectory`. A run is flagged (``diverged_at``, ``divergence``)
      at the first step ``t`` whose loss, :math:`\|\nabla L\|^2`, drift, PL
      ratio (where defined) or NTK record is not finite, or whose loss blows up;
      its records stop before ``t``. Every step is tested, not only recorded
      ones, so the flag does not depend on ``record_every``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from lplr_core.training import gradient_descent
      >>> apply_fn = lambda w, x: x @ w                 # a linear model, L = |w - 1|^2 / 2
      >>> run = gradient_descent(apply_fn, jnp.zeros(2), jnp.eye(2), jnp.ones(2),
      ...                        step_size=0.5, steps=4, record_every=2)
      >>> run.steps.tolist(), [round(v, 4) for v in run.loss.tolist()]
      ([0, 2, 4], [1.0, 0.0625, 0.0039])
      >>> run.diverged, round(float(run.pl_ratio[0]), 3)   # Theta = I: the PL ratio is 1
      (False, 1.0)
    """
    return _run("gradient_descent", apply_fn, params, x, y, step_size=step_size, steps=steps,
                batch_size=None, key=None, record_every=record_every, ntk_every=ntk_every,
                loss_star=loss_star, ntk_method=ntk_method, blowup=blowup)


def sgd(apply_fn: Callable, params: Any, x: Any, y: Any, *, step_size: float, steps: int,
        batch_size: int, key: Any = 0, record_every: int = 1, ntk_every: int | None = None,
        loss_star: float = 0.0, ntk_method: str = "auto", blowup: float = BLOWUP) -> Trajectory:
    r"""Mini-batch SGD with the same records as :func:`gradient_descent`.

    Each step draws ``batch_size`` distinct samples uniformly and steps along
    :math:`\tfrac{n}{b} \nabla L_B(\theta)`, an unbiased estimate of
    :math:`\nabla L(\theta)`, so step sizes are comparable with full-batch GD.
    Records are computed on the full data set. Divergence is flagged as in
    :func:`gradient_descent`; between records the test uses the step's own
    mini-batch values (:math:`\tfrac{n}{b} L_B` for the blow-up test, no PL ratio).
    ``gradient_descent`` is the same runner with one batch of all ``n`` samples per step.

    Args:
      apply_fn, params, x, y, step_size, steps: as in :func:`gradient_descent`.
      batch_size: samples per step, ``1 <= batch_size <= n`` (drawn without replacement).
      key: a ``jax.random`` key or an int seed for the mini-batches.
      record_every, ntk_every, loss_star, ntk_method, blowup: as in
        :func:`gradient_descent`.

    Returns:
      A :class:`Trajectory` (``config["algorithm"] == "sgd"``).
    """
    return _run("sgd", apply_fn, params, x, y, step_size=step_size, steps=steps,
                batch_size=batch_size, key=key, record_every=record_every, ntk_every=ntk_every,
                loss_star=loss_star, ntk_method=ntk_method, blowup=blowup)


def _run(kind, apply_fn, params, x, y, *, step_size, steps, batch_size, key, record_every,
         ntk_every, loss_star, ntk_method, blowup) -> Trajectory:
    """The one runner behind :func:`gradient_descent` (``batch_size=None``: every step uses
    the full batch) and :func:`sgd`: validate, run the compiled program, recover the last
    finite iterate of a flagged run, and build the :class:`Trajectory`."""
    params, x, y, steps, record_every, ntk_every, loss_star, ntk_method, blowup = \
        _check_run_args(apply_fn, params, x, y, step_size, steps, record_every, ntk_every,
                        loss_star, ntk_method, blowup)
    step_size = _check_step_size("step_size", step_size)
    settings = {}
    if batch_size is None:
        key = jax.random.PRNGKey(0)  # unused by full-batch steps; keeps one program signature
    else:
        batch_size = check_int("batch_size", batch_size, minimum=1, maximum=x.shape[0])
        key = check_key("key", key)
        settings["batch_size"] = batch_size
    layout = _Layout.make(steps, record_every, ntk_every)
    program = _program(apply_fn, layout, ntk_method if ntk_every else None, batch_size)
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(params))
    args = (x, y.astype(dtype), jnp.asarray(step_size, dtype))
    rec, ntk, diverged_at, reason, final = program(
        params, *args, jnp.asarray(loss_star, dtype), jnp.asarray(blowup, dtype), key)
    if int(diverged_at) >= 0:
        final = _last_finite_params(apply_fn, batch_size, params, *args, key, diverged_at)
    config = _config(kind, apply_fn, params, x, step_size=step_size, steps=steps, **settings,
                     record_every=record_every, ntk_every=ntk_every, loss_star=loss_star,
                     ntk_method=ntk_method, blowup=blowup)
    return _trajectory(rec, ntk, diverged_at, reason, final, layout, float(tree_math.norm(params)),
                       config)


# --------------------------------------------------------------------------- sweeps

def stack_params(params_list: list[Any]) -> Any:
    """Stack a list of same-shaped parameter pytrees along a new leading axis."""
    if not isinstance(params_list, (list, tuple)) or not params_list:
        raise ValueError(f"params_list must be a non-empty list of pytrees; got "
                         f"{describe(params_list)}")
    checked = [check_params(f"params_list[{i}]", p) for i, p in enumerate(params_list)]
    paths, first = zip(*jax.tree_util.tree_flatten_with_path(checked[0])[0])
    structure = jax.tree_util.tree_structure(checked[0])
    for i, p in enumerate(checked[1:], start=1):
        if jax.tree_util.tree_structure(p) != structure:
            raise ValueError(f"params_list entries must have the same pytree structure; "
                             f"params_list[{i}] differs from params_list[0] (parameters of "
                             f"different models?)")
        for path, a, b in zip(paths, first, jax.tree_util.tree_leaves(p)):
            if (jnp.shape(a), a.dtype) != (jnp.shape(b), b.dtype):
                where = jax.tree_util.keystr(path)
                raise ValueError(
                    f"params_list entries must have the same leaf shapes and dtypes; "
                    f"params_list[{i}]{where} has shape {tuple(jnp.shape(b))} and dtype "
                    f"{b.dtype}, params_list[0]{where} has shape {tuple(jnp.shape(a))} and "
                    f"dtype {a.dtype}")
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *checked)


@dataclass
class SweepResult:
    r"""Runs of :func:`gradient_descent_sweep`, indexed ``[seed, step size]``.

    Record arrays have shape ``(S, E, R)`` and NTK arrays ``(S, E, K)``; entries
    at or after a run's flagged step are ``NaN`` (no record there: the arrays
    are rectangular), and no entry is ever infinite. ``diverged_at`` has shape
    ``(S, E)`` with ``-1`` for runs that were not flagged; ``divergence`` (same
    shape, object) holds the reason of each flagged run (see
    :data:`DIVERGENCE_REASONS`) and ``None`` elsewhere.
    """

    step_sizes: np.ndarray
    loss: np.ndarray
    grad_norm_sq: np.ndarray
    drift: np.ndarray
    relative_drift: np.ndarray
    pl_ratio: np.ndarray
    steps: np.ndarray
    lambda_min: np.ndarray
    lambda_max: np.ndarray
    kernel_drift: np.ndarray
    ntk_steps: np.ndarray
    diverged_at: np.ndarray
    params: Any
    config: dict
    divergence: np.ndarray = None
    _layout: _Layout = field(repr=False, default=None)
    _params0_norm: np.ndarray = field(repr=False, default=None)

    def trajectory(self, seed_index: int, step_index: int) -> Trajectory:
        """One run as a :class:`Trajectory` (cut at its divergence)."""
        s = check_int("seed_index", seed_index, minimum=0, maximum=self.loss.shape[0] - 1)
        e = check_int("step_index", step_index, minimum=0, maximum=self.loss.shape[1] - 1)
        rec = [getattr(self, f)[s, e] for f in _RECORD_FIELDS]
        ntk = [getattr(self, f)[s, e] for f in _NTK_FIELDS]
        params = jax.tree_util.tree_map(lambda a: a[s, e], self.params)
        config = {**self.config, "step_size": float(self.step_sizes[e]), "seed_index": s}
        reason = (0 if self.divergence is None or self.divergence[s, e] is None
                  else _REASON_CODE[self.divergence[s, e]])
        return _trajectory(rec, ntk, self.diverged_at[s, e], reason, params, self._layout,
                           float(self._params0_norm[s]), config)


@lru_cache(maxsize=64)
def _sweep_program(program):
    """The batched (``vmap`` over runs) and jitted form of a cached training program, built
    once per program so that a second sweep of the same shapes compiles nothing."""
    return jax.jit(jax.vmap(program, in_axes=(0, None, None, 0, None, None, None),
                            axis_name="runs"))


def gradient_descent_sweep(apply_fn: Callable, params: Any, x: Any, y: Any, *,
                           step_sizes: Any, steps: int, record_every: int = 1,
                           ntk_every: int | None = None, loss_star: float = 0.0,
                           ntk_method: str = "auto", shard: bool | None = None,
                           blowup: float = BLOWUP) -> SweepResult:
    r"""Gradient descent for every (seed, step size) pair, as one compiled program.

    ``params`` carries a leading axis of ``S`` initializations (see
    :func:`stack_params`); ``step_sizes`` has ``E`` entries. The ``S * E`` runs
    are ``jax.vmap``-ed into one program; with several devices (``shard=None``
    decides automatically) the batch of runs is split into equal slices, one per
    device, each run by the same vmapped program at the same time; this gives the
    same numbers as the unsharded program. Divergence (``blowup`` included) is
    flagged per run as in :func:`gradient_descent`.

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)``.
      params: ``S`` initial parameter pytrees stacked on a leading axis
        (:func:`stack_params`).
      x: inputs ``(n, ...)``.
      y: targets ``(n,)``.
      step_sizes: ``E`` step sizes :math:`\eta > 0` (a scalar or a 1-D array).
      steps, record_every, ntk_every, loss_star, ntk_method, blowup: as in
        :func:`gradient_descent`.
      shard: split the runs across devices (``None``: when there are several).

    Returns:
      A :class:`SweepResult` indexed ``[seed, step size]``.
    """
    params = check_params("params", params)
    leaves = jax.tree_util.tree_leaves(params)
    n_seeds = leaves[0].shape[0] if leaves[0].ndim else 0
    if n_seeds < 1 or any(l.ndim < 1 or l.shape[0] != n_seeds for l in leaves):
        raise ValueError("params must carry a leading axis of initializations (use "
                         "stack_params([model.init(k, d) for k in keys]))")
    one = jax.tree_util.tree_map(lambda a: a[0], params)
    one, x, y, steps, record_every, ntk_every, loss_star, ntk_method, blowup = _check_run_args(
        apply_fn, one, x, y, 1.0, steps, record_every, ntk_every, loss_star, ntk_method, blowup)
    sizes = np.asarray(check_array("step_sizes", step_sizes, ndim=(0, 1)), float).reshape(-1)
    if sizes.size == 0 or not np.all(sizes > 0):
        raise ValueError(f"step_sizes must be non-empty, finite and > 0; got {sizes.tolist()}")
    n_sizes = sizes.size
    layout = _Layout.make(steps, record_every, ntk_every)
    program = _program(apply_fn, layout, ntk_method if ntk_every else None, None, "runs")
    dtype = jnp.result_type(*leaves)
    batch = n_seeds * n_sizes
    flat_params = jax.tree_util.tree_map(lambda a: jnp.repeat(a, n_sizes, axis=0), params)
    flat_sizes = jnp.tile(jnp.asarray(sizes, dtype), n_seeds)
    n_dev = jax.device_count()
    sharded = (n_dev > 1) if shard is None else (check_bool("shard", shard) and n_dev > 1)
    args = (x, y.astype(dtype))
    tail = (jnp.asarray(loss_star, dtype), jnp.asarray(blowup, dtype), jax.random.PRNGKey(0))
    compiled = _sweep_program(program)
    if sharded:
        # Each device runs an equal slice of the batch (padded by repeating the last
        # run) with the same vmapped program; dispatch is asynchronous, so the devices
        # work at the same time. Partitioning one program across devices instead
        # (GSPMD, or shard_map) failed for convolutional models inside XLA and JAX.
        devices = jax.devices()
        chunk = -(-batch // len(devices))
        pad = chunk * len(devices) - batch

        def padded(a):
            return jnp.concatenate([a, jnp.repeat(a[-1:], pad, axis=0)]) if pad else a

        flat_params = jax.tree_util.tree_map(padded, flat_params)
        flat_sizes = padded(flat_sizes)
        parts = []
        for k, device in enumerate(devices):
            piece = slice(k * chunk, (k + 1) * chunk)
            local = jax.device_put(
                (jax.tree_util.tree_map(lambda a: a[piece], flat_params), *args,
                 flat_sizes[piece], *tail), device)
            parts.append(compiled(*local))
        rec, ntk, diverged_at, reason, final = jax.tree_util.tree_map(
            lambda *leaves: np.concatenate([np.asarray(leaf) for leaf in leaves]), *parts)
    else:
        rec, ntk, diverged_at, reason, final = compiled(flat_params, *args, flat_sizes, *tail)

    def unflat(a):
        a = np.asarray(a)[:batch]
        return a.reshape(n_seeds, n_sizes, *a.shape[1:])

    rec = [unflat(r) for r in rec]
    ntk = [unflat(r) for r in ntk]
    diverged_at = unflat(diverged_at).astype(int)
    divergence = np.empty(diverged_at.shape, dtype=object)
    for index, code in np.ndenumerate(unflat(reason)):
        divergence[index] = _reason_name(code) if diverged_at[index] >= 0 else None
    final = jax.tree_util.tree_map(lambda a: np.array(unflat(a)), final)
    for s_idx, e_idx in zip(*np.nonzero(diverged_at >= 0)):
        start = jax.tree_util.tree_map(lambda a: a[s_idx], params)
        good = _last_finite_params(apply_fn, None, start, x, y.astype(dtype),
                                   jnp.asarray(sizes[e_idx], dtype), jax.random.PRNGKey(0),
                                   diverged_at[s_idx, e_idx])
        for leaf, value in zip(jax.tree_util.tree_leaves(final), jax.tree_util.tree_leaves(good)):
            leaf[s_idx, e_idx] = np.asarray(value)
    final = jax.tree_util.tree_map(jnp.asarray, final)
    params0_norm = np.asarray([float(tree_math.norm(jax.tree_util.tree_map(lambda a: a[s], params)))
                               for s in range(n_seeds)])
    config = _config("gradient_descent_sweep", apply_fn, one, x, step_sizes=sizes.tolist(),
                     steps=steps, record_every=record_every, ntk_every=ntk_every,
                     loss_star=loss_star, ntk_method=ntk_method, seeds=n_seeds, blowup=blowup)
    return SweepResult(step_sizes=sizes, loss=rec[0], grad_norm_sq=rec[1], drift=rec[2],
                       relative_drift=rec[2] / params0_norm[:, None, None], pl_ratio=rec[3],
                       steps=layout.record_steps(), lambda_min=ntk[0], lambda_max=ntk[1],
                       kernel_drift=ntk[2], ntk_steps=layout.ntk_record_steps(),
                       diverged_at=diverged_at, params=final, config=config,
                       divergence=divergence, _layout=layout, _params0_norm=params0_norm)
