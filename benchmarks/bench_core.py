#!/usr/bin/env python
r"""Performance floors of lplr_core, measured in one run (float32, CPU by default).

    python benchmarks/bench_core.py            # the issue's sizes (< 5 min on 2 cores)
    python benchmarks/bench_core.py --quick    # shrunk sizes, a smoke test (< 60 s)
    python benchmarks/bench_core.py --out path/to/results.json --strict

Four floors, each reported as a measured ratio next to its floor with PASS/FAIL:

1. ``empirical_ntk(..., method="auto")`` (which picks ``"structured"`` for an
   ``MLP``) is >= 100x faster than ``method="jacobian"`` on MLP 784-512-512-1,
   n=256. The two kernels must agree (relative max error ~1e-4 in float32).
   ``"ntvp"`` is timed for information.
2. The achieved FLOP rate of the default NTK on MLP 784-1024-1024-1, n=512, is
   >= 30% of a plain jitted float32 matmul's rate measured in the same run. The
   FLOP count is derived here from the algorithm (see :func:`structured_flops`)
   and compared with ``ntk_cost`` and XLA's own cost analysis.
3. Peak resident memory of the default NTK at n=1000, d=784, MLP((4096, 4096)),
   measured in a fresh child process with ``resource.getrusage``: <= 2 GiB.
4. ``gradient_descent`` (one compiled ``lax.scan``) on n=256, d=784,
   MLP((256,)), 1000 steps, ``record_every=10`` is >= 3x faster than a Python
   loop over a jitted step with a jitted record every 10 steps pulled to host.

5. Issue 11 section 1, the generic paths: (a) ``method="jacobian"`` on MLP
   784-1024-1024-1, n=512, at >= 0.5 of the best float32 matmul rate measured
   before and after it, on its own FLOP count (:func:`jacobian_flops`), timed in
   interleaved rounds against ``method="jaxpr"`` (structured derivatives read from
   the jaxpr, a different method: its rate is reported on the jacobian's FLOP count
   and on its own, for information); (b) ``method="ntvp"`` at least as fast as
   NTK-vector products written from Novak et al. 2022 (:func:`_novak_ntvp`;
   neural-tangents itself does not run on this jax); (c) ``method="structured"`` or
   ``method="jaxpr"`` for ``CNN`` and ``ResNetCNN`` at the book's sizes >= 10x
   ``method="jacobian"`` (and, for information, at wider sizes). Every ratio is
   measured in the same run, with at least 3 repeats or interleaved rounds, and the
   load average is recorded next to it.

Timing protocol: each measurement calls the function once to compile (reported
as ``first_call_s``), then takes the median of ``repeats`` further calls, each
ended with ``jax.block_until_ready``. The machine may be shared and noisy, so
the JSON keeps every repeat and the load average before and after.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "core.json"
GIB = 1024 ** 3

# Sizes of the issue (full) and of the smoke test (--quick).
SIZES = {
    "full": {
        "speedup": dict(n=256, d=784, widths=(512, 512), ntvp_n=256, rounds=5),
        "flops": dict(n=512, d=784, widths=(1024, 1024)),
        "memory": dict(n=1000, d=784, widths=(4096, 4096)),
        "gd": dict(n=256, d=784, widths=(256,), steps=1000, record_every=10, ntk_every=100),
        "gd_small": dict(n=64, d=16, widths=(32,), steps=1000, record_every=10),
        "generic": dict(jac_n=512, jac_d=784, jac_widths=(1024, 1024),
                        ntvp_n=64, ntvp_d=784, ntvp_widths=(256, 256),
                        conv_n=64, image_shape=(14, 14, 1), cnn_channels=(8, 16),
                        resnet_channels=8, resnet_blocks=2,
                        wide_cnn_channels=(64, 128), wide_resnet_channels=64),
    },
    "quick": {
        "speedup": dict(n=64, d=784, widths=(512, 512), ntvp_n=32, rounds=2),
        "flops": dict(n=128, d=784, widths=(256, 256)),
        "memory": dict(n=200, d=784, widths=(1024, 1024)),
        "gd": dict(n=64, d=784, widths=(64,), steps=200, record_every=10, ntk_every=100),
        "gd_small": dict(n=32, d=16, widths=(16,), steps=200, record_every=10),
        "generic": dict(jac_n=128, jac_d=784, jac_widths=(256, 256),
                        ntvp_n=32, ntvp_d=784, ntvp_widths=(128, 128),
                        conv_n=16, image_shape=(14, 14, 1), cnn_channels=(4, 8),
                        resnet_channels=4, resnet_blocks=1,
                        wide_cnn_channels=(16, 32), wide_resnet_channels=16),
    },
}

FLOORS = {
    "ntk_speedup": 100.0,      # jacobian time / default time, at least
    "ntk_flop_fraction": 0.30,  # default NTK GFLOP/s / matmul GFLOP/s, at least
    "ntk_peak_rss_bytes": 2 * GIB,  # at most
    "gd_speedup": 3.0,          # python loop time / gradient_descent time, at least
    # issue 11 section 1: the generic paths
    "jacobian_flop_fraction": 0.5,   # method="jacobian" GFLOP/s (own count) / matmul, at least
    "ntvp_vs_reference": 1.0,        # reference NTVP time / method="ntvp" time, at least
    "conv_structured_speedup": 10.0,  # method="jacobian" time / method="structured" time
}


# ----------------------------------------------------------------------------- timing

def timed(fn, repeats):
    """Call ``fn`` once (compile + run), then ``repeats`` times; block on every result.

    Returns ``{"median_s", "min_s", "times_s", "first_call_s"}`` and the last result.
    """
    import jax

    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "times_s": times,
            "first_call_s": first}, out


def timed_interleaved(fns, rounds, inner=None):
    """Time several functions in alternation so that load drift on a shared machine
    hits them alike: warm each up once, then ``rounds`` rounds in which each function
    runs ``inner[name]`` times (default 1). Returns ``({name: stats}, {name: result})``.
    """
    import jax

    inner = inner or {}
    stats, outs = {}, {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        outs[name] = jax.block_until_ready(fn())
        stats[name] = {"first_call_s": time.perf_counter() - t0, "times_s": []}
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(inner.get(name, 1)):
                t0 = time.perf_counter()
                outs[name] = jax.block_until_ready(fn())
                stats[name]["times_s"].append(time.perf_counter() - t0)
    for st in stats.values():
        st["median_s"] = statistics.median(st["times_s"])
        st["min_s"] = min(st["times_s"])
    return stats, outs


def paired_ratio(num, den, den_inner=1):
    """Median over interleaved rounds of num_time / den_time (den's per-round median when
    it ran ``den_inner`` times a round): robust to load that drifts between rounds."""
    den_t = den["times_s"]
    per_round = [statistics.median(den_t[i:i + den_inner])
                 for i in range(0, len(den_t), den_inner)]
    return statistics.median(a / b for a, b in zip(num["times_s"], per_round))


def rel_max_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# ------------------------------------------------------------------------ flop count

def structured_flops(sizes, n):
    r"""FLOPs of the structured NTK :math:`\Theta(X, X)` for an MLP, from the algorithm.

    ``sizes = (n_0, n_1, ..., n_L, 1)``, layers ``l = 1..L+1`` with weights
    ``W_l`` of shape ``(n_{l-1}, n_l)``. One call with ``x2=None`` evaluates the
    activations and sensitivities once:

    * forward: ``h_l = a H_{l-1} W_l + c b_l``, ``2 n n_{l-1} n_l`` per layer;
    * backward sensitivities ``G_{l-1} = a (G_l W_l^T) * phi'(h_{l-1})`` for
      ``l = L+1..2``: ``2 n n_{l-1} n_l`` each (the first layer is not needed);
    * Gram matrices per layer: ``H_{l-1} H_{l-1}^T`` is ``2 n^2 n_{l-1}`` and
      ``G_l G_l^T`` is ``2 n^2 n_l`` (XLA forms the full product, not a syrk);
    * Hadamard terms: ``K += a^2 * HH * GG + c^2 * GG`` is 4 n^2 per layer,
      plus the symmetrization ``(K + K^T) / 2`` (2 n^2);
    * elementwise O(n N) terms (activations, derivatives, biases) are counted
      too but are negligible.
    """
    layers = list(zip(sizes[:-1], sizes[1:]))
    forward = sum(2 * n * a * b for a, b in layers)
    backward = sum(2 * n * a * b for a, b in layers[1:])
    gram_h = sum(2 * n * n * a for a, _ in layers)
    gram_g = sum(2 * n * n * b for _, b in layers)
    hadamard = 4 * n * n * len(layers) + 2 * n * n
    hidden = sum(sizes[1:-1])
    elementwise = n * (2 * sum(sizes[1:])        # bias add + scale
                       + 2 * hidden              # activation, derivative
                       + 2 * hidden)             # sensitivity scale and product
    parts = {"forward": forward, "backward": backward, "gram_HHt": gram_h, "gram_GGt": gram_g,
             "hadamard": hadamard, "elementwise": elementwise}
    parts = {k: float(v) for k, v in parts.items()}
    parts["total"] = float(sum(parts.values()))
    return parts


# --------------------------------------------------------------------- benchmarks

def _data(n, d, seed=1):
    """Inputs with ||x_i||^2 ~ d (standard normal entries), float32."""
    import jax
    import jax.numpy as jnp
    return jax.random.normal(jax.random.PRNGKey(seed), (n, d), jnp.float32)


def bench_speedup(cfg, log):
    """Floor 1: default (structured) NTK vs Jacobian contraction; ntvp for information."""
    import jax
    from lplr_core import MLP, empirical_ntk
    from lplr_core.ntk import kernel_fn

    n, d, widths = cfg["n"], cfg["d"], cfg["widths"]
    mlp = MLP(widths)
    params = mlp.init(0, d)
    x = _data(n, d)
    log(f"[1] NTK speed-up: MLP {d}-{'-'.join(map(str, widths))}-1, n={n}")

    # The compiled kernel alone (no argument validation / eager post-processing)
    # shows how much of the public call is Python overhead.
    kjit = jax.jit(kernel_fn(mlp.apply, "structured"))
    stats, outs = timed_interleaved(
        {"auto": lambda: empirical_ntk(mlp.apply, params, x),
         "kernel_fn_jit": lambda: kjit(params, x),
         "jacobian": lambda: empirical_ntk(mlp.apply, params, x, method="jacobian")},
        rounds=cfg["rounds"], inner={"auto": 5, "kernel_fn_jit": 5})
    t_auto, t_kernel, t_jac = stats["auto"], stats["kernel_fn_jit"], stats["jacobian"]
    k_auto, k_jac = outs["auto"], outs["jacobian"]
    log(f"    auto (structured): {t_auto['median_s'] * 1e3:9.2f} ms")
    log(f"    jitted kernel_fn : {t_kernel['median_s'] * 1e3:9.2f} ms")
    log(f"    jacobian         : {t_jac['median_s'] * 1e3:9.2f} ms")

    nv = cfg["ntvp_n"]
    xv = x[:nv]
    t_ntvp, k_ntvp = timed(lambda: empirical_ntk(mlp.apply, params, xv, method="ntvp"), 1)
    log(f"    ntvp (n={nv})     : {t_ntvp['median_s'] * 1e3:9.2f} ms (1 repeat)")

    err_jac = rel_max_err(k_auto, k_jac)
    err_ntvp = rel_max_err(np.asarray(k_auto)[:nv, :nv], k_ntvp)
    ratio = t_jac["median_s"] / t_auto["median_s"]
    ratio_kernel = t_jac["median_s"] / t_kernel["median_s"]
    log(f"    ratio jacobian / auto = {ratio:.1f} (paired rounds "
        f"{paired_ratio(t_jac, t_auto, 5):.1f}); max rel. error vs jacobian {err_jac:.1e}")
    floor = FLOORS["ntk_speedup"]
    agree = err_jac < 1e-4
    # "auto" must have picked "structured": its kernel equals the structured one.
    err_struct = rel_max_err(k_auto, outs["kernel_fn_jit"])
    return {
        "config": {"n": n, "d": d, "widths": list(widths), "ntvp_n": nv,
                   "p": int(sum(np.size(v) for layer in params for v in layer.values()))},
        "dtype": str(k_auto.dtype),
        "timing": "interleaved rounds: per round 5x auto, 5x jitted kernel_fn, 1x jacobian",
        "time_auto": t_auto, "time_kernel_fn_jit": t_kernel, "time_jacobian": t_jac,
        "time_ntvp": t_ntvp,
        "rel_max_err_auto_vs_structured": err_struct, "auto_is_structured": err_struct < 1e-6,
        "agreement_threshold": 1e-4,
        "rel_max_err_auto_vs_jacobian": err_jac, "rel_max_err_auto_vs_ntvp": err_ntvp,
        "speedup": ratio, "speedup_kernel_only": ratio_kernel,
        "speedup_paired_rounds": paired_ratio(t_jac, t_auto, 5),
        "floor": floor, "pass": bool(ratio >= floor and agree), "kernels_agree": bool(agree),
    }


def bench_flops(cfg, repeats, log):
    """Floor 2: achieved FLOP rate of the default NTK vs a plain float32 matmul."""
    import jax
    import jax.numpy as jnp
    from lplr_core import MLP, empirical_ntk
    from lplr_core.ntk import kernel_fn, ntk_cost

    n, d, widths = cfg["n"], cfg["d"], cfg["widths"]
    mlp = MLP(widths)
    params = mlp.init(0, d)
    x = _data(n, d)
    sizes = mlp.layer_sizes(d)
    log(f"[2] NTK FLOP rate: MLP {d}-{'-'.join(map(str, widths))}-1, n={n}")

    ours = structured_flops(sizes, n)
    lib = float(ntk_cost(mlp.apply, params, x)["structured"]["flops"])
    try:
        ca = jax.jit(kernel_fn(mlp.apply, "structured")).lower(params, x).compile().cost_analysis()
        if isinstance(ca, (list, tuple)):
            ca = ca[0]
        xla = float(ca.get("flops", float("nan")))
    except Exception:  # cost analysis is best effort
        xla = float("nan")
    flops = ours["total"]
    log(f"    FLOPs (own count): {flops:.4g}  [ntk_cost: {lib:.4g} "
        f"({lib / flops:.2f}x), XLA cost_analysis: {xla:.4g} ({xla / flops:.2f}x)]")

    # Matmul references first and last around the NTK, so drift of a noisy machine
    # shows; the reference rate is the best matmul rate seen (conservative).
    mm = jax.jit(lambda a, b: a @ b)
    key = jax.random.PRNGKey(2)
    shapes = [(1024, 1024, 1024), (512, 1024, 512)]
    mats = {s: (jax.random.normal(key, (s[0], s[1]), jnp.float32),
                jax.random.normal(key, (s[1], s[2]), jnp.float32)) for s in shapes}

    def matmuls(tag):
        out = {}
        for (m_, k_, n_), (a, b) in mats.items():
            t, _ = timed(lambda: mm(a, b), max(repeats, 7))
            f = 2.0 * m_ * k_ * n_
            out[f"{m_}x{k_}@{k_}x{n_}"] = {"flops": f, **t,
                                            "gflops_per_s": f / t["median_s"] / 1e9}
        return out

    mm_before = matmuls("before")
    t_ntk, _ = timed(lambda: empirical_ntk(mlp.apply, params, x), max(repeats, 7))
    kjit = jax.jit(kernel_fn(mlp.apply, "structured"))
    t_kernel, _ = timed(lambda: kjit(params, x), max(repeats, 7))
    mm_after = matmuls("after")

    best_mm = max(v["gflops_per_s"] for v in (*mm_before.values(), *mm_after.values()))
    rate = flops / t_ntk["median_s"] / 1e9
    rate_kernel = flops / t_kernel["median_s"] / 1e9
    for tag, block in (("before", mm_before), ("after", mm_after)):
        for name, v in block.items():
            log(f"    matmul {name:>20} ({tag}): {v['median_s'] * 1e3:7.2f} ms "
                f"{v['gflops_per_s']:7.1f} GFLOP/s")
    log(f"    NTK (auto)        : {t_ntk['median_s'] * 1e3:7.2f} ms {rate:7.1f} GFLOP/s")
    log(f"    NTK (jit kernel)  : {t_kernel['median_s'] * 1e3:7.2f} ms {rate_kernel:7.1f} GFLOP/s")
    fraction = rate / best_mm
    floor = FLOORS["ntk_flop_fraction"]
    return {
        "config": {"n": n, "d": d, "widths": list(widths), "layer_sizes": list(sizes)},
        "flops_own_count": ours, "flops_ntk_cost": lib, "flops_xla_cost_analysis": xla,
        "ntk_cost_over_own": lib / flops,
        "ntk_cost_matches_own_count": bool(abs(lib / flops - 1) < 0.05),
        "time_auto": t_ntk, "time_kernel_fn_jit": t_kernel,
        "gflops_per_s_auto": rate, "gflops_per_s_kernel_only": rate_kernel,
        "matmul_before": mm_before, "matmul_after": mm_after,
        "matmul_reference_gflops_per_s": best_mm,
        "fraction_of_matmul": fraction, "fraction_of_matmul_kernel_only": rate_kernel / best_mm,
        "floor": floor, "pass": bool(fraction >= floor),
    }


def jacobian_flops(params, n, plan, symmetric=True):
    """FLOPs of ``method="jacobian"`` from its plan (lplr_core.ntk._jacobian_plan):
    for every group of leaves of total size s and every contracted pair of sample blocks (rows r, cols c),
    2 r c s for the Gram block; for every block of per-sample gradients formed, 3 forward
    passes (forward + backward, F = 2 p per sample) per sample."""
    import jax

    leaves = jax.tree_util.tree_leaves(params)
    p = sum(int(np.size(leaf)) for leaf in leaves)
    gram, rows, entries = 0.0, 0, 0
    for group, row_blocks, col_blocks in plan:
        s = sum(int(np.size(leaves[i])) for i in group)
        for bi, (r0, r1) in enumerate(row_blocks):
            if not (symmetric and bi > 0):   # symmetric: row bi > 0 reuses column bi's
                rows += r1 - r0
                entries += (r1 - r0) * s
            for bj, (c0, c1) in enumerate(col_blocks):
                if symmetric and bj < bi:
                    continue
                gram += 2.0 * (r1 - r0) * (c1 - c0) * s
                if not (symmetric and bj == bi):
                    rows += c1 - c0
                    entries += (c1 - c0) * s
    grads = 3.0 * 2.0 * p * rows
    return {"gram": gram, "per_sample_grads": grads, "total": gram + grads,
            "gradient_rows_formed": rows, "gradient_entries_formed": entries,
            "full_contraction_2n2p": 2.0 * n * n * p}


def _matmul_rates(repeats):
    import jax
    import jax.numpy as jnp

    mm = jax.jit(lambda a, b: a @ b)
    key = jax.random.PRNGKey(2)
    out = {}
    for m_, k_, n_ in [(1024, 1024, 1024), (512, 1024, 512)]:
        a = jax.random.normal(key, (m_, k_), jnp.float32)
        b = jax.random.normal(key, (k_, n_), jnp.float32)
        t, _ = timed(lambda: mm(a, b), max(repeats, 7))
        f = 2.0 * m_ * k_ * n_
        out[f"{m_}x{k_}@{k_}x{n_}"] = {"flops": f, **t, "gflops_per_s": f / t["median_s"] / 1e9}
    return out


def _novak_ntvp(apply_fn):
    """Reference NTK-vector products, written from Novak et al. 2022 (neural-tangents'
    ``NtkImplementation.NTK_VECTOR_PRODUCTS``): one VJP through f(X2), then all n2
    basis cotangents at once, vmapped, each followed by a JVP through f(X1)."""
    import jax
    import jax.numpy as jnp

    @jax.jit
    def ntk(params, x1, x2):
        _, vjp = jax.vjp(lambda p: apply_fn(p, x2), params)

        def column(e):
            (tangent,) = vjp(e)
            return jax.jvp(lambda p: apply_fn(p, x1), (params,), (tangent,))[1]

        return jax.vmap(column)(jnp.eye(x2.shape[0], dtype=x2.dtype)).T

    return ntk


def bench_generic(cfg, repeats, log):
    """Issue 11 section 1: the generic NTK paths.

    (a) ``method="jacobian"``'s FLOP rate on its own FLOP count (:func:`jacobian_flops`)
        over the best float32 matmul rate measured before and after it, in the same run;
    (b) ``method="ntvp"`` against :func:`_novak_ntvp` (interleaved rounds);
    (c) ``method="structured"`` for CNN and ResNetCNN against ``method="jacobian"``
        (interleaved rounds), with the kernels' agreement.
    """
    import jax
    import jax.numpy as jnp
    import lplr_core.ntk as ntk_module
    from lplr_core import CNN, MLP, ResNetCNN, empirical_ntk, param_count
    from lplr_core.structured import jaxpr_ntk_flops, jaxpr_structure

    out = {"config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}}

    # (a) jacobian FLOP rate
    n, d, widths = cfg["jac_n"], cfg["jac_d"], cfg["jac_widths"]
    mlp = MLP(widths)
    params = mlp.init(0, d)
    x = _data(n, d)
    log(f"[5a] jacobian FLOP rate: MLP {d}-{'-'.join(map(str, widths))}-1, n={n}")
    plan = ntk_module._jacobian_plan(params, n, n, 4, ntk_module.DEFAULT_MEMORY_BUDGET)
    fl = jacobian_flops(params, n, plan)
    # A vs B in interleaved rounds: the Jacobian contraction (the generic path) and the
    # structured derivatives read from the jaxpr (method="jaxpr", a different method:
    # it never forms the per-sample gradients of the weight matrices), with matmul rates
    # measured before and after. (The column-chunked Gram against one product per block
    # was measured in earlier runs: benchmarks/README.md.)
    load_before = os.getloadavg()
    mm_before = _matmul_rates(repeats)
    stats, outs = timed_interleaved({
        "jacobian": lambda: empirical_ntk(mlp.apply, params, x, method="jacobian",
                                          shard=False),
        "jaxpr": lambda: empirical_ntk(mlp.apply, params, x, method="jaxpr", shard=False)},
        repeats)
    mm_after = _matmul_rates(repeats)
    load_after = os.getloadavg()
    t_jac, t_jx = stats["jacobian"], stats["jaxpr"]
    best_mm = max(v["gflops_per_s"] for v in (*mm_before.values(), *mm_after.values()))
    rates = [fl["total"] / t / 1e9 for t in t_jac["times_s"]]
    frac = fl["total"] / t_jac["median_s"] / 1e9 / best_mm
    speedup_jx = paired_ratio(t_jac, t_jx)
    err_jx = rel_max_err(outs["jaxpr"], outs["jacobian"])
    # The jaxpr method's own FLOP count: one batched forward and backward pass (3 forward
    # passes of 2p per sample) plus its contractions (lplr_core.structured.jaxpr_ntk_flops).
    structure = jaxpr_structure(mlp.apply, params, x)
    jx_own = 3.0 * 2.0 * param_count(params) * n + jaxpr_ntk_flops(structure, params, n, n)
    jx_frac_same = fl["total"] / t_jx["median_s"] / 1e9 / best_mm
    jx_frac_own = jx_own / t_jx["median_s"] / 1e9 / best_mm
    # Bytes of per-sample gradients written (and read back by the Gram products): the
    # part of the work that is memory traffic rather than FLOPs.
    grad_bytes = 4.0 * fl["gradient_entries_formed"]
    gram_at_mm = fl["gram"] / (best_mm * 1e9)
    log(f"    FLOPs (own count) {fl['total']:.4g} (2 n^2 p = {fl['full_contraction_2n2p']:.4g}); "
        f"{t_jac['median_s']:.2f} s median of {[round(t, 2) for t in t_jac['times_s']]}; "
        f"matmul best {best_mm:.1f} GFLOP/s -> {frac:.2f}")
    log(f"    per-sample gradients written {grad_bytes / GIB:.2f} GiB; Gram alone at the "
        f"matmul rate {gram_at_mm:.2f} s")
    log(f"    jaxpr (structured derivatives, a different method): {t_jx['median_s']:.3f} s "
        f"median of {[round(t, 3) for t in t_jx['times_s']]} -> {speedup_jx:.0f}x the "
        f"jacobian (paired rounds); on the jacobian's FLOP count {jx_frac_same:.1f} of "
        f"matmul, on its own ({jx_own:.3g} FLOPs) {jx_frac_own:.2f}; err {err_jx:.1e}; "
        f"load {load_before[0]:.1f} -> {load_after[0]:.1f}")
    # The floor: forming the largest block of per-sample gradients alone, against a
    # plain broadcast write of the same size (what memory bandwidth allows).
    leaves = jax.tree_util.tree_leaves(params)
    group, rows_b, _ = max(plan, key=lambda e: sum(int(np.size(leaves[i])) for i in e[0]))
    size = sum(int(np.size(leaves[i])) for i in group)
    r0, r1 = rows_b[0]
    form = jax.jit(lambda p_, xb: ntk_module._leaf_grads(mlp.apply, p_, group, xb))
    write = jax.jit(lambda xb: jnp.broadcast_to(xb[:, :1], (xb.shape[0], size)) * 2.0)
    fstats, _ = timed_interleaved({"form": lambda: form(params, x[r0:r1]),
                                   "write": lambda: write(x[r0:r1])}, repeats)
    block_bytes = 4.0 * (r1 - r0) * size
    form_rate = block_bytes / fstats["form"]["median_s"]
    write_rate = block_bytes / fstats["write"]["median_s"]
    attainable = fl["total"] / (gram_at_mm + grad_bytes / form_rate) / (best_mm * 1e9)
    log(f"    forming one block ({r1 - r0} x {size}): {form_rate / 1e9:.2f} GB/s; a plain "
        f"write of its size {write_rate / 1e9:.2f} GB/s -> attainable with this forming "
        f"(Gram at the best matmul rate): {attainable:.2f} of matmul")
    out["jacobian_floor"] = {"block": [r1 - r0, size], "time_form": fstats["form"],
                             "time_plain_write": fstats["write"],
                             "form_bytes_per_s": form_rate, "write_bytes_per_s": write_rate,
                             "attainable_fraction_with_this_forming": attainable}
    out["jacobian"] = {"plan": [[list(g), list(map(list, r)), list(map(list, c))]
                                for g, r, c in plan],
                       "flops": fl, "time": t_jac, "gflops_per_s_each_repeat": rates,
                       "load_average_before": load_before, "load_average_after": load_after,
                       "gram_chunk_bytes": ntk_module._GRAM_CHUNK_BYTES,
                       "gradient_bytes_formed": grad_bytes,
                       "gram_seconds_at_matmul_rate": gram_at_mm,
                       "matmul_before": mm_before, "matmul_after": mm_after,
                       "matmul_reference_gflops_per_s": best_mm,
                       "fraction_of_matmul": frac,
                       "fraction_of_matmul_spread": [min(rates) / best_mm, max(rates) / best_mm],
                       "floor": FLOORS["jacobian_flop_fraction"],
                       "pass": bool(frac >= FLOORS["jacobian_flop_fraction"])}
    out["jaxpr"] = {"time": t_jx, "speedup_vs_jacobian": speedup_jx,
                    "speedup_each_round": [a / b for a, b in zip(t_jac["times_s"],
                                                                 t_jx["times_s"])],
                    "rel_max_err_vs_jacobian": err_jx,
                    "structured_leaves": list(structure.structured),
                    "fallback_leaves": list(structure.fallback),
                    "flops_own": jx_own,
                    "fraction_of_matmul_on_jacobian_flops": jx_frac_same,
                    "fraction_of_matmul_on_own_flops": jx_frac_own,
                    "note": "a different method from the Jacobian contraction: the issue's "
                            "floor is for method='jacobian' (out['jacobian'])"}

    # (b) ntvp vs the reference formulation
    n, d, widths = cfg["ntvp_n"], cfg["ntvp_d"], cfg["ntvp_widths"]
    mlp = MLP(widths)
    params = mlp.init(0, d)
    x = _data(n, d)
    log(f"[5b] ntvp vs reference NTVP: MLP {d}-{'-'.join(map(str, widths))}-1, n={n}")
    ref = _novak_ntvp(mlp.apply)
    stats, outs = timed_interleaved({
        "ntvp": lambda: empirical_ntk(mlp.apply, params, x, x, method="ntvp", shard=False),
        "reference": lambda: ref(params, x, x)}, max(repeats, 3))
    ratio = paired_ratio(stats["reference"], stats["ntvp"])
    ratios = [a / b for a, b in zip(stats["reference"]["times_s"], stats["ntvp"]["times_s"])]
    err = rel_max_err(outs["ntvp"], outs["reference"])
    log(f"    ntvp {stats['ntvp']['median_s']:.3f} s, reference {stats['reference']['median_s']:.3f} s"
        f" -> reference/ntvp {ratio:.2f} (rounds {[round(r, 2) for r in ratios]}); err {err:.1e}")
    out["ntvp"] = {"time_ntvp": stats["ntvp"], "time_reference": stats["reference"],
                   "ratio_reference_over_ntvp": ratio, "ratio_each_round": ratios,
                   "rel_max_err": err, "floor": FLOORS["ntvp_vs_reference"],
                   "pass": bool(ratio >= FLOORS["ntvp_vs_reference"] and err < 1e-4)}

    # (c) the structured conv rules (the models' own, method="structured", and the one read
    # from the jaxpr, method="jaxpr") vs the generic Jacobian contraction, interleaved;
    # at the book's sizes (floor) and wider (information).
    n, shape = cfg["conv_n"], tuple(cfg["image_shape"])
    models = {"cnn": CNN(cfg["cnn_channels"], shape),
              "resnet": ResNetCNN(cfg["resnet_channels"], cfg["resnet_blocks"], shape),
              "cnn_wide": CNN(cfg["wide_cnn_channels"], shape),
              "resnet_wide": ResNetCNN(cfg["wide_resnet_channels"], cfg["resnet_blocks"],
                                       shape)}
    for name, model in models.items():
        params = model.init(0, model.input_dim)
        x = _data(n, model.input_dim)
        load0 = os.getloadavg()[0]
        fns = {method: (lambda method=method: empirical_ntk(model.apply, params, x,
                                                            method=method, shard=False))
               for method in ("jacobian", "structured", "jaxpr")}
        # What any rule must at least compute, timed in the same rounds (jitted, batched):
        # the forward pass (every rule needs the activations: a hard bound), and the forward
        # pass with the backward pass to the inputs (the gradient of the summed outputs in x:
        # the per-sample cotangents at every layer, which a structured rule contracts, and no
        # weight gradients). No rule can beat the jacobian by more than jacobian / that time.
        forward = jax.jit(model.apply)
        to_inputs = jax.jit(jax.grad(lambda p, x_: jnp.sum(model.apply(p, x_)), argnums=1))
        fns["forward"] = lambda: forward(params, x)
        fns["backward_to_inputs"] = lambda: to_inputs(params, x)
        stats, outs = timed_interleaved(fns, max(repeats, 5))
        load1 = os.getloadavg()[0]
        bound = paired_ratio(stats["jacobian"], stats["backward_to_inputs"])
        bound_fwd = paired_ratio(stats["jacobian"], stats["forward"])
        row = {"model": repr(model), "p": param_count(params),
               "time_jacobian": stats["jacobian"], "time_forward": stats["forward"],
               "time_backward_to_inputs": stats["backward_to_inputs"],
               "speedup_bound_forward": bound_fwd,
               "speedup_bound_backward_to_inputs": bound, "load_average": [load0, load1]}
        for method in ("structured", "jaxpr"):
            ratio = paired_ratio(stats["jacobian"], stats[method])
            ratios = [a / b for a, b in zip(stats["jacobian"]["times_s"],
                                            stats[method]["times_s"])]
            err = rel_max_err(outs[method], outs["jacobian"])
            suffix = "" if method == "structured" else "_jaxpr"
            row.update({f"time_{method}": stats[method], f"speedup{suffix}": ratio,
                        f"speedup{suffix}_each_round": ratios, f"rel_max_err{suffix}": err})
        best = max(row["speedup"], row["speedup_jaxpr"])
        if name in ("cnn", "resnet"):
            row["floor"] = FLOORS["conv_structured_speedup"]
            row["pass"] = bool(best >= FLOORS["conv_structured_speedup"]
                               and max(row["rel_max_err"], row["rel_max_err_jaxpr"]) < 1e-4)
        log(f"[5c{'' if name in ('cnn', 'resnet') else ' info'}] {model!r}, n={n}, "
            f"p={row['p']}: jacobian {stats['jacobian']['median_s'] * 1e3:.1f} ms, "
            f"structured {stats['structured']['median_s'] * 1e3:.1f} ms "
            f"({row['speedup']:.2f}x), jaxpr {stats['jaxpr']['median_s'] * 1e3:.1f} ms "
            f"({row['speedup_jaxpr']:.2f}x; rounds "
            f"{[round(r, 2) for r in row['speedup_jaxpr_each_round']]}); errs "
            f"{row['rel_max_err']:.1e} / {row['rel_max_err_jaxpr']:.1e}; forward "
            f"{stats['forward']['median_s'] * 1e3:.2f} ms, with the backward pass to the "
            f"inputs {stats['backward_to_inputs']['median_s'] * 1e3:.2f} ms: no rule can "
            f"exceed {bound_fwd:.1f}x, none that uses the cotangents {bound:.1f}x; load "
            f"{load0:.1f} -> {load1:.1f}")
        out[f"conv_{name}"] = row
    out["pass"] = all(out[k]["pass"] for k in ("jacobian", "ntvp", "conv_cnn", "conv_resnet"))
    return out


_MEMORY_CHILD = textwrap.dedent(r"""
    import json, os, resource, sys, time
    n, d = int(sys.argv[1]), int(sys.argv[2])
    widths, mode = tuple(int(w) for w in sys.argv[3].split(",")), sys.argv[4]

    def rss():
        # ru_maxrss: kB on Linux. It is a per-process high-water mark that the kernel
        # carries across exec from the parent's address space, so the parent launches
        # this child while it is still small (see bench_memory). VmHWM / VmRSS are the
        # peak and current RSS of this address space alone.
        out = {"ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
        try:
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith(("VmRSS:", "VmHWM:")):
                        out[line.split(":")[0]] = int(line.split()[1]) * 1024
        except OSError:
            pass
        return out

    import jax, jax.numpy as jnp
    import numpy as np
    from lplr_core import MLP, empirical_ntk
    after_import = rss()
    mlp = MLP(widths)
    if mode == "init":      # the user's path: MLP.init (jax.random on the CPU)
        params = mlp.init(0, d)
    else:                   # same shapes and distribution drawn with numpy, so that the
        rng = np.random.default_rng(0)   # init's own peak does not hide the NTK's
        sizes = mlp.layer_sizes(d)
        params = [{"w": jnp.asarray(rng.standard_normal((a, b), dtype=np.float32)),
                   "b": jnp.asarray(rng.standard_normal((b,), dtype=np.float32))}
                  for a, b in zip(sizes[:-1], sizes[1:])]
    params = jax.block_until_ready(params)
    x = jax.block_until_ready(jax.random.normal(jax.random.PRNGKey(1), (n, d), jnp.float32))
    baseline = rss()
    t0 = time.perf_counter()
    k = jax.block_until_ready(empirical_ntk(mlp.apply, params, x))
    seconds = time.perf_counter() - t0
    final = rss()
    print(json.dumps({"after_import": after_import, "baseline": baseline, "final": final,
                      "seconds_first_call": seconds, "shape": list(k.shape),
                      "dtype": str(k.dtype), "finite": bool(jnp.all(jnp.isfinite(k)))}))
""")


def _self_rss():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _memory_child(n, d, widths, mode):
    env = dict(os.environ)
    env.pop("JAX_ENABLE_X64", None)
    proc = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(n), str(d),
                           ",".join(map(str, widths)), mode],
                          capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_memory(cfg, log):
    """Floor 3: peak RSS of the default NTK in a fresh child process.

    Run before the parent imports JAX: Linux carries the parent's RSS high-water
    mark into the child's ``ru_maxrss`` across fork/exec, so a big parent would
    inflate the child's figure (the child's ``VmHWM`` is reported as a cross-check).
    """
    n, d, widths = cfg["n"], cfg["d"], cfg["widths"]
    log(f"[3] NTK peak memory: MLP {d}-{'-'.join(map(str, widths))}-1, n={n} (child process)")
    parent_rss = _self_rss()
    res = _memory_child(n, d, widths, "init")
    floor = FLOORS["ntk_peak_rss_bytes"]
    p = sum(a * b + b for a, b in zip((d, *widths), (*widths, 1)))
    base = {"config": {"n": n, "d": d, "widths": list(widths), "p": p},
            "parent_rss_at_spawn_bytes": parent_rss, "floor_bytes": floor}
    if "error" in res:
        log("    child failed:\n" + res["error"])
        return {**base, "error": res["error"], "pass": False}
    peak = res["final"]["ru_maxrss"]
    log(f"    RSS after import jax+lplr_core : {res['after_import']['VmRSS'] / 2**20:8.1f} MiB")
    log(f"    RSS after params + x (baseline): {res['baseline']['VmRSS'] / 2**20:8.1f} MiB "
        f"(peak so far {res['baseline']['ru_maxrss'] / 2**20:.1f} MiB, from MLP.init)")
    log(f"    peak RSS after the NTK         : {peak / 2**20:8.1f} MiB (VmHWM "
        f"{res['final'].get('VmHWM', 0) / 2**20:.1f} MiB); first call "
        f"{res['seconds_first_call']:.2f} s incl. compile")
    # Informational: the same with numpy-drawn params, whose creation peaks lower, so
    # that the NTK's own high-water mark shows above the baseline.
    iso = _memory_child(n, d, widths, "numpy")
    if "error" not in iso:
        log(f"    (info) numpy-built params: baseline {iso['baseline']['VmRSS'] / 2**20:.1f} MiB "
            f"(peak {iso['baseline']['ru_maxrss'] / 2**20:.1f}), peak after the NTK "
            f"{iso['final']['ru_maxrss'] / 2**20:.1f} MiB (+"
            f"{(iso['final']['ru_maxrss'] - iso['baseline']['VmRSS']) / 2**20:.1f} MiB "
            "for the NTK)")
    return {
        **base,
        "rss_after_import_bytes": res["after_import"]["VmRSS"],
        "baseline_rss_bytes": res["baseline"]["VmRSS"],
        "baseline_peak_rss_bytes": res["baseline"]["ru_maxrss"],
        "peak_rss_bytes": peak, "peak_vmhwm_bytes": res["final"].get("VmHWM"),
        "final_rss_bytes": res["final"]["VmRSS"],
        "increment_over_baseline_rss_bytes": peak - res["baseline"]["VmRSS"],
        "params_bytes": 4 * p, "kernel_bytes": 4 * n * n,
        "seconds_first_call_incl_compile": res["seconds_first_call"],
        "kernel_shape": res["shape"], "kernel_dtype": res["dtype"], "kernel_finite": res["finite"],
        "numpy_params_child": iso,
        "ntk_own_increment_bytes": (None if "error" in iso else
                                    iso["final"]["ru_maxrss"] - iso["baseline"]["VmRSS"]),
        "pass": bool(peak <= floor and res["finite"] and res["dtype"] == "float32"),
    }


def _gd_problem(cfg):
    import jax
    import jax.numpy as jnp
    from lplr_core import MLP, empirical_ntk, lambda_max

    n, d, widths = cfg["n"], cfg["d"], cfg["widths"]
    mlp = MLP(widths)
    params = mlp.init(0, d)
    x = _data(n, d)
    # Targets: the sign of a random linear function of the inputs.
    w = jax.random.normal(jax.random.PRNGKey(3), (d,), jnp.float32)
    y = jnp.sign(x @ w).astype(jnp.float32)
    # eta = 1 / lambda_max(Theta_0): the stable regime of the sum loss.
    eta = 1.0 / lambda_max(empirical_ntk(mlp.apply, params, x))
    return mlp, params, x, y, float(eta)


def _python_loop_runner(mlp, steps, record_every):
    """A naive user's loop: one jitted step (compiled once), a jitted record every
    ``record_every`` steps whose four numbers are pulled to host as Python floats."""
    import jax
    import jax.numpy as jnp

    def loss(params, x, y):
        u = mlp.apply(params, x) - y
        return 0.5 * jnp.sum(u * u)

    @jax.jit
    def step(params, x, y, eta):
        grads = jax.grad(loss)(params, x, y)
        return jax.tree_util.tree_map(lambda p, g: p - eta * g, params, grads)

    def sq(tree):
        return sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree_util.tree_leaves(tree))

    @jax.jit
    def record(params, params0, x, y, loss_star):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        gsq = sq(grads)
        drift = jnp.sqrt(sq(jax.tree_util.tree_map(lambda a, b: a - b, params, params0)))
        gap = value - loss_star
        return value, gsq, drift, gsq / (2 * gap)

    def run(params0, x, y, eta):
        eta = jnp.float32(eta)
        zero = jnp.float32(0.0)
        params = params0
        recs = [[float(v) for v in record(params, params0, x, y, zero)]]
        for t in range(1, steps + 1):
            params = step(params, x, y, eta)
            if t % record_every == 0:
                recs.append([float(v) for v in record(params, params0, x, y, zero)])
        return params, np.asarray(recs)

    return run


def bench_gd(cfg, repeats, log, *, headline=True):
    """Floor 4: gradient_descent (one compiled scan) vs a Python loop of jitted steps."""
    from lplr_core import gradient_descent

    n, d, widths = cfg["n"], cfg["d"], cfg["widths"]
    steps, every = cfg["steps"], cfg["record_every"]
    tag = "[4]" if headline else "[4b]"
    log(f"{tag} GD engine: MLP {d}-{'-'.join(map(str, widths))}-1, n={n}, {steps} steps, "
        f"record_every={every}" + ("" if headline else " (informational, dispatch-bound size)"))
    mlp, params, x, y, eta = _gd_problem(cfg)
    p = int(sum(np.size(v) for layer in params for v in layer.values()))

    def lib():
        traj = gradient_descent(mlp.apply, params, x, y, step_size=eta, steps=steps,
                                record_every=every)
        return traj.params, traj

    loop = _python_loop_runner(mlp, steps, every)
    stats, outs = timed_interleaved({"lib": lib, "loop": lambda: loop(params, x, y, eta)},
                                    rounds=repeats)
    t_lib, (_, traj) = stats["lib"], outs["lib"]
    t_loop, (_, recs) = stats["loop"], outs["loop"]
    log(f"    gradient_descent : {t_lib['median_s'] * 1e3:9.1f} ms "
        f"({t_lib['median_s'] / steps * 1e6:.0f} us/step; "
        f"first call {t_lib['first_call_s']:.2f} s)")
    log(f"    python loop      : {t_loop['median_s'] * 1e3:9.1f} ms "
        f"({t_loop['median_s'] / steps * 1e6:.0f} us/step)")
    # Same iterates? (float32: allow round-off growth over the run.)
    loss_err = float(np.max(np.abs(traj.loss - recs[:, 0]) / np.maximum(np.abs(recs[:, 0]), 1e-30)))
    # Per-step compute (forward + backward ~ 3 forward passes), for the
    # dispatch-vs-compute explanation.
    sizes = (d, *widths, 1)
    step_flops = 3 * 2.0 * n * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    ratio = t_loop["median_s"] / t_lib["median_s"]
    out = {
        "config": {"n": n, "d": d, "widths": list(widths), "p": p, "steps": steps,
                   "record_every": every, "step_size": eta},
        "time_gradient_descent": t_lib, "time_python_loop": t_loop,
        "us_per_step_gradient_descent": t_lib["median_s"] / steps * 1e6,
        "us_per_step_python_loop": t_loop["median_s"] / steps * 1e6,
        "approx_flops_per_step": step_flops,
        "gflops_per_s_gradient_descent": step_flops * steps / t_lib["median_s"] / 1e9,
        "loss_records_max_rel_diff_lib_vs_loop": loss_err,
        "final_loss": float(traj.loss[-1]), "initial_loss": float(traj.loss[0]),
        "diverged": traj.diverged,
        "speedup": ratio, "floor": FLOORS["gd_speedup"],
        "speedup_paired_rounds": paired_ratio(t_loop, t_lib),
    }
    if headline:
        out["pass"] = bool(ratio >= FLOORS["gd_speedup"])
        ntk_every = cfg.get("ntk_every")
        if ntk_every:
            def lib_ntk():
                traj = gradient_descent(mlp.apply, params, x, y, step_size=eta, steps=steps,
                                        record_every=every, ntk_every=ntk_every)
                return traj.params, traj
            t_ntk, (_, traj_n) = timed(lib_ntk, max(1, repeats - 1))
            out["time_gradient_descent_ntk_every"] = {"ntk_every": ntk_every,
                                                      "ntk_records": int(traj_n.ntk_steps.size),
                                                      **t_ntk}
            out["ntk_record_overhead_s_each"] = (
                (t_ntk["median_s"] - t_lib["median_s"]) / max(traj_n.ntk_steps.size, 1))
            log(f"    with ntk_every={ntk_every}: {t_ntk['median_s'] * 1e3:9.1f} ms "
                f"({traj_n.ntk_steps.size} NTK records, "
                f"~{out['ntk_record_overhead_s_each'] * 1e3:.1f} ms each)")
    log(f"    ratio loop / gradient_descent = {ratio:.2f} (paired rounds "
        f"{out['speedup_paired_rounds']:.2f}); loss records agree to {loss_err:.1e}")
    return out


# ---------------------------------------------------------------------- reporting

def environment():
    import jax
    import jaxlib

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        affinity = None
    return {
        "timestamp_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0], "platform": platform.platform(),
        "machine": platform.machine(), "processor": platform.processor(),
        "jax": jax.__version__, "jaxlib": jaxlib.__version__, "numpy": np.__version__,
        "cpu_count": os.cpu_count(), "cpu_affinity": affinity,
        "devices": [str(dv) for dv in jax.devices()], "backend": jax.default_backend(),
        "x64_enabled": bool(jax.config.jax_enable_x64),
        "env": {k: os.environ.get(k) for k in ("JAX_PLATFORMS", "XLA_FLAGS", "OMP_NUM_THREADS")},
    }


def table(results):
    rows = []
    s = results.get("ntk_speedup")
    if s:
        rows.append(("1 NTK speed-up auto vs jacobian",
                     f"{s['speedup']:.1f}x ({s['time_jacobian']['median_s'] * 1e3:.0f} / "
                     f"{s['time_auto']['median_s'] * 1e3:.2f} ms; "
                     f"err {s['rel_max_err_auto_vs_jacobian']:.1e})",
                     f">= {s['floor']:.0f}x", s["pass"]))
        rows.append(("  (info) paired-round median ratio", f"{s['speedup_paired_rounds']:.1f}x",
                     "", None))
        rows.append(("  (info) same, jitted kernel_fn",
                     f"{s['speedup_kernel_only']:.1f}x "
                     f"({s['time_kernel_fn_jit']['median_s'] * 1e3:.2f} ms)",
                     "", None))
        rows.append(("  (info) ntvp, n=" + str(s["config"]["ntvp_n"]),
                     f"{s['time_ntvp']['median_s']:.2f} s "
                     f"(err {s['rel_max_err_auto_vs_ntvp']:.1e})",
                     "", None))
    f = results.get("ntk_flop_rate")
    if f:
        rows.append(("2 NTK FLOP rate / matmul rate",
                     f"{f['fraction_of_matmul'] * 100:.0f}% ({f['gflops_per_s_auto']:.0f} / "
                     f"{f['matmul_reference_gflops_per_s']:.0f} GFLOP/s)",
                     f">= {f['floor'] * 100:.0f}%", f["pass"]))
        rows.append(("  (info) FLOPs own / ntk_cost / XLA",
                     f"{f['flops_own_count']['total']:.3g} / {f['flops_ntk_cost']:.3g} / "
                     f"{f['flops_xla_cost_analysis']:.3g}", "", None))
        rows.append(("  (info) jitted kernel_fn",
                     f"{f['fraction_of_matmul_kernel_only'] * 100:.0f}% "
                     f"({f['gflops_per_s_kernel_only']:.0f} GFLOP/s)", "", None))
    m = results.get("ntk_peak_memory")
    if m:
        if "error" in m:
            rows.append(("3 NTK peak RSS", "child failed", "<= 2 GiB", False))
        else:
            rows.append(("3 NTK peak RSS (child process)",
                         f"{m['peak_rss_bytes'] / 2**20:.0f} MiB (baseline "
                         f"{m['baseline_rss_bytes'] / 2**20:.0f} MiB)",
                         f"<= {m['floor_bytes'] / 2**20:.0f} MiB", m["pass"]))
            if m.get("ntk_own_increment_bytes") is not None:
                iso = m["numpy_params_child"]
                rows.append(("  (info) numpy-built params",
                             f"{iso['final']['ru_maxrss'] / 2**20:.0f} MiB (NTK adds "
                             f"{m['ntk_own_increment_bytes'] / 2**20:.0f} MiB)", "", None))
    g = results.get("gd")
    if g:
        rows.append(("4 GD: python loop / gradient_descent",
                     f"{g['speedup']:.2f}x ({g['time_python_loop']['median_s']:.2f} / "
                     f"{g['time_gradient_descent']['median_s']:.2f} s)",
                     f">= {g['floor']:.0f}x", g["pass"]))
        rows.append(("  (info) paired-round median ratio", f"{g['speedup_paired_rounds']:.2f}x",
                     "", None))
        t = g.get("time_gradient_descent_ntk_every")
        if t:
            rows.append((f"  (info) GD with ntk_every={t['ntk_every']}",
                         f"{t['median_s']:.2f} s ({t['ntk_records']} NTK records)", "", None))
    gs = results.get("gd_small")
    if gs:
        c = gs["config"]
        rows.append((f"  (info) GD small n={c['n']} d={c['d']} w={c['widths'][0]}",
                     f"{gs['speedup']:.2f}x ({gs['time_python_loop']['median_s']:.2f} / "
                     f"{gs['time_gradient_descent']['median_s']:.3f} s)", "", None))
    gen = results.get("generic")
    if gen:
        j = gen["jacobian"]
        rows.append(("5a jacobian FLOP rate / matmul rate",
                     f"{j['fraction_of_matmul']:.2f} (repeats "
                     f"{j['fraction_of_matmul_spread'][0]:.2f}-{j['fraction_of_matmul_spread'][1]:.2f};"
                     f" {j['time']['median_s']:.1f} s)", f">= {j['floor']:.2f}", j["pass"]))
        fl_ = gen.get("jacobian_floor")
        if fl_:
            rows.append(("  (info) gradients formed / plain write",
                         f"{fl_['form_bytes_per_s'] / 1e9:.2f} / "
                         f"{fl_['write_bytes_per_s'] / 1e9:.2f} GB/s -> attainable "
                         f"{fl_['attainable_fraction_with_this_forming']:.2f}", "", None))
        jx = gen.get("jaxpr")
        if jx:
            rows.append(("  (info) jaxpr method: on jacobian's FLOPs / own",
                         f"{jx['fraction_of_matmul_on_jacobian_flops']:.1f} / "
                         f"{jx['fraction_of_matmul_on_own_flops']:.2f} of matmul "
                         f"({jx['speedup_vs_jacobian']:.0f}x jacobian, "
                         f"{jx['time']['median_s']:.3f} s)", "", None))
        v = gen["ntvp"]
        rows.append(("5b ntvp: reference NTVP / ntvp time",
                     f"{v['ratio_reference_over_ntvp']:.2f}x (rounds "
                     f"{min(v['ratio_each_round']):.2f}-{max(v['ratio_each_round']):.2f})",
                     f">= {v['floor']:.1f}x", v["pass"]))
        for name in ("cnn", "resnet"):
            c = gen[f"conv_{name}"]
            jx_ = (f"; jaxpr {c['speedup_jaxpr']:.2f}x" if "speedup_jaxpr" in c else "")
            rows.append((f"5c {name}: jacobian / structured time",
                         f"{c['speedup']:.2f}x{jx_} (err {c['rel_max_err']:.1e})",
                         f">= {c['floor']:.0f}x", c["pass"]))
            if "speedup_bound_forward" in c:
                rows.append(("  (info) bound: jacobian / forward; / fwd+bwd to x",
                             f"{c['speedup_bound_forward']:.2f}x; "
                             f"{c['speedup_bound_backward_to_inputs']:.2f}x (no rule can do "
                             f"better)", "", None))
        for name in ("cnn_wide", "resnet_wide"):
            c = gen.get(f"conv_{name}")
            if c:
                jx_ = (f"; jaxpr {c['speedup_jaxpr']:.2f}x" if "speedup_jaxpr" in c else "")
                bd_ = (f"; bounds {c['speedup_bound_forward']:.2f}x, "
                       f"{c['speedup_bound_backward_to_inputs']:.2f}x"
                       if "speedup_bound_forward" in c else "")
                rows.append((f"  (info) {name} p={c['p']}: jacobian / structured",
                             f"{c['speedup']:.2f}x{jx_}{bd_}", "", None))
    if not rows:
        return "(no benchmarks run)"
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{'benchmark':<{w0}}  {'measured':<{w1}}  {'floor':<10}  result",
             "-" * (w0 + w1 + 22)]
    for name, val, floor, ok in rows:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        lines.append(f"{name:<{w0}}  {val:<{w1}}  {floor:<10}  {verdict}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="shrunk sizes for a smoke test (< 60 s); verdicts are not the issue's")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"JSON output path (default: {DEFAULT_OUT.relative_to(HERE.parent)})")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repeats after the warm-up call (default 5, quick 3)")
    parser.add_argument("--only", nargs="+", choices=("speedup", "flops", "memory", "gd", "generic"),
                        help="run only these benchmarks")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when a floor fails")
    args = parser.parse_args(argv)

    mode = "quick" if args.quick else "full"
    sizes = SIZES[mode]
    repeats = args.repeats or (3 if args.quick else 5)
    only = set(args.only or ("speedup", "flops", "memory", "gd", "generic"))

    def log(msg):
        print(msg, flush=True)

    t_start = time.perf_counter()
    log(f"lplr_core benchmarks ({mode} mode)")
    if args.quick:
        log("QUICK MODE: sizes are shrunk; PASS/FAIL below is a smoke test, "
            "not the issue's floors.")
    results = {}
    # The memory child runs first, while this process has not imported JAX (see
    # bench_memory for why the parent must be small).
    if "memory" in only:
        results["ntk_peak_memory"] = bench_memory(sizes["memory"], log)

    import jax
    jax.config.update("jax_enable_x64", False)  # float32 throughout, whatever the env says
    env = environment()
    env["loadavg_start"] = os.getloadavg()
    log(f"jax {env['jax']}, jaxlib {env['jaxlib']}, {env['cpu_count']} CPUs, "
        f"devices {env['devices']}, load average {env['loadavg_start']}")
    if "speedup" in only:
        results["ntk_speedup"] = bench_speedup(sizes["speedup"], log)
    if "flops" in only:
        results["ntk_flop_rate"] = bench_flops(sizes["flops"], repeats, log)
    if "gd" in only:
        results["gd"] = bench_gd(sizes["gd"], repeats, log)
        results["gd_small"] = bench_gd(sizes["gd_small"], repeats, log, headline=False)
    if "generic" in only:
        results["generic"] = bench_generic(sizes["generic"], max(repeats, 3), log)

    env["loadavg_end"] = os.getloadavg()
    env["total_seconds"] = time.perf_counter() - t_start
    verdicts = {k: v["pass"] for k, v in results.items() if "pass" in v}
    report = {"mode": mode, "repeats": repeats, "floors": FLOORS, "environment": env,
              "results": results, "all_pass": all(verdicts.values()), "verdicts": verdicts}
    if args.only and args.out.exists():
        # A subset run keeps the other benchmarks' last results (marked as such).
        try:
            old = json.loads(args.out.read_text())
        except (OSError, ValueError):
            old = None
        if isinstance(old, dict) and isinstance(old.get("results"), dict) \
                and old.get("mode") == mode:
            kept = sorted(set(old["results"]) - set(results))
            for key in kept:
                report["results"][key] = old["results"][key]
                if key in old.get("verdicts", {}):
                    verdicts[key] = old["verdicts"][key]
            report["all_pass"] = all(verdicts.values())
            report["kept_from_previous_run"] = {
                "results": kept, "environment": old.get("environment")}

    log("")
    log(table(results))
    log(f"\ntotal {env['total_seconds']:.1f} s; load average {env['loadavg_end']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_finite(report), indent=2, default=_json_default,
                                   allow_nan=False) + "\n")
    log(f"wrote {args.out}")
    return 1 if (args.strict and not report["all_pass"]) else 0


def _finite(obj):
    """JSON has no NaN / inf: write them as null."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
