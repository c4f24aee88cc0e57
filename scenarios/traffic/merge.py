"""traffic/merge-v0: learned cars among IDM/MOBIL cars on a two-lane road with an on-ramp.

The ``merge`` road (``roads.merge``, saved as ``maps/merge.json``): two lanes driven in +x and
an on-ramp whose acceleration lane runs beside the right lane over the merge section and then
ends: its cars must change left in time. Cars are pymunk boxes on a kinematic bicycle. The
learned cars (``n_learned``, 8 to 24 as the task asks, 1 allowed) start upstream, on the main
lanes or the ramp; the background cars (a share ``background_share`` of all cars) are driven
by IDM with MOBIL lane changes inside the env step and start anywhere on the road.

Merging as real merge models do it (``idm.drive``; Treiber and Kesting's on-ramp, SUMO's
cooperative lane changes): a car on the acceleration lane treats the lane's end as a standing
car (``stop_margin`` early, so that it can still pull out from standstill); MOBIL's urge to
leave grows as the end nears (``merge_bias`` plus the deceleration that stopping at the end
would take), while the safety criterion still holds; and the cars cooperate: the merging car
lines up behind the car ahead of it on the right lane, and the car behind it there yields
(brakes for it) and is urged to change left, each when that takes braking of at most
``cooperation``. A car changing lanes stays the leader of the cars behind it on the lane it
leaves until its body has left it, and MOBIL never moves a main-road car onto the ramp.

Traffic demand: every car has an entry (the right or left lane's start, or the ramp's, a share
``ramp_share`` of the background cars). A background car that reaches the end of the road (or
leaves it) enters again at its entry as soon as that has room (``Merge.enter``: the first car
on its way at least ``min_gap`` plus a time headway ahead, the entry speed at most
``spawn_speed`` and low enough to stop behind it comfortably); until then it waits off the
road. Cars start on slots ``spacing`` apart at speeds capped the same way (no car starts
needing to brake harder than ``comfort_decel`` for its leader or the ramp's end); background
cars beyond the slots start waiting at their entries.

Agents
    One group, ``car``, of ``n_learned`` slots (one shared policy); the body groups ``idm``
    (cars) and ``truck`` (a share ``truck_share`` of them) hold the others. A learned car ends
    (terminated) when it reaches the end of the road, with the ``goal`` reward, and when it
    collides or leaves the road if ``collision_ends`` / ``off_road_ends`` (its body is parked);
    a new car then enters its slot at the slot's entry (``reentry_seconds`` after the last one
    entered at the soonest, when the entry has room), up to ``lives = 1 + (max_steps - 1) //
    reentry steps`` cars per slot and episode (``car_3``, then ``car_3.1`` ... through
    PettingZoo), each with its own personality. Episodes are truncated at ``max_steps``. With
    ``idm_agents`` the learned cars drive as IDM cars (the all-IDM road to compare with).

Actions
    As ``traffic/ring-v0``: ``Discrete(5)`` meta-actions (keep, faster, slower, lane left, lane
    right; masked where there is no lane or during the cooldown) through a speed controller and
    lane keeping, or ``Box(-1, 1, (2,))`` acceleration and steering (``continuous_actions``).

Observation (float32, per car; blocks in this order, sizes for the default config)
{observation}
    As ``traffic/ring-v0`` (with ``obs_noise``, the seen vehicles' offsets and relative
    velocities get Gaussian noise, as ``traffic/intersection-v0``'s); ``ego.to_decision`` is
    the distance to the end of the ramp's
    acceleration lane (from the ramp or on it) / 100 m, 1 elsewhere. ``ego.gap`` and
    ``ego.lead_speed`` are those of the leader IDM responds to (a car ahead, the end of the
    acceleration lane, or, merging cooperatively, a car on the next lane), and ``ego.mobil``
    is MOBIL's advice with the merging rules above.

Reward (per car, per step; each term logged)
    As ``traffic/ring-v0``: ``team`` (mean speed of the cars on the road / v0, or
    ``team_reward="outflow"``: cars past the detector this step), ``waves`` (with
    ``wave_weight``), ``progress``, and with the car's personality weights ``collision`` (a new
    contact or leaving the road), ``comfort``, ``lane_keeping``, ``speed_preference``; plus
    ``goal`` (``goal_reward`` when the car reaches the end of the road).

Metrics (per episode)
    Those of ``traffic/ring-v0`` (``mean_speed``, ``speed_std``, ``speed_std_all``,
    ``collisions``, ``collisions_per_1000km``, ``collisions_per_agent_episode``, ``off_road``,
    ``throughput_vph`` past the ``exit`` detector downstream of the merge, ``delay_s_per_km``
    versus driving at v0, ``gridlocks``, ``jerk``, ``min_ttc``), plus ``route_completion``
    (% of the learned cars that reached the end of the road), ``ramp_throughput_vph`` (cars
    that entered on the ramp past the detector, per hour), ``ramp_stops`` (car-seconds
    standing at the end of the acceleration lane) and ``cars_off_road`` (car-steps of any car
    off the road).

Scripted baseline (``MergePolicy`` in ``merge_baseline``)
    IDM and MOBIL from the observation (``IDMPolicy`` of ``traffic/ring-v0``): the leader in
    ``ego`` is the one IDM responds to and the advice MOBIL's, so it merges as the background
    cars do; with continuous actions it steers toward the lane MOBIL advises.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from scenarios.core import MAX_STEPS, Episode, GroupSpec, check
from scenarios.fields import param
from scenarios.registry import document, register
from scenarios.seeding import WorldRandom
from scenarios.traffic import kernels as tk
from scenarios.traffic.common import RespawningConfig, add_cars, draw_personalities
from scenarios.traffic.idm import LANE_END, drive
from scenarios.traffic.merge_state import MergeState
from scenarios.traffic.ring import RingFrame, RingRoad
from scenarios.traffic.roads import RoadMap, merge
from worlds import WorldBatch

ENTRIES = ("right_up", "left_up", "ramp_in")
"""Where cars enter the road (index = a car's ``home``)."""
SLOT_LANES = (*ENTRIES, "right_merge", "left_merge", "ramp_merge", "right_down", "left_down")


@dataclass(frozen=True)
class MergeConfig(RespawningConfig):
    max_steps: int = param(1000, low=1, high=MAX_STEPS)
    """Steps per episode (dt each) before truncation."""
    n_learned: int = param(12, low=1, high=24)
    """Learned cars (agents)."""
    background_share: float = param(0.6, low=0.0, high=0.75)
    """Share of all cars driven by IDM/MOBIL."""
    ramp_share: float = param(0.3, low=0.0, high=1.0)
    """Share of the background cars whose entry is the ramp."""
    upstream: float = param(250.0, low=100.0, high=2000.0)
    """Road before the merge section, metres."""
    merge_length: float = param(150.0, low=60.0, high=500.0)
    """Length of the ramp's acceleration lane beside the right lane, metres."""
    downstream: float = param(200.0, low=50.0, high=2000.0)
    """Road after the merge section, metres."""
    initial_speed: float = param(15.0, low=0.0, high=40.0)
    """Cars start at speeds drawn uniformly between half this and this, m/s (capped so that
    none needs more than comfortable braking for its leader)."""
    spawn_speed: float = param(20.0, low=1.0, high=40.0)
    """Speed of a car entering on free road, m/s."""
    spacing: float = param(25.0, low=8.0, high=100.0)
    """Metres between the start slots the cars are drawn among."""
    merge_bias: float = param(1.0, low=0.0, high=5.0)
    """MOBIL's bias toward leaving the acceleration lane, m/s^2 (it grows as the end nears)."""
    cooperation: float = param(2.0, low=0.0, high=8.0)
    """Cooperative merging: the hardest braking, m/s^2, a merging car accepts to line up
    behind a right-lane car, and a right-lane car accepts to let it in (0: off)."""
    stop_margin: float = param(10.0, low=0.0, high=30.0)
    """IDM stops a car this many metres before the end of the acceleration lane."""
    goal_reward: float = param(1.0, low=0.0, high=100.0)
    """Reward of a learned car reaching the end of the road."""
    team_reward: str = "speed"
    """speed (mean speed of the cars on the road) or outflow (cars past the detector)."""
    wave_weight: float = param(0.0, low=0.0, high=100.0)
    """Weight of the ``waves`` team term (as ``traffic/ring-v0``; 0: off)."""
    gridlock_seconds: float = param(10.0, low=1.0, high=600.0)
    """No car moving 0.5 m for this long is a gridlock event."""
    idm_agents: bool = False
    """The learned cars are driven by IDM/MOBIL exactly as the others (their actions are
    ignored): the all-IDM road a learned car is compared with."""

    def validate(self, scenario_id: str) -> None:
        super().validate(scenario_id)
        ok = self.team_reward in ("speed", "outflow")
        check(scenario_id, ok, "team_reward", "must be one of speed, outflow", self.team_reward)
        longest = max(self.car_length, self.truck_length if self.truck_share > 0 else 0.0)
        rule = f"must be at least the longest vehicle ({longest:g} m) + 3 m"
        check(scenario_id, self.spacing >= longest + 3.0, "spacing", rule, self.spacing)
        rule = f"must leave room to merge on the merge section ({self.merge_length:g} m)"
        ok = self.stop_margin + 2 * longest + self.min_gap < self.merge_length
        check(scenario_id, ok, "stop_margin", rule, self.stop_margin)
        up, _ = _slots(self.road_map(), self)
        rule = f"must fit the {len(up[0])} start slots upstream (spacing {self.spacing:g} m)"
        check(scenario_id, self.n_learned <= len(up[0]), "n_learned", rule, self.n_learned)

    @property
    def n_background(self) -> int:
        return round(self.n_learned * self.background_share / (1.0 - self.background_share))

    @property
    def n_cars(self) -> int:
        return self.n_learned + self.n_background

    def road_map(self) -> RoadMap:
        """The ``merge`` road, moved so that its bounding box is centred on the origin (the
        world's centre)."""
        road = merge(self.upstream, self.merge_length, self.downstream)
        xmin, xmax, ymin, ymax = road.bounds()
        centre = np.array([(xmin + xmax) / 2, (ymin + ymax) / 2])
        lanes = [replace(lane, points=lane.points - centre) for lane in road.lanes]
        detectors = [
            replace(d, a=tuple((d.a - centre).tolist()), b=tuple((d.b - centre).tolist()))
            for d in road.detectors
        ]
        return RoadMap(road.name, lanes, detectors)


def _slots(road: RoadMap, cfg: MergeConfig):
    """Start slots ``(lane, s)``: those on the entry lanes (for learned cars), and all."""
    lanes, arcs = [], []
    for name in SLOT_LANES:
        lane = road.index[name]
        s = np.arange(cfg.spacing / 2, road.length[lane] - cfg.spacing / 2, cfg.spacing)
        lanes += [lane] * len(s)
        arcs += s.tolist()
    lanes, arcs = np.array(lanes, np.int32), np.array(arcs)
    up = np.isin(lanes, [road.index[n] for n in ENTRIES])
    return (lanes[up], arcs[up]), (lanes, arcs)


@register("traffic/merge-v0")
class Merge(RingRoad):
    config_class = MergeConfig

    def __init__(self, cfg: MergeConfig) -> None:
        super().__init__(cfg)
        space = self._groups["car"].action_space  # learned cars leave and new ones enter
        self._groups = {"car": GroupSpec.of("car", self.n_learned, self.layout, space, cfg.lives)}
        self.up, self.all = _slots(self.road, cfg)
        self.entries = tuple(self.road.index[n] for n in ENTRIES)

    def make_world(self, num_worlds: int) -> WorldBatch:
        cfg = self.cfg
        xmin, xmax, ymin, ymax = self.road.bounds()
        width = 2 * max(-xmin, xmax) + 10.0
        height = max(2 * max(-ymin, ymax) + 10.0, 0.25 * width)  # a picture, not a strip
        world = WorldBatch(num_worlds, width, height, dt=cfg.dt, substeps=cfg.substeps,
                           track_contacts=True)  # fmt: skip
        self.groups_of_bodies = add_cars(world, cfg, self.n_learned, self.n_cars)
        self.traffic = MergeState(cfg, self.road, num_worlds, self.n_learned, self.entries)
        self._personalities = np.zeros((num_worlds, self.n_learned, cfg.lives, 5), np.float32)
        self._born = np.zeros((num_worlds, self.n_learned), bool)
        self.obs = self.layout.buffer(num_worlds, self.n_learned)
        self._reward = np.zeros((num_worlds, self.n_learned), np.float32)
        return world

    # ---------------------------------------------------------------------------------- reset
    def reset(self, world: WorldBatch, rng: WorldRandom, env_ids: np.ndarray) -> None:
        cfg, n, count, m = self.cfg, self.n_cars, len(env_ids), self.n_learned
        first, slots = len(self.up[0]), len(self.all[0])
        u = rng.random((count, first + slots + 2 * n + 5 * m))
        mine = np.argsort(u[:, :first], axis=1, kind="stable")[:, :m]  # upstream slots
        keys = u[:, first : first + slots].copy()
        np.put_along_axis(keys, mine, np.inf, axis=1)  # upstream slots come first in all
        k = min(n, slots) - m  # background cars on the road; the others wait at their entries
        others = np.argsort(keys, axis=1, kind="stable")[:, :k]
        slot = np.concatenate([mine, others], axis=1)
        lane, s = np.full((count, n), -1, np.int32), np.zeros((count, n))
        lane[:, : m + k], s[:, : m + k] = self.all[0][slot], self.all[1][slot]
        off = first + slots
        speed = cfg.initial_speed * (0.5 + 0.5 * u[:, off : off + n])
        # Entries: a learned car's is its start lane's; a background car's is the ramp for a
        # share ramp_share of them, else the right or the left lane.
        draw = u[:, off + n : off + 2 * n]
        lanes_home = np.where(draw < cfg.ramp_share, 2, (draw >= (1 + cfg.ramp_share) / 2) * 1)
        start_home = np.argmax(lane[:, :m, None] == np.array(self.entries), axis=-1)
        home = np.concatenate([start_home, lanes_home[:, m:]], axis=1).astype(np.int32)
        personality = draw_personalities(cfg, u[:, off + 2 * n :].reshape(count, m, 5))
        self.place(world, env_ids, lane, s, speed, personality, home)
        self._born[env_ids] = False
        # The personalities of the cars that follow in each slot (drawn now: see spawn).
        later = rng.random((count, m, cfg.lives - 1, 5)) if cfg.lives > 1 else None
        self._personalities[env_ids, :, 0] = personality
        if later is not None:
            self._personalities[env_ids, :, 1:] = draw_personalities(cfg, later)
        if cfg.obs_noise > 0:  # a key per world for its observation noise (kernels.perturb_*)
            self.traffic.noise_keys[env_ids] = rng.integers(0, 2**62, size=count)

    def place(self, world: WorldBatch, env_ids, lane, s, speed, personality=None,
              home=None) -> None:  # fmt: skip
        """Start worlds ``env_ids`` afresh with every car on ``lane`` at arc length ``s``
        ``(E, N)`` (learned cars first; lane -1: a background car waiting off the road to
        enter), at ``speed`` capped so that no car needs more than comfortable braking for its
        leader or the end of the acceleration lane. Used by ``reset``, and by tests to build a
        situation by hand (neutral personalities, and entries by start lane or the right lane,
        unless given)."""
        cfg, count = self.cfg, len(env_ids)
        lane, s = np.asarray(lane, np.int32), np.asarray(s, np.float64)
        if personality is None:
            personality = draw_personalities(cfg, np.full((count, self.n_learned, 5), 0.5))
        if home is None:
            home = np.argmax(lane[..., None] == np.array(self.entries), axis=-1)
        waiting = lane < 0
        lane = np.where(waiting, np.asarray(self.entries, np.int32)[home], lane)
        speed = self._safe_speeds(np.where(waiting, -1, lane), s, np.asarray(speed, np.float64))
        x, y, heading = (a[..., 0] for a in self.traffic.points(lane, s[..., None]))
        speed = np.where(waiting, 0.0, speed).astype(np.float32)
        start = 0
        for group in self.groups_of_bodies:
            cols = slice(start, start + group.n)
            world.reset_bodies(group.name, env_ids, x[:, cols], y[:, cols], angle=heading[:, cols],
                               vx=speed[:, cols] * np.cos(heading[:, cols]),
                               vy=speed[:, cols] * np.sin(heading[:, cols]))  # fmt: skip
            group.dynamics.speed[env_ids] = speed[:, cols]
            if waiting[:, cols].any():
                worlds, cars = np.nonzero(waiting[:, cols])
                world.park_bodies(group.name, np.asarray(env_ids)[worlds], cars)
            start += group.n
        from_ramp = (self.traffic.ends_at[lane] < np.inf) & ~waiting
        self.traffic.reset(env_ids, lane, x, y, speed, personality, home, from_ramp)

    def _safe_speeds(self, lane, s, speed) -> np.ndarray:
        """``speed`` ``(E, N)`` capped, front to back, at the speed from which braking at
        ``comfort_decel`` stops ``min_gap`` behind the leader braking as hard (or before the
        end of the acceleration lane)."""
        cfg, t, road = self.cfg, self.traffic, self.road
        shape = lane.shape
        out = [np.zeros(shape) for _ in range(3)] + [np.zeros(shape, np.int32) for _ in range(2)]
        _, gap, _, leader, _ = out
        cand = np.full((*shape, 2), -1, np.int32)
        drive(s.astype(np.float32), lane, speed.astype(np.float32), t.length,
              np.full(shape, cfg.v0, np.float32), np.zeros((*shape, 2), np.float32), cand,
              np.zeros(shape, bool), t.idm_length, road.loop, t.dead_end, t.params, *out,
              successor=road.successor, predecessor=road.predecessor)  # fmt: skip
        room = 2 * cfg.comfort_decel * np.maximum(gap - cfg.min_gap, 0.0)
        has = leader >= 0
        for _ in range(shape[1]):  # until no cap changes (a chain of cars is capped in turn)
            lead = np.where(has, np.take_along_axis(speed, np.maximum(leader, 0), 1), 0.0)
            cap = np.where((leader == LANE_END) | has, np.sqrt(lead * lead + room), np.inf)
            capped = np.minimum(speed, cap)
            if np.array_equal(capped, speed):
                break
            speed = capped
        return speed

    # ---------------------------------------------------------------------------------- steps
    def apply_actions(self, world: WorldBatch, actions: dict[str, np.ndarray]) -> None:
        if self._born.any():  # a car that entered this step drives on (its slot's action was
            cars = actions["car"].copy()  # sent while it was vacant)
            cars[self._born] = 0
            actions = {**actions, "car": cars}
            self._born[...] = False
        super().apply_actions(world, actions)
        if len(self.groups_of_bodies) > 1:
            self._recycle(world)

    def _recycle(self, world: WorldBatch) -> None:
        """Background cars that reached the end of the road (or left it) enter again at their
        entries; those whose entry has no room yet wait parked off the road."""
        t, m = self.traffic, self.n_learned
        background = self.groups_of_bodies[1:]  # cars and trucks, in column order after m
        parked = np.concatenate([g.parked for g in background], axis=1)
        leaving = (t.finished[:, m:] | t.stray[:, m:]) & ~parked
        want = leaving | parked
        if not want.any():
            return
        env_ids, cars = np.nonzero(want)
        placed = self.enter(world, env_ids, cars + m)
        wait = ~placed & leaving[env_ids, cars]
        if wait.any():
            start = m
            for group in background:
                mine = wait & (cars + m >= start) & (cars + m < start + group.n)
                if mine.any():
                    world.park_bodies(group.name, env_ids[mine], cars[mine] + m - start)
                start += group.n
            t.present[env_ids[wait], cars[wait] + m] = False
            t.finished[env_ids[wait], cars[wait] + m] = False
            t.stray[env_ids[wait], cars[wait] + m] = False

    def enter(self, world: WorldBatch, env_ids: np.ndarray, car_ids: np.ndarray) -> np.ndarray:
        """Place cars ``car_ids[k]`` (learned first, then background) of worlds ``env_ids[k]``
        ``(K,)`` at the start of their entries (``home``), each where its entry has room (see
        the module docstring; the two main lanes count as one entry, both must have room); at
        most one car per entry and world per call, the first asked for. The placed cars' bodies
        leave their parking spots (if parked) and drive on at the entry speed. Returns which
        were placed ``(K,)``."""
        t, cfg = self.traffic, self.cfg
        env_ids, car_ids = np.asarray(env_ids, np.intp), np.asarray(car_ids, np.intp)
        room, lead_speed = t.entry_room()
        # The two main lanes enter side by side: a car enters either only when both have room
        # (a car entering beside another could meet it changing lanes), one car at a time.
        closer = np.argmin(room[:, :2], axis=1)
        rows = np.arange(len(room))
        room[:, :2] = room[rows, closer][:, None]
        lead_speed[:, :2] = lead_speed[rows, closer][:, None]
        entry = t.home[env_ids, car_ids]
        # The bumper gap the car would have with its rear on the entry lane's start.
        room = room[env_ids, entry] - t.length[car_ids]
        lead_speed = lead_speed[env_ids, entry]
        speed = t.entry_speed(room, lead_speed)
        clear = room >= cfg.min_gap + cfg.time_headway * speed
        first = np.zeros(len(env_ids), bool)
        gate = np.minimum(entry, 1)  # the main lanes share one gate, the ramp has its own
        first[np.unique(env_ids * len(self.entries) + gate, return_index=True)[1]] = True
        go = clear & first
        if not go.any():
            return go
        env_ids, car_ids, speed = env_ids[go], car_ids[go], speed[go].astype(np.float32)
        lane = np.asarray(self.entries, np.int32)[entry[go]]
        at = (t.length[car_ids] / 2.0)[:, None].astype(np.float64)
        x, y, heading = (a[:, 0] for a in t.points(lane[:, None], at[:, None]))
        x, y, heading = x[:, 0], y[:, 0], heading[:, 0]
        start = 0
        for group in self.groups_of_bodies:
            mine = (car_ids >= start) & (car_ids < start + group.n)
            if mine.any():
                self._place_bodies(world, group, env_ids[mine], car_ids[mine] - start, x[mine],
                                   y[mine], heading[mine], speed[mine])  # fmt: skip
            start += group.n
        t.placed(env_ids, car_ids, lane, x, y, speed)
        return go

    def spawn(self, world: WorldBatch, env_ids: np.ndarray, vacant: dict) -> dict:
        """A learned car that ended is followed by a new one at its slot's entry, once
        ``reentry_seconds`` have passed since the last one entered and the entry has room."""
        t, cfg = self.traffic, self.cfg
        born = np.zeros(vacant["car"].shape, bool)
        e, i = np.nonzero(vacant["car"])
        w = env_ids[e]
        ready = t.steps[w] - t.entered[w, i] >= cfg.reentry_steps
        e, i, w = e[ready], i[ready], w[ready]
        if not e.size:
            return {"car": born}
        placed = self.enter(world, w, i)
        e, i, w = e[placed], i[placed], w[placed]
        born[e, i] = True
        self._born[w, i] = True
        t.trips[w, i] += 1
        t.entered[w, i] = t.steps[w]
        t.personality[w, i] = self._personalities[w, i, t.trips[w, i] % cfg.lives]
        np.add.at(t.learned_started, w, 1)
        return {"car": born}

    @staticmethod
    def _place_bodies(world, group, env_ids, body_ids, x, y, heading, speed) -> None:
        """Bodies ``body_ids`` of worlds ``env_ids`` ``(K,)`` to ``x, y`` heading ``heading``
        at ``speed``, out of their parking spots if parked (revived: no memory of contacts)."""
        world.place_bodies(group.name, env_ids, body_ids, x, y, angle=heading,
                           vx=speed * np.cos(heading), vy=speed * np.sin(heading),
                           revive=True)  # fmt: skip
        group.dynamics.speed[env_ids, body_ids] = speed
        group.command[env_ids, body_ids] = 0.0

    def sense(self, world: WorldBatch, episode: Episode) -> RingFrame:
        """``RingRoad.sense``, and the merge's books: cars from the ramp past the detector,
        cars off the road (background cars that left it are recycled next step)."""
        x, y, angle, speed, touching, present = self._gather()
        t, m = self.traffic, self.n_learned
        t.measure(x, y, angle, speed, present)
        off_road = self.road.off_road(x, y) & present & ~t.finished  # past an exit: done
        t.stray[:, m:] = off_road[:, m:]
        new_contact = touching & ~t.touching & present
        x0, y0 = np.where(present, t.prev_x, x), np.where(present, t.prev_y, y)
        ramp = present & t.from_ramp
        rx0, ry0 = np.where(ramp, x0, x), np.where(ramp, y0, y)
        lines = self.road.detector_lines
        crossed, ramp_crossed = (
            tk.crossings(x0, y0, x, y, lines),
            tk.crossings(rx0, ry0, x, y, lines),
        )
        jerk = ((speed - t.prev_speed) / self.cfg.dt - t.prev_accel) / self.cfg.dt
        ttc = t.time_to_collision(speed)
        t.steps[...] = episode.steps
        if episode.restarted is None:  # book the step once (not again for restarted worlds)
            t.book_merge(episode.steps, speed, present, off_road, ramp_crossed)
            t.book(episode.steps, x, y, speed, touching, present, new_contact, crossed)
        return RingFrame(world, episode, speed, present, new_contact, off_road, jerk, crossed,
                         ttc)  # fmt: skip

    def scripted_policy(self):
        from scenarios.traffic.merge_baseline import MergePolicy

        return MergePolicy(self.cfg, self.layout, float(self.road.width.max()))

    def terminated(self, frame) -> dict[str, np.ndarray] | None:
        out = super().terminated(frame)
        out["car"] |= self.traffic.finished[:, : self.n_learned]
        return out


document(Merge)

if __name__ == "__main__":
    import sys

    from scenarios.replay import main as replay_main

    raise SystemExit(replay_main(["traffic/merge-v0", *sys.argv[1:]]))
