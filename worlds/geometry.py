"""Static geometry shared by every world of a batch: walls, segments, boxes, polygons.

Geometry is described once in world-local coordinates and instantiated in each world cell when the
batch is finalized. The same description feeds the lidar (``lidar_segments``): polygon edges are
exact; a segment with a radius is seen by the lidar along its centre line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pymunk


@dataclass
class StaticGeometry:
    segments: list[tuple[tuple[float, float], tuple[float, float], float]] = field(
        default_factory=list
    )
    polygons: list[list[tuple[float, float]]] = field(default_factory=list)
    elasticity: float = 0.2
    friction: float = 0.0
    collision_type: int = 0

    def add_segment(self, a: tuple[float, float], b: tuple[float, float], radius: float = 0.0):
        """A static segment from ``a`` to ``b`` (local coordinates), ``radius`` thick."""
        if radius < 0:
            raise ValueError(f"segment radius must be >= 0, got {radius}")
        self.segments.append(((float(a[0]), float(a[1])), (float(b[0]), float(b[1])), radius))

    def add_polygon(self, vertices: list[tuple[float, float]]) -> None:
        """A static convex polygon (vertices counter-clockwise, local coordinates)."""
        if len(vertices) < 3:
            raise ValueError("a polygon needs at least 3 vertices")
        self.polygons.append([(float(x), float(y)) for x, y in vertices])

    def add_box(
        self, center: tuple[float, float], size: tuple[float, float], angle: float = 0.0
    ) -> None:
        """A static box of ``size = (w, h)`` centred at ``center``, rotated by ``angle``."""
        w, h = size[0] / 2, size[1] / 2
        c, s = math.cos(angle), math.sin(angle)
        corners = [(-w, -h), (w, -h), (w, h), (-w, h)]
        self.add_polygon(
            [(center[0] + c * x - s * y, center[1] + s * x + c * y) for x, y in corners]
        )

    def add_walls(self, width: float, height: float, thickness: float = 0.5) -> None:
        """Four boxes enclosing the arena ``[-width/2, width/2] x [-height/2, height/2]``.

        The inner faces lie exactly on the arena boundary, so the lidar sees the boundary.
        """
        hw, hh, t = width / 2, height / 2, thickness
        self.add_box((0.0, hh + t / 2), (width + 2 * t, t))
        self.add_box((0.0, -hh - t / 2), (width + 2 * t, t))
        self.add_box((hw + t / 2, 0.0), (t, height))
        self.add_box((-hw - t / 2, 0.0), (t, height))

    def shape_count(self) -> int:
        """Static shapes one world gets."""
        return len(self.segments) + len(self.polygons)

    def build_into(
        self,
        space: pymunk.Space,
        origin_x: np.ndarray,
        origin_y: np.ndarray,
        shape_filter: pymunk.ShapeFilter | None = None,
    ) -> None:
        """Add the geometry to ``space`` once per world, offset by each world's origin, with
        ``shape_filter`` (the world's collision rules; pymunk's default when None)."""
        body = space.static_body
        shapes = []
        for ox, oy in zip(origin_x.tolist(), origin_y.tolist(), strict=True):
            for a, b, radius in self.segments:
                shapes.append(
                    pymunk.Segment(body, (a[0] + ox, a[1] + oy), (b[0] + ox, b[1] + oy), radius)
                )
            for vertices in self.polygons:
                shapes.append(pymunk.Poly(body, [(x + ox, y + oy) for x, y in vertices]))
        for shape in shapes:
            shape.elasticity = self.elasticity
            shape.friction = self.friction
            shape.collision_type = self.collision_type
            if shape_filter is not None:
                shape.filter = shape_filter
        if shapes:
            space.add(*shapes)

    def lidar_segments(self) -> np.ndarray:
        """All static edges as ``(S, 4)`` float32 rows ``(ax, ay, bx, by)``, local coordinates."""
        rows = [(a[0], a[1], b[0], b[1]) for a, b, _ in self.segments]
        for vertices in self.polygons:
            for i, a in enumerate(vertices):
                b = vertices[(i + 1) % len(vertices)]
                rows.append((a[0], a[1], b[0], b[1]))
        return np.asarray(rows, dtype=np.float32).reshape(-1, 4)
