"""Junction road presets: a four-way crossing (``intersection``) and a one-lane roundabout
(``roundabout``) with the same four arms (``ARMS``), as lane graphs (``roads.RoadMap``)."""

from __future__ import annotations

import math

import numpy as np

from scenarios.traffic.roads import Detector, Lane, RoadMap, _arc

ARMS = ("east", "north", "west", "south")


def intersection(arm_length: float = 100.0, lane_width: float = 3.5, speed_limit: float = 13.9,
                 lateral_accel: float = 3.0) -> RoadMap:  # fmt: skip
    """A four-way crossing of two two-lane roads (right-hand traffic) centred on the origin.
    Each arm (``ARMS``, counter-clockwise from +x) has ``{arm}_in``, driven toward the centre
    and ending at the stop line ``2 lane_width + 1`` m out, and ``{arm}_out`` (an exit). The
    junction holds a connector ``{a}_to_{b}`` from every ``a_in`` to every other ``b_out``:
    straight across, or a quarter circle round the corner between (right turns tight, left
    turns wide), whose speed limit lets a car take it at ``lateral_accel``. Detectors cross
    each out lane 20 m past the junction."""
    w, h = lane_width, 2 * lane_width + 1.0
    units = [np.array([math.cos(k * math.pi / 2), math.sin(k * math.pi / 2)]) for k in range(4)]
    normals = [np.array([-u[1], u[0]]) for u in units]
    lanes, detectors = [], []
    for a, (u, n) in enumerate(zip(units, normals, strict=True)):
        arm = ARMS[a]
        into = np.array([u * (h + arm_length) + n * w / 2, u * h + n * w / 2])
        away = np.array([u * h - n * w / 2, u * (h + arm_length) - n * w / 2])
        links = tuple(f"{arm}_to_{ARMS[b]}" for b in range(4) if b != a)
        lanes += [Lane(f"{arm}_in", into, w, links, speed_limit=speed_limit),
                  Lane(f"{arm}_out", away, w, (), speed_limit=speed_limit, exit=True)]  # fmt: skip
        at = u * (h + 20.0) - n * w / 2
        ends = at + n * (w / 2 + 0.5), at - n * (w / 2 + 0.5)
        detectors.append(Detector(f"{arm}_out", *(tuple(map(float, e)) for e in ends)))
        for b in range(4):
            if b == a:
                continue
            start, stop = into[1], units[b] * h - normals[b] * w / 2
            turn = (b - a) % 4  # 2: straight, 1: right (clockwise), 3: left
            if turn == 2:
                points, limit = np.array([start, stop]), speed_limit
            else:
                corner = u * (start @ u) + units[b] * (stop @ units[b])
                radius = float(np.hypot(*(start - corner)))
                begin = math.atan2(*(start - corner)[::-1])
                end = math.atan2(*(stop - corner)[::-1])
                sweep = (end - begin + math.pi) % (2 * math.pi) - math.pi
                points = corner + _arc(radius, begin, begin + sweep, 8)
                limit = min(speed_limit, math.sqrt(lateral_accel * radius))
            lanes.append(Lane(f"{arm}_to_{ARMS[b]}", points, w, (f"{ARMS[b]}_out",),
                              speed_limit=limit))  # fmt: skip
    return RoadMap("intersection", lanes, detectors)


def _bezier(p0, d0, p1, d1, segments: int = 10) -> np.ndarray:
    """A cubic Bezier from ``p0`` leaving along unit ``d0`` to ``p1`` arriving along ``d1``,
    handles a third of the chord long, sampled at ``segments + 1`` points."""
    k = np.hypot(*(p1 - p0)) / 3.0
    c0, c1 = p0 + k * d0, p1 - k * d1
    t = np.linspace(0.0, 1.0, segments + 1)[:, None]
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * c0 + 3 * (1 - t) * t**2 * c1 + t**3 * p1


def _least_radius(points: np.ndarray) -> float:
    """The least radius of the circles through three consecutive points of a polyline."""
    a, b, c = points[:-2], points[1:-1], points[2:]
    ab, bc, ca = (np.hypot(*(q - p).T) for p, q in ((a, b), (b, c), (c, a)))
    cross = np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    radius = ab * bc * ca / np.maximum(2.0 * cross, 1e-12)
    return float(radius.min())


