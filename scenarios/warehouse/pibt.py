"""PIBT for the warehouse robots: priority inheritance with backtracking (Okumura, Machida,
Défago and Tamura, "Priority Inheritance with Backtracking for Iterative Multi-agent Path
Finding", IJCAI 2019 and Artificial Intelligence 2022), one step at a time, with a rotation
fix-up.

Each step, every robot picks its next cell among its own and its passable neighbours, in
decreasing priority: the candidate closest to its goal by BFS distance first (then an empty cell
before an occupied one, the fewest turns to face it, staying before moving, then a fixed
per-robot order of headings drawn from the seed). A cell another robot already picked is taken;
picking a cell that holds a robot which has not picked yet lends it the picker's priority
(inheritance): that robot must move away, and if it cannot, the picker tries its next candidate
(backtracking). A robot never picks the cell of the robot that pushed it (no swap). Priorities
follow the paper: a robot's priority grows by one each step it is not at its goal and resets (to
a fixed fraction in [0, 1) drawn from the seed, which breaks ties) when it arrives or gets a new
goal. The search is written with an explicit stack, so long chains of pushes do not hit Python's
recursion limit.

The robots have headings and a turn takes a step (as in the League of Robot Runners), so a
robot whose next cell is not straight ahead turns toward it (the shorter way; a U-turn is two
LEFTs) and stays. By default a robot may only enter a cell that is empty at the start of the
step, so there a robot cannot use a cell that an already-planned robot holds: pushing it gains
nothing this step, and a cycle of robots moving into each other's cells could never execute.
The actions then go through ``make_safe``, which cancels every move into an occupied cell (with
``allow_following``: into a cell whose robot stays, to a fixpoint), so the result has no
conflict. A pushed robot that must turn first delays its pusher; the priorities, which keep
their order while nobody arrives, keep the decisions consistent from one step to the next.

Limits. Like the original, PIBT needs every cell on a cycle: on a map with dead ends, a robot
whose goal lies in a dead end that another robot can only leave past it waits for ever (the
"swap" of LaCAM*, Okumura 2023, is not implemented; ``PrioritizedPlanner`` copes better). And it
plans one step at a time: in one-cell aisles it lets robots meet head-on and then backs a whole
file out with U-turns, so there it reaches fewer goals than ``PrioritizedPlanner`` (half to two
thirds as many with 64 robots on the 30 x 39 RWARE-like ``warehouse_grid``), at a twentieth of
its cost.
"""

from __future__ import annotations

from array import array

import numpy as np

from scenarios.warehouse.planning import (
    NOOP,
    TURN_TOWARD,
    DistanceCache,
    _as_states,
    make_safe,
    turn_count,
)


