"""Device meshes for sharding over several JAX devices (GPUs, or CPU devices in tests)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec


def mesh_1d(axis: str) -> jax.sharding.Mesh:
    """A one-axis mesh over all devices, with automatic (GSPMD) partitioning.

    ``jax.make_mesh`` defaults to explicit axis types in recent JAX, under which
    ordinary jitted code refuses sharded operands; automatic axes let XLA
    propagate the sharding through the program.
    """
    n_dev = jax.device_count()
    return jax.make_mesh((n_dev,), (axis,), axis_types=(jax.sharding.AxisType.Auto,))


def shard_leading(tree, mesh: jax.sharding.Mesh, axis: str):
    """Pad every leaf's leading axis to a multiple of the device count (by
    repeating the last row) and shard it across ``axis``."""
    n_dev = mesh.shape[axis]

    def pad(a):
        extra = (-a.shape[0]) % n_dev
        if extra:
            a = jnp.concatenate([a, jnp.repeat(a[-1:], extra, axis=0)])
        return a

    return jax.device_put(jax.tree_util.tree_map(pad, tree),
                          NamedSharding(mesh, PartitionSpec(axis)))


def replicate(tree, mesh: jax.sharding.Mesh):
    """Copy a pytree to every device of ``mesh``."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))
