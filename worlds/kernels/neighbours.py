"""Neighbour kernels: the k nearest others, counts within a radius, range graphs, offsets to points.

Positions and velocities are complex64 ``(B, N)`` (``BodyGroup.position`` views are fine: any
strides), or their float32 ``.real`` and ``.imag`` views. Squared distances are float32
``dx * dx + dy * dy`` exactly as numpy computes them; candidates rank by integer keys made of
their bits and the candidate's index (``key_spec``), exactly as the numpy references sort them.
"""

from __future__ import annotations

import numpy as np

from worlds.kernels import kernel

# Up to this many neighbours per body, a branch-free insertion network run for all bodies of a
# world in lockstep; above it, a stable sort of each body's candidates.
_NETWORK_MAX_K = 8


def key_spec(n: int) -> np.ndarray:
    """How candidates are ranked among ``n`` bodies: int64 ``[shift, lift, index_mask, top,
    infinite, wide]``. A key is ``((float32 bits of d2) >> shift) << (shift + lift) | j``:
    non-negative floats rank as their bits do. Up to 1024 bodies the keys are int32 (``lift``
    0): the index takes the lowest ``shift = bit_length(n - 1)`` bits of the distance, so
    distances that agree to about one part in ``2 ** (23 - shift)`` rank by index (sixteen keys
    fill one 512-bit vector: the selection below runs four times faster than on int64 keys).
    Above, int64 keys keep every bit (``lift`` 32). ``top`` is the largest key (the body
    itself); keys from ``infinite`` on are excluded candidates (+inf)."""
    bits = max(1, int(n - 1).bit_length())
    if bits <= 10:
        return np.array([bits, 0, (1 << bits) - 1, 2**31 - 1, 0x7F800000, 0], np.int64)
    return np.array([0, 32, 2**32 - 1, 2**63 - 1, 0x7F800000 << 32, 1], np.int64)


@kernel
def nearest(px, py, vx, vy, k, radius2, alive, use_alive, count_r2, spec, key_type, out):
    """The ``k`` nearest others of every body (positions ``px, py``, velocities ``vx, vy``
    ``(B, N)``) into ``out = (index, ox, oy, dvx, dvy, dist, mask, count)``: index, offsets,
    relative velocities, distances and mask ``(B, N, k)`` (float32 views of complex arrays are
    fine: any strides) and ``count`` ``(B, N)``, the number of others closer than
    ``sqrt(count_r2)`` (skipped when ``count_r2 < 0``). Others farther than ``sqrt(radius2)``
    (``radius2 < 0``: no limit) or dead (``use_alive`` and ``alive[b, j]`` False) are never
    neighbours (nor counted); missing neighbours read index = the body itself, zeros and mask
    False. Candidates rank by the keys of ``spec`` (``key_spec``), of ``key_type``'s dtype."""
    index, ox, oy, dvx, dvy, dist, mask, count = out
    num_worlds, n = px.shape
    best = np.empty((max(k, 1), n), key_type.dtype)
    keys = np.empty(n, key_type.dtype)
    limit = np.float32(np.inf) if radius2 < 0 else np.float32(radius2)
    d2s = np.empty(n, np.float32)
    touching = np.empty(n, np.float32)
    xs = np.empty(n, np.float32)
    ys = np.empty(n, np.float32)
    vxs = np.empty(n, np.float32)
    vys = np.empty(n, np.float32)
    for b in range(num_worlds):
        for i in range(n):  # the world's bodies, contiguous
            xs[i] = px[b, i]
            ys[i] = py[b, i]
            vxs[i] = vx[b, i]
            vys[i] = vy[b, i]
            touching[i] = 0
        live = alive[b]
        if k <= _NETWORK_MAX_K:
            _network(xs, ys, live, use_alive, k, limit, count_r2, spec, best, keys, d2s, touching)
        else:
            _sorted(xs, ys, live, use_alive, k, limit, count_r2, spec, best, keys, d2s, touching)
        if count_r2 >= 0:
            for i in range(n):
                count[b, i] = touching[i]
        for s in range(k):  # slot by slot: the keys are read in order
            for i in range(n):
                key = best[s, i]
                found = key < spec[4]
                j = np.int32(key & spec[2]) if found else i
                dx = xs[j] - xs[i]
                dy = ys[j] - ys[i]
                index[b, i, s] = j
                ox[b, i, s] = dx
                oy[b, i, s] = dy
                dvx[b, i, s] = vxs[j] - vxs[i]
                dvy[b, i, s] = vys[j] - vys[i]
                dist[b, i, s] = np.sqrt(dx * dx + dy * dy)
                mask[b, i, s] = found


