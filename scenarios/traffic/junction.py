"""Compiled kernels of an unsignalized junction: cars on routes (an approach lane, the
junction's lanes, an exit lane), their leaders along the route, IDM, the right of way, and cars
entering at the approaches.

**Routes.** A car drives one route at a time; ``pos`` is its arc length along the whole route
(the route's polyline is its lanes joined: three at a crossing, an approach, a connector and an
exit; five to nine at a roundabout, with an entry, arcs of the ring and an exit),
``offsets[r]`` where each of route ``r``'s lanes starts. A car's leader is the nearest car ahead
on any lane of its route still in front of it (a car on the same approach bound elsewhere, one
on the same connector or arc of the ring, one already on the exit lane), whatever route that car
drives; a car counts on the lane before its own while its rear is within ``OVERLAP`` of it, and
on the next while its front is that close to it.

**Right of way** (for IDM drivers; learned drivers see it and may ignore it). The first car of
each approach asks for the junction once it is within ``max(zone_min, zone_time * v)`` of the
stop line. At a crossing requests are served in order of arrival (ties by car index): a request
is granted when its connector conflicts neither with a connector *held* (by a granted car that
has not yet cleared the junction, or by any car on a connector) nor with the connector of an
earlier request still waiting, so no car waits forever. At a roundabout an entering car yields
to the cars coming round (``_grant``). A car without the right of way treats the stop line as a
standing leader. It releases the junction once its rear is 1 m into the exit lane.
"""

from __future__ import annotations

import numpy as np

from scenarios.traffic.idm import LANE_END, NO_LEADER, idm
from worlds.kernels import kernel

OVERLAP = 2.0
"""Metres: see ``_occupancy``."""


@kernel
def route_drive(pos, route, present, speed, length, v0, offsets, route_lanes, index_of, last,
                conflict, merge, limit, held, request, now, zone, yield_gap, params, accel, gap,
                lead_speed, leader, desired, to_line):  # fmt: skip
    """Leaders, right of way and IDM for all cars ``(B, N)`` (``held``, ``request`` updated in
    place: see the module docstring; ``zone`` = (zone_min, zone_time); ``yield_gap`` =
    (metres, seconds) at a roundabout; ``index_of[r, lane]``: where ``lane`` comes in route
    ``r``, -1 if not). ``desired`` is each car's desired speed: its own
    ``v0`` capped by its lane's limit and by the speed from which braking at ``b`` reaches
    the next lane's limit at its start; ``to_line`` the distance from the front bumper to the
    stop line (negative past it)."""
    worlds, n = pos.shape
    stage = np.zeros(n, np.int64)
    holds = np.zeros(n, np.bool_)
    occ_lane = np.empty((n, 3), np.int64)  # the lanes each car counts on, and where
    occ_s = np.empty((n, 3))
    b_comfort = params[3]
    for b in range(worlds):
        for i in range(n):
            r = route[b, i]
            k = 0
            while k < last[r] and pos[b, i] >= offsets[r, k + 1]:
                k += 1
            stage[i] = k
            to_line[b, i] = offsets[r, 1] - pos[b, i] - 0.5 * length[i]
            tail_in = pos[b, i] - 0.5 * length[i] - offsets[r, last[r]]
            if not present[b, i] or (stage[i] == last[r] and tail_in > 1.0):
                held[b, i] = False
                request[b, i] = -1.0
            holds[i] = present[b, i] and (held[b, i] or 0 < stage[i] < last[r] or
                                          (stage[i] == last[r] and tail_in <= 1.0))  # fmt: skip
        _grant(b, pos, route, present, speed, length, stage, holds, route_lanes, index_of,
               offsets, last, conflict, merge, held, request, now, zone, yield_gap,
               b_comfort)  # fmt: skip
        _occupancy(b, pos, route, stage, route_lanes, offsets, last, length, occ_lane, occ_s)
        for i in range(n):
            r = route[b, i]
            lane_i = route_lanes[r, stage[i]]
            best, best_gap, best_speed = NO_LEADER, np.inf, 0.0
            if present[b, i]:
                for j in range(n):
                    if j == i or not present[b, j]:
                        continue
                    for c in range(3):  # the nearest of j's places ahead on i's route
                        k = index_of[r, occ_lane[j, c]] if occ_lane[j, c] >= 0 else -1
                        if k < stage[i]:
                            continue
                        along = offsets[r, k] + occ_s[j, c] - pos[b, i]
                        g = along - 0.5 * (length[i] + length[j])
                        if along > 0.0 and g < best_gap:
                            best, best_gap, best_speed = j, g, speed[b, j]
                if stage[i] == 0 and not held[b, i] and to_line[b, i] < best_gap:
                    best, best_gap, best_speed = LANE_END, to_line[b, i], 0.0
            leader[b, i], gap[b, i], lead_speed[b, i] = best, best_gap, best_speed
            v_want = min(v0[b, i], limit[lane_i])
            if stage[i] < last[r]:
                ahead = offsets[r, stage[i] + 1] - pos[b, i]
                nxt = limit[route_lanes[r, stage[i] + 1]]
                v_want = min(v_want, np.sqrt(nxt * nxt + 2.0 * b_comfort * max(ahead, 0.0)))
            desired[b, i] = max(v_want, 0.1)
            accel[b, i] = idm(speed[b, i], best_speed, min(best_gap, 1e6), desired[b, i], params)


