"""Compiled stages of the warehouse step (``worlds.kernels`` conventions: numba, cached, loops
world by world, outputs into the caller's arrays): the discrete actions with picking up and
putting down shelves, deliveries with new requests, the egocentric raster, the vector to each
robot's current target and the wait-for cycles of the deadlock figure.

Grid conventions are ``scenarios.warehouse.maps``'s: cell ``(row, col)``, row 0 at the top, centre
``x = (col - (W - 1) / 2) * cell``, ``y = ((H - 1) / 2 - row) * cell``; headings 0 east, 1 north,
2 west, 3 south.
"""

from __future__ import annotations

import math

import numpy as np

from worlds.kernels import kernel
from worlds.kernels.counter import mix64 as _mix

NOOP, FORWARD, LEFT, RIGHT, TOGGLE = 0, 1, 2, 3, 4
PICK, DROP = 0, 1
CHANNELS = ("shelf", "requested", "robot", "loaded_robot", "goal", "blocked")
_D_ROW = np.array([0, -1, 0, 1], np.int64)
_D_COL = np.array([1, 0, -1, 0], np.int64)


@kernel
def _center(row, col, height, width, cell):
    return (col - (width - 1) * 0.5) * cell, ((height - 1) * 0.5 - row) * cell


@kernel
def _ahead(b, n, row, col, facing, carried, slot_shelf, slot_index, floor):
    """The cell ahead if the robot may enter it (floor; not a standing shelf when loaded),
    else its own."""
    height, width = floor.shape
    r, c = row + _D_ROW[facing], col + _D_COL[facing]
    if 0 <= r < height and 0 <= c < width and floor[r, c]:
        s = slot_index[r, c]
        if carried[b, n] < 0 or s < 0 or slot_shelf[b, s] < 0:
            return r, c
    return row, col


@kernel
def _toggle(b, n, s, book, events, count, shaped):
    """Pick up the shelf of slot ``s`` or put the carried one there; record the event.
    ``book`` is ``(carried, slot_shelf, shelf_slot, requested, awaiting, paid)``: the pick-up
    shaping is paid once per request (``paid``), else lifting and putting back a requested shelf
    would pay for ever."""
    carried, slot_shelf, shelf_slot, requested, awaiting, paid = book
    shelf = carried[b, n]
    if shelf < 0 and slot_shelf[b, s] >= 0:
        shelf = slot_shelf[b, s]
        slot_shelf[b, s] = -1
        shelf_slot[b, shelf] = -1
        carried[b, n] = shelf
        kind = PICK
        if requested[b, shelf] and not paid[b, shelf]:
            paid[b, shelf] = True
            shaped[b, n, 0] = 1.0
    elif shelf >= 0 and slot_shelf[b, s] < 0:
        slot_shelf[b, s] = shelf
        shelf_slot[b, shelf] = s
        carried[b, n] = -1
        kind = DROP
        if awaiting[b, shelf]:
            awaiting[b, shelf] = False
            shaped[b, n, 1] = 1.0
    else:
        return count
    events[count, 0] = b
    events[count, 1] = n
    events[count, 2] = s
    events[count, 3] = kind
    return count + 1


@kernel
def apply_discrete(
    actions, x, y, target, heading, book, slot_index, floor, cell, settle, command, events, shaped
):
    """One discrete action per robot (NOOP, FORWARD, LEFT, RIGHT, TOGGLE): FORWARD moves the
    target one cell ahead when the robot is in its target cell and the cell ahead is floor it
    may enter (a loaded robot not onto a standing shelf); TOGGLE picks up or puts down a shelf
    when the robot has settled in a shelf cell. Writes the pose command ``(x, y, angle)`` and
    returns the number of pick/drop ``events`` rows ``(b, n, slot, kind)``; ``shaped[b, n]``
    gets 1 in column 0 for a requested shelf picked up, column 1 for a delivered one returned."""
    height, width = floor.shape
    carried, slot_shelf = book[0], book[1]
    count = 0
    shaped[:] = 0.0
    for b in range(actions.shape[0]):
        for n in range(actions.shape[1]):
            row, col, facing = target[b, n, 0], target[b, n, 1], heading[b, n]
            cx, cy = _center(row, col, height, width, cell)
            off = math.hypot(x[b, n] - cx, y[b, n] - cy)
            action = actions[b, n]
            if action == FORWARD and off < 0.5 * cell:
                row, col = _ahead(b, n, row, col, facing, carried, slot_shelf, slot_index, floor)
                target[b, n, 0], target[b, n, 1] = row, col
            elif action == LEFT:
                facing = (facing + 1) % 4
            elif action == RIGHT:
                facing = (facing + 3) % 4
            elif action == TOGGLE and off < settle and slot_index[row, col] >= 0:
                count = _toggle(b, n, slot_index[row, col], book, events, count, shaped)
            heading[b, n] = facing
            cx, cy = _center(row, col, height, width, cell)
            command[b, n, 0] = cx
            command[b, n, 1] = cy
            command[b, n, 2] = facing * (0.5 * math.pi)
    return count


@kernel
def apply_lift(lift, x, y, book, slot_index, cell, settle, events, shaped):
    """Continuous actions' third part: ``lift > 0.5`` picks up, ``< -0.5`` puts down, at the
    slot whose centre the robot is within ``settle`` of. Returns the number of events."""
    height, width = slot_index.shape
    carried = book[0]
    count = 0
    shaped[:] = 0.0
    for b in range(lift.shape[0]):
        for n in range(lift.shape[1]):
            want = lift[b, n]
            loaded = carried[b, n] >= 0
            if not ((want > 0.5 and not loaded) or (want < -0.5 and loaded)):
                continue
            col = round(x[b, n] / cell + (width - 1) * 0.5)
            row = round((height - 1) * 0.5 - y[b, n] / cell)
            if not (0 <= row < height and 0 <= col < width) or slot_index[row, col] < 0:
                continue
            cx, cy = _center(row, col, height, width, cell)
            if math.hypot(x[b, n] - cx, y[b, n] - cy) < settle:
                count = _toggle(b, n, slot_index[row, col], book, events, count, shaped)
    return count


@kernel
def deliver(
    x,
    y,
    carried,
    requested,
    awaiting,
    paid,
    request_step,
    goal_cells,
    cell,
    settle,
    steps,
    keys,
    counters,
    odometer,
    pickup_odometer,
    shortest,
    delivered,
    totals,
):
    """Deliveries of the step: a robot carrying a requested shelf, settled on a goal cell,
    delivers it (``delivered[b, n] = 1``); the shelf leaves the queue (it now awaits its return)
    and a shelf not in the queue, drawn from the world's own stream (``keys``, ``counters``), joins
    it. ``totals[b]`` adds (deliveries, summed latency in steps, summed path ratio)."""
    height, width = goal_cells.shape
    delivered[:] = 0.0
    for b in range(x.shape[0]):
        for n in range(x.shape[1]):
            shelf = carried[b, n]
            if shelf < 0 or not requested[b, shelf]:
                continue
            col = round(x[b, n] / cell + (width - 1) * 0.5)
            row = round((height - 1) * 0.5 - y[b, n] / cell)
            if not (0 <= row < height and 0 <= col < width) or not goal_cells[row, col]:
                continue
            cx, cy = _center(row, col, height, width, cell)
            if math.hypot(x[b, n] - cx, y[b, n] - cy) >= settle:
                continue
            delivered[b, n] = 1.0
            awaiting[b, shelf] = True
            totals[b, 0] += 1.0
            totals[b, 1] += steps[b] - request_step[b, shelf]
            best = shortest[b, n] * cell
            travelled = odometer[b, n] - pickup_odometer[b, n]
            totals[b, 2] += travelled / best if best > 0 else 1.0
            # The new request is drawn while the delivered shelf still counts as requested
            # (as RWARE does): a shelf is never asked for again the moment it arrives.
            _request_another(b, requested, paid, request_step, steps, keys, counters)
            requested[b, shelf] = False


@kernel
def _request_another(b, requested, paid, request_step, steps, keys, counters):
    """Request a shelf of world b that is not requested, drawn from the world's stream."""
    shelves = requested.shape[1]
    free = 0
    for m in range(shelves):
        free += not requested[b, m]
    if free == 0:
        return
    counters[b] += np.uint64(1)
    pick = _mix(keys[b] + counters[b]) % np.uint64(free)
    for m in range(shelves):
        if not requested[b, m]:
            if pick == 0:
                requested[b, m] = True
                paid[b, m] = False
                request_step[b, m] = steps[b]
                return
            pick -= np.uint64(1)


