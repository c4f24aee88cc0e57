"""Ground friction for top-down bodies: a crate on the floor slides only when pushed harder than
its friction, and stops when the push ends.

A top-down world has no gravity, so nothing presses a body onto a floor. Chipmunk's top-down demos
(the tank, the crates) model the floor as joints to the space's static body: per body a
``PivotJoint`` (its velocity relative to the ground) and a ``GearJoint`` (its turn rate), both with
``max_bias = 0`` and ``max_force`` the Coulomb limit. The solver then treats the floor like any
other constraint, in the same step as the contacts that push the body: it cancels the body's
velocity with an impulse of at most ``max_force * dt``, so a push below the limit moves nothing,
and a harder one accelerates the body by ``(push - limit) / mass``. The pivot's limit is the
sliding friction ``force`` (``mu m g``), isotropic; the gear's is the ``torque`` that resists
turning (``mu m g`` times the mean distance of the footprint from the centre, for a uniform
pressure: ``GroundFriction.coulomb``).

With ``max_bias = 0`` only the velocity part of a joint acts: the position error, which would pull
the body back to the anchor, is clamped to no correction at all. So the static anchor's place is
irrelevant (the pivot's anchors are the world's origin and the body's centre; a test checks that
a body far from the origin does not drift toward it).

**History.** A joint keeps one thing from a step to the next: its accumulated impulse, which
warm-starts the next solve. ``GroundJoints.forget`` makes the bodies a reset places forget it:
chipmunk offers no way to clear it, so the reset bodies get fresh joints. Replacing a joint
changes the order of the space's constraint list (``cpArrayDeleteObj`` swaps the last element
into the hole), and the solver visits constraints in that order. So ``forget`` takes off the
shard's joints from the first replaced one to the end, last first (each removal then takes the
last element: nothing moves), and puts them back in the batch's order with the fresh ones in
place: the list is always the canonical one (group by group, world by world, body by body,
pivot before gear), and a reset world carries nothing of its past, bit for bit. The cost is one
removal and one addition per joint after the first replaced one, only at resets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pymunk

from worlds.shapes import Circle, Shape

if TYPE_CHECKING:
    from worlds.bodies import BodyGroup
    from worlds.world import WorldBatch

STANDARD_GRAVITY = 9.80665
"""m/s^2, for friction limits from a friction coefficient (``GroundFriction.coulomb``)."""


@dataclass(frozen=True)
class GroundFriction:
    """The Coulomb limits of a body's friction with the floor: ``force`` in newtons (sliding)
    and ``torque`` in newton metres (turning in place)."""

    force: float
    torque: float

    def check(self, owner: str) -> None:
        """Raise a one-line ``ValueError`` naming ``owner`` unless both limits are finite
        numbers > 0."""
        for name in ("force", "torque"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(
                    f"{owner}: ground_friction {name} must be a finite number > 0, got {value!r}"
                )

    @classmethod
    def coulomb(
        cls, mu: float, mass: float, shape: Shape, gravity: float = STANDARD_GRAVITY
    ) -> GroundFriction:
        """The limits of a uniform body of ``mass`` on ``shape``'s footprint with friction
        coefficient ``mu``: ``mu m g``, and that times the footprint's mean distance from its
        centre (the torque of uniform pressure when the body turns in place)."""
        force = float(mu) * float(mass) * float(gravity)
        return cls(force, force * mean_radius(shape))


def mean_radius(shape: Shape, samples: int = 256) -> float:
    """The mean distance of a shape's area from the body's origin (``2 r / 3`` for a disc; a
    midpoint rule on a ``samples`` square grid, about 1e-5 relative, for boxes and polygons)."""
    if isinstance(shape, Circle):
        return 2.0 * shape.radius / 3.0
    corners = np.asarray(shape.outline(), np.float64)
    low, high = corners.min(axis=0), corners.max(axis=0)
    fractions = (np.arange(samples) + 0.5) / samples
    ticks = [fractions * (b - a) + a for a, b in zip(low, high, strict=True)]
    x, y = np.meshgrid(*ticks, indexing="ij")
    edges = np.roll(corners, -1, axis=0) - corners
    # Inside a convex polygon: on the same side of every edge as its winding says.
    winding = np.sign(edges[0, 0] * edges[1, 1] - edges[0, 1] * edges[1, 0])
    inside = np.ones(x.shape, bool)
    for (ax, ay), (ex, ey) in zip(corners.tolist(), edges.tolist(), strict=True):
        inside &= winding * (ex * (y - ay) - ey * (x - ax)) >= 0
    return float(np.hypot(x, y)[inside].mean())


class GroundJoints:
    """The ground friction joints of a batch: which groups have them (``limits``), and per
    shard the joints in the batch's order (see the module docstring)."""

    def __init__(self) -> None:
        self.limits: dict[str, GroundFriction] = {}
        self._joints: list[list[tuple[pymunk.Constraint, pymunk.Constraint]]] = []
        self._bodies: list[list[tuple[pymunk.Body, GroundFriction]]] = []
        self._shard_of = self._position = np.zeros(0, np.intp)

    def add(self, group: str, friction: GroundFriction | None) -> None:
        """Give the bodies of ``group`` ground friction (None: none), checked."""
        if friction is None:
            return
        if not isinstance(friction, GroundFriction):
            raise ValueError(f"group {group!r}: ground_friction must be a GroundFriction")
        friction.check(f"group {group!r}")
        self.limits[group] = friction

    def build(self, world: WorldBatch) -> None:
        """Make and add every joint, shard by shard, in the batch's body order."""
        self._shard_of = np.full(world.num_bodies, -1, np.intp)
        self._position = np.full(world.num_bodies, -1, np.intp)
        groups = [g for g in world.groups.values() if g.name in self.limits]
        for index, shard in enumerate(world.shards):
            bodies = []
            for group in groups:
                limit = self.limits[group.name]
                first = group.start + shard.first * group.n
                rows = np.arange(first, first + shard.worlds * group.n)
                self._shard_of[rows] = index
                self._position[rows] = np.arange(len(bodies), len(bodies) + rows.size)
                bodies += [(group.bodies[row - group.start], limit) for row in rows.tolist()]
            joints = [_joints(shard.space, body, limit) for body, limit in bodies]
            shard.space.add(*[joint for pair in joints for joint in pair])
            self._bodies.append(bodies)
            self._joints.append(joints)

    def forget(self, world: WorldBatch, rows: np.ndarray) -> None:
        """Give the bodies of batch ``rows`` fresh joints (no warm start), keeping every shard's
        constraint list in the batch's order."""
        if not self.limits:
            return
        rows = np.asarray(rows, np.intp).ravel()
        positions = self._position[rows]
        chosen = positions >= 0
        shards = self._shard_of[rows[chosen]]
        for index in np.unique(shards).tolist():
            self._renew(world.shards[index].space, index, positions[chosen][shards == index])

    def _renew(self, space: pymunk.Space, index: int, positions: np.ndarray) -> None:
        joints, bodies = self._joints[index], self._bodies[index]
        first = int(positions.min())
        tail = [joint for pair in joints[first:] for joint in pair]
        space.remove(*reversed(tail))  # always the last element: the rest keeps its order
        for position in np.unique(positions).tolist():
            joints[position] = _joints(space, *bodies[position])
        space.add(*[joint for pair in joints[first:] for joint in pair])

    def group_joints(self, world: WorldBatch, group: BodyGroup) -> list[tuple]:
        """The (pivot, gear) joints of ``group``'s bodies in row order (for tests and tools)."""
        rows = range(group.start, group.start + group.n * world.num_worlds)
        return [self._joints[self._shard_of[row]][self._position[row]] for row in rows]


def _joints(space: pymunk.Space, body: pymunk.Body, limit: GroundFriction):
    """The pivot and gear joint of one body to ``space``'s static body."""
    pivot = pymunk.PivotJoint(space.static_body, body, (0.0, 0.0), (0.0, 0.0))
    gear = pymunk.GearJoint(space.static_body, body, 0.0, 1.0)
    for joint, most in ((pivot, limit.force), (gear, limit.torque)):
        joint.max_bias = 0.0
        joint.max_force = most
    return pivot, gear
