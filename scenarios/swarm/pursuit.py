"""swarm/pursuit-v0: pursuers hunt faster evaders among occluding obstacles, seeing only ahead.

Two teams of drones in a walled arena with square obstacles that block motion and sight. Evaders
are faster; pursuers are more numerous (``n_pursuers`` and ``n_evaders`` set the ratio). Each
drone sees the other team only inside its view cone (``*_fov_degrees`` around its heading, the
direction of its velocity) and range, and only where no obstacle stands in the line of sight.
An evader is captured when a pursuer's centre comes within ``capture_radius`` of its own.

Agents
    Groups ``pursuer`` (``n_pursuers``, ids ``pursuer_0`` ...) and ``evader`` (``n_evaders``).
    A captured evader is done (per-agent termination); its body is parked outside the arena.
    When every evader of a world is captured the pursuers are done too and the world ends.

Observation (float32, per drone; the same layout for both teams; its size does not depend on
the team sizes)
    ``[x, y, vx, vy, hx, hy`` (own state and unit heading),
    ``(dx, dy, dvx, dvy)`` of the ``k_teammates`` nearest teammates still in the game, a valid
    flag for each, ``(dx, dy, dvx, dvy)`` of the ``k_opponents`` nearest *visible* opponents
    (in the view cone, in range, line of sight clear of obstacles, not captured), a valid flag
    for each, and ``n_rays`` lidar distances against walls and obstacles (rays at angles
    ``2 pi r / n_rays`` from +x, ``lidar_range`` when nothing is hit)``]``. Size
    ``6 + 5 * (k_teammates + k_opponents) + n_rays``. Missing entries are zeros.

Actions
    ``Discrete(5)`` (default): no thrust, +x, -x, +y, -y at full thrust. With
    ``continuous_actions=True``: ``Box(-1, 1, (2,))``, thrust as a fraction of the team's
    ``max_force``.

Reward (zero-sum between the teams, per step)
    The pursuers' team term ``T = capture_reward * (evaders captured this step)
    - time_penalty * (fraction of evaders still free)``; every pursuer gets ``T`` and every
    evader still in the game ``-T``. Logged terms: ``capture`` and ``time`` (the pursuers' side
    of the two parts; the evaders receive their negatives).

Termination
    An evader when captured; the pursuers when no evader is left. Truncation after
    ``max_steps``.

Metrics (per episode)
    ``capture_rate``: fraction of evaders captured; ``time_to_capture``: mean time in seconds
    from the start to each capture, over the captured evaders (NaN when none was caught);
    ``survival_time``: mean time evaders stayed free, counting those never caught as free until
    the episode's end; ``visible``: fraction of steps in which some pursuer saw a free evader.

State (for a centralized critic)
    Pursuers' ``x, y, vx, vy`` (blocks of ``n_pursuers``), evaders' ``x, y, vx, vy`` and free
    flags (blocks of ``n_evaders``): ``4 * n_pursuers + 5 * n_evaders`` floats.

Scripted baselines (``PursuitBaseline`` = ``PurePursuitPolicy`` + ``EvasionPolicy``)
    Pursuers: pure pursuit with lead: steer at ``e + v_e * |e| / v_max`` for the nearest visible
    evader at offset ``e`` with relative velocity ``v_e``; with none in sight, sweep the arena
    on a circle of radius ``0.3 * side`` (each pursuer its own direction around it).
    Evaders: maximize the minimum distance: among 16 headings at full speed, go where
    ``min_j |p + u * v_max * tau - (p + e_j + v_j * tau)|`` is largest (``tau = 0.8`` s, the
    candidate point clipped to the arena, points near obstacles penalized; ``e_j, v_j`` the seen
    pursuers' offsets and velocities); brake when no pursuer is seen. Each side's policy can
    also play alone against a learned opponent (self-play, league).

Parameters: see ``PursuitConfig``. Render an episode of the baselines with
``python -m scenarios.swarm.pursuit`` or ``marl play swarm/pursuit-v0``.
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
    DroneConfig,
    steer,
    thrust_action,
    thrust_space,
    write_thrust,
)
from worlds import HolonomicPointMass, WorldBatch
from worlds.sensors import nearest_neighbours
from worlds.visibility import box_lidar, in_field_of_view, line_of_sight, ray_directions

TEAMS = ("pursuer", "evader")


@dataclass(frozen=True)
class PursuitConfig(DroneConfig):
    max_steps: int = param(150, low=1, high=MAX_STEPS)
    """Steps per episode (dt each) before truncation."""
    n_pursuers: int = param(3, low=1, high=256)
    """Pursuers (the main agent count)."""
    n_evaders: int = param(2, low=1, high=256)
    """Evaders."""
    n_obstacles: int = param(2, low=0, high=4)
    """Square obstacles (0 to 4), fixed places on the diagonals."""
    k_teammates: int = param(2, low=0, high=256)
    """Nearest teammates in each observation (zero-padded)."""
    k_opponents: int = param(2, low=0, high=256)
    """Nearest visible opponents in each observation (zero-padded)."""
    arena_size: float = param(0.0, low=0.0, high=1000.0)
    """Side of the square arena in metres; 0 scales it as 1.2 * sqrt(all drones)."""
    obstacle_size: float = param(0.15, low=0.0, high=0.3, low_open=True, high_open=True)
    """Obstacle side as a fraction of the arena side."""
    pursuer_fov_degrees: float = param(120.0, low=0.0, high=360.0, low_open=True)
    """Pursuers' view cone, full angle (360 sees all around)."""
    evader_fov_degrees: float = param(360.0, low=0.0, high=360.0, low_open=True)
    """Evaders' view cone, full angle."""
    view_range: float = param(2.5, low=0.0, high=1000.0, low_open=True)
    """How far drones see the other team, metres."""
    capture_radius: float = param(0.25, low=0.0, high=100.0, low_open=True)
    """A pursuer this close to an evader (centre to centre) captures it, metres."""
    n_rays: int = param(8, low=0, high=360)
    """Lidar rays per drone (walls and obstacles)."""
    lidar_range: float = param(1.0, low=0.0, high=1000.0, low_open=True)
    """Lidar range in metres."""
    pursuer_speed: float = param(1.0, low=0.0, high=100.0, low_open=True)
    """Pursuers' speed cap, m/s."""
    evader_speed: float = param(1.3, low=0.0, high=100.0, low_open=True)
    """Evaders' speed cap, m/s (faster than the pursuers by default)."""
    pursuer_force: float = param(3.0, low=0.0, high=1000.0, low_open=True)
    """Pursuers' thrust limit, newtons (1 kg drones)."""
    evader_force: float = param(3.0, low=0.0, high=1000.0, low_open=True)
    """Evaders' thrust limit, newtons."""
    capture_reward: float = param(1.0, low=0.0, high=10_000.0)
    """Team reward to the pursuers per capture (and its negative to the evaders)."""
    time_penalty: float = param(0.01, low=0.0, high=10_000.0)
    """Pursuers' cost per step, times the fraction of evaders still free."""

    def validate(self, scenario_id: str) -> None:
        super().validate(scenario_id)
        c = scenario_id
        check(
            c,
            len(self.spawn_slots) >= self.n_pursuers + self.n_evaders,
            "arena_size",
            f"leaves too few free spawn places for {self.n_pursuers + self.n_evaders} drones "
            f"(n_pursuers + n_evaders) of drone_radius {self.drone_radius:g} among "
            f"{self.n_obstacles} obstacles (n_obstacles, obstacle_size); enlarge arena_size",
            self.side,
        )

    @property
    def side(self) -> float:
        return self.arena_size or 1.2 * math.sqrt(self.n_pursuers + self.n_evaders)

    @property
    def obstacles(self) -> list[tuple[float, float, float]]:
        """``(x, y, half side)`` of each obstacle, on the diagonals at 0.25 of the side."""
        ring, half = 0.25 * self.side * math.sqrt(2), self.obstacle_size * self.side / 2
        angles = [math.pi / 4 + math.pi / 2 * k for k in (0, 2, 1, 3)][: self.n_obstacles]
        return [(ring * math.cos(a), ring * math.sin(a), half) for a in angles]

    @property
    def spawn_slots(self) -> np.ndarray:
        """Complex spawn places: a grid of 0.5 m cells, clear of obstacles and walls."""
        cells = max(2, int(self.side / 0.5))
        pitch = self.side / cells
        centres = -self.side / 2 + (np.arange(cells) + 0.5) * pitch
        x, y = np.meshgrid(centres, centres)
        free = np.ones(x.shape, bool)
        for ox, oy, half in self.obstacles:
            clear = half + 2 * self.drone_radius
            free &= (np.abs(x - ox) > clear) | (np.abs(y - oy) > clear)
        return (x[free] + 1j * y[free]).astype(np.complex64)


