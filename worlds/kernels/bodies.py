"""Kernels of the world step itself: the point-mass controller and the state refresh."""

from __future__ import annotations

import numpy as np

from worlds.kernels import kernel


@kernel
def point_mass_force(
    thrust, velocity, force, max_force, limit_force, keep, dt_over_mass, max_speed, mass_over_dt
):
    """The force that takes each body from ``velocity`` (complex128, the substep's read) to
    ``keep * velocity + thrust * dt / m`` with the speed capped at ``max_speed``, into ``force``
    (complex128, the command buffer); ``thrust`` (complex64) is first capped at ``max_force``
    in norm when ``limit_force``. Drag (``keep``) is applied by chipmunk itself."""
    num_worlds, n = thrust.shape
    for b in range(num_worlds):
        for i in range(n):  # branch-free: each cap is a scale min(1, cap / norm)
            tx = np.float64(thrust[b, i].real)
            ty = np.float64(thrust[b, i].imag)
            if limit_force:
                scale = max_force / max(np.sqrt(tx * tx + ty * ty), max_force)
                tx *= scale
                ty *= scale
            kx = velocity[b, i].real * keep
            ky = velocity[b, i].imag * keep
            vx = kx + tx * dt_over_mass
            vy = ky + ty * dt_over_mass
            scale = max_speed / max(np.sqrt(vx * vx + vy * vy), max_speed)
            force[b, i] = complex(
                (vx * scale - kx) * mass_over_dt, (vy * scale - ky) * mass_over_dt
            )


@kernel
def refresh_state(read, columns, offsets, state):
    """``state[r, c] = read[r, columns[c]] - offsets[r, c]`` as float32 (world-local state from
    the raw float64 read); returns whether every value is finite."""
    rows, count = state.shape
    bad = 0
    for r in range(rows):
        for c in range(count):
            value = np.float32(read[r, columns[c]] - offsets[r, c])
            state[r, c] = value
            bad += not np.isfinite(value)
    return bad == 0


@kernel
def shift_to_space(table, x_at, y_at, rows, offset_x, offset_y):
    """Move rows ``x_at`` and ``y_at`` of ``table`` ``(V, K)`` (local coordinates of body
    ``rows[k]``) into the space's coordinates; returns whether every value is finite."""
    bad = 0
    for k in range(rows.shape[0]):
        table[x_at, k] += offset_x[rows[k]]
        table[y_at, k] += offset_y[rows[k]]
        for v in range(table.shape[0]):
            bad += not np.isfinite(table[v, k])
    return bad == 0


@kernel
def place_rows(table, columns, zero_column, rows, read, order, offsets, state):
    """Body ``rows[k]`` takes ``table[v, k]`` in read-buffer column ``columns[v]`` (none when
    negative), zero in ``zero_column`` (none when negative), and its float32 local state is
    refreshed from the read buffer, as a read-back would."""
    for k in range(rows.shape[0]):
        r = rows[k]
        for v in range(table.shape[0]):
            if columns[v] >= 0:
                read[r, columns[v]] = table[v, k]
        if zero_column >= 0:
            read[r, zero_column] = 0.0
        for c in range(state.shape[1]):
            state[r, c] = np.float32(read[r, order[c]] - offsets[r, c])


@kernel
def touching_rows(raw, sorted_ids, sorted_rows, touching):
    """Mark ``touching[row]`` for both bodies of every arbiter row of ``raw`` ``(K, 3)``
    (``body_a_id, body_b_id, contact_count``: ``ContactTable``'s buffer) that has contacts;
    a body whose id is not in ``sorted_ids`` (static geometry) marks the last entry. Ids are
    found by binary search, as ``numpy.searchsorted`` finds them."""
    for k in range(raw.shape[0]):
        if raw[k, 2] == 0:
            continue
        for side in range(2):
            mark_body(raw[k, side], sorted_ids, sorted_rows, touching)


@kernel(inline="always")
def mark_body(body, sorted_ids, sorted_rows, touching):
    """``touching[row]`` for the body id ``body``: its row found by binary search in
    ``sorted_ids`` (as ``numpy.searchsorted`` finds it), the last entry when it is not there
    (static geometry)."""
    size = sorted_ids.shape[0]
    low, high = 0, size
    while low < high:
        middle = (low + high) // 2
        if sorted_ids[middle] < body:
            low = middle + 1
        else:
            high = middle
    if low < size and sorted_ids[low] == body:
        touching[sorted_rows[low]] = True
    else:
        touching[touching.shape[0] - 1] = True


@kernel
def group_rows(env_ids, body_ids, every, start, n, num_worlds, rows):
    """Batch rows of a group's bodies into ``rows``: every body ``0 .. n-1`` of each world of
    ``env_ids`` (``every``; ``rows`` ``(E * n,)``, world by world), or body ``body_ids[k]`` of
    world ``env_ids[k]`` (``rows`` ``(K,)``). Returns 0, or 1 when a world id is outside
    ``[0, num_worlds)``, 2 when a body id is outside ``[0, n)`` (``rows`` is then unusable)."""
    for k in range(env_ids.shape[0]):
        world = env_ids[k]
        if world < 0 or world >= num_worlds:
            return 1
        if every:
            for i in range(n):
                rows[k * n + i] = start + world * n + i
        else:
            body = body_ids[k]
            if body < 0 or body >= n:
                return 2
            rows[k] = start + world * n + body
    return 0
