"""Shared parts of the traffic family: the config fields every traffic scenario has (vehicles,
IDM/MOBIL, observation, personalities), the personality vectors and the observation layout."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from scenarios.core import ScenarioConfig, check
from scenarios.fields import param
from scenarios.layout import ObsLayout, entities, vector
from scenarios.traffic.idm import IDMParams
from scenarios.traffic.kernels import VEHICLE_COLUMNS
from worlds import KinematicBicycle
from worlds.shapes import Box

PERSONALITY_COLUMNS = ("collision", "progress", "comfort", "lane_keeping", "speed_preference")
PERSONALITIES = {
    "cautious": (10.0, 0.2, 1.0, 1.0, 0.6),
    "assertive": (1.0, 1.0, 0.1, 0.2, 1.0),
    "neutral": (5.5, 0.6, 0.55, 0.6, 0.8),
}
"""Reward weights per personality: collision, progress, comfort (jerk), lane keeping, and the
preferred speed as a fraction of ``v0``. ``random`` draws each uniformly between cautious and
assertive, per car and episode."""

META_ACTIONS = ("keep", "faster", "slower", "lane_left", "lane_right")
EGO_COLUMNS = ("speed", "accel", "offset", "heading_error", "gap", "lead_speed",
               "to_decision", "left_lane", "right_lane", "mobil", "setpoint")  # fmt: skip
SPEED_GAIN = 1.0 / 0.6
"""1/s: the meta-actions' speed controller accelerates at this gain times the setpoint error."""
HORIZON = 100.0
"""Metres: gaps and distances in the observation are divided by it and capped at 1."""


@dataclass(frozen=True)
class TrafficConfig(ScenarioConfig):
    """Config fields every traffic scenario shares."""

    continuous_actions: bool = False
    """Box(-1, 1, (2,)) acceleration and steering instead of the Discrete(5) meta-actions."""
    dt: float = param(0.1, low=0.02, high=0.5)
    """Seconds per environment step."""
    substeps: int = param(2, low=1, high=8)
    """Physics substeps per step."""
    car_length: float = param(4.5, low=2.0, high=20.0)
    """Length of every car, metres."""
    car_width: float = param(1.8, low=1.0, high=3.0)
    """Width of every car, metres."""
    v0: float = param(30.0, low=1.0, high=60.0)
    """IDM desired speed (m/s), and the scale of speeds in rewards and observations."""
    time_headway: float = param(1.5, low=0.1, high=5.0)
    """IDM time headway T, seconds."""
    min_gap: float = param(2.0, low=0.1, high=10.0)
    """IDM jam distance s0, metres."""
    max_accel: float = param(1.0, low=0.1, high=5.0)
    """IDM maximum acceleration a_max (and a learned car's, continuous), m/s^2."""
    comfort_decel: float = param(1.5, low=0.1, high=5.0)
    """IDM comfortable deceleration b, m/s^2."""
    max_decel: float = param(8.0, low=1.0, high=12.0)
    """Physical braking limit of every car, m/s^2."""
    politeness: float = param(0.2, low=0.0, high=1.0)
    """MOBIL politeness p."""
    lane_change_threshold: float = param(0.1, low=0.0, high=2.0)
    """MOBIL threshold: the least net gain, m/s^2, worth a lane change."""
    safe_decel: float = param(4.0, low=0.5, high=12.0)
    """MOBIL safety: the hardest braking a change may impose on the new follower, m/s^2."""
    lane_change_cooldown: float = param(3.0, low=0.0, high=60.0)
    """Seconds between two lane changes of a car."""
    max_steer: float = param(0.5, low=0.05, high=1.0)
    """Steering limit, radians."""
    initial_speed: float = param(8.0, low=0.0, high=40.0)
    """Cars start at speeds drawn uniformly up to this, m/s (0: at rest)."""
    speed_step: float = param(2.0, low=0.1, high=10.0)
    """Change of the speed setpoint per faster or slower meta-action, m/s."""
    k_vehicles: int = param(6, low=0, high=32)
    """Nearest vehicles in each observation (capped at the other cars)."""
    lane_points: int = param(4, low=1, high=16)
    """Points of the target lane ahead in each observation."""
    lane_spacing: float = param(5.0, low=1.0, high=50.0)
    """Metres between those points."""
    personality: str = "random"
    """Reward weights: random (drawn per car and episode), cautious, assertive or neutral."""
    collision_ends: bool = False
    """A learned car that collides leaves the episode (its body is parked); else it drives on,
    penalized for each new contact."""
    obs_noise: float = param(0.0, low=0.0, high=10.0)
    """Standard deviation of Gaussian noise on the seen vehicles' offsets (m) and relative
    velocities (m/s) in each observation (0: exact; the reward and the baseline's IDM inside
    the env use the true state)."""
    off_road_ends: bool = True
    """A learned car whose centre leaves the road leaves the episode."""
    truck_share: float = param(0.0, low=0.0, high=1.0)
    """Share of the background (IDM/MOBIL) vehicles that are trucks, rounded: boxes of
    ``truck_length`` x ``truck_width`` with a wheelbase of 0.6 times their length, driven by the
    same IDM/MOBIL (gaps are measured bumper to bumper, so a truck's length counts)."""
    truck_length: float = param(12.0, low=4.0, high=25.0)
    """Length of a truck, metres."""
    truck_width: float = param(2.5, low=1.5, high=3.0)
    """Width of a truck, metres."""

    def validate(self, scenario_id: str) -> None:
        super().validate(scenario_id)
        options = ("random", *PERSONALITIES)
        rule = f"must be one of {', '.join(options)}"
        check(scenario_id, self.personality in options, "personality", rule, self.personality)

    @property
    def idm(self) -> IDMParams:
        return IDMParams(self.v0, self.time_headway, self.min_gap, self.max_accel,
                         self.comfort_decel, 4.0, self.politeness, self.lane_change_threshold,
                         self.safe_decel)  # fmt: skip

    @property
    def wheelbase(self) -> float:
        return 0.6 * self.car_length


