"""The kernel decorator: cached on disk, still compiled where no cache can be written, and its
cache stale when a kernel it inlines from another module changes (numba alone keys a cache by
the kernel's own file) while it is reused as long as nothing changes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

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


ROOT = Path(__file__).resolve().parents[2]

HELPER = """
from worlds.kernels import kernel


@kernel(inline="always")
def step(x):
    return x + {value}
"""

USER = """
from worlds.kernels import kernel
from demo_pkg.helper import step


@kernel
def twice(x):
    return step(step(x))
"""

RUN = """
import sys
sys.path[:0] = [{root!r}, {tmp!r}]
from demo_pkg.user import twice
print(twice(1), sum(twice.stats.cache_hits.values()), sum(twice.stats.cache_misses.values()))
"""


def run(tmp_path: Path) -> tuple[int, int, int]:
    code = RUN.format(root=str(ROOT), tmp=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    value, hits, misses = out.stdout.split()
    return int(value), int(hits), int(misses)


def test_cache_follows_the_modules_a_kernel_inlines(tmp_path):
    package = tmp_path / "demo_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text(textwrap.dedent(HELPER.format(value=1)))
    (package / "user.py").write_text(textwrap.dedent(USER))
    assert run(tmp_path) == (3, 0, 1)  # compiled, then saved
    assert run(tmp_path) == (3, 1, 0)  # loaded from disk: nothing changed
    # Only the helper's module changes (same size, so a size check would not see it either).
    (package / "helper.py").write_text(textwrap.dedent(HELPER.format(value=5)))
    assert run(tmp_path) == (11, 0, 1)  # numba alone would load the stale code: 3
    assert run(tmp_path) == (11, 1, 0)
