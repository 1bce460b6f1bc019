r"""CNN robustness check: two convolutional networks, mini-batch SGD, three seeds.

The paper reports (abstract, claim 9 of the book's list) a CNN robustness check
on a CIFAR-10 subset in which the PL-ratio lower envelope stays positive across
three seeds on the stable regime. Its CNN, data subset and hyper-parameters are
not known. This experiment is **this book's set-up** (every number in the
configurations below is ours):

* **models**: the small :class:`~lplr_core.models.CNN` (``"cnn"``) and the
  ResNet-style :class:`~lplr_core.models.ResNetCNN` (``"resnet"``), NTK
  parameterization, scalar output;
* **data**: a balanced two-class Fashion-MNIST sample read offline (Debian
  package ``dataset-fashion-mnist``) by default; a CIFAR-10 subset only when the
  configuration opts in (``"dataset": "cifar10"`` and, unless the archive is
  already in the data directory, ``"download": True``). Pixels in [0, 1] are
  centred per pixel on the sample, averaged over ``downsample`` x ``downsample``
  blocks (:func:`downsample_images`; it keeps the centring) and every image is
  rescaled to Euclidean norm :math:`\sqrt d` (:func:`normalize_rows`);
  labels are :math:`\pm 1`;
* **training**: :func:`lplr_core.training.sgd` (unbiased mini-batch steps
  :math:`\tfrac{n}{b}\nabla L_B`) from each of ``n_seeds`` seeds ``seed, seed +
  1, ...``; the seed fixes the initialization and the batch order, the data
  sample is fixed by ``data_seed``. The step size is
  :math:`\eta = c / \lambda_{\max}(\Theta_0)` with :math:`c` =
  ``step_multiple``: :math:`\lambda_{\max}(\Theta_0)` is the Gauss-Newton part
  of the sharpness at :math:`\theta_0`, so :math:`c < 2` is the usual
  full-batch stability range;
* **records** (full batch, every ``record_every`` steps): the loss
  :math:`L_t = \tfrac12\|u_t\|^2`, :math:`\|\nabla L_t\|^2`, the PL ratio
  :math:`\rho_t = \|\nabla L_t\|^2 / (2 L_t)` (:math:`L^* = 0`), its lower
  envelope :math:`\min_{t_0 \le s \le t} \rho_s` on the stable regime
  :math:`t \ge t_0` = ``stable_from`` (:func:`lplr_core.diagnostics.lower_envelope`),
  the parameter drift :math:`\|\theta_t - \theta_0\|` (absolute and relative);
  and, in float64 at :math:`\theta_0` and :math:`\theta_T` only,
  :math:`\lambda_{\min}` and :math:`\lambda_{\max}` of the empirical NTK and the
  kernel drift :math:`\|\Theta_T - \Theta_0\|_{op}`.

Training runs in ``dtype`` (float32 by default: XLA's float64 convolutions on
the CPU are one to two orders of magnitude slower); the NTKs are always formed
in float64 from the same parameters. ``run`` needs ``jax_enable_x64``.

Result keys (``S = n_seeds``, ``R = steps / record_every + 1`` records; for
each model ``m`` in ``("cnn", "resnet")``):

* ``dataset`` (str), ``classes`` (2,), ``image_shape`` (3,) after downsampling,
  ``n``, ``seeds`` (S,), ``steps`` (R,) the record steps, ``stable_from``
  (:math:`t_0`) and ``stable_index`` (its record index);
* ``{m}_loss``, ``{m}_grad_norm_sq``, ``{m}_pl_ratio``, ``{m}_drift``,
  ``{m}_relative_drift``: (S, R), NaN after a divergence;
* ``{m}_pl_envelope``: (S, R), NaN before ``stable_index``;
* ``{m}_envelope_min``: (S,), :math:`\min_{t \ge t_0} \rho_t`;
* ``{m}_lambda_min``, ``{m}_lambda_max``: (S, 2), at :math:`\theta_0` and
  :math:`\theta_T`; ``{m}_kernel_drift``: (S,);
* ``{m}_step_size``: (S,); ``{m}_accuracy``: (S,) training accuracy of
  :math:`\operatorname{sign} f(x_i;\theta_T)`; ``{m}_diverged_at``: (S,), -1
  when the run did not diverge; ``{m}_param_count`` (int).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from lplr_core._validation import (
    check_array,
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_real,
    check_sequence_of_ints,
    describe,
)
from lplr_core.data import (
    CIFAR10_IMAGE_SHAPE,
    MNIST_IMAGE_SHAPE,
    DataUnavailableError,
    cifar10_subset,
    fashion_mnist,
)
from lplr_core.diagnostics import kernel_drift, lower_envelope, pl_ratio_from_values
from lplr_core.models import CNN, ResNetCNN, param_count
from lplr_core.ntk import empirical_ntk, ntk_eigenvalues
from lplr_core.training import sgd

__all__ = ["NAME", "DESCRIPTION", "FAST", "FULL", "MODELS", "DATASETS", "run", "summarize",
           "downsample_images", "normalize_rows", "check_config", "load_data", "build_model"]

NAME = "cnn_robustness"
DESCRIPTION = ("CNN and ResNet-style CNN, mini-batch SGD, three seeds, Fashion-MNIST offline "
               "(CIFAR-10 subset on opt-in): PL ratio and its lower envelope on t >= t0, "
               "NTK lambda_min at init and end, drift")

#: The two networks, by the prefix of their result keys.
MODELS = ("cnn", "resnet")
#: Data sets; CIFAR-10 only on opt-in (it must be downloaded).
DATASETS = ("fashion_mnist", "cifar10")
_DTYPES = ("float32", "float64")

#: What the book shows (our set-up; the paper's is not known).
FULL = {
    "dataset": "fashion_mnist",   # or "cifar10" (opt-in, with "download": True)
    "download": False,            # never download unless asked
    "classes": [0, 1],            # Fashion-MNIST T-shirt/top (+1) vs Trouser (-1)
    "n": 64,
    "data_seed": 0,
    "downsample": 2,              # 28x28 -> 14x14 (CIFAR-10: 32x32 -> 16x16)
    "n_seeds": 3,
    "cnn_channels": [8, 16],
    "resnet_channels": 8,
    "resnet_blocks": 2,
    "activation": "relu",
    "step_multiple": 0.25,        # eta = step_multiple / lambda_max(Theta_0)
    "steps": 1000,
    "batch_size": 16,
    "record_every": 20,
    "stable_from": 200,           # t_0: the stable regime is t >= 200
    "dtype": "float32",
}

#: Seconds, for tests and CI: a smaller sample, narrower networks, fewer steps.
FAST = {**FULL, "n": 32, "cnn_channels": [4, 8], "resnet_channels": 4, "resnet_blocks": 1,
        "steps": 200, "batch_size": 8, "record_every": 5, "stable_from": 50}

_KEYS = tuple(FULL)


# ------------------------------------------------------------------------ preprocessing

def downsample_images(x: Any, image_shape: Any, factor: int) -> tuple[np.ndarray, tuple]:
    """Average flattened images over ``factor`` x ``factor`` pixel blocks.

    Args:
      x: images of shape ``(n, H*W*C)``, each row an ``(H, W, C)`` image in C
        order (channels last, as the data loaders return them).
      image_shape: ``(H, W, C)``.
      factor: block size, an integer ``>= 1`` dividing both ``H`` and ``W``.

    Returns:
      ``(x_small, (H // factor, W // factor, C))`` with ``x_small`` a float64
      array of shape ``(n, (H // factor) * (W // factor) * C)``. Averaging is
      linear, so pixel-centred inputs stay centred.

    Raises:
      TypeError, ValueError: an argument is invalid; the message names it.
    """
    shape = check_sequence_of_ints("image_shape", image_shape, minimum=1)
    if len(shape) != 3:
        raise ValueError(f"image_shape must be (height, width, channels); got {shape}")
    factor = check_int("factor", factor, minimum=1)
    h, w, c = shape
    if h % factor or w % factor:
        raise ValueError(f"factor must divide the image height {h} and width {w}; got {factor}")
    x = np.asarray(check_array("x", x, ndim=2), dtype=np.float64)
    if x.shape[1] != h * w * c:
        raise ValueError(f"x must have {h * w * c} features for image_shape {shape}; got "
                         f"shape {x.shape}")
    small = x.reshape(-1, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))
    return small.reshape(x.shape[0], -1), (h // factor, w // factor, c)


def normalize_rows(x: Any) -> np.ndarray:
    r"""Rescale every row to Euclidean norm :math:`\sqrt d` (``x_i . x_i / d = 1``).

    Zero rows stay zero. Returns a float64 array of the shape of ``x``.
    """
    x = np.asarray(check_array("x", x, ndim=2), dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(norms > 0, x * (math.sqrt(x.shape[1]) / np.where(norms > 0, norms, 1.0)),
                    0.0)


# ---------------------------------------------------------------------------- config

def check_config(config: Any) -> dict:
    """Validate a configuration: exactly the keys of :data:`FULL`, each of a valid value.

    Returns:
      A normalized copy (tuples for the class pair and channels, Python scalars).

    Raises:
      TypeError, ValueError: a key is missing or unknown, or a value is invalid;
        the message names the key (as ``config['key']``).
    """
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict with the keys of FULL; got {describe(config)}")
    unknown = sorted(set(config) - set(_KEYS), key=str)
    if unknown:
        raise ValueError(f"config has unknown key(s) {unknown}; allowed keys: {list(_KEYS)}")
    missing = [k for k in _KEYS if k not in config]
    if missing:
        raise ValueError(f"config is missing the key(s) {missing} (start from FAST or FULL)")

    def key(name):
        return f"config['{name}']"

    c = dict(config)
    c["dataset"] = check_choice(key("dataset"), c["dataset"], DATASETS)
    c["download"] = check_bool(key("download"), c["download"])
    classes = check_sequence_of_ints(key("classes"), c["classes"], minimum=0)
    if len(classes) != 2 or classes[0] == classes[1] or max(classes) > 9:
        raise ValueError(f"{key('classes')} must be two distinct class indices in 0..9; "
                         f"got {c['classes']!r}")
    c["classes"] = classes
    c["n"] = check_int(key("n"), c["n"], minimum=2)
    c["data_seed"] = check_int(key("data_seed"), c["data_seed"], minimum=0)
    c["downsample"] = check_int(key("downsample"), c["downsample"], minimum=1)
    side = (MNIST_IMAGE_SHAPE if c["dataset"] == "fashion_mnist" else CIFAR10_IMAGE_SHAPE)[0]
    if side % c["downsample"]:
        raise ValueError(f"{key('downsample')} must divide the image side {side} of "
                         f"{c['dataset']}; got {c['downsample']}")
    c["n_seeds"] = check_int(key("n_seeds"), c["n_seeds"], minimum=1)
    c["cnn_channels"] = check_sequence_of_ints(key("cnn_channels"), c["cnn_channels"], minimum=1)
    c["resnet_channels"] = check_int(key("resnet_channels"), c["resnet_channels"], minimum=1)
    c["resnet_blocks"] = check_int(key("resnet_blocks"), c["resnet_blocks"], minimum=0)
    c["activation"] = check_choice(key("activation"), c["activation"],
                                   ("relu", "tanh", "erf", "gelu", "softplus"))
    c["step_multiple"] = check_real(key("step_multiple"), c["step_multiple"], minimum=0.0,
                                    strict_min=True)
    c["record_every"] = check_int(key("record_every"), c["record_every"], minimum=1)
    c["steps"] = check_int(key("steps"), c["steps"], minimum=1)
    if c["steps"] % c["record_every"]:
        raise ValueError(f"{key('steps')} must be a multiple of record_every="
                         f"{c['record_every']}; got {c['steps']}")
    c["batch_size"] = check_int(key("batch_size"), c["batch_size"], minimum=1,
                                maximum=c["n"])
    c["stable_from"] = check_int(key("stable_from"), c["stable_from"], minimum=0)
    if c["stable_from"] % c["record_every"] or c["stable_from"] >= c["steps"]:
        raise ValueError(f"{key('stable_from')} must be a multiple of record_every="
                         f"{c['record_every']} and < steps={c['steps']}; got {c['stable_from']}")
    c["dtype"] = check_choice(key("dtype"), c["dtype"], _DTYPES)
    return c


# ------------------------------------------------------------------------ data, models

def load_data(config: dict) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """The configuration's sample, preprocessed as in the module docstring.

    Returns:
      ``(x, y, image_shape)``: float64 NumPy arrays ``x`` (n, d) and ``y`` (n,)
      in {+1, -1}, and the (downsampled) image shape.

    Raises:
      DataUnavailableError: the data is not on this machine and
        ``config['download']`` is False (the message says how to opt in).
    """
    c = check_config(config)
    args = dict(classes=c["classes"], n=c["n"], seed=c["data_seed"], download=c["download"],
                center=True, dtype="float64")
    try:
        if c["dataset"] == "fashion_mnist":
            x, y = fashion_mnist(**args)
            shape = MNIST_IMAGE_SHAPE
        else:
            x, y = cifar10_subset(**args)
            shape = CIFAR10_IMAGE_SHAPE
    except DataUnavailableError as exc:
        if c["download"]:
            raise
        what = ("the CIFAR-10 archive (cifar-10-python.tar.gz, 163 MB)"
                if c["dataset"] == "cifar10" else "the Fashion-MNIST files")
        raise DataUnavailableError(
            f"config['dataset'] = {c['dataset']!r} needs {what}, which is not on this machine, "
            f"and config['download'] is False: nothing is downloaded unless you opt in. Set "
            f"config['download'] = True (network access needed; the file is checked against a "
            f"pinned SHA-256), or put the file in the data directory yourself. Details: {exc}"
        ) from exc
    x, shape = downsample_images(np.asarray(x), shape, c["downsample"])
    return normalize_rows(x), np.asarray(y, dtype=np.float64), shape


def build_model(name: str, config: dict, image_shape: Any) -> CNN | ResNetCNN:
    """The network ``name`` (``"cnn"`` or ``"resnet"``) of the configuration.

    The same settings give the same model object, so that a second run reuses
    the compiled training program and NTK (they are cached per ``apply_fn``).
    """
    name = check_choice("name", name, MODELS)
    c = check_config(config)
    shape = check_sequence_of_ints("image_shape", image_shape, minimum=1)
    if name == "cnn":
        return _cached_model(name, c["cnn_channels"], shape, c["activation"])
    return _cached_model(name, (c["resnet_channels"], c["resnet_blocks"]), shape, c["activation"])


@functools.lru_cache(maxsize=32)
def _cached_model(name, sizes, image_shape, activation):
    if name == "cnn":
        return CNN(sizes, image_shape=image_shape, activation=activation)
    return ResNetCNN(sizes[0], sizes[1], image_shape=image_shape, activation=activation)


# ------------------------------------------------------------------------------- run

def _pad(values: np.ndarray, length: int) -> np.ndarray:
    out = np.full(length, np.nan)
    out[: values.shape[0]] = values
    return out


def _ntk_spectrum(model, params, x64):
    params64 = jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf, jnp.float64), params)
    # Unsharded on purpose: with several devices the sharded "jacobian" method
    # returns a wrong kernel for convolutional models (seen with jax 0.10.2 on
    # two host devices); n is small, so one device is cheap anyway.
    kernel = empirical_ntk(model.apply, params64, x64, shard=False)
    return kernel, np.asarray(ntk_eigenvalues(kernel))


def _one_seed(model, c: dict, seed: int, x64, y64, stable_index: int) -> dict:
    dtype = jnp.dtype(c["dtype"])
    init_key, sgd_key = jax.random.split(jax.random.PRNGKey(seed))
    params0 = model.init(init_key, x64.shape[1], dtype=dtype)
    kernel0, ev0 = _ntk_spectrum(model, params0, x64)
    step_size = c["step_multiple"] / float(ev0[-1])
    traj = sgd(model.apply, params0, x64.astype(dtype), y64.astype(dtype), step_size=step_size,
               steps=c["steps"], batch_size=c["batch_size"], key=sgd_key,
               record_every=c["record_every"])
    kernel_t, ev_t = _ntk_spectrum(model, traj.params, x64)
    length = c["steps"] // c["record_every"] + 1
    loss = _pad(traj.loss, length)
    gsq = _pad(traj.grad_norm_sq, length)
    rho = pl_ratio_from_values(loss, gsq)                       # L* = 0
    envelope = np.full(length, np.nan)
    envelope[stable_index:] = lower_envelope(rho, stable_index)
    params64 = jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf, jnp.float64), traj.params)
    outputs = np.asarray(model.apply(params64, x64))
    return {
        "loss": loss, "grad_norm_sq": gsq, "pl_ratio": rho, "pl_envelope": envelope,
        "envelope_min": float(envelope[-1]),
        "drift": _pad(traj.drift, length), "relative_drift": _pad(traj.relative_drift, length),
        "lambda_min": np.array([ev0[0], ev_t[0]]), "lambda_max": np.array([ev0[-1], ev_t[-1]]),
        "kernel_drift": kernel_drift(kernel_t, kernel0),
        "step_size": step_size,
        "accuracy": float(np.mean(np.where(outputs >= 0, 1.0, -1.0) == y64)),
        "diverged_at": -1 if traj.diverged_at is None else int(traj.diverged_at),
    }


def run(config: dict, *, seed: int = 0, progress: Callable[[int, int, str], None] | None = None,
        ) -> dict:
    """Train both networks from ``n_seeds`` seeds ``seed, seed + 1, ...``; see the module docstring.

    Args:
      config: a configuration with exactly the keys of :data:`FULL` (e.g.
        ``FAST``, ``FULL`` or ``{**FULL, "dataset": "cifar10", "download": True}``).
      seed: the first seed, a non-negative int.
      progress: optional ``progress(done, total, message)``, called once per run.

    Returns:
      The flat result dict described in the module docstring.

    Raises:
      TypeError, ValueError: invalid configuration (the message names the key).
      DataUnavailableError: the data set is absent and ``config['download']`` is False.
      RuntimeError: ``jax_enable_x64`` is off (the NTKs are computed in float64).
    """
    c = check_config(config)
    seed = check_int("seed", seed, minimum=0)
    if progress is not None:
        check_callable("progress", progress)
    if not jax.config.jax_enable_x64:
        raise RuntimeError("cnn_robustness.run computes NTKs in float64: call "
                           "jax.config.update('jax_enable_x64', True) before anything else")
    x64, y64, image_shape = load_data(c)
    x64, y64 = jnp.asarray(x64), jnp.asarray(y64)
    seeds = seed + np.arange(c["n_seeds"])
    stable_index = c["stable_from"] // c["record_every"]
    out: dict[str, Any] = {
        "dataset": c["dataset"], "classes": np.array(c["classes"]),
        "image_shape": np.array(image_shape), "n": c["n"], "seeds": seeds,
        "steps": np.arange(0, c["steps"] + 1, c["record_every"]),
        "stable_from": c["stable_from"], "stable_index": stable_index,
    }
    total, done = len(MODELS) * len(seeds), 0
    for name in MODELS:
        model = build_model(name, c, image_shape)
        runs = []
        for s in seeds:
            if progress is not None:
                progress(done, total, f"{name}, seed {s}")
            runs.append(_one_seed(model, c, int(s), x64, y64, stable_index))
            done += 1
        for field in runs[0]:
            out[f"{name}_{field}"] = np.asarray([r[field] for r in runs])
        out[f"{name}_param_count"] = param_count(model.init(0, x64.shape[1]))
    if progress is not None:
        progress(total, total, "done")
    return out


def summarize(results: dict) -> str:
    """Per model and seed: lambda_0 -> lambda_min(Theta_T), PL envelope on t >= t0, loss, drift."""
    lines = [f"{results['dataset']}, n = {int(results['n'])}, image "
             f"{tuple(int(v) for v in np.ravel(results['image_shape']))}, stable regime "
             f"t >= {int(results['stable_from'])}",
             f"{'model':<7}{'seed':>4}{'lambda_0':>10}{'lambda_T':>10}{'envelope':>10}"
             f"{'L_0':>6}{'L_T':>6}{'drift':>6}{'rel':>5}{'acc':>5}"]
    for name in MODELS:
        for i, s in enumerate(np.ravel(results["seeds"])):
            lam = np.asarray(results[f"{name}_lambda_min"])[i]
            loss = np.asarray(results[f"{name}_loss"])[i]
            drift = np.asarray(results[f"{name}_drift"])[i]
            rel = np.asarray(results[f"{name}_relative_drift"])[i]
            lines.append(
                f"{name:<7}{int(s):>4}{lam[0]:>10.3g}{lam[1]:>10.3g}"
                f"{float(np.ravel(results[f'{name}_envelope_min'])[i]):>10.3g}"
                f"{loss[0]:>6.3g}{loss[-1]:>6.3g}{np.nanmax(drift):>6.3g}"
                f"{np.nanmax(rel):>5.2f}{float(np.ravel(results[f'{name}_accuracy'])[i]):>5.2f}")
    envelopes = np.concatenate([np.ravel(results[f"{m}_envelope_min"]) for m in MODELS])
    lines.append(f"PL-ratio envelope positive for every model and seed: "
                 f"{bool(np.all(envelopes > 0))}")
    return "\n".join(lines)
