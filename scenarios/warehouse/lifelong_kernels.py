"""Compiled stages of ``warehouse/lifelong-v0``'s step (``worlds.kernels`` conventions: numba,
cached, outputs into the caller's arrays): discrete moves on the grid, errands that progress and
are replaced from each world's own stream, the greedy scheduler, the scheduler agents' choices
and options, and the observation's raster and target blocks.

Every kernel loops over ``worlds``, an array of world indices (all of them in a step; only the
worlds that just restarted when the vector env senses them again), world by world and robot by
robot in index order, so a world's result never depends on the batch around it.

Grid conventions are ``scenarios.warehouse.maps``'s (cell ``(row, col)``, row 0 at the top;
headings 0 east, 1 north, 2 west, 3 south). Endpoints are numbered: ``endpoints[k]`` is the cell of
endpoint ``k`` and ``dist[k, row * W + col]`` the number of moves from cell ``(row, col)`` to it
(``unreachable`` where there is no path). The books are tuples of arrays:

* ``robot_book = (errand, phase, start_odometer, shortest)``, each ``(B, N)``: the errand slot a
  robot holds (-1: idle), its phase (0 to pick, 1 to drop), its odometer when it took the errand
  and the shortest way (moves) from where it took it, over the pick, to the drop;
* ``errand_book = (pick, drop, assignee, requested, serial)``, each ``(B, E)``: the endpoints of
  each open errand, the robot that holds it (-1: waiting), the step it was requested at, and its
  number in the world's stream.
"""

from __future__ import annotations

import math

import numpy as np

from scenarios.warehouse.kernels import _D_COL, _D_ROW, FORWARD, LEFT, RIGHT, _center
from worlds.kernels import kernel
from worlds.kernels.counter import mix64 as _mix

CHANNELS = ("blocked", "robot", "busy_robot", "station", "open_errand", "target")


@kernel
def apply_moves(worlds, actions, x, y, target, heading, floor, cell, command):
    """One discrete action per robot (NOOP, FORWARD, LEFT, RIGHT): FORWARD moves the grid target
    one cell ahead when the robot is within half a cell of its target's centre and the cell ahead
    is floor (occupied or not: the motion layer decides), a turn turns the target heading a
    quarter. Writes the pose command ``(x, y, angle)``."""
    height, width = floor.shape
    for b in worlds:
        for n in range(actions.shape[1]):
            row, col, facing = target[b, n, 0], target[b, n, 1], heading[b, n]
            action = actions[b, n]
            if action == FORWARD:
                cx, cy = _center(row, col, height, width, cell)
                if math.hypot(x[b, n] - cx, y[b, n] - cy) < 0.5 * cell:
                    r, c = row + _D_ROW[facing], col + _D_COL[facing]
                    if 0 <= r < height and 0 <= c < width and floor[r, c]:
                        row, col = r, c
            elif action == LEFT:
                facing = (facing + 1) % 4
            elif action == RIGHT:
                facing = (facing + 3) % 4
            target[b, n, 0], target[b, n, 1], heading[b, n] = row, col, facing
            cx, cy = _center(row, col, height, width, cell)
            command[b, n, 0] = cx
            command[b, n, 1] = cy
            command[b, n, 2] = facing * (0.5 * math.pi)


@kernel
def _draw(b, keys, counters, count):
    counters[b] += np.uint64(1)
    return np.int64(_mix(keys[b] + counters[b]) % np.uint64(count))


@kernel
def new_errand(b, slot, errand_book, pick_set, drop_set, distinct, keys, counters, step):
    """Errand slot ``slot`` of world b gets the next errand of the world's stream: a pick endpoint
    from ``pick_set``, then a drop endpoint from ``drop_set`` (another than the pick when the two
    sets are one, ``distinct``); waiting, requested at ``step``."""
    pick, drop, assignee, requested, serial = errand_book
    p = _draw(b, keys, counters, pick_set.shape[0])
    if distinct:
        d = _draw(b, keys, counters, drop_set.shape[0] - 1)
        d += d >= p
    else:
        d = _draw(b, keys, counters, drop_set.shape[0])
    pick[b, slot] = pick_set[p]
    drop[b, slot] = drop_set[d]
    assignee[b, slot] = -1
    requested[b, slot] = step
    serial[b, slot] = np.int64(counters[b] >> np.uint64(1))


@kernel
def fill_errands(worlds, errand_book, pick_set, drop_set, distinct, keys, counters):
    """Every errand slot of ``worlds`` from their streams, in slot order (a new episode)."""
    for b in worlds:
        for slot in range(errand_book[0].shape[1]):
            new_errand(b, slot, errand_book, pick_set, drop_set, distinct, keys, counters, 0)


