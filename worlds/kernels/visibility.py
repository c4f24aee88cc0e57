"""Visibility kernels: box lidar, line of sight and view cones (``worlds.visibility``).

Each public kernel fills a caller-owned output for every body of every world, world by world;
the per-body helpers (``ray_box_distances``, ``sight_clear``, ``in_view``, ``complex_abs``) are
compiled functions that scenario kernels call inside their own loops, so that a whole sensing
stage is one call. Helpers take whole arrays and indices rather than views: making a view in a
loop costs two atomic reference counts. Arithmetic is float32 in the order the numpy references
use, so results are bit for bit those of ``worlds.visibility``'s ``*_reference`` functions.
"""

from __future__ import annotations

import numpy as np

from worlds.kernels import kernel

FULL_CIRCLE, CONVEX_CONE, WIDE_CONE = 0, 1, 2
"""``in_view`` modes: no angle test (half angle >= pi), cos(half angle) >= 0, or < 0."""


@kernel(inline="always")
def fmin(a, b):
    """``np.fmin`` of two scalars: the smaller, ignoring a NaN."""
    if a != a:
        return b
    if b != b:
        return a
    return a if a <= b else b


@kernel(inline="always")
def fmax(a, b):
    """``np.fmax`` of two scalars: the larger, ignoring a NaN."""
    if a != a:
        return b
    if b != b:
        return a
    return a if a >= b else b


@kernel(inline="always")
def complex_abs(x, y):
    """``np.abs`` of the complex64 ``x + iy`` as numpy computes it (float32):
    ``max * sqrt(fma(min / max, min / max, 1))``, the fused multiply-add done exactly in
    float64 (a 24-bit square is exact there)."""
    ax, ay = abs(x), abs(y)
    larger = ax if ax >= ay else ay
    smaller = ay if ax >= ay else ax
    if larger == 0:
        return larger
    ratio = smaller / larger
    square = np.float32(np.float64(ratio) * np.float64(ratio) + 1.0)
    return np.sqrt(square) * larger


@kernel(inline="always")
def ray_box_distances(px, py, inv_x, inv_y, room, boxes, max_range, out, b, i, start):
    """Distances along each ray from ``(px, py)`` into ``out[b, i, start:start + rays]`` (see
    ``worlds.visibility.box_lidar``): the inside of the room ``[-room[0], room[0]] x
    [-room[1], room[1]]`` when ``room`` has two entries, and the outside of each box row
    ``(cx, cy, half_w, half_h)``, by the slab method. The numpy reference's ``fmin`` (which
    skips the NaN of ``0 * inf``) becomes a comparison with the running best, which is never
    NaN; rays along an axis (an infinite inverse) keep the NaN-aware ``fmin``/``fmax``. A box
    farther than ``max_range`` along x or y is skipped: every slab entry parameter is at least
    that gap (``|inverse| >= 1``), rounding included (the margin), so it changes no ray."""
    zero = np.float32(0.0)
    rays = inv_x.shape[0]
    for r in range(rays):
        best = max_range
        if room.shape[0] == 2:
            t = ((room[0] if inv_x[r] > 0 else -room[0]) - px) * inv_x[r]
            best = t if t < best else best
            t = ((room[1] if inv_y[r] > 0 else -room[1]) - py) * inv_y[r]
            best = t if t < best else best
        out[b, i, start + r] = best
    reach = max_range * np.float32(1.001) + np.float32(1e-3)
    for k in range(boxes.shape[0]):
        cx, cy, half_w, half_h = boxes[k, 0], boxes[k, 1], boxes[k, 2], boxes[k, 3]
        if abs(cx - px) - half_w > reach or abs(cy - py) - half_h > reach:
            continue
        low_x, high_x = (cx - half_w) - px, (cx + half_w) - px
        low_y, high_y = (cy - half_h) - py, (cy + half_h) - py
        for r in range(rays):
            ix, iy = inv_x[r], inv_y[r]
            t1, t2, t3, t4 = low_x * ix, high_x * ix, low_y * iy, high_y * iy
            if abs(ix) < np.inf and abs(iy) < np.inf:
                enter = max(min(t1, t2), min(t3, t4))
                leave = min(max(t1, t2), max(t3, t4))
            else:
                enter = fmax(fmin(t1, t2), fmin(t3, t4))
                leave = fmin(fmax(t1, t2), fmax(t3, t4))
            t = enter if enter >= zero else zero
            if enter <= leave and leave >= zero and t < out[b, i, start + r]:
                out[b, i, start + r] = t
    for r in range(rays):
        if not out[b, i, start + r] >= zero:
            out[b, i, start + r] = zero