@register("swarm/pursuit-v0")
class Pursuit(Scenario):
    config_class = PursuitConfig
    metric_reduce = {
        "capture_rate": "last",
        "time_to_capture": "last",
        "survival_time": "last",
        "visible": "mean",
    }

    def __init__(self, cfg: PursuitConfig) -> None:
        super().__init__(cfg)
        self.obs_size = 6 + 5 * (cfg.k_teammates + cfg.k_opponents) + cfg.n_rays
        action_space = thrust_space(cfg.continuous_actions)
        counts = {"pursuer": cfg.n_pursuers, "evader": cfg.n_evaders}
        self._groups = {
            team: GroupSpec(
                team,
                counts[team],
                spaces.Box(-np.inf, np.inf, (self.obs_size,), np.float32),
                action_space,
            )
            for team in TEAMS
        }
        self.reward_terms: dict[str, np.ndarray] = {}

    def groups(self) -> dict[str, GroupSpec]:
        return self._groups

    def state_size(self) -> int:
        return 4 * self.cfg.n_pursuers + 5 * self.cfg.n_evaders

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
        self.teams = {
            "pursuer": world.add_group(
                "pursuer",
                cfg.n_pursuers,
                radius=cfg.drone_radius,
                dynamics=HolonomicPointMass(cfg.pursuer_force, cfg.pursuer_speed),
            ),
            "evader": world.add_group(
                "evader",
                cfg.n_evaders,
                radius=cfg.drone_radius,
                dynamics=HolonomicPointMass(cfg.evader_force, cfg.evader_speed),
            ),
        }
        self.obstacle_boxes = np.array(
            [(ox, oy, half, half) for ox, oy, half in cfg.obstacles], np.float32
        ).reshape(-1, 4)
        self.occluders = world.geometry.lidar_segments()[16:]  # obstacle edges, not walls
        self.world = world
        self.spawn_slots = cfg.spawn_slots
        self.heading = {
            team: np.ones((num_worlds, group.n), np.complex64) for team, group in self.teams.items()
        }
        self._obs = {
            team: np.zeros((num_worlds, group.n, self.obs_size), np.float32)
            for team, group in self.teams.items()
        }
        self.free = np.ones((num_worlds, cfg.n_evaders), bool)
        self.capture_step = np.zeros((num_worlds, cfg.n_evaders), np.int64)
        self.steps = np.zeros(num_worlds, np.int64)
        self._state = np.zeros((num_worlds, self.state_size()), np.float32)
        self._captured = np.zeros((num_worlds, cfg.n_evaders), bool)
        self._visible_any = np.zeros(num_worlds, bool)
        self._team_reward = {
            team: np.zeros((num_worlds, group.n), np.float32) for team, group in self.teams.items()
        }
        return world

    def reset(self, world: WorldBatch, rng: WorldRandom, env_ids: np.ndarray) -> None:
        cfg = self.cfg
        count, slots = len(env_ids), self.spawn_slots
        total = cfg.n_pursuers + cfg.n_evaders
        order = np.argsort(rng.random((count, len(slots))), axis=1)[:, :total]
        jitter = 0.1 * (
            rng.uniform(-1, 1, (count, total)) + 1j * rng.uniform(-1, 1, (count, total))
        )
        places = slots[order] + jitter
        for team, part in (
            ("pursuer", places[:, : cfg.n_pursuers]),
            ("evader", places[:, cfg.n_pursuers :]),
        ):
            world.reset_bodies(team, env_ids, part.real, part.imag)
            # Start facing the arena's centre.
            toward = -part / np.maximum(np.abs(part), 1e-6)
            self.heading[team][env_ids] = np.where(np.abs(part) > 1e-6, toward, 1).astype(
                np.complex64
            )
        self.free[env_ids] = True
        self.capture_step[env_ids] = 0
        self.steps[env_ids] = 0
        self._captured[env_ids] = False

    # ------------------------------------------------------------------------------- step
    def apply_actions(self, world: WorldBatch, actions: dict[str, np.ndarray]) -> None:
        cfg = self.cfg
        write_thrust(
            actions["pursuer"],
            self.teams["pursuer"].command,
            cfg.pursuer_force,
            cfg.continuous_actions,
        )
        write_thrust(
            actions["evader"],
            self.teams["evader"].command,
            cfg.evader_force,
            cfg.continuous_actions,
        )
        self.teams["evader"].command[~self.free] = 0.0  # parked bodies stay put
        self.steps += 1

    def _visibility(self) -> tuple[np.ndarray, np.ndarray]:
        """Who sees whom: pursuers -> evaders ``(B, Np, Ne)`` and evaders -> pursuers."""
        cfg = self.cfg
        pursuers, evaders = self.teams["pursuer"].position, self.teams["evader"].position
        offset = evaders[:, None, :] - pursuers[:, :, None]  # (B, Np, Ne)
        clear = line_of_sight(pursuers, evaders, self.occluders) & self.free[:, None, :]
        sees = in_field_of_view(
            offset,
            self.heading["pursuer"],
            math.radians(cfg.pursuer_fov_degrees) / 2,
            cfg.view_range,
        )
        seen_by = in_field_of_view(
            -offset.transpose(0, 2, 1),
            self.heading["evader"],
            math.radians(cfg.evader_fov_degrees) / 2,
            cfg.view_range,
        )
        return sees & clear, seen_by & clear.transpose(0, 2, 1)

    def observe(self, world: WorldBatch) -> dict[str, np.ndarray]:
        cfg = self.cfg
        for team, group in self.teams.items():
            speed = np.abs(group.velocity)
            moving = speed > 0.05
            self.heading[team] = np.where(
                moving, group.velocity / np.maximum(speed, 1e-6), self.heading[team]
            ).astype(np.complex64)
        pursuer_sees, evader_sees = self._visibility()
        self._pursuer_sees = pursuer_sees
        self._visible_any = pursuer_sees.any(axis=(1, 2))
        alive = {"pursuer": None, "evader": self.free}
        for team, other, sees in (
            ("pursuer", "evader", pursuer_sees),
            ("evader", "pursuer", evader_sees),
        ):
            group, opponents, obs = self.teams[team], self.teams[other], self._obs[team]
            obs[..., :4] = group.kinematics
            obs[..., 4] = self.heading[team].real
            obs[..., 5] = self.heading[team].imag
            start = 6
            k = min(cfg.k_teammates, group.n - 1)
            block = obs[..., start : start + 5 * cfg.k_teammates]
            block[...] = 0.0
            if k:
                near = nearest_neighbours(group.position, group.velocity, k, alive=alive[team])
                _write_neighbours(block, cfg.k_teammates, near.offset, near.velocity, near.mask)
            start += 5 * cfg.k_teammates
            block = obs[..., start : start + 5 * cfg.k_opponents]
            block[...] = 0.0
            if cfg.k_opponents:
                offset, velocity, mask = _nearest_visible(
                    group.position,
                    group.velocity,
                    opponents.position,
                    opponents.velocity,
                    sees,
                    cfg.k_opponents,
                )
                _write_neighbours(block, cfg.k_opponents, offset, velocity, mask)
            start += 5 * cfg.k_opponents
            if cfg.n_rays:
                obs[..., start:] = box_lidar(
                    group.x,
                    group.y,
                    cfg.n_rays,
                    cfg.lidar_range,
                    room=(cfg.side / 2, cfg.side / 2),
                    boxes=self.obstacle_boxes,
                )
        return self._obs

    def reward(self, world: WorldBatch) -> dict[str, np.ndarray]:
        cfg = self.cfg
        pursuers, evaders = self.teams["pursuer"].position, self.teams["evader"].position
        gap = np.abs(evaders[:, None, :] - pursuers[:, :, None]).min(axis=1)  # (B, Ne)
        self._captured = (gap <= cfg.capture_radius) & self.free
        captures = self._captured.sum(axis=1, keepdims=True).astype(np.float32)
        capture = captures * np.float32(cfg.capture_reward)
        free_fraction = self.free.mean(axis=1, keepdims=True).astype(np.float32)
        time = free_fraction * np.float32(-cfg.time_penalty)
        team = capture + time
        self._team_reward["pursuer"][...] = team
        np.negative(team, out=self._team_reward["evader"][:, :1])
        self._team_reward["evader"][...] = self._team_reward["evader"][:, :1]
        self.reward_terms = {"capture": capture, "time": time}
        return self._team_reward

    def terminated(self, world: WorldBatch) -> dict[str, np.ndarray]:
        captured = self._captured
        if captured.any():
            env_ids, evader_ids = np.nonzero(captured)
            self.capture_step[env_ids, evader_ids] = self.steps[env_ids]
            self.free &= ~captured
            world.park_bodies("evader", env_ids, evader_ids)
        done = ~self.free.any(axis=1)
        return {
            "pursuer": np.broadcast_to(done[:, None], (len(done), self.cfg.n_pursuers)).copy(),
            "evader": captured.copy(),
        }

    def metrics(self, world: WorldBatch) -> dict[str, np.ndarray]:
        dt = self.cfg.dt
        caught = ~self.free
        count = caught.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            time_to_capture = np.where(
                count > 0, (self.capture_step * caught).sum(axis=1) * dt / count, np.nan
            )
        survival = np.where(caught, self.capture_step, self.steps[:, None]) * dt
        return {
            "capture_rate": caught,
            "time_to_capture": time_to_capture,
            "survival_time": survival,
            "visible": self._visible_any,
        }

    def state(self, world: WorldBatch) -> np.ndarray:
        state, column = self._state, 0
        for team in TEAMS:
            group = self.teams[team]
            for values in (group.x, group.y, group.vx, group.vy):
                state[:, column : column + group.n] = values
                column += group.n
        state[:, column:] = self.free
        return state

    # ---------------------------------------------------------------------------- render
    def render_extra(self, world: WorldBatch, canvas, env_index: int) -> None:
        from worlds.render import GROUP_COLORS  # rendering only: keep Pillow off the import

        cfg = self.cfg
        for team, color, fov in (
            ("pursuer", (52, 101, 164), cfg.pursuer_fov_degrees),
            ("evader", (204, 0, 0), cfg.evader_fov_degrees),
        ):
            group = self.teams[team]
            for i in range(group.n):
                if team == "evader" and not self.free[env_index, i]:
                    continue
                x, y = float(group.x[env_index, i]), float(group.y[env_index, i])
                heading = complex(self.heading[team][env_index, i])
                if fov < 360:
                    half = math.radians(fov) / 2
                    reach = min(cfg.view_range, 0.6)
                    base = math.atan2(heading.imag, heading.real)
                    arc = [base - half + 2 * half * s / 8 for s in range(9)]
                    points = [(x, y)] + [
                        (x + reach * math.cos(a), y + reach * math.sin(a)) for a in arc
                    ]
                    canvas.polygon(points, fill=(220, 230, 245), outline=color)
                if team == "evader":
                    canvas.circle(x, y, cfg.capture_radius, fill=None, outline=color)
        if hasattr(self, "_pursuer_sees"):
            sees = self._pursuer_sees[env_index]
            pursuers, evaders = self.teams["pursuer"], self.teams["evader"]
            for i, j in zip(*np.nonzero(sees), strict=True):
                canvas.line(
                    float(pursuers.x[env_index, i]),
                    float(pursuers.y[env_index, i]),
                    float(evaders.x[env_index, j]),
                    float(evaders.y[env_index, j]),
                    (245, 121, 0),
                )
        for index, team in enumerate(TEAMS):  # the drones again, on top of the view cones
            group = self.teams[team]
            for i in range(group.n):
                x, y = float(group.x[env_index, i]), float(group.y[env_index, i])
                canvas.circle(x, y, cfg.drone_radius, fill=GROUP_COLORS[index])
        free = int(self.free[env_index].sum())
        canvas.text(-cfg.side / 2, cfg.side / 2, f"free evaders {free}/{cfg.n_evaders}")

    def scripted_policy(self) -> PursuitBaseline:
        return PursuitBaseline(PurePursuitPolicy(self.cfg), EvasionPolicy(self.cfg))