@kernel
def _assign(b, n, e, robot_book, errand_book, endpoints, dist, width, cell_of_robot, odometer):
    errand, phase, start_odometer, shortest = robot_book
    pick, drop = errand_book[0], errand_book[1]
    errand[b, n] = e
    phase[b, n] = 0
    errand_book[2][b, e] = n
    start_odometer[b, n] = odometer[b, n]
    pick_cell = endpoints[pick[b, e], 0] * width + endpoints[pick[b, e], 1]
    shortest[b, n] = np.int64(dist[pick[b, e], cell_of_robot]) + dist[drop[b, e], pick_cell]


@kernel
def advance(worlds, x, y, vx, vy, rows, cols, books, ends, stream, settle, slow, cell, steps, out):
    """Errands that progress in this step: a robot settled (within ``settle`` metres of the
    centre, slower than ``slow`` m/s) in its errand's pick cell has picked (phase 1), one settled
    in its drop cell has completed it: it is idle again and the errand's slot gets the next
    errand of the world's stream. ``books = (robot_book, errand_book)``, ``ends = (endpoints,
    pick_set, drop_set, distinct, dist, floor)``, ``stream = (keys, counters)``, ``out =
    (picked, completed, odometer, totals)``; ``totals[b]`` adds (completions, summed latency in
    steps, summed ratio of the distance driven to the shortest way in metres)."""
    robot_book, errand_book = books
    errand, phase, start_odometer, shortest = robot_book
    endpoints, pick_set, drop_set, distinct, dist, floor = ends
    picked, completed, odometer, totals = out
    height, width = floor.shape
    for b in worlds:
        for n in range(x.shape[1]):
            picked[b, n] = 0.0
            completed[b, n] = 0.0
            e = errand[b, n]
            if e < 0:
                continue
            k = errand_book[0][b, e] if phase[b, n] == 0 else errand_book[1][b, e]
            row, col = endpoints[k, 0], endpoints[k, 1]
            if rows[b, n] != row or cols[b, n] != col or math.hypot(vx[b, n], vy[b, n]) >= slow:
                continue
            cx, cy = _center(row, col, height, width, cell)
            if math.hypot(x[b, n] - cx, y[b, n] - cy) >= settle:
                continue
            if phase[b, n] == 0:
                phase[b, n] = 1
                picked[b, n] = 1.0
                continue
            completed[b, n] = 1.0
            totals[b, 0] += 1.0
            totals[b, 1] += steps[b] - errand_book[3][b, e]
            best = shortest[b, n] * cell
            travelled = odometer[b, n] - start_odometer[b, n]
            totals[b, 2] += travelled / best if best > 0 else 1.0
            errand[b, n] = -1
            phase[b, n] = 0
            keys, counters = stream
            new_errand(b, e, errand_book, pick_set, drop_set, distinct, keys, counters, steps[b])


@kernel
def assign_greedy(worlds, rows, cols, books, ends, unreachable, odometer):
    """The built-in scheduler: in each world, idle robots take waiting errands, nearest pair
    first (moves from the robot's cell to the errand's pick; ties by robot, then errand)."""
    robot_book, errand_book = books
    errand, pick, assignee = robot_book[0], errand_book[0], errand_book[2]
    endpoints, dist, width = ends[0], ends[4], ends[5].shape[1]
    for b in worlds:
        idle = np.flatnonzero(errand[b] < 0)
        free = np.flatnonzero(assignee[b] < 0)
        if idle.size == 0 or free.size == 0:
            continue
        cost = np.empty(idle.size * free.size, np.int64)
        for i in range(idle.size):
            at = rows[b, idle[i]] * width + cols[b, idle[i]]
            for j in range(free.size):
                cost[i * free.size + j] = dist[pick[b, free[j]], at]
        taken_robot = np.zeros(idle.size, np.bool_)
        taken_errand = np.zeros(free.size, np.bool_)
        left = min(idle.size, free.size)
        for flat in np.argsort(cost, kind="mergesort"):
            if left == 0 or cost[flat] >= unreachable:
                break
            i, j = flat // free.size, flat % free.size
            if taken_robot[i] or taken_errand[j]:
                continue
            taken_robot[i] = taken_errand[j] = True
            left -= 1
            n = idle[i]
            at = rows[b, n] * width + cols[b, n]
            _assign(b, n, free[j], robot_book, errand_book, endpoints, dist, width, at, odometer)


