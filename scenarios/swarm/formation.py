"""swarm/formation-v0: a swarm holds a commanded shape around a leader that follows a path,
in wind, while drones drop out.

A virtual leader (a point driven by the scenario, not a body and not an agent) flies around a
circular path at ``leader_speed``. The commanded shape (line, wedge or ring, drawn per episode
from ``shapes`` and switched once mid-episode with probability ``switch_probability``) gives every
drone a slot relative to the leader, in the leader's frame. A smooth wind field with one gust
pushes the drones; each drone drops out of the episode with probability
``dropout_probability`` at a random step (not before ``dropout_after`` seconds, nor in the first
quarter of the episode), and the drones still flying take up the shape for
their new count.

Agents
    One group, ``drone``, of ``n_agents`` drones (ids ``drone_0`` ...). A drone that drops out is
    done (per-agent termination): its body is parked outside the arena and its thrust is zero.
    The world ends when every drone has dropped out, or after ``max_steps``.

Slots
    The alive drones are ranked by index (``r = 0 .. m - 1`` among ``m`` alive); slot offsets in
    the leader's frame (``x`` forward, ``y`` left, ``s = spacing``): line ``(-s, (r - (m-1)/2) s)``
    (abreast, one spacing behind the leader); wedge ``(-q s, +-q s)`` with ``q = floor(r/2) + 1``,
    even ranks on the left (a V behind the leader); ring ``R (cos a, sin a)`` with
    ``a = pi + 2 pi r / m`` and ``R = max(s m / (2 pi), s)`` (around the leader). A slot's world
    position is ``leader + heading * offset`` (complex numbers, ``heading`` the leader's unit
    direction of travel). When a drone drops out the ranks, and so the slots, are recomputed.

Observation (float32, per drone; its size does not depend on ``n_agents``)
    ``[x, y, vx, vy`` (own state), ``sx - x, sy - y`` (own slot), ``lx - x, ly - y`` (the
    leader), ``lvx, lvy`` (the leader's velocity), ``wx, wy`` (the wind felt, as own
    acceleration in m/s^2), a one-hot of the commanded shape (line, wedge, ring), then for each of
    the ``k_neighbours`` nearest alive drones ``(dx, dy, dvx, dvy, dsx, dsy)`` (offset, relative
    velocity and slot offset ``s_j - s_i``), and a valid flag for each``]``. Size
    ``15 + 7 * k_neighbours``; missing neighbours are zeros. Metres, centred on the arena.

Actions
    ``Discrete(5)`` (default): no thrust, +x, -x, +y, -y at full thrust. With
    ``continuous_actions=True``: ``Box(-1, 1, (2,))``, thrust as a fraction of ``max_force``
    (norm capped at ``max_force``). The wind force is added to the thrust.

Wind
    ``w(p, t) = wind_force * (0.5 u_0 + 0.5 / M * sum_m u_m sin(k_m . p + omega_m t + phi_m))
    + gust_force * u_g * exp(-((t - t_g) / gust_seconds)^2)`` with ``M = wind_waves``, unit
    directions ``u``, wave vectors ``|k_m|`` of wavelength 0.5 to 1.5 arena sides, ``omega_m`` in
    ``[0.2, 1]`` rad/s, random phases and one gust time ``t_g`` per episode. By default it is at
    most 0.2 ``max_force`` plus a gust of 0.4 ``max_force``.

Reward (per drone, per step)
    ``formation``: shared by the team, minus the mean distance of the alive drones to their
    slots. ``collision``: minus ``collision_penalty`` for each other drone this drone overlaps
    (centres closer than two radii plus ``contact_margin``).

Termination
    A drone when it drops out; truncation after ``max_steps``.

Metrics (per episode)
    ``formation_error``: RMS distance of the alive drones to their slots after the best rotation
    and translation of the shape (Procrustes), averaged over steps; ``slot_error``: the mean
    distance to the slots as placed (the reward's term); ``polarization``: ``|mean_i v_i/|v_i||``
    over the alive drones (1 = all aligned), averaged; ``collisions``: overlapping drones per
    alive drone and step; ``progress``: the angle the alive drones' centroid travelled around the
    path centre, over the angle the leader travelled (1 = kept pace); ``dropped``: fraction of
    drones that dropped out.

State (for a centralized critic)
    All drones' ``x, y, vx, vy``, slots ``x, y`` and alive flags (blocks of ``n_agents``), then the
    leader's ``x, y, vx, vy`` and the shape one-hot: ``7 * n_agents + 7`` floats.

Scripted baselines
    ``ConsensusFormationPolicy`` (``scripted_policy()``): desired velocity
    ``v*_i = v_L + k_p (s_i - p_i) + k_c / |N_i| sum_{j in N_i} ((p_j - p_i) - (s_j - s_i))``
    over the observed neighbours ``N_i``, capped at ``max_speed``. ``BoidsPolicy``:
    ``v*_i = v_L + k_l (l - p_i) + k_a mean_j (v_j - v_i) + k_c mean_j (p_j - p_i)
    - k_s sum_{|d_ij| < r_s} d_ij / |d_ij|^2`` (alignment, cohesion, separation and attraction
    to the leader ``l``), capped at ``max_speed``. Both turn ``v*`` into thrust as the family's
    controller does (``thrust = v* - v``, saturating at a 0.25 m/s error) minus the felt wind
    divided by ``4 max_force``; discrete actions take the direction that best matches it.

Parameters: see ``FormationConfig``. Render an episode of the baseline with
``python -m scenarios.swarm.formation`` or ``marl play swarm/formation-v0``.
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
    overlap_counts,
    polarization,
    procrustes_error,
    spaced_points,
    thrust_action,
    thrust_space,
    write_thrust,
)
from worlds import HolonomicPointMass, WorldBatch
from worlds.sensors import nearest_neighbours, pairwise

SHAPES = ("line", "wedge", "ring")
OBS_BASE = 15  # x, y, vx, vy, slot, leader, leader velocity, wind, shape one-hot


@dataclass(frozen=True)
class FormationConfig(SwarmConfig):
    max_steps: int = param(200, low=1, high=MAX_STEPS)
    """Steps per episode (dt each) before truncation."""
    n_agents: int = param(6, low=1, high=256)
    """Number of drones."""
    k_neighbours: int = param(4, low=0, high=256)
    """Nearest alive drones in each observation (zero-padded)."""
    shapes: tuple[str, ...] = SHAPES
    """Shapes the commanded one is drawn from (uniformly): line, wedge, ring."""
    switch_probability: float = param(0.2, low=0.0, high=1.0)
    """Chance that the commanded shape switches once, at a random step of the episode."""
    spacing: float = param(0.4, low=0.0, high=10.0, low_open=True)
    """Distance between neighbouring slots, metres."""
    arena_size: float = param(0.0, low=0.0, high=1000.0)
    """Arena side in metres; 0 scales it as 4 * (spacing * (n_agents / 2 + 1) + 0.5)."""
    path_radius: float = param(0.0, low=0.0, high=1000.0)
    """Radius of the leader's circular path, metres; 0 takes a quarter of the arena side."""
    leader_speed: float = param(0.4, low=0.0, high=100.0, low_open=True)
    """The leader's speed along its path, m/s."""
    wind_force: float = param(0.6, low=0.0, high=1000.0)
    """Bound of the smooth wind field's force, newtons."""
    wind_waves: int = param(3, low=0, high=64)
    """Sinusoids in the wind field."""
    gust_force: float = param(1.2, low=0.0, high=1000.0)
    """Peak force of the episode's gust, newtons."""
    gust_seconds: float = param(1.0, low=0.01, high=100_000.0)
    """Width of the gust in time, seconds."""
    dropout_probability: float = param(0.2, low=0.0, high=1.0)
    """Chance that each drone drops out at a random step of the episode."""
    dropout_after: float = param(2.0, low=0.0, high=1e7)
    """Seconds every drone flies before any may drop out (none do in shorter episodes)."""

    def validate(self, scenario_id: str) -> None:
        super().validate(scenario_id)
        c = scenario_id
        check(
            c,
            len(self.shapes) >= 1 and all(s in SHAPES for s in self.shapes),
            "shapes",
            f"must be a non-empty tuple of {SHAPES}",
            self.shapes,
        )
        check(
            c,
            self.spacing > 2 * self.drone_radius,
            "spacing",
            f"must exceed two drone radii (drone_radius {self.drone_radius:g})",
            self.spacing,
        )
        check(
            c,
            self.radius + self.spawn_reach < self.side / 2 - 2 * self.drone_radius,
            "path_radius",
            f"leaves no room for the swarm of n_agents ({self.n_agents}) at spacing "
            f"{self.spacing:g} inside arena_size {self.side:.3g} (drone_radius "
            f"{self.drone_radius:g})",
            self.radius,
        )

    @property
    def side(self) -> float:
        return self.arena_size or 4 * (self.spacing * (self.n_agents / 2 + 1) + 0.5)

    @property
    def radius(self) -> float:
        """The leader's path radius, metres."""
        return self.path_radius or self.side / 4

    @property
    def spawn_reach(self) -> float:
        """Half side of the square around the leader's start where drones spawn."""
        return 0.5 * self.spacing * math.ceil(math.sqrt(self.n_agents))


