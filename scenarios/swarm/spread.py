"""swarm/spread-v0: N drones spread out to cover N landmarks in a walled arena.

The physical version of MPE's *simple spread*: drones are point masses with a thrust limit, drag
and a speed cap, they collide for real with each other and with the walls, and the team is scored
on how close the landmarks' nearest drones are.

Agents
    One group, ``drone``, of ``n_agents`` drones (ids ``drone_0`` ...). No drone ends early.

Observation (float32, per drone; blocks in this order, sizes for the default config)
{observation}
    ``k = min(k_neighbours, n_agents - 1)``; neighbours are sorted by distance. Size
    ``4 + 2 * n_agents + 5 * k``. Positions are in metres with the arena centred on the origin;
    ``marl scenarios --obs swarm/spread-v0 -e n_agents=8`` prints the table for other configs.

Actions
    ``Discrete(5)`` (default): no thrust, +x, -x, +y, -y at full thrust. With
    ``continuous_actions=True``: ``Box(-1, 1, (2,))``, thrust as a fraction of ``max_force``.

Reward (per drone, per step)
    ``coverage``: shared by the team, minus the mean over landmarks of the distance from each
    landmark to its nearest drone. ``collision``: minus ``collision_penalty`` for each other drone
    this drone overlaps (centres closer than two radii plus ``contact_margin``).

Termination
    None; episodes are truncated after ``max_steps``.

Metrics (per episode)
    ``coverage``: fraction of landmarks with a drone within ``cover_radius`` at the last step;
    ``coverage_mean``: the same averaged over the episode; ``collisions``: overlapping drones per
    drone-step; ``min_separation``: the smallest centre distance between two drones.

State (for a centralized critic)
    All drones' ``x, y, vx, vy`` then all landmarks' ``x, y``: ``6 * n_agents`` floats.

Scripted baseline (``GreedySpreadPolicy``)
    Greedy assignment: repeatedly take the closest free (drone, landmark) pair in the world; each
    drone then steers with a proportional velocity controller ``v* = gain * (target - p)``
    (capped at ``max_speed``), thrust toward ``v* - v``; in the discrete version, the action whose
    direction best matches that thrust, or no thrust when it is small.

Parameters: see ``SpreadConfig`` (every field documented). Render an episode of the baseline with
``python -m scenarios.swarm.spread`` or ``marl play swarm/spread-v0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scenarios.core import (
    MAX_STEPS,
    Episode,
    Frame,
    GroupSpec,
    Reward,
    Scenario,
    ScriptedPolicy,
    check,
)
from scenarios.fields import param
from scenarios.layout import ObsLayout, entities, vector
from scenarios.registry import document, register
from scenarios.seeding import WorldRandom
from scenarios.swarm.common import (
    SwarmConfig,
    spaced_draws,
    spaced_points,
    steer,
    thrust_space,
    write_thrust,
)
from worlds import HolonomicPointMass, WorldBatch
from worlds.kernels import kernel
from worlds.kernels.arrays import copy_into
from worlds.kernels.neighbours import nearest as nearest_kernel
from worlds.kernels.neighbours import point_offsets as point_offsets_kernel
from worlds.sensors import Neighbours, nearest_arguments, point_offsets


@dataclass(frozen=True)
class SpreadConfig(SwarmConfig):
    max_steps: int = param(50, low=1, high=MAX_STEPS)
    """Steps per episode (dt each) before truncation."""
    n_agents: int = param(3, low=1, high=1024)
    """Number of drones, and of landmarks."""
    k_neighbours: int = param(3, low=0, high=1024)
    """Nearest drones in each observation (capped at n_agents - 1)."""
    arena_size: float = param(0.0, low=0.0, high=1000.0)
    """Side of the square arena in metres; 0 scales it as 2 * sqrt(n_agents / 3)."""
    cover_radius: float = param(0.15, low=0.0, high=100.0, low_open=True)
    """A landmark counts as covered when a drone centre is this close."""

    def validate(self, scenario_id: str) -> None:
        super().validate(scenario_id)
        side = self.side
        check(
            scenario_id,
            side > 6 * self.drone_radius,
            "arena_size",
            f"must exceed 6 drone radii (drone_radius {self.drone_radius:g}) and hold "
            f"n_agents ({self.n_agents}) drones",
            side,
        )

    @property
    def side(self) -> float:
        return self.arena_size or 2.0 * math.sqrt(max(self.n_agents, 3) / 3)

    @property
    def k(self) -> int:
        return min(self.k_neighbours, self.n_agents - 1)


def observation_layout(cfg: SpreadConfig) -> ObsLayout:
    """The drone's observation, block by block."""
    return ObsLayout(
        vector("own", ("x", "y", "vx", "vy"), "position and velocity"),
        entities("landmarks", cfg.n_agents, ("dx", "dy"), "each landmark, relative"),
        entities(
            "neighbours",
            cfg.k,
            ("dx", "dy", "dvx", "dvy"),
            "nearest drones, relative, by distance",
            valid=True,
        ),
    )