@kernel
def _occupancy(b, pos, route, stage, route_lanes, offsets, last, length, occ_lane, occ_s):
    """The lanes each car of world ``b`` counts on for the cars behind it, and its centre's
    arc length on each (``occ_lane`` -1: none): its own lane; while its rear is within
    ``OVERLAP`` m of the lane before, that lane too (a car turning off is still in the way of
    those behind); and once its front is within ``OVERLAP`` m of the next lane, that one (a car
    joining a roundabout is in the way of those coming round)."""
    for j in range(pos.shape[1]):
        rj, k = route[b, j], stage[j]
        occ_lane[j, 0], occ_s[j, 0] = route_lanes[rj, k], pos[b, j] - offsets[rj, k]
        occ_lane[j, 1] = occ_lane[j, 2] = -1
        if k > 0 and pos[b, j] - 0.5 * length[j] < offsets[rj, k] + OVERLAP:
            occ_lane[j, 1], occ_s[j, 1] = route_lanes[rj, k - 1], pos[b, j] - offsets[rj, k - 1]
        if k < last[rj] and pos[b, j] + 0.5 * length[j] + OVERLAP >= offsets[rj, k + 1]:
            occ_lane[j, 2], occ_s[j, 2] = route_lanes[rj, k + 1], pos[b, j] - offsets[rj, k + 1]


@kernel
def _grant(b, pos, route, present, speed, length, stage, holds, route_lanes, index_of, offsets,
           last, conflict, merge, held, request, now, zone, yield_gap, b_comfort):  # fmt: skip
    """Right of way in world ``b``. At a crossing, first come, first served: requests are
    granted in order of arrival. At a roundabout (``merge`` >= 0) the front car of an
    approach may go while no car coming round the ring reaches ``yield_gap[0]`` m before the
    point where its entry joins the ring sooner than the entering car's rear has passed that
    point plus ``yield_gap[1]`` s; judged again each step until the car is too close to the
    yield line to stop comfortably."""
    n = pos.shape[1]
    first = np.full(route_lanes.max() + 1, -1, np.int64)  # the front car of each approach
    for i in range(n):
        if present[b, i] and stage[i] == 0:
            lane = route_lanes[route[b, i], 0]
            if first[lane] < 0 or pos[b, i] > pos[b, first[lane]]:
                first[lane] = i
    asking = np.zeros(n, np.bool_)
    for lane in range(first.size):
        i = first[lane]
        if i < 0 or held[b, i]:
            continue
        r = route[b, i]
        near = offsets[r, 1] - pos[b, i] - 0.5 <= max(zone[0], zone[1] * speed[b, i])
        if near:
            asking[i] = True
            if request[b, i] < 0.0:
                request[b, i] = now
    if merge[0] >= 0:
        _yield_to_ring(b, pos, route, present, speed, length, stage, first, asking, index_of,
                       offsets, last, merge, held, yield_gap, b_comfort)  # fmt: skip
        return
    waiting = np.zeros(n, np.bool_)
    for _ in range(n):
        pick, when = -1, np.inf
        for i in range(n):
            if asking[i] and request[b, i] < when:
                pick, when = i, request[b, i]
        if pick < 0:
            break
        asking[pick] = False
        r = route[b, pick]
        free = True
        for j in range(n):
            if (holds[j] or waiting[j]) and conflict[r, route[b, j]]:
                free = False
                break
        if free:
            held[b, pick] = holds[pick] = True
        else:
            waiting[pick] = True


