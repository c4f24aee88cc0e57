"""The PettingZoo layer's own contract, for every registered scenario: dict keys are exactly the
live agents, actions are checked strictly (errors name the agent), a step after the episode
returns empty dicts, and a pickled env comes back as a fresh one."""

import pickle

import numpy as np
import pytest
from dict_play import (
    action_config,
    action_setups,
    random_actions,
    scripted_actions,
    short_config,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scenarios

IDS = scenarios.registry_ids()
# Scenarios whose scripted baseline makes agents leave in these seeds (captures, dropouts).
AGENTS_LEAVE = {"swarm/pursuit-v0", "swarm/formation-v0", "traffic/intersection-v0"}
# Scenarios whose cars finish and new ones join in their slots.
AGENTS_JOIN = {"traffic/intersection-v0", "traffic/merge-v0"}


SETUPS = action_setups()


def make(scenario_id: str, continuous: bool, **config):
    return scenarios.make(scenario_id, **action_config(scenario_id, continuous), **config)


# ------------------------------------------------------------------------------ dict keys
@pytest.mark.parametrize("scenario_id", IDS)
def test_dicts_hold_exactly_the_live_agents(scenario_id):
    """Reset and every step of three episodes back to back, played by the scripted baseline:
    each dict holds exactly the agents live before the step and those that joined at it (in
    respawning groups: new names, never seen before in the episode), the finished ones leave
    ``agents`` and never return, and every agent's info carries the episode record at the end."""
    env = scenarios.make(scenario_id)
    policy = env.venv.scenario.scripted_policy()
    max_steps = env.venv.cfg.max_steps
    first = [a for spec in env.venv.groups.values() for a in spec.agent_ids]
    departures = joins = 0  # steps after which some agents had left and others played on
    for episode in range(3):
        observations, infos = env.reset(seed=episode)
        assert list(observations) == list(infos) == env.agents == first
        assert set(first) <= set(env.possible_agents)
        steps, seen = 0, set(first)
        while env.agents:
            live = list(env.agents)
            outputs = env.step(scripted_actions(env, policy, observations))
            observations, rewards, terminations, truncations, infos = outputs
            steps += 1
            joined = list(observations)[len(live) :]
            for output in outputs:
                assert list(output) == live + joined
            assert not seen & set(joined) and set(joined) <= set(env.possible_agents)
            seen |= set(joined)
            joins += bool(joined)
            done = [a for a in live + joined if terminations[a] or truncations[a]]
            left = [a for a in live + joined if a not in done]
            assert sorted(env.agents) == sorted(left) and len(set(env.agents)) == len(left)
            live += joined
            assert all(np.isfinite(observations[a]).all() for a in live)
            departures += bool(done) and bool(env.agents)
            if not env.agents:
                record = infos[live[0]]["episode"]
                assert all(infos[a]["episode"] is record for a in live)
                assert record["length"] == steps
            else:
                assert all(info == {} for info in infos.values())
        assert steps == max_steps or all(terminations.values()), "an episode ended early"
    if scenario_id in AGENTS_LEAVE:
        assert departures > 0, "no agent left mid-episode: the test missed the partial path"
    if scenario_id in AGENTS_JOIN:
        assert joins > 0, "no agent joined mid-episode: the test missed the respawn path"


@pytest.mark.parametrize("scenario_id", IDS)
def test_step_after_the_episode_returns_empty_dicts(scenario_id):
    """As mpe2 does (and SuperSuit's black_death_v3 relies on): once every agent is done, a step
    with no actions returns five empty dicts and changes nothing, and so does one with actions
    for the finished agents (ignored, as masked clients send them). Before the first reset a
    step is a RuntimeError."""
    env = scenarios.make(scenario_id, max_steps=3)
    rng = np.random.default_rng(0)
    with pytest.raises(RuntimeError, match=f"^{scenario_id}: call reset"):
        env.step({})
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(random_actions(env, rng, env.possible_agents))
    for _ in range(2):  # two episodes back to back
        env.reset(seed=0)
        while env.agents:
            env.step(random_actions(env, rng))
        state = env.state()
        for _ in range(3):
            assert env.step({}) == ({}, {}, {}, {}, {})
            assert env.agents == []
        assert np.array_equal(env.state(), state)
        assert env.step(random_actions(env, rng, env.possible_agents)) == ({}, {}, {}, {}, {})
        assert np.array_equal(env.state(), state)


@pytest.mark.parametrize("scenario_id", IDS)
def test_agent_errors_name_the_agents(scenario_id):
    env = scenarios.make(scenario_id)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    good = random_actions(env, rng)
    first, last = env.agents[0], env.agents[-1]
    cases = [
        ({**good, "ghost_7": good[first]}, "unknown agent\\(s\\) 'ghost_7'"),
        ({a: v for a, v in good.items() if a != last}, f"no action for live agent\\(s\\) .*{last}"),
        (list(good.values()), "actions must be a dict of agent -> action, got list"),
    ]
    for actions, message in cases:
        with pytest.raises(ValueError, match=f"^{scenario_id}: {message}") as error:
            env.step(actions)
        assert "\n" not in str(error.value)
    env.step(good)  # the errors changed nothing: the env still steps


# -------------------------------------------------------------------------- action checks
def bad_discrete(n: int) -> st.SearchStrategy:
    """Values that are not an integer in [0, n): none of them may be converted silently."""
    in_range = st.integers(0, n - 1)
    return st.one_of(
        st.text(max_size=3),
        in_range.map(str),
        st.floats(),
        in_range.map(float),
        in_range.map(np.float32),
        st.booleans(),
        st.sampled_from([np.True_, np.False_, None, 1j, b"1", np.timedelta64(1, "s")]),
        st.integers().filter(lambda v: not 0 <= v < n),
        st.integers(n, 127).map(np.int8),
        st.integers(-(2**63), -1).map(np.int64),
        st.integers(n, 2**64 - 1).map(np.uint64),
        in_range.map(lambda v: [v]),
        in_range.map(lambda v: (v,)),
        in_range.map(lambda v: np.array(v, np.float64)),
        in_range.map(lambda v: np.array(v, bool)),
        hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=2), elements=in_range),
    )


