"""Lane coordinates: project points onto polylines (lanes) for arc length ``s`` and offset ``d``.

``Lanes`` holds L polylines as padded vertices ``(L, P, 2)`` shared by all worlds, or
``(B, L, P, 2)`` per world, with the number of valid vertices per lane (``(L,)`` or ``(B, L)``,
at least 2; padding past a lane's count is ignored). Consecutive valid vertices must differ (a
zero-length segment has no direction); ``Lanes`` checks this once, when it is built.

- ``project(x, y, lanes, lane_index)``: for each point ``(B, N)`` and its lane, a
  ``LanePosition``: the segment holding the lane's closest point (the first on ties), the arc
  length ``s`` of the projection, the signed offset ``d`` (positive to the left of the lane's
  direction) and the lane point ``(x, y)`` at ``s``. A point before the lane's start or past its
  end is projected onto the line of the first or last segment: ``s < 0`` or ``s`` past the
  lane's length, ``|d|`` its distance from that line.
- ``nearest_lane(x, y, lanes)``: the same on the lane nearest each point (distance to the
  polyline itself, not extended; lowest lane index on ties).

Both run compiled kernels (``worlds.kernels.polyline``); ``project_reference`` and
``nearest_lane_reference`` are the numpy versions, equal to the kernels bit for bit. All
arithmetic is float32; arc lengths at the vertices are summed in float64 once, in ``Lanes``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from worlds.kernels import arguments as check
from worlds.kernels import polyline as _kernels


@dataclasses.dataclass(frozen=True, eq=False)
class Lanes:
    """Padded lane polylines; ``start_s`` (arc length at each vertex) and ``length`` (each
    lane's) are derived. All arrays carry a leading world axis of 1 (shared) or B."""

    vertices: np.ndarray
    counts: np.ndarray | None = None
    start_s: np.ndarray = dataclasses.field(init=False, repr=False)
    length: np.ndarray = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        vertices = check.floats("vertices", self.vertices)
        if vertices.ndim == 3:
            vertices = vertices[None]
        check.check_shape("vertices", vertices, (None, None, None, 2))
        worlds, lanes, size, _ = vertices.shape
        if lanes < 1 or size < 2:
            raise ValueError(f"vertices must hold at least 1 lane of 2 vertices, got {lanes}")
        counts = np.full(lanes, size) if self.counts is None else self.counts
        counts = check.integers("counts", counts)
        if counts.ndim == 1:
            counts = np.broadcast_to(counts, (worlds, *counts.shape)).copy()
        check.check_shape("counts", counts, (worlds, lanes))
        if (counts < 2).any() or (counts > size).any():
            raise ValueError(f"counts must be in [2, {size}] (vertices per lane)")
        if not np.isfinite(vertices).all():
            raise ValueError("vertices must be finite")
        edges = vertices[:, :, 1:] - vertices[:, :, :-1]
        step = np.sqrt((edges.astype(np.float64) ** 2).sum(-1))
        valid = np.arange(size - 1) < (counts[..., None] - 1)
        if ((step == 0) & valid).any():
            world, lane, k = np.argwhere((step == 0) & valid)[0]
            raise ValueError(f"vertices: lane {lane} (world {world}) repeats vertex {k}")
        step = np.where(valid, step, 0)
        start_s = np.concatenate([np.zeros((worlds, lanes, 1)), np.cumsum(step, -1)], -1)
        for name, value in (("vertices", vertices), ("counts", counts)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "start_s", start_s.astype(np.float32))
        object.__setattr__(self, "length", self.start_s[..., -1])
        for value in (self.vertices, self.counts, self.start_s):
            value.flags.writeable = False

    @classmethod
    def from_polylines(cls, polylines) -> Lanes:
        """Lanes shared by all worlds from a list of ``(n_l, 2)`` vertex arrays (padded with
        each lane's last vertex)."""
        polylines = [check.floats(f"polylines[{k}]", p, (None, 2)) for k, p in enumerate(polylines)]
        if not polylines:
            raise ValueError("polylines must hold at least one lane")
        size = max(len(p) for p in polylines)
        vertices = np.stack(
            [np.concatenate([p, p[-1:].repeat(size - len(p), 0)]) for p in polylines]
        )
        return cls(vertices, np.array([len(p) for p in polylines], np.int32))

    @property
    def num_lanes(self) -> int:
        return self.vertices.shape[1]


@dataclasses.dataclass
class LanePosition:
    """Where points lie relative to a lane, all ``(B, N)``: ``lane`` and ``segment`` (int32),
    arc length ``s``, signed offset ``d`` (left positive) and the lane point ``x, y`` (float32)."""

    lane: np.ndarray
    segment: np.ndarray
    s: np.ndarray
    d: np.ndarray
    x: np.ndarray
    y: np.ndarray


def project(x: np.ndarray, y: np.ndarray, lanes: Lanes, lane_index: np.ndarray) -> LanePosition:
    """Lane coordinates of points ``(x, y)`` ``(B, N)`` on lanes ``lane_index`` ``(B, N)``."""
    x, y, lane_index, lanes = _arguments(x, y, lanes, lane_index)
    result = _empty(x.shape, lane_index)
    _kernels.project(
        x, y, lane_index, lanes.vertices, lanes.counts, lanes.start_s, *_fields(result)
    )
    return result


def nearest_lane(x: np.ndarray, y: np.ndarray, lanes: Lanes) -> LanePosition:
    """Lane coordinates of points ``(x, y)`` ``(B, N)`` on the nearest lane of ``lanes``."""
    x, y, _, lanes = _arguments(x, y, lanes, None)
    result = _empty(x.shape, np.empty(x.shape, np.int32))
    _kernels.nearest_lane(
        x, y, lanes.vertices, lanes.counts, lanes.start_s, result.lane, *_fields(result)
    )
    return result


def _fields(result: LanePosition) -> tuple[np.ndarray, ...]:
    return result.s, result.d, result.segment, result.x, result.y


def _empty(shape: tuple[int, int], lane: np.ndarray) -> LanePosition:
    floats = [np.empty(shape, np.float32) for _ in range(4)]
    return LanePosition(lane, np.empty(shape, np.int32), *floats)


def _arguments(x, y, lanes, lane_index) -> tuple:
    if not isinstance(lanes, Lanes):
        raise ValueError(f"lanes must be a worlds.polyline.Lanes, got {type(lanes).__name__}")
    x = check.floats("x", x, (None, None))
    y = check.floats("y", y, x.shape)
    if lanes.vertices.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"lanes are per world for {lanes.vertices.shape[0]} worlds, not {len(x)}")
    if lane_index is not None:
        lane_index = check.integers("lane_index", lane_index, x.shape).copy()
        if lane_index.size and (lane_index.min() < 0 or lane_index.max() >= lanes.num_lanes):
            raise ValueError(f"lane_index must be in [0, {lanes.num_lanes - 1}]")
    return x, y, lane_index, lanes


