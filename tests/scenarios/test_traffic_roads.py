"""The traffic family's lane graph: JSON round trip, validation, coordinates, off-road."""

import json
import math

import numpy as np
import pytest

from scenarios.traffic.roads import MAPS, Lane, RoadMap, RoadMapError, bottleneck, ring


def test_the_saved_ring_map_equals_the_code_preset(tmp_path):
    assert RoadMap.load(MAPS / "ring.json") == ring()
    two = ring(lanes=2)
    two.save(tmp_path / "two.json")
    assert RoadMap.load(tmp_path / "two.json") == two
    assert RoadMap.load(tmp_path / "two.json") != ring()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["lanes"][0].update(width=-1), "lanes[0].width"),
        (lambda d: d["lanes"][0].update(points=[[0, 0]]), "lanes[0].points"),
        (lambda d: d["lanes"][0].update(points="__import__('os')"), "lanes[0].points"),
        (lambda d: d["lanes"][0].update(successors=["nowhere"]), "lanes[0].successors"),
        (lambda d: d["lanes"][0].update(left="lane0"), "lanes[0].left"),
        (lambda d: d.update(lanes={}), "lanes"),
        (lambda d: d["detectors"][0].update(a=[1]), "detectors[0].a"),
        (lambda d: d.update(version=7), "version"),
    ],
)
def test_bad_maps_fail_in_one_line_naming_the_field(tmp_path, change, field):
    data = ring().to_dict()
    change(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(RoadMapError) as caught:
        RoadMap.load(path)
    assert field in str(caught.value) and "\n" not in str(caught.value)


def test_lane_coordinates_on_a_two_lane_ring():
    road = ring(circumference=230.0, lanes=2, lane_width=3.5)
    radius = road.lanes[0].points[0, 0]
    # A quarter round on the outer lane, 1 m left of its centre, heading 0.1 rad off the lane.
    angle = np.array([[math.pi / 2]])
    x = (radius - 1.0) * np.cos(angle)
    y = (radius - 1.0) * np.sin(angle)
    coords = road.coordinates(x, y, angle + math.pi / 2 + 0.1, np.zeros((1, 1), np.int32))
    assert coords.position.s[0, 0] == pytest.approx(230.0 / 4, abs=0.05)
    assert coords.position.d[0, 0] == pytest.approx(1.0, abs=0.01)
    assert coords.heading_error[0, 0] == pytest.approx(0.1, abs=0.04)  # chord vs tangent
    nearest = road.coordinates(x - 2.0 * np.cos(angle), y - 2.0 * np.sin(angle), angle)
    assert nearest.position.lane[0, 0] == 1  # 3 m inside: the inner lane
    assert road.segment_curvature[0, 5] == pytest.approx(1 / radius, rel=1e-3)


def test_off_road_outside_every_lane_polygon_and_past_a_dropped_lane():
    road = bottleneck(circumference=230.0, bottleneck_length=40.0, lane_width=3.5)
    radius = road.lanes[0].points[0, 0]
    # On the through lane, on the drop lane, outside both, inside both, in the bottleneck
    # where only the through lane exists (at the drop lane's radius: off road).
    angles = np.array([[1.0, 1.0, 1.0, 1.0, -0.3]])
    radii = np.array([[radius, radius - 3.5, radius + 2.0, radius - 5.5, radius - 3.5]])
    off = road.off_road(radii * np.cos(angles), radii * np.sin(angles))
    assert off.tolist() == [[False, False, True, True, True]]
    assert road.dead_end.tolist() == [False, True] and road.loop.tolist() == [True, False]


def test_conflict_points_of_crossing_lanes():
    east = Lane("east", np.array([[-10.0, 0.0], [10.0, 0.0]]), 3.0)
    north = Lane("north", np.array([[2.0, -10.0], [2.0, 10.0]]), 3.0)
    parallel = Lane("parallel", np.array([[-10.0, 5.0], [10.0, 5.0]]), 3.0)
    road = RoadMap("cross", [east, north, parallel])
    # east crosses north at x = 2 (12 m along east, 10 m along north); north crosses parallel.
    np.testing.assert_allclose(road.conflicts, [[0, 12, 1, 10], [1, 15, 2, 12]], atol=1e-5)
    assert ring(lanes=2).conflicts.shape == (0, 4)