def bad_box(shape: tuple) -> st.SearchStrategy:
    """Values that are not a finite real numpy array of ``shape``."""
    wrong_shape = hnp.array_shapes(min_dims=0, max_dims=3).filter(lambda s: s != shape)
    size = int(np.prod(shape))

    def spoil(array, index, value):
        array.reshape(-1)[index] = value
        return array

    not_finite = st.builds(
        spoil,
        hnp.arrays(st.sampled_from([np.float32, np.float64]), shape, elements=st.floats(-1, 1)),
        st.integers(0, size - 1),
        st.sampled_from([np.nan, np.inf, -np.inf]),
    )
    return st.one_of(
        st.text(max_size=3),
        st.floats(),
        st.integers(),
        st.booleans(),
        st.none(),
        st.lists(st.floats(-1, 1), min_size=size, max_size=size),
        st.lists(st.floats(-1, 1), min_size=size, max_size=size).map(tuple),
        hnp.arrays(hnp.floating_dtypes(), wrong_shape, elements=st.floats(-1, 1, width=16)),
        hnp.arrays(np.bool_, shape),
        hnp.arrays(hnp.unicode_string_dtypes(max_len=3), shape),
        hnp.arrays(np.complex64, shape, elements=st.complex_numbers(max_magnitude=1, width=64)),
        hnp.arrays(object, shape, elements=st.sampled_from([None, 0.5, "a"])),
        hnp.arrays(np.float64, shape, elements=st.floats(1e39, 1e300)),  # inf as float32
        not_finite,
    )


def good_value(space) -> st.SearchStrategy:
    """Valid actions of every accepted type: Python and numpy integers, 0-d integer arrays;
    real arrays of any float or integer dtype (values outside the box are clipped)."""
    if hasattr(space, "n"):
        makers = [int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.uint64]
        makers += [np.array, lambda v: np.array(v, np.uint16)]
        value = st.integers(0, space.n - 1)
        return st.builds(lambda v, make: make(v), value, st.sampled_from(makers))
    floats = [(np.float16, 16), (np.float32, 32), (np.float64, 64)]
    arrays = [
        hnp.arrays(dtype, space.shape, elements=st.floats(-3, 3, width=width))
        for dtype, width in floats
    ]
    arrays += [
        hnp.arrays(dtype, space.shape, elements=st.integers(-3, 3))
        for dtype in (np.int8, np.int32, np.int64)
    ]
    arrays.append(hnp.arrays(np.uint8, space.shape, elements=st.integers(0, 3)))
    return st.one_of(arrays)


HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def play_to_a_random_step(env, data) -> np.random.Generator:
    """Reset with a drawn seed and play a drawn number of random steps (agents may have left):
    the env's state depends only on what was drawn, as hypothesis needs to replay an example."""
    seed = data.draw(st.integers(0, 3), label="seed")
    steps = data.draw(st.integers(0, 19), label="steps")
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    for _ in range(steps):
        env.step(random_actions(env, rng))
        if not env.agents:
            env.reset(seed=seed)
    return rng


