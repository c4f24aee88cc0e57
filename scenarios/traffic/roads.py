"""Roads: a lane graph of polylines, its JSON format, presets, lane coordinates and off-road.

A ``RoadMap`` holds lanes, each a polyline (its driving direction is the vertex order) with a
``width``, ``successors`` (lanes a car continues on at its end: itself for a closed loop, none
for a lane that ends, as a dropped lane does), lane-change neighbours ``left`` and ``right``
(or none) and a ``speed_limit``; and ``detectors``, lines across the road where vehicles are
counted (throughput). Conflict points, where lanes that are not successors or neighbours of
each other cross, are derived (``RoadMap.conflicts``): ``(lane_a, s_a, lane_b, s_b)`` rows.

Lane coordinates come from ``worlds.polyline`` (compiled, vectorized over ``(B, N)`` cars):
``RoadMap.coordinates(x, y, angle, lane)`` gives the arc length ``s``, the signed lateral offset
``d`` (left positive) and the heading error (car heading minus the lane's, wrapped to
``[-pi, pi)``) on given lanes, or on the nearest lane when ``lane`` is None. ``off_road`` says
which points lie outside every lane polygon: farther than half its width (plus a margin) from
the nearest lane, or past the end of a lane that does not continue.

JSON format (``RoadMap.load``/``save``; ``maps/ring.json`` is the ``ring()`` preset)::

    {"format": "marl-worlds/road-map", "version": 1, "name": "ring",
     "lanes": [{"name": "outer", "points": [[x, y], ...], "width": 3.5,
                "successors": ["outer"], "left": null, "right": null, "speed_limit": 30.0}],
     # optional per lane: "exit": true (the road ends there; cars finish)
     "detectors": [{"name": "exit", "a": [x, y], "b": [x, y]}]}

Coordinates are metres, speeds m/s. ``points`` need at least two vertices, no two consecutive
alike; ``successors``, ``left`` and ``right`` name lanes of the map. The arrays ``successor``
and ``predecessor`` hold, per lane, the first lane it continues on and one lane that leads into
it (-1 none), for leader searches across lane ends (``idm.drive``). A file is read with
``json.load`` and checked field by field; an error is one line naming the field
(``lanes[1].width must be a number > 0, got -1``). Nothing in a file is evaluated.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worlds.polyline import LanePosition, Lanes, nearest_lane, project

FORMAT, VERSION = "marl-worlds/road-map", 1
MAPS = Path(__file__).resolve().parent / "maps"


class RoadMapError(ValueError):
    """A road map is malformed; the message names the field."""


@dataclass(frozen=True, eq=False)
class Lane:
    """One lane: a polyline ``points`` ``(n, 2)`` in driving order and its links (by name)."""

    name: str
    points: np.ndarray
    width: float
    successors: tuple[str, ...] = ()
    left: str | None = None
    right: str | None = None
    speed_limit: float = 30.0
    exit: bool = False
    """The road ends here: a car reaching the end leaves the road (finishes) rather than
    meeting a dead end."""


@dataclass(frozen=True)
class Detector:
    """A counting line from ``a`` to ``b``; a vehicle crossing it (either way) is counted."""

    name: str
    a: tuple[float, float]
    b: tuple[float, float]


@dataclass
class LaneCoordinates:
    """Lane coordinates of points: ``position`` (``worlds.polyline.LanePosition``: lane, segment,
    s, d, lane point) and ``heading_error`` ``(B, N)`` float32."""

    position: LanePosition
    heading_error: np.ndarray


class RoadMap:
    """A lane graph; arrays per lane (index order of ``lanes``): ``width``, ``left``/``right``
    (-1 when none), ``loop`` (its own successor), ``dead_end`` (no successor), ``length``;
    ``polylines`` (``worlds.polyline.Lanes``), ``segment_heading`` and ``segment_curvature``
    ``(L, P - 1)``, ``conflicts`` ``(K, 4)``."""

    def __init__(self, name: str, lanes: list[Lane], detectors: list[Detector] = ()) -> None:
        self.name, self.lanes, self.detectors = name, tuple(lanes), tuple(detectors)
        if not self.lanes:
            raise RoadMapError("lanes must hold at least one lane")
        self.index = {lane.name: i for i, lane in enumerate(self.lanes)}
        if len(self.index) != len(self.lanes):
            raise RoadMapError("lanes: names must be unique")
        for i, lane in enumerate(self.lanes):
            _check_lane(lane, i, self.index)
        self.width = np.array([lane.width for lane in self.lanes], np.float32)
        self.speed_limit = np.array([lane.speed_limit for lane in self.lanes], np.float32)
        self.left, self.right = (
            np.array([-1 if n is None else self.index[n] for n in names], np.int32)
            for names in zip(*[(lane.left, lane.right) for lane in self.lanes], strict=True)
        )
        successors = [[self.index[s] for s in lane.successors] for lane in self.lanes]
        self.loop = np.array([i in s for i, s in enumerate(successors)])
        self.dead_end = np.array([not s for s in successors])
        self.exit = np.array([lane.exit for lane in self.lanes])
        self.successor = np.array([s[0] if s else -1 for s in successors], np.int64)
        self.predecessor = np.full(len(self.lanes), -1, np.int64)
        for i, s in reversed(list(enumerate(successors))):
            self.predecessor[[j for j in s if j != i]] = i
        self.has_predecessor = np.zeros(len(self.lanes), bool)
        self.has_predecessor[[j for s in successors for j in s]] = True
        try:
            self.polylines = Lanes.from_polylines([lane.points for lane in self.lanes])
        except ValueError as error:
            raise RoadMapError(f"lanes: points {error}") from None
        self.length = self.polylines.length[0].astype(np.float32)
        self.segment_heading, self.segment_curvature = _segment_geometry(self.polylines, self.loop)
        self.conflicts = _conflicts(self, successors)
        self.detector_lines = np.array([(*d.a, *d.b) for d in self.detectors]).reshape(-1, 4)

    # ------------------------------------------------------------------------------- geometry
    @property
    def num_lanes(self) -> int:
        return len(self.lanes)

    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, xmax, ymin, ymax)`` of the lane polygons (vertices padded by their width)."""
        points = np.concatenate([lane.points for lane in self.lanes])
        pad = float(self.width.max())
        (xmin, ymin), (xmax, ymax) = points.min(0) - pad, points.max(0) + pad
        return float(xmin), float(xmax), float(ymin), float(ymax)

    def coordinates(self, x, y, angle, lane=None) -> LaneCoordinates:
        """Lane coordinates of cars at ``(x, y)`` heading ``angle``, ``(B, N)``, on lanes
        ``lane`` ``(B, N)`` (the nearest lane when None)."""
        if lane is None:
            position = nearest_lane(x, y, self.polylines)
        else:
            position = project(x, y, self.polylines, lane)
        heading = self.segment_heading[position.lane, position.segment]
        error = (np.asarray(angle, np.float32) - heading + np.pi) % np.float32(2 * np.pi) - np.pi
        return LaneCoordinates(position, error.astype(np.float32))

    def off_road(self, x, y, margin: float = 0.0) -> np.ndarray:
        """Whether each point ``(B, N)`` lies outside every lane polygon widened by ``margin``."""
        position = nearest_lane(x, y, self.polylines)
        lane, s = position.lane, position.s
        outside = np.abs(position.d) > self.width[lane] / 2 + margin
        before = (s < -margin) & ~self.has_predecessor[lane] & ~self.loop[lane]
        past = (s > self.length[lane] + margin) & self.dead_end[lane]
        return outside | before | past

    # ----------------------------------------------------------------------------------- JSON
    def to_dict(self) -> dict:
        lanes = [
            {"name": lane.name, "points": np.asarray(lane.points, float).tolist(),
             "width": float(lane.width), "successors": list(lane.successors),
             "left": lane.left, "right": lane.right, "speed_limit": float(lane.speed_limit),
             **({"exit": True} if lane.exit else {})}
            for lane in self.lanes
        ]  # fmt: skip
        detectors = [{"name": d.name, "a": list(d.a), "b": list(d.b)} for d in self.detectors]
        return {"format": FORMAT, "version": VERSION, "name": self.name, "lanes": lanes,
                "detectors": detectors}  # fmt: skip

    def __eq__(self, other) -> bool:
        return isinstance(other, RoadMap) and self.to_dict() == other.to_dict()

    __hash__ = None

    def save(self, path) -> None:
        text = json.dumps(self.to_dict(), indent=1)
        # One line per point: "[x, y]" instead of four lines.
        text = re.sub(r"\[\s+(-?[\d.e+-]+),\s+(-?[\d.e+-]+)\s+\]", r"[\1, \2]", text)
        Path(path).write_text(text + "\n")

    @classmethod
    def load(cls, path) -> RoadMap:
        """A map from a JSON file (see the module docstring); ``RoadMapError`` names the field."""
        try:
            with open(path) as file:
                data = json.load(file)
        except json.JSONDecodeError as error:
            msg = f"{Path(path).name}: not JSON ({error.msg}, line {error.lineno})"
            raise RoadMapError(msg) from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data) -> RoadMap:
        if not isinstance(data, dict):
            raise RoadMapError(f"map must be a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            got = (data.get("format"), data.get("version"))
            raise RoadMapError(f"format and version must be {FORMAT!r} and {VERSION}, got {got}")
        name = _string(data, "name", "map")
        lanes = [_read_lane(item, f"lanes[{i}]") for i, item in enumerate(_list(data, "lanes"))]
        detectors = [
            _read_detector(item, f"detectors[{i}]")
            for i, item in enumerate(_list(data, "detectors", required=False))
        ]
        return cls(name, lanes, detectors)


# --------------------------------------------------------------------------- JSON, checked
def _list(data: dict, key: str, required: bool = True) -> list:
    if key not in data and not required:
        return []
    value = data.get(key)
    if not isinstance(value, list):
        raise RoadMapError(f"{key} must be a list, got {value!r:.60}")
    return value


def _string(data: dict, key: str, where: str, optional: bool = False) -> str | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise RoadMapError(f"{where}.{key} must be a non-empty string, got {value!r:.60}")
    return value


def _number(data: dict, key: str, where: str, default: float | None = None) -> float:
    value = data.get(key, default)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise RoadMapError(f"{where}.{key} must be a number > 0, got {value!r:.60}")
    return float(value)


def _points(value, where: str, count: int | None = None) -> np.ndarray:
    try:
        points = np.array(value, dtype=float)
    except (TypeError, ValueError):
        points = np.zeros(0)
    shape_ok = points.ndim == 2 and points.shape[1] == 2 and len(points) >= 2
    if count is not None:
        shape_ok = points.shape == (count, 2)
    if not shape_ok or not np.isfinite(points).all():
        want = f"{count} points" if count else "a list of 2 or more [x, y] points"
        raise RoadMapError(f"{where} must be {want} of finite numbers, got {value!r:.60}")
    return points


def _read_lane(item, where: str) -> Lane:
    if not isinstance(item, dict):
        raise RoadMapError(f"{where} must be an object, got {item!r:.60}")
    if not isinstance(item.get("exit", False), bool):
        raise RoadMapError(f"{where}.exit must be true or false, got {item.get('exit')!r:.60}")
    successors = item.get("successors", [])
    if not isinstance(successors, list) or not all(isinstance(s, str) for s in successors):
        raise RoadMapError(f"{where}.successors must be a list of lane names, got {successors!r}")
    return Lane(
        _string(item, "name", where),
        _points(item.get("points"), f"{where}.points"),
        _number(item, "width", where),
        tuple(successors),
        _string(item, "left", where, optional=True),
        _string(item, "right", where, optional=True),
        _number(item, "speed_limit", where, default=30.0),
        item.get("exit", False),
    )


def _read_detector(item, where: str) -> Detector:
    if not isinstance(item, dict):
        raise RoadMapError(f"{where} must be an object, got {item!r:.60}")
    a, b = (_points([item.get(k), item.get(k)], f"{where}.{k}", 2)[0] for k in ("a", "b"))
    return Detector(_string(item, "name", where), tuple(a.tolist()), tuple(b.tolist()))


def _check_lane(lane: Lane, i: int, index: dict[str, int]) -> None:
    where = f"lanes[{i}]"
    _points(lane.points, f"{where}.points")
    for key, value in (("width", lane.width), ("speed_limit", lane.speed_limit)):
        if not (math.isfinite(value) and value > 0):
            raise RoadMapError(f"{where}.{key} must be a number > 0, got {value!r}")
    for key, names in (("successors", lane.successors), ("left", [lane.left]),
                       ("right", [lane.right])):  # fmt: skip
        unknown = [n for n in names if n is not None and n not in index]
        if unknown:
            raise RoadMapError(f"{where}.{key} names no lane of the map: {unknown[0]!r}")
        if key != "successors" and lane.name in names:
            raise RoadMapError(f"{where}.{key} must be another lane, got {lane.name!r}")


# --------------------------------------------------------------------------- derived geometry
def _segment_geometry(polylines: Lanes, loop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heading of every segment ``(L, P - 1)`` and the curvature there (heading change to the
    next segment over their mean length; 0 at a lane's last segment unless it loops)."""
    vertices, counts = polylines.vertices[0].astype(np.float64), polylines.counts[0]
    edges = vertices[:, 1:] - vertices[:, :-1]
    heading = np.arctan2(edges[..., 1], edges[..., 0])
    length = np.hypot(edges[..., 0], edges[..., 1])
    curvature = np.zeros_like(heading)
    for lane in range(len(counts)):  # once per map, not per step
        n = counts[lane] - 1
        h, step = heading[lane, :n], length[lane, :n]
        nxt = np.roll(np.arange(n), -1) if loop[lane] else np.minimum(np.arange(n) + 1, n - 1)
        turn = (h[nxt] - h + np.pi) % (2 * np.pi) - np.pi
        curvature[lane, :n] = turn / (0.5 * (step + step[nxt]))
    return heading.astype(np.float32), curvature.astype(np.float32)


def _conflicts(road: RoadMap, successors: list[list[int]]) -> np.ndarray:
    """Crossings ``(lane_a, s_a, lane_b, s_b)`` of lanes not linked as successors or
    neighbours (a < b); shared end points (splits and joins) are not crossings."""
    rows = []
    for a in range(road.num_lanes):
        for b in range(a + 1, road.num_lanes):
            linked = b in successors[a] or a in successors[b] or road.left[a] == b
            if linked or road.right[a] == b or set(successors[a]) & set(successors[b]):
                continue
            rows += _crossings(road.lanes[a].points, road.lanes[b].points, a, b)
    return np.array(rows, np.float32).reshape(-1, 4)


def _crossings(p: np.ndarray, q: np.ndarray, a: int, b: int) -> list[tuple]:
    """Proper crossings of polylines ``p`` and ``q`` (all segment pairs at once)."""
    p0, pe = p[:-1, None], (p[1:] - p[:-1])[:, None]
    q0, qe = q[None, :-1], (q[1:] - q[:-1])[None]
    cross = pe[..., 0] * qe[..., 1] - pe[..., 1] * qe[..., 0]
    w = q0 - p0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (w[..., 0] * qe[..., 1] - w[..., 1] * qe[..., 0]) / cross
        u = (w[..., 0] * pe[..., 1] - w[..., 1] * pe[..., 0]) / cross
    eps = 1e-9
    hit = (cross != 0) & (t > eps) & (t < 1 - eps) & (u > eps) & (u < 1 - eps)
    sp = np.concatenate([[0], np.cumsum(np.hypot(*(p[1:] - p[:-1]).T))])
    sq = np.concatenate([[0], np.cumsum(np.hypot(*(q[1:] - q[:-1]).T))])
    i, j = np.nonzero(hit)
    s_a = sp[i] + t[i, j] * (sp[i + 1] - sp[i])
    s_b = sq[j] + u[i, j] * (sq[j + 1] - sq[j])
    return [(a, float(x), b, float(y)) for x, y in zip(s_a, s_b, strict=True)]


# ------------------------------------------------------------------------------------ presets
def _arc(radius: float, start: float, stop: float, segments: int) -> np.ndarray:
    angles = np.linspace(start, stop, segments + 1)
    points = np.stack([radius * np.cos(angles), radius * np.sin(angles)], -1)
    if math.isclose(stop - start, 2 * math.pi):
        points[-1] = points[0]  # closed exactly
    return points


def ring(circumference: float = 230.0, lanes: int = 1, lane_width: float = 3.5,
         segments: int = 96, speed_limit: float = 30.0) -> RoadMap:  # fmt: skip
    """A ring road driven counter-clockwise: lane 0 (``lane0``) is the outer lane, whose
    polyline is ``circumference`` long; ``lane1`` ... lie inside it (to its left). A detector
    crosses every lane on the positive x axis."""
    radius = circumference / (2 * segments * math.sin(math.pi / segments))
    names = [f"lane{k}" for k in range(lanes)]
    road = [
        Lane(names[k], _arc(radius - k * lane_width, 0, 2 * math.pi, segments), lane_width,
             (names[k],), names[k + 1] if k + 1 < lanes else None,
             names[k - 1] if k else None, speed_limit)
        for k in range(lanes)
    ]  # fmt: skip
    return RoadMap(f"ring-{lanes}", road, [_radial_detector(radius, lanes, lane_width, 0.0)])


def bottleneck(circumference: float = 230.0, bottleneck_length: float = 40.0,
               lane_width: float = 3.5, segments: int = 96,
               speed_limit: float = 30.0) -> RoadMap:  # fmt: skip
    """A two-lane ring whose inner lane (``drop``) ends: it starts on the positive x axis and
    stops ``bottleneck_length`` (measured on the outer lane) before it comes round, so its cars
    must merge right into ``through``. The detector sits at the bottleneck's exit."""
    radius = circumference / (2 * segments * math.sin(math.pi / segments))
    stop = 2 * math.pi * (1 - bottleneck_length / circumference)
    drop_segments = max(2, round(segments * stop / (2 * math.pi)))
    lanes = [
        Lane("through", _arc(radius, 0, 2 * math.pi, segments), lane_width, ("through",),
             "drop", None, speed_limit),
        Lane("drop", _arc(radius - lane_width, 0, stop, drop_segments), lane_width, (),
             None, "through", speed_limit),
    ]  # fmt: skip
    return RoadMap("bottleneck", lanes, [_radial_detector(radius, 2, lane_width, 0.0)])


def _radial_detector(radius: float, lanes: int, width: float, angle: float) -> Detector:
    inner, outer = radius - (lanes - 0.5) * width - 0.5, radius + 0.5 * width + 0.5
    c, s = math.cos(angle), math.sin(angle)
    return Detector("exit", (inner * c, inner * s), (outer * c, outer * s))


def merge(upstream: float = 250.0, merge_length: float = 150.0, downstream: float = 200.0,
          ramp_length: float = 200.0, lane_width: float = 3.5,
          speed_limit: float = 30.0) -> RoadMap:  # fmt: skip
    """An on-ramp joining a two-lane road driven in +x. The main road's lanes (``right`` at
    y = 0, ``left`` one lane width up) are split at the merge section into ``*_up``,
    ``*_merge`` and ``*_down`` (exits: the road ends there). The ramp, ``ramp_in``, comes from
    below on an S-curve into ``ramp_merge``, an acceleration lane right of ``right_merge``
    that ends with the section: its cars must change left before then. The ``exit`` detector
    crosses both lanes halfway down the downstream part."""
    w, ms = lane_width, upstream
    me, end = ms + merge_length, ms + merge_length + downstream
    straight = lambda a, b, y: np.array([[a, y], [b, y]])  # noqa: E731
    t = np.linspace(0.0, 1.0, 13)
    curve = np.stack(
        [ms - 0.6 * ramp_length * (1 - t), -w - 4 * w * (1 + np.cos(np.pi * t)) / 2], -1
    )
    ramp = np.concatenate([[[ms - ramp_length, -5 * w]], curve])
    lanes = [
        Lane("right_up", straight(0, ms, 0.0), w, ("right_merge",), "left_up", None, speed_limit),
        Lane("left_up", straight(0, ms, w), w, ("left_merge",), None, "right_up", speed_limit),
        Lane("right_merge", straight(ms, me, 0.0), w, ("right_down",), "left_merge",
             "ramp_merge", speed_limit),
        Lane("left_merge", straight(ms, me, w), w, ("left_down",), None, "right_merge",
             speed_limit),
        Lane("right_down", straight(me, end, 0.0), w, (), "left_down", None, speed_limit, True),
        Lane("left_down", straight(me, end, w), w, (), None, "right_down", speed_limit, True),
        Lane("ramp_in", ramp, w, ("ramp_merge",), None, None, speed_limit),
        Lane("ramp_merge", straight(ms, me, -w), w, (), "right_merge", None, speed_limit),
    ]  # fmt: skip
    x = me + downstream / 2
    return RoadMap("merge", lanes, [Detector("exit", (x, -w / 2 - 0.5), (x, 1.5 * w + 0.5))])
