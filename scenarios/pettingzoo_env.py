"""PettingZoo ``ParallelEnv`` over one world of a scenario (AEC via ``parallel_to_aec``).

A thin layer over the vector env with ``num_envs=1`` and no auto-reset: the dicts PettingZoo wants
are built from the arrays once per step. Agents that finish leave ``agents`` and never return;
in respawning groups (``GroupSpec.lives``) new agents join in their slots under new names
(``car_3.1`` after ``car_3``: ``possible_agents`` lists every life). Spaces are cached and the
same objects on every call.

Dict keys
    ``reset`` returns observations and infos for exactly ``agents`` (every possible agent).
    ``step`` returns observations, rewards, terminations, truncations and infos for exactly the
    agents live before the step and those that joined at it (reward 0); those terminated or
    truncated then leave ``agents``. When an
    episode ends, every info holds ``{"episode": record}`` (the vector env's episode record).

Actions (checked strictly: nothing is silently converted)
    ``step`` takes a dict with an action for exactly each live agent. A ``Discrete(n)`` action is
    an integer in ``[0, n)``: a Python ``int``, a numpy integer or a 0-d integer array (not a
    bool, float, string, list or None). A ``Box`` action is a numpy array of the space's shape
    with a real (float or integer) dtype and finite values (as float32); values outside the
    box's bounds are clipped by the scenario. Every malformed action, an unknown agent, a missing
    one raise a one-line ``ValueError`` naming the agent, and leave the env as it was. Actions for
    agents that already finished are ignored (unchecked), as the vector env ignores those of
    dead agents: masked clients (TorchRL with ``done_on_any=False``) send an action for every
    agent on every step. The check of a valid joint action costs one set of types per group
    (and of dtypes and shapes for a Box); the rest is validated by the vector env's array checks.

After the episode
    When every agent is done, ``agents`` is empty and ``step({})`` returns five empty dicts and
    changes nothing, as mpe2 (and every env built by PettingZoo's ``aec_to_parallel``) does.
    SuperSuit's ``black_death_v3`` relies on it: it keeps stepping the env with the actions of
    the live agents (``{}`` once all are done) and takes the empty dicts as the end of the
    episode (it then reports every agent done, and ``pettingzoo_env_to_vec_env_v1`` resets).
    A step before the first ``reset`` raises ``RuntimeError``.

Copies
    The world (pymunk) cannot be pickled, so a pickled env is rebuilt from its scenario class,
    config and render mode: the copy has no episode in progress and must be reset. SuperSuit's
    ``concat_vec_envs_v1`` (and any multiprocess vector env) copies envs this way.

Outside clients (each runs every registered scenario in ``tests/scenarios/test_outside_clients.py``)
    RLlib's ``ParallelPettingZooEnv`` sets ``__all__`` from ``all(terminated)`` and
    ``all(truncated)`` separately: when the last step mixes the two (a drone drops out on the
    final step), it steps once more for nobody and the empty dicts end its episode. SuperSuit:
    ``black_death_v3`` (above), and ``pettingzoo_env_to_vec_env_v1`` then ``concat_vec_envs_v1``
    over it (the conversion refuses agents that leave unless ``black_death_v3`` pads them).
    TorchRL's ``PettingZooWrapper`` with its defaults (``done_on_any=True``: its episode ends as
    soon as one agent is done), and with ``use_mask=True, done_on_any=False`` (the episode runs
    until every agent is done; it keeps sending actions for finished agents, ignored here).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from scenarios.core import Scenario
from scenarios.vector import VectorEnv

# Exact types of a valid Discrete action on the fast path (bool and np.bool_ are not among them;
# np.timedelta64 subclasses np.signedinteger). Anything else goes through the full check.
_INTEGER_TYPES = frozenset(
    {int}
    | {
        t
        for t in np.sctypeDict.values()
        if issubclass(t, np.integer) and not issubclass(t, np.timedelta64)
    }
)
_REAL_DTYPES = frozenset(
    np.dtype(t)
    for t in np.sctypeDict.values()
    if issubclass(t, (np.integer, np.floating)) and not issubclass(t, np.timedelta64)
)
_WIDER_THAN_FLOAT32 = frozenset(
    d for d in _REAL_DTYPES if d.kind == "f" and np.finfo(d).max > np.finfo(np.float32).max
)


class _Group:
    """One group's action buffer and its live agents (rebuilt when agents leave)."""

    __slots__ = (
        "name",
        "agent_ids",
        "first",
        "space",
        "discrete",
        "buffer",
        "accepted",
        "signatures",
        "wide",
        "live",
        "index",
    )

    def __init__(self, name: str, agent_ids: list[str], space: spaces.Space) -> None:
        self.name = name
        self.agent_ids = list(agent_ids)  # the slots' current agents (respawns rename them)
        self.first = list(agent_ids)
        self.space = space
        self.discrete = isinstance(space, spaces.Discrete)
        dtype = np.int64 if self.discrete else np.float32
        self.buffer = np.zeros((1, len(agent_ids), *space.shape), dtype)
        self.accepted = _INTEGER_TYPES if self.discrete else frozenset({np.ndarray})
        # (dtype, shape) of a valid Box action, and those whose values can overflow float32.
        box_dtypes = () if self.discrete else _REAL_DTYPES
        self.signatures = frozenset((d, space.shape) for d in box_dtypes)
        self.wide = frozenset((d, space.shape) for d in box_dtypes if d in _WIDER_THAN_FLOAT32)
        self.live: list[str] = []
        self.index: np.ndarray | None = None  # positions of the live agents; None: all live

    def write_if_plain(self, values: list) -> bool:
        """Write the live agents' actions if each is of a plain valid type (for a Box: a numpy
        array of a real dtype and the right shape); else write nothing and return False. One set
        of types (and of dtypes and shapes) per group: cheap enough for every step."""
        if not set(map(type, values)) <= self.accepted:
            return False
        if self.discrete:
            self.write(values)
            return True
        signatures = {(v.dtype, v.shape) for v in values}
        if not signatures <= self.signatures:
            return False
        self.write(values, careful=bool(signatures & self.wide))
        return True

    def write(self, values: list, careful: bool = True) -> None:
        """The live agents' actions into the buffer (numpy converts the list in C). Huge float64
        values overflow float32 to infinity (refused by the vector env) without a warning."""
        target = (0,) if self.index is None else (0, self.index)
        if careful and not self.discrete:
            with np.errstate(over="ignore"):
                self.buffer[target] = values
        else:
            self.buffer[target] = values

    def set_live(self, live: set[str]) -> None:
        self.live = [a for a in self.agent_ids if a in live]
        if len(self.live) == len(self.agent_ids):
            self.index = None
        else:
            self.index = np.array([i for i, a in enumerate(self.agent_ids) if a in live], np.intp)
            self.buffer[...] = 0  # finished agents' rows: no stale action left behind


