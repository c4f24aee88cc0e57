"""Config fields whose valid range is declared next to them.

A config dataclass declares each numeric field with :func:`param`, which records a :class:`Range`
in the field's metadata::

    n_agents: int = param(3, low=1, high=1024)
    # followed, as every field, by its one-line doc string
    damping: float = param(0.25, low=0, high=1, low_open=True)

Validation (:func:`range_violation` per field, :func:`first_violation` for a whole config), the
``marl scenarios --config`` listing and the fuzz tests all read these ranges, so a bound is written
once. Float fields refuse NaN and infinity unless their range says ``finite=False``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Range:
    """Bounds of a numeric field: ``low``/``high`` (None: unbounded on that side), open or
    closed, and whether non-finite floats are allowed."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    finite: bool = True

    def violation(self, value: Any) -> str | None:
        """The rule ``value`` breaks (``"must be in (0, 1]"``), or None when it is valid."""
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            return None  # types are checked by the config builder
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            if self.finite:
                return "must be a finite number"
            if math.isnan(number):
                return None
        too_low = self.low is not None and (
            number <= self.low if self.low_open else number < self.low
        )
        too_high = self.high is not None and (
            number >= self.high if self.high_open else number > self.high
        )
        if too_low or too_high:
            return f"must be {self.describe()}"
        return None

    def describe(self) -> str:
        """The range in words: ``in [1, 1024]``, ``>= 0``, ``< 10``, ``any number``."""
        if self.low is not None and self.high is not None:
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            return f"in {left}{_number(self.low)}, {_number(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_number(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_number(self.high)}"
        return "a finite number" if self.finite else "any number"


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def param(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = True,
    **metadata: Any,
) -> Any:
    """A dataclass field with ``default`` whose valid range is declared with it (see
    :class:`Range`); extra keyword arguments go into the field's metadata (e.g. ``help``)."""
    bounds = Range(low, high, low_open, high_open, finite)
    if bounds.violation(default) is not None:
        raise ValueError(f"default {default!r} is outside its own range {bounds.describe()}")
    return dataclasses.field(default=default, metadata={"range": bounds, **metadata})


def field_range(spec: dataclasses.Field) -> Range | None:
    """The range declared for a field, or None."""
    return spec.metadata.get("range")


def range_violation(spec: dataclasses.Field, value: Any) -> str | None:
    """The rule ``value`` breaks for field ``spec``: its declared range, or, for a float field
    without one, finiteness. None when the value is valid."""
    bounds = field_range(spec)
    if bounds is None:
        bounds = Range() if isinstance(value, (float, np.floating)) else None
    return None if bounds is None else bounds.violation(value)


def first_violation(config: Any) -> tuple[str, str, Any] | None:
    """``(field, rule, value)`` of the first field of dataclass ``config`` outside its range."""
    for spec in dataclasses.fields(config):
        value = getattr(config, spec.name)
        rule = range_violation(spec, value)
        if rule is not None:
            return spec.name, rule, value
    return None


__all__ = ["Range", "field_range", "first_violation", "param", "range_violation"]


def field_docs(cls: type) -> dict[str, str]:
    """Each field's one-line doc string (the string literal under it in the class body), for
    ``cls`` and the config classes it derives from; the nearest class wins. Read from source with
    ``ast`` (Python keeps no attribute doc strings at run time); fields without one are absent."""
    import ast
    import inspect
    import textwrap

    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0].body
        for node, after in zip(body, body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs
