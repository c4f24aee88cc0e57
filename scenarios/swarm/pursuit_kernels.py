"""Compiled stages of ``swarm/pursuit-v0``: one call senses the step (headings, who sees whom,
distances, captures), one call per team writes its observation (own state, nearest teammates,
nearest visible opponents, lidar). They follow ``worlds.kernels``' conventions (float32 in the
order of the numpy they replaced, world by world, caller-owned outputs) and reuse its per-body
helpers. Each takes ``worlds``, the int64 indices of the worlds to update (all of them in a
step; only the restarted ones when the env senses those again, ``Episode.restarted``): the
other worlds' outputs are left as they were.

Bodies come as ``kinematics`` ``(B, N, 4)`` float32 rows ``x, y, vx, vy``; headings as complex64
``(B, N)`` unit vectors. Nearest entities rank by int64 keys ``(float32 bits of the squared
distance) << 32 | index``: non-negative floats rank as their bits do, so the order is by distance,
then index (a stable sort's), as in ``worlds.kernels.neighbours``.
"""

from __future__ import annotations

import numpy as np

from worlds.kernels import kernel
from worlds.kernels.visibility import complex_abs, in_view, ray_box_distances, sight_clear

NETWORK_MAX_K = 8
"""Up to this many entities per block, a branch-free insertion network run for all drones of a
world in lockstep; above it, each drone's candidates pass through an insertion with branches."""
_TOP = np.int64(0x7FFFFFFFFFFFFFFF)  # no candidate
_INFINITE = np.int64(0x7F800000) << 32  # keys from here on are +inf (or NaN) squared distances
_TOP32 = np.int32(0x7FFFFFFF)  # teammates_packed's keys: no candidate
_INFINITE32 = np.int64(0x7F800000)  # ... and +inf squared distances
_INDEX = np.int64(0xFFFFFFFF)  # the index bits of int64 keys


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
def sense(worlds, pursuers, evaders, headings, free, segments, cones, range2, capture, out):
    """Headings (updated in place, ``headings = (pursuers', evaders')``), then per world who
    sees whom and the captures. ``cones``: ``((mode, cos2) of the pursuers, of the evaders)``;
    ``free`` ``(B, Ne)`` bool; ``out = (sees_p (B, Np, Ne), sees_e (B, Ne, Np), captured
    (B, Ne), visible (B,), distance (B, Np, Ne))``, bool but ``distance`` (float32, as numpy's
    ``abs`` of the complex offset). A pair sees each other only where the evader is free
    and no segment blocks the line; the pursuer must have the evader in its cone, the evader
    the pursuer in its own. An evader is captured when free and its nearest pursuer is within
    ``capture`` (centre to centre)."""
    p_heading, e_heading = headings
    (p_mode, p_cos2), (e_mode, e_cos2) = cones
    sees_p, sees_e, captured, visible, table = out
    inf = np.float32(np.inf)
    for w in range(worlds.shape[0]):
        b = worlds[w]
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
                table[b, i, j] = distance
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
def insert(best, keys, k, n):
    """Pass every drone's candidate key ``keys[i]`` into its ``k`` smallest so far
    ``best[:k, i]`` (ascending), for drones ``i < n``: with ``k <= NETWORK_MAX_K`` a min/max
    network (no data-dependent branch: fresh positions every step would mispredict them), else
    an insertion that stops at the first larger key."""
    if k <= NETWORK_MAX_K:
        for s in range(k):
            for i in range(n):
                low = min(best[s, i], keys[i])
                keys[i] = max(best[s, i], keys[i])
                best[s, i] = low
        return
    for i in range(n):
        key = keys[i]
        if key >= best[k - 1, i]:
            continue
        slot = k - 1
        while slot > 0 and key < best[slot - 1, i]:
            best[slot, i] = best[slot - 1, i]
            slot -= 1
        best[slot, i] = key


@kernel(inline="always")
def write_block(own, others, b, best, obs, start, valid, slots, infinite, index_mask):
    """Block ``start`` (``slots`` entities ``dx, dy, dvx, dvy``, flags at ``valid``) of every
    drone of world ``b``: the entities of ``others`` whose keys ``best[s, i]`` stand for finite
    distances (below ``infinite``; the index in the bits of ``index_mask``), relative to the
    drone, then zeros."""
    for i in range(own.shape[1]):
        for s in range(slots):
            found = s < best.shape[0] and best[s, i] < infinite
            j = np.int64(best[s, i] & index_mask) if found else 0
            for c in range(4):
                value = others[b, j, c] - own[b, i, c]
                obs[b, i, start + 4 * s + c] = value if found else np.float32(0.0)
            obs[b, i, valid + s] = 1.0 if found else 0.0


@kernel(inline="always")
def teammates(own, alive, index_bits, b, best, keys, dist2, k):
    """``best[:k]``: every drone's ``k`` nearest teammates' int64 keys in world ``b``, those
    ``alive`` only; infinite distances rank last (never found). ``index_bits`` is 0 here."""
    n = own.shape[1]
    for s in range(k):
        for i in range(n):
            best[s, i] = _TOP
    bits = dist2.view(np.int32)
    for j in range(n):
        if not alive[b, j]:
            continue
        xj, yj = own[b, j, 0], own[b, j, 1]
        for i in range(n):
            dx, dy = xj - own[b, i, 0], yj - own[b, i, 1]
            dist2[i] = dx * dx + dy * dy
        for i in range(n):
            keys[i] = (np.int64(bits[i] >> index_bits) << 32) | j
        keys[j] = _TOP
        insert(best, keys, k, n)


@kernel(inline="always")
def teammates_packed(own, index_bits, b, best, keys, dist2, xs, ys, k):
    """``teammates`` with ``index_bits`` > 0 (no one left the game, every teammate a
    candidate): the squared distance's float32 bits lose their lowest ``index_bits`` to the
    index, in int32 keys ``(bits >> index_bits) << index_bits | j`` that rank as the int64
    ``(bits >> index_bits) << 32 | j`` do (``j < 2^index_bits``), sixteen to a 512-bit vector."""
    n = own.shape[1]
    for i in range(n):  # the world's positions, contiguous
        xs[i] = own[b, i, 0]
        ys[i] = own[b, i, 1]
    for s in range(k):
        for i in range(n):
            best[s, i] = _TOP32
    bits = dist2.view(np.int32)
    shift = np.int32(index_bits)
    for j in range(n):
        xj, yj = xs[j], ys[j]
        for i in range(n):
            dx, dy = xj - xs[i], yj - ys[i]
            dist2[i] = dx * dx + dy * dy
        for i in range(n):
            keys[i] = np.int32(((bits[i] >> shift) << shift) | j)
        keys[j] = _TOP32
        insert(best, keys, k, n)


@kernel(inline="always")
def opponents(sees, distance, transposed, b, best, keys, dist2, k):
    """``best[:k]``: every drone's ``k`` nearest seen opponents' keys in world ``b``, ranked by
    the squared ``distance`` (``(B, Np, Ne)``; indexed ``[b, j, i]`` when ``transposed``)."""
    n, m = sees.shape[1], sees.shape[2]
    for s in range(k):
        for i in range(n):
            best[s, i] = _TOP
    bits = dist2.view(np.int32)
    for j in range(m):
        for i in range(n):
            d = distance[b, j, i] if transposed else distance[b, i, j]
            dist2[i] = d * d
        for i in range(n):
            keys[i] = (np.int64(bits[i]) << 32) | j if sees[b, i, j] else _TOP
        insert(best, keys, k, n)


