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
    done (per-agent termination): its body is parked outside the arena, without thrust. The
    world ends when every drone has dropped out, or after ``max_steps``.

Slots
    The alive drones are ranked by index (``r = 0 .. m - 1`` among ``m`` alive); slot offsets in
    the leader's frame (``x`` forward, ``y`` left, ``s = spacing``): line ``(-s, (r - (m-1)/2) s)``
    (abreast, one spacing behind the leader); wedge ``(-q s, +-q s)`` with ``q = floor(r/2) + 1``,
    even ranks on the left (a V behind the leader); ring ``R (cos a, sin a)`` with
    ``a = pi + 2 pi r / m`` and ``R = max(s m / (2 pi), s)`` (around the leader). A slot's world
    position is ``leader + heading * offset`` (complex numbers, ``heading`` the leader's unit
    direction of travel). When a drone drops out the ranks, and so the slots, are recomputed.

Observation (float32, per drone; blocks in this order, sizes for the default config)
{observation}
    Relative vectors point from the drone (``slot``: ``s - p``, ``leader``: ``l - p``); ``wind``
    is the wind felt, as own acceleration in m/s^2; ``shape`` is a one-hot of the commanded
    shape. ``neighbours``: the ``k_neighbours`` nearest alive drones by distance, each as offset,
    relative velocity and slot offset ``s_j - s_i``; missing ones are zeros. Size
    ``15 + 7 * k_neighbours``, whatever ``n_agents``. Metres, centred on the arena.

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

Scripted baselines (``scenarios.swarm.formation_baseline``)
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
from typing import TYPE_CHECKING

import numpy as np

from scenarios.core import MAX_STEPS, Episode, Frame, GroupSpec, Reward, Scenario, check
from scenarios.fields import param
from scenarios.layout import ObsLayout, entities, vector
from scenarios.registry import document, register
from scenarios.seeding import WorldRandom
from scenarios.swarm import formation_kernels
from scenarios.swarm.common import (
    SwarmConfig,
    polarization,
    procrustes_error,
    spaced_points,
    thrust_space,
    write_thrust,
)
from scenarios.swarm.formation_geometry import (
    SHAPES,
    PathProgress,
    WindField,
    draw_formation,
    slot_offsets,
)
from worlds import HolonomicPointMass, WorldBatch
from worlds.sensors import Neighbours, nearest_neighbours

if TYPE_CHECKING:
    from scenarios.swarm.formation_baseline import ConsensusFormationPolicy


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


def observation_layout(cfg: FormationConfig) -> ObsLayout:
    """The drone's observation, block by block (its size does not depend on ``n_agents``)."""
    return ObsLayout(
        vector("own", ("x", "y", "vx", "vy"), "position and velocity"),
        vector("slot", ("dx", "dy"), "own slot, relative"),
        vector("leader", ("dx", "dy"), "the leader, relative"),
        vector("leader_velocity", ("vx", "vy"), "the leader's velocity"),
        vector("wind", ("ax", "ay"), "the wind felt, m/s^2"),
        vector("shape", SHAPES, "the commanded shape, one-hot"),
        entities(
            "neighbours",
            cfg.k_neighbours,
            ("dx", "dy", "dvx", "dvy", "dsx", "dsy"),
            "nearest alive drones: offset, relative velocity, slot offset",
            valid=True,
        ),
    )


@dataclass
class FormationFrame(Frame):
    """What one step measured (``Formation.sense``). ``leader``, ``leader_velocity``, ``shape``,
    ``slots`` and ``wind`` are the scenario's per-world arrays as this sense left them."""

    leader: np.ndarray
    """The leader's position ``(B, 1)`` complex."""
    leader_velocity: np.ndarray
    """The leader's velocity ``(B, 1)`` complex."""
    shape: np.ndarray
    """The commanded shape's index in ``SHAPES`` ``(B, 1)``."""
    slots: np.ndarray
    """Each drone's slot ``(B, N)`` complex."""
    wind: np.ndarray
    """The wind force at each drone ``(B, N)`` complex newtons."""
    to_slot: np.ndarray
    """Each drone's slot relative to it ``(B, N)`` complex: a view of the observation's block."""
    near: Neighbours | None
    """Nearest drones of each drone (parked ones sort last); None when none are observed."""
    slot_error: np.ndarray
    """Mean distance of the alive drones to their slots ``(B,)``."""
    overlaps: np.ndarray
    """Other drones each alive drone overlaps ``(B, N)`` float32 (0 for dropped ones): centres
    closer than twice the radius plus the contact margin."""
    collision_rate: np.ndarray
    """Overlaps per alive drone ``(B,)``."""
    dropping: np.ndarray
    """Drones that drop out at this step ``(B, N)`` bool."""
    centroid_travel: np.ndarray
    """Angle the alive drones' centroid has travelled around the path centre ``(B,)``."""


