"""Grid planning for the warehouse family: the conventions, distances, task assignment, a safety
filter and a grid executor that the planners share (prioritized planning is in
``scenarios.warehouse.prioritized``, PIBT in ``scenarios.warehouse.pibt``).

The warehouse scenarios turn one discrete action per robot per step into a one-cell motion that a
low-level controller executes, so their scripted baselines plan on the grid:

* a map is ``passable``, a bool array ``(H, W)``; a cell is ``(row, col)``, row 0 the top row;
* headings are 0 east (col + 1), 1 north (row - 1), 2 west (col - 1), 3 south (row + 1), and
  ``STEP[h]`` is the ``(d_row, d_col)`` of heading ``h``; a robot's state is ``(row, col, h)``;
* actions are RWARE's ``NOOP, FORWARD, LEFT, RIGHT, TOGGLE`` (0 to 4): FORWARD moves one cell
  along the heading, LEFT turns counter-clockwise (``h + 1``), RIGHT clockwise (``h + 3``), each
  in one step; TOGGLE (load, unload) does not move;
* two robots never share a cell at a time (vertex conflict), never swap cells in one step (edge
  conflict), and a robot enters a cell only if the cell was empty at the start of the step: no
  *following*, not even behind a robot that moves away, so the physical robots keep a cell
  between them. ``allow_following=True`` relaxes this to following a robot that does move.

Methods

``DistanceCache``: breadth-first distances to a goal cell over the 4-connected passable cells
(turns ignored), with ``scipy.sparse.csgraph`` (compiled BFS, batched over goals), memoized per
goal: ``UNREACHABLE`` where no path exists.

``prioritized.space_time_astar`` and ``prioritized.PrioritizedPlanner``: prioritized planning
with cooperative A* (Silver 2005), windowed; ``pibt.PIBTPlanner``: priority inheritance with
backtracking (PIBT, Okumura et al. 2019, 2022). Their module docstrings describe them.

``assign_nearest``: free robots to open tasks, optimally (minimum total BFS distance, Hungarian
method through ``scipy.optimize.linear_sum_assignment``) or greedily (nearest pair first).

``make_safe``: cancels (FORWARD to NOOP) every move that would break the rules above, to a
fixpoint; every planner's output goes through it, so no planner can emit a conflict, and it can
shield any policy's actions. ``grid_step`` executes actions on the grid and reports conflicts:
the reference for tests.

League of Robot Runners (LoRR, 2023-24) is the lifelong pickup-and-delivery benchmark whose
robots have headings and spend a step per turn, as here; RWARE (Papoudakis et al. 2021) the
shelf-fetching one whose action set this is.

Use in an environment: a planner keeps the state of one world's robots between steps
(priorities, plans, reservations), so a batch of ``B`` worlds holds ``B`` planners, which share
one ``DistanceCache`` (``distances=``) when their worlds share a map. Each step, each world's
planner takes its robots' ``(N, 3)`` int states and ``(N, 2)`` goal cells (``(-1, -1)``: no
task) and returns their ``(N,)`` actions; ``reset()`` at the world's new episode. The planners
read the state they are given, so a robot that did not do what it was told (a physical
controller that lagged) is simply planned again from where it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

STEP = np.array([(0, 1), (-1, 0), (0, -1), (1, 0)])
NOOP, FORWARD, LEFT, RIGHT, TOGGLE = 0, 1, 2, 3, 4
UNREACHABLE = 1 << 20
# The action that turns heading h toward direction d, indexed by (d - h) % 4; a U-turn starts
# with LEFT.
TURN_TOWARD = (FORWARD, LEFT, LEFT, RIGHT)


def turn_count(a: int, b: int) -> int:
    """The number of quarter turns (0, 1 or 2) between headings ``a`` and ``b``."""
    return min((a - b) % 4, (b - a) % 4)


def warehouse_grid(
    block_rows: int = 3,
    block_cols: int = 12,
    block_height: int = 8,
    block_width: int = 2,
    margin: int = 2,
    cross_aisle: int = 1,
) -> np.ndarray:
    """An RWARE-like map: ``block_rows x block_cols`` blocks of shelves (impassable), each
    ``block_height x block_width`` cells, separated by one-cell aisles between the columns of
    blocks and ``cross_aisle``-cell aisles between their rows, inside a corridor of ``margin``
    cells. Every aisle is open at both ends. The defaults give RWARE's proportions on a 30 x 39
    map (594 passable cells); ``cross_aisle=2`` a 32 x 39 one (672) where traffic can pass."""
    height = 2 * margin + block_rows * (block_height + cross_aisle) - cross_aisle
    width = 2 * margin + block_cols * (block_width + 1) - 1
    passable = np.ones((height, width), dtype=bool)
    for i in range(block_rows):
        row = margin + i * (block_height + cross_aisle)
        for j in range(block_cols):
            col = margin + j * (block_width + 1)
            passable[row : row + block_height, col : col + block_width] = False
    return passable


class DistanceCache:
    """BFS distances over a map's passable cells (4-connected, turns ignored), memoized per goal.

    ``to(goal)`` is an int32 ``(H, W)`` array, read-only, of the number of moves from each cell
    to ``goal``, ``UNREACHABLE`` from walls and other components. ``prefetch(goals)`` computes
    many goals in one call. ``forward[cell * 4 + h]`` is the flat index (``row * W + col``) of
    the cell ahead of flat cell ``cell`` at heading ``h``, -1 for a wall or the map's edge; the
    planners share it, and memoize their own per-goal tables in ``derived``. One cache serves
    every world that has the same map.
    """

    def __init__(self, passable: np.ndarray) -> None:
        self.passable = np.array(passable, dtype=bool)
        if self.passable.ndim != 2:
            raise ValueError(f"passable must be a 2-d bool array, got shape {self.passable.shape}")
        self.passable.setflags(write=False)
        self.shape = self.passable.shape
        height, width = self.shape
        self._free = np.flatnonzero(self.passable)
        self._node = np.full(height * width, -1, dtype=np.int64)
        self._node[self._free] = np.arange(self._free.size)
        self.forward = self._forward_cells()
        self._graph = self._adjacency()
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self.derived: dict = {}  # per-goal tables that planners derive, under their own keys

    def _forward_cells(self) -> list[int]:
        height, width = self.shape
        rows, cols = np.divmod(np.arange(height * width), width)
        ahead = np.full((height * width, 4), -1, dtype=np.int64)
        for h, (dr, dc) in enumerate(STEP):
            r, c = rows + dr, cols + dc
            inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
            ok = inside & self.passable.ravel()
            ok[ok] &= self.passable[r[ok], c[ok]]
            ahead[ok, h] = r[ok] * width + c[ok]
        return ahead.ravel().tolist()

    def _adjacency(self) -> csr_matrix:
        ahead = np.array(self.forward).reshape(-1, 4)[self._free]
        src = np.repeat(np.arange(self._free.size), 4)
        dst = ahead.ravel()
        keep = dst >= 0
        src, dst = src[keep], self._node[dst[keep]]
        n = self._free.size
        return csr_matrix((np.ones(src.size), (src, dst)), shape=(n, n))

    def _key(self, goal: Sequence[int]) -> tuple[int, int]:
        row, col = int(goal[0]), int(goal[1])
        if not (0 <= row < self.shape[0] and 0 <= col < self.shape[1]):
            raise ValueError(f"goal {(row, col)} is outside the {self.shape} map")
        return row, col

    def prefetch(self, goals: np.ndarray | Sequence[Sequence[int]]) -> None:
        """Compute and memoize the distances to every goal of ``goals`` (``(K, 2)`` cells) not
        already cached, in one batched BFS: cheaper than one ``to`` per goal."""
        keys = {self._key(goal) for goal in np.asarray(goals).reshape(-1, 2)}
        todo = sorted(key for key in keys if key not in self._cache)
        if not todo:
            return
        nodes = np.array([self._node[r * self.shape[1] + c] for r, c in todo])
        full = np.full((len(todo), self.passable.size), UNREACHABLE, dtype=np.int32)
        reachable = nodes >= 0
        if reachable.any():
            found = shortest_path(self._graph, unweighted=True, indices=nodes[reachable])
            found = np.where(np.isfinite(found), found, UNREACHABLE).astype(np.int32)
            full[np.ix_(reachable, self._free)] = found.reshape(-1, self._free.size)
        for key, row in zip(todo, full, strict=True):
            table = row.reshape(self.shape)
            table.setflags(write=False)
            self._cache[key] = table

    def to(self, goal: Sequence[int]) -> np.ndarray:
        """The int32 ``(H, W)`` BFS distances to ``goal`` (a ``(row, col)`` cell), computed on
        first use and memoized; read-only."""
        key = self._key(goal)
        table = self._cache.get(key)
        if table is None:
            self.prefetch([key])
            table = self._cache[key]
        return table

    def __len__(self) -> int:
        return len(self._cache)


def follow_path_action(state: Sequence[int], next_cell: Sequence[int]) -> int:
    """The action that takes a robot at ``state`` ``(row, col, heading)`` toward the adjacent
    ``next_cell``: FORWARD if it faces the cell, else the shorter turn toward it (LEFT first for
    a U-turn, which takes two steps), NOOP if ``next_cell`` is the robot's own cell. Raises
    ``ValueError`` for a cell that is neither."""
    row, col, heading = (int(x) for x in state)
    d_row, d_col = int(next_cell[0]) - row, int(next_cell[1]) - col
    if d_row == 0 and d_col == 0:
        return NOOP
    for direction, (dr, dc) in enumerate(STEP.tolist()):
        if (dr, dc) == (d_row, d_col):
            return TURN_TOWARD[(direction - heading) % 4]
    raise ValueError(f"{tuple(next_cell)} is not next to {(row, col)}")


def _as_states(states: np.ndarray, passable: np.ndarray) -> np.ndarray:
    states = np.asarray(states, dtype=np.int64)
    if states.ndim != 2 or states.shape[1] != 3:
        raise ValueError(f"states must be (N, 3) rows of (row, col, heading), got {states.shape}")
    height, width = passable.shape
    rows, cols, heads = states.T
    if ((rows < 0) | (rows >= height) | (cols < 0) | (cols >= width)).any():
        raise ValueError(f"a robot's cell is outside the {passable.shape} map")
    if ((heads < 0) | (heads > 3)).any():
        raise ValueError("headings must be in 0..3")
    return states


def _targets(states: np.ndarray, passable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat index of the cell ahead of each robot, and whether that cell is passable."""
    height, width = passable.shape
    ahead = states[:, :2] + STEP[states[:, 2]]
    inside = (ahead[:, 0] >= 0) & (ahead[:, 0] < height) & (ahead[:, 1] >= 0)
    inside &= ahead[:, 1] < width
    flat = ahead[:, 0] * width + ahead[:, 1]
    ok = inside & passable.ravel()[np.where(inside, flat, 0)]
    return flat, ok


