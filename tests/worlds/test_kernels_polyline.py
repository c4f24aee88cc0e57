"""Lane projection kernels (worlds.polyline) against their numpy references and hand-checked
lanes."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worlds.polyline import (
    Lanes,
    nearest_lane,
    nearest_lane_reference,
    project,
    project_reference,
)

FIELDS = ("lane", "segment", "s", "d", "x", "y")


def random_setup(seed, num_worlds, n, num_lanes, size, per_world, edge_points):
    rng = np.random.default_rng(seed)
    shape = (num_worlds, num_lanes) if per_world else (num_lanes,)
    # Random walks: turns both ways, sharp reversals, some steps along the x axis.
    steps = rng.uniform(-2, 2, (*shape, size, 2))
    steps[..., 1::4, 1] = 0.0
    steps[..., 1::4, 0] = np.where(steps[..., 1::4, 0] == 0, 1.0, steps[..., 1::4, 0])
    vertices = np.cumsum(steps, axis=-2).astype(np.float32)
    counts = rng.integers(2, size + 1, shape)
    lanes = Lanes(vertices, counts)
    # Points around the lanes and well beyond their ends.
    x = rng.uniform(-8, 8, (num_worlds, n)).astype(np.float32)
    y = rng.uniform(-8, 8, (num_worlds, n)).astype(np.float32)
    lane_index = rng.integers(0, num_lanes, (num_worlds, n))
    if edge_points:  # points exactly on vertices (a tie between two segments) and on segments
        world = np.arange(num_worlds) if per_world else np.zeros(num_worlds, int)
        chosen = lane_index[:, 0]
        k = rng.integers(0, counts.reshape(-1, num_lanes)[world, chosen])
        x[:, 0], y[:, 0] = lanes.vertices[world, chosen, k].T
        if n > 1:
            a = lanes.vertices[world, lane_index[:, 1], 0]
            b = lanes.vertices[world, lane_index[:, 1], 1]
            x[:, 1], y[:, 1] = (0.5 * (a + b)).T  # midpoint of the first segment
    return lanes, x, y, lane_index


setup_parameters = {
    "seed": st.integers(0, 2**32 - 1),
    "num_worlds": st.integers(1, 3),
    "n": st.integers(1, 8),
    "num_lanes": st.integers(1, 4),
    "size": st.integers(2, 8),
    "per_world": st.booleans(),
    "edge_points": st.booleans(),
}


def assert_same(got, expected):
    for name in FIELDS:
        a, b = getattr(got, name), getattr(expected, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        np.testing.assert_array_equal(a, b, err_msg=name)


@settings(max_examples=60, deadline=None)
@given(**setup_parameters)
def test_project_equals_reference(**parameters):
    # Exact: both versions round the same float32 operations in the same order, and both take
    # the first segment among equally close ones (argmin's first minimum, a strict < in the
    # kernel), so a point on a vertex gets the earlier of its two segments in both.
    lanes, x, y, lane_index = random_setup(**parameters)
    got = project(x, y, lanes, lane_index)
    assert_same(got, project_reference(x, y, lanes, lane_index))
    assert got.s.dtype == np.float32 and got.segment.dtype == np.int32
    np.testing.assert_array_equal(got.lane, lane_index)
    if parameters["edge_points"]:  # on a vertex: 0 up to rounding (a + (b - a) may miss b)
        assert (np.abs(got.d[:, 0]) <= 1e-5).all()


@settings(max_examples=60, deadline=None)
@given(**setup_parameters)
def test_nearest_lane_equals_reference(**parameters):
    lanes, x, y, _ = random_setup(**parameters)
    got = nearest_lane(x, y, lanes)
    assert_same(got, nearest_lane_reference(x, y, lanes))
    # Against float64 brute force: the chosen lane is (within rounding) the nearest polyline,
    # and projecting onto it gives the same answer as nearest_lane.
    distances = np.stack(
        [polyline_distance(x, y, lanes, np.full(x.shape, lane)) for lane in range(lanes.num_lanes)]
    )
    chosen = np.take_along_axis(distances, got.lane[None].astype(int), 0)[0]
    assert (chosen <= distances.min(0) + 1e-5).all()
    assert_same(project(x, y, lanes, got.lane), got)


def polyline_distance(x, y, lanes, lane_index):
    """Distance from each point to its lane's polyline (not extended), in float64 loops."""
    result = np.empty(x.shape)
    for b, i in np.ndindex(x.shape):
        world = b if lanes.vertices.shape[0] > 1 else 0
        lane = lane_index[b, i]
        v = lanes.vertices[world, lane, : lanes.counts[world, lane]].astype(np.float64)
        best = math.inf
        for (ax, ay), (bx, by) in zip(v[:-1], v[1:], strict=True):
            ex, ey = bx - ax, by - ay
            t = ((x[b, i] - ax) * ex + (y[b, i] - ay) * ey) / (ex * ex + ey * ey)
            t = min(max(t, 0.0), 1.0)
            best = min(best, math.hypot(x[b, i] - ax - t * ex, y[b, i] - ay - t * ey))
        result[b, i] = best
    return result


