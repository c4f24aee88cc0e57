"""traffic/ring-v0 by behaviour: Sugiyama's waves, a collision-free hour of the baseline, and
collision and off-road detection on constructed cases."""

import numpy as np

import scenarios


def run(venv, steps, policy=None):
    """Run the scripted baseline; the ended episodes' records."""
    policy = policy or venv.scenario.scripted_policy()
    obs, episodes = venv.reset(), []
    for _ in range(steps):
        obs, _, _, _, info = venv.step(policy.act(obs, venv.action_mask()))
        episodes += info["episodes"]
    return episodes


def test_an_all_idm_ring_at_sugiyama_density_falls_into_stop_and_go_waves():
    # 22 IDM cars on 230 m, started evenly spaced at rest; the one learned car drives as IDM.
    venv = scenarios.make_vec("traffic/ring-v0", num_envs=1, seed=0, continuous_actions=True,
                              initial_speed=0.0, max_steps=4000)  # fmt: skip
    policy = venv.scenario.scripted_policy()
    obs, spreads = venv.reset(), []
    for step in range(3000):
        obs, *_ = venv.step(policy.act(obs))
        if step in (300, 2999):
            spreads.append(venv.scenario.traffic.speed[0].std())
    assert spreads[0] < 0.2 and spreads[1] > 1.0  # uniform flow, then waves
    speed = venv.scenario.traffic.speed[0]
    assert speed.min() < 1.0 < 3.0 < speed.max()  # cars nearly stopped and cars moving


def test_the_idm_baseline_drives_an_hour_without_a_collision():
    venv = scenarios.make_vec("traffic/ring-v0", num_envs=1, seed=3, max_steps=36_000)
    (episode,) = run(venv, 36_000)
    metrics = episode["metrics"]
    assert metrics["collisions"] == 0 and metrics["collisions_per_1000km"] == 0
    assert metrics["off_road"] == 0 and metrics["gridlocks"] == 0
    assert metrics["mean_speed"] > 0.5 and metrics["throughput_vph"] > 100


def test_a_rear_end_collision_is_counted_penalized_and_ends_the_car():
    venv = scenarios.make_vec("traffic/ring-v0", num_envs=1, seed=0, initial_speed=0.0,
                              collision_ends=True, personality="cautious",
                              controller="speed")  # fmt: skip
    venv.reset()
    hit = None
    for _ in range(120):  # always "faster": the speed controller does not brake for the leader
        _, reward, terminated, _, info = venv.step({"car": np.array([[1]])})
        if terminated["car"][0, 0]:
            hit = info
            break
    assert hit is not None and hit["episodes"], "the car must hit its leader and end"
    record = hit["episodes"][0]
    assert record["metrics"]["collisions"] >= 1
    assert record["metrics"]["collisions_per_agent_episode"] == 1.0
    assert record["reward_terms"]["collision"] <= -10.0  # the cautious weight


def test_driving_straight_off_a_ring_is_off_road_and_ends_the_car():
    venv = scenarios.make_vec("traffic/ring-v0", num_envs=1, seed=0, continuous_actions=True,
                              initial_speed=8.0)  # fmt: skip
    venv.reset()
    frame = venv.measure()
    assert not frame.off_road.any()
    for _step in range(200):  # no steering: the car leaves the curve on its tangent
        _, _, terminated, _, info = venv.step({"car": np.array([[[0.0, 0.0]]], np.float32)})
        if terminated["car"][0, 0]:
            break
    assert terminated["car"][0, 0] and info["episodes"][0]["metrics"]["off_road"] > 0
    assert 5 < _step < 200


def test_idm_agents_drive_the_learned_cars_exactly_as_the_idm_cars():
    # The all-IDM ring: whatever the policy says, the learned car follows IDM; the continuous
    # baseline (IDM's acceleration from the observation) drives nearly the same ring.
    speeds = []
    for kw, policy in (({"idm_agents": True}, "random"), ({"continuous_actions": True}, None)):
        venv = scenarios.make_vec("traffic/ring-v0", num_envs=2, seed=5, **kw)
        scripted = venv.scenario.scripted_policy()
        rng, obs = np.random.default_rng(0), venv.reset()
        for _ in range(400):
            if policy == "random":
                action = {"car": rng.integers(0, 5, (2, 1))}
            else:
                action = scripted.act(obs)
            obs, *_ = venv.step(action)
        speeds.append(venv.scenario.traffic.speed.copy())
    np.testing.assert_allclose(speeds[0], speeds[1], atol=0.02)  # steering differs a little
    assert speeds[0].std(1).min() > 0.5  # waves already, learned car included


def test_the_waves_term_is_minus_the_speed_spread_shared_by_the_learned_cars():
    venv = scenarios.make_vec("traffic/ring-v0", num_envs=2, seed=0, wave_weight=2.0,
                              learned_share=0.2)  # fmt: skip
    venv.reset()
    for _ in range(50):
        _, _, _, _, info = venv.step({"car": np.zeros((2, 4), np.int64)})
    speed = venv.scenario.traffic.speed
    expected = -2.0 * speed.std(1) / 3.0
    terms = venv.scenario.reward(venv.measure()).terms
    np.testing.assert_allclose(terms["waves"], np.broadcast_to(expected[:, None], (2, 1)),
                               rtol=1e-4)  # fmt: skip


