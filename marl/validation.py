"""Checks of a config dataclass against what its fields declare: type, range, choices, sizes.

A field declares its rules next to it (``marl.ppo._opt``): a numeric range through
``scenarios.fields.param`` (floats are always finite), ``choices`` or a ``pattern`` for strings, and
``items``/``length`` for tuples of integers. :func:`check_fields` converts values to the field's
type where that loses nothing (an int for a float field) and raises :class:`ConfigError` naming the
first bad field, the rule and the value.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from typing import Any

import numpy as np

from scenarios.fields import range_violation


class ConfigError(ValueError):
    """A config field is unknown or has a value of the wrong kind; the message names it."""


def _type_of(spec: dataclasses.Field) -> type:
    if spec.default is not dataclasses.MISSING:
        return type(spec.default)
    return type(spec.default_factory())


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _convert(name: str, kind: type, value: Any) -> Any:
    """``value`` as ``kind``, or ConfigError when it is of another kind."""

    def wrong(expected: str) -> ConfigError:
        return ConfigError(
            f"config field {name!r}: expected {expected}, got {_show(value)} "
            f"({type(value).__name__})"
        )

    if kind is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise wrong("true or false")
    if kind is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        raise wrong("an integer")
    if kind is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        raise wrong("a number")
    if kind is str:
        if isinstance(value, str):
            return value
        raise wrong("a string")
    if kind is tuple:
        if isinstance(value, (tuple, list)) and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value
        ):
            return tuple(int(v) for v in value)
        raise wrong("a list of integers")
    if kind is dict:
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return dict(value)
        raise wrong("a mapping of field names to values")
    return value


def check_fields(config: Any) -> None:
    """Convert and check every field of dataclass ``config`` in place (see the module doc)."""
    for spec in dataclasses.fields(config):
        name = spec.name
        value = _convert(name, _type_of(spec), getattr(config, name))
        object.__setattr__(config, name, value)
        rule = range_violation(spec, value)
        if rule is None:
            rule = _extra_violation(spec.metadata, value)
        if rule is not None:
            raise ConfigError(f"config field {name!r}: {rule}, got {_show(value)}")


def _extra_violation(metadata: Any, value: Any) -> str | None:
    choices = metadata.get("choices")
    if choices is not None and value not in choices:
        return f"must be one of {', '.join(choices)}"
    pattern = metadata.get("pattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        return "is not of the expected form (see --help)"
    items = metadata.get("items")
    if items is not None and isinstance(value, tuple):
        low, high = metadata.get("length", (0, math.inf))
        if not low <= len(value) <= high:
            return f"must have {low} to {high} entries"
        for item in value:
            rule = items.violation(item)
            if rule is not None:
                return f"every entry {rule}"
    return None


__all__ = ["ConfigError", "check_fields"]
