"""The kernel decorator: cached on disk, and still compiled where no cache can be written."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import worlds.kernels as kernels


def test_kernels_are_cached_and_compiled_without_python_objects():
    from worlds.kernels.neighbours import nearest

    assert isinstance(nearest, numba.core.registry.CPUDispatcher)
    assert nearest._cache.__class__.__name__ == "FunctionCache"  # on-disk cache enabled
    assert nearest.targetoptions["nogil"] and not nearest.targetoptions.get("fastmath")


def test_without_a_writable_cache_location_the_kernel_compiles_per_process(monkeypatch):
    real = numba.njit

    def njit(**settings):
        if settings.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'x'")
        return real(**settings)

    monkeypatch.setattr(kernels, "_njit", njit)

    @kernels.kernel
    def twice(values):
        return values * 2

    np.testing.assert_array_equal(twice(np.arange(3)), [0, 2, 4])

    def broken(**settings):
        raise RuntimeError("something else")

    monkeypatch.setattr(kernels, "_njit", broken)
    with pytest.raises(RuntimeError, match="something else"):
        kernels.kernel(lambda v: v)
