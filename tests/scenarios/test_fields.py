"""Declared config ranges: the rule each value breaks, in words."""

import math
from dataclasses import dataclass

import pytest

from scenarios.fields import Range, first_violation, param


@dataclass(frozen=True)
class Example:
    count: int = param(3, low=1, high=10)
    share: float = param(0.5, low=0, high=1, low_open=True)
    anything: float = 1.0
    loose: float = param(0.0, finite=False)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, None),
        ({"count": 0}, ("count", "must be in [1, 10]", 0)),
        ({"count": 11}, ("count", "must be in [1, 10]", 11)),
        ({"count": 10}, None),
        ({"share": 0.0}, ("share", "must be in (0, 1]", 0.0)),
        ({"share": 1.0}, None),
        ({"share": math.inf}, ("share", "must be a finite number", math.inf)),
        ({"anything": math.nan}, ("anything", "must be a finite number", math.nan)),
        ({"anything": -math.inf}, ("anything", "must be a finite number", -math.inf)),
        ({"loose": math.inf}, None),
        ({"loose": math.nan}, None),
    ],
)
def test_first_violation_names_the_field_and_rule(changes, expected):
    found = first_violation(Example(**changes))
    if expected is None:
        assert found is None
    else:
        name, rule, value = found
        assert (name, rule) == expected[:2]
        assert value == expected[2] or (math.isnan(value) and math.isnan(expected[2]))


def test_ranges_describe_themselves():
    assert Range(0, None).describe() == ">= 0"
    assert Range(0, None, low_open=True).describe() == "> 0"
    assert Range(None, 5, high_open=True).describe() == "< 5"
    assert Range(1e-3, 1.0).describe() == "in [0.001, 1]"
    assert Range(finite=False).describe() == "any number"


def test_a_default_outside_its_range_is_a_bug_caught_at_import():
    with pytest.raises(ValueError, match="outside its own range"):
        param(0, low=1, high=3)