@kernel
def choose(worlds, actions, options, rows, cols, books, ends, odometer):
    """The scheduler agents' choices: action ``a > 0`` of an idle robot takes the errand of its
    option ``a - 1`` (the options it observed, ``(B, N, k)`` errand slots, -1: none); when two
    robots choose one errand, the nearer keeps it (ties: the lower index). Action 0, a busy robot's
    action and an empty option do nothing."""
    robot_book, errand_book = books
    errand, pick, assignee = robot_book[0], errand_book[0], errand_book[2]
    endpoints, dist, width = ends[0], ends[4], ends[5].shape[1]
    for b in worlds:
        for n in range(actions.shape[1]):
            a = actions[b, n]
            if a <= 0 or errand[b, n] >= 0:
                continue
            e = options[b, n, a - 1]
            if e < 0:
                continue
            at = rows[b, n] * width + cols[b, n]
            holder = assignee[b, e]
            if holder >= 0:  # chosen by a robot before this one, in this step
                there = rows[b, holder] * width + cols[b, holder]
                if dist[pick[b, e], at] >= dist[pick[b, e], there]:
                    continue
                errand[b, holder] = -1
            _assign(b, n, e, robot_book, errand_book, endpoints, dist, width, at, odometer)


@kernel
def nearest_options(worlds, rows, cols, books, ends, unreachable, best, options):
    """Each idle robot's ``k`` nearest waiting errands ``options`` ``(B, N, k)`` (moves to the
    pick, ties by slot; -1 pads), none for a busy robot. ``best`` is a scratch ``(k,)`` int64."""
    robot_book, errand_book = books
    errand, pick, assignee = robot_book[0], errand_book[0], errand_book[2]
    dist, width = ends[4], ends[5].shape[1]
    k = options.shape[2]
    for b in worlds:
        for n in range(rows.shape[1]):
            options[b, n, :] = -1
            if errand[b, n] >= 0:
                continue
            at = rows[b, n] * width + cols[b, n]
            count = 0
            for e in range(pick.shape[1]):
                d = np.int64(dist[pick[b, e], at])
                if assignee[b, e] >= 0 or d >= unreachable:
                    continue
                pos = min(count, k)
                while pos > 0 and best[pos - 1] > d:
                    pos -= 1
                if pos >= k:
                    continue
                for m in range(min(count, k - 1), pos, -1):
                    best[m], options[b, n, m] = best[m - 1], options[b, n, m - 1]
                best[pos], options[b, n, pos] = d, e
                count += 1


@kernel
def _goal(b, n, robot_book, errand_book):
    """Robot n's current endpoint (its errand's pick or drop), -1 when idle."""
    e = robot_book[0][b, n]
    if e < 0:
        return -1
    return errand_book[0][b, e] if robot_book[1][b, n] == 0 else errand_book[1][b, e]


@kernel
def aim(worlds, rows, cols, books, ends, key, distance, progress):
    """Each robot's moves to its current endpoint ``distance`` (0 when idle) and the moves it
    gained toward it in this step, ``progress`` (0 when its endpoint changed); ``key`` remembers
    which endpoint (errand number and phase; -1 idle)."""
    robot_book, errand_book = books
    dist, width = ends[4], ends[5].shape[1]
    serial = errand_book[4]
    for b in worlds:
        for n in range(rows.shape[1]):
            k = _goal(b, n, robot_book, errand_book)
            now, new_key = 0, -1
            if k >= 0:
                now = np.int64(dist[k, rows[b, n] * width + cols[b, n]])
                new_key = 2 * serial[b, robot_book[0][b, n]] + robot_book[1][b, n]
            same = new_key >= 0 and new_key == key[b, n]
            progress[b, n] = distance[b, n] - now if same else 0.0
            key[b, n], distance[b, n] = new_key, now


