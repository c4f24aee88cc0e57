"""Polyline kernels: project points onto lanes (polylines) for lane coordinates ``(s, d)``.

``worlds.polyline`` checks the arguments and calls these; its ``*_reference`` functions are the
numpy versions they are tested against (bit for bit: the same float32 operations in the same
order). Lanes come as padded vertices ``(Bl, L, P, 2)`` (``Bl`` 1 when all worlds share them),
``counts`` ``(Bl, L)`` valid vertices per lane (>= 2, no zero-length segment), and ``start_s``
``(Bl, L, P)`` the arc length at each vertex.

For one point and one lane: the **segment** is the one holding the lane's closest point (the
first such on ties), found with the parameter ``t`` clamped to ``[0, 1]``. Then ``t`` is
recomputed on that segment and clamped again, except below 0 on the first segment and above 1 on
the last: a point before the lane's start or past its end is projected onto the first or last
segment's line, so ``s`` runs below 0 or past the lane's length. ``(x, y)`` is the lane point at
``s`` and ``d`` the signed distance from it, positive to the left of the lane's direction.
"""

from __future__ import annotations

import numpy as np

from worlds.kernels import kernel

ZERO = np.float32(0)
ONE = np.float32(1)
INF = np.float32(np.inf)


@kernel
def project(x, y, lane_index, vertices, counts, start_s, out_s, out_d, out_segment, out_x, out_y):
    """Lane coordinates of each point ``(x, y)[b, i]`` on lane ``lane_index[b, i]``."""
    num_worlds, n = x.shape
    for b in range(num_worlds):
        lb = b if vertices.shape[0] > 1 else 0
        for i in range(n):
            lane = lane_index[b, i]
            px, py = x[b, i], y[b, i]
            segment, _ = _closest_segment(px, py, vertices[lb, lane], counts[lb, lane])
            s, d, qx, qy = _coordinates(
                px, py, vertices[lb, lane], counts[lb, lane], start_s[lb, lane], segment
            )
            out_s[b, i], out_d[b, i], out_x[b, i], out_y[b, i] = s, d, qx, qy
            out_segment[b, i] = segment


@kernel
def nearest_lane(
    x, y, vertices, counts, start_s, out_lane, out_s, out_d, out_segment, out_x, out_y
):
    """As ``project``, on the lane whose polyline is nearest each point (lowest index on ties)."""
    num_worlds, n = x.shape
    lanes = vertices.shape[1]
    for b in range(num_worlds):
        lb = b if vertices.shape[0] > 1 else 0
        for i in range(n):
            px, py = x[b, i], y[b, i]
            best_lane, best_segment, best = 0, 0, INF
            for lane in range(lanes):
                segment, dist2 = _closest_segment(px, py, vertices[lb, lane], counts[lb, lane])
                if dist2 < best:
                    best_lane, best_segment, best = lane, segment, dist2
            s, d, qx, qy = _coordinates(
                px,
                py,
                vertices[lb, best_lane],
                counts[lb, best_lane],
                start_s[lb, best_lane],
                best_segment,
            )
            out_s[b, i], out_d[b, i], out_x[b, i], out_y[b, i] = s, d, qx, qy
            out_segment[b, i] = best_segment
            out_lane[b, i] = best_lane


@kernel
def _closest_segment(px, py, vertices, count):
    """The segment holding the polyline's closest point to ``(px, py)`` (first on ties) and
    the squared distance to it (float32)."""
    best_segment, best = 0, INF
    for k in range(count - 1):
        ax, ay = vertices[k, 0], vertices[k, 1]
        ex, ey = vertices[k + 1, 0] - ax, vertices[k + 1, 1] - ay
        wx, wy = px - ax, py - ay
        t = (wx * ex + wy * ey) / (ex * ex + ey * ey)
        t = _clamp(t, ZERO, ONE)
        dx, dy = px - (ax + t * ex), py - (ay + t * ey)
        dist2 = dx * dx + dy * dy
        if dist2 < best:
            best_segment, best = k, dist2
    return best_segment, best


@kernel
def _coordinates(px, py, vertices, count, start_s, k):
    """``s, d`` and the lane point for the point's projection on segment ``k`` (extended past
    the lane's ends on its first and last segment)."""
    ax, ay = vertices[k, 0], vertices[k, 1]
    ex, ey = vertices[k + 1, 0] - ax, vertices[k + 1, 1] - ay
    wx, wy = px - ax, py - ay
    length2 = ex * ex + ey * ey
    t = (wx * ex + wy * ey) / length2
    low = -INF if k == 0 else ZERO
    high = INF if k == count - 2 else ONE
    t = _clamp(t, low, high)
    qx, qy = ax + t * ex, ay + t * ey
    s = start_s[k] + t * np.sqrt(length2)
    dx, dy = px - qx, py - qy
    dist = np.sqrt(dx * dx + dy * dy)
    d = dist if ex * wy - ey * wx >= 0 else -dist
    return s, d, qx, qy


@kernel
def _clamp(t, low, high):
    """``t`` clamped to ``[low, high]``; NaN stays NaN (as ``np.clip``)."""
    if t < low:
        return low
    if t > high:
        return high
    return t
