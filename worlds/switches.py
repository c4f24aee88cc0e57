"""Collision switches: fixtures that come and go, and bodies that change whom they collide with.

Two things a warehouse needs and a world of fixed collision rules cannot give:

- **Fixtures** (``WorldBatch.add_fixtures``): a set of K static boxes at the same local places in
  every world (the slots of a shelf grid), each switched on or off per world
  (``set_fixtures``). A fixture that is on collides as its set's collision rules say; one that
  is off collides with nothing. Fixtures are shapes of the space's static body: they cost nothing
  per step (chipmunk never moves or re-hashes static shapes), and switching one is a change of its
  shape filter, a few microseconds, for the fixtures that change only.
- **Collision modes** (``WorldBatch.add_mode``): a group's bodies can switch, one by one, to a
  named mode with collision rules of its own (``set_mode``): a robot that lifts a shelf
  (mode ``"robot.loaded"``) collides with the shelves it drove under before.

Both are names in ``set_collision`` like body groups (one ``ShapeFilter`` category bit each, 31 in
all) and collide with everything unless told otherwise. A fixture set's name and a mode's name
(``"<group>.<mode>"``) share the namespace of the groups.

History: switching changes only shape filters (no body, shape id or broadphase order changes), so
a reset world carries nothing of its past as long as the scenario sets its fixtures again in
``reset`` (``set_fixtures`` for those worlds); ``reset_bodies`` puts the bodies it places back in
their group's own mode. Chipmunk keeps a pair's cached arbiter only for the step after its last
contact, and it rejects a pair by filter before it touches the arbiter, so a switch takes effect
at the next substep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pymunk
from pymunk._chipmunk import ffi as _ffi
from pymunk._chipmunk import lib as _cp

if TYPE_CHECKING:
    from worlds.bodies import BodyGroup
    from worlds.world import WorldBatch

NOTHING = pymunk.ShapeFilter(categories=0, mask=0)
"""The filter of a fixture that is off: it collides with nothing."""
_set_filter = _cp.cpShapeSetFilter  # chipmunk's own call: pymunk's property costs ~1 us more


def c_filter(shape_filter: pymunk.ShapeFilter):
    """``shape_filter`` as chipmunk's struct, made once (the switches pass it by value)."""
    return _ffi.new("cpShapeFilter *", tuple(shape_filter))[0]


_C_NOTHING = c_filter(NOTHING)


@dataclass
class FixtureSet:
    """K static boxes per world: ``centers`` ``(K, 2)`` local, all of ``size = (w, h)``.

    ``on`` ``(B, K)`` says which are switched on in each world; ``shapes[b][k]`` is world b's
    pymunk shape of box k."""

    name: str
    centers: np.ndarray
    size: tuple[float, float]
    on: np.ndarray = field(default=None, repr=False)
    shapes: list[list[pymunk.Poly]] = field(default_factory=list, repr=False)
    filter_on: pymunk.ShapeFilter = field(default_factory=pymunk.ShapeFilter, repr=False)
    pointers: list[list] = field(default_factory=list, repr=False)  # chipmunk's shapes
    c_on: object = field(default=None, repr=False)

    @property
    def count(self) -> int:
        return len(self.centers)

    def build(self, space: pymunk.Space, origin_x: np.ndarray, origin_y: np.ndarray) -> None:
        """Add every world's boxes to ``space`` (all off), world by world."""
        w, h = self.size[0] / 2, self.size[1] / 2
        corners = [(-w, -h), (w, -h), (w, h), (-w, h)]
        body = space.static_body
        for ox, oy in zip(origin_x.tolist(), origin_y.tolist(), strict=True):
            world = []
            for cx, cy in self.centers.tolist():
                shape = pymunk.Poly(body, [(cx + ox + x, cy + oy + y) for x, y in corners])
                shape.filter = NOTHING
                world.append(shape)
            space.add(*world)
            self.shapes.append(world)
            self.pointers.append([shape._shape for shape in world])


def check_fixture_set(world: WorldBatch, name: str, centers, size) -> FixtureSet:
    """A new, checked ``FixtureSet`` (one-line errors that name the argument)."""
    owner = f"add_fixtures({name!r})"
    if world._finalized:
        raise RuntimeError(f"{owner} after the batch was finalized (first step or reset)")
    if name in world.groups or name in world.fixtures or name in world.modes or name == "static":
        raise ValueError(f"{owner}: the name is taken by a group, mode or fixture set")
    centers = np.asarray(centers, dtype=np.float64)
    if centers.ndim != 2 or centers.shape[1] != 2 or len(centers) == 0:
        raise ValueError(f"{owner}: centers must be a non-empty (K, 2) array, got {centers.shape}")
    if not np.isfinite(centers).all():
        raise ValueError(f"{owner}: centers must be finite")
    size = tuple(float(s) for s in size)
    if len(size) != 2 or not all(np.isfinite(s) and s > 0 for s in size):
        raise ValueError(f"{owner}: size must be two finite numbers > 0, got {size}")
    return FixtureSet(name, centers, size)


