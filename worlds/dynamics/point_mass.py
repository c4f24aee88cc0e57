"""Holonomic point mass: the command is a force, limited in norm; speed is capped.

Command ``(fx, fy)`` in newtons, scaled down to ``max_force`` when its norm is larger. Drag comes
from the world's damping (the fraction of velocity kept per second). The speed cap is part of the
force: chipmunk integrates ``v' = v * damping**dt + f / m * dt``, so where ``v'`` would exceed
``max_speed`` the force is replaced by the one that lands exactly on the cap. Only forces are
written, the cheapest bulk write (contacts may still push a body past the cap for a substep).
"""

from __future__ import annotations

import numpy as np

from worlds.dynamics.base import Dynamics


class HolonomicPointMass(Dynamics):
    act_dim = 2

    def __init__(self, max_force: float, max_speed: float) -> None:
        if max_force <= 0 or max_speed <= 0:
            raise ValueError("max_force and max_speed must be positive")
        self.max_force = float(max_force)
        self.max_speed = float(max_speed)

    def control(self, sub_dt: float) -> None:
        command = self.group.command
        fx, fy = command[..., 0], command[..., 1]
        scale = limit_scale(fx, fy, self.max_force)
        mass = self.group.mass
        keep = self.world.space.damping**sub_dt
        # Velocity after this substep under the commanded force, then capped.
        next_vx = self.read["vx"] * keep + fx * scale * (sub_dt / mass)
        next_vy = self.read["vy"] * keep + fy * scale * (sub_dt / mass)
        cap = limit_scale(next_vx, next_vy, self.max_speed)
        to_force = mass / sub_dt
        np.multiply(next_vx * cap - self.read["vx"] * keep, to_force, out=self.write["fx"])
        np.multiply(next_vy * cap - self.read["vy"] * keep, to_force, out=self.write["fy"])


def limit_scale(x: np.ndarray, y: np.ndarray, limit: float) -> np.ndarray:
    """Factor in (0, 1] that brings the norm of (x, y) down to ``limit``."""
    norm = np.sqrt(x * x + y * y)
    return limit / np.maximum(norm, limit)
