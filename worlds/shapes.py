"""Body shapes: circles, boxes and convex polygons, as small immutable values.

A body group has one shape, given to ``WorldBatch.add_group(name, n, shape=..., ...)``:

    Circle(radius)            a disc centred on the body's position
    Box(length, width)        a rectangle centred on the body's position, ``length`` along the
                              body's heading (local +x), ``width`` across it
    Polygon(vertices)         a convex polygon, vertices ``(x, y)`` in body coordinates (+x is
                              the heading), in either winding order

``add_group(name, n, radius=r, ...)`` stays the short form of ``shape=Circle(r)``. The body's
position is the origin of its shape's coordinates, and also its centre of mass and of rotation
(moments of inertia come from pymunk for a uniform shape about that point). Each shape knows its
``bounding_radius`` (the farthest point from the body's origin), which sizes the broadphase cells,
the spacing of parked bodies and range sensors, so code written for circles keeps working.

Shapes are checked when a group is added (``check``), so that the error names the group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pymunk


@dataclass(frozen=True)
class Shape:
    """What every body shape provides (see the subclasses)."""

    def check(self, owner: str) -> None:
        """Raise a one-line ``ValueError`` naming ``owner`` and the field if invalid."""
        raise NotImplementedError

    @property
    def bounding_radius(self) -> float:
        """The distance from the body's origin to the shape's farthest point."""
        raise NotImplementedError

    def moment(self, mass: float) -> float:
        """Moment of inertia of a uniform body of ``mass`` with this shape about its origin."""
        raise NotImplementedError

    def make(self, body: pymunk.Body) -> pymunk.Shape:
        """A pymunk shape of this form attached to ``body``."""
        raise NotImplementedError

    def outline(self) -> list[tuple[float, float]]:
        """Vertices in body coordinates for drawing (empty for a circle)."""
        return []


def _check_positive(owner: str, field: str, value: float) -> None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{owner}: {field} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True)
class Circle(Shape):
    """A disc of ``radius`` centred on the body's position."""

    radius: float

    def check(self, owner: str) -> None:
        """Raise a one-line ``ValueError`` naming ``owner`` unless ``radius`` is finite and > 0."""
        _check_positive(owner, "radius", self.radius)

    @property
    def bounding_radius(self) -> float:
        """The circle's radius."""
        return float(self.radius)

    def moment(self, mass: float) -> float:
        """Moment of inertia of a uniform disc about its centre."""
        return pymunk.moment_for_circle(mass, 0, self.radius)

    def make(self, body: pymunk.Body) -> pymunk.Shape:
        """A ``pymunk.Circle`` of this radius centred on ``body``."""
        return pymunk.Circle(body, self.radius)


@dataclass(frozen=True)
class Box(Shape):
    """A rectangle centred on the body's position, ``length`` along its heading."""

    length: float
    width: float

    def check(self, owner: str) -> None:
        """Raise a one-line ``ValueError`` naming ``owner`` and the field unless both sizes are
        finite and > 0."""
        _check_positive(owner, "box length", self.length)
        _check_positive(owner, "box width", self.width)

    @property
    def bounding_radius(self) -> float:
        """Half the box's diagonal."""
        return 0.5 * math.hypot(self.length, self.width)

    def moment(self, mass: float) -> float:
        """Moment of inertia of a uniform box about its centre."""
        return pymunk.moment_for_box(mass, (self.length, self.width))

    def make(self, body: pymunk.Body) -> pymunk.Shape:
        """A ``pymunk.Poly`` box of this size centred on ``body``, length along local x."""
        return pymunk.Poly(body, self.outline())

    def outline(self) -> list[tuple[float, float]]:
        """The four corners counter-clockwise, starting at the rear right."""
        half_length, half_width = 0.5 * self.length, 0.5 * self.width
        return [
            (-half_length, -half_width),
            (half_length, -half_width),
            (half_length, half_width),
            (-half_length, half_width),
        ]


@dataclass(frozen=True)
class Polygon(Shape):
    """A convex polygon with ``vertices`` ``(x, y)`` in body coordinates (+x is the heading)."""

    vertices: Sequence[tuple[float, float]]

    def __post_init__(self) -> None:
        # Stored as a tuple of float pairs: the value stays immutable and hashable.
        try:
            points = tuple((float(x), float(y)) for x, y in self.vertices)
        except (TypeError, ValueError):
            points = None  # reported by check, where the group's name is known
        if points is not None:
            object.__setattr__(self, "vertices", points)

    def check(self, owner: str) -> None:
        """Raise a one-line ``ValueError`` naming ``owner`` unless the vertices are at least three
        finite pairs forming a strictly convex polygon of non-zero area."""
        vertices = self.vertices
        if not isinstance(vertices, tuple) or len(vertices) < 3:
            raise ValueError(f"{owner}: polygon vertices must be 3 or more (x, y) pairs")
        if not all(math.isfinite(value) for vertex in vertices for value in vertex):
            raise ValueError(f"{owner}: polygon vertices must be finite, got {vertices}")
        count = len(vertices)
        turns = []
        for i in range(count):
            (ax, ay), (bx, by), (cx, cy) = (vertices[(i + k) % count] for k in range(3))
            turns.append((bx - ax) * (cy - by) - (by - ay) * (cx - bx))
        area = 0.5 * sum(
            vertices[i][0] * vertices[(i + 1) % count][1]
            - vertices[(i + 1) % count][0] * vertices[i][1]
            for i in range(count)
        )
        scale = max(math.hypot(x, y) for x, y in vertices)
        if scale == 0 or abs(area) <= 1e-12 * scale * scale:
            raise ValueError(f"{owner}: polygon vertices are degenerate (zero area): {vertices}")
        tolerance = 1e-12 * scale * scale
        if not (all(t > tolerance for t in turns) or all(t < -tolerance for t in turns)):
            raise ValueError(
                f"{owner}: polygon vertices must form a convex polygon without repeated or "
                f"collinear points, in order: {vertices}"
            )
        # Turning the same way at every vertex still allows a star that winds twice.
        if _winds_more_than_once(vertices):
            raise ValueError(f"{owner}: polygon vertices wind more than once: {vertices}")

    @property
    def bounding_radius(self) -> float:
        """The distance from the body's origin to the farthest vertex."""
        return max(math.hypot(x, y) for x, y in self.vertices)

    def moment(self, mass: float) -> float:
        """Moment of inertia of a uniform polygon about the body's origin."""
        return pymunk.moment_for_poly(mass, list(self.vertices))

    def make(self, body: pymunk.Body) -> pymunk.Shape:
        """A ``pymunk.Poly`` with these vertices attached to ``body``."""
        return pymunk.Poly(body, list(self.vertices))

    def outline(self) -> list[tuple[float, float]]:
        """The vertices as given."""
        return list(self.vertices)


def _winds_more_than_once(vertices: tuple[tuple[float, float], ...]) -> bool:
    """Whether the edge directions turn through more than one full circle (a pentagram turns
    the same way at every vertex, yet is not convex)."""
    count = len(vertices)
    total = 0.0
    for i in range(count):
        (ax, ay), (bx, by), (cx, cy) = (vertices[(i + k) % count] for k in range(3))
        first = math.atan2(by - ay, bx - ax)
        second = math.atan2(cy - by, cx - bx)
        total += (second - first + math.pi) % (2 * math.pi) - math.pi
    return abs(total) > 2 * math.pi + 1e-6