@dataclass
class SpreadFrame(Frame):
    """What one step measured (``Spread.sense``)."""

    near: Neighbours | None
    """Nearest drones of each drone (at least one when there are two drones); ``near.count``
    holds the other drones each drone overlaps ``(B, N)`` float32."""
    landmark_offset: np.ndarray
    """Landmarks relative to each drone ``(B, N drones, N landmarks)`` complex: a view of the
    observation's landmark block."""
    nearest: np.ndarray
    """Distance from each landmark to its nearest drone ``(B, L)``."""
    overlaps: np.ndarray
    """Other drones each drone overlaps ``(B, N)`` float32."""


@register("swarm/spread-v0")
class Spread(Scenario):
    config_class = SpreadConfig
    metric_reduce = {
        "coverage": "last",
        "coverage_mean": "mean",
        "collisions": "mean",
        "min_separation": "min",
    }

    def __init__(self, cfg: SpreadConfig) -> None:
        super().__init__(cfg)
        n = cfg.n_agents
        # The search finds at least the nearest drone (collisions, min_separation), also when
        # the observation shows none; a lone drone has no neighbour at all.
        self.k = cfg.k
        self.k_search = min(max(cfg.k, 1), n - 1)
        self.layout = observation_layout(cfg)
        action_space = thrust_space(cfg.continuous_actions)
        self._groups = {"drone": GroupSpec.of("drone", n, self.layout, action_space)}

    def groups(self) -> dict[str, GroupSpec]:
        return self._groups

    def state_size(self) -> int:
        return 6 * self.cfg.n_agents

    def make_world(self, num_worlds: int) -> WorldBatch:
        cfg = self.cfg
        world = WorldBatch(
            num_worlds, cfg.side, cfg.side, dt=cfg.dt, substeps=cfg.substeps, damping=cfg.damping
        )
        world.geometry.add_walls(cfg.side, cfg.side, thickness=0.5)
        self.drones = world.add_group(
            "drone",
            cfg.n_agents,
            radius=cfg.drone_radius,
            mass=1.0,
            # Discrete thrusts are unit directions times max_force: no norm limit needed.
            dynamics=HolonomicPointMass(
                cfg.max_force, cfg.max_speed, limit_force=cfg.continuous_actions
            ),
        )
        n = cfg.n_agents
        self.landmarks = np.zeros((num_worlds, n), np.complex64)  # x + iy
        self.obs = obs = self.layout.buffer(num_worlds, n)
        # The blocks written every step, as views (one lookup here, none per step). The
        # sensors write the landmark and neighbour blocks in place.
        self._own = obs["own"]
        self._landmark_offset = obs.complex("landmarks")[..., 0]
        self._nearest = np.zeros((num_worlds, n), np.float32)
        self._near = None
        if self.k_search:
            views = {}
            if self.k:  # the search and the observation hold the same neighbours
                neighbours = obs.complex("neighbours")
                views = {
                    "offset": neighbours[..., 0],
                    "velocity": neighbours[..., 1],
                    "mask": obs.valid("neighbours"),
                }
            self._near = Neighbours.empty(num_worlds, n, self.k_search, count=True, **views)
        self._state = np.zeros((num_worlds, 6 * n), np.float32)
        self._frame: SpreadFrame | None = None
        self._metrics: dict[str, np.ndarray] | None = None
        self._reward = np.zeros((num_worlds, n), np.float32)
        self._minus_mean = np.float32(-1.0 / n)
        self._minus_penalty = np.float32(-self.cfg.collision_penalty)
        self._collision = np.zeros((num_worlds, n), np.float32)
        self._coverage = np.zeros((num_worlds, 1), np.float32)
        self._rewards = Reward(
            {"drone": self._reward}, {"coverage": self._coverage, "collision": self._collision}
        )
        self._no_overlaps = np.zeros((num_worlds, n), np.float32)
        self._no_neighbour = np.full((num_worlds, 1), np.inf, np.float32)
        if self._near is not None:  # what nearest_neighbours works out at every call, once
            limit = 2 * self.cfg.drone_radius + self.cfg.contact_margin
            near = self._near
            self._knn = nearest_arguments(num_worlds, n, self.k_search, near, count_within=limit)
        return world

    def reset(self, world: WorldBatch, rng: WorldRandom, env_ids: np.ndarray) -> None:
        cfg = self.cfg
        n, count = cfg.n_agents, len(env_ids)
        reach = cfg.side / 2 - 2 * cfg.drone_radius
        # One draw per world: its landmarks' x, then y, then the drones' spawn numbers (the
        # same numbers, in the same order, as a draw for each).
        uniforms = rng.random((count, 2 * n + spaced_draws(n)))
        low, high = np.asarray(-reach, float), np.asarray(reach, float)
        landmarks = low + (high - low) * uniforms[:, : 2 * n].reshape(count, 2, n)
        self.landmarks.real[env_ids] = landmarks[:, 0]
        self.landmarks.imag[env_ids] = landmarks[:, 1]
        spacing = 2.5 * cfg.drone_radius
        x, y = spaced_points(None, count, n, reach, spacing, uniforms[:, 2 * n :])
        world.reset_bodies("drone", env_ids, x, y)

    def apply_actions(self, world: WorldBatch, actions: dict[str, np.ndarray]) -> None:
        cfg = self.cfg
        write_thrust(actions["drone"], self.drones.command, cfg.max_force, cfg.continuous_actions)

    def sense(self, world: WorldBatch, episode: Episode) -> SpreadFrame:
        drones = self.drones
        # Landmarks relative to each drone and each landmark's nearest drone, computed straight
        # into the observation; then the nearest drones and the overlap counts, likewise: the
        # kernels of point_offsets and nearest_neighbours in one compiled call (spread_sense).
        offset, nearest = self._landmark_offset, self._nearest
        near, overlaps = self._near, self._no_overlaps
        if near is not None:
            position = drones.position
            spread_sense(position, drones.velocity, self.landmarks, offset, nearest, self._knn)
            overlaps = near.count
        else:
            point_offsets(drones.position, self.landmarks, offset, nearest)
        frame = self._frame
        if frame is None or frame.world is not world or frame.episode is not episode:
            # Every field is a buffer the sensors refill: one frame object serves every step.
            frame = self._frame = SpreadFrame(world, episode, near, offset, nearest, overlaps)
        return frame

    def observe(self, frame: SpreadFrame) -> dict[str, np.ndarray]:
        copy_into(self._own, self.drones.kinematics)  # x, y, vx, vy; the rest is sensed
        return {"drone": self.obs.array}

    def reward(self, frame: SpreadFrame) -> Reward:
        # -mean over landmarks, (B, 1). A row reduction, not a matrix product: BLAS sums a row
        # in an order that depends on how many rows there are (world 0 would depend on B).
        # -mean over landmarks, (B, 1). A row reduction, not a matrix product: BLAS sums a row
        # in an order that depends on how many rows there are (world 0 would depend on B).
        # Then one compiled pass (below): the team term is the same for every drone; the
        # buffers and dicts are the scenario's own, refilled every step.
        total = np.add.reduce(frame.nearest, axis=1, keepdims=True, out=self._coverage)
        spread_reward(
            total,
            frame.overlaps,
            self._minus_mean,
            self._minus_penalty,
            self._coverage,
            self._collision,
            self._reward,
        )
        return self._rewards

    def metrics(self, frame: SpreadFrame) -> dict[str, np.ndarray]:
        metrics = self._metrics
        if metrics is None or metrics["collisions"] is not frame.overlaps:
            covered = np.zeros(frame.nearest.shape, bool)  # (B, L): mean over landmarks
            closest = self._no_neighbour if frame.near is None else frame.near.dist[..., 0]
            metrics = self._metrics = {
                "coverage": covered,
                "coverage_mean": covered,
                "collisions": frame.overlaps,
                "min_separation": closest,
            }
        np.less(frame.nearest, self.cfg.cover_radius, out=metrics["coverage"])
        return metrics

    def state(self, frame: Frame) -> np.ndarray:
        n, drones, state = self.cfg.n_agents, self.drones, self._state
        landmarks = self.landmarks
        columns = (drones.x, drones.y, drones.vx, drones.vy, landmarks.real, landmarks.imag)
        for i, values in enumerate(columns):
            state[:, i * n : (i + 1) * n] = values
        return state

    def render_extra(self, frame: Frame, canvas, env_index: int) -> None:
        drones = self.drones
        for landmark in self.landmarks[env_index].tolist():
            lx, ly = landmark.real, landmark.imag
            distance = np.hypot(drones.x[env_index] - lx, drones.y[env_index] - ly).min()
            color = (138, 226, 52) if distance < self.cfg.cover_radius else (252, 175, 62)
            canvas.circle(lx, ly, self.cfg.cover_radius, fill=None, outline=color, width=2)
            canvas.circle(lx, ly, 0.03, fill=color)

    def scripted_policy(self) -> GreedySpreadPolicy:
        return GreedySpreadPolicy(self.cfg)


