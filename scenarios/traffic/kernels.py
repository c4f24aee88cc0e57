"""Compiled kernels of the traffic family: points along lanes, the ego-frame vehicle set, the
lane-keeping controller and the counting line. Loops run world by world (``worlds.kernels``)."""

from __future__ import annotations

import numpy as np

from worlds.kernels import kernel
from worlds.kernels.counter import normal

VEHICLE_COLUMNS = ("dx", "dy", "cos", "sin", "dvx", "dvy", "length", "width")


@kernel
def _point_at(vertices, counts, start_s, length, loop, lane, s):
    """Point ``(x, y)`` and heading of ``lane`` at arc length ``s`` (wrapped on a loop,
    extended along the first or last segment past a lane's ends)."""
    n = counts[lane]
    total = length[lane]
    if loop[lane]:
        s = s - np.floor(s / total) * total
    k = np.searchsorted(start_s[lane, :n], s, side="right") - 1
    k = min(max(k, 0), n - 2)
    ax, ay = vertices[lane, k, 0], vertices[lane, k, 1]
    ex, ey = vertices[lane, k + 1, 0] - ax, vertices[lane, k + 1, 1] - ay
    step = start_s[lane, k + 1] - start_s[lane, k]
    t = (s - start_s[lane, k]) / step
    return ax + t * ex, ay + t * ey, np.arctan2(ey, ex)


@kernel
def lane_points(vertices, counts, start_s, length, loop, lane, s, out_x, out_y, out_heading):
    """Points of lanes ``lane`` ``(B, N)`` at arc lengths ``s`` ``(B, N, P)`` into ``out_*``
    ``(B, N, P)`` (lanes shared by all worlds: ``vertices`` ``(L, V, 2)``)."""
    worlds, n, points = s.shape
    for b in range(worlds):
        for i in range(n):
            for p in range(points):
                x, y, h = _point_at(vertices, counts, start_s, length, loop, lane[b, i], s[b, i, p])
                out_x[b, i, p], out_y[b, i, p], out_heading[b, i, p] = x, y, h


@kernel
def ego_lane_points(vertices, counts, start_s, length, loop, lane, s, x, y, angle,
                    distances, out):  # fmt: skip
    """The first ``n`` cars' lanes ahead: points at ``s + distances[p]`` ``(P,)`` in each car's
    frame (x ahead, y left) into ``out`` ``(B, n, 2 P)``."""
    worlds, n = out.shape[0], out.shape[1]
    for b in range(worlds):
        for i in range(n):
            c, sn = np.cos(angle[b, i]), np.sin(angle[b, i])
            for p in range(distances.shape[0]):
                px, py, _ = _point_at(
                    vertices, counts, start_s, length, loop, lane[b, i], s[b, i] + distances[p]
                )
                dx, dy = px - x[b, i], py - y[b, i]
                out[b, i, 2 * p] = c * dx + sn * dy
                out[b, i, 2 * p + 1] = -sn * dx + c * dy


@kernel
def nearest_vehicles(x, y, angle, speed, size, present, rows, valid):
    """For each of the first ``n`` cars (``rows`` ``(B, n, k, 8)``), the k nearest other
    ``present`` cars in its frame: offset, relative heading (cos, sin), relative velocity,
    length and width (``size`` ``(N, 2)``); ``valid`` 1 per filled slot, padding zeros."""
    worlds, n, k = rows.shape[0], rows.shape[1], rows.shape[2]
    total = x.shape[1]
    best = np.empty(k)  # the k smallest distances so far, ascending (ties: lower index first)
    order = np.empty(k, np.int64)
    for b in range(worlds):
        for i in range(n):
            rows[b, i] = 0.0
            valid[b, i] = 0.0
            found = 0
            for j in range(total):
                if not present[b, j] or j == i:
                    continue
                dx, dy = x[b, j] - x[b, i], y[b, j] - y[b, i]
                d = dx * dx + dy * dy
                if found == k and d >= best[k - 1]:
                    continue
                at = min(found, k - 1)
                while at > 0 and best[at - 1] > d:
                    best[at], order[at] = best[at - 1], order[at - 1]
                    at -= 1
                best[at], order[at] = d, j
                found = min(found + 1, k)
            c, sn = np.cos(angle[b, i]), np.sin(angle[b, i])
            vx, vy = speed[b, i] * c, speed[b, i] * sn
            for slot in range(found):
                j = order[slot]
                dx, dy = x[b, j] - x[b, i], y[b, j] - y[b, i]
                cj, sj = np.cos(angle[b, j]), np.sin(angle[b, j])
                dvx, dvy = speed[b, j] * cj - vx, speed[b, j] * sj - vy
                row = rows[b, i, slot]
                row[0], row[1] = c * dx + sn * dy, -sn * dx + c * dy
                row[2], row[3] = c * cj + sn * sj, c * sj - sn * cj
                row[4], row[5] = c * dvx + sn * dvy, -sn * dvx + c * dvy
                row[6], row[7] = size[j, 0], size[j, 1]
                valid[b, i, slot] = 1.0