class ParallelScenarioEnv(ParallelEnv):
    """One world of ``scenario`` behind the PettingZoo parallel API."""

    metadata = {"render_modes": ["rgb_array", "human"], "name": "marl_worlds", "render_fps": 10}

    def __init__(self, scenario: Scenario, render_mode: str | None = None) -> None:
        if render_mode not in (None, "rgb_array", "human"):
            raise ValueError(
                f"render_mode must be None, 'rgb_array' or 'human', got {render_mode!r}"
            )
        self.render_mode = render_mode
        # "human" opens a window, so it is offered only where a display exists.
        has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        self.metadata = {
            **self.metadata,
            "name": scenario.scenario_id.replace("/", "_"),
            "render_modes": ["rgb_array", "human"] if has_display else ["rgb_array"],
        }
        self.venv = VectorEnv(scenario, num_envs=1, autoreset=False)
        self.scenario_id = scenario.scenario_id
        # Every life of every slot; (group, slot) of each agent.
        self._where = {}
        for group, spec in self.venv.groups.items():
            for life in range(spec.lives):
                for i, agent in enumerate(spec.life_ids(life)):
                    self._where[agent] = (group, i)
        self.possible_agents = list(self._where)
        self.num_agents_total = len(self.possible_agents)
        self._observation_spaces = {
            a: self.venv.groups[g].observation_space for a, (g, _) in self._where.items()
        }
        self._action_spaces = {
            a: self.venv.groups[g].action_space for a, (g, _) in self._where.items()
        }
        self._groups = [
            _Group(name, spec.agent_ids, spec.action_space)
            for name, spec in self.venv.groups.items()
        ]
        self._actions = {group.name: group.buffer for group in self._groups}
        self.state_space = self.venv.state_space
        self.agents: list[str] = []
        self._live: set[str] = set()
        self._was_reset = False
        self._window = None

    def __reduce__(self):
        scenario = self.venv.scenario
        return (_rebuild, (type(self), type(scenario), scenario.cfg, self.render_mode))

    # Spaces: the same objects on every call.
    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs = self.venv.reset(seed=seed)
        self._was_reset = True
        for group in self._groups:
            group.agent_ids = list(group.first)
        self._set_agents([a for group in self._groups for a in group.first])
        observations = {}
        for group in self._groups:
            observations.update(zip(group.agent_ids, obs[group.name][0].copy(), strict=True))
        infos = {agent: {} for agent in self.agents}
        if self.render_mode == "human":
            self.render()
        return observations, infos

    def _set_agents(self, agents: list[str]) -> None:
        self._live = set(agents)
        for group in self._groups:
            group.set_live(self._live)
        self.agents = [a for group in self._groups for a in group.live]  # group, slot order

    def step(self, actions: dict[str, Any]):
        if not isinstance(actions, dict):
            raise ValueError(
                f"{self.scenario_id}: actions must be a dict of agent -> action, "
                f"got {type(actions).__name__}"
            )
        if actions.keys() != self._live:
            self._explain_agents(actions)
        if not self._live:
            if not self._was_reset:
                raise RuntimeError(f"{self.scenario_id}: call reset() before step()")
            return {}, {}, {}, {}, {}  # the episode has ended (see the module docstring)
        try:
            for group in self._groups:
                if group.live:
                    values = [actions[agent] for agent in group.live]
                    if not group.write_if_plain(values):
                        self._explain_actions(actions)  # raises unless every action is valid
                        group.write(values)
            obs, rew, terminated, truncated, info = self.venv.step(self._actions)
        except (TypeError, ValueError, OverflowError):
            # Out-of-range integers and NaN or infinity are caught by the vector env's array
            # checks (before it changes anything); find the agent and name it.
            self._explain_actions(actions)
            raise
        live = self.agents
        episode = info["episodes"][0] if info["episodes"] else None
        respawns = self.venv._respawns
        joined = respawns is not None and respawns.any_born
        if len(self._groups) == 1 and self._groups[0].index is None and live and not joined:
            # One group, every agent live (the common case): each dict built in one call.
            name, agents = self._groups[0].name, self._groups[0].live
            observations = dict(zip(agents, obs[name][0].copy(), strict=True))
            rewards = dict(zip(agents, rew[name][0].tolist(), strict=True))
            terminations = dict(zip(agents, terminated[name][0].tolist(), strict=True))
            truncations = dict(zip(agents, truncated[name][0].tolist(), strict=True))
            return self._finish(live, episode, observations, rewards, terminations, truncations)
        observations, rewards, terminations, truncations = {}, {}, {}, {}
        for group in self._groups:
            agents, name, index = group.live, group.name, group.index
            if not agents:
                continue
            if index is None:  # build the dicts in C
                observations.update(zip(agents, obs[name][0].copy(), strict=True))
                rewards.update(zip(agents, rew[name][0].tolist(), strict=True))
                terminations.update(zip(agents, terminated[name][0].tolist(), strict=True))
                truncations.update(zip(agents, truncated[name][0].tolist(), strict=True))
            else:
                observations.update(zip(agents, obs[name][0, index], strict=True))
                rewards.update(zip(agents, rew[name][0, index].tolist(), strict=True))
                terminations.update(zip(agents, terminated[name][0, index].tolist(), strict=True))
                truncations.update(zip(agents, truncated[name][0, index].tolist(), strict=True))
        if joined:
            live = live + self._join(obs, rew, terminated, truncated, observations, rewards,
                                     terminations, truncations)  # fmt: skip
        return self._finish(live, episode, observations, rewards, terminations, truncations,
                            joined)  # fmt: skip

    def _join(self, obs, rew, terminated, truncated, *out) -> list[str]:
        """The agents that joined at this step (respawns): their slots take their names, and
        their entries go into the step's dicts ``out``. Returns their names."""
        names = []
        for group in self._groups:
            born = self.venv.episode.born.get(group.name)
            if born is None or not born[0].any():
                continue
            spec, lives = self.venv.groups[group.name], self.venv.episode.lives[group.name]
            for i in np.flatnonzero(born[0]):
                agent = spec.life_ids(int(lives[0, i]) - 1)[i]
                group.agent_ids[i] = agent
                names.append(agent)
                casts = (np.copy, float, bool, bool)
                values = (obs, rew, terminated, truncated)
                for target, source, cast in zip(out, values, casts, strict=True):
                    target[agent] = cast(source[group.name][0, i])
        return names

    def _finish(self, live, episode, observations, rewards, terminations, truncations,
                joined=False):  # fmt: skip
        """The infos, the agents left, rendering: the end of ``step``."""
        if episode is None:
            infos = {agent: {} for agent in live}
            if joined or True in terminations.values() or True in truncations.values():
                self._set_agents([a for a in live if not (terminations[a] or truncations[a])])
        else:
            infos = {agent: {"episode": episode} for agent in live}
            self._set_agents([])
        if self.render_mode == "human":
            self.render()
        return observations, rewards, terminations, truncations, infos

    # ------------------------------------------------------------------------------ errors
    def _explain_agents(self, actions: dict[str, Any]) -> None:
        """Raise the error for a dict whose keys are not exactly the live agents: unknown or
        missing agents (extra actions for finished agents are accepted and ignored)."""
        if not self._was_reset:
            raise RuntimeError(f"{self.scenario_id}: call reset() before step()")
        unknown = [a for a in actions if a not in self._where]
        if unknown:
            known = self.possible_agents
            if len(known) > 8:
                known = [known[0], "...", known[-1]]
            raise ValueError(
                f"{self.scenario_id}: unknown agent(s) {', '.join(sorted(map(repr, unknown)))} "
                f"(agents: {', '.join(known)})"
            )
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"{self.scenario_id}: no action for live agent(s) {missing}")
        # What is left are actions for agents that finished: ignored, as the vector env ignores
        # the actions of dead agents (masked clients such as TorchRL's send them).

    def _explain_actions(self, actions: dict[str, Any]) -> None:
        """Raise a one-line ValueError naming the first agent whose action is malformed."""
        for group in self._groups:
            for agent in group.live:
                problem = _action_problem(group, actions[agent])
                if problem is not None:
                    raise ValueError(f"{self.scenario_id}: action for {agent} {problem}")

    # ----------------------------------------------------------------------------- queries
    def state(self) -> np.ndarray:
        return self.venv.state()[0].copy()

    def slot_of(self, agent: str) -> tuple[str, int]:
        """The group and index, in the vector env's arrays, of ``agent`` (any of its lives)."""
        return self._where[agent]

    def action_mask(self, agent: str) -> np.ndarray | None:
        masks = self.venv.action_mask()
        if masks is None:
            return None
        group, i = self._where[agent]
        mask = masks.get(group)  # groups with continuous actions have none
        return None if mask is None else mask[0, i].copy()

    def render(self):
        if self.render_mode is None:
            return None
        frame = self.venv.render(0)
        if self.render_mode == "human":
            if self._window is None:
                from worlds.render import Window

                self._window = Window(self.scenario_id)
            self._window.show(frame)
            return None
        return frame

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None


