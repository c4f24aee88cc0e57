"""traffic/merge-v0 by behaviour: the IDM/MOBIL baseline merges the ramp's cars for an hour
without a collision, a ramp car facing a full right lane stops before the end of its lane,
driving straight off the end is off-road, cars enter only where there is room; and the merging
rules of ``idm.drive`` (yielding, shadows of lane changers, one car per gap) on constructed
cases."""

import numpy as np
import pytest

import scenarios
from scenarios.traffic.idm import IDMParams, drive

LENGTH = 4.5


def run(venv, steps, policy=None):
    """Run the scripted baseline; the ended episodes' records."""
    policy = policy or venv.scenario.scripted_policy()
    obs, episodes = venv.reset(), []
    for _ in range(steps):
        obs, _, _, _, info = venv.step(policy.act(obs, venv.action_mask()))
        episodes += info["episodes"]
    return episodes


def total(episodes, name):
    return sum(e["metrics"][name] for e in episodes)


def mean(episodes, name):
    return total(episodes, name) / len(episodes)


def test_the_idm_baseline_merges_for_an_hour_without_a_collision():
    # An hour of traffic at the default density: four worlds for a quarter of an hour each,
    # nine 100 s episodes back to back, learned cars (driven as IDM cars) that finish followed
    # by new ones in their slots.
    venv = scenarios.make_vec("traffic/merge-v0", num_envs=4, seed=0, idm_agents=True)
    episodes = run(venv, 9000)
    assert len(episodes) == 36
    for name in ("collisions", "collisions_per_1000km", "off_road", "cars_off_road", "gridlocks"):
        assert total(episodes, name) == 0, name
    assert min(e["metrics"]["min_ttc"] for e in episodes) > 1.0
    # Ramp cars merge and get through: a fair share of the flow past the detector came
    # from the ramp, and most learned cars that entered reached the end of the road (the
    # others were still on their way when the episode ended: 74% measured).
    assert mean(episodes, "throughput_vph") > 2000
    assert mean(episodes, "ramp_throughput_vph") > 400
    assert mean(episodes, "route_completion") > 65
    assert 10 < mean(episodes, "mean_speed") < 30


def test_trucks_merge_and_recycle_without_a_collision():
    # A third of the background traffic is trucks (12 m): twenty minutes of IDM/MOBIL traffic,
    # trucks among the ramp's cars; they reach the end of the road and enter again.
    venv = scenarios.make_vec("traffic/merge-v0", num_envs=2, seed=2, idm_agents=True,
                              truck_share=0.33)  # fmt: skip
    truck = venv.world.groups["truck"]
    assert truck.n >= 4 and (venv.scenario.traffic.length[-truck.n :] == 12.0).all()
    policy, obs = venv.scenario.scripted_policy(), venv.reset()
    episodes, entries = [], 0
    for _ in range(6000):
        before = truck.x.copy()
        obs, _, _, _, info = venv.step(policy.act(obs, venv.action_mask()))
        jumped = (np.abs(truck.x - before) > 50.0) & ~truck.parked
        entries += int(jumped.sum())  # a truck entered again (from the end or from waiting)
        episodes += info["episodes"]
    assert len(episodes) == 12
    for name in ("collisions", "off_road", "cars_off_road", "gridlocks"):
        assert total(episodes, name) == 0, name
    assert entries >= 10 and mean(episodes, "ramp_throughput_vph") > 300


@pytest.mark.parametrize("continuous", [False, True])
def test_the_scripted_baseline_drives_the_learned_cars_through_the_merge(continuous):
    venv = scenarios.make_vec("traffic/merge-v0", num_envs=2, seed=1,
                              continuous_actions=continuous)  # fmt: skip
    episodes = run(venv, 3000)
    assert len(episodes) >= 6
    assert total(episodes, "collisions") == 0 and total(episodes, "off_road") == 0
    assert mean(episodes, "route_completion") > 65
    assert mean(episodes, "ramp_throughput_vph") > 300


def lanes(venv, *names):
    return [venv.scenario.road.index[name] for name in names]