@dataclass(frozen=True)
class RespawningConfig(TrafficConfig):
    """A traffic config whose learned cars leave (finish, crash) and are followed by new cars in
    their slots (``GroupSpec.lives``)."""

    reentry_seconds: float = param(5.0, low=0.5, high=600.0)
    """A slot takes its next car no sooner than this after its last one entered (a trip takes
    longer; it matters after crashes). It bounds the cars a slot hosts per episode, ``lives``."""

    @property
    def reentry_steps(self) -> int:
        return max(1, round(self.reentry_seconds / self.dt))

    @property
    def lives(self) -> int:
        """The most cars one slot can host in an episode."""
        return 1 + (self.max_steps - 1) // self.reentry_steps


def observation_layout(cfg: TrafficConfig, k: int) -> ObsLayout:
    """A learned car's observation, block by block (``k`` vehicles)."""
    return ObsLayout(
        vector("ego", EGO_COLUMNS, "own state in lane coordinates (see the docstring)"),
        vector("personality", PERSONALITY_COLUMNS, "own reward weights this episode"),
        entities("vehicles", k, VEHICLE_COLUMNS, "nearest vehicles, own frame", valid=True),
        vector(
            "lane_ahead",
            tuple(f"{a}{p}" for p in range(cfg.lane_points) for a in ("x", "y")),
            "target lane's centre ahead, own frame",
        ),
    )


def action_space(continuous: bool) -> spaces.Space:
    """``Box(-1, 1, (2,))`` (acceleration, steering) or ``Discrete(5)`` meta-actions."""
    if continuous:
        return spaces.Box(-1.0, 1.0, (2,), np.float32)
    return spaces.Discrete(len(META_ACTIONS))


def setpoint_action(cfg: TrafficConfig, speed, setpoint, accel) -> np.ndarray:
    """The meta-action (0 keep, 1 faster, 2 slower) whose new setpoint makes the speed
    controller accelerate closest to ``accel`` (clipped as the env clips it), keep on a tie:
    how a scripted driver follows IDM through the meta-actions without oscillating."""
    options = []
    for step in (0.0, cfg.speed_step, -cfg.speed_step):
        target = np.clip(setpoint + step, 0.0, 1.2 * cfg.v0)
        command = np.clip(SPEED_GAIN * (target - speed), -cfg.max_decel, cfg.max_accel)
        options.append(np.abs(command - accel))
    return np.argmin(np.stack(options, -1), -1)