def _action_problem(group: _Group, action: Any) -> str | None:
    """What is wrong with one agent's action (the end of a sentence), or None when it is valid."""
    space = group.space
    if group.discrete:
        if isinstance(action, np.ndarray) and action.shape == ():
            integer = action.dtype.kind in "iu"
        else:
            bad_types = (bool, np.timedelta64)
            integer = isinstance(action, (int, np.integer)) and not isinstance(action, bad_types)
        rule = f"must be an integer in [0, {space.n}), got {_show(action)}"
        if not integer:
            return rule
        if not 0 <= int(action) < space.n:
            return f"is out of range: {rule}"
        return None
    if not (
        isinstance(action, np.ndarray)
        and action.dtype.kind in "iuf"
        and action.shape == space.shape
    ):
        return (
            f"must be a numpy array of shape {space.shape} with a real dtype ({space}), "
            f"got {_show(action)}"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        finite = bool(np.isfinite(action.astype(group.buffer.dtype)).all())
    if not finite:
        return f"contains NaN or infinity (as {group.buffer.dtype}), got {_show(action)}"
    return None


def _show(value: Any, limit: int = 80) -> str:
    """A one-line description of a value and its type, for error messages."""
    try:
        text = " ".join(repr(value).split())
    except Exception:  # a broken __repr__ must not hide the real error
        text = "<unprintable>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if isinstance(value, np.ndarray):
        return f"{text} (ndarray of {value.dtype}, shape {value.shape})"
    return f"{text} ({type(value).__name__})"


def _rebuild(env_class: type, scenario_class: type, cfg, render_mode: str | None):
    """An unpickled env: a fresh one over the same scenario, config and render mode."""
    return env_class(scenario_class(cfg), render_mode=render_mode)
