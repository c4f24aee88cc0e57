"""The scenario author's side: typed configs, group specs, and the ``Scenario`` base class.

A scenario is written once over the batch axis in numpy. The vector env calls, per step:

1. ``apply_actions(world, actions)``: actions to the dynamics models' commands;
2. the world's physics step;
3. ``sense(world, episode) -> Frame``: the step's shared measurements (distances, neighbours,
   visibility), computed once; every later hook reads them from the frame it is given;
4. ``observe(frame)``, ``reward(frame) -> Reward`` (per-agent rewards and named terms),
   ``terminated(frame)`` and ``metrics(frame)``, each a function of the frame (no hook reads
   what another left on the instance, so they may run in any order);
5. for worlds whose episode ended, ``episode_end(frame, env_ids)`` (figures too costly for every
   step), then ``reset(world, rng, env_ids)`` and a new ``sense`` and ``observe``.

Episode rules live in the vector env, not here: the step count of each world's episode and the
time limit, which agents are still in (``Episode.alive``; a terminated agent's rewards and
observations are masked and its body is parked out of the way by the world), auto-reset and the
episode records.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

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

    ``lives`` > 1 makes the group's slots respawning: an agent that ends leaves its slot, and
    the scenario's ``spawn`` may later put a new agent there, up to ``lives`` agents per slot and
    episode. Slot ``i``'s first agent is ``agents[i]``, its ``k``-th after that
    ``f"{agents[i]}.{k}"`` (``life_ids``): through PettingZoo, agents that finish never return,
    new ones join.
    """

    name: str
    n_agents: int
    observation_space: spaces.Box
    action_space: spaces.Space
    layout: ObsLayout | None = None
    agents: tuple[str, ...] = ()
    lives: int = 1

    def __post_init__(self) -> None:
        if not self.agents:
            object.__setattr__(
                self, "agents", tuple(f"{self.name}_{i}" for i in range(self.n_agents))
            )
        if len(self.agents) != self.n_agents:
            raise ValueError(f"group {self.name!r}: {len(self.agents)} ids for {self.n_agents}")
        if not (isinstance(self.lives, int) and self.lives >= 1):
            raise ValueError(f"group {self.name!r}: lives must be an int >= 1, got {self.lives!r}")
        if self.layout is not None and self.observation_space.shape != (self.layout.size,):
            raise ValueError(
                f"group {self.name!r}: observation_space {self.observation_space.shape} does "
                f"not match its layout's size {self.layout.size}"
            )

    @classmethod
    def of(cls, name: str, n_agents: int, layout: ObsLayout, action_space: spaces.Space,
           lives: int = 1):  # fmt: skip
        """A scenario's group whose observation is ``layout`` (its space is the layout's)."""
        return cls(name, n_agents, layout.space, action_space, layout, lives=lives)

    def life_ids(self, life: int) -> list[str]:
        """The ids of the slots' ``life``-th agents (0: ``agents``)."""
        return list(self.agents) if life == 0 else [f"{a}.{life}" for a in self.agents]

    @property
    def agent_ids(self) -> list[str]:
        return list(self.agents)


@dataclass
class Episode:
    """What the vector env knows of each world's running episode; scenarios read it, never
    write it.

    ``alive`` holds, per group, which agents are still in the episode ``(B, N)`` (all True when
    agents never end early); ``ended_at`` the step at which each agent that left was terminated
    (0 for those still in). In respawning groups (``GroupSpec.lives``), ``lives`` counts the
    agents each slot has had this episode and ``born`` marks the slots whose new agent joined at
    this step (it acts from this step's observation on). ``steps`` counts each world's steps in
    its current episode, including the step being processed: 1 in the first step's hooks, 0
    right after a reset.

    ``restarted`` is None, except while the vector env senses and observes again the worlds
    that auto-reset at the end of a step: then it holds their ids ``(E,)``. A scenario may then
    update only those worlds in ``sense`` and ``observe`` (its kernels looping over them alone),
    provided it leaves every other world's frame and observation values as this step's ``sense``
    and ``observe`` left them (in-place buffers do); one that ignores it recomputes them all.
    """

    max_steps: int
    alive: dict[str, np.ndarray]
    ended_at: dict[str, np.ndarray]
    _step_count: int = 0
    _episode_start: np.ndarray | None = None
    restarted: np.ndarray | None = None
    lives: dict[str, np.ndarray] | None = None
    born: dict[str, np.ndarray] | None = None

    @property
    def steps(self) -> np.ndarray:
        return self._step_count - self._episode_start


@dataclass
class Frame:
    """One step's measurements, made once by ``Scenario.sense`` and read by every later hook.

    Scenarios subclass it (a dataclass) with their own fields: the pairwise distances, the k
    nearest neighbours, who sees whom. The base holds the world and the episode.
    """

    world: WorldBatch
    episode: Episode


class Reward(NamedTuple):
    """What ``Scenario.reward`` returns: per-agent rewards ``{group: (B, N)}`` and the named terms
    they sum, ``{name: (B, N) or (B, 1)}`` (a ``(B, 1)`` term is a team term), each logged per
    episode as the mean over agents."""

    agents: dict[str, np.ndarray]
    terms: dict[str, np.ndarray]


