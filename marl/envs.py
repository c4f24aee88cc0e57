"""Environment factory for the learners, and the generic PettingZoo ``ParallelEnv`` adapter.

``make_env(id, num_envs, seed, **config)`` returns an object with the vector-env contract of
``scenarios.make_vec`` (groups, state_space, reset, step with auto-reset, state, action_mask,
alive, close). Ids of the form ``pz:package.module`` (for example ``pz:mpe2.simple_spread_v3``)
build ``num_envs`` copies of ``package.module.parallel_env(**config)`` behind
:class:`PettingZooVecEnv`; every other id goes to ``scenarios.make_vec``.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import gymnasium as gym
import numpy as np

from policies import Policy
from scenarios.core import GroupSpec

PETTINGZOO_PREFIX = "pz:"


def make_env(env_id: str, num_envs: int, seed: int | None, **config: Any):
    """Build the vector env for ``env_id`` (a registered scenario, or ``pz:module``)."""
    if env_id.startswith(PETTINGZOO_PREFIX):
        return make_pettingzoo(env_id, num_envs, seed, **config)
    import scenarios  # reached only by id, as the package layering asks

    return scenarios.make_vec(env_id, num_envs=num_envs, seed=seed, **config)


def scripted_baseline(venv) -> Policy | None:
    """The scripted baseline of ``venv``'s scenario as a Policy (None for a ``pz:`` env or a
    scenario without one)."""
    scenario = getattr(venv, "scenario", None)
    scripted = scenario.scripted_policy() if scenario is not None else None
    if scripted is not None and not isinstance(scripted, Policy):
        raise TypeError(
            f"{venv.scenario_id}: its scripted baseline {type(scripted).__name__} is not a Policy "
            "(groups, act, reset)"
        )
    return scripted


def make_pettingzoo(
    env_id: str, num_envs: int, seed: int | None, autoreset: bool = True, **config: Any
) -> PettingZooVecEnv:
    """``num_envs`` copies of ``module.parallel_env(**config)`` for ``env_id = "pz:module"``.

    The module is imported because the caller named it; nothing read from a file should reach
    here unless the user named the same id (``marl train --resume`` checks that).
    """
    module_name = env_id[len(PETTINGZOO_PREFIX) :]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"{env_id}: cannot import PettingZoo module ({error})") from None
    if not hasattr(module, "parallel_env"):
        raise ValueError(f"{env_id}: module has no parallel_env()")

    def env_fn():
        try:
            return module.parallel_env(**config)
        except TypeError as error:  # an unknown or misspelt config field
            raise ValueError(f"{env_id}: {error}") from None

    return PettingZooVecEnv(env_fn, num_envs=num_envs, seed=seed, autoreset=autoreset)


def group_agents(agent_ids: list[str], obs_spaces, act_spaces) -> dict[str, list[str]]:
    """Group ``name_i`` agents by ``name`` when they share spaces; otherwise one group each."""
    groups: dict[str, list[str]] = {}
    for agent in agent_ids:
        match = re.fullmatch(r"(.+?)_(\d+)", agent)
        name = re.sub(r"\W", "_", match.group(1) if match else agent)
        groups.setdefault(name, []).append(agent)
    result: dict[str, list[str]] = {}
    for name, members in groups.items():
        first = members[0]
        same = all(
            obs_spaces[a] == obs_spaces[first] and act_spaces[a] == act_spaces[first]
            for a in members
        )
        if same:
            result[name] = members
        else:
            for agent in members:
                result[re.sub(r"\W", "_", agent)] = [agent]
    return result


class PettingZooVecEnv:
    """``num_envs`` PettingZoo ``ParallelEnv`` copies behind the array vector-env contract.

    Agents are grouped by id prefix (``agent_0, agent_1`` -> group ``agent``), each group a
    ``scenarios.GroupSpec`` with its name and agent ids and no observation layout; groups may have
    different spaces (``adversary`` and ``agent`` in MPE's simple_tag), discrete or continuous.
    Agents that leave ``env.agents`` early are dead: zero observation and reward, ``alive``
    False, actions ignored. A copy whose agents are all gone is reset in place (unless
    ``autoreset`` is off, as for rendering one episode). The global state is ``env.state()`` when
    the environment provides it, else the concatenation of all agents' observations.
    ``state()`` is never called on a copy whose episode has ended (some environments, such as
    SISL's multiwalker, raise there): an ended episode's ``final_state`` is the state read before
    its last step.
    """

    def __init__(
        self, env_fn, num_envs: int, seed: int | None = None, autoreset: bool = True
    ) -> None:
        self.envs = [env_fn() for _ in range(num_envs)]
        self.num_envs = num_envs
        self.autoreset = autoreset
        # Called with the id of a copy whose episode just ended, before it restarts (a
        # renderer takes its last frame here, ``marl.eval``); None: nothing is called.
        self.on_episode_end = None
        self._seed = seed
        # The index of copy 0 in a larger batch that this one is a share of (a rollout
        # worker's copies, ``marl.workers``): a seeded reset gives copy i ``seed + first + i``.
        self.first_world = 0
        first = self.envs[0]
        self.agent_ids = list(first.possible_agents)
        obs_spaces = {a: first.observation_space(a) for a in self.agent_ids}
        act_spaces = {a: first.action_space(a) for a in self.agent_ids}
        for agent, space in obs_spaces.items():
            if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
                raise ValueError(f"agent {agent}: only 1-D Box observations, got {space}")
        members = group_agents(self.agent_ids, obs_spaces, act_spaces)
        self.groups = {
            name: GroupSpec(
                name, len(ids), obs_spaces[ids[0]], act_spaces[ids[0]], agents=tuple(ids)
            )
            for name, ids in members.items()
        }
        self._has_state = callable(getattr(first, "state", None))
        if self._has_state:
            try:
                first.reset(seed=seed)
                state_dim = int(np.asarray(first.state()).size)
            except NotImplementedError:
                self._has_state = False
        if not self._has_state:
            state_dim = sum(int(np.prod(s.shape)) for s in obs_spaces.values())
        self.state_space = gym.spaces.Box(-np.inf, np.inf, (state_dim,), np.float32)
        self._last_state = np.zeros((num_envs, state_dim), np.float32)
        b = num_envs
        self._obs = {
            g: np.zeros((b, s.n_agents, s.observation_space.shape[0]), np.float32)
            for g, s in self.groups.items()
        }
        self._alive = {g: np.zeros((b, s.n_agents), bool) for g, s in self.groups.items()}
        self._returns = {g: np.zeros((b, s.n_agents), np.float64) for g, s in self.groups.items()}
        self._lengths = np.zeros(b, np.int64)
        self._where = {a: (g, i) for g, s in self.groups.items() for i, a in enumerate(s.agent_ids)}

    def _write_obs(self, env_index: int, obs: dict, target: dict[str, np.ndarray]) -> None:
        for arr in target.values():
            arr[env_index] = 0.0
        for agent, value in obs.items():
            group, i = self._where[agent]
            target[group][env_index, i] = value

    def _reset_one(self, env_index: int, seed: int | None) -> None:
        obs, _ = self.envs[env_index].reset(seed=seed)
        self._write_obs(env_index, obs, self._obs)
        live = set(self.envs[env_index].agents)
        for group, spec in self.groups.items():
            self._alive[group][env_index] = [a in live for a in spec.agent_ids]
            self._returns[group][env_index] = 0.0
        self._lengths[env_index] = 0

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Reset every copy (copy ``i`` with ``seed + first_world + i`` when a seed is given)."""
        base = self._seed if seed is None else seed + self.first_world
        self._seed = None  # the constructor seed applies to the first reset only
        for i in range(self.num_envs):
            self._reset_one(i, None if base is None else base + i)
        return {g: o.copy() for g, o in self._obs.items()}

    def step(self, actions: dict[str, np.ndarray]):
        """Step every copy; ended copies are reset in place (see the module docstring)."""
        b = self.num_envs
        rew = {g: np.zeros((b, s.n_agents), np.float32) for g, s in self.groups.items()}
        term = {g: np.zeros((b, s.n_agents), bool) for g, s in self.groups.items()}
        trunc = {g: np.zeros((b, s.n_agents), bool) for g, s in self.groups.items()}
        final_obs = {g: np.zeros_like(o) for g, o in self._obs.items()}
        final_state = np.zeros((b, self.state_space.shape[0]), np.float32)
        episodes = []
        for group, spec in self.groups.items():
            if group not in actions:
                raise ValueError(f"actions has no group {group!r}")
            expected = (b, spec.n_agents)
            if np.shape(actions[group])[:2] != expected:
                raise ValueError(f"group {group}: actions shape {np.shape(actions[group])}")
        for i, env in enumerate(self.envs):
            if not env.agents:  # an ended episode left in place (autoreset off)
                continue
            joint = {}
            for agent in env.agents:
                group, k = self._where[agent]
                value = actions[group][i, k]
                joint[agent] = int(value) if np.ndim(value) == 0 else np.asarray(value)
            obs, r, te, tr, _ = env.step(joint)
            self._lengths[i] += 1
            self._write_obs(i, obs, self._obs)
            for agent in r:
                group, k = self._where[agent]
                rew[group][i, k] = r[agent]
                term[group][i, k] = te.get(agent, False)
                trunc[group][i, k] = tr.get(agent, False)
            for group in self.groups:
                self._returns[group][i] += rew[group][i]
                self._alive[group][i] &= ~(term[group][i] | trunc[group][i])
            if not env.agents:
                for group in self.groups:
                    final_obs[group][i] = self._obs[group][i]
                final_state[i] = self._final_state_one(i)
                episodes.append(
                    {
                        "env_id": i,
                        "length": int(self._lengths[i]),
                        "return": {g: float(self._returns[g][i].mean()) for g in self.groups},
                        "reward_terms": {},
                        "metrics": {},
                    }
                )
                if self.on_episode_end is not None:
                    self.on_episode_end(np.array([i], np.int64))
                if self.autoreset:
                    self._reset_one(i, None)
        info = {"final_obs": final_obs, "final_state": final_state, "episodes": episodes}
        obs_out = {g: o.copy() for g, o in self._obs.items()}
        return obs_out, rew, term, trunc, info

    def _state_one(self, env_index: int) -> np.ndarray:
        if not self._has_state:
            return np.concatenate([self._obs[g][env_index].reshape(-1) for g in self.groups])
        if not self.envs[env_index].agents:
            return self._last_state[env_index]
        state = np.asarray(self.envs[env_index].state(), np.float32).reshape(-1)
        self._last_state[env_index] = state
        return state

    def _final_state_one(self, env_index: int) -> np.ndarray:
        """The state of a copy whose episode just ended, without calling its ``state()``."""
        if not self._has_state:
            return self._state_one(env_index)
        return self._last_state[env_index].copy()

    def state(self) -> np.ndarray:
        """Global state ``(B, state_dim)``."""
        return np.stack([self._state_one(i) for i in range(self.num_envs)]).astype(np.float32)

    def render(self, env_index: int = 0, size: int = 480) -> np.ndarray:
        """Copy ``env_index`` as an RGB array ``(size, size, 3)``, drawn by the environment
        itself (built with ``render_mode="rgb_array"``)."""
        from PIL import Image

        frame = np.asarray(self.envs[env_index].render(), dtype=np.uint8)
        if frame.ndim != 3:
            raise ValueError("render() returned no RGB frame: build with render_mode='rgb_array'")
        return np.asarray(Image.fromarray(frame[..., :3]).resize((size, size)))

    def action_mask(self) -> None:
        """The generic adapter exposes no action masks."""
        return None

    @property
    def alive(self) -> dict[str, np.ndarray]:
        return {g: a.copy() for g, a in self._alive.items()}

    def close(self) -> None:
        for env in self.envs:
            env.close()