def test_trucks_are_long_boxes_that_idm_keeps_its_gap_to_and_lane_keeping_keeps_on_the_road():
    venv = scenarios.make_vec("traffic/ring-v0", num_envs=2, seed=4, truck_share=0.3,
                              max_steps=3000, idm_agents=True)  # fmt: skip
    venv.reset()
    truck = venv.world.groups["truck"]
    assert truck.n == round(0.3 * 21) and venv.world.groups["idm"].n == 21 - truck.n
    t = venv.scenario.traffic
    assert (t.length[-truck.n :] == 12.0).all() and (t.length[: -truck.n] == 5.0).all()
    # The start leaves equal bumper gaps around the ring, trucks or cars.
    order = np.argsort(t.s[0])
    centre = np.diff(np.append(t.s[0][order], t.s[0][order][0] + venv.scenario.road.length[0]))
    bumper = centre - 0.5 * (t.length[order] + np.roll(t.length[order], -1))
    assert bumper.max() - bumper.min() < 1.0 + 1e-3, bumper  # each end jitters 0.25 m
    seen, off = np.zeros(2), 0
    for _ in range(2999):  # five minutes of IDM traffic with trucks
        obs, *_ = venv.step({"car": np.zeros((2, 1), np.int64)})
        off += venv.scenario.road.off_road(truck.x, truck.y).sum()
        rows = venv.scenario.layout.read(obs["car"], "vehicles")
        seen = np.maximum(seen, rows[..., 6].max(axis=(1, 2)))  # the seen vehicles' lengths
    assert off == 0 and (t.books.collisions == 0).all() and t.books.km.min() > 5
    assert (seen == 12.0).all()  # the learned car sees trucks as 12 m long


def test_follower_stopper_follows_its_band_formula():
    from scenarios.traffic.ring_state import follower_stopper

    # No closing speed: band edges 4.5, 5.25 and 6 m; leader at 2 m/s, setpoint 5 m/s.
    gap = np.array([4.0, 4.875, 5.25, 5.625, 7.0, 7.0])
    lead = np.array([2.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    has = np.array([True, True, True, True, True, False])
    command = follower_stopper(np.full(6, 5.0), lead, gap, lead, has)
    np.testing.assert_allclose(command, [0.0, 1.0, 2.0, 3.5, 5.0, 5.0])
    # Closing at 3 m/s widens the band by 9 / (2 d): edges 7.5, 9.75, 15 m.
    command = follower_stopper(np.full(3, 5.0), np.full(3, 5.0), np.array([7.0, 8.625, 12.375]),
                               np.full(3, 2.0), np.ones(3, bool))  # fmt: skip
    np.testing.assert_allclose(command, [0.0, 1.0, 3.5])


def test_always_faster_through_follower_stopper_neither_collides_nor_winds_up():
    # The rear-end case above, through the default controller: it brakes for the leader.
    venv = scenarios.make_vec("traffic/ring-v0", num_envs=2, seed=0, initial_speed=0.0,
                              collision_ends=True, max_steps=600)  # fmt: skip
    venv.reset()
    t, fastest = venv.scenario.traffic, np.zeros(2)
    for _ in range(598):
        _, _, terminated, _, _ = venv.step({"car": np.ones((2, 1), np.int64)})
        assert not terminated["car"].any()
        fastest = np.maximum(fastest, t.speed[:, 0])  # the setpoint stays near the speeds
        assert (t.setpoint[:, 0] <= fastest + venv.scenario.cfg.speed_step + 1e-4).all()
    assert (t.books.collisions == 0).all() and (t.books.agent_collisions == 0).all()
    assert t.books.km.min() > 0.5  # it drove (a minute at several m/s), not stood still


def test_follower_stopper_stops_a_learned_car_before_the_end_of_a_dropped_lane():
    # The bottleneck: the learned car moves to the inner lane, which ends, and presses
    # "faster" on; FollowerStopper treats the lane's end as a standing leader.
    venv = scenarios.make_vec("traffic/ring-v0", num_envs=2, seed=0, road="bottleneck",
                              n_cars=8, initial_speed=5.0, max_steps=2000)  # fmt: skip
    venv.reset()
    t, road = venv.scenario.traffic, venv.scenario.road
    drop = road.index["drop"]
    moved = np.zeros(2, bool)
    for _ in range(1500):
        mask = venv.action_mask()["car"][:, 0]
        action = np.where(~moved & mask[:, 3], 3, 1)[:, None]
        _, _, terminated, _, _ = venv.step({"car": action})
        moved |= t.target[:, 0] == drop
        assert not terminated["car"].any()  # neither off the road nor into a car
    assert moved.all() and (t.target[:, 0] == drop).all()
    to_end = road.length[drop] - t.s[:, 0] - 2.5
    assert (t.speed[:, 0] < 0.1).all() and (to_end > 0).all() and (to_end < 8.0).all(), to_end
