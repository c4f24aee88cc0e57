import gymnasium as gym
import numpy as np
import pytest
from pettingzoo import ParallelEnv

from marl.envs import PettingZooVecEnv, make_env


def test_mpe2_adapter_follows_the_vector_contract():
    venv = make_env("pz:mpe2.simple_spread_v3", num_envs=3, seed=0, max_cycles=5)
    assert list(venv.groups) == ["agent"]
    spec = venv.groups["agent"]
    assert spec.n_agents == 3 and spec.observation_space.shape == (18,)
    assert venv.state_space.shape == (54,)
    obs = venv.reset(seed=1)
    assert obs["agent"].shape == (3, 3, 18) and obs["agent"].dtype == np.float32
    episodes = []
    for step in range(5):
        previous = obs["agent"].copy()
        obs, rew, term, trunc, info = venv.step({"agent": np.zeros((3, 3), np.int64)})
        assert rew["agent"].shape == (3, 3) and rew["agent"].dtype == np.float32
        episodes += info["episodes"]
        if step < 4:
            assert not trunc["agent"].any()
    assert trunc["agent"].all()
    assert len(episodes) == 3 and all(e["length"] == 5 for e in episodes)
    # final_obs is the ended episode's last observation, obs the new episode's first.
    assert not np.allclose(info["final_obs"]["agent"], obs["agent"])
    assert not np.allclose(previous, obs["agent"])
    assert venv.state().shape == (3, 54)


def test_same_seed_same_trajectory():
    def run():
        venv = make_env("pz:mpe2.simple_spread_v3", num_envs=2, seed=3)
        venv.reset(seed=7)
        rng = np.random.default_rng(0)
        out = []
        for _ in range(4):
            obs, *_ = venv.step({"agent": rng.integers(0, 5, (2, 3))})
            out.append(obs["agent"])
        return np.stack(out)

    np.testing.assert_array_equal(run(), run())


class DyingAgents(ParallelEnv):
    """Two agents; agent ``a_1`` terminates after one step, ``a_0`` after three."""

    metadata = {"name": "dying_v0"}

    def __init__(self):
        self.possible_agents = ["a_0", "a_1"]

    def observation_space(self, agent):
        return gym.spaces.Box(-1, 1, (2,), np.float32)

    def action_space(self, agent):
        return gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        self.t = 0
        return {a: np.ones(2, np.float32) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        dead = {"a_1"} if self.t == 1 else set(self.agents) if self.t == 3 else set()
        obs = {a: np.full(2, 0.5, np.float32) for a in self.agents}
        rew = {a: 1.0 for a in self.agents}
        term = {a: a in dead for a in self.agents}
        trunc = {a: False for a in self.agents}
        infos = {a: {} for a in self.agents}
        self.agents = [a for a in self.agents if a not in dead]
        return obs, rew, term, trunc, infos


def test_dead_agents_are_masked_and_worlds_reset():
    venv = PettingZooVecEnv(DyingAgents, num_envs=2, seed=0)
    venv.reset()
    assert venv.alive["a"].all()
    _, rew, term, _, _ = venv.step({"a": np.zeros((2, 2), np.int64)})
    assert term["a"][:, 1].all() and not term["a"][:, 0].any()
    assert venv.alive["a"][:, 0].all() and not venv.alive["a"][:, 1].any()
    obs, rew, *_ = venv.step({"a": np.zeros((2, 2), np.int64)})
    assert np.all(rew["a"][:, 1] == 0.0) and np.all(obs["a"][:, 1] == 0.0)
    _, _, term, _, info = venv.step({"a": np.zeros((2, 2), np.int64)})
    assert len(info["episodes"]) == 2
    assert info["episodes"][0]["return"]["a"] == pytest.approx((3 + 1) / 2)
    assert venv.alive["a"].all()  # reset in place