def test_a_ramp_car_stops_before_the_end_when_the_right_lane_is_full_and_merges_later():
    # 24 learned cars stand bumper to bumper (2 m) in the right lane along the merge section;
    # the one background car comes up the acceleration lane at 15 m/s.
    venv = scenarios.make_vec("traffic/merge-v0", num_envs=1, seed=0, n_learned=24,
                              background_share=0.05, continuous_actions=True,
                              max_steps=5000)  # fmt: skip
    sc = venv.scenario
    assert sc.n_cars == 25
    right_up, right_merge, ramp = lanes(venv, "right_up", "right_merge", "ramp_merge")
    x = 236.0 + (LENGTH + 2.0) * np.arange(24)
    lane = np.append(np.where(x < 250, right_up, right_merge), ramp)
    s = np.append(np.where(x < 250, x, x - 250), 10.0)
    speed = np.append(np.zeros(24), 15.0)
    venv.reset()
    sc.place(venv.world, np.array([0]), lane[None], s[None], speed[None])
    venv.measure()
    t = sc.traffic
    stand = {"car": np.zeros((1, 24, 2), np.float32)}
    for _ in range(250):
        _, _, _, _, info = venv.step(stand)
        frame = venv.measure()
        assert not frame.new_contact.any() and not frame.off_road.any()
        assert not info["episodes"]
    end = sc.road.length[ramp]
    assert t.target[0, 24] == ramp and t.speed[0, 24] < 0.3
    # It stopped stop_margin before the end (room to pull out), not at or past it.
    front = t.s[0, 24] + LENGTH / 2
    assert end - sc.cfg.stop_margin - sc.cfg.min_gap - 1.0 < front < end - sc.cfg.stop_margin
    # The right lane drives off: the ramp car pulls out behind its last car.
    go = {"car": np.tile(np.float32([1.0, 0.0]), (1, 24, 1))}
    merged = None
    for step in range(240):
        venv.step(go)
        frame = venv.measure()
        assert not frame.new_contact.any() and not frame.off_road[0, 24]
        if merged is None and t.target[0, 24] != ramp:
            merged = step
    assert merged is not None and t.speed[0, 24] > 3.0


def test_driving_straight_off_the_end_of_the_acceleration_lane_is_off_road_and_ends_the_car():
    # No car follows it in its slot (re-entry after the episode): the episode ends with it.
    venv = scenarios.make_vec("traffic/merge-v0", num_envs=1, seed=0, n_learned=1,
                              background_share=0.0, continuous_actions=True,
                              personality="cautious", reentry_seconds=600.0)  # fmt: skip
    sc = venv.scenario
    (ramp,) = lanes(venv, "ramp_merge")
    venv.reset()
    sc.place(venv.world, np.array([0]), np.array([[ramp]]), np.array([[80.0]]), np.array([[10.0]]))
    assert not venv.measure().off_road.any()
    for _step in range(1, 200):  # throttle, no steering: on past the end of the lane
        _, _, terminated, _, info = venv.step({"car": np.float32([[[0.3, 0.0]]])})
        if terminated["car"][0, 0]:
            break
    assert terminated["car"][0, 0] and 40 < _step < 199
    (record,) = info["episodes"]
    assert record["metrics"]["off_road"] > 0 and record["metrics"]["route_completion"] == 0
    assert record["reward_terms"]["collision"] <= -10.0  # the cautious weight


def test_a_car_enters_only_where_its_entry_has_room_at_a_speed_it_can_stop_from():
    venv = scenarios.make_vec("traffic/merge-v0", num_envs=1, seed=0, n_learned=1,
                              background_share=0.5, continuous_actions=True)  # fmt: skip
    sc, cfg = venv.scenario, venv.scenario.cfg
    (right_up,) = lanes(venv, "right_up")
    venv.reset()
    group = venv.world.groups["idm"]
    for ahead, enters in ((8.0, False), (60.0, True)):
        # The learned car stands `ahead` along the right lane; the background car waits.
        sc.place(venv.world, np.array([0]), np.array([[right_up, -1]]),
                 np.array([[ahead, 0.0]]), np.zeros((1, 2)))  # fmt: skip
        venv.measure()
        assert group.parked[0, 0]
        placed = sc.enter(venv.world, np.array([0]), np.array([1]))
        assert placed.tolist() == [enters]
    t = sc.traffic
    assert not group.parked[0, 0] and t.target[0, 1] == right_up and t.present[0, 1]
    room = 60.0 - 1.5 * LENGTH - cfg.min_gap  # the leader's rear to the new car's front
    assert t.speed[0, 1] == pytest.approx(np.sqrt(2 * cfg.comfort_decel * room), rel=1e-5)
    venv.step({"car": np.zeros((1, 1, 2), np.float32)})
    frame = venv.measure()
    assert frame.present.all() and not frame.new_contact.any()
    assert 0 < t.s[0, 1] < 10.0 and abs(t.offset[0, 1]) < 0.1


