"""traffic/ring-v0: learned cars among IDM cars on a ring road damp stop-and-go waves.

Sugiyama's experiment (2008, 22 cars on a 230 m ring) with physics: cars are pymunk boxes on a
kinematic bicycle, and at this density IDM drivers started evenly spaced fall into stop-and-go
waves by themselves. A share ``learned_share`` of the cars are agents; the others are driven by
IDM with MOBIL lane changes inside the env step. The ``bottleneck`` road is a two-lane ring whose
inner lane drops before the counting line; its team reward can be the outflow instead.

Agents
    One group, ``car``, of ``n_learned = max(1, round(learned_share * n_cars))`` cars (one shared
    policy, as in self-play); the ``n_cars - n_learned`` others form the body groups ``idm``
    (cars) and ``truck`` (a share ``truck_share`` of them, ``truck_length`` m long). A car
    that collides or leaves the road leaves the episode when ``collision_ends`` /
    ``off_road_ends`` (its body is parked); episodes are truncated after ``max_steps``.

Actions
    ``Discrete(5)`` meta-actions (default): keep, faster, slower (speed setpoint
    ``+-speed_step``; it starts at the car's initial speed), lane left, lane right (masked
    where there is no lane or during the lane-change cooldown). A low-level controller drives:
    lane keeping (curvature fed forward, heading and Stanley feedback) toward the target lane,
    and a speed controller toward a command. With ``controller="follower_stopper"`` (default)
    the command is FollowerStopper's (Bhadani et al. 2018, the controller of Stern et al.
    2018's automated car): the setpoint on open road, falling to the leader's speed and to 0 as
    the gap closes, so the policy chooses the speed the car holds and the controller keeps it
    behind its leader ("faster" raises the setpoint no more than a step above the car's
    speed, so it does not wind up while the car is held below it). With ``"speed"`` the command is
    the setpoint (as highway-env's: no car-following, the policy must brake for its leader).
    With ``continuous_actions=True``: ``Box(-1, 1, (2,))``,
    acceleration (fractions of ``max_accel`` forward and ``max_decel`` braking) and steering
    (fraction of ``max_steer``).

Observation (float32, per car; blocks in this order, sizes for the default config)
{observation}
    ``ego``: speed / v0, last commanded acceleration / max_accel, lateral offset from the target
    lane (m, left positive), heading error (rad), bumper gap to the leader / 100 m and its speed /
    v0 (1 and own speed on free road), distance to the next decision point (the end of a
    dropped lane) / 100 m, whether a lane exists left and right, and MOBIL's advice (+1 left,
    -1 right, 0 stay), the speed setpoint / v0. ``personality``: the car's reward weights
    (below). ``vehicles``: the k nearest cars in the car's frame (x ahead, y left): offset,
    relative heading, relative velocity, length, width. ``lane_ahead``: points of the target
    lane every ``lane_spacing`` m.

Reward (per car, per step; each term logged)
    ``team``: the mean speed of all cars / v0 (``team_reward="speed"``), or the cars crossing
    the counting line this step (``"outflow"``). ``waves`` (with ``wave_weight``): minus the weight
    times the speed standard deviation over all cars this step / (0.1 v0), shared, as the damping
    a car can bring to stop-and-go waves. Minus, with the car's personality weights:
    ``collision`` (a new contact, or leaving the road), ``comfort`` ((jerk / 10 m/s^3)^2),
    ``lane_keeping`` ((offset / half lane width)^2); plus ``progress`` (own speed / v0); minus
    ``speed_preference`` (how far own speed exceeds the preferred fraction of v0, squared).
    Personalities are drawn per car and episode (``personality="random"``) or fixed
    (``cautious``, ``assertive``, ``neutral``).

Metrics (per episode)
    ``mean_speed`` (m/s), ``speed_std`` (over cars, mean over steps), ``speed_std_all`` (over
    cars and time), ``collisions`` (cars in new contacts), ``collisions_per_1000km``,
    ``collisions_per_agent_episode`` (learned cars), ``off_road`` (share of learned car-steps),
    ``throughput_vph`` (crossings of the counting line per hour), ``delay_s_per_km`` (versus
    driving at v0), ``gridlocks`` (times no car moved 0.5 m for ``gridlock_seconds``), ``jerk``
    (mean |jerk|, m/s^3), ``min_ttc`` (s, capped at 100).

Scripted baseline (``IDMPolicy`` in ``ring_baseline``)
    IDM and MOBIL from the observation: IDM's acceleration, through the setpoint (faster, slower
    or keep, whichever brings the speed controller closest to it) and MOBIL's advice
    (discrete), or directly, with pure-pursuit steering to the lane ahead (continuous).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scenarios.core import MAX_STEPS, Episode, Frame, GroupSpec, Reward, Scenario, check
from scenarios.fields import param
from scenarios.registry import document, register
from scenarios.seeding import WorldRandom
from scenarios.traffic import kernels as tk
from scenarios.traffic.common import (
    TrafficConfig,
    action_space,
    add_cars,
    draw_personalities,
    gather,
    observation_layout,
    vehicle_sizes,
)
from scenarios.traffic.ring_state import RingState
from scenarios.traffic.roads import RoadMap, bottleneck, ring
from worlds import WorldBatch

ROADS = ("ring", "bottleneck")


@dataclass(frozen=True)
class RingConfig(TrafficConfig):
    max_steps: int = param(1000, low=1, high=MAX_STEPS)
    """Steps per episode (dt each) before truncation."""
    road: str = "ring"
    """ring (``lanes`` lanes) or bottleneck (two lanes, the inner one dropped)."""
    circumference: float = param(230.0, low=50.0, high=5000.0)
    """Length of the ring's outer lane, metres."""
    lanes: int = param(1, low=1, high=3)
    """Lanes of the ring road."""
    bottleneck_length: float = param(40.0, low=5.0, high=1000.0)
    """Length of the one-lane section of the bottleneck road, metres."""
    time_headway: float = param(1.0, low=0.1, high=5.0)
    """IDM time headway T, seconds (1 s, as Flow's ring: waves form at 22 cars on 230 m)."""
    car_length: float = param(5.0, low=2.0, high=20.0)
    """Length of every car, metres (5 m, as Flow's ring)."""
    n_cars: int = param(22, low=2, high=256)
    """Cars on the road, learned and IDM."""
    learned_share: float = param(0.05, low=0.0, high=1.0)
    """Share of the cars that are agents (at least one)."""
    spawn_jitter: float = param(0.5, low=0.0, high=5.0)
    """Random shift of each car's start along the lane, metres (breaks the symmetry)."""
    team_reward: str = "speed"
    """speed (mean speed of all cars) or outflow (cars past the counting line)."""
    gridlock_seconds: float = param(10.0, low=1.0, high=600.0)
    """No car moving 0.5 m for this long is a gridlock event."""
    wave_weight: float = param(0.0, low=0.0, high=100.0)
    """Weight of the ``waves`` team term: minus the standard deviation of the speeds over all
    cars this step, divided by ``0.1 v0`` (0: off)."""
    controller: str = "follower_stopper"
    """The meta-actions' low-level speed controller: ``follower_stopper`` (the setpoint capped
    by a safe speed from the gap and closing speed, as Stern et al. 2018's automated car) or
    ``speed`` (toward the setpoint only, as highway-env's: the policy must brake)."""
    idm_agents: bool = False
    """The learned cars are driven by IDM/MOBIL exactly as the others (their actions are
    ignored): the all-IDM ring a learned car is compared with."""

    def validate(self, scenario_id: str) -> None:
        super().validate(scenario_id)
        rewards, controllers = ("speed", "outflow"), ("follower_stopper", "speed")
        for name, value, options in (("road", self.road, ROADS),
                                     ("team_reward", self.team_reward, rewards),
                                     ("controller", self.controller, controllers)):  # fmt: skip
            check(scenario_id, value in options, name, f"must be one of {options}", value)
        if self.road == "bottleneck":
            rule = f"must be under half the circumference ({self.circumference:g})"
            ok = self.bottleneck_length < self.circumference / 2
            check(scenario_id, ok, "bottleneck_length", rule, self.bottleneck_length)
        lanes = self.lanes if self.road == "ring" else 1
        inner = self.circumference - 2 * math.pi * self.car_length * (lanes - 1)
        per_lane = math.ceil(self.n_cars / lanes)
        longest = np.sort(vehicle_sizes(self, self.n_learned, self.n_cars)[:, 0])[::-1]
        need = float(longest[:per_lane].sum()) + per_lane * 1.0  # the lane that gets the trucks
        rule = (f"must leave each vehicle its length (car_length {self.car_length:g}; "
                f"truck_length {self.truck_length:g} for a share truck_share "
                f"{self.truck_share:g} of the IDM cars) + 1 m of its lane on a ring of "
                f"circumference {self.circumference:g}")  # fmt: skip
        check(scenario_id, min(self.circumference, inner) >= need, "n_cars", rule, self.n_cars)
        rule = "must leave an inner lane on the ring (radius > 2 lane widths per lane)"
        ok = self.circumference / (2 * math.pi) > 3.5 * (lanes + 1)
        check(scenario_id, ok, "circumference", rule, self.circumference)

    @property
    def n_learned(self) -> int:
        return max(1, round(self.learned_share * self.n_cars))

    def road_map(self) -> RoadMap:
        if self.road == "bottleneck":
            return bottleneck(self.circumference, self.bottleneck_length)
        return ring(self.circumference, self.lanes)


