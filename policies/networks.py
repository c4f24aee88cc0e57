"""Torch networks: one actor-critic per group, its parameters shared by the group's agents.

The actor reads an agent's observation (optionally with a one-hot agent id, and optionally with a
permutation-invariant encoder over a block of k nearest neighbours inside the observation). The
critic reads whatever the learner feeds it: the agent's own observation (IPPO) or the global state
(MAPPO), with the same optional one-hot id.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from policies.distributions import (
    gaussian_entropy,
    gaussian_log_prob,
    mask_logits,
)

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU}


@dataclass
class NetConfig:
    """Network settings shared by every group's actor-critic (stored in the checkpoint spec)."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    agent_id: bool = True
    encoder: str = "none"
    knn_start: int = 0
    knn_count: int = 0
    knn_features: int = 0
    encoder_dim: int = 32
    continuous: str = "squash"
    log_std_init: float = -0.5
    recurrent: int = 0

    def to_dict(self) -> dict:
        """Plain JSON-ready dict of the settings."""
        out = asdict(self)
        out["hidden_sizes"] = list(self.hidden_sizes)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> NetConfig:
        """Rebuild from :meth:`to_dict` output."""
        data = dict(data)
        data["hidden_sizes"] = tuple(data.get("hidden_sizes", (64, 64)))
        return cls(**data)


