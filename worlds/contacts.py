"""Who collides with whom, who touched whom, and forgetting it: collision rules between body
groups and static geometry, contacts read from the space's arbiters, and the clearing of what
chipmunk remembers of a body's last contacts.

**Collision rules** are pymunk ``ShapeFilter`` categories and masks: each group gets one category
bit (so at most 31 groups when rules are used), static geometry the last bit. By default every
shape keeps pymunk's default filter (everything collides, no limit on the number of groups).

**Contacts** are counted from the space's cached arbiters (``collision_persistence=1``, so the
cache holds only the last substep's contacts), not from Python callbacks: a ``pre_solve`` handler
is exact too but cost about 45 us of callbacks per step for 64 worlds x 16 bodies.
"""

from __future__ import annotations

import numpy as np
import pymunk
import pymunk.batch as pbatch
from pymunk._chipmunk_cffi import lib as _cp

from worlds.kernels import chipmunk
from worlds.kernels.bodies import touching_rows as mark_touching

STATIC = "static"
"""The name that stands for static geometry in collision rules."""
MAX_FILTERED_GROUPS = 31
_STATIC_CATEGORY = 1 << 31
_ALL = pymunk.ShapeFilter.ALL_MASKS()
_ARBITER_FIELDS = (
    pbatch.ArbiterFields.BODY_A_ID
    | pbatch.ArbiterFields.BODY_B_ID
    | pbatch.ArbiterFields.CONTACT_COUNT
)


class CollisionRules:
    """Pairs of body groups (or a group and ``"static"``) that do not collide; the rest do."""

    def __init__(self) -> None:
        self.apart: set[frozenset[str]] = set()

    def set(self, group_a: str, group_b: str, collide: bool) -> None:
        """Record whether ``group_a`` and ``group_b`` collide (a group with itself: its bodies
        with each other)."""
        pair = frozenset((group_a, group_b))
        if collide:
            self.apart.discard(pair)
        else:
            self.apart.add(pair)

    def filters(self, names: list[str]) -> tuple[dict[str, pymunk.ShapeFilter], pymunk.ShapeFilter]:
        """Shape filters for the groups ``names`` (in order: the i-th gets category bit i) and for
        static geometry. Raises ``ValueError`` if rules are set and there are over 31 groups."""
        if not self.apart:
            return {name: pymunk.ShapeFilter() for name in names}, pymunk.ShapeFilter()
        if len(names) > MAX_FILTERED_GROUPS:
            raise ValueError(
                f"set_collision: collision rules support at most {MAX_FILTERED_GROUPS} body "
                f"groups (one category bit each), the batch has {len(names)}"
            )
        categories = {name: 1 << index for index, name in enumerate(names)}
        categories[STATIC] = _STATIC_CATEGORY
        masks = dict.fromkeys(categories, _ALL)
        for pair in self.apart:
            first, second = (*pair, *pair)[:2]  # a group paired with itself is a one-element set
            masks[first] &= ~categories[second]
            masks[second] &= ~categories[first]
        group_filters = {
            name: pymunk.ShapeFilter(categories=categories[name], mask=masks[name])
            for name in names
        }
        static = pymunk.ShapeFilter(categories=_STATIC_CATEGORY, mask=masks[STATIC])
        return group_filters, static


