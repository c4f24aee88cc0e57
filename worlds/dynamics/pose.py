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

import numpy as np

from worlds.dynamics.diff_drive import DifferentialDrive


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
        command, read = self.group.command, self.read
        # The error from where the body will be after this substep's move: chipmunk moves a
        # body by the velocity it has now, so the speed set now acts one substep later.
        ex = command[..., 0] - (read["x"] + sub_dt * read["vx"] - self._origin_x)
        ey = command[..., 1] - (read["y"] + sub_dt * read["vy"] - self._origin_y)
        theta = read["angle"]
        distance = np.hypot(ex, ey)
        far = distance > self.near
        # The axis' angle to e, folded into [-pi/2, pi/2): a robot may back up as well.
        to_point = _wrap(np.arctan2(ey, ex) - theta)
        axis_error = _wrap(2.0 * to_point) / 2.0
        heading_error = _wrap(command[..., 2] - theta)
        turn_error = np.where(far, axis_error, heading_error)
        along = ex * np.cos(theta) + ey * np.sin(theta)
        # Go only once roughly aligned (cos^2 fades the speed while the axis turns onto e).
        along *= np.where(far, np.cos(axis_error) ** 2, 1.0)
        rate = self.gain / sub_dt
        self.servo(along * rate, turn_error * rate, sub_dt)


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angles into [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi
