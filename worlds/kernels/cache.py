"""Kernel caches that notice changes in other files.

Numba keys a function's on-disk cache by its own source file only: a kernel that calls (or
inlines) a kernel of another module keeps its cached machine code when only that other module
changes, and runs the old code (numba's documented limitation "changes in symbols defined in
another file are not detected"). A ``git pull`` that touches only ``worlds/kernels/coverage.py``
would leave ``scenarios/swarm/coverage_kernels.py``'s observation kernel with the old patch code.

Here every ``kernel`` of this package's decorator is cached under a stamp that also covers the
content of every kernel-defining module (a ``.py`` file that mentions ``@kernel`` or ``njit``) of
``worlds`` and ``scenarios``, and of the top-level package that defines the kernel when it lies
elsewhere (a scenario author's own package). Editing any of them recompiles the kernels on their
next use; editing a module without kernels does not. The stamp is worked out once per process
(a few milliseconds). Other libraries' numba functions keep numba's own locators.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from numba.core import caching

_ROOTS = tuple(str(Path(__file__).resolve().parents[2] / name) for name in ("worlds", "scenarios"))
_OURS: set = set()  # code objects of the functions ``kernel`` compiles with a cache


def track(function) -> None:
    """Cache ``function`` (about to be compiled by ``kernel``) under the wider stamp."""
    _OURS.add(function.__code__)


@functools.cache
def _tree_stamp(root: str) -> bytes:
    """Hash of the names and contents of the kernel-defining modules under ``root``."""
    digest = hashlib.sha256()
    for folder, subfolders, files in sorted(os.walk(root)):
        subfolders[:] = sorted(name for name in subfolders if name != "__pycache__")
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            try:
                data = Path(path).read_bytes()
            except OSError:
                continue
            if b"@kernel" in data or b"njit" in data:
                digest.update(os.path.relpath(path, root).encode() + b"\0")
                digest.update(hashlib.sha256(data).digest())
    return digest.digest()


def _package_root(py_file: str) -> str | None:
    """The top-level package folder that holds ``py_file``; None for a lone script."""
    folder = os.path.dirname(os.path.abspath(py_file))
    if not os.path.exists(os.path.join(folder, "__init__.py")):
        return None
    while os.path.exists(os.path.join(os.path.dirname(folder), "__init__.py")):
        folder = os.path.dirname(folder)
    return folder


def sources_stamp(py_file: str) -> bytes:
    """The stamp over this project's kernel modules and those of ``py_file``'s package."""
    roots = set(_ROOTS)
    own = _package_root(py_file)
    if own is not None:
        roots.add(own)
    return hashlib.sha256(b"".join(_tree_stamp(root) for root in sorted(roots))).digest()


def _stamped(base):
    """``base`` (a numba locator) for ``kernel``'s functions only, with the wider stamp."""

    class Locator(base):
        @classmethod
        def from_function(cls, py_func, py_file):
            if py_func.__code__ not in _OURS:
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self):
            return super().get_source_stamp(), sources_stamp(self._py_file)

    Locator.__name__ = Locator.__qualname__ = f"Kernel{base.__name__.lstrip('_')}"
    return Locator


def install() -> bool:
    """Put the stamped locators before numba's own (once); False where this numba lacks
    the file-backed locators (then kernels keep numba's per-file stamps)."""
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    classes = getattr(impl, "_locator_classes", None)
    if not isinstance(classes, list):
        return False
    if any(getattr(c, "_marl_kernels", False) for c in classes):
        return True
    bases = []
    for name in ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator"):
        base = getattr(caching, name, None) or getattr(caching, f"_{name}", None)
        if base is None:
            return False
        bases.append(base)
    stamped = [_stamped(base) for base in bases]
    for locator in stamped:
        locator._marl_kernels = True
    classes[:0] = stamped
    return True
