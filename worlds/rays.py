"""Lidar: distances along evenly spaced rays from every body to segments, circles and boxes.

``lidar`` checks its arguments and runs the compiled kernel ``worlds.kernels.rays.lidar``;
``lidar_reference`` is the same sensor in plain numpy (vectorized over ``(B, N, rays, targets)``),
kept as the readable definition the kernel is tested against. Both round every operation in
float32 in the same order and take ray directions as ``float32(cos(float64(angle)))``, so they
agree bit for bit (``tests/worlds/test_kernels_rays.py``).

What a ray sees (both versions):

- ``segments`` rows ``(ax, ay, bx, by)``, shared ``(S, 4)`` or per world ``(B, S, 4)``. A ray
  parallel to a segment (collinear included) does not see it, nor a zero-length segment: walls
  meet at corners, so a ray along a wall sees the wall across its end.
- circles with centres ``circle_x, circle_y`` ``(B, M)`` and radii (a scalar, ``(M,)`` or
  ``(B, M)``); a ray that starts inside a circle (boundary included) reads 0.
- oriented boxes with centres ``box_x, box_y`` ``(B, K)``, ``box_angle`` (radians, the
  direction of the half length; 0 when None), ``box_half_length`` and ``box_half_width``
  (scalars, ``(K,)`` or ``(B, K)``, >= 0); a ray that starts inside a box (boundary included)
  reads 0. Boxes are tested by the slab method in each box's frame.

``exclude_self`` (circles) and ``box_exclude_self`` (boxes) say the targets are the ray bodies
themselves (M == N or K == N): body i ignores circle or box i.
"""

from __future__ import annotations

import numpy as np

from worlds.kernels import arguments as check
from worlds.kernels import rays as _kernels