@kernel
def observe_team(
    worlds, own, heading, alive, index_bits, others, sees, distance, lidar, layout, obs
):
    """One team's observations into ``obs`` ``(B, N, size)`` for the worlds ``worlds``: own
    ``x, y, vx, vy, hx, hy``; the nearest teammates (``alive`` ``(B, N)`` those in the game,
    read when ``index_bits`` is 0, see ``teammates``); the nearest opponents of ``others``
    that each drone ``sees`` ``(B, N, M)``, by ``distance = (table, transposed)`` (``sense``'s
    pursuer-evader table, read ``[b, j, i]`` when ``transposed``); lidar distances. ``layout``:
    int64 ``(own, then start, flags, slots and most found of the teammates, the same of the
    opponents, lidar start or -1)``; ``lidar``: ``(inv_x, inv_y, room, boxes, max_range)``."""
    n, m = own.shape[1], others.shape[1]
    table, transposed = distance
    k_mates, k_seen = layout[4], min(layout[8], m)
    best = np.empty((max(k_mates, k_seen, 1), n), np.int64)
    keys = np.empty(n, np.int64)
    best32 = np.empty((max(k_mates, 1), n), np.int32)
    keys32 = np.empty(n, np.int32)
    dist2 = np.empty(n, np.float32)
    xs = np.empty(n, np.float32)
    ys = np.empty(n, np.float32)
    packed_mask = np.int64((1 << index_bits) - 1)
    inv_x, inv_y, room, boxes, max_range = lidar
    rays = np.empty((1, 1, inv_x.shape[0]), np.float32)  # one drone's lidar: kept in cache
    for w in range(worlds.shape[0]):
        b = worlds[w]
        for i in range(n):
            for c in range(4):
                obs[b, i, layout[0] + c] = own[b, i, c]
            obs[b, i, layout[0] + 4] = heading[b, i].real
            obs[b, i, layout[0] + 5] = heading[b, i].imag
        if index_bits > 0:
            teammates_packed(own, index_bits, b, best32, keys32, dist2, xs, ys, k_mates)
            packed = best32[:k_mates]
            write_block(
                own, own, b, packed, obs, layout[1], layout[2], layout[3], _INFINITE32, packed_mask
            )
        else:
            teammates(own, alive, index_bits, b, best, keys, dist2, k_mates)
            mates = best[:k_mates]
            write_block(own, own, b, mates, obs, layout[1], layout[2], layout[3], _INFINITE, _INDEX)
        opponents(sees, table, transposed, b, best, keys, dist2, k_seen)
        seen = best[:k_seen]
        write_block(own, others, b, seen, obs, layout[5], layout[6], layout[7], _INFINITE, _INDEX)
        if layout[9] >= 0:
            for i in range(n):
                px, py = own[b, i, 0], own[b, i, 1]
                ray_box_distances(px, py, inv_x, inv_y, room, boxes, max_range, rays, 0, 0, 0)
                for r in range(rays.shape[2]):
                    obs[b, i, layout[9] + r] = rays[0, 0, r]


@kernel
def rewards(captured, free, capture_reward, time_cost, team, capture, time):
    """Per world: ``capture = captures * capture_reward`` and ``time = (free fraction) *
    time_cost`` ``(B, 1)`` float32 (the fraction in float64 as numpy's ``mean``, then float32);
    ``team = (pursuers' (B, Np), evaders' (B, Ne))`` get ``capture + time`` and its negative."""
    pursuers, evaders = team
    n = free.shape[1]
    for b in range(free.shape[0]):
        caught = free_count = 0
        for j in range(n):
            caught += captured[b, j]
            free_count += free[b, j]
        capture[b, 0] = np.float32(caught) * capture_reward
        time[b, 0] = np.float32(np.float64(free_count) / np.float64(n)) * time_cost
        value = capture[b, 0] + time[b, 0]
        for i in range(pursuers.shape[1]):
            pursuers[b, i] = value
        for j in range(evaders.shape[1]):
            evaders[b, j] = -value


