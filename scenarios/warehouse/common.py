"""What the warehouse scenarios share: the config fields of robots on a grid, the floor's static
geometry, and ``WarehouseState``, the per-world book of shelves, requests, robots' grid targets
and the figures operators read (deliveries, latency, contacts, deadlocks, idle share)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from scenarios.core import ScenarioConfig
from scenarios.fields import param
from scenarios.seeding import WorldRandom
from scenarios.warehouse import kernels as wk
from scenarios.warehouse.maps import STEP, WarehouseMap
from worlds import WorldBatch


@dataclass(frozen=True)
class WarehouseConfig(ScenarioConfig):
    continuous_actions: bool = False
    """Wheel speeds and a lift command instead of RWARE's discrete actions."""
    dt: float = param(0.4, low=0.01, high=2.0)
    """Seconds per step (a move of one cell takes about one step)."""
    substeps: int = param(4, low=1, high=32)
    """Physics substeps per step."""
    cell: float = param(1.0, low=0.1, high=10.0)
    """Side of a grid cell in metres."""
    robot_size: float = param(0.8, low=0.3, high=0.9)
    """Side of a robot (and of a shelf) as a fraction of a cell."""
    max_speed: float = param(3.0, low=0.1, high=20.0)
    """Robot speed limit, metres per second."""
    max_turn_rate: float = param(2 * math.pi, low=0.1, high=20.0)
    """Robot turn rate limit, radians per second."""
    settle: float = param(0.25, low=0.01, high=0.5)
    """A robot is settled in a cell within this fraction of a cell from its centre."""
    stuck_seconds: float = param(10.0, low=0.1, high=3600.0)
    """A loaded robot that has not left its cell for this long counts as deadlocked."""


def build_floor(world: WorldBatch, warehouse: WarehouseMap) -> None:
    """Walls around the map and a static box on each wall cell ``#``."""
    world.geometry.add_walls(warehouse.width, warehouse.height)
    walls = np.argwhere(~warehouse.floor)
    for x, y in warehouse.centers(walls).tolist():
        world.geometry.add_box((x, y), (warehouse.cell, warehouse.cell))


def highway_distances(warehouse: WarehouseMap) -> np.ndarray:
    """Steps from each cell to the nearest goal for a loaded robot ``(H, W)`` int32: through
    highways and goals only (a shelf cell's distance is one step onto a highway more)."""
    height, width = warehouse.shape
    open_cells = warehouse.floor & (warehouse.slot_index < 0)
    distance = np.full((height, width), -1, np.int32)
    queue = deque()
    for row, col in warehouse.goals.tolist():
        distance[row, col] = 0
        queue.append((row, col))
    while queue:
        row, col = queue.popleft()
        for d_row, d_col in STEP.tolist():
            r, c = row + d_row, col + d_col
            if 0 <= r < height and 0 <= c < width and distance[r, c] < 0:
                distance[r, c] = distance[row, col] + 1
                if open_cells[r, c]:
                    queue.append((r, c))
    return np.where(distance < 0, height * width, distance).astype(np.int32)


