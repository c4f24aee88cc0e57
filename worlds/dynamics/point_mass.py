"""Holonomic point mass: the command is a force, limited in norm; speed is capped.

Command ``(fx, fy)`` in newtons, scaled down to ``max_force`` when its norm is larger. Drag comes
from the world's damping (the fraction of velocity kept per second). The speed cap is part of the
force: chipmunk integrates ``v' = v * damping**dt + f / m * dt``, so where ``v'`` would exceed
``max_speed`` the force is replaced by the one that lands exactly on the cap. Only forces are
written, the cheapest bulk write (contacts may still push a body past the cap for a substep).

The controller is one compiled pass over all bodies (``worlds.kernels.bodies``), on complex views
of the x, y columns of the read and command buffers; ``control_reference`` is the same in numpy,
one call per vector operation.
"""

from __future__ import annotations

import numpy as np

from worlds.dynamics.base import Dynamics
from worlds.kernels.bodies import point_mass_force


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
        # One compiled pass (worlds.kernels.bodies); control_reference is the numpy version.
        mass = self.group.mass
        point_mass_force(
            self.thrust_command,
            self.velocity,
            self.force,
            self.max_force,
            self.limit_force,
            self.damping**sub_dt,
            sub_dt / mass,
            self.max_speed,
            mass / sub_dt,
        )

    def control_reference(self, sub_dt: float) -> None:
        thrust = self.thrust_command
        if self.limit_force:
            thrust = thrust * (self.max_force / np.maximum(np.abs(thrust), self.max_force))
        kept = self.velocity * self.damping**sub_dt
        velocity = kept + thrust * (sub_dt / self.group.mass)
        velocity *= self.max_speed / np.maximum(np.abs(velocity), self.max_speed)
        velocity -= kept
        np.multiply(velocity, self.group.mass / sub_dt, out=self.force)
