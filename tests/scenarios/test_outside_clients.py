"""Outside clients of the PettingZoo env run every registered scenario for several episodes back
to back: RLlib's ``ParallelPettingZooEnv`` (and its env runner where agents join), SuperSuit's
``black_death_v3`` and its vector conversion, and TorchRL's ``PettingZooWrapper``. What each
passes on is compared with what our env returned. Short episodes, in which agents finish early
and, in respawning scenarios, new agents join (see ``dict_play.short_config``). Where a client
cannot take agents that join, its test asserts how it refuses them (see the "Outside clients"
section of ``scenarios.pettingzoo_env``). The clients' heavy imports stay inside the tests."""

import re

import numpy as np
import pytest
from dict_play import action_config, action_setups, random_actions, short_config

import scenarios
from scenarios.pettingzoo_env import ParallelScenarioEnv

EPISODES = 3
MAX_STEPS = 8
# Scenarios in which agents leave mid-episode under short_config (captures, dropouts).
AGENTS_LEAVE = {"swarm/pursuit-v0", "swarm/formation-v0"}
# Respawning scenarios: new agents join mid-episode under short_config (cars that re-enter).
AGENTS_JOIN = {"traffic/intersection-v0"}
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
    env = Recorded(scenarios.make_scenario(scenario_id, **config))
    assert bool(later_lives(env)) == (scenario_id in AGENTS_JOIN), "AGENTS_JOIN is out of date"
    return env


def first_lives(env) -> list[str]:
    """The agents live at a reset: every slot's first agent."""
    return [a for spec in env.venv.groups.values() for a in spec.agent_ids]


def later_lives(env) -> list[str]:
    """The agents that can only join mid-episode (respawning groups), in possible_agents order."""
    first = set(first_lives(env))
    return [a for a in env.possible_agents if a not in first]


def joined_at(live_before: list[str], own: tuple) -> list[str]:
    """The agents our env's step answer ``own`` holds that were not live before the step."""
    return [a for a in own[0] if a not in live_before]


def same_values(first, second) -> bool:
    return np.array_equal(np.asarray(first), np.asarray(second))


# --------------------------------------------------------------------------------- RLlib
def every_agents_spaces(wrapped, env) -> None:
    """What the module docstring tells RLlib users of respawning scenarios to do: RLlib's wrapper
    takes its agents and spaces from the agents live at its first reset; give it every life's."""
    wrapped.possible_agents = list(env.possible_agents)
    wrapped.observation_spaces = {a: env.observation_space(a) for a in env.possible_agents}
    wrapped.action_spaces = {a: env.action_space(a) for a in env.possible_agents}


@pytest.mark.parametrize(("scenario_id", "continuous"), SETUPS)
def test_rllib_parallel_pettingzoo_env(scenario_id, continuous):
    """RLlib's own env check passes; every episode ends with ``__all__`` either on our env's last
    step or, when that step mixed terminations and truncations (RLlib's wrapper takes all() of
    each alone), on one more step that acts for nobody and gets our empty dicts. Agents that
    join are passed on as our env returned them, and RLlib's actions reach them, once the
    wrapper has every life's spaces (without them it looks a new agent's spaces up as its whole
    Dict space)."""
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.rllib.utils.pre_checks.env import check_multiagent_environments

    env = recorded(scenario_id, continuous)
    wrapped = ParallelPettingZooEnv(env)
    first, later = first_lives(env), later_lives(env)
    assert sorted(wrapped.possible_agents) == sorted(first)
    if later:
        assert later[0] not in wrapped.action_space.spaces
        assert wrapped.get_action_space(later[0]) is wrapped.action_space
        every_agents_spaces(wrapped, env)
    check_multiagent_environments(wrapped)
    rng = np.random.default_rng(0)
    lengths, joins, joined_acted = [], 0, 0
    for episode in range(EPISODES):
        observations, infos = wrapped.reset(seed=episode)
        assert env.calls[-1][0] == "reset" and env.agents == first
        assert set(observations) == set(infos) == set(first)
        acting, joined = list(observations), []
        steps, own_end = 0, None
        while True:
            for agent in acting:
                assert wrapped.get_action_space(agent) is env.action_space(agent)
            actions = random_actions(env, rng, acting)
            live_before = list(env.agents)
            observations, rewards, terminateds, truncateds, infos = wrapped.step(actions)
            steps += 1
            _, sent, own = env.calls[-1]
            assert sent.keys() == actions.keys()
            assert all(same_values(sent[a], actions[a]) for a in actions)
            joined_acted += len(set(joined) & set(sent))
            assert observations.keys() == own[0].keys() and rewards == own[1]
            assert all(same_values(observations[a], own[0][a]) for a in observations)
            assert set(terminateds) == set(truncateds) == set(observations) | {"__all__"}
            assert set(infos) <= set(observations)
            for agent, row in observations.items():
                assert wrapped.get_observation_space(agent) is env.observation_space(agent)
                assert env.observation_space(agent).contains(row)
            joined = joined_at(live_before, own)
            joins += len(joined)
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
    if scenario_id in AGENTS_JOIN:
        assert joins > 0 and joined_acted > 0, "no agent joined and acted: joins not exercised"


