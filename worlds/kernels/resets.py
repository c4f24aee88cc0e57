"""A world reset in one compiled call: the rows of the reset bodies, the finiteness check, the
forgetting of their contacts, their new state in the batch's buffers and in chipmunk, and their
parked flags (``worlds.placement.reset_groups``' fast path).

A reset of one world of 18 drones made some 25 calls from Python through numpy and the kernels
of ``worlds.kernels.bodies`` and ``worlds.kernels.chipmunk``, about 90 us inside a step: more
than the physics of that world's whole episode step. This kernel makes the same writes and the
same chipmunk calls in the same order, so the bodies end exactly as the general path leaves
them (the tests compare the two bit for bit).
"""

from __future__ import annotations

import numpy as np

from worlds.kernels import kernel
from worlds.kernels.bodies import mark_body
from worlds.kernels.chipmunk import (
    ARBITER_ROWS,
    EACH_CACHED_ARBITER,
    GET_SHAPE_COUNTER,
    SET_ANGLE,
    SET_POSITION,
    SET_SHAPE_COUNTER,
    SET_SPIN,
    SET_VELOCITY,
    ccall,
    ccall_word,
    forget_row,
    peek,
    poke32,
)

BAD_WORLD, NOT_FINITE, BAD_BODY = -1, -2, -3


@kernel(inline="always")
def mark_touching(functions, spaces, arbiters, sorted_ids, sorted_rows, touching):
    """``touching[row]`` for both bodies of every cached arbiter with contacts of ``spaces``
    (the last entry for static geometry), as ``contacts.ContactTable.touching_rows`` marks
    them: pymunk.batch's own iterator appends each arbiter's body ids and contact count to the
    int array of the batch data at ``arbiters = (data, int array)``."""
    data, int_array = arbiters
    touching[:] = False
    for s in range(spaces.shape[0]):
        poke32(int_array, 0)  # the array's count: appends start at the beginning
        ccall(functions[EACH_CACHED_ARBITER], (spaces[s], functions[ARBITER_ROWS], data))
        count, values = peek(int_array, 4), peek(int_array + 8, 8)
        for a in range(count // 3):
            if peek(values + 24 * a + 16, 8) == 0:
                continue
            for side in range(2):
                body = peek(values + 24 * a + 8 * side, 8)
                mark_body(body, sorted_ids, sorted_rows, touching)


@kernel(inline="always")
def forget_touching(functions, per_shard, spaces, tables, env_ids, rows, total, touching):
    """``contacts.forget`` for the rows ``rows`` ``(E * total,)`` of worlds ``env_ids`` still
    ``touching`` (then no longer), shard by shard: each shape is taken out of its space and put
    back under its old id (``tables = (shapes, bodies, shape_ids)``), its body integrated over
    a zero time step; then the space's id counter is what it was."""
    shapes, bodies, shape_ids = tables
    for s in range(spaces.shape[0]):
        counter = -1
        for k in range(env_ids.shape[0]):
            if env_ids[k] // per_shard != s:
                continue
            if counter < 0:
                counter = ccall_word(functions[GET_SHAPE_COUNTER], (spaces[s],))
            for c in range(total):
                row = rows[k * total + c]
                forget_row(functions, spaces[s], shapes, bodies, shape_ids, row, touching)
        if counter >= 0:
            ccall(functions[SET_SHAPE_COUNTER], (spaces[s], counter))


@kernel(inline="always")
def write_row(functions, buffers, row, body, values, with_angle):
    """Body ``row`` takes ``values = (x, y, angle, vx, vy)`` (space coordinates) and no spin
    in the read buffer, its float32 state and chipmunk (``placement.write_rows``' writes);
    ``buffers = (columns, zero_column, read, order, offsets, state)``, ``columns`` the read
    column of each value (none when negative). The angle is set only ``with_angle``."""
    columns, zero_column, read, order, offsets, state = buffers
    for v in range(5):
        if columns[v] >= 0:
            read[row, columns[v]] = values[v]
    if zero_column >= 0:
        read[row, zero_column] = 0.0
    for j in range(state.shape[1]):
        state[row, j] = np.float32(read[row, order[j]] - offsets[row, j])
    ccall(functions[SET_POSITION], (body, values[0], values[1]))
    if with_angle:
        ccall(functions[SET_ANGLE], (body, values[2]))
    ccall(functions[SET_VELOCITY], (body, values[3], values[4]))
    ccall(functions[SET_SPIN], (body, 0.0))


@kernel
def reset_rows(batch, chipmunk, env_ids, x, y, scalars, scan, touching, rows):
    """Reset the bodies of worlds ``env_ids`` to local ``(x, y)`` ``(E, N)`` float64 (the
    groups' columns side by side) with heading, velocity ``scalars = (angle, vx, vy)`` and no
    spin. ``batch``: ``(starts, counts, num_worlds, offset_x, offset_y, buffers, parked,
    any_parked)``: the groups' first rows and sizes and the world's buffers (``write_row``);
    ``chipmunk``: ``(functions, worlds_per_shard, spaces, (shapes, bodies, shape_ids),
    arbiters, sorted_ids, sorted_rows)``. ``touching`` ``(m + 1,)``: which rows touched
    something in the last substep, first read from the spaces' arbiters when ``scan`` (once a
    step). ``rows`` ``(E * N,)`` receives the batch rows. Returns ``BAD_WORLD`` or
    ``NOT_FINITE`` (nothing is written then), else how many bodies were parked before."""
    starts, counts, num_worlds, offset_x, offset_y, buffers, parked, any_parked = batch
    functions, per_shard, spaces, tables, arbiters, sorted_ids, sorted_rows = chipmunk
    total = x.shape[1]
    values = np.empty(5)
    values[2], values[3], values[4] = scalars
    bad = not (np.isfinite(values[2]) and np.isfinite(values[3]) and np.isfinite(values[4]))
    for k in range(env_ids.shape[0]):
        world = env_ids[k]
        if world < 0 or world >= num_worlds:
            return BAD_WORLD
        column = 0
        for g in range(starts.shape[0]):
            for i in range(counts[g]):
                row = starts[g] + world * counts[g] + i
                rows[k * total + column] = row
                bad |= not np.isfinite(x[k, column] + offset_x[row])
                bad |= not np.isfinite(y[k, column] + offset_y[row])
                column += 1
    if bad:
        return NOT_FINITE
    if scan:
        mark_touching(functions, spaces, arbiters, sorted_ids, sorted_rows, touching)
    forget_touching(functions, per_shard, spaces, tables, env_ids, rows, total, touching)
    bodies, was_parked = tables[1], 0
    for k in range(env_ids.shape[0]):
        for c in range(total):
            row = rows[k * total + c]
            values[0] = x[k, c] + offset_x[row]
            values[1] = y[k, c] + offset_y[row]
            write_row(functions, buffers, row, bodies[row], values, True)
            if any_parked and parked[row]:
                parked[row] = False
                was_parked += 1
    return was_parked


@kernel
def park_rows(functions, bodies, buffers, parked, num_worlds, group, env_ids, body_ids, rows):
    """``WorldBatch.park_bodies`` of body ``body_ids[k]`` of world ``env_ids[k]`` of the group
    ``(start, n, spots)`` (its first row, its bodies a world, and each body's parking spot
    ``(2, B * n)`` in space coordinates): each goes at rest to its spot (heading kept: the
    ``buffers`` of ``write_row`` name no angle column) and is flagged ``parked``. Returns
    ``BAD_WORLD`` or ``BAD_BODY`` (nothing is written then), else 0."""
    start, n, spots = group
    for k in range(env_ids.shape[0]):
        if env_ids[k] < 0 or env_ids[k] >= num_worlds:
            return BAD_WORLD
        if body_ids[k] < 0 or body_ids[k] >= n:
            return BAD_BODY
        rows[k] = start + env_ids[k] * n + body_ids[k]
    values = np.zeros(5)
    for k in range(rows.shape[0]):
        row = rows[k]
        values[0], values[1] = spots[0, row - start], spots[1, row - start]
        write_row(functions, buffers, row, bodies[row], values, False)
        parked[row] = True
    return 0
