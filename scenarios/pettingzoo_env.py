"""PettingZoo ``ParallelEnv`` over one world of a scenario (AEC via ``parallel_to_aec``).

A thin layer over the vector env with ``num_envs=1`` and no auto-reset: the dicts PettingZoo wants
are built from the arrays once per step. Agents that finish leave ``agents`` and never return;
spaces are cached and the same objects on every call.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from scenarios.core import Scenario
from scenarios.vector import VectorEnv


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
        self.possible_agents = [a for spec in self.venv.groups.values() for a in spec.agent_ids]
        # (group, index) of each agent, and the agent ids of each group in order.
        self._where = {}
        for group, spec in self.venv.groups.items():
            for i, agent in enumerate(spec.agent_ids):
                self._where[agent] = (group, i)
        self._group_agents = {g: s.agent_ids for g, s in self.venv.groups.items()}
        self.num_agents_total = len(self.possible_agents)
        self._observation_spaces = {
            a: self.venv.groups[g].observation_space for a, (g, _) in self._where.items()
        }
        self._action_spaces = {
            a: self.venv.groups[g].action_space for a, (g, _) in self._where.items()
        }
        self._actions = {}
        for group, spec in self.venv.groups.items():
            space = spec.action_space
            dtype = np.int64 if isinstance(space, spaces.Discrete) else np.float32
            self._actions[group] = np.zeros((1, spec.n_agents, *space.shape), dtype)
        self.state_space = self.venv.state_space
        self.agents: list[str] = []
        self._live: set[str] = set()
        self._window = None

    # Spaces: the same objects on every call.
    @functools.cache  # noqa: B019 - one entry per agent id, lives with the env
    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_spaces[agent]

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> spaces.Space:
        return self._action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs = self.venv.reset(seed=seed)
        self.agents = list(self.possible_agents)
        self._live = set(self.agents)
        observations = self._split(obs)
        infos = {agent: {} for agent in self.agents}
        if self.render_mode == "human":
            self.render()
        return observations, infos

    def _split(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        out = {}
        for group, agents in self._group_agents.items():
            rows = arrays[group][0].copy()
            out.update(zip(agents, rows, strict=True))
        return out

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError(f"{self.scenario_id}: every agent is done; call reset()")
        if not isinstance(actions, dict):
            raise ValueError(f"{self.scenario_id}: actions must be a dict of agent -> action")
        if actions.keys() != self._live:
            self._explain_agents(actions)
        everyone = len(self.agents) == self.num_agents_total
        for group, agents in self._group_agents.items():
            buffer = self._actions[group]
            try:
                if everyone:
                    buffer[0] = [actions[agent] for agent in agents]
                else:
                    for i, agent in enumerate(agents):
                        if agent in self._live:
                            buffer[0, i] = actions[agent]
            except (TypeError, ValueError):
                self._explain_action(group, actions)
                raise
        try:
            obs, rew, terminated, truncated, info = self.venv.step(self._actions)
        except ValueError:
            for group in self._group_agents:
                self._explain_action(group, actions)
            raise
        live = self.agents
        episode = info["episodes"][0] if info["episodes"] else None
        if everyone:  # build the dicts in C
            observations, rewards, terminations, truncations = {}, {}, {}, {}
            for group, agents in self._group_agents.items():
                observations.update(zip(agents, obs[group][0].copy(), strict=True))
                rewards.update(zip(agents, rew[group][0].tolist(), strict=True))
                terminations.update(zip(agents, terminated[group][0].tolist(), strict=True))
                truncations.update(zip(agents, truncated[group][0].tolist(), strict=True))
            infos = {agent: ({"episode": episode} if episode else {}) for agent in live}
        else:
            observations, rewards, terminations, truncations, infos = {}, {}, {}, {}, {}
            for group, agents in self._group_agents.items():
                values = zip(
                    agents,
                    obs[group][0].copy(),
                    rew[group][0].tolist(),
                    terminated[group][0].tolist(),
                    truncated[group][0].tolist(),
                    strict=True,
                )
                for agent, row, reward, term, trunc in values:
                    if agent in self._live:
                        observations[agent] = row
                        rewards[agent] = reward
                        terminations[agent] = term
                        truncations[agent] = trunc
                        infos[agent] = {"episode": episode} if episode else {}
        if episode is not None:
            self.agents = []
        else:
            self.agents = [a for a in live if not (terminations[a] or truncations[a])]
        self._live = set(self.agents)
        if self.render_mode == "human":
            self.render()
        return observations, rewards, terminations, truncations, infos

    def _explain_agents(self, actions: dict[str, Any]) -> None:
        unknown = [a for a in actions if a not in self._where]
        if unknown:
            raise ValueError(f"{self.scenario_id}: unknown agent(s) {sorted(unknown)}")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"{self.scenario_id}: no action for live agent(s) {missing}")
        finished = sorted(a for a in actions if a not in self._live)
        raise ValueError(f"{self.scenario_id}: action for finished agent(s) {finished}")

    def _explain_action(self, group: str, actions: dict[str, Any]) -> None:
        """Find the agent whose action is malformed and raise a ValueError naming it."""
        space = self.venv.groups[group].action_space
        for agent in self._group_agents[group]:
            if agent not in self._live:
                continue
            action = np.asarray(actions[agent])
            if action.shape != space.shape:
                raise ValueError(
                    f"{self.scenario_id}: action for {agent} must have shape {space.shape} "
                    f"({space}), got {action!r}"
                )
            if action.dtype.kind == "f" and not np.isfinite(action).all():
                raise ValueError(f"{self.scenario_id}: action for {agent} contains NaN")
            if isinstance(space, spaces.Discrete) and not 0 <= int(action) < space.n:
                raise ValueError(
                    f"{self.scenario_id}: action for {agent} out of range [0, {space.n}): "
                    f"{int(action)}"
                )

    def state(self) -> np.ndarray:
        return self.venv.state()[0].copy()

    def action_mask(self, agent: str) -> np.ndarray | None:
        masks = self.venv.action_mask()
        if masks is None:
            return None
        group, i = self._where[agent]
        return masks[group][0, i].copy()

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