# ----------------------------------------------------------------- merging rules of idm.drive
def drive_one(s, lane, speed, cand, lane_length, dead_end, params, shadow=None):
    """``drive`` on one world; ``cand``: per car (left, right) lanes, arc length unchanged."""
    s, lane, speed = (np.array(a)[None] for a in (s, lane, speed))
    n, lanes_ = s.shape[1], len(lane_length)
    cand = np.array(cand)[None]
    out = [np.zeros((1, n)) for _ in range(3)] + [np.zeros((1, n), np.int32) for _ in range(2)]
    extra = {}
    if shadow is not None:
        extra = dict(shadow_lane=np.array(shadow[0], np.int32)[None],
                     shadow_s=np.array(shadow[1], np.float32)[None])  # fmt: skip
    drive(
        s.astype(np.float32), lane.astype(np.int32), speed.astype(np.float32),
        np.full(n, LENGTH, np.float32), np.full((1, n), 30.0, np.float32),
        np.stack([s, s], -1).astype(np.float32), cand.astype(np.int32), np.ones((1, n), bool),
        np.array(lane_length, np.float32), np.zeros(lanes_, bool), np.array(dead_end),
        params.array(), *out, **extra,
    )  # fmt: skip
    keys = ("accel", "gap", "lead_speed", "leader", "target")
    return dict(zip(keys, (o[0] for o in out), strict=True))


# Lane 0: a main lane (500 m); lane 1: an acceleration lane right of it, ending at 100 m.
ROAD = dict(lane_length=[500.0, 100.0], dead_end=[False, True])
RAMP_LEFT = [[-1, -1], [0, -1]]  # the ramp car (second) may change left to lane 0


def test_a_main_road_car_yields_to_a_moving_merging_car_but_not_to_a_standing_one():
    # F at 22 m/s on the main lane, 50 m (centres) behind the ramp car R at 20 m/s.
    cars = dict(s=[0.0, 50.0], lane=[0, 1], cand=RAMP_LEFT, **ROAD)
    plain = drive_one(speed=[22.0, 20.0], params=IDMParams(), **cars)
    assert plain["leader"][0] == -1 and plain["accel"][0] == pytest.approx(1 - (22 / 30) ** 4)
    coop = drive_one(speed=[22.0, 20.0], params=IDMParams(cooperation=2.0), **cars)
    assert coop["leader"][0] == 1 and coop["gap"][0] == pytest.approx(50.0 - LENGTH)
    assert -2.0 <= coop["accel"][0] < 0 and coop["lead_speed"][0] == 20.0
    # Braking harder than `cooperation` to let it in is not asked: F drives on.
    fast = drive_one(speed=[26.0, 20.0], params=IDMParams(cooperation=2.0), **cars)
    assert fast["leader"][0] == -1
    # A ramp car standing at the end of its lane waits for a gap; nobody stops for it (F, at
    # 5 m/s, 90 m back, would yield to it gently if it moved).
    standing = dict(cars, s=[0.0, 90.0])
    out = drive_one(speed=[5.0, 0.0], params=IDMParams(cooperation=2.0), **standing)
    assert out["leader"][0] == -1
    moving = drive_one(speed=[5.0, 1.5], params=IDMParams(cooperation=2.0), **standing)
    assert moving["leader"][0] == 1


def test_a_car_changing_lanes_stays_the_leader_on_the_lane_it_leaves():
    # Car 0 has just changed from lane 1 to lane 0 but still covers lane 1 (its shadow);
    # car 1 behind it on lane 1 keeps it as its leader rather than the end of the lane.
    cars = dict(s=[60.0, 40.0], lane=[0, 1], speed=[10.0, 10.0], cand=[[-1, 1], [0, -1]],
                params=IDMParams(), **ROAD)  # fmt: skip
    out = drive_one(shadow=([1, -1], [60.0, 0.0]), **cars)
    assert out["leader"][1] == 0 and out["gap"][1] == pytest.approx(20.0 - LENGTH)
    assert drive_one(**cars)["leader"][1] == -2  # without the shadow: the lane's end


def test_two_cars_never_pick_the_same_gap_in_one_step():
    # Cars 0 and 1 on lanes 0 and 2, each behind a crawling car, both side by side with an
    # empty lane 1 between them: only the first changes; the second now sees it there.
    cars = [(100.0, 0, 15.0), (100.0, 2, 15.0), (130.0, 0, 5.0), (130.0, 2, 5.0)]
    s, lane, speed = (np.array([c[k] for c in cars]) for k in range(3))
    cand = [[1, -1], [-1, 1], [1, -1], [-1, 1]]
    out = drive_one(s, lane, speed, cand, [1000.0] * 3, [False] * 3, IDMParams(politeness=0.0))
    assert out["target"].tolist()[:2] == [1, -1]
    alone = drive_one(s[1:], lane[1:], speed[1:], cand[1:], [1000.0] * 3, [False] * 3,
                      IDMParams(politeness=0.0))  # fmt: skip
    assert alone["target"][0] == 1  # by itself, car 1 would have changed too