class WarehouseState:
    """Per-world arrays of one batch: shelves (``slot_shelf`` ``(B, S)`` shelf on each slot or
    -1, ``shelf_slot`` ``(B, M)``), requests (``requested``, ``request_step``, ``awaiting``
    return), robots (``carried`` ``(B, N)``, grid ``target`` ``(B, N, 2)`` and ``heading``,
    current ``rows``/``cols``) and the episode's running figures."""

    def __init__(self, num_worlds: int, n: int, warehouse: WarehouseMap) -> None:
        self.map = warehouse
        b, s = num_worlds, len(warehouse.slots)
        self.slot_shelf = np.zeros((b, s), np.int32)
        self.shelf_slot = np.zeros((b, s), np.int32)
        self.requested = np.zeros((b, s), bool)
        self.awaiting = np.zeros((b, s), bool)
        self.paid = np.zeros((b, s), bool)  # pick-up shaping paid for this request
        self.request_step = np.zeros((b, s), np.int64)
        self.carried = np.full((b, n), -1, np.int32)
        self.target = np.zeros((b, n, 2), np.int64)
        self.heading = np.zeros((b, n), np.int64)
        self.rows = np.zeros((b, n), np.int64)
        self.cols = np.zeros((b, n), np.int64)
        self.keys = np.zeros(b, np.uint64)
        self.counters = np.zeros(b, np.uint64)
        self.odometer = np.zeros((b, n), np.float64)
        self.pickup_odometer = np.zeros((b, n), np.float64)
        self.shortest = np.zeros((b, n), np.int64)
        self.last = np.zeros((b, n, 2), np.float32)
        self.map_shape = np.array(warehouse.shape, np.int64)
        self.figures = np.zeros((b, 4), np.float32)
        self.still_steps = np.zeros((b, n), np.int64)
        self.touching = np.zeros((b, n), bool)
        self.totals = np.zeros((b, 4), np.float64)  # deliveries, latency, path ratio, contacts
        self.delivered = np.zeros((b, n), np.float32)
        self.shaped = np.zeros((b, n, 2), np.float32)
        self.events = np.zeros((b * n, 4), np.int64)
        self.scratch = np.zeros(warehouse.shape, np.int32)
        self.in_cycle = np.zeros((b, n), bool)
        self.to_goal = highway_distances(warehouse)
        self.book = (
            self.carried,
            self.slot_shelf,
            self.shelf_slot,
            self.requested,
            self.awaiting,
            self.paid,
        )
        self._metrics = {
            "deliveries": self.figures[:, 0],
            "throughput": self.figures[:, 0],
            "idle": np.zeros((b, n), bool),
            "deadlocks": self.figures[:, 1],
            "wait_cycles": self.figures[:, 2],
            "contacts": self.figures[:, 3],
        }
        self._mask = np.ones((b, n, 5), bool)

    def reset(self, rng: WorldRandom, env_ids: np.ndarray, requests: int):
        """New episodes in worlds ``env_ids``: every slot holds its shelf, ``requests`` random
        shelves requested, robots on distinct random floor cells with random headings. Returns
        the robots' local ``x, y`` and ``heading`` ``(E, N)``."""
        e, n = len(env_ids), self.carried.shape[1]
        shelves = self.slot_shelf.shape[1]
        floor = np.flatnonzero(self.map.floor.ravel())
        draws = rng.random((e, len(floor) + shelves + n + 2))
        cells = floor[np.argsort(draws[:, : len(floor)], axis=1, kind="stable")[:, :n]]
        rows, cols = np.divmod(cells, self.map.shape[1])
        chosen = np.argsort(draws[:, len(floor) : len(floor) + shelves], axis=1, kind="stable")
        heading = np.minimum((draws[:, -n - 2 : -2] * 4).astype(np.int64), 3)
        keys = (draws[:, -2:] * 2.0**32).astype(np.uint64)
        self.keys[env_ids] = (keys[:, 0] << np.uint64(32)) | keys[:, 1]
        self.counters[env_ids] = 0
        self.slot_shelf[env_ids] = np.arange(shelves)
        self.shelf_slot[env_ids] = np.arange(shelves)
        self.requested[env_ids] = False
        self.requested[env_ids[:, None], chosen[:, :requests]] = True
        self.awaiting[env_ids] = False
        self.paid[env_ids] = False
        self.request_step[env_ids] = 0
        self.carried[env_ids] = -1
        self.target[env_ids, :, 0], self.target[env_ids, :, 1] = rows, cols
        self.heading[env_ids] = heading
        self.rows[env_ids], self.cols[env_ids] = rows, cols
        centers = self.map.centers(np.stack([rows, cols], axis=-1))
        self.last[env_ids] = centers
        for array in (
            self.odometer,
            self.pickup_odometer,
            self.shortest,
            self.still_steps,
            self.touching,
            self.totals,
            self.delivered,
            self.shaped,
        ):
            array[env_ids] = 0
        return centers[..., 0], centers[..., 1], heading

    def measure(self, robots, episode, cfg) -> None:
        """After the physics step: robots' cells and travel, deliveries, stillness, wait-for
        cycles and new contacts, in four compiled passes."""
        metrics = self._metrics
        wk.track(robots.x, robots.y, self.last, self.odometer, self.still_steps, self.carried,
                 cfg.cell, 0.02 * cfg.cell, self.map_shape, self.rows, self.cols,
                 metrics["idle"])  # fmt: skip
        wk.deliver(robots.x, robots.y, self.carried, self.requested, self.awaiting, self.paid,
                   self.request_step, self.map.goal_cells, cfg.cell, cfg.settle * cfg.cell,
                   episode.steps, self.keys, self.counters, self.odometer, self.pickup_odometer,
                   self.shortest, self.delivered, self.totals)  # fmt: skip
        wk.wait_cycles(self.rows, self.cols, self.target, self.scratch, self.in_cycle)
        stuck_steps = math.ceil(cfg.stuck_seconds / cfg.dt - 1e-9)
        wk.step_figures(self.delivered, self.carried, self.still_steps, stuck_steps,
                        self.in_cycle, robots.contacts, self.touching, self.figures)  # fmt: skip
        self.totals[:, 3] += self.figures[:, 3]

    def step_metrics(self, robots) -> dict[str, np.ndarray]:
        return self._metrics

    def note_pickups(self, picks: np.ndarray) -> None:
        """Remember where each pick-up's (event rows ``picks``) travel starts and its shortest
        way to a goal."""
        b, n, s = picks[:, 0], picks[:, 1], picks[:, 2]
        self.pickup_odometer[b, n] = self.odometer[b, n]
        slot = self.map.slots[s]
        self.shortest[b, n] = self.to_goal[slot[:, 0], slot[:, 1]]

    def episode_figures(self, env_ids, steps, dt: float) -> dict[str, np.ndarray]:
        return episode_figures(self.totals[env_ids], steps, dt, self.carried.shape[1])

    def carrying_requested(self) -> np.ndarray:
        carried = self.carried
        worlds = np.arange(carried.shape[0])[:, None]
        return (carried >= 0) & self.requested[worlds, np.maximum(carried, 0)]

    def facing(self, robots) -> np.ndarray:
        """The robot's heading on the grid: its target heading, or its angle rounded."""
        if robots.dynamics.act_dim == 3:
            return self.heading
        return np.rint(robots.angle / (0.5 * math.pi)).astype(np.int64) % 4

    def action_mask(self, robots, cfg) -> np.ndarray:
        """Discrete actions' mask ``(B, N, 5)``: toggle only where it picks up or puts down."""
        wk.toggle_mask(
            robots.x,
            robots.y,
            self.target,
            self.carried,
            self.slot_shelf,
            self.map.slot_index,
            cfg.cell,
            cfg.settle * cfg.cell,
            self._mask,
        )
        return self._mask


