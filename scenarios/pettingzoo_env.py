"""PettingZoo ``ParallelEnv`` over one world of a scenario (AEC via ``parallel_to_aec``).

A thin layer over the vector env with ``num_envs=1`` and no auto-reset: the dicts PettingZoo wants
are built from the arrays once per step. Agents that finish leave ``agents`` and never return;
spaces are cached and the same objects on every call.
"""

from __future__ import annotations

import functools
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
        self.metadata = {**self.metadata, "name": scenario.scenario_id.replace("/", "_")}
        self.venv = VectorEnv(scenario, num_envs=1, autoreset=False)
        self.scenario_id = scenario.scenario_id
        self.possible_agents = [a for spec in self.venv.groups.values() for a in spec.agent_ids]
        # (group, index) of each agent, and the agent ids of each group in order.
        self._where = {}
        for group, spec in self.venv.groups.items():
            for i, agent in enumerate(spec.agent_ids):
                self._where[agent] = (group, i)
        self._group_agents = {g: s.agent_ids for g, s in self.venv.groups.items()}
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
        observations = self._split(obs)
        infos = {agent: {} for agent in self.agents}
        if self.render_mode == "human":
            self.render()
        return observations, infos

    def _split(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        out = {}
        for group, agents in self._group_agents.items():
            rows = arrays[group][0]
            for i, agent in enumerate(agents):
                out[agent] = rows[i].copy() if rows.ndim > 1 else rows[i].item()
        return out

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError(f"{self.scenario_id}: every agent is done; call reset()")
        if not isinstance(actions, dict):
            raise ValueError(f"{self.scenario_id}: actions must be a dict of agent -> action")
        unknown = [a for a in actions if a not in self._where]
        if unknown:
            raise ValueError(f"{self.scenario_id}: unknown agent(s) {sorted(unknown)}")
        live = set(self.agents)
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"{self.scenario_id}: no action for live agent(s) {missing}")
        finished = [a for a in actions if a not in live]
        if finished:
            raise ValueError(f"{self.scenario_id}: action for finished agent(s) {sorted(finished)}")
        for agent, action in actions.items():
            group, i = self._where[agent]
            buffer = self._actions[group]
            try:
                buffer[0, i] = action
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"{self.scenario_id}: action for {agent} does not fit "
                    f"{self._action_spaces[agent]}: {action!r}"
                ) from error
            if buffer.dtype.kind == "f" and not np.isfinite(buffer[0, i]).all():
                raise ValueError(f"{self.scenario_id}: action for {agent} contains NaN")
        obs, rew, terminated, truncated, info = self.venv.step(self._actions)
        observations = self._split(obs)
        rewards = self._split(rew)
        terminations = self._split(terminated)
        truncations = self._split(truncated)
        infos = {agent: {} for agent in self.agents}
        if info["episodes"]:
            episode = info["episodes"][0]
            for agent in self.agents:
                infos[agent] = {"episode": episode}
        current = self.agents
        observations = {a: observations[a] for a in current}
        rewards = {a: float(rewards[a]) for a in current}
        terminations = {a: bool(terminations[a]) for a in current}
        truncations = {a: bool(truncations[a]) for a in current}
        self.agents = [a for a in current if not (terminations[a] or truncations[a])]
        if info["episodes"]:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return observations, rewards, terminations, truncations, infos

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
