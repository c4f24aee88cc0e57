"""swarm/coverage-v0: a drone swarm covers a density of interest while staying connected.

Drones (point masses with a thrust limit, drag and a speed cap) take off from a small launch area
and spread over a walled arena to cover a *density of interest*, a mixture of Gaussians drawn per
episode, while their communication graph (an edge between two drones closer than
``comms_radius``) should stay connected. This is the classic coverage-control problem of Cortés,
Martínez, Karataş and Bullo (2004) with a connectivity constraint.

Agents
    One group, ``drone``, of ``n_agents`` drones (ids ``drone_0`` ...). No drone ends early.

Density
    On a ``grid_size x grid_size`` grid over the arena, per episode:
    ``phi(q) = density_floor + sum_m w_m exp(-|q - mu_m|^2 / (2 sigma_m^2))`` over
    ``n_gaussians`` components with centres ``mu_m`` uniform in the inner 80% of the arena,
    ``sigma_m`` uniform in ``[sigma_min, sigma_max] * side`` and ``w_m`` uniform in ``[0.5, 1]``;
    zero in cells under obstacles; normalized to sum 1 over the grid.

Observation (float32, per drone; the size does not depend on ``n_agents``)
    ``[x, y, vx, vy,`` the density patch: ``phi * grid_size^2`` (1 on average) at the
    ``patch_size x patch_size`` points ``(x + a * patch_spacing, y + b * patch_spacing)``,
    ``a, b = -(patch_size - 1)/2 ... (patch_size - 1)/2``, row by row (b outer), 0 off the grid,
    ``(dx, dy, dvx, dvy)`` of each of the ``k_neighbours`` nearest drones within
    ``comms_radius`` sorted by distance (zeros past the last one), a valid flag for each,
    and ``n_rays`` lidar distances (rays at angles ``2 pi r / n_rays`` from +x, against walls and
    obstacles, ``lidar_range`` when nothing is hit)``]``. Size
    ``4 + patch_size^2 + 5 * k_neighbours + n_rays``.

Actions
    ``Discrete(5)`` (default): no thrust, +x, -x, +y, -y at full thrust. With
    ``continuous_actions=True``: ``Box(-1, 1, (2,))``, thrust as a fraction of ``max_force``.

Reward (per drone, per step)
    ``coverage`` (team): ``coverage_reward * (C_t - C_{t-1})``, the gain in density-weighted
    coverage ``C = sum_q phi(q) [some drone within sensing_radius of q]`` (cell centres q), so
    an episode's sum is the coverage gained since the launch. ``collision``: minus
    ``collision_penalty`` for each other drone this drone overlaps (centres closer than two radii
    plus ``contact_margin``). ``connectivity`` (team): minus ``disconnect_penalty`` on every step
    the communication graph is disconnected.

Termination
    None; episodes are truncated after ``max_steps``.

Metrics (per episode)
    ``coverage``: ``C`` at the last step (a fraction, 1 = all interest covered);
    ``coverage_mean``: ``C`` averaged over the episode; ``cost_ratio``: the locational cost
    ``H(p) = sum_q phi(q) min_i |q - p_i|^2`` at the last step divided by ``H`` of the Lloyd
    reference (the positions reached by ``lloyd_iterations`` exact Lloyd iterations on a
    ``reference_grid`` grid holding the same density summed over blocks of cells, started from
    the episode's launch positions; computed at reset and measured on the full grid; 1 = as
    good as the reference, below 1 is better); ``collisions``: overlapping drones per drone-step;
    ``min_separation``: smallest centre distance between two drones;
    ``algebraic_connectivity``: the second smallest eigenvalue of the communication graph's
    Laplacian ``D - A`` at the last step (0 when disconnected); ``connected``: fraction of steps
    with a connected graph. ``cost_ratio`` and ``algebraic_connectivity`` are evaluated only at
    an episode's last step (the only value reported), which keeps the per-step cost low.

State (for a centralized critic)
    All drones' ``x, y, vx, vy`` (blocks of ``n_agents``), then each Gaussian's
    ``mu_x, mu_y, sigma, w``: ``4 * n_agents + 4 * n_gaussians`` floats.

Scripted baseline (``LloydPolicy``)
    Lloyd's algorithm: each drone steers toward the density-weighted centroid of its Voronoi
    cell, ``c_i = sum_{q in V_i} phi(q) q / sum_{q in V_i} phi(q)`` with
    ``V_i = {q : |q - p_i| <= |q - p_j| for all j}`` (grid cells), through the velocity
    controller ``v* = gain * (c_i - p_i)`` capped at ``max_speed``, thrust toward ``v* - v``
    (discrete: the best matching direction). It reads the density grid from the scenario
    (Lloyd's needs the density over the whole cell; drones know positions from observations).
    It does not enforce connectivity.

Parameters: see ``CoverageConfig``. Render an episode of the baseline with
``python -m scenarios.swarm.coverage`` or ``marl play swarm/coverage-v0``.
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
from scenarios.swarm.common import (
    SwarmConfig,
    algebraic_connectivity,
    is_connected,
    overlap_counts,
    spaced_points,
    steer,
    thrust_space,
    write_thrust,
)
from worlds import HolonomicPointMass, WorldBatch
from worlds.coverage import GridField
from worlds.sensors import nearest_neighbours, pairwise
from worlds.visibility import box_lidar

LAUNCH_SPACING = 0.4
"""Distance between neighbouring drones on the launch grid, metres."""


@dataclass(frozen=True)
class CoverageConfig(SwarmConfig):
    max_steps: int = param(100, low=1, high=MAX_STEPS)
    """Steps per episode (dt each) before truncation."""
    n_agents: int = param(8, low=2, high=256)
    """Number of drones."""
    n_gaussians: int = param(3, low=1, high=64)
    """Components of the density mixture."""
    n_obstacles: int = param(0, low=0, high=8)
    """Square obstacles on a ring around the launch area (0 to 8)."""
    k_neighbours: int = param(4, low=0, high=256)
    """Nearest drones within comms range in each observation (zero-padded)."""
    arena_size: float = param(0.0, low=0.0, high=100.0)
    """Side of the square arena in metres; 0 scales it as 0.8 * sqrt(n_agents)."""
    grid_size: int = param(32, low=4, high=128)
    """Density grid cells per side."""
    density_floor: float = param(0.05, low=0.0, high=10.0)
    """Interest everywhere, relative to a unit-weight Gaussian's peak."""
    sigma_min: float = param(0.06, low=0.001, high=1.0)
    """Smallest Gaussian spread, as a fraction of the arena side."""
    sigma_max: float = param(0.16, low=0.001, high=1.0)
    """Largest Gaussian spread, as a fraction of the arena side."""
    sensing_radius: float = param(0.35, low=0.0, high=100.0, low_open=True)
    """A cell counts as covered when a drone is this close to its centre, metres."""
    comms_radius: float = param(1.0, low=0.0, high=1000.0, low_open=True)
    """Two drones communicate when this close, metres."""
    patch_size: int = param(5, low=1, high=33)
    """Density samples per side of the observed patch."""
    patch_spacing: float = param(0.15, low=0.0, high=10.0, low_open=True)
    """Distance between density samples of the patch, metres."""
    n_rays: int = param(8, low=0, high=360)
    """Lidar rays per drone (against walls and obstacles)."""
    lidar_range: float = param(1.0, low=0.0, high=1000.0, low_open=True)
    """Lidar range in metres."""
    obstacle_size: float = param(0.12, low=0.0, high=0.5, low_open=True)
    """Obstacle side as a fraction of the arena side."""
    coverage_reward: float = param(10.0, low=0.0, high=10_000.0)
    """Scale of the team's coverage gain reward."""
    disconnect_penalty: float = param(0.1, low=0.0, high=10_000.0)
    """Team reward subtracted on each step the communication graph is disconnected."""
    lloyd_iterations: int = param(12, low=0, high=1000)
    """Lloyd iterations of the reference that ``cost_ratio`` divides by."""
    reference_grid: int = param(16, low=2, high=128)
    """Cells per side of the grid the Lloyd reference runs on (divides grid_size)."""

    def validate(self, scenario_id: str) -> None:
        super().validate(scenario_id)
        c = scenario_id
        check(
            c,
            self.grid_size % self.reference_grid == 0,
            "reference_grid",
            f"must divide grid_size ({self.grid_size})",
            self.reference_grid,
        )
        check(
            c, self.sigma_max >= self.sigma_min, "sigma_max", "must be >= sigma_min", self.sigma_max
        )
        launch = self.launch_reach + self.drone_radius
        check(
            c,
            launch < self.side / 2,
            "arena_size",
            f"must exceed the launch area {2 * launch:.2f} m, set by n_agents "
            f"({self.n_agents}) and drone_radius ({self.drone_radius:g})",
            self.side,
        )
        for ox, oy, half in self.obstacles:
            clear = max(abs(ox), abs(oy)) - half
            check(
                c,
                clear > launch,
                "obstacle_size",
                f"with n_obstacles {self.n_obstacles} leaves no room for the launch area of "
                f"n_agents ({self.n_agents}) drones in arena_size {self.side:.3g}",
                self.obstacle_size,
            )

    @property
    def side(self) -> float:
        return self.arena_size or 0.8 * math.sqrt(self.n_agents)

    @property
    def launch_reach(self) -> float:
        """Half-width of the square launch area."""
        return LAUNCH_SPACING * math.ceil(math.sqrt(self.n_agents)) / 2

    @property
    def obstacles(self) -> list[tuple[float, float, float]]:
        """``(x, y, half side)`` of each square obstacle, on a ring at 0.38 of the side."""
        ring, half = 0.38 * self.side, self.obstacle_size * self.side / 2
        angles = [2 * math.pi * k / max(self.n_obstacles, 1) for k in range(self.n_obstacles)]
        return [(ring * math.cos(a), ring * math.sin(a), half) for a in angles]


