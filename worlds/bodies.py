"""Body groups and the bulk transfer of body state between pymunk and numpy.

``BodyGroup`` is what a scenario holds: a group's shape, mass, dynamics and its ``(B, N)`` state
views. ``build_bodies`` makes a group's pymunk bodies and shapes. ``BulkBodies`` reads or writes
every body of the space in one C call (``pymunk.batch``), the only way state crosses between
pymunk and numpy on the step's hot path: a Python read of one body costs about 1.4 us, ten times
its physics, while a bulk read of all of them costs 2-13 us.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pymunk
import pymunk.batch as pbatch
from pymunk._chipmunk_cffi import lib as _cp

from worlds.dynamics import Dynamics
from worlds.shapes import Circle, Shape


class BulkBodies:
    """``pymunk.batch.get_space_bodies`` / ``set_space_bodies`` with the C call's arguments built
    once: the public functions allocate a cffi struct per call, which is most of their cost for
    a one-world batch. Falls back to the public functions if pymunk's internals change."""

    def __init__(
        self, space: pymunk.Space, fields: pbatch.BodyFields, buffer: pbatch.Buffer, setter: bool
    ) -> None:
        self.space, self.fields, self.buffer, self.setter = space, fields, buffer, setter
        try:
            ffi, lib = pbatch.ffi, pbatch.lib
            self._data = ffi.new("pmBatchedData *")
            self._data.fields = fields.value
            self._data.floatArray = buffer._float_arr
            self._data.intArray = buffer._int_arr
            name = (
                "pmSpaceBodySetIteratorFuncBatched"
                if setter
                else "pmSpaceBodyGetIteratorFuncBatched"
            )
            self._function = ffi.addressof(lib, name)
            self._each_body = lib.cpSpaceEachBody
            self._space_pointer = space._space
            self._floats = buffer._float_arr
        except (AttributeError, TypeError):  # pragma: no cover - other pymunk internals
            self._data = None

    def __call__(self) -> None:
        """Read every body into the buffer, or write the buffer into every body."""
        if self._data is None:  # pragma: no cover
            if self.setter:
                pbatch.set_space_bodies(self.space, self.fields, self.buffer)
            else:
                self.buffer.clear()
                pbatch.get_space_bodies(self.space, self.fields, self.buffer)
            return
        floats = self._floats
        count = floats.num
        floats.num = 0
        self._each_body(self._space_pointer, self._function, self._data)
        if self.setter:
            floats.num = count


