r"""Empirical and infinite-width neural tangent kernels, and their spectra.

For a model ``apply_fn(params, x) -> (n,)`` with parameters :math:`\theta \in
\mathbb R^p`, the Jacobian of the outputs on inputs :math:`X_1` is :math:`J_1 =
\partial f(X_1; \theta) / \partial \theta \in \mathbb R^{n_1 \times p}` and the
empirical NTK is

.. math:: \Theta(X_1, X_2; \theta) = J_1 J_2^\top \in \mathbb R^{n_1 \times n_2}.

Three ways to compute it (Novak, Sohl-Dickstein & Schoenholz 2022, "Fast
Finite Width Neural Tangent Kernel", give the general cost analysis). Below,
:math:`F` is the cost of one forward pass on one sample (about :math:`2p` for a
dense network), :math:`b` the number of samples per Jacobian block, and for the
MLP :math:`n_l` the layer widths, :math:`W = \sum_l n_{l-1} n_l \approx p`,
:math:`N = \sum_l n_l`:

``"jacobian"`` (Jacobian contraction)
    :math:`\Theta = \sum_{\text{groups}} J_1^{(g)} J_2^{(g)\top}` over groups of
    parameter leaves, in one compiled program per shape. Leaves whose per-sample
    gradients for all samples fit in ``memory_budget`` together form one group
    (one ``vmap`` of ``grad`` with respect to those leaves, one Gram product); a
    leaf too large for that is its own group, split into near-equal blocks of
    samples. For ``x2=None`` only the blocks on and above the diagonal are
    contracted and each block of gradients is formed once. Time
    :math:`O(g\,(n_1 + n_2) F + n_1 n_2 p)` for :math:`g` groups; memory: at most
    two blocks of ``memory_budget`` bytes alive.
``"ntvp"`` (NTK-vector products)
    Column ``j`` of :math:`\Theta` is :math:`J_1 (J_2^\top e_j)`: a VJP through
    :math:`f(X_2)` followed by a JVP through :math:`f(X_1)`. The forward pass of
    :math:`f(X_2)` and the linearization of :math:`f(X_1)` are computed once;
    then ``columns`` basis vectors at a time go through both, vmapped. Time
    :math:`O(n_2 (n_1 + n_2) F)`; memory :math:`O(c\,(p + (n_1 + n_2) a))` for
    ``c`` columns at a time, with :math:`a` the activations per sample. Never
    materializes :math:`J`. The matrix-free :func:`ntk_matvec` is the same
    product for one vector, for Lanczos / LOBPCG when :math:`n` is too large for
    the matrix.
``"structured"`` (per-layer rules: :class:`~lplr_core.models.MLP`, ``CNN``, ``ResNetCNN``)
    For the MLP, with post-activations :math:`H_{l-1}` and back-propagated sensitivities
    :math:`G_l = \partial f / \partial h^{(l)}`, and the layer's multipliers
    :math:`a_l, c_l` (see :class:`~lplr_core.models.MLP`),
    :math:`\Theta = \sum_l a_l^2 (H^{(1)}_{l-1} H^{(2)\top}_{l-1}) \odot
    (G^{(1)}_l G^{(2)\top}_l) + c_l^2\, G^{(1)}_l G^{(2)\top}_l`.
    Time :math:`O((n_1 + n_2) W + n_1 n_2 (d + 2N))`; memory :math:`O((n_1 + n_2)
    N + n_1 n_2)`. Independent of :math:`p` in memory: it is exact to round-off
    and orders of magnitude faster than the other two for wide networks.
    For :class:`~lplr_core.models.CNN` and :class:`~lplr_core.models.ResNetCNN`
    (the structured derivatives of Novak et al. for convolutions and dense
    layers): one batched forward and backward pass give every layer's input and
    output sensitivity; a convolution's per-sample weight gradient is its input
    patches contracted with the sensitivity over positions, and
    :math:`\Theta = J_1 J_2^\top`. Exact to round-off; at the book's sizes it is
    slower than ``"jacobian"`` (benchmarks/README.md), so ``"auto"`` does not
    pick it.
``"auto"``
    ``"structured"`` when ``apply_fn`` is an :class:`~lplr_core.models.MLP`'s
    ``apply``; otherwise ``"jacobian"`` when a block of ``min(n, 32)`` samples
    fits in ``memory_budget``; otherwise ``"ntvp"``. :func:`ntk_cost` reports the
    estimates behind the choice.

With several JAX devices, the rows of :math:`\Theta` (the samples of
:math:`X_1`) are sharded across them (``shard=None`` does so automatically).
"""

from __future__ import annotations

import math
from functools import lru_cache, partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from lplr_core._devices import mesh_1d, replicate, shard_leading
from lplr_core._validation import (
    check_apply_fn,
    check_array,
    check_bool,
    check_choice,
    check_int,
    check_params,
    check_real,
    check_same_features,
    describe,
)
from lplr_core.models import ACTIVATIONS, CNN, MLP, ResNetCNN, _avg_pool2, param_count

__all__ = [
    "NTK_METHODS",
    "empirical_ntk",
    "ntk_matvec",
    "kernel_fn",
    "ntk_cost",
    "infinite_width_ntk",
    "ntk_eigenvalues",
    "lambda_min",
    "lambda_max",
    "condition_number",
    "top_eigenvalues",
    "matrix_free_eigenvalues",
]

