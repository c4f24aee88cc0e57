"""The interface every dynamics model implements."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from worlds.world import BodyGroup, WorldBatch


class Dynamics:
    """Turns ``group.command`` ``(B, N, act_dim)`` into velocities and forces, in bulk.

    ``bind`` is called once when the batch is finalized and gives the model its views; ``control``
    runs before every substep; ``after_step`` after the state is refreshed (for limits on the
    observed state); ``reset`` when worlds ``env_ids`` are reset (for internal state).
    """

    act_dim: int = 2
    needs_angle: bool = False
    """The model reads headings (the batch then reads angles and angular velocities too)."""
    writes_velocity: bool = False
    """The model commands velocities, not only forces (the batch then writes them each substep)."""

    def bind(self, group: BodyGroup, world: WorldBatch) -> None:
        self.group = group
        self.world = world
        self.read = {
            c: world.read_view(group, c) for c in ("x", "y", "angle", "vx", "vy", "angvel")
        }
        self.write = {
            c: world.write_view(group, c) for c in ("vx", "vy", "angvel", "fx", "fy", "torque")
        }

    def reset(self, env_ids: np.ndarray) -> None:
        """Clear internal state of worlds ``env_ids`` (none by default)."""

    def control(self, sub_dt: float) -> None:
        raise NotImplementedError

    def after_step(self) -> None:
        """Enforce limits on the refreshed float32 state (none by default)."""