class GreedySpreadPolicy(ScriptedPolicy):
    """Scripted baseline: greedy landmark assignment, then a proportional velocity controller
    (``common.steer``). Acts for every drone of every world at once from the joint observation
    ``(B, N, obs)``; it has no memory."""

    groups = ("drone",)

    def __init__(self, cfg: SpreadConfig, gain: float = 2.0) -> None:
        self.cfg = cfg
        self.gain = gain
        self.layout = observation_layout(cfg)

    def act(self, obs: dict[str, np.ndarray], action_mask=None, deterministic: bool = True):
        cfg, layout = self.cfg, self.layout
        o = obs["drone"]
        position, velocity = layout.read_complex(o, "own").transpose(2, 0, 1)  # (B, N) each
        # Drone 0's view of the landmarks, in world coordinates: (B, 1, L) complex.
        landmarks = position[:, :1, None] + layout.read_complex(o[:, :1], "landmarks")[..., 0]
        target = self._assign(np.abs(landmarks - position[..., None]))
        goal = np.take_along_axis(landmarks[:, 0], target, axis=1)
        action = steer(
            position,
            velocity,
            goal,
            gain=self.gain,
            max_speed=cfg.max_speed,
            continuous=cfg.continuous_actions,
        )
        return {"drone": action}

    @staticmethod
    def _assign(dist: np.ndarray) -> np.ndarray:
        """Greedy matching per world: the closest free (drone, landmark) pair first."""
        batch, n, landmarks = dist.shape
        dist = dist.astype(np.float64).copy()
        target = np.zeros((batch, n), np.int64)
        rows = np.arange(batch)
        for _ in range(min(n, landmarks)):
            flat = dist.reshape(batch, -1).argmin(axis=1)
            drone, landmark = np.divmod(flat, landmarks)
            target[rows, drone] = landmark
            dist[rows, drone, :] = np.inf
            dist[rows, :, landmark] = np.inf
        return target


