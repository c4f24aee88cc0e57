"""Writing bodies' positions and velocities outside the step: resets, teleports, parking spots.

These are ``WorldBatch``'s helpers for ``reset_bodies``, ``place_bodies`` and ``park_bodies``
(not a public interface). The bodies' new state goes into the batch's raw read buffer (which holds
every body's current state); a few bodies in a large space are written one by one with
chipmunk's own setters, more in one bulk write of the whole space.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pymunk.batch as pbatch
from pymunk._chipmunk_cffi import ffi
from pymunk._chipmunk_cffi import lib as _cp

from worlds.contacts import _ARBITER_FIELDS
from worlds.kernels import chipmunk
from worlds.kernels.bodies import group_rows, place_rows, shift_to_space
from worlds.kernels.resets import BAD_BODY, BAD_WORLD, NOT_FINITE, park_rows, reset_rows
from worlds.switches import restore_modes

if TYPE_CHECKING:
    from worlds.bodies import BodyGroup
    from worlds.world import WorldBatch

# Per-body writes (chipmunk's setters, about 1.5 us a body) when the space holds more than this
# many bodies per body placed (a bulk write costs about 2 us plus 30 ns a body).
_BODIES_PER_WRITE = 50
# From compiled loops (worlds.kernels.chipmunk) a body costs about 45 ns: one by one unless
# more than about two thirds of the batch's bodies move.
_COMPILED_SPARE = 100
_NO_IDS = np.zeros(0, np.intp)


def body_rows(
    world: WorldBatch, group: BodyGroup, caller: str, env_ids, body_ids=None
) -> np.ndarray:
    """Batch rows of the group's bodies ``body_ids[k]`` of worlds ``env_ids[k]`` ``(K,)``, or of
    every body of worlds ``env_ids`` ``(E, N)`` when ``body_ids`` is None. Ids out of range are
    refused here: the compiled writes after this do not check bounds. One compiled pass."""
    env_ids = np.asarray(env_ids, dtype=np.intp)
    every = body_ids is None
    if every:
        body_ids = _NO_IDS
        rows = np.empty((env_ids.size, group.n), np.intp)
    else:
        body_ids = np.asarray(body_ids, dtype=np.intp).ravel()
        if env_ids.size != body_ids.size:
            raise ValueError(f"{caller}: env_ids and body_ids must have the same length")
        rows = np.empty(body_ids.size, np.intp)
    flat = env_ids.ravel()
    found = group_rows(flat, body_ids, every, group.start, group.n, world.num_worlds, rows.ravel())
    if found == 1:
        raise ValueError(f"{caller}: env_ids must be in [0, {world.num_worlds})")
    if found == 2:
        raise ValueError(f"{caller}: body_ids must be in [0, {group.n})")
    return rows


def body_values(
    world: WorldBatch, caller: str, rows: np.ndarray, **values
) -> tuple[list[str], np.ndarray]:
    """Broadcast ``values`` (local ``x``, ``y`` and others) to ``rows``' shape, flattened, with
    ``x`` and ``y`` moved into the space's coordinates; raise ``ValueError`` naming ``caller`` if
    any is not finite. Returns the names and their float64 table ``(V, K)``: one table, one
    compiled pass for the offsets and the check."""
    names = list(values)
    table = np.empty((len(names), rows.size))
    for row, name in zip(table, names, strict=True):
        try:
            row.reshape(rows.shape)[...] = values[name]
        except (ValueError, TypeError):
            shape = np.shape(values[name])
            raise ValueError(
                f"{caller}: {name} must broadcast to {rows.shape}, got {shape}"
            ) from None
    rows = rows.ravel()
    x_at, y_at = names.index("x"), names.index("y")
    if not shift_to_space(table, x_at, y_at, rows, world._offset_x, world._offset_y):
        raise ValueError(f"{caller}: non-finite position or velocity")
    return names, table


def reset_groups(world: WorldBatch, names: tuple, caller: str, env_ids, values: dict) -> None:
    """``WorldBatch.reset_bodies`` of the groups ``names`` at once: ``values`` (local ``x``,
    ``y``, ``angle``, ``vx``, ``vy``) broadcast to ``(E, all the groups' bodies)``, the groups'
    columns side by side in ``names``' order. The bodies end as a call per group leaves them
    (forgotten shapes go back under their old ids: chipmunk visits them in id order), at the
    cost of one call."""
    if not names or len(set(names)) != len(names):
        raise ValueError(f"{caller}: groups must be one or more distinct names")
    unknown = [name for name in names if name not in world.groups]
    if unknown:
        raise ValueError(f"{caller}: unknown group {unknown[0]!r}; groups are {list(world.groups)}")
    groups = [world.groups[name] for name in names]
    if _reset_compiled(world, groups, caller, env_ids, values):
        return
    parts = [body_rows(world, group, caller, env_ids) for group in groups]
    env_ids = np.asarray(env_ids, dtype=np.intp)
    rows = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
    placed = body_values(world, caller, rows, **values)
    rows = rows.ravel()
    world._forget(rows)
    world.ground.forget(world, rows)
    write_rows(world, rows, placed)
    if world._any_parked:
        world._set_parked(rows, False)
    for group in groups:
        restore_modes(world, group, env_ids)
        group.contacts[env_ids] = group.static_contacts[env_ids] = 0
        group.dynamics.reset(env_ids)


def _reset_compiled(world: WorldBatch, groups: list, caller: str, env_ids, values: dict) -> bool:
    """``reset_groups`` in one compiled call (``worlds.kernels.resets``) where it applies: ``x``
    and ``y`` float64 arrays of the full shape, the rest scalars, few enough bodies for the
    compiled writes, and no mode tables or ground joints to renew. The bodies end exactly as
    the general path leaves them. Returns False (nothing done) where it does not apply."""
    x, y, angle, vx, vy = (values[name] for name in ("x", "y", "angle", "vx", "vy"))
    env_ids = np.asarray(env_ids, dtype=np.intp).ravel()
    total = sum(group.n for group in groups)
    shape = (env_ids.size, total)
    if (
        type(x) is not np.ndarray
        or type(y) is not np.ndarray
        or x.dtype != np.float64
        or y.dtype != np.float64
        or x.shape != shape
        or y.shape != shape
        or not isinstance(angle, (float, int))
        or not isinstance(vx, (float, int))
        or not isinstance(vy, (float, int))
        or env_ids.size * total * 3 >= 2 * world.num_bodies + _COMPILED_SPARE
        or world.mode_tables
        or world.ground.limits
    ):
        return False
    setup = _compiled_setup(world)
    if setup is None:
        return False
    batch, chipmunk_tables, group_arguments, buffer = setup[:4]
    starts, counts = group_arguments[tuple(group.name for group in groups)]
    rows = np.empty(env_ids.size * total, np.intp)
    touching = world._touching  # read from the arbiters by the kernel, once a step
    scan = touching is None
    found = reset_rows(
        (starts, counts, *batch, world._any_parked),
        chipmunk_tables,
        env_ids,
        x,
        y,
        (float(angle), float(vx), float(vy)),
        scan,
        buffer if scan else touching,
        rows,
    )
    if found == BAD_WORLD:
        raise ValueError(f"{caller}: env_ids must be in [0, {world.num_worlds})")
    if found == NOT_FINITE:
        raise ValueError(f"{caller}: non-finite position or velocity")
    if scan:
        world._touching = buffer
    if found:
        world._set_parked(rows[:0], False)  # the flags are written: refresh what follows them
    if world._contacts_counted:
        for group in groups:
            group.contacts[env_ids] = group.static_contacts[env_ids] = 0
    for group in groups:
        group.dynamics.reset(env_ids)
    return True


def _compiled_setup(world: WorldBatch) -> tuple | None:
    """``_reset_setup``'s arguments, made at the first compiled reset or park; None where the
    compiled chipmunk calls cannot run."""
    setup = world.__dict__.get("_reset_setup")
    if setup is None:
        tables = compiled_tables(world)
        if tables is None:
            return None
        setup = world._reset_setup = _reset_setup(world, tables)
    return setup


def _reset_setup(world: WorldBatch, tables: tuple) -> tuple:
    """The batch's arguments of ``reset_rows`` that never change."""
    columns, zero = _columns(world, ("x", "y", "angle", "vx", "vy"))
    buffers = (columns, zero, world._read, world._state_order, world._offsets, world._state)
    batch = (world.num_worlds, world._offset_x, world._offset_y, buffers, world._parked)
    spaces = np.array([chipmunk.address(shard.space._space) for shard in world.shards], np.int64)
    contact_tables = world._contact_tables
    ids = np.concatenate([table.sorted_ids for table in contact_tables]).astype(np.int64)
    id_rows = np.concatenate([table.sorted_rows for table in contact_tables]).astype(np.intp)
    order = np.argsort(ids, kind="stable")
    arbiters = _ArbiterReader()
    chipmunk_tables = (
        chipmunk.addresses(),
        world.shards[0].worlds,
        spaces,
        tables,
        (arbiters.data_address, arbiters.int_array_address),
        ids[order],
        id_rows[order],
    )
    touching = np.zeros(world.num_bodies + 1, bool)
    world._arbiter_reader = arbiters  # kept alive with the batch: the kernel addresses it
    park_columns, _ = _columns(world, ("x", "y", "no angle", "vx", "vy"))
    park_buffers = (park_columns, *buffers[1:])
    park = (chipmunk_tables[0], tables[1], park_buffers, world._parked, world.num_worlds), {}
    return batch, chipmunk_tables, _GroupArguments(world), touching, park


class _ArbiterReader:
    """pymunk.batch's data for its arbiter iterator (body ids and contact count of each cached
    arbiter, appended to an int array that chipmunk's allocator grows), kept for the batch's
    life and addressed as integers by ``reset_rows``."""

    def __init__(self) -> None:
        self.buffer = pbatch.Buffer()
        self.data = ffi.new("pmBatchedData *")
        self.data.fields = _ARBITER_FIELDS.value
        self.data.floatArray = self.buffer._float_arr
        self.data.intArray = self.buffer._int_arr
        self.data_address = chipmunk.address(self.data)
        self.int_array_address = chipmunk.address(self.buffer._int_arr)


class _GroupArguments(dict):
    """Starts and sizes (int64 arrays) of a tuple of group names, made once per tuple."""

    def __init__(self, world: WorldBatch) -> None:
        super().__init__()
        self.world = world

    def __missing__(self, names: tuple) -> tuple[np.ndarray, np.ndarray]:
        groups = [self.world.groups[name] for name in names]
        found = self[names] = (
            np.array([group.start for group in groups], np.int64),
            np.array([group.n for group in groups], np.int64),
        )
        return found


def write_rows(world: WorldBatch, rows: np.ndarray, placed: tuple) -> None:
    """Write position, velocity (and angle, when given) of body ``rows`` (flat batch rows;
    ``placed`` from ``body_values``); their angular velocities become zero. The
    batch's read buffer and float32 state take the same values for those rows (what reading the
    bodies back would give: no read of the whole space after a reset)."""
    names, table = placed  # from body_values
    values = dict(zip(names, table, strict=True))
    columns, zero = _columns(world, tuple(names))
    place_rows(
        table, columns, zero, rows, world._read, world._state_order, world._offsets, world._state
    )
    tables = compiled_tables(world)
    if tables is not None and rows.size * 3 < 2 * world.num_bodies + _COMPILED_SPARE:
        angles = values.get("angle")
        chipmunk.write_bodies(
            chipmunk.addresses(),
            tables[1],
            rows,
            values["x"],
            values["y"],
            values["vx"],
            values["vy"],
            values["x"] if angles is None else angles,
            angles is not None,
        )
    elif rows.size * _BODIES_PER_WRITE < world.num_bodies + _BODIES_PER_WRITE:
        pointers = _body_pointers(world)
        angles = values.get("angle")
        columns = [values[name].tolist() for name in ("x", "y", "vx", "vy")]
        for i, (row, x, y, vx, vy) in enumerate(zip(rows.tolist(), *columns, strict=True)):
            body = pointers[row]
            _cp.cpBodySetPosition(body, (x, y))
            if angles is not None:
                _cp.cpBodySetAngle(body, float(angles[i]))
            _cp.cpBodySetVelocity(body, (vx, vy))
            _cp.cpBodySetAngularVelocity(body, 0.0)
    else:
        world._put_bodies(rows)


def compiled_tables(world: WorldBatch) -> tuple | None:
    """Each body row's shape and body as chipmunk pointers and its shape id (int64 arrays), for
    the compiled writes and forgetting (``worlds.kernels.chipmunk``); None where those cannot
    run. Made once per batch (its bodies never change)."""
    tables = world.__dict__.get("_compiled_tables", False)
    if tables is False:
        tables = None
        if chipmunk.available():
            shapes = world._shapes
            tables = (
                np.array([chipmunk.address(shape._shape) for shape in shapes], np.int64),
                np.array([chipmunk.address(shape.body._body) for shape in shapes], np.int64),
                np.array(world._shape_ids, np.int64),
            )
        world._compiled_tables = tables
    return tables


def _body_pointers(world: WorldBatch) -> list:
    """Every body row's chipmunk body (cffi pointers), kept on the batch."""
    pointers = world.__dict__.get("_body_pointers")
    if pointers is None:
        pointers = [None] * world.num_bodies
        for group in world.groups.values():
            pointers[group.start : group.start + len(group.bodies)] = [
                body._body for body in group.bodies
            ]
        world._body_pointers = pointers
    return pointers


def park_spots(
    world: WorldBatch, group: str, env_ids: np.ndarray, body_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Local ``(x, y)`` of the parking spots of body ``body_ids[k]`` of world ``env_ids[k]``: a
    row below the whole grid of worlds, one spot per body of the batch, four bounding radii
    apart. A body's spot, in its world's coordinates, does not depend on the batch size."""
    per_world, before, spacing = _park_layout(world, group)
    spot = (env_ids * per_world + before + body_ids) * spacing
    size = max(world.width, world.height)
    return spot - world.origin_x[env_ids], -(2 * size + world.height) - world.origin_y[env_ids]


def park_values(world: WorldBatch, group: str, rows: np.ndarray) -> tuple[list[str], np.ndarray]:
    """``body_values`` for parking body ``rows`` of ``group`` at rest at their spots
    (``park_spots``), from a table of every body's spot in the space's coordinates made once
    per group with the very operations ``body_values`` does (the same floats)."""
    table = _park_table(world, group)
    values = np.zeros((4, rows.size))  # x, y, then no velocity
    values[:2] = table[:, rows - world.groups[group].start]
    return ["x", "y", "vx", "vy"], values


def park_compiled(world: WorldBatch, group: str, caller: str, env_ids, body_ids) -> bool:
    """``WorldBatch.park_bodies`` in one compiled call (``worlds.kernels.resets.park_rows``)
    where the compiled writes apply (few enough bodies); the same bytes as the general path.
    Returns False (nothing done) where it does not apply."""
    env_ids = np.asarray(env_ids, dtype=np.intp).ravel()
    body_ids = np.asarray(body_ids, dtype=np.intp).ravel()
    setup = _compiled_setup(world)
    if setup is None:
        return False
    if env_ids.size != body_ids.size or env_ids.size * 3 >= 2 * world.num_bodies + _COMPILED_SPARE:
        return False
    common, groups = setup[4]
    arguments = groups.get(group)
    if arguments is None:
        body_group = world.groups[group]
        arguments = groups[group] = (body_group.start, body_group.n, _park_table(world, group))
    rows = np.empty(env_ids.size, np.intp)
    found = park_rows(*common, arguments, env_ids, body_ids, rows)
    if found == BAD_WORLD:
        raise ValueError(f"{caller}: env_ids must be in [0, {world.num_worlds})")
    if found == BAD_BODY:
        raise ValueError(f"{caller}: body_ids must be in [0, {arguments[1]})")
    world._set_parked(rows[:0], True)  # the flags are written: refresh what follows them
    return True


def _park_table(world: WorldBatch, group: str) -> np.ndarray:
    """Every body of ``group``'s parking spot ``(2, B * n)`` in the space's coordinates, made
    once per group with the very operations ``body_values`` does (the same floats)."""
    spots = world.__dict__.setdefault("_park_tables", {})
    body_group = world.groups[group]
    table = spots.get(group)
    if table is None:
        every = np.arange(body_group.n * world.num_worlds)
        env_ids, body_ids = np.divmod(every, body_group.n)
        x, y = park_spots(world, group, env_ids, body_ids)
        table = np.stack([x, y]).astype(np.float64)
        every_row = every + body_group.start
        if not shift_to_space(table, 0, 1, every_row, world._offset_x, world._offset_y):
            raise ValueError(f"park_bodies({group!r}): parking spots out of range")
        spots[group] = table
    return table


def _park_layout(world: WorldBatch, group: str) -> tuple[int, int, float]:
    """Bodies per world, the group's first body in a world, and the spots' spacing (kept on
    the batch: they never change)."""
    layouts = world.__dict__.setdefault("_park_layouts", {})
    layout = layouts.get(group)
    if layout is None:
        per_world = sum(g.n for g in world.groups.values())
        before = 0
        for name, other in world.groups.items():
            if name == group:
                break
            before += other.n
        spacing = 4 * max(g.radius for g in world.groups.values())
        layout = layouts[group] = (per_world, before, spacing)
    return layout


def _columns(world: WorldBatch, names: tuple) -> tuple[np.ndarray, int]:
    """The read-buffer column of each of ``names`` (-1: none) and of the spin (kept)."""
    cache = world.__dict__.setdefault("_write_columns_of", {})
    found = cache.get(names)
    if found is None:
        read_columns = world._read_columns
        columns = np.array([read_columns.get(name, -1) for name in names], np.intp)
        found = cache[names] = (columns, read_columns.get("angvel", -1))
    return found
