"""The scenario author's side: typed configs, group specs, and the ``Scenario`` base class.

A scenario is written once over the batch axis in numpy. The vector env calls, per step:
``apply_actions`` (actions to dynamics commands), the world's physics step, then ``observe``,
``reward`` (which also fills ``reward_terms``), ``terminated`` and ``metrics``. Reset is per world
(``reset(world, rng, env_ids)``), so finished worlds restart while the others run on.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from scenarios.fields import first_violation, param
from scenarios.layout import ObsLayout
from scenarios.seeding import WorldRandom
from worlds import WorldBatch

MAX_STEPS = 1_000_000
"""Upper bound of every episode length (about a day of simulated time at dt 0.1)."""


class ScenarioConfigError(ValueError):
    """A scenario config field is unknown or has an invalid value; the message names it."""


@dataclass(frozen=True)
class ScenarioConfig:
    """Fields every scenario has. Subclasses add their own, each with a one-line doc string."""

    max_steps: int = param(100, low=1, high=MAX_STEPS)
    """Steps per episode before truncation."""

    def validate(self, scenario_id: str) -> None:
        """Raise ``ScenarioConfigError`` naming the first field outside the range declared with
        it (``scenarios.fields.param``). Subclasses add the rules that relate fields to each
        other, after calling this."""
        found = first_violation(self)
        if found is not None:
            name, rule, value = found
            raise ScenarioConfigError(f"{scenario_id}: {name} {rule}, got {value!r}")


def check(scenario_id: str, ok: bool, field_name: str, rule: str, value: Any) -> None:
    """Raise ``ScenarioConfigError("<id>: <field> <rule>, got <value>")`` unless ``ok``."""
    if not ok:
        raise ScenarioConfigError(f"{scenario_id}: {field_name} {rule}, got {value!r}")


def build_config(cls: type[ScenarioConfig], scenario_id: str, overrides: dict[str, Any]):
    """``cls(**overrides)`` with unknown fields and wrong types reported by name."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in overrides.items():
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ScenarioConfigError(
                f"{scenario_id}: unknown config field {name!r}{hint} "
                f"(fields: {', '.join(sorted(fields))})"
            )
        values[name] = _coerce(scenario_id, name, hints[name], value)
    cfg = cls(**values)
    cfg.validate(scenario_id)
    return cfg


def _coerce(scenario_id: str, name: str, annotation: Any, value: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        annotation = next(a for a in options if a is not type(None))
        origin = typing.get_origin(annotation)
    bad = ScenarioConfigError(
        f"{scenario_id}: {name} must be {getattr(annotation, '__name__', annotation)}, "
        f"got {value!r} ({type(value).__name__})"
    )
    if annotation is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise bad
    if annotation is int:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return int(value)
        raise bad
    if annotation is float:
        if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            return float(value)
        raise bad
    if annotation is str:
        if isinstance(value, str):
            return value
        raise bad
    if origin is tuple:
        if isinstance(value, (list, tuple)):
            return tuple(value)
        raise bad
    return value


@dataclass(frozen=True)
class GroupSpec:
    """One group of agents: they share observation and action spaces (and may share a policy).

    The one group type of the project: scenarios declare their groups with it, and the learners'
    adapter for outside PettingZoo envs describes theirs with it too. ``layout`` names the blocks
    of the observation (``scenarios.layout``; None for envs that do not declare one);
    ``agents`` are the agent ids, ``f"{name}_{i}"`` unless given.
    """

    name: str
    n_agents: int
    observation_space: spaces.Box
    action_space: spaces.Space
    layout: ObsLayout | None = None
    agents: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.agents:
            object.__setattr__(
                self, "agents", tuple(f"{self.name}_{i}" for i in range(self.n_agents))
            )
        if len(self.agents) != self.n_agents:
            raise ValueError(f"group {self.name!r}: {len(self.agents)} ids for {self.n_agents}")
        if self.layout is not None and self.observation_space.shape != (self.layout.size,):
            raise ValueError(
                f"group {self.name!r}: observation_space {self.observation_space.shape} does "
                f"not match its layout's size {self.layout.size}"
            )

    @classmethod
    def of(cls, name: str, n_agents: int, layout: ObsLayout, action_space: spaces.Space):
        """A scenario's group whose observation is ``layout`` (its space is the layout's)."""
        return cls(name, n_agents, layout.space, action_space, layout)

    @property
    def agent_ids(self) -> list[str]:
        return list(self.agents)


class Scenario:
    """Base class of every scenario. Subclasses set ``config_class`` and implement the hooks.

    Hooks receive the ``WorldBatch`` (B worlds) and work on all worlds at once. Arrays returned by
    ``observe`` and ``reward`` may be reused buffers; the vector env copies what it keeps.
    """

    config_class: ClassVar[type[ScenarioConfig]] = ScenarioConfig
    scenario_id: ClassVar[str] = ""
    metric_reduce: ClassVar[dict[str, str]] = {}
    """How each per-step metric becomes an episode figure: "mean", "min", "max", "sum", "last"."""

    def __init__(self, cfg: ScenarioConfig) -> None:
        self.cfg = cfg

    # Spaces and world --------------------------------------------------------------------
    def groups(self) -> dict[str, GroupSpec]:
        raise NotImplementedError

    def state_size(self) -> int:
        """Length of the global state vector (0 when the scenario offers none)."""
        return 0

    def make_world(self, num_worlds: int) -> WorldBatch:
        raise NotImplementedError

    # Episode -----------------------------------------------------------------------------
    def reset(self, world: WorldBatch, rng: WorldRandom, env_ids: np.ndarray) -> None:
        """Start new episodes in worlds ``env_ids``. Draw everything random from ``rng``
        (``size`` first axis ``len(env_ids)``: row k comes from world ``env_ids[k]``'s own
        stream, see ``scenarios.seeding``) and place bodies with ``world.reset_bodies``; set
        every per-world array of the scenario for those worlds, so that nothing of their last
        episode remains."""
        raise NotImplementedError

    def apply_actions(self, world: WorldBatch, actions: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def observe(self, world: WorldBatch) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def reward(self, world: WorldBatch) -> dict[str, np.ndarray]:
        """Per-agent reward ``(B, N)`` per group; set ``self.reward_terms``: name -> ``(B, N)``
        (or ``(B, 1)`` for a team term), logged per episode as the mean over agents."""
        raise NotImplementedError

    def terminated(self, world: WorldBatch) -> dict[str, np.ndarray] | None:
        """Per-agent termination ``(B, N)`` per group, or None when agents never end early."""
        return None

    def state(self, world: WorldBatch) -> np.ndarray | None:
        """Global state ``(B, state_size)`` for a centralized critic."""
        return None

    def action_mask(self, world: WorldBatch) -> dict[str, np.ndarray] | None:
        return None

    def metrics(self, world: WorldBatch) -> dict[str, np.ndarray]:
        """Per-step domain figures, each ``(B,)`` or ``(B, ...)`` (per agent, per landmark).

        A step's figure is the mean over the trailing axes (the min or max for metrics reduced
        by "min" or "max"); ``metric_reduce`` turns steps into the episode's figure.
        """
        return {}

    def render_extra(self, world: WorldBatch, canvas, env_index: int) -> None:
        """Draw scenario marks (targets, links) on a ``worlds.render.Canvas``."""

    def scripted_policy(self):
        """The scenario's scripted baseline (a Policy), or None."""
        return None
