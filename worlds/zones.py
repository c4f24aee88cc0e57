"""Zones: regions that report which bodies are inside, computed in numpy over the batch.

A zone set holds Z circles or axis-aligned boxes per world; their placement may differ per world
(goals, charging pads, loading bays) and is set at reset. ``inside`` answers for all bodies of a
group at once: ``(B, Z, N)`` booleans.
"""

from __future__ import annotations

import numpy as np


class CircleZones:
    """Z circular zones per world with centres ``(B, Z)`` and radii ``(Z,)`` or a scalar."""

    def __init__(self, num_worlds: int, n_zones: int, radius: float | np.ndarray) -> None:
        self.x = np.zeros((num_worlds, n_zones), dtype=np.float32)
        self.y = np.zeros((num_worlds, n_zones), dtype=np.float32)
        self.radius = np.broadcast_to(np.asarray(radius, dtype=np.float32), (n_zones,)).copy()

    def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Which of the points ``x, y`` ``(B, N)`` lie in each zone: ``(B, Z, N)``."""
        dx = x[:, None, :] - self.x[:, :, None]
        dy = y[:, None, :] - self.y[:, :, None]
        return dx * dx + dy * dy <= (self.radius * self.radius)[None, :, None]


class BoxZones:
    """Z axis-aligned box zones per world with centres ``(B, Z)`` and half sizes ``(Z,)``."""

    def __init__(self, num_worlds: int, n_zones: int, half_width, half_height) -> None:
        self.x = np.zeros((num_worlds, n_zones), dtype=np.float32)
        self.y = np.zeros((num_worlds, n_zones), dtype=np.float32)
        self.half_width = np.broadcast_to(np.float32(half_width), (n_zones,)).copy()
        self.half_height = np.broadcast_to(np.float32(half_height), (n_zones,)).copy()

    def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        dx = np.abs(x[:, None, :] - self.x[:, :, None])
        dy = np.abs(y[:, None, :] - self.y[:, :, None])
        return (dx <= self.half_width[None, :, None]) & (dy <= self.half_height[None, :, None])