class ScriptedPolicy:
    """Base of the scripted baselines that sit beside their scenarios: they implement the Policy
    protocol (``groups``, ``act``, ``reset``) in numpy. Without memory, ``reset`` does nothing;
    a baseline with memory overrides it and forgets the worlds ``env_ids``."""

    groups: tuple[str, ...] = ()

    def act(
        self, obs: dict[str, np.ndarray], action_mask=None, deterministic: bool = True
    ) -> dict[str, np.ndarray]:
        """Actions ``{group: (B, N, ...)}`` for the policy's groups from their observations."""
        raise NotImplementedError

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        """Forget the memory of worlds ``env_ids`` (all when None); stateless by default."""


class Scenario:
    """Base class of every scenario. Subclasses set ``config_class`` and implement the hooks.

    Hooks work on all B worlds at once (see the module docstring for their order). Arrays they
    return may be reused buffers; the vector env copies what it keeps.
    """

    config_class: ClassVar[type[ScenarioConfig]] = ScenarioConfig
    scenario_id: ClassVar[str] = ""
    metric_reduce: ClassVar[dict[str, str]] = {}
    """How each per-step metric becomes an episode figure: "mean", "min", "max", "sum", "last"."""
    parked_bodies: ClassVar[dict[str, str]] = {}
    """Agent group -> body group of the world, for groups whose agents can end early: the vector
    env parks a terminated agent's body (``WorldBatch.park_bodies``) out of the way."""
    observes_restarted_only: ClassVar[bool] = False
    """True when ``sense`` and ``observe`` honour ``Episode.restarted`` by updating only those
    worlds' rows, in place, in the arrays ``observe`` returned this step: the vector env then
    keeps the other worlds' observations without copying them."""

    def __init__(self, cfg: ScenarioConfig) -> None:
        self.cfg = cfg

    # Spaces and world --------------------------------------------------------------------
    def groups(self) -> dict[str, GroupSpec]:
        """The agent groups, each with its observation layout and action space (the same
        objects on every call)."""
        raise NotImplementedError

    def state_size(self) -> int:
        """Length of the global state vector (0 when the scenario offers none)."""
        return 0

    def make_world(self, num_worlds: int) -> WorldBatch:
        """Build the batch of worlds (static geometry, body groups) and the scenario's per-world
        arrays."""
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
        """Write the validated actions ``{group: (B, N, ...)}`` into the dynamics' commands."""
        raise NotImplementedError

    def spawn(
        self, world: WorldBatch, env_ids: np.ndarray, vacant: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Respawning groups only (``GroupSpec.lives`` > 1): called at the start of a step,
        before ``apply_actions``, for the worlds ``env_ids`` ``(E,)`` with vacant slots
        (``vacant[group]`` ``(E, N)``: the slot's agent ended and it has lives left). Place new
        agents in some of them (``world.place_bodies(..., revive=True)``) and return which
        ``{group: bool (E, N)}``. A new agent joins with this step's observation: this step it
        is driven by the scenario (the action sent for its vacant slot is ignored) and its
        reward is 0. Anything random about new agents is drawn in ``reset`` for every life:
        a world's random stream must not depend on what happened in its episodes."""
        raise NotImplementedError(f"{self.scenario_id}: a group has lives > 1 but no spawn")

    def sense(self, world: WorldBatch, episode: Episode) -> Frame:
        """Measure the step once; the default frame holds only the world and the episode."""
        return Frame(world, episode)

    def observe(self, frame: Frame) -> dict[str, np.ndarray]:
        """Observations ``{group: (B, N, layout.size)}``, laid out as the group's layout says."""
        raise NotImplementedError

    def reward(self, frame: Frame) -> Reward:
        """Per-agent rewards and the named terms they are made of (see ``Reward``)."""
        raise NotImplementedError

    def terminated(self, frame: Frame) -> dict[str, np.ndarray] | None:
        """Per-agent termination ``(B, N)`` per group, or None when agents never end early.
        Only agents still alive count; the vector env parks their bodies (``parked_bodies``)."""
        return None

    def metrics(self, frame: Frame) -> dict[str, np.ndarray]:
        """Per-step domain figures, each ``(B,)`` or ``(B, ...)`` (per agent, per landmark).

        A step's figure is the mean over the trailing axes (the min or max for metrics reduced
        by "min" or "max"); ``metric_reduce`` turns steps into the episode's figure.
        """
        return {}

    def episode_end(self, frame: Frame, env_ids: np.ndarray) -> dict[str, np.ndarray]:
        """Episode figures ``{name: (E,)}`` for worlds ``env_ids`` whose episode ends at this
        step, measured once at the end (costly figures, or figures of the whole episode);
        they join the episode record's metrics."""
        return {}

    def state(self, frame: Frame) -> np.ndarray | None:
        """Global state ``(B, state_size)`` for a centralized critic."""
        return None

    def action_mask(self, frame: Frame) -> dict[str, np.ndarray] | None:
        """Legal actions ``{group: bool (B, N, n_actions)}``, or None without masks."""
        return None

    def render_extra(self, frame: Frame, canvas, env_index: int) -> None:
        """Draw scenario marks (targets, links, who sees whom) of the last frame on a
        ``worlds.render.Canvas``."""

    def outcome(self, episode: dict) -> dict[str, float] | None:
        """Each group's score in a finished ``episode`` record (``return``, ``metrics``) when
        groups play each other in a league: 1 a win, 0.5 a draw, 0 a loss, or a grade between.
        None (the default): the league scores the groups by their mean returns."""
        return None

    def scripted_policy(self):
        """The scenario's scripted baseline (a Policy: ``groups``, ``act``, ``reset``), or None."""
        return None
