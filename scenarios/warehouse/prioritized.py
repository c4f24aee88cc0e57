"""Prioritized planning with cooperative A* (Silver 2005, "Cooperative Pathfinding"), windowed.

Robots plan one after the other, in priority order, each with an A* over space-time states
``(row, col, heading, t)`` (``space_time_astar``) against a ``ReservationTable`` of what the
robots before them reserved, then reserve their own plan. A step of the search is FORWARD, LEFT,
RIGHT or NOOP; its heuristic is the BFS distance to the goal plus the fewest turns the goal's
direction needs (east or west, north or south of the robot: the headings the robot must face at
least once), which never overestimates and is consistent.

The rules of ``scenarios.warehouse.planning`` hold in the table: a robot at a cell at ``t``
reserves ``(cell, t)``; one that enters a cell during step ``t`` also reserves ``(cell, t)``,
since the cell must be empty at the start of the step (with ``allow_following``, it reserves the
edge instead, which forbids a swap). A robot may be at a cell at ``t`` only if nobody reserved
it, and its goal must stay free after it arrives. A robot can also *park*: keep its last
reserved cell for ever after. Past the last reserved step only parked robots remain, so the
search drops time there (waiting is useless): it is bounded by the map's size times the window.

``PrioritizedPlanner`` is windowed, as Silver's WHCA*: each robot plans to its goal but reserves
only the next ``window`` steps; all robots re-plan every ``window`` steps (a full round, from
every robot's current cell), and a robot re-plans alone, against the others' reservations, when
it gets a new goal, is not in the state its plan says, or had no plan. Priorities grow with the
steps a robot has spent on its current goal (ties by index). A robot with no path waits in
place; a round in which some robots fail restarts with them at the front of the order
(``max_restarts`` times at most). Three rules keep the windows from deadlocking in one-cell
aisles (measured on 30 x 39 RWARE-like maps with 32 and 64 robots: without any one of them,
some robots wait for hundreds of steps):

* until a robot has planned, its current cell stays reserved for it for ``hold`` steps (3: a
  U-turn and a move), so a robot planned before it cannot rush into its cell and leave it no
  time to make way (revised prioritized planning, Čáp et al. 2015, keeps lower-priority robots'
  start cells free in the same spirit);
* a robot whose reserved window ends with a wait is parked there: it is likely to be there
  still, and a robot that planned to wait out the window behind it would do the same at every
  round (the robots that reach their goal inside the window park there, as in classic
  prioritized planning);
* a robot that keeps its cell for more than ``stall`` steps short of its goal is stuck; while
  some are, each round plans them first, in a random order (``seed``), instead of the fixed
  order that would repeat the same waits.

Planning is not complete, so the actions go through ``make_safe``: a move that a stale or failed
plan would make unsafe becomes a NOOP, and its robot re-plans at the next step.
"""

from __future__ import annotations

import heapq
from array import array
from collections import deque
from collections.abc import Sequence

import numpy as np

from scenarios.warehouse.planning import (
    FORWARD,
    LEFT,
    NOOP,
    RIGHT,
    UNREACHABLE,
    DistanceCache,
    _as_states,
    make_safe,
    turn_count,
)

State = tuple[int, int, int]


def _min_turns(heading: int, mask: int) -> int:
    """Fewest turns from ``heading`` to face every heading of ``mask`` (bit ``d``: heading d)."""
    dirs = [d for d in range(4) if mask >> d & 1]
    if not dirs:
        return 0
    if heading in dirs:
        return len(dirs) - 1
    return min(turn_count(heading, d) for d in dirs) + len(dirs) - 1


MIN_TURNS = tuple(tuple(_min_turns(h, m) for m in range(16)) for h in range(4))


def heuristic(distances: DistanceCache, goal: tuple[int, int]) -> array:
    """The search's heuristic toward ``goal`` at index ``cell * 4 + heading``: the BFS distance
    plus ``MIN_TURNS`` for the directions the goal lies in; memoized in ``distances``."""
    key = ("space_time_astar", goal)
    table = distances.derived.get(key)
    if table is None:
        height, width = distances.shape
        rows, cols = np.divmod(np.arange(height * width), width)
        mask = (goal[1] > cols) | (goal[0] < rows) << 1 | (goal[1] < cols) << 2
        mask |= (goal[0] > rows) << 3
        turns = np.array(MIN_TURNS)[:, mask].T  # (cells, 4)
        values = distances.to(goal).ravel()[:, None] + turns
        table = distances.derived[key] = array("i", values.astype(np.int32).tobytes())
    return table


