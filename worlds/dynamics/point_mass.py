"""Holonomic point mass: the command is a force, limited in norm; speed is capped.

Command ``(fx, fy)`` in newtons, scaled down to ``max_force`` when its norm is larger. Drag comes
from the world's damping (the fraction of velocity kept per second). The speed cap is part of the
force: chipmunk integrates ``v' = v * damping**dt + f / m * dt``, so where ``v'`` would exceed
``max_speed`` the force is replaced by the one that lands exactly on the cap. Only forces are
written, the cheapest bulk write (contacts may still push a body past the cap for a substep).

Vectors are handled as complex numbers (views of the x, y columns), so each vector operation is
one numpy call: about half the calls of separate x and y arrays, with no ``(..., 2)`` broadcasting.
"""

from __future__ import annotations

import numpy as np

from worlds.dynamics.base import Dynamics


class HolonomicPointMass(Dynamics):
    act_dim = 2

    def __init__(self, max_force: float, max_speed: float, limit_force: bool = True) -> None:
        """``limit_force=False`` skips the force-norm limit, for callers whose commands never
        exceed ``max_force`` by construction (discrete unit directions times ``max_force``)."""
        if max_force <= 0 or max_speed <= 0:
            raise ValueError("max_force and max_speed must be positive")
        self.max_force = float(max_force)
        self.max_speed = float(max_speed)
        self.limit_force = limit_force

    def bind(self, group, world) -> None:
        super().bind(group, world)
        self.velocity = world.complex_view(group, "read", "vx")
        self.force = world.complex_view(group, "write", "fx")
        self.thrust_command = group.command.view(np.complex64)[..., 0]
        self.damping = world.space.damping  # fixed once the batch is built

    def control(self, sub_dt: float) -> None:
        thrust = self.thrust_command
        if self.limit_force:
            thrust = thrust * (self.max_force / np.maximum(np.abs(thrust), self.max_force))
        kept = self.velocity * self.damping**sub_dt
        velocity = kept + thrust * (sub_dt / self.group.mass)
        velocity *= self.max_speed / np.maximum(np.abs(velocity), self.max_speed)
        velocity -= kept
        np.multiply(velocity, self.group.mass / sub_dt, out=self.force)
