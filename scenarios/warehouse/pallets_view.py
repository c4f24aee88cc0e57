"""What ``warehouse/pallets-v0`` shows: the observation layouts of both teams, the dispatcher's
view (the robots' blocks are compiled: ``pallets_kernels.observe_robots``) and its action mask,
the robots' handling mask, the global state for a centralized critic, and the marks drawn on a
rendered frame. numpy over the batch (small arrays: spots, zones, docks)."""

from __future__ import annotations

import numpy as np

from scenarios.layout import ObsLayout, entities, vector
from scenarios.warehouse import pallets_kernels as pk

CROWD_RADIUS = 2.0
"""Robots within this distance of a spot, zone or dock count as its crowd (dispatcher)."""
ZONE_COLORS = ((52, 101, 164), (117, 80, 123), (196, 160, 0), (206, 92, 0))


def robot_layout(cfg) -> ObsLayout:
    """A robot's observation, block by block."""
    return ObsLayout(
        vector(
            "own",
            ("x", "y", "cos", "sin", "v_ahead", "v_left", "turn_rate", "carrying"),
            "place, heading, velocity in its frame, turn rate; carrying an item",
        ),  # fmt: skip
        vector(
            "task",
            ("ahead", "left", "distance", "pick", "drop"),
            "the carried item's drop zone, or the nearest waiting item",
        ),  # fmt: skip
        entities(
            "orders",
            min(cfg.k_orders, cfg.n_orders),
            ("ahead", "left", "drop_ahead", "drop_left", "age"),
            "nearest waiting items: spot, drop zone, minutes waiting",
            valid=True,
        ),  # fmt: skip
        entities(
            "pallets",
            min(cfg.k_pallets, cfg.n_pallets),
            ("ahead", "left", "cos", "sin", "dock_ahead", "dock_left", "pushers", "in_play"),
            "nearest pallets: place, heading; in play: to its dock, robots touching",
            valid=True,
        ),  # fmt: skip
        entities(
            "robots",
            min(cfg.k_robots, cfg.n_robots - 1),
            ("ahead", "left", "v_ahead", "v_left", "carrying"),
            "nearest other robots",
            valid=True,
        ),  # fmt: skip
        entities(
            "zones",
            cfg.n_drop_zones + cfg.n_docks,
            ("ahead", "left", "dock"),
            "drop zones, then pallet docks",
        ),  # fmt: skip
    )


def dispatcher_layout(cfg) -> ObsLayout:
    """The dispatcher's observation, block by block."""
    return ObsLayout(
        vector(
            "queue",
            ("orders_due", "pallets_due", "waiting", "carried"),
            "orders due now, pallets waiting for a slot, items waiting, items carried",
        ),  # fmt: skip
        entities(
            "spots",
            cfg.n_pick_spots,
            ("waiting", "crowd"),
            "per pick spot: an item waits, robots within 2 m",
        ),  # fmt: skip
        entities(
            "zones",
            cfg.n_drop_zones,
            ("orders", "crowd"),
            "per drop zone: items bound there, robots within 2 m",
        ),  # fmt: skip
        entities(
            "docks",
            cfg.n_docks,
            ("pallets", "crowd"),
            "per dock: pallets bound there, robots within 2 m",
        ),  # fmt: skip
        entities("robots", cfg.n_robots, ("x", "y", "carrying"), "every robot"),
    )


def _crowd(rx: np.ndarray, ry: np.ndarray, places: np.ndarray) -> np.ndarray:
    """Robots within ``CROWD_RADIUS`` of each place: ``(E, len(places))``."""
    gap = np.hypot(rx[:, :, None] - places[:, 0], ry[:, :, None] - places[:, 1])
    return (gap < CROWD_RADIUS).sum(axis=1)


def _per(index: np.ndarray, chosen: np.ndarray, count: int) -> np.ndarray:
    """How many of the ``chosen`` entries ``(E, K)`` have each ``index`` value in ``[0, count)``."""
    return ((index[..., None] == np.arange(count)) & chosen[..., None]).sum(axis=1)


def dispatcher_view(ledger, robots, obs, worlds: np.ndarray) -> None:
    """Write the dispatcher's observation of ``worlds`` into ``obs`` (its ``ObsBuffer``)."""
    hall = ledger.hall
    state = ledger.order_state[worlds]
    waiting, carried = state == pk.WAITING, state == pk.CARRIED
    queue = np.stack(
        [
            (state == pk.EMPTY).sum(axis=1),
            (ledger.pallet_state[worlds] == pk.DONE).sum(axis=1),
            waiting.sum(axis=1),
            carried.sum(axis=1),
        ],
        axis=-1,
    )
    obs["queue"][worlds, 0] = queue
    rx, ry = robots.x[worlds], robots.y[worlds]
    spots = obs["spots"]
    spots[worlds, 0, :, 0] = _per(ledger.order_spot[worlds], waiting, len(hall.spots))
    spots[worlds, 0, :, 1] = _crowd(rx, ry, hall.spots)
    zones = obs["zones"]
    zones[worlds, 0, :, 0] = _per(ledger.order_zone[worlds], waiting | carried, len(hall.zones))
    zones[worlds, 0, :, 1] = _crowd(rx, ry, hall.zones)
    docks = obs["docks"]
    active = ledger.pallet_state[worlds] == pk.ACTIVE
    docks[worlds, 0, :, 0] = _per(ledger.pallet_dock[worlds], active, len(hall.docks))
    docks[worlds, 0, :, 1] = _crowd(rx, ry, hall.docks)
    everyone = obs["robots"]
    everyone[worlds, 0, :, 0], everyone[worlds, 0, :, 1] = rx, ry
    everyone[worlds, 0, :, 2] = ledger.carrying[worlds] >= 0


