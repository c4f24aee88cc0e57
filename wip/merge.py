"""traffic/merge-v0: learned cars among IDM/MOBIL cars on a two-lane road with an on-ramp.

The ``merge`` road (``roads.merge``, saved as ``maps/merge.json``): two lanes driven in +x and
an on-ramp whose acceleration lane runs beside the right lane over the merge section and then
ends: its cars must change left in time. Cars are pymunk boxes on a kinematic bicycle. The
learned cars (``n_learned``) start upstream, on the main lanes or the ramp; the background
cars (a share ``background_share`` of all cars) are driven by IDM with MOBIL lane changes
inside the env step and start anywhere on the road. A car whose centre reaches the end of the
road finishes: a learned car ends (terminated), a background car respawns at a start (the
ramp once every ``1 / ramp_share`` respawns), as soon as that lane has room for it, keeping
the density.

Agents
    One group, ``car``, of ``n_learned`` cars (one shared policy); the body group ``idm`` holds
    the others. A learned car ends when it finishes, and when it collides or leaves the road if
    ``collision_ends`` / ``off_road_ends`` (its body is parked). The vector env's agents cannot
    rejoin mid-episode, so an episode ends when every learned car has ended, or is truncated
    at ``max_steps``.

Actions
    As ``traffic/ring-v0``: ``Discrete(5)`` meta-actions (keep, faster, slower, lane left, lane
    right; masked where there is no lane or during the cooldown) through a speed controller and
    lane keeping, or ``Box(-1, 1, (2,))`` acceleration and steering (``continuous_actions``).

Observation (float32, per car; blocks in this order, sizes for the default config)
{observation}
    As ``traffic/ring-v0``; ``ego.to_decision`` is the distance to the end of the ramp's
    acceleration lane (from the ramp or on it) / 100 m, 1 elsewhere. IDM's leader (gap, its
    speed) is found across lane ends.

Reward (per car, per step; each term logged)
    As ``traffic/ring-v0``: ``team`` (mean speed of the cars on the road / v0, or
    ``team_reward="outflow"``: cars past the detector this step), ``progress``, and with the
    car's personality weights ``collision`` (a new contact or leaving the road), ``comfort``,
    ``lane_keeping``, ``speed_preference``.

Metrics (per episode)
    Those of ``traffic/ring-v0`` (``mean_speed``, ``collisions``, ``collisions_per_1000km``,
    ``collisions_per_agent_episode``, ``off_road``, ``throughput_vph`` past the ``exit``
    detector downstream of the merge, ``delay_s_per_km`` versus driving at v0, ``gridlocks``,
    ``jerk``, ``min_ttc``), plus ``route_completion`` (share of the learned cars that finished)
    and ``ramp_stops`` (car-seconds standing at the end of the acceleration lane).

Scripted baseline (``IDMPolicy`` of ``ring_baseline``)
    IDM and MOBIL from the observation (see ``traffic/ring-v0``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scenarios.core import MAX_STEPS, check
from scenarios.fields import param
from scenarios.registry import document, register
from scenarios.seeding import WorldRandom
from scenarios.traffic.common import TrafficConfig, draw_personalities
from scenarios.traffic.merge_state import MergeState
from scenarios.traffic.ring import RingRoad
from scenarios.traffic.roads import RoadMap, merge
from worlds import KinematicBicycle, WorldBatch
from worlds.shapes import Box

START_LANES = ("right_up", "left_up", "ramp_in")
SLOT_LANES = (*START_LANES, "right_merge", "left_merge", "right_down", "left_down")


@dataclass(frozen=True)
class MergeConfig(TrafficConfig):
    max_steps: int = param(600, low=1, high=MAX_STEPS)
    """Steps per episode (dt each) before truncation."""
    n_learned: int = param(12, low=1, high=24)
    """Learned cars (agents)."""
    background_share: float = param(0.6, low=0.0, high=0.75)
    """Share of all cars driven by IDM/MOBIL."""
    ramp_share: float = param(0.3, low=0.0, high=1.0)
    """Share of the background respawns on the ramp."""
    upstream: float = param(250.0, low=100.0, high=2000.0)
    """Road before the merge section, metres."""
    merge_length: float = param(150.0, low=40.0, high=500.0)
    """Length of the ramp's acceleration lane beside the right lane, metres."""
    downstream: float = param(200.0, low=50.0, high=2000.0)
    """Road after the merge section, metres."""
    initial_speed: float = param(15.0, low=0.0, high=30.0)
    """Cars start at speeds drawn uniformly between half this and this, m/s."""
    spawn_speed: float = param(20.0, low=1.0, high=40.0)
    """Speed of respawned background cars on an empty lane, m/s."""
    spacing: float = param(25.0, low=8.0, high=100.0)
    """Metres between the start slots the cars are drawn among."""
    merge_bias: float = param(1.0, low=0.0, high=5.0)
    """MOBIL's bias toward leaving the acceleration lane (IDM cars and the advice), m/s^2."""
    team_reward: str = "speed"
    """speed (mean speed of the cars on the road) or outflow (cars past the detector)."""
    gridlock_seconds: float = param(10.0, low=1.0, high=600.0)
    """No car moving 0.5 m for this long is a gridlock event."""

    def validate(self, scenario_id: str) -> None:
        super().validate(scenario_id)
        ok = self.team_reward in ("speed", "outflow")
        check(scenario_id, ok, "team_reward", "must be one of speed, outflow", self.team_reward)
        road = self.road_map()
        up, total = _slots(road, self)
        check(scenario_id, self.spacing >= self.car_length + 3.0, "spacing",
              f"must be at least car_length ({self.car_length:g}) + 3 m", self.spacing)  # fmt: skip
        rule = f"must fit the {len(up[0])} start slots upstream (spacing {self.spacing:g} m)"
        check(scenario_id, self.n_learned <= len(up[0]), "n_learned", rule, self.n_learned)
        rule = (f"with n_learned ({self.n_learned}) must leave at most {len(total[0])} cars "
                f"on the road's slots (spacing {self.spacing:g} m)")  # fmt: skip
        ok = self.n_cars <= len(total[0])
        check(scenario_id, ok, "background_share", rule, self.background_share)

    @property
    def n_background(self) -> int:
        return round(self.n_learned * self.background_share / (1.0 - self.background_share))

    @property
    def n_cars(self) -> int:
        return self.n_learned + self.n_background

    def road_map(self) -> RoadMap:
        return merge(self.upstream, self.merge_length, self.downstream)