def same_action(space, kept, sent) -> bool:
    """Whether RLlib's episode's action ``kept`` is the one our env got, ``sent``: for a Box,
    RLlib sends the module's action mapped into the bounds (clipped), and keeps it unmapped."""
    if hasattr(space, "n"):
        return same_values(kept, sent)
    mapped = np.clip(space.low + (np.asarray(kept) + 1.0) * (space.high - space.low) / 2.0,
                     space.low, space.high)  # fmt: skip
    return np.allclose(mapped, sent, rtol=0, atol=1e-6)


def agent_sequences(calls: list[tuple]) -> list[tuple[dict, set]]:
    """Per episode of our env's recorded calls: each agent's observations and actions, and the
    agents that joined and were done on the same step (their one observation was their last)."""
    episodes = []
    for kind, sent, outputs in calls:
        if kind == "reset":
            episodes.append(({a: ([row], []) for a, row in outputs[0].items()}, set()))
            continue
        agents, done_at_once = episodes[-1]
        for agent, action in sent.items():
            agents[agent][1].append(action)
        observations, _, terminations, truncations, _ = outputs
        for agent, row in observations.items():
            if agent not in agents and (terminations[agent] or truncations[agent]):
                done_at_once.add(agent)
            agents.setdefault(agent, ([], []))[0].append(row)
    return episodes


@pytest.mark.parametrize(("scenario_id", "continuous"), [s for s in SETUPS if s[0] in AGENTS_JOIN])
def test_rllib_env_runner_samples_agents_that_join(scenario_id, continuous):
    """How an RLlib user meets agents that join: its multi-agent env runner, with one shared
    module for every agent, samples episodes back to back (by the module and by random actions)
    over the wrapper given every life's spaces. Each agent of each RLlib episode, new ones
    included, has exactly the observations our env returned and the actions our env got. As
    RLlib documents, an agent whose first observation is also its last (it joined on the
    episode's last step) never stepped and is left out of RLlib's episode."""
    import torch
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    def make(_context):
        env = recorded(scenario_id, continuous)
        for agent in env.possible_agents[:1]:  # one space object per group: RLlib samples it
            env.action_space(agent).seed(0)
        wrapped = ParallelPettingZooEnv(env)
        every_agents_spaces(wrapped, env)
        return wrapped

    config = (
        PPOConfig()
        .environment(env=make)
        .multi_agent(policies={"shared"}, policy_mapping_fn=lambda agent, *_, **__: "shared")
        .env_runners(num_env_runners=0)
        .debugging(seed=0)
    )
    # Seeded, yet not the same every run: RLlib batches agents in set order (string hashes
    # vary between processes). Some car joins and acts in about 97% of these episodes.
    torch.manual_seed(0)
    runner = MultiAgentEnvRunner(config=config)
    env = runner.env.envs[0].unwrapped.par_env
    space = env.action_space(env.possible_agents[0])
    later = set(later_lives(env))
    for random in (False, True):
        joined = 0
        env.calls.clear()
        episodes = runner.sample(num_episodes=EPISODES, random_actions=random)
        ours = agent_sequences(env.calls)
        assert len(episodes) == EPISODES and len(ours) >= EPISODES
        for episode, (own, done_at_once) in zip(episodes, ours, strict=False):
            assert set(episode.agent_ids) == set(own) - done_at_once
            joined += len(later & set(episode.agent_ids))
            for agent in done_at_once:
                assert agent in later and len(own[agent][0]) == 1 and not own[agent][1]
                del own[agent]
            for agent, (rows, actions) in own.items():
                single = episode.agent_episodes[agent]
                observations, taken = single.get_observations(), single.get_actions()
                assert len(observations) == len(rows) and len(taken) == len(actions)
                assert all(same_values(a, b) for a, b in zip(observations, rows, strict=True))
                assert all(same_action(space, a, b) for a, b in zip(taken, actions, strict=True))
        assert joined > 0, f"no agent joined in RLlib's episodes (random actions: {random})"


