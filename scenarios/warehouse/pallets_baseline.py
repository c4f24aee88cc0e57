"""The scripted baseline of ``warehouse/pallets-v0``: a central controller, as a warehouse runs
its fleet, and a scripted dispatcher for the competitive variant.

Each step, in each world (reading the ledger of the scenario that made it, as a warehouse's
central controller does, not the robots' local observations):

1. Roles. Robots keep a role until it is done. Pallets in play get a team of two robots each
   (at most a third of the fleet in teams), the nearest free ones; the other robots take the
   waiting items, nearest first; a robot carrying an item delivers it.
2. Pallet teams push face by face: the face whose normal points most along the way to the dock
   (kept while it points within 55 degrees of it). Both robots go to stand behind that face
   side by side (around the pallet by its corners when it is in the way); when both are in
   place they push along the normal, and the one on the side the pallet should turn toward
   eases off, which turns it (one robot alone cannot move a pallet: the config ensures it).
3. Steering: toward the next waypoint by a turn-then-go law, away from other robots (passing
   on the right) and from the pallets that are not the robot's own.
4. Handling: a robot settled at its item's spot, or inside the carried item's drop zone.

The dispatcher (``adversary=True``) asks, among the spots without a waiting item, for the errand
whose spot is farthest from its drop zone, weighted toward spots where robots crowd.
"""

from __future__ import annotations

import math

import numpy as np

from scenarios.core import ScriptedPolicy
from scenarios.warehouse import pallets_kernels as pk
from scenarios.warehouse.pallets_view import CROWD_RADIUS, dispatch_mask, handle_mask

FREE = -1
PUSH_SPEED = 0.7  # m/s
FACE_KEEP = math.cos(math.radians(55))
AVOID_ROBOTS, AVOID_PALLETS = 1.2, 0.7  # metres of clearance where repulsion starts
# Discrete actions of the scenario (Pallets' WHEELS): no-op, forward, back, left, right, handle.
NOOP, FORWARD, BACK, LEFT, RIGHT, HANDLE = range(6)


def _wrap(angle):
    return (angle + np.pi) % (2 * np.pi) - np.pi


def _turn(vectors: np.ndarray, angle: float) -> np.ndarray:
    """2D vectors ``(..., 2)`` turned by ``angle``."""
    c, s = math.cos(angle), math.sin(angle)
    x, y = vectors[..., 0], vectors[..., 1]
    return np.stack([c * x - s * y, s * x + c * y], axis=-1)