class ReservationTable:
    """The space-time cells (and, with ``allow_following``, the moves) that robots reserved, by
    robot, so that a robot's reservations can be released before it re-plans. A robot can also
    park: stay at its last reserved cell for ever after. Cells are ``(row, col)`` in the public
    methods, time an integer step."""

    def __init__(self, shape: tuple[int, int], allow_following: bool = False) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self.allow_following = allow_following
        self.clear()

    def clear(self) -> None:
        """Forget every reservation."""
        self._cells: dict[tuple[int, int], int] = {}
        self._edges: dict[tuple[int, int, int], int] = {}
        self._parks: dict[int, list[int]] = {}  # cell -> the steps robots park there from
        self._parked: dict[int, int] = {}  # cell -> the first of them
        self._owned: dict[int, tuple[list, list, list]] = {}
        self.last = -1  # no reservation but parked robots after this step

    def reserve(
        self, robot: int, states: Sequence[Sequence[int]], t0: int, park: bool = False
    ) -> None:
        """Reserve ``states[k]`` (``(row, col, heading)``) at step ``t0 + k`` for ``robot``, and
        each move's entry (the entered cell at the step before, or the edge); with ``park``,
        the last state's cell for every step after too."""
        width = self.shape[1]
        cells, edges, parks = [], [], []
        previous = None
        for k, state in enumerate(states):
            t, cell = t0 + k, int(state[0]) * width + int(state[1])
            cells.append((t, cell))
            if previous is not None and previous != cell:
                if self.allow_following:
                    edges.append((t - 1, previous, cell))
                else:
                    cells.append((t - 1, cell))
            previous = cell
        for key in cells:
            self._cells[key] = self._cells.get(key, 0) + 1
        for key in edges:
            self._edges[key] = self._edges.get(key, 0) + 1
        self.last = max(self.last, t0 + len(states) - 1)
        if park and previous is not None:
            parks.append((previous, t0 + len(states) - 1))
            self._park(*parks[0])
        owned = self._owned.setdefault(robot, ([], [], []))
        for mine, new in zip(owned, (cells, edges, parks), strict=True):
            mine.extend(new)

    def _park(self, cell: int, since: int, add: bool = True) -> None:
        times = self._parks.setdefault(cell, [])
        if add:
            times.append(since)
        else:
            times.remove(since)
        if times:
            self._parked[cell] = min(times)
        else:
            del self._parks[cell], self._parked[cell]

    def release(self, robot: int) -> None:
        """Remove every reservation of ``robot``."""
        cells, edges, parks = self._owned.pop(robot, ([], [], []))
        for table, keys in ((self._cells, cells), (self._edges, edges)):
            for key in keys:
                table[key] -= 1
                if not table[key]:
                    del table[key]
        for cell, since in parks:
            self._park(cell, since, add=False)

    def is_free(self, cell: Sequence[int], t: int) -> bool:
        """Whether nobody reserved ``cell`` at step ``t``."""
        return not self._taken(int(cell[0]) * self.shape[1] + int(cell[1]), t)

    def can_move(self, src: Sequence[int], dst: Sequence[int], t: int) -> bool:
        """Whether a robot may move from ``src`` to the adjacent ``dst`` during step ``t``."""
        width = self.shape[1]
        return self._can_move(src[0] * width + src[1], dst[0] * width + dst[1], t)

    def _taken(self, cell: int, t: int) -> bool:
        if (t, cell) in self._cells:
            return True
        since = self._parked.get(cell)
        return since is not None and since <= t

    def _can_move(self, src: int, dst: int, t: int) -> bool:
        if self._taken(dst, t + 1):
            return False
        if self.allow_following:
            return (t, dst, src) not in self._edges
        return not self._taken(dst, t)

    def _free_after(self, cell: int, t: int) -> bool:
        if cell in self._parked:
            return False
        return all((u, cell) not in self._cells for u in range(t, self.last + 1))