@kernel(inline="always")
def _candidates(xs, ys, j, limit, count_r2, spec, keys, d2s, touching):
    """Keys of candidate ``j`` for every body ``i`` (the body itself excluded), and the counts
    of those within ``sqrt(count_r2)``; vectorized over ``i``."""
    n = xs.shape[0]
    xj, yj = xs[j], ys[j]
    for i in range(n):
        dx = xj - xs[i]
        dy = yj - ys[i]
        d2 = dx * dx + dy * dy
        touching[i] += np.float32(d2 < count_r2)  # count_r2 < 0 counts nothing
        d2s[i] = np.float32(np.inf) if d2 > limit else d2
    bits = d2s.view(np.int32)
    shift, lift = spec[0], spec[0] + spec[1]
    for i in range(n):
        keys[i] = ((np.int64(bits[i]) >> shift) << lift) | j
    touching[j] -= np.float32(0 < count_r2)  # not itself
    keys[j] = spec[3]


@kernel(inline="always")
def _network(xs, ys, alive, use_alive, k, limit, count_r2, spec, best, keys, d2s, touching):
    """``best[s, i]``: the key of body i's s-th nearest, for all bodies of one world at once:
    each candidate passes through ``k`` min/max pairs, elementwise over the bodies (no
    data-dependent branch: fresh positions every step would mispredict them)."""
    n = xs.shape[0]
    for s in range(k):
        for i in range(n):
            best[s, i] = spec[3]
    for j in range(n):
        if use_alive and not alive[j]:
            continue
        _candidates(xs, ys, j, limit, count_r2, spec, keys, d2s, touching)
        for s in range(k):
            for i in range(n):
                low = min(best[s, i], keys[i])
                keys[i] = max(best[s, i], keys[i])
                best[s, i] = low


@kernel
def _sorted(xs, ys, alive, use_alive, k, limit, count_r2, spec, best, keys, d2s, touching):
    """``_network`` for large ``k``: all candidate keys of each body, sorted."""
    n = xs.shape[0]
    table = np.full((n, n), spec[3], np.int64)  # table[i, j]: body i's key of candidate j
    for j in range(n):
        if use_alive and not alive[j]:
            continue
        _candidates(xs, ys, j, limit, count_r2, spec, keys, d2s, touching)
        for i in range(n):
            table[i, j] = keys[i]
    for i in range(n):
        row = np.sort(table[i])
        for s in range(k):
            best[s, i] = row[s]


@kernel
def within(pos, radius2, alive, use_alive, adjacent):
    """``adjacent[b, i, j]``: j is within ``sqrt(radius2)`` of i (never i itself; with
    ``use_alive`` both must be alive). The row of a body is written whole, itself included,
    then its own entry cleared: no branch inside the row, and the world's coordinates copied to
    contiguous arrays first so that rows run as vector instructions (coverage's 64 worlds of
    16: 13 -> 4.5 us alone)."""
    num_worlds, n = pos.shape
    if num_worlds == 0:
        return
    xs = np.empty_like(pos[0].real)  # the world's coordinates, contiguous: rows run as vectors
    ys = np.empty_like(pos[0].imag)
    for b in range(num_worlds):
        for j in range(n):
            xs[j] = pos[b, j].real
            ys[j] = pos[b, j].imag
        for i in range(n):
            xi, yi = xs[i], ys[i]
            if use_alive and not alive[b, i]:
                for j in range(n):
                    adjacent[b, i, j] = False
                continue
            for j in range(n):
                dx = xs[j] - xi
                dy = ys[j] - yi
                adjacent[b, i, j] = dx * dx + dy * dy <= radius2
            if use_alive:
                for j in range(n):
                    adjacent[b, i, j] = adjacent[b, i, j] and alive[b, j]
            adjacent[b, i, i] = False


@kernel
def pairwise(pos, offset, dist2):
    """``offset[b, i, j] = pos[b, j] - pos[b, i]`` and its squared norm."""
    num_worlds, n = pos.shape
    for b in range(num_worlds):
        for i in range(n):
            for j in range(n):
                dx = pos[b, j].real - pos[b, i].real
                dy = pos[b, j].imag - pos[b, i].imag
                offset[b, i, j] = complex(dx, dy)
                dist2[b, i, j] = dx * dx + dy * dy


@kernel
def point_offsets(pos, points, offset, nearest):
    """``offset[b, i, l] = points[b, l] - pos[b, i]``; ``nearest[b, l]`` the distance from point
    l to the closest body (skipped when ``nearest`` has no worlds)."""
    num_worlds, n = pos.shape
    count = points.shape[1]
    with_nearest = nearest.shape[0] > 0
    for b in range(num_worlds):
        for p in range(count):
            px, py = points[b, p].real, points[b, p].imag
            closest = np.float32(np.inf)
            for i in range(n):
                dx = px - pos[b, i].real
                dy = py - pos[b, i].imag
                offset[b, i, p] = complex(dx, dy)
                d2 = dx * dx + dy * dy
                if d2 < closest:
                    closest = d2
            if with_nearest:
                nearest[b, p] = np.sqrt(closest)
