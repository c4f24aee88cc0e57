"""Rollouts: run the policy on the vector env and record what the PPO update needs.

``collect_rollout`` runs ``num_steps`` vector steps (one forward per learning group per step,
batched over worlds and agents). Groups assigned to a fixed policy (``marl train --fixed``) act
through that policy and are not recorded: the rollout holds the learning groups only.

IPPO: each group's critic reads the agent's own observation. MAPPO: it reads the scenario's global
``state()`` (agent-specific when the env returns ``(B, N, state_dim)`` or a dict per group), with
the agent's one-hot id appended when ``agent_id`` is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from policies import NetworkPolicy, Policy


@dataclass
class GroupRollout:
    """One group's rollout, every tensor ``(T, B, N, ...)`` on CPU."""

    obs: torch.Tensor
    critic_in: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor  # critic outputs (normalized units)
    rewards: torch.Tensor
    dones: torch.Tensor  # 1.0 where the agent's episode ended at this step
    alive: torch.Tensor  # 1.0 where the agent acted at this step
    bootstrap: torch.Tensor  # critic output for the final obs where truncated (not terminated)
    truncated: torch.Tensor  # 1.0 where truncated and not terminated
    masks: torch.Tensor | None
    next_value: torch.Tensor  # (B, N) critic output after the last step
    starts: torch.Tensor  # 1.0 where the agent's episode (and GRU state) starts at this step
    hidden: torch.Tensor | None  # (T, B, N, R) GRU state before each step (recurrent actors)


@dataclass
class Rollout:
    """What a collector returns: per-group tensors and the finished episodes' records."""

    groups: dict[str, GroupRollout]
    episodes: list[dict]
    agent_steps: int


def critic_input(algo: str, group: str, obs: np.ndarray, state: Any) -> np.ndarray:
    """The critic's input ``(B, N, C)``: own obs (IPPO) or the (broadcast) global state (MAPPO)."""
    if algo == "ippo":
        return obs
    if isinstance(state, dict):
        state = state[group]
    if state.ndim == 2:
        return np.broadcast_to(state[:, None, :], (*obs.shape[:2], state.shape[-1]))
    return state


def critic_dim(algo: str, obs_dim: int, state_dim: int) -> int:
    """Size of the critic input for ``algo``."""
    return obs_dim if algo == "ippo" else state_dim


def allocate_rollout(
    venv, algo: str, num_steps: int, pin: bool, recurrent: int = 0, *, groups=None
) -> dict[str, GroupRollout]:
    """Preallocate the rollout tensors of ``groups`` (the learning groups' names; every group of
    ``venv`` when None), pinned when the update runs on CUDA."""
    t, b = num_steps, venv.num_envs
    state_dim = venv.state_space.shape[-1]
    masks = venv.action_mask()

    def zeros(*shape, dtype=torch.float32):
        tensor = torch.zeros(shape, dtype=dtype)
        return tensor.pin_memory() if pin else tensor

    out = {}
    for name in venv.groups if groups is None else groups:
        spec = venv.groups[name]
        n, d = spec.n_agents, spec.observation_space.shape[0]
        discrete = hasattr(spec.action_space, "n")
        act_shape = () if discrete else (int(np.prod(spec.action_space.shape)),)
        mask = masks.get(name) if masks is not None else None
        out[name] = GroupRollout(
            obs=zeros(t, b, n, d),
            critic_in=zeros(t, b, n, critic_dim(algo, d, state_dim)),
            actions=zeros(t, b, n, *act_shape, dtype=torch.int64 if discrete else torch.float32),
            log_probs=zeros(t, b, n),
            values=zeros(t, b, n),
            rewards=zeros(t, b, n),
            dones=zeros(t, b, n),
            alive=zeros(t, b, n),
            bootstrap=zeros(t, b, n),
            truncated=zeros(t, b, n),
            masks=None if mask is None else zeros(t, b, n, mask.shape[-1], dtype=torch.bool),
            next_value=zeros(b, n),
            starts=zeros(t, b, n),
            hidden=zeros(t, b, n, recurrent) if recurrent > 0 else None,
        )
    return out