class PIBTPlanner:
    """PIBT with a rotation fix-up for the robots of one world (one planner per world: it keeps
    the robots' priorities between steps).

    ``step(states, goals)`` takes the robots' ``(N, 3)`` states ``(row, col, heading)`` and
    ``(N, 2)`` goal cells (a negative row: no goal; the robot stays unless pushed) and returns
    their ``(N,)`` actions for this step. ``seed`` draws the tie-breaks, so equal inputs give
    equal actions; ``distances``: a ``DistanceCache`` to share between worlds with the same map.
    Call ``reset()`` at a new episode.
    """

    def __init__(
        self,
        passable: np.ndarray,
        distances: DistanceCache | None = None,
        seed: int = 0,
        allow_following: bool = False,
    ) -> None:
        self.distances = DistanceCache(passable) if distances is None else distances
        if tuple(np.shape(passable)) != self.distances.shape:
            raise ValueError("distances were computed for another map")
        self.passable = self.distances.passable
        self.seed = seed
        self.allow_following = allow_following
        self._forward = self.distances.forward
        self._no_goal = array("i", bytes(4 * self.passable.size))
        self.reset()

    def reset(self) -> None:
        """Forget the priorities (a new episode)."""
        self._goals: np.ndarray | None = None
        self._elapsed = np.zeros(0, dtype=np.int64)
        self._tie = np.zeros(0)
        self._order_of: list[list[int]] = []

    def _start(self, n: int) -> None:
        rng = np.random.default_rng(self.seed)
        self._tie = rng.permutation(n) / n
        self._elapsed = np.zeros(n, dtype=np.int64)
        # rank of heading d in robot i's tie-break order
        self._order_of = np.argsort(rng.random((n, 4)), axis=1).argsort(axis=1).tolist()

    def step(self, states: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """The ``(N,)`` actions of this step for robots at ``states`` heading for ``goals``."""
        states = _as_states(states, self.passable)
        goals = np.asarray(goals, dtype=np.int64)
        n = states.shape[0]
        if goals.shape != (n, 2):
            raise ValueError(f"goals must be ({n}, 2) cells, got shape {goals.shape}")
        if self._goals is None or self._goals.shape != goals.shape:
            self._start(n)
            self._goals = goals.copy()
        new_goal = (goals != self._goals).any(axis=1)
        arrived = (states[:, :2] == goals).all(axis=1) | (goals[:, 0] < 0)  # no goal: at rest
        self._elapsed = np.where(new_goal | arrived, 0, self._elapsed + 1)
        self._goals = goals.copy()
        targets = self._plan(states, goals)
        actions = self._turn_or_go(states, targets)
        return make_safe(states, actions, self.passable, self.allow_following)

    def _distances(self, goal: np.ndarray) -> array:
        """The flat distances to ``goal`` as an array of ints (fast to index one at a time),
        memoized in the shared cache; zeros for no goal."""
        if goal[0] < 0:
            return self._no_goal
        key = ("pibt", (int(goal[0]), int(goal[1])))
        found = self.distances.derived.get(key)
        if found is None:
            flat = self.distances.to(key[1]).ravel()
            found = self.distances.derived[key] = array("i", flat.tobytes())
        return found

    def _plan(self, states: np.ndarray, goals: np.ndarray) -> list[int]:
        """Every robot's next flat cell, by PIBT in decreasing priority."""
        width = self.passable.shape[1]
        self._cur = (states[:, 0] * width + states[:, 1]).tolist()
        self._head = states[:, 2].tolist()
        self._dist = [self._distances(goal) for goal in goals]
        self._now = {cell: i for i, cell in enumerate(self._cur)}
        self._next_of = {}
        self._next = [-1] * states.shape[0]
        priority = self._elapsed + self._tie
        for i in np.argsort(-priority, kind="stable").tolist():
            if self._next[i] < 0:
                self._pibt(i)
        return self._next

    def _candidates(self, i: int) -> list[int]:
        cell, heading, dist, now = self._cur[i], self._head[i], self._dist[i], self._now
        ranked = [(dist[cell], 0, 0, 0, 0, cell)]
        for d in range(4):
            ahead = self._forward[cell * 4 + d]
            if ahead >= 0:
                turns, order = turn_count(heading, d), self._order_of[i][d]
                ranked.append((dist[ahead], ahead in now, turns, 1, order, ahead))
        ranked.sort()
        return [entry[-1] for entry in ranked]

    def _pibt(self, root: int) -> None:
        """PIBT from ``root`` with an explicit stack of (robot, candidates, next candidate);
        ``done`` is the outcome of the last robot that finished (None: a frame starts)."""
        cur, nxt, now, taken = self._cur, self._next, self._now, self._next_of
        stack = [(root, self._candidates(root), 0)]
        done = None
        while stack:
            i, candidates, k = stack.pop()
            if done:  # the robot that i pushed moved away: i keeps its pick
                continue
            done = None
            while k < len(candidates):
                v = candidates[k]
                k += 1
                if v in taken:
                    continue
                j = now.get(v, -1)
                if j >= 0 and j != i and nxt[j] >= 0:
                    if not self.allow_following or nxt[j] == cur[i]:
                        continue
                nxt[i], taken[v] = v, i
                if j >= 0 and j != i and nxt[j] < 0:
                    stack.append((i, candidates, k))
                    stack.append((j, self._candidates(j), 0))
                    break
                done = True
                break
            else:
                nxt[i], taken[cur[i]] = cur[i], i
                done = False

    def _turn_or_go(self, states: np.ndarray, targets: list[int]) -> np.ndarray:
        """FORWARD toward a target straight ahead, a turn toward one beside or behind, NOOP
        for a robot that keeps its cell."""
        actions = np.full(states.shape[0], NOOP, dtype=np.int64)
        for i, target in enumerate(targets):
            cell, heading = self._cur[i], self._head[i]
            if target == cell:
                continue
            direction = self._forward[cell * 4 : cell * 4 + 4].index(target)
            actions[i] = TURN_TOWARD[(direction - heading) % 4]
        return actions
