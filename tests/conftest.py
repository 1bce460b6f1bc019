"""Shared test setup: float64 available everywhere; float32 tests cast explicitly."""

import os

# Two host devices so that sharded code paths can be compared with unsharded ones.
# Must be set before JAX initializes its backends.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
