"""Compiled stages of ``warehouse/pallets-v0``'s step (``worlds.kernels`` conventions: numba,
cached, loops world by world, outputs into the caller's arrays): new requests, pallets brought
back into play, picking up and dropping items, what the pallets did in a step, and the robots'
observation blocks.

Orders (item requests) are ``EMPTY`` (due: a new one is drawn at the next step), ``WAITING`` at
their pick spot or ``CARRIED`` by a robot. Pallets are ``ACTIVE`` (requested at a dock) or
``DONE`` (delivered, waiting to be taken back to a free spawn slot). A request's step is stamped
by the next ``sense`` (-1 until then), which knows the episode's step count.
"""

from __future__ import annotations

import math

import numpy as np

from worlds.kernels import kernel
from worlds.kernels.counter import mix64 as _mix

EMPTY, WAITING, CARRIED = 0, 1, 2
ACTIVE, DONE = 1, 2


@kernel
def _draw(b, keys, counters, count):
    """A number in ``[0, count)`` from world b's request stream."""
    counters[b] += np.uint64(1)
    return np.int64(_mix(keys[b] + counters[b]) % np.uint64(count))


@kernel
def _spot_waiting(b, s, state, spot):
    for k in range(state.shape[1]):
        if state[b, k] == WAITING and spot[b, k] == s:
            return True
    return False


@kernel
def fill_orders(state, spot, zone, robot, request, option, n_spots, n_zones, keys, counters):
    """Every ``EMPTY`` order becomes a new request: a pick spot that holds no waiting item and a
    drop zone, either the dispatcher's ``option[b]`` (``spot * n_zones + zone``; the next free
    spot after the chosen one when it is taken) or, where ``option[b] < 0``, drawn from the
    world's stream. An order stays due while every spot holds a waiting item."""
    for b in range(state.shape[0]):
        for k in range(state.shape[1]):
            if state[b, k] != EMPTY:
                continue
            free = 0
            for s in range(n_spots):
                free += not _spot_waiting(b, s, state, spot)
            if free == 0:
                break
            if option[b] >= 0:
                first, z = option[b] // n_zones, option[b] % n_zones
                for t in range(n_spots):
                    s = (first + t) % n_spots
                    if not _spot_waiting(b, s, state, spot):
                        break
            else:
                pick = _draw(b, keys, counters, free)
                for s in range(n_spots):
                    if not _spot_waiting(b, s, state, spot):
                        if pick == 0:
                            break
                        pick -= 1
                z = _draw(b, keys, counters, n_zones)
            state[b, k], spot[b, k], zone[b, k] = WAITING, s, z
            robot[b, k], request[b, k] = -1, -1


@kernel
def _slot_free(b, p, qx, qy, px, py, rx, ry, clearances):
    for n in range(rx.shape[1]):
        if math.hypot(rx[b, n] - qx, ry[b, n] - qy) < clearances[0]:
            return False
    for other in range(px.shape[1]):
        if other != p and math.hypot(px[b, other] - qx, py[b, other] - qy) < clearances[1]:
            return False
    return True


@kernel
def _new_dock(b, p, state, dock, option, n_docks, keys, counters):
    """The dispatcher's dock (``option[b] % n_docks``), or one drawn among the docks no other
    pallet in play is bound for (among all when every dock is taken)."""
    if option[b] >= 0:
        return option[b] % n_docks
    taken = np.zeros(n_docks, np.bool_)
    for other in range(state.shape[1]):
        if other != p and state[b, other] == ACTIVE:
            taken[dock[b, other]] = True
    free = n_docks - taken.sum()
    if free == 0:
        return _draw(b, keys, counters, n_docks)
    pick = _draw(b, keys, counters, free)
    for d in range(n_docks):
        if not taken[d]:
            if pick == 0:
                return d
            pick -= 1
    return 0


@kernel
def respawn_pallets(
    state, dock, request, last, px, py, rx, ry, slots, clearances, option, n_docks, keys,
    counters, events,
):  # fmt: skip
    """Delivered pallets go back into play: each ``DONE`` pallet moves to a spawn slot (drawn
    from the world's stream among those clear of robots and pallets, ``clearances`` = (robot,
    pallet) centre distances) with a new dock (``_new_dock``). Writes ``px, py`` (a scratch
    copy of the pallets' positions) and the events ``(b, p, slot)``; returns their number. A
    pallet stays in its dock while no slot is free."""
    count = 0
    for b in range(state.shape[0]):
        for p in range(state.shape[1]):
            if state[b, p] != DONE:
                continue
            free = 0
            for q in range(slots.shape[0]):
                free += _slot_free(b, p, slots[q, 0], slots[q, 1], px, py, rx, ry, clearances)
            if free == 0:
                continue
            pick = _draw(b, keys, counters, free)
            for q in range(slots.shape[0]):
                if _slot_free(b, p, slots[q, 0], slots[q, 1], px, py, rx, ry, clearances):
                    if pick == 0:
                        break
                    pick -= 1
            px[b, p], py[b, p] = slots[q, 0], slots[q, 1]
            dock[b, p] = _new_dock(b, p, state, dock, option, n_docks, keys, counters)
            state[b, p], request[b, p], last[b, p] = ACTIVE, -1, -1.0
            events[count, 0], events[count, 1], events[count, 2] = b, p, q
            count += 1
    return count


