r"""Shared by the MLP experiments: this book's binary-MNIST set-up and one diagnosed run.

The set-up (ours; the paper's network, data and hyper-parameters are not known):
real MNIST digits from :func:`lplr_core.data.binary_mnist`, centred per pixel
and rescaled to :math:`\|x_i\|^2 = 784`, labels :math:`\pm 1`; a fully
connected ReLU network in the *standard* parameterization (PyTorch-style
fan-in initialization), whose NTK grows with the width, so that a fixed step
size is relatively larger for wider networks; the sum loss
:math:`\tfrac12\|f(X;\theta) - y\|^2`, :math:`L^* = 0` (the network
interpolates); full-batch gradient descent with the diagnostics recorded by
:func:`lplr_core.training.gradient_descent`.

:func:`diagnosed_run` returns, for one (width, step size), the four
diagnostics of the paper's abstract in this book's operational form (NTK
spectral gap :math:`\lambda_{\min}(\Theta_t)`, parameter drift, PL ratio and its
lower envelope on the stable regime :math:`t \ge t_0`, suboptimality and its
fitted linear rate), the estimate :math:`\hat\mu = \lambda_0 - \hat
L_\Theta r` and the "stayed in the local regime" flag of :func:`local_regime`,
all read off the run by :func:`lplr_core.summary.summarize_run` (its stable
window and round-off floor). The stored keys ``certificate`` and
``certified_radius`` hold the *estimates* :math:`\hat\mu` and
:math:`\lambda_0 / \hat L_\Theta` (names kept for the notebooks that read them).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from lplr_core import tree_math
from lplr_core.data import binary_mnist
from lplr_core.models import MLP, param_count
from lplr_core.summary import summarize_run
from lplr_core.training import gradient_descent

__all__ = ["SETUP_KEYS", "PER_RUN_SCALARS", "CURVES", "check_config", "load_data",
           "diagnosed_run", "local_regime", "stack_runs"]

#: Configuration keys every MLP experiment must define.
SETUP_KEYS = ("digits", "n", "data_seed", "depth", "activation", "parameterization",
              "steps", "record_every", "ntk_every", "stable_from", "max_kernel_change",
              "lambda_min_fraction")


#: The summary numbers of :func:`diagnosed_run`, one per run in a multi-run result.
PER_RUN_SCALARS = ("param_count", "params0_norm", "diverged_at", "lambda0", "lambda_min_final",
                   "lambda_min_path", "lambda_max0", "kernel_change", "lipschitz_hat", "radius",
                   "certificate", "certified_radius", "final_drift", "final_relative_drift",
                   "max_loss", "final_loss", "pl_envelope_min", "rate", "rate_r2", "local",
                   "local_reason")
#: The curves of :func:`diagnosed_run`, stacked as ``(runs, records)`` in a multi-run result.
CURVES = ("loss", "grad_norm_sq", "drift", "relative_drift", "pl_ratio", "pl_envelope",
          "lambda_min", "lambda_max", "kernel_drift")


def check_config(config: dict, extra: tuple[str, ...] = ()) -> dict:
    """Every required key present (a clear error otherwise)."""
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict; got {type(config).__name__}")
    missing = [k for k in (*SETUP_KEYS, *extra) if k not in config]
    if missing:
        raise ValueError(f"config is missing the key(s) {missing}")
    if config["stable_from"] % config["record_every"] or config["stable_from"] >= config["steps"]:
        raise ValueError(f"config['stable_from'] must be a multiple of record_every="
                         f"{config['record_every']} and < steps={config['steps']}; got "
                         f"{config['stable_from']}")
    return config


def load_data(config: dict) -> tuple[jax.Array, jax.Array]:
    """The binary-MNIST sample of the set-up, float64 (needs ``jax_enable_x64``)."""
    if not jax.config.jax_enable_x64:
        raise RuntimeError("the MLP experiments run in float64: call "
                           "jax.config.update('jax_enable_x64', True) before running them "
                           "(python -m lplr_core.experiments does)")
    return binary_mnist(digits=tuple(config["digits"]), n=config["n"], seed=config["data_seed"],
                        center=True, normalize_rows=True, dtype="float64")


def local_regime(*, diverged: bool, loss: np.ndarray, lambda0: float, lambda_min: np.ndarray,
                 kernel_change: float, envelope_min: float, max_kernel_change: float,
                 lambda_min_fraction: float) -> tuple[bool, str]:
    r"""Did a run stay in the local regime? Our operational definition, all of:

    1. no divergence, and the loss never increases between records (inside a
       region where the descent lemma holds with :math:`\eta < 2/\beta`, gradient
       descent decreases the loss at every step; a rise means the run left it);
    2. the NTK stays nearly frozen: :math:`\max_t \|\Theta_t - \Theta_0\|_{op} /
       \lambda_{\max}(\Theta_0) \le` ``max_kernel_change``;
    3. the spectral gap survives: :math:`\min_t \lambda_{\min}(\Theta_t) \ge`
       ``lambda_min_fraction`` :math:`\cdot\,\lambda_0`;
    4. the PL-ratio lower envelope on the stable regime is positive.

    Returns ``(flag, reason)`` where ``reason`` names the first failed check.
    """
    if diverged:
        return False, "diverged"
    finite = loss[np.isfinite(loss)]
    if np.any(np.diff(finite) > 1e-12 * np.abs(finite[:-1])):
        return False, "loss increased"
    if kernel_change > max_kernel_change:
        return False, f"kernel moved {kernel_change:.3g} > {max_kernel_change:g} of its top eigenvalue"
    if np.nanmin(lambda_min) < lambda_min_fraction * lambda0:
        return False, f"lambda_min fell below {lambda_min_fraction:g} lambda_0"
    if not envelope_min > 0:
        return False, "PL envelope not positive"
    return True, "all checks passed"


def diagnosed_run(config: dict, x: jax.Array, y: jax.Array, *, width: int, step_size: float,
                  seed: int) -> dict[str, Any]:
    """Train one network and return its curves (float32) and summary numbers (float64)."""
    mlp = MLP((int(width),) * config["depth"], activation=config["activation"],
              parameterization=config["parameterization"])
    params0 = mlp.init(jax.random.PRNGKey(seed), x.shape[1], dtype="float64")
    traj = gradient_descent(mlp.apply, params0, x, y, step_size=float(step_size),
                            steps=config["steps"], record_every=config["record_every"],
                            ntk_every=config["ntk_every"])
    start = config["stable_from"] // config["record_every"]
    summary = summarize_run(traj, stable_from=config["stable_from"])
    # the envelope curve runs to the end of the run; its minimum is the summary's (on the
    # stable window, which ends at the round-off floor of lplr_core.summary)
    envelope = (np.asarray(traj.pl_envelope(start), float) if len(traj.pl_ratio) > start
                else np.array([np.nan]))
    r2 = float("nan") if summary.rate_fit is None else summary.rate_fit.r2
    lambda_max0 = summary.lambda_max0
    kernel_change = summary.kernel_drift_max / lambda_max0
    flag, reason = local_regime(
        diverged=traj.diverged, loss=traj.loss, lambda0=summary.lambda0,
        lambda_min=traj.lambda_min, kernel_change=kernel_change,
        envelope_min=summary.pl_envelope_min, max_kernel_change=config["max_kernel_change"],
        lambda_min_fraction=config["lambda_min_fraction"])
    f32 = np.float32
    return {
        "steps": traj.steps.astype(np.int32),
        "loss": traj.loss.astype(f32),
        "grad_norm_sq": traj.grad_norm_sq.astype(f32),
        "drift": traj.drift.astype(f32),
        "relative_drift": traj.relative_drift.astype(f32),
        "pl_ratio": traj.pl_ratio.astype(f32),
        "pl_envelope": envelope.astype(f32),
        "ntk_steps": traj.ntk_steps.astype(np.int32),
        "lambda_min": traj.lambda_min.astype(f32),
        "lambda_max": traj.lambda_max.astype(f32),
        "kernel_drift": traj.kernel_drift.astype(f32),
        "param_count": param_count(params0),
        "params0_norm": float(tree_math.norm(params0)),
        "diverged_at": -1 if traj.diverged_at is None else int(traj.diverged_at),
        "lambda0": summary.lambda0,
        "lambda_min_final": float(traj.lambda_min[-1]),
        "lambda_min_path": summary.lambda_min_path,
        "lambda_max0": lambda_max0,
        "kernel_change": kernel_change,
        "lipschitz_hat": summary.lipschitz_hat,
        "radius": summary.radius,
        # estimates (mu_hat and lambda0 / L_hat); the stored names are kept for the readers
        "certificate": summary.mu_hat,
        "certified_radius": summary.radius_hat,
        "final_drift": summary.final_drift,
        "final_relative_drift": summary.final_relative_drift,
        "max_loss": float(np.nanmax(traj.loss)),
        "final_loss": summary.loss_final,
        "pl_envelope_min": summary.pl_envelope_min,
        "rate": summary.rate_hat,
        "rate_r2": r2,
        "local": bool(flag),
        "local_reason": reason,
    }


def stack_runs(runs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The :func:`diagnosed_run` results of several runs as one flat result dict.

    ``steps`` and ``ntk_steps`` are the first run's; every name of
    :data:`PER_RUN_SCALARS` becomes an array with one entry per run, and every
    curve of :data:`CURVES` a float32 ``(runs, records)`` array padded with
    ``NaN`` (a diverged run has fewer records).
    """
    if not runs:
        raise ValueError("runs must hold at least one diagnosed_run result; got []")
    out = {"steps": runs[0]["steps"], "ntk_steps": runs[0]["ntk_steps"]}
    for key in PER_RUN_SCALARS:
        out[key] = np.asarray([r[key] for r in runs])
    for key in CURVES:
        length = max(len(r[key]) for r in runs)
        stacked = np.full((len(runs), length), np.nan, np.float32)
        for i, r in enumerate(runs):
            stacked[i, :len(r[key])] = r[key]
        out[key] = stacked
    return out
