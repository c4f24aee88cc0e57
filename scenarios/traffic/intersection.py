"""traffic/intersection-v0: cars on routes through an unsignalized four-way crossing; they
leave when they reach the end of their exit lane (or crash) and new cars enter.

Two two-lane roads cross (``junction_roads.intersection``: right-hand traffic, 100 m arms);
every car drives a route from one approach to another arm's exit (right, straight or left),
pymunk boxes on a kinematic bicycle. A car that reaches the end of its route finishes; a new
car then enters its slot at the start of its next planned route's approach, once that lane's
start has room (``GroupSpec.lives``: agents that leave and join). A share ``learned_share`` of
the cars are agents, trained as one shared policy (self-play); the others are IDM drivers that
give way by a first-come, first-served rule (``junction``) and also re-enter when they leave.

With ``road="roundabout"`` the same four arms meet at a one-lane roundabout
(``junction_roads.roundabout``, radius ``radius``, counter-clockwise): routes go a quarter, a
half or three quarters round the ring (right, straight, left), and IDM drivers yield at the
entry to the cars coming round (``yield_min``, ``yield_time``).

Agents
    One group, ``car``, of ``n_learned = max(1, round(learned_share * n_cars))`` slots; each
    slot hosts up to ``lives = 1 + (max_steps - 1) // reentry steps`` cars per episode
    (``car_3``, then ``car_3.1`` ... through PettingZoo). A car ends when it finishes its route
    (``goal``), and when it collides or leaves the road with ``collision_ends`` /
    ``off_road_ends`` (its body is parked until the slot's next car enters). Episodes are
    truncated after ``max_steps``.

Actions
    ``Discrete(3)`` meta-actions (default): keep, faster, slower (speed setpoint
    ``+-speed_step``, starting at the car's entry speed); a low-level controller tracks the
    setpoint (no car-following: the policy must brake for what is ahead) and keeps the car on
    its route (curvature fed forward, heading and Stanley feedback). With
    ``continuous_actions=True``: ``Box(-1, 1, (2,))``, acceleration (fractions of
    ``max_accel`` forward and ``max_decel`` braking) and steering (fraction of ``max_steer``).

Observation (float32, per car; blocks in this order, sizes for the default config)
{observation}
    ``ego``: speed / v0, last commanded acceleration / max_accel, lateral offset from the route
    (m, left positive), heading error (rad), gap to what is ahead / 100 m (the leader on the
    route, or the stop line while the car lacks the right of way; 1 on free road) and its speed
    / v0, distance from the front bumper to the stop line / 100 m (negative past it), whether
    the right-of-way rule lets the car into the junction (1 also once inside), the desired
    speed / v0 (``v0`` capped by the lane's limit and by braking to the next lane's: the turn's
    speed), the speed setpoint / v0. ``route``: the turn ahead, one-hot (right, straight,
    left). ``personality``: the car's reward weights (below). ``vehicles``: the k nearest cars
    in the car's frame (x ahead, y left): offset, relative heading, relative velocity, length,
    width. ``lane_ahead``: points of the route every ``lane_spacing`` m.

Reward (per car, per step; each term logged)
    ``progress`` (own speed / v0, times the personality's weight), ``goal`` (``goal_reward``
    when the car finishes its route), minus ``collision`` (a new contact, or leaving the road),
    ``comfort`` ((jerk / 10 m/s^3)^2), ``lane_keeping`` ((offset / half lane width)^2) and
    ``speed_preference`` (how far own speed exceeds the preferred fraction of v0, squared), with
    the car's personality weights. Personalities are drawn per car (``personality="random"``,
    anew for each car that enters) or fixed (``cautious``, ``assertive``, ``neutral``).

Metrics (per episode)
    ``mean_speed`` (m/s), ``collisions`` (cars in new contacts), ``collisions_per_1000km``,
    ``collisions_per_agent_episode`` (per learned car that entered), ``off_road`` (share of
    learned car-steps), ``route_completion`` (% of the cars that entered that finished their
    route, the ones still driving at the end counting as unfinished), ``trips`` (routes
    finished),
    ``throughput_vph`` (crossings of the four exit detectors per hour), ``delay_s_per_km``
    (versus driving at the desired speed), ``gridlocks`` (times no car moved 0.5 m for
    ``gridlock_seconds``), ``jerk`` (mean |jerk|, m/s^3), ``min_ttc`` (s, capped at 100).

Scripted baseline (``JunctionIDMPolicy`` in ``intersection_baseline``)
    IDM from the observation toward the desired speed, stopping at the stop line without the
    right of way: through the setpoint (discrete) or directly with pure pursuit (continuous).
    ``idm_agents=True`` drives the learned cars by IDM inside the env instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from scenarios.core import MAX_STEPS, Episode, Frame, GroupSpec, Reward, Scenario, check
from scenarios.fields import param
from scenarios.layout import ObsLayout, entities, vector
from scenarios.registry import document, register
from scenarios.seeding import WorldRandom
from scenarios.traffic import kernels as tk
from scenarios.traffic.common import (
    PERSONALITY_COLUMNS,
    RespawningConfig,
    add_cars,
    draw_personalities,
    gather,
)
from scenarios.traffic.junction_roads import ARMS, intersection, roundabout
from scenarios.traffic.junction_state import TURNS, JunctionState
from scenarios.traffic.kernels import VEHICLE_COLUMNS
from worlds import WorldBatch

EGO_COLUMNS = ("speed", "accel", "offset", "heading_error", "gap", "lead_speed", "to_line",
               "right_of_way", "desired", "setpoint")  # fmt: skip


@dataclass(frozen=True)
class IntersectionConfig(RespawningConfig):
    max_steps: int = param(600, low=1, high=MAX_STEPS)
    """Steps per episode (dt each) before truncation."""
    n_cars: int = param(24, low=2, high=64)
    """Cars on the roads at once (when every slot is filled), learned and IDM."""
    learned_share: float = param(1.0, low=0.0, high=1.0)
    """Share of the cars that are agents (at least one); the others drive by IDM."""
    v0: float = param(13.9, low=1.0, high=40.0)
    """Desired speed (m/s; 50 km/h), the roads' speed limit and the scale of speeds."""
    arm_length: float = param(100.0, low=40.0, high=1000.0)
    """Length of each approach and exit lane, metres."""
    lane_width: float = param(3.5, low=2.5, high=5.0)
    """Width of every lane, metres."""
    clearance: float = param(1.5, low=0.0, high=5.0)
    """Two connectors conflict (one car at a time) where they pass within car_width plus this."""
    road: str = "intersection"
    """The junction: ``intersection`` (a four-way crossing, first come, first served) or
    ``roundabout`` (one lane, counter-clockwise; entering cars yield to the ring)."""
    radius: float = param(20.0, low=10.0, high=60.0)
    """Radius of the roundabout's lane centre line, metres."""
    yield_min: float = param(12.0, low=0.0, high=100.0)
    """A car enters the roundabout while no car coming round reaches yield_min metres before
    the point where the entry joins the ring sooner than the entering car's rear has passed
    that point, plus yield_time."""
    yield_time: float = param(1.5, low=0.0, high=20.0)
    """Seconds: see ``yield_min``."""
    zone_min: float = param(10.0, low=1.0, high=100.0)
    """A car asks for the junction within max(zone_min, zone_time * speed) of the stop line."""
    zone_time: float = param(3.0, low=0.0, high=20.0)
    """Seconds: see ``zone_min``."""
    entry_speed: float = param(8.0, low=0.0, high=40.0)
    """Speed of a car entering an approach (less when the car ahead is near), m/s."""
    goal_reward: float = param(1.0, low=0.0, high=100.0)
    """Reward of a car that finishes its route."""
    gridlock_seconds: float = param(10.0, low=1.0, high=600.0)
    """No car moving 0.5 m for this long is a gridlock event."""
    collision_ends: bool = True
    """A car that collides leaves (its slot's next car enters later)."""
    idm_agents: bool = False
    """The learned cars are driven by IDM and the right-of-way rule exactly as the others
    (their actions are ignored): the all-IDM junction a policy is compared with."""

    def validate(self, scenario_id: str) -> None:
        super().validate(scenario_id)
        rule = (
            "must be 0 on the intersection for now (a truck's turning radius, 0.6 truck_length "
            "/ tan(max_steer), is wider than the corners); trucks drive on the ring and merge"
        )
        check(scenario_id, self.truck_share == 0, "truck_share", rule, self.truck_share)
        roads = ("intersection", "roundabout")
        check(scenario_id, self.road in roads, "road", f"must be one of {roads}", self.road)
        per_arm = math.ceil(self.n_cars / len(ARMS))
        room = (self.arm_length - 20.0) / per_arm
        rule = (f"must leave each car car_length + min_gap ({self.car_length + self.min_gap:g} "
                f"m) on its approach of arm_length {self.arm_length:g} m (minus 20 m)")  # fmt: skip
        check(scenario_id, room >= self.car_length + self.min_gap, "n_cars", rule, self.n_cars)

    @property
    def n_learned(self) -> int:
        return max(1, round(self.learned_share * self.n_cars))


