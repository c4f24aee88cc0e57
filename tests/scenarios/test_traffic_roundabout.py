"""traffic/intersection-v0 with ``road="roundabout"``: the routes through the ring, the yield
rule of entering cars on constructed cases, and the PettingZoo API and seeding with the preset
(its collision-free hour is in ``test_traffic_intersection``)."""

import numpy as np
from pettingzoo.test import parallel_api_test, seed_test

import scenarios
from scenarios.traffic import junction as jk
from scenarios.traffic.junction_roads import ARMS, roundabout
from scenarios.traffic.junction_state import Routes

SCENARIO = "traffic/intersection-v0"
ROUNDABOUT = {"road": "roundabout"}
LENGTH = 4.5


def route_of(entry: str, turn: int) -> int:
    return ARMS.index(entry) * 3 + turn


def test_routes_go_round_the_ring_counter_clockwise_with_lengths_by_turn():
    road = roundabout()
    routes = Routes(road, 3.3)
    names = [road.lanes[k].name for k in routes.lanes[route_of("east", 1)] if k >= 0]
    assert names == ["east_in", "east_entry", "east_next", "north_pass", "north_next",
                     "west_exit", "west_out"]  # fmt: skip
    for arm in ARMS:  # right, straight and left: one more quarter of the ring each
        rows = [routes.lanes[route_of(arm, k)] for k in range(3)]
        assert [int((row >= 0).sum()) for row in rows] == [5, 7, 9]
        totals = [routes.total[route_of(arm, k)] for k in range(3)]
        assert totals[0] < totals[1] < totals[2]
        np.testing.assert_allclose(np.diff(totals), 2 * np.pi * 20.0 / 4, rtol=1e-2)
    # Each route's lanes follow one another: every lane ends where the next begins.
    for row in routes.lanes:
        lanes = [road.lanes[k] for k in row if k >= 0]
        for a, b in zip(lanes[:-1], lanes[1:], strict=False):
            assert b.name in a.successors
            np.testing.assert_allclose(a.points[-1], b.points[0], atol=1e-9)
    assert (routes.merge == [routes.lanes[r, 2] for r in range(routes.count)]).all()


def drive(pos, route, speed, held=None):
    """``route_drive`` on one world of hand-placed cars; returns held, leader and gap."""
    cfg = scenarios.make_scenario(SCENARIO, **ROUNDABOUT).cfg
    road = roundabout()
    routes = Routes(road, 3.3)
    n = len(pos)
    pos, route = np.array([pos], np.float64), np.array([route], np.int64)
    speed = np.array([speed], np.float64)
    held = np.zeros((1, n), bool) if held is None else np.array([held])
    request = np.full((1, n), -1.0)
    out = [np.zeros((1, n)) for _ in range(3)]
    leader, desired, to_line = np.zeros((1, n), np.int64), np.zeros((1, n)), np.zeros((1, n))
    jk.route_drive(pos, route, np.ones((1, n), bool), speed, np.full(n, LENGTH),
                   np.full((1, n), cfg.v0), routes.offsets, routes.lanes, routes.index_of,
                   routes.last,
                   routes.conflict, routes.merge, road.speed_limit.astype(np.float64), held,
                   request, 1.0, np.array([cfg.zone_min, cfg.zone_time]),
                   np.array([cfg.yield_min, cfg.yield_time]), cfg.idm.array(), *out, leader,
                   desired, to_line)  # fmt: skip
    return held[0], leader[0], out[1][0], routes


def test_an_entering_car_yields_to_a_car_coming_round_and_goes_behind_it():
    routes = Routes(roundabout(), 3.3)
    enter = route_of("east", 0)  # car 1 comes in from the east, 8 m before the yield line
    ring = route_of("south", 1)  # car 0 comes from the south, round past the east entry
    east_next = routes.offsets[ring, 4]  # where car 0 reaches the east entry's joining point
    line = routes.offsets[enter, 1]
    # Car 0 on the ring 6 m before the point where the east entry joins: car 1 must wait,
    # and it sees the yield line as a standing leader.
    held, leader, gap, _ = drive([east_next - 6.0, line - 8.0], [ring, enter], [7.0, 4.0])
    assert not held[1] and leader[1] == jk.LANE_END
    np.testing.assert_allclose(gap[1], 8.0 - LENGTH / 2)
    # The same car 40 m back, nearly stopped: far enough; 40 m back at 7.7 m/s: not.
    far = east_next - 40.0
    assert drive([far, line - 8.0], [ring, enter], [1.0, 4.0])[0][1]
    assert not drive([far, line - 8.0], [ring, enter], [7.7, 4.0])[0][1]
    # Once it has passed the joining point, car 1 may go and follows it.
    held, leader, gap, _ = drive([east_next + 8.0, line - 8.0], [ring, enter], [7.0, 4.0])
    assert held[1] and leader[1] == 0
    # A car whose exit comes before the east entry (south, right turn: it leaves at the east
    # exit) does not hold anybody up.
    right = route_of("south", 0)
    before = routes.offsets[right, 3] - 3.0  # on the ring, 3 m before its exit
    assert drive([before, line - 8.0], [right, enter], [7.0, 4.0])[0][1]
    # A car granted the way and too close to the yield line to stop keeps it; one farther out
    # is judged again.
    assert drive([east_next - 6.0, line - 2.0], [ring, enter], [7.0, 4.0], [False, True])[0][1]
    assert not drive([east_next - 6.0, line - 20.0], [ring, enter], [7.0, 4.0],
                     [False, True])[0][1]  # fmt: skip


def test_a_car_joining_the_ring_is_a_leader_for_the_car_coming_round():
    routes = Routes(roundabout(), 3.3)
    enter, ring = route_of("east", 0), route_of("south", 1)
    join_at = routes.offsets[enter, 2]  # where the east entry ends on car 1's route
    ring_join = routes.offsets[ring, 4]
    # Car 1's front is 1 m from the ring (its centre 3.25 m before): car 0, 12 m before the
    # joining point, follows it (centre to centre 8.75 m ahead).
    _, leader, gap, _ = drive([ring_join - 12.0, join_at - 3.25], [ring, enter], [6.0, 4.0],
                              [False, True])  # fmt: skip
    assert leader[0] == 1
    np.testing.assert_allclose(gap[0], 12.0 - 3.25 - LENGTH, atol=1e-9)
    # 5 m from the ring it is not yet in the way.
    _, leader, _, _ = drive([ring_join - 12.0, join_at - 7.25], [ring, enter], [6.0, 4.0],
                            [False, True])  # fmt: skip
    assert leader[0] != 1


def test_pettingzoo_api_and_seeding_hold_on_the_roundabout():
    parallel_api_test(scenarios.make(SCENARIO, **ROUNDABOUT), num_cycles=300)
    seed_test(lambda: scenarios.make_aec(SCENARIO, **ROUNDABOUT), num_cycles=300)
    a, b = scenarios.make(SCENARIO, **ROUNDABOUT), scenarios.make(SCENARIO, **ROUNDABOUT)
    obs_a, _ = a.reset(seed=4)
    obs_b, _ = b.reset(seed=4)
    for _ in range(200):  # several cars finish and new ones join, identically
        actions = {agent: 1 for agent in a.agents}
        obs_a, rew_a, *_ = a.step(actions)
        obs_b, rew_b, *_ = b.step({agent: 1 for agent in b.agents})
        assert obs_a.keys() == obs_b.keys() and rew_a == rew_b
        assert all(np.array_equal(obs_a[k], obs_b[k]) for k in obs_a)
