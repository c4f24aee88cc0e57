"""The learner's policy: one actor-critic per group, acting on batched observation dicts.

A :class:`NetworkPolicy` is built from a plain spec (groups, spaces, entity sets, network
config), so a checkpoint can rebuild it without any training or scenario code. It implements the
:class:`policies.protocol.Policy` protocol.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from policies.distributions import (
    categorical_sample,
    gaussian_log_prob,
    gaussian_sample,
    mask_logits,
    to_env_action,
)
from policies.inference import sample_discrete
from policies.networks import GroupActorCritic, NetConfig


def space_to_dict(space: gym.Space) -> dict[str, Any]:
    """JSON description of a Discrete or 1-D Box space (bounds kept only when finite)."""
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n)}
    if isinstance(space, gym.spaces.Box):
        finite = bool(np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high)))
        return {
            "type": "Box",
            "shape": [int(s) for s in space.shape],
            "low": space.low.astype(float).tolist() if finite else None,
            "high": space.high.astype(float).tolist() if finite else None,
        }
    raise TypeError(f"unsupported space {space!r}: only Discrete and 1-D Box")


class PolicyMismatchError(ValueError):
    """A policy does not fit an environment's groups or spaces; the message names the group."""


def describe_space(space: Any) -> str:
    """``Box(18,)`` or ``Discrete(5)`` for a space or its JSON description."""
    if isinstance(space, gym.Space):
        space = space_to_dict(space)
    if isinstance(space, dict) and space.get("type") == "Box":
        return f"Box{tuple(space['shape'])}"
    if isinstance(space, dict) and space.get("type") == "Discrete":
        return f"Discrete({space['n']})"
    return str(space)


def _same_action_space(saved: dict, given: dict) -> bool:
    if saved["type"] != given["type"]:
        return False
    if saved["type"] == "Discrete":
        return saved["n"] == given["n"]
    if list(saved["shape"]) != list(given["shape"]):
        return False
    if saved.get("low") is None or given.get("low") is None:
        return True
    return np.allclose(saved["low"], given["low"]) and np.allclose(saved["high"], given["high"])


def group_spec(
    n_agents: int,
    obs_space: gym.Space,
    act_space: gym.Space,
    critic_dim: int,
    sets: list[dict[str, Any]] | None = None,
) -> dict:
    """The spec entry of one group: agent count, spaces, the critic input size and the entity
    sets of its observation (plain ``{name, start, count, features, valid_start}`` records, as
    ``scenarios.layout.EntitySet.to_dict`` writes them; only the set encoder reads them)."""
    return {
        "n_agents": int(n_agents),
        "observation_space": space_to_dict(obs_space),
        "action_space": space_to_dict(act_space),
        "critic_dim": int(critic_dim),
        "sets": [dict(s) for s in sets or []],
    }


def build_group_module(spec: dict, net: NetConfig) -> GroupActorCritic:
    """Build one group's actor-critic from its spec entry."""
    obs_dim = int(np.prod(spec["observation_space"]["shape"]))
    act = spec["action_space"]
    sets = spec.get("sets") or []
    if act["type"] == "Discrete":
        return GroupActorCritic(
            obs_dim, spec["critic_dim"], spec["n_agents"], "discrete", act["n"], net, sets=sets
        )
    low = None if act["low"] is None else np.asarray(act["low"], dtype=np.float32)
    high = None if act["high"] is None else np.asarray(act["high"], dtype=np.float32)
    return GroupActorCritic(
        obs_dim,
        spec["critic_dim"],
        spec["n_agents"],
        "continuous",
        int(np.prod(act["shape"])),
        net,
        low,
        high,
        sets,
    )


