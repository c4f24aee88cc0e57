"""warehouse/lifelong-v0: a stream of errands (pick here, drop there) for a fleet of robots.

The setting of the League of Robot Runners (LoRR, 2023-24) with physics: 16 to 256 robots on a
larger warehouse (racks as walls ``#``, floor ``.``, endpoints ``x`` beside the racks, stations
``g``; the presets of ``maps.lifelong_map`` or a text map), and a continuous stream of errands. An
errand is a pick cell and a drop cell; a robot completes it by arriving and settling in the pick
cell, then in the drop cell (settled: within ``settle`` cells of the centre, slower than
``settle`` cells per ``dt``). Each world keeps ``open_errands`` errands open: when one is
completed, the world's own stream (splitmix64 of a per-world key drawn at reset and a counter)
gives the next, so the errands do not depend on how many worlds run beside it. With
``stream="stations"`` errands go from an endpoint by the racks to a station, with ``"random"``
between two endpoints by the racks (LoRR's random tasks).

Two layers, and learning replaces one of them (``learn``):

* ``"motion"`` (default): the env's built-in scheduler (greedy: nearest idle robot and waiting
  errand first, compiled, inside the step) gives errands to idle robots; the agents drive.
* ``"scheduler"``: idle agents choose among their ``k_options`` nearest waiting errands, and the
  env's built-in motion planner (PIBT, ``lifelong_baseline.ErrandMotion``) drives every robot.
  The planner runs inside the step, world by world in Python (about 0.7 ms per world of 64
  robots, 2.3 ms of 256): this mode steps several times slower than ``"motion"``.

Physics
    Robots are 0.8-cell boxes on a differential drive; racks are static boxes (one per run of
    ``#``). Robots collide with racks and with each other.

Agents
    One group, ``robot``, of ``n_robots`` robots. Nobody ends early; episodes are truncated after
    ``max_steps`` steps of ``dt`` seconds.

Actions
    ``learn="motion"``: ``Discrete(4)`` (default), LoRR 2024's rotation actions in the order of
    ``warehouse.kernels``: no-op, forward, turn left, turn right. A low-level controller
    (``worlds.dynamics.PoseTracking``) keeps each robot on the grid: forward moves its target one
    cell ahead (when it is within half a cell of its target and the cell ahead is floor), a turn
    turns it a quarter. With ``continuous_actions=True``: ``Box(-1, 1, (2,))``, left and right
    wheel speeds (fractions of ``max_speed``). ``learn="scheduler"``: ``Discrete(k_options + 1)``:
    0 waits, ``i`` takes the errand of option ``i`` (masked where there is none and for busy
    robots); when two robots take one errand, the nearer gets it.

Observation (float32, per robot; blocks in this order, sizes for the default config)
{observation}
    ``target`` is the robot's current endpoint (its errand's pick, then its drop) in its frame,
    the length of a shortest way there and the unit step that starts one; ``view`` the egocentric
    raster, ``(2 view_radius + 1)^2`` cells turned to the robot's heading (first row farthest
    ahead), channels per cell: not floor, another robot, another robot with an errand, a station,
    a waiting errand's pick, the robot's own endpoint. With ``learn="scheduler"`` an ``options``
    set follows ``target``: per option, the pick's offset in the robot's frame, metres to the pick
    and from pick to drop along the floor, and seconds the errand has waited.

Reward
    ``errand``: +1 for each errand completed, to the robot that completed it
    (``reward="individual"``) or to every robot of the world (``"team"``). Shaping (0 by
    default): ``pick`` (``shaping_pick`` for a pick), ``progress`` (``shaping_progress`` per cell
    gained along the shortest way to the current endpoint), ``contact`` (``-collision_penalty``
    for each new contact with another robot or a rack). Each term is logged.

Metrics (per episode)
    ``deliveries`` (errands completed); ``throughput`` (completions per step, LoRR's measure);
    ``deliveries_per_hour``; ``latency_s`` (request to completion); ``path_ratio`` (distance
    driven from taking an errand to completing it over the shortest way, via the pick);
    ``contacts_per_robot_hour``; ``deadlocks`` (most robots at once holding an errand that had
    not moved for ``stuck_seconds``); ``wait_cycles`` (most robots at once in a cycle of the
    wait-for graph of grid targets); ``idle`` (share of robot-steps without an errand).

State (for a centralized critic)
    Per cell: a robot, a robot with an errand, waiting errands' picks, robots' current endpoints;
    then per robot: ``x, y, cos, sin, to_pick, to_drop`` and its endpoint's east and north offset.

Scripted baseline (``LifelongPlanner`` in ``lifelong_baseline``)
    ``learn="motion"``: the built-in greedy scheduler and PIBT on the grid, planned centrally from
    the scenario's books; ``learn="scheduler"``: every idle robot takes its nearest option.

Render an episode of the baseline with ``marl play warehouse/lifelong-v0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from scenarios.core import MAX_STEPS, Episode, Frame, GroupSpec, Reward, Scenario, check
from scenarios.fields import param
from scenarios.layout import ObsLayout, entities, vector
from scenarios.registry import document, register
from scenarios.seeding import WorldRandom
from scenarios.warehouse import lifelong_kernels as lk
from scenarios.warehouse.common import WarehouseConfig
from scenarios.warehouse.lifelong_common import (
    ErrandBook,
    build_racks,
    draw_errands,
    errand_state,
    floor_connected,
)
from scenarios.warehouse.maps import LIFELONG_SIZES, WarehouseMap, lifelong_preset
from worlds import DifferentialDrive, PoseTracking, WorldBatch
from worlds.shapes import Box

STREAMS = ("stations", "random")
LAYERS = ("motion", "scheduler")


@dataclass(frozen=True)
class LifelongConfig(WarehouseConfig):
    max_steps: int = param(1000, low=1, high=MAX_STEPS)
    """Steps per episode (dt each) before truncation."""
    continuous_actions: bool = False
    """Wheel speeds instead of the discrete rotation actions (learn=motion only)."""
    stuck_seconds: float = param(30.0, low=0.1, high=3600.0)
    """A robot holding an errand that has not moved for this long counts as deadlocked (queues
    at busy stations under the PIBT baseline last up to about 15 s)."""
    layout: str = "warehouse-small"
    """Preset map: warehouse-small (29 x 52 cells) or warehouse-large (63 x 106)."""
    map_text: str = ""
    """A text map (rows separated by newlines or '/'; '#' rack, '.' floor, 'x' endpoint, 'g'
    station), used instead of ``layout`` when given."""
    n_robots: int = param(16, low=1, high=256)
    """Robots per world."""
    open_errands: int = param(0, low=0, high=1024)
    """Errands open in each world at every moment (0: one and a half per robot, rounded up)."""
    stream: str = "stations"
    """Errands: stations (an endpoint by the racks to a station) or random (between endpoints)."""
    learn: str = "motion"
    """The layer agents replace: motion (the env schedules) or scheduler (the env drives, PIBT)."""
    k_options: int = param(4, low=1, high=16)
    """Waiting errands an idle robot may choose among (learn=scheduler)."""
    reward: str = "individual"
    """Who a completion rewards: individual (the robot that completed it) or team (every robot)."""
    shaping_pick: float = param(0.0, low=0.0, high=10.0)
    """Reward for a pick (shaping)."""
    shaping_progress: float = param(0.0, low=0.0, high=1.0)
    """Reward per cell gained along the shortest way to the current endpoint (shaping)."""
    collision_penalty: float = param(0.0, low=0.0, high=10.0)
    """Penalty for each new contact with a robot or a rack."""
    view_radius: int = param(3, low=1, high=7)
    """Cells seen in each direction around the robot."""

    def validate(self, scenario_id: str) -> None:
        super().validate(scenario_id)
        if not self.map_text:
            rule = f"must be one of {', '.join(LIFELONG_SIZES)} (or give map_text)"
            check(scenario_id, self.layout in LIFELONG_SIZES, "layout", rule, self.layout)
        for name, value, options in (
            ("stream", self.stream, STREAMS),
            ("learn", self.learn, LAYERS),
            ("reward", self.reward, ("individual", "team")),
        ):
            rule = f"must be one of {', '.join(options)}"
            check(scenario_id, value in options, name, rule, value)
        scheduler_wheels = self.learn == "scheduler" and self.continuous_actions
        rule = "must be False with learn=scheduler (the env drives)"
        check(scenario_id, not scheduler_wheels, "continuous_actions", rule, True)
        try:
            warehouse = self.warehouse
        except ValueError as error:
            check(scenario_id, False, "map_text", str(error), self.map_text[:40])
        source = "map_text" if self.map_text else "layout"
        connected = floor_connected(warehouse.floor)
        check(scenario_id, connected, source, "must have one connected floor", self.map_text[:40])
        if self.stream == "random":
            rule = "random needs two endpoints 'x' on the map"
            check(scenario_id, len(warehouse.slots) >= 2, "stream", rule, self.stream)
        cells = int(warehouse.floor.sum())
        rule = f"must fit the map's {cells} floor cells"
        check(scenario_id, self.n_robots <= cells, "n_robots", rule, self.n_robots)

    @property
    def warehouse(self) -> WarehouseMap:
        if self.map_text:
            return WarehouseMap(self.map_text.replace("/", "\n"), self.cell)
        return lifelong_preset(self.layout, self.cell)

    @property
    def errands(self) -> int:
        return self.open_errands or math.ceil(1.5 * self.n_robots)


def observation_layout(cfg: LifelongConfig) -> ObsLayout:
    """The robot's observation, block by block."""
    side = 2 * cfg.view_radius + 1
    columns = [f"{channel}[{i}]" for i in range(side * side) for channel in lk.CHANNELS]
    blocks = [
        vector(
            "own",
            ("x", "y", "cos", "sin", "speed", "turn_rate"),
            "position, heading and speeds",
        ),
        vector(
            "target",
            ("ahead", "left", "distance", "way_ahead", "way_left", "to_pick", "to_drop"),
            "the current endpoint in the robot's frame, the way there, the errand's phase",
        ),
    ]
    if cfg.learn == "scheduler":
        option = ("ahead", "left", "to_pick", "to_drop", "waited")
        blocks.append(
            entities("options", cfg.k_options, option, "nearest waiting errands", valid=True)
        )
    blocks.append(vector("view", columns, f"egocentric raster, {side} x {side} cells x channels"))
    return ObsLayout(*blocks)