def observation_layout(cfg: IntersectionConfig, k: int) -> ObsLayout:
    return ObsLayout(
        vector("ego", EGO_COLUMNS, "own state on the route (see the docstring)"),
        vector("route", TURNS, "the turn ahead, one-hot"),
        vector("personality", PERSONALITY_COLUMNS, "own reward weights"),
        entities("vehicles", k, VEHICLE_COLUMNS, "nearest vehicles, own frame", valid=True),
        vector(
            "lane_ahead",
            tuple(f"{a}{p}" for p in range(cfg.lane_points) for a in ("x", "y")),
            "the route's centre ahead, own frame",
        ),
    )


@dataclass
class JunctionFrame(Frame):
    """What one step measured (arrays over all cars ``(B, N)``, learned first)."""

    speed: np.ndarray
    present: np.ndarray
    new_contact: np.ndarray
    off_road: np.ndarray
    jerk: np.ndarray
    crossed: np.ndarray
    ttc: np.ndarray
    finished: np.ndarray


@register("traffic/intersection-v0")
class Intersection(Scenario):
    config_class = IntersectionConfig
    parked_bodies = {"car": "car"}
    metric_reduce = {
        "mean_speed": "mean", "collisions": "sum", "off_road": "mean", "jerk": "mean",
        "min_ttc": "min",
    }  # fmt: skip

    def __init__(self, cfg: IntersectionConfig) -> None:
        super().__init__(cfg)
        if cfg.road == "roundabout":
            self.road = roundabout(cfg.arm_length, cfg.lane_width, cfg.v0, cfg.radius)
        else:
            self.road = intersection(cfg.arm_length, cfg.lane_width, cfg.v0)
        self.n_learned, self.n_cars = cfg.n_learned, cfg.n_cars
        self.k = min(cfg.k_vehicles, cfg.n_cars - 1)
        self.layout = observation_layout(cfg, self.k)
        space = (spaces.Box(-1.0, 1.0, (2,), np.float32) if cfg.continuous_actions
                 else spaces.Discrete(3))  # fmt: skip
        self._groups = {"car": GroupSpec.of("car", self.n_learned, self.layout, space, cfg.lives)}

    def groups(self) -> dict[str, GroupSpec]:
        return self._groups

    def state_size(self) -> int:
        return 4 * self.n_cars

    def state(self, frame: JunctionFrame) -> np.ndarray:
        """Every car's x, y (divided by the road's half extent, so within about -1 and 1),
        speed / v0 and route, learned cars first."""
        t = self.traffic
        extent = max(np.abs(self.road.bounds()))
        parts = (t.x / extent, t.y / extent, frame.speed / self.cfg.v0, t.route)
        return np.concatenate(parts, axis=1).astype(np.float32)

    def make_world(self, num_worlds: int) -> WorldBatch:
        cfg = self.cfg
        xmin, xmax, ymin, ymax = self.road.bounds()
        side = 2 * max(-xmin, xmax, -ymin, ymax) + 10.0
        world = WorldBatch(num_worlds, side, side, dt=cfg.dt, substeps=cfg.substeps,
                           track_contacts=True)  # fmt: skip
        self.groups_of_bodies = add_cars(world, cfg, self.n_learned, self.n_cars)
        self.traffic = JunctionState(cfg, self.road, num_worlds, self.n_learned)
        self.obs = self.layout.buffer(num_worlds, self.n_learned)
        self._reward = np.zeros((num_worlds, self.n_learned), np.float32)
        self._born = np.zeros((num_worlds, self.n_cars), bool)
        self._personalities = np.zeros((num_worlds, self.n_learned, cfg.lives, 5), np.float32)
        self._frame: JunctionFrame | None = None
        return world

    def _columns(self):
        start = 0
        for group in self.groups_of_bodies:
            yield group, slice(start, start + group.n), start
            start += group.n

    def reset(self, world: WorldBatch, rng: WorldRandom, env_ids: np.ndarray) -> None:
        cfg, n, count = self.cfg, self.n_cars, len(env_ids)
        uniforms = rng.random((count, (4 + cfg.lives) * n + 5 * self.n_learned * cfg.lives))
        x, y, heading, speed = self.traffic.start(env_ids, uniforms[:, : (4 + cfg.lives) * n])
        for group, cols, _ in self._columns():
            world.reset_bodies(group.name, env_ids, x[:, cols], y[:, cols], angle=heading[:, cols],
                               vx=speed[:, cols] * np.cos(heading[:, cols]),
                               vy=speed[:, cols] * np.sin(heading[:, cols]))  # fmt: skip
            group.dynamics.speed[env_ids] = speed[:, cols]
        draws = uniforms[:, (4 + cfg.lives) * n :].reshape(count, self.n_learned, cfg.lives, 5)
        self._personalities[env_ids] = draw_personalities(cfg, draws)
        self.traffic.personality[env_ids] = self._personalities[env_ids, :, 0]
        self._born[env_ids] = False
        if cfg.obs_noise > 0:  # a key per world for its observation noise (kernels.perturb_*)
            self.traffic.noise_keys[env_ids] = rng.integers(0, 2**62, size=count)

    def _enter(self, world, env_ids, vacant):
        """Cars enter vacant slots ``(E, N)``: bodies placed, revived, at their entry speed."""
        steps = self._episode.steps[env_ids]
        born, x, y, heading, speed = self.traffic.enter(env_ids, vacant, steps)
        if not x.size:
            return born
        e, i = np.nonzero(born)
        for group, cols, start in self._columns():
            mine = (i >= cols.start) & (i < cols.stop)
            if mine.any():
                w, j = env_ids[e[mine]], i[mine] - start
                h, v = heading[mine], speed[mine]
                world.place_bodies(group.name, w, j, x[mine], y[mine], angle=h,
                                   vx=v * np.cos(h), vy=v * np.sin(h), revive=True)  # fmt: skip
                group.dynamics.speed[w, j] = v
        self._born[env_ids[e], i] = True
        return born

    def spawn(self, world, env_ids, vacant):
        n, t = self.n_learned, self.traffic
        slots = np.zeros((len(env_ids), self.n_cars), bool)
        slots[:, :n] = vacant["car"]
        t.present[env_ids, :n] &= ~vacant["car"]
        born = self._enter(world, env_ids, slots)[:, :n]
        e, i = np.nonzero(born)  # each new car's personality was drawn at the reset
        w = env_ids[e]
        t.personality[w, i] = self._personalities[w, i, (t.trips[w, i] - 1) % self.cfg.lives]
        return {"car": born}

    def _cycle_idm(self, world: WorldBatch) -> None:
        """IDM cars that finished (or crashed, with ``collision_ends``) leave; vacant IDM slots
        take new cars."""
        cfg, frame, t, n = self.cfg, self._frame, self.traffic, self.n_learned
        if frame is None or self.n_cars == n:
            return
        gone = frame.finished | (cfg.collision_ends & frame.new_contact)
        gone |= cfg.off_road_ends & frame.off_road
        gone[:, :n] = False
        gone &= t.present
        if gone.any():
            w, i = np.nonzero(gone)
            world.park_bodies("idm", w, i - n)
            t.present[w, i] = False
        vacant = ~t.present
        vacant[:, :n] = False
        worlds = np.flatnonzero(vacant.any(1))
        if worlds.size:
            self._enter(world, worlds, vacant[worlds])

    def apply_actions(self, world: WorldBatch, actions: dict[str, np.ndarray]) -> None:
        cfg = self.cfg
        self._cycle_idm(world)
        accel, steer = self.traffic.commands(actions["car"], cfg.continuous_actions,
                                             cfg.idm_agents, self._born)  # fmt: skip
        self._born[...] = False
        for group, cols, _ in self._columns():
            group.command[..., 0] = accel[:, cols]
            group.command[..., 1] = steer[:, cols]

    def _gather(self):
        return gather(self.groups_of_bodies)

    def sense(self, world: WorldBatch, episode: Episode) -> JunctionFrame:
        x, y, angle, speed, touching, present = self._gather()
        self._episode, state = episode, self.traffic
        state.steps[...] = episode.steps
        state.present[...] = present
        state.measure(x, y, angle, speed, present, episode._step_count)
        # Off the road: only a car off its own route's lanes can be (most are on them).
        route = state.routes
        beyond = (state.pos < 0) | (state.pos > route.total[state.route])
        off_road = present & ((np.abs(state.offset) > self.cfg.lane_width / 2) | beyond)
        if off_road.any():  # the lane polygons of the whole road, for those cars alone
            b, i = np.nonzero(off_road)
            off_road[b, i] = self.road.off_road(x[b, i][None], y[b, i][None])[0]
        new_contact = touching & ~state.touching & present
        x0, y0 = np.where(present, state.prev_x, x), np.where(present, state.prev_y, y)
        crossed = tk.crossings(x0, y0, x, y, self.road.detector_lines)
        jerk = ((speed - state.prev_speed) / self.cfg.dt - state.prev_accel) / self.cfg.dt
        ttc = state.time_to_collision(speed)
        if episode.restarted is None:  # book the step once (not again for restarted worlds)
            state.book(episode.steps, x, y, speed, touching, present, new_contact, crossed,
                       state.finished)  # fmt: skip
        self._frame = JunctionFrame(world, episode, speed, present, new_contact, off_road, jerk,
                                    crossed, ttc, state.finished)  # fmt: skip
        return self._frame

    def observe(self, frame: JunctionFrame) -> dict[str, np.ndarray]:
        self.traffic.observe(self.obs, self.layout)
        return {"car": self.obs.array}

    def reward(self, frame: JunctionFrame) -> Reward:
        return self.traffic.reward(frame, self.cfg, self._reward)

    def terminated(self, frame: JunctionFrame) -> dict[str, np.ndarray]:
        n, cfg = self.n_learned, self.cfg
        out = frame.finished[:, :n].copy()
        if cfg.collision_ends:
            out |= frame.new_contact[:, :n]
        if cfg.off_road_ends:
            out |= frame.off_road[:, :n]
        return {"car": out}

    def metrics(self, frame: JunctionFrame) -> dict[str, np.ndarray]:
        present, speed = frame.present, frame.speed
        count = np.maximum(present.sum(1), 1)
        n = self.n_learned
        return {
            "mean_speed": np.where(present, speed, 0).sum(1) / count,
            "collisions": frame.new_contact.sum(1).astype(float),
            "off_road": frame.off_road[:, :n].mean(1), "jerk": np.abs(frame.jerk).mean(1),
            "min_ttc": frame.ttc,
        }  # fmt: skip

    def episode_end(self, frame: JunctionFrame, env_ids: np.ndarray) -> dict[str, np.ndarray]:
        return self.traffic.episode_figures(env_ids)

    def render_extra(self, frame: Frame, canvas, env_index: int) -> None:
        for lane in self.road.lanes:
            points = lane.points
            for a, b in zip(points[:-1], points[1:], strict=True):
                canvas.line(a[0], a[1], b[0], b[1], color=(136, 138, 133), width=1)

    def scripted_policy(self):
        from scenarios.traffic.intersection_baseline import JunctionIDMPolicy

        return JunctionIDMPolicy(self.cfg, self.layout)


document(Intersection)

if __name__ == "__main__":
    import sys

    from scenarios.replay import main as replay_main

    raise SystemExit(replay_main(["traffic/intersection-v0", *sys.argv[1:]]))
