"""Differential drive: the command is (forward speed, turn rate), reached by a velocity servo.

Command ``(v, omega)`` with ``|v| <= max_speed`` and ``|omega| <= max_turn_rate`` (clipped). The
turn rate is written as the body's angular velocity. The forward speed is reached by a force: each
substep the model applies ``F = m (v_cmd - v) / dt`` along the heading, so that the body's velocity
equals the command at the end of the substep's velocity update, unless a contact stops it. Why a
force and not a written velocity: chipmunk moves a body by the velocity it has at the start of a
step, before it solves contacts, so a velocity written every substep drives the body a full
substep's travel into whatever it presses against, and the overlap settles where the solver's
slow push-out balances it (0.26 m for a 0.8 m robot at 1.5 m/s pressed against a wall, 4 substeps
of 25 ms). With the servo the solver's velocity is the one the next substep moves by: a robot
pressed against a wall stays at its face. The price is one substep of lag: a robot at rest
reaches its commanded speed at the end of its first substep (like a warehouse AGV, whose wheel
controller acts in a few milliseconds).
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

    def bind(self, group, world) -> None:
        super().bind(group, world)
        self._speed = np.zeros(self.read["x"].shape)
        self._turn = np.zeros(self.read["x"].shape)
        self._heading = np.zeros(self.read["x"].shape)
        self._damping = float(world.space.damping)

    def control(self, sub_dt: float) -> None:
        command = self.group.command
        self.servo(command[..., 0], command[..., 1], sub_dt)

    def servo(self, speed: np.ndarray, turn: np.ndarray, sub_dt: float) -> None:
        """Write the substep's commands for forward ``speed`` and ``turn`` rate ``(B, N)``
        (clipped to the limits)."""
        speed, turn = (
            np.clip(speed, -self.max_speed, self.max_speed, out=self._speed),
            np.clip(turn, -self.max_turn_rate, self.max_turn_rate, out=self._turn),
        )
        heading = self._heading
        # Heading at the middle of the substep: exact for constant turn rate over small steps.
        np.multiply(turn, 0.5 * sub_dt, out=heading)
        heading += self.read["angle"]
        gain = self.group.mass / sub_dt
        kept = self._damping**sub_dt  # the share of velocity chipmunk's damping leaves
        read, write = self.read, self.write
        # Velocities are written back unchanged (the batch writes every body's velocity).
        np.copyto(write["vx"], read["vx"])
        np.copyto(write["vy"], read["vy"])
        np.multiply(speed, np.cos(heading), out=write["fx"])
        write["fx"] -= kept * read["vx"]
        write["fx"] *= gain
        np.multiply(speed, np.sin(heading), out=write["fy"])
        write["fy"] -= kept * read["vy"]
        write["fy"] *= gain
        np.copyto(write["angvel"], turn)