@dataclass
class LifelongFrame(Frame):
    """What one step measured (``Lifelong.sense``)."""

    completed: np.ndarray
    """Errands completed in this step per robot ``(B, N)`` float32."""
    picked: np.ndarray
    """Picks of this step per robot ``(B, N)`` float32."""


@register("warehouse/lifelong-v0")
class Lifelong(Scenario):
    config_class = LifelongConfig
    metric_reduce = {
        "deliveries": "sum",
        "throughput": "mean",
        "idle": "mean",
        "deadlocks": "max",
        "wait_cycles": "max",
        "contacts": "sum",
    }
    observes_restarted_only = True

    def __init__(self, cfg: LifelongConfig) -> None:
        super().__init__(cfg)
        self.map = cfg.warehouse
        self.layout = observation_layout(cfg)
        if cfg.learn == "scheduler":
            action_space = spaces.Discrete(cfg.k_options + 1)
        elif cfg.continuous_actions:
            action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        else:
            action_space = spaces.Discrete(4)
        self._groups = {"robot": GroupSpec.of("robot", cfg.n_robots, self.layout, action_space)}

    def groups(self) -> dict[str, GroupSpec]:
        return self._groups

    def state_size(self) -> int:
        height, width = self.map.shape
        return height * width * 4 + 8 * self.cfg.n_robots

    def make_world(self, num_worlds: int) -> WorldBatch:
        cfg, warehouse = self.cfg, self.map
        world = WorldBatch(
            num_worlds,
            warehouse.width,
            warehouse.height,
            dt=cfg.dt,
            substeps=cfg.substeps,
            track_contacts=True,
            hash_cell=cfg.cell,  # a handful of cells per robot, as shelves-v0
        )
        build_racks(world, warehouse)
        size = cfg.robot_size * cfg.cell
        if cfg.continuous_actions:
            dynamics = DifferentialDrive(cfg.max_speed, cfg.max_turn_rate)
        else:
            dynamics = PoseTracking(cfg.max_speed, cfg.max_turn_rate, near=0.1 * cfg.cell)
        self.robots = world.add_group(
            "robot", cfg.n_robots, shape=Box(size, size), dynamics=dynamics
        )
        self.book = ErrandBook(num_worlds, cfg.n_robots, cfg.errands, warehouse, cfg)
        self.every = np.arange(num_worlds, dtype=np.int64)
        self.obs = self.layout.buffer(num_worlds, cfg.n_robots)
        side = 2 * cfg.view_radius + 1
        self._view = self.obs["view"].reshape(
            num_worlds, cfg.n_robots, side * side, len(lk.CHANNELS)
        )
        self.motion = None
        if cfg.learn == "scheduler":
            from scenarios.warehouse.lifelong_baseline import ErrandMotion

            self.motion = ErrandMotion(self.book)
            self._planned = np.zeros((num_worlds, cfg.n_robots), np.int64)
        self._frame: LifelongFrame | None = None
        n = cfg.n_robots
        names = ("errand", "pick", "progress", "contact")
        self._terms = {name: np.zeros((num_worlds, n), np.float32) for name in names}
        self._reward = np.zeros((num_worlds, n), np.float32)
        self._rewards = Reward({"robot": self._reward}, self._terms)
        return world

    def reset(self, world: WorldBatch, rng: WorldRandom, env_ids: np.ndarray) -> None:
        x, y, heading = self.book.reset(rng, env_ids)
        world.reset_bodies("robot", env_ids, x, y, angle=heading * (0.5 * math.pi))
        command = self.robots.command
        if self.cfg.continuous_actions:
            command[env_ids] = 0.0
        else:
            command[env_ids, :, 0], command[env_ids, :, 1] = x, y
            command[env_ids, :, 2] = heading * (0.5 * math.pi)
        if self.motion is not None:
            self.motion.reset(env_ids)

    def apply_actions(self, world: WorldBatch, actions: dict[str, np.ndarray]) -> None:
        cfg, book, robots = self.cfg, self.book, self.robots
        act = actions["robot"]
        if cfg.continuous_actions:
            left, right = act[..., 0], act[..., 1]
            robots.command[..., 0] = 0.5 * cfg.max_speed * (left + right)
            robots.command[..., 1] = 0.5 * cfg.max_turn_rate * (right - left)
            return
        moves = np.asarray(act, np.int64)
        if self.motion is not None:
            lk.choose(
                self.every, moves, book.options, book.rows, book.cols, book.books, book.ends,
                book.odometer,
            )  # fmt: skip
            moves = self.motion.actions(book, self.every, self._planned)
        lk.apply_moves(
            self.every, moves, robots.x, robots.y, book.target, book.heading, self.map.floor,
            cfg.cell, robots.command,
        )  # fmt: skip

    def _worlds(self, episode: Episode) -> np.ndarray:
        return self.every if episode.restarted is None else episode.restarted.astype(np.int64)

    def sense(self, world: WorldBatch, episode: Episode) -> LifelongFrame:
        book = self.book
        book.measure(self.robots, episode, self._worlds(episode), self.motion is None)
        frame = self._frame
        if frame is None or frame.world is not world or frame.episode is not episode:
            frame = self._frame = LifelongFrame(world, episode, book.completed, book.picked)
        return frame

    def observe(self, frame: LifelongFrame) -> dict[str, np.ndarray]:
        book, robots, cfg = self.book, self.robots, self.cfg
        worlds = self._worlds(frame.episode)
        sel = slice(None) if len(worlds) == len(self.every) else worlds
        own = self.obs["own"]
        angle = robots.angle[sel]
        own[sel, :, 0], own[sel, :, 1] = robots.x[sel], robots.y[sel]
        own[sel, :, 2], own[sel, :, 3] = np.cos(angle), np.sin(angle)
        own[sel, :, 4] = robots.vx[sel] * own[sel, :, 2] + robots.vy[sel] * own[sel, :, 3]
        own[sel, :, 5] = robots.angvel[sel]
        facing = book.facing(robots)
        lk.ego_raster(
            worlds, book.rows, book.cols, facing, book.books, book.ends, book.stations,
            cfg.view_radius, book.scratch, book.marks, self._view,
        )  # fmt: skip
        lk.targets(
            worlds, book.rows, book.cols, facing, robots.angle, book.books, book.ends, cfg.cell,
            self.obs["target"],
        )  # fmt: skip
        if self.motion is not None:
            lk.option_rows(
                worlds, book.rows, book.cols, robots.angle, book.options, book.books, book.ends,
                cfg.cell, cfg.dt, frame.episode.steps, self.obs["options"],
                self.obs.valid("options"),
            )  # fmt: skip
        return {"robot": self.obs.array}

    def reward(self, frame: LifelongFrame) -> Reward:
        cfg, terms, book = self.cfg, self._terms, self.book
        errand = terms["errand"]
        if cfg.reward == "team":
            errand[:] = frame.completed.sum(axis=1, keepdims=True)
        else:
            np.copyto(errand, frame.completed)
        np.multiply(frame.picked, cfg.shaping_pick, out=terms["pick"])
        np.multiply(book.progress, cfg.shaping_progress, out=terms["progress"])
        np.multiply(book.new_contacts, -cfg.collision_penalty, out=terms["contact"])
        np.add(errand, terms["pick"], out=self._reward)
        self._reward += terms["progress"]
        self._reward += terms["contact"]
        return self._rewards

    def metrics(self, frame: LifelongFrame) -> dict[str, np.ndarray]:
        return self.book.metrics

    def episode_end(self, frame: LifelongFrame, env_ids: np.ndarray) -> dict[str, np.ndarray]:
        return self.book.episode_figures(env_ids, frame.episode.steps[env_ids], self.cfg.dt)

    def state(self, frame: Frame) -> np.ndarray:
        return errand_state(self.book, self.robots)

    def action_mask(self, frame: Frame) -> dict[str, np.ndarray] | None:
        if self.motion is None:
            return None
        book = self.book
        mask = np.ones((*book.errand.shape, self.cfg.k_options + 1), bool)
        mask[..., 1:] = (book.options >= 0) & (book.errand < 0)[..., None]
        return {"robot": mask}

    def render_extra(self, frame: Frame, canvas, env_index: int) -> None:
        draw_errands(canvas, self.book, self.robots, env_index)

    def scripted_policy(self):
        from scenarios.warehouse.lifelong_baseline import LifelongPlanner

        return LifelongPlanner(self)


document(Lifelong)

if __name__ == "__main__":
    import sys

    from scenarios.replay import main as replay_main

    raise SystemExit(replay_main(["warehouse/lifelong-v0", *sys.argv[1:]]))
