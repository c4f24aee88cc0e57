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

Traction: unlimited by default. With ``max_force`` (newtons) the servo's force is scaled down to
that norm, the most the wheels' grip can push (``mu m g``): a robot pushing against a heavy crate
pushes with at most ``max_force``, and accelerates and brakes at most at ``max_force / m``. With
``max_torque`` (newton metres) the turn rate, otherwise written as it is commanded, is reached by
a torque servo like the speed, limited to ``max_torque``. A written turn rate has unbounded
torque (a turning robot would sweep a crate aside), and it moves the body before the solver
acts: chipmunk turns a body by its written rate first, so a robot held by ground friction would
still creep by one substep's turn per substep.
"""

from __future__ import annotations

import math

import numpy as np

from worlds.dynamics.base import Dynamics
from worlds.kernels import kernel


class DifferentialDrive(Dynamics):
    act_dim = 2
    needs_angle = True
    writes_velocity = True

    def __init__(
        self,
        max_speed: float,
        max_turn_rate: float,
        *,
        max_force: float | None = None,
        max_torque: float | None = None,
    ) -> None:
        if max_speed <= 0 or max_turn_rate <= 0:
            raise ValueError("max_speed and max_turn_rate must be positive")
        for name, value in (("max_force", max_force), ("max_torque", max_torque)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be None or a finite number > 0, got {value!r}")
        self.max_speed = float(max_speed)
        self.max_turn_rate = float(max_turn_rate)
        self.max_force = None if max_force is None else float(max_force)
        self.max_torque = None if max_torque is None else float(max_torque)

    def bind(self, group, world) -> None:
        super().bind(group, world)
        self._speed = np.zeros(self.read["x"].shape)
        self._turn = np.zeros(self.read["x"].shape)
        self._heading = np.zeros(self.read["x"].shape)
        self._scale = np.zeros(self.read["x"].shape)
        self._damping = float(world.space.damping)
        self._moment = group.shape.moment(group.mass)

    def control(self, sub_dt: float) -> None:
        command = self.group.command
        if self.max_force is None and self.max_torque is None:
            self.servo(command[..., 0], command[..., 1], sub_dt)
            return
        read, write = self.read, self.write
        limits = (
            math.inf if self.max_force is None else self.max_force,
            math.inf if self.max_torque is None else self.max_torque,
        )
        traction_servo(
            command, read["angle"], read["vx"], read["vy"], read["angvel"], self.max_speed,
            self.max_turn_rate, sub_dt, self.group.mass, self._moment, self._damping**sub_dt,
            limits, write["vx"], write["vy"], write["angvel"], write["fx"], write["fy"],
            write["torque"],
        )  # fmt: skip

    def servo(self, speed: np.ndarray, turn: np.ndarray, sub_dt: float) -> None:
        """Write the substep's commands for forward ``speed`` and ``turn`` rate ``(B, N)``
        (clipped to the limits), in numpy: ``control`` without traction limits, and the
        reference of the compiled ``traction_servo`` with them (they agree to rounding)."""
        speed, turn = (
            np.clip(speed, -self.max_speed, self.max_speed, out=self._speed),
            np.clip(turn, -self.max_turn_rate, self.max_turn_rate, out=self._turn),
        )
        kept = self._damping**sub_dt  # the share of velocity chipmunk's damping leaves
        if self.max_torque is not None:
            turn = self._turn_servo(turn, sub_dt, kept)
        heading = self._heading
        # Heading at the middle of the substep: exact for constant turn rate over small steps.
        np.multiply(turn, 0.5 * sub_dt, out=heading)
        heading += self.read["angle"]
        gain = self.group.mass / sub_dt
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
        if self.max_force is not None:
            self._limit_force(write["fx"], write["fy"])
        if self.max_torque is None:
            np.copyto(write["angvel"], turn)

    def _limit_force(self, fx: np.ndarray, fy: np.ndarray) -> None:
        """Scale the forces ``(fx, fy)`` down to the norm ``max_force``, in place."""
        scale = np.hypot(fx, fy, out=self._scale)
        np.maximum(scale, self.max_force, out=scale)
        np.divide(self.max_force, scale, out=scale)
        fx *= scale
        fy *= scale

    def _turn_servo(self, turn: np.ndarray, sub_dt: float, kept: float) -> np.ndarray:
        """Reach the ``turn`` rate by a torque of at most ``max_torque`` (the angular velocity
        written back unchanged); returns, in place of ``turn``, the turn rate the body will have
        after the substep unless a contact or its ground friction holds it."""
        moment, current = self._moment, self.read["angvel"]
        torque = self.write["torque"]
        np.copyto(self.write["angvel"], current)
        np.multiply(current, kept, out=self._scale)
        np.subtract(turn, self._scale, out=torque)
        torque *= moment / sub_dt
        np.clip(torque, -self.max_torque, self.max_torque, out=torque)
        np.multiply(torque, sub_dt / moment, out=turn)
        turn += self._scale
        return turn


@kernel
def traction_servo(
    command, angle, vx, vy, angvel, max_speed, max_turn_rate, sub_dt, mass, moment, kept,
    limits, write_vx, write_vy, write_angvel, write_fx, write_fy, write_torque,
):  # fmt: skip
    """``DifferentialDrive.servo`` with traction limits, compiled (the numpy version, a score of
    calls per substep, was most of a small batch's step): the speed servo's force scaled down
    to ``limits[0]``; the turn reached by a torque of at most ``limits[1]`` (inf: the turn
    rate written as commanded)."""
    max_force, max_torque = limits
    for b in range(angle.shape[0]):
        for n in range(angle.shape[1]):
            speed = min(max(command[b, n, 0], -max_speed), max_speed)
            turn = min(max(command[b, n, 1], -max_turn_rate), max_turn_rate)
            w = angvel[b, n]
            if max_torque < math.inf:
                torque = moment / sub_dt * (turn - kept * w)
                torque = min(max(torque, -max_torque), max_torque)
                write_torque[b, n], write_angvel[b, n] = torque, w
                turn = kept * w + torque * sub_dt / moment
            else:
                write_torque[b, n], write_angvel[b, n] = 0.0, turn
            heading = angle[b, n] + 0.5 * sub_dt * turn
            fx = mass / sub_dt * (speed * math.cos(heading) - kept * vx[b, n])
            fy = mass / sub_dt * (speed * math.sin(heading) - kept * vy[b, n])
            norm = math.hypot(fx, fy)
            if norm > max_force:
                fx, fy = fx * (max_force / norm), fy * (max_force / norm)
            write_fx[b, n], write_fy[b, n] = fx, fy
            write_vx[b, n], write_vy[b, n] = vx[b, n], vy[b, n]