@kernel
def terminations(free, captured, pursuers_done, evaders_done):
    """Per world: an evader is done when captured; the pursuers when no evader is free after
    the step's captures."""
    for b in range(free.shape[0]):
        left = False
        for j in range(free.shape[1]):
            evaders_done[b, j] = captured[b, j]
            left |= free[b, j] and not captured[b, j]
        for i in range(pursuers_done.shape[1]):
            pursuers_done[b, i] = not left


@kernel(inline="always")
def toward_centre(p):
    """The unit complex from ``p`` (complex128) toward the centre: ``-p / max(|p|, 1e-6)`` in
    float64 as numpy divides; 1 at the centre."""
    floor = 1e-6
    length = np.abs(p)
    scale = length if length >= floor else floor
    return complex(-p.real / scale, -p.imag / scale) if length > floor else 1.0


@kernel
def face_centre(places, env_ids, headings):
    """Headings of the drones placed at complex128 ``places`` ``(E, Np + Ne)`` in worlds
    ``env_ids``, toward the arena's centre (``toward_centre``, then complex64), into
    ``headings = (pursuers', evaders')``."""
    pursuers, evaders = headings
    n = pursuers.shape[1]
    for w in range(env_ids.shape[0]):
        b = env_ids[w]
        for i in range(places.shape[1]):
            heading = toward_centre(places[w, i])
            if i < n:
                pursuers[b, i] = heading
            else:
                evaders[b, i - n] = heading


@kernel
def spawn(draws, slots, env_ids, headings, x, y):
    """``Pursuit.reset``'s places and headings for the worlds ``env_ids``: row ``w`` of
    ``draws`` holds ``S`` sort keys (``S`` complex64 ``slots``), then ``T`` uniforms of the x
    jitter and ``T`` of the y jitter (``T = x.shape[1]`` drones). Each world takes the ``T``
    slots of smallest keys, smallest first (ties by index, as a stable argsort), each moved by
    ``0.1 * (2 u - 1)``: float64 ``x`` and ``y`` ``(E, T)`` as numpy adds the complex128 jitter
    to the complex64 slot. Headings face the centre (``face_centre``)."""
    pursuers, evaders = headings
    n_slots, total, n = slots.shape[0], x.shape[1], pursuers.shape[1]
    keys = np.empty(total, np.float64)
    picks = np.empty(total, np.int64)
    for w in range(env_ids.shape[0]):
        filled = 0
        for s in range(n_slots):
            key = draws[w, s]
            if filled == total and not key < keys[total - 1]:
                continue
            slot = filled if filled < total else total - 1
            while slot > 0 and key < keys[slot - 1]:
                keys[slot], picks[slot] = keys[slot - 1], picks[slot - 1]
                slot -= 1
            keys[slot], picks[slot] = key, s
            filled = min(filled + 1, total)
        b = env_ids[w]
        for i in range(total):
            place = slots[picks[i]]
            x[w, i] = np.float64(place.real) + 0.1 * (-1.0 + 2.0 * draws[w, n_slots + i])
            y[w, i] = np.float64(place.imag) + 0.1 * (-1.0 + 2.0 * draws[w, n_slots + total + i])
            heading = toward_centre(complex(x[w, i], y[w, i]))
            if i < n:
                pursuers[b, i] = heading
            else:
                evaders[b, i - n] = heading


@kernel(inline="always")
def block_sum(values, start, n):
    """numpy's float64 ``pairwise_sum`` of ``values[start:start + n]`` for ``n <= 128``: a
    plain sum below 8 values, else eight running sums combined pairwise, then the rest."""
    if n < 8:
        total = 0.0
        for i in range(start, start + n):
            total += values[i]
        return total
    r0, r1, r2, r3 = values[start], values[start + 1], values[start + 2], values[start + 3]
    r4, r5, r6, r7 = values[start + 4], values[start + 5], values[start + 6], values[start + 7]
    end = start + n - n % 8
    for at in range(start + 8, end, 8):
        r0, r1, r2, r3 = (
            r0 + values[at],
            r1 + values[at + 1],
            r2 + values[at + 2],
            r3 + values[at + 3],
        )
        r4, r5, r6, r7 = (
            r4 + values[at + 4],
            r5 + values[at + 5],
            r6 + values[at + 6],
            r7 + values[at + 7],
        )
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for at in range(end, start + n):
        total += values[at]
    return total


