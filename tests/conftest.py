"""Shared test setup: float64 available everywhere; float32 tests cast explicitly."""

import os

# Two host devices so that sharded code paths can be compared with unsharded ones.
# Must be set before JAX initializes its backends.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)


import pytest  # noqa: E402


def _hide_full_fashion(mp: pytest.MonkeyPatch, empty_dir) -> None:
    """Make the full Fashion-MNIST unreachable: no system package, an empty data directory."""
    from lplr_core import data

    mp.setattr(data, "SYSTEM_FASHION_MNIST_DIR", empty_dir / "no-system-package")
    mp.setenv("LPLR_DATA_DIR", str(empty_dir))


@pytest.fixture(scope="session", autouse=True)
def _honour_hide_full_fashion(tmp_path_factory):
    """With LPLR_HIDE_FULL_FASHION=1 the whole session runs as if the full set were absent."""
    if os.environ.get("LPLR_HIDE_FULL_FASHION", "") in ("", "0"):
        yield
        return
    with pytest.MonkeyPatch.context() as mp:
        _hide_full_fashion(mp, tmp_path_factory.mktemp("hidden-fashion"))
        yield


@pytest.fixture
def without_full_fashion(monkeypatch, tmp_path):
    """This test sees only the shipped Fashion-MNIST subset (see _hide_full_fashion)."""
    _hide_full_fashion(monkeypatch, tmp_path)


@pytest.fixture(scope="session")
def hide_full_fashion():
    """``hide(mp, empty_dir)`` as in _hide_full_fashion, for wider-scoped fixtures.

    Use it inside ``with pytest.MonkeyPatch.context() as mp:`` so that it ends with them.
    """
    return _hide_full_fashion


@pytest.fixture
def full_fashion_mnist():
    """Skip unless the full Fashion-MNIST IDX files are on this machine.

    Nothing the suite needs comes from them: the book's samples come from the
    shipped subset (data/fashion_mnist_subset.npz). Tests using this fixture
    compare that subset with the official files, or use samples it does not cover.
    """
    from lplr_core import data

    try:
        for split in ("train", "test"):
            data._fashion_paths(split, None, False)
    except data.DataUnavailableError as exc:
        pytest.skip(f"the full Fashion-MNIST is absent (optional: apt-get install "
                    f"dataset-fashion-mnist, or lplr_core.data.download('fashion_mnist')): {exc}")
