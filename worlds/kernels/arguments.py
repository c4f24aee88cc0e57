"""Argument checks for the public functions in front of the kernels (``worlds.rays``,
``worlds.raster``, ``worlds.polyline``).

A kernel trusts its arrays (a wrong shape reads out of bounds, silently). The public functions
check shapes and dtypes first and convert to the one layout each kernel is compiled for
(C-contiguous float32 or int32), so a kernel is compiled once, not once per caller's dtype.
Each failure is a one-line ``ValueError`` that names the argument.
"""

from __future__ import annotations

import numpy as np


def floats(name: str, value, shape: tuple[int | None, ...] | None = None) -> np.ndarray:
    """``value`` as a C-contiguous float32 array (a copy only where needed), checked against
    ``shape`` (``None`` entries match any length). Integer and float inputs are accepted."""
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    check_shape(name, array, shape)
    return np.ascontiguousarray(array, dtype=np.float32)


def integers(name: str, value, shape: tuple[int | None, ...] | None = None) -> np.ndarray:
    """``value`` as a C-contiguous int32 array, checked against ``shape``; integer dtypes only."""
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    check_shape(name, array, shape)
    if array.size and (array.min() < np.iinfo(np.int32).min or array.max() > 2**31 - 1):
        raise ValueError(f"{name} holds values outside the int32 range")
    return np.ascontiguousarray(array, dtype=np.int32)


def per_body(name: str, value, shape: tuple[int, int]) -> np.ndarray:
    """A per-body quantity given as a scalar, ``(N,)`` (the same in every world) or ``(B, N)``,
    broadcast to a C-contiguous float32 ``(B, N)`` array."""
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim > 2 or array.shape != shape[2 - array.ndim :]:
        raise ValueError(f"{name} must be a scalar, {shape[1:]} or {shape}, got {array.shape}")
    return np.ascontiguousarray(np.broadcast_to(array, shape), dtype=np.float32)


def check_shape(name: str, array: np.ndarray, shape: tuple[int | None, ...] | None) -> None:
    """Raise unless ``array.shape`` matches ``shape`` (``None`` entries match any length)."""
    if shape is None:
        return
    wanted = tuple(shape)
    if array.ndim != len(wanted) or any(
        want is not None and have != want for have, want in zip(array.shape, wanted, strict=True)
    ):
        text = "(" + ", ".join("*" if want is None else str(want) for want in wanted) + ")"
        raise ValueError(f"{name} must have shape {text}, got {array.shape}")


def positive(name: str, value) -> float:
    """``value`` as a float, which must be finite and > 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (np.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def count(name: str, value, minimum: int = 0) -> int:
    """``value`` as an int, which must be an integer >= ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)
