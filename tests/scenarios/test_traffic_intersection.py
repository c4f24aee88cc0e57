"""traffic/intersection-v0 by behaviour: a collision-free hour of the IDM baseline, the
right-of-way invariant, cars that finish and new ones that enter (vector env and PettingZoo),
and collision and off-road detection on constructed cases."""

import numpy as np
import pytest

import scenarios

SCENARIO = "traffic/intersection-v0"


@pytest.mark.parametrize(("road", "trips"), [("intersection", 500), ("roundabout", 600)])
def test_the_idm_baseline_drives_an_hour_without_a_collision(road, trips):
    """The scripted baseline (IDM through the discrete meta-actions) for a simulated hour at
    the default density, at the crossing and at the roundabout: no collision, nobody off the
    road, no gridlock, and traffic flows (about 790 and 1,030 trips measured)."""
    venv = scenarios.make_vec(SCENARIO, num_envs=1, seed=3, max_steps=36_000, road=road)
    policy = venv.scenario.scripted_policy()
    obs, episodes = venv.reset(), []
    for _ in range(36_000):
        obs, _, _, _, info = venv.step(policy.act(obs))
        episodes += info["episodes"]
    (episode,) = episodes
    m = episode["metrics"]
    assert m["collisions"] == 0 and m["collisions_per_1000km"] == 0, m
    assert m["off_road"] == 0 and m["gridlocks"] == 0, m
    assert m["trips"] > trips and m["route_completion"] > 90, m
    assert m["throughput_vph"] > 500 and m["mean_speed"] > 1.0, m


def test_no_two_cars_are_ever_on_conflicting_connectors():
    """The right of way (first come, first served) as an invariant: over many worlds and
    steps of IDM drivers, cars inside the junction always drive connectors that do not
    conflict; and the junction is used by more than one car at once at times."""
    venv = scenarios.make_vec(SCENARIO, num_envs=8, seed=1, idm_agents=True, n_cars=32)
    t, zeros = venv.scenario.traffic, {"car": np.zeros((8, 32), np.int64)}
    venv.reset()
    shared = 0
    for _ in range(1500):
        venv.step(zeros)
        offsets = t.routes.offsets[t.route]
        inside = t.present & (t.pos >= offsets[..., 1]) & (t.pos < offsets[..., 2])
        for b, i in zip(*np.nonzero(inside), strict=True):
            others = np.flatnonzero(inside[b])
            assert not t.routes.conflict[t.route[b, i], t.route[b, others]].any()
        shared += int((inside.sum(1) >= 2).sum())
    assert shared > 100


def test_a_car_that_finishes_leaves_and_a_new_car_enters_its_slot():
    venv = scenarios.make_vec(SCENARIO, num_envs=1, seed=0, idm_agents=True)
    zeros = {"car": np.zeros((1, 24), np.int64)}
    venv.reset()
    finished = None
    for _ in range(600):
        _, reward, terminated, _, info = venv.step(zeros)
        if terminated["car"][0].any():
            finished = int(np.flatnonzero(terminated["car"][0])[0])
            assert reward["car"][0, finished] >= 1.0  # the goal reward
            break
    assert finished is not None, "no car finished its route in 60 s"
    assert not venv.alive["car"][0, finished]
    for _ in range(200):
        venv.step(zeros)
        if venv.alive["car"][0, finished]:
            break
    assert venv.alive["car"][0, finished] and venv.episode.lives["car"][0, finished] == 2
    t = venv.scenario.traffic
    assert t.pos[0, finished] < 20.0  # at the start of an approach


def test_pettingzoo_names_the_new_car_as_a_new_agent():
    env = scenarios.make(SCENARIO, idm_agents=True)
    env.reset(seed=0)
    joined = []
    while env.agents and not joined:
        observations, rewards, *_ = env.step({a: 0 for a in env.agents})
        joined = [a for a in observations if "." in a]
    assert joined and set(joined) <= set(env.agents) and set(joined) <= set(env.possible_agents)
    assert all(rewards[a] == 0.0 for a in joined)
    group, slot = env.slot_of(joined[0])
    assert group == "car" and joined[0].startswith(f"car_{slot}.")


def test_a_rear_end_collision_is_counted_penalized_and_ends_the_car():
    """Every learned car always asks for more speed: cars run into the ones ahead, the collision
    ends them, is counted and costs the cautious personality's weight."""
    venv = scenarios.make_vec(SCENARIO, num_envs=1, seed=0, personality="cautious", n_cars=8)
    venv.reset()
    faster = {"car": np.ones((1, 8), np.int64)}
    for _ in range(300):
        _, reward, terminated, _, _ = venv.step(faster)
        frame = venv.scenario._frame
        hit = terminated["car"][0] & frame.new_contact[0]
        if hit.any():
            assert (reward["car"][0, hit] <= -9.0).all()  # the cautious collision weight, 10
            break
    else:
        pytest.fail("no collision in 30 s of full speed")


def test_steering_off_the_road_is_off_road_and_ends_the_car():
    venv = scenarios.make_vec(SCENARIO, num_envs=1, seed=0, continuous_actions=True, n_cars=4)
    venv.reset()
    left = {"car": np.tile(np.float32([0.5, 1.0]), (1, 4, 1))}
    for _ in range(100):
        _, _, terminated, _, info = venv.step(left)
        frame = venv.scenario._frame
        if terminated["car"][0].any():
            assert frame.off_road[0, terminated["car"][0]].any()
            return
    pytest.fail("no car left the road steering hard left for 10 s")


def test_observation_noise_perturbs_only_what_a_car_sees_of_others_and_replays():
    """``obs_noise``: the seen vehicles' offsets and relative velocities get Gaussian noise of
    that deviation; everything else is exact, and the same seed gives the same noise."""
    exact, noisy, again = (
        scenarios.make_vec(SCENARIO, num_envs=4, seed=5, obs_noise=s, idm_agents=True)
        for s in (0.0, 0.5, 0.5)
    )
    layout = exact.scenario.layout
    zeros = {"car": np.zeros((4, 24), np.int64)}
    for env in (exact, noisy, again):
        env.reset()
    noise = np.zeros(0)
    for _ in range(30):
        a, b, c = (env.step(zeros)[0]["car"] for env in (exact, noisy, again))
        np.testing.assert_array_equal(b, c)
        diff = (layout.read(b, "vehicles") - layout.read(a, "vehicles")).reshape(4, 24, -1, 8)
        noise = np.concatenate([noise, diff[..., [0, 1, 4, 5]].ravel()])
        assert not diff[..., [2, 3, 6, 7]].any()
        np.testing.assert_array_equal(
            layout.read_valid(a, "vehicles"), layout.read_valid(b, "vehicles")
        )
        for block in ("ego", "route", "personality", "lane_ahead"):
            np.testing.assert_array_equal(layout.read(a, block), layout.read(b, block))
    nonzero = noise[noise != 0]
    assert nonzero.size > 1000 and abs(nonzero.std() - 0.5) < 0.05 and abs(nonzero.mean()) < 0.05