def initial_memory(venv, recurrent: int, groups=None) -> dict[str, dict[str, torch.Tensor | None]]:
    """What a collector carries between steps: GRU state and episode-start flags per group (of
    ``groups``, the learning groups' names; every group of ``venv`` when None)."""
    memory = {}
    for name in venv.groups if groups is None else groups:
        spec = venv.groups[name]
        rows = venv.num_envs * spec.n_agents
        memory[name] = {
            "hidden": torch.zeros(rows, recurrent) if recurrent > 0 else None,
            "starts": torch.ones(venv.num_envs, spec.n_agents),
        }
    return memory


@torch.no_grad()
def critic_values(
    policy: NetworkPolicy, group: str, critic_in: np.ndarray | torch.Tensor
) -> torch.Tensor:
    """Critic outputs ``(B, N)`` for a critic input ``(B, N, C)`` (numpy, or a float32 tensor).
    A numpy input broadcast over its agents (MAPPO's global state) is evaluated once per world
    when the critic reads no agent id (the same rows, so the same values)."""
    module = policy.groups[group]
    b, n = critic_in.shape[:2]
    if isinstance(critic_in, np.ndarray):
        if n > 1 and critic_in.strides[1] == 0 and not module.cfg.agent_id:
            rows = torch.from_numpy(np.array(critic_in[:, 0], dtype=np.float32))
            return module.value(rows, None).unsqueeze(1).expand(b, n)
        dense = np.ascontiguousarray(critic_in, dtype=np.float32)
        critic_in = torch.from_numpy(dense if dense.flags.writeable else dense.copy())
    x = critic_in.reshape(b * n, -1)
    return module.value(x, policy.agent_index(group, b)).view(b, n)


def collect_rollout(
    venv,
    policy: NetworkPolicy,
    obs: dict[str, np.ndarray],
    buffers: dict[str, GroupRollout],
    algo: str,
    memory: dict[str, dict[str, torch.Tensor | None]],
    action_log: list[dict[str, np.ndarray]] | None = None,
    fixed: Policy | None = None,
) -> tuple[Rollout, dict[str, np.ndarray]]:
    """Run ``policy`` (on CPU) for ``T`` vector steps from ``obs``; fill ``buffers`` in place.

    ``policy`` acts for the groups of ``buffers``; ``fixed`` (a Policy, greedy) for the others,
    and is reset for the worlds whose episodes end. ``memory`` (from :func:`initial_memory`) is
    updated in place. Each step's environment actions are appended to ``action_log`` when given
    (what an exact resume replays). Returns the rollout and the observation to continue from.
    """
    num_steps = next(iter(buffers.values())).obs.shape[0]
    episodes: list[dict] = []
    for t in range(num_steps):
        state = venv.state() if algo != "ippo" else None
        masks = venv.action_mask()
        actions = act_and_record(policy, buffers, memory, t, obs, state, masks, venv.alive, algo)
        if fixed is not None:
            actions.update(fixed_actions(fixed, venv.groups, obs, masks))
            actions = {g: actions[g] for g in venv.groups}
        if action_log is not None:
            action_log.append({g: np.array(a, copy=True) for g, a in actions.items()})
        obs, rew, terminated, truncated, info = venv.step(actions)
        ended = info.get("episodes", ())
        episodes.extend(ended)
        if fixed is not None and ended:
            fixed.reset(np.array([episode["env_id"] for episode in ended], np.int64))
        record_outcome(policy, buffers, memory, t, (rew, terminated, truncated, info), algo)
    state = venv.state() if algo != "ippo" else None
    for group, buf in buffers.items():
        c_in = critic_input(algo, group, obs[group], state)
        buf.next_value.copy_(critic_values(policy, group, c_in))
    agents = sum(venv.groups[g].n_agents for g in buffers)
    return Rollout(dict(buffers), episodes, num_steps * venv.num_envs * agents), obs


