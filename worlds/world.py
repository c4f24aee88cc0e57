"""A batch of B independent 2D physics worlds on pymunk, with state in and out as arrays.

Layout: up to ``worlds_per_space`` (64) worlds live in **one** ``pymunk.Space``, kept apart by a
spatial offset (a grid of world cells separated by a gap wider than any body), with chipmunk's
spatial-hash broadphase; larger batches are split into such spaces (``worlds.shards``: a space
slows per body as it grows). One space with chipmunk's spatial hash measured fastest
(``python tools/bench/world_layout.py``, one core, 64 x 16 / 256 x 4 walled point masses, 2
substeps): 497 / 464 us per step, against 728 / 791 us with the bounding-box tree (nearly every
small, fast body leaves its tree leaf's box each step) and 1141 / 3372 us with a space per world
(fixed costs per call).

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
bodies it places (``contacts.forget``, for bodies of any shape), so a reset world carries nothing
of its past: same positions and actions, same trajectory, bit for bit (and so for the joints of
ground friction: ``worlds.friction``). ``place_bodies`` moves bodies within an episode and leaves
that memory, which belongs to the world's own episode (``revive=True`` clears it: a new agent).

State is exposed per body group as float32 arrays ``(B, N)`` in **world-local** coordinates (the
origin is each world's centre): ``x, y, vx, vy, angle, angvel``, x and y in separate arrays (numpy
ran ten times slower on ``(..., 2)`` arrays). Reads and writes go through ``pymunk.batch`` in bulk
(``bodies.BulkBodies``): no Python loop over bodies in ``step``; commands are written before each
substep (chipmunk clears forces after every ``Space.step``). Contacts are counted from the
space's arbiters (``worlds.contacts``).

Bodies are circles, boxes or convex polygons (``worlds.shapes``), with ground friction if given
(``worlds.friction``). Who collides with whom is the world's: ``set_collision`` between groups,
modes and fixtures (``worlds.switches``) or ``"static"`` geometry. ``park_bodies`` takes bodies
out of play: the step gives them no command until a reset (or a revive).
"""

from __future__ import annotations

import math

import numpy as np
import pymunk
import pymunk.batch as pbatch

from worlds.bodies import BodyGroup, build_bodies, check_body_order
from worlds.contacts import STATIC, CollisionRules, ContactTable, count_contacts, forget
from worlds.dynamics import Dynamics
from worlds.friction import GroundFriction, GroundJoints
from worlds.geometry import StaticGeometry
from worlds.kernels import warm_up
from worlds.kernels.bodies import refresh_state
from worlds.placement import (
    body_rows,
    body_values,
    compiled_tables,
    park_compiled,
    park_values,
    reset_groups,
    write_rows,
)
from worlds.shapes import Circle, Shape
from worlds.shards import SPARE_ROWS, WORLDS_PER_SPACE, make_shards, split_rows, world_origins
from worlds.switches import CollisionSwitches, apply_filters

_F = pbatch.BodyFields
_HASH_CELL_RADII, _HASH_CELLS_PER_SHAPE = 12, 4  # hash cells in radii of the largest body


class PhysicsError(RuntimeError):
    """The simulation produced non-finite state (a blow-up); the batch must be reset."""