NTK_METHODS = ("auto", "jacobian", "ntvp", "structured")
DEFAULT_MEMORY_BUDGET = 1 << 30  # bytes for one Jacobian block (1 GiB)


# --------------------------------------------------------------------------- helpers

def _mlp_of(apply_fn: Any) -> MLP | None:
    """The MLP whose ``apply`` this is, or None for any other function."""
    if isinstance(apply_fn, MLP):
        return apply_fn
    owner = getattr(apply_fn, "__self__", None)
    if isinstance(owner, MLP) and getattr(apply_fn, "__func__", None) is MLP.apply:
        return owner
    return None


def _structured_model_of(apply_fn: Any) -> MLP | CNN | ResNetCNN | None:
    """The MLP, CNN or ResNetCNN whose ``apply`` this is (the models with a
    structured NTK rule), or None for any other function."""
    mlp = _mlp_of(apply_fn)
    if mlp is not None:
        return mlp
    for cls in (CNN, ResNetCNN):
        if type(apply_fn) is cls:
            return apply_fn
        owner = getattr(apply_fn, "__self__", None)
        if type(owner) is cls and getattr(apply_fn, "__func__", None) is cls.apply:
            return owner
    return None


def _check_inputs(apply_fn, params, x1, x2):
    params = check_params("params", params)
    x1 = check_array("x1", x1, ndim=(2, 3, 4))
    if x2 is not None:
        x2 = check_array("x2", x2, ndim=(2, 3, 4))
        check_same_features("x1", x1, "x2", x2)
    check_apply_fn("apply_fn", apply_fn, params, x1)
    return params, x1, x2


def _result_dtype(params, x):
    return jnp.result_type(*jax.tree_util.tree_leaves(params), x)


def _single(apply_fn, params, xi):
    """f(x_i) for one sample, as a scalar."""
    return apply_fn(params, xi[None])[0]


# ------------------------------------------------------------------------ structured

@partial(jax.jit, static_argnames=("mlp",))
def _structured_ntk(mlp: MLP, params, x1, x2):
    phi = ACTIVATIONS[mlp.activation]

    def sensitivities(x):
        pre, post = mlp.forward(params, x)
        # G_{L+1} = d f / d h^{(L+1)} = 1; back-propagate through the multipliers.
        g = jnp.ones_like(pre[-1])
        gs = [g]
        for l in range(len(params) - 1, 0, -1):
            a, _ = mlp.scales(params[l]["w"].shape[0])
            dphi = jax.jvp(phi, (pre[l - 1],), (jnp.ones_like(pre[l - 1]),))[1]
            g = (a * (g @ params[l]["w"].T)) * dphi
            gs.append(g)
        return post, gs[::-1]

    post1, g1 = sensitivities(x1)
    if x2 is None:
        post2, g2 = post1, g1
    else:
        post2, g2 = sensitivities(x2)
    kernel = 0.0
    for l, layer in enumerate(params):
        a, c = mlp.scales(layer["w"].shape[0])
        gg = g1[l] @ g2[l].T
        hh = post1[l] @ post2[l].T
        kernel = kernel + (a * a) * hh * gg + (c * c) * gg
    return kernel


def _conv_layers_forward(model, params, x, taps):
    """The forward pass of a CNN / ResNetCNN, as in lplr_core.models, with ``taps``
    added to the output of every layer (so that d f / d tap is the layer's
    back-propagated sensitivity) and the input of every layer recorded.

    Returns ``(f (n,), [(kind, layer params, layer input), ...])``, the layers in the
    order of ``taps``; ``taps=None`` adds nothing.
    """
    phi = ACTIVATIONS[model.activation]
    layers = []
    count = [0]

    def tap(h):
        t = taps[count[0]] if taps is not None else 0.0
        count[0] += 1
        return h + t

    def conv(layer, z):
        layers.append(("conv", layer, z))
        return tap(model._conv_layer(layer, z))

    def dense(layer, z):
        layers.append(("dense", layer, z))
        return tap(model._dense_layer(layer, z))

    z = model._images(x)
    if isinstance(model, CNN):
        for layer in params[:-1]:
            z = _avg_pool2(phi(conv(layer, z)))
        out = dense(params[-1], z.mean(axis=(1, 2)))
    else:
        z = conv(params["stem"], z)
        for i, (conv1, conv2) in enumerate(params["blocks"]):
            branch = conv(conv2, phi(conv(conv1, phi(z))))
            z = (z + branch) / math.sqrt(2.0)
            if (i + 1) % model.pool_every == 0:
                z = _avg_pool2(z)
        out = dense(params["head"], phi(z).mean(axis=(1, 2)))
    return out[:, 0], layers


