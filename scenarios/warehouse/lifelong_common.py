"""The books of ``warehouse/lifelong-v0``: the map's endpoints and their distance tables, the racks'
static geometry, and ``ErrandBook``, the per-world arrays of errands, robots and the figures
operators read (completions, latency, path ratio, contacts, deadlocks, idle share)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, shortest_path

from scenarios.seeding import WorldRandom
from scenarios.warehouse import lifelong_kernels as lk
from scenarios.warehouse.common import episode_figures
from scenarios.warehouse.kernels import wait_cycles
from scenarios.warehouse.maps import STEP, WarehouseMap
from worlds import WorldBatch


def floor_graph(floor: np.ndarray) -> tuple[csr_matrix, np.ndarray]:
    """The 4-connected graph of the floor cells and the flat index of each node's cell."""
    height, width = floor.shape
    free = np.flatnonzero(floor.ravel())
    node = np.full(floor.size, -1, np.int64)
    node[free] = np.arange(free.size)
    rows, cols = np.divmod(free, width)
    src, dst = [], []
    for d_row, d_col in ((0, 1), (1, 0)):
        r, c = rows + d_row, cols + d_col
        inside = (r < height) & (c < width)
        ok = inside.copy()
        ok[inside] = floor[r[inside], c[inside]]
        src.append(node[free[ok]])
        dst.append(node[r[ok] * width + c[ok]])
    src, dst = np.concatenate(src), np.concatenate(dst)
    edges = np.concatenate([src, dst]), np.concatenate([dst, src])
    graph = csr_matrix((np.ones(2 * src.size), edges), shape=(free.size, free.size))
    return graph, free


def floor_connected(floor: np.ndarray) -> bool:
    """Whether every floor cell can reach every other."""
    graph, _ = floor_graph(floor)
    return connected_components(graph, directed=False)[0] == 1


@lru_cache(maxsize=4)
def endpoint_tables(text: str) -> tuple[np.ndarray, np.ndarray, int]:
    """The endpoints of a map (``x`` cells, then ``g`` stations, each row-major) ``(K, 2)``, their
    distance tables ``(K, H * W)`` (moves from every cell; int16 on maps under 32,000 cells) and
    the value that marks no way there. Computed once per map text (a batched BFS)."""
    warehouse = WarehouseMap(text)
    endpoints = np.concatenate([warehouse.slots, warehouse.goals]).astype(np.int64)
    height, width = warehouse.shape
    dtype = np.int16 if height * width < 32_000 else np.int32
    unreachable = int(np.iinfo(dtype).max)
    graph, free = floor_graph(warehouse.floor)
    node = np.full(height * width, -1, np.int64)
    node[free] = np.arange(free.size)
    table = np.full((len(endpoints), height * width), unreachable, dtype)
    sources = node[endpoints[:, 0] * width + endpoints[:, 1]]
    for start in range(0, len(sources), 256):
        found = shortest_path(graph, unweighted=True, indices=sources[start : start + 256])
        found[~np.isfinite(found)] = unreachable
        table[start : start + 256, free] = found.astype(dtype)
    table.setflags(write=False)
    return endpoints, table, unreachable


def build_racks(world: WorldBatch, warehouse: WarehouseMap) -> None:
    """Walls around the map and one static box per horizontal run of rack cells ``#``."""
    world.geometry.add_walls(warehouse.width, warehouse.height)
    cell = warehouse.cell
    for row, line in enumerate(warehouse.lines):
        col = 0
        while col < len(line):
            if line[col] != "#":
                col += 1
                continue
            end = col
            while end < len(line) and line[end] == "#":
                end += 1
            x, y = warehouse.centers(np.array([row, (col + end - 1) / 2]))
            world.geometry.add_box((float(x), float(y)), ((end - col) * cell, cell))
            col = end