@dataclass
class RingFrame(Frame):
    """What one step measured (arrays over all cars ``(B, N)``, learned first)."""

    speed: np.ndarray
    present: np.ndarray
    new_contact: np.ndarray
    off_road: np.ndarray
    jerk: np.ndarray
    crossed: np.ndarray
    ttc: np.ndarray


@register("traffic/ring-v0")
class RingRoad(Scenario):
    config_class = RingConfig
    parked_bodies = {"car": "car"}
    metric_reduce = {
        "mean_speed": "mean", "speed_std": "mean", "collisions": "sum", "off_road": "mean",
        "jerk": "mean", "min_ttc": "min",
    }  # fmt: skip

    def __init__(self, cfg: RingConfig) -> None:
        super().__init__(cfg)
        self.road = cfg.road_map()
        self.n_learned, self.n_cars = cfg.n_learned, cfg.n_cars
        self.k = min(cfg.k_vehicles, cfg.n_cars - 1)
        self.layout = observation_layout(cfg, self.k)
        space = action_space(cfg.continuous_actions)
        self._groups = {"car": GroupSpec.of("car", self.n_learned, self.layout, space)}

    def groups(self) -> dict[str, GroupSpec]:
        return self._groups

    def state_size(self) -> int:
        return 4 * self.n_cars + self.n_learned

    def state(self, frame: RingFrame) -> np.ndarray:
        """Every car's x, y (divided by the road's half extent, so within about -1 and 1),
        speed / v0 and target lane, learned cars first; then the learned cars' speed setpoints
        / v0."""
        t = self.traffic
        extent = max(np.abs(self.road.bounds()))
        parts = (t.x / extent, t.y / extent, frame.speed / self.cfg.v0, t.target,
                 t.setpoint / self.cfg.v0)  # fmt: skip
        return np.concatenate(parts, axis=1).astype(np.float32)

    def make_world(self, num_worlds: int) -> WorldBatch:
        cfg = self.cfg
        xmin, xmax, ymin, ymax = self.road.bounds()
        side = 2 * max(-xmin, xmax, -ymin, ymax) + 10.0
        world = WorldBatch(num_worlds, side, side, dt=cfg.dt, substeps=cfg.substeps,
                           track_contacts=True)  # fmt: skip
        self.groups_of_bodies = add_cars(world, cfg, self.n_learned, self.n_cars)
        self.traffic = RingState(cfg, self.road, num_worlds, self.n_learned, cfg.controller)
        self.obs = self.layout.buffer(num_worlds, self.n_learned)
        self._reward = np.zeros((num_worlds, self.n_learned), np.float32)
        self._frame = None
        return world

    def reset(self, world: WorldBatch, rng: WorldRandom, env_ids: np.ndarray) -> None:
        cfg, n, count = self.cfg, self.n_cars, len(env_ids)
        uniforms = rng.random((count, 3 * n + 5 * self.n_learned))
        slot = np.argsort(uniforms[:, :n], axis=1, kind="stable")  # car -> slot on the road
        lanes = cfg.lanes if cfg.road == "ring" else 1
        lane = (slot % lanes).astype(np.int32)
        s = self._spread(slot, lanes) + cfg.spawn_jitter * (uniforms[:, n : 2 * n] - 0.5)
        x, y, heading = (a[..., 0] for a in self.traffic.points(lane, s[..., None]))
        speed = (cfg.initial_speed * uniforms[:, 2 * n : 3 * n]).astype(np.float32)
        start = 0
        for group in self.groups_of_bodies:
            cols = slice(start, start + group.n)
            world.reset_bodies(group.name, env_ids, x[:, cols], y[:, cols], angle=heading[:, cols],
                               vx=speed[:, cols] * np.cos(heading[:, cols]),
                               vy=speed[:, cols] * np.sin(heading[:, cols]))  # fmt: skip
            group.dynamics.speed[env_ids] = speed[:, cols]
            start += group.n
        personality = draw_personalities(
            cfg, uniforms[:, 3 * n :].reshape(count, self.n_learned, 5)
        )
        self.traffic.reset(env_ids, lane, x, y, speed, personality)

    def _spread(self, slot: np.ndarray, lanes: int) -> np.ndarray:
        """Arc lengths ``(E, N)`` of the cars at start slots ``slot`` (slot k on lane k % lanes,
        the (k // lanes)-th there): each lane's vehicles in slot order, bumper gaps equal (car
        centres ``lane length / cars`` apart when all are cars)."""
        length = self.traffic.length.astype(np.float64)
        by_slot = length[np.argsort(slot, axis=1, kind="stable")]  # (E, N): slot -> length
        s = np.zeros(slot.shape)
        for k in range(lanes):
            on = by_slot[:, k::lanes]  # the lane's vehicles, front to back of the start
            gap = (self.road.length[k] - on.sum(1, keepdims=True)) / on.shape[1]
            rank = np.arange(on.shape[1])
            centre = rank * gap + np.cumsum(on, axis=1) - 0.5 * on - 0.5 * on[:, :1]
            s_slot = np.zeros_like(by_slot)
            s_slot[:, k::lanes] = centre
            s = np.where(slot % lanes == k, np.take_along_axis(s_slot, slot, axis=1), s)
        return s

    def apply_actions(self, world: WorldBatch, actions: dict[str, np.ndarray]) -> None:
        cfg = self.cfg
        accel, steer = self.traffic.commands(actions["car"], cfg.continuous_actions, cfg.idm_agents)
        start = 0
        for group in self.groups_of_bodies:
            cols = slice(start, start + group.n)
            group.command[..., 0] = accel[:, cols]
            group.command[..., 1] = steer[:, cols]
            start += group.n

    def _gather(self):
        return gather(self.groups_of_bodies)

    def sense(self, world: WorldBatch, episode: Episode) -> RingFrame:
        x, y, angle, speed, touching, present = self._gather()
        state = self.traffic
        state.measure(x, y, angle, speed, present)
        off_road = self.road.off_road(x, y) & present
        new_contact = touching & ~state.touching & present
        x0, y0 = np.where(present, state.prev_x, x), np.where(present, state.prev_y, y)
        crossed = tk.crossings(x0, y0, x, y, self.road.detector_lines)
        jerk = ((speed - state.prev_speed) / self.cfg.dt - state.prev_accel) / self.cfg.dt
        ttc = state.time_to_collision(speed)
        if episode.restarted is None:  # book the step once (not again for restarted worlds)
            state.book(episode.steps, x, y, speed, touching, present, new_contact, crossed)
        return RingFrame(world, episode, speed, present, new_contact, off_road, jerk, crossed,
                         ttc)  # fmt: skip

    def observe(self, frame: RingFrame) -> dict[str, np.ndarray]:
        self.traffic.observe(self.obs, self.layout)
        return {"car": self.obs.array}

    def reward(self, frame: RingFrame) -> Reward:
        return self.traffic.reward(frame, self.cfg, self._reward)

    def terminated(self, frame: RingFrame) -> dict[str, np.ndarray] | None:
        n = self.n_learned
        out = np.zeros(frame.speed.shape[0:1] + (n,), bool)
        if self.cfg.collision_ends:
            out |= frame.new_contact[:, :n]
        if self.cfg.off_road_ends:
            out |= frame.off_road[:, :n]
        return {"car": out}

    def metrics(self, frame: RingFrame) -> dict[str, np.ndarray]:
        present, speed = frame.present, frame.speed
        count = np.maximum(present.sum(1), 1)
        mean = np.where(present, speed, 0).sum(1) / count
        spread = np.sqrt(np.where(present, (speed - mean[:, None]) ** 2, 0).sum(1) / count)
        n = self.n_learned
        return {
            "mean_speed": mean, "speed_std": spread,
            "collisions": frame.new_contact.sum(1).astype(float),
            "off_road": frame.off_road[:, :n].mean(1), "jerk": np.abs(frame.jerk).mean(1),
            "min_ttc": frame.ttc,
        }  # fmt: skip

    def episode_end(self, frame: RingFrame, env_ids: np.ndarray) -> dict[str, np.ndarray]:
        return self.traffic.episode_figures(env_ids, self.n_learned)

    def action_mask(self, frame: RingFrame) -> dict[str, np.ndarray] | None:
        if self.cfg.continuous_actions:
            return None
        return {"car": self.traffic.action_mask()}

    def render_extra(self, frame: Frame, canvas, env_index: int) -> None:
        for lane in self.road.lanes:
            points = lane.points
            for a, b in zip(points[:-1], points[1:], strict=True):
                canvas.line(a[0], a[1], b[0], b[1], color=(136, 138, 133), width=1)

    def scripted_policy(self):
        from scenarios.traffic.ring_baseline import IDMPolicy

        return IDMPolicy(self.cfg, self.layout)


document(RingRoad)

if __name__ == "__main__":
    import sys

    from scenarios.replay import main as replay_main

    raise SystemExit(replay_main(["traffic/ring-v0", *sys.argv[1:]]))