@kernel
def box_lidar(x, y, inv_x, inv_y, room, boxes, max_range, out):
    """``ray_box_distances`` for every body: ``x, y`` ``(B, N)`` float32, ``out``
    ``(B, N, rays)`` float32."""
    for b in range(x.shape[0]):
        for i in range(x.shape[1]):
            ray_box_distances(x[b, i], y[b, i], inv_x, inv_y, room, boxes, max_range, out, b, i, 0)


@kernel
def sight_clear(px, py, tx, ty, segments):
    """Whether the line from ``(px, py)`` to ``(tx, ty)`` crosses none of the ``segments``
    rows ``(ax, ay, bx, by)`` (touching an end point blocks; a zero-length line never is)."""
    dx = tx - px
    dy = ty - py
    if not dx * dx + dy * dy > 0:
        return True
    for s in range(segments.shape[0]):
        ax, ay, bx, by = segments[s, 0], segments[s, 1], segments[s, 2], segments[s, 3]
        ex = bx - ax
        ey = by - ay
        side_a = dx * (ay - py) - dy * (ax - px)
        side_b = dx * (by - py) - dy * (bx - px)
        side_p = ex * (py - ay) - ey * (px - ax)
        side_t = ex * ((py + dy) - ay) - ey * ((px + dx) - ax)
        if side_a * side_b <= 0 and side_p * side_t <= 0:
            return False
    return True


@kernel
def line_of_sight(observer, target, segments, out):
    """``sight_clear`` from each observer to each target: ``observer`` complex ``(B, No)``,
    ``target`` complex ``(B, Nt)``, ``out`` bool ``(B, No, Nt)``."""
    for b in range(observer.shape[0]):
        for i in range(observer.shape[1]):
            px, py = observer[b, i].real, observer[b, i].imag
            for j in range(target.shape[1]):
                out[b, i, j] = sight_clear(px, py, target[b, j].real, target[b, j].imag, segments)


@kernel(inline="always")
def in_view(ox, oy, hx, hy, mode, cos2, range2):
    """Whether offset ``(ox, oy)`` lies within ``range2`` (squared range) and within the cone
    around unit heading ``(hx, hy)``; ``cos2`` the squared cosine of the half angle and
    ``mode`` one of ``FULL_CIRCLE``, ``CONVEX_CONE``, ``WIDE_CONE``."""
    along = ox * hx + oy * hy
    dist2 = ox * ox + oy * oy
    if not dist2 <= range2:
        return False
    if mode == FULL_CIRCLE:
        return True
    if mode == CONVEX_CONE:
        return along >= 0 and along * along >= cos2 * dist2
    return along >= 0 or along * along <= cos2 * dist2


@kernel
def in_field_of_view(offset, heading, mode, cos2, range2, out):
    """``in_view`` for complex ``offset`` ``(B, No, Nt)`` and ``heading`` ``(B, No)``, into
    bool ``out`` ``(B, No, Nt)``."""
    for b in range(offset.shape[0]):
        for i in range(offset.shape[1]):
            hx, hy = heading[b, i].real, heading[b, i].imag
            for j in range(offset.shape[2]):
                o = offset[b, i, j]
                out[b, i, j] = in_view(o.real, o.imag, hx, hy, mode, cos2, range2)
