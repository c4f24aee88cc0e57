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

Observation (float32, per drone; the same layout for both teams, whose size does not depend on
the team sizes; blocks in this order, sizes for the default config)
{observation}
    ``own``: position, velocity and unit heading. ``teammates``: the ``k_teammates`` nearest
    teammates still in the game. ``opponents``: the ``k_opponents`` nearest *visible* opponents
    (in the view cone, in range, line of sight clear of obstacles, not captured). ``lidar``:
    ``n_rays`` distances against walls and obstacles (rays at angles ``2 pi r / n_rays`` from
    +x, ``lidar_range`` when nothing is hit). Missing entries are zeros.

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

Outcome (for leagues)
    The evaders score their mean survival time as a share of the time limit
    (``max_steps * dt``), the pursuers the rest: capture time, the classic payoff of
    pursuit-evasion, which still ranks two teams that both catch everybody in the end.

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

from scenarios.core import MAX_STEPS, Episode, Frame, GroupSpec, Reward, Scenario, check
from scenarios.fields import param
from scenarios.layout import ObsLayout, entities, vector
from scenarios.registry import document, register
from scenarios.seeding import WorldRandom
from scenarios.swarm import pursuit_kernels
from scenarios.swarm.common import DroneConfig, thrust_space, write_thrust
from worlds import HolonomicPointMass, WorldBatch
from worlds.visibility import _inverse_directions, box_rows, room_extent, view_cone

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


def observation_layout(cfg: PursuitConfig) -> ObsLayout:
    """A drone's observation, block by block (the same for both teams)."""
    relative = ("dx", "dy", "dvx", "dvy")
    blocks = [
        vector("own", ("x", "y", "vx", "vy", "hx", "hy"), "position, velocity, heading"),
        entities("teammates", cfg.k_teammates, relative, "nearest teammates in", valid=True),
        entities("opponents", cfg.k_opponents, relative, "nearest opponents seen", valid=True),
    ]
    if cfg.n_rays:
        blocks.append(vector("lidar", cfg.n_rays, "distance to walls and obstacles per ray"))
    return ObsLayout(*blocks)


@dataclass
class PursuitFrame(Frame):
    """What one step measured (``Pursuit.sense``)."""

    sees: dict[str, np.ndarray]
    """Who sees whom: ``"pursuer"`` ``(B, Np, Ne)`` and ``"evader"`` ``(B, Ne, Np)``."""
    captured: np.ndarray
    """Evaders captured at this step ``(B, Ne)`` (free ones within a pursuer's reach)."""
    free: np.ndarray
    """Evaders still free when the step began ``(B, Ne)``."""
    visible: np.ndarray
    """Whether some pursuer sees a free evader ``(B,)``."""