@register("swarm/coverage-v0")
class Coverage(Scenario):
    config_class = CoverageConfig
    metric_reduce = {
        "coverage": "last",
        "coverage_mean": "mean",
        "cost_ratio": "last",
        "collisions": "mean",
        "min_separation": "min",
        "algebraic_connectivity": "last",
        "connected": "mean",
    }

    def __init__(self, cfg: CoverageConfig) -> None:
        super().__init__(cfg)
        self.k = cfg.k_neighbours
        self.k_found = min(cfg.k_neighbours, cfg.n_agents - 1)
        # The search finds at least the nearest drone (for collisions and min_separation),
        # also when the observation shows none.
        self.k_search = max(self.k_found, 1)
        self.obs_size = 4 + cfg.patch_size**2 + 5 * self.k + cfg.n_rays
        observation_space = spaces.Box(-np.inf, np.inf, (self.obs_size,), np.float32)
        action_space = thrust_space(cfg.continuous_actions)
        self._groups = {"drone": GroupSpec("drone", cfg.n_agents, observation_space, action_space)}
        self.reward_terms: dict[str, np.ndarray] = {}
        steps = np.arange(cfg.patch_size, dtype=np.float32) - (cfg.patch_size - 1) / 2
        self.patch_steps = (steps * cfg.patch_spacing).astype(np.float32)

    def groups(self) -> dict[str, GroupSpec]:
        return self._groups

    def state_size(self) -> int:
        return 4 * self.cfg.n_agents + 4 * self.cfg.n_gaussians

    # ------------------------------------------------------------------------------ world
    def make_world(self, num_worlds: int) -> WorldBatch:
        cfg = self.cfg
        side = cfg.side
        world = WorldBatch(
            num_worlds, side, side, dt=cfg.dt, substeps=cfg.substeps, damping=cfg.damping
        )
        world.geometry.add_walls(side, side, thickness=0.5)
        for ox, oy, half in cfg.obstacles:
            world.geometry.add_box((ox, oy), (2 * half, 2 * half))
        self.drones = world.add_group(
            "drone",
            cfg.n_agents,
            radius=cfg.drone_radius,
            mass=1.0,
            dynamics=HolonomicPointMass(cfg.max_force, cfg.max_speed),
        )
        # The lidar sees the arena boundary (the walls' inner faces) and the obstacles.
        self.obstacle_boxes = np.array(
            [(ox, oy, half, half) for ox, oy, half in cfg.obstacles], np.float32
        ).reshape(-1, 4)
        patch_cells = math.ceil(float(np.abs(self.patch_steps).max()) * cfg.grid_size / side)
        self.field = GridField(num_worlds, cfg.grid_size, side, border=patch_cells + 2)
        self.field.patch_scale = cfg.grid_size**2  # patches read phi * G^2 (1 on average)
        self.reference_field = GridField(num_worlds, cfg.reference_grid, side)
        self.free_cells = np.ones(cfg.grid_size**2, bool)
        for ox, oy, half in cfg.obstacles:
            inside = (np.abs(self.field.centres.real - ox) <= half + cfg.drone_radius) & (
                np.abs(self.field.centres.imag - oy) <= half + cfg.drone_radius
            )
            self.free_cells &= ~inside
        m = cfg.n_gaussians
        self.mixture = np.zeros((num_worlds, 4, m), np.float32)  # mu_x, mu_y, sigma, w
        n, k = cfg.n_agents, self.k
        self._obs = obs = np.zeros((num_worlds, n, self.obs_size), np.float32)
        start = 4 + cfg.patch_size**2
        self._obs_patch = obs[..., 4:start]
        self._obs_patch_grid = self._obs_patch.reshape(num_worlds, n, cfg.patch_size, -1)  # a view
        neighbours = obs[..., start : start + 4 * k].view(np.complex64)
        self._obs_neighbours = neighbours.reshape(num_worlds, n, k, 2)
        self._obs_valid = obs[..., start + 4 * k : start + 5 * k]
        self._obs_lidar = obs[..., start + 5 * k :]
        self._state = np.zeros((num_worlds, self.state_size()), np.float32)
        self._reward = np.zeros((num_worlds, n), np.float32)
        self._ones = np.ones(n, np.float32)
        self.coverage = np.zeros(num_worlds, np.float32)
        self._previous_coverage = np.zeros(num_worlds, np.float32)
        self.lloyd_cost = np.ones(num_worlds)
        self.cost_ratio = np.full(num_worlds, np.nan)
        self.fiedler = np.full(num_worlds, np.nan)
        self.steps = np.zeros(num_worlds, np.int64)
        self._oldest_step = 0
        self._no_overlaps = np.zeros((num_worlds, n), np.float32)
        return world

    def reset(self, world: WorldBatch, rng: WorldRandom, env_ids: np.ndarray) -> None:
        cfg = self.cfg
        n, count, side = cfg.n_agents, len(env_ids), cfg.side
        self._draw_density(rng, env_ids)
        reach = cfg.launch_reach
        room = 0.0 if cfg.n_obstacles else side / 2 - reach - 2 * cfg.drone_radius
        centre = rng.uniform(-room, room, (count, 2, 1))
        x, y = spaced_points(rng, count, n, reach, 2.5 * cfg.drone_radius)
        world.reset_bodies("drone", env_ids, x + centre[:, 0], y + centre[:, 1])
        start = self.drones.position[env_ids]
        weights = self.field.values[env_ids]
        covered = self.field.disc_cover(start, cfg.sensing_radius)
        self.coverage[env_ids] = np.einsum("bc,bc->b", weights, covered)
        self._previous_coverage[env_ids] = self.coverage[env_ids]
        fine, coarse = cfg.grid_size, cfg.reference_grid
        block = fine // coarse
        # Block sums: over each block's rows (a middle axis), then its columns (strided adds).
        rows = np.add.reduce(weights.reshape(count, coarse, block, fine), axis=2)
        coarse_weights = rows[..., 0::block].copy()
        for column in range(1, block):
            coarse_weights += rows[..., column::block]
        coarse_weights = coarse_weights.reshape(count, coarse * coarse)
        reference = self.reference_field.lloyd(start, cfg.lloyd_iterations, coarse_weights)
        self.lloyd_cost[env_ids] = self.field.locational_cost(reference, weights)
        self.cost_ratio[env_ids] = np.nan
        self.fiedler[env_ids] = np.nan
        self.steps[env_ids] = 0
        self._oldest_step = int(self.steps.max())

    def _draw_density(self, rng: WorldRandom, env_ids: np.ndarray) -> None:
        cfg = self.cfg
        count, m, side = len(env_ids), cfg.n_gaussians, cfg.side
        mu_x, mu_y = rng.uniform(-0.4 * side, 0.4 * side, (count, 2, m)).transpose(1, 0, 2)
        sigma = rng.uniform(cfg.sigma_min, cfg.sigma_max, (count, m)) * side
        weight = rng.uniform(0.5, 1.0, (count, m))
        self.mixture[env_ids] = np.stack([mu_x, mu_y, sigma, weight], 1)
        # float32 throughout: this runs for every reset world. A Gaussian is separable,
        # exp(-(dx^2 + dy^2) / 2s^2) = exp(-dx^2 / 2s^2) exp(-dy^2 / 2s^2): per-axis factors
        # (worlds, components, G), combined over the components by a batched matrix product.
        g = cfg.grid_size
        precision = (-0.5 / sigma**2).astype(np.float32)[..., None]
        along_x = self.field.cx - mu_x.astype(np.float32)[..., None]
        along_y = self.field.cy - mu_y.astype(np.float32)[..., None]
        factors = np.stack([along_x, along_y])  # (2, worlds, components, G)
        factors *= factors
        factors *= precision
        np.exp(factors, out=factors)
        factors[1] *= weight.astype(np.float32)[..., None]
        density = np.matmul(factors[1].transpose(0, 2, 1), factors[0])  # (worlds, G rows, G)
        density = density.reshape(count, g * g)
        density += np.float32(cfg.density_floor)
        density *= self.free_cells
        self.field.values[env_ids] = density / density.sum(axis=1, keepdims=True)
        self.field.refresh()

    # ------------------------------------------------------------------------------- step
    def apply_actions(self, world: WorldBatch, actions: dict[str, np.ndarray]) -> None:
        cfg = self.cfg
        write_thrust(actions["drone"], self.drones.command, cfg.max_force, cfg.continuous_actions)
        self.steps += 1
        self._oldest_step += 1

    def observe(self, world: WorldBatch) -> dict[str, np.ndarray]:
        cfg, drones = self.cfg, self.drones
        position = drones.position
        self._obs[..., :4] = drones.kinematics
        patch = self.field.sample_patch(position, self.patch_steps, self.patch_steps)
        self._obs_patch_grid[...] = patch  # already scaled by grid_size^2 (field.patch_scale)
        self._pair = pair = pairwise(position)
        self._near = near = nearest_neighbours(position, drones.velocity, self.k_search, pair=pair)
        self._adjacent = pair.dist2 <= np.float32(cfg.comms_radius**2)
        if self.k_found:
            k = self.k_found
            in_range = near.dist[..., :k] <= np.float32(cfg.comms_radius)
            found = self._obs_neighbours[:, :, :k]
            np.multiply(near.offset[..., :k], in_range, out=found[..., 0])
            np.multiply(near.velocity[..., :k], in_range, out=found[..., 1])
            self._obs_valid[..., :k] = in_range
        if cfg.n_rays:
            self._obs_lidar[...] = box_lidar(
                drones.x,
                drones.y,
                cfg.n_rays,
                cfg.lidar_range,
                room=(cfg.side / 2, cfg.side / 2),
                boxes=self.obstacle_boxes,
            )
        return {"drone": self._obs}

    def reward(self, world: WorldBatch) -> dict[str, np.ndarray]:
        cfg = self.cfg
        self._previous_coverage[...] = self.coverage
        self.coverage, self._covered = self.field.covered_weight(
            self.drones.position, cfg.sensing_radius
        )
        gain = (self.coverage - self._previous_coverage)[:, None]
        gain *= np.float32(cfg.coverage_reward)
        limit = 2 * cfg.drone_radius + cfg.contact_margin
        self._collisions = self._overlaps(limit)
        collision = self._collisions * np.float32(-cfg.collision_penalty)
        self._connected = is_connected(self._adjacent)
        connectivity = np.where(self._connected, 0.0, -cfg.disconnect_penalty).astype(np.float32)
        connectivity = connectivity[:, None]
        np.add(gain, collision, out=self._reward)
        self._reward += connectivity
        self.reward_terms = {"coverage": gain, "collision": collision, "connectivity": connectivity}
        if self._oldest_step >= cfg.max_steps:
            self._episode_end_figures(np.flatnonzero(self.steps >= cfg.max_steps))
        return {"drone": self._reward}

    def _overlaps(self, limit: float) -> np.ndarray:
        """Other drones each drone overlaps, ``(B, N)`` float32. Read off the sorted k-nearest
        distances when that is exact (no drone has all k nearest within the limit), else from
        the whole distance table."""
        nearest = self._near.dist
        if nearest[..., 0].min() >= limit:
            return self._no_overlaps
        touching = nearest < np.float32(limit)
        if self.k_search < self.cfg.n_agents - 1 and touching[..., -1].any():
            return overlap_counts(self._pair.dist2, limit, self._ones)
        return touching.astype(np.float32) @ self._ones[: self.k_search]

    def _episode_end_figures(self, env_ids: np.ndarray) -> None:
        """The costly figures reported only at an episode's last step: cost ratio and the
        algebraic connectivity."""
        position = self.drones.position[env_ids]
        cost = self.field.locational_cost(position, self.field.values[env_ids])
        self.cost_ratio[env_ids] = cost / np.maximum(self.lloyd_cost[env_ids], 1e-12)
        # Zero where the graph is disconnected; eigenvalues only for the connected worlds.
        connected = env_ids[self._connected[env_ids]]
        self.fiedler[env_ids] = 0.0
        if connected.size:
            self.fiedler[connected] = algebraic_connectivity(self._adjacent[connected])

    def metrics(self, world: WorldBatch) -> dict[str, np.ndarray]:
        return {
            "coverage": self.coverage,
            "coverage_mean": self.coverage,
            "cost_ratio": self.cost_ratio,
            "collisions": self._collisions,
            "min_separation": self._near.dist[..., 0],
            "algebraic_connectivity": self.fiedler,
            "connected": self._connected,
        }

    def state(self, world: WorldBatch) -> np.ndarray:
        n, drones, state = self.cfg.n_agents, self.drones, self._state
        for i, values in enumerate((drones.x, drones.y, drones.vx, drones.vy)):
            state[:, i * n : (i + 1) * n] = values
        state[:, 4 * n :] = self.mixture.transpose(0, 2, 1).reshape(len(state), -1)
        return state

    # ---------------------------------------------------------------------------- render
    def render_extra(self, world: WorldBatch, canvas, env_index: int) -> None:
        from worlds.render import GROUP_COLORS  # rendering only: keep Pillow off the import

        cfg, field = self.cfg, self.field
        values = field.values[env_index]
        peak = max(float(values.max()), 1e-12)
        half = field.cell / 2
        covered = self.field.disc_cover(self.drones.position, cfg.sensing_radius)[env_index]
        for cell in np.flatnonzero(values > 0.05 * peak).tolist():
            level = float(values[cell]) / peak
            centre = field.centres[cell]
            x, y = float(centre.real), float(centre.imag)
            shade = (
                (255, int(240 - 150 * level), int(220 - 200 * level))
                if covered[cell]
                else (int(250 - 60 * level), int(250 - 60 * level), int(246 - 60 * level))
            )
            canvas.polygon(
                [
                    (x - half, y - half),
                    (x + half, y - half),
                    (x + half, y + half),
                    (x - half, y + half),
                ],
                fill=shade,
            )
        x, y = self.drones.x[env_index], self.drones.y[env_index]
        adjacent = self._adjacent[env_index] if hasattr(self, "_adjacent") else None
        connected = bool(self._connected[env_index]) if hasattr(self, "_connected") else True
        color = (78, 154, 6) if connected else (204, 0, 0)
        for i in range(cfg.n_agents):
            canvas.circle(
                float(x[i]), float(y[i]), cfg.sensing_radius, fill=None, outline=(180, 180, 200)
            )
            if adjacent is None:
                continue
            for j in np.flatnonzero(adjacent[i, i + 1 :]).tolist():
                j += i + 1
                canvas.line(float(x[i]), float(y[i]), float(x[j]), float(y[j]), color)
        for i in range(cfg.n_agents):  # the drones again, on top of the density
            canvas.circle(float(x[i]), float(y[i]), cfg.drone_radius, fill=GROUP_COLORS[0])
        canvas.text(-cfg.side / 2, cfg.side / 2, f"coverage {float(self.coverage[env_index]):.2f}")

    def scripted_policy(self) -> LloydPolicy:
        return LloydPolicy(self)


class LloydPolicy:
    """Scripted baseline: Lloyd's algorithm (see the module documentation).

    Acts for every drone of every world at once; reads drones' positions and velocities from
    the observation and the density grid from ``scenario``.
    """

    def __init__(self, scenario: Coverage, gain: float = 2.0) -> None:
        self.scenario = scenario
        self.gain = gain

    def act(self, obs: dict[str, np.ndarray], action_mask=None, deterministic: bool = True):
        cfg = self.scenario.cfg
        o = obs["drone"]
        position = (o[..., 0] + 1j * o[..., 1]).astype(np.complex64)
        velocity = (o[..., 2] + 1j * o[..., 3]).astype(np.complex64)
        centroid, _ = self.scenario.field.voronoi_centroids(position)
        action = steer(
            position,
            velocity,
            centroid,
            gain=self.gain,
            max_speed=cfg.max_speed,
            continuous=cfg.continuous_actions,
        )
        return {"drone": action}


if __name__ == "__main__":
    import sys

    from scenarios.replay import main as replay_main

    raise SystemExit(replay_main(["swarm/coverage-v0", *sys.argv[1:]]))