@kernel
def pairwise_sum(values, n):
    """numpy's float64 sum of ``values[:n]`` (as ``np.add.reduce`` and ``mean`` sum a row), so
    that a kernel's means are bit for bit numpy's: ``block_sum`` up to 128 values, else the
    sum of the two halves split at a multiple of 8, recursively (numba's cache cannot load a
    recursive kernel: the recursion runs on a stack of ranges, and one of partial sums)."""
    if n <= 128:
        return block_sum(values, 0, n)
    tasks = np.empty((64, 2), np.int64)  # (start, count); count -1 adds the top two sums
    sums = np.empty(64, np.float64)
    tasks[0, 0], tasks[0, 1] = 0, n
    top, filled = 1, 0
    while top > 0:
        top -= 1
        start, count = tasks[top, 0], tasks[top, 1]
        if count < 0:
            filled -= 1
            sums[filled - 1] += sums[filled]
        elif count <= 128:
            sums[filled] = block_sum(values, start, count)
            filled += 1
        else:
            half = count // 2
            half -= half % 8
            tasks[top, 0], tasks[top, 1] = 0, -1
            tasks[top + 1, 0], tasks[top + 1, 1] = start + half, count - half
            tasks[top + 2, 0], tasks[top + 2, 1] = start, half
            top += 3
    return sums[0]


@kernel
def episode_figures(alive, ended_at, steps, dt, env_ids, out):
    """``Pursuit.episode_end``'s figures of the worlds ``env_ids`` into ``out`` ``(3, E)``
    float64: the fraction of evaders caught (not ``alive``), the mean of the caught ones'
    ``ended_at`` steps times ``dt`` (``sum * dt / count``; NaN when none), and the mean
    survival time (``ended_at`` of the caught, the world's ``steps`` of the free, times
    ``dt``, summed as numpy's ``mean`` sums)."""
    n = alive.shape[1]
    survival = np.empty(n, np.float64)
    for w in range(env_ids.shape[0]):
        b = env_ids[w]
        count = total = 0
        for j in range(n):
            caught = not alive[b, j]
            count += caught
            total += ended_at[b, j] if caught else 0
            survival[j] = np.float64(ended_at[b, j] if caught else steps[b]) * dt
        out[0, w] = np.float64(count) / np.float64(n)
        out[1, w] = np.float64(total) * dt / np.float64(count) if count > 0 else np.nan
        out[2, w] = pairwise_sum(survival, n) / np.float64(n)


@kernel(inline="always")
def state_block(bodies, b, out, column):
    """Columns ``x, y, vx, vy`` of world ``b``'s ``bodies`` (a block of ``N`` each) into
    ``out[b]`` from ``column``; returns the next column."""
    n = bodies.shape[1]
    for c in range(4):
        for i in range(n):
            out[b, column + c * n + i] = bodies[b, i, c]
    return column + 4 * n


@kernel
def state_rows(pursuers, evaders, free, out):
    """``Pursuit.state`` ``(B, 4 Np + 5 Ne)`` float32: per world the pursuers' ``x, y, vx,
    vy`` in blocks of ``Np``, the evaders' in blocks of ``Ne``, then the evaders' ``free``
    flags (1 or 0)."""
    for b in range(out.shape[0]):
        column = state_block(pursuers, b, out, 0)
        column = state_block(evaders, b, out, column)
        for j in range(free.shape[1]):
            out[b, column + j] = np.float32(1.0) if free[b, j] else np.float32(0.0)