def switch_fixtures(
    world: WorldBatch, name: str, env_ids: np.ndarray, index: np.ndarray, on: np.ndarray | bool
) -> None:
    """Switch fixture ``index[k]`` of world ``env_ids[k]`` on or off (``on`` broadcasts to
    ``(K,)``); only the fixtures whose state changes are touched."""
    fixtures = world.fixtures.get(name)
    caller = f"set_fixtures({name!r})"
    if fixtures is None:
        raise ValueError(f"{caller}: no fixture set of that name (known: {list(world.fixtures)})")
    env_ids = np.asarray(env_ids, dtype=np.intp).ravel()
    index = np.asarray(index, dtype=np.intp).ravel()
    if env_ids.shape != index.shape:
        raise ValueError(
            f"{caller}: env_ids and index must have one shape, got "
            f"{env_ids.shape} and {index.shape}"
        )
    _check_range(caller, "env_ids", env_ids, world.num_worlds)
    _check_range(caller, "index", index, fixtures.count)
    wanted = np.broadcast_to(np.asarray(on, dtype=bool), env_ids.shape)
    if env_ids.size > 64:  # many (a reset): find the changes with numpy first
        changed = np.flatnonzero(fixtures.on[env_ids, index] != wanted)
        env_ids, index, wanted = env_ids[changed], index[changed], wanted[changed]
    pointers, c_on, table = fixtures.pointers, fixtures.c_on, fixtures.on
    for b, k, state in zip(env_ids.tolist(), index.tolist(), wanted.tolist(), strict=True):
        if table[b, k] != state:
            _set_filter(pointers[b][k], c_on if state else _C_NOTHING)
            table[b, k] = state


def check_mode(world: WorldBatch, group: str, mode: str) -> str:
    """The collision name ``"<group>.<mode>"`` of a new mode, checked."""
    owner = f"add_mode({group!r}, {mode!r})"
    if world._finalized:
        raise RuntimeError(f"{owner} after the batch was finalized (first step or reset)")
    if group not in world.groups:
        raise ValueError(f"{owner}: no body group {group!r} (known: {list(world.groups)})")
    if not (isinstance(mode, str) and mode.isidentifier()):
        raise ValueError(f"{owner}: mode must be a plain name, got {mode!r}")
    name = f"{group}.{mode}"
    if name in world.modes or name in world.fixtures:
        raise ValueError(f"{owner}: {name!r} already exists")
    return name


@dataclass
class ModeTable:
    """The collision modes of one group: ``names[0]`` is the group's own (index 0), and
    ``filters[i]`` the shape filter of mode i; ``current`` ``(B, N)`` int8 is each body's mode."""

    group: BodyGroup
    names: list[str]
    filters: list[pymunk.ShapeFilter] = field(default_factory=list)
    c_filters: list = field(default_factory=list, repr=False)
    current: np.ndarray = field(default=None, repr=False)


def switch_modes(
    world: WorldBatch,
    group: str,
    env_ids: np.ndarray,
    body_ids: np.ndarray,
    mode: str | None,
) -> None:
    """Put body ``body_ids[k]`` of world ``env_ids[k]`` of ``group`` in ``mode`` (a name given
    to ``add_mode``; None: the group's own rules). Only bodies whose mode changes are touched."""
    caller = f"set_mode({group!r})"
    table = world.mode_tables.get(group)
    if table is None:
        raise ValueError(f"{caller}: the group has no collision modes (add_mode first)")
    name = group if mode is None else f"{group}.{mode}"
    if name not in table.names:
        raise ValueError(f"{caller}: unknown mode {mode!r} (known: {table.names[1:]})")
    env_ids = np.asarray(env_ids, dtype=np.intp).ravel()
    body_ids = np.asarray(body_ids, dtype=np.intp).ravel()
    if env_ids.shape != body_ids.shape:
        raise ValueError(f"{caller}: env_ids and body_ids must have one shape")
    _check_range(caller, "env_ids", env_ids, world.num_worlds)
    _check_range(caller, "body_ids", body_ids, table.group.n)
    _set_modes(world, table, env_ids, body_ids, table.names.index(name))