def make_safe(
    states: np.ndarray,
    actions: np.ndarray,
    passable: np.ndarray,
    allow_following: bool = False,
) -> np.ndarray:
    """A copy of ``actions`` (``(N,)``) in which every FORWARD that would break the rules is a
    NOOP: a move into a wall or off the map, into a cell another mover with a lower index claims
    too, into an occupied cell (with ``allow_following``: into the cell of a robot that does not
    move away, or a swap), repeated to a fixpoint since a cancelled move makes its robot stay.
    Turns and NOOPs stay as they are, so the result has no conflict under ``grid_step``."""
    states = _as_states(states, passable)
    actions = np.array(actions, dtype=np.int64).reshape(-1)
    if actions.shape[0] != states.shape[0]:
        raise ValueError(f"{actions.shape[0]} actions for {states.shape[0]} robots")
    target, ok = _targets(states, passable)
    cells = (states[:, 0] * passable.shape[1] + states[:, 1]).tolist()
    occupant = {cell: i for i, cell in enumerate(cells)}
    moving, claimed = set(), set()
    for i in np.flatnonzero((actions == FORWARD) & ok).tolist():
        if target[i] not in claimed:
            claimed.add(int(target[i]))
            moving.add(i)
    changed = True
    while changed:
        changed = False
        for i in sorted(moving):
            j = occupant.get(int(target[i]))
            if j is None:
                continue
            follows = allow_following and j in moving and target[j] != cells[i]
            if not follows:
                moving.discard(i)
                changed = True
    forward = np.flatnonzero(actions == FORWARD)
    actions[[i for i in forward.tolist() if i not in moving]] = NOOP
    return actions