@kernel
def ego_raster(
    rows,
    cols,
    facing,
    carried,
    slot_shelf,
    slot_index,
    requested,
    goal_cells,
    floor,
    radius,
    scratch,
    out,
):
    """Each robot's egocentric window of ``(2 radius + 1)^2`` cells turned to its heading (the
    first row is farthest ahead, the first column farthest left), ``len(CHANNELS)`` values per
    cell: a standing shelf, a requested shelf (standing or carried), another robot, another
    loaded robot, a goal, a cell outside the floor. ``scratch`` ``(H, W)`` int32."""
    height, width = floor.shape
    side = 2 * radius + 1
    for b in range(rows.shape[0]):
        scratch[:, :] = -1
        for n in range(rows.shape[1]):
            scratch[rows[b, n], cols[b, n]] = n
        for n in range(rows.shape[1]):
            k = facing[b, n]
            ahead_r, ahead_c = _D_ROW[k], _D_COL[k]
            right_r, right_c = _D_ROW[(k + 3) % 4], _D_COL[(k + 3) % 4]
            for i in range(side):
                for j in range(side):
                    a, right = radius - i, j - radius
                    r = rows[b, n] + a * ahead_r + right * right_r
                    c = cols[b, n] + a * ahead_c + right * right_c
                    cell = out[b, n, i * side + j]
                    cell[:] = 0.0
                    if not (0 <= r < height and 0 <= c < width) or not floor[r, c]:
                        cell[5] = 1.0
                        continue
                    s = slot_index[r, c]
                    if s >= 0 and slot_shelf[b, s] >= 0:
                        cell[0] = 1.0
                        cell[1] = requested[b, slot_shelf[b, s]]
                    other = scratch[r, c]
                    if other >= 0 and other != n:
                        cell[2] = 1.0
                        if carried[b, other] >= 0:
                            cell[3] = 1.0
                            cell[1] = max(cell[1], requested[b, carried[b, other]])
                    cell[4] = goal_cells[r, c]


@kernel
def targets(rows, cols, angle, carried, requested, shelf_slot, slot_shelf, slots, goals, cell, out):
    """Each robot's current target and the way to it, ``out[b, n]`` = (ahead, left, distance,
    fetch, deliver, return): a loaded robot with a requested shelf heads for the nearest goal,
    one with another shelf for the nearest free shelf cell, an empty one for the nearest standing
    requested shelf; (ahead, left) in metres in the robot's frame, distance in metres along the
    grid (Manhattan), the last three flag which target it is (all 0: none)."""
    for b in range(rows.shape[0]):
        for n in range(rows.shape[1]):
            row, col = rows[b, n], cols[b, n]
            shelf = carried[b, n]
            best, best_r, best_c, kind = 1 << 30, 0, 0, -1
            if shelf >= 0 and requested[b, shelf]:
                kind = 1
                for g in range(goals.shape[0]):
                    d = abs(goals[g, 0] - row) + abs(goals[g, 1] - col)
                    if d < best:
                        best, best_r, best_c = d, goals[g, 0], goals[g, 1]
            elif shelf >= 0:
                kind = 2
                for s in range(slots.shape[0]):
                    if slot_shelf[b, s] < 0:
                        d = abs(slots[s, 0] - row) + abs(slots[s, 1] - col)
                        if d < best:
                            best, best_r, best_c = d, slots[s, 0], slots[s, 1]
            else:
                for m in range(requested.shape[1]):
                    s = shelf_slot[b, m]
                    if requested[b, m] and s >= 0:
                        d = abs(slots[s, 0] - row) + abs(slots[s, 1] - col)
                        if d < best:
                            best, best_r, best_c, kind = d, slots[s, 0], slots[s, 1], 0
            target = out[b, n]
            target[:] = 0.0
            if kind < 0 or best == 1 << 30:
                continue
            east, north = (best_c - col) * cell, (row - best_r) * cell
            c, s = math.cos(angle[b, n]), math.sin(angle[b, n])
            target[0] = east * c + north * s
            target[1] = -east * s + north * c
            target[2] = best * cell
            target[3 + kind] = 1.0


