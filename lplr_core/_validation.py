"""Validation at the public boundary.

Every public function of :mod:`lplr_core` checks its arguments here before any
numerical code runs, so that a bad input raises a ``ValueError`` or
``TypeError`` that names the argument, the value received and what is allowed,
instead of a traceback from deep inside JAX. The numerical code behind this
layer assumes valid inputs.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any, Callable, Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "describe",
    "check_int",
    "check_real",
    "check_bool",
    "check_choice",
    "check_callable",
    "check_array",
    "check_targets",
    "check_same_rows",
    "check_same_features",
    "check_params",
    "check_apply_fn",
    "check_key",
    "check_sequence_of_ints",
    "check_float_dtype",
    "check_real_values",
    "check_model_data",
    "check_same_structure",
    "check_kernel",
    "check_step_grid",
    "check_loss_pair",
    "is_concrete",
    "MAX_SEED",
]

MAX_SEED = 2**63 - 1  # the largest seed jax.random.PRNGKey accepts (a signed 64-bit int)


def describe(value: Any) -> str:
    """A short, readable description of a value for an error message."""
    if isinstance(value, (np.ndarray, jax.Array)):
        return f"array of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} (type {type(value).__name__})"


def is_concrete(value: Any) -> bool:
    """True unless ``value`` (or a leaf of it) is a JAX tracer (inside ``jit``, ``vmap``, ``grad``).

    Static properties (type, shape, dtype, tree structure) can be checked on a tracer; value
    properties (finite, positive, non-zero) only on a concrete value.
    """
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(value))


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Integral):
        return True
    if not isinstance(value, (np.ndarray, jax.Array)) or value.shape != ():
        return False
    try:  # typed PRNG keys have an extended dtype that numpy cannot interpret
        return np.issubdtype(value.dtype, np.integer)
    except TypeError:
        return False


def check_int(name: str, value: Any, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Return ``value`` as a Python int, or raise naming ``name``."""
    allowed = "an integer"
    if minimum is not None and maximum is not None:
        allowed = f"an integer in [{minimum}, {maximum}]"
    elif minimum is not None:
        allowed = f"an integer >= {minimum}"
    elif maximum is not None:
        allowed = f"an integer <= {maximum}"
    if not _is_int(value):
        raise TypeError(f"{name} must be {allowed}; got {describe(value)}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {allowed}; got {value}")
    return value


def check_real(name: str, value: Any, *, minimum: float | None = None,
               maximum: float | None = None, strict_min: bool = False,
               allow_inf: bool = False) -> float:
    """Return ``value`` as a finite Python float inside the stated range.

    ``strict_min`` makes the lower bound exclusive (``value > minimum``). A traced 0-d array
    (inside ``jit``/``vmap``/``grad``) passes the type check and is returned unchanged: its
    value, hence the range, cannot be checked there.
    """
    if minimum is not None:
        low = f"> {minimum}" if strict_min else f">= {minimum}"
    else:
        low = None
    parts = ["a finite real number" if not allow_inf else "a real number (not NaN)"]
    if low:
        parts.append(low)
    if maximum is not None:
        parts.append(f"<= {maximum}")
    allowed = " ".join(parts)
    if isinstance(value, bool) or not (
        isinstance(value, numbers.Real)
        or (isinstance(value, (np.ndarray, jax.Array)) and value.shape == ()
            and (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)))
    ):
        raise TypeError(f"{name} must be {allowed}; got {describe(value)}")
    if not is_concrete(value):
        return value
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be {allowed}; got {value}")
    if minimum is not None and (value < minimum or (strict_min and value == minimum)):
        raise ValueError(f"{name} must be {allowed}; got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be {allowed}; got {value}")
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {describe(value)}")
    return bool(value)


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(
            f"{name} must be one of {', '.join(repr(a) for a in allowed)}; got {describe(value)}")
    return value


def check_callable(name: str, value: Any) -> Callable:
    if not callable(value):
        raise TypeError(f"{name} must be callable; got {describe(value)}")
    return value


def check_sequence_of_ints(name: str, value: Any, *, minimum: int | None = None,
                           min_length: int = 1) -> tuple[int, ...]:
    """A non-empty sequence of integers (a single int is accepted as length 1)."""
    if _is_int(value):
        value = (value,)
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a sequence of integers; got {describe(value)}")
    items = list(value)
    if len(items) < min_length:
        raise ValueError(
            f"{name} must contain at least {min_length} integer(s); got {describe(value)}")
    out = []
    for i, item in enumerate(items):
        if not _is_int(item):
            raise TypeError(f"{name}[{i}] must be an integer; got {describe(item)}")
        if minimum is not None and int(item) < minimum:
            raise ValueError(f"{name}[{i}] must be an integer >= {minimum}; got {int(item)}")
        out.append(int(item))
    return tuple(out)


