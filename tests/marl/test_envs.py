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


class StateOnlyWhileRunning(DyingAgents):
    """DyingAgents with a global state that, like SISL's multiwalker, raises once the episode's
    bodies are gone (after the last agent left)."""

    metadata = {"name": "state_only_while_running_v0"}

    def state(self):
        if not self.agents:
            raise AttributeError("'NoneType' object has no attribute 'position'")
        return np.array([self.t, len(self.agents)], np.float32)


def test_state_is_never_read_from_an_ended_episode():
    venv = PettingZooVecEnv(StateOnlyWhileRunning, num_envs=2, seed=0)
    venv.reset()
    for _ in range(2):
        assert venv.state().shape == (2, 2)
        venv.step({"a": np.zeros((2, 2), np.int64)})
    before_last = venv.state()
    _, _, term, _, info = venv.step({"a": np.zeros((2, 2), np.int64)})
    assert term["a"][:, 0].all() and len(info["episodes"]) == 2
    # The ended episodes' final state is the one read before their last step.
    np.testing.assert_array_equal(info["final_state"], before_last)
    assert venv.state().shape == (2, 2)  # the copies were reset in place


def test_mappo_trains_on_an_env_whose_state_raises_after_the_end(tmp_path, monkeypatch):
    import types

    from marl.config import TrainConfig
    from marl.train import train

    module = types.ModuleType("state_only_while_running")
    module.parallel_env = StateOnlyWhileRunning
    monkeypatch.setitem(__import__("sys").modules, "state_only_while_running", module)
    cfg = TrainConfig(
        env_id="pz:state_only_while_running",
        num_envs=2,
        num_steps=8,
        total_steps=2 * 8 * 2 * 3,
        epochs=1,
        minibatches=1,
        run_dir=str(tmp_path / "r"),
        progress=False,
        tensorboard=False,
    )
    result = train(cfg)
    assert result.episodes > 0 and result.global_step == 2 * 8 * 2 * 3


def small_pz_run(tmp_path, env_id, **env):
    """Three updates of 2 worlds x 16 steps."""
    from marl.config import TrainConfig
    from marl.train import train

    agents = sum(g.n_agents for g in make_env(env_id, 1, 0, **env).groups.values())
    cfg = TrainConfig(
        env_id=env_id,
        env=env,
        num_envs=2,
        num_steps=16,
        total_steps=3 * 2 * 16 * agents,
        epochs=1,
        minibatches=2,
        run_dir=str(tmp_path / "r"),
        progress=False,
        tensorboard=False,
    )
    return train(cfg)


def test_multiwalker_trains_although_its_state_raises_after_an_episode(tmp_path):
    """SISL's multiwalker raises in state() once a walker fell and the episode ended."""
    walkers = "pz:pettingzoo.sisl.multiwalker_v9"
    venv = make_env(walkers, 2, 0, max_cycles=500)
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    ended = []
    for _ in range(200):
        venv.state()
        actions = rng.uniform(-1, 1, (2, 3, 4)).astype(np.float32)
        _, _, _, _, info = venv.step({"walker": actions})
        ended += info["episodes"]
    assert any(e["length"] < 500 for e in ended)  # episodes ended by a fall, not the time limit
    result = small_pz_run(tmp_path, walkers, max_cycles=40)
    assert result.episodes > 0 and list(result.final_return_by_group) == ["walker"]


@pytest.mark.parametrize(
    ("env_id", "env", "groups"),
    [
        ("pz:mpe2.simple_tag_v3", {"max_cycles": 8}, {"adversary": 3, "agent": 1}),
        (
            "pz:mpe2.simple_adversary_v3",
            {"max_cycles": 8, "continuous_actions": True},
            {"adversary": 1, "agent": 2},
        ),
        (
            "pz:mpe2.simple_tag_v3",
            {"max_cycles": 8, "continuous_actions": True},
            {"adversary": 3, "agent": 1},
        ),
    ],
)
def test_two_groups_of_different_spaces_train(tmp_path, env_id, env, groups):
    from policies import load_policy

    venv = make_env(env_id, 2, 0, **env)
    assert {g: s.n_agents for g, s in venv.groups.items()} == groups
    sizes = {s.observation_space.shape for s in venv.groups.values()}
    assert len(sizes) == 2  # the groups see different observations
    result = small_pz_run(tmp_path, env_id, **env)
    assert result.episodes > 0 and set(result.final_return_by_group) == set(groups)
    policy = load_policy(tmp_path / "r")
    actions = policy.act(venv.reset(seed=1))
    for group, spec in venv.groups.items():
        assert actions[group].shape[:2] == (2, spec.n_agents)
        if env.get("continuous_actions"):
            assert actions[group].dtype == np.float32
            assert (actions[group] >= spec.action_space.low).all()
            assert (actions[group] <= spec.action_space.high).all()
