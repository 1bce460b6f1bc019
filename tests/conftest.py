"""Shared test setup: float64 available everywhere; float32 tests cast explicitly."""

import os

# Two host devices so that sharded code paths can be compared with unsharded ones.
# Must be set before JAX initializes its backends.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def require_system_fashion():
    """Skip without the Debian Fashion-MNIST package, but fail under CI (which installs it)."""
    from lplr_core.data import SYSTEM_FASHION_MNIST_DIR

    if not SYSTEM_FASHION_MNIST_DIR.is_dir():
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"CI is set but {SYSTEM_FASHION_MNIST_DIR} is missing: the CI image "
                        f"must `apt-get install dataset-fashion-mnist`")
        pytest.skip(f"{SYSTEM_FASHION_MNIST_DIR} absent (apt-get install "
                    f"dataset-fashion-mnist); with CI set this fails instead")