def roundabout(arm_length: float = 100.0, lane_width: float = 3.5, speed_limit: float = 13.9,
               radius: float = 20.0, lateral_accel: float = 3.0) -> RoadMap:  # fmt: skip
    """A one-lane roundabout (right-hand traffic: counter-clockwise) of centre-line ``radius``
    centred on the origin, with the four arms of ``intersection`` (``ARMS``). Arm ``a``'s
    ``{arm}_in`` ends at the yield line ``radius + 2 lane_width`` out; ``{arm}_entry`` curves
    from there onto the ring, joining it ``ENTRY_ANGLE`` past the arm's axis; ``{arm}_exit``
    leaves the ring as far before the axis for ``{arm}_out``. The ring is eight arcs:
    ``{arm}_pass`` from arm a's exit to its entry, ``{arm}_next`` from its entry to the next
    arm's exit. Speed limits let a car take each curve at ``lateral_accel``. Detectors cross
    each out lane 20 m past the yield line."""
    w, out = lane_width, radius + 2.0 * lane_width
    units = [np.array([math.cos(k * math.pi / 2), math.sin(k * math.pi / 2)]) for k in range(4)]
    normals = [np.array([-u[1], u[0]]) for u in units]
    beta = ENTRY_ANGLE

    def ring_arc(start: float, stop: float) -> np.ndarray:  # about 2 m per segment
        return _arc(radius, start, stop, max(2, round(radius * (stop - start) / 2.0)))

    ring_limit = min(speed_limit, math.sqrt(lateral_accel * radius))
    lanes, detectors = [], []
    for a, (u, n) in enumerate(zip(units, normals, strict=True)):
        arm, nxt = ARMS[a], ARMS[(a + 1) % 4]
        theta = a * math.pi / 2
        into = np.array([u * (out + arm_length) + n * w / 2, u * out + n * w / 2])
        away = np.array([u * out - n * w / 2, u * (out + arm_length) - n * w / 2])
        merge_at, leave_at = theta + beta, theta - beta
        on = radius * np.array([math.cos(merge_at), math.sin(merge_at)])
        off = radius * np.array([math.cos(leave_at), math.sin(leave_at)])
        tangent_on = np.array([-math.sin(merge_at), math.cos(merge_at)])
        tangent_off = np.array([-math.sin(leave_at), math.cos(leave_at)])
        entry = _bezier(into[1], -u, on, tangent_on)
        leave = _bezier(off, tangent_off, away[0], u)
        lanes += [
            Lane(f"{arm}_in", into, w, (f"{arm}_entry",), speed_limit=speed_limit),
            Lane(f"{arm}_entry", entry, w, (f"{arm}_next",),
                 speed_limit=min(speed_limit, math.sqrt(lateral_accel * _least_radius(entry)))),
            Lane(f"{arm}_pass", ring_arc(leave_at, merge_at), w, (f"{arm}_next",),
                 speed_limit=ring_limit),
            Lane(f"{arm}_next", ring_arc(merge_at, theta + math.pi / 2 - beta), w,
                 (f"{nxt}_pass", f"{nxt}_exit"), speed_limit=ring_limit),
            Lane(f"{arm}_exit", leave, w, (f"{arm}_out",),
                 speed_limit=min(speed_limit, math.sqrt(lateral_accel * _least_radius(leave)))),
            Lane(f"{arm}_out", away, w, (), speed_limit=speed_limit, exit=True),
        ]  # fmt: skip
        at = u * (out + 20.0) - n * w / 2
        ends = at + n * (w / 2 + 0.5), at - n * (w / 2 + 0.5)
        detectors.append(Detector(f"{arm}_out", *(tuple(map(float, e)) for e in ends)))
    return RoadMap("roundabout", lanes, detectors)


ENTRY_ANGLE = math.radians(30.0)
"""How far past (before) an arm's axis its entry joins (its exit leaves) the roundabout."""
