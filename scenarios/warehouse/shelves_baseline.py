"""The scripted baseline of ``warehouse/shelves-v0``: a central planner, as warehouses run them.

Each step, in each world:

1. Tasks. A loaded robot with a requested shelf heads for the nearest goal; one with a delivered
   shelf for the nearest free shelf cell; empty robots are assigned to the requested shelves
   that stand in their cells (least total distance, ``planning.assign_nearest``).
2. Motion. PIBT on the grid (``pibt.PIBTPlanner``, with the rotation fix-up and no following):
   empty robots may use every floor cell (they pass under shelves), a loaded robot only cells
   without a standing shelf, with its distances measured on that graph.
3. At its task's cell, settled, a robot toggles its load (the env's action mask says when).

The planner sees the whole floor: it reads the ledger of the scenario that made it
(``Shelves.scripted_policy()``), not the robots' local observations, as a warehouse's central
controller does. With ``continuous_actions`` it turns its grid decisions into wheel speeds.
"""

from __future__ import annotations

import math

import numpy as np

from scenarios.core import ScriptedPolicy
from scenarios.warehouse import kernels as wk
from scenarios.warehouse.pibt import PIBTPlanner
from scenarios.warehouse.planning import UNREACHABLE, DistanceCache, assign_nearest


class _ShelfPIBT(PIBTPlanner):
    """PIBT where each robot has distances of its own graph (``loaded`` robots: no cell with a
    standing shelf, which they cannot enter)."""

    agent_distances: list[list[int]]
    loaded: list[bool]

    def _plan(self, states, goals):
        width = self.passable.shape[1]
        self._cur = (states[:, 0] * width + states[:, 1]).tolist()
        self._head = states[:, 2].tolist()
        self._dist = self.agent_distances
        self._now = {cell: i for i, cell in enumerate(self._cur)}
        self._next_of = {}
        self._next = [-1] * states.shape[0]
        priority = self._elapsed + self._tie
        for i in np.argsort(-priority, kind="stable").tolist():
            if self._next[i] < 0:
                self._pibt(i)
        return self._next

    def _candidates(self, i):
        ranked = super()._candidates(i)
        if not self.loaded[i]:
            return ranked
        dist, own = self._dist[i], self._cur[i]
        return [cell for cell in ranked if cell == own or dist[cell] < UNREACHABLE]