class ErrandBook:
    """Per-world arrays of one batch: errands (``pick``, ``drop``, ``assignee``, ``requested``,
    ``serial``, each ``(B, E)``), robots (``errand``, ``phase``, grid ``target`` ``(B, N, 2)`` and
    ``heading``, current ``rows``/``cols``), the stream's ``keys`` and ``counters``, and the
    episode's running figures. ``lifelong_kernels`` describes the books' tuples."""

    def __init__(self, num_worlds: int, n: int, errands: int, warehouse: WarehouseMap, cfg):
        self.map, self.cfg = warehouse, cfg
        b = num_worlds
        self.endpoints, self.dist, self.unreachable = endpoint_tables(warehouse.text)
        slots = len(warehouse.slots)
        stations = np.arange(slots, len(self.endpoints), dtype=np.int64)
        self.pick_set = np.arange(slots, dtype=np.int64)
        self.distinct = cfg.stream == "random"
        self.drop_set = self.pick_set if self.distinct else stations
        self.pick, self.drop, self.assignee = (np.zeros((b, errands), np.int64) for _ in range(3))
        self.requested, self.serial = (np.zeros((b, errands), np.int64) for _ in range(2))
        self.errand, self.phase = np.full((b, n), -1, np.int64), np.zeros((b, n), np.int64)
        self.start_odometer, self.shortest = np.zeros((b, n)), np.zeros((b, n), np.int64)
        self.keys, self.counters = np.zeros(b, np.uint64), np.zeros(b, np.uint64)
        self.planner_seeds = np.zeros(b, np.int64)
        self.target, self.heading = np.zeros((b, n, 2), np.int64), np.zeros((b, n), np.int64)
        self.rows, self.cols = np.zeros((b, n), np.int64), np.zeros((b, n), np.int64)
        self.odometer = np.zeros((b, n))
        self.last_x, self.last_y = np.zeros((b, n), np.float32), np.zeros((b, n), np.float32)
        self.still_steps, self.touching = np.zeros((b, n), np.int64), np.zeros((b, n), bool)
        self.in_cycle = np.zeros((b, n), bool)
        self.aim_key, self.aim_distance = np.full((b, n), -1, np.int64), np.zeros((b, n), np.int64)
        self.totals = np.zeros((b, 4))  # completions, latency (steps), path ratio, contacts
        self.picked, self.completed = np.zeros((b, n), np.float32), np.zeros((b, n), np.float32)
        self.progress, self.new_contacts = np.zeros((b, n), np.float32), np.zeros((b, n), bool)
        self.options = np.full((b, n, cfg.k_options), -1, np.int64)
        self._best = np.zeros(cfg.k_options, np.int64)
        self.scratch = np.full(warehouse.shape, -1, np.int32)
        self.cycle_scratch = np.full(warehouse.shape, -1, np.int32)
        self.marks = np.zeros(warehouse.shape, np.int32)
        self.stations = warehouse.goal_cells.copy()
        self.books = (
            (self.errand, self.phase, self.start_odometer, self.shortest),
            (self.pick, self.drop, self.assignee, self.requested, self.serial),
        )
        self.ends = (
            self.endpoints, self.pick_set, self.drop_set, self.distinct, self.dist, warehouse.floor
        )  # fmt: skip
        self.metrics = {
            "deliveries": np.zeros(b, np.float32),
            "throughput": np.zeros(b, np.float32),
            "idle": np.zeros((b, n), bool),
            "deadlocks": np.zeros(b, np.float32),
            "wait_cycles": np.zeros(b, np.float32),
            "contacts": np.zeros(b, np.float32),
        }

    def reset(self, rng: WorldRandom, env_ids: np.ndarray):
        """New episodes in worlds ``env_ids``: every errand slot filled from the world's stream
        (keys drawn here, counters from 0), robots idle on distinct random floor cells with random
        headings. Returns the robots' local ``x, y`` and ``heading`` ``(E, N)``."""
        e, n = len(env_ids), self.errand.shape[1]
        floor = np.flatnonzero(self.map.floor.ravel())
        draws = rng.random((e, len(floor) + n + 3))
        cells = floor[np.argsort(draws[:, : len(floor)], axis=1, kind="stable")[:, :n]]
        rows, cols = np.divmod(cells, self.map.shape[1])
        heading = np.minimum((draws[:, len(floor) : len(floor) + n] * 4).astype(np.int64), 3)
        keys = (draws[:, -3:-1] * 2.0**32).astype(np.uint64)
        self.keys[env_ids] = (keys[:, 0] << np.uint64(32)) | keys[:, 1]
        self.counters[env_ids] = 0
        self.planner_seeds[env_ids] = (draws[:, -1] * 2.0**31).astype(np.int64)
        lk.fill_errands(
            env_ids, self.books[1], self.pick_set, self.drop_set, self.distinct,
            self.keys, self.counters,
        )  # fmt: skip
        self.errand[env_ids] = -1
        self.aim_key[env_ids] = -1
        self.target[env_ids, :, 0], self.target[env_ids, :, 1] = rows, cols
        self.heading[env_ids] = heading
        self.rows[env_ids], self.cols[env_ids] = rows, cols
        centers = self.map.centers(np.stack([rows, cols], axis=-1))
        self.last_x[env_ids], self.last_y[env_ids] = centers[..., 0], centers[..., 1]
        for array in (self.phase, self.start_odometer, self.shortest, self.odometer,
                      self.still_steps, self.touching, self.aim_distance, self.totals):  # fmt: skip
            array[env_ids] = 0
        return centers[..., 0], centers[..., 1], heading

    def measure(self, robots, episode, worlds: np.ndarray, schedule: bool) -> None:
        """After the physics step, in worlds ``worlds``: the robots' cells and travel, errands
        that progress (and their replacements), the built-in scheduler's assignments when
        ``schedule``, then each robot's way to its endpoint, stillness, wait-for cycles and new
        contacts. Kernels loop over ``worlds``; numpy works on their rows."""
        cfg, every = self.cfg, len(worlds) == self.errand.shape[0]
        sel = slice(None) if every else worlds
        rows, cols = self.map.cells_of(robots.x[sel], robots.y[sel])
        self.rows[sel], self.cols[sel] = rows, cols
        if cfg.continuous_actions:  # no grid targets: a robot aims at the cell it stands in
            self.target[sel, :, 0], self.target[sel, :, 1] = rows, cols
        travel = np.hypot(robots.x[sel] - self.last_x[sel], robots.y[sel] - self.last_y[sel])
        self.odometer[sel] += travel
        self.last_x[sel], self.last_y[sel] = robots.x[sel], robots.y[sel]
        settle, slow = cfg.settle * cfg.cell, cfg.settle * cfg.cell / cfg.dt
        out = (self.picked, self.completed, self.odometer, self.totals)
        lk.advance(
            worlds, robots.x, robots.y, robots.vx, robots.vy, self.rows, self.cols, self.books,
            self.ends, (self.keys, self.counters), settle, slow, cfg.cell, episode.steps, out,
        )  # fmt: skip
        if schedule:
            lk.assign_greedy(
                worlds, self.rows, self.cols, self.books, self.ends, self.unreachable,
                self.odometer,
            )  # fmt: skip
        else:
            lk.nearest_options(
                worlds, self.rows, self.cols, self.books, self.ends, self.unreachable,
                self._best, self.options,
            )  # fmt: skip
        lk.aim(
            worlds, self.rows, self.cols, self.books, self.ends, self.aim_key,
            self.aim_distance, self.progress,
        )  # fmt: skip
        self._count(robots, sel, travel > 0.02 * cfg.cell)

    def _count(self, robots, sel, moving: np.ndarray) -> None:
        """The step's figures of worlds ``sel``: stillness, cycles, contacts, idle share."""
        cfg, metrics = self.cfg, self.metrics
        still = self.still_steps[sel] + 1
        still[moving] = 0
        self.still_steps[sel] = still
        wait_cycles(self.rows, self.cols, self.target, self.cycle_scratch, self.in_cycle)
        busy = self.errand[sel] >= 0
        metrics["deliveries"][sel] = self.completed[sel].sum(axis=1)
        metrics["throughput"][sel] = metrics["deliveries"][sel]
        metrics["idle"][sel] = ~busy
        stuck = busy & (still * cfg.dt >= cfg.stuck_seconds)
        metrics["deadlocks"][sel] = stuck.sum(axis=1)
        metrics["wait_cycles"][sel] = self.in_cycle[sel].sum(axis=1)
        touching = (robots.contacts[sel] + robots.static_contacts[sel]) > 0
        self.new_contacts[sel] = touching & ~self.touching[sel]
        metrics["contacts"][sel] = self.new_contacts[sel].sum(axis=1)
        self.totals[sel, 3] += metrics["contacts"][sel]
        self.touching[sel] = touching

    def episode_figures(self, env_ids, steps, dt: float) -> dict[str, np.ndarray]:
        return episode_figures(self.totals[env_ids], steps, dt, self.errand.shape[1])

    def goal_cells(self, b: int) -> np.ndarray:
        """World b's robots' current endpoint cells ``(N, 2)``, -1 rows for idle robots."""
        errand, phase = self.errand[b], self.phase[b]
        slot = np.maximum(errand, 0)
        k = np.where(phase == 0, self.pick[b, slot], self.drop[b, slot])
        return np.where((errand >= 0)[:, None], self.endpoints[k], -1)

    def facing(self, robots) -> np.ndarray:
        """The robot's heading on the grid: its target heading, or its angle rounded."""
        if not self.cfg.continuous_actions:
            return self.heading
        return np.rint(robots.angle / (0.5 * math.pi)).astype(np.int64) % 4