def lidar(
    x: np.ndarray,
    y: np.ndarray,
    heading: np.ndarray | None,
    n_rays: int,
    max_range: float,
    *,
    segments: np.ndarray | None = None,
    circle_x: np.ndarray | None = None,
    circle_y: np.ndarray | None = None,
    circle_radius: np.ndarray | float | None = None,
    exclude_self: bool = False,
    box_x: np.ndarray | None = None,
    box_y: np.ndarray | None = None,
    box_angle: np.ndarray | None = None,
    box_half_length: np.ndarray | float | None = None,
    box_half_width: np.ndarray | float | None = None,
    box_exclude_self: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Distance along ``n_rays`` evenly spaced rays from every body to the nearest hit.

    Rays start at ``(x, y)`` ``(B, N)``; ray r points at ``heading + 2*pi*r/n_rays`` (heading 0
    when None). Targets are described in the module docstring. Returns ``(B, N, n_rays)``
    float32 (written into ``out`` when given), ``max_range`` where nothing is hit.
    """
    args = _lidar_arguments(
        x,
        y,
        heading,
        n_rays,
        max_range,
        segments,
        circle_x,
        circle_y,
        circle_radius,
        exclude_self,
        box_x,
        box_y,
        box_angle,
        box_half_length,
        box_half_width,
        box_exclude_self,
    )
    shape = (*args[0].shape, args[3].size)
    if out is None:
        out = np.empty(shape, np.float32)
    elif not (isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == shape):
        raise ValueError(f"out must be a float32 array of shape {shape}")
    elif not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    _kernels.lidar(*args, out)
    return out


def _lidar_arguments(
    x,
    y,
    heading,
    n_rays,
    max_range,
    segments,
    circle_x,
    circle_y,
    circle_radius,
    exclude_self,
    box_x,
    box_y,
    box_angle,
    box_half_length,
    box_half_width,
    box_exclude_self,
) -> tuple:
    """The kernel's arguments, checked and converted (see ``lidar``)."""
    x = check.floats("x", x, (None, None))
    shape = x.shape
    y = check.floats("y", y, shape)
    heading = (
        np.zeros(shape, np.float32) if heading is None else check.floats("heading", heading, shape)
    )
    angles = ray_angles(check.count("n_rays", n_rays, 1))
    max_range = np.float32(check.positive("max_range", max_range))
    segments = _segments(segments, shape[0])
    circles = _targets(
        "circle", shape, circle_x, circle_y, None, circle_radius, circle_radius, exclude_self
    )
    boxes = _targets(
        "box", shape, box_x, box_y, box_angle, box_half_length, box_half_width, box_exclude_self
    )
    cx, cy, _, radius, _ = circles
    bx, by, angle, half_length, half_width = boxes
    return (
        x,
        y,
        heading,
        angles,
        max_range,
        segments,
        cx,
        cy,
        radius,
        bool(exclude_self),
        bx,
        by,
        angle,
        half_length,
        half_width,
        bool(box_exclude_self),
    )


def ray_angles(n_rays: int) -> np.ndarray:
    """Ray angles ``2 pi r / n_rays`` as float32 ``(n_rays,)`` (rounded from float64)."""
    return np.linspace(0.0, 2 * np.pi, n_rays, endpoint=False, dtype=np.float32)


def _segments(segments, num_worlds: int) -> np.ndarray:
    if segments is None:
        return np.zeros((1, 0, 4), np.float32)
    segments = np.asarray(segments)
    if segments.ndim == 2:
        return check.floats("segments", segments, (None, 4))[None]
    if segments.ndim == 3 and segments.shape[0] == num_worlds:
        return check.floats("segments", segments, (num_worlds, None, 4))
    raise ValueError(
        f"segments must have shape (S, 4) or ({num_worlds}, S, 4), got {segments.shape}"
    )


def _targets(kind, body_shape, cx, cy, angle, size_a, size_b, exclude_self) -> tuple:
    """Centres ``(B, M)``, angle and two sizes ``(B, M)`` for circles (``size_a`` the radius)
    or boxes (half length, half width), as float32; empty ``(B, 0)`` arrays when absent."""
    names = {
        "circle": ("circle_radius", "circle_radius"),
        "box": ("box_half_length", "box_half_width"),
    }
    if cx is None and cy is None:
        if exclude_self:
            raise ValueError(f"{kind} exclude_self needs {kind}_x and {kind}_y")
        empty = np.zeros((body_shape[0], 0), np.float32)
        return empty, empty, empty, empty, empty
    if cx is None or cy is None:
        raise ValueError(f"{kind}_x and {kind}_y must be given together")
    cx = check.floats(f"{kind}_x", cx, (body_shape[0], None))
    cy = check.floats(f"{kind}_y", cy, cx.shape)
    if exclude_self and cx.shape != body_shape:
        raise ValueError(f"{kind}_x must have the bodies' shape {body_shape} with exclude_self")
    for name, size in zip(names[kind], (size_a, size_b), strict=True):
        if size is None:
            raise ValueError(f"{name} is needed with {kind}_x and {kind}_y")
    zero = np.zeros(cx.shape, np.float32)
    angle = zero if angle is None else check.floats(f"{kind}_angle", angle, cx.shape)
    size_a = check.per_body(names[kind][0], size_a, cx.shape)
    size_b = check.per_body(names[kind][1], size_b, cx.shape)
    return cx, cy, angle, size_a, size_b


def lidar_reference(
    x: np.ndarray,
    y: np.ndarray,
    heading: np.ndarray | None,
    n_rays: int,
    max_range: float,
    *,
    segments: np.ndarray | None = None,
    circle_x: np.ndarray | None = None,
    circle_y: np.ndarray | None = None,
    circle_radius: np.ndarray | float | None = None,
    exclude_self: bool = False,
    box_x: np.ndarray | None = None,
    box_y: np.ndarray | None = None,
    box_angle: np.ndarray | None = None,
    box_half_length: np.ndarray | float | None = None,
    box_half_width: np.ndarray | float | None = None,
    box_exclude_self: bool = False,
) -> np.ndarray:
    """``lidar`` in numpy: the definition the kernel is tested against (same arguments)."""
    args = _lidar_arguments(
        x,
        y,
        heading,
        n_rays,
        max_range,
        segments,
        circle_x,
        circle_y,
        circle_radius,
        exclude_self,
        box_x,
        box_y,
        box_angle,
        box_half_length,
        box_half_width,
        box_exclude_self,
    )
    return _reference(*args)


def _reference(
    x, y, heading, angles, max_range, segments, cx, cy, radius, exclude_self, *boxes
) -> np.ndarray:
    """The numpy lidar on the kernel's (checked) arguments."""
    *boxes, box_exclude_self = boxes
    theta = heading[..., None] + angles
    dir_x, dir_y = _cos_sin(theta)
    best = np.full(theta.shape, max_range, dtype=np.float32)
    if segments.shape[1]:
        np.minimum(best, _ray_segments(x, y, dir_x, dir_y, segments, max_range), out=best)
    if cx.shape[1]:
        hits = _ray_circles(x, y, dir_x, dir_y, cx, cy, radius, max_range, exclude_self)
        np.minimum(best, hits, out=best)
    if boxes[0].shape[1]:
        hits = _ray_boxes(x, y, dir_x, dir_y, boxes, max_range, box_exclude_self)
        np.minimum(best, hits, out=best)
    return best


def _cos_sin(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``cos`` and ``sin`` of float32 angles, evaluated in float64 and rounded to float32 (numpy's
    own float32 ``cos`` differs from that in the last bit for some angles)."""
    wide = theta.astype(np.float64)
    return np.cos(wide).astype(np.float32), np.sin(wide).astype(np.float32)


def _ray_segments(x, y, dir_x, dir_y, seg, max_range) -> np.ndarray:
    ax, ay = seg[..., 0][:, None, None, :], seg[..., 1][:, None, None, :]
    ex = (seg[..., 2] - seg[..., 0])[:, None, None, :]
    ey = (seg[..., 3] - seg[..., 1])[:, None, None, :]
    dx, dy = dir_x[..., None], dir_y[..., None]
    wx = ax - x[..., None, None]
    wy = ay - y[..., None, None]
    denom = dx * ey - dy * ex
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (wx * ey - wy * ex) / denom
        u = (wx * dy - wy * dx) / denom
    hit = (np.abs(denom) > _kernels.PARALLEL) & (t >= 0) & (u >= 0) & (u <= 1)
    return np.where(hit, t, max_range).min(axis=-1)


def _ray_circles(x, y, dir_x, dir_y, cx, cy, radius, max_range, exclude_self) -> np.ndarray:
    ox = cx[:, None, None, :] - x[..., None, None]
    oy = cy[:, None, None, :] - y[..., None, None]
    along = ox * dir_x[..., None] + oy * dir_y[..., None]
    dist2 = ox * ox + oy * oy
    r2 = (radius * radius)[:, None, None, :]
    perp2 = dist2 - along * along
    half_chord = np.sqrt(np.maximum(r2 - perp2, 0))
    t = along - half_chord
    inside = dist2 <= r2
    hit = ((perp2 <= r2) & (t >= 0)) | inside
    t = np.where(inside, 0, t)
    if exclude_self:
        hit &= ~np.eye(x.shape[1], dtype=bool)[None, :, None, :]
    return np.where(hit, t, max_range).min(axis=-1)


def _ray_boxes(x, y, dir_x, dir_y, boxes, max_range, exclude_self) -> np.ndarray:
    """Slab method in each box's frame, over ``(B, N, rays, K)``."""
    bx, by, angle, half_length, half_width = (v[:, None, None, :] for v in boxes)
    c, s = _cos_sin(angle)
    ox = x[..., None, None] - bx
    oy = y[..., None, None] - by
    lx = ox * c + oy * s
    ly = oy * c - ox * s
    dx, dy = dir_x[..., None], dir_y[..., None]
    ux = dx * c + dy * s
    uy = dy * c - dx * s
    enter_x, leave_x = _slab(lx, ux, half_length)
    enter_y, leave_y = _slab(ly, uy, half_width)
    enter = np.maximum(enter_x, enter_y)
    leave = np.minimum(leave_x, leave_y)
    inside = (np.abs(lx) <= half_length) & (np.abs(ly) <= half_width)
    hit = (enter <= leave) & (leave >= 0)
    t = np.where(inside, 0, np.maximum(enter, 0)).astype(np.float32)
    hit |= inside
    if exclude_self:
        hit &= ~np.eye(x.shape[1], dtype=bool)[None, :, None, :]
    return np.where(hit, t, max_range).min(axis=-1)


def _slab(local, direction, half):
    """Parameter interval of a ray inside ``|coordinate| <= half`` along one box axis; all of
    it (or none) when the direction component is exactly 0."""
    moving = direction != 0
    step = np.where(moving, direction, 1)
    t1 = (-half - local) / step
    t2 = (half - local) / step
    inside = np.abs(local) <= half
    enter = np.where(moving, np.minimum(t1, t2), np.where(inside, -np.inf, np.inf))
    leave = np.where(moving, np.maximum(t1, t2), np.where(inside, np.inf, -np.inf))
    return enter, leave
