"""Compiled stages of ``swarm/pursuit-v0``: one call senses the step (headings, who sees whom,
captures), one call per team writes its observation (own state, nearest teammates, nearest
visible opponents, lidar). They follow ``worlds.kernels``' conventions (float32 in the order of
the numpy they replaced, world by world, caller-owned outputs) and reuse its per-body helpers.

Bodies come as ``kinematics`` ``(B, N, 4)`` float32 rows ``x, y, vx, vy``; headings as complex64
``(B, N)`` unit vectors.
"""

from __future__ import annotations

import numpy as np

from worlds.kernels import kernel
from worlds.kernels.visibility import complex_abs, in_view, ray_box_distances, sight_clear


@kernel(inline="always")
def update_headings(kinematics, heading, world):
    """A drone's heading becomes the direction of its velocity where it moves faster than
    0.05 m/s (``v * (1 / |v|)``, as numpy divides complex64 by a real), else it stays."""
    threshold, floor, one = np.float32(0.05), np.float32(1e-6), np.float32(1.0)
    for i in range(kinematics.shape[1]):
        vx, vy = kinematics[world, i, 2], kinematics[world, i, 3]
        speed = complex_abs(vx, vy)
        if speed > threshold:
            scale = one / (speed if speed >= floor else floor)
            heading[world, i] = complex(vx * scale, vy * scale)


@kernel
def sense(pursuers, evaders, headings, free, segments, cones, range2, capture, out):
    """Headings (updated in place, ``headings = (pursuers', evaders')``), then per world who
    sees whom and the captures. ``cones``: ``((mode, cos2) of the pursuers, of the evaders)``;
    ``free`` ``(B, Ne)`` bool; ``out = (sees_p (B, Np, Ne), sees_e (B, Ne, Np), captured
    (B, Ne), visible (B,))``, all bool. A pair sees each other only where the evader is free
    and no segment blocks the line; the pursuer must have the evader in its cone, the evader
    the pursuer in its own. An evader is captured when free and its nearest pursuer is within
    ``capture`` (centre to centre)."""
    p_heading, e_heading = headings
    (p_mode, p_cos2), (e_mode, e_cos2) = cones
    sees_p, sees_e, captured, visible = out
    inf = np.float32(np.inf)
    for b in range(pursuers.shape[0]):
        update_headings(pursuers, p_heading, b)
        update_headings(evaders, e_heading, b)
        seen = False
        for j in range(evaders.shape[1]):
            ex, ey = evaders[b, j, 0], evaders[b, j, 1]
            e_hx, e_hy = e_heading[b, j].real, e_heading[b, j].imag
            gap = inf
            for i in range(pursuers.shape[1]):
                px, py = pursuers[b, i, 0], pursuers[b, i, 1]
                ox, oy = ex - px, ey - py
                distance = complex_abs(ox, oy)
                gap = distance if distance < gap else gap
                p_sees = e_sees = False
                if free[b, j]:
                    hx, hy = p_heading[b, i].real, p_heading[b, i].imag
                    p_sees = in_view(ox, oy, hx, hy, p_mode, p_cos2, range2)
                    e_sees = in_view(-ox, -oy, e_hx, e_hy, e_mode, e_cos2, range2)
                    if (p_sees or e_sees) and not sight_clear(px, py, ex, ey, segments):
                        p_sees = e_sees = False
                sees_p[b, i, j] = p_sees
                sees_e[b, j, i] = e_sees
                seen |= p_sees
            captured[b, j] = free[b, j] and gap <= capture
        visible[b] = seen


@kernel(inline="always")
def smallest(keys, n, order):
    """Indices of the ``len(order)`` smallest finite ``keys[:n]`` into ``order``, ascending, ties
    by index (a stable sort's first entries); returns how many were found."""
    count, found = order.shape[0], 0
    if count == 0:
        return 0
    for j in range(n):
        key = keys[j]
        if not key < np.inf:
            continue
        if found < count:
            slot = found
            found += 1
        elif key < keys[order[count - 1]]:
            slot = count - 1
        else:
            continue
        while slot > 0 and key < keys[order[slot - 1]]:
            order[slot] = order[slot - 1]
            slot -= 1
        order[slot] = j
    return found