class ContactTable:
    """Reads a space's cached arbiters as body rows of the batch (row ``total`` stands for static
    geometry). ``body_ids`` are the ids of the space's bodies and ``rows`` their batch rows
    (default: row i is body i); ``total`` the batch's number of bodies."""

    def __init__(
        self,
        space: pymunk.Space,
        body_ids: np.ndarray,
        rows: np.ndarray | None = None,
        total: int | None = None,
    ) -> None:
        self.space = space
        self.num_bodies = body_ids.size if total is None else total
        order = np.argsort(body_ids)
        self.sorted_ids = body_ids[order]
        # Batch row of each sorted id; the static body (in no table) maps to ``num_bodies``.
        self.sorted_rows = order if rows is None else np.asarray(rows)[order]
        self._ids = np.ascontiguousarray(self.sorted_ids, np.uintp)
        self._rows = np.ascontiguousarray(self.sorted_rows, np.intp)
        self.buffer = pbatch.Buffer()
        self.contacts = np.zeros(self.num_bodies + 1, dtype=np.int64)
        self.static_contacts = np.zeros(self.num_bodies + 1, dtype=np.int64)
        self.touching: np.ndarray | None = None

    def arbiter_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Body rows ``(K, 2)`` of the space's cached arbiters with contacts, and whether each
        side is a body of the batch ``(K, 2)``."""
        buffer = self.buffer
        buffer.clear()
        pbatch.get_space_arbiters(self.space, _ARBITER_FIELDS, buffer)
        raw = np.frombuffer(buffer.int_buf(), dtype=np.uintp).reshape(-1, 3)
        raw = raw[raw[:, 2] > 0]
        last = self.sorted_ids.size - 1
        # Static geometry belongs to space.static_body, which is not in the sorted id table:
        # searchsorted maps it to some index, so check the match and send misses to the end.
        ids = raw[:, :2].astype(np.uint64)
        position = np.minimum(np.searchsorted(self.sorted_ids, ids), last)
        found = self.sorted_ids[position] == ids
        return np.where(found, self.sorted_rows[position], self.num_bodies), found

    def touching_rows(self) -> np.ndarray:
        """Whether each body row touched anything in the last substep: bool ``(m + 1,)``, read
        once per step (``touching`` is set to None after every step)."""
        if self.touching is None:
            buffer = self.buffer
            buffer.clear()
            pbatch.get_space_arbiters(self.space, _ARBITER_FIELDS, buffer)
            raw = np.frombuffer(buffer.int_buf(), dtype=np.uintp).reshape(-1, 3)
            self.touching = np.zeros(self.num_bodies + 1, bool)
            # One compiled pass (arbiter_rows does the same in numpy, at several times the cost).
            mark_touching(raw, self._ids, self._rows, self.touching)
        return self.touching

    @staticmethod
    def touching_of(tables: list[ContactTable]) -> np.ndarray:
        """``touching_rows`` over all tables (with one space, its table's own array)."""
        if len(tables) == 1:
            return tables[0].touching_rows()
        return np.logical_or.reduce([table.touching_rows() for table in tables])

    def count(self) -> None:
        """Fill ``contacts`` (touches with other bodies) and ``static_contacts`` per body row."""
        rows, found = self.arbiter_rows()
        size = self.num_bodies + 1
        both = found.all(axis=1)
        self.contacts[:] = np.bincount(rows[both].ravel(), minlength=size)
        one = found.any(axis=1) & ~both
        self.static_contacts[:] = np.bincount(rows[one].ravel(), minlength=size)


def count_contacts(tables: list[ContactTable]) -> tuple[np.ndarray, np.ndarray]:
    """Contacts with other bodies and with static geometry per batch row, over all tables."""
    contacts = static_contacts = 0
    for table in tables:
        table.count()
        contacts = contacts + table.contacts
        static_contacts = static_contacts + table.static_contacts
    return contacts, static_contacts


def forget(
    space: pymunk.Space,
    shapes: list[pymunk.Shape],
    shape_ids: list[int],
    rows: np.ndarray,
    touching: np.ndarray,
    compiled: tuple | None = None,
) -> None:
    """Clear what chipmunk keeps of bodies ``rows``' last step besides their state: the bias
    velocity that pushes overlapping bodies apart at the start of the next step, and the cached
    arbiters (contact impulses that warm-start the next solve) of every pair they are in. Both
    exist only for bodies that touched something in the last substep (``touching``), so only
    those are visited: their shape is taken out of the space (which drops its arbiters) and put
    back under its old id (``shape_ids``: the broadphase visits shapes in id order), and their
    position is integrated over a zero time step (which zeroes the bias). Works for any shape.
    ``compiled``: the batch's shape and body pointers and shape ids per row (int64 arrays,
    ``placement.compiled_tables``) to make those calls from a compiled loop."""
    pointer = space._space
    if compiled is not None:  # the same calls from a compiled loop (worlds.kernels.chipmunk)
        shape_table, body_table, id_table = compiled
        counter = _cp.cpSpaceGetShapeIDCounter(pointer)
        chipmunk.forget_shapes(
            chipmunk.addresses(),
            chipmunk.address(pointer),
            shape_table,
            body_table,
            id_table,
            rows,
            touching,
            counter,
        )
        return
    forget_rows = rows[touching[rows]]
    if forget_rows.size == 0:
        return
    touching[forget_rows] = False  # their arbiters are gone now
    counter = _cp.cpSpaceGetShapeIDCounter(pointer)
    remove, add, set_counter = (
        _cp.cpSpaceRemoveShape,
        _cp.cpSpaceAddShape,
        _cp.cpSpaceSetShapeIDCounter,
    )
    update = _cp.cpBodyUpdatePosition
    for row in forget_rows.tolist():
        shape = shapes[row]
        raw = shape._shape
        remove(pointer, raw)
        set_counter(pointer, shape_ids[row])
        add(pointer, raw)
        update(_cp.cpShapeGetBody(raw), 0.0)
    _cp.cpSpaceSetShapeIDCounter(pointer, counter)
