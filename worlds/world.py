"""A batch of B independent 2D physics worlds on pymunk, with state in and out as arrays.

Layout: all B worlds live in **one** ``pymunk.Space``, kept apart by a spatial offset (a grid of
world cells separated by a gap wider than any body), with chipmunk's spatial-hash broadphase.
Measured on the 2-core build machines with ``python tools/bench/world_layout.py`` (16 or 4
point-mass bodies per walled world, random forces, 2 substeps, bulk read after each substep, one
core, another process busy on the other):

    layout                          64 worlds x 16 bodies    256 worlds x 4 bodies
    one Space, spatial hash             497 us per step          464 us per step
    one Space, bounding-box tree        728 us                   791 us
    separate Spaces (one per world)    1141 us                  3372 us

Every ``Space.step`` and every batch call has a fixed cost, so separate Spaces lose more the more
and smaller the worlds are; the hash beats the tree because nearly every small, fast body leaves
its tree leaf's box each step.

**History-free worlds.** The broadphase is always the spatial hash, also for tiny batches where the
tree was a few percent faster: the hash's pair order depends only on the bodies' positions and
their fixed shape ids, while the tree's structure (and so the order in which the solver visits
contacts, which changes results in the last bits) depends on everything the batch did before.
Measured with ``swarm/spread-v0``'s whole vector step, one core, tree vs hash: 1 world x 3 drones
65 vs 67 us, 1 x 10 72.5 vs 72.7 us, 4 x 3 73 vs 77 us, 64 x 16 723 vs 534 us. Chipmunk also keeps
two things from a step to the next that are not in the bodies' position and velocity: each body's
bias velocity (the push that separates overlapping bodies, applied at the start of the next step)
and, per touching pair, a cached arbiter whose impulses warm-start the next solve. Both exist only
for bodies that touched something in the last substep; ``reset_bodies`` clears them for the
bodies it places (``_forget``), so a reset world carries nothing of its past: same positions and
actions, same trajectory, bit for bit. (``place_bodies`` moves bodies within an episode and leaves
them: that memory belongs to the world's own episode.)

State is exposed per body group as float32 arrays of shape ``(B, N)`` in **world-local**
coordinates (the origin is each world's centre): ``x, y, vx, vy, angle, angvel``. x and y are kept
in separate contiguous arrays rather than a trailing axis of length 2, because numpy's broadcast
arithmetic on ``(..., 2)`` arrays ran about ten times slower here; ``group.pos`` stacks them for
code that is not on a hot path.

All reads and writes go through ``pymunk.batch`` in bulk: there is no Python loop over bodies in
``step``. Chipmunk clears forces after every ``Space.step``, so commands are written before each
substep. Contacts are counted from the space's arbiters (``collision_persistence=1`` so that the
cache holds only current contacts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pymunk
import pymunk.batch as pbatch
from pymunk._chipmunk_cffi import lib as _cp

from worlds.dynamics import Dynamics
from worlds.geometry import StaticGeometry

_F = pbatch.BodyFields
_ARBITER_FIELDS = (
    pbatch.ArbiterFields.BODY_A_ID
    | pbatch.ArbiterFields.BODY_B_ID
    | pbatch.ArbiterFields.CONTACT_COUNT
)
# The raw buffers' columns depend on which fields the models need (pymunk.batch lays fields out
# in the order position, angle, velocity, angular velocity, force).
# The batch buffers get a few spare rows: the static body is visited as the last row, and the C
# side reallocates a wrapped buffer that comes within two slots of its end.
_SPARE_ROWS = 4


class _BulkBodies:
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


class PhysicsError(RuntimeError):
    """The simulation produced non-finite state (a blow-up); the batch must be reset."""


@dataclass
class BodyGroup:
    """N bodies per world that share shape, mass and dynamics model.

    State arrays are views ``(B, N)`` into the batch's float32 state, refreshed after every step.
    ``position`` and ``velocity`` are the same state as complex64 ``x + iy`` views, so that 2D
    vector arithmetic is one numpy call per operation (no trailing axis of length 2, which
    numpy broadcasts slowly). ``kinematics`` is the ``(B, N, 4)`` view x, y, vx, vy.
    ``command`` holds the last action given to the dynamics model, ``(B, N, act_dim)``.
    """

    name: str
    n: int
    radius: float
    mass: float
    dynamics: Dynamics
    start: int = 0
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

    @property
    def pos(self) -> np.ndarray:
        """Positions as ``(B, N, 2)``, a copy (not for hot paths)."""
        return np.stack([self.x, self.y], axis=-1)

    @property
    def vel(self) -> np.ndarray:
        """Velocities as ``(B, N, 2)``, a copy (not for hot paths)."""
        return np.stack([self.vx, self.vy], axis=-1)


class WorldBatch:
    """B independent worlds of size ``width x height`` stepped together with a fixed ``dt``.

    Build it by adding static geometry (``geometry``) and body groups (``add_group``) before the
    first ``reset_bodies`` or ``step``; each world gets identical static geometry and the same
    groups. ``damping`` is the fraction of velocity a free body keeps per second (linear drag,
    applied in C by chipmunk). The broadphase is chipmunk's spatial hash with cells of 12 radii of
    the largest body (see the module docstring for why never the tree).
    ``collision_slop`` is the overlap the solver tolerates, in
    metres; ``track_contacts`` fills each group's ``contacts`` and ``static_contacts`` counts
    after every step.
    """

    def __init__(
        self,
        num_worlds: int,
        width: float,
        height: float,
        *,
        dt: float = 0.1,
        substeps: int = 2,
        damping: float = 1.0,
        track_contacts: bool = False,
        collision_slop: float = 0.002,
    ) -> None:
        if num_worlds < 1:
            raise ValueError(f"num_worlds must be >= 1, got {num_worlds}")
        if not (width > 0 and height > 0):
            raise ValueError(f"world size must be positive, got {width} x {height}")
        if dt <= 0 or substeps < 1:
            raise ValueError(f"dt must be > 0 and substeps >= 1, got dt={dt}, substeps={substeps}")
        self.num_worlds = num_worlds
        self.width = float(width)
        self.height = float(height)
        self.dt = float(dt)
        self.substeps = int(substeps)
        self.track_contacts = track_contacts
        self.space = pymunk.Space()
        self.space.damping = float(damping)
        self.space.collision_persistence = 1
        self.space.iterations = 10
        # Chipmunk's default slop (0.1) is a tenth of a unit; our bodies are centimetres wide.
        self.space.collision_slop = float(collision_slop)
        self.geometry = StaticGeometry()
        self.groups: dict[str, BodyGroup] = {}
        self._shapes: list[pymunk.Shape] = []  # one per body, in body-row order
        self._shape_ids: list[int] = []
        self._touching: np.ndarray | None = None
        self._finalized = False
        # World cells on a square grid, far enough apart that no body reaches a neighbour.
        gap = 0.5 * max(width, height)
        columns = math.ceil(math.sqrt(num_worlds))
        index = np.arange(num_worlds)
        self.origin_x = (index % columns) * (width + gap)
        self.origin_y = (index // columns) * (height + gap)

    # ----------------------------------------------------------------------------------- build
    def add_group(
        self,
        name: str,
        n: int,
        *,
        radius: float,
        mass: float = 1.0,
        dynamics: Dynamics,
        elasticity: float = 0.2,
        friction: float = 0.0,
        collision_type: int = 1,
    ) -> BodyGroup:
        """Add ``n`` circular bodies per world, driven by ``dynamics``. Returns the group."""
        if self._finalized:
            raise RuntimeError("add_group after the batch was finalized (first step or reset)")
        if name in self.groups:
            raise ValueError(f"body group {name!r} already exists")
        if n < 1 or radius <= 0 or mass <= 0:
            raise ValueError(f"group {name!r}: need n >= 1, radius > 0, mass > 0")
        start = sum(g.n for g in self.groups.values()) * self.num_worlds
        group = BodyGroup(name, n, float(radius), float(mass), dynamics, start=start)
        # Bodies whose model has no heading cannot turn (an infinite moment of inertia): the
        # numerical torques of contacts would otherwise leave angles of 1e-15 rad that no reset
        # writes back, a memory that changes later contacts in the last bits.
        moment = pymunk.moment_for_circle(mass, 0, radius) if dynamics.needs_angle else math.inf
        space_pointer = self.space._space
        for world in range(self.num_worlds):
            for _ in range(n):
                body = pymunk.Body(mass, moment)
                body.position = (self.origin_x[world], self.origin_y[world])
                shape = pymunk.Circle(body, radius)
                shape.elasticity = elasticity
                shape.friction = friction
                shape.collision_type = collision_type
                # The id chipmunk gives the shape: the broadphase visits shapes in id order, so
                # a shape taken out and put back (``_forget``) must get the same id again.
                self._shape_ids.append(_cp.cpSpaceGetShapeIDCounter(space_pointer))
                self.space.add(body, shape)
                group.bodies.append(body)
                self._shapes.append(shape)
        self.groups[name] = group
        return group

    def _finalize(self) -> None:
        if self._finalized:
            return
        if not self.groups:
            raise RuntimeError("a WorldBatch needs at least one body group")
        # Cells of about a dozen body radii: measured 40% faster than the bounding-box tree
        # for 64 worlds x 16 moving drones (tools/bench/world_layout.py), and history-free.
        # The hash comes before the static geometry, so that walls enter its cells in the order
        # they are added (world by world), not in the order a tree happens to list them.
        largest = max(g.radius for g in self.groups.values())
        statics = self.geometry.shape_count() * self.num_worlds
        cells = 4 * (len(self.space.shapes) + statics) + 1000
        self.space.use_spatial_hash(12 * largest, cells)
        self.geometry.build_into(self.space, self.origin_x, self.origin_y)
        self.num_bodies = m = sum(g.n for g in self.groups.values()) * self.num_worlds
        dynamics = [g.dynamics for g in self.groups.values()]
        self._with_angle = any(d.needs_angle for d in dynamics)
        self._with_velocity_command = any(d.writes_velocity for d in dynamics)
        if self._with_angle:
            self._read_fields = _F.POSITION | _F.ANGLE | _F.VELOCITY | _F.ANGULAR_VELOCITY
            self._read_columns = {"x": 0, "y": 1, "angle": 2, "vx": 3, "vy": 4, "angvel": 5}
        else:
            self._read_fields = _F.POSITION | _F.VELOCITY
            self._read_columns = {"x": 0, "y": 1, "vx": 2, "vy": 3}
        if self._with_velocity_command:
            self._write_fields = _F.VELOCITY | _F.ANGULAR_VELOCITY | _F.FORCE
            self._write_columns = {"vx": 0, "vy": 1, "angvel": 2, "fx": 3, "fy": 4}
        else:
            self._write_fields = _F.FORCE
            self._write_columns = {"fx": 0, "fy": 1}
        rows = m + _SPARE_ROWS
        self._read = np.zeros((rows, len(self._read_columns)), dtype=np.float64)
        self._read_buffer = pbatch.Buffer()
        self._read_buffer.set_float_buf(self._read.reshape(-1))
        self._write = np.zeros((rows, len(self._write_columns)), dtype=np.float64)
        self._write_buffer = pbatch.Buffer()
        self._write_buffer.set_float_buf(self._write.reshape(-1))
        self._get_bodies = _BulkBodies(self.space, self._read_fields, self._read_buffer, False)
        self._set_bodies = _BulkBodies(self.space, self._write_fields, self._write_buffer, True)
        # float32 local state, a row per body with columns x, y, vx, vy (angle, angvel): a step
        # converts the raw read with one subtraction of the world offsets (a single numpy call
        # matters for tiny batches).
        columns = {"x": 0, "y": 1, "vx": 2, "vy": 3}
        if self._with_angle:
            columns.update(angle=4, angvel=5)
            raw = self._read_columns
            self._state_order = [raw[name] for name in columns]
        self._state = np.zeros((m, len(columns)), dtype=np.float32)
        self._offsets = np.zeros((m, len(columns)))
        self._offset_x = self._offsets[:, 0]
        self._offset_y = self._offsets[:, 1]
        body_ids = np.empty(m, dtype=np.uint64)
        for group in self.groups.values():
            rows_slice = slice(group.start, group.start + group.n * self.num_worlds)
            self._offset_x[rows_slice] = np.repeat(self.origin_x, group.n)
            self._offset_y[rows_slice] = np.repeat(self.origin_y, group.n)
            body_ids[rows_slice] = [body.id for body in group.bodies]
            shape = (self.num_worlds, group.n)
            rows = self._state[rows_slice]
            for name in ("x", "y", "vx", "vy", "angle", "angvel"):
                if name in columns:
                    setattr(group, name, rows[:, columns[name]].reshape(shape))
                else:  # models without headings: bodies do not turn
                    setattr(group, name, np.zeros(shape, np.float32))
            group.position = rows[:, 0:2].view(np.complex64).reshape(shape)
            group.velocity = rows[:, 2:4].view(np.complex64).reshape(shape)
            group.kinematics = rows[:, 0:4].reshape(*shape, 4)
            group.command = np.zeros((*shape, group.dynamics.act_dim), dtype=np.float32)
            group.contacts = np.zeros(shape, dtype=np.int32)
            group.static_contacts = np.zeros(shape, dtype=np.int32)
            group.dynamics.bind(group, self)
        self._body_order = np.argsort(body_ids)
        self._sorted_ids = body_ids[self._body_order]
        self._contacts = np.zeros(m + 1, dtype=np.int64)
        self._static_contacts = np.zeros(m + 1, dtype=np.int64)
        self._arbiter_buffer = pbatch.Buffer()
        try:
            self._space_step = pbatch.lib.cpSpaceStep
            self._space_pointer = self.space._space
            self._direct_step = not self.space.threaded
        except AttributeError:  # pragma: no cover - other pymunk internals
            self._direct_step = False
        self._finalized = True
        self._check_layout(body_ids)
        self._pull()

    def _check_layout(self, body_ids: np.ndarray) -> None:
        probe = pbatch.Buffer()
        pbatch.get_space_bodies(self.space, pbatch.BodyFields.BODY_ID, probe)
        seen = np.frombuffer(probe.int_buf(), dtype=np.uintp)[: self.num_bodies]
        if not np.array_equal(seen.astype(np.uint64), body_ids):
            raise RuntimeError("pymunk body order differs from insertion order")

    # ----------------------------------------------------------------------------------- state
    def _read_raw(self) -> None:
        self._get_bodies()

    def _pull(self) -> None:
        """Read every body in bulk and refresh the float32 local state."""
        self._read_raw()
        m = self.num_bodies
        state = self._state
        read = self._read[:m, self._state_order] if self._with_angle else self._read[:m]
        np.subtract(read, self._offsets, out=state, casting="same_kind")
        # One reduction instead of isfinite(...).all(): NaN and inf propagate into the sum.
        if not math.isfinite(np.add.reduce(state, axis=None)):
            raise PhysicsError(
                "non-finite body state after a physics step (a blow-up: forces or speeds "
                "too large for dt); reset the worlds"
            )

    def group_rows(self, group: BodyGroup) -> slice:
        return slice(group.start, group.start + group.n * self.num_worlds)

    def read_view(self, group: BodyGroup, column: str) -> np.ndarray | None:
        """A float64 ``(B, N)`` view of the raw read buffer (current substep), for dynamics.

        Columns: x, y, vx, vy, and angle, angvel when some model needs them (else None).
        """
        if column not in self._read_columns:
            return None
        rows = self.group_rows(group)
        return self._read[rows, self._read_columns[column]].reshape(self.num_worlds, group.n)

    def write_view(self, group: BodyGroup, column: str) -> np.ndarray | None:
        """A float64 ``(B, N)`` view of the command buffer: fx, fy, and vx, vy, angvel when
        some model commands velocities (else None)."""
        if column not in self._write_columns:
            return None
        rows = self.group_rows(group)
        return self._write[rows, self._write_columns[column]].reshape(self.num_worlds, group.n)

    def complex_view(self, group: BodyGroup, buffer: str, first: str) -> np.ndarray:
        """A complex128 ``(B, N)`` view of two adjacent float64 columns (``vx``+``vy`` of the
        read buffer, or ``fx``+``fy`` of the command buffer): 2D vector arithmetic in one numpy
        call per operation, which is what keeps a one-world step cheap."""
        columns, array = {
            "read": (self._read_columns, self._read),
            "write": (self._write_columns, self._write),
        }[buffer]
        column = columns[first]
        pair = array[self.group_rows(group), column : column + 2]
        return pair.view(np.complex128).reshape(self.num_worlds, group.n)

    def reset_bodies(
        self,
        group: str,
        env_ids: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        *,
        angle: np.ndarray | float = 0.0,
        vx: np.ndarray | float = 0.0,
        vy: np.ndarray | float = 0.0,
    ) -> None:
        """Place the group's bodies of worlds ``env_ids`` at local ``(x, y)``, arrays ``(E, N)``."""
        self._finalize()
        body_group = self.groups[group]
        env_ids = np.asarray(env_ids, dtype=np.intp)
        rows = (
            body_group.start + env_ids[:, None] * body_group.n + np.arange(body_group.n)
        ).ravel()
        shape = (env_ids.size, body_group.n)
        values = {
            "x": np.broadcast_to(x, shape).ravel() + self._offset_x[rows],
            "y": np.broadcast_to(y, shape).ravel() + self._offset_y[rows],
            "angle": np.broadcast_to(angle, shape).ravel(),
            "vx": np.broadcast_to(vx, shape).ravel(),
            "vy": np.broadcast_to(vy, shape).ravel(),
        }
        if not all(np.isfinite(v).all() for v in values.values()):
            raise ValueError(f"reset_bodies({group!r}): non-finite position or velocity")
        self._forget(rows)
        if rows.size <= 16:
            # For a handful of bodies, per-body writes beat a bulk write of the whole space.
            for i, row in enumerate(rows.tolist()):
                body = body_group.bodies[row - body_group.start]
                body.position = (values["x"][i], values["y"][i])
                body.angle = float(values["angle"][i])
                body.velocity = (values["vx"][i], values["vy"][i])
                body.angular_velocity = 0.0
        else:
            for name, column in self._read_columns.items():
                self._read[rows, column] = values.get(name, 0.0)
            buffer = pbatch.Buffer()
            buffer.set_float_buf(self._read.reshape(-1))
            pbatch.set_space_bodies(self.space, self._read_fields, buffer)
        body_group.dynamics.reset(env_ids)
        self._pull()

    def place_bodies(
        self,
        group: str,
        env_ids: np.ndarray,
        body_ids: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        *,
        vx: np.ndarray | float = 0.0,
        vy: np.ndarray | float = 0.0,
    ) -> None:
        """Place single bodies: body ``body_ids[k]`` of world ``env_ids[k]`` at local
        ``(x[k], y[k])`` with velocity ``(vx[k], vy[k])``, arrays ``(K,)``; the others stay.

        For bodies that leave the play (parked out of the way) or teleport mid-episode; unlike
        ``reset_bodies`` it leaves the dynamics models' per-world state alone.
        """
        self._finalize()
        body_group = self.groups[group]
        env_ids = np.asarray(env_ids, dtype=np.intp).ravel()
        body_ids = np.asarray(body_ids, dtype=np.intp).ravel()
        if env_ids.shape != body_ids.shape:
            raise ValueError("place_bodies: env_ids and body_ids must have the same length")
        if env_ids.size == 0:
            return
        rows = body_group.start + env_ids * body_group.n + body_ids
        shape = rows.shape
        values = {
            "x": np.broadcast_to(x, shape).ravel() + self._offset_x[rows],
            "y": np.broadcast_to(y, shape).ravel() + self._offset_y[rows],
            "vx": np.broadcast_to(vx, shape).ravel(),
            "vy": np.broadcast_to(vy, shape).ravel(),
        }
        if not all(np.isfinite(v).all() for v in values.values()):
            raise ValueError(f"place_bodies({group!r}): non-finite position or velocity")
        if rows.size <= 16:
            # For a handful of bodies, per-body writes beat a bulk write of the whole space.
            for i, row in enumerate(rows.tolist()):
                body = body_group.bodies[row - body_group.start]
                body.position = (values["x"][i], values["y"][i])
                body.velocity = (values["vx"][i], values["vy"][i])
                body.angular_velocity = 0.0
        else:
            for name in ("x", "y", "vx", "vy"):
                self._read[rows, self._read_columns[name]] = values[name]
            buffer = pbatch.Buffer()
            buffer.set_float_buf(self._read.reshape(-1))
            pbatch.set_space_bodies(self.space, self._read_fields, buffer)
        self._pull()

    def park_bodies(self, group: str, env_ids: np.ndarray, body_ids: np.ndarray) -> None:
        """Move bodies that left the play (a captured evader, a dropped drone) out of the way:
        body ``body_ids[k]`` of world ``env_ids[k]`` goes to a spot of its own below the whole
        grid of worlds, at rest. Spots are four radii apart, so parked bodies never touch each
        other (nor any other world's), and farther from every arena than any two bodies inside
        one. A body's spot, in its world's coordinates, does not depend on the batch size."""
        self._finalize()
        env_ids = np.asarray(env_ids, dtype=np.intp).ravel()
        body_ids = np.asarray(body_ids, dtype=np.intp).ravel()
        per_world = sum(g.n for g in self.groups.values())
        before = 0
        for name, other in self.groups.items():
            if name == group:
                break
            before += other.n
        spacing = 4 * max(g.radius for g in self.groups.values())
        spot = (env_ids * per_world + before + body_ids) * spacing
        size = max(self.width, self.height)
        self.place_bodies(
            group,
            env_ids,
            body_ids,
            spot - self.origin_x[env_ids],
            -(2 * size + self.height) - self.origin_y[env_ids],
        )

    def _forget(self, rows: np.ndarray) -> None:
        """Clear what chipmunk keeps of bodies ``rows``' last step besides their state: the bias
        velocity that pushes overlapping bodies apart at the start of the next step, and the
        cached arbiters (contact impulses that warm-start the next solve) of every pair they are
        in. Both exist only for bodies that touched something in the last substep, so only
        those are visited: their shape is taken out of the space (which drops its arbiters) and
        put back under its old id, and their position is integrated over a zero time step
        (which zeroes the bias)."""
        touching = self._touching_rows()
        forget = rows[touching[rows]]
        if forget.size == 0:
            return
        touching[forget] = False  # their arbiters are gone now
        space = self.space._space
        counter = _cp.cpSpaceGetShapeIDCounter(space)
        for row in forget.tolist():
            shape = self._shapes[row]._shape
            _cp.cpSpaceRemoveShape(space, shape)
            _cp.cpSpaceSetShapeIDCounter(space, self._shape_ids[row])
            _cp.cpSpaceAddShape(space, shape)
            _cp.cpBodyUpdatePosition(self._shapes[row].body._body, 0.0)
        _cp.cpSpaceSetShapeIDCounter(space, counter)

    def _arbiter_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Body rows ``(K, 2)`` of the space's cached arbiters with contacts (row ``m`` stands
        for static geometry), and whether each side is a body of the batch ``(K, 2)``."""
        buffer = self._arbiter_buffer
        buffer.clear()
        pbatch.get_space_arbiters(self.space, _ARBITER_FIELDS, buffer)
        raw = np.frombuffer(buffer.int_buf(), dtype=np.uintp).reshape(-1, 3)
        raw = raw[raw[:, 2] > 0]
        m = self.num_bodies
        # Static geometry belongs to space.static_body, which is not in the sorted id table:
        # searchsorted maps it to some index, so check the match and send misses to slot m.
        ids = raw[:, :2].astype(np.uint64)
        position = np.minimum(np.searchsorted(self._sorted_ids, ids), m - 1)
        found = self._sorted_ids[position] == ids
        return np.where(found, self._body_order[position], m), found

    def _touching_rows(self) -> np.ndarray:
        """Whether each body row touched anything in the last substep: bool ``(m + 1,)`` (row
        ``m`` is static geometry), read once per step (resets of several groups share it)."""
        if self._touching is None:
            rows, _ = self._arbiter_rows()
            self._touching = np.zeros(self.num_bodies + 1, bool)
            self._touching[rows.ravel()] = True
        return self._touching

    # ------------------------------------------------------------------------------------ step
    def step(self) -> None:
        """Advance every world by ``dt`` in ``substeps`` substeps, driven by each group's
        ``command`` (set it before calling). Refreshes state and contact counts."""
        self._finalize()
        self._touching = None
        sub_dt = self.dt / self.substeps
        for substep in range(self.substeps):
            if substep:
                self._read_raw()
            for group in self.groups.values():
                group.dynamics.control(sub_dt)
            self._set_bodies()
            self._step_space(sub_dt)
        self._pull()
        for group in self.groups.values():
            group.dynamics.after_step()
        if self.track_contacts:
            self._count_contacts()

    def _step_space(self, dt: float) -> None:
        """``Space.step`` without its Python bookkeeping when there is none to do (no pending
        adds, removes or post-step callbacks; the batch adds nothing after it is built)."""
        space = self.space
        if self._direct_step and not (
            space._add_later
            or space._remove_later
            or space._post_step_callbacks
            or space._bodies_to_check
        ):
            self._space_step(self._space_pointer, dt)
        else:
            space.step(dt)  # the first step also checks every body's mass and moment

    def _count_contacts(self) -> None:
        rows, found = self._arbiter_rows()
        m = self.num_bodies
        both = found.all(axis=1)
        self._contacts[:] = np.bincount(rows[both].ravel(), minlength=m + 1)
        one = found.any(axis=1) & ~both
        self._static_contacts[:] = np.bincount(rows[one].ravel(), minlength=m + 1)
        for group in self.groups.values():
            rows_slice = self.group_rows(group)
            group.contacts[...] = self._contacts[rows_slice].reshape(group.contacts.shape)
            group.static_contacts[...] = self._static_contacts[rows_slice].reshape(
                group.contacts.shape
            )

    def local_bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, xmax, ymin, ymax)`` of one world in local coordinates."""
        return (-self.width / 2, self.width / 2, -self.height / 2, self.height / 2)