@settings(max_examples=25, deadline=None)
@given(**setup_parameters, data=st.data())
def test_deterministic_and_independent_of_other_worlds(data, **parameters):
    lanes, x, y, lane_index = random_setup(**parameters)
    subset = data.draw(st.lists(st.integers(0, x.shape[0] - 1), min_size=1, unique=True))
    part_lanes = lanes
    if lanes.vertices.shape[0] > 1:
        part_lanes = Lanes(lanes.vertices[subset], lanes.counts[subset])
    for run in (
        lambda ix, lanes_: project(x[ix], y[ix], lanes_, lane_index[ix]),
        lambda ix, lanes_: nearest_lane(x[ix], y[ix], lanes_),
    ):
        whole, again = run(slice(None), lanes), run(slice(None), lanes)
        part = run(subset, part_lanes)
        for name in FIELDS:
            assert getattr(whole, name).tobytes() == getattr(again, name).tobytes()
            assert getattr(whole, name)[subset].tobytes() == getattr(part, name).tobytes()


L_SHAPE = Lanes.from_polylines([[(0, 0), (4, 0), (4, 3)]])


@pytest.mark.parametrize(
    ("point", "segment", "s", "d", "foot"),
    [
        ((2, 1), 0, 2.0, 1.0, (2, 0)),  # left of the first segment
        ((2, -0.5), 0, 2.0, -0.5, (2, 0)),  # right of it
        ((5, 1), 1, 5.0, -1.0, (4, 1)),  # right of the second segment (heading +y)
        ((-1, -2), 0, -1.0, -2.0, (-1, 0)),  # before the start: s < 0 on the extended line
        ((4, 5), 1, 9.0, 0.0, (4, 5)),  # past the end, on the extended line
        ((3.5, 6), 1, 10.0, 0.5, (4, 6)),  # past the end, left of it
        # Outside the corner: both segments reach the corner; the first one is taken.
        ((5, -1), 0, 4.0, -math.sqrt(2), (4, 0)),
        ((4, 0), 0, 4.0, 0.0, (4, 0)),  # on the corner itself
        ((3, 1), 0, 3.0, 1.0, (3, 0)),  # inside the corner: nearer the first segment
        ((3.5, 2), 1, 6.0, 0.5, (4, 2)),  # inside the corner: nearer the second
    ],
)
def test_hand_checked_projection(point, segment, s, d, foot):
    x, y = np.array([[point[0]]], np.float32), np.array([[point[1]]], np.float32)
    got = project(x, y, L_SHAPE, np.zeros((1, 1), np.int32))
    assert_same(got, project_reference(x, y, L_SHAPE, np.zeros((1, 1), np.int32)))
    assert got.segment[0, 0] == segment
    assert got.s[0, 0] == pytest.approx(s, abs=1e-6)
    assert got.d[0, 0] == pytest.approx(d, abs=1e-6)
    assert (got.x[0, 0], got.y[0, 0]) == pytest.approx(foot, abs=1e-6)


