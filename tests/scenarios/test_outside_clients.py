"""Outside clients of the PettingZoo env run every registered scenario for several episodes back
to back: RLlib's ``ParallelPettingZooEnv``, SuperSuit's ``black_death_v3`` and its vector
conversion, and TorchRL's ``PettingZooWrapper``. What each passes on is compared with what our
env returned. Short episodes, in which agents finish early where the scenario has such agents
(see ``dict_play.short_config``). The clients' heavy imports stay inside the tests."""

import numpy as np
import pytest
from dict_play import action_config, action_setups, random_actions, short_config

import scenarios
from scenarios.pettingzoo_env import ParallelScenarioEnv

EPISODES = 3
MAX_STEPS = 8
# Scenarios in which agents leave mid-episode under short_config (captures, dropouts).
AGENTS_LEAVE = {"swarm/pursuit-v0", "swarm/formation-v0"}
EMPTY = ({}, {}, {}, {}, {})
SETUPS = action_setups()


class Recorded(ParallelScenarioEnv):
    """Our env, keeping (copies of) what each reset and step returned and the actions it got,
    so that a test sees what a client passed on. Pickled copies record their own calls."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple] = []

    def reset(self, seed=None, options=None):
        observations, infos = super().reset(seed=seed, options=options)
        self.calls.append(("reset", None, (dict(observations), dict(infos))))
        return observations, infos

    def step(self, actions):
        outputs = super().step(actions)
        self.calls.append(("step", dict(actions), tuple(dict(d) for d in outputs)))
        return outputs


def recorded(scenario_id: str, continuous: bool = False) -> Recorded:
    config = short_config(scenario_id, MAX_STEPS) | action_config(scenario_id, continuous)
    return Recorded(scenarios.make_scenario(scenario_id, **config))


def same_values(first, second) -> bool:
    return np.array_equal(np.asarray(first), np.asarray(second))


# --------------------------------------------------------------------------------- RLlib
@pytest.mark.parametrize(("scenario_id", "continuous"), SETUPS)
def test_rllib_parallel_pettingzoo_env(scenario_id, continuous):
    """RLlib's own env check passes; every episode ends with ``__all__`` either on our env's last
    step or, when that step mixed terminations and truncations (RLlib's wrapper takes all() of
    each alone), on one more step that acts for nobody and gets our empty dicts."""
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.rllib.utils.pre_checks.env import check_multiagent_environments

    env = recorded(scenario_id, continuous)
    wrapped = ParallelPettingZooEnv(env)
    check_multiagent_environments(wrapped)
    rng = np.random.default_rng(0)
    lengths = []
    for episode in range(EPISODES):
        observations, infos = wrapped.reset(seed=episode)
        assert env.calls[-1][0] == "reset" and env.agents == env.possible_agents
        assert set(observations) == set(infos) == set(env.possible_agents)
        acting = list(observations)
        steps, own_end = 0, None
        while True:
            observations, rewards, terminateds, truncateds, infos = wrapped.step(
                random_actions(env, rng, acting)
            )
            steps += 1
            own = env.calls[-1][2]
            assert observations.keys() == own[0].keys() and rewards == own[1]
            assert all(same_values(observations[a], own[0][a]) for a in observations)
            assert set(terminateds) == set(truncateds) == set(observations) | {"__all__"}
            assert set(infos) <= set(observations)
            for agent, row in observations.items():
                assert wrapped.observation_space[agent].contains(row)
            if own_end is None and not env.agents:
                own_end, last = steps, own
            if terminateds["__all__"] or truncateds["__all__"]:
                break
            # RLlib acts for the agents that got an observation and are not done.
            acting = [a for a in observations if not (terminateds[a] or truncateds[a])]
            assert steps <= MAX_STEPS
        assert own_end is not None, "RLlib ended the episode before our env did"
        if steps == own_end + 1:  # our last step mixed terminations and truncations
            assert own == EMPTY and observations == {}
            assert not all(last[2].values()) and not all(last[3].values())
        else:
            assert steps == own_end
        lengths.append(own_end)
    assert all(1 <= n <= MAX_STEPS for n in lengths)


# ------------------------------------------------------------------------------ SuperSuit
@pytest.mark.parametrize(("scenario_id", "continuous"), SETUPS)
def test_supersuit_black_death(scenario_id, continuous):
    """black_death_v3 keeps every agent, with zero observations and rewards for those that
    left; it forwards only the live agents' actions, and ends its episode one step after ours,
    on the step our env answers with empty dicts."""
    from supersuit import black_death_v3

    env = recorded(scenario_id, continuous)
    wrapped = black_death_v3(env)
    rng = np.random.default_rng(1)
    padded = 0  # observations of agents that had left, zero-filled by black_death
    for episode in range(EPISODES):
        observations, _ = wrapped.reset(seed=episode)
        assert set(observations) == set(env.possible_agents) == set(env.agents)
        own_steps = 0
        while wrapped.agents:
            live = list(env.agents)
            # A policy acting for every agent; black_death hands ours only the live ones.
            actions = random_actions(env, rng, wrapped.agents)
            observations, rewards, terminations, truncations, _ = wrapped.step(actions)
            kind, sent, own = env.calls[-1]
            assert kind == "step" and list(sent) == live
            assert all(same_values(sent[a], actions[a]) for a in live)
            assert set(observations) == set(rewards) == set(env.possible_agents)
            for agent in env.possible_agents:
                if agent in own[0]:
                    assert same_values(observations[agent], own[0][agent])
                    assert rewards[agent] == own[1][agent]
                else:
                    assert observations[agent].shape == env.observation_space(agent).shape
                    assert not observations[agent].any() and rewards[agent] == 0
                    padded += 1
            if own != EMPTY:
                own_steps += 1
        assert env.calls[-1][2] == EMPTY, "black_death ended before our env's empty answer"
        assert all(terminations.values()) and all(truncations.values())
        assert 1 <= own_steps <= MAX_STEPS and not env.agents
    if scenario_id in AGENTS_LEAVE:
        assert padded > EPISODES * len(env.possible_agents), "no agent left mid-episode"


@pytest.mark.parametrize(("scenario_id", "continuous"), SETUPS)
def test_supersuit_vector_env(scenario_id, continuous):
    """pettingzoo_env_to_vec_env_v1(black_death_v3(env)) twice through concat_vec_envs_v1: one
    row per agent and copy, each the copy's own observation (zeros for agents that left), the
    actions reach the right agents, and every copy ends and restarts three episodes or more."""
    from supersuit import black_death_v3, concat_vec_envs_v1, pettingzoo_env_to_vec_env_v1

    env = recorded(scenario_id, continuous)
    vec = concat_vec_envs_v1(pettingzoo_env_to_vec_env_v1(black_death_v3(env)), 2, num_cpus=0)
    copies = [sub.par_env.env for sub in vec.vec_envs]  # pickled copies of our env
    assert all(isinstance(c, Recorded) and c is not env for c in copies)
    agents = env.possible_agents
    n = len(agents)
    space = env.action_space(agents[0])
    obs_shape = (2 * n, *env.observation_space(agents[0]).shape)
    observations, _ = vec.reset(seed=5)
    assert observations.shape == obs_shape and observations.dtype == np.float32
    rng = np.random.default_rng(2)
    episodes = [0, 0]
    for _ in range(EPISODES * (MAX_STEPS + 1)):
        if hasattr(space, "n"):
            actions = rng.integers(0, space.n, 2 * n)
        else:
            actions = rng.uniform(-1, 1, (2 * n, *space.shape)).astype(np.float32)
        calls_before = [len(c.calls) for c in copies]
        observations, rewards, terminations, truncations, _ = vec.step(actions)
        assert observations.shape == obs_shape and np.isfinite(observations).all()
        assert rewards.shape == (2 * n,) and np.isfinite(rewards).all()
        for k, copy in enumerate(copies):
            rows = slice(k * n, (k + 1) * n)
            calls = copy.calls[calls_before[k] :]
            _, sent, stepped = calls[0]
            for agent, action in sent.items():
                assert same_values(action, actions[k * n + agents.index(agent)])
            done = terminations[rows] | truncations[rows]
            kinds = [call[0] for call in calls]
            if done.any():  # the copy's episode ended: our empty answer, then a reset
                assert done.all() and stepped == EMPTY and kinds == ["step", "reset"]
                episodes[k] += 1
                own = calls[1][2][0]
            else:
                assert kinds == ["step"]
                own = stepped[0]
            for i, agent in enumerate(agents):
                row = observations[k * n + i]
                assert same_values(row, own[agent]) if agent in own else not row.any()
    assert min(episodes) >= EPISODES


# -------------------------------------------------------------------------------- TorchRL
@pytest.mark.parametrize(("scenario_id", "continuous"), SETUPS)
def test_torchrl_pettingzoo_wrapper(scenario_id, continuous):
    """TorchRL's PettingZooWrapper with its defaults (its episode ends when any agent is done):
    a rollout through several auto-resets carries our env's observations, rewards and done
    flags, group by group, and each action reaches its agent."""
    import torch
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper

    env = recorded(scenario_id, continuous)
    wrapped = PettingZooWrapper(env, seed=0)
    torch.manual_seed(0)
    env.calls.clear()
    steps = EPISODES * MAX_STEPS + 2
    rollout = wrapped.rollout(max_steps=steps, break_when_any_done=False)
    assert rollout.batch_size == (steps,)
    groups = env.venv.groups
    for group, spec in groups.items():
        shape = (steps, spec.n_agents, *spec.observation_space.shape)
        assert rollout[group, "observation"].shape == shape
        assert rollout["next", group, "observation"].shape == shape
        assert torch.isfinite(rollout["next", group, "observation"]).all()
        expected = torch.int64 if hasattr(spec.action_space, "n") else torch.float32
        assert rollout[group, "action"].dtype == expected
    calls = iter(env.calls)
    kind, _, (own_obs, _) = next(calls)
    assert kind == "reset"
    ended = 0
    for t in range(steps):
        for group, spec in groups.items():
            for i, agent in enumerate(spec.agent_ids):
                assert same_values(rollout[group, "observation"][t, i], own_obs[agent])
        kind, sent, (own_obs, own_rew, own_term, own_trunc, _) = next(calls)
        assert kind == "step" and set(sent) == set(own_obs)
        for group, spec in groups.items():
            nxt = rollout["next", group]
            for i, agent in enumerate(spec.agent_ids):
                assert same_values(rollout[group, "action"][t, i], sent[agent])
                assert same_values(nxt["observation"][t, i], own_obs[agent])
                assert nxt["reward"][t, i, 0] == np.float32(own_rew[agent])
                assert bool(nxt["terminated"][t, i, 0]) == own_term[agent]
                assert bool(nxt["done"][t, i, 0]) == (own_term[agent] or own_trunc[agent])
        any_done = any(own_term.values()) or any(own_trunc.values())
        assert bool(rollout["next", "done"][t]) == any_done
        if any_done and t + 1 < steps:  # auto-reset: the next step starts from a reset
            kind, _, (own_obs, _) = next(calls)
            assert kind == "reset" and list(own_obs) == env.possible_agents
            ended += 1
    assert ended >= EPISODES


@pytest.mark.parametrize("scenario_id", sorted(AGENTS_LEAVE))
def test_torchrl_masked_episodes_run_until_every_agent_is_done(scenario_id):
    """TorchRL with ``use_mask=True, done_on_any=False``: its episode runs on after agents
    finish (it keeps sending their actions, which the env ignores), the mask marks exactly
    the agents our env still has, and the episode ends when ours does."""
    import torch
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper

    env = recorded(scenario_id)
    wrapped = PettingZooWrapper(env, seed=0, use_mask=True, done_on_any=False)
    torch.manual_seed(0)
    env.calls.clear()
    steps = EPISODES * MAX_STEPS + 2
    rollout = wrapped.rollout(max_steps=steps, break_when_any_done=False)
    groups = env.venv.groups
    calls = [c for c in env.calls if c[0] == "step"]
    partial = 0  # steps taken while some agent had already finished
    for t, (_, sent, (own_obs, _, own_term, own_trunc, _)) in enumerate(calls[:steps]):
        live_before = set(own_obs)
        if own_obs:
            partial += len(sent) > len(live_before)
        for group, spec in groups.items():
            mask = rollout[group, "mask"][t]
            for i, agent in enumerate(spec.agent_ids):
                assert bool(mask[i]) == (agent in live_before)
        every = own_obs and all(own_term[a] or own_trunc[a] for a in own_obs)
        assert bool(rollout["next", "done"][t]) == bool(every)
    assert partial > 0, "no step with finished agents: the masked path was not exercised"
    assert sum(bool(d) for d in rollout["next", "done"]) >= 2