@kernel
def handle(
    act, rx, ry, speed, carrying, orders, spots, zones, settle, settle_speed, odometer,
    picked, delivered,
):  # fmt: skip
    """The handling action of robots that want it (``act``) and have settled (``speed`` below
    ``settle_speed``): an empty robot within ``settle`` of a pick spot takes the item waiting
    there; a robot whose centre is inside its item's drop zone (``zones`` rows cx, cy, hx, hy)
    delivers it. ``orders`` = (state, spot, zone, robot, request, pick_odometer). Writes
    ``picked[b, n]`` (1 or 0) and ``delivered[b, n]``: -1, or the delivered order's index (its
    row still holds the request's step, spot, zone and pick-up odometer until it is refilled)."""
    state, spot, zone, robot, request, pick_odometer = orders
    picked[:] = 0.0
    delivered[:] = -1
    for b in range(act.shape[0]):
        for n in range(act.shape[1]):
            if not act[b, n] or speed[b, n] > settle_speed:
                continue
            k = carrying[b, n]
            if k >= 0:
                z = zone[b, k]
                if abs(rx[b, n] - zones[z, 0]) <= zones[z, 2] and (
                    abs(ry[b, n] - zones[z, 1]) <= zones[z, 3]
                ):
                    delivered[b, n] = k
                    state[b, k], carrying[b, n] = EMPTY, -1
                continue
            for k in range(state.shape[1]):
                s = spot[b, k]
                near = math.hypot(rx[b, n] - spots[s, 0], ry[b, n] - spots[s, 1]) < settle
                if state[b, k] == WAITING and near:
                    state[b, k], robot[b, k], carrying[b, n] = CARRIED, n, k
                    pick_odometer[b, k] = odometer[b, n]
                    picked[b, n] = 1.0
                    break


@kernel
def _box_gap(x, y, cx, cy, angle, half_length, half_width):
    """Distance from point (x, y) to a box centred at (cx, cy) turned by ``angle``."""
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = x - cx, y - cy
    along, across = dx * c + dy * s, -dx * s + dy * c
    return math.hypot(max(abs(along) - half_length, 0.0), max(abs(across) - half_width, 0.0))


@kernel
def pallet_step(
    worlds, pallets, pallet_book, rx, ry, docks, half, reach, steps, pushers, touching, credit,
    progress, team_progress, delivered, totals,
):  # fmt: skip
    """What the pallets of ``worlds`` did in a step. ``pallets`` = (x, y, angle),
    ``pallet_book`` = (state, dock, request, last distance to the dock). For each active pallet:
    the robots within ``reach`` of its sides (``pushers``, ``touching``), its progress toward its
    dock (metres, to each pusher and to the team), and whether its centre is inside the dock
    (delivered: it becomes ``DONE``, each pusher gets ``credit``, ``totals[b]`` adds (pallets,
    latency steps)). A new request's step and distance are stamped here."""
    px, py, pa = pallets
    state, dock, request, last = pallet_book
    for b in worlds:
        team_progress[b], delivered[b] = 0.0, 0.0
        touching[b, :] = False
        credit[b, :] = 0.0
        progress[b, :] = 0.0
        for p in range(px.shape[1]):
            pushers[b, p] = 0
            if state[b, p] != ACTIVE:
                continue
            near = np.empty(rx.shape[1], np.bool_)
            for n in range(rx.shape[1]):
                gap = _box_gap(rx[b, n], ry[b, n], px[b, p], py[b, p], pa[b, p], half[0], half[1])
                near[n] = gap < reach
                touching[b, n] |= near[n]
            pushers[b, p] = near.sum()
            d = dock[b, p]
            distance = math.hypot(px[b, p] - docks[d, 0], py[b, p] - docks[d, 1])
            if request[b, p] < 0:
                request[b, p], last[b, p] = steps[b], distance
            gain = last[b, p] - distance
            last[b, p] = distance
            team_progress[b] += gain
            inside = abs(px[b, p] - docks[d, 0]) <= docks[d, 2] and (
                abs(py[b, p] - docks[d, 1]) <= docks[d, 3]
            )
            if inside:
                state[b, p] = DONE
                delivered[b] += 1.0
                totals[b, 3] += 1.0
                totals[b, 4] += steps[b] - request[b, p]
            for n in range(rx.shape[1]):
                if near[n]:
                    progress[b, n] += gain
                    credit[b, n] += 1.0 if inside else 0.0