@pytest.mark.parametrize(("scenario_id", "continuous"), SETUPS)
def test_malformed_action_is_refused_naming_the_agent(scenario_id, continuous):
    env = make(scenario_id, continuous, **short_config(scenario_id, max_steps=20))

    @HYPOTHESIS
    @given(data=st.data())
    def check(data):
        rng = play_to_a_random_step(env, data)
        agent = data.draw(st.sampled_from(env.agents), label="agent")
        space = env.action_space(agent)
        bad = bad_discrete(space.n) if hasattr(space, "n") else bad_box(space.shape)
        actions = random_actions(env, rng)
        actions[agent] = data.draw(bad, label="action")
        state = env.state()
        with pytest.raises(ValueError) as error:
            env.step(actions)
        message = str(error.value)
        assert message.startswith(f"{scenario_id}: action for {agent} "), message
        assert "\n" not in message
        assert np.array_equal(env.state(), state), "a refused step moved the world"
        env.step(random_actions(env, rng))  # and the env still steps

    check()


@pytest.mark.parametrize(("scenario_id", "continuous"), SETUPS)
def test_valid_actions_of_every_accepted_type_step(scenario_id, continuous):
    env = make(scenario_id, continuous, **short_config(scenario_id, max_steps=20))

    @HYPOTHESIS
    @given(data=st.data())
    def check(data):
        play_to_a_random_step(env, data)
        live = list(env.agents)
        actions = {a: data.draw(good_value(env.action_space(a)), label=a) for a in live}
        observations, rewards, terminations, truncations, infos = env.step(actions)
        joined = list(observations)[len(live) :]  # new agents of respawning groups
        assert list(observations)[: len(live)] == live and not set(joined) & set(live)
        for agent in observations:
            assert env.observation_space(agent).contains(observations[agent])
            assert np.isfinite(observations[agent]).all()
            assert np.isfinite(rewards[agent])

    check()


@pytest.mark.parametrize(("scenario_id", "continuous"), SETUPS)
def test_accepted_action_types_give_the_same_step(scenario_id, continuous):
    """Every accepted spelling of an action is the same action: a Python int, numpy integers
    and 0-d arrays for Discrete; float32, float64 and integer arrays for Box (clipped to the
    box, so 7 is 1)."""
    envs = [make(scenario_id, continuous) for _ in range(3)]
    for env in envs:
        env.reset(seed=4)
    rng = np.random.default_rng(1)
    for _ in range(5):
        plain = random_actions(envs[0], rng)
        if continuous:
            plain = {a: np.sign(v).astype(np.float32) for a, v in plain.items()}
            spellings = [
                plain,
                {a: v.astype(np.float64) for a, v in plain.items()},
                {a: (7 * v).astype(np.int64) for a, v in plain.items()},
            ]
        else:
            spellings = [
                {a: int(v) for a, v in plain.items()},
                {a: np.uint8(v) for a, v in plain.items()},
                {a: np.array(v, np.int32) for a, v in plain.items()},
            ]
        results = [env.step(actions)[0] for env, actions in zip(envs, spellings, strict=True)]
        for agent in results[0]:
            assert all(np.array_equal(results[0][agent], r[agent]) for r in results[1:])


# ------------------------------------------------------------------------------- copies
@pytest.mark.parametrize("scenario_id", IDS)
def test_pickled_env_is_a_fresh_env_with_the_same_config(scenario_id):
    """The world cannot be pickled; a copy is rebuilt from the scenario and its config (which
    SuperSuit's vector envs rely on) and, reset with the same seed, plays the same episode."""
    env = scenarios.make(scenario_id, max_steps=5, render_mode="rgb_array")
    env.reset(seed=2)
    copy = pickle.loads(pickle.dumps(env))
    assert type(copy) is type(env) and copy is not env
    assert copy.venv.cfg == env.venv.cfg and copy.render_mode == "rgb_array"
    assert copy.agents == [] and copy.possible_agents == env.possible_agents
    for agent in env.possible_agents:
        assert copy.observation_space(agent) == env.observation_space(agent)
        assert copy.action_space(agent) == env.action_space(agent)
    rng = np.random.default_rng(0)
    first, _ = env.reset(seed=9)
    second, _ = copy.reset(seed=9)
    while env.agents:
        assert all(np.array_equal(first[a], second[a]) for a in env.agents)
        actions = random_actions(env, rng)
        first, *_ = env.step(actions)
        second, *_ = copy.step(actions)
    assert copy.agents == []
