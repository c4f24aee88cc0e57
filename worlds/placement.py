"""Writing bodies' positions and velocities outside the step: resets, teleports, parking spots.

These are ``WorldBatch``'s helpers for ``reset_bodies``, ``place_bodies`` and ``park_bodies``
(not a public interface). The bodies' new state goes into the batch's raw read buffer (which holds
every body's current state); a few bodies in a large space are written one by one with
chipmunk's own setters, more in one bulk write of the whole space.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pymunk._chipmunk_cffi import lib as _cp

if TYPE_CHECKING:
    from worlds.bodies import BodyGroup
    from worlds.world import WorldBatch

# Per-body writes (chipmunk's setters, about 1.5 us a body) when the space holds more than this
# many bodies per body placed (a bulk write costs about 2 us plus 30 ns a body).
_BODIES_PER_WRITE = 50


def body_values(world: WorldBatch, caller: str, rows: np.ndarray, **values) -> dict:
    """Broadcast ``values`` (local ``x``, ``y`` and others) to ``rows``' shape, flattened, with
    ``x`` and ``y`` moved into the space's coordinates; raise ``ValueError`` naming ``caller`` if
    any is not finite. One float64 table, one finiteness check."""
    names = list(values)
    table = np.empty((len(names), rows.size))
    for row, name in zip(table, names, strict=True):
        row.reshape(rows.shape)[...] = values[name]
    rows = rows.ravel()
    flat = dict(zip(names, table, strict=True))
    where = _as_slice(rows)
    flat["x"] += world._offset_x[where]
    flat["y"] += world._offset_y[where]
    if not np.logical_and.reduce(np.isfinite(table), axis=None):
        raise ValueError(f"{caller}: non-finite position or velocity")
    return flat


def write_rows(world: WorldBatch, group: BodyGroup, rows: np.ndarray, values: dict) -> None:
    """Write position, velocity (and angle, when given) of ``group``'s body ``rows`` (flat
    batch rows); their angular velocities become zero. The batch's read buffer and float32
    state take the same values for those rows (what reading the bodies back would give: no read
    of the whole space after a reset)."""
    read = world._read
    where = _as_slice(rows)  # a whole group's reset is one block of rows: no gathers
    for name, column in world._read_columns.items():
        if name in values:
            read[where, column] = values[name]
        elif name == "angvel":
            read[where, column] = 0.0
    if rows.size * _BODIES_PER_WRITE < world.num_bodies + _BODIES_PER_WRITE:
        pointers = _body_pointers(group)
        angles = values.get("angle")
        columns = [values[name].tolist() for name in ("x", "y", "vx", "vy")]
        for i, (row, x, y, vx, vy) in enumerate(zip(rows.tolist(), *columns, strict=True)):
            body = pointers[row - group.start]
            _cp.cpBodySetPosition(body, (x, y))
            if angles is not None:
                _cp.cpBodySetAngle(body, float(angles[i]))
            _cp.cpBodySetVelocity(body, (vx, vy))
            _cp.cpBodySetAngularVelocity(body, 0.0)
    else:
        world._put_bodies(rows)
    state = world._state
    state[where] = read[where][:, world._state_order] - world._offsets[where]


def _as_slice(rows: np.ndarray) -> slice | np.ndarray:
    """``rows`` as a slice when they are consecutive and increasing, else unchanged."""
    if rows.size >= 64 and rows[-1] - rows[0] == rows.size - 1:  # few rows: gathers are cheap
        if (np.subtract(rows[1:], rows[:-1]) == 1).all():
            return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def _body_pointers(group: BodyGroup) -> list:
    """The group's chipmunk bodies (cffi pointers), in row order, kept on the group."""
    pointers = getattr(group, "_pointers", None)
    if pointers is None:
        pointers = group._pointers = [body._body for body in group.bodies]
    return pointers


def park_spots(
    world: WorldBatch, group: str, env_ids: np.ndarray, body_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Local ``(x, y)`` of the parking spots of body ``body_ids[k]`` of world ``env_ids[k]``: a
    row below the whole grid of worlds, one spot per body of the batch, four bounding radii
    apart. A body's spot, in its world's coordinates, does not depend on the batch size."""
    per_world = sum(g.n for g in world.groups.values())
    before = 0
    for name, other in world.groups.items():
        if name == group:
            break
        before += other.n
    spacing = 4 * max(g.radius for g in world.groups.values())
    spot = (env_ids * per_world + before + body_ids) * spacing
    size = max(world.width, world.height)
    return spot - world.origin_x[env_ids], -(2 * size + world.height) - world.origin_y[env_ids]
