"""Kinematic bicycle: the command is (acceleration, steering angle); speed is internal state.

Command ``(a, delta)``: ``a`` in m/s^2 clipped to ``max_accel``, ``delta`` in radians clipped to
``max_steer``. Per substep: ``speed += a * dt`` clipped to ``[-max_reverse, max_speed]``; the rear
axle model turns at ``speed / wheelbase * tan(delta)``; the body's velocity is speed along its
heading. Used for cars: no lateral slip.
"""

from __future__ import annotations

import numpy as np

from worlds.dynamics.base import Dynamics


class KinematicBicycle(Dynamics):
    act_dim = 2
    needs_angle = True
    writes_velocity = True

    def __init__(
        self,
        max_speed: float,
        max_accel: float,
        max_steer: float,
        wheelbase: float,
        max_reverse: float = 0.0,
    ) -> None:
        if min(max_speed, max_accel, max_steer, wheelbase) <= 0 or max_reverse < 0:
            raise ValueError("bicycle limits must be positive (max_reverse >= 0)")
        self.max_speed = float(max_speed)
        self.max_accel = float(max_accel)
        self.max_steer = float(max_steer)
        self.wheelbase = float(wheelbase)
        self.max_reverse = float(max_reverse)

    def bind(self, group, world) -> None:
        super().bind(group, world)
        self.speed = np.zeros((world.num_worlds, group.n))

    def reset(self, env_ids: np.ndarray) -> None:
        self.speed[env_ids] = 0.0

    def control(self, sub_dt: float) -> None:
        command = self.group.command
        accel = np.clip(command[..., 0], -self.max_accel, self.max_accel)
        steer = np.clip(command[..., 1], -self.max_steer, self.max_steer)
        self.speed += accel * sub_dt
        np.clip(self.speed, -self.max_reverse, self.max_speed, out=self.speed)
        turn = self.speed / self.wheelbase * np.tan(steer)
        heading = self.read["angle"] + 0.5 * sub_dt * turn
        np.multiply(self.speed, np.cos(heading), out=self.write["vx"])
        np.multiply(self.speed, np.sin(heading), out=self.write["vy"])
        self.write["angvel"][...] = turn
        self.write["fx"][...] = 0.0
        self.write["fy"][...] = 0.0
