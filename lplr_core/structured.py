r"""Structured derivatives for any ``apply_fn``, read from its jaxpr (the NTK's ``"jaxpr"`` method).

The empirical NTK of a scalar-output network is :math:`\Theta_{ij} = \sum_w \langle
\partial f_i / \partial w, \partial f_j / \partial w\rangle` over the parameter leaves
:math:`w`. For a leaf used only as an operand of linear primitives, the per-sample
gradient has structure that the Jacobian contraction ignores (Novak, Sohl-Dickstein &
Schoenholz 2022, "Fast Finite Width Neural Tangent Kernel", structured derivatives).
This module finds that structure in the jaxpr of the per-sample function
:math:`g(\theta, x_i) = f(\theta, x_i[\text{None}])[0]` (samples never interact, so
``vmap`` over them is exact) and uses it:

* a leaf :math:`W` used as one operand of ``dot_general`` (no batch dimensions on it):
  with the other operand reshaped to :math:`A_i \in \mathbb R^{P \times C}` (``P``
  free "positions", e.g. tokens; ``P = 1`` for a dense layer on one sample) and the
  cotangent of the primitive's output reshaped to :math:`\delta_i \in \mathbb R^{P
  \times F}`, :math:`\partial f_i / \partial W = A_i^\top \delta_i`;
* a leaf used as the kernel of ``conv_general_dilated`` (no feature or batch groups):
  the same with :math:`A_i` the input patches (``P`` output positions, ``C`` the patch
  size) -- the convolution's weight gradient;
* a leaf used at several such sites with the same layout (shared weights): the sites'
  positions are concatenated, :math:`\partial f_i / \partial W = \sum_s A_{s,i}^\top
  \delta_{s,i}`.

The cotangents :math:`\delta` of all sites come from one batched backward pass: a zero
"probe" is added to every site's output and the gradient is taken with respect to the
probes. Every other leaf (biases, a leaf used nonlinearly, a leaf used at sites of
different layouts) gets its per-sample gradients in the same backward pass (or, when
those would exceed the memory budget, from the caller's ``fallback`` kernel) and is
contracted as in the Jacobian method. Then, per structured leaf, the cheaper (in FLOPs) of

* ``"gram"``: form :math:`G_i = A_i^\top \delta_i` and contract,
  :math:`\Theta = G_1 G_2^\top`; time :math:`2(n_1 + n_2) P C F + 2 n_1 n_2 C F`.
  :math:`G` is then taken from the backward pass itself, as for a fallback leaf (for a
  convolution, XLA's weight-gradient convolution, which never materializes the
  :math:`P \times C` patches);
* ``"pairs"``: never form :math:`G`, :math:`\Theta_{ij} = \sum_{p,q} (A_{ip} \cdot
  A_{jq})(\delta_{ip} \cdot \delta_{jq})`; time :math:`2 n_1 n_2 P^2 (C + F)`, memory
  :math:`n_1 n_2 P^2` (for a dense layer, :math:`P = 1`: :math:`(A_1 A_2^\top) \circ
  (\Delta_1 \Delta_2^\top)`).

Exact up to round-off; pure JAX, so it works under ``jit``, ``vmap`` (over stacked
parameters or over inputs) and ``grad``. Calls to ``jax.jit`` functions inside
``apply_fn`` are inlined when parameters flow into them; anything else that a leaf
flows into (``custom_jvp`` functions, control flow, elementwise operations) makes that
leaf a fallback leaf.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Literal, Var

__all__ = ["Site", "JaxprStructure", "jaxpr_structure", "jaxpr_ntk", "jaxpr_ntk_flops",
           "contraction_rules", "formless_fraction", "PAIRS_MAX_ENTRIES"]

# Call-like primitives whose body is inlined when a parameter leaf flows into it.
_CALLS = {"jit": "jaxpr", "pjit": "jaxpr", "closed_call": "call_jaxpr",
          "core_call": "call_jaxpr"}


class Site(NamedTuple):
    """One use of a parameter leaf as an operand of a linear primitive.

    Attributes:
      path: indices of the equation through inlined calls (its identity).
      leaf: index of the leaf in ``jax.tree_util.tree_leaves(params)``.
      kind: ``"dot"`` or ``"conv"``.
      layout: what must agree for two sites of one leaf to be summed (the leaf's
        contracting dimensions for ``"dot"``; the dimension numbers and kernel shape
        for ``"conv"``).
      positions: ``P``, the free positions per sample.
      contract: ``C``, the size contracted with the leaf.
      features: ``F``, the size of the leaf's free (output) dimensions.
    """
    path: tuple
    leaf: int
    kind: str
    layout: tuple
    positions: int
    contract: int
    features: int


class JaxprStructure(NamedTuple):
    """What :func:`jaxpr_structure` found.

    Attributes:
      sites: the sites of the structured leaves.
      structured: indices of the leaves handled by their sites.
      fallback: indices of the leaves that need per-sample gradients (used other
        than at sites, or at sites of different layouts).
      unused: indices of leaves the output does not depend on.
      reasons: ``{leaf index: why it is a fallback leaf}``.
    """
    sites: tuple
    structured: tuple
    fallback: tuple
    unused: tuple
    reasons: dict


def _per_sample(apply_fn, treedef):
    def g(leaves, xi):
        return apply_fn(jax.tree_util.tree_unflatten(treedef, list(leaves)), xi[None])[0]
    return g


def _spec(a):
    return jax.ShapeDtypeStruct(np.shape(a), a.dtype if hasattr(a, "dtype")
                                else jnp.result_type(a))


def _trace(apply_fn, params, x):
    """The ClosedJaxpr of the per-sample function and the params' treedef (``x``: an
    array or ShapeDtypeStruct of inputs ``(n, ...)``; only its shape and dtype are used)."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    g = _per_sample(apply_fn, treedef)
    sample = jax.ShapeDtypeStruct(tuple(np.shape(x))[1:] if not hasattr(x, "shape")
                                  else tuple(x.shape)[1:], x.dtype)
    closed = jax.make_jaxpr(g)([_spec(l) for l in leaves], sample)
    return closed, treedef, len(leaves)