def test_hand_checked_nearest_lane():
    # A short lane along y = 0 and a long one along y = 3.
    lanes = Lanes.from_polylines([[(0, 0), (1, 0)], [(0, 3), (5, 3), (10, 3)]])
    assert lanes.counts.tolist() == [[2, 3]] and lanes.length.tolist() == [[1, 10]]
    x = np.array([[0.5, 0.5, 0.5, 10.0]], np.float32)
    y = np.array([[1.0, 2.0, 1.5, 0.5]], np.float32)
    got = nearest_lane(x, y, lanes)
    assert_same(got, nearest_lane_reference(x, y, lanes))
    # Nearer lane 0; nearer lane 1; halfway (lowest index); far past lane 0's end, where lane
    # 0's extended line is closer (0.5) but its polyline is not: the lane itself decides.
    assert got.lane[0].tolist() == [0, 1, 0, 1]
    np.testing.assert_allclose(got.d[0], [1.0, -1.0, 1.5, -2.5])
    np.testing.assert_allclose(got.s[0], [0.5, 0.5, 0.5, 10.0])
    assert got.segment[0].tolist() == [0, 0, 0, 1]


def test_per_world_lanes():
    # World 0's lane runs along +x, world 1's along -x: the same point is left in one, right in
    # the other.
    vertices = np.array([[[(0, 0), (2, 0)]], [[(2, 0), (0, 0)]]], np.float32)
    lanes = Lanes(vertices, np.array([[2], [2]]))
    got = project(np.ones((2, 1)), np.ones((2, 1)), lanes, np.zeros((2, 1), np.int64))
    assert got.d[:, 0].tolist() == [1.0, -1.0] and got.s[:, 0].tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Lanes(np.zeros((2, 3)), [3]), "vertices must have shape"),
        (lambda: Lanes(np.ones((1, 3, 2)), [1]), r"counts must be in \[2, 3\]"),
        (lambda: Lanes(np.ones((1, 3, 2)), [[2, 2]]), "counts must have shape"),
        (lambda: Lanes(np.ones((1, 3, 2)), [2.0]), "counts must hold integers"),
        (lambda: Lanes([[(0, 0), (1, 0), (1, 0)]], [3]), "lane 0 .* repeats vertex 1"),
        (lambda: Lanes([[(0, 0), (np.nan, 0)]], [2]), "vertices must be finite"),
        (lambda: Lanes.from_polylines([]), "polylines must hold at least one lane"),
    ],
)
def test_bad_lanes_name_the_argument(build, message):
    with pytest.raises(ValueError, match=message) as error:
        build()
    assert "\n" not in str(error.value)


def test_padding_past_the_count_is_ignored():
    # A repeated vertex in the padding is fine; so is garbage there.
    lanes = Lanes([[(0, 0), (1, 0), (1, 0), (7, 7)]], [2])
    got = project(np.array([[3.0]]), np.array([[1.0]]), lanes, np.zeros((1, 1), int))
    assert (got.segment[0, 0], got.s[0, 0], got.d[0, 0]) == (0, 3.0, 1.0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda z: project(z, z[:, :1], L_SHAPE, z.astype(int)), "y must have shape"),
        (lambda z: project(z, z, L_SHAPE, z), "lane_index must hold integers"),
        (lambda z: project(z, z, L_SHAPE, z.astype(int) + 1), r"lane_index must be in \[0, 0\]"),
        (lambda z: project(z, z, "lanes", z.astype(int)), "lanes must be a worlds.polyline.Lanes"),
        (
            lambda z: nearest_lane(
                z, z, Lanes(np.ones((3, 1, 2, 2)).cumsum(2), np.full((3, 1), 2))
            ),
            "lanes are per world for 3 worlds, not 2",
        ),
    ],
)
def test_bad_arguments_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message) as error:
        call(np.zeros((2, 4), np.float32))
    assert "\n" not in str(error.value)