class NetworkPolicy(nn.Module):
    """Per-group actor-critics: the learner's policy and what a checkpoint loads.

    ``groups`` maps each group name to its :class:`GroupActorCritic` (iterating it gives the
    names, as the :class:`policies.protocol.Policy` protocol asks). ``act`` maps observation
    dicts to action dicts (numpy in and out) and keeps a recurrent actor's state per world
    until :meth:`reset`.
    """

    def __init__(self, spec: dict) -> None:
        super().__init__()
        self.spec = spec
        self.net_config = NetConfig.from_dict(spec["network"])
        self.groups = nn.ModuleDict(
            {name: build_group_module(g, self.net_config) for name, g in spec["groups"].items()}
        )
        self._agent_index: dict[tuple[str, int], torch.Tensor] = {}
        self._act_hidden: dict[str, torch.Tensor] = {}

    @property
    def scenario_id(self) -> str | None:
        """Scenario id the policy was trained on (from the spec)."""
        return self.spec.get("scenario")

    @property
    def scenario_config(self) -> dict:
        """Scenario config overrides the policy was trained with (from the spec)."""
        return dict(self.spec.get("scenario_config") or {})

    def check_groups(self, groups: dict[str, Any], where: str = "the environment") -> None:
        """Raise :class:`PolicyMismatchError` (one line: group, expected, got) unless ``groups``
        (name -> object with ``n_agents``, ``observation_space``, ``action_space``) fits."""
        if set(groups) != set(self.groups):
            raise PolicyMismatchError(
                f"policy has groups {sorted(self.groups)}, {where} has {sorted(groups)}"
            )
        for name, spec in groups.items():
            saved = self.spec["groups"][name]
            obs = space_to_dict(spec.observation_space)
            if list(obs.get("shape", [])) != list(saved["observation_space"]["shape"]):
                raise PolicyMismatchError(
                    f"group {name!r}: policy expects observations "
                    f"{describe_space(saved['observation_space'])}, {where} gives "
                    f"{describe_space(obs)}"
                )
            act = space_to_dict(spec.action_space)
            if not _same_action_space(saved["action_space"], act):
                raise PolicyMismatchError(
                    f"group {name!r}: policy expects actions "
                    f"{describe_space(saved['action_space'])}, {where} takes {describe_space(act)}"
                )
            if self.net_config.agent_id and spec.n_agents != saved["n_agents"]:
                raise PolicyMismatchError(
                    f"group {name!r}: policy was trained with agent ids for "
                    f"{saved['n_agents']} agents, {where} has {spec.n_agents}"
                )

    def restricted_to(self, groups: list[str]) -> NetworkPolicy:
        """A policy for ``groups`` only, with this one's weights for them (a fixed opponent
        taken from a run that trained more groups)."""
        spec = dict(self.spec, groups={g: self.spec["groups"][g] for g in groups})
        policy = NetworkPolicy(spec).to(self.device)
        prefixes = tuple(f"groups.{g}." for g in groups)
        state = {k: v for k, v in self.state_dict().items() if k.startswith(prefixes)}
        policy.load_state_dict(state)
        return policy.train(self.training)

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        """Forget the GRU state that :meth:`act` keeps for worlds ``env_ids`` (all when None)."""
        if env_ids is None:
            self._act_hidden.clear()
            return
        rows = torch.as_tensor(np.asarray(env_ids, dtype=np.int64).reshape(-1))
        for hidden in self._act_hidden.values():
            hidden[rows.to(hidden.device)] = 0.0

    @property
    def device(self) -> torch.device:
        # A buffer-free lookup: the first actor layer's weight lives where the module lives.
        first = next(iter(self.groups.values()))
        return first.critic[0].weight.device

    def agent_index(self, group: str, batch: int) -> torch.Tensor:
        """Flat agent indices ``[0..N-1] * batch`` for ``(batch, N)`` rows (cached)."""
        key = (group, batch)
        index = self._agent_index.get(key)
        if index is None or index.device != self.device:
            n = self.groups[group].n_agents
            index = torch.arange(n, device=self.device).repeat(batch)
            self._agent_index[key] = index
        return index

    @torch.no_grad()
    def sample(
        self,
        group: str,
        obs: torch.Tensor,
        mask: torch.Tensor | None = None,
        deterministic: bool = False,
        hidden: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Act for ``obs (B, N, D)``: raw actions, their log-probs, env actions, next GRU state.

        ``hidden`` is the GRU state ``(B * N, R)`` of recurrent policies (None: zeros).
        """
        module = self.groups[group]
        batch, n = obs.shape[0], obs.shape[1]
        index = self.agent_index(group, batch)
        if module.action_kind == "discrete" and obs.dtype == torch.float32:
            fast = module.numpy_mlp("actor")  # acting in numpy (policies.inference)
            if fast is not None and obs.device.type == "cpu":
                logits = fast(obs.reshape(batch * n, -1).numpy(), index.numpy())
                flat = None if mask is None else mask.reshape(batch * n, -1).numpy()
                action, log_prob = sample_discrete(logits, flat, deterministic)
                raw = torch.from_numpy(action).view(batch, n)
                return raw, torch.from_numpy(log_prob).view(batch, n), raw, None
        out, hidden = module.actor_out(obs.reshape(batch * n, -1), index, hidden)
        if module.action_kind == "discrete":
            flat_mask = None if mask is None else mask.reshape(batch * n, -1)
            logits = mask_logits(out, flat_mask)
            raw = logits.argmax(-1) if deterministic else categorical_sample(logits)
            log_prob = torch.log_softmax(logits, -1).gather(-1, raw.unsqueeze(-1)).squeeze(-1)
            return raw.view(batch, n), log_prob.view(batch, n), raw.view(batch, n), hidden
        log_std = module.log_std.expand_as(out)
        raw = out if deterministic else gaussian_sample(out, log_std)
        log_prob = gaussian_log_prob(out, log_std, raw, module.squash)
        env_action = to_env_action(raw, module.action_low, module.action_high, module.squash)
        shape = (batch, n, -1)
        return raw.view(shape), log_prob.view(batch, n), env_action.view(shape), hidden

    @torch.no_grad()
    def act(
        self,
        obs: dict[str, np.ndarray],
        action_mask: dict[str, np.ndarray] | None = None,
        deterministic: bool = True,
    ) -> dict[str, np.ndarray]:
        """Actions per group for ``obs (B, N, obs_dim)``: int64 ``(B, N)`` or float32 ``(B, N, A)``.

        ``action_mask`` (group -> bool ``(B, N, n_actions)``) excludes invalid discrete actions.
        Recurrent policies keep their GRU state ``(B, N, R)`` per group between calls: call
        :meth:`reset` with the worlds whose episodes ended.
        """
        actions = {}
        for group in self.groups:
            if group not in obs:
                raise KeyError(f"observation dict has no group {group!r} (has {sorted(obs)})")
            x = torch.as_tensor(np.asarray(obs[group], dtype=np.float32), device=self.device)
            if x.dim() != 3:
                raise ValueError(f"group {group!r}: obs must be (B, N, obs_dim), got {x.shape}")
            size = self.spec["groups"][group]["observation_space"]["shape"][0]
            if x.shape[2] != size:
                raise PolicyMismatchError(
                    f"group {group!r}: policy expects observations Box({size},), "
                    f"got Box({x.shape[2]},)"
                )
            if self.net_config.agent_id and x.shape[1] != self.groups[group].n_agents:
                raise PolicyMismatchError(
                    f"group {group!r}: policy was trained with agent ids for "
                    f"{self.groups[group].n_agents} agents, got {x.shape[1]}"
                )
            mask = None
            if action_mask is not None and action_mask.get(group) is not None:
                mask = torch.as_tensor(action_mask[group], dtype=torch.bool, device=self.device)
            hidden = self._act_hidden.get(group)
            if hidden is not None and hidden.shape[:2] != x.shape[:2]:
                hidden = None
            flat = None if hidden is None else hidden.reshape(x.shape[0] * x.shape[1], -1)
            _, _, env_action, flat = self.sample(group, x, mask, deterministic, flat)
            if flat is not None:
                self._act_hidden[group] = flat.reshape(x.shape[0], x.shape[1], -1)
            if self.groups[group].action_kind == "discrete":
                actions[group] = env_action.cpu().numpy().astype(np.int64)
            else:
                actions[group] = env_action.cpu().numpy().astype(np.float32)
        return actions