@register("swarm/pursuit-v0")
class Pursuit(Scenario):
    config_class = PursuitConfig
    metric_reduce = {"visible": "mean"}
    parked_bodies = {"evader": "evader"}
    observes_restarted_only = True  # sense and observe update only Episode.restarted worlds

    def __init__(self, cfg: PursuitConfig) -> None:
        super().__init__(cfg)
        self.layout = observation_layout(cfg)
        action_space = thrust_space(cfg.continuous_actions)
        counts = {"pursuer": cfg.n_pursuers, "evader": cfg.n_evaders}
        self._groups = {
            team: GroupSpec.of(team, counts[team], self.layout, action_space) for team in TEAMS
        }

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
        self.occluders = box_rows(world.geometry.lidar_segments()[16:])  # obstacle edges
        self.spawn_slots = cfg.spawn_slots
        self._make_buffers(num_worlds)
        cones = [
            view_cone(math.radians(getattr(cfg, f"{team}_fov_degrees")) / 2, cfg.view_range)
            for team in TEAMS
        ]
        self._cones = tuple((mode, cos2) for mode, cos2, _ in cones), cones[0][2]
        self._lidar = (
            *_inverse_directions(cfg.n_rays),
            room_extent((side / 2, side / 2)),
            box_rows(self.obstacle_boxes),
            np.float32(cfg.lidar_range),
        )
        self._offsets = {team: self._layout_offsets(team) for team in TEAMS}
        # Teammates rank by squared distances whose lowest bits give way to the index while
        # nobody can leave (the pursuers), as the first kernels did; see observe_team.
        bits = max(1, (cfg.n_pursuers - 1).bit_length())
        self._index_bits = {"pursuer": bits if bits <= 10 else 0, "evader": 0}
        return world

    def _make_buffers(self, num_worlds: int) -> None:
        """Per-world state and the step's buffers, written in place."""
        cfg = self.cfg
        # Each drone's heading: the direction of its velocity, kept while it hovers. Per-world
        # state across steps, updated in ``sense`` only (idempotent for one world state).
        self.heading = {
            team: np.ones((num_worlds, group.n), np.complex64) for team, group in self.teams.items()
        }
        self.obs = {team: self.layout.buffer(num_worlds, g.n) for team, g in self.teams.items()}
        self._state = np.zeros((num_worlds, self.state_size()), np.float32)
        self._team_reward = {
            team: np.zeros((num_worlds, group.n), np.float32) for team, group in self.teams.items()
        }
        self._all_in = np.ones((num_worlds, cfg.n_pursuers), bool)  # pursuers never leave
        # capture, time: two arrays kept from step to step (the episode sums bind to them once;
        # views made anew each step would make them bind again).
        self._terms = tuple(np.zeros((num_worlds, 1), np.float32) for _ in range(2))
        self._done = {team: np.zeros((num_worlds, g.n), bool) for team, g in self.teams.items()}
        self._all_worlds = np.arange(num_worlds, dtype=np.int64)
        self._observed = self._all_worlds
        n_p, n_e = cfg.n_pursuers, cfg.n_evaders
        self._sensed = (
            np.zeros((num_worlds, n_p, n_e), bool),
            np.zeros((num_worlds, n_e, n_p), bool),
            np.zeros((num_worlds, n_e), bool),
            np.zeros(num_worlds, bool),
            np.zeros((num_worlds, n_p, n_e), np.float32),
        )

    def reset(self, world: WorldBatch, rng: WorldRandom, env_ids: np.ndarray) -> None:
        cfg = self.cfg
        count, slots = len(env_ids), self.spawn_slots
        total = cfg.n_pursuers + cfg.n_evaders
        # One draw per world: the slots' sort keys, then the jitter's x and y (uniform in
        # [-1, 1) as ``uniform`` computes it), the numbers three draws in this order take.
        draws = rng.random((count, len(slots) + 2 * total))
        x, y = np.empty((2, count, total))
        headings = (self.heading["pursuer"], self.heading["evader"])
        pursuit_kernels.spawn(draws, slots, np.asarray(env_ids, np.int64), headings, x, y)
        world.reset_bodies(TEAMS, env_ids, x, y)  # both teams in one call

    # ------------------------------------------------------------------------------- step
    def apply_actions(self, world: WorldBatch, actions: dict[str, np.ndarray]) -> None:
        cfg = self.cfg
        for team, force in (("pursuer", cfg.pursuer_force), ("evader", cfg.evader_force)):
            write_thrust(actions[team], self.teams[team].command, force, cfg.continuous_actions)

    def sense(self, world: WorldBatch, episode: Episode) -> PursuitFrame:
        """Headings (the direction of the velocity, kept while hovering), who sees whom, the
        pursuer-evader distances and the captures, in one compiled call
        (``pursuit_kernels.sense``) into buffers of the scenario's own; when the env senses
        the restarted worlds again (``Episode.restarted``) only those are updated."""
        free = episode.alive["evader"]
        worlds = self._all_worlds if episode.restarted is None else episode.restarted
        cones, range2 = self._cones
        pursuit_kernels.sense(
            worlds,
            self.teams["pursuer"].kinematics,
            self.teams["evader"].kinematics,
            (self.heading["pursuer"], self.heading["evader"]),
            free,
            self.occluders,
            cones,
            range2,
            np.float32(self.cfg.capture_radius),
            self._sensed,
        )
        sees_p, sees_e, captured, visible, _ = self._sensed
        self._observed = worlds
        return PursuitFrame(
            world,
            episode,
            sees={"pursuer": sees_p, "evader": sees_e},
            captured=captured,
            free=free,
            visible=visible,
        )

    def observe(self, frame: PursuitFrame) -> dict[str, np.ndarray]:
        """Each team's observations in one compiled call (``pursuit_kernels.observe_team``), for
        the worlds the last ``sense`` updated."""
        alive = {"pursuer": self._all_in, "evader": frame.free}
        distance = self._sensed[4]
        for team, other in (("pursuer", "evader"), ("evader", "pursuer")):
            group, buffer = self.teams[team], self.obs[team]
            pursuit_kernels.observe_team(
                self._observed,
                group.kinematics,
                self.heading[team],
                alive[team],
                self._index_bits[team],
                self.teams[other].kinematics,
                frame.sees[team],
                (distance, team == "evader"),
                self._lidar,
                self._offsets[team],
                buffer.array,
            )
        return {team: buffer.array for team, buffer in self.obs.items()}

    def _layout_offsets(self, team: str) -> np.ndarray:
        """Where ``observe_team`` writes each block (see its docstring)."""
        cfg, layout, n = self.cfg, self.layout, getattr(self.cfg, f"n_{team}s")
        offsets = [layout.start("own")]
        for name, slots, found in (
            ("teammates", cfg.k_teammates, min(cfg.k_teammates, n - 1)),
            ("opponents", cfg.k_opponents, cfg.k_opponents),
        ):
            offsets += [layout.start(name), layout.valid_slice(name).start, slots, found]
        offsets.append(layout.start("lidar") if cfg.n_rays else -1)
        return np.array(offsets, np.int64)

    def reward(self, frame: PursuitFrame) -> Reward:
        """The team terms and every agent's reward in one compiled call (``rewards``)."""
        cfg, capture, time = self.cfg, *self._terms
        pursuit_kernels.rewards(
            frame.captured,
            frame.free,
            np.float32(cfg.capture_reward),
            np.float32(-cfg.time_penalty),
            (self._team_reward["pursuer"], self._team_reward["evader"]),
            capture,
            time,
        )
        return Reward(self._team_reward, {"capture": capture, "time": time})

    def terminated(self, frame: PursuitFrame) -> dict[str, np.ndarray]:
        done = self._done
        pursuit_kernels.terminations(frame.free, frame.captured, done["pursuer"], done["evader"])
        return done

    def metrics(self, frame: PursuitFrame) -> dict[str, np.ndarray]:
        return {"visible": frame.visible}

    def episode_end(self, frame: PursuitFrame, env_ids: np.ndarray) -> dict[str, np.ndarray]:
        """Capture rate, mean time to capture (NaN when none was caught) and mean survival
        time of the ended episodes, from the steps at which evaders left, in one compiled call
        (``pursuit_kernels.episode_figures``)."""
        episode, env_ids = frame.episode, np.asarray(env_ids, np.int64)
        figures = np.empty((3, len(env_ids)))
        alive, ended_at = episode.alive["evader"], episode.ended_at["evader"]
        pursuit_kernels.episode_figures(
            alive, ended_at, episode.steps, self.cfg.dt, env_ids, figures
        )
        names = ("capture_rate", "time_to_capture", "survival_time")
        return dict(zip(names, figures, strict=True))

    def state(self, frame: Frame) -> np.ndarray:
        """Positions, velocities and free flags in one compiled call (``state_rows``)."""
        pursuers, evaders = self.teams["pursuer"], self.teams["evader"]
        alive = frame.episode.alive["evader"]
        pursuit_kernels.state_rows(pursuers.kinematics, evaders.kinematics, alive, self._state)
        return self._state

    # ---------------------------------------------------------------------------- render
    def render_extra(self, frame: PursuitFrame, canvas, env_index: int) -> None:
        from worlds.render import GROUP_COLORS  # rendering only: keep Pillow off the import

        cfg = self.cfg
        free = frame.episode.alive["evader"][env_index]
        for team, color, fov in (
            ("pursuer", (52, 101, 164), cfg.pursuer_fov_degrees),
            ("evader", (204, 0, 0), cfg.evader_fov_degrees),
        ):
            group = self.teams[team]
            for i in range(group.n):
                if team == "evader" and not free[i]:
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
        sees = frame.sees["pursuer"][env_index]
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
        canvas.text(-cfg.side / 2, cfg.side / 2, f"free evaders {int(free.sum())}/{cfg.n_evaders}")

    def outcome(self, episode: dict) -> dict[str, float]:
        """A match's scores, from the time the evaders stayed free (capture time is the payoff
        of pursuit-evasion games since Isaacs): the evaders score their mean survival time as a
        share of the episode's limit (``max_steps * dt``; an evader never caught counts the
        whole limit), the pursuers the rest. Nobody caught is the evaders' win; everybody
        caught at once the pursuers'; and once pursuers catch everybody in the end, the faster
        capture (or the longer escape) still scores higher, so progress on either side shows."""
        limit = self.cfg.max_steps * self.cfg.dt
        free = min(max(float(episode["metrics"]["survival_time"]) / limit, 0.0), 1.0)
        return {"pursuer": 1.0 - free, "evader": free}

    def scripted_policy(self):
        """Pure pursuit for the pursuers and evasion for the evaders
        (``scenarios.swarm.pursuit_baselines``)."""
        from scenarios.swarm.pursuit_baselines import (
            EvasionPolicy,
            PurePursuitPolicy,
            PursuitBaseline,
        )

        return PursuitBaseline(PurePursuitPolicy(self.cfg), EvasionPolicy(self.cfg))


document(Pursuit)

if __name__ == "__main__":
    import sys

    from scenarios.replay import main as replay_main

    raise SystemExit(replay_main(["swarm/pursuit-v0", *sys.argv[1:]]))
