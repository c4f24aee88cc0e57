"""warehouse/pallets-v0: light robots carry small items alone; heavy pallets move only when two or
more robots push them together.

A walled hall (``hall_width x hall_height`` metres). Items wait at pick spots along the west wall;
each open order asks for the item of one spot to be brought to one of the drop zones along the
east wall. Pallets stand in the middle; each is requested at one of the docks along the south
wall. A delivered item makes room for a new order; a delivered pallet is taken back to a free
spawn slot with a new dock.

Physics
    Robots are ``robot_size`` boxes of ``robot_mass`` kg on a differential drive whose wheels grip
    with friction coefficient ``traction``: the drive's force is at most ``traction m g`` and its
    torque at most that times half ``robot_size`` (wheels at its sides; ``DifferentialDrive``
    with ``max_force`` and ``max_torque``). Pallets are passive boxes of ``pallet_mass`` kg whose
    dollies resist with ground friction ``pallet_friction m g`` (``worlds.friction``: solved with
    the contacts in the same step, so a push below the limit moves nothing). By default one
    robot pushes 196 N and a pallet resists with 294 N: one robot alone cannot move it (a few
    millimetres as the contact settles), two side by side can (the config refuses pallets one
    robot could move). An item is light: it rides on the robot that picked it (book-keeping).

Agents
    ``robot`` (``n_robots``). With ``adversary=True`` a second team, ``dispatcher`` (one per
    world), chooses the requests: whenever an order or a pallet is due, its action picks the
    pick spot and drop zone (``spot * n_drop_zones + zone``; the next spot without a waiting
    item if that one has one) and a due pallet's dock (the action modulo ``n_docks``). Without
    it requests come from each world's own random stream. Nobody ends early; episodes are
    truncated after ``max_steps`` steps of ``dt`` seconds.

Actions
    ``robot``: ``Box(-1, 1, (3,))`` by default: left and right wheel speeds (fractions of
    ``max_speed``) and a handling command (> 0.5: pick up or drop, where settled). With
    ``continuous_actions=False``: ``Discrete(6)``, no-op, forward, back (half speed), turn left,
    turn right, handle; ``action_mask`` masks handle where it does nothing. Handling picks up the
    waiting item of a pick spot within ``settle`` metres, or delivers the carried item when the
    robot's centre is inside its drop zone, while the robot moves slower than ``settle_speed``.
    ``dispatcher``: ``Discrete(n_pick_spots * n_drop_zones)`` (masked: spots that hold an item).

Observation (float32, per agent; blocks in this order, sizes for the default config)
{observation}
    Robots: vectors are in the robot's frame (ahead, left), in metres. ``task`` points at the
    carried item's drop zone, or else at the nearest waiting item (flags ``pick``, ``drop``).
    ``orders``: the nearest waiting items (their spot, their drop zone, age in minutes);
    ``pallets``: the nearest pallets (place, heading; for pallets in play the vector from the
    pallet to its dock and the robots touching it, zeros for one delivered and waiting in its
    dock for a free slot); ``robots``: the nearest other robots; ``zones``: drop zones then
    docks. The dispatcher (``adversary=True``) sees counts: due and waiting orders, per spot
    its waiting item and the robots within 2 m, per zone and dock its requests and crowd, and
    every robot's place and load.

Reward
    ``item``: ``item_reward`` per delivered item; ``pallet``: ``pallet_reward`` per delivered
    pallet; ``pickup``: ``shaping_pickup`` per item picked up; ``progress``:
    ``shaping_progress`` per metre a pallet moved toward its dock (negative away). With
    ``reward="individual"`` (default) each goes to the robot that did it (pallet terms to the
    robots touching the pallet); with ``"team"`` every robot gets the world's sum. The
    dispatcher's reward is ``denied`` (minus the errands completed, items and pallets) plus
    ``congestion`` (``congestion_weight`` per new robot-robot contact). Each term is logged.

Metrics (per episode)
    ``deliveries`` (items and pallets), ``item_deliveries``, ``pallet_deliveries``;
    ``throughput`` (errands per step); ``deliveries_per_hour``; ``latency_s`` and
    ``pallet_latency_s`` (request to delivery); ``path_ratio`` (an item's travel from pick-up
    to delivery over the straight distance from its spot to the nearest point of its zone: the
    hall is open, so the straight line is the shortest path); ``contacts_per_robot_hour``
    (new robot-robot contacts); ``deadlocks`` (most robots at once holding an item that had
    not moved for ``stuck_seconds``; no wait-for graph: the hall has no grid of cells to wait
    for); ``idle`` (share of robot-steps empty, still and not pushing); ``pushing`` (share of
    robot-steps touching a pallet in play).

State (for a centralized critic)
    Per robot ``x, y, cos, sin, vx, vy, carrying``; per pallet ``x, y, cos, sin, vx, vy``, the
    vector to its dock and whether it is in play; per order its spot, its zone, waiting, carried.

Scripted baseline (``PalletsBaseline`` in ``pallets_baseline``)
    A central controller: pairs of robots push the pallets (face by face toward the dock,
    steering by easing off one side, another face when stalled), the others fetch the items;
    steering with obstacle avoidance. Its dispatcher side asks for the farthest errands at the
    most crowded spots.

Render an episode of the baseline with ``marl play warehouse/pallets-v0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from scenarios.core import (
    MAX_STEPS,
    Episode,
    Frame,
    GroupSpec,
    Reward,
    Scenario,
    ScenarioConfig,
    check,
)
from scenarios.fields import param
from scenarios.registry import document, register
from scenarios.seeding import WorldRandom
from scenarios.warehouse import pallets_kernels as pk
from scenarios.warehouse.pallets_hall import HallLedger, build_hall, hall_problem
from scenarios.warehouse.pallets_view import (
    dispatch_mask,
    dispatcher_layout,
    dispatcher_view,
    draw_hall,
    hall_state,
    handle_mask,
    robot_layout,
)
from worlds import DifferentialDrive, GroundFriction, Passive, WorldBatch
from worlds.friction import STANDARD_GRAVITY
from worlds.shapes import Box

# Discrete actions: (left, right) wheel fractions; the last one handles.
WHEELS = np.array([(0, 0), (1, 1), (-0.5, -0.5), (-1, 1), (1, -1), (0, 0)], np.float32)
HANDLE = 5


@dataclass(frozen=True)
class PalletsConfig(ScenarioConfig):
    max_steps: int = param(600, low=1, high=MAX_STEPS)
    """Steps per episode (dt each) before truncation (two minutes by default)."""
    n_robots: int = param(6, low=1, high=64)
    """Robots per world."""
    n_pallets: int = param(2, low=0, high=16)
    """Pallets per world (0: items only)."""
    n_orders: int = param(3, low=1, high=16)
    """Open item orders at a time (at most one waiting item per pick spot)."""
    n_pick_spots: int = param(4, low=1, high=16)
    """Pick spots along the west wall."""
    n_drop_zones: int = param(2, low=1, high=8)
    """Drop zones along the east wall."""
    n_docks: int = param(2, low=1, high=8)
    """Pallet docks along the south wall."""
    hall_width: float = param(14.0, low=8.0, high=60.0)
    """Width of the hall (west to east), metres."""
    hall_height: float = param(10.0, low=6.0, high=40.0)
    """Depth of the hall (south to north), metres."""
    adversary: bool = False
    """Add the ``dispatcher`` team, which chooses the requests against the robots."""
    continuous_actions: bool = True
    """Wheel speeds and a handling command; False: six discrete actions."""
    dt: float = param(0.2, low=0.02, high=1.0)
    """Seconds per step."""
    substeps: int = param(4, low=1, high=32)
    """Physics substeps per step."""
    robot_size: float = param(0.6, low=0.3, high=1.0)
    """Side of a robot, metres."""
    robot_mass: float = param(40.0, low=1.0, high=1000.0)
    """Mass of a robot, kg."""
    traction: float = param(0.5, low=0.05, high=2.0)
    """Friction coefficient of a robot's wheels: it pushes with at most traction m g."""
    max_speed: float = param(1.5, low=0.1, high=5.0)
    """Robot speed limit, m/s."""
    max_turn_rate: float = param(2.0, low=0.1, high=10.0)
    """Robot turn rate limit, rad/s."""
    pallet_length: float = param(1.2, low=0.6, high=2.5)
    """Length of a pallet, metres."""
    pallet_width: float = param(0.8, low=0.6, high=2.5)
    """Width of a pallet, metres."""
    pallet_mass: float = param(600.0, low=10.0, high=10_000.0)
    """Mass of a loaded pallet, kg."""
    pallet_friction: float = param(0.05, low=0.001, high=2.0)
    """Friction coefficient of a pallet's dolly on the floor: it resists with mu m g."""
    settle: float = param(0.3, low=0.05, high=1.0)
    """A robot picks up within this distance of a pick spot, metres."""
    settle_speed: float = param(0.25, low=0.01, high=2.0)
    """A robot handles items only below this speed, m/s."""
    reward: str = "individual"
    """Who a delivery rewards: individual (the robots that did it) or team (every robot)."""
    item_reward: float = param(1.0, low=0.0, high=100.0)
    """Reward per delivered item."""
    pallet_reward: float = param(4.0, low=0.0, high=100.0)
    """Reward per delivered pallet (to each robot pushing it, or to the team)."""
    shaping_pickup: float = param(0.1, low=0.0, high=10.0)
    """Reward for picking up an item (shaping)."""
    shaping_progress: float = param(0.5, low=0.0, high=10.0)
    """Reward per metre a pallet moves toward its dock (shaping; away costs as much)."""
    congestion_weight: float = param(0.1, low=0.0, high=10.0)
    """The dispatcher's reward per new robot-robot contact."""
    stuck_seconds: float = param(10.0, low=0.1, high=3600.0)
    """A robot holding an item that has not moved for this long counts as deadlocked."""
    k_robots: int = param(3, low=0, high=64)
    """Nearest other robots in a robot's observation."""
    k_orders: int = param(3, low=0, high=16)
    """Nearest waiting items in a robot's observation."""
    k_pallets: int = param(2, low=0, high=16)
    """Nearest pallets in a robot's observation."""

    def validate(self, scenario_id: str) -> None:
        super().validate(scenario_id)
        c = scenario_id
        check(c, self.reward in ("individual", "team"), "reward", "must be individual or team",
              self.reward)  # fmt: skip
        rule = "must be at most n_pick_spots (one waiting item per spot)"
        check(c, self.n_orders <= self.n_pick_spots, "n_orders", rule, self.n_orders)
        travel = self.max_speed * self.dt / self.substeps
        rule = (
            f"makes a substep's travel (max_speed * dt / substeps = {travel:.3g} m) longer "
            "than half robot_size"
        )
        check(c, travel <= 0.5 * self.robot_size, "max_speed", rule, self.max_speed)
        if self.n_pallets:
            self._check_pallets(c)
        problem = hall_problem(self)
        if problem is not None:
            check(c, False, *problem)

    def _check_pallets(self, c: str) -> None:
        push, hold = self.traction * self.robot_mass, self.pallet_friction * self.pallet_mass
        rule = (
            f"times pallet_mass ({hold:g}) must exceed one robot's traction times robot_mass "
            f"({push:g}): one robot alone must not move a pallet"
        )
        check(c, push < hold, "pallet_friction", rule, self.pallet_friction)
        rule = (
            "must push a pallet together: n_robots * traction * robot_mass must exceed "
            f"pallet_friction * pallet_mass ({hold:g})"
        )
        check(c, hold < self.n_robots * push, "n_robots", rule, self.n_robots)


@dataclass
class PalletsFrame(Frame):
    """What one step measured (``Pallets.sense``; the numbers live in the scenario's ledger)."""

    ledger: HallLedger


@register("warehouse/pallets-v0")
class Pallets(Scenario):
    config_class = PalletsConfig
    metric_reduce = {
        "deliveries": "sum",
        "item_deliveries": "sum",
        "pallet_deliveries": "sum",
        "throughput": "mean",
        "idle": "mean",
        "pushing": "mean",
        "deadlocks": "max",
        "contacts": "sum",
    }
    observes_restarted_only = True

    def __init__(self, cfg: PalletsConfig) -> None:
        super().__init__(cfg)
        self.hall = build_hall(cfg)
        self.layout = robot_layout(cfg)
        if cfg.continuous_actions:
            action_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
        else:
            action_space = spaces.Discrete(len(WHEELS))
        self._groups = {"robot": GroupSpec.of("robot", cfg.n_robots, self.layout, action_space)}
        if cfg.adversary:
            self.dispatch_layout = dispatcher_layout(cfg)
            options = spaces.Discrete(cfg.n_pick_spots * cfg.n_drop_zones)
            self._groups["dispatcher"] = GroupSpec.of(
                "dispatcher", 1, self.dispatch_layout, options
            )

    def groups(self) -> dict[str, GroupSpec]:
        return self._groups

    def state_size(self) -> int:
        cfg = self.cfg
        return 7 * cfg.n_robots + 9 * cfg.n_pallets + 6 * cfg.n_orders

    # ------------------------------------------------------------------------------ world
    def make_world(self, num_worlds: int) -> WorldBatch:
        cfg = self.cfg
        world = WorldBatch(
            num_worlds, cfg.hall_width, cfg.hall_height, dt=cfg.dt, substeps=cfg.substeps,
            track_contacts=True,
        )  # fmt: skip
        world.geometry.add_walls(cfg.hall_width, cfg.hall_height)
        push = cfg.traction * cfg.robot_mass * STANDARD_GRAVITY
        drive = DifferentialDrive(
            cfg.max_speed, cfg.max_turn_rate, max_force=push, max_torque=0.5 * push * cfg.robot_size
        )
        side = cfg.robot_size
        self.robots = world.add_group(
            "robot", cfg.n_robots, shape=Box(side, side), mass=cfg.robot_mass, dynamics=drive,
            friction=0.6,
        )  # fmt: skip
        self.pallets = None
        if cfg.n_pallets:
            shape = Box(cfg.pallet_length, cfg.pallet_width)
            friction = GroundFriction.coulomb(cfg.pallet_friction, cfg.pallet_mass, shape)
            self.pallets = world.add_group(
                "pallet", cfg.n_pallets, shape=shape, mass=cfg.pallet_mass, dynamics=Passive(),
                friction=0.6, ground_friction=friction,
            )  # fmt: skip
        self.ledger = HallLedger(num_worlds, cfg, self.hall)
        self._make_buffers(num_worlds)
        return world

    def _make_buffers(self, num_worlds: int) -> None:
        cfg = self.cfg
        obs = self.obs = self.layout.buffer(num_worlds, cfg.n_robots)
        self._views = (
            obs["own"], obs["task"], obs["orders"], obs.valid("orders"), obs["pallets"],
            obs.valid("pallets"), obs["robots"], obs.valid("robots"), obs["zones"],
        )  # fmt: skip
        self._all = np.arange(num_worlds)
        self._no_option = np.full(num_worlds, -1, np.int64)
        self._no_pallets = np.zeros((num_worlds, 0), np.float32)
        self._frame: PalletsFrame | None = None
        n = cfg.n_robots
        names = ("item", "pallet", "pickup", "progress")
        self._terms = {name: np.zeros((num_worlds, n), np.float32) for name in names}
        self._reward = np.zeros((num_worlds, n), np.float32)
        self._rewards = Reward({"robot": self._reward}, self._terms)
        self._mask = np.ones((num_worlds, n, len(WHEELS)), bool)
        if cfg.adversary:
            self.dispatch_obs = self.dispatch_layout.buffer(num_worlds, 1)
            for name in ("denied", "congestion"):
                self._terms[name] = np.zeros((num_worlds, 1), np.float32)
            self._dispatch_reward = np.zeros((num_worlds, 1), np.float32)
            self._rewards.agents["dispatcher"] = self._dispatch_reward

    def reset(self, world: WorldBatch, rng: WorldRandom, env_ids: np.ndarray) -> None:
        (rx, ry, ra), (px, py, pa) = self.ledger.reset(rng, env_ids)
        world.reset_bodies("robot", env_ids, rx, ry, angle=ra)
        if self.pallets is not None:
            world.reset_bodies("pallet", env_ids, px, py, angle=pa)
        self.robots.command[env_ids] = 0.0

    def apply_actions(self, world: WorldBatch, actions: dict[str, np.ndarray]) -> None:
        cfg, robots = self.cfg, self.robots
        act = actions["robot"]
        if cfg.continuous_actions:
            left, right, handle = act[..., 0], act[..., 1], act[..., 2] > 0.5
        else:
            wheels = WHEELS[act]
            left, right, handle = wheels[..., 0], wheels[..., 1], act == HANDLE
        robots.command[..., 0] = 0.5 * cfg.max_speed * (left + right)
        robots.command[..., 1] = 0.5 * cfg.max_turn_rate * (right - left)
        option = actions["dispatcher"][:, 0].astype(np.int64) if cfg.adversary else self._no_option
        self.ledger.refill(world, option, robots, self.pallets)
        self.ledger.handle(handle, robots)

    def sense(self, world: WorldBatch, episode: Episode) -> PalletsFrame:
        self.ledger.measure(self.robots, self.pallets, episode.steps, episode.restarted)
        frame = self._frame
        if frame is None or frame.world is not world or frame.episode is not episode:
            frame = self._frame = PalletsFrame(world, episode, self.ledger)
        return frame

    def _pallet_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.pallets is None:
            return self._no_pallets, self._no_pallets, self._no_pallets
        return self.pallets.x, self.pallets.y, self.pallets.angle

    def observe(self, frame: PalletsFrame) -> dict[str, np.ndarray]:
        cfg, ledger, hall, robots = self.cfg, self.ledger, self.hall, self.robots
        restarted = frame.episode.restarted
        worlds = self._all if restarted is None else restarted
        state = (robots.x, robots.y, robots.angle, robots.vx, robots.vy, robots.angvel)
        pk.observe_robots(
            worlds, state, ledger.carrying, ledger.orders, hall.spots, hall.zones,
            self._pallet_arrays(), ledger.pallet_book, hall.docks, ledger.pushers,
            frame.episode.steps, cfg.dt / 60.0, self._views,
        )  # fmt: skip
        observations = {"robot": self.obs.array}
        if cfg.adversary:
            dispatcher_view(ledger, robots, self.dispatch_obs, worlds)
            observations["dispatcher"] = self.dispatch_obs.array
        return observations

    def reward(self, frame: PalletsFrame) -> Reward:
        cfg, ledger, terms = self.cfg, self.ledger, self._terms
        if cfg.reward == "team":
            items, pallets = ledger.items.sum(axis=1, keepdims=True), ledger.pallets_done[:, None]
            picked, progress = (
                ledger.picked.sum(axis=1, keepdims=True),
                ledger.team_progress[:, None],
            )
        else:
            items, pallets, picked, progress = (
                ledger.items,
                ledger.credit,
                ledger.picked,
                ledger.progress,
            )
        np.multiply(items, cfg.item_reward, out=terms["item"])
        np.multiply(pallets, cfg.pallet_reward, out=terms["pallet"])
        np.multiply(picked, cfg.shaping_pickup, out=terms["pickup"])
        np.multiply(progress, cfg.shaping_progress, out=terms["progress"])
        np.add(terms["item"], terms["pallet"], out=self._reward)
        self._reward += terms["pickup"]
        self._reward += terms["progress"]
        if cfg.adversary:
            np.negative(ledger.metrics["deliveries"][:, None], out=terms["denied"])
            np.multiply(ledger.metrics["contacts"][:, None], cfg.congestion_weight,
                        out=terms["congestion"])  # fmt: skip
            np.add(terms["denied"], terms["congestion"], out=self._dispatch_reward)
        return self._rewards

    def metrics(self, frame: PalletsFrame) -> dict[str, np.ndarray]:
        return self.ledger.metrics

    def episode_end(self, frame: PalletsFrame, env_ids: np.ndarray) -> dict[str, np.ndarray]:
        return self.ledger.episode_figures(env_ids, frame.episode.steps[env_ids])

    def state(self, frame: Frame) -> np.ndarray:
        return hall_state(self.ledger, self.robots, self.pallets)

    def action_mask(self, frame: Frame) -> dict[str, np.ndarray] | None:
        masks = {}
        if not self.cfg.continuous_actions:
            self._mask[..., HANDLE] = handle_mask(self.ledger, self.robots)
            masks["robot"] = self._mask
        if self.cfg.adversary:
            masks["dispatcher"] = dispatch_mask(self.ledger)
        return masks or None

    def render_extra(self, frame: Frame, canvas, env_index: int) -> None:
        draw_hall(canvas, self.ledger, self.robots, self.pallets, env_index)

    def scripted_policy(self):
        from scenarios.warehouse.pallets_baseline import PalletsBaseline

        return PalletsBaseline(self)


document(Pallets)

if __name__ == "__main__":
    import sys

    from scenarios.replay import main as replay_main

    raise SystemExit(replay_main(["warehouse/pallets-v0", *sys.argv[1:]]))