class PalletsBaseline(ScriptedPolicy):
    """Roles, pallet pushing and steering for every world of the scenario that made it."""

    def __init__(self, scenario) -> None:
        self.scenario = scenario
        self.cfg = scenario.cfg
        self.groups = ("robot", "dispatcher") if self.cfg.adversary else ("robot",)
        self.role: np.ndarray | None = None  # an item order k, n_orders + a pallet, or FREE
        self.face: np.ndarray | None = None  # each pallet's pushed face (0-3) or -1
        self.stall: np.ndarray | None = None  # per pallet: steps pushed without moving,
        self.banned: np.ndarray | None = None  # a face given up on, and for how many steps

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        if self.role is None:
            return
        rows = slice(None) if env_ids is None else np.asarray(env_ids)
        self.role[rows] = FREE
        self.face[rows] = -1
        self.stall[rows] = 0
        self.banned[rows] = 0

    def act(self, obs, action_mask=None, deterministic: bool = True):
        ledger, robots = self.scenario.ledger, self.scenario.robots
        batch, n = robots.x.shape
        if self.role is None or self.role.shape[0] != batch:
            self.role = np.full((batch, n), FREE, np.int64)
            p = self.cfg.n_pallets
            self.face = np.full((batch, p), -1, np.int64)
            self.stall = np.zeros((batch, p, 3))  # steps, last x, last y
            self.banned = np.zeros((batch, p, 2), np.int64)  # face, steps left
        plan = Plan(batch, n, robots)
        for b in range(batch):
            self._assign(b, ledger, robots)
            self._errands(b, ledger, plan)
            for p in np.flatnonzero(ledger.pallet_state[b] == pk.ACTIVE).tolist():
                self._team(b, p, ledger, plan)
        speed, turn = self._steer(plan, ledger, robots)
        handle = handle_mask(ledger, robots) & (self.role >= 0) & (self.role < self.cfg.n_orders)
        actions = {"robot": self._actions(speed, turn, handle)}
        if self.cfg.adversary:
            actions["dispatcher"] = self._dispatch(ledger, robots)
        return actions

    # ------------------------------------------------------------------------------- roles
    def _assign(self, b: int, ledger, robots) -> None:
        """Keep, drop and hand out the robots' roles in world b."""
        k, role = self.cfg.n_orders, self.role[b]
        carrying = ledger.carrying[b]
        role[carrying >= 0] = carrying[carrying >= 0]
        waiting = ledger.order_state[b] == pk.WAITING
        item = (role >= 0) & (role < k)
        role[item & (carrying < 0) & ~waiting[np.clip(role, 0, k - 1)]] = FREE
        active = ledger.pallet_state[b] == pk.ACTIVE
        if self.cfg.n_pallets:
            pallet = role >= k
            role[pallet & ~active[np.clip(role - k, 0, self.cfg.n_pallets - 1)]] = FREE
            self._staff(b, active, ledger, robots)
        taken = set(role[(role >= 0) & (role < k)].tolist())
        open_orders = [o for o in np.flatnonzero(waiting).tolist() if o not in taken]
        spots = self.scenario.hall.spots[ledger.order_spot[b]]
        here = np.stack([robots.x[b], robots.y[b]], axis=-1)
        for robot in np.flatnonzero((role == FREE) & (carrying < 0)).tolist():
            if not open_orders:
                break
            gaps = [math.dist(here[robot], spots[o]) for o in open_orders]
            role[robot] = open_orders.pop(int(np.argmin(gaps)))

    def _staff(self, b: int, active: np.ndarray, ledger, robots) -> None:
        """Teams of two for the pallets in play (at most a third of the fleet, or both robots
        of a fleet of two), nearest free robots first; a started team is completed first."""
        k, role = self.cfg.n_orders, self.role[b]
        n = len(role)
        most = n // 3 if n >= 3 else n // 2
        pallets = self.scenario.pallets
        here = np.stack([robots.x[b], robots.y[b]], axis=-1)
        order = sorted(np.flatnonzero(active).tolist(), key=lambda p: -(role == k + p).sum())
        for p in order:
            members = int((role == k + p).sum())
            teams = len(set(role[role >= k].tolist()))
            if members >= 2 or (members == 0 and teams >= most):
                continue
            free = np.flatnonzero((role == FREE) & (ledger.carrying[b] < 0))
            if len(free) < 2 - members:
                continue
            centre = np.array([pallets.x[b, p], pallets.y[b, p]])
            nearest = free[np.argsort(np.hypot(*(here[free] - centre).T), kind="stable")]
            role[nearest[: 2 - members]] = k + p

    # ------------------------------------------------------------------------------- goals
    def _errands(self, b: int, ledger, plan: Plan) -> None:
        """Item robots head for their item's spot, or for the carried item's zone."""
        k, hall = self.cfg.n_orders, self.scenario.hall
        for robot in np.flatnonzero((self.role[b] >= 0) & (self.role[b] < k)).tolist():
            order = self.role[b, robot]
            if ledger.carrying[b, robot] >= 0:
                place = hall.zones[ledger.order_zone[b, order], :2]
            else:
                place = hall.spots[ledger.order_spot[b, order]]
            plan.goal[b, robot] = place
            plan.arrive[b, robot] = True

    def _pushed_face(self, b: int, p: int, angle: float, way: np.ndarray) -> int:
        """The face whose normal points most along ``way`` (kept while within 55 degrees),
        less toward other pallets close by, never a face given up on (``_stalled``)."""
        pallets = self.scenario.pallets
        normals = angle + 0.5 * math.pi * np.arange(4)
        fit = np.cos(math.atan2(way[1], way[0]) - normals)
        centre = np.array([pallets.x[b, p], pallets.y[b, p]])
        others = np.stack([pallets.x[b], pallets.y[b]], axis=-1) - centre
        gap = np.hypot(others[:, 0], others[:, 1])
        near = (gap > 0) & (gap < 2 * self.scenario.hall.pallet_radius + 1.0)
        for dx, dy in (others[near] / gap[near, None]).tolist():
            fit -= 1.5 * np.maximum(np.cos(normals) * dx + np.sin(normals) * dy - 0.3, 0.0)
        face, (banned, left) = self.face[b, p], self.banned[b, p]
        if left > 0:
            fit[banned] = -np.inf
            self.banned[b, p, 1] -= 1
        if face < 0 or (fit[face] < FACE_KEEP and np.hypot(*way) > 0.3):
            face = self.face[b, p] = int(np.argmax(fit))
        return face

    def _stalled(self, b: int, p: int, centre: np.ndarray, pushing: bool) -> None:
        """Count the steps a team pushed its pallet without moving it; after 15 (3 s at the
        default step), give up on that face for 40 steps and choose another."""
        stall = self.stall[b, p]
        moved = math.dist(centre, stall[1:]) > 0.01
        stall[0] = stall[0] + 1 if pushing and not moved else 0
        stall[1:] = centre
        if stall[0] >= 15:
            self.banned[b, p] = (self.face[b, p], 40)
            self.face[b, p], stall[0] = -1, 0

    def _team(self, b: int, p: int, ledger, plan: Plan) -> None:
        """Targets of pallet p's team: stand behind the pushed face, then push together."""
        cfg, hall, pallets = self.cfg, self.scenario.hall, self.scenario.pallets
        members = np.flatnonzero(self.role[b] == cfg.n_orders + p)
        if len(members) == 0:
            return
        centre = np.array([pallets.x[b, p], pallets.y[b, p]], np.float64)
        angle = float(pallets.angle[b, p])
        way = hall.docks[ledger.pallet_dock[b, p], :2] - centre
        face = self._pushed_face(b, p, angle, way)
        push = angle + 0.5 * math.pi * face
        u = np.array([math.cos(push), math.sin(push)])
        t = np.array([-u[1], u[0]])
        depth, span = hall.pallet_half if face % 2 == 0 else hall.pallet_half[::-1]
        half = 0.5 * cfg.robot_size
        offset = max(0.5 * span, half + 0.15)  # apart enough to turn in place
        here = plan.position[b, members]
        sides = np.where(np.argsort(np.argsort((here - centre) @ t)) == 0, -1.0, 1.0)
        if len(members) == 1:
            sides[:] = 1.0 if (here[0] - centre) @ t >= 0 else -1.0
        local = np.stack([(here - centre) @ u, (here - centre) @ t], axis=-1)
        heading_error = np.abs(_wrap(plan.angle[b, members] - push))
        behind = (local[:, 0] < -(depth + half - 0.1)) & (
            np.abs(local[:, 1] - sides * offset) < 0.3
        )
        ready = behind & (local[:, 0] > -(depth + half + 0.3)) & (heading_error < 0.35)
        plan.own[b, members] = p
        pushing = len(members) == 2 and bool(ready.all())
        self._stalled(b, p, centre, pushing)
        if pushing:
            turn = _wrap(math.atan2(way[1], way[0]) - push)
            ease = np.clip(2.0 * np.maximum(sides * turn, 0.0), 0.0, 0.6)
            plan.heading[b, members] = push
            plan.push[b, members] = PUSH_SPEED * (1.0 - ease)
            return
        hall_x = 0.5 * cfg.hall_width - hall.robot_radius - 0.05
        hall_y = 0.5 * cfg.hall_height - hall.robot_radius - 0.05
        for i, robot in enumerate(members.tolist()):
            target = self._around(local[i], depth, span, sides[i] * offset, half)
            plan.goal[b, robot] = centre + target @ np.stack([u, t])
            if target[0] == -(depth + half + 0.05):  # the place itself: arrive facing the push
                plan.heading[b, robot] = push
            np.clip(plan.goal[b, robot], [-hall_x, -hall_y], [hall_x, hall_y], plan.goal[b, robot])

    @staticmethod
    def _around(local, depth, span, lateral, half) -> np.ndarray:
        """The next waypoint toward the place behind the face, in the pallet's frame (along
        the push, across it): to the place once in line behind it, else to a point in line
        further back, else out to a lane beside the pallet and round its corner."""
        place, lane = -(depth + half + 0.05), span + half + 0.45
        side = 1.0 if local[1] >= 0 else -1.0
        if local[0] < place + 0.1:  # behind the face
            if abs(local[1] - lateral) < 0.15:
                return np.array([place, lateral])
            return np.array([place - 0.45, lateral])
        if abs(local[1]) < lane - 0.1:  # in front of the pallet or beside it: out to a lane
            return np.array([local[0], side * lane])
        return np.array([place - 0.45, side * lane])  # in a lane: round the corner

    # ---------------------------------------------------------------------------- steering
    def _steer(self, plan: Plan, ledger, robots) -> tuple[np.ndarray, np.ndarray]:
        """Forward speed and turn rate ``(B, N)`` of every robot from its plan."""
        cfg = self.cfg
        way = plan.goal - plan.position
        distance = np.hypot(way[..., 0], way[..., 1])
        unit = way / np.maximum(distance, 1e-6)[..., None] * (distance > 0.05)[..., None]
        away, blocked = self._repulsion(plan, ledger)
        desired = unit + away
        error = _wrap(np.arctan2(desired[..., 1], desired[..., 0]) - plan.angle)
        cruise = np.where(plan.arrive, np.minimum(cfg.max_speed, distance), cfg.max_speed)
        strength = np.minimum(np.hypot(desired[..., 0], desired[..., 1]), 1.0)
        speed = cruise * strength * np.cos(error) * np.abs(np.cos(error))  # back away if behind
        # Pressed against something ahead while the way lies elsewhere: back off to turn.
        speed = np.where(blocked & (np.abs(error) > 0.3), np.minimum(speed, -0.3), speed)
        aligned = ~np.isnan(plan.heading) & (distance < 0.12)
        along = way[..., 0] * np.cos(plan.angle) + way[..., 1] * np.sin(plan.angle)
        error = np.where(aligned, _wrap(plan.heading - plan.angle), error)
        speed = np.where(aligned, np.clip(along, -0.3, 0.3), speed)
        pushing = ~np.isnan(plan.push)
        speed = np.where(pushing, plan.push, speed)
        turn = np.clip(3.0 * error, -cfg.max_turn_rate, cfg.max_turn_rate)
        return speed, turn

    def _repulsion(self, plan: Plan, ledger) -> tuple[np.ndarray, np.ndarray]:
        """Away from robots within ``AVOID_ROBOTS`` (not between teammates) and from the sides
        of pallets within ``AVOID_PALLETS`` (not from the robot's own), each turned clockwise
        (30 and 60 degrees): robots pass each other, and round pallets, on the right. Also
        whether something touches each robot's front ``(B, N)``."""
        position = plan.position
        heading = np.stack([np.cos(plan.angle), np.sin(plan.angle)], axis=-1)
        reach = 0.5 * self.cfg.robot_size + 0.08
        gap = position[:, :, None, :] - position[:, None, :, :]
        distance = np.hypot(gap[..., 0], gap[..., 1])
        weight = np.clip((AVOID_ROBOTS - distance) / AVOID_ROBOTS, 0.0, 1.0)
        mates = (plan.own[:, :, None] == plan.own[:, None, :]) & (plan.own[:, :, None] >= 0)
        weight[mates] = 0.0
        weight /= np.maximum(distance, 1e-6)
        away = _turn((gap * weight[..., None]).sum(axis=2), -math.pi / 6)
        ahead = -(gap * heading[:, :, None, :]).sum(-1) > 0.7 * distance
        blocked = (ahead & (distance < 2 * reach)).any(axis=2)
        pallets = self.scenario.pallets
        if pallets is None:
            return away, blocked
        hx, hy = self.scenario.hall.pallet_half
        angle = pallets.angle[:, None, :]
        ca, sa = np.cos(angle), np.sin(angle)
        dx = position[..., 0, None] - pallets.x[:, None, :]
        dy = position[..., 1, None] - pallets.y[:, None, :]
        along, across = dx * ca + dy * sa, -dx * sa + dy * ca
        out_a = along - np.clip(along, -hx, hx)
        out_c = across - np.clip(across, -hy, hy)
        side = np.maximum(np.hypot(out_a, out_c), 1e-6)
        weight = np.clip((AVOID_PALLETS - side) / AVOID_PALLETS, 0.0, 1.0) * 1.5 / side
        weight[plan.own[..., None] == np.arange(pallets.n)] = 0.0
        sides = np.stack([out_a * ca - out_c * sa, out_a * sa + out_c * ca], axis=-1)
        front = -(sides * heading[:, :, None, :]).sum(-1) > 0.7 * side
        blocked |= (front & (side < reach) & (weight > 0)).any(axis=2)
        return away + _turn((sides * weight[..., None]).sum(axis=2), -math.pi / 3), blocked

    def _actions(self, speed: np.ndarray, turn: np.ndarray, handle: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        if not cfg.continuous_actions:
            actions = np.where(speed > 0.1, FORWARD, np.where(speed < -0.1, BACK, NOOP))
            actions = np.where(turn > 0.5 * cfg.max_turn_rate, LEFT, actions)
            actions = np.where(turn < -0.5 * cfg.max_turn_rate, RIGHT, actions)
            return np.where(handle, HANDLE, actions).astype(np.int64)
        forward, spin = speed / cfg.max_speed, turn / cfg.max_turn_rate
        wheels = np.stack([forward - spin, forward + spin], axis=-1)
        wheels /= np.maximum(np.abs(wheels).max(axis=-1, keepdims=True), 1.0)
        return np.concatenate([wheels, handle[..., None]], axis=-1).astype(np.float32)

    def _dispatch(self, ledger, robots) -> np.ndarray:
        """The farthest errand from a free spot, weighted toward crowded spots ``(B, 1)``."""
        hall = self.scenario.hall
        spots, zones = hall.spots, hall.zones[:, :2]
        crowd = (
            np.hypot(robots.x[..., None] - spots[:, 0], robots.y[..., None] - spots[:, 1])
            < CROWD_RADIUS
        )
        far = np.hypot(*(spots[:, None, :] - zones[None, :, :]).transpose(2, 0, 1))
        score = far[None] + crowd.sum(axis=1)[:, :, None]
        score = np.where(dispatch_mask(ledger)[:, 0], score.reshape(len(score), -1), -np.inf)
        return score.argmax(axis=1)[:, None].astype(np.int64)


class Plan:
    """What the controller wants of each robot ``(B, N)``: a ``goal`` point (its own place by
    default), whether to ``arrive`` there slowly, a final ``heading`` (nan: none), a pushing
    speed (``push``, nan: not pushing), and its ``own`` pallet (-1: none)."""

    def __init__(self, batch: int, n: int, robots) -> None:
        self.position = np.stack([robots.x, robots.y], axis=-1).astype(np.float64)
        self.angle = robots.angle.astype(np.float64)
        self.goal = self.position.copy()
        self.arrive = np.ones((batch, n), bool)
        self.heading = np.full((batch, n), np.nan)
        self.push = np.full((batch, n), np.nan)
        self.own = np.full((batch, n), -1, np.int64)