def check_array(name: str, value: Any, *, ndim: int | tuple[int, ...] | None = None,
                finite: bool = True, min_rows: int = 1, dtype: Any = None) -> jax.Array:
    """Convert to a floating JAX array and check its rank and finiteness.

    Integer and boolean inputs are promoted to the default float dtype; complex,
    object and string inputs are rejected.
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a real numeric array; got {describe(value)}")
    try:
        arr = np.asarray(value) if not isinstance(value, jax.Array) else value
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a real numeric array; got {describe(value)}") from exc
    kind = np.dtype(arr.dtype).kind
    if kind not in "biuf":
        raise TypeError(
            f"{name} must be a real numeric array (float, int or bool); got dtype {arr.dtype}")
    if ndim is not None:
        ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in ndims:
            want = " or ".join(str(d) for d in ndims)
            raise ValueError(
                f"{name} must have {want} dimension(s); got shape {tuple(arr.shape)}")
    if arr.ndim >= 1 and arr.shape[0] < min_rows:
        raise ValueError(
            f"{name} must have at least {min_rows} row(s); got shape {tuple(arr.shape)}")
    target = dtype if dtype is not None else (jnp.result_type(float) if kind != "f" else None)
    bad = 0
    if isinstance(arr, np.ndarray):
        # Host memory (NumPy, lists): convert and check it on the host, where the check costs
        # no compiled program, then copy it to the device once (device_put compiles nothing;
        # jnp.asarray compiles a copy program for every new shape).
        want = jax.dtypes.canonicalize_dtype(arr.dtype if target is None else target)
        with np.errstate(over="ignore"):   # a float64 beyond float32's range becomes inf
            host = np.asarray(arr, dtype=want)
        if finite and host.size:
            bad = int(host.size - np.count_nonzero(np.isfinite(host)))
        arr = jax.device_put(host, may_alias=False)
    else:
        arr = jnp.asarray(arr) if target is None else jnp.asarray(arr, dtype=target)
        if finite and arr.size and is_concrete(arr):
            with jax.ensure_compile_time_eval():  # concrete, even while an outer jit traces
                bad = int(_count_nonfinite(arr))
    if bad:
        raise ValueError(f"{name} must contain only finite values; got {bad} NaN/inf entries")
    return arr


def check_targets(name: str, y: Any, n: int, *, dtype: Any = None) -> jax.Array:
    """Targets of shape (n,) (a (n, 1) column is accepted and flattened)."""
    arr = check_array(name, y, ndim=(1, 2), dtype=dtype)
    if arr.ndim == 2:
        if arr.shape[1] != 1:
            raise ValueError(
                f"{name} must have shape ({n},) (scalar outputs); got shape {tuple(arr.shape)}")
        arr = arr[:, 0]
    if arr.shape[0] != n:
        raise ValueError(
            f"{name} must have one target per sample: expected {n}, got {arr.shape[0]}")
    return arr


def check_same_rows(name_a: str, a: Any, name_b: str, b: Any) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same number of samples; "
            f"got {a.shape[0]} and {b.shape[0]}")


def check_same_features(name_a: str, a: Any, name_b: str, b: Any) -> None:
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same feature dimension; "
            f"got {tuple(a.shape[1:])} and {tuple(b.shape[1:])}")


@jax.jit
def _count_nonfinite(arr):
    return jnp.size(arr) - jnp.sum(jnp.isfinite(arr))


@jax.jit
def _all_finite(leaves):
    return jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves])


def check_params(name: str, params: Any) -> Any:
    """A non-empty pytree of finite floating arrays of one dtype (one device round trip).

    Leaves must be arrays (NumPy, JAX, or NumPy scalars): a Python number is
    rejected, since it usually means a nested Python list was passed where an
    array was meant (JAX treats the list as a pytree node and its numbers as
    leaves). All leaves must share one floating dtype: a mixed pytree (e.g.
    float16 and float32) would be promoted silently in the model and fail in a
    compiled training loop, whose carry must keep its types.
    """
    leaves_with_path, _ = jax.tree_util.tree_flatten_with_path(params)
    if not leaves_with_path:
        raise ValueError(f"{name} must be a non-empty pytree of arrays; got {describe(params)}")
    dtypes = {}
    for i, (path, leaf) in enumerate(leaves_with_path):
        where = f"{name}{jax.tree_util.keystr(path)}"
        if isinstance(leaf, (bool, np.bool_)) or not isinstance(
                leaf, (np.ndarray, jax.Array, np.generic)):
            hint = ""
            if isinstance(leaf, numbers.Real) and path and isinstance(
                    path[-1], jax.tree_util.SequenceKey):
                hint = (" (a nested Python list is a pytree of Python numbers, not an array: "
                        "convert it with jnp.asarray)")
            elif isinstance(leaf, numbers.Real):
                hint = " (wrap Python numbers with jnp.asarray)"
            raise TypeError(f"{name} leaf {i} ({where}) must be an array; got "
                            f"{describe(leaf)}{hint}")
        dt = np.dtype(leaf.dtype)
        if dt.kind != "f":
            raise TypeError(f"{name} leaf {i} ({where}) must have a floating dtype; got {dt}")
        dtypes.setdefault(dt, where)
    if len(dtypes) > 1:
        found = ", ".join(f"{dt} (first at {where})" for dt, where in dtypes.items())
        raise TypeError(f"{name} must have one floating dtype for all leaves; got {found}. "
                        f"Cast every leaf with .astype(...) to one dtype")
    if not is_concrete(params):  # inside jit/vmap/grad: the values cannot be checked
        return params
    with jax.ensure_compile_time_eval():  # concrete, even while an outer jit traces
        finite = np.asarray(_all_finite([jnp.asarray(leaf) for _, leaf in leaves_with_path]))
    if not finite.all():
        i = int(np.argmin(finite))
        raise ValueError(f"{name} leaf {i} ({name}{jax.tree_util.keystr(leaves_with_path[i][0])})"
                         f" must contain only finite values; got NaN/inf")
    return params


def check_apply_fn(name: str, apply_fn: Any, params: Any, x: jax.Array) -> None:
    """Check that ``apply_fn(params, x)`` returns one scalar output per sample.

    Uses ``jax.eval_shape``, so nothing is computed; the answer is cached per
    function and argument shapes, so repeated calls cost no new trace.
    """
    check_callable(name, apply_fn)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    signature = (treedef, tuple((jnp.shape(l), np.dtype(getattr(l, "dtype", float)).str)
                                for l in leaves), tuple(x.shape), np.dtype(x.dtype).str)
    try:
        hash(apply_fn)
    except TypeError:
        _output_problem(apply_fn, params, x, name)
        return
    if _cached_output_problem(apply_fn, signature, name):
        _output_problem(apply_fn, params, x, name)  # raise again, with the real arrays


@functools.lru_cache(maxsize=256)
def _cached_output_problem(apply_fn, signature, name):
    treedef, leaf_specs, x_shape, x_dtype = signature
    params = jax.tree_util.tree_unflatten(
        treedef, [jax.ShapeDtypeStruct(shape, np.dtype(dt)) for shape, dt in leaf_specs])
    x = jax.ShapeDtypeStruct(x_shape, np.dtype(x_dtype))
    try:
        _output_problem(apply_fn, params, x, name)
    except (TypeError, ValueError):
        return True
    return None


def _output_problem(apply_fn, params, x, name) -> None:
    try:
        out = jax.eval_shape(apply_fn, params, x)
    except Exception as exc:
        raise ValueError(
            f"{name}(params, x) failed for x of shape {tuple(x.shape)}: "
            f"{type(exc).__name__}: {exc}") from exc
    shape = getattr(out, "shape", None)
    if shape != (x.shape[0],):
        raise ValueError(
            f"{name}(params, x) must return shape ({x.shape[0]},) (one scalar output per "
            f"sample); got {describe(out) if shape is None else 'shape ' + str(tuple(shape))}")
    if not np.issubdtype(out.dtype, np.floating):
        raise TypeError(f"{name}(params, x) must return floats; got dtype {out.dtype}")


def check_key(name: str, key: Any) -> jax.Array:
    """A JAX PRNG key; an int seed is accepted and turned into a key."""
    if _is_int(key):
        # jax.random.PRNGKey takes a signed 64-bit seed; a larger int overflowed
        # deep inside JAX ("Python int too large to convert to C long").
        seed = check_int(name, key, minimum=0, maximum=MAX_SEED)
        return jax.random.PRNGKey(seed)
    if isinstance(key, jax.Array):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            return key
        if key.shape == (2,) and key.dtype == jnp.uint32:
            return key
    raise TypeError(
        f"{name} must be a jax.random key (e.g. jax.random.PRNGKey(0)) or an int seed in "
        f"[0, 2**63 - 1]; got {describe(key)}")


def check_float_dtype(name: str, dtype: Any) -> np.dtype:
    """A floating dtype that JAX can actually produce under the current settings.

    ``None`` is JAX's default float. ``float64`` needs ``jax_enable_x64``:
    without it JAX silently makes float32 arrays, so we refuse instead.
    """
    if dtype is None:
        return np.dtype(jnp.result_type(float))
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name} must be a floating dtype (e.g. float32 or float64); got "
                        f"{describe(dtype)}") from exc
    if dt.kind != "f":
        raise TypeError(f"{name} must be a floating dtype (e.g. float32 or float64); got {dtype!r}")
    if np.dtype(jax.dtypes.canonicalize_dtype(dt)) != dt:
        raise ValueError(
            f"{name}={dt} needs 64-bit JAX: call jax.config.update(\"jax_enable_x64\", True) "
            f"before creating arrays (without it JAX would silently use "
            f"{np.dtype(jax.dtypes.canonicalize_dtype(dt))}); or pass {name}=float32")
    return dt


def check_real_values(name: str, value: Any) -> tuple[np.ndarray, float]:
    """Real numbers (a scalar or an array, NaN/inf allowed) as float64 NumPy, and their eps.

    The eps is that of the input's floating dtype (float64 for Python numbers and
    integers), i.e. the round-off of the values before the float64 cast. Strings,
    ``None``, objects and complex numbers raise a ``TypeError`` naming ``name``.
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be real numbers (a float or an array of floats); got "
                        f"{describe(value)}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be real numbers; got {describe(value)}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be real numbers (float, int or bool); got "
                        f"{describe(value)}")
    eps = float(np.finfo(arr.dtype).eps) if arr.dtype.kind == "f" else float(np.finfo(float).eps)
    return arr.astype(float), eps


