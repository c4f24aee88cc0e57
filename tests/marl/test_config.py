"""TrainConfig checks every field where it is declared: any value gives a valid config or one
ConfigError line naming the field (fuzzed with hypothesis, through the constructor and through the
command line's text path)."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest
from cli_runs import MPE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marl.config import ConfigError, TrainConfig, config_from_dict
from marl.train import main
from scenarios.fields import field_range

FIELDS = {spec.name: spec for spec in dataclasses.fields(TrainConfig)}
KINDS = {name: type(getattr(TrainConfig(), name)) for name in FIELDS}
NUMERIC = [name for name in FIELDS if KINDS[name] in (int, float)]


def boundary_values(name: str) -> list:
    """The declared bounds and their neighbours on both sides."""
    bounds = field_range(FIELDS[name])
    out = []
    for edge in (bounds.low, bounds.high):
        if edge is None:
            continue
        if KINDS[name] is int:
            out += [int(edge) - 1, int(edge), int(edge) + 1]
        else:
            out += [math.nextafter(edge, -math.inf), float(edge), math.nextafter(edge, math.inf)]
    return out


ANY_VALUE = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 0, -1, 1, 0.5, 2**31, 2**63, 10**30]),
    st.booleans(),
    st.text(max_size=12),
    st.none(),
    st.lists(st.integers(min_value=-5, max_value=10**13), max_size=10).map(tuple),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def expected_ok(name: str, value) -> bool:
    """Whether ``value`` is valid for field ``name``, worked out here independently."""
    spec, kind = FIELDS[name], KINDS[name]
    if name in ("ray", "async_rollouts"):  # both need rollout workers; the default is none
        return value is False
    if name == "num_workers" and isinstance(value, int) and value > 0 and 64 % value:
        return False  # the default 64 worlds do not split equally
    if kind is bool:
        return isinstance(value, bool)
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        return False
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if not math.isfinite(value):
            return False
    if kind in (int, float):
        bounds = field_range(spec)
        low, high = bounds.low, bounds.high
        low_ok = low is None or (value > low if bounds.low_open else value >= low)
        high_ok = high is None or (value < high if bounds.high_open else value <= high)
        return low_ok and high_ok
    if kind is tuple:
        return (
            isinstance(value, tuple)
            and 1 <= len(value) <= 8
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            and all(1 <= v <= 8192 for v in value)
        )
    if kind is dict and name == "fixed":  # group names to policies (scripted, random, a path)
        return (
            isinstance(value, dict)
            and len(value) <= 64
            and all(isinstance(g, str) and re.fullmatch(r"\w{1,200}", g) for g in value)
            and all(isinstance(v, str) and 0 < len(v) <= 4096 for v in value.values())
        )
    if kind is dict:
        return isinstance(value, dict)
    if kind is str:
        choices = spec.metadata.get("choices")
        if choices is not None:
            return value in choices
        return isinstance(value, str)
    raise AssertionError(name)


def check_one(name: str, value) -> None:
    try:
        cfg = TrainConfig(**{name: value})
    except ConfigError as error:
        message = str(error)
        assert message.startswith(f"config field {name!r}: ") and "\n" not in message, message
        if KINDS[name] is not str or "choices" in FIELDS[name].metadata:
            assert not expected_ok(name, value), (name, value, message)
        return
    assert expected_ok(name, value) or KINDS[name] is str, (name, value)
    stored = getattr(cfg, name)
    assert type(stored) is KINDS[name]
    if isinstance(stored, float):
        assert math.isfinite(stored)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(FIELDS)), value=ANY_VALUE)
def test_any_value_of_any_field_is_valid_or_an_error_naming_the_field(name, value):
    check_one(name, value)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_declared_bounds_and_their_neighbours(data):
    name = data.draw(st.sampled_from(NUMERIC))
    value = data.draw(st.sampled_from(boundary_values(name)))
    check_one(name, value)


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(sorted(set(FIELDS) - {"env"})),
    text=st.one_of(
        st.sampled_from(["nan", "inf", "-inf", "-5", "0", "1e400", "1_000", "1e3", "2.5", ""]),
        st.text(max_size=10),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
    ),
)
def test_text_from_the_command_line_is_valid_or_an_error_naming_the_field(name, text):
    try:
        cfg = config_from_dict({name: text})
    except ConfigError as error:
        assert f"config field {name!r}" in str(error) and "\n" not in str(error)
        return
    value = getattr(cfg, name)
    assert expected_ok(name, value) or KINDS[name] is str


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "-5"], "config field 'total_steps': must be in [1, 1000000000000], got -5"),
        (["--lr", "nan"], "config field 'lr': must be a finite number, got nan"),
        (["--gamma", "inf"], "config field 'gamma': must be a finite number, got inf"),
        (["--num-envs", "100000"], "config field 'num_envs': must be in [1, 4096], got 100000"),
        (["--hidden-sizes", "64,1000000"], "'hidden_sizes': every entry must be in [1, 8192]"),
        (["--epochs", "2.5"], "config field 'epochs': bad value '2.5' (expected an integer)"),
        (["--algo", "sac"], "config field 'algo': must be one of mappo, ippo, got 'sac'"),
        (["--device", "tpu"], "config field 'device': is not of the expected form"),
    ],
)
def test_bad_values_on_the_command_line_are_one_line(capsys, argv, message):
    assert main([MPE, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_a_step_count_rounded_up_to_whole_updates_is_announced(tmp_path, capsys):
    argv = [MPE, "-e", "max_cycles=5", "--num-envs", "2", "--num-steps", "8", "--steps", "50"]
    assert main([*argv, "--run-dir", str(tmp_path / "r"), "--progress", "false"]) == 0
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        "note: total_steps 50 rounded up to whole updates of 48 agent-steps: 96 agent-steps "
        "(2 updates)"
    )
    assert "96 agent-steps" in captured.out


def test_every_number_field_declares_both_bounds():
    for name in NUMERIC:
        bounds = field_range(FIELDS[name])
        assert bounds.low is not None and bounds.high is not None, name
        assert bounds.finite, name