class WorldBatch(CollisionSwitches):
    """B independent worlds of size ``width x height`` stepped together with a fixed ``dt``.

    Add static geometry (``geometry``), body groups (``add_group``) and collision rules
    (``set_collision``) before the first ``reset_bodies`` or ``step``; every world gets the same.
    ``damping``: the fraction of velocity a free body keeps per second (chipmunk's drag). The
    broadphase is chipmunk's spatial hash (never the tree: see the module docstring) with cells
    of 12 bounding radii of the largest body, or ``hash_cell`` metres. ``collision_slop``: the
    overlap the solver tolerates, metres; ``track_contacts`` fills each group's ``contacts`` and
    ``static_contacts`` after every step. A space holds ``worlds_per_space`` worlds.
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
        worlds_per_space: int = WORLDS_PER_SPACE,
        hash_cell: float | None = None,
    ) -> None:
        if num_worlds < 1:
            raise ValueError(f"num_worlds must be >= 1, got {num_worlds}")
        if not (width > 0 and height > 0):
            raise ValueError(f"world size must be positive, got {width} x {height}")
        if dt <= 0 or substeps < 1:
            raise ValueError(f"dt must be > 0 and substeps >= 1, got dt={dt}, substeps={substeps}")
        warm_up()
        self.num_worlds = num_worlds
        self.width = float(width)
        self.height = float(height)
        self.dt = float(dt)
        self.substeps = int(substeps)
        self.track_contacts = track_contacts
        # Chipmunk's default slop (0.1) is a tenth of a unit; our bodies are centimetres.
        settings = {"damping": float(damping), "collision_persistence": 1, "iterations": 10,
                    "collision_slop": float(collision_slop)}  # fmt: skip
        if hash_cell is not None and not (math.isfinite(hash_cell) and hash_cell > 0):
            raise ValueError(f"hash_cell must be a finite number > 0, got {hash_cell}")
        self._hash_cell = hash_cell
        self.shards = make_shards(num_worlds, worlds_per_space, settings)
        self.space = self.shards[0].space  # the settings every shard's space shares
        self.geometry = StaticGeometry()
        self.groups: dict[str, BodyGroup] = {}
        self.collision_rules, self.ground = CollisionRules(), GroundJoints()
        self.fixtures, self.modes, self.mode_tables = {}, {}, {}  # worlds.switches
        self._shapes: list[pymunk.Shape] = []  # one per body, in body-row order
        self._shape_ids: list[int] = []
        self._any_parked = self._finalized = self._contacts_counted = False
        self._touching: np.ndarray | None = None
        self.origin_x, self.origin_y = world_origins(num_worlds, worlds_per_space, width, height)

    # ----------------------------------------------------------------------------------- build
    def add_group(
        self,
        name: str,
        n: int,
        *,
        shape: Shape | None = None,
        radius: float | None = None,
        mass: float = 1.0,
        dynamics: Dynamics,
        elasticity: float = 0.2,
        friction: float = 0.0,
        collision_type: int = 1,
        ground_friction: GroundFriction | None = None,
    ) -> BodyGroup:
        """Add ``n`` bodies per world of ``shape`` (``worlds.shapes``: ``Circle``, ``Box``,
        ``Polygon``), driven by ``dynamics``, and return the group. ``radius=r`` is the short
        form of ``shape=Circle(r)``; give exactly one of the two. Bodies whose dynamics has a
        heading get pymunk's moment of inertia for their shape; the others never turn.
        ``ground_friction``: the Coulomb limits of their friction with the floor."""
        if self._finalized:
            raise RuntimeError("add_group after the batch was finalized (first step or reset)")
        if name in self.groups or name == STATIC:
            raise ValueError(f"body group {name!r} already exists (or is reserved)")
        owner = f"group {name!r}"
        if (shape is None) == (radius is None):
            raise ValueError(f"{owner}: give exactly one of shape= and radius=")
        shape = Circle(radius) if shape is None else shape
        if not isinstance(shape, Shape):
            raise ValueError(f"{owner}: shape must be a worlds.shapes Circle, Box or Polygon")
        shape.check(owner)
        if not (isinstance(n, int | np.integer) and n >= 1):
            raise ValueError(f"{owner}: n must be an integer >= 1, got {n!r}")
        if not (math.isfinite(mass) and mass > 0):
            raise ValueError(f"{owner}: mass must be a finite number > 0, got {mass!r}")
        self.ground.add(name, ground_friction)
        start = sum(g.n for g in self.groups.values()) * self.num_worlds
        group = BodyGroup(
            name, int(n), shape.bounding_radius, float(mass), dynamics, start=start, shape=shape
        )
        material = {
            "elasticity": elasticity,
            "friction": friction,
            "collision_type": collision_type,
        }
        for shard in self.shards:  # group by group, shard by shard: the batch's body order
            worlds = slice(shard.first, shard.last)
            origins = (self.origin_x[worlds], self.origin_y[worlds])
            self._shapes += build_bodies(shard.space, group, origins, material, self._shape_ids)
        self.groups[name] = group
        return group

    def set_collision(self, group_a: str, group_b: str, collide: bool) -> None:
        """Say whether the bodies of ``group_a`` collide with those of ``group_b`` (the same name
        twice: with each other; ``"static"``: with the static geometry). Everything collides
        unless told otherwise. Call it after both groups are added and before the first reset
        or step; rules use one pymunk ``ShapeFilter`` category per group, so at most 31 groups.
        Bodies that pass through walls can leave their world (and reach a neighbouring one)."""
        if self._finalized:
            raise RuntimeError("set_collision after the batch was finalized (first step or reset)")
        names = [*self.groups, *self.modes, *self.fixtures, STATIC]
        for field, value in (("group_a", group_a), ("group_b", group_b)):
            if value not in names:
                known = ", ".join(map(repr, names))
                raise ValueError(f"set_collision: {field} {value!r} is not one of {known}")
        if group_a == group_b == STATIC:
            raise ValueError("set_collision: group_a and group_b cannot both be 'static'")
        self.collision_rules.set(group_a, group_b, bool(collide))

    def _finalize(self) -> None:
        if self._finalized:
            return
        if not self.groups:
            raise RuntimeError("a WorldBatch needs at least one body group")
        names = [*self.groups, *self.modes, *self.fixtures]
        group_filters, static_filter = self.collision_rules.filters(names)
        apply_filters(self, group_filters)
        if self.collision_rules.apart:
            for group in self.groups.values():
                rows = self.group_rows(group)
                for shape in self._shapes[rows]:
                    shape.filter = group_filters[group.name]
        # Cells of about a dozen body radii: measured 40% faster than the bounding-box tree
        # for 64 worlds x 16 moving drones (tools/bench/world_layout.py), and history-free.
        # The hash comes before the static geometry, so that walls enter its cells in the order
        # they are added (world by world), not in the order a tree happens to list them.
        largest = max(g.radius for g in self.groups.values())
        for shard in self.shards:
            fixed = sum(f.count for f in self.fixtures.values())
            statics = (self.geometry.shape_count() + fixed) * shard.worlds
            cells = _HASH_CELLS_PER_SHAPE * (len(shard.space.shapes) + statics) + 1000
            shard.space.use_spatial_hash(self._hash_cell or _HASH_CELL_RADII * largest, cells)
            worlds = slice(shard.first, shard.last)
            origins = (self.origin_x[worlds], self.origin_y[worlds])
            self.geometry.build_into(shard.space, *origins, static_filter)
            for fixtures in self.fixtures.values():
                fixtures.build(shard.space, *origins)
        self.num_bodies = sum(g.n for g in self.groups.values()) * self.num_worlds
        self._make_buffers()
        body_ids = self._bind_groups()
        self._adjust_writes = bool(self._velocity_copies)
        self._contact_tables = []
        for shard in self.shards:
            fields = (self._read_fields, self._write_fields)
            shard.bind(self.groups.values(), self._read, self._write, fields, len(self.shards) == 1)
            table = ContactTable(shard.space, body_ids[shard.rows], shard.rows, self.num_bodies)
            self._contact_tables.append(table)
            check_body_order(shard.space, body_ids[shard.rows])
        self.ground.build(self)
        self._finalized = True
        self._pull()

    def _make_buffers(self) -> None:
        """The raw float64 read and write buffers, with the columns the models need (pymunk.batch
        lays fields out in the order position, angle, velocity, angular velocity, force)."""
        dynamics = [g.dynamics for g in self.groups.values()]
        # A box or polygon's angle matters to its contacts, so it is read even without heading.
        turned = any(not isinstance(g.shape, Circle) for g in self.groups.values())
        self._with_angle = turned or any(d.needs_angle for d in dynamics)
        self._with_velocity_command = any(d.writes_velocity for d in dynamics)
        if self._with_angle:
            self._read_fields = _F.POSITION | _F.ANGLE | _F.VELOCITY | _F.ANGULAR_VELOCITY
            self._read_columns = {"x": 0, "y": 1, "angle": 2, "vx": 3, "vy": 4, "angvel": 5}
        else:
            self._read_fields = _F.POSITION | _F.VELOCITY
            self._read_columns = {"x": 0, "y": 1, "vx": 2, "vy": 3}
        if self._with_velocity_command:
            self._write_fields = _F.VELOCITY | _F.ANGULAR_VELOCITY | _F.FORCE | _F.TORQUE
            self._write_columns = {"vx": 0, "vy": 1, "angvel": 2, "fx": 3, "fy": 4, "torque": 5}
        else:
            self._write_fields = _F.FORCE
            self._write_columns = {"fx": 0, "fy": 1}
        rows = self.num_bodies + SPARE_ROWS  # the shards read and write these (worlds.shards)
        self._read = np.zeros((rows, len(self._read_columns)), dtype=np.float64)
        self._write = np.zeros((rows, len(self._write_columns)), dtype=np.float64)

    def _bind_groups(self) -> np.ndarray:
        """Give each group its state views and bind its dynamics; return the body ids by row."""
        m = self.num_bodies
        # float32 local state, a row per body with columns x, y, vx, vy (angle, angvel): a step
        # converts the raw read with one subtraction of the world offsets (a single numpy call
        # matters for tiny batches).
        columns = {"x": 0, "y": 1, "vx": 2, "vy": 3}
        if self._with_angle:
            columns.update(angle=4, angvel=5)
        self._state_order = np.array([self._read_columns[name] for name in columns], np.intp)
        self._state = np.zeros((m, len(columns)), dtype=np.float32)
        self._offsets = np.zeros((m, len(columns)))
        self._offset_x = self._offsets[:, 0]
        self._offset_y = self._offsets[:, 1]
        self._parked = np.zeros(m, dtype=bool)
        self._parked_rows = np.zeros(0, dtype=np.intp)
        self._velocity_copies = []
        body_ids = np.empty(m, dtype=np.uint64)
        for group in self.groups.values():
            rows_slice = self.group_rows(group)
            self._offset_x[rows_slice] = np.repeat(self.origin_x, group.n)
            self._offset_y[rows_slice] = np.repeat(self.origin_y, group.n)
            body_ids[rows_slice] = [body.id for body in group.bodies]
            group.attach_state(self._state[rows_slice], columns, self._parked[rows_slice])
            if self._with_velocity_command and not group.dynamics.writes_velocity:
                self._velocity_copies += self._velocity_passthrough(rows_slice)
            group.dynamics.bind(group, self)
        return body_ids

    def _velocity_passthrough(self, rows: slice) -> list[tuple[np.ndarray, np.ndarray | float]]:
        """Force-driven rows carry their velocity where some model commands velocities."""
        read, write = self._read_columns, self._write
        copies = [(write[rows, 0:2], self._read[rows, read["vx"] : read["vx"] + 2])]
        if "angvel" in read:
            copies.append((write[rows, 2], self._read[rows, read["angvel"]]))
        return copies

    # ----------------------------------------------------------------------------------- state
    def _read_raw(self) -> None:
        for shard in self.shards:
            shard.get()

    def _set_bodies(self) -> None:
        for shard in self.shards:
            shard.set()

    def _put_bodies(self, rows: np.ndarray) -> None:
        """Write the read buffer back to the bodies of the shards that hold ``rows``."""
        for shard, _ in split_rows(self.shards, self.groups.values(), rows):
            shard.put()

    def _pull(self, read: bool = True) -> None:
        """Read every body in bulk (unless just read) and refresh the float32 local state."""
        if read:
            self._read_raw()
        if not refresh_state(self._read, self._state_order, self._offsets, self._state):
            raise PhysicsError(
                "non-finite body state after a physics step (a blow-up: forces or speeds "
                "too large for dt); reset the worlds"
            )

    def group_rows(self, group: BodyGroup) -> slice:
        """The group's rows in the batch's body order (world by world, body by body)."""
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
        """A float64 ``(B, N)`` view of the command buffer: fx, fy, and vx, vy, angvel, torque
        when some model commands velocities (else None)."""
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
        group: str | tuple[str, ...],
        env_ids: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        *,
        angle: np.ndarray | float = 0.0,
        vx: np.ndarray | float = 0.0,
        vy: np.ndarray | float = 0.0,
    ) -> None:
        """Place the group's bodies of worlds ``env_ids`` at local ``(x, y)``, arrays ``(E, N)``,
        with heading ``angle`` and velocity ``(vx, vy)``; they forget their past contacts (their
        counts read 0 until the next step) and are no longer parked, and the group's dynamics
        resets those worlds. Several groups at once: ``group`` a tuple of names, the arrays
        ``(E, N1 + N2 + ...)`` with the groups' columns side by side (the same as one call per
        group, for the cost of one)."""
        self._finalize()
        names = (group,) if isinstance(group, str) else tuple(group)
        values = {"x": x, "y": y, "angle": angle, "vx": vx, "vy": vy}
        reset_groups(self, names, f"reset_bodies({group!r})", env_ids, values)

    def place_bodies(self, group: str, env_ids: np.ndarray, body_ids: np.ndarray, x: np.ndarray,
                     y: np.ndarray, *, angle: np.ndarray | None = None,
                     vx: np.ndarray | float = 0.0, vy: np.ndarray | float = 0.0,
                     revive: bool = False) -> None:  # fmt: skip
        """Place single bodies: body ``body_ids[k]`` of world ``env_ids[k]`` at local
        ``(x[k], y[k])`` with velocity ``(vx[k], vy[k])`` (and heading ``angle[k]``), arrays
        ``(K,)``; the others stay. For bodies that teleport mid-episode: it leaves the dynamics
        models' state alone, and unless ``revive`` whether they are parked and their contacts;
        with ``revive`` (a new agent in a vacant slot) they forget their contacts and are no
        longer parked."""
        self._finalize()
        body_group = self.groups[group]
        caller = f"place_bodies({group!r})"
        rows = body_rows(self, body_group, caller, env_ids, body_ids)
        if rows.size == 0:
            return
        turn = {} if angle is None else {"angle": angle}
        values = body_values(self, caller, rows, x=x, y=y, vx=vx, vy=vy, **turn)
        if revive:
            self._forget(rows)
            self.ground.forget(self, rows)
        write_rows(self, rows, values)
        if revive:
            if self._any_parked:
                self._set_parked(rows, False)
            local = rows - body_group.start
            body_group.contacts.flat[local] = body_group.static_contacts.flat[local] = 0

    def park_bodies(self, group: str, env_ids: np.ndarray, body_ids: np.ndarray) -> None:
        """Move bodies that left the play (a captured evader, a dropped drone) out of the way:
        body ``body_ids[k]`` of world ``env_ids[k]`` goes to a spot of its own below the whole
        grid of worlds, at rest, and is marked in the group's ``parked``: the world applies no
        command to it (it stays exactly at its spot) until ``reset_bodies`` places it again.
        Spots are four bounding radii apart, so parked bodies never touch each other (nor any
        other world's), and farther from every arena than any two bodies inside one."""
        self._finalize()
        caller = f"park_bodies({group!r})"
        if park_compiled(self, group, caller, env_ids, body_ids):
            return
        rows = body_rows(self, self.groups[group], caller, np.ravel(env_ids), body_ids)
        write_rows(self, rows, park_values(self, group, rows))
        self._set_parked(rows, True)

    def _set_parked(self, rows: np.ndarray, parked: bool) -> None:
        """Mark body ``rows`` parked or not, and refresh the rows the step zeroes (rare: on
        park and on resets while something is parked, never in the step)."""
        self._parked[rows] = parked
        self._parked_rows = np.flatnonzero(self._parked)
        self._any_parked = self._parked_rows.size > 0
        self._adjust_writes = self._any_parked or bool(self._velocity_copies)

    def _forget(self, rows: np.ndarray) -> None:
        """Clear chipmunk's memory of body ``rows``' last contacts (``contacts.forget``)."""
        touching = self._touching_rows()
        tables = compiled_tables(self)
        for shard, shard_rows in split_rows(self.shards, self.groups.values(), rows):
            forget(shard.space, self._shapes, self._shape_ids, shard_rows, touching, tables)

    def _arbiter_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Body rows ``(K, 2)`` of the spaces' cached arbiters with contacts (row ``m`` stands
        for static geometry), and whether each side is a body of the batch ``(K, 2)``."""
        parts = [table.arbiter_rows() for table in self._contact_tables]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _touching_rows(self) -> np.ndarray:
        """Whether each body row touched anything in the last substep: bool ``(m + 1,)`` (row
        ``m`` is static geometry), read once per step (resets of several groups share it)."""
        if self._touching is None:
            self._touching = ContactTable.touching_of(self._contact_tables)
        return self._touching

    # ------------------------------------------------------------------------------------ step
    def step(self) -> None:
        """Advance every world by ``dt`` in ``substeps`` substeps, driven by each group's
        ``command`` (set it before calling); parked bodies get no command. Refreshes state and
        contact counts."""
        self._finalize()
        self._touching = None
        for table in self._contact_tables:
            table.touching = None
        sub_dt = self.dt / self.substeps
        models = [group.dynamics for group in self.groups.values()]
        for _ in range(self.substeps):
            for model in models:
                model.control(sub_dt)
            if self._adjust_writes:  # one check per substep while there is nothing to adjust
                self._adjust_commands()
            for shard in self.shards:  # write, step and read a space while it is in cache
                shard.set_step_get(sub_dt)
        self._pull(read=False)
        for group in self.groups.values():
            group.dynamics.after_step()
        if self.track_contacts:
            self._count_contacts()

    def _adjust_commands(self) -> None:
        """After the models' control: force-driven groups keep their velocity where velocities
        are written (``_velocity_passthrough``), and parked bodies get no command at all."""
        for target, source in self._velocity_copies:
            np.copyto(target, source)
        if self._any_parked:
            self._write[self._parked_rows] = 0.0

    def _count_contacts(self) -> None:
        self._contacts_counted = True  # until then every count is zero (resets skip them)
        contacts, static_contacts = count_contacts(self._contact_tables)
        for group in self.groups.values():
            rows = self.group_rows(group)
            group.contacts[...] = contacts[rows].reshape(group.contacts.shape)
            group.static_contacts[...] = static_contacts[rows].reshape(group.contacts.shape)

    def local_bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, xmax, ymin, ymax)`` of one world in local coordinates."""
        return (-self.width / 2, self.width / 2, -self.height / 2, self.height / 2)