def _dot_site(eqn, pos, shapes):
    """(layout, P, C, F) of a dot_general whose operand ``pos`` (0 lhs, 1 rhs) is a leaf,
    or None when it has batch dimensions."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    if lb or rb:
        return None
    w_contract = (lc, rc)[pos]
    a_contract = (lc, rc)[1 - pos]
    w_shape, a_shape = shapes[pos], shapes[1 - pos]
    w_free = [d for d in range(len(w_shape)) if d not in w_contract]
    a_free = [d for d in range(len(a_shape)) if d not in a_contract]
    p = int(np.prod([a_shape[d] for d in a_free], dtype=np.int64))
    c = int(np.prod([w_shape[d] for d in w_contract], dtype=np.int64))
    f = int(np.prod([w_shape[d] for d in w_free], dtype=np.int64))
    return ("dot", tuple(w_contract)), p, c, f


def _conv_site(eqn, shapes):
    """(layout, P, C, F) of a conv_general_dilated whose kernel is a leaf, or None."""
    prm = eqn.params
    if prm["feature_group_count"] != 1 or prm["batch_group_count"] != 1:
        return None
    dn = prm["dimension_numbers"]
    lhs_shape, rhs_shape = shapes
    out_shape = eqn.outvars[0].aval.shape
    spatial_k = [rhs_shape[d] for d in dn.rhs_spec[2:]]
    cin = lhs_shape[dn.lhs_spec[1]]
    p = int(np.prod([out_shape[d] for d in (dn.out_spec[0], *dn.out_spec[2:])], dtype=np.int64))
    c = int(cin * np.prod(spatial_k, dtype=np.int64))
    f = int(rhs_shape[dn.rhs_spec[0]])
    layout = ("conv", tuple(dn.lhs_spec), tuple(dn.rhs_spec), tuple(dn.out_spec),
              tuple(rhs_shape))
    return layout, p, c, f


def _scan(jaxpr, leaf_of, path, sites, bad):
    """Walk ``jaxpr`` (inlining calls that parameter leaves flow into): record the sites
    and the leaves used any other way."""
    for v in jaxpr.outvars:
        if isinstance(v, Var) and v in leaf_of:
            bad.setdefault(leaf_of[v], "returned as an output")
    for idx, eqn in enumerate(jaxpr.eqns):
        ins = [(k, leaf_of[v]) for k, v in enumerate(eqn.invars)
               if isinstance(v, Var) and v in leaf_of]
        if not ins:
            continue
        name = eqn.primitive.name
        key = (*path, idx)
        if name in _CALLS and _CALLS[name] in eqn.params:
            sub = eqn.params[_CALLS[name]]
            sub_jaxpr = getattr(sub, "jaxpr", sub)
            inner = {sub_jaxpr.invars[k]: leaf for k, leaf in ins}
            _scan(sub_jaxpr, inner, key, sites, bad)
            continue
        found = None
        if len(ins) == 1 and len({leaf for _, leaf in ins}) == 1:
            pos, leaf = ins[0]
            shapes = [np.shape(v.aval) if hasattr(v, "aval") else () for v in eqn.invars]
            if name == "dot_general" and pos in (0, 1):
                found = _dot_site(eqn, pos, shapes)
                why = "a batched dot_general operand"
            elif name == "conv_general_dilated" and pos == 1:
                found = _conv_site(eqn, shapes)
                why = "a grouped convolution's kernel"
            else:
                why = f"an operand of {name}"
            if found is not None:
                layout, p, c, f = found
                sites.append(Site(key, leaf, name == "dot_general" and "dot" or "conv",
                                  (pos if name == "dot_general" else 1, layout), p, c, f))
                continue
            bad.setdefault(leaf, f"used as {why}")
        else:
            for _, leaf in ins:
                bad.setdefault(leaf, f"used twice by one {name}")


def jaxpr_structure(apply_fn: Callable, params: Any, x: jax.Array) -> JaxprStructure:
    """Find the structured sites of ``apply_fn`` (see the module docstring).

    Static: only the shapes and dtypes of ``params`` and ``x`` are used (works on
    tracers under ``jit``/``vmap``).

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)``.
      params: the parameter pytree.
      x: inputs ``(n, ...)`` (only one sample's shape is used).
    """
    leaves, treedef = jax.tree_util.tree_flatten(params)
    signature = (treedef, tuple((np.shape(l), jnp.result_type(l)) for l in leaves),
                 tuple(np.shape(x)[1:]), jnp.result_type(x))
    try:
        hash(apply_fn)
    except TypeError:
        return _structure(apply_fn, signature)
    return _cached_structure(apply_fn, signature)


@lru_cache(maxsize=128)
def _cached_structure(apply_fn, signature):
    return _structure(apply_fn, signature)


def _structure(apply_fn, signature):
    treedef, leaf_specs, x_shape, x_dtype = signature
    params = jax.tree_util.tree_unflatten(
        treedef, [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in leaf_specs])
    closed, _, n_leaves = _trace(apply_fn, params, jax.ShapeDtypeStruct((1, *x_shape), x_dtype))
    jaxpr = closed.jaxpr
    leaf_of = {v: k for k, v in enumerate(jaxpr.invars[:n_leaves])}
    sites, bad = [], {}
    _scan(jaxpr, leaf_of, (), sites, bad)
    used = {s.leaf for s in sites} | set(bad)
    reasons = dict(bad)
    by_leaf: dict[int, list] = {}
    for s in sites:
        by_leaf.setdefault(s.leaf, []).append(s)
    for leaf, group in by_leaf.items():
        if leaf not in reasons and len({s.layout for s in group}) > 1:
            reasons[leaf] = "used at sites of different layouts"
    structured = tuple(sorted(k for k in by_leaf if k not in reasons))
    keep = tuple(s for s in sites if s.leaf in structured)
    fallback = tuple(sorted(reasons))
    unused = tuple(k for k in range(n_leaves) if k not in used)
    return JaxprStructure(keep, structured, fallback, unused, reasons)


# ------------------------------------------------------------------------- evaluation

def _bind(eqn, invals):
    params = eqn.primitive.get_bind_params(eqn.params)
    with eqn.ctx.manager:
        out = eqn.primitive.bind(*invals, **params)
    return out if eqn.primitive.multiple_results else [out]


def _patches(eqn, lhs):
    """The input patches of a convolution for one sample: (P, C), C = in channels x kernel
    positions. Strided slices of the padded (and, for ``lhs_dilation``, interior-padded)
    input, one per kernel position: on CPU about 10x faster than
    ``conv_general_dilated_patches`` (a convolution with a 0/1 kernel)."""
    prm = eqn.params
    dn = prm["dimension_numbers"]
    rhs_shape = eqn.invars[1].aval.shape
    out_shape = eqn.outvars[0].aval.shape
    kernel = [rhs_shape[d] for d in dn.rhs_spec[2:]]
    out = [out_shape[d] for d in dn.out_spec[2:]]
    strides, rhs_dil = prm["window_strides"], prm["rhs_dilation"]
    lhs_dil = prm["lhs_dilation"]
    z = jnp.transpose(lhs, dn.lhs_spec)  # (N, C, spatial...) in the conv's spatial order
    config = [(0, 0, 0), (0, 0, 0)] + [(lo, hi, ld - 1)
                                       for (lo, hi), ld in zip(prm["padding"], lhs_dil)]
    z = jax.lax.pad(z, jnp.zeros((), z.dtype), config)
    cols = []
    for offset in np.ndindex(*kernel):
        start = [0, 0, *(o * r for o, r in zip(offset, rhs_dil))]
        limit = [z.shape[0], z.shape[1],
                 *(b + (m - 1) * st + 1 for b, m, st in zip(start[2:], out, strides))]
        cols.append(jax.lax.slice(z, start, limit, [1, 1, *strides]))
    patches = jnp.stack(cols, axis=2)                    # (N, C, K, out spatial...)
    patches = patches.reshape(z.shape[0], -1, *out)      # (N, C*K, out spatial...)
    patches = jnp.moveaxis(patches, 1, -1)               # (N, out spatial..., C*K)
    return patches.reshape(-1, patches.shape[-1])


def _operand_matrix(site, eqn, invals):
    """The other operand of a site for one sample, as (P, C)."""
    if site.kind == "conv":
        return _patches(eqn, invals[0])
    pos = site.layout[0]
    (lc, rc), _ = eqn.params["dimension_numbers"]
    a_contract = (lc, rc)[1 - pos]
    a = invals[1 - pos]
    a_free = [d for d in range(a.ndim) if d not in a_contract]
    return jnp.transpose(a, (*a_free, *a_contract)).reshape(site.positions, site.contract)


def _cotangent_matrix(site, eqn, delta):
    """A site's output cotangent for one sample, as (P, F)."""
    if site.kind == "conv":
        dn = eqn.params["dimension_numbers"]
        d = jnp.transpose(delta, (dn.out_spec[0], *dn.out_spec[2:], dn.out_spec[1]))
        return d.reshape(site.positions, site.features)
    pos = site.layout[0]
    if pos == 0:   # the output is (leaf free..., other free...): move the leaf's axes last
        n_w_free = eqn.invars[0].aval.ndim - len(site.layout[1][1])
        delta = jnp.moveaxis(delta, tuple(range(n_w_free)),
                             tuple(range(delta.ndim - n_w_free, delta.ndim)))
    return delta.reshape(site.positions, site.features)


def _run(jaxpr, consts, args, path, ctx):
    env = {}

    def read(v):
        return v.val if isinstance(v, Literal) else env[v]

    for v, val in zip(jaxpr.constvars, consts):
        env[v] = val
    for v, val in zip(jaxpr.invars, args):
        env[v] = val
    for idx, eqn in enumerate(jaxpr.eqns):
        key = (*path, idx)
        invals = [read(v) for v in eqn.invars]
        if key in ctx["sites"]:
            site = ctx["sites"][key]
            (out,) = _bind(eqn, invals)
            ctx["operands"][key] = _operand_matrix(site, eqn, invals)
            outs = [out + ctx["probes"][key]]
        elif key in ctx["inline"]:
            sub = eqn.params[_CALLS[eqn.primitive.name]]
            outs = _run(sub.jaxpr, sub.consts, invals, key, ctx)
        else:
            outs = _bind(eqn, invals)
        for v, val in zip(eqn.outvars, outs):
            env[v] = val
    return [read(v) for v in jaxpr.outvars]


def _factors(apply_fn, params, x, structure, grad_leaves):
    """One batched forward and backward pass over the samples of ``x``.

    Returns ``({site path: (A (n, P, C), delta (n, P, F))}, per-sample gradients of the
    leaves ``grad_leaves`` as one (n, Σ sizes) matrix or None)``.
    """
    closed, treedef, n_leaves = _trace(apply_fn, params, x)
    leaves = jax.tree_util.tree_leaves(params)
    sites = {s.path: s for s in structure.sites}
    inline = {s.path[:k] for s in structure.sites for k in range(1, len(s.path))}
    # The equation of each site, for the shapes of its probe and its operands.
    eqns = {}

    def find(jaxpr, path):
        for idx, eqn in enumerate(jaxpr.eqns):
            key = (*path, idx)
            if key in sites:
                eqns[key] = eqn
            elif key in inline:
                find(eqn.params[_CALLS[eqn.primitive.name]].jaxpr, key)
    find(closed.jaxpr, ())
    dtype = jnp.result_type(*leaves, x)
    probes = {k: jnp.zeros(e.outvars[0].aval.shape, e.outvars[0].aval.dtype)
              for k, e in eqns.items()}

    def one(chosen, probes, xi):
        args = list(leaves)
        for index, leaf in zip(grad_leaves, chosen):
            args[index] = leaf
        ctx = {"sites": sites, "inline": inline, "probes": probes, "operands": {}}
        (out,) = _run(closed.jaxpr, closed.consts, [*args, xi], (), ctx)
        return out, ctx["operands"]

    chosen = [leaves[i] for i in grad_leaves]
    (grads, deltas), operands = jax.vmap(jax.grad(one, argnums=(0, 1), has_aux=True),
                                         in_axes=(None, None, 0))(chosen, probes, x)
    factors = {}
    for key, site in sites.items():
        d = jax.vmap(lambda t: _cotangent_matrix(site, eqns[key], t))(deltas[key])
        factors[key] = (operands[key].astype(dtype), d.astype(dtype))
    flat = None
    if grad_leaves:
        flat = jnp.concatenate([g.reshape(x.shape[0], -1).astype(dtype) for g in grads], axis=1)
    return factors, flat


def _leaf_factors(structure, factors):
    """Per structured leaf: (A (n, ΣP, C), delta (n, ΣP, F)), its sites' positions joined."""
    out = {}
    for leaf in structure.structured:
        keys = [s.path for s in structure.sites if s.leaf == leaf]
        a = [factors[k][0] for k in keys]
        d = [factors[k][1] for k in keys]
        out[leaf] = (a[0], d[0]) if len(keys) == 1 else (
            jnp.concatenate(a, axis=1), jnp.concatenate(d, axis=1))
    return out


#: Most entries of the (n1, n2, P, P) products the "pairs" contraction may hold (two of
#: them are alive at once): past this, "gram" is used whatever its FLOPs.
PAIRS_MAX_ENTRIES = 1 << 26


def _rule(n1, n2, p, c, f):
    """``"pairs"`` or ``"gram"``: the cheaper contraction for one leaf (FLOPs), "gram"
    when the pairs' products would exceed :data:`PAIRS_MAX_ENTRIES`."""
    gram = 2.0 * (n1 + n2) * p * c * f + 2.0 * n1 * n2 * c * f
    pairs = 2.0 * n1 * n2 * p * p * (c + f) + n1 * n2 * p * p
    if p > 1 and n1 * n2 * p * p > PAIRS_MAX_ENTRIES:
        return "gram"
    return "pairs" if pairs <= gram else "gram"


def contraction_rules(structure: JaxprStructure, n1: int, n2: int) -> dict[int, str]:
    """``{structured leaf: "pairs" or "gram"}``: the contraction :func:`jaxpr_ntk` uses
    for each structured leaf at these sample counts (the cheaper in FLOPs)."""
    rules = {}
    for leaf in structure.structured:
        group = [s for s in structure.sites if s.leaf == leaf]
        rules[leaf] = _rule(n1, n2, sum(s.positions for s in group), group[0].contract,
                            group[0].features)
    return rules


def formless_fraction(structure: JaxprStructure, params: Any, n1: int, n2: int) -> float:
    """The fraction of the parameters whose kernel block :func:`jaxpr_ntk` computes
    without forming per-sample gradients (leaves with the ``"pairs"`` contraction)."""
    leaves = jax.tree_util.tree_leaves(params)
    total = sum(int(np.size(l)) for l in leaves)
    rules = contraction_rules(structure, n1, n2)
    formless = sum(int(np.size(leaves[k])) for k, r in rules.items() if r == "pairs")
    return formless / max(total, 1)


def _contract(a1, d1, a2, d2):
    """Σ_{p,q} (A1_ip · A2_jq)(δ1_ip · δ2_jq): the "pairs" contraction."""
    if a1.shape[1] == 1:
        return (a1[:, 0] @ a2[:, 0].T) * (d1[:, 0] @ d2[:, 0].T)
    ka = jnp.einsum("ipc,jqc->ijpq", a1, a2)
    kd = jnp.einsum("ipf,jqf->ijpq", d1, d2)
    return jnp.sum(ka * kd, axis=(2, 3))


def _split_fallback(indices, leaves, n, itemsize, memory_budget):
    """Leaves whose per-sample gradients (n rows) fit in the budget together: formed in
    the structured pass; the rest go to the caller's fallback kernel."""
    small, large, used = [], [], 0
    for i in indices:
        size = int(np.size(leaves[i]))
        if used + size * n * itemsize <= memory_budget:
            small.append(i)
            used += size * n * itemsize
        else:
            large.append(i)
    return tuple(small), tuple(large)


def jaxpr_ntk(apply_fn: Callable, params: Any, x1: jax.Array, x2: jax.Array | None, *,
              memory_budget: int,
              fallback: Callable[[Any, jax.Array, jax.Array | None, tuple], jax.Array]
              ) -> jax.Array:
    """Θ(x1, x2) by structured derivatives read from the jaxpr (module docstring).

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,)``.
      params: the parameter pytree.
      x1: inputs ``(n1, ...)``.
      x2: inputs ``(n2, ...)``, or None for ``x1`` (computed once).
      memory_budget: bytes for the per-sample gradients of the fallback leaves formed
        in the structured pass; larger ones go to ``fallback``.
      fallback: ``fallback(params, x1, x2, leaf_indices) -> (n1, n2)``, the
        contribution of the leaves ``leaf_indices`` (e.g. a Jacobian contraction).

    Returns:
      The kernel, ``(n1, n2)``, unsymmetrized.
    """
    structure = jaxpr_structure(apply_fn, params, x1)
    leaves = jax.tree_util.tree_leaves(params)
    dtype = jnp.result_type(*leaves, x1)
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    # A structured leaf whose "gram" contraction is cheaper gets its per-sample gradients
    # A_iᵀ δ_i from the backward pass itself (for a convolution, XLA's weight-gradient
    # convolution: never the P x C patches, which hold P / F times more numbers).
    rules = contraction_rules(structure, n1, n2)
    pairs = tuple(k for k in structure.structured if rules[k] == "pairs")
    per_sample = tuple(sorted((*structure.fallback,
                               *(k for k in structure.structured if rules[k] == "gram"))))
    structure = structure._replace(sites=tuple(s for s in structure.sites if s.leaf in pairs),
                                   structured=pairs)
    small, large = _split_fallback(per_sample, leaves, max(n1, n2),
                                   np.dtype(dtype).itemsize, memory_budget)
    f1, g1 = _factors(apply_fn, params, x1, structure, small)
    if x2 is None:
        f2, g2 = f1, g1
    else:
        f2, g2 = _factors(apply_fn, params, x2, structure, small)
    l1, l2 = _leaf_factors(structure, f1), _leaf_factors(structure, f2)
    kernel = jnp.zeros((n1, n2), dtype)
    for leaf in structure.structured:
        a1, d1 = l1[leaf]
        a2, d2 = l2[leaf] if x2 is not None else (a1, d1)
        kernel = kernel + _contract(a1, d1, a2, d2)
    if g1 is not None:
        kernel = kernel + g1 @ g2.T
    if large:
        kernel = kernel + fallback(params, x1, x2, large)
    return kernel


def jaxpr_ntk_flops(structure: JaxprStructure, params: Any, n1: int, n2: int) -> float:
    """FLOPs of the contractions of :func:`jaxpr_ntk` (without the forward and backward
    passes, about 3 forward passes per sample of each distinct input set)."""
    leaves = jax.tree_util.tree_leaves(params)
    total = 0.0
    rules = contraction_rules(structure, n1, n2)
    for leaf in structure.structured:
        group = [s for s in structure.sites if s.leaf == leaf]
        p = sum(s.positions for s in group)
        c, f = group[0].contract, group[0].features
        if rules[leaf] == "pairs":
            total += 2.0 * n1 * n2 * p * p * (c + f) + n1 * n2 * p * p
        else:   # per-sample gradients from the backward pass, then their Gram product
            total += 2.0 * n1 * n2 * c * f
    total += 2.0 * n1 * n2 * sum(int(np.size(leaves[i])) for i in structure.fallback)
    return total
