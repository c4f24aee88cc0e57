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

Observation (float32, per drone; blocks in this order, sizes for the default config)
{observation}
    ``density``: ``phi * grid_size^2`` (1 on average) at the ``patch_size x patch_size`` points
    ``(x + a * patch_spacing, y + b * patch_spacing)``, ``a, b = -(patch_size - 1)/2 ...
    (patch_size - 1)/2``, row by row (b outer), 0 off the grid. ``neighbours``: the
    ``k_neighbours`` nearest drones within ``comms_radius``, sorted by distance (zeros past the
    last one). ``lidar``: rays at angles ``2 pi r / n_rays`` from +x, counterclockwise, against
    walls and obstacles, ``lidar_range`` when nothing is hit (no block when ``n_rays`` is 0).
    Size ``4 + patch_size^2 + 5 * k_neighbours + n_rays``, whatever ``n_agents``;
    ``marl scenarios --obs swarm/coverage-v0 -e n_rays=16`` prints the table for other configs.

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
    with a connected graph. ``cost_ratio`` and ``algebraic_connectivity`` are measured once,
    when the episode ends (``episode_end``), which keeps the per-step cost low.

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
from typing import TYPE_CHECKING

import numpy as np

from scenarios.core import MAX_STEPS, Episode, Frame, GroupSpec, Reward, Scenario, check
from scenarios.fields import param
from scenarios.layout import ObsLayout, entities, vector
from scenarios.registry import document, register
from scenarios.seeding import WorldRandom
from scenarios.swarm import coverage_kernels
from scenarios.swarm.common import (
    SwarmConfig,
    algebraic_connectivity,
    is_connected,
    spaced_points,
    thrust_space,
    write_thrust,
)
from scenarios.swarm.coverage_density import block_sums, draw_density, mixture_density
from worlds import HolonomicPointMass, WorldBatch
from worlds.coverage import GridField
from worlds.kernels.coverage import sample_patch
from worlds.sensors import Neighbours

if TYPE_CHECKING:
    from scenarios.swarm.coverage_baseline import LloydPolicy

LAUNCH_SPACING = 0.4
"""Distance between neighbouring drones on the launch grid, metres."""
REWARD_TERMS = ("coverage", "collision", "connectivity")


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


def observation_layout(cfg: CoverageConfig) -> ObsLayout:
    """The drone's observation, block by block (its size does not depend on ``n_agents``)."""
    blocks = [
        vector("own", ("x", "y", "vx", "vy"), "position and velocity"),
        entities("density", cfg.patch_size**2, ("phi",), "density at the patch's points"),
        entities(
            "neighbours",
            cfg.k_neighbours,
            ("dx", "dy", "dvx", "dvy"),
            "nearest drones within comms range, relative, by distance",
            valid=True,
        ),
    ]
    if cfg.n_rays:  # an empty set without validity flags would still take one column
        blocks.append(entities("lidar", cfg.n_rays, ("distance",), "one per ray, from +x"))
    return ObsLayout(*blocks)


@dataclass
class CoverageFrame(Frame):
    """What one step measured (``Coverage.sense``)."""

    near: Neighbours
    """Nearest drones of each drone (at least one)."""
    adjacent: np.ndarray
    """The communication graph ``(B, N, N)`` bool: drones within ``comms_radius`` (never a
    drone itself)."""
    connected: np.ndarray
    """Whether each world's communication graph is connected ``(B,)``."""
    coverage: np.ndarray
    """Density-weighted coverage ``C_t`` ``(B,)`` float32."""
    gain: np.ndarray
    """``C_t - C_{t-1}`` ``(B, 1)`` float32 (the coverage reward before its scale)."""
    overlaps: np.ndarray
    """Other drones each drone overlaps ``(B, N)`` float32 (centres closer than twice the
    radius plus the contact margin)."""