def slot_offsets(
    shape: np.ndarray, rank: np.ndarray, count: np.ndarray, spacing: float
) -> np.ndarray:
    """Slot offsets in the leader's frame (``x`` forward, ``y`` left) as complex64 ``(B, N)``,
    for shape indices ``shape`` ``(B, 1)`` (see ``SHAPES``), ranks ``(B, N)`` and alive counts
    ``(B, 1)``; the formulas are in the module's documentation."""
    rank = rank.astype(np.float32)
    count = count.astype(np.float32)
    # Real float32 arithmetic into the (forward, left) pairs of a complex64 array: about a
    # third of the cost of building the three complex templates and choosing between them.
    out = np.empty((*rank.shape, 2), np.float32)
    forward, left = out[..., 0], out[..., 1]
    angle = rank * (np.float32(2 * math.pi) / np.maximum(count, 1.0))
    radius = np.maximum(count * np.float32(1 / (2 * math.pi)), 1.0)
    np.multiply(np.cos(angle), -radius, out=forward)  # ring: cos(pi + a) = -cos(a)
    np.multiply(np.sin(angle), -radius, out=left)
    is_line, is_wedge = shape == 0, shape == 1
    np.copyto(forward, np.float32(-1.0), where=is_line)
    np.copyto(left, rank - (count - 1.0) * 0.5, where=is_line)
    pair = np.floor(rank * np.float32(0.5))
    row = pair + 1.0
    np.copyto(forward, -row, where=is_wedge)
    np.copyto(left, row * (1.0 - 2.0 * (rank - 2.0 * pair)), where=is_wedge)
    out *= np.float32(spacing)
    return out.view(np.complex64)[..., 0]


