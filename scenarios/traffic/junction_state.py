"""Per-world state of ``traffic/intersection-v0`` over all cars (learned first, then IDM):
routes, positions along them, the right of way, entries, and the episode's books.

``measure`` is a function of the bodies and this state only (the vector env may sense a step
twice); ``book`` changes the books once per step. Cars enter in ``enter``: learned cars through
the vector env's ``spawn`` (respawning slots), IDM cars when the scenario takes them off the
road after they finished or crashed."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from scenarios.core import Reward
from scenarios.traffic import junction as jk
from scenarios.traffic import kernels as tk
from scenarios.traffic.common import HORIZON, SPEED_GAIN, vehicle_sizes
from scenarios.traffic.junction_roads import ARMS
from scenarios.traffic.roads import Lane, RoadMap

TTC_CAP = 100.0


class Sums(NamedTuple):
    """A world's running sums of the episode (columns of ``JunctionState.sums``)."""

    speed_sum: np.ndarray
    speed_sq_sum: np.ndarray
    samples: np.ndarray
    km: np.ndarray
    delay_s: np.ndarray
    collisions: np.ndarray
    agent_collisions: np.ndarray
    crossings: np.ndarray
    gridlocks: np.ndarray
    finished: np.ndarray
    steps: np.ndarray


STEERING_GAINS = np.array([1.0, 1.0])
TURNS = ("right", "straight", "left")


class Routes:
    """The 12 routes of a four-way junction (a crossing or a roundabout): the lanes of each
    route in driving order ``lanes`` ``(R, S)`` (-1 past its last; an approach first and an
    exit lane last, the junction's lanes between), where each starts along the route
    ``offsets`` ``(R, S + 1)`` (the total length from its last lane on), the index of its exit
    lane ``last`` ``(R,)``, the route polylines as a ``RoadMap`` of their own, the entry
    (approach) of each route and its turn. At a crossing the connectors conflict ``conflict``
    ``(R, R)`` where they pass within ``clearance`` of each other (or share an end); at a
    roundabout ``merge`` ``(R,)`` is the ring lane a route joins at its entry. ``index_of``
    ``(R, lanes)``: where each lane of the road comes in each route (-1: not on it)."""

    def __init__(self, road: RoadMap, clearance: float) -> None:
        self.roundabout = road.name == "roundabout"
        rows, lanes, turn, entry = [], [], [], []
        for a, arm in enumerate(ARMS):
            for k in range(3):  # right, straight, left
                b = (a + 1 + k) % 4
                other = ARMS[b]
                if self.roundabout:
                    names = [f"{arm}_in", f"{arm}_entry", f"{arm}_next"]
                    for c in range(a + 1, a + 1 + k):
                        names += [f"{ARMS[c % 4]}_pass", f"{ARMS[c % 4]}_next"]
                    names += [f"{other}_exit", f"{other}_out"]
                else:
                    names = [f"{arm}_in", f"{arm}_to_{other}", f"{other}_out"]
                rows.append([road.index[x] for x in names])
                points = np.concatenate([road.lanes[road.index[names[0]]].points] + [
                    road.lanes[road.index[x]].points[1:] for x in names[1:]])  # fmt: skip
                lanes.append(Lane(f"{arm}_to_{other}", points, float(road.width[rows[-1][0]])))
                turn.append(k)
                entry.append(a)
        stages = max(len(r) for r in rows)
        self.last = np.array([len(r) - 1 for r in rows], np.int64)
        self.lanes = np.full((len(rows), stages), -1, np.int64)
        self.offsets = np.zeros((len(rows), stages + 1))
        for r, row in enumerate(rows):
            self.lanes[r, : len(row)] = row
            ends = np.cumsum(road.length[row].astype(np.float64))
            self.offsets[r, 1 : len(row) + 1] = ends
            self.offsets[r, len(row) + 1 :] = ends[-1]
        self.total = self.offsets[:, -1].copy()
        self.index_of = np.full((len(rows), road.num_lanes), -1, np.int64)  # lane -> stage
        for r, row in enumerate(rows):
            self.index_of[r, row] = np.arange(len(row))
        self.map = RoadMap("routes", lanes)
        self.turn, self.entry = np.array(turn), np.array(entry)
        self.entry_lanes = np.array([road.index[f"{arm}_in"] for arm in ARMS], np.int64)
        self.merge = self.lanes[:, 2] if self.roundabout else np.full(len(rows), -1, np.int64)
        if self.roundabout:  # no crossing connectors: entering cars yield to the ring instead
            self.conflict = np.zeros((len(rows), len(rows)), bool)
            return
        paths = [_dense(road.lanes[c].points) for c in self.lanes[:, 1]]
        near = np.array([[_distance(p, q) < clearance for q in paths] for p in paths])
        np.fill_diagonal(near, False)
        self.conflict = near

    @property
    def count(self) -> int:
        return len(self.lanes)