def check_model_data(apply_fn: Any, params: Any, x: Any, y: Any) -> tuple[Any, jax.Array, jax.Array]:
    """Validate a model and its data once: ``params``, ``x`` (rank 2-4), ``y`` ``(n,)`` and
    that ``apply_fn(params, x)`` returns ``(n,)`` floats. Returns ``(params, x, y)``.

    Tracer-safe: inside ``jit``/``vmap``/``grad`` only the static properties are checked.
    """
    params = check_params("params", params)
    x = check_array("x", x, ndim=(2, 3, 4))
    y = check_targets("y", y, x.shape[0])
    check_apply_fn("apply_fn", apply_fn, params, x)
    return params, x, y


def check_same_structure(name_a: str, a: Any, name_b: str, b: Any) -> None:
    """Two pytrees with the same structure and leaf shapes (static: tracer-safe)."""
    sa, sb = jax.tree_util.tree_structure(a), jax.tree_util.tree_structure(b)
    if sa != sb:
        raise ValueError(f"{name_a} and {name_b} must have the same pytree structure; "
                         f"got {sa} and {sb}")
    for i, (u, v) in enumerate(zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))):
        if jnp.shape(u) != jnp.shape(v):
            raise ValueError(f"{name_a} and {name_b} leaf {i} shapes differ: "
                             f"{jnp.shape(u)} and {jnp.shape(v)}")