def grid_step(
    states: np.ndarray,
    actions: np.ndarray,
    passable: np.ndarray,
    allow_following: bool = False,
) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """Execute one step on the grid: the reference executor of the tests. Returns the new
    ``(N, 3)`` states and the conflicts as ``(kind, i, j)``: ``"obstacle"`` (robot ``i`` drove
    into a wall or off the map and stayed; ``j = -1``), ``"vertex"`` (``i`` and ``j`` share a
    cell after the step), ``"edge"`` (they swapped), ``"following"`` (``i`` entered the cell
    that ``j`` left in the same step; not reported with ``allow_following``)."""
    states = _as_states(states, passable)
    actions = np.asarray(actions).reshape(-1)
    heads = states[:, 2]
    target, ok = _targets(states, passable)
    forward = actions == FORWARD
    moving = forward & ok
    new = states.copy()
    new[moving, :2] = np.stack(np.divmod(target[moving], passable.shape[1]), axis=1)
    new[actions == LEFT, 2] = (heads[actions == LEFT] + 1) % 4
    new[actions == RIGHT, 2] = (heads[actions == RIGHT] + 3) % 4
    conflicts = [("obstacle", i, -1) for i in np.flatnonzero(forward & ~ok).tolist()]
    width = passable.shape[1]
    before = (states[:, 0] * width + states[:, 1]).tolist()
    after = (new[:, 0] * width + new[:, 1]).tolist()
    seen: dict[int, int] = {}
    for i, cell in enumerate(after):
        if cell in seen:
            conflicts.append(("vertex", seen[cell], i))
        seen.setdefault(cell, i)
    occupant = {cell: i for i, cell in enumerate(before)}
    for i in np.flatnonzero(moving).tolist():
        j = occupant.get(after[i])
        if j is None or j == i or not moving[j]:
            continue
        if after[j] == before[i]:
            if i < j:
                conflicts.append(("edge", i, j))
        elif not allow_following:
            conflicts.append(("following", i, j))
    return new, conflicts