@kernel
def item_deliveries(worlds, delivered, orders, spots, zones, odometer, steps, count, totals):
    """Stamp the new requests of ``worlds`` with this step and book their item deliveries:
    ``count[b, n]`` (1 for a delivery), and ``totals[b]`` adds (items, latency steps, path
    ratio: travel from pick-up over the straight distance from the pick spot to the zone)."""
    state, spot, zone, robot, request, pick_odometer = orders
    for b in worlds:
        for k in range(state.shape[1]):
            if state[b, k] == WAITING and request[b, k] < 0:
                request[b, k] = steps[b]
        for n in range(delivered.shape[1]):
            k = delivered[b, n]
            count[b, n] = 0.0
            if k < 0:
                continue
            count[b, n] = 1.0
            s, z = spot[b, k], zone[b, k]
            gap_x = max(abs(spots[s, 0] - zones[z, 0]) - zones[z, 2], 0.0)
            gap_y = max(abs(spots[s, 1] - zones[z, 1]) - zones[z, 3], 0.0)
            straight = math.hypot(gap_x, gap_y)
            totals[b, 0] += 1.0
            totals[b, 1] += steps[b] - request[b, k]
            totals[b, 2] += (odometer[b, n] - pick_odometer[b, k]) / max(straight, 1e-6)


@kernel
def _nearest(distance, count, k, chosen):
    """The indices of the ``k`` smallest of ``distance[:count]`` (inf: not a candidate) in
    ``chosen``, nearest first (ties by index); returns how many there are."""
    found = 0
    for _ in range(k):
        best, arg = np.inf, -1
        for i in range(count):
            if distance[i] < best:
                taken = False
                for t in range(found):
                    taken = taken or chosen[t] == i
                if not taken:
                    best, arg = distance[i], i
        if arg < 0:
            break
        chosen[found] = arg
        found += 1
    return found


@kernel
def _turned(dx, dy, c, s):
    """A world vector in the robot's frame: (ahead, left)."""
    return dx * c + dy * s, -dx * s + dy * c


@kernel
def observe_robots(worlds, robots, carrying, orders, spots, zones, pallets, pallet_book, docks,
                   pushers, steps, minutes, out):  # fmt: skip
    """The robots' observation blocks of ``worlds`` (``pallets``' module docstring has them):
    ``robots`` = (x, y, angle, vx, vy, angvel), ``out`` = (own, task, orders, orders valid,
    pallets, pallets valid, robots, robots valid, zones); ``minutes``: a step in minutes (the
    orders' ages)."""
    rx, ry, ra = robots[0], robots[1], robots[2]
    n_robots = rx.shape[1]
    size = max(n_robots, orders[0].shape[1], pallets[0].shape[1]) + 1
    distance, chosen = np.empty(size), np.empty(size, np.int64)
    for b in worlds:
        for n in range(n_robots):
            c, s = math.cos(ra[b, n]), math.sin(ra[b, n])
            _own_and_task(b, n, c, s, robots, carrying, orders, spots, zones, out[0], out[1])
            _order_rows(
                b, n, c, s, rx, ry, orders, spots, zones, steps, minutes, distance, chosen, out
            )
            _pallet_rows(b, n, c, s, rx, ry, pallets, pallet_book, docks, pushers, distance,
                         chosen, out)  # fmt: skip
            _robot_rows(b, n, c, s, robots, carrying, distance, chosen, out)
            rows = out[8][b, n]
            for z in range(zones.shape[0] + docks.shape[0]):
                place = zones[z] if z < zones.shape[0] else docks[z - zones.shape[0]]
                ahead, left = _turned(place[0] - rx[b, n], place[1] - ry[b, n], c, s)
                rows[z, 0], rows[z, 1] = ahead, left
                rows[z, 2] = 1.0 if z >= zones.shape[0] else 0.0