def episode_figures(totals: np.ndarray, steps, dt: float, robots: int) -> dict[str, np.ndarray]:
    """The warehouse figures of ended episodes from their running ``totals`` ``(E, 4)``
    (deliveries, summed latency in steps, summed path ratio, new contacts) and lengths ``steps``:
    deliveries per hour, mean latency in seconds and path ratio (NaN without a delivery), and
    contacts per robot-hour."""
    hours = steps * dt / 3600.0
    count = totals[:, 0]
    some = np.maximum(count, 1.0)
    return {
        "deliveries_per_hour": count / hours,
        "latency_s": np.where(count > 0, totals[:, 1] * dt / some, np.nan),
        "path_ratio": np.where(count > 0, totals[:, 2] / some, np.nan),
        "contacts_per_robot_hour": totals[:, 3] / (robots * hours),
    }


def event_switches(world: WorldBatch, state: WarehouseState, events: np.ndarray) -> None:
    """Apply the step's pick-ups and put-downs to the physics: the slot's fixture off and the
    robot loaded, or the reverse (one call for the fixtures, one per mode)."""
    picked = events[:, 3] == wk.PICK
    if picked.any():
        state.note_pickups(events[picked])
    world.set_fixtures("shelf", events[:, 0], events[:, 2], ~picked)
    for chosen, mode in ((picked, "loaded"), (~picked, None)):
        if chosen.any():
            world.set_mode("robot", events[chosen, 0], events[chosen, 1], mode)