@kernel
def spread_sense(position, velocity, landmarks, offset, nearest, knn):
    """``Spread.sense`` in one call: the kernels of ``point_offsets`` (landmark offsets and
    each landmark's nearest drone) and of ``nearest_neighbours`` (``knn``: its arguments after
    positions and velocities, ``worlds.sensors.nearest_arguments``), as the sensors call them."""
    k, near2, live, use_alive, count_r2, spec, keys, outputs = knn
    point_offsets_kernel(position, landmarks, offset, nearest)
    px, py, vx, vy = position.real, position.imag, velocity.real, velocity.imag
    nearest_kernel(px, py, vx, vy, k, near2, live, use_alive, count_r2, spec, keys, outputs)


@kernel
def spread_reward(total, overlaps, minus_mean, minus_penalty, coverage, collision, reward):
    """``coverage = minus_mean * total`` (``total`` ``(B, 1)``: each world's summed nearest
    distances, numpy's row sum), ``collision = minus_penalty * overlaps`` and
    ``reward = coverage + collision`` (``total`` and ``coverage`` may be one array)."""
    for b in range(total.shape[0]):
        team = total[b, 0] * minus_mean
        coverage[b, 0] = team
        for i in range(overlaps.shape[1]):
            hit = overlaps[b, i] * minus_penalty
            collision[b, i] = hit
            reward[b, i] = team + hit


document(Spread)

if __name__ == "__main__":
    import sys

    from scenarios.replay import main as replay_main

    raise SystemExit(replay_main(["swarm/spread-v0", *sys.argv[1:]]))
