r"""Binary MNIST, one MLP, full-batch gradient descent: the four diagnostics over training.

The paper reports (abstract, claim 7 of the book's list) that on binary MNIST
the NTK stays positive, the PL ratio has a positive lower envelope and the loss
decays geometrically on the stable regime. This experiment measures the same
four diagnostics in **this book's set-up** (see :mod:`lplr_core.experiments._mlp`;
the configuration below is ours, not the paper's):

* NTK spectral gap :math:`\lambda_{\min}(\Theta_t)` (and :math:`\lambda_{\max}`,
  the kernel drift :math:`\|\Theta_t - \Theta_0\|_{op}`), every ``ntk_every`` steps;
* parameter drift :math:`\|\theta_t - \theta_0\|` and its relative version;
* PL ratio :math:`\rho_t` and its lower envelope :math:`\min_{t_0 \le s \le t}\rho_s`
  on the stable regime :math:`t \ge t_0` = ``stable_from``;
* suboptimality :math:`L_t - L^*` (:math:`L^* = 0`) and the fitted linear rate
  (:func:`lplr_core.diagnostics.fit_linear_rate` on :math:`t \ge t_0`);

plus :math:`\lambda_0`, the path estimate :math:`\hat L_\Theta` and the
estimate :math:`\hat\mu = \lambda_0 - \hat L_\Theta r` with :math:`r = \max_t d_t` (stored as
``certificate``: an estimate, not a proof).
"""

from __future__ import annotations

from lplr_core.experiments._mlp import check_config, diagnosed_run, load_data

NAME = "mnist_mlp"
DESCRIPTION = ("Binary MNIST (digits 0/1), one-hidden-layer ReLU MLP, full-batch GD: NTK "
               "spectral gap, drift, PL ratio and envelope, suboptimality and fitted rate")

#: What the book shows. Ours: the paper's hyper-parameters are not known.
FULL = {
    "digits": [0, 1], "n": 128, "data_seed": 0,
    "width": 512, "depth": 1, "activation": "relu", "parameterization": "standard",
    "step_size": 1e-4, "steps": 2000, "record_every": 2, "ntk_every": 20,
    "stable_from": 100,            # t_0: the stable regime is t >= 100 (after the transient)
    "max_kernel_change": 0.25, "lambda_min_fraction": 0.5,   # local-regime flag (see _mlp)
}

#: Seconds, for tests: a smaller sample and network, fewer steps.
FAST = {**FULL, "n": 32, "width": 128, "steps": 300, "ntk_every": 20, "stable_from": 60}


def run(config: dict, *, seed: int = 0, progress=None) -> dict:
    """One diagnosed run (seed = the network's initialization seed)."""
    config = check_config(config, ("width", "step_size"))
    if progress:
        progress(0, 1, f"width {config['width']}, eta {config['step_size']:g}")
    x, y = load_data(config)
    out = diagnosed_run(config, x, y, width=config["width"], step_size=config["step_size"],
                        seed=seed)
    out["step_size"] = float(config["step_size"])
    out["width"] = int(config["width"])
    if progress:
        progress(1, 1, "done")
    return out


def summarize(results: dict) -> str:
    """A short table of the run's summary numbers."""
    rows = [
        ("width, step size", f"{results['width']}, {results['step_size']:g}"),
        ("diverged at", "never" if results["diverged_at"] < 0 else str(results["diverged_at"])),
        ("lambda_0 -> lambda_min final", f"{results['lambda0']:.4g} -> "
                                         f"{results['lambda_min_final']:.4g}"),
        ("min_t lambda_min(Theta_t)", f"{results['lambda_min_path']:.4g}"),
        ("final drift (abs, rel)", f"{results['final_drift']:.4g}, "
                                   f"{results['final_relative_drift']:.4g}"),
        ("PL envelope on t >= t0", f"{results['pl_envelope_min']:.4g}"),
        ("fitted rate q (R^2)", f"{results['rate']:.6g} ({results['rate_r2']:.3g})"),
        ("L_hat_Theta, r, mu_hat (estimate)",
         f"{results['lipschitz_hat']:.4g}, {results['radius']:.4g}, "
         f"{results['certificate']:.4g}"),
        ("final loss", f"{results['final_loss']:.4g}"),
        ("stayed local", f"{bool(results['local'])} ({results['local_reason']})"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)
