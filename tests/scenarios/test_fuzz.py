"""Property-based fuzzing of every registered scenario's config fields and of vector-env actions.

Whatever a user types into a config field (in range, on the edge, out of range, NaN, infinity,
absurd sizes, the wrong type), the scenario either refuses it with a one-line
``ScenarioConfigError`` that names a field the user set, or builds an env that resets and steps
with finite observations, rewards and state. Whatever array is passed as actions, the vector env
either steps or raises a one-line ``ValueError`` that names the group.
"""

from __future__ import annotations

import dataclasses
import math
import typing

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scenarios
from scenarios import ScenarioConfigError
from scenarios.fields import field_range

IDS = scenarios.registry_ids()
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
NUMBERS = (int, float)


def config_fields(scenario_id: str) -> list[dataclasses.Field]:
    return list(dataclasses.fields(scenarios.scenario_class(scenario_id).config_class))


def field_type(scenario_id: str, spec: dataclasses.Field):
    cls = scenarios.scenario_class(scenario_id).config_class
    return typing.get_type_hints(cls)[spec.name]


def test_every_numeric_field_declares_both_bounds():
    missing = [
        f"{scenario_id}: {spec.name}"
        for scenario_id in IDS
        for spec in config_fields(scenario_id)
        if field_type(scenario_id, spec) in NUMBERS
        and (
            field_range(spec) is None
            or field_range(spec).low is None
            or field_range(spec).high is None
        )
    ]
    assert not missing, "numeric config fields without a declared range:\n" + "\n".join(missing)