def goal_endpoints(book: ErrandBook) -> tuple[np.ndarray, np.ndarray]:
    """Every robot's current endpoint ``(B, N)`` (0 where idle) and whether it has one."""
    worlds = np.arange(book.errand.shape[0])[:, None]
    slot = np.maximum(book.errand, 0)
    k = np.where(book.phase == 0, book.pick[worlds, slot], book.drop[worlds, slot])
    busy = book.errand >= 0
    return np.where(busy, k, 0), busy


def errand_state(book: ErrandBook, robots) -> np.ndarray:
    """The global state: per cell (robot, robot with an errand, waiting errands' picks, robots'
    endpoints), then per robot (x, y, cos, sin, to_pick, to_drop, endpoint east, north)."""
    height, width = book.map.shape
    b, n = book.errand.shape
    grid = np.zeros((b, height * width, 4), np.float32)
    worlds = np.arange(b)[:, None]
    cells = book.rows * width + book.cols
    busy = book.errand >= 0
    grid[worlds, cells, 0] = 1.0
    grid[worlds, cells, 1] = busy
    picks = book.endpoints[book.pick]
    np.add.at(grid, (worlds, picks[..., 0] * width + picks[..., 1], 2), book.assignee < 0)
    k, busy = goal_endpoints(book)
    goal = book.endpoints[k]
    grid[worlds, goal[..., 0] * width + goal[..., 1], 3] += busy
    cell = book.map.cell
    robots_part = np.stack(
        [
            robots.x,
            robots.y,
            np.cos(robots.angle),
            np.sin(robots.angle),
            busy & (book.phase == 0),
            busy & (book.phase == 1),
            busy * (goal[..., 1] - book.cols) * cell,
            busy * (book.rows - goal[..., 0]) * cell,
        ],
        axis=-1,
    ).astype(np.float32)
    return np.concatenate([grid.reshape(b, -1), robots_part.reshape(b, -1)], axis=1)