def mlp(sizes: list[int], activation: str, out_gain: float) -> nn.Sequential:
    """Orthogonally initialised MLP; the last layer has gain ``out_gain`` and no activation."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        last = i == len(sizes) - 2
        nn.init.orthogonal_(linear.weight, out_gain if last else float(np.sqrt(2.0)))
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class SetEncoder(nn.Module):
    """Permutation-invariant encoder of the k-neighbour block ``obs[start : start + k * f]``.

    Each neighbour's ``f`` features go through a shared MLP; ``deepsets`` mean-pools the results,
    ``attention`` first lets the neighbours attend to each other (one head, residual). The pooled
    vector replaces the block; the rest of the observation passes through unchanged.
    """

    def __init__(self, obs_dim: int, cfg: NetConfig) -> None:
        super().__init__()
        if cfg.encoder not in ("deepsets", "attention"):
            raise ValueError(f"encoder must be none, deepsets or attention, got {cfg.encoder!r}")
        self.start = cfg.knn_start
        self.count = cfg.knn_count
        self.features = cfg.knn_features
        self.end = self.start + self.count * self.features
        if self.count < 1 or self.features < 1 or self.end > obs_dim:
            raise ValueError(
                f"knn block [{self.start}:{self.end}] (count={self.count}, "
                f"features={self.features}) does not fit an observation of {obs_dim}"
            )
        dim = cfg.encoder_dim
        self.element = mlp([self.features, dim, dim], cfg.activation, float(np.sqrt(2.0)))
        self.attention = (
            nn.MultiheadAttention(dim, 1, batch_first=True) if cfg.encoder == "attention" else None
        )
        self.out_dim = obs_dim - self.count * self.features + dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        lead = obs.shape[:-1]
        block = obs[..., self.start : self.end].reshape(-1, self.count, self.features)
        encoded = self.element(block)
        if self.attention is not None:
            encoded = encoded + self.attention(encoded, encoded, encoded, need_weights=False)[0]
        pooled = encoded.mean(1).reshape(*lead, -1)
        return torch.cat([obs[..., : self.start], obs[..., self.end :], pooled], dim=-1)


class GroupActorCritic(nn.Module):
    """Actor and critic of one group. Inputs are flat ``(M, dim)`` rows with ``agent_index (M,)``.

    ``action_kind`` is ``"discrete"`` (``action_dim`` = number of actions) or ``"continuous"``
    (``action_dim`` = Box size, bounds ``action_low``/``action_high``).
    """

    def __init__(
        self,
        obs_dim: int,
        critic_dim: int,
        n_agents: int,
        action_kind: str,
        action_dim: int,
        cfg: NetConfig,
        action_low: np.ndarray | None = None,
        action_high: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_agents = n_agents
        self.action_kind = action_kind
        self.action_dim = action_dim
        self.squash = cfg.continuous == "squash"
        if cfg.continuous not in ("squash", "clip"):
            raise ValueError(f"continuous must be squash or clip, got {cfg.continuous!r}")
        id_dim = n_agents if cfg.agent_id else 0
        self.encoder = SetEncoder(obs_dim, cfg) if cfg.encoder != "none" else None
        actor_in = (self.encoder.out_dim if self.encoder else obs_dim) + id_dim
        hidden = list(cfg.hidden_sizes)
        self.recurrent = int(cfg.recurrent)
        if self.recurrent > 0:
            # Recurrent actor: first hidden layer, a GRU cell, then the remaining layers.
            self.actor_pre = mlp([actor_in, hidden[0]], cfg.activation, float(np.sqrt(2.0)))
            self.actor_pre_act = ACTIVATIONS[cfg.activation]()
            self.gru = nn.GRUCell(hidden[0], self.recurrent)
            self.actor = mlp([self.recurrent, *hidden[1:], action_dim], cfg.activation, 0.01)
        else:
            self.actor = mlp([actor_in, *hidden, action_dim], cfg.activation, 0.01)
        self.critic = mlp([critic_dim + id_dim, *hidden, 1], cfg.activation, 1.0)
        if action_kind == "continuous":
            self.log_std = nn.Parameter(torch.full((action_dim,), float(cfg.log_std_init)))
            low = np.full(action_dim, -1.0) if action_low is None else action_low
            high = np.full(action_dim, 1.0) if action_high is None else action_high
            self.register_buffer("action_low", torch.as_tensor(low, dtype=torch.float32))
            self.register_buffer("action_high", torch.as_tensor(high, dtype=torch.float32))
        elif action_kind != "discrete":
            raise ValueError(f"action_kind must be discrete or continuous, got {action_kind!r}")

    def critic_parameters(self) -> list[nn.Parameter]:
        """Parameters of the critic (everything else belongs to the actor)."""
        return list(self.critic.parameters())

    def actor_parameters(self) -> list[nn.Parameter]:
        """Parameters of the actor: encoder, GRU, layers and the log std."""
        critic = {id(p) for p in self.critic.parameters()}
        return [p for p in self.parameters() if id(p) not in critic]

    def _with_id(self, x: torch.Tensor, agent_index: torch.Tensor) -> torch.Tensor:
        if not self.cfg.agent_id:
            return x
        one_hot = torch.nn.functional.one_hot(agent_index, self.n_agents).to(x.dtype)
        return torch.cat([x, one_hot], dim=-1)

    def actor_out(
        self, obs: torch.Tensor, agent_index: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (discrete) or Gaussian means (continuous) per row, and the next GRU state.

        ``hidden`` ``(M, recurrent)`` is the GRU state before this step (zeros when omitted);
        feed-forward actors return ``None`` as the state.
        """
        if self.encoder is not None:
            obs = self.encoder(obs)
        x = self._with_id(obs, agent_index)
        if self.recurrent == 0:
            return self.actor(x), None
        if hidden is None:
            hidden = x.new_zeros(x.shape[0], self.recurrent)
        hidden = self.gru(self.actor_pre_act(self.actor_pre(x)), hidden)
        return self.actor(hidden), hidden

    def actor_sequence(
        self,
        obs: torch.Tensor,
        agent_index: torch.Tensor,
        hidden: torch.Tensor,
        starts: torch.Tensor,
    ) -> torch.Tensor:
        """Recurrent actor over sequences ``obs (M, T, D)`` from ``hidden (M, R)``.

        ``starts (M, T)`` is 1 where an episode starts at step ``t``: the state is zeroed there.
        Returns ``(M, T, out)``.
        """
        if self.encoder is not None:
            obs = self.encoder(obs)
        m, t = obs.shape[:2]
        index = agent_index.unsqueeze(1).expand(m, t)
        x = self.actor_pre_act(self.actor_pre(self._with_id(obs, index)))
        keep = 1.0 - starts
        states = []
        for step in range(t):
            hidden = self.gru(x[:, step], hidden * keep[:, step : step + 1])
            states.append(hidden)
        return self.actor(torch.stack(states, dim=1))

    def value(self, critic_in: torch.Tensor, agent_index: torch.Tensor) -> torch.Tensor:
        """Critic output per row (in the learner's normalized value units)."""
        return self.critic(self._with_id(critic_in, agent_index)).squeeze(-1)

    def evaluate(
        self,
        obs: torch.Tensor,
        agent_index: torch.Tensor,
        actions: torch.Tensor,
        mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability and entropy of the stored (raw) actions under the current actor."""
        return self.log_prob_entropy(self.actor_out(obs, agent_index)[0], actions, mask)

    def log_prob_entropy(
        self, out: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability of ``actions`` and entropy under the actor output ``out``."""
        if self.action_kind == "discrete":
            log_probs = torch.log_softmax(mask_logits(out, mask), dim=-1)
            chosen = log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
            return chosen, -(log_probs.exp() * log_probs).sum(-1)
        log_std = self.log_std.expand_as(out)
        log_prob = gaussian_log_prob(out, log_std, actions, self.squash)
        return log_prob, gaussian_entropy(self.log_std, out.shape[:-1])