def dispatch_mask(ledger) -> np.ndarray:
    """The dispatcher's legal options ``(B, 1, S * Z)``: spots without a waiting item (every
    option when all spots hold one: the choice then waits for a free spot anyway)."""
    spots, zones = len(ledger.hall.spots), len(ledger.hall.zones)
    waiting = ledger.order_state == pk.WAITING
    taken = _per(ledger.order_spot, waiting, spots) > 0
    free = ~taken | taken.all(axis=1, keepdims=True)
    return np.repeat(free, zones, axis=1)[:, None, :]


def handle_mask(ledger, robots) -> np.ndarray:
    """Where handling does something ``(B, N)``: settled (slow enough) and either empty within
    ``settle`` of a spot with a waiting item, or inside the carried item's drop zone."""
    cfg, hall = ledger.cfg, ledger.hall
    slow = np.hypot(robots.vx, robots.vy) <= cfg.settle_speed
    waiting = ledger.order_state == pk.WAITING
    has_item = _per(ledger.order_spot, waiting, len(hall.spots)) > 0  # (B, S)
    gap = np.hypot(robots.x[..., None] - hall.spots[:, 0], robots.y[..., None] - hall.spots[:, 1])
    pick = ((gap < cfg.settle) & has_item[:, None, :]).any(axis=2) & (ledger.carrying < 0)
    carried = np.maximum(ledger.carrying, 0)
    zone = np.take_along_axis(ledger.order_zone, carried, axis=1)
    box = hall.zones[zone]
    inside = (np.abs(robots.x - box[..., 0]) <= box[..., 2]) & (
        np.abs(robots.y - box[..., 1]) <= box[..., 3]
    )
    return slow & (pick | (inside & (ledger.carrying >= 0)))


def hall_state(ledger, robots, pallets) -> np.ndarray:
    """The global state ``(B, 7 N + 9 P + 6 K)`` (see the scenario's docstring)."""
    hall = ledger.hall
    parts = [
        np.stack(
            [
                robots.x,
                robots.y,
                np.cos(robots.angle),
                np.sin(robots.angle),
                robots.vx,
                robots.vy,
                ledger.carrying >= 0,
            ],
            axis=-1,
        )  # fmt: skip
    ]
    if pallets is not None:
        dock = hall.docks[ledger.pallet_dock]
        parts.append(
            np.stack(
                [
                    pallets.x,
                    pallets.y,
                    np.cos(pallets.angle),
                    np.sin(pallets.angle),
                    pallets.vx,
                    pallets.vy,
                    dock[..., 0] - pallets.x,
                    dock[..., 1] - pallets.y,
                    ledger.pallet_state == pk.ACTIVE,
                ],
                axis=-1,
            )  # fmt: skip
        )
    spot, zone = hall.spots[ledger.order_spot], hall.zones[ledger.order_zone]
    state = ledger.order_state
    parts.append(
        np.stack(
            [
                spot[..., 0],
                spot[..., 1],
                zone[..., 0],
                zone[..., 1],
                state == pk.WAITING,
                state == pk.CARRIED,
            ],
            axis=-1,
        )  # fmt: skip
    )
    b = robots.x.shape[0]
    return np.concatenate([part.reshape(b, -1) for part in parts], axis=1).astype(np.float32)


def _rectangle(canvas, x, y, half_x, half_y, color) -> None:
    corners = [(x - half_x, y - half_y), (x + half_x, y - half_y), (x + half_x, y + half_y),
               (x - half_x, y + half_y)]  # fmt: skip
    for a, b in zip(corners, corners[1:] + corners[:1], strict=True):
        canvas.line(*a, *b, color, width=2)


def draw_hall(canvas, ledger, robots, pallets, b: int) -> None:
    """Drop zones (each its colour) and docks (green), the items waiting at their spots and
    those riding on robots in the colour of their zone, and a line from each pallet in play to
    its dock."""
    hall, cfg = ledger.hall, ledger.cfg
    for z, (x, y, hx, hy) in enumerate(hall.zones.tolist()):
        _rectangle(canvas, x, y, hx, hy, ZONE_COLORS[z % len(ZONE_COLORS)])
    for x, y, hx, hy in hall.docks.tolist():
        _rectangle(canvas, x, y, hx, hy, (78, 154, 6))
    for x, y in hall.spots.tolist():
        canvas.circle(x, y, cfg.settle, None, outline=(160, 160, 160))
    size = 0.18 * cfg.robot_size
    for k in np.flatnonzero(ledger.order_state[b] != pk.EMPTY).tolist():
        color = ZONE_COLORS[int(ledger.order_zone[b, k]) % len(ZONE_COLORS)]
        if ledger.order_state[b, k] == pk.WAITING:
            x, y = hall.spots[ledger.order_spot[b, k]]
        else:
            n = ledger.order_robot[b, k]
            x, y = float(robots.x[b, n]), float(robots.y[b, n])
        canvas.circle(x, y, size, color)
    if pallets is None:
        return
    for p in np.flatnonzero(ledger.pallet_state[b] == pk.ACTIVE).tolist():
        dock = hall.docks[ledger.pallet_dock[b, p]]
        x, y = float(pallets.x[b, p]), float(pallets.y[b, p])
        canvas.line(x, y, dock[0], dock[1], (78, 154, 6), width=1)