def fixed_actions(
    fixed: Policy, groups: dict[str, Any], obs: dict[str, np.ndarray], masks: Any
) -> dict[str, np.ndarray]:
    """The fixed groups' greedy actions, in the dtype their spaces take (int64 or float32), so
    that the action log of a checkpoint holds the same arrays whatever policy plays them."""
    actions = fixed.act(obs, masks, deterministic=True)
    return {
        g: np.asarray(a, np.int64 if hasattr(groups[g].action_space, "n") else np.float32)
        for g, a in actions.items()
    }


def arrays(buf: GroupRollout) -> dict[str, np.ndarray]:
    """Numpy views of a rollout's CPU tensors (made once per rollout buffer): a step's writes
    go through numpy, about a microsecond each, not torch's indexing and ``copy_``."""
    views = buf.__dict__.get("_arrays")
    if views is None:
        views = {
            name: getattr(buf, name).numpy()
            for name in GroupRollout.__dataclass_fields__
            if getattr(buf, name) is not None
        }
        buf.__dict__["_arrays"] = views
    return views


def act_and_record(policy, buffers, memory, t, obs, state, masks, alive, algo):
    """The learning groups' step ``t``: sample actions and record the inputs, actions,
    log-probabilities, values and alive flags; returns the environment actions."""
    actions = {}
    for group, buf in buffers.items():
        out = arrays(buf)
        out["obs"][t] = obs[group]
        obs_t = torch.from_numpy(out["obs"][t])
        mask = None
        if buf.masks is not None:
            out["masks"][t] = masks[group]
            mask = torch.from_numpy(out["masks"][t])
        carry = memory[group]
        out["starts"][t] = carry["starts"].numpy()
        if buf.hidden is not None:
            buf.hidden[t].copy_(carry["hidden"].view(buf.hidden.shape[1:]))
        raw, log_prob, env_action, carry["hidden"] = policy.sample(
            group, obs_t, mask, hidden=carry["hidden"]
        )
        out["actions"][t] = raw.numpy()
        out["log_probs"][t] = log_prob.numpy()
        c_in = critic_input(algo, group, obs[group], state)
        out["critic_in"][t] = c_in
        shared = c_in.strides[1] == 0  # MAPPO's global state: the critic runs once per world
        c_rows = c_in if shared else torch.from_numpy(out["critic_in"][t])
        out["values"][t] = critic_values(policy, group, c_rows).numpy()
        out["alive"][t] = alive[group]
        actions[group] = env_action.numpy()
    return actions


def record_outcome(policy, buffers, memory, t, outcome, algo) -> None:
    """Record step ``t``'s rewards and episode ends; bootstrap truncated episodes with the
    critic's value of their final observation; clear the GRU state of ended episodes."""
    rew, terminated, truncated, info = outcome
    for group, buf in buffers.items():
        out = arrays(buf)
        term, trunc = terminated[group], truncated[group]
        out["rewards"][t] = rew[group]
        out["dones"][t] = term | trunc
        done = torch.from_numpy(out["dones"][t].copy())
        carry = memory[group]
        carry["starts"] = done
        if carry["hidden"] is not None:
            carry["hidden"] = carry["hidden"] * (1.0 - done).reshape(-1, 1)
        cut = trunc & ~term
        out["truncated"][t] = cut
        if cut.any():
            final_state = info.get("final_state")
            c_in = critic_input(algo, group, info["final_obs"][group], final_state)
            out["bootstrap"][t] = critic_values(policy, group, c_in).numpy()
        else:
            out["bootstrap"][t] = 0.0


def merge_rollouts(parts: list[GroupRollout]) -> GroupRollout:
    """One group rollout from several slots' (concatenated along the world axis)."""
    if len(parts) == 1:
        return parts[0]
    values = {}
    for name in GroupRollout.__dataclass_fields__:
        items = [getattr(p, name) for p in parts]
        if items[0] is None:
            values[name] = None
        else:
            values[name] = torch.cat(items, dim=0 if name == "next_value" else 1)
    return GroupRollout(**values)
