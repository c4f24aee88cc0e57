"""The vector env contract: determinism, auto-reset, episode records, and bad input."""

import numpy as np
import pytest
from episodes import random_actions

import scenarios

IDS = scenarios.registry_ids()


def rollout(scenario_id, seed, steps=60, **config):
    venv = scenarios.make_vec(scenario_id, num_envs=6, seed=seed, max_steps=25, **config)
    rng = np.random.default_rng(99)
    frames = [{g: o.copy() for g, o in venv.reset().items()}]
    for _ in range(steps):
        obs, rew, terminated, truncated, info = venv.step(random_actions(venv, rng))
        frames.append({g: o.copy() for g, o in obs.items()})
        frames.append({g: r.copy() for g, r in rew.items()})
        frames.append({"state": venv.state().copy()})
    return frames


@pytest.mark.parametrize("scenario_id", IDS)
def test_same_seed_gives_bit_identical_trajectories(scenario_id):
    first, second = rollout(scenario_id, seed=3), rollout(scenario_id, seed=3)
    for a, b in zip(first, second, strict=True):
        for key in a:
            assert a[key].tobytes() == b[key].tobytes()
    other = rollout(scenario_id, seed=4)
    assert any(
        a[key].tobytes() != b[key].tobytes() for a, b in zip(first, other, strict=True) for key in a
    )


@pytest.mark.parametrize("scenario_id", IDS)
def test_shapes_and_spaces(scenario_id):
    venv = scenarios.make_vec(scenario_id, num_envs=5, seed=0)
    obs = venv.reset()
    for group, spec in venv.groups.items():
        assert obs[group].shape == (5, spec.n_agents, *spec.observation_space.shape)
        assert obs[group].dtype == np.float32
        assert spec.observation_space.contains(obs[group][0, 0])
    assert venv.state().shape == (5, *venv.state_space.shape)
    obs, rew, terminated, truncated, info = venv.step(
        random_actions(venv, np.random.default_rng(0))
    )
    for group, spec in venv.groups.items():
        assert rew[group].shape == terminated[group].shape == truncated[group].shape
        assert rew[group].shape == (5, spec.n_agents)
        assert np.isfinite(rew[group]).all()


def test_auto_reset_reports_episodes_and_restarts():
    venv = scenarios.make_vec("swarm/spread-v0", num_envs=4, seed=1, max_steps=10)
    venv.reset()
    rng = np.random.default_rng(0)
    returns = np.zeros(4)
    for step in range(10):
        obs, rew, terminated, truncated, info = venv.step(random_actions(venv, rng))
        returns += rew["drone"].mean(axis=1)
        if step < 9:
            assert info["episodes"] == [] and not truncated["drone"].any()
    assert truncated["drone"].all() and not terminated["drone"].any()
    episodes = info["episodes"]
    assert [e["env_id"] for e in episodes] == [0, 1, 2, 3]
    assert all(e["length"] == 10 for e in episodes)
    np.testing.assert_allclose([e["return"]["drone"] for e in episodes], returns, rtol=1e-5)
    terms = episodes[0]["reward_terms"]
    assert terms["coverage"] + terms["collision"] == pytest.approx(episodes[0]["return"]["drone"])
    assert set(episodes[0]["metrics"]) == {
        "coverage",
        "coverage_mean",
        "collisions",
        "min_separation",
    }
    # The returned obs start new episodes; the final obs are the old episodes' last.
    assert not np.array_equal(info["final_obs"]["drone"], obs["drone"])
    landmarks = obs["drone"][:, :, 4:10]
    assert np.abs(landmarks).max() > 0
    obs, rew, terminated, truncated, info = venv.step(random_actions(venv, rng))
    assert info["episodes"] == [] and not truncated["drone"].any()


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        ({"drone": np.zeros((2, 3), np.int64)}, "shape"),
        ({"drone": np.zeros((4, 3), np.float32)}, "integers"),
        ({"drone": np.full((4, 3), 7)}, "out of range"),
        ({"drone": np.full((4, 3), -1)}, "out of range"),
        ({"robot": np.zeros((4, 3), np.int64)}, "exactly the groups"),
        ([0, 1, 2], "dict"),
    ],
)
def test_bad_actions_raise_and_leave_env_usable(actions, message):
    venv = scenarios.make_vec("swarm/spread-v0", num_envs=4, seed=0)
    venv.reset()
    with pytest.raises(ValueError, match=message):
        venv.step(actions)
    obs, *_ = venv.step({"drone": np.zeros((4, 3), np.int64)})
    assert np.isfinite(obs["drone"]).all()


def test_continuous_actions_reject_nan():
    venv = scenarios.make_vec("swarm/spread-v0", num_envs=2, seed=0, continuous_actions=True)
    venv.reset()
    bad = np.zeros((2, 3, 2), np.float32)
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        venv.step({"drone": bad})
    with pytest.raises(ValueError, match="floating"):
        venv.step({"drone": np.zeros((2, 3, 2), np.int64)})
    venv.step({"drone": np.zeros((2, 3, 2), np.float32)})


