"""Pose tracking on a differential drive: the command is a target pose (x, y, heading), and a
turn-and-go controller drives the robot there, every substep (a grid robot's low-level control).

Each substep, with ``e`` the vector from the body to the target point and ``theta`` its heading:

- far from the point (``|e| > near``): turn the body's axis onto ``e`` (forwards or backwards,
  whichever is closer) at a rate proportional to the angle, and drive along the axis at a speed
  proportional to the part of ``e`` along it (so a robot first turns, then goes);
- near it: drive along the axis by the part of ``e`` along it, and turn to the target heading.

Gains are "deadbeat" fractions: ``gain`` of the remaining error is closed per substep, before the
limits ``max_speed`` and ``max_turn_rate``; the position error is taken from where the body will be
after the substep's move (the servo's speed acts one substep later; without this prediction a
gain above 0.25 overshoots). The speed is reached by the force servo of
``DifferentialDrive`` (a robot pushed against a wall stays at its face). Commands are local
coordinates of the world, like the state.
"""

from __future__ import annotations

import math

from worlds.dynamics.diff_drive import DifferentialDrive
from worlds.kernels import kernel


class PoseTracking(DifferentialDrive):
    act_dim = 3

    def __init__(
        self, max_speed: float, max_turn_rate: float, *, gain: float = 0.7, near: float = 0.1
    ) -> None:
        super().__init__(max_speed, max_turn_rate)
        if not (0 < gain <= 1 and near > 0):
            raise ValueError(f"gain must be in (0, 1] and near > 0, got {gain}, {near}")
        self.gain = float(gain)
        self.near = float(near)

    def bind(self, group, world) -> None:
        super().bind(group, world)
        rows = world.group_rows(group)
        shape = self.read["x"].shape
        self._origin_x = world._offset_x[rows].reshape(shape)
        self._origin_y = world._offset_y[rows].reshape(shape)

    def control(self, sub_dt: float) -> None:
        read, write = self.read, self.write
        pose_servo(
            self.group.command, read["x"], read["y"], read["angle"], read["vx"], read["vy"],
            self._origin_x, self._origin_y, sub_dt, self.gain, self.near, self.max_speed,
            self.max_turn_rate, self.group.mass, self._damping ** sub_dt,
            write["vx"], write["vy"], write["angvel"], write["fx"], write["fy"],
        )  # fmt: skip


@kernel
def pose_servo(
    command, x, y, angle, vx, vy, origin_x, origin_y, sub_dt, gain, near, max_speed,
    max_turn_rate, mass, kept, write_vx, write_vy, write_angvel, write_fx, write_fy,
):  # fmt: skip
    """The turn-and-go law and ``DifferentialDrive``'s force servo in one pass (compiled: the
    numpy version cost about 300 us per substep for 160 robots, most of a warehouse step)."""
    rate = gain / sub_dt
    for b in range(x.shape[0]):
        for n in range(x.shape[1]):
            ex = command[b, n, 0] - (x[b, n] + sub_dt * vx[b, n] - origin_x[b, n])
            ey = command[b, n, 1] - (y[b, n] + sub_dt * vy[b, n] - origin_y[b, n])
            theta = angle[b, n]
            c, s = math.cos(theta), math.sin(theta)
            along = ex * c + ey * s
            if math.hypot(ex, ey) > near:
                turn = _wrap(2.0 * _wrap(math.atan2(ey, ex) - theta)) / 2.0
                along *= math.cos(turn) ** 2
            else:
                turn = _wrap(command[b, n, 2] - theta)
            speed = min(max(along * rate, -max_speed), max_speed)
            turn = min(max(turn * rate, -max_turn_rate), max_turn_rate)
            heading = theta + 0.5 * sub_dt * turn
            write_vx[b, n] = vx[b, n]
            write_vy[b, n] = vy[b, n]
            write_fx[b, n] = mass / sub_dt * (speed * math.cos(heading) - kept * vx[b, n])
            write_fy[b, n] = mass / sub_dt * (speed * math.sin(heading) - kept * vy[b, n])
            write_angvel[b, n] = turn


@kernel
def _wrap(angle):
    """An angle into [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi
