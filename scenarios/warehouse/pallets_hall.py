"""The hall of ``warehouse/pallets-v0`` and its per-world book.

``Hall``: where things are, the same in every world (local metres, origin at the hall's centre,
y up): pick spots along the west wall, drop zones along the east wall, pallet docks along the
south wall, the spawn slots of pallets in the middle and the start places of robots around them.
``hall_problem`` says which config field makes a hall impossible (too small for what it must
hold), for the config's one-line errors.

``HallLedger``: the book of a batch of worlds: orders (item requests), pallets' requests, what
each robot carries, the request stream, and the running figures of an episode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scenarios.warehouse import pallets_kernels as pk

SIDE_BAND = 2.0
"""Metres along the west and east walls kept for pick spots and drop zones (no docks, slots)."""


@dataclass(frozen=True)
class Hall:
    width: float
    height: float
    spots: np.ndarray
    """Pick spots ``(S, 2)``: where a robot stops to take an item."""
    zones: np.ndarray
    """Drop zones ``(Z, 4)``: centre x, y and half sizes; a robot's centre inside delivers."""
    docks: np.ndarray
    """Pallet docks ``(D, 4)``: centre x, y and half sizes; a pallet's centre inside delivers."""
    slots: np.ndarray
    """Pallet spawn slots ``(Q, 2)``."""
    starts: np.ndarray
    """Robot start places ``(R, 2)``, clear of every slot."""
    pallet_half: tuple[float, float]
    pallet_radius: float
    robot_radius: float


def _spread(count: int, spacing: float) -> np.ndarray:
    """``count`` positions ``spacing`` apart, centred on 0."""
    return (np.arange(count) - (count - 1) / 2) * spacing


def _grid(low_x, high_x, low_y, high_y, step) -> np.ndarray:
    """Points of a grid with at least ``step`` between neighbours over a box (empty if none)."""
    if high_x < low_x or high_y < low_y:
        return np.zeros((0, 2))
    nx, ny = int((high_x - low_x) // step) + 1, int((high_y - low_y) // step) + 1
    xs = np.linspace(low_x, high_x, nx) if nx > 1 else np.array([(low_x + high_x) / 2])
    ys = np.linspace(low_y, high_y, ny) if ny > 1 else np.array([(low_y + high_y) / 2])
    return np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1).reshape(-1, 2)


def build_hall(cfg) -> Hall:
    """The hall of a config (``hall_problem(cfg)`` is None for configs that fit)."""
    w, h = cfg.hall_width, cfg.hall_height
    r = cfg.robot_size / math.sqrt(2)
    usable = h - 2.0
    spot_gap, zone_gap = min(2.0, usable / cfg.n_pick_spots), min(3.0, usable / cfg.n_drop_zones)
    spots = np.stack(
        [np.full(cfg.n_pick_spots, -w / 2 + r + 0.1), _spread(cfg.n_pick_spots, spot_gap)], -1
    )
    zone_half = (0.5, min(0.8, 0.4 * zone_gap))
    zones = np.column_stack(
        [
            np.full(cfg.n_drop_zones, w / 2 - r - 0.4),
            _spread(cfg.n_drop_zones, zone_gap),
            np.full((cfg.n_drop_zones, 2), zone_half),
        ]
    )
    dock_half = 0.5 * max(cfg.pallet_length, cfg.pallet_width) + 0.5
    dock_gap = (w - 2 * SIDE_BAND) / cfg.n_docks
    docks = np.column_stack(
        [
            _spread(cfg.n_docks, dock_gap),
            np.full(cfg.n_docks, -h / 2 + dock_half + 0.2),
            np.full((cfg.n_docks, 2), dock_half),
        ]
    )
    radius = 0.5 * math.hypot(cfg.pallet_length, cfg.pallet_width)
    x_edge = w / 2 - SIDE_BAND - radius
    low_y = -h / 2 + 0.2 + 2 * dock_half + 0.8 + radius
    slots = _grid(-x_edge, x_edge, low_y, h / 2 - 0.5 - radius, 2 * radius + 1.0)
    grid = _grid(-w / 2 + r + 0.1, w / 2 - r - 0.1, -h / 2 + r + 0.1, h / 2 - r - 0.1, 2 * r + 0.3)
    near = np.hypot(*(grid[:, None, :] - slots[None, :, :]).transpose(2, 0, 1))
    starts = grid[(near >= radius + r + 0.3).all(axis=1)]
    half = (0.5 * cfg.pallet_length, 0.5 * cfg.pallet_width)
    return Hall(w, h, spots, zones, docks, slots, starts, half, radius, r)


def hall_problem(cfg) -> tuple[str, str, object] | None:
    """(field, rule, value) of the first way the config's hall cannot hold what it must, naming
    every field involved in the rule; None when it fits."""
    hall = build_hall(cfg)
    r, usable = hall.robot_radius, cfg.hall_height - 2.0
    sizes = "hall_width, hall_height, pallet_length, pallet_width"
    if usable / cfg.n_pick_spots < 2 * r + 0.2:
        rule = "must fit along the west wall, a robot (robot_size) apart, in hall_height"
        return "n_pick_spots", rule, cfg.n_pick_spots
    if usable / cfg.n_drop_zones < 2 * r + 0.2:
        rule = "must fit along the east wall, a robot (robot_size) apart, in hall_height"
        return "n_drop_zones", rule, cfg.n_drop_zones
    dock_gap = (cfg.hall_width - 2 * SIDE_BAND) / cfg.n_docks
    if dock_gap < 2 * hall.docks[0, 2] + 0.3:
        rule = "must fit along the south wall (hall_width), each a pallet (pallet_length, "
        rule += "pallet_width) wide and more"
        return "n_docks", rule, cfg.n_docks
    if cfg.n_pallets > len(hall.slots):
        rule = f"must fit the hall's {len(hall.slots)} pallet slots ({sizes})"
        return "n_pallets", rule, cfg.n_pallets
    if cfg.n_robots > len(hall.starts):
        rule = f"must fit the hall's {len(hall.starts)} robot starts ({sizes}, robot_size)"
        return "n_robots", rule, cfg.n_robots
    return None


class HallLedger:
    """The per-world book of a batch (``(B, ...)`` arrays): orders (``order_state``, ``_spot``,
    ``_zone``, ``_robot``, ``_request``, ``pick_odometer``), pallets (``pallet_state``, ``_dock``,
    ``_request``, ``_last``: distance to the dock at the last step), robots (``carrying``: an
    order or -1, ``odometer``, ``still_steps``), the request streams (``keys``, ``counters``)
    and the episode's totals (items, item latency, path ratio, pallets, pallet latency,
    contacts)."""

    def __init__(self, num_worlds: int, cfg, hall: Hall) -> None:
        self.hall, self.cfg = hall, cfg
        b, n, k, p = num_worlds, cfg.n_robots, cfg.n_orders, cfg.n_pallets
        self.order_state = np.zeros((b, k), np.int8)
        self.order_spot, self.order_zone, self.order_robot = (
            np.zeros((b, k), np.int64) for _ in "szr"
        )
        self.order_request = np.zeros((b, k), np.int64)
        self.pick_odometer = np.zeros((b, k))
        self.orders = (
            self.order_state, self.order_spot, self.order_zone, self.order_robot,
            self.order_request, self.pick_odometer,
        )  # fmt: skip
        self.pallet_state = np.zeros((b, p), np.int8)
        self.pallet_dock = np.zeros((b, p), np.int64)
        self.pallet_request = np.zeros((b, p), np.int64)
        self.pallet_last = np.zeros((b, p))
        self.pallet_book = (
            self.pallet_state,
            self.pallet_dock,
            self.pallet_request,
            self.pallet_last,
        )
        self.carrying = np.full((b, n), -1, np.int64)
        self.keys, self.counters = np.zeros(b, np.uint64), np.zeros(b, np.uint64)
        self.odometer = np.zeros((b, n))
        self.last_x, self.last_y = np.zeros((b, n), np.float32), np.zeros((b, n), np.float32)
        self.still_steps = np.zeros((b, n), np.int64)
        self.meeting = np.zeros((b, n), bool)  # touching another robot at the last step
        self._eye = np.eye(n, dtype=bool)
        self.totals = np.zeros((b, 6))
        # What a step did (handle in apply_actions, the rest in sense).
        self.picked = np.zeros((b, n), np.float32)
        self.handed = np.full((b, n), -1, np.int64)  # order delivered by each robot, or -1
        self.items = np.zeros((b, n), np.float32)
        self.pushers = np.zeros((b, p), np.int64)
        self.touching = np.zeros((b, n), bool)
        self.credit = np.zeros((b, n), np.float32)
        self.progress = np.zeros((b, n), np.float32)
        self.team_progress = np.zeros(b, np.float32)
        self.pallets_done = np.zeros(b, np.float32)
        self.events = np.zeros((max(b * p, 1), 3), np.int64)
        self.metrics = {
            name: np.zeros(b, np.float32)
            for name in ("deliveries", "item_deliveries", "pallet_deliveries", "throughput",
                         "deadlocks", "contacts")
        }  # fmt: skip
        self.metrics["idle"] = np.zeros((b, n), bool)
        self.metrics["pushing"] = np.zeros((b, n), bool)

    def reset(self, rng, env_ids: np.ndarray):
        """New episodes in worlds ``env_ids``: ``n_orders`` items waiting at distinct spots,
        pallets on distinct random slots (turned 0 or 90 degrees) bound for random docks
        (distinct while there are as many docks as pallets), robots on
        distinct random starts with random headings. Returns the robots' and pallets' placements
        ``(x, y, angle)``, each ``(E, N)`` and ``(E, P)``."""
        cfg, hall = self.cfg, self.hall
        e, n, k, p = len(env_ids), cfg.n_robots, cfg.n_orders, cfg.n_pallets
        s, q, r = len(hall.spots), len(hall.slots), len(hall.starts)
        d = len(hall.docks)
        draws = rng.random((e, s + q + r + k + p + d + n + 2))
        parts = np.split(draws, np.cumsum([s, q, r, k, p, d, n]), axis=1)
        spots = np.argsort(parts[0], axis=1, kind="stable")[:, :k]
        slots = np.argsort(parts[1], axis=1, kind="stable")[:, :p]
        starts = np.argsort(parts[2], axis=1, kind="stable")[:, :n]
        keys = (parts[7] * 2.0**32).astype(np.uint64)
        self.keys[env_ids] = (keys[:, 0] << np.uint64(32)) | keys[:, 1]
        self.counters[env_ids] = 0
        self.order_state[env_ids] = pk.WAITING
        self.order_spot[env_ids] = spots
        self.order_zone[env_ids] = (parts[3] * cfg.n_drop_zones).astype(np.int64)
        self.order_robot[env_ids] = -1
        self.order_request[env_ids] = -1
        self.pallet_state[env_ids] = pk.ACTIVE
        docks = np.argsort(parts[5], axis=1, kind="stable")  # distinct while there are enough
        self.pallet_dock[env_ids] = docks[:, np.arange(p) % d]
        self.pallet_request[env_ids] = -1
        self.carrying[env_ids] = -1
        self.handed[env_ids] = -1
        for array in (self.pick_odometer, self.pallet_last, self.odometer, self.still_steps,
                      self.meeting, self.totals, self.picked):  # fmt: skip
            array[env_ids] = 0
        robots = hall.starts[starts]
        self.last_x[env_ids], self.last_y[env_ids] = robots[..., 0], robots[..., 1]
        pallets = hall.slots[slots]
        pallet_angle = np.where(parts[4] < 0.5, 0.0, 0.5 * math.pi)
        return (
            (robots[..., 0], robots[..., 1], parts[6] * 2 * math.pi),
            (pallets[..., 0], pallets[..., 1], pallet_angle),
        )

    # ------------------------------------------------------------------------------- step
    def refill(self, world, option: np.ndarray, robots, pallets) -> None:
        """Before the physics: due orders become requests (``option``: the dispatcher's choice
        per world, or -1 to draw it), and delivered pallets go back to free slots."""
        hall = self.hall
        pk.fill_orders(
            self.order_state, self.order_spot, self.order_zone, self.order_robot,
            self.order_request, option, len(hall.spots), len(hall.zones), self.keys,
            self.counters,
        )  # fmt: skip
        if pallets is None or not (self.pallet_state == pk.DONE).any():
            return
        clearances = np.array([hall.pallet_radius + hall.robot_radius, 2 * hall.pallet_radius])
        count = pk.respawn_pallets(
            self.pallet_state, self.pallet_dock, self.pallet_request, self.pallet_last,
            pallets.x.astype(np.float64), pallets.y.astype(np.float64), robots.x, robots.y,
            hall.slots, clearances + 0.1, option, len(hall.docks), self.keys, self.counters,
            self.events,
        )  # fmt: skip
        if count:
            moved = self.events[:count]
            spot = hall.slots[moved[:, 2]]
            world.place_bodies("pallet", moved[:, 0], moved[:, 1], spot[:, 0], spot[:, 1])

    def handle(self, act: np.ndarray, robots) -> None:
        """Pick-ups and drops of the robots whose handling action is on (``act`` ``(B, N)``)."""
        cfg, hall = self.cfg, self.hall
        speed = np.hypot(robots.vx, robots.vy)
        pk.handle(
            act, robots.x, robots.y, speed, self.carrying, self.orders, hall.spots, hall.zones,
            cfg.settle, cfg.settle_speed, self.odometer, self.picked, self.handed,
        )  # fmt: skip

    def measure(self, robots, pallets, steps: np.ndarray, worlds: np.ndarray | None) -> None:
        """After the physics: travel, deliveries of items and pallets, pallets' pushers and
        progress, the step's figures. ``worlds``: only those (just reset: no travel, no
        figures), or None for every world."""
        hall = self.hall
        if worlds is None:
            self._travel(robots)
        chosen = np.arange(len(steps)) if worlds is None else worlds
        pk.item_deliveries(
            chosen, self.handed, self.orders, hall.spots, hall.zones, self.odometer, steps,
            self.items, self.totals,
        )  # fmt: skip
        if pallets is not None:
            reach = 0.5 * self.cfg.robot_size * 1.15 + 0.02
            pk.pallet_step(
                chosen, (pallets.x, pallets.y, pallets.angle), self.pallet_book, robots.x,
                robots.y, hall.docks, hall.pallet_half, reach, steps, self.pushers,
                self.touching, self.credit, self.progress, self.team_progress,
                self.pallets_done, self.totals,
            )  # fmt: skip
        if worlds is None:
            self._figures(robots)

    def _travel(self, robots) -> None:
        travel = np.hypot(robots.x - self.last_x, robots.y - self.last_y)
        self.odometer += travel
        np.copyto(self.last_x, robots.x)
        np.copyto(self.last_y, robots.y)
        self.still_steps += 1
        self.still_steps[travel > 0.02] = 0

    def _figures(self, robots) -> None:
        cfg, metrics = self.cfg, self.metrics
        items = self.items.sum(axis=1)
        metrics["item_deliveries"][:] = items
        metrics["pallet_deliveries"][:] = self.pallets_done
        np.add(items, self.pallets_done, out=metrics["deliveries"])
        metrics["throughput"][:] = metrics["deliveries"]
        loaded = self.carrying >= 0
        still = self.still_steps > 0
        np.logical_and(still & ~loaded, ~self.touching, out=metrics["idle"])
        np.copyto(metrics["pushing"], self.touching)
        stuck = loaded & (self.still_steps * cfg.dt >= cfg.stuck_seconds)
        metrics["deadlocks"][:] = stuck.sum(axis=1)
        # Robot-robot contacts: touching some body, with another robot close enough to be it.
        gap = np.hypot(
            robots.x[:, :, None] - robots.x[:, None, :], robots.y[:, :, None] - robots.y[:, None, :]
        )
        gap[:, self._eye] = np.inf
        meeting = (gap < 1.25 * cfg.robot_size).any(axis=2) & (robots.contacts > 0)
        metrics["contacts"][:] = (meeting & ~self.meeting).sum(axis=1)
        self.totals[:, 5] += metrics["contacts"]
        np.copyto(self.meeting, meeting)

    def episode_figures(self, env_ids: np.ndarray, steps: np.ndarray) -> dict[str, np.ndarray]:
        totals, dt = self.totals[env_ids], self.cfg.dt
        hours = steps * dt / 3600.0
        items, pallets = totals[:, 0], totals[:, 3]
        return {
            "deliveries_per_hour": (items + pallets) / hours,
            "latency_s": np.where(items > 0, totals[:, 1] * dt / np.maximum(items, 1), np.nan),
            "pallet_latency_s": np.where(
                pallets > 0, totals[:, 4] * dt / np.maximum(pallets, 1), np.nan
            ),
            "path_ratio": np.where(items > 0, totals[:, 2] / np.maximum(items, 1), np.nan),
            "contacts_per_robot_hour": totals[:, 5] / (self.cfg.n_robots * hours),
        }
