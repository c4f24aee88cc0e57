"""Leaders across lane ends (``idm.drive`` with successors) and the merge road's map."""

import numpy as np
import pytest

from scenarios.traffic.idm import LANE_END, IDMParams, drive
from scenarios.traffic.roads import MAPS, RoadMap, merge

LENGTH = 4.5


def run(s, lane, speed, successor, predecessor, lane_length, dead_end, cand=None):
    """``drive`` on one world; ``cand``: per car (left, right) lanes, arc length unchanged."""
    s, lane, speed = (np.array(a)[None] for a in (s, lane, speed))
    n, lanes = s.shape[1], len(lane_length)
    cand = np.full((1, n, 2), -1) if cand is None else np.array(cand)[None]
    out = [np.zeros((1, n)) for _ in range(3)] + [np.zeros((1, n), np.int32) for _ in range(2)]
    drive(
        s.astype(np.float32), lane.astype(np.int32), speed.astype(np.float32),
        np.full(n, LENGTH, np.float32), np.full((1, n), 30.0, np.float32),
        np.stack([s, s], -1).astype(np.float32), cand.astype(np.int32), np.ones((1, n), bool),
        np.array(lane_length, np.float32), np.zeros(lanes, bool), np.array(dead_end),
        IDMParams().array(), *out, successor=np.array(successor), predecessor=np.array(predecessor),
    )  # fmt: skip
    return dict(
        zip(("accel", "gap", "lead_speed", "leader", "target"), (o[0] for o in out), strict=True)
    )


def test_the_leader_search_follows_a_lane_into_its_successor():
    # Lane 0 (100 m) continues into lane 1: a car at 90 on lane 0 follows a car at 20 on lane 1.
    out = run([90.0, 20.0], [0, 1], [20.0, 15.0], [1, -1], [-1, 0], [100.0, 300.0],
              [False, False])  # fmt: skip
    assert out["leader"].tolist() == [1, -1]
    assert out["gap"][0] == pytest.approx(10.0 + 20.0 - LENGTH, abs=1e-4)
    assert out["lead_speed"][0] == 15.0
    # Without successors the search stops at the lane's end: free road.
    plain = run([90.0, 20.0], [0, 1], [20.0, 15.0], [-1, -1], [-1, -1], [100.0, 300.0],
                [False, False])  # fmt: skip
    assert plain["leader"].tolist() == [-1, -1]
    # An empty successor that is a dead end stops the car like a standing car at its end.
    end = run([90.0], [0], [20.0], [1, -1], [-1, 0], [100.0, 50.0], [False, True])
    assert end["leader"][0] == LANE_END
    assert end["gap"][0] == pytest.approx(10.0 + 50.0 - LENGTH / 2, abs=1e-4)


def test_mobil_sees_a_new_follower_on_the_lane_before_the_target():
    # Lane 2 (a ramp, a dead end 12 m long) lies right of the start of lane 1, whose
    # predecessor is lane 0. A car 4 m along the ramp must leave; a fast car on lane 0 would
    # be its new follower: 94 m back (s = 10), or 7 m back (s = 97, across lane 1's start).
    base = dict(successor=[1, -1, -1], predecessor=[-1, 0, -1], lane_length=[100.0, 100.0, 12.0],
                dead_end=[False, False, True])  # fmt: skip
    free = run([4.0, 10.0], [2, 0], [10.0, 20.0], cand=[[1, -1], [-1, -1]], **base)
    assert free["target"][0] == 1  # the lane end ahead makes leaving worth it
    close = run([4.0, 97.0], [2, 0], [10.0, 20.0], cand=[[1, -1], [-1, -1]], **base)
    assert close["target"][0] == -1  # the car 7 m behind, across the lane start, is seen


def test_the_saved_merge_map_equals_the_code_preset(tmp_path):
    road = merge()
    assert RoadMap.load(MAPS / "merge.json") == road
    assert road.exit.sum() == 2 and road.conflicts.shape == (0, 4)
    names = [lane.name for lane in road.lanes]
    ramp = names.index("ramp_merge")
    assert road.dead_end[ramp] and not road.exit[ramp] and road.lanes[ramp].left == "right_merge"
    assert road.predecessor[names.index("right_merge")] == names.index("right_up")
    road.save(tmp_path / "m.json")
    assert RoadMap.load(tmp_path / "m.json") == road
