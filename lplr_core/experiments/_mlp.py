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
fitted linear rate), the certificate :math:`\hat\mu = \lambda_0 - \hat
L_\Theta r` and the "stayed in the local regime" flag of :func:`local_regime`.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

import lplr_core as lp
from lplr_core.data import binary_mnist

__all__ = ["SETUP_KEYS", "check_config", "load_data", "diagnosed_run", "local_regime"]

#: Configuration keys every MLP experiment must define.
SETUP_KEYS = ("digits", "n", "data_seed", "depth", "activation", "parameterization",
              "steps", "record_every", "ntk_every", "stable_from", "max_kernel_change",
              "lambda_min_fraction")


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
    mlp = lp.MLP((int(width),) * config["depth"], activation=config["activation"],
                 parameterization=config["parameterization"])
    params0 = mlp.init(jax.random.PRNGKey(seed), x.shape[1], dtype="float64")
    traj = lp.gradient_descent(mlp.apply, params0, x, y, step_size=float(step_size),
                               steps=config["steps"], record_every=config["record_every"],
                               ntk_every=config["ntk_every"])
    start = config["stable_from"] // config["record_every"]
    envelope = traj.pl_envelope(start) if len(traj.pl_ratio) > start else np.array([np.nan])
    envelope_min = float(np.nanmin(envelope)) if np.isfinite(envelope).any() else float("nan")
    lipschitz = traj.lipschitz_estimate()
    radius = float(np.nanmax(traj.drift))
    try:
        fit = traj.fit_rate(start=start)
        rate, r2 = fit.rate, fit.r2
    except ValueError:  # diverged or converged to round-off inside the window
        rate, r2 = float("nan"), float("nan")
    lambda_max0 = float(traj.lambda_max[0])
    kernel_change = float(np.nanmax(traj.kernel_drift)) / lambda_max0
    flag, reason = local_regime(
        diverged=traj.diverged, loss=traj.loss, lambda0=traj.lambda0,
        lambda_min=traj.lambda_min, kernel_change=kernel_change, envelope_min=envelope_min,
        max_kernel_change=config["max_kernel_change"],
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
        "param_count": lp.param_count(params0),
        "params0_norm": float(lp.tree_norm(params0)),
        "diverged_at": -1 if traj.diverged_at is None else int(traj.diverged_at),
        "lambda0": traj.lambda0,
        "lambda_min_final": float(traj.lambda_min[-1]),
        "lambda_min_path": float(np.nanmin(traj.lambda_min)),
        "lambda_max0": lambda_max0,
        "kernel_change": kernel_change,
        "lipschitz_hat": lipschitz,
        "radius": radius,
        "certificate": float(lp.certificate(traj.lambda0, lipschitz, radius)),
        "certified_radius": float(lp.certified_radius(traj.lambda0, lipschitz)),
        "final_drift": float(traj.drift[-1]),
        "final_relative_drift": float(traj.relative_drift[-1]),
        "max_loss": float(np.nanmax(traj.loss)),
        "final_loss": float(traj.loss[-1]),
        "pl_envelope_min": envelope_min,
        "rate": rate,
        "rate_r2": r2,
        "local": bool(flag),
        "local_reason": reason,
    }
