"""The scripted baseline of ``warehouse/lifelong-v0`` and the motion planner the env runs itself
when agents learn to schedule.

``ErrandMotion``: PIBT on the grid (``pibt.PIBTPlanner``, with the rotation fix-up and no
following) for every world, each robot heading for its current endpoint (its errand's pick, then
its drop; an idle robot has no goal and moves only when pushed). One planner per world keeps the
robots' priorities between steps; its tie-breaks come from a seed the world draws at reset, so a
world's plans do not depend on the batch. The planners share the distances to the map's
endpoints (views of the scenario's tables), so memory does not grow with the number of worlds.

``LifelongPlanner`` (a Policy):

* ``learn="motion"``: the env's built-in greedy scheduler gives the errands (nearest idle robot
  and waiting errand first), and ``ErrandMotion`` drives. A central planner: it reads the books
  of the scenario that made it, not the robots' local observations. With ``continuous_actions``
  it turns its grid decisions into wheel speeds.
* ``learn="scheduler"``: every idle robot takes its nearest option (the env drives); this one
  reads only the observation.

``LifelongPlanner(scenario, motion="prioritized")`` drives with prioritized planning instead
(``prioritized.PrioritizedPlanner``: space-time A* against a reservation table, windowed, as in
cooperative A*): fewer long waits in one-cell aisles, at several times PIBT's cost per decision.
"""

from __future__ import annotations

import math

import numpy as np

from scenarios.core import ScriptedPolicy
from scenarios.warehouse.pibt import PIBTPlanner
from scenarios.warehouse.planning import FORWARD, LEFT, RIGHT, STEP, DistanceCache
from scenarios.warehouse.prioritized import PrioritizedPlanner


class ErrandMotion:
    """PIBT (``motion="pibt"``) or prioritized planning (``"prioritized"``: cooperative A*
    with a reservation table, windowed) for the robots of every world of one ``ErrandBook``."""

    def __init__(self, book, motion: str = "pibt") -> None:
        if motion not in ("pibt", "prioritized"):
            raise ValueError(f"motion must be pibt or prioritized, got {motion!r}")
        self.motion = motion
        floor = book.map.floor
        self.distances = DistanceCache(floor)  # the planners' moves (``forward``); no BFS
        self._planners: dict[int, tuple[int, PIBTPlanner]] = {}
        self._tables = book.dist
        width = floor.shape[1]
        self._endpoint_of = {
            (int(r), int(c)): k for k, (r, c) in enumerate(book.endpoints.tolist())
        }
        self._width = width

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        """Forget the planners (their priorities) of worlds ``env_ids`` (all when None)."""
        if env_ids is None:
            self._planners.clear()
            return
        for b in np.asarray(env_ids).tolist():
            self._planners.pop(b, None)

    def _planner(self, b: int, seed: int) -> PIBTPlanner | PrioritizedPlanner:
        found = self._planners.get(b)
        if found is None or found[0] != seed:  # a new episode of world b
            if self.motion == "pibt":
                planner = PIBTPlanner(self.distances.passable, self.distances, seed=seed)
            else:
                planner = PrioritizedPlanner(
                    self.distances.passable, distances=self.distances, seed=seed
                )
            found = self._planners[b] = (seed, planner)
        return found[1]

    def _prepare(self, goals: np.ndarray) -> None:
        """The distances to ``goals`` ``(N, 2)`` as every world's planner reads them (PIBT's
        derived tables of the shared ``DistanceCache``, ``dist[cell]`` a Python int): memoryviews
        of the endpoint tables, no BFS and no copy (lists of Python ints cost four times the
        memory: 130 MB for the large map's endpoints)."""
        derived = self.distances.derived
        for row, col in goals[goals[:, 0] >= 0].tolist():
            key = ("pibt", (row, col))
            if key not in derived:
                derived[key] = memoryview(self._tables[self._endpoint_of[(row, col)]])

    def decide(self, book, b: int, facing: np.ndarray) -> np.ndarray:
        """World b's robots' actions ``(N,)`` (NOOP, FORWARD, LEFT, RIGHT) for this step, from
        their grid headings ``facing`` ``(B, N)``."""
        goals = book.goal_cells(b)
        self._prepare(goals)
        if book.cfg.continuous_actions:
            cells = np.column_stack([book.rows[b], book.cols[b]])
        else:
            cells = book.target[b]
        states = np.column_stack([cells, facing[b]])
        planner = self._planner(b, int(book.planner_seeds[b]))
        return planner.step(states, goals)

    def actions(self, book, worlds: np.ndarray, out: np.ndarray, facing=None) -> np.ndarray:
        """Every robot's action of worlds ``worlds`` into ``out`` ``(B, N)`` (``facing``: the
        grid headings, the books' by default)."""
        facing = book.heading if facing is None else facing
        for b in worlds.tolist():
            out[b] = self.decide(book, b, facing)
        return out


class LifelongPlanner(ScriptedPolicy):
    """The baseline for every world of the scenario that made it (see the module docstring)."""

    groups = ("robot",)

    def __init__(self, scenario, motion: str = "pibt") -> None:
        self.scenario = scenario
        self.cfg = scenario.cfg
        self.motion = motion
        self._motion: ErrandMotion | None = None

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        if self._motion is not None:
            self._motion.reset(env_ids)

    def act(self, obs, action_mask=None, deterministic: bool = True):
        if self.cfg.learn == "scheduler":
            valid = self.scenario.layout.read_valid(obs["robot"], "options")
            return {"robot": (valid[..., 0] > 0.5).astype(np.int64)}
        book = self.scenario.book
        if self._motion is None:
            self._motion = ErrandMotion(book, self.motion)
        worlds = np.arange(obs["robot"].shape[0])
        out = np.zeros(book.errand.shape, np.int64)
        actions = self._motion.actions(book, worlds, out, book.facing(self.scenario.robots))
        if self.cfg.continuous_actions:
            return {"robot": self._wheels(actions, book)}
        return {"robot": actions}

    def _wheels(self, actions: np.ndarray, book) -> np.ndarray:
        """Wheel speeds from grid decisions: turn toward the next cell's heading, then drive to
        its centre."""
        robots, cfg = self.scenario.robots, self.cfg
        heading = book.facing(robots)
        heading = np.where(actions == LEFT, (heading + 1) % 4, heading)
        heading = np.where(actions == RIGHT, (heading + 3) % 4, heading)
        cells = np.stack([book.rows, book.cols], axis=-1)
        cells = np.where((actions == FORWARD)[..., None], cells + STEP[heading], cells)
        center = book.map.centers(cells)
        ex, ey = center[..., 0] - robots.x, center[..., 1] - robots.y
        turn = (heading * (0.5 * math.pi) - robots.angle + math.pi) % (2 * math.pi) - math.pi
        along = ex * np.cos(robots.angle) + ey * np.sin(robots.angle)
        speed = np.clip(2.0 * along / cfg.max_speed, -1, 1) * np.cos(turn) ** 2
        rate = np.clip(2.0 * turn / cfg.max_turn_rate, -1, 1)
        return np.stack([speed - rate, speed + rate], axis=-1).clip(-1, 1).astype(np.float32)