def values_for(scenario_id: str, spec: dataclasses.Field) -> st.SearchStrategy:
    """Values a user might type into this field: valid, edges, out of range, wrong types."""
    kind = field_type(scenario_id, spec)
    wrong = st.sampled_from(["3", None, [1], {"a": 1}, b"x"])
    if kind is bool:
        return st.booleans() | st.sampled_from([0, 1, "yes", 1.0]) | wrong
    bounds = field_range(spec)
    if kind is int:
        low, high = int(bounds.low), int(bounds.high)
        edges = [low, high, low - 1, high + 1, 2**31, -(2**31), 2**63, 0, -1]
        return (
            st.integers(low, min(high, low + 64))
            | st.integers(low, high)
            | st.sampled_from(edges)
            | st.sampled_from([1.5, 2.0, math.nan, math.inf, True])
            | wrong
        )
    if kind is float:
        low, high = float(bounds.low), float(bounds.high)
        edges = [low, high, low - 1e-9, high * 1.001 + 1, -high, 1e-300, 1e300, -0.0]
        return (
            st.floats(low, high, allow_nan=False, allow_infinity=False)
            | st.sampled_from(edges)
            | st.sampled_from([math.nan, math.inf, -math.inf, 2**31, 10**400 // 10**399])
            | wrong
        )
    # tuples and other structured fields: their own options, junk, wrong types
    default = spec.default
    if isinstance(default, tuple):
        junk = st.lists(st.sampled_from([*default, "blob", "", 3]), max_size=5).map(tuple)
        return junk | st.just(()) | wrong | st.just(default[0])
    return wrong


def overrides(scenario_id: str) -> st.SearchStrategy:
    """One to three fields of the scenario's config, each with a fuzzed value."""
    specs = config_fields(scenario_id)
    return st.lists(
        st.sampled_from(specs), min_size=1, max_size=3, unique_by=lambda f: f.name
    ).flatmap(
        lambda chosen: st.fixed_dictionaries(
            {spec.name: values_for(scenario_id, spec) for spec in chosen}
        )
    )


def random_actions(venv, rng) -> dict[str, np.ndarray]:
    actions = {}
    for group, spec in venv.groups.items():
        shape = (venv.num_envs, spec.n_agents)
        space = spec.action_space
        if hasattr(space, "n"):
            actions[group] = rng.integers(0, space.n, shape)
        else:
            actions[group] = rng.uniform(-1, 1, shape + space.shape).astype(np.float32)
    return actions


def assert_finite(arrays: dict[str, np.ndarray], what: str) -> None:
    for group, values in arrays.items():
        assert np.isfinite(values).all(), f"non-finite {what} for {group}"


@pytest.mark.parametrize("scenario_id", IDS)
def test_config_values_are_refused_by_name_or_run_finite(scenario_id):
    @FUZZ
    @given(values=overrides(scenario_id))
    def check(values):
        try:
            venv = scenarios.make_vec(scenario_id, num_envs=2, seed=0, **values)
        except ScenarioConfigError as error:
            message = str(error)
            assert "\n" not in message
            assert message.startswith(f"{scenario_id}: ")
            assert any(name in message for name in values), (values, message)
            return
        obs = venv.reset()
        assert_finite(obs, "observations")
        rng = np.random.default_rng(0)
        for _ in range(3):
            obs, rew, *_ = venv.step(random_actions(venv, rng))
            assert_finite(obs, "observations")
            assert_finite(rew, "rewards")
        if venv.state_space.shape[0]:  # scenarios of state size 0 offer no state
            assert np.isfinite(venv.state()).all()

    check()


def bad_actions(venv) -> st.SearchStrategy:
    """Action dicts with one group's array damaged: shape, dtype, range, NaN, not an array."""
    group = next(iter(venv.groups))
    spec = venv.groups[group]
    shape = (venv.num_envs, spec.n_agents, *spec.action_space.shape)
    discrete = hasattr(spec.action_space, "n")

    def damage(kind: str, position: int, value):
        good = random_actions(venv, np.random.default_rng(position))
        act = good[group]
        if kind == "shape":
            act = np.zeros(shape[:-1] if len(shape) > 2 else (*shape, 1), act.dtype)
        elif kind == "dtype":
            act = act.astype(np.float32) if discrete else act.astype(np.int64)
        elif kind == "value":
            flat = act.reshape(-1)
            flat[position % flat.size] = value
        elif kind == "type":
            act = act.tolist()
        elif kind == "missing":
            del good[group]
            return good
        good[group] = act
        return good

    values = [-1, 10**6, np.iinfo(np.int64).min] if discrete else [np.nan, np.inf, -np.inf]
    return st.builds(
        damage,
        st.sampled_from(["shape", "dtype", "value", "type", "missing"]),
        st.integers(0, 10**6),
        st.sampled_from(values),
    )


@pytest.mark.parametrize("continuous", [False, True])
@pytest.mark.parametrize("scenario_id", IDS)
def test_bad_actions_are_refused_naming_the_group(scenario_id, continuous):
    venv = scenarios.make_vec(scenario_id, num_envs=3, seed=0, continuous_actions=continuous)
    venv.reset()

    @FUZZ
    @given(actions=bad_actions(venv))
    def check(actions):
        before = {g: o.copy() for g, o in venv._obs.items()}
        with pytest.raises(ValueError) as caught:
            venv.step(actions)
        message = str(caught.value)
        assert "\n" not in message and scenario_id in message
        assert any(f"'{g}'" in message or f"{g}_" in message for g in venv.groups), message
        for group, values in before.items():  # a refused step changes nothing
            np.testing.assert_array_equal(values, venv._obs[group])

    check()


def edge_cases(scenario_id: str):
    """(field, value, valid) for every numeric field: both ends of its declared range (just
    inside an open end), and values just outside, non-finite or absurd that must be refused."""
    cases = []
    for spec in config_fields(scenario_id):
        kind = field_type(scenario_id, spec)
        if kind not in NUMBERS:
            continue
        bounds = field_range(spec)
        low, high = bounds.low, bounds.high
        if kind is int:
            inside = [int(low), int(high)]
            outside = [int(low) - 1, int(high) + 1, 2**31, -(2**31)]
        else:
            nudge = max(abs(high - low) * 1e-6, 1e-9)
            inside = [
                low + nudge if bounds.low_open else low,
                high - nudge if bounds.high_open else high,
            ]
            outside = [
                low - nudge if not bounds.low_open else low,
                high + nudge,
                math.nan,
                math.inf,
                -math.inf,
            ]
        cases += [(spec.name, value, True) for value in inside]
        cases += [(spec.name, value, False) for value in outside]
    return cases


@pytest.mark.parametrize(
    ("scenario_id", "name", "value", "valid"),
    [(sid, *case) for sid in IDS for case in edge_cases(sid)],
)
def test_each_field_at_the_ends_of_its_range(scenario_id, name, value, valid):
    try:
        venv = scenarios.make_vec(scenario_id, num_envs=2, seed=0, **{name: value})
    except ScenarioConfigError as error:
        message = str(error)
        assert "\n" not in message and name in message, message
        # In range, a value may still break a rule that relates it to other fields; the
        # message then names it and says what else is involved (not only its own range).
        assert not valid or "must be in" not in message, message
        return
    assert valid, f"{name}={value!r} was accepted"
    rng = np.random.default_rng(0)
    assert_finite(venv.reset(), "observations")
    for _ in range(2):
        obs, rew, *_ = venv.step(random_actions(venv, rng))
        assert_finite(obs, "observations")
        assert_finite(rew, "rewards")