@dataclass
class BodyGroup:
    """N bodies per world that share shape, mass and dynamics model.

    State arrays are views ``(B, N)`` into the batch's float32 state, refreshed after every step.
    ``position`` and ``velocity`` are the same state as complex64 ``x + iy`` views, so that 2D
    vector arithmetic is one numpy call per operation (no trailing axis of length 2, which
    numpy broadcasts slowly). ``kinematics`` is the ``(B, N, 4)`` view x, y, vx, vy.
    ``command`` holds the last action given to the dynamics model, ``(B, N, act_dim)``.
    ``parked`` ``(B, N)`` marks bodies out of play (``WorldBatch.park_bodies``): the world
    applies no command to them until ``reset_bodies`` places them again.
    """

    name: str
    n: int
    radius: float
    """The bounding radius of ``shape`` (the radius, for a circle)."""
    mass: float
    dynamics: Dynamics
    start: int = 0
    shape: Shape = None
    """The bodies' shape (``worlds.shapes``); ``Circle(radius)`` when not given."""
    bodies: list[pymunk.Body] = field(default_factory=list, repr=False)
    x: np.ndarray = field(default=None, repr=False)
    y: np.ndarray = field(default=None, repr=False)
    angle: np.ndarray = field(default=None, repr=False)
    vx: np.ndarray = field(default=None, repr=False)
    vy: np.ndarray = field(default=None, repr=False)
    angvel: np.ndarray = field(default=None, repr=False)
    command: np.ndarray = field(default=None, repr=False)
    kinematics: np.ndarray = field(default=None, repr=False)
    position: np.ndarray = field(default=None, repr=False)
    velocity: np.ndarray = field(default=None, repr=False)
    contacts: np.ndarray = field(default=None, repr=False)
    static_contacts: np.ndarray = field(default=None, repr=False)
    parked: np.ndarray = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.shape is None:
            self.shape = Circle(self.radius)

    def attach_state(self, rows: np.ndarray, columns: dict[str, int], parked: np.ndarray) -> None:
        """Make the group's state arrays ``(B, N)`` views of ``rows``, its rows of the batch's
        float32 state (``columns`` names their columns; without ``angle`` the bodies do not turn
        and read zeros), and ``parked`` a view of its rows of the batch's parked flags. The
        command and contact counts are zeroed arrays of the group's own."""
        shape = (rows.shape[0] // self.n, self.n)
        for name in ("x", "y", "vx", "vy", "angle", "angvel"):
            if name in columns:
                setattr(self, name, rows[:, columns[name]].reshape(shape))
            else:
                setattr(self, name, np.zeros(shape, np.float32))
        self.position = rows[:, 0:2].view(np.complex64).reshape(shape)
        self.velocity = rows[:, 2:4].view(np.complex64).reshape(shape)
        self.kinematics = rows[:, 0:4].reshape(*shape, 4)
        self.command = np.zeros((*shape, self.dynamics.act_dim), dtype=np.float32)
        self.contacts = np.zeros(shape, dtype=np.int32)
        self.static_contacts = np.zeros(shape, dtype=np.int32)
        self.parked = parked.reshape(shape)

    @property
    def pos(self) -> np.ndarray:
        """Positions as ``(B, N, 2)``, a copy (not for hot paths)."""
        return np.stack([self.x, self.y], axis=-1)

    @property
    def vel(self) -> np.ndarray:
        """Velocities as ``(B, N, 2)``, a copy (not for hot paths)."""
        return np.stack([self.vx, self.vy], axis=-1)


def build_bodies(
    space: pymunk.Space,
    group: BodyGroup,
    origins: tuple[np.ndarray, np.ndarray],
    material: dict[str, float | int],
    shape_ids: list[int],
) -> list[pymunk.Shape]:
    """Add ``group.n`` bodies of ``group.shape`` per world to ``space``, each at its world's
    origin, and return their pymunk shapes in body-row order (world by world). ``material``
    holds the shapes' ``elasticity``, ``friction`` and ``collision_type``; the id chipmunk gives
    each shape is appended to ``shape_ids``."""
    # Bodies whose model has no heading cannot turn (an infinite moment of inertia): the
    # numerical torques of contacts would otherwise leave angles of 1e-15 rad that no reset
    # writes back, a memory that changes later contacts in the last bits.
    moment = group.shape.moment(group.mass) if group.dynamics.needs_angle else math.inf
    space_pointer = space._space
    shapes = []
    for origin_x, origin_y in zip(*(origin.tolist() for origin in origins), strict=True):
        for _ in range(group.n):
            body = pymunk.Body(group.mass, moment)
            body.position = (origin_x, origin_y)
            shape = group.shape.make(body)
            shape.elasticity = material["elasticity"]
            shape.friction = material["friction"]
            shape.collision_type = material["collision_type"]
            # The id chipmunk gives the shape: the broadphase visits shapes in id order, so a
            # shape taken out and put back (``contacts.forget``) must get the same id again.
            shape_ids.append(_cp.cpSpaceGetShapeIDCounter(space_pointer))
            space.add(body, shape)
            group.bodies.append(body)
            shapes.append(shape)
    return shapes


def check_body_order(space: pymunk.Space, body_ids: np.ndarray) -> None:
    """Raise ``RuntimeError`` unless pymunk visits the space's bodies in the order ``body_ids``
    (insertion order), the row order every bulk read and write relies on."""
    probe = pbatch.Buffer()
    pbatch.get_space_bodies(space, pbatch.BodyFields.BODY_ID, probe)
    seen = np.frombuffer(probe.int_buf(), dtype=np.uintp)[: body_ids.size]
    if not np.array_equal(seen.astype(np.uint64), body_ids):
        raise RuntimeError("pymunk body order differs from insertion order")