def check_kernel(name: str, kernel: Any, *, finite: bool = True) -> jax.Array:
    """A square ``(n, n)`` floating matrix (a kernel); finiteness checked when concrete."""
    kernel = check_array(name, kernel, ndim=2, finite=finite)
    if kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"{name} must be a square (n, n) kernel matrix; got shape "
                         f"{tuple(kernel.shape)}")
    return kernel


def check_step_grid(name: str, steps: Any) -> np.ndarray:
    """Steps at which to evaluate a bound: an int ``T`` (``0, 1, ..., T``) or a 1-D array of
    step indices ``>= 0``. Returns them as a float64 NumPy array (host-side bounds)."""
    if np.ndim(steps) == 0:
        return np.arange(check_int(name, steps, minimum=0) + 1, dtype=float)
    t = np.asarray(check_array(name, steps, ndim=1), float)
    if (t < 0).any():
        raise ValueError(f"{name} must be >= 0; got min {t.min()}")
    return t


def check_loss_pair(loss0: Any, loss_star: Any) -> tuple[float, float]:
    """``loss0`` and ``loss_star`` for a bound on the squared loss: ``0 <= loss_star <= loss0``."""
    loss0 = check_real("loss0", loss0)
    loss_star = check_real("loss_star", loss_star, minimum=0.0)
    if loss0 < loss_star:
        raise ValueError(f"loss0 must be >= loss_star={loss_star}; got {loss0}")
    return loss0, loss_star