@kernel
def _own_and_task(b, n, c, s, robots, carrying, orders, spots, zones, own, task):
    rx, ry, ra, rvx, rvy, rw = robots
    state, spot, zone = orders[0], orders[1], orders[2]
    mine = own[b, n]
    mine[0], mine[1], mine[2], mine[3] = rx[b, n], ry[b, n], c, s
    mine[4], mine[5] = _turned(rvx[b, n], rvy[b, n], c, s)
    mine[6], mine[7] = rw[b, n], 1.0 if carrying[b, n] >= 0 else 0.0
    target = task[b, n]
    target[:] = 0.0
    k = carrying[b, n]
    if k >= 0:
        tx, ty, kind = zones[zone[b, k], 0], zones[zone[b, k], 1], 4
    else:
        best, kind = np.inf, -1
        for o in range(state.shape[1]):
            if state[b, o] == WAITING:
                d = math.hypot(spots[spot[b, o], 0] - rx[b, n], spots[spot[b, o], 1] - ry[b, n])
                if d < best:
                    best, tx, ty, kind = d, spots[spot[b, o], 0], spots[spot[b, o], 1], 3
        if kind < 0:
            return
    target[0], target[1] = _turned(tx - rx[b, n], ty - ry[b, n], c, s)
    target[2] = math.hypot(tx - rx[b, n], ty - ry[b, n])
    target[kind] = 1.0


@kernel
def _order_rows(b, n, c, s, rx, ry, orders, spots, zones, steps, minutes, distance, chosen, out):
    """The nearest waiting orders: pick spot and drop zone in the robot's frame, age."""
    state, spot, zone, request = orders[0], orders[1], orders[2], orders[4]
    rows, valid = out[2][b, n], out[3][b, n]
    count = state.shape[1]
    for k in range(count):
        here = spots[spot[b, k]]
        waiting = state[b, k] == WAITING
        distance[k] = math.hypot(here[0] - rx[b, n], here[1] - ry[b, n]) if waiting else np.inf
    found = _nearest(distance, count, rows.shape[0], chosen)
    rows[:, :] = 0.0
    valid[:] = 0.0
    for i in range(found):
        k = chosen[i]
        here, there = spots[spot[b, k]], zones[zone[b, k]]
        rows[i, 0], rows[i, 1] = _turned(here[0] - rx[b, n], here[1] - ry[b, n], c, s)
        rows[i, 2], rows[i, 3] = _turned(there[0] - rx[b, n], there[1] - ry[b, n], c, s)
        rows[i, 4] = (steps[b] - request[b, k]) * minutes
        valid[i] = 1.0


@kernel
def _pallet_rows(b, n, c, s, rx, ry, pallets, pallet_book, docks, pushers, distance, chosen,
                 out):  # fmt: skip
    """The nearest pallets: place and heading in the robot's frame, and for those in play the
    vector from the pallet to its dock, how many robots touch it, and the flag ``in_play`` (a
    delivered pallet waiting in its dock for a free slot has zeros there)."""
    px, py, pa = pallets
    state, dock = pallet_book[0], pallet_book[1]
    rows, valid = out[4][b, n], out[5][b, n]
    count = px.shape[1]
    for p in range(count):
        distance[p] = math.hypot(px[b, p] - rx[b, n], py[b, p] - ry[b, n])
    found = _nearest(distance, count, rows.shape[0], chosen)
    rows[:, :] = 0.0
    valid[:] = 0.0
    for i in range(found):
        p = chosen[i]
        rows[i, 0], rows[i, 1] = _turned(px[b, p] - rx[b, n], py[b, p] - ry[b, n], c, s)
        rows[i, 2], rows[i, 3] = _turned(math.cos(pa[b, p]), math.sin(pa[b, p]), c, s)
        valid[i] = 1.0
        if state[b, p] != ACTIVE:
            continue
        target = docks[dock[b, p]]
        rows[i, 4], rows[i, 5] = _turned(target[0] - px[b, p], target[1] - py[b, p], c, s)
        rows[i, 6], rows[i, 7] = pushers[b, p], 1.0


@kernel
def _robot_rows(b, n, c, s, robots, carrying, distance, chosen, out):
    """The nearest other robots: place and velocity in the robot's frame, loaded or not."""
    rx, ry, rvx, rvy = robots[0], robots[1], robots[3], robots[4]
    rows, valid = out[6][b, n], out[7][b, n]
    count = rx.shape[1]
    for m in range(count):
        distance[m] = np.inf if m == n else math.hypot(rx[b, m] - rx[b, n], ry[b, m] - ry[b, n])
    found = _nearest(distance, count, rows.shape[0], chosen)
    rows[:, :] = 0.0
    valid[:] = 0.0
    for i in range(found):
        m = chosen[i]
        rows[i, 0], rows[i, 1] = _turned(rx[b, m] - rx[b, n], ry[b, m] - ry[b, n], c, s)
        rows[i, 2], rows[i, 3] = _turned(rvx[b, m], rvy[b, m], c, s)
        rows[i, 4] = 1.0 if carrying[b, m] >= 0 else 0.0
        valid[i] = 1.0