def _set_modes(world: WorldBatch, table: ModeTable, env_ids, body_ids, index: int) -> None:
    if env_ids.size > 64:  # many (a reset): find the changes with numpy first
        changed = np.flatnonzero(table.current[env_ids, body_ids] != index)
        env_ids, body_ids = env_ids[changed], body_ids[changed]
    shapes, new_filter, current = world._shapes, table.c_filters[index], table.current
    start, n = table.group.start, table.group.n
    for b, body in zip(env_ids.tolist(), body_ids.tolist(), strict=True):
        if current[b, body] != index:
            _set_filter(shapes[start + b * n + body]._shape, new_filter)
            current[b, body] = index


def restore_modes(world: WorldBatch, group: BodyGroup, env_ids: np.ndarray) -> None:
    """Every body of ``group`` in worlds ``env_ids`` back to the group's own mode (on reset)."""
    table = world.mode_tables.get(group.name)
    if table is None:
        return
    worlds = np.repeat(np.asarray(env_ids, dtype=np.intp), group.n)
    bodies = np.tile(np.arange(group.n), len(env_ids))
    _set_modes(world, table, worlds, bodies, 0)


def apply_filters(world: WorldBatch, filters: dict[str, pymunk.ShapeFilter]) -> None:
    """Give the fixture sets and mode tables their filters, and every fixture its state."""
    for fixtures in world.fixtures.values():
        fixtures.filter_on = filters[fixtures.name]
        fixtures.c_on = c_filter(fixtures.filter_on)
        fixtures.on = np.zeros((world.num_worlds, fixtures.count), dtype=bool)
    for group_name, table in world.mode_tables.items():
        table.filters = [filters[name] for name in table.names]
        table.c_filters = [c_filter(f) for f in table.filters]
        group = world.groups[group_name]
        table.current = np.zeros((world.num_worlds, group.n), dtype=np.int8)


def _check_range(caller: str, field_name: str, values: np.ndarray, size: int) -> None:
    if values.size == 0:
        return
    if values.size <= 64:  # a step's few switches: Python's min and max beat numpy's calls
        listed = values.tolist()
        low, high = min(listed), max(listed)
    else:
        low, high = int(values.min()), int(values.max())
    if low < 0 or high >= size:
        raise ValueError(f"{caller}: {field_name} must be in [0, {size}), got {low}..{high}")


class CollisionSwitches:
    """The ``WorldBatch`` methods of fixtures and collision modes (see the module docstring)."""

    fixtures: dict[str, FixtureSet]
    modes: dict[str, str]
    mode_tables: dict[str, ModeTable]

    def add_fixtures(self, name: str, centers, size: tuple[float, float]) -> FixtureSet:
        """Add a set of static boxes of ``size = (w, h)`` centred at local ``centers``
        ``(K, 2)``, the same in every world and all off until ``set_fixtures`` switches them
        on; ``name`` joins the collision names of ``set_collision``."""
        fixtures = check_fixture_set(self, name, centers, size)
        self.fixtures[name] = fixtures
        return fixtures

    def set_fixtures(self, name: str, env_ids, index, on) -> None:
        """Switch fixture ``index[k]`` of world ``env_ids[k]`` on (it collides by its set's
        rules) or off (it collides with nothing); ``on`` is a bool or ``(K,)`` bools."""
        self._finalize()
        switch_fixtures(self, name, env_ids, index, on)

    def add_mode(self, group: str, mode: str) -> str:
        """Add collision mode ``mode`` to ``group``, returning its collision name
        ``"<group>.<mode>"`` (give it rules with ``set_collision``; by default it collides with
        everything). Bodies start, and return on ``reset_bodies``, in the group's own mode."""
        name = check_mode(self, group, mode)
        self.modes[name] = group
        if group not in self.mode_tables:
            self.mode_tables[group] = ModeTable(self.groups[group], [group])
        self.mode_tables[group].names.append(name)
        return name

    def set_mode(self, group: str, env_ids, body_ids, mode: str | None) -> None:
        """Put body ``body_ids[k]`` of world ``env_ids[k]`` of ``group`` in collision mode
        ``mode`` (None: the group's own); ``mode_of(group)`` reads the modes back."""
        self._finalize()
        switch_modes(self, group, env_ids, body_ids, mode)

    def mode_of(self, group: str) -> np.ndarray:
        """Each body's mode index ``(B, N)`` int8: 0 is the group's own, i the i-th added."""
        self._finalize()
        return self.mode_tables[group].current