def fleet(cfg: TrafficConfig, n_learned: int, n_cars: int) -> tuple[tuple, ...]:
    """The body groups of a traffic world, in column order: ``(name, count, length, width,
    mass)`` for the learned cars (``car``), the background cars (``idm``) and trucks
    (``truck``, a share ``truck_share`` of the background), those with a count."""
    trucks = round(cfg.truck_share * (n_cars - n_learned))
    groups = (("car", n_learned, cfg.car_length, cfg.car_width, 1500.0),
              ("idm", n_cars - n_learned - trucks, cfg.car_length, cfg.car_width, 1500.0),
              ("truck", trucks, cfg.truck_length, cfg.truck_width, 12000.0))  # fmt: skip
    return tuple(g for g in groups if g[1])


def vehicle_sizes(cfg: TrafficConfig, n_learned: int, n_cars: int) -> np.ndarray:
    """Length and width of every vehicle ``(N, 2)`` (float32), in column order."""
    rows = [np.tile(np.float32([length, width]), (n, 1))
            for _name, n, length, width, _mass in fleet(cfg, n_learned, n_cars)]  # fmt: skip
    return np.concatenate(rows).astype(np.float32)


def add_cars(world, cfg: TrafficConfig, n_learned: int, n_cars: int) -> list:
    """The vehicles of a traffic world (``fleet``): boxes on a kinematic bicycle whose
    wheelbase is 0.6 times their length, learned first: the column order of every per-car
    array."""
    groups = []
    for name, n, length, width, mass in fleet(cfg, n_learned, n_cars):
        dynamics = KinematicBicycle(60.0, cfg.max_decel, cfg.max_steer, 0.6 * length)
        groups.append(world.add_group(name, n, shape=Box(length, width), mass=mass,
                                      dynamics=dynamics))  # fmt: skip
    return groups


def gather(groups: list) -> tuple[np.ndarray, ...]:
    """Every car's x, y, heading, speed (float32), whether it touches something and whether it
    is on the road (not parked), ``(B, N)`` each, in the groups' column order."""
    x = np.concatenate([g.x for g in groups], axis=1)
    y = np.concatenate([g.y for g in groups], axis=1)
    angle = np.concatenate([g.angle for g in groups], axis=1)
    speed = np.concatenate([g.dynamics.speed for g in groups], axis=1).astype(np.float32)
    contacts = np.concatenate([g.contacts for g in groups], axis=1)
    present = ~np.concatenate([g.parked for g in groups], axis=1)
    return x, y, angle, speed, contacts > 0, present


def draw_personalities(cfg: TrafficConfig, uniforms: np.ndarray) -> np.ndarray:
    """Personality vectors ``(E, n, 5)`` from uniforms of the same shape (ignored unless
    ``personality`` is random)."""
    if cfg.personality != "random":
        return np.broadcast_to(PERSONALITIES[cfg.personality], uniforms.shape).astype(np.float32)
    low, high = np.array(PERSONALITIES["cautious"]), np.array(PERSONALITIES["assertive"])
    return (low + (high - low) * uniforms).astype(np.float32)


@dataclass
class Books:
    """Per-world running sums of an episode, for the episode's figures ``(B,)`` each."""

    speed_sum: np.ndarray
    speed_sq_sum: np.ndarray
    samples: np.ndarray
    km: np.ndarray
    collisions: np.ndarray
    agent_collisions: np.ndarray
    crossings: np.ndarray
    delay_s: np.ndarray
    gridlocks: np.ndarray
    last_move: np.ndarray

    @classmethod
    def zeros(cls, num_worlds: int) -> Books:
        return cls(*(np.zeros(num_worlds) for _ in range(10)))

    def clear(self, env_ids: np.ndarray) -> None:
        for value in self.__dict__.values():
            value[env_ids] = 0.0