@kernel
def wait_cycles(rows, cols, target, scratch, out):
    """Robots in a cycle of the wait-for graph ``out`` ``(B, N)`` bool: robot a waits for b when
    a's target cell is not its own and b stands in it. ``scratch`` ``(H, W)`` int32."""
    robots = rows.shape[1]
    for b in range(rows.shape[0]):
        scratch[:, :] = -1
        for n in range(robots):
            scratch[rows[b, n], cols[b, n]] = n
        for n in range(robots):
            out[b, n] = False
            current = n
            for _ in range(robots):
                r, c = target[b, current, 0], target[b, current, 1]
                if r == rows[b, current] and c == cols[b, current]:
                    break
                following = scratch[r, c]
                if following < 0:
                    break
                current = following
                if current == n:
                    out[b, n] = True
                    break


@kernel
def track(x, y, last, odometer, still, carried, cell, moved, shape, rows, cols, idle):
    """Each robot's cell (``rows``, ``cols``, clipped to the map of ``shape``), its travel this
    step (into ``odometer``; ``last`` ``(B, N, 2)`` moves on), steps without moving ``moved``
    metres (``still``) and ``idle`` (empty and still)."""
    height, width = shape[0], shape[1]
    for b in range(x.shape[0]):
        for n in range(x.shape[1]):
            px, py = x[b, n], y[b, n]
            col = round(px / cell + (width - 1) * 0.5)
            row = round((height - 1) * 0.5 - py / cell)
            rows[b, n] = min(max(row, 0), height - 1)
            cols[b, n] = min(max(col, 0), width - 1)
            travel = math.hypot(px - last[b, n, 0], py - last[b, n, 1])
            odometer[b, n] += travel
            last[b, n, 0], last[b, n, 1] = px, py
            if travel > moved:
                still[b, n] = 0
            else:
                still[b, n] += 1
            idle[b, n] = travel <= moved and carried[b, n] < 0


@kernel
def step_figures(delivered, carried, still, stuck_steps, in_cycle, contacts, touching, figures):
    """Per world ``figures[b]`` = (deliveries, loaded robots still for ``stuck_steps`` or more,
    robots in wait-for cycles, new contacts); ``touching`` keeps who touches something now."""
    for b in range(delivered.shape[0]):
        total = stuck = cycles = new = 0.0
        for n in range(delivered.shape[1]):
            total += delivered[b, n]
            stuck += carried[b, n] >= 0 and still[b, n] >= stuck_steps
            cycles += in_cycle[b, n]
            now = contacts[b, n] > 0
            new += now and not touching[b, n]
            touching[b, n] = now
        figures[b, 0], figures[b, 1], figures[b, 2], figures[b, 3] = total, stuck, cycles, new


@kernel
def toggle_mask(x, y, target, carried, slot_shelf, slot_index, cell, settle, mask):
    """The discrete actions' mask: toggle only where it picks up or puts down a shelf (settled
    in a shelf cell: empty under a standing shelf, or loaded in a free one); the rest stay 1."""
    height, width = slot_index.shape
    for b in range(x.shape[0]):
        for n in range(x.shape[1]):
            row, col = target[b, n, 0], target[b, n, 1]
            cx, cy = _center(row, col, height, width, cell)
            s = slot_index[row, col]
            ok = s >= 0 and math.hypot(x[b, n] - cx, y[b, n] - cy) < settle
            if ok:
                ok = (carried[b, n] < 0) == (slot_shelf[b, s] >= 0)
            mask[b, n, TOGGLE] = ok


@kernel
def own_block(x, y, angle, vx, vy, angvel, carried, requested, own):
    """The ``own`` observation block: x, y, cos, sin, forward speed, turn rate, loaded,
    carrying a requested shelf."""
    for b in range(x.shape[0]):
        for n in range(x.shape[1]):
            c, s = math.cos(angle[b, n]), math.sin(angle[b, n])
            shelf = carried[b, n]
            row = own[b, n]
            row[0], row[1], row[2], row[3] = x[b, n], y[b, n], c, s
            row[4] = vx[b, n] * c + vy[b, n] * s
            row[5] = angvel[b, n]
            row[6] = shelf >= 0
            row[7] = shelf >= 0 and requested[b, shelf]