def _dense(points: np.ndarray, step: float = 0.25) -> np.ndarray:
    out = [points[:1]]
    for a, b in zip(points[:-1], points[1:], strict=True):
        k = max(1, math.ceil(np.hypot(*(b - a)) / step))
        out.append(a + (b - a) * np.linspace(0, 1, k + 1)[1:, None])
    return np.concatenate(out)


def _distance(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sqrt(((p[:, None] - q[None]) ** 2).sum(-1)).min())


class JunctionState:
    def __init__(self, cfg, road: RoadMap, num_worlds: int, n_learned: int) -> None:
        self.cfg, self.road, self.n = cfg, road, n_learned
        self.routes = Routes(road, cfg.car_width + cfg.clearance)
        shape = (num_worlds, cfg.n_cars)
        self.route = np.zeros(shape, np.int64)
        self.plan = np.zeros((*shape, cfg.lives), np.int64)
        self.trips = np.zeros(shape, np.int64)
        self.noise_keys = np.zeros(num_worlds, np.uint64)
        self.steps = np.zeros(num_worlds, np.int64)
        self.entered = np.zeros(shape, np.int64)
        self.present = np.zeros(shape, bool)
        self.held = np.zeros(shape, bool)
        self.request = np.full(shape, -1.0)
        self.setpoint = np.zeros((num_worlds, n_learned), np.float32)
        self.personality = np.zeros((num_worlds, n_learned, 5), np.float32)
        for name in ("accel_cmd", "prev_speed", "prev_accel", "prev_x", "prev_y", "anchor_x",
                     "anchor_y"):  # fmt: skip
            setattr(self, name, np.zeros(shape, np.float32))
        self.touching = np.zeros(shape, bool)
        self.sums = np.zeros((num_worlds, len(Sums._fields)))  # the episode's, see Sums
        self.last_move = np.zeros(num_worlds, np.int64)
        self.started_trips = np.zeros(num_worlds)
        self.params = cfg.idm.array()
        self.size = vehicle_sizes(cfg, n_learned, cfg.n_cars)
        self.length = self.size[:, 0].astype(np.float64)
        self.wheelbase = 0.6 * self.size[:, 0].astype(np.float64)
        # The heading toward the lane that keeps a vehicle's corners within about 1.2 m of
        # where its centre line goes (about 29 degrees for a car, 12 for a 12 m truck).
        self.approach = np.arcsin(np.minimum(1.0, 2.4 / self.size[:, 0].astype(np.float64)))
        self.v0 = np.full(shape, cfg.v0)
        self.limit = road.speed_limit.astype(np.float64)
        self.zone = np.array([cfg.zone_min, cfg.zone_time])
        self.yield_gap = np.array([cfg.yield_min, cfg.yield_time])
        self.distances = cfg.lane_spacing * np.arange(1, cfg.lane_points + 1, dtype=np.float64)
        for name in ("accel", "gap", "lead_speed", "desired", "to_line", "steer"):
            setattr(self, name, np.zeros(shape))
        self.leader = np.zeros(shape, np.int64)
        poly = self.routes.map.polylines
        self._polylines = (poly.vertices[0], poly.counts[0], poly.start_s[0],
                           self.routes.map.length, self.routes.map.loop)  # fmt: skip
        self._born = np.zeros(shape, bool)
        self._route_at = np.zeros(shape, np.int64)
        self._room_at = np.zeros(shape)

    # ---------------------------------------------------------------------------------- reset
    def start(self, env_ids, uniforms) -> tuple[np.ndarray, ...]:
        """Routes, plans and start poses of worlds ``env_ids`` from ``uniforms``
        ``(E, 4 N + N lives)``: the cars queue on the four approaches, the front ones 15 m
        before the stop line. Returns x, y, heading and speed ``(E, N)``."""
        cfg, routes = self.cfg, self.routes
        n = cfg.n_cars
        count = len(env_ids)
        place = np.argsort(uniforms[:, :n], axis=1, kind="stable").argsort(axis=1)
        arm, rank = place % len(ARMS), place // len(ARMS)
        turn = np.minimum((uniforms[:, n : 2 * n] * 3).astype(np.int64), 2)
        route = _route_of(arm, turn)
        spacing = (cfg.arm_length - 20.0) / max(1, math.ceil(n / len(ARMS)))
        pos = routes.offsets[route, 1] - 15.0 - rank * min(spacing, 30.0)
        room = min(spacing, 30.0) - cfg.car_length - cfg.min_gap
        jitter = min(3.0, max(room - 1.0, 0.0))  # a random shift back, within the room
        pos = pos - uniforms[:, 3 * n : 4 * n] * jitter
        top = min(cfg.initial_speed, max(room - jitter, 0) / cfg.time_headway)
        speed = uniforms[:, 2 * n : 3 * n] * top
        plans = (uniforms[:, 4 * n :].reshape(count, n, cfg.lives) * routes.count).astype(np.int64)
        plans[..., 0] = route
        self.route[env_ids], self.plan[env_ids] = route, np.minimum(plans, routes.count - 1)
        self.trips[env_ids], self.entered[env_ids] = 1, 0
        self.present[env_ids] = True
        self.held[env_ids], self.request[env_ids] = False, -1.0
        self.setpoint[env_ids] = speed[:, : self.n]
        self.accel_cmd[env_ids] = self.prev_accel[env_ids] = 0.0
        self.prev_speed[env_ids] = speed
        self.touching[env_ids] = False
        self.sums[env_ids], self.last_move[env_ids] = 0.0, 0
        self.started_trips[env_ids] = n
        x, y, heading = self.points(route, pos)
        self.prev_x[env_ids], self.prev_y[env_ids] = x, y
        self.anchor_x[env_ids], self.anchor_y[env_ids] = x, y
        return x, y, heading, speed.astype(np.float32)

    def points(self, route, pos):
        """Points and headings along routes ``route`` at ``pos``, arrays of any one shape."""
        shape = np.shape(route)
        route = np.asarray(route).reshape(1, -1)
        pos = np.broadcast_to(pos, shape).reshape(1, -1, 1).astype(np.float64)
        out = [np.zeros(pos.shape) for _ in range(3)]
        tk.lane_points(*self._polylines, route, pos, *out)
        return (a.reshape(shape) for a in out)

    def enter(self, env_ids, vacant, steps):
        """Cars entering in vacant slots ``(E, N)`` of worlds ``env_ids``: each takes its next
        planned route and enters at that approach if the lane's start has room. Returns the
        mask of entered slots and their x, y, heading and speed ``(K,)`` (in mask order). A slot
        takes a car ``reentry_steps`` after its last one entered at the soonest (``steps``: the
        worlds' episode steps ``(E,)``)."""
        cfg, routes = self.cfg, self.routes
        count = len(env_ids)
        born, route_at = self._born[:count], self._route_at[:count]
        room_at = self._room_at[:count]
        jk.enter_cars(env_ids, vacant, steps, self.entered, cfg.reentry_steps, self.trips,
                      self.plan, self.pos, self.route, self.present, self.length,
                      routes.offsets, routes.entry, cfg.car_length + cfg.min_gap + 1.0, born,
                      route_at, room_at)  # fmt: skip
        if not born.any():  # the usual case: slots wait out their reentry time, or for room
            empty = np.zeros(0)
            return born, empty, empty, empty, empty
        e, i = np.nonzero(born)
        w = env_ids[e]
        route = route_at[e, i]
        gap = room_at[e, i] - 0.5 - self.length[i] - cfg.min_gap
        speed = np.minimum(cfg.entry_speed, np.maximum(gap, 0) / cfg.time_headway)
        start = 0.5 + 0.5 * self.length[i]
        self.route[w, i], self.present[w, i] = route, True
        self.trips[w, i] += 1
        self.entered[w, i] = steps[e]
        self.held[w, i], self.request[w, i] = False, -1.0
        self.pos[w, i], self.speed[w, i] = start, speed
        np.add.at(self.started_trips, w, 1)
        x, y, heading = self.points(route, start)
        for name, value in (("prev_speed", speed), ("prev_x", x), ("prev_y", y),
                            ("anchor_x", x), ("anchor_y", y)):  # fmt: skip
            getattr(self, name)[w, i] = value
        self.prev_accel[w, i] = self.accel_cmd[w, i] = 0.0
        learned = i < self.n
        self.setpoint[w[learned], i[learned]] = speed[learned]
        return born, x, y, heading, speed

    # -------------------------------------------------------------------------------- measure
    def measure(self, x, y, angle, speed, present, now: float) -> None:
        """Positions along the routes, leaders, right of way, IDM and steering of every car."""
        routes = self.routes
        coords = routes.map.coordinates(x, y, angle, self.route)
        self.pos = coords.position.s.astype(np.float64)
        self.offset, self.heading_error = coords.position.d, coords.heading_error
        self.x, self.y, self.angle, self.speed, self.present = x, y, angle, speed, present
        jk.route_drive(self.pos, self.route, present, speed.astype(np.float64), self.length,
                       self.v0, routes.offsets, routes.lanes, routes.index_of, routes.last,
                       routes.conflict,
                       routes.merge, self.limit, self.held, self.request, float(now), self.zone,
                       self.yield_gap, self.params, self.accel, self.gap, self.lead_speed,
                       self.leader, self.desired, self.to_line)  # fmt: skip
        curvature = routes.map.segment_curvature[self.route, coords.position.segment]
        tk.lane_keeping(self.offset, self.heading_error, curvature, speed, self.wheelbase,
                        STEERING_GAINS, self.steer, self.approach)  # fmt: skip
        self.finished = present & (self.pos >= routes.total[self.route] - 0.5 * self.length)

    def time_to_collision(self, speed) -> np.ndarray:
        """Least time to collision with a car ahead that is closer each step ``(B,)``, capped."""
        closing = speed - self.lead_speed
        hit = (self.leader >= 0) & (closing > 1e-3) & self.present
        ttc = np.where(hit, np.maximum(self.gap, 0) / np.where(hit, closing, 1), TTC_CAP)
        return np.minimum(ttc.min(1), TTC_CAP)

    # ------------------------------------------------------------------------------- commands
    def commands(self, actions, continuous: bool, idm_agents: bool, born=None):
        """Acceleration and steering of every car; the learned cars' from their actions
        (unless ``idm_agents``), cars that just entered keep their speed and heading."""
        cfg, n = self.cfg, self.n
        accel = self.accel.astype(np.float32)
        steer = self.steer.astype(np.float32)
        if not idm_agents:
            if continuous:
                a = actions[..., 0]
                accel[:, :n] = np.where(a > 0, a * cfg.max_accel, a * cfg.max_decel)
                steer[:, :n] = actions[..., 1] * cfg.max_steer
            else:
                step = np.where(actions == 1, cfg.speed_step,
                                np.where(actions == 2, -cfg.speed_step, 0))  # fmt: skip
                if born is not None:  # a new car's action was sent for its vacant slot
                    step = np.where(born[:, :n], 0.0, step)
                np.clip(self.setpoint + step, 0.0, 1.2 * cfg.v0, out=self.setpoint)
                accel[:, :n] = SPEED_GAIN * (self.setpoint - self.speed[:, :n])
        if born is not None:
            accel[born], steer[born] = 0.0, 0.0
        np.clip(accel, -cfg.max_decel, cfg.max_accel, out=accel)
        self.accel_cmd[...] = accel
        return accel, steer

    # ----------------------------------------------------------------------------------- books
    def book(self, steps, x, y, speed, touching, present, new_contact, crossed, finished):
        cfg = self.cfg
        jk.book_step(steps, x, y, speed, present, self.desired, new_contact, self.n, crossed,
                     finished, cfg.dt, cfg.gridlock_seconds, self.anchor_x, self.anchor_y,
                     self.sums, self.last_move)  # fmt: skip
        accel = (speed - self.prev_speed) / cfg.dt
        self.prev_accel[...] = np.where(steps[:, None] > 0, accel, 0.0)
        self.prev_speed[...], self.prev_x[...], self.prev_y[...] = speed, x, y
        self.touching[...] = touching

    def episode_figures(self, env_ids) -> dict[str, np.ndarray]:
        cfg = self.cfg
        books = Sums(*self.sums[env_ids].T)
        samples = np.maximum(books.samples, 1)
        km = books.km
        hours = np.maximum(books.steps * cfg.dt / 3600.0, 1e-9)
        learned_trips = np.maximum(self.trips[env_ids, : self.n].sum(1), 1)
        return {
            "collisions_per_1000km": books.collisions / np.maximum(km, 1e-3) * 1000.0,
            "collisions_per_agent_episode": books.agent_collisions / learned_trips,
            "throughput_vph": books.crossings / hours,
            "delay_s_per_km": books.delay_s / np.maximum(km, 1e-3),
            "gridlocks": books.gridlocks,
            "route_completion": 100.0 * books.finished / self.started_trips[env_ids],
            "trips": books.finished,
            "mean_speed_all": books.speed_sum / samples,
        }

    # ---------------------------------------------------------------------------- observation
    def observe(self, obs, layout) -> None:
        cfg, n = self.cfg, self.n
        ego = obs["ego"]
        ego[..., 0] = self.speed[:, :n] / cfg.v0
        ego[..., 1] = self.accel_cmd[:, :n] / cfg.max_accel
        ego[..., 2] = self.offset[:, :n]
        ego[..., 3] = self.heading_error[:, :n]
        ego[..., 4] = np.minimum(np.maximum(self.gap[:, :n], 0) / HORIZON, 1)
        free = self.leader[:, :n] == -1
        ego[..., 5] = np.where(free, self.speed[:, :n], self.lead_speed[:, :n]) / cfg.v0
        ego[..., 6] = np.clip(self.to_line[:, :n] / HORIZON, -1, 1)
        ego[..., 7] = self.held[:, :n] | (self.to_line[:, :n] < 0)
        ego[..., 8] = self.desired[:, :n] / cfg.v0
        ego[..., 9] = self.setpoint / cfg.v0
        turn = obs["route"]
        turn[...] = 0.0
        np.put_along_axis(turn, self.routes.turn[self.route[:, :n]][..., None], 1.0, axis=2)
        obs["personality"][...] = self.personality
        if layout["vehicles"].count:
            rows = obs["vehicles"].reshape(*ego.shape[:2], layout["vehicles"].count, 8)
            tk.nearest_vehicles(self.x, self.y, self.angle, self.speed, self.size, self.present,
                                rows, obs.valid("vehicles"))  # fmt: skip
            if cfg.obs_noise > 0:
                tk.perturb_vehicles(rows, obs.valid("vehicles"), self.noise_keys, self.steps,
                                    cfg.obs_noise)  # fmt: skip
        tk.ego_lane_points(*self._polylines, self.route[:, :n], self.pos[:, :n], self.x, self.y,
                           self.angle, self.distances, obs["lane_ahead"])  # fmt: skip

    # --------------------------------------------------------------------------------- reward
    def reward(self, frame, cfg, out) -> Reward:
        n, w = self.n, self.personality
        own = frame.speed[:, :n] / cfg.v0
        half = cfg.lane_width / 2
        hit = (frame.new_contact[:, :n] | frame.off_road[:, :n]).astype(np.float32)
        terms = {
            "progress": w[..., 1] * own,
            "goal": cfg.goal_reward * frame.finished[:, :n],
            "collision": -w[..., 0] * hit,
            "comfort": -w[..., 2] * np.minimum((frame.jerk[:, :n] / 10.0) ** 2, 10.0),
            "lane_keeping": -w[..., 3] * np.minimum((self.offset[:, :n] / half) ** 2, 10.0),
            "speed_preference": -(np.maximum(own - w[..., 4], 0.0) ** 2),
        }
        terms = {k: v.astype(np.float32) for k, v in terms.items()}
        out[...] = sum(terms.values())
        return Reward({"car": out}, terms)


def _route_of(arm: np.ndarray, turn: np.ndarray) -> np.ndarray:
    """Route index of a car entering at ``arm`` that turns ``turn`` (0 right, 1 straight,
    2 left): routes are numbered by entry arm, then exit arm counter-clockwise from it."""
    return arm * 3 + turn