def shortest_way(book: ErrandBook, cell: tuple[int, int], k: int, limit: int = 400) -> list:
    """The cells of a shortest way from ``cell`` to endpoint ``k`` (straight on where it can)."""
    height, width = book.map.shape
    table, floor = book.dist[k], book.map.floor
    row, col = cell
    step = STEP.tolist()
    way, heading = [(row, col)], 0
    for _ in range(limit):
        here = table[row * width + col]
        if here == 0 or here >= book.unreachable:
            break
        for h in (heading, (heading + 1) % 4, (heading + 3) % 4, (heading + 2) % 4):
            r, c = row + step[h][0], col + step[h][1]
            if 0 <= r < height and 0 <= c < width and floor[r, c]:
                if table[r * width + c] < here:
                    row, col, heading = r, c, h
                    break
        way.append((row, col))
    return way


def draw_errands(canvas, book: ErrandBook, robots, b: int) -> None:
    """Stations, endpoints, waiting errands' picks, and each busy robot's shortest way to its
    endpoint (orange to a pick, purple to a drop), the way the planner's distances lead it."""
    warehouse = book.map
    half = 0.5 * warehouse.cell
    for x, y in warehouse.centers(warehouse.goals).tolist():
        _square(canvas, x, y, 0.9 * half, (60, 160, 60), 2)
    for x, y in warehouse.centers(warehouse.slots).tolist():
        canvas.circle(x, y, 0.06 * warehouse.cell, fill=(200, 200, 200))
    waiting = book.assignee[b] < 0
    for x, y in warehouse.centers(book.endpoints[book.pick[b, waiting]]).tolist():
        _square(canvas, x, y, 0.7 * half, (230, 140, 20), 2)
    k, busy = goal_endpoints(book)
    for n in np.flatnonzero(busy[b]).tolist():
        color = (230, 140, 20) if book.phase[b, n] == 0 else (150, 40, 170)
        way = shortest_way(book, (int(book.rows[b, n]), int(book.cols[b, n])), int(k[b, n]))
        points = warehouse.centers(np.array(way)).tolist()
        points[0] = (float(robots.x[b, n]), float(robots.y[b, n]))
        for start, end in zip(points, points[1:], strict=False):
            canvas.line(*start, *end, color, width=2)
        x, y = points[-1]
        _square(canvas, x, y, 0.8 * half, color, 3)


def _square(canvas, x: float, y: float, half: float, color, width: int) -> None:
    left, right, low, high = x - half, x + half, y - half, y + half
    corners = [(left, low), (right, low), (right, high), (left, high)]
    for a, c in zip(corners, corners[1:] + corners[:1], strict=True):
        canvas.line(*a, *c, color, width=width)
