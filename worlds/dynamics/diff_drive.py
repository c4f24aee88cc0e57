"""Differential drive: the command is (forward speed, turn rate), applied as body velocities.

Command ``(v, omega)`` with ``|v| <= max_speed`` and ``|omega| <= max_turn_rate`` (clipped). The
body moves along its heading; contacts still push it within a substep, and the next command
restores the commanded velocity (a velocity-controlled robot, like a warehouse AGV).
"""

from __future__ import annotations

import numpy as np

from worlds.dynamics.base import Dynamics


class DifferentialDrive(Dynamics):
    act_dim = 2
    needs_angle = True
    writes_velocity = True

    def __init__(self, max_speed: float, max_turn_rate: float) -> None:
        if max_speed <= 0 or max_turn_rate <= 0:
            raise ValueError("max_speed and max_turn_rate must be positive")
        self.max_speed = float(max_speed)
        self.max_turn_rate = float(max_turn_rate)

    def control(self, sub_dt: float) -> None:
        command = self.group.command
        speed = np.clip(command[..., 0], -self.max_speed, self.max_speed)
        turn = np.clip(command[..., 1], -self.max_turn_rate, self.max_turn_rate)
        # Heading at the middle of the substep: exact for constant turn rate over small steps.
        heading = self.read["angle"] + 0.5 * sub_dt * turn
        np.multiply(speed, np.cos(heading), out=self.write["vx"])
        np.multiply(speed, np.sin(heading), out=self.write["vy"])
        self.write["angvel"][...] = turn
        self.write["fx"][...] = 0.0
        self.write["fy"][...] = 0.0
