"""Passive bodies: no drive at all, moved only by what touches them (crates, pallets, carts).

The command is empty (``act_dim = 0``) and the model writes no force: the batch's command buffer
holds zeros for these rows, and where other groups command velocities the world carries their
velocities over unchanged (``WorldBatch._velocity_passthrough``). Bodies turn (pymunk's moment of
inertia for their shape) unless ``turns=False``. Give them ground friction
(``add_group(..., ground_friction=...)``, ``worlds.friction``) to make them stay where they are
pushed.
"""

from __future__ import annotations

from worlds.dynamics.base import Dynamics


class Passive(Dynamics):
    act_dim = 0

    def __init__(self, turns: bool = True) -> None:
        self.needs_angle = bool(turns)

    def control(self, sub_dt: float) -> None:
        """Nothing to do: the command buffer's rows of a passive group stay zero."""