def _conv_jacobian(model, params, x):
    """The per-sample Jacobian of a CNN / ResNetCNN, (n, p), from the layer structure.

    One forward and one backward pass of the whole batch give every layer's input
    z and output sensitivity g = d f_i / d h (samples do not interact). Then, for
    a convolution with multipliers (a, c), d f_i / d w = a Σ_s P_i[s] ⊗ g_i[s]
    over output positions s, with P the input patches (one batched matmul), and
    d f_i / d b = c Σ_s g_i[s]; for the dense read-out, a z_i ⊗ g_i and c g_i.
    The columns follow no particular order of the parameters (Θ = J Jᵀ does not
    depend on it).
    """
    _, shapes = _conv_layers_forward(model, params, x, None)  # shapes only (dead code to XLA)
    taps = []
    for kind, layer, z in shapes:
        if kind == "conv":
            out_ch = layer["w"].shape[-1]
            taps.append(jnp.zeros((*z.shape[:3], out_ch), z.dtype))
        else:
            taps.append(jnp.zeros((z.shape[0], layer["w"].shape[-1]), z.dtype))
    out, vjp, layers = jax.vjp(lambda t: _conv_layers_forward(model, params, x, t), taps,
                               has_aux=True)
    (sens,) = vjp(jnp.ones_like(out))
    n = x.shape[0]
    cols = []
    for (kind, layer, z), g in zip(layers, sens):
        if kind == "conv":
            k1, k2, cin, _ = layer["w"].shape
            a, c = model._scales(k1 * k2 * cin)
            patches = jax.lax.conv_general_dilated_patches(
                z, (k1, k2), (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
            jw = jnp.einsum("nhwk,nhwc->nkc", patches, g)
            jb = g.sum(axis=(1, 2))
        else:
            a, c = model._scales(layer["w"].shape[0])
            jw = z[:, :, None] * g[:, None, :]
            jb = g
        cols += [a * jw.reshape(n, -1), c * jb.reshape(n, -1)]
    return jnp.concatenate(cols, axis=1)


@partial(jax.jit, static_argnames=("model",))
def _conv_structured_ntk(model, params, x1, x2):
    j1 = _conv_jacobian(model, params, x1)
    j2 = j1 if x2 is None else _conv_jacobian(model, params, x2)
    return j1 @ j2.T


# -------------------------------------------------------------------------- jacobian

@partial(jax.jit, static_argnames=("apply_fn",))
def _per_sample_grads(apply_fn, params, x):
    return jax.vmap(jax.grad(partial(_single, apply_fn)), in_axes=(None, 0))(params, x)


@jax.jit
def _contract(j1, j2):
    def leaf(a, b):
        return a.reshape(a.shape[0], -1) @ b.reshape(b.shape[0], -1).T
    return sum(jax.tree_util.tree_leaves(jax.tree_util.tree_map(leaf, j1, j2)))


def _jacobian_block_size(p: int, itemsize: int, memory_budget: int) -> int:
    return max(1, int(memory_budget // (p * itemsize)))


def _leaf_grads(apply_fn, params, group, x):
    """Per-sample gradients of f with respect to the leaves ``group`` (indices into
    ``tree_leaves(params)``) only, as one matrix of shape (b, Σ sizes)."""
    leaves, treedef = jax.tree_util.tree_flatten(params)

    def f(chosen, xi):
        new = list(leaves)
        for index, leaf in zip(group, chosen):
            new[index] = leaf
        return apply_fn(jax.tree_util.tree_unflatten(treedef, new), xi[None])[0]

    grads = jax.vmap(jax.grad(f), in_axes=(None, 0))([leaves[i] for i in group], x)
    flat = [g.reshape(x.shape[0], -1) for g in grads]
    return flat[0] if len(flat) == 1 else jnp.concatenate(flat, axis=1)


def _blocks(n: int, size: int) -> list[tuple[int, int]]:
    """Split range(n) into the fewest blocks of at most ``size``, of nearly equal sizes."""
    count = max(1, math.ceil(n / size))
    edges = [round(k * n / count) for k in range(count + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:])]


def _jacobian_plan(params, n1, n2, itemsize, memory_budget):
    """Groups of leaves, each with its sample blocks: ((leaf indices), x1 blocks, x2 blocks).

    Leaves whose per-sample gradients for all ``max(n1, n2)`` samples fit in
    ``memory_budget`` together are grouped (one backward pass for the group, one
    Gram product); a leaf too large for that is a group of its own, split into
    blocks of ``b`` samples, ``b`` the most that fit. A group's block holds at most
    ``memory_budget`` bytes; at most two blocks (one of x1, one of x2) are alive
    at a time.
    """
    n = max(n1, n2)
    sizes = [max(1, int(np.size(leaf))) for leaf in jax.tree_util.tree_leaves(params)]
    capacity = max(1, int(memory_budget // (n * itemsize)))  # parameters per full group
    plan, group, used = [], [], 0
    for index, size in enumerate(sizes):
        if size > capacity:
            b = _jacobian_block_size(size, itemsize, memory_budget)
            plan.append(((index,), tuple(_blocks(n1, b)), tuple(_blocks(n2, b))))
            continue
        if used + size > capacity:
            plan.append((tuple(group), ((0, n1),), ((0, n2),)))
            group, used = [], 0
        group.append(index)
        used += size
    if group:
        plan.append((tuple(group), ((0, n1),), ((0, n2),)))
    return tuple(plan)


@partial(jax.jit, static_argnames=("apply_fn", "plan", "symmetric"))
def _jacobian_kernel(apply_fn, params, x1, x2, plan, symmetric):
    """Θ = Σ_leaves Σ_blocks J1[leaf, block] J2[leaf, block]ᵀ in one compiled program.

    The sum runs over parameter leaves first: each leaf's per-sample gradients of
    all samples (when they fit) are formed once and contracted at once, so every
    Jacobian entry is formed about once and each Gram product is a large matrix
    product (2 n1 n2 flops per formed entry pair). An optimization barrier makes the
    next leaf's gradients wait for the running kernel, so only one leaf's blocks
    are alive at a time. ``symmetric``: x2 is x1; only blocks on and above the
    diagonal are contracted and the rest mirrored.
    """
    n1, n2 = x1.shape[0], x2.shape[0]
    dtype = _result_dtype(params, x1)
    kernel = jnp.zeros((n1, n2), dtype)
    for group, rows, cols in plan:
        kernel, x1, x2 = jax.lax.optimization_barrier((kernel, x1, x2))
        carry = None
        for bi, (r0, r1) in enumerate(rows):
            j1 = carry if carry is not None else _leaf_grads(apply_fn, params, group,
                                                             x1[r0:r1])
            carry = None
            # Symmetric: the diagonal block, then the columns right to left, so that the
            # last gradients formed (block bi + 1) are the next row's: each block of
            # per-sample gradients is formed once per row block after it, not twice.
            order = ([bi, *range(len(cols) - 1, bi, -1)] if symmetric
                     else range(len(cols)))
            for bj in order:
                c0, c1 = cols[bj]
                j2 = j1 if (symmetric and bj == bi) else _leaf_grads(
                    apply_fn, params, group, x2[c0:c1])
                block = jax.lax.dot_general(j1, j2, (((1,), (1,)), ((), ())))
                kernel = kernel.at[r0:r1, c0:c1].add(block)
                if symmetric and bj > bi:
                    kernel = kernel.at[c0:c1, r0:r1].add(block.T)
                    if bj == bi + 1:
                        carry = j2
    return kernel


def _jacobian_plan_work(params, plan, symmetric):
    """(Gram FLOPs, samples whose gradients are formed, largest block in numbers) of a plan,
    counted as :func:`_jacobian_kernel` runs it."""
    sizes = [int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(params)]
    gram, rows, largest = 0.0, 0, 0
    for group, row_blocks, col_blocks in plan:
        s = sum(sizes[i] for i in group)
        for bi, (r0, r1) in enumerate(row_blocks):
            largest = max(largest, (r1 - r0) * s)
            if not (symmetric and bi > 0):   # symmetric: row bi > 0 reuses a column block
                rows += r1 - r0
            for bj, (c0, c1) in enumerate(col_blocks):
                if symmetric and bj < bi:
                    continue
                gram += 2.0 * (r1 - r0) * (c1 - c0) * s
                largest = max(largest, (c1 - c0) * s)
                if not (symmetric and bj == bi):
                    rows += c1 - c0
    return gram, rows, largest


def _jacobian_ntk(apply_fn, params, x1, x2, memory_budget):
    itemsize = np.dtype(_result_dtype(params, x1)).itemsize
    symmetric = x2 is None
    x2_ = x1 if symmetric else x2
    plan = _jacobian_plan(params, x1.shape[0], x2_.shape[0], itemsize, memory_budget)
    return _jacobian_kernel(apply_fn, params, x1, x2_, plan, symmetric)


# ------------------------------------------------------------------------------ ntvp

def _matvec_fn(apply_fn, params, x1, x2):
    """v (n2,) -> Theta(x1, x2) v, by one VJP and one JVP."""
    def matvec(v):
        _, vjp = jax.vjp(lambda p: apply_fn(p, x2), params)
        (tangent,) = vjp(v)
        return jax.jvp(lambda p: apply_fn(p, x1), (params,), (tangent,))[1]
    return matvec


@partial(jax.jit, static_argnames=("apply_fn", "columns"))
def _ntvp_ntk(apply_fn, params, x1, x2, columns):
    """Columns of Θ by NTK-vector products (Novak et al. 2022, sec. 3.2).

    The forward pass through f(X2) (for the VJP) and the linearization of f(X1)
    (for the JVP) are done once, outside the loop over blocks of ``columns``
    basis vectors; each block is one batched VJP followed by one batched JVP.
    """
    n2 = x2.shape[0]
    _, vjp = jax.vjp(lambda p: apply_fn(p, x2), params)
    _, jvp = jax.linearize(lambda p: apply_fn(p, x1), params)

    def column_block(v):
        return jax.vmap(lambda e: jvp(vjp(e)[0]))(v)

    eye = jnp.eye(n2, dtype=_result_dtype(params, x2))
    if columns >= n2:
        return column_block(eye).T
    n_pad = (-n2) % columns
    basis = jnp.concatenate([eye, jnp.zeros((n_pad, n2), eye.dtype)])
    out = jax.lax.map(column_block, basis.reshape(-1, columns, n2))  # (blocks, columns, n1)
    return out.reshape(-1, x1.shape[0])[:n2].T


# --------------------------------------------------------------------------- sharding

def _should_shard(shard: bool | None) -> bool:
    if shard is None:
        return jax.device_count() > 1
    return check_bool("shard", shard) and jax.device_count() > 1


# ----------------------------------------------------------------------------- public

def ntk_cost(apply_fn: Callable, params: Any, x1: Any, x2: Any = None, *,
             memory_budget: int = DEFAULT_MEMORY_BUDGET) -> dict[str, dict[str, float]]:
    """Estimated floating-point operations and peak bytes of each NTK method.

    This is the cost model behind ``method="auto"`` (see the module docstring).
    The forward cost per sample ``F`` is taken from XLA's cost analysis of
    ``apply_fn`` on one sample when available, else ``2 p``.

    Returns:
      ``{method: {"flops": ..., "bytes": ..., "available": bool}}`` for
      ``"jacobian"``, ``"ntvp"`` and ``"structured"``.
    """
    params, x1, x2 = _check_inputs(apply_fn, params, x1, x2)
    memory_budget = check_int("memory_budget", memory_budget, minimum=1)
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    p = param_count(params)
    itemsize = np.dtype(_result_dtype(params, x1)).itemsize
    forward = 2.0 * p
    try:
        analysis = jax.jit(apply_fn).lower(params, x1[:1]).compile().cost_analysis()
        if isinstance(analysis, (list, tuple)):
            analysis = analysis[0]
        if analysis and analysis.get("flops", 0) > 0:
            forward = float(analysis["flops"])
    except Exception:  # cost analysis is best effort; fall back to 2p
        pass
    plan = _jacobian_plan(params, n1, n2, itemsize, memory_budget)
    gram, rows, largest = _jacobian_plan_work(params, plan, x2 is None)
    costs = {
        "jacobian": {
            # Each block of per-sample gradients costs a forward and a backward pass.
            "flops": 3 * forward * rows + gram,
            "bytes": 2.0 * largest * itemsize + n1 * n2 * itemsize,
            "available": True,
        },
        "ntvp": {
            "flops": 3 * forward * n2 * (n1 + n2),
            "bytes": 32 * (p + (n1 + n2) * forward / max(p, 1)) * itemsize + n1 * n2 * itemsize,
            "available": True,
        },
    }
    mlp = _structured_model_of(apply_fn)
    if mlp is not None and not isinstance(mlp, MLP):
        # One forward and one backward pass of each distinct input set, the patch
        # products (about one more forward pass), one Gram product of the (n, p) Jacobians.
        n_fwd = n1 if x2 is None else n1 + n2
        costs["structured"] = {
            "flops": 4 * forward * n_fwd + 2.0 * n1 * n2 * p,
            "bytes": 2.0 * n_fwd * (p + forward / 2) * itemsize + n1 * n2 * itemsize,
            "available": True,
        }
    elif mlp is not None:
        # Forward on each distinct input set, back-propagation of the sensitivities
        # (not needed through the first layer), one Gram product per H and per G.
        sizes = mlp.layer_sizes(x1.shape[1])
        weights = sum(a * b_ for a, b_ in zip(sizes[:-1], sizes[1:]))
        backward = weights - sizes[0] * sizes[1]
        units = sum(sizes[1:])
        n_fwd = n1 if x2 is None else n1 + n2
        costs["structured"] = {
            "flops": 2.0 * n_fwd * (weights + backward) + 2.0 * n1 * n2 * (sizes[0] + 2 * units - 1),
            "bytes": 2.0 * n_fwd * (sizes[0] + 2 * units) * itemsize + 3.0 * n1 * n2 * itemsize,
            "available": True,
        }
    else:
        costs["structured"] = {"flops": math.inf, "bytes": math.inf, "available": False}
    return costs


def _choose_method(apply_fn, params, x1, x2, memory_budget) -> str:
    # Only the MLP rule is faster than the Jacobian contraction; the convolutional
    # rule measured 0.5-0.6x of it at the book's sizes (benchmarks/README.md).
    if _mlp_of(apply_fn) is not None:
        return "structured"
    p = param_count(params)
    itemsize = np.dtype(_result_dtype(params, x1)).itemsize
    n = max(x1.shape[0], 0 if x2 is None else x2.shape[0])
    if _jacobian_block_size(p, itemsize, memory_budget) >= min(n, 32):
        return "jacobian"
    return "ntvp"


def empirical_ntk(apply_fn: Callable, params: Any, x1: Any, x2: Any = None, *,
                  method: str = "auto", memory_budget: int = DEFAULT_MEMORY_BUDGET,
                  columns: int = 16, shard: bool | None = None) -> jax.Array:
    r"""The empirical NTK :math:`\Theta(X_1, X_2; \theta) = J_1 J_2^\top`.

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)``, e.g. ``MLP(...).apply``.
      params: the parameter pytree :math:`\theta`.
      x1: inputs of shape ``(n1, ...)``.
      x2: inputs of shape ``(n2, ...)``; ``None`` means ``x1`` (the result is
        then symmetrized, which only removes round-off asymmetry).
      method: ``"auto"``, ``"jacobian"``, ``"ntvp"`` or ``"structured"``; see the
        module docstring for each method's time and memory.
      memory_budget: bytes allowed for one block of per-sample gradients
        (``"jacobian"``; at most two blocks are alive at once); also steers ``"auto"``.
      columns: kernel columns computed at once by ``"ntvp"``.
      shard: shard the rows across devices; ``None`` shards when JAX sees more
        than one device.

    Returns:
      An array of shape ``(n1, n2)``.
    """
    params, x1, x2 = _check_inputs(apply_fn, params, x1, x2)
    method = check_choice("method", method, NTK_METHODS)
    memory_budget = check_int("memory_budget", memory_budget, minimum=1)
    columns = check_int("columns", columns, minimum=1)
    sharded = _should_shard(shard)
    mlp = _structured_model_of(apply_fn)
    if method == "structured" and mlp is None:
        raise ValueError(
            "method='structured' needs the per-layer structure of the model, which is known "
            "only for lplr_core.models.MLP, CNN and ResNetCNN (pass model.apply); got "
            f"apply_fn={describe(apply_fn)}. "
            "Use method='jacobian', 'ntvp' or 'auto' for other functions.")
    if method == "auto":
        method = _choose_method(apply_fn, params, x1, x2, memory_budget)

    n1 = x1.shape[0]
    symmetric = x2 is None
    if sharded:
        # Each device computes its own block of rows against all of x2, with the
        # unsharded code (shard_map). Letting XLA partition the whole computation
        # instead (GSPMD) gave wrong Jacobian-contraction kernels for convolutional
        # models on CPU devices; tests/test_ntk.py checks every method and model.
        mesh = mesh_1d("rows")
        x1_in = shard_leading(x1, mesh, "rows")
        params = replicate(params, mesh)
        x2 = replicate(x1 if symmetric else x2, mesh)
        kernel = _sharded_kernel(apply_fn, mlp, method, memory_budget, columns, mesh)(
            params, x1_in, x2)
        kernel = jax.device_put(kernel[:n1], jax.devices()[0])
    else:
        kernel = _local_kernel(apply_fn, mlp, method, memory_budget, columns,
                               params, x1, x2)
    return _symmetrize(kernel) if symmetric else kernel


def _local_kernel(apply_fn, mlp, method, memory_budget, columns, params, x1, x2):
    """Θ(x1, x2) on one device (x2 None: the symmetric case, computed once)."""
    if method == "structured":
        if isinstance(mlp, MLP):
            return _structured_ntk(mlp, params, x1, x2)
        return _conv_structured_ntk(mlp, params, x1, x2)
    if method == "jacobian":
        return _jacobian_ntk(apply_fn, params, x1, x2, memory_budget)
    return _ntvp_ntk(apply_fn, params, x1, x1 if x2 is None else x2, columns)


@lru_cache(maxsize=64)
def _sharded_kernel(apply_fn, mlp, method, memory_budget, columns, mesh):
    """A jitted shard_map computing each device's rows of Θ; one per configuration."""
    spec = jax.sharding.PartitionSpec

    def local(params, x1_block, x2_all):
        return _local_kernel(apply_fn, mlp, method, memory_budget, columns,
                             params, x1_block, x2_all)

    return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(spec(), spec("rows"), spec()),
                                 out_specs=spec("rows"), check_vma=False))


def kernel_fn(apply_fn: Callable, method: str = "auto", *, columns: int = 16) -> Callable:
    r"""A pure, jittable and differentiable ``(params, x) -> Theta(x, x)``.

    For use inside compiled programs (training diagnostics, ascent on the
    kernel change): no validation, no blocking and no sharding happen inside.
    ``"auto"`` is ``"structured"`` for an :class:`~lplr_core.models.MLP` and
    ``"jacobian"`` otherwise.
    """
    method = check_choice("method", method, NTK_METHODS)
    mlp = _structured_model_of(apply_fn)
    if method == "structured" and mlp is None:
        raise ValueError("method='structured' is available only for lplr_core.models.MLP, CNN "
                         f"and ResNetCNN; got apply_fn={describe(apply_fn)}")
    if method == "auto":
        method = "structured" if isinstance(mlp, MLP) else "jacobian"
    if method == "structured":
        if isinstance(mlp, MLP):
            return lambda params, x: _symmetrize(_structured_ntk(mlp, params, x, None))
        return lambda params, x: _symmetrize(_conv_structured_ntk(mlp, params, x, None))
    if method == "jacobian":
        def jacobian_kernel(params, x):
            jac = _per_sample_grads(apply_fn, params, x)
            return _symmetrize(_contract(jac, jac))
        return jacobian_kernel
    return lambda params, x: _symmetrize(_ntvp_ntk(apply_fn, params, x, x, columns))


def _symmetrize(kernel):
    return 0.5 * (kernel + kernel.T)


def ntk_matvec(apply_fn: Callable, params: Any, x1: Any, x2: Any = None) -> Callable:
    r"""A jitted function ``v -> Theta(X_1, X_2) v``, never forming :math:`\Theta`.

    ``v`` has shape ``(n2,)`` or ``(n2, k)`` (``k`` products at once). Each
    product costs one VJP through :math:`f(X_2)` and one JVP through
    :math:`f(X_1)`: time :math:`O((n_1 + n_2) F)`, memory :math:`O(p + (n_1 +
    n_2) a)`. Use it with Lanczos or LOBPCG (see :func:`matrix_free_eigenvalues`)
    when :math:`n` is too large for the matrix.
    """
    params, x1, x2 = _check_inputs(apply_fn, params, x1, x2)
    x2_ = x1 if x2 is None else x2
    n2 = x2_.shape[0]
    single = jax.jit(_matvec_fn(apply_fn, params, x1, x2_))
    batched = jax.jit(jax.vmap(_matvec_fn(apply_fn, params, x1, x2_), in_axes=1, out_axes=1))

    dtype = _result_dtype(params, x2_)

    def matvec(v):
        v = jnp.asarray(check_array("v", v, ndim=(1, 2)), dtype)
        if v.ndim not in (1, 2) or v.shape[0] != n2:
            raise ValueError(f"v must have shape ({n2},) or ({n2}, k); got {tuple(v.shape)}")
        return single(v) if v.ndim == 1 else batched(v)

    return matvec


# ---------------------------------------------------------------------------- spectra

def _check_kernel(name: str, kernel: Any) -> jax.Array:
    kernel = check_array(name, kernel, ndim=2)
    if kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"{name} must be a square (n, n) kernel matrix; got shape "
                         f"{tuple(kernel.shape)}")
    return kernel


def ntk_eigenvalues(kernel: Any) -> jax.Array:
    """All eigenvalues of a symmetric kernel matrix, ascending."""
    kernel = _check_kernel("kernel", kernel)
    return jnp.linalg.eigvalsh(0.5 * (kernel + kernel.T))


def lambda_min(kernel: Any) -> float:
    r""":math:`\lambda_{\min}(\Theta)`, the NTK spectral gap (the paper's :math:`\lambda_0` at :math:`\theta_0`)."""
    return float(ntk_eigenvalues(kernel)[0])


def lambda_max(kernel: Any) -> float:
    r""":math:`\lambda_{\max}(\Theta)`."""
    return float(ntk_eigenvalues(kernel)[-1])


def condition_number(kernel: Any) -> float:
    r""":math:`\kappa = \lambda_{\max} / \lambda_{\min}`; ``inf`` when :math:`\lambda_{\min} \le 0`."""
    ev = ntk_eigenvalues(kernel)
    lo, hi = float(ev[0]), float(ev[-1])
    return math.inf if lo <= 0 else hi / lo


def top_eigenvalues(kernel: Any, k: int) -> jax.Array:
    """The ``k`` largest eigenvalues, descending."""
    kernel = _check_kernel("kernel", kernel)
    k = check_int("k", k, minimum=1, maximum=kernel.shape[0])
    return ntk_eigenvalues(kernel)[::-1][:k]


def matrix_free_eigenvalues(apply_fn: Callable, params: Any, x: Any, *, k: int = 1,
                            which: str = "largest", tol: float = 1e-6,
                            maxiter: int | None = None) -> np.ndarray:
    """Extreme eigenvalues of :math:`\\Theta(X, X)` from :func:`ntk_matvec` (Lanczos).

    Uses ``scipy.sparse.linalg.eigsh`` on a linear operator, so the kernel is
    never formed: memory :math:`O(p + n)` per product.

    Args:
      k: how many eigenvalues (``1 <= k < n``).
      which: ``"largest"`` or ``"smallest"``.
    Returns:
      The ``k`` eigenvalues, descending for ``"largest"``, ascending for
      ``"smallest"``.
    """
    from scipy.sparse.linalg import LinearOperator, eigsh

    matvec = ntk_matvec(apply_fn, params, x)
    n = jnp.asarray(x).shape[0]
    k = check_int("k", k, minimum=1, maximum=max(1, n - 1))
    which = check_choice("which", which, ("largest", "smallest"))
    tol = check_real("tol", tol, minimum=0.0)
    if maxiter is not None:
        maxiter = check_int("maxiter", maxiter, minimum=1)
    dtype = np.dtype(_result_dtype(params, jnp.asarray(x)))
    op = LinearOperator((n, n), matvec=lambda v: np.asarray(matvec(jnp.asarray(v.ravel(), dtype))),
                        dtype=dtype)
    vals = eigsh(op, k=k, which="LA" if which == "largest" else "SA", tol=tol,
                 maxiter=maxiter, return_eigenvectors=False)
    vals = np.sort(vals)
    return vals[::-1] if which == "largest" else vals


# ------------------------------------------------------------------- infinite width

# Trapezoid rule on [-8, 8] in standard normal coordinates. For a Gaussian-weighted
# integrand analytic in a strip |Im z| < a its error decays like exp(-2 pi a / h).
# tanh(s z) has a = pi / (2 s) with s the pre-activation scale, so the spacing must
# shrink like 1 / s: h = min(1/8, 0.3 / s_max) keeps the error near 1e-10 or below
# (s = 5: h = 0.06, 267 nodes per axis).
_QUAD_H = 0.125
_QUAD_L = 8.0


def _quadrature_spacing(*variances) -> float:
    try:
        q_max = max(float(jnp.max(v)) for v in variances)
    except (TypeError, jax.errors.ConcretizationTypeError):  # traced: use the default
        return _QUAD_H
    return min(_QUAD_H, 0.3 / math.sqrt(max(q_max, 1e-12)))


def _gauss_expectations(phi, qa, qb, c):
    """E[phi(u) phi(v)] and E[phi'(u) phi'(v)] for (u, v) ~ N(0, [[qa, c], [c, qb]]).

    Elementwise over broadcast arrays. A 2-D trapezoid rule in standard normal
    coordinates, written with the Cholesky factor u = sqrt(qa) z1,
    v = sqrt(qb) (rho z1 + sqrt(1 - rho^2) z2), with a spacing that shrinks
    with the largest variance (see ``_quadrature_spacing``).
    """
    qa, qb, c = jnp.broadcast_arrays(qa, qb, c)
    h = _quadrature_spacing(qa, qb)
    z = np.arange(-_QUAD_L, _QUAD_L + h / 2, h)
    w = np.exp(-0.5 * z * z)
    w = jnp.asarray(w / w.sum(), c.dtype)
    z = jnp.asarray(z, c.dtype)
    dphi = lambda h: jax.jvp(phi, (h,), (jnp.ones_like(h),))[1]  # noqa: E731
    sa, sb = jnp.sqrt(qa), jnp.sqrt(qb)
    rho = jnp.clip(jnp.where(sa * sb > 0, c / jnp.where(sa * sb > 0, sa * sb, 1.0), 0.0),
                   -1.0, 1.0)
    comp = jnp.sqrt(jnp.maximum(1.0 - rho ** 2, 0.0))

    def one_node(zw):
        z1, w1 = zw
        u = sa * z1
        v = sb[..., None] * (rho[..., None] * z1 + comp[..., None] * z)
        return (w1 * phi(u) * (phi(v) * w).sum(-1),
                w1 * dphi(u) * (dphi(v) * w).sum(-1))

    e_phi, e_dphi = jax.lax.map(one_node, (z, w))
    return e_phi.sum(0), e_dphi.sum(0)


def _closed_form_expectations(activation, qa, qb, c):
    """The same expectations in closed form for relu, erf and linear (elementwise)."""
    qa, qb, c = jnp.broadcast_arrays(qa, qb, c)
    if activation == "relu":
        s = jnp.sqrt(qa * qb)
        cos = jnp.clip(jnp.where(s > 0, c / jnp.where(s > 0, s, 1.0), 0.0), -1.0, 1.0)
        theta = jnp.arccos(cos)
        e_phi = s / (2 * math.pi) * (jnp.sin(theta) + (math.pi - theta) * cos)
        e_dphi = (math.pi - theta) / (2 * math.pi)
        return e_phi, e_dphi
    if activation == "erf":
        a = (1 + 2 * qa) * (1 + 2 * qb)
        e_phi = (2 / math.pi) * jnp.arcsin(jnp.clip(2 * c / jnp.sqrt(a), -1.0, 1.0))
        e_dphi = (4 / math.pi) / jnp.sqrt(a - 4 * c ** 2)
        return e_phi, e_dphi
    if activation == "linear":
        return c, jnp.ones_like(c)
    raise KeyError(activation)


def infinite_width_ntk(mlp: MLP, x1: Any, x2: Any = None) -> jax.Array:
    r"""The analytic NTK of :class:`~lplr_core.models.MLP` (ntk parameterization) as all widths grow.

    With :math:`\Sigma^{(1)}(x, x') = \sigma_w^2 x^\top x'/d + \sigma_b^2` and, for
    :math:`l = 1, \dots, L`, :math:`(u, v) \sim \mathcal N(0, \Sigma^{(l)})` on the
    pair,

    .. math::
        \Sigma^{(l+1)} = \sigma_w^2\,\mathbb E[\phi(u)\phi(v)] + \sigma_b^2, \quad
        \dot\Sigma^{(l+1)} = \sigma_w^2\,\mathbb E[\phi'(u)\phi'(v)], \quad
        \Theta^{(l+1)} = \Theta^{(l)} \dot\Sigma^{(l+1)} + \Sigma^{(l+1)},

    with :math:`\Theta^{(1)} = \Sigma^{(1)}`; the result is :math:`\Theta^{(L+1)}`
    (Jacot et al. 2018). The expectations are closed forms for ``"relu"`` (the
    arc-cosine kernel), ``"erf"`` (Williams 1997) and ``"linear"``, and a 129 x 129
    trapezoid quadrature (spacing adapted to the variances; about 1e-10) for ``"tanh"``, ``"gelu"`` and ``"softplus"``.

    The empirical NTK of a network with all hidden widths ``m`` converges to this
    kernel as ``m -> infinity``, with fluctuations of order ``1/sqrt(m)``.

    Raises:
      ValueError: for the standard parameterization, whose NTK grows with the
        width and has no finite limit.
    """
    if not isinstance(mlp, MLP):
        raise TypeError(f"mlp must be an lplr_core.models.MLP; got {describe(mlp)}")
    if mlp.parameterization != "ntk":
        raise ValueError(
            "infinite_width_ntk needs mlp.parameterization == 'ntk': in the standard "
            "parameterization the NTK grows with the width and has no finite limit; got "
            f"parameterization={mlp.parameterization!r}")
    x1 = check_array("x1", x1, ndim=2)
    if x2 is not None:
        x2 = check_array("x2", x2, ndim=2)
        check_same_features("x1", x1, "x2", x2)
    x2_ = x1 if x2 is None else x2
    d = x1.shape[1]
    sw2, sb2 = mlp.w_std ** 2, mlp.b_std ** 2
    sigma = sw2 * (x1 @ x2_.T) / d + sb2
    q1 = sw2 * jnp.sum(x1 * x1, axis=1) / d + sb2
    q2 = sw2 * jnp.sum(x2_ * x2_, axis=1) / d + sb2
    theta = sigma
    phi = ACTIVATIONS[mlp.activation]
    if mlp.activation in ("relu", "erf", "linear"):
        expect = partial(_closed_form_expectations, mlp.activation)
    else:
        expect = partial(_gauss_expectations, phi)
    for _ in range(mlp.depth):
        e_phi, e_dphi = expect(q1[:, None], q2[None, :], sigma)
        sigma = sw2 * e_phi + sb2
        theta = theta * (sw2 * e_dphi) + sigma
        q1 = sw2 * expect(q1, q1, q1)[0] + sb2
        q2 = sw2 * expect(q2, q2, q2)[0] + sb2
    if x2 is None:
        theta = 0.5 * (theta + theta.T)
    return theta