def _write_neighbours(block, k, offset, velocity, mask) -> None:
    """Write ``(dx, dy, dvx, dvy)`` blocks then valid flags into ``block`` ``(B, N, 5 k)``."""
    found = offset.shape[-1]
    pairs = block[..., : 4 * k].view(np.complex64).reshape(*block.shape[:2], k, 2)
    pairs[..., :found, 0] = np.where(mask, offset, 0)
    pairs[..., :found, 1] = np.where(mask, velocity, 0)
    block[..., 4 * k : 4 * k + found] = mask


def _nearest_visible(position, velocity, other_position, other_velocity, sees, k):
    """The ``k`` nearest of the other team that each drone sees: offsets, relative velocities
    (complex ``(B, N, k')``, ``k' = min(k, M)``) and a mask."""
    offset = other_position[:, None, :] - position[:, :, None]  # (B, N, M)
    dist2 = np.where(sees, np.abs(offset) ** 2, np.inf)
    found = min(k, offset.shape[-1])
    index = np.argsort(dist2, axis=-1, kind="stable")[..., :found]
    mask = np.isfinite(np.take_along_axis(dist2, index, axis=-1))
    near_offset = np.take_along_axis(offset, index, axis=-1)
    relative = (
        np.take_along_axis(
            np.broadcast_to(other_velocity[:, None, :], offset.shape), index, axis=-1
        )
        - velocity[:, :, None]
    )
    return near_offset.astype(np.complex64), relative.astype(np.complex64), mask