@register("swarm/formation-v0")
class Formation(Scenario):
    config_class = FormationConfig
    metric_reduce = {
        "formation_error": "mean",
        "slot_error": "mean",
        "polarization": "mean",
        "collisions": "mean",
        "progress": "last",
        "dropped": "last",
    }

    def __init__(self, cfg: FormationConfig) -> None:
        super().__init__(cfg)
        self.k = cfg.k_neighbours
        self.obs_size = OBS_BASE + 7 * self.k
        observation_space = spaces.Box(-np.inf, np.inf, (self.obs_size,), np.float32)
        action_space = thrust_space(cfg.continuous_actions)
        self._groups = {"drone": GroupSpec("drone", cfg.n_agents, observation_space, action_space)}
        self.shape_choices = np.array([SHAPES.index(s) for s in cfg.shapes], np.int64)
        self.reward_terms: dict[str, np.ndarray] = {}

    def groups(self) -> dict[str, GroupSpec]:
        return self._groups

    def state_size(self) -> int:
        return 7 * self.cfg.n_agents + 7

    # ------------------------------------------------------------------------------ world
    def make_world(self, num_worlds: int) -> WorldBatch:
        cfg = self.cfg
        n, b, waves = cfg.n_agents, num_worlds, cfg.wind_waves
        world = WorldBatch(
            num_worlds, cfg.side, cfg.side, dt=cfg.dt, substeps=cfg.substeps, damping=cfg.damping
        )
        world.geometry.add_walls(cfg.side, cfg.side, thickness=0.5)
        # Thrust is capped in apply_actions; the wind comes on top of it.
        dynamics = HolonomicPointMass(cfg.max_force, cfg.max_speed, limit_force=False)
        self.drones = world.add_group("drone", n, radius=cfg.drone_radius, dynamics=dynamics)
        # Episode state, all per world (and per drone).
        self.steps = np.zeros(b, np.int64)
        self.active = np.ones((b, n), bool)
        self.drop_step = np.zeros((b, n), np.int64)
        self.phase0 = np.zeros(b, np.float32)
        self.direction = np.ones(b, np.float32)
        self.first_shape = np.zeros(b, np.int64)
        self.second_shape = np.zeros(b, np.int64)
        self.switch_step = np.zeros(b, np.int64)
        self.wave_vector = np.zeros((b, max(waves, 1), 2), np.float32)  # kx, ky
        self.wave_rate = np.zeros((b, max(waves, 1)), np.float32)
        self.wave_phase = np.zeros((b, max(waves, 1)), np.float32)
        self.wave_direction = np.zeros((b, max(waves, 1), 2), np.float32)  # ux, uy
        self.mean_wind = np.zeros(b, np.complex64)
        self.gust = np.zeros(b, np.complex64)
        self.gust_time = np.zeros(b, np.float32)
        self.previous_centroid = np.zeros(b, np.complex64)
        self.centroid_travel = np.zeros(b, np.float32)
        # Per-step quantities (refreshed in observe).
        self.shape = np.zeros((b, 1), np.int64)
        self.leader = np.zeros((b, 1), np.complex64)
        self.leader_velocity = np.zeros((b, 1), np.complex64)
        self.slots = np.zeros((b, n), np.complex64)
        self._offsets = np.zeros((b, n), np.complex64)
        self._slots_stale = True
        self.wind = np.zeros((b, n), np.complex64)
        self._obs = obs = np.zeros((b, n, self.obs_size), np.float32)
        vectors = obs[..., 4:12].view(np.complex64)  # slot, leader, leader velocity, wind
        self._obs_slot, self._obs_leader = vectors[..., 0], vectors[..., 1]
        self._obs_leader_velocity, self._obs_wind = vectors[..., 2], vectors[..., 3]
        self._obs_shape = obs[..., 12:15]
        k = self.k
        neighbours = obs[..., OBS_BASE : OBS_BASE + 6 * k].view(np.complex64)
        self._obs_neighbours = neighbours.reshape(b, n, k, 3)
        self._obs_valid = obs[..., OBS_BASE + 6 * k :]
        self._found = min(k, n - 1)
        self._world_base = (np.arange(b) * n).reshape(b, 1, 1)
        self._one_hot = np.eye(len(SHAPES), dtype=np.float32)
        self._state = np.zeros((b, self.state_size()), np.float32)
        self._reward = np.zeros((b, n), np.float32)
        self._terminated = np.zeros((b, n), bool)
        self._ones = np.ones(n, np.float32)
        self._zero_count = np.zeros((b, n), np.float32)
        return world

    def reset(self, world: WorldBatch, rng: WorldRandom, env_ids: np.ndarray) -> None:
        cfg = self.cfg
        n, count, waves = cfg.n_agents, len(env_ids), max(cfg.wind_waves, 1)
        self.phase0[env_ids] = rng.uniform(0, 2 * math.pi, count)
        self.direction[env_ids] = rng.choice([-1.0, 1.0], count)
        self.first_shape[env_ids] = rng.choice(self.shape_choices, count)
        self.second_shape[env_ids] = rng.choice(self.shape_choices, count)
        switches = rng.random(count) < cfg.switch_probability
        switch_at = rng.integers(cfg.max_steps // 4, cfg.max_steps, count, endpoint=True)
        self.switch_step[env_ids] = np.where(switches, switch_at, cfg.max_steps + 1)
        drops = rng.random((count, n)) < cfg.dropout_probability
        earliest = max(cfg.max_steps // 4, math.ceil(cfg.dropout_after / cfg.dt))
        drop_at = rng.integers(earliest, max(earliest, cfg.max_steps), (count, n), endpoint=True)
        self.drop_step[env_ids] = np.where(drops, drop_at, cfg.max_steps + 1)
        wavelength = rng.uniform(0.5, 1.5, (count, waves)) * cfg.side
        angle = rng.uniform(0, 2 * math.pi, (count, waves))
        self.wave_vector[env_ids, :, 0] = 2 * math.pi / wavelength * np.cos(angle)
        self.wave_vector[env_ids, :, 1] = 2 * math.pi / wavelength * np.sin(angle)
        self.wave_rate[env_ids] = rng.uniform(0.2, 1.0, (count, waves))
        self.wave_phase[env_ids] = rng.uniform(0, 2 * math.pi, (count, waves))
        angle = rng.uniform(0, 2 * math.pi, (count, waves))
        self.wave_direction[env_ids, :, 0] = np.cos(angle)
        self.wave_direction[env_ids, :, 1] = np.sin(angle)
        self.mean_wind[env_ids] = np.exp(1j * rng.uniform(0, 2 * math.pi, count))
        self.gust[env_ids] = np.exp(1j * rng.uniform(0, 2 * math.pi, count))
        self.gust_time[env_ids] = rng.uniform(0, cfg.max_steps * cfg.dt, count)
        self.steps[env_ids] = 0
        self.active[env_ids] = True
        self._slots_stale = True
        # Drones start on a jittered grid around the leader's start, a spacing behind it.
        start = cfg.radius * np.exp(1j * self.phase0[env_ids])
        x, y = spaced_points(rng, count, n, cfg.spawn_reach, 2.5 * cfg.drone_radius)
        centre = start * (1 - 1.5 * cfg.spacing / cfg.radius)
        world.reset_bodies("drone", env_ids, x + centre.real[:, None], y + centre.imag[:, None])
        position = self.drones.position[env_ids]
        self.previous_centroid[env_ids] = position.mean(axis=1)
        self.centroid_travel[env_ids] = 0.0

    # ------------------------------------------------------------------------------- step
    def apply_actions(self, world: WorldBatch, actions: dict[str, np.ndarray]) -> None:
        cfg = self.cfg
        write_thrust(actions["drone"], self.drones.command, cfg.max_force, cfg.continuous_actions)
        thrust = self.drones.command.view(np.complex64)[..., 0]  # made at the first reset
        if cfg.continuous_actions:  # the box allows sqrt(2) max_force on the diagonals
            thrust *= cfg.max_force / np.maximum(np.abs(thrust), cfg.max_force)
        thrust += self.wind
        thrust *= self.active  # parked drones stay put
        self.steps += 1

    def _update_leader_and_slots(self) -> None:
        """Leader, commanded shape and slots at the current step; wind at the drones."""
        cfg = self.cfg
        time = (self.steps * cfg.dt).astype(np.float32)
        phase = self.phase0 + self.direction * (cfg.leader_speed / cfg.radius) * time
        around = np.exp(1j * phase).astype(np.complex64)
        heading = 1j * self.direction * around
        self.leader[:, 0] = cfg.radius * around
        self.leader_velocity[:, 0] = cfg.leader_speed * heading
        shape = np.where(self.steps >= self.switch_step, self.second_shape, self.first_shape)
        if self._slots_stale or not np.array_equal(shape, self.shape[:, 0]):
            # Slots change only with the shape or the alive set: recomputed on those steps.
            self.shape[:, 0] = shape
            rank = np.cumsum(self.active, axis=1) - 1
            count = rank[:, -1:] + 1
            self._offsets = slot_offsets(self.shape, rank, count, cfg.spacing)
            self._slots_stale = False
        np.multiply(heading[:, None], self._offsets, out=self.slots)
        self.slots += self.leader
        self.wind[...] = self._wind_at(self.drones.x, self.drones.y, time)

    def _wind_at(
        self, x: np.ndarray, y: np.ndarray, time: np.ndarray, worlds: slice = slice(None)
    ) -> np.ndarray:
        """Wind force (complex newtons) at local points ``(B, P)`` at times ``(B,)``, for the
        worlds ``worlds`` (all by default)."""
        cfg = self.cfg
        wave_vector = self.wave_vector[worlds]
        phase = x[..., None] * wave_vector[:, None, :, 0]
        phase += y[..., None] * wave_vector[:, None, :, 1]
        phase += (self.wave_rate[worlds] * time[:, None] + self.wave_phase[worlds])[:, None, :]
        # (B, P, M) @ (B, M, 2): the sum over the waves as one batched product.
        waves = (np.sin(phase) @ self.wave_direction[worlds]).view(np.complex64)[..., 0]
        scale = 0.5 * cfg.wind_force / cfg.wind_waves if cfg.wind_waves else 0.0
        gust_time = self.gust_time[worlds]
        gust = np.exp(-(((time - gust_time) / cfg.gust_seconds) ** 2)) * cfg.gust_force
        steady = 0.5 * cfg.wind_force * self.mean_wind[worlds] + gust * self.gust[worlds]
        return (waves * scale + steady[:, None]).astype(np.complex64)

    def observe(self, world: WorldBatch) -> dict[str, np.ndarray]:
        self._update_leader_and_slots()
        drones, obs = self.drones, self._obs
        position = drones.position
        obs[..., :4] = drones.kinematics
        np.subtract(self.slots, position, out=self._obs_slot)
        np.subtract(self.leader, position, out=self._obs_leader)
        self._obs_leader_velocity[...] = self.leader_velocity
        self._obs_wind[...] = self.wind * np.float32(1.0 / drones.mass)
        self._obs_shape[...] = self._one_hot[self.shape[:, 0]][:, None, :]
        self._pair = pair = pairwise(position)
        self._all_active = bool(self.active.all())
        if self._found:
            # Dropped drones are parked far below every arena, so the fast (unmasked) search
            # sorts them last; they are masked out afterwards.
            near = nearest_neighbours(position, drones.velocity, self._found, pair=pair)
            self._near = near
            found, block = self._found, self._obs_neighbours
            flat = near.index + self._world_base
            slot_offset = self.slots.ravel().take(flat)
            slot_offset -= self.slots[:, :, None]
            if self._all_active:
                block[..., :found, 0] = near.offset
                block[..., :found, 1] = near.velocity
                block[..., :found, 2] = slot_offset
                self._obs_valid[..., :found] = near.mask
            else:
                mask = self.active.ravel().take(flat)
                block[..., :found, 0] = near.offset * mask
                block[..., :found, 1] = near.velocity * mask
                block[..., :found, 2] = slot_offset * mask
                self._obs_valid[..., :found] = mask
        return {"drone": obs}

    def _overlaps(self) -> np.ndarray:
        """Number of other drones each drone overlaps, ``(B, N)`` float32."""
        limit = 2 * self.cfg.drone_radius + self.cfg.contact_margin
        if self._found and self._all_active and self._near.dist[..., 0].min() >= limit:
            return self._zero_count  # the common case: nobody touches anybody
        return overlap_counts(self._pair.dist2, limit, self._ones) * self.active

    def reward(self, world: WorldBatch) -> dict[str, np.ndarray]:
        cfg = self.cfg
        active = self.active
        count = np.maximum(np.add.reduce(active, axis=1), 1).astype(np.float32)
        distance = np.abs(self._obs_slot)
        slot_error = np.add.reduce(distance * active, axis=1) / count
        self._slot_error = slot_error
        formation = -slot_error[:, None]
        collisions = self._overlaps()
        self._collisions = np.add.reduce(collisions, axis=1) / count
        collision = collisions * np.float32(-cfg.collision_penalty)
        np.add(formation, collision, out=self._reward)
        self.reward_terms = {"formation": formation, "collision": collision}
        # Progress: the alive drones' centroid's angle around the path centre, step by step.
        position = self.drones.position
        centroid = (np.add.reduce(position * active, axis=1) / count).astype(np.complex64)
        turn = np.angle(centroid * np.conj(self.previous_centroid))
        self.centroid_travel += self.direction * turn.astype(np.float32)
        self.previous_centroid[...] = centroid
        return {"drone": self._reward}

    def terminated(self, world: WorldBatch) -> dict[str, np.ndarray]:
        np.equal(self.drop_step, self.steps[:, None], out=self._terminated)
        dropped = self._terminated
        dropped &= self.active
        if dropped.any():
            env_ids, drone_ids = np.nonzero(dropped)
            self.active &= ~dropped
            self._slots_stale = True
            # Parked farther from every arena than any two drones inside one: the neighbour
            # search in observe relies on that.
            world.park_bodies("drone", env_ids, drone_ids)
        return {"drone": dropped}

    def metrics(self, world: WorldBatch) -> dict[str, np.ndarray]:
        cfg = self.cfg
        alive = self.active
        leader_travel = self.steps * (cfg.dt * cfg.leader_speed / cfg.radius)
        with np.errstate(invalid="ignore", divide="ignore"):
            progress = np.where(
                self.steps > 0, self.centroid_travel / np.maximum(leader_travel, 1e-9), 0.0
            )
        return {
            "formation_error": procrustes_error(self.drones.position, self.slots, alive),
            "slot_error": self._slot_error,
            "polarization": polarization(self.drones.velocity, alive),
            "collisions": self._collisions,
            "progress": progress,
            "dropped": ~alive,
        }

    def state(self, world: WorldBatch) -> np.ndarray:
        n, drones, state = self.cfg.n_agents, self.drones, self._state
        for i, values in enumerate(
            (
                drones.x,
                drones.y,
                drones.vx,
                drones.vy,
                self.slots.real,
                self.slots.imag,
                self.active,
            )
        ):
            state[:, i * n : (i + 1) * n] = values
        tail = state[:, 7 * n :]
        tail[:, 0] = self.leader[:, 0].real
        tail[:, 1] = self.leader[:, 0].imag
        tail[:, 2] = self.leader_velocity[:, 0].real
        tail[:, 3] = self.leader_velocity[:, 0].imag
        tail[:, 4:] = self._one_hot[self.shape[:, 0]]
        return state

    # ---------------------------------------------------------------------------- render
    def render_extra(self, world: WorldBatch, canvas, env_index: int) -> None:
        from worlds.render import GROUP_COLORS  # rendering only: keep Pillow off the import

        cfg, e = self.cfg, env_index
        path = cfg.radius * np.exp(1j * np.linspace(0, 2 * math.pi, 65))
        for a, b in zip(path[:-1], path[1:], strict=True):
            canvas.line(a.real, a.imag, b.real, b.imag, (186, 189, 182))
        # Wind arrows on a 7 x 7 grid: a wind of max_force draws a quarter of the arena side.
        grid = (np.arange(7) - 3) * (cfg.side / 8)
        gx, gy = np.meshgrid(grid, grid)
        time = (self.steps[e : e + 1] * cfg.dt).astype(np.float32)
        points = [gx.reshape(1, -1).astype(np.float32), gy.reshape(1, -1).astype(np.float32)]
        wind = self._wind_at(*points, time, slice(e, e + 1))[0]
        for x, y, w in zip(gx.ravel(), gy.ravel(), wind, strict=True):
            tip = complex(x, y) + w * (cfg.side / 4 / cfg.max_force)
            canvas.line(float(x), float(y), tip.real, tip.imag, (114, 159, 207), width=2)
            canvas.circle(tip.real, tip.imag, 0.03, fill=(114, 159, 207))
        drones = self.drones
        for i in np.flatnonzero(self.active[e]):
            slot = complex(self.slots[e, i])
            canvas.circle(slot.real, slot.imag, cfg.drone_radius, fill=None, outline=(78, 154, 6))
            canvas.line(
                float(drones.x[e, i]), float(drones.y[e, i]), slot.real, slot.imag, (200, 220, 190)
            )
            canvas.circle(
                float(drones.x[e, i]), float(drones.y[e, i]), cfg.drone_radius, GROUP_COLORS[0]
            )
        leader = complex(self.leader[e, 0])
        canvas.circle(leader.real, leader.imag, 1.5 * cfg.drone_radius, fill=(245, 121, 0))
        shape = SHAPES[int(self.shape[e, 0])]
        alive = int(self.active[e].sum())
        canvas.text(-cfg.side / 2, cfg.side / 2, f"{shape}, drones {alive}/{cfg.n_agents}")

    def scripted_policy(self) -> ConsensusFormationPolicy:
        return ConsensusFormationPolicy(self.cfg)


# ---------------------------------------------------------------------------------- baselines
def _read(o: np.ndarray, k: int):
    """Complex quantities of observations ``(B, N, obs)``: own position, velocity, slot offset,
    leader offset, leader velocity, wind; neighbours' offsets, relative velocities, slot offsets
    ``(B, N, k)`` and their valid flags."""
    vectors = o[..., :12].view(np.complex64)
    neighbours = o[..., OBS_BASE : OBS_BASE + 6 * k].view(np.complex64)
    neighbours = neighbours.reshape(*o.shape[:2], k, 3)
    valid = o[..., OBS_BASE + 6 * k : OBS_BASE + 7 * k]
    return vectors, neighbours[..., 0], neighbours[..., 1], neighbours[..., 2], valid


def _to_action(cfg: FormationConfig, want: np.ndarray, velocity, wind) -> np.ndarray:
    """Desired velocity to actions: capped at max_speed, thrust toward it against the wind."""
    want = want * (cfg.max_speed / np.maximum(np.abs(want), cfg.max_speed))
    thrust = want - velocity - wind * np.float32(1.0 / (4 * cfg.max_force))
    return thrust_action(thrust.astype(np.complex64), cfg.continuous_actions)


class ConsensusFormationPolicy:
    """Scripted baseline: slot tracking plus consensus on formation errors with the observed
    neighbours, with the leader's velocity fed forward (formula in the module's docs)."""

    def __init__(self, cfg: FormationConfig, slot_gain: float = 1.0, consensus_gain: float = 0.5):
        self.cfg = cfg
        self.slot_gain = slot_gain
        self.consensus_gain = consensus_gain

    def act(self, obs: dict[str, np.ndarray], action_mask=None, deterministic: bool = True):
        o = np.ascontiguousarray(obs["drone"])
        vectors, offset, _, slot_offset, valid = _read(o, self.cfg.k_neighbours)
        velocity, to_slot, leader_velocity, wind = (
            vectors[..., 1],
            vectors[..., 2],
            vectors[..., 4],
            vectors[..., 5],
        )
        count = np.maximum(valid.sum(axis=-1), 1.0)
        disagreement = ((offset - slot_offset) * valid).sum(axis=-1) / count
        want = leader_velocity + self.slot_gain * to_slot + self.consensus_gain * disagreement
        return {"drone": _to_action(self.cfg, want, velocity, wind)}


class BoidsPolicy:
    """Reynolds' boids (separation, alignment, cohesion) plus attraction to the leader and its
    velocity fed forward (formula in the module's docs). It flocks, it does not hold a shape."""

    def __init__(
        self,
        cfg: FormationConfig,
        leader_gain: float = 0.3,
        alignment_gain: float = 0.5,
        cohesion_gain: float = 0.2,
        separation_gain: float = 0.05,
        separation_radius: float | None = None,
    ) -> None:
        self.cfg = cfg
        self.leader_gain = leader_gain
        self.alignment_gain = alignment_gain
        self.cohesion_gain = cohesion_gain
        self.separation_gain = separation_gain
        self.separation_radius = separation_radius or cfg.spacing

    def act(self, obs: dict[str, np.ndarray], action_mask=None, deterministic: bool = True):
        o = np.ascontiguousarray(obs["drone"])
        vectors, offset, relative, _, valid = _read(o, self.cfg.k_neighbours)
        velocity, to_leader, leader_velocity, wind = (
            vectors[..., 1],
            vectors[..., 3],
            vectors[..., 4],
            vectors[..., 5],
        )
        count = np.maximum(valid.sum(axis=-1), 1.0)
        alignment = (relative * valid).sum(axis=-1) / count
        cohesion = (offset * valid).sum(axis=-1) / count
        distance2 = np.maximum(np.abs(offset) ** 2, 1e-4)
        close = valid * (distance2 < self.separation_radius**2)
        separation = -(offset * close / distance2).sum(axis=-1)
        want = (
            leader_velocity
            + self.leader_gain * to_leader
            + self.alignment_gain * alignment
            + self.cohesion_gain * cohesion
            + self.separation_gain * separation
        )
        return {"drone": _to_action(self.cfg, want, velocity, wind)}


if __name__ == "__main__":
    import sys

    from scenarios.replay import main as replay_main

    raise SystemExit(replay_main(["swarm/formation-v0", *sys.argv[1:]]))
