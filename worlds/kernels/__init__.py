"""Compiled sensor kernels: the hot loops of ``worlds/`` sensors, written once with numba.

Scenario authors keep writing numpy and call the sensors ``worlds`` provides (``worlds.sensors``,
``worlds.visibility``, ``worlds.coverage`` ...); those call the kernels here. Each kernel has a
numpy reference (the vectorized version it replaced, kept beside the public function) and a test
that compares the two on random worlds (hypothesis), so a kernel can be read against plain numpy.

Conventions for every kernel module:

- ``@kernel`` (below): ``numba.njit`` with ``cache=True`` (compiled once per machine, kept on disk
  beside the module, loaded in milliseconds by later processes; only the kernels a process calls
  are compiled or loaded), ``nogil=True`` and ``error_model="numpy"`` (division by zero gives
  inf/nan as in numpy, with no Python exception checks in the loop). No ``fastmath``: results
  must not depend on how LLVM reorders float arithmetic (determinism, and equality with numpy).
- Arguments are numpy arrays and scalars only (no Python objects, lists or dicts inside); outputs
  are written into arrays the caller owns (``out=``), so a step allocates nothing.
- Arrays are batch-first ``(B, N, ...)`` float32 and hold x and y in separate arrays or as
  complex64 ``x + iy`` (``BodyGroup.position``); loops run world by world, so a world's result
  never depends on the batch around it.
- Each kernel does a whole stage (e.g. distances, the k nearest and the observation block in one
  pass): one call per stage keeps a single small world cheap, where numpy's per-call overhead
  (about 1 us) dominated.
"""

from __future__ import annotations

import numba

from worlds.kernels import cache as _cache

_njit = numba.njit
_cache.install()


def kernel(function=None, **options):
    """``numba.njit`` with this package's settings (see the module docstring). Where numba
    finds no writable place for its cache (neither beside the module nor in the user's cache
    directory, ``NUMBA_CACHE_DIR`` overrides both), the kernel compiles in every process. The
    cache also goes stale when another kernel module changes (``worlds.kernels.cache``)."""
    settings = {"cache": True, "nogil": True, "error_model": "numpy", **options}
    if function is None:
        return lambda f: kernel(f, **options)
    if settings["cache"]:
        _cache.track(function)
    try:
        return _njit(**settings)(function)
    except RuntimeError as error:  # numba: "cannot cache function ...: no locator available"
        if "cannot cache" not in str(error):
            raise
        return _njit(**{**settings, "cache": False})(function)


@kernel
def _nothing(x):  # pragma: no cover - compiled
    return x


def warm_up() -> None:
    """Start numba's compiler runtime now (a few tenths of a second, once per process: its
    typing registries, and the BLAS check that imports ``scipy.linalg``) rather than inside
    the first kernel call of a reset or step. ``World`` calls it when it is built, so that a
    batch's first step runs at the speed of the others; later calls cost a dispatch."""
    _nothing(0)