def _slots(road: RoadMap, cfg: MergeConfig):
    """Start slots ``(lane, s)``: those upstream (for learned cars) and all."""
    lanes, arcs = [], []
    for name in SLOT_LANES:
        lane = road.index[name]
        s = np.arange(cfg.spacing / 2, road.length[lane] - cfg.spacing / 2, cfg.spacing)
        lanes += [lane] * len(s)
        arcs += s.tolist()
    lanes, arcs = np.array(lanes, np.int32), np.array(arcs)
    up = np.isin(lanes, [road.index[n] for n in START_LANES])
    return (lanes[up], arcs[up]), (lanes, arcs)


@register("traffic/merge-v0")
class Merge(RingRoad):
    config_class = MergeConfig

    def __init__(self, cfg: MergeConfig) -> None:
        super().__init__(cfg)
        self.up, self.all = _slots(self.road, cfg)
        self.starts = tuple(self.road.index[n] for n in START_LANES)

    def make_world(self, num_worlds: int) -> WorldBatch:
        cfg = self.cfg
        xmin, xmax, ymin, ymax = self.road.bounds()
        width, height = 2 * max(-xmin, xmax) + 10.0, 2 * max(-ymin, ymax) + 10.0
        world = WorldBatch(num_worlds, width, height, dt=cfg.dt, substeps=cfg.substeps,
                           track_contacts=True)  # fmt: skip
        shape = Box(cfg.car_length, cfg.car_width)
        self.groups_of_bodies = []
        for name, n in (("car", self.n_learned), ("idm", self.n_cars - self.n_learned)):
            if n:
                dynamics = KinematicBicycle(60.0, cfg.max_decel, cfg.max_steer, cfg.wheelbase)
                group = world.add_group(name, n, shape=shape, mass=1500.0, dynamics=dynamics)
                self.groups_of_bodies.append(group)
        self.traffic = MergeState(cfg, self.road, num_worlds, self.n_learned)
        self.obs = self.layout.buffer(num_worlds, self.n_learned)
        self._reward = np.zeros((num_worlds, self.n_learned), np.float32)
        return world

    def reset(self, world: WorldBatch, rng: WorldRandom, env_ids: np.ndarray) -> None:
        cfg, n, count, m = self.cfg, self.n_cars, len(env_ids), self.n_learned
        first, slots = len(self.up[0]), len(self.all[0])
        u = rng.random((count, first + slots + n + 5 * m))
        mine = np.argsort(u[:, :first], axis=1, kind="stable")[:, :m]  # upstream slots
        keys = u[:, first : first + slots].copy()
        np.put_along_axis(keys, mine, np.inf, axis=1)  # upstream slots come first in all
        others = np.argsort(keys, axis=1, kind="stable")[:, : n - m]
        slot = np.concatenate([mine, others], axis=1)
        lane, s = self.all[0][slot], self.all[1][slot]
        x, y, heading = (a[..., 0] for a in self.traffic.points(lane, s[..., None]))
        off = first + slots
        speed = (cfg.initial_speed * (0.5 + 0.5 * u[:, off : off + n])).astype(np.float32)
        start = 0
        for group in self.groups_of_bodies:
            cols = slice(start, start + group.n)
            self._place(world, group, env_ids, x[:, cols], y[:, cols], heading[:, cols],
                        speed[:, cols])  # fmt: skip
            start += group.n
        personality = draw_personalities(cfg, u[:, off + n :].reshape(count, m, 5))
        self.traffic.reset(env_ids, lane, x, y, speed, personality)

    @staticmethod
    def _place(world, group, env_ids, x, y, heading, speed) -> None:
        world.reset_bodies(group.name, env_ids, x, y, angle=heading,
                           vx=speed * np.cos(heading), vy=speed * np.sin(heading))  # fmt: skip
        group.dynamics.speed[env_ids] = speed

    def apply_actions(self, world: WorldBatch, actions: dict[str, np.ndarray]) -> None:
        super().apply_actions(world, actions)
        if len(self.groups_of_bodies) > 1:
            self._respawn(world, self.groups_of_bodies[1])

    def _respawn(self, world: WorldBatch, group) -> None:
        """Finished background cars wait parked; each waiting car starts again at the start
        of a lane with room (``MergeState.spawn_lane``)."""
        t, m = self.traffic, self.n_learned
        ended = t.finished[:, m:] & ~group.parked
        if ended.any():
            worlds, cars = np.nonzero(ended)
            world.park_bodies(group.name, worlds, cars)
            t.present[:, m:] &= ~ended
        waiting = group.parked.copy()
        for b in np.nonzero(waiting.any(1))[0]:
            placed = False
            for i in np.nonzero(waiting[b])[0]:
                lane, speed = t.spawn_lane(b, self.starts, self.starts[2])
                if lane < 0:
                    break
                x, y, _ = (
                    float(a.flat[0]) for a in t.points(np.array([[lane]]), np.zeros((1, 1, 1)))
                )
                t.placed(b, m + i, lane, x, y, speed)
                waiting[b, i], placed = False, True
                group.x[b, i], group.y[b, i], group.dynamics.speed[b, i] = x, y, speed
            if placed:
                self._unpark(world, group, b, waiting[b])

    def _unpark(self, world: WorldBatch, group, b: int, still: np.ndarray) -> None:
        """Place world b's background cars again where they are (placed ones at their start,
        heading along the road) and park again those still waiting."""
        x, y = group.x[b : b + 1].copy(), group.y[b : b + 1].copy()
        speed, angle = group.dynamics.speed[b : b + 1].copy(), group.angle[b : b + 1].copy()
        heading = np.where(group.parked[b : b + 1] & ~still, 0.0, angle)
        env = np.array([b])
        self._place(world, group, env, x, y, heading, speed)
        group.command[b] = 0.0
        if still.any():
            ids = np.nonzero(still)[0]
            world.park_bodies(group.name, np.full(ids.size, b), ids)

    def terminated(self, frame) -> dict[str, np.ndarray] | None:
        out = super().terminated(frame)
        out["car"] |= self.traffic.finished[:, : self.n_learned]
        return out


document(Merge)

if __name__ == "__main__":
    import sys

    from scenarios.replay import main as replay_main

    raise SystemExit(replay_main(["traffic/merge-v0", *sys.argv[1:]]))