def _path(parents: dict, state: tuple[int, int, int], width: int) -> list[State]:
    path = []
    while state is not None:
        cell, heading, _ = state
        path.append((cell // width, cell % width, heading))
        state = parents[state]
    return path[::-1]


def space_time_astar(
    passable: np.ndarray,
    start_state: Sequence[int],
    goal_cell: Sequence[int],
    table: ReservationTable,
    t0: int,
    horizon: int,
    distances: DistanceCache,
) -> list[State] | None:
    """The shortest plan (in steps) from ``start_state`` at step ``t0`` to ``goal_cell`` that
    respects ``table``, at most ``horizon`` steps long: the list of states ``(row, col,
    heading)``, one per step from ``t0`` (the start) to the arrival, after which nobody reserved
    or parked on the goal; ``None`` if there is none. ``distances`` is the map's
    ``DistanceCache``."""
    if tuple(np.shape(passable)) != distances.shape:
        raise ValueError(f"passable {np.shape(passable)} is not the cache's {distances.shape} map")
    width = distances.shape[1]
    row, col, head = (int(x) for x in start_state)
    goal_key = (int(goal_cell[0]), int(goal_cell[1]))
    h = heuristic(distances, goal_key)
    start, goal = row * width + col, goal_key[0] * width + goal_key[1]
    if h[start * 4 + head] >= UNREACHABLE or goal in table._parked:
        return None
    forward, taken, can_move = distances.forward, table._taken, table._can_move
    settled = max(table.last + 1, t0)  # from this step on, only parked robots remain
    heap = [(h[start * 4 + head], -t0, start, head)]
    parents: dict[tuple[int, int, int], tuple[int, int, int] | None] = {(start, head, t0): None}
    closed = set()
    while heap:
        _, t, cell, heading = heapq.heappop(heap)
        t = -t
        if (cell, heading, min(t, settled)) in closed:
            continue
        closed.add((cell, heading, min(t, settled)))
        if cell == goal and table._free_after(cell, t):
            return _path(parents, (cell, heading, t), width)
        if t - t0 >= horizon:
            continue
        moves = []
        ahead = forward[cell * 4 + heading]
        if ahead >= 0 and can_move(cell, ahead, t):
            moves.append((ahead, heading))
        if not taken(cell, t + 1):
            moves += ((cell, (heading + 1) % 4), (cell, (heading + 3) % 4))
            if t < settled:
                moves.append((cell, heading))
        here, later, cost = (cell, heading, t), min(t + 1, settled), t + 1 - t0
        for nxt in moves:
            state = (*nxt, t + 1)
            if state not in parents and (*nxt, later) not in closed:
                parents[state] = here
                heapq.heappush(heap, (cost + h[nxt[0] * 4 + nxt[1]], -t - 1, *nxt))
    return None


def _transition(here: State, there: State) -> int:
    if here[:2] != there[:2]:
        return FORWARD
    if there[2] == (here[2] + 1) % 4:
        return LEFT
    if there[2] == (here[2] + 3) % 4:
        return RIGHT
    return NOOP


def _as_goals(goals: np.ndarray, n: int) -> np.ndarray:
    goals = np.asarray(goals, dtype=np.int64)
    if goals.shape != (n, 2):
        raise ValueError(f"goals must be ({n}, 2) cells, got shape {goals.shape}")
    return goals


class PrioritizedPlanner:
    """Windowed prioritized planning with space-time A* for the robots of one world (one
    planner per world: it keeps their plans and reservations between steps).

    ``step(states, goals)`` takes the robots' ``(N, 3)`` states and ``(N, 2)`` goal cells (a
    negative row: no goal, the robot stays) and returns their ``(N,)`` actions for this step.
    ``window``: steps reserved and re-planned each round; ``horizon``: longest plan searched
    (default: four times the number of cells, no limit in practice); ``distances``: a
    ``DistanceCache`` to share between worlds with the same map; ``max_restarts``: rounds
    restarted with the failed robots first; ``hold``: steps a robot's cell stays reserved for it
    until it plans; ``stall``: steps a robot may keep its cell short of its goal before it
    counts as stuck; ``seed``: the order of the stuck robots. Call ``reset()`` at a new episode.
    """

    def __init__(
        self,
        passable: np.ndarray,
        window: int = 8,
        horizon: int | None = None,
        allow_following: bool = False,
        distances: DistanceCache | None = None,
        max_restarts: int = 2,
        hold: int = 3,
        stall: int = 16,
        seed: int = 0,
    ) -> None:
        self.distances = DistanceCache(passable) if distances is None else distances
        if tuple(np.shape(passable)) != self.distances.shape:
            raise ValueError("distances were computed for another map")
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self.passable = self.distances.passable
        self.window, self.hold, self.stall = int(window), int(hold), int(stall)
        self.horizon = 4 * self.passable.size if horizon is None else int(horizon)
        self.allow_following = allow_following
        self.max_restarts = int(max_restarts)
        self.seed = seed
        self.table = ReservationTable(self.passable.shape, allow_following)
        self.reset()

    def reset(self) -> None:
        """Forget the plans, reservations and priorities (a new episode)."""
        self.t = 0
        self.table.clear()
        self._goals: np.ndarray | None = None
        self._start(0)

    def _start(self, n: int) -> None:
        self._paths: list[deque[State]] = [deque() for _ in range(n)]
        self._elapsed = np.zeros(n, dtype=np.int64)  # steps on the current goal
        self._still = np.zeros(n, dtype=np.int64)  # steps in the same cell short of the goal
        self._failed = np.zeros(n, dtype=bool)  # no plan at the last try
        self._cells = np.full((n, 2), -1, dtype=np.int64)
        self._rng = np.random.default_rng(self.seed)
        self._replan_at = self.t

    def step(self, states: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """The ``(N,)`` actions of this step for robots at ``states`` heading for ``goals``."""
        states = _as_states(states, self.passable)
        goals = _as_goals(goals, states.shape[0])
        if self._goals is None or self._goals.shape != goals.shape:
            self.table.clear()
            self._start(goals.shape[0])
            self._goals = goals.copy()
        stale = self._update(states, goals)
        if self.t >= self._replan_at:
            self._plan_round(states, goals)
            self._replan_at = self.t + self.window
        elif stale.any():
            again = [i for i in self._order() if stale[i]]
            for i in again:
                self.table.release(i)
                self.table.reserve(i, [states[i]] * (self.hold + 1), self.t)
            for i in again:
                self._plan_one(i, states[i], goals[i])
        actions = np.array([self._next_action(i) for i in range(states.shape[0])])
        self.t += 1
        return make_safe(states, actions, self.passable, self.allow_following)

    def _update(self, states: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """Priorities and stuck counts; which robots must re-plan: a new goal, off their plan,
        or without a plan."""
        cells = states[:, :2]
        new_goal = (goals != self._goals).any(axis=1)
        arrived = (cells == goals).all(axis=1) | (goals[:, 0] < 0)  # no goal: at rest
        self._elapsed = np.where(new_goal | arrived, 0, self._elapsed + 1)
        waiting = (cells == self._cells).all(axis=1) & ~arrived & ~new_goal
        self._still = np.where(waiting, self._still + 1, 0)
        self._cells, self._goals = cells.copy(), goals.copy()
        off_plan = [
            not path or path[0] != tuple(state)
            for path, state in zip(self._paths, states.tolist(), strict=True)
        ]
        return new_goal | self._failed | np.array(off_plan, dtype=bool)

    def _order(self) -> list[int]:
        """Longest on its goal first (ties by index); while some robots are stuck, those first,
        in a random order: a fixed order would repeat the same round of waits."""
        elapsed = self._elapsed.tolist()
        order = sorted(range(len(elapsed)), key=lambda i: (-elapsed[i], i))
        stuck = self._still > self.stall
        if stuck.any():
            first = [order[k] for k in np.flatnonzero(stuck[order])]
            first = [first[k] for k in self._rng.permutation(len(first))]
            order = first + [i for i in order if not stuck[i]]
        return order

    def _plan_round(self, states: np.ndarray, goals: np.ndarray) -> None:
        order = self._order()
        for attempt in range(self.max_restarts + 1):
            self.table.clear()
            for i, state in enumerate(states):
                self.table.reserve(i, [state] * (self.hold + 1), self.t)
            failed = [i for i in order if not self._plan_one(i, states[i], goals[i])]
            if not failed or attempt == self.max_restarts:
                return
            order = failed + [i for i in order if i not in set(failed)]

    def _plan_one(self, i: int, state: np.ndarray, goal: np.ndarray) -> bool:
        """Plan robot ``i`` against the others' reservations and reserve its next window,
        parked at its end if it waits there; ``False`` if it has no plan (it waits in place)."""
        self.table.release(i)
        start: State = (int(state[0]), int(state[1]), int(state[2]))
        path = None
        if goal[0] < 0 or (int(goal[0]), int(goal[1])) == start[:2]:
            path = [start]
        else:
            path = space_time_astar(
                self.passable, start, goal, self.table, self.t, self.horizon, self.distances
            )
        self._failed[i] = path is None
        path = path or [start]
        reserved = path[: self.window + 1]
        reserved += [reserved[-1]] * (self.window + 1 - len(reserved))
        park = reserved[-1][:2] == reserved[-2][:2]
        self.table.reserve(i, reserved, self.t, park=park)
        self._paths[i] = deque(path)
        return not self._failed[i]

    def _next_action(self, i: int) -> int:
        path = self._paths[i]
        here = path[0]
        if len(path) == 1:
            return NOOP
        path.popleft()
        return _transition(here, path[0])