@register("swarm/formation-v0")
class Formation(Scenario):
    """The scenario (see the module documentation). Per-world episode state, drawn by ``reset``
    for the episode: the leader's start (``phase0``, ``direction``), the shapes (``first_shape``,
    ``second_shape``, ``switch_step``), each drone's ``drop_step``, the ``wind_field``. Advanced
    by ``sense`` alone: ``time``, the leader, the commanded ``shape``, the ``slots``; ``wind`` at
    each drone, which the next ``apply_actions`` adds to the thrust; ``progress`` along the path
    (advanced once per step, although the vector env senses twice where other worlds reset)."""

    config_class = FormationConfig
    metric_reduce = {
        "formation_error": "mean",
        "slot_error": "mean",
        "polarization": "mean",
        "collisions": "mean",
        "progress": "last",
        "dropped": "last",
    }
    parked_bodies = {"drone": "drone"}

    def __init__(self, cfg: FormationConfig) -> None:
        super().__init__(cfg)
        self.layout = observation_layout(cfg)
        action_space = thrust_space(cfg.continuous_actions)
        self._groups = {"drone": GroupSpec.of("drone", cfg.n_agents, self.layout, action_space)}
        self.shape_choices = np.array([SHAPES.index(s) for s in cfg.shapes], np.int64)

    def groups(self) -> dict[str, GroupSpec]:
        return self._groups

    def state_size(self) -> int:
        return 7 * self.cfg.n_agents + 7

    # ------------------------------------------------------------------------------ world
    def make_world(self, num_worlds: int) -> WorldBatch:
        cfg = self.cfg
        n, b = cfg.n_agents, num_worlds
        world = WorldBatch(
            num_worlds, cfg.side, cfg.side, dt=cfg.dt, substeps=cfg.substeps, damping=cfg.damping
        )
        world.geometry.add_walls(cfg.side, cfg.side, thickness=0.5)
        # Thrust is capped in apply_actions; the wind comes on top of it.
        dynamics = HolonomicPointMass(cfg.max_force, cfg.max_speed, limit_force=False)
        self.drones = world.add_group("drone", n, radius=cfg.drone_radius, dynamics=dynamics)
        # Drawn by reset.
        self.drop_step = np.zeros((b, n), np.int64)
        self.phase0 = np.zeros(b, np.float32)
        self.direction = np.ones(b, np.float32)
        self.first_shape = np.zeros(b, np.int64)
        self.second_shape = np.zeros(b, np.int64)
        self.switch_step = np.zeros(b, np.int64)
        self.wind_field = WindField(b, cfg)
        # Advanced by sense.
        self.time = np.zeros(b, np.float32)
        self.shape = np.zeros((b, 1), np.int64)
        self.leader = np.zeros((b, 1), np.complex64)
        self.leader_velocity = np.zeros((b, 1), np.complex64)
        self.slots = np.zeros((b, n), np.complex64)
        self._offsets = np.zeros((b, n), np.complex64)
        self._offsets_alive = np.zeros((b, n), bool)  # the alive drones _offsets are for
        self.wind = np.zeros((b, n), np.complex64)
        self.progress = PathProgress(b)
        self.obs = self.layout.buffer(b, n)
        self._found = min(cfg.k_neighbours, n - 1)
        self._one_hot = np.eye(len(SHAPES), dtype=np.float32)
        self._state = np.zeros((b, self.state_size()), np.float32)
        self._reward = np.zeros((b, n), np.float32)
        self._near = Neighbours.empty(b, n, self._found, count=True)
        self._overlaps = np.zeros((b, n), np.float32)
        layout = self.layout
        flags = layout.valid_slice("neighbours").start if cfg.k_neighbours else 0
        self._neighbour_layout = np.array(
            [layout.start("neighbours"), flags, self._found], np.int64
        )
        return world

    def reset(self, world: WorldBatch, rng: WorldRandom, env_ids: np.ndarray) -> None:
        cfg = self.cfg
        n, count = cfg.n_agents, len(env_ids)
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
        self.wind_field.draw(rng, env_ids)
        self._offsets_alive[env_ids] = False  # slots are made anew at the next sense
        # Drones start on a jittered grid around the leader's start, a spacing behind it.
        start = cfg.radius * np.exp(1j * self.phase0[env_ids])
        x, y = spaced_points(rng, count, n, cfg.spawn_reach, 2.5 * cfg.drone_radius)
        centre = start * (1 - 1.5 * cfg.spacing / cfg.radius)
        world.reset_bodies("drone", env_ids, x + centre.real[:, None], y + centre.imag[:, None])
        self.progress.restart(env_ids, self.drones.position[env_ids].mean(axis=1))

    # ------------------------------------------------------------------------------- step
    def apply_actions(self, world: WorldBatch, actions: dict[str, np.ndarray]) -> None:
        cfg = self.cfg
        write_thrust(actions["drone"], self.drones.command, cfg.max_force, cfg.continuous_actions)
        thrust = self.drones.command.view(np.complex64)[..., 0]  # made at the first reset
        if cfg.continuous_actions:  # the box allows sqrt(2) max_force on the diagonals
            thrust *= cfg.max_force / np.maximum(np.abs(thrust), cfg.max_force)
        thrust += self.wind  # at each drone, as the last sense measured it

    def sense(self, world: WorldBatch, episode: Episode) -> FormationFrame:
        steps, alive = episode.steps, episode.alive["drone"]
        self._advance_leader_and_slots(steps, alive)
        drones, position = self.drones, self.drones.position
        to_slot = self.obs.complex("slot")[..., 0]
        np.subtract(self.slots, position, out=to_slot)
        near, found = self._near, self._found
        # Dropped drones are parked far below every arena, apart: the fast (unmasked) search
        # sorts them last and counts no overlap with them; they are masked out afterwards.
        limit = 2 * self.cfg.drone_radius + self.cfg.contact_margin
        nearest_neighbours(position, drones.velocity, found, count_within=limit, out=near)
        overlaps = np.multiply(near.count, alive, out=self._overlaps)
        count = np.maximum(np.add.reduce(alive, axis=1), 1).astype(np.float32)
        self.progress.advance(steps, self.direction, self.drones.position, alive, count)
        return FormationFrame(
            world,
            episode,
            leader=self.leader,
            leader_velocity=self.leader_velocity,
            shape=self.shape,
            slots=self.slots,
            wind=self.wind,
            to_slot=to_slot,
            near=near if found else None,
            slot_error=np.add.reduce(np.abs(to_slot) * alive, axis=1) / count,
            overlaps=overlaps,
            collision_rate=np.add.reduce(overlaps, axis=1) / count,
            dropping=(self.drop_step == steps[:, None]) & alive,
            centroid_travel=self.progress.travel.copy(),
        )

    def _advance_leader_and_slots(self, steps: np.ndarray, alive: np.ndarray) -> None:
        """Time, leader, commanded shape and slots at step ``steps``; the wind at the drones."""
        cfg = self.cfg
        time = (steps * cfg.dt).astype(np.float32)
        self.time[...] = time
        phase = self.phase0 + self.direction * (cfg.leader_speed / cfg.radius) * time
        around = np.exp(1j * phase).astype(np.complex64)
        heading = 1j * self.direction * around
        self.leader[:, 0] = cfg.radius * around
        self.leader_velocity[:, 0] = cfg.leader_speed * heading
        shape = np.where(steps >= self.switch_step, self.second_shape, self.first_shape)
        # Slots change only with the shape or the alive set: made anew on those steps.
        if not np.array_equal(alive, self._offsets_alive) or np.any(shape != self.shape[:, 0]):
            self.shape[:, 0] = shape
            self._offsets_alive[...] = alive
            rank = np.cumsum(alive, axis=1) - 1
            count = rank[:, -1:] + 1
            self._offsets = slot_offsets(self.shape, rank, count, cfg.spacing)
        np.multiply(heading[:, None], self._offsets, out=self.slots)
        self.slots += self.leader
        self.wind[...] = self.wind_field.at(self.drones.x, self.drones.y, time)

    def observe(self, frame: FormationFrame) -> dict[str, np.ndarray]:
        drones, obs = self.drones, self.obs
        obs["own"][...] = drones.kinematics
        np.subtract(frame.leader, drones.position, out=obs.complex("leader")[..., 0])
        obs.complex("leader_velocity")[..., 0] = frame.leader_velocity
        obs.complex("wind")[..., 0] = frame.wind * np.float32(1.0 / drones.mass)
        obs["shape"][...] = self._one_hot[frame.shape[:, 0]][:, None, :]
        if self._found:
            self._observe_neighbours(frame)
        return {"drone": obs.array}

    def _observe_neighbours(self, frame: FormationFrame) -> None:
        """The neighbours block in one compiled pass (``formation_kernels``); dropped drones
        are no neighbours."""
        near, alive = frame.near, frame.episode.alive["drone"]
        formation_kernels.observe_neighbours(
            (near.index, near.offset, near.velocity, near.mask),
            alive,
            not alive.all(),
            frame.slots,
            self._neighbour_layout,
            self.obs.array,
        )

    def reward(self, frame: FormationFrame) -> Reward:
        formation = -frame.slot_error[:, None]
        collision = frame.overlaps * np.float32(-self.cfg.collision_penalty)
        np.add(formation, collision, out=self._reward)
        return Reward({"drone": self._reward}, {"formation": formation, "collision": collision})

    def terminated(self, frame: FormationFrame) -> dict[str, np.ndarray]:
        return {"drone": frame.dropping}

    def metrics(self, frame: FormationFrame) -> dict[str, np.ndarray]:
        cfg = self.cfg
        # The drones still flying after this step's dropouts (whether the vector env has
        # taken them out of ``alive`` yet or not).
        flying = frame.episode.alive["drone"] & ~frame.dropping
        steps = frame.episode.steps
        leader_travel = steps * (cfg.dt * cfg.leader_speed / cfg.radius)
        with np.errstate(invalid="ignore", divide="ignore"):
            progress = np.where(
                steps > 0, frame.centroid_travel / np.maximum(leader_travel, 1e-9), 0.0
            )
        return {
            "formation_error": procrustes_error(self.drones.position, frame.slots, flying),
            "slot_error": frame.slot_error,
            "polarization": polarization(self.drones.velocity, flying),
            "collisions": frame.collision_rate,
            "progress": progress,
            "dropped": ~flying,
        }

    def state(self, frame: FormationFrame) -> np.ndarray:
        n, drones, state = self.cfg.n_agents, self.drones, self._state
        slots, alive = frame.slots, frame.episode.alive["drone"]
        columns = (drones.x, drones.y, drones.vx, drones.vy, slots.real, slots.imag, alive)
        for i, values in enumerate(columns):
            state[:, i * n : (i + 1) * n] = values
        tail = state[:, 7 * n :]
        tail[:, 0:2] = frame.leader.view(np.float32)  # x, y
        tail[:, 2:4] = frame.leader_velocity.view(np.float32)
        tail[:, 4:] = self._one_hot[frame.shape[:, 0]]
        return state

    # ---------------------------------------------------------------------------- render
    def render_extra(self, world: WorldBatch, canvas, env_index: int) -> None:
        draw_formation(canvas, self, env_index)

    def scripted_policy(self) -> ConsensusFormationPolicy:
        from scenarios.swarm.formation_baseline import ConsensusFormationPolicy

        return ConsensusFormationPolicy(self.cfg)


document(Formation)

if __name__ == "__main__":
    import sys

    from scenarios.replay import main as replay_main

    raise SystemExit(replay_main(["swarm/formation-v0", *sys.argv[1:]]))