def _greedy_pairs(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(cost, axis=None, kind="stable")
    used_rows, used_cols, rows, cols = set(), set(), [], []
    for row, col in zip(*np.unravel_index(order, cost.shape), strict=True):
        if row not in used_rows and col not in used_cols:
            used_rows.add(row)
            used_cols.add(col)
            rows.append(row)
            cols.append(col)
    return np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)


def assign_nearest(
    robot_cells: np.ndarray,
    task_cells: np.ndarray,
    distances: DistanceCache,
    available_robots: np.ndarray | None = None,
    greedy: bool = False,
) -> np.ndarray:
    """Assign the available robots (``(N,)`` bool mask, all by default) to the tasks
    (``(K, 2)`` cells): the ``(N,)`` index of each robot's task, -1 for none. With the default,
    the assignment of ``min(free robots, K)`` pairs of least total BFS distance
    (``linear_sum_assignment``); with ``greedy=True``, the closest (robot, task) pair first, then
    the closest among the rest (ties by robot, then task index). Pairs with no path are dropped."""
    robots = np.asarray(robot_cells, dtype=np.int64).reshape(-1, 2)
    tasks = np.asarray(task_cells, dtype=np.int64).reshape(-1, 2)
    result = np.full(robots.shape[0], -1, dtype=np.int64)
    free = np.arange(robots.shape[0])
    if available_robots is not None:
        free = np.flatnonzero(np.asarray(available_robots, dtype=bool))
    if free.size == 0 or tasks.shape[0] == 0:
        return result
    distances.prefetch(tasks)
    cost = np.empty((free.size, tasks.shape[0]), dtype=np.int64)
    for k, task in enumerate(tasks):
        cost[:, k] = distances.to(task)[robots[free, 0], robots[free, 1]]
    rows, cols = _greedy_pairs(cost) if greedy else linear_sum_assignment(cost)
    keep = cost[rows, cols] < UNREACHABLE
    result[free[rows[keep]]] = cols[keep]
    return result
