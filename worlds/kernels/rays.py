"""Lidar kernel: rays from every body against segments, circles and oriented boxes.

``worlds.rays.lidar`` checks the arguments and calls ``lidar`` here; ``worlds.rays.lidar_reference``
is the numpy version it is tested against. Every float operation is float32 and written in the
same order as the reference (numba without fastmath rounds each operation as numpy does), and ray
directions are ``float32(cos(float64(theta)))`` on both sides, so segment, circle and box hits
agree with the reference bit for bit.

Per ray and target:

- segment ``(ax, ay, bx, by)``: solve ``p + t d = a + u (b - a)``; a hit needs ``|d x (b - a)|``
  above ``1e-9`` (a ray parallel to a segment, also collinear with it, and a zero-length segment
  are never hit), ``t >= 0`` and ``0 <= u <= 1``.
- circle: the first crossing ``along - sqrt(r^2 - perp^2)`` when the ray's line passes within
  ``r`` and that is ahead; a ray that starts inside (``dist^2 <= r^2``) reads 0.
- oriented box (centre, angle, half length along the angle, half width across): the slab method
  in the box's frame; a ray starting inside the closed box reads 0. A direction component that
  is exactly 0 in the box frame makes that slab all or nothing, so no ``0 * inf`` appears.
"""

from __future__ import annotations

import math

import numpy as np

from worlds.kernels import kernel

PARALLEL = np.float32(1e-9)


@kernel
def lidar(
    x,
    y,
    heading,
    angles,
    max_range,
    segments,
    circle_x,
    circle_y,
    circle_radius,
    circle_self,
    box_x,
    box_y,
    box_angle,
    box_half_length,
    box_half_width,
    box_self,
    out,
):
    """Fill ``out`` ``(B, N, R)`` with the first hit along each ray (``max_range`` if none).

    ``x, y, heading`` ``(B, N)``; ``angles`` ``(R,)`` ray angles relative to the heading;
    ``segments`` ``(1, S, 4)`` shared or ``(B, S, 4)`` per world; circles ``(B, M)``; boxes
    ``(B, K)``. ``circle_self`` / ``box_self``: body i skips circle / box i (its own).
    """
    num_worlds, n = x.shape
    rays = angles.size
    dir_x = np.empty(rays, np.float32)
    dir_y = np.empty(rays, np.float32)
    box_cos = np.empty(box_x.shape[1], np.float32)
    box_sin = np.empty(box_x.shape[1], np.float32)
    for b in range(num_worlds):
        seg = segments[b if segments.shape[0] > 1 else 0]
        _trig(box_angle[b], box_cos, box_sin)
        for i in range(n):
            _directions(heading[b, i], angles, dir_x, dir_y)
            best = out[b, i]
            best[:] = max_range
            px, py = x[b, i], y[b, i]
            _hit_segments(px, py, dir_x, dir_y, seg, best)
            skip = i if circle_self else -1
            _hit_circles(
                px, py, dir_x, dir_y, circle_x[b], circle_y[b], circle_radius[b], skip, best
            )
            skip = i if box_self else -1
            _hit_boxes(
                px,
                py,
                dir_x,
                dir_y,
                box_x[b],
                box_y[b],
                box_cos,
                box_sin,
                box_half_length[b],
                box_half_width[b],
                skip,
                best,
            )


@kernel
def _trig(angle, cos_out, sin_out):
    """``float32(cos(float64(a)))`` and the sine, for each angle."""
    for k in range(angle.size):
        cos_out[k] = np.float32(math.cos(np.float64(angle[k])))
        sin_out[k] = np.float32(math.sin(np.float64(angle[k])))


@kernel
def _directions(heading, angles, dir_x, dir_y):
    """Unit ray directions for one body: angle ``heading + angles[r]`` summed in float32."""
    for r in range(angles.size):
        theta = np.float64(heading + angles[r])
        dir_x[r] = np.float32(math.cos(theta))
        dir_y[r] = np.float32(math.sin(theta))


@kernel
def _hit_segments(px, py, dir_x, dir_y, seg, best):
    for k in range(seg.shape[0]):
        ax, ay = seg[k, 0], seg[k, 1]
        ex, ey = seg[k, 2] - ax, seg[k, 3] - ay
        wx, wy = ax - px, ay - py
        for r in range(dir_x.size):
            dx, dy = dir_x[r], dir_y[r]
            denom = dx * ey - dy * ex
            if abs(denom) > PARALLEL:
                t = (wx * ey - wy * ex) / denom
                u = (wx * dy - wy * dx) / denom
                if t >= 0 and u >= 0 and u <= 1 and t < best[r]:
                    best[r] = t


@kernel
def _hit_circles(px, py, dir_x, dir_y, cx, cy, radius, skip, best):
    for j in range(cx.size):
        if j == skip:
            continue
        ox, oy = cx[j] - px, cy[j] - py
        dist2 = ox * ox + oy * oy
        r2 = radius[j] * radius[j]
        if dist2 <= r2:
            best[:] = 0
            continue
        for r in range(dir_x.size):
            along = ox * dir_x[r] + oy * dir_y[r]
            perp2 = dist2 - along * along
            if perp2 <= r2:
                t = along - np.sqrt(r2 - perp2)
                if t >= 0 and t < best[r]:
                    best[r] = t


@kernel
def _hit_boxes(px, py, dir_x, dir_y, bx, by, cos_a, sin_a, half_length, half_width, skip, best):
    for k in range(bx.size):
        if k == skip:
            continue
        c, s = cos_a[k], sin_a[k]
        hl, hw = half_length[k], half_width[k]
        ox, oy = px - bx[k], py - by[k]
        lx = ox * c + oy * s
        ly = oy * c - ox * s
        if abs(lx) <= hl and abs(ly) <= hw:
            best[:] = 0
            continue
        for r in range(dir_x.size):
            ux = dir_x[r] * c + dir_y[r] * s
            uy = dir_y[r] * c - dir_x[r] * s
            t = _slab_entry(lx, ly, ux, uy, hl, hw)
            if t < best[r]:
                best[r] = t


@kernel
def _slab_entry(lx, ly, ux, uy, hl, hw):
    """Entry distance into the box ``|x| <= hl, |y| <= hw`` of a ray from ``(lx, ly)``
    (outside it) along ``(ux, uy)``, or +inf if the ray misses it."""
    enter = -np.inf
    leave = np.inf
    if ux != 0:
        t1 = (-hl - lx) / ux
        t2 = (hl - lx) / ux
        enter = max(enter, min(t1, t2))
        leave = min(leave, max(t1, t2))
    elif abs(lx) > hl:
        return np.inf
    if uy != 0:
        t1 = (-hw - ly) / uy
        t2 = (hw - ly) / uy
        enter = max(enter, min(t1, t2))
        leave = min(leave, max(t1, t2))
    elif abs(ly) > hw:
        return np.inf
    if enter <= leave and leave >= 0:
        return np.float32(max(enter, 0))
    return np.inf