# ------------------------------------------------------------------------------ SuperSuit
@pytest.mark.parametrize(("scenario_id", "continuous"), SETUPS)
def test_supersuit_black_death(scenario_id, continuous):
    """black_death_v3 keeps the agents live at its reset (every possible agent unless the
    scenario respawns), with zero observations and rewards for those that left; it forwards only
    the live agents' actions, and ends its episode one step after ours, on the step our env
    answers with empty dicts. Agents that join are beyond it: it passes their observations and
    rewards on, but adds them neither to its agents nor to its terminations and truncations,
    and its next step, given actions for its agents, fails looking up a new agent's action
    (KeyError) before stepping ours."""
    from supersuit import black_death_v3

    env = recorded(scenario_id, continuous)
    wrapped = black_death_v3(env)
    first = first_lives(env)
    rng = np.random.default_rng(1)
    padded = refused = 0  # observations zero-filled for agents that had left; KeyErrors
    for episode in range(EPISODES):
        observations, _ = wrapped.reset(seed=episode)
        assert set(observations) == set(first) == set(env.agents) == set(wrapped.agents)
        own_steps = 0
        while wrapped.agents:
            live = list(env.agents)
            # A policy acting for every agent; black_death hands ours only the live ones.
            actions = random_actions(env, rng, wrapped.agents)
            strangers = [a for a in live if a not in wrapped.agents]
            if strangers:  # agents that joined and play on: unknown to black_death
                calls = len(env.calls)
                with pytest.raises(KeyError, match="|".join(map(re.escape, strangers))):
                    wrapped.step(actions)
                assert len(env.calls) == calls, "our env stepped without the new agents"
                refused += 1
                break
            observations, rewards, terminations, truncations, _ = wrapped.step(actions)
            kind, sent, own = env.calls[-1]
            assert kind == "step" and list(sent) == live
            assert all(same_values(sent[a], actions[a]) for a in live)
            joined = joined_at(live, own)
            assert set(observations) == set(rewards) == set(first) | set(joined)
            assert set(terminations) == set(truncations) == set(first)
            assert set(wrapped.agents) <= set(first)
            for agent in first + joined:
                if agent in own[0]:
                    assert same_values(observations[agent], own[0][agent])
                    assert rewards[agent] == own[1][agent]
                else:
                    assert observations[agent].shape == env.observation_space(agent).shape
                    assert not observations[agent].any() and rewards[agent] == 0
                    padded += 1
            if own != EMPTY:
                own_steps += 1
        else:
            assert env.calls[-1][2] == EMPTY, "black_death ended before our env's empty answer"
            assert all(terminations.values()) and all(truncations.values())
            assert 1 <= own_steps <= MAX_STEPS and not env.agents
    if scenario_id in AGENTS_LEAVE:
        assert padded > EPISODES * len(env.possible_agents), "no agent left mid-episode"
    if scenario_id in AGENTS_JOIN:
        assert refused == EPISODES, "an episode without agents that joined and played on"
    else:
        assert refused == 0


@pytest.mark.parametrize(("scenario_id", "continuous"), SETUPS)
def test_supersuit_vector_env(scenario_id, continuous):
    """pettingzoo_env_to_vec_env_v1(black_death_v3(env)) twice through concat_vec_envs_v1: one
    row per agent and copy, each the copy's own observation (zeros for agents that left), the
    actions reach the right agents, and every copy ends and restarts three episodes or more.
    Respawning scenarios are refused at the first reset: the conversion has a row for every
    possible agent (every life) and wants each row's observation, but black_death pads only the
    agents live at the reset (the first lives); it calls the missing ones agent death."""
    from supersuit import black_death_v3, concat_vec_envs_v1, pettingzoo_env_to_vec_env_v1

    env = recorded(scenario_id, continuous)
    vec = concat_vec_envs_v1(pettingzoo_env_to_vec_env_v1(black_death_v3(env)), 2, num_cpus=0)
    copies = [sub.par_env.env for sub in vec.vec_envs]  # pickled copies of our env
    assert all(isinstance(c, Recorded) and c is not env for c in copies)
    agents = env.possible_agents
    assert vec.num_envs == 2 * len(agents)
    if scenario_id in AGENTS_JOIN:
        with pytest.raises(AssertionError, match="^environment has agent death"):
            vec.reset(seed=5)
        kind, _, (own, _) = copies[0].calls[-1]  # our env's reset answered: the first lives
        assert kind == "reset" and list(own) == first_lives(env) != agents
        return
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
    flags, group by group, and each action reaches its agent. Respawning scenarios are refused
    when the wrapper is built (see ``assert_torchrl_refuses_joins``)."""
    import torch
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper

    env = recorded(scenario_id, continuous)
    if scenario_id in AGENTS_JOIN:
        assert_torchrl_refuses_joins(env)
        return
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


def assert_torchrl_refuses_joins(env, **options) -> None:
    """TorchRL's wrapper (with ``options``) builds one fixed row per possible agent (every life)
    and, when it is built, reads the reset's observation and info of each: our reset answers for
    the agents live then (the first lives), so it fails with a KeyError naming the first later
    life. ``use_mask`` does not change that: its mask is for agents that leave."""
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper

    later = later_lives(env)
    with pytest.raises(KeyError, match=f"^'{re.escape(later[0])}'$"):
        PettingZooWrapper(env, seed=0, **options)
    kind, _, (own, _) = env.calls[-1]
    assert kind == "reset" and list(own) == first_lives(env)


@pytest.mark.parametrize("scenario_id", sorted(AGENTS_LEAVE | AGENTS_JOIN))
def test_torchrl_masked_episodes_run_until_every_agent_is_done(scenario_id):
    """TorchRL with ``use_mask=True, done_on_any=False``: its episode runs on after agents
    finish (it keeps sending their actions, which the env ignores), the mask marks exactly
    the agents our env still has, and the episode ends when ours does. Respawning scenarios are
    refused when the wrapper is built, as with the defaults."""
    import torch
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper

    env = recorded(scenario_id)
    if scenario_id in AGENTS_JOIN:
        assert_torchrl_refuses_joins(env, use_mask=True, done_on_any=False)
        return
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