class ShelvesPlanner(ScriptedPolicy):
    """Task assignment and PIBT for every world of the scenario that made it."""

    groups = ("robot",)

    def __init__(self, scenario) -> None:
        self.scenario = scenario
        self.cfg = scenario.cfg
        self._floor: DistanceCache | None = None
        self._planners: dict[int, _ShelfPIBT] = {}
        self._loaded_graphs: dict[int, tuple[bytes, DistanceCache]] = {}
        self.goals: dict[int, np.ndarray] = {}  # world -> the robots' goal cells (row, col)
        scenario.planner = self  # the scenario draws this planner's paths (render_extra)

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        if env_ids is None:
            self._planners.clear()
            return
        for b in np.asarray(env_ids).tolist():
            self._planners.pop(b, None)

    def act(self, obs, action_mask=None, deterministic: bool = True):
        ledger = self.scenario.ledger
        if self._floor is None:
            self._floor = DistanceCache(ledger.map.floor)
        batch = obs["robot"].shape[0]
        mask = (
            action_mask["robot"]
            if action_mask
            else ledger.action_mask(self.scenario.robots, self.cfg)
        )
        actions = np.stack([self._world(b, ledger, mask[b]) for b in range(batch)])
        if self.cfg.continuous_actions:
            return {"robot": self._wheels(actions, ledger)}
        return {"robot": actions}

    def _world(self, b: int, ledger, mask: np.ndarray) -> np.ndarray:
        warehouse = ledger.map
        loaded = ledger.carried[b] >= 0
        cells = self._cells(b, ledger)
        goals = np.full_like(cells, -1)
        graph = self._loaded_graph(b, ledger)
        carrying_requested = ledger.carrying_requested()[b]
        goals[carrying_requested] = self._nearest(graph, cells[carrying_requested], warehouse.goals)
        returning = loaded & ~carrying_requested
        # A free slot with a robot in it is a dead end that robot must leave through: never a
        # place to return a shelf to (the two would wait for each other for ever).
        # A robot with a shelf to return that stands in a free slot puts it down right there.
        empty = ledger.slot_shelf[b] < 0
        slot_here = warehouse.slot_index[cells[:, 0], cells[:, 1]]
        here = returning & (slot_here >= 0) & empty[np.maximum(slot_here, 0)]
        goals[here] = cells[here]
        empty[slot_here[slot_here >= 0]] = False
        free_slots = warehouse.slots[empty]
        back = assign_nearest(cells, free_slots, graph, available_robots=returning & ~here)
        goals[back >= 0] = free_slots[back[back >= 0]]
        standing = ledger.shelf_slot[b] >= 0
        wanted = np.flatnonzero(ledger.requested[b] & standing)
        shelf_cells = warehouse.slots[ledger.shelf_slot[b, wanted]]
        task = assign_nearest(cells, shelf_cells, self._floor, available_robots=~loaded)
        goals[task >= 0] = shelf_cells[task[task >= 0]]
        planner = self._planners.get(b)
        if planner is None:
            planner = self._planners[b] = _ShelfPIBT(warehouse.floor, self._floor, seed=b)
        planner.loaded = loaded.tolist()
        planner.agent_distances = [
            self._distance_list(graph if loaded[i] else self._floor, goals[i])
            for i in range(len(cells))
        ]
        self.goals[b] = goals.copy()
        states = np.column_stack([cells, ledger.heading[b]])
        actions = planner.step(states, goals)
        at_task = (cells == goals).all(axis=1) & (actions == wk.NOOP)
        toggle = at_task & mask[:, wk.TOGGLE] & ~carrying_requested
        actions[toggle] = wk.TOGGLE
        return actions

    def path(self, b: int, robot: int) -> list[tuple[int, int]]:
        """The cells from robot ``robot`` of world b to its goal along its distances (the
        route PIBT steers it by), for drawing; empty without a goal."""
        ledger = self.scenario.ledger
        goal = self.goals.get(b)
        if goal is None or goal[robot, 0] < 0 or self._floor is None:
            return []
        loaded = ledger.carried[b, robot] >= 0
        graph = self._loaded_graph(b, ledger) if loaded else self._floor
        distance = graph.to(goal[robot])
        cell = tuple(self._cells(b, ledger)[robot].tolist())
        cells = [cell]
        height, width = distance.shape
        while distance[cell] > 0 and distance[cell] < UNREACHABLE and len(cells) < height * width:
            around = [(cell[0] + dr, cell[1] + dc) for dr, dc in ((0, 1), (-1, 0), (0, -1), (1, 0))]
            around = [c for c in around if 0 <= c[0] < height and 0 <= c[1] < width]
            cell = min(around, key=lambda c: distance[c])
            cells.append(cell)
        return cells

    def _cells(self, b: int, ledger) -> np.ndarray:
        if self.cfg.continuous_actions:
            return np.column_stack([ledger.rows[b], ledger.cols[b]])
        return ledger.target[b].copy()

    def _loaded_graph(self, b: int, ledger) -> DistanceCache:
        """Distances for loaded robots of world b: the floor without standing shelves."""
        standing = ledger.slot_shelf[b] >= 0
        key = standing.tobytes()
        found = self._loaded_graphs.get(b)
        if found is None or found[0] != key:
            passable = ledger.map.floor.copy()
            slots = ledger.map.slots[standing]
            passable[slots[:, 0], slots[:, 1]] = False
            found = self._loaded_graphs[b] = (key, DistanceCache(passable))
        return found[1]

    @staticmethod
    def _nearest(graph: DistanceCache, cells: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """The nearest of ``targets`` ``(K, 2)`` to each of ``cells`` ``(R, 2)`` on ``graph``."""
        if len(cells) == 0 or len(targets) == 0:
            return np.full((len(cells), 2), -1)
        graph.prefetch(targets)
        cost = np.stack([graph.to(t)[cells[:, 0], cells[:, 1]] for t in targets], axis=1)
        return targets[cost.argmin(axis=1)]

    def _distance_list(self, graph: DistanceCache, goal: np.ndarray) -> list[int]:
        if goal[0] < 0:
            return [0] * graph.passable.size
        return graph.to(goal).ravel().tolist()

    def _wheels(self, actions: np.ndarray, ledger) -> np.ndarray:
        """Continuous actions from grid decisions: turn toward the next cell's heading, then
        drive to its centre; lift where the decision toggles."""
        robots, cfg = self.scenario.robots, self.cfg
        heading = ledger.facing(robots)
        heading = np.where(actions == wk.LEFT, (heading + 1) % 4, heading)
        heading = np.where(actions == wk.RIGHT, (heading + 3) % 4, heading)
        cells = np.stack([ledger.rows, ledger.cols], axis=-1)
        step = np.array([(0, 1), (-1, 0), (0, -1), (1, 0)])[heading]
        cells = np.where((actions == wk.FORWARD)[..., None], cells + step, cells)
        center = ledger.map.centers(cells)
        ex, ey = center[..., 0] - robots.x, center[..., 1] - robots.y
        turn = (heading * (0.5 * math.pi) - robots.angle + math.pi) % (2 * math.pi) - math.pi
        along = ex * np.cos(robots.angle) + ey * np.sin(robots.angle)
        speed = np.clip(2.0 * along / cfg.max_speed, -1, 1) * np.cos(turn) ** 2
        rate = np.clip(2.0 * turn / cfg.max_turn_rate, -1, 1)
        lift = np.where(actions == wk.TOGGLE, np.where(ledger.carried >= 0, -1.0, 1.0), 0.0)
        return np.stack([speed - rate, speed + rate, lift], axis=-1).clip(-1, 1).astype(np.float32)
