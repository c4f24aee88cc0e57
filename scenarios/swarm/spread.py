"""swarm/spread-v0: N drones spread out to cover N landmarks in a walled arena.

The physical version of MPE's *simple spread*: drones are point masses with a thrust limit, drag
and a speed cap, they collide for real with each other and with the walls, and the team is scored
on how close the landmarks' nearest drones are.

Agents
    One group, ``drone``, of ``n_agents`` drones (ids ``drone_0`` ...). No drone ends early.

Observation (float32, per drone)
    ``[x, y, vx, vy, (lx_j - x, ly_j - y) for each landmark j,
    (dx, dy, dvx, dvy) for each of the k nearest drones, valid for each of them]``, where
    ``k = min(k_neighbours, n_agents - 1)``; neighbours are sorted by distance. Size
    ``4 + 2 * n_agents + 5 * k``. Positions are in metres with the arena centred on the origin.

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
from gymnasium import spaces

from scenarios.core import MAX_STEPS, GroupSpec, Scenario, check
from scenarios.fields import param
from scenarios.registry import register
from scenarios.seeding import WorldRandom
from scenarios.swarm.common import DIRECTIONS, SwarmConfig
from scenarios.swarm.common import spaced_points as _spaced_points
from worlds import HolonomicPointMass, WorldBatch
from worlds.sensors import nearest_neighbours, pairwise


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
        n, k = cfg.n_agents, cfg.k
        self.k = k
        # The search finds at least the nearest drone (collisions, min_separation), also when
        # the observation shows none; a lone drone has no neighbour at all.
        self.k_search = min(max(k, 1), n - 1)
        self.obs_size = 4 + 2 * n + 5 * k
        if cfg.continuous_actions:
            action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        else:
            action_space = spaces.Discrete(len(DIRECTIONS))
        observation_space = spaces.Box(-np.inf, np.inf, (self.obs_size,), np.float32)
        self._groups = {"drone": GroupSpec("drone", n, observation_space, action_space)}
        self.reward_terms: dict[str, np.ndarray] = {}

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
        self.landmark_x, self.landmark_y = self.landmarks.real, self.landmarks.imag
        self._obs = obs = np.zeros((num_worlds, n, self.obs_size), np.float32)
        # Complex views of the observation's (x, y) pairs: one write per block of vectors.
        k = self.k
        self._obs_landmarks = obs[..., 4 : 4 + 2 * n].view(np.complex64)
        neighbours = obs[..., 4 + 2 * n : 4 + 2 * n + 4 * k].view(np.complex64)
        self._obs_neighbours = neighbours.reshape(num_worlds, n, k, 2)
        self._obs_valid = obs[..., 4 + 2 * n + 4 * k :]
        self._state = np.zeros((num_worlds, 6 * n), np.float32)
        self._reward = np.zeros((num_worlds, n), np.float32)
        self._ones = np.ones(n, np.float32)
        self._minus_mean = np.float32(-1.0 / n)
        self._zero_count = np.zeros((num_worlds, n), np.float32)
        self._no_neighbour = np.full((num_worlds, 1), np.inf, np.float32)
        return world

    def reset(self, world: WorldBatch, rng: WorldRandom, env_ids: np.ndarray) -> None:
        cfg = self.cfg
        n, count = cfg.n_agents, len(env_ids)
        reach = cfg.side / 2 - 2 * cfg.drone_radius
        self.landmark_x[env_ids] = rng.uniform(-reach, reach, (count, n))
        self.landmark_y[env_ids] = rng.uniform(-reach, reach, (count, n))
        x, y = _spaced_points(rng, count, n, reach, 2.5 * cfg.drone_radius)
        world.reset_bodies("drone", env_ids, x, y)

    def apply_actions(self, world: WorldBatch, actions: dict[str, np.ndarray]) -> None:
        act = actions["drone"]
        command = self.drones.command
        if self.cfg.continuous_actions:
            np.clip(act, -1.0, 1.0, out=command)
            command *= self.cfg.max_force
        else:
            np.multiply(DIRECTIONS[act], self.cfg.max_force, out=command)

    def observe(self, world: WorldBatch) -> dict[str, np.ndarray]:
        drones = self.drones
        self._obs[..., :4] = drones.kinematics  # x, y, vx, vy in one copy
        # Landmarks relative to each drone (B, N drones, N landmarks), computed straight into
        # the observation through its complex view; the reward reuses them.
        np.subtract(
            self.landmarks[:, None, :], drones.position[:, :, None], out=self._obs_landmarks
        )
        self._pair = pair = pairwise(drones.position)
        if self.k_search:
            self._near = near = nearest_neighbours(
                drones.position, drones.velocity, self.k_search, pair=pair
            )
        if self.k:
            k = self.k
            self._obs_neighbours[..., 0] = near.offset[..., :k]
            self._obs_neighbours[..., 1] = near.velocity[..., :k]
            self._obs_valid[...] = near.mask[..., :k]
        return {"drone": self._obs}

    def _nearest_landmark_distance(self) -> np.ndarray:
        """Distance from each landmark to its nearest drone, ``(B, L)``."""
        return np.minimum.reduce(np.abs(self._obs_landmarks), axis=1)

    def _overlaps(self) -> np.ndarray:
        """Number of other drones each drone overlaps, ``(B, N)`` float32."""
        limit = 2 * self.cfg.drone_radius + self.cfg.contact_margin
        if self.k_search == 0 or self._near.dist[..., 0].min() >= limit:
            return self._zero_count  # the common case: nobody touches anybody
        touching = self._pair.dist2 < limit * limit  # includes each drone itself
        # Row sums through a matrix product: numpy reductions over a short last axis are slow.
        return touching.astype(np.float32) @ self._ones - 1.0

    def reward(self, world: WorldBatch) -> dict[str, np.ndarray]:
        nearest = self._nearest_landmark_distance()
        # -mean over landmarks, (B, 1). A row reduction, not a matrix product: BLAS sums a row
        # in an order that depends on how many rows there are (world 0 would depend on B).
        coverage = np.add.reduce(nearest, axis=1, keepdims=True)
        coverage *= self._minus_mean
        collisions = self._overlaps()
        self._collisions = collisions
        self._nearest = nearest
        collision = collisions * np.float32(-self.cfg.collision_penalty)
        np.add(coverage, collision, out=self._reward)
        # The team term is (B, 1): the same for every drone.
        self.reward_terms = {"coverage": coverage, "collision": collision}
        return {"drone": self._reward}

    def metrics(self, world: WorldBatch) -> dict[str, np.ndarray]:
        covered = self._nearest < self.cfg.cover_radius  # (B, L): mean over landmarks
        return {
            "coverage": covered,
            "coverage_mean": covered,
            "collisions": self._collisions,
            "min_separation": self._near.dist[..., 0] if self.k_search else self._no_neighbour,
        }

    def state(self, world: WorldBatch) -> np.ndarray:
        n, drones, state = self.cfg.n_agents, self.drones, self._state
        for i, values in enumerate(
            (drones.x, drones.y, drones.vx, drones.vy, self.landmark_x, self.landmark_y)
        ):
            state[:, i * n : (i + 1) * n] = values
        return state

    def render_extra(self, world: WorldBatch, canvas, env_index: int) -> None:
        drones = self.drones
        for lx, ly in zip(self.landmark_x[env_index], self.landmark_y[env_index], strict=True):
            distance = np.hypot(drones.x[env_index] - lx, drones.y[env_index] - ly).min()
            color = (138, 226, 52) if distance < self.cfg.cover_radius else (252, 175, 62)
            canvas.circle(
                float(lx), float(ly), self.cfg.cover_radius, fill=None, outline=color, width=2
            )
            canvas.circle(float(lx), float(ly), 0.03, fill=color)

    def scripted_policy(self) -> GreedySpreadPolicy:
        return GreedySpreadPolicy(self.cfg)


class GreedySpreadPolicy:
    """Scripted baseline: greedy landmark assignment, then a proportional velocity controller.

    Acts for every drone of every world at once from the joint observation ``(B, N, obs)``.
    """

    def __init__(self, cfg: SpreadConfig, gain: float = 2.0) -> None:
        self.cfg = cfg
        self.gain = gain

    def act(self, obs: dict[str, np.ndarray], action_mask=None, deterministic: bool = True):
        cfg = self.cfg
        o = obs["drone"]
        n = cfg.n_agents
        px, py, vx, vy = o[..., 0], o[..., 1], o[..., 2], o[..., 3]
        lx = px[:, :1, None] + o[:, :1, 4 : 4 + 2 * n : 2]  # (B, 1, L) from drone 0's view
        ly = py[:, :1, None] + o[:, :1, 5 : 4 + 2 * n : 2]
        dist = np.hypot(lx - px[..., None], ly - py[..., None])  # (B, N, L)
        target = self._assign(dist)
        rows = np.arange(len(o))[:, None]
        goal_x, goal_y = lx[:, 0][rows, target], ly[:, 0][rows, target]
        want_x, want_y = self.gain * (goal_x - px), self.gain * (goal_y - py)
        speed = np.maximum(np.hypot(want_x, want_y) / cfg.max_speed, 1.0)
        thrust_x, thrust_y = want_x / speed - vx, want_y / speed - vy
        if cfg.continuous_actions:
            scale = np.maximum(np.hypot(thrust_x, thrust_y), 1e-6)
            unit = np.minimum(1.0, 4.0 * scale) / scale
            return {"drone": np.stack([thrust_x * unit, thrust_y * unit], -1).astype(np.float32)}
        score = thrust_x[..., None] * DIRECTIONS[:, 0] + thrust_y[..., None] * DIRECTIONS[:, 1]
        action = score.argmax(axis=-1)
        action[np.hypot(thrust_x, thrust_y) < 0.1] = 0
        return {"drone": action.astype(np.int64)}

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


if __name__ == "__main__":
    import sys

    from scenarios.replay import main as replay_main

    raise SystemExit(replay_main(["swarm/spread-v0", *sys.argv[1:]]))