def test_step_before_reset_is_an_error():
    venv = scenarios.make_vec("swarm/spread-v0", num_envs=1)
    with pytest.raises(RuntimeError, match="reset"):
        venv.step({"drone": np.zeros((1, 3), np.int64)})


def test_pettingzoo_dict_errors_name_the_agent():
    env = scenarios.make("swarm/spread-v0")
    env.reset(seed=0)
    good = {agent: 0 for agent in env.agents}
    with pytest.raises(ValueError, match="unknown agent.*drone_9"):
        env.step({**good, "drone_9": 0})
    with pytest.raises(ValueError, match="no action for live agent.*drone_1"):
        env.step({k: v for k, v in good.items() if k != "drone_1"})
    with pytest.raises(ValueError, match="out of range"):
        env.step({**good, "drone_0": 11})
    observations, *_ = env.step(good)
    assert set(observations) == set(env.possible_agents)


def test_pettingzoo_continuous_action_nan_is_rejected():
    env = scenarios.make("swarm/spread-v0", continuous_actions=True)
    env.reset(seed=0)
    actions = {agent: np.zeros(2, np.float32) for agent in env.agents}
    actions["drone_2"] = np.array([np.nan, 0.0], np.float32)
    with pytest.raises(ValueError, match="drone_2.*NaN"):
        env.step(actions)
    with pytest.raises(ValueError, match="drone_0"):
        env.step({**actions, "drone_0": np.zeros(5, np.float32)})


def test_pettingzoo_env_with_finished_agents_in_several_groups():
    """Pursuit: captured evaders leave; the others keep acting through the dict API."""
    # Three evaders and two pursuers: after two captures the live count equals a group size.
    env = scenarios.make("swarm/pursuit-v0", n_pursuers=2, n_evaders=3)
    env.reset(seed=3)
    policy = env.venv.scenario.scripted_policy()
    finished = set()
    for _ in range(300):
        if not env.agents:
            break
        obs = {g: env.venv._obs[g] for g in env.venv.groups}
        joint = policy.act(obs)
        actions = {}
        for group, spec in env.venv.groups.items():
            for i, agent in enumerate(spec.agent_ids):
                if agent in env.agents:
                    actions[agent] = joint[group][0, i]
        observations, rewards, terminations, truncations, infos = env.step(actions)
        assert set(observations) == set(actions)  # every acting agent reports, no other
        assert not finished & set(observations)  # a finished agent never returns
        finished |= {a for a, done in terminations.items() if done}
    captured = [a for a in finished if a.startswith("evader")]
    assert len(captured) >= 2, f"the baseline should capture two evaders, got {captured}"


@pytest.mark.parametrize(
    "scenario", ["swarm/pursuit-v0", "warehouse/shelves-v0", "traffic/ring-v0"]
)
def test_replicas_start_as_one_world_of_a_batch_and_stay_alike_under_the_same_actions(scenario):
    """Alike to float rounding: worlds sharing a physics space sit at different offsets."""
    import scenarios

    batch = scenarios.make_vec(scenario, num_envs=5, seed=8)
    original = batch.reset(seed=8)
    copies = scenarios.make_vec(scenario, num_envs=3, seed=0)
    replicas = copies.reset_replicas(8, 3)
    for group in original:
        for k in range(3):
            assert np.array_equal(replicas[group][k], original[group][3])
    rng = np.random.default_rng(0)
    for _ in range(20):
        actions = {
            g: rng.integers(0, spec.action_space.n, (1, spec.n_agents))
            for g, spec in copies.groups.items()
        }
        replicas, *_ = copies.step({g: np.repeat(a, 3, 0) for g, a in actions.items()})
        wide = {g: np.repeat(a, 5, 0) for g, a in actions.items()}
        original, *_ = batch.step(wide)
        for group in original:
            np.testing.assert_allclose(replicas[group][0], replicas[group][2], atol=1e-4)
            np.testing.assert_allclose(replicas[group][1], original[group][3], atol=1e-4)


def test_a_metric_that_changes_shape_mid_episode_is_refused_by_name():
    """The episode accumulators are bound to the arrays a scenario returns; a new array of
    another shape is refused in one line that names it, not added out of bounds."""
    venv = scenarios.make_vec("swarm/spread-v0", num_envs=3, seed=0, n_agents=4)
    venv.reset()
    rng = np.random.default_rng(0)
    venv.step(random_actions(venv, rng))
    original = venv.scenario.metrics

    def wider(frame):
        metrics = dict(original(frame))
        metrics["collisions"] = np.zeros((3, 5), np.float32)
        return metrics

    venv.scenario.metrics = wider
    with pytest.raises(ValueError, match=r"'collisions' has shape \(3, 5\) this step, \(3, 4\)"):
        venv.step(random_actions(venv, rng))
    venv.scenario.metrics = original
    venv.step(random_actions(venv, rng))  # the scenario's own arrays again: accepted