@kernel(inline="always")
def teammate_keys(own, alive, index_bits, b, i, dist2, bits, keys):
    """Ranking keys of drone ``i``'s teammates as ``worlds.sensors.nearest_neighbours`` ranks
    them: with ``index_bits`` > 0 (no one left the game) the squared distance's float32 bits
    (``bits``, an int32 view of ``dist2``) above the index bits; else the squared distance,
    infinite for itself and those out."""
    px, py = own[b, i, 0], own[b, i, 1]
    for j in range(own.shape[1]):
        dx, dy = own[b, j, 0] - px, own[b, j, 1] - py
        dist2[j] = dx * dx + dy * dy
    if index_bits > 0:
        for j in range(own.shape[1]):
            keys[j] = np.float64(bits[j] >> index_bits)
    else:
        for j in range(own.shape[1]):
            keys[j] = dist2[j] if alive[b, j] else np.inf
    keys[i] = np.inf


@kernel(inline="always")
def write_entities(own, others, b, i, order, found, obs, start, valid, slots):
    """Clear set block ``start`` (``slots`` entities ``dx, dy, dvx, dvy``, flags at
    ``valid``) of drone ``i``'s observation and write the ``found`` entities ``order`` of
    ``others`` relative to drone ``i``."""
    for s in range(slots):
        for c in range(4):
            obs[b, i, start + 4 * s + c] = 0.0
        obs[b, i, valid + s] = 0.0
    for s in range(found):
        j = order[s]
        for c in range(4):
            obs[b, i, start + 4 * s + c] = others[b, j, c] - own[b, i, c]
        obs[b, i, valid + s] = 1.0


@kernel
def observe_teammates(own, alive, index_bits, obs, layout):
    """Own ``x, y, vx, vy`` and the nearest teammates' block of every drone (see
    ``observe_team``)."""
    n = own.shape[1]
    dist2, keys = np.empty(n, np.float32), np.empty(n, np.float64)
    bits = dist2.view(np.int32)
    order = np.empty(layout[4], np.int64)
    for b in range(own.shape[0]):
        for i in range(n):
            for c in range(4):
                obs[b, i, layout[0] + c] = own[b, i, c]
            found = 0
            if order.shape[0]:
                teammate_keys(own, alive, index_bits, b, i, dist2, bits, keys)
                found = smallest(keys, n, order)
            write_entities(own, own, b, i, order, found, obs, layout[1], layout[2], layout[3])


@kernel
def observe_opponents(own, others, sees, obs, layout):
    """The nearest visible opponents' block of every drone (see ``observe_team``)."""
    m = others.shape[1]
    keys = np.empty(m, np.float64)
    order = np.empty(min(layout[8], m), np.int64)
    for b in range(own.shape[0]):
        for i in range(own.shape[1]):
            px, py = own[b, i, 0], own[b, i, 1]
            for j in range(m):
                seen = complex_abs(others[b, j, 0] - px, others[b, j, 1] - py)
                keys[j] = seen * seen if sees[b, i, j] else np.inf
            found = smallest(keys, m, order)
            write_entities(own, others, b, i, order, found, obs, layout[5], layout[6], layout[7])


@kernel
def observe_lidar(own, lidar, obs, start):
    """Every drone's lidar distances into ``obs[..., start:start + rays]``."""
    inv_x, inv_y, room, boxes, max_range = lidar
    for b in range(own.shape[0]):
        for i in range(own.shape[1]):
            px, py = own[b, i, 0], own[b, i, 1]
            ray_box_distances(px, py, inv_x, inv_y, room, boxes, max_range, obs, b, i, start)


@kernel
def observe_team(own, heading, alive, index_bits, others, sees, lidar, layout, obs):
    """One team's observations into ``obs`` ``(B, N, size)``: own ``x, y, vx, vy, hx, hy``;
    the nearest teammates (``alive`` ``(B, N)`` those in the game, read when ``index_bits`` is
    0); the nearest opponents of ``others`` that each drone ``sees`` ``(B, N, M)``; lidar
    distances. ``layout``: int64 ``(own, then start, flags, slots and most found of the
    teammates, the same of the opponents, lidar start or -1)``; ``lidar``:
    ``(inv_x, inv_y, room, boxes, max_range)``. One pass over the drones per block (a single
    pass doing everything ran several times slower)."""
    observe_teammates(own, alive, index_bits, obs, layout)
    for b in range(own.shape[0]):
        for i in range(own.shape[1]):
            obs[b, i, layout[0] + 4] = heading[b, i].real
            obs[b, i, layout[0] + 5] = heading[b, i].imag
    observe_opponents(own, others, sees, obs, layout)
    if layout[9] >= 0:
        observe_lidar(own, lidar, obs, layout[9])