@kernel
def _yield_to_ring(b, pos, route, present, speed, length, stage, first, asking, index_of,
                   offsets, last, merge, held, yield_gap, b_comfort):  # fmt: skip
    """``_grant`` at a roundabout: the front car of each approach (``first``) may go while no
    car coming round reaches ``yield_gap[0]`` m before its joining point sooner than its rear
    has passed that point, plus ``yield_gap[1]`` s; judged again each step (``held``) until the
    car is too close to the yield line to stop comfortably."""
    n = pos.shape[1]
    for lane in range(first.size):
        i = first[lane]
        if i < 0 or not (asking[i] or held[b, i]):
            continue
        r = route[b, i]
        v = speed[b, i]
        if held[b, i] and offsets[r, 1] - pos[b, i] - 0.5 * length[i] < (
            v * v / (2.0 * b_comfort) + 1.0
        ):
            continue  # too close to the yield line to stop comfortably: it goes
        # The car needs ``clear`` seconds (at its speed, 3 m/s at least) until its rear has
        # passed the joining point.
        clear = (offsets[r, 2] - pos[b, i] + 0.5 * length[i]) / max(v, 3.0)
        join = merge[r]
        free = True
        for j in range(n):
            if j == i or not present[b, j] or stage[j] == 0:
                continue
            rj = route[b, j]
            k = index_of[rj, join]
            if k > stage[j]:  # it comes round past the joining point
                d = offsets[rj, k] - pos[b, j] - 0.5 * length[j] - yield_gap[0]
                if d < speed[b, j] * (clear + yield_gap[1]):
                    free = False
                    break
        held[b, i] = free


@kernel
def enter_cars(env_ids, vacant, steps, entered, reentry, trips, plan, pos, route, present, length,
               offsets, entry_of, need, born, new_route, room_at):  # fmt: skip
    """Which vacant slots ``(E, N)`` of worlds ``env_ids`` take a car now: a slot waits
    ``reentry`` steps after its last car entered, then takes its next planned route
    (``plan[b, i, trips % lives]``) when that route's approach (``entry_of[route]``) has room:
    the rear of the last car on it at least ``need`` from the start (lower slots first, one car
    per approach and step). Fills ``born``, ``new_route`` and the room found ``room_at``."""
    worlds, n = vacant.shape
    lives = plan.shape[2]
    room = np.empty(entry_of.max() + 1)
    taken = np.zeros(room.size, np.bool_)
    for e in range(worlds):
        b = env_ids[e]
        ready = False
        for i in range(n):
            born[e, i] = False
            if vacant[e, i] and steps[e] - entered[b, i] >= reentry:
                ready = True
        if not ready:
            continue
        room[:] = np.inf
        taken[:] = False
        for j in range(n):
            r = route[b, j]
            if present[b, j] and not vacant[e, j] and pos[b, j] < offsets[r, 1]:
                a = entry_of[r]
                room[a] = min(room[a], pos[b, j] - 0.5 * length[j])
        for i in range(n):
            if not vacant[e, i] or steps[e] - entered[b, i] < reentry:
                continue
            r = plan[b, i, trips[b, i] % lives]
            a = entry_of[r]
            if not taken[a] and room[a] >= need:
                born[e, i], new_route[e, i], room_at[e, i] = True, r, room[a]
                taken[a] = True


@kernel
def book_step(steps, x, y, speed, present, desired, new_contact, n_learned, crossed, finished,
              dt, gridlock_seconds, anchor_x, anchor_y, sums, last_move):  # fmt: skip
    """One step into each world's running sums ``sums`` ``(B, 11)``: speed, speed squared,
    car-steps, km, delay (s, against the desired speed), collisions, learned cars' collisions,
    crossings, gridlocks, finished routes, steps; a car that moved 0.5 m from its anchor
    moves the anchor and the world's ``last_move``; no move for ``gridlock_seconds`` while cars
    are present is a gridlock. Worlds at step 0 (just reset) book nothing but the anchors."""
    worlds, n = x.shape
    for b in range(worlds):
        live = steps[b] > 0
        moved_any, any_present = False, False
        row = sums[b]
        for i in range(n):
            if np.hypot(x[b, i] - anchor_x[b, i], y[b, i] - anchor_y[b, i]) > 0.5:
                anchor_x[b, i], anchor_y[b, i] = x[b, i], y[b, i]
                moved_any |= present[b, i]
            if not present[b, i]:
                continue
            any_present = True
            if live:
                v = float(speed[b, i])
                row[0] += v
                row[1] += v * v
                row[2] += 1.0
                row[3] += v * dt / 1000.0
                row[4] += max(1.0 - v / max(desired[b, i], 0.1), 0.0) * dt
                row[5] += new_contact[b, i]
                row[6] += new_contact[b, i] and i < n_learned
                row[9] += finished[b, i]
        if moved_any:
            last_move[b] = steps[b]
        if (steps[b] - last_move[b]) * dt >= gridlock_seconds:
            last_move[b] = steps[b]
            if live and any_present:
                row[8] += 1.0
        if live:
            row[7] += crossed[b]
            row[10] += 1.0