def shelf_grid_state(state: WarehouseState, robots) -> np.ndarray:
    """The global state: per cell (standing shelf, requested shelf, robot, loaded robot, goal),
    then per robot (x, y, cos, sin, loaded)."""
    warehouse = state.map
    height, width = warehouse.shape
    b, n = state.carried.shape
    grid = np.zeros((b, height * width, 5), np.float32)
    flat_slots = warehouse.slots[:, 0] * width + warehouse.slots[:, 1]
    standing = state.slot_shelf >= 0
    grid[:, flat_slots, 0] = standing
    worlds = np.arange(b)[:, None]
    grid[:, flat_slots, 1] = standing & state.requested[worlds, np.maximum(state.slot_shelf, 0)]
    cells = state.rows * width + state.cols
    grid[worlds, cells, 2] = 1.0
    loaded = state.carried >= 0
    grid[worlds, cells, 3] = loaded
    grid[worlds, cells, 1] = np.maximum(grid[worlds, cells, 1], state.carrying_requested())
    grid[:, warehouse.goal_cells.ravel(), 4] = 1.0
    robots_part = np.stack(
        [robots.x, robots.y, np.cos(robots.angle), np.sin(robots.angle), loaded], axis=-1
    )
    return np.concatenate([grid.reshape(b, -1), robots_part.reshape(b, -1)], axis=1)


def draw_warehouse(canvas, state: WarehouseState, robots, env_index: int, cfg) -> None:
    """Goals, standing shelves (red: requested), and the shelf each loaded robot carries."""
    warehouse = state.map
    half = 0.5 * cfg.robot_size * cfg.cell
    for x, y in warehouse.centers(warehouse.goals).tolist():
        h = 0.5 * cfg.cell
        canvas.polygon(
            [(x - h, y - h), (x + h, y - h), (x + h, y + h), (x - h, y + h)], fill=(200, 235, 200)
        )
    centers = warehouse.centers(warehouse.slots)
    for s, shelf in enumerate(state.slot_shelf[env_index].tolist()):
        if shelf >= 0:
            x, y = centers[s]
            color = (204, 0, 0) if state.requested[env_index, shelf] else (143, 89, 2)
            _square(canvas, x, y, half, color)
    for n, shelf in enumerate(state.carried[env_index].tolist()):
        if shelf >= 0:
            x, y = float(robots.x[env_index, n]), float(robots.y[env_index, n])
            color = (204, 0, 0) if state.requested[env_index, shelf] else (143, 89, 2)
            _square(canvas, x, y, half * 0.8, color)


def draw_paths(canvas, warehouse: WarehouseMap, planner, env_index: int, robots: int) -> None:
    """Each robot's planned route to its goal (``planner.path``), a thin line per robot."""
    colors = [(52, 101, 164), (78, 154, 6), (117, 80, 123), (196, 160, 0), (206, 92, 0)]
    for robot in range(robots):
        cells = planner.path(env_index, robot)
        if len(cells) < 2:
            continue
        points = warehouse.centers(np.array(cells)).tolist()
        color = colors[robot % len(colors)]
        for a, b in zip(points, points[1:], strict=False):
            canvas.line(*a, *b, color, width=2)
        canvas.circle(*points[-1], 0.12 * warehouse.cell, fill=color)


def _square(canvas, x: float, y: float, half: float, color) -> None:
    corners = [
        (x - half, y - half),
        (x + half, y - half),
        (x + half, y + half),
        (x - half, y + half),
    ]
    for a, b in zip(corners, corners[1:] + corners[:1], strict=True):
        canvas.line(*a, *b, color, width=3)
