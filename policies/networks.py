"""Torch networks: one actor-critic per group, its parameters shared by the group's agents.

The actor reads an agent's observation (optionally with a one-hot agent id, and optionally with a
permutation-invariant encoder over each entity set of the observation: the sets a scenario's
observation layout declares, such as the k nearest neighbours, saved in the spec as plain
``{name, start, count, features, valid_start}`` records). The critic reads whatever the learner
feeds it: the agent's own observation (IPPO) or the global state (MAPPO), with the same optional
one-hot id.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from policies.distributions import (
    MASKED_LOGIT,
    gaussian_entropy,
    gaussian_log_prob,
    mask_logits,
)
from policies.inference import NumpyMLP
from policies.spec import LEGACY_NETWORK_FIELDS, check_network


def _numpy_tanh(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    out = x if inplace else torch.empty_like(x, memory_format=torch.contiguous_format)
    np.tanh(x.detach().numpy(), out=out.detach().numpy())
    return out


class _NumpyTanh(torch.autograd.Function):
    """tanh with numpy's kernel forward and torch's ``tanh_backward`` (``1 - y^2``) backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, inplace: bool) -> torch.Tensor:
        y = _numpy_tanh(x, inplace)
        if inplace:
            ctx.mark_dirty(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y), None


def tanh(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """``torch.tanh`` (``inplace``: ``torch.tanh_``), computed by numpy on CPU float tensors:
    torch's CPU tanh is several times slower than numpy's vectorized one on these sizes, and
    the activations were the largest single cost of the update. Both are accurate to about one
    float32 ulp; they differ from each other in the last bit of some values."""
    if (
        x.device.type != "cpu"
        or x.dtype not in (torch.float32, torch.float64)
        or torch.compiler.is_compiling()
    ):
        return x.tanh_() if inplace else torch.tanh(x)
    if x.requires_grad and torch.is_grad_enabled():
        return _NumpyTanh.apply(x, inplace)
    return _numpy_tanh(x, inplace)


class Tanh(nn.Module):
    """``nn.Tanh`` through :func:`tanh` (no parameters: a checkpoint's keys are unchanged).
    ``inplace`` overwrites the input, as ``nn.ReLU(inplace=True)`` does: :func:`mlp` applies
    it to each hidden layer's output, which nothing else reads (saving a buffer of the
    minibatch's size and a pass over memory per layer)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tanh(x, self.inplace)


class _ColumnsLinear(torch.autograd.Function):
    """``W @ x^T + b[:, None]``: a linear layer's output laid out ``(out, rows)``. Autograd's
    own backward of that ``addmm`` hands ``x`` a transposed (column-major) gradient, which
    makes every backward kernel below it (the activation's derivative, the next layers'
    matrix products) run over strided memory, several times slower on CPU; this one computes
    ``x``'s gradient row-major as ``g^T @ W``, the same products."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return torch.addmm(bias.unsqueeze(1), weight, x.t())

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        grad_x = grad.t().mm(weight) if need_x else None
        grad_w = grad.mm(x) if need_w else None
        grad_b = grad.sum(1) if need_b else None
        return grad_x, grad_w, grad_b


def columns_linear(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """``layer(x).t()`` computed as ``(out, rows)`` directly (see :class:`_ColumnsLinear`)."""
    if torch.is_grad_enabled() and (x.requires_grad or layer.weight.requires_grad):
        return _ColumnsLinear.apply(x, layer.weight, layer.bias)
    return torch.addmm(layer.bias.unsqueeze(1), layer.weight, x.t())


ACTIVATIONS = {"tanh": Tanh, "relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU}


@dataclass
class NetConfig:
    """Network settings shared by every group's actor-critic (stored in the checkpoint spec).

    Checked when built (:func:`policies.spec.check_network`): a bad value raises
    :class:`policies.spec.SpecError` naming the field. Where the encoder's entity sets sit is
    not a setting: it is each group's (``sets`` in the spec's group entry).
    """

    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    agent_id: bool = True
    encoder: str = "none"
    encoder_dim: int = 32
    continuous: str = "squash"
    log_std_init: float = -0.5
    recurrent: int = 0

    def __post_init__(self) -> None:
        check_network(self.to_dict())

    def to_dict(self) -> dict:
        """Plain JSON-ready dict of the settings."""
        out = asdict(self)
        out["hidden_sizes"] = list(self.hidden_sizes)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> NetConfig:
        """Rebuild from :meth:`to_dict` output (fields of earlier versions' specs dropped)."""
        data = {k: v for k, v in data.items() if k not in LEGACY_NETWORK_FIELDS}
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
            layers.append(Tanh(inplace=True) if activation == "tanh" else ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class SetEncoder(nn.Module):
    """Permutation-invariant encoder of one entity set of the observation.

    The set is ``count`` entities of ``features`` values from ``start`` (entity-major), with a
    validity flag per entity from ``valid_start`` (None: every slot holds an entity). Each
    entity goes through a shared MLP; ``attention`` first lets the valid entities attend to each
    other (one head, residual); the result is the mean over the valid entities (zeros when there
    are none).
    """

    def __init__(self, entity_set: dict[str, Any], kind: str, dim: int, activation: str) -> None:
        super().__init__()
        if kind not in ("deepsets", "attention"):
            raise ValueError(f"encoder must be deepsets or attention, got {kind!r}")
        self.start = int(entity_set["start"])
        self.count = int(entity_set["count"])
        self.features = int(entity_set["features"])
        self.end = self.start + self.count * self.features
        valid_start = entity_set.get("valid_start")
        self.valid_start = None if valid_start is None else int(valid_start)
        self.element = mlp([self.features, dim, dim], activation, float(np.sqrt(2.0)))
        self.attention = (
            nn.MultiheadAttention(dim, 1, batch_first=True) if kind == "attention" else None
        )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        lead = obs.shape[:-1]
        block = obs[..., self.start : self.end].reshape(-1, self.count, self.features)
        encoded = self.element(block)
        valid = None
        if self.valid_start is not None:
            flags = obs[..., self.valid_start : self.valid_start + self.count]
            valid = flags.reshape(-1, self.count) > 0.5
        if self.attention is not None:
            # A row without any valid entity attends to all (its output is dropped below).
            padding = None if valid is None else ~valid & valid.any(-1, keepdim=True)
            attended = self.attention(
                encoded, encoded, encoded, key_padding_mask=padding, need_weights=False
            )[0]
            encoded = encoded + attended
        if valid is None:
            pooled = encoded.mean(1)
        else:
            weight = valid.to(encoded.dtype).unsqueeze(-1)
            pooled = (encoded * weight).sum(1) / weight.sum(1).clamp(min=1.0)
        return pooled.reshape(*lead, -1)


class ObservationEncoder(nn.Module):
    """Replaces each entity set of the observation by its :class:`SetEncoder`'s pooled vector:
    the entries outside every set pass through unchanged, then one pooled vector per set."""

    def __init__(self, obs_dim: int, sets: list[dict[str, Any]], cfg: NetConfig) -> None:
        super().__init__()
        if not sets:
            raise ValueError(f"the {cfg.encoder} encoder needs at least one entity set")
        self.sets = nn.ModuleList(
            SetEncoder(s, cfg.encoder, cfg.encoder_dim, cfg.activation) for s in sets
        )
        taken = np.zeros(obs_dim, bool)
        for encoder in self.sets:
            taken[encoder.start : encoder.end] = True
            if encoder.valid_start is not None:
                taken[encoder.valid_start : encoder.valid_start + encoder.count] = True
        # Contiguous runs of the entries that pass through, as slices (cheaper than a gather).
        edges = np.flatnonzero(np.diff(np.concatenate([[1], taken, [1]]).astype(np.int8)))
        self.kept = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
        self.out_dim = int((~taken).sum()) + cfg.encoder_dim * len(sets)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        parts = [obs[..., a:b] for a, b in self.kept]
        parts += [encoder(obs) for encoder in self.sets]
        return torch.cat(parts, dim=-1)


class GroupActorCritic(nn.Module):
    """Actor and critic of one group. Inputs are flat ``(M, dim)`` rows with ``agent_index (M,)``.

    ``action_kind`` is ``"discrete"`` (``action_dim`` = number of actions) or ``"continuous"``
    (``action_dim`` = Box size, bounds ``action_low``/``action_high``). ``sets`` are the entity
    sets of the observation that the encoder pools (needed when ``cfg.encoder`` is not none).
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
        sets: list[dict[str, Any]] | None = None,
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
        self.encoder = (
            ObservationEncoder(obs_dim, list(sets or []), cfg) if cfg.encoder != "none" else None
        )
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
        """Critic output per row (in the learner's normalized value units); in numpy when no
        gradient is wanted (``policies.inference``)."""
        if not torch.is_grad_enabled() and critic_in.dtype == torch.float32:
            fast = self.numpy_mlp("critic")
            if fast is not None and (agent_index is not None or not self.cfg.agent_id):
                index = None if agent_index is None else agent_index.numpy()
                return torch.from_numpy(fast(critic_in.numpy(), index)[:, 0])
        return self.critic(self._with_id(critic_in, agent_index)).squeeze(-1)

    def numpy_mlp(self, which: str) -> NumpyMLP | None:
        """The actor (``"actor"``) or critic evaluated in numpy, for acting; None where that
        does not apply (an encoder or a GRU before the actor, another activation, a GPU)."""
        layers = self.actor if which == "actor" else self.critic
        first = layers[0]
        if not isinstance(first, nn.Linear) or first.weight.device.type != "cpu":
            return None
        built, fast = self.__dict__.get(f"_numpy_{which}", (None, None))
        if built is first:  # decided for these layers already
            return fast
        fast = None
        plain = which == "critic" or (self.encoder is None and self.recurrent == 0)
        if plain and NumpyMLP.supports(layers):
            fast = NumpyMLP(layers, first.in_features - (self.n_agents if self.cfg.agent_id else 0))
        self.__dict__[f"_numpy_{which}"] = (first, fast)
        return fast

    def evaluate(
        self,
        obs: torch.Tensor,
        agent_index: torch.Tensor,
        actions: torch.Tensor,
        mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability and entropy of the stored (raw) actions under the current actor."""
        if self.action_kind == "discrete" and self.recurrent == 0:
            return self._evaluate_discrete(obs, agent_index, actions, mask)
        return self.log_prob_entropy(self.actor_out(obs, agent_index)[0], actions, mask)

    def _evaluate_discrete(self, obs, agent_index, actions, mask):
        """:meth:`evaluate` of a feed-forward discrete actor, the logits laid out ``(actions,
        rows)``: on CPU the last layer as ``W @ h^T`` and the softmax over the short first
        dimension run several times faster than over a last dimension of a few actions."""
        x = self._with_id(self.encoder(obs) if self.encoder is not None else obs, agent_index)
        layers = list(self.actor)
        for layer in layers[:-1]:
            x = layer(x)
        logits = columns_linear(x, layers[-1])
        if mask is not None:
            logits = logits.masked_fill(~mask.t(), MASKED_LOGIT)
        log_probs = torch.log_softmax(logits, dim=0)
        chosen = log_probs.gather(0, actions.long().unsqueeze(0)).squeeze(0)
        return chosen, -(log_probs.exp() * log_probs).sum(0)

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
