"""Visibility: fast lidar in rooms of axis-aligned boxes, line of sight, fields of view.

``box_lidar`` answers the same question as ``worlds.sensors.lidar`` for the common special case
of an axis-aligned rectangular room with axis-aligned box obstacles, by the slab method: a few
numpy calls on ``(B, N, rays)`` arrays (times the number of boxes) instead of one ray-segment
test per wall edge. ``line_of_sight`` tests the segment from each observer to each target against
static segments (occluders), and ``in_field_of_view`` the angle and range of a view cone. All
work over the batch axis with no loop over bodies.

Each public function runs a compiled kernel (``worlds.kernels.visibility``); the vectorized numpy
version it replaced stays beside it as ``*_reference`` (the tests compare the two).
"""

from __future__ import annotations

import functools

import numpy as np

from worlds.kernels import visibility as kernels
from worlds.kernels.arguments import check_shape


def ray_directions(n_rays: int) -> np.ndarray:
    """Unit directions ``exp(2 pi i r / n_rays)`` as complex64 ``(n_rays,)``."""
    angles = np.linspace(0.0, 2 * np.pi, n_rays, endpoint=False)
    return np.exp(1j * angles).astype(np.complex64)


@functools.lru_cache(maxsize=16)
def _inverse_directions(n_rays: int) -> tuple[np.ndarray, np.ndarray]:
    """``1 / cos`` and ``1 / sin`` of the ray angles (inf for rays along an axis), float32."""
    directions = ray_directions(n_rays).astype(np.complex128)
    with np.errstate(divide="ignore"):
        inv_x = np.where(np.abs(directions.real) > 1e-9, 1.0 / directions.real, np.inf)
        inv_y = np.where(np.abs(directions.imag) > 1e-9, 1.0 / directions.imag, np.inf)
    inv_x, inv_y = inv_x.astype(np.float32), inv_y.astype(np.float32)
    inv_x.flags.writeable = inv_y.flags.writeable = False
    return inv_x, inv_y


def box_lidar_reference(
    x: np.ndarray,
    y: np.ndarray,
    n_rays: int,
    max_range: float,
    *,
    room: tuple[float, float] | None = None,
    boxes: np.ndarray | None = None,
) -> np.ndarray:
    """``box_lidar`` in numpy: the slab method on ``(B, N, rays)`` arrays, box by box."""
    inv_x, inv_y = _inverse_directions(n_rays)
    px, py = x[..., None], y[..., None]
    best = np.full((*x.shape, n_rays), np.float32(max_range), dtype=np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        if room is not None:
            wall_x = np.where(inv_x > 0, np.float32(room[0]), np.float32(-room[0]))
            wall_y = np.where(inv_y > 0, np.float32(room[1]), np.float32(-room[1]))
            # fmin skips the NaN of 0 * inf (a ray parallel to a wall it sits on).
            np.fmin(best, (wall_x - px) * inv_x, out=best)
            np.fmin(best, (wall_y - py) * inv_y, out=best)
        for cx, cy, half_w, half_h in np.asarray(boxes if boxes is not None else []).reshape(-1, 4):
            # Slab method: the ray is inside both slabs for t in [t_enter, t_exit].
            t1 = (np.float32(cx - half_w) - px) * inv_x
            t2 = (np.float32(cx + half_w) - px) * inv_x
            t3 = (np.float32(cy - half_h) - py) * inv_y
            t4 = (np.float32(cy + half_h) - py) * inv_y
            enter = np.fmax(np.fmin(t1, t2), np.fmin(t3, t4))
            leave = np.fmin(np.fmax(t1, t2), np.fmax(t3, t4))
            hit = (enter <= leave) & (leave >= 0)
            np.fmin(best, np.where(hit, np.maximum(enter, 0), np.inf), out=best)
    np.maximum(best, 0, out=best)
    return best


def box_lidar(
    x: np.ndarray,
    y: np.ndarray,
    n_rays: int,
    max_range: float,
    *,
    room: tuple[float, float] | None = None,
    boxes: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Distance along ``n_rays`` rays (angles ``2 pi r / n_rays`` from +x) from each body to the
    first wall: the inside of the room ``[-w, w] x [-h, h]`` (``room = (w, h)``) and the
    outside of each box row ``(cx, cy, half_w, half_h)`` of ``boxes`` ``(K, 4)``. ``x, y``
    ``(B, N)``; returns float32 ``(B, N, n_rays)``, ``max_range`` where nothing is hit. A ray
    that starts inside a box reads 0. ``out``: a float32 array of that shape to fill."""
    inv_x, inv_y = _inverse_directions(n_rays)
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    check_shape("y", y, x.shape)
    if out is None:
        out = np.empty((*x.shape, n_rays), np.float32)
    check_shape("out", out, (*x.shape, n_rays))
    kernels.box_lidar(
        np.asarray(x, np.float32),
        np.asarray(y, np.float32),
        inv_x,
        inv_y,
        room_extent(room),
        box_rows(boxes),
        np.float32(max_range),
        out,
    )
    return out


def room_extent(room: tuple[float, float] | None) -> np.ndarray:
    """The room's half extents as the kernels take them: float32 ``(2,)``, or ``(0,)``."""
    return np.asarray(room if room is not None else (), np.float32).reshape(-1)


def box_rows(boxes: np.ndarray | None) -> np.ndarray:
    """Box rows ``(K, 4)`` float32 as the kernels take them (``(0, 4)`` for none)."""
    rows = np.asarray(boxes if boxes is not None else (), np.float32).reshape(-1, 4)
    return np.ascontiguousarray(rows)


def line_of_sight(
    observer: np.ndarray, target: np.ndarray, segments: np.ndarray | None
) -> np.ndarray:
    """Whether the straight line from each observer to each target crosses no segment.

    ``observer`` complex ``(B, No)``, ``target`` complex ``(B, Nt)``, ``segments`` ``(S, 4)``
    rows ``(ax, ay, bx, by)`` shared by all worlds. Returns bool ``(B, No, Nt)``: the
    proper-crossing test of two segments by the signs of cross products (touching an edge's
    end point counts as blocked; a zero-length sight line is never blocked).
    """
    observer, target = np.asarray(observer, np.complex64), np.asarray(target, np.complex64)
    check_shape("target", target, (observer.shape[0], None))
    out = np.empty((observer.shape[0], observer.shape[1], target.shape[1]), bool)
    kernels.line_of_sight(observer, target, box_rows(segments), out)
    return out


def view_cone(half_angle: float, view_range: float) -> tuple[int, np.float32, np.float32]:
    """A view cone as ``kernels.in_view`` takes it: mode, squared cosine of the half angle and
    squared range (float32, as the numpy reference rounds them)."""
    range2 = np.float32(view_range * view_range)
    if half_angle >= np.pi:
        return kernels.FULL_CIRCLE, np.float32(0.0), range2
    cos_half = np.float32(np.cos(half_angle))
    mode = kernels.CONVEX_CONE if cos_half >= 0 else kernels.WIDE_CONE
    return mode, cos_half * cos_half, range2


def in_field_of_view(
    offset: np.ndarray, heading: np.ndarray, half_angle: float, view_range: float
) -> np.ndarray:
    """Whether targets at complex ``offset`` ``(B, No, Nt)`` (target minus observer) are within
    ``view_range`` and within ``half_angle`` radians of the observer's unit ``heading``
    (complex ``(B, No)``). Returns bool ``(B, No, Nt)``."""
    offset, heading = np.asarray(offset, np.complex64), np.asarray(heading, np.complex64)
    check_shape("heading", heading, offset.shape[:2])
    out = np.empty(offset.shape, bool)
    mode, cos2, range2 = view_cone(half_angle, view_range)
    kernels.in_field_of_view(offset, heading, mode, cos2, range2, out)
    return out


def line_of_sight_reference(
    observer: np.ndarray, target: np.ndarray, segments: np.ndarray | None
) -> np.ndarray:
    """``line_of_sight`` in numpy, vectorized over ``(B, No, Nt, S)``: the proper-crossing
    test of two segments by the signs of cross products (touching an edge's end point counts as
    blocked)."""
    num_worlds, n_observers = observer.shape
    n_targets = target.shape[1]
    if segments is None or len(segments) == 0:
        return np.ones((num_worlds, n_observers, n_targets), bool)
    seg = np.asarray(segments, np.float32)
    ax, ay, bx, by = seg[:, 0], seg[:, 1], seg[:, 2], seg[:, 3]
    ex, ey = bx - ax, by - ay
    px = observer.real[:, :, None, None]
    py = observer.imag[:, :, None, None]
    dx = (target.real[:, None, :] - observer.real[:, :, None])[..., None]
    dy = (target.imag[:, None, :] - observer.imag[:, :, None])[..., None]
    # Sides of the segment's end points relative to the sight line, and of the observer and
    # target relative to the segment's line.
    side_a = dx * (ay - py) - dy * (ax - px)
    side_b = dx * (by - py) - dy * (bx - px)
    side_p = ex * (py - ay) - ey * (px - ax)
    side_t = ex * (py + dy - ay) - ey * (px + dx - ax)
    blocked = (side_a * side_b <= 0) & (side_p * side_t <= 0)
    # Collinear degenerate cases (a zero-length sight line) are never blocked.
    blocked &= (dx * dx + dy * dy) > 0
    return ~blocked.any(axis=-1)


def in_field_of_view_reference(
    offset: np.ndarray, heading: np.ndarray, half_angle: float, view_range: float
) -> np.ndarray:
    """``in_field_of_view`` in numpy."""
    along = offset.real * heading.real[..., None] + offset.imag * heading.imag[..., None]
    dist2 = offset.real * offset.real + offset.imag * offset.imag
    in_range = dist2 <= view_range * view_range
    if half_angle >= np.pi:
        return in_range
    # along >= |offset| cos(half_angle), squared with care for the sign.
    cos_half = np.float32(np.cos(half_angle))
    if cos_half >= 0:
        in_cone = (along >= 0) & (along * along >= cos_half * cos_half * dist2)
    else:
        in_cone = (along >= 0) | (along * along <= cos_half * cos_half * dist2)
    return in_range & in_cone
