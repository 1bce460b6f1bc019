r"""Beside the ReLU runs: an erf network in the NTK parameterization, across widths.

The book's MNIST experiments (:mod:`~lplr_core.experiments.mnist_mlp`,
:mod:`~lplr_core.experiments.width_ablation`) use ReLU in the standard
parameterization: the common practical choice, and one whose kernel grows with
the width, which is what makes a fixed step leave the local regime at the
largest width. ReLU fails hypothesis (b) by construction, though: Lipschitz
stability of the NTK needs a bounded :math:`\sigma''`, and ReLU has none.

This experiment runs the same data and the same diagnostics
(:func:`lplr_core.experiments._mlp.diagnosed_run`) with the smooth activation
erf (:math:`\sup|\sigma'| = 2/\sqrt\pi`, :math:`\sup|\sigma''| = 2\sqrt{2/(\pi e)}`)
in the **NTK parameterization**, at the widths of ``widths`` and one fixed
step size: an NTK-parameterization width ablation. In this parameterization the
kernel converges as the width grows (:math:`\lambda_{\max}(\Theta_0)` changes by
tens of percent from 64 to 2048, not by factors), so one step is equally stable
at every width, and the kernel's relative change over training shrinks with the
width: the lazy regime that the local analysis describes.

The step ``0.025`` is ours: below :math:`1/\lambda_{\max}(\Theta_0)` at every
width (the top eigenvalue is about 31 to 39 here), a round value, not tuned.
Per run, besides the diagnostics of ``_mlp`` (curves stacked as ``(runs,
records)``): ``beta0``, the sharpness :math:`\|\nabla^2 L(\theta_0)\|` by power
iteration (:func:`lplr_core.smoothness`), to compare with the proxy
:math:`\lambda_{\max}(\Theta_0)`.
"""

from __future__ import annotations

import jax
import numpy as np

from lplr_core.diagnostics import smoothness
from lplr_core.experiments._mlp import check_config, diagnosed_run, load_data, stack_runs
from lplr_core.models import MLP

NAME = "erf_ntk"
DESCRIPTION = ("erf MLP in the NTK parameterization on binary MNIST, widths 64..2048 at one "
               "fixed step: drift, kernel change, PL envelope, lambda_min, fitted rate")

FULL = {
    "digits": [0, 1], "n": 128, "data_seed": 0,
    "widths": [64, 128, 256, 512, 1024, 2048], "depth": 1, "activation": "erf",
    "parameterization": "ntk", "step_size": 0.025,
    "steps": 1000, "record_every": 5, "ntk_every": 50,
    "stable_from": 100,            # t_0: the stable regime is t >= 100
    "max_kernel_change": 0.25, "lambda_min_fraction": 0.5,   # local-regime flag (see _mlp)
    "smoothness_iters": 100,
}

#: Seconds, for tests: fewer samples, small widths, few steps (no claim about the story).
FAST = {**FULL, "n": 32, "widths": [16, 32, 64], "steps": 200, "stable_from": 50,
        "smoothness_iters": 20}


def _sharpness(config: dict, x, y, width: int, seed: int) -> float:
    """:math:`\\|\\nabla^2 L(\\theta_0)\\|` of the network ``diagnosed_run`` trains (same init)."""
    mlp = MLP((int(width),) * config["depth"], activation=config["activation"],
              parameterization=config["parameterization"])
    params0 = mlp.init(jax.random.PRNGKey(seed), x.shape[1], dtype="float64")
    return float(smoothness(mlp.apply, params0, x, y, iters=config["smoothness_iters"]))


def run(config: dict, *, seed: int = 0, progress=None) -> dict:
    """One run per width at the fixed step (seed = the networks' initialization seed)."""
    config = check_config(config, ("widths", "step_size", "smoothness_iters"))
    widths = [int(w) for w in config["widths"]]
    eta = float(config["step_size"])
    x, y = load_data(config)
    runs, betas = [], []
    for i, width in enumerate(widths):
        if progress:
            progress(i, len(widths), f"width {width}, eta {eta:g}")
        runs.append(diagnosed_run(config, x, y, width=width, step_size=eta, seed=seed))
        betas.append(_sharpness(config, x, y, width, seed))
    if progress:
        progress(len(widths), len(widths), "done")
    out = {"width": np.asarray(widths, np.int32),
           "step_size": np.full(len(widths), eta),
           "beta0": np.asarray(betas, np.float64),
           **stack_runs(runs)}
    return out


def summarize(results: dict) -> str:
    """One line per width."""
    head = (f"  {'width':>5} {'eta':>7} {'eta*lmax0':>9} {'eta*beta0':>9} {'drift':>7} "
            f"{'dTheta':>8} {'PL env':>8} {'lam0':>8} {'lamT':>8} {'rate q':>9}  local")
    lines = [head]
    for i in range(len(results["width"])):
        eta = float(results["step_size"][i])
        lines.append(
            f"  {int(results['width'][i]):>5} {eta:>7.3g} "
            f"{eta * float(results['lambda_max0'][i]):>9.3f} "
            f"{eta * float(results['beta0'][i]):>9.3f} {float(results['final_drift'][i]):>7.4g} "
            f"{float(results['kernel_change'][i]):>8.3g} "
            f"{float(results['pl_envelope_min'][i]):>8.4g} {float(results['lambda0'][i]):>8.4g} "
            f"{float(results['lambda_min_final'][i]):>8.4g} {float(results['rate'][i]):>9.6g}  "
            f"{'yes' if results['local'][i] else 'no'} ({results['local_reason'][i]})")
    return "\n".join(lines)