@kernel
def ego_raster(worlds, rows, cols, facing, books, ends, stations, radius, scratch, marks, out):
    """Each robot's egocentric window of ``(2 radius + 1)^2`` cells turned to its heading (first
    row farthest ahead, first column farthest left), ``len(CHANNELS)`` values per cell: not floor,
    another robot, another robot with an errand, a station, a waiting errand's pick, the robot's
    own current endpoint. ``scratch`` ``(H, W)`` int32 all -1 and ``marks`` ``(H, W)`` int32 all 0
    between calls."""
    robot_book, errand_book = books
    endpoints, floor = ends[0], ends[5]
    height, width = floor.shape
    side = 2 * radius + 1
    for b in worlds:
        for n in range(rows.shape[1]):
            scratch[rows[b, n], cols[b, n]] = n
        for e in range(errand_book[0].shape[1]):
            if errand_book[2][b, e] < 0:
                k = errand_book[0][b, e]
                marks[endpoints[k, 0], endpoints[k, 1]] += 1
        for n in range(rows.shape[1]):
            own = _goal(b, n, robot_book, errand_book)
            h = facing[b, n]
            for i in range(side):
                for j in range(side):
                    a, right = radius - i, j - radius
                    r = rows[b, n] + a * _D_ROW[h] + right * _D_ROW[(h + 3) % 4]
                    c = cols[b, n] + a * _D_COL[h] + right * _D_COL[(h + 3) % 4]
                    cell = out[b, n, i * side + j]
                    cell[:] = 0.0
                    if not (0 <= r < height and 0 <= c < width) or not floor[r, c]:
                        cell[0] = 1.0
                        continue
                    other = scratch[r, c]
                    if other >= 0 and other != n:
                        cell[1] = 1.0
                        cell[2] = robot_book[0][b, other] >= 0
                    cell[3] = stations[r, c]
                    cell[4] = marks[r, c] > 0
                    cell[5] = own >= 0 and endpoints[own, 0] == r and endpoints[own, 1] == c
        for n in range(rows.shape[1]):
            scratch[rows[b, n], cols[b, n]] = -1
        for e in range(errand_book[0].shape[1]):
            k = errand_book[0][b, e]
            marks[endpoints[k, 0], endpoints[k, 1]] = 0


@kernel
def _way(b, n, row, col, facing, k, dist, floor):
    """The heading of a first move along a shortest way to endpoint k (the robot's own heading
    first, then left, right, back), -1 at the endpoint."""
    height, width = floor.shape
    here = dist[k, row * width + col]
    for turn in (0, 1, 3, 2):
        h = (facing + turn) % 4
        r, c = row + _D_ROW[h], col + _D_COL[h]
        if 0 <= r < height and 0 <= c < width and floor[r, c]:
            if dist[k, r * width + c] < here:
                return h
    return -1


@kernel
def targets(worlds, rows, cols, facing, angle, books, ends, cell, out):
    """The way to each robot's current endpoint, ``out[b, n]`` = (ahead, left, distance,
    way_ahead, way_left, to_pick, to_drop): the endpoint's offset in metres in the robot's frame,
    the length of a shortest way there (metres), the unit step that starts one (robot frame), and
    the phase; all 0 for an idle robot."""
    robot_book, errand_book = books
    endpoints, dist, floor = ends[0], ends[4], ends[5]
    width = floor.shape[1]
    for b in worlds:
        for n in range(rows.shape[1]):
            target = out[b, n]
            target[:] = 0.0
            k = _goal(b, n, robot_book, errand_book)
            if k < 0:
                continue
            row, col = rows[b, n], cols[b, n]
            c, s = math.cos(angle[b, n]), math.sin(angle[b, n])
            east, north = (endpoints[k, 1] - col) * cell, (row - endpoints[k, 0]) * cell
            target[0] = east * c + north * s
            target[1] = -east * s + north * c
            target[2] = dist[k, row * width + col] * cell
            h = _way(b, n, row, col, facing[b, n], k, dist, floor)
            if h >= 0:
                east, north = _D_COL[h], -_D_ROW[h]
                target[3] = east * c + north * s
                target[4] = -east * s + north * c
            target[5 + robot_book[1][b, n]] = 1.0


@kernel
def option_rows(worlds, rows, cols, angle, options, books, ends, cell, dt, steps, out, valid):
    """The scheduler agents' options as observation rows ``out`` ``(B, N, k, 5)`` = (ahead, left
    of the pick in the robot's frame, metres to the pick, metres from pick to drop, seconds
    waited) and their ``valid`` flags; padding rows 0."""
    errand_book = books[1]
    pick, drop, requested = errand_book[0], errand_book[1], errand_book[3]
    endpoints, dist, width = ends[0], ends[4], ends[5].shape[1]
    for b in worlds:
        for n in range(rows.shape[1]):
            c, s = math.cos(angle[b, n]), math.sin(angle[b, n])
            row, col = rows[b, n], cols[b, n]
            for m in range(options.shape[2]):
                e = options[b, n, m]
                line = out[b, n, m]
                line[:] = 0.0
                valid[b, n, m] = e >= 0
                if e < 0:
                    continue
                p = pick[b, e]
                east, north = (endpoints[p, 1] - col) * cell, (row - endpoints[p, 0]) * cell
                line[0] = east * c + north * s
                line[1] = -east * s + north * c
                line[2] = dist[p, row * width + col] * cell
                line[3] = dist[drop[b, e], endpoints[p, 0] * width + endpoints[p, 1]] * cell
                line[4] = (steps[b] - requested[b, e]) * dt