@register("swarm/coverage-v0")
class Coverage(Scenario):
    """The scenario (see the module documentation).

    Per-world episode state, set by ``reset``: the density (``field``, ``mixture``), the Lloyd
    reference's cost (``lloyd_cost``, read when the episode ends) and ``coverage``, the coverage
    of the last step sensed (of the launch positions right after a reset), which the next
    step's gain is measured from; ``sense`` alone advances it, once per step.
    """

    config_class = CoverageConfig
    metric_reduce = {
        "coverage": "last",
        "coverage_mean": "mean",
        "collisions": "mean",
        "min_separation": "min",
        "connected": "mean",
    }

    def __init__(self, cfg: CoverageConfig) -> None:
        super().__init__(cfg)
        self.k_found = min(cfg.k_neighbours, cfg.n_agents - 1)
        # The search finds at least the nearest drone (for collisions and min_separation),
        # also when the observation shows none.
        self.k_search = max(self.k_found, 1)
        self.layout = observation_layout(cfg)
        action_space = thrust_space(cfg.continuous_actions)
        self._groups = {"drone": GroupSpec.of("drone", cfg.n_agents, self.layout, action_space)}
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
        n, size = cfg.n_agents, cfg.patch_size
        self.obs = self.layout.buffer(num_worlds, n)
        self._patch = self.obs["density"].reshape(num_worlds, n, size, size)  # a view
        self._state = np.zeros((num_worlds, self.state_size()), np.float32)
        self._reward = np.zeros((num_worlds, n), np.float32)
        self._reward_terms = tuple(np.zeros((num_worlds, k), np.float32) for k in (1, n, 1))
        self._reward_scales = np.array(
            [cfg.coverage_reward, -cfg.collision_penalty, -cfg.disconnect_penalty], np.float32
        )
        self.coverage = np.zeros(num_worlds, np.float32)
        self._coverage = np.zeros(num_worlds, np.float32)  # sense's measurement, then gain's
        self.lloyd_cost = np.ones(num_worlds)
        self._near = Neighbours.empty(num_worlds, n, self.k_search, count=True)
        self._nearest_distance = self._near.dist[..., 0]  # one view: the sums bind it once
        self._adjacent = np.zeros((num_worlds, n, n), bool)
        self._connected = np.zeros(num_worlds, bool)
        self._obs_offsets, self._lidar = coverage_kernels.observe_arguments(self)
        self._patch_arguments = self.field.patch_arguments(self.patch_steps, self.patch_steps)
        self._sense_arguments = coverage_kernels.sense_arguments(self)
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
        coarse_weights = block_sums(weights, cfg.grid_size, cfg.reference_grid)
        reference = self.reference_field.lloyd(start, cfg.lloyd_iterations, coarse_weights)
        self.lloyd_cost[env_ids] = self.field.locational_cost(reference, weights)

    def _draw_density(self, rng: WorldRandom, env_ids: np.ndarray) -> None:
        cfg = self.cfg
        count, m, side = len(env_ids), cfg.n_gaussians, cfg.side
        mu_x, mu_y = rng.uniform(-0.4 * side, 0.4 * side, (count, 2, m)).transpose(1, 0, 2)
        sigma = rng.uniform(cfg.sigma_min, cfg.sigma_max, (count, m)) * side
        weight = rng.uniform(0.5, 1.0, (count, m))
        self.mixture[env_ids] = np.stack([mu_x, mu_y, sigma, weight], 1)
        density = mixture_density(
            self.field, (mu_x, mu_y, sigma, weight), cfg.density_floor, self.free_cells
        )
        self.field.values[env_ids] = density
        self.field.refresh()

    # ------------------------------------------------------------------------------- step
    def apply_actions(self, world: WorldBatch, actions: dict[str, np.ndarray]) -> None:
        cfg = self.cfg
        write_thrust(actions["drone"], self.drones.command, cfg.max_force, cfg.continuous_actions)

    def sense(self, world: WorldBatch, episode: Episode) -> CoverageFrame:
        """Nearest drones with the overlap counts, the communication graph and whether it is
        connected, and the coverage, into buffers of the scenario's own."""
        # One compiled call (``coverage_kernels.sense``) for the kernels of nearest_neighbours,
        # range_graph, is_connected and GridField.cover_weight. The gain's reference advances
        # once per step. A world just reset keeps its launch coverage (sense runs again after
        # other worlds reset, with steps 0 for those).
        near, coverage, drones = self._near, self._coverage, self.drones
        gain = np.empty((len(coverage), 1), np.float32)
        coverage_kernels.sense(
            drones.position, drones.velocity, episode.steps, *self._sense_arguments, gain
        )
        return CoverageFrame(
            world,
            episode,
            near=near,
            adjacent=self._adjacent,
            connected=self._connected,
            coverage=coverage,
            gain=gain,
            overlaps=near.count,
        )

    def observe(self, frame: CoverageFrame) -> dict[str, np.ndarray]:
        """The density patch (``GridField.sample_patch``'s kernel with ``patch_arguments``
        worked out once; values scaled by ``field.patch_scale``), then own state, neighbours
        in range and lidar in one compiled call (``coverage_kernels.observe``)."""
        cfg, drones, near = self.cfg, self.drones, frame.near
        sample_patch(drones.position, *self._patch_arguments, self._patch)
        coverage_kernels.observe(
            drones.kinematics,
            (near.offset, near.velocity, near.dist),
            np.float32(cfg.comms_radius),
            self._lidar,
            self._obs_offsets,
            self.obs.array,
        )
        return {"drone": self.obs.array}

    def reward(self, frame: CoverageFrame) -> Reward:
        """``reward_reference`` in one compiled call (``coverage_kernels.reward``), into
        buffers of the scenario's own."""
        terms = self._reward_terms
        coverage_kernels.reward(
            frame.gain, frame.overlaps, frame.connected, self._reward_scales, terms, self._reward
        )
        return Reward({"drone": self._reward}, dict(zip(REWARD_TERMS, terms, strict=True)))

    def reward_reference(self, frame: CoverageFrame) -> Reward:
        cfg = self.cfg
        coverage = frame.gain * np.float32(cfg.coverage_reward)
        collision = frame.overlaps * np.float32(-cfg.collision_penalty)
        connectivity = np.where(frame.connected, 0.0, -cfg.disconnect_penalty).astype(np.float32)
        connectivity = connectivity[:, None]
        reward = np.add(coverage, collision, dtype=np.float32)
        reward += connectivity
        terms = {"coverage": coverage, "collision": collision, "connectivity": connectivity}
        return Reward({"drone": reward}, terms)

    def metrics(self, frame: CoverageFrame) -> dict[str, np.ndarray]:
        return {
            "coverage": frame.coverage,
            "coverage_mean": frame.coverage,
            "collisions": frame.overlaps,
            "min_separation": self._nearest_distance,
            "connected": frame.connected,
        }

    def episode_end(self, frame: CoverageFrame, env_ids: np.ndarray) -> dict[str, np.ndarray]:
        """The costly figures, measured once at an episode's last step: the cost ratio and the
        algebraic connectivity (zero where the graph is disconnected; eigenvalues only for the
        connected worlds)."""
        position = self.drones.position[env_ids]
        cost = self.field.locational_cost(position, self.field.values[env_ids])
        fiedler = np.zeros(len(env_ids))
        connected = frame.connected[env_ids]
        if connected.any():
            fiedler[connected] = algebraic_connectivity(frame.adjacent[env_ids[connected]])
        return {
            "cost_ratio": cost / np.maximum(self.lloyd_cost[env_ids], 1e-12),
            "algebraic_connectivity": fiedler,
        }

    def state(self, frame: Frame) -> np.ndarray:
        n, drones, state = self.cfg.n_agents, self.drones, self._state
        for i, values in enumerate((drones.x, drones.y, drones.vx, drones.vy)):
            state[:, i * n : (i + 1) * n] = values
        state[:, 4 * n :] = self.mixture.transpose(0, 2, 1).reshape(len(state), -1)
        return state

    # ---------------------------------------------------------------------------- render
    def render_extra(self, world: WorldBatch, canvas, env_index: int) -> None:
        from worlds.render import GROUP_COLORS  # rendering only: keep Pillow off the import

        cfg = self.cfg
        covered = self.field.disc_cover(self.drones.position, cfg.sensing_radius)[env_index]
        draw_density(canvas, self.field, env_index, covered)
        x, y = self.drones.x[env_index], self.drones.y[env_index]
        position = self.drones.position[env_index]
        adjacent = np.abs(position[:, None] - position[None, :]) <= cfg.comms_radius
        connected = bool(is_connected(adjacent[None])[0])
        color = (78, 154, 6) if connected else (204, 0, 0)
        for i in range(cfg.n_agents):
            canvas.circle(
                float(x[i]), float(y[i]), cfg.sensing_radius, fill=None, outline=(180, 180, 200)
            )
            for j in np.flatnonzero(adjacent[i, i + 1 :]).tolist():
                j += i + 1
                canvas.line(float(x[i]), float(y[i]), float(x[j]), float(y[j]), color)
        for i in range(cfg.n_agents):  # the drones again, on top of the density
            canvas.circle(float(x[i]), float(y[i]), cfg.drone_radius, fill=GROUP_COLORS[0])
        canvas.text(-cfg.side / 2, cfg.side / 2, f"coverage {float(self.coverage[env_index]):.2f}")

    def scripted_policy(self) -> LloydPolicy:
        from scenarios.swarm.coverage_baseline import LloydPolicy

        return LloydPolicy(self)


document(Coverage)

if __name__ == "__main__":
    import sys

    from scenarios.replay import main as replay_main

    raise SystemExit(replay_main(["swarm/coverage-v0", *sys.argv[1:]]))
