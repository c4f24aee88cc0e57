"""The scripted baseline of ``swarm/coverage-v0``: Lloyd's algorithm (formula in the scenario's
documentation)."""

from __future__ import annotations

import numpy as np

from scenarios.layout import ObsBuffer
from scenarios.swarm.common import steer
from scenarios.swarm.coverage import Coverage, observation_layout


class LloydPolicy:
    """Each drone steers toward the density-weighted centroid of its Voronoi cell.

    Acts for every drone of every world at once; reads the drones' positions and velocities
    from the observation (through its layout) and the density grid from ``scenario`` (Lloyd's
    needs the density over the whole cell). It has no memory, so ``reset`` does nothing.
    """

    groups = ("drone",)

    def __init__(self, scenario: Coverage, gain: float = 2.0) -> None:
        self.scenario = scenario
        self.gain = gain
        self.layout = observation_layout(scenario.cfg)

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        """Nothing to forget."""

    def act(self, obs: dict[str, np.ndarray], action_mask=None, deterministic: bool = True):
        cfg = self.scenario.cfg
        drones = ObsBuffer(self.layout, np.ascontiguousarray(obs["drone"], np.float32))
        own = drones.complex("own")  # (B, N, 2): position, velocity
        position, velocity = own[..., 0], own[..., 1]
        centroid, _ = self.scenario.field.voronoi_centroids(position)
        action = steer(
            position,
            velocity,
            centroid,
            gain=self.gain,
            max_speed=cfg.max_speed,
            continuous=cfg.continuous_actions,
        )
        return {"drone": action}
