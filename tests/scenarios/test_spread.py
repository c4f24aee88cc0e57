"""swarm/spread-v0: hand-computed observations, rewards and metrics; the baseline beats random."""

import math

import numpy as np
import pytest
from episodes import random_policy, run_episodes

import scenarios


def placed(n=3, **config):
    """A one-world spread env with drones and landmarks put where the test wants them."""
    venv = scenarios.make_vec("swarm/spread-v0", num_envs=1, seed=0, n_agents=n, **config)
    venv.reset()
    return venv


def put(venv, drones, landmarks):
    scenario = venv.scenario
    drones = np.asarray(drones, float)
    scenario.landmarks[0] = [complex(*p) for p in landmarks]
    venv.world.reset_bodies("drone", np.array([0]), drones[None, :, 0], drones[None, :, 1])


def test_observation_layout_is_as_documented():
    venv = placed(n=3)
    put(venv, [(0.0, 0.0), (0.5, 0.0), (0.0, -0.3)], [(0.2, 0.1), (-0.4, 0.4), (0.6, -0.6)])
    obs = venv.scenario.observe(venv.measure())["drone"][0]
    layout = venv.groups["drone"].layout
    assert layout.names == ["own", "landmarks", "neighbours"]
    assert obs.shape == (3, 4 + 2 * 3 + 5 * 2)
    own, landmarks = obs[:, layout.slice("own")], obs[:, layout.slice("landmarks")]
    neighbours = obs[:, layout.slice("neighbours")]
    np.testing.assert_allclose(own[1], [0.5, 0.0, 0.0, 0.0], atol=1e-6)  # x, y, vx, vy
    np.testing.assert_allclose(landmarks[0], [0.2, 0.1, -0.4, 0.4, 0.6, -0.6], atol=1e-6)
    # Drone 0's nearest drone is drone 2 (0.3 away), then drone 1 (0.5 away).
    np.testing.assert_allclose(neighbours[0, 0:4], [0.0, -0.3, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(neighbours[0, 4:8], [0.5, 0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(obs[0, layout.valid_slice("neighbours")], [1.0, 1.0])


def test_reward_and_metrics_match_hand_computation():
    venv = placed(n=3, collision_penalty=2.0)
    # Drones 0 and 1 overlap (0.1 apart, radius 0.08); drone 2 sits on landmark 2.
    put(venv, [(0.0, 0.0), (0.1, 0.0), (0.6, -0.6)], [(0.0, 0.3), (-0.4, 0.0), (0.6, -0.6)])
    scenario, frame = venv.scenario, venv.measure()
    reward = scenario.reward(frame).agents["drone"][0]
    nearest = [0.3, 0.4, 0.0]  # landmark 0 <- drone 0, landmark 1 <- drone 0, landmark 2 <- 2
    coverage_term = -sum(nearest) / 3
    np.testing.assert_allclose(
        reward, [coverage_term - 2, coverage_term - 2, coverage_term], atol=1e-5
    )
    metrics = scenario.metrics(frame)
    # A step's figure: the mean over the trailing axes (the min for min_separation).
    assert np.mean(metrics["coverage"][0]) == pytest.approx(1 / 3)  # only landmark 2 in 0.15
    assert np.mean(metrics["collisions"][0]) == pytest.approx(2 / 3)  # two drones touch one
    assert np.min(metrics["min_separation"][0]) == pytest.approx(0.1, abs=1e-5)


def test_state_holds_drones_then_landmarks():
    venv = placed(n=2)
    put(venv, [(0.1, 0.2), (-0.3, 0.4)], [(0.5, 0.6), (-0.7, -0.8)])
    state = venv.state()[0]
    np.testing.assert_allclose(
        state, [0.1, -0.3, 0.2, 0.4, 0, 0, 0, 0, 0.5, -0.7, 0.6, -0.8], atol=1e-6
    )


def evaluate(n, policy_name, episodes_wanted=32, **config):
    venv = scenarios.make_vec("swarm/spread-v0", num_envs=16, seed=11, n_agents=n, **config)
    if policy_name == "greedy":
        act = venv.scenario.scripted_policy().act
    else:
        act = random_policy(venv, seed=5)
    episodes = run_episodes(venv, act, episodes_wanted)
    coverage = np.mean([e["metrics"]["coverage"] for e in episodes])
    returns = np.mean([e["return"]["drone"] for e in episodes])
    return coverage, returns


@pytest.mark.parametrize("n", [3, 8])
@pytest.mark.parametrize("continuous", [False, True])
def test_greedy_baseline_beats_random_by_a_wide_margin(n, continuous):
    coverage, returns = evaluate(n, "greedy", continuous_actions=continuous)
    random_coverage, random_returns = evaluate(n, "random", continuous_actions=continuous)
    assert coverage >= 0.9
    assert random_coverage <= 0.2
    assert returns > random_returns + 10


def test_arena_scales_with_the_swarm():
    small = scenarios.make_scenario("swarm/spread-v0", n_agents=3).cfg
    large = scenarios.make_scenario("swarm/spread-v0", n_agents=12).cfg
    assert large.side == pytest.approx(small.side * math.sqrt(12 / 3))


@pytest.mark.parametrize("k", [0, 1, 3])
def test_sense_in_one_call_equals_the_sensors_one_by_one(k):
    """``spread_sense`` measures what ``point_offsets`` and ``nearest_neighbours`` measure
    called one by one, bit for bit, over steps with resets (k = 0: no neighbours observed,
    the search still counts overlaps)."""
    from worlds.sensors import nearest_neighbours, point_offsets

    venv = scenarios.make_vec("swarm/spread-v0", num_envs=4, seed=3, n_agents=6, k_neighbours=k,
                              max_steps=9)  # fmt: skip
    venv.reset()
    scenario, cfg, rng = venv.scenario, venv.cfg, np.random.default_rng(5)
    drones, found = scenario.drones, 0
    for _ in range(20):
        venv.step({"drone": rng.integers(0, 5, (4, 6))})
        frame = scenario.sense(venv.world, venv.episode)
        fused = [np.copy(a) for a in (frame.landmark_offset, frame.nearest, *frame.near.outputs())]
        offset, nearest = point_offsets(drones.position, scenario.landmarks)
        limit = 2 * cfg.drone_radius + cfg.contact_margin
        near = nearest_neighbours(
            drones.position, drones.velocity, scenario.k_search, count_within=limit
        )
        for ours, theirs in zip(fused, (offset, nearest, *near.outputs()), strict=True):
            np.testing.assert_array_equal(ours, theirs)
        found += int(near.count.sum())
    assert found > 0, "no drones ever overlapped: the counts were never compared"
