"""warehouse/shelves-v0: robots fetch requested shelves, bring them to a goal, and put them back.

The multi-robot warehouse task of RWARE (Papoudakis et al., 2021; rware 2.0), with physics. A grid
of shelves (RWARE's layouts, or a text map: ``x`` shelf, ``g`` goal, ``.`` floor, ``#`` wall), a
queue of requested shelves, goal stations. A robot drives under a shelf, lifts it, brings it to a
goal (a delivery: the shelf leaves the queue and another joins it), then puts it back on any free
shelf cell. An empty robot passes under standing shelves; a loaded one does not: it collides with
them, with other robots and with their shelves.

Physics
    Robots are 0.8-cell boxes on a differential drive (pymunk bodies, velocity reached by a force
    servo). A lifted shelf rides on its robot: the robot switches to the collision mode
    ``robot.loaded`` (``worlds.switches``), whose footprint is the shelf's (both 0.8 cells), and
    the shelf's cell, a fixture, is switched off until a shelf is put there again. Standing
    shelves are static fixtures: they cost nothing per step.

Agents
    One group, ``robot``, of ``n_robots`` robots. Nobody ends early; episodes are truncated after
    ``max_steps`` steps of ``dt`` seconds.

Actions
    ``Discrete(5)`` (default), RWARE's: no-op, forward, turn left, turn right, toggle load. A
    low-level controller (``worlds.dynamics.PoseTracking``) keeps each robot on the grid: forward
    moves its target one cell ahead (when it is in its target cell and may enter the next one),
    a turn turns it a quarter. Toggle picks up or puts down a shelf when the robot has settled in
    a shelf cell; ``action_mask`` masks it where it would do nothing. With
    ``continuous_actions=True``: ``Box(-1, 1, (3,))``, left and right wheel speeds (fractions of
    ``max_speed``) and a lift command (> 0.5 picks up, < -0.5 puts down, where settled).

Observation (float32, per robot; blocks in this order, sizes for the default config)
{observation}
    ``view`` is the egocentric raster, ``(2 view_radius + 1)^2`` cells turned to the robot's
    heading (first row farthest ahead), channels per cell: standing shelf, requested shelf,
    another robot, another loaded robot, goal, not floor.

Reward
    ``delivery``: +1 for each requested shelf delivered, to the robot that delivered it
    (``reward="individual"``, RWARE's default) or to every robot of the world (``"team"``).
    ``pickup`` and ``return``: shaping, ``shaping_pickup`` for lifting a requested shelf and
    ``shaping_return`` for putting a delivered shelf back (0 by default). Each term is logged.

Metrics (per episode)
    ``deliveries``; ``throughput`` (deliveries per step, LoRR's measure); ``deliveries_per_hour``;
    ``latency_s`` (request to delivery, mean over the episode's deliveries); ``path_ratio``
    (distance a robot drove from pick-up to delivery over the shortest path on the highways);
    ``contacts_per_robot_hour`` (new robot-robot contacts); ``deadlocks`` (most loaded robots at
    once that had not moved for ``stuck_seconds``); ``wait_cycles`` (most robots at once in a
    cycle of the wait-for graph: each wants the cell the next stands in); ``idle`` (share of
    robot-steps empty and still).

State (for a centralized critic)
    The global raster (standing shelf, requested shelf, robot, loaded robot, goal per cell) then
    each robot's ``x, y, cos, sin, loaded``.

Scripted baseline (``ShelvesPlanner`` in ``shelves_baseline``)
    Assignment of free robots to requested shelves, then PIBT on the grid (``planning``).

Render an episode of the baseline with ``marl play warehouse/shelves-v0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from scenarios.core import MAX_STEPS, Episode, Frame, GroupSpec, Reward, Scenario, check
from scenarios.fields import param
from scenarios.layout import ObsLayout, vector
from scenarios.registry import document, register
from scenarios.seeding import WorldRandom
from scenarios.warehouse import kernels as wk
from scenarios.warehouse.common import (
    WarehouseConfig,
    WarehouseState,
    build_floor,
    draw_paths,
    draw_warehouse,
    event_switches,
    shelf_grid_state,
)
from scenarios.warehouse.maps import RWARE_SIZES, WarehouseMap, preset_map
from worlds import DifferentialDrive, PoseTracking, WorldBatch
from worlds.shapes import Box

DIFFICULTY = {"easy": 2.0, "normal": 1.0, "hard": 0.5}


@dataclass(frozen=True)
class ShelvesConfig(WarehouseConfig):
    max_steps: int = param(500, low=1, high=MAX_STEPS)
    """Steps per episode (dt each) before truncation (RWARE's default, 500)."""
    layout: str = "tiny"
    """RWARE size: tiny (10 x 11), small (10 x 20), medium (16 x 20), large (16 x 29)."""
    map_text: str = ""
    """A text map (rows separated by newlines or '/'), used instead of ``layout`` when given."""
    n_robots: int = param(2, low=1, high=64)
    """Robots per world."""
    difficulty: str = "normal"
    """Requested shelves: normal (one per robot), easy (two per robot), hard (one per two)."""
    reward: str = "individual"
    """Who a delivery rewards: individual (the robot that delivered) or team (every robot)."""
    shaping_pickup: float = param(0.0, low=0.0, high=10.0)
    """Reward for lifting a requested shelf (shaping, 0 = RWARE's sparse reward)."""
    shaping_return: float = param(0.0, low=0.0, high=10.0)
    """Reward for putting a delivered shelf back on a free shelf cell (shaping)."""
    view_radius: int = param(1, low=1, high=5)
    """Cells seen in each direction around the robot (RWARE's sensor range, 1)."""

    def validate(self, scenario_id: str) -> None:
        super().validate(scenario_id)
        if not self.map_text:
            check(
                scenario_id,
                self.layout in RWARE_SIZES,
                "layout",
                f"must be one of {', '.join(RWARE_SIZES)} (or give map_text)",
                self.layout,
            )
        check(
            scenario_id,
            self.difficulty in DIFFICULTY,
            "difficulty",
            f"must be one of {', '.join(DIFFICULTY)}",
            self.difficulty,
        )
        check(
            scenario_id,
            self.reward in ("individual", "team"),
            "reward",
            "must be individual or team",
            self.reward,
        )
        try:
            warehouse = self.warehouse
        except ValueError as error:
            check(scenario_id, False, "map_text", str(error), self.map_text[:40])
        cells = int(warehouse.floor.sum())
        check(
            scenario_id,
            self.n_robots <= cells,
            "n_robots",
            f"must fit the map's {cells} floor cells",
            self.n_robots,
        )
        shelves = len(warehouse.slots)
        check(
            scenario_id,
            self.requests < shelves,
            "difficulty",
            f"asks {self.requests} requests of {shelves} shelves (n_robots "
            f"{self.n_robots}): fewer requests than shelves needed",
            self.difficulty,
        )

    @property
    def warehouse(self) -> WarehouseMap:
        if self.map_text:
            return WarehouseMap(self.map_text.replace("/", "\n"), self.cell)
        return preset_map(self.layout, self.cell)

    @property
    def requests(self) -> int:
        return max(1, round(self.n_robots * DIFFICULTY.get(self.difficulty, 1.0)))


def observation_layout(cfg: ShelvesConfig) -> ObsLayout:
    """The robot's observation, block by block."""
    side = 2 * cfg.view_radius + 1
    columns = [f"{channel}[{i}]" for i in range(side * side) for channel in wk.CHANNELS]
    return ObsLayout(
        vector(
            "own",
            ("x", "y", "cos", "sin", "speed", "turn_rate", "loaded", "requested"),
            "position, heading, speeds; carrying a shelf, a requested one",
        ),
        vector(
            "target",
            ("ahead", "left", "distance", "fetch", "deliver", "return"),
            "the current target in the robot's frame, and which it is",
        ),
        vector("view", columns, f"egocentric raster, {side} x {side} cells x channels"),
    )


@dataclass
class ShelvesFrame(Frame):
    """What one step measured (``Shelves.sense``)."""

    delivered: np.ndarray
    """Deliveries of this step per robot ``(B, N)`` float32."""


@register("warehouse/shelves-v0")
class Shelves(Scenario):
    config_class = ShelvesConfig
    metric_reduce = {
        "deliveries": "sum",
        "throughput": "mean",
        "idle": "mean",
        "deadlocks": "max",
        "wait_cycles": "max",
        "contacts": "sum",
    }

    def __init__(self, cfg: ShelvesConfig) -> None:
        super().__init__(cfg)
        self.map = cfg.warehouse
        self.layout = observation_layout(cfg)
        if cfg.continuous_actions:
            action_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
        else:
            action_space = spaces.Discrete(5)
        self._groups = {"robot": GroupSpec.of("robot", cfg.n_robots, self.layout, action_space)}

    def groups(self) -> dict[str, GroupSpec]:
        return self._groups

    def state_size(self) -> int:
        height, width = self.map.shape
        return height * width * 5 + 5 * self.cfg.n_robots

    def make_world(self, num_worlds: int) -> WorldBatch:
        cfg, warehouse = self.cfg, self.map
        world = WorldBatch(
            num_worlds,
            warehouse.width,
            warehouse.height,
            dt=cfg.dt,
            substeps=cfg.substeps,
            track_contacts=True,
            # Broadphase cells of one grid cell: each robot meets a handful of shelf fixtures
            # (cells of 12 robot radii held ~40 each; 1.5x the step rate, tools/bench).
            hash_cell=cfg.cell,
        )
        build_floor(world, warehouse)
        size = cfg.robot_size * cfg.cell
        if cfg.continuous_actions:
            dynamics = DifferentialDrive(cfg.max_speed, cfg.max_turn_rate)
        else:
            dynamics = PoseTracking(cfg.max_speed, cfg.max_turn_rate, near=0.1 * cfg.cell)
        self.robots = world.add_group(
            "robot", cfg.n_robots, shape=Box(size, size), dynamics=dynamics
        )
        world.add_fixtures("shelf", warehouse.centers(warehouse.slots), (size, size))
        world.add_mode("robot", "loaded")
        world.set_collision("robot", "shelf", False)
        self.ledger = WarehouseState(num_worlds, cfg.n_robots, warehouse)
        self.obs = self.layout.buffer(num_worlds, cfg.n_robots)
        self._own = self.obs["own"]
        side = 2 * cfg.view_radius + 1
        self._view = self.obs["view"].reshape(
            num_worlds, cfg.n_robots, side * side, len(wk.CHANNELS)
        )
        self._frame: ShelvesFrame | None = None
        n = cfg.n_robots
        self._terms = {
            name: np.zeros((num_worlds, n), np.float32) for name in ("delivery", "pickup", "return")
        }
        self._reward = np.zeros((num_worlds, n), np.float32)
        self._rewards = Reward({"robot": self._reward}, self._terms)
        return world

    def reset(self, world: WorldBatch, rng: WorldRandom, env_ids: np.ndarray) -> None:
        cfg = self.cfg
        x, y, heading = self.ledger.reset(rng, env_ids, cfg.requests)
        world.reset_bodies("robot", env_ids, x, y, angle=heading * (0.5 * math.pi))
        slots = len(self.map.slots)
        world.set_fixtures(
            "shelf", np.repeat(env_ids, slots), np.tile(np.arange(slots), len(env_ids)), True
        )
        command = self.robots.command
        if cfg.continuous_actions:  # wheel speeds: at rest
            command[env_ids] = 0.0
        else:  # the pose to hold: where the robot stands
            command[env_ids, :, 0], command[env_ids, :, 1] = x, y
            command[env_ids, :, 2] = heading * (0.5 * math.pi)

    def apply_actions(self, world: WorldBatch, actions: dict[str, np.ndarray]) -> None:
        cfg, st, robots = self.cfg, self.ledger, self.robots
        settle = cfg.settle * cfg.cell
        if cfg.continuous_actions:
            act = actions["robot"]
            left, right = act[..., 0], act[..., 1]
            robots.command[..., 0] = 0.5 * cfg.max_speed * (left + right)
            robots.command[..., 1] = 0.5 * cfg.max_turn_rate * (right - left)
            count = wk.apply_lift(
                act[..., 2],
                robots.x,
                robots.y,
                st.book,
                self.map.slot_index,
                cfg.cell,
                settle,
                st.events,
                st.shaped,
            )
        else:
            count = wk.apply_discrete(
                np.asarray(actions["robot"], np.int64),
                robots.x,
                robots.y,
                st.target,
                st.heading,
                st.book,
                self.map.slot_index,
                self.map.floor,
                cfg.cell,
                settle,
                robots.command,
                st.events,
                st.shaped,
            )
        if count:
            event_switches(world, st, st.events[:count])

    def sense(self, world: WorldBatch, episode: Episode) -> ShelvesFrame:
        st = self.ledger
        st.measure(self.robots, episode, self.cfg)
        frame = self._frame
        if frame is None or frame.world is not world or frame.episode is not episode:
            frame = self._frame = ShelvesFrame(world, episode, st.delivered)
        return frame

    def observe(self, frame: ShelvesFrame) -> dict[str, np.ndarray]:
        st, robots = self.ledger, self.robots
        wk.own_block(robots.x, robots.y, robots.angle, robots.vx, robots.vy, robots.angvel,
                     st.carried, st.requested, self._own)  # fmt: skip
        wk.ego_raster(
            st.rows,
            st.cols,
            st.facing(robots),
            st.carried,
            st.slot_shelf,
            self.map.slot_index,
            st.requested,
            self.map.goal_cells,
            self.map.floor,
            self.cfg.view_radius,
            st.scratch,
            self._view,
        )
        wk.targets(
            st.rows,
            st.cols,
            robots.angle,
            st.carried,
            st.requested,
            st.shelf_slot,
            st.slot_shelf,
            self.map.slots,
            self.map.goals,
            self.cfg.cell,
            self.obs["target"],
        )
        return {"robot": self.obs.array}

    def reward(self, frame: ShelvesFrame) -> Reward:
        cfg, terms = self.cfg, self._terms
        delivery = terms["delivery"]
        if cfg.reward == "team":
            delivery[:] = frame.delivered.sum(axis=1, keepdims=True)
        else:
            np.copyto(delivery, frame.delivered)
        np.multiply(self.ledger.shaped[..., 0], cfg.shaping_pickup, out=terms["pickup"])
        np.multiply(self.ledger.shaped[..., 1], cfg.shaping_return, out=terms["return"])
        np.add(delivery, terms["pickup"], out=self._reward)
        self._reward += terms["return"]
        return self._rewards

    def metrics(self, frame: ShelvesFrame) -> dict[str, np.ndarray]:
        return self.ledger.step_metrics(self.robots)

    def episode_end(self, frame: ShelvesFrame, env_ids: np.ndarray) -> dict[str, np.ndarray]:
        return self.ledger.episode_figures(env_ids, frame.episode.steps[env_ids], self.cfg.dt)

    def state(self, frame: Frame) -> np.ndarray:
        return shelf_grid_state(self.ledger, self.robots)

    def action_mask(self, frame: Frame) -> dict[str, np.ndarray] | None:
        if self.cfg.continuous_actions:
            return None
        return {"robot": self.ledger.action_mask(self.robots, self.cfg)}

    def render_extra(self, frame: Frame, canvas, env_index: int) -> None:
        draw_warehouse(canvas, self.ledger, self.robots, env_index, self.cfg)
        planner = getattr(self, "planner", None)
        if planner is not None:  # the scripted planner that acts here: its routes
            draw_paths(canvas, self.map, planner, env_index, self.cfg.n_robots)

    def scripted_policy(self):
        from scenarios.warehouse.shelves_baseline import ShelvesPlanner

        return ShelvesPlanner(self)


document(Shelves)

if __name__ == "__main__":
    import sys

    from scenarios.replay import main as replay_main

    raise SystemExit(replay_main(["warehouse/shelves-v0", *sys.argv[1:]]))