def project_reference(x, y, lanes: Lanes, lane_index) -> LanePosition:
    """``project`` in numpy, over ``(B, N, P - 1)`` segments."""
    x, y, lane_index, lanes = _arguments(x, y, lanes, lane_index)
    world = _world_index(lanes, x.shape[0])
    vertices = lanes.vertices[world, lane_index]  # (B, N, P, 2)
    counts = lanes.counts[world, lane_index]
    dist2 = _segment_dist2(x[..., None], y[..., None], vertices, counts[..., None])
    segment = np.argmin(dist2, axis=-1).astype(np.int32)
    start_s = lanes.start_s[world, lane_index]
    return _coordinates_reference(x, y, vertices, counts, start_s, lane_index, segment)


def nearest_lane_reference(x, y, lanes: Lanes) -> LanePosition:
    """``nearest_lane`` in numpy, over ``(B, N, L, P - 1)`` segments."""
    x, y, _, lanes = _arguments(x, y, lanes, None)
    world = _world_index(lanes, x.shape[0])
    vertices = lanes.vertices[world]  # (B, 1, L, P, 2)
    counts = lanes.counts[world][..., None]
    dist2 = _segment_dist2(x[..., None, None], y[..., None, None], vertices, counts)
    flat = np.argmin(dist2.reshape(*x.shape, -1), axis=-1)  # first minimum, lane-major
    lane, segment = np.divmod(flat, dist2.shape[-1])
    lane, segment = lane.astype(np.int32), segment.astype(np.int32)
    return _coordinates_reference(
        x,
        y,
        lanes.vertices[world, lane],
        lanes.counts[world, lane],
        lanes.start_s[world, lane],
        lane,
        segment,
    )


def _world_index(lanes: Lanes, num_worlds: int) -> np.ndarray:
    """Index ``(B, 1)`` into the lanes' world axis (all 0 when shared)."""
    shared = lanes.vertices.shape[0] == 1
    return (np.zeros if shared else np.arange)(num_worlds, dtype=np.intp)[:, None]


def _segment_dist2(px, py, vertices, counts) -> np.ndarray:
    """Squared distance from points to each segment (clamped), inf past a lane's count."""
    ax, ay = vertices[..., :-1, 0], vertices[..., :-1, 1]
    ex, ey = vertices[..., 1:, 0] - ax, vertices[..., 1:, 1] - ay
    wx, wy = px - ax, py - ay
    with np.errstate(divide="ignore", invalid="ignore"):  # padding may repeat a vertex
        t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0, 1)
    dx, dy = px - (ax + t * ex), py - (ay + t * ey)
    dist2 = dx * dx + dy * dy
    valid = np.arange(ax.shape[-1]) < counts - 1
    return np.where(valid, dist2, np.inf)


def _coordinates_reference(x, y, vertices, counts, start_s, lane, segment) -> LanePosition:
    """``s, d`` and the lane point on each point's segment (``(B, N)`` gathers)."""
    take = segment[..., None]

    def pick(array):
        return np.take_along_axis(array, take, -1)[..., 0]

    ax, ay = pick(vertices[..., 0]), pick(vertices[..., 1])
    ex, ey = pick(vertices[..., 1:, 0]) - ax, pick(vertices[..., 1:, 1]) - ay
    wx, wy = x - ax, y - ay
    length2 = ex * ex + ey * ey
    t = (wx * ex + wy * ey) / length2
    low = np.where(segment == 0, -np.inf, 0).astype(np.float32)
    high = np.where(segment == counts - 2, np.inf, 1).astype(np.float32)
    t = np.clip(t, low, high)
    qx, qy = ax + t * ex, ay + t * ey
    s = pick(start_s) + t * np.sqrt(length2)
    dx, dy = x - qx, y - qy
    dist = np.sqrt(dx * dx + dy * dy)
    d = np.where(ex * wy - ey * wx >= 0, dist, -dist)
    return LanePosition(lane.astype(np.int32), segment, s, d, qx, qy)