def lane_keeping(offset, heading_error, curvature, speed, wheelbase, gains, steer, approach=None):
    """Steering that keeps cars on their target lanes: the lane's curvature fed forward, minus
    ``gains[0]`` times the heading error and a Stanley term ``atan(gains[1] d / max(v, 2))``;
    ``wheelbase`` per car ``(N,)``. ``approach`` ``(N,)`` caps the Stanley term's angle per
    car (the heading a car takes toward its lane: a long vehicle's corners sweep farther for
    the same angle), none when not given."""
    cap = np.full(wheelbase.shape[0], np.pi) if approach is None else approach
    _lane_keeping(offset, heading_error, curvature, speed, wheelbase, gains, cap, steer)


@kernel
def _lane_keeping(offset, heading_error, curvature, speed, wheelbase, gains, cap, steer):
    worlds, n = offset.shape
    for b in range(worlds):
        for i in range(n):
            v = max(abs(speed[b, i]), 2.0)
            toward = np.arctan(gains[1] * offset[b, i] / v)
            toward = min(max(toward, -cap[i]), cap[i])
            steer[b, i] = (
                np.arctan(wheelbase[i] * curvature[b, i]) - gains[0] * heading_error[b, i] - toward
            )


@kernel
def crossings(x0, y0, x1, y1, lines):
    """How many cars ``(B, N)`` moved across any of the counting lines ``lines`` ``(D, 4)``
    (from ``(ax, ay)`` to ``(bx, by)``) this step (from ``(x0, y0)`` to ``(x1, y1)``), per
    world ``(B,)``."""
    worlds, n = x0.shape
    out = np.zeros(worlds)
    for d in range(lines.shape[0]):
        ax, ay = lines[d, 0], lines[d, 1]
        ex, ey = lines[d, 2] - ax, lines[d, 3] - ay
        for b in range(worlds):
            for i in range(n):
                px, py = x1[b, i] - x0[b, i], y1[b, i] - y0[b, i]
                cross = px * ey - py * ex
                if cross == 0.0:
                    continue
                wx, wy = ax - x0[b, i], ay - y0[b, i]
                t = (wx * ey - wy * ex) / cross
                u = (wx * py - wy * px) / cross
                if 0.0 < t <= 1.0 and 0.0 <= u <= 1.0:
                    out[b] += 1.0
    return out


@kernel
def perturb_vehicles(rows, valid, keys, steps, sigma):
    """Observation noise (GIGAFLOW noises what a car sees instead of modelling occlusion): adds
    ``sigma`` times a standard normal to each seen vehicle's offset (m) and relative velocity
    (m/s) in ``rows`` ``(B, n, k, 8)``. Each draw comes from the world's key ``keys`` ``(B,)``
    (uint64, drawn at the reset) and a counter of (step ``steps[b]``, car, slot, column): the
    same episode and step give the same noise, whatever else the batch did."""
    worlds, n, k = rows.shape[0], rows.shape[1], rows.shape[2]
    per_step = np.uint64(n * k * 8)
    for b in range(worlds):
        base = keys[b] + np.uint64(steps[b]) * per_step
        for i in range(n):
            for s in range(k):
                if valid[b, i, s] <= 0.0:
                    continue
                for c in (0, 1, 4, 5):
                    rows[b, i, s, c] += sigma * normal(base + np.uint64((i * k + s) * 8 + c))