# ---------------------------------------------------------------------------------- baselines
def _own(o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (o[..., 0] + 1j * o[..., 1]), (o[..., 2] + 1j * o[..., 3])


def _opponents(o: np.ndarray, cfg: PursuitConfig):
    """Nearest visible opponent's offset and relative velocity, and whether there is one."""
    start = 6 + 5 * cfg.k_teammates
    if not cfg.k_opponents:
        zero = np.zeros(o.shape[:2], np.complex64)
        return zero, zero, np.zeros(o.shape[:2], bool)
    offset = o[..., start] + 1j * o[..., start + 1]
    velocity = o[..., start + 2] + 1j * o[..., start + 3]
    return offset, velocity, o[..., start + 4 * cfg.k_opponents] > 0.5


class PurePursuitPolicy:
    """Pursuers' baseline: pure pursuit with lead, arena sweep when nothing is in sight."""

    group = "pursuer"

    def __init__(self, cfg: PursuitConfig, gain: float = 3.0) -> None:
        self.cfg = cfg
        self.gain = gain

    def act(self, obs: dict[str, np.ndarray], action_mask=None, deterministic: bool = True):
        cfg = self.cfg
        o = obs["pursuer"]
        position, velocity = _own(o)
        offset, relative, seen = _opponents(o, cfg)
        evader_velocity = relative + velocity
        lead = np.abs(offset) / cfg.pursuer_speed
        chase = position + offset + evader_velocity * np.minimum(lead, 1.5)
        # Sweep: a point ahead on a circle of radius 0.3 side, direction by the drone's index.
        angle = np.angle(position)
        direction = np.where(np.arange(o.shape[1]) % 2 == 0, 1.0, -1.0)
        sweep = 0.3 * cfg.side * np.exp(1j * (angle + 0.6 * direction))
        goal = np.where(seen, chase, sweep)
        action = steer(
            position,
            velocity,
            goal,
            gain=self.gain,
            max_speed=cfg.pursuer_speed,
            continuous=cfg.continuous_actions,
        )
        return {"pursuer": action}


class EvasionPolicy:
    """Evaders' baseline: go where the minimum distance to the seen pursuers will be largest.

    Candidates are ``n_directions`` headings at full speed for ``horizon`` seconds (kept inside
    the arena, away from obstacles); each is scored by its minimum distance to the seen
    pursuers' positions extrapolated over the same horizon; the best one wins.
    """

    group = "evader"

    def __init__(self, cfg: PursuitConfig, horizon: float = 0.8, n_directions: int = 16) -> None:
        self.cfg = cfg
        self.horizon = horizon
        self.directions = ray_directions(n_directions).astype(np.complex128)

    def act(self, obs: dict[str, np.ndarray], action_mask=None, deterministic: bool = True):
        cfg = self.cfg
        o = obs["evader"].astype(np.float64)
        position, velocity = _own(o)
        start = 6 + 5 * cfg.k_teammates
        k = cfg.k_opponents
        slots = np.arange(k)
        offset = o[..., start + 4 * slots] + 1j * o[..., start + 4 * slots + 1]  # (B, N, k)
        relative = o[..., start + 4 * slots + 2] + 1j * o[..., start + 4 * slots + 3]
        valid = o[..., start + 4 * k + slots] > 0.5
        # Pursuers' positions after the horizon, relative to the evader now.
        threat = offset + (relative + velocity[..., None]) * self.horizon
        reach = cfg.evader_speed * self.horizon
        step = self.directions * reach  # (D,)
        limit = cfg.side / 2 - 2 * cfg.drone_radius
        target = position[..., None] + step  # (B, N, D)
        inside = np.clip(target.real, -limit, limit) + 1j * np.clip(target.imag, -limit, limit)
        moved = inside - position[..., None]
        gap = np.abs(moved[..., :, None] - threat[..., None, :])  # (B, N, D, k)
        gap = np.where(valid[..., None, :], gap, np.inf).min(axis=-1)
        score = np.minimum(gap, 10.0) + 0.3 * np.abs(moved)  # prefer moving when tied
        for ox, oy, half in cfg.obstacles:
            blocked = (np.abs(inside.real - ox) < half + 0.15) & (
                np.abs(inside.imag - oy) < half + 0.15
            )
            score = np.where(blocked, score - 5.0, score)
        best = np.take_along_axis(moved, score.argmax(axis=-1)[..., None], axis=-1)[..., 0]
        seen = valid.any(axis=-1)
        desired = best / np.maximum(np.abs(best), 1e-9) * cfg.evader_speed
        thrust = np.where(seen, desired - velocity, -velocity)
        return {"evader": thrust_action(thrust.astype(np.complex64), cfg.continuous_actions)}


class PursuitBaseline:
    """Acts for both teams by combining one policy per team (e.g. a scripted side against a
    learned one): ``PursuitBaseline(PurePursuitPolicy(cfg), EvasionPolicy(cfg))``."""

    def __init__(self, pursuer_policy, evader_policy) -> None:
        self.policies = {"pursuer": pursuer_policy, "evader": evader_policy}

    def act(self, obs: dict[str, np.ndarray], action_mask=None, deterministic: bool = True):
        actions = {}
        for team, policy in self.policies.items():
            actions[team] = policy.act(obs, action_mask, deterministic)[team]
        return actions


if __name__ == "__main__":
    import sys

    from scenarios.replay import main as replay_main

    raise SystemExit(replay_main(["swarm/pursuit-v0", *sys.argv[1:]]))
