"""Shared-parameter PPO for groups of agents: the math of one update, read top to bottom.

1. ``RunningMeanStd``: the value normalizer.
2. ``compute_gae``: generalized advantage estimation with per-agent episode ends.
3. ``policy_loss`` / ``value_loss``: clipped surrogate and clipped value loss
   (``FusedPPOLoss``: the same loss and its gradient as one autograd node, what the update
   runs).
4. ``prepare_group_batch``: GAE, then flatten, drop dead agents (and optionally small
   advantages), normalize.
5. ``ppo_update``: minibatch epochs.

The rollout it reads is collected by :mod:`marl.rollout`; the settings are
:class:`marl.config.TrainConfig`. IPPO and MAPPO differ only in the critic's input (see
:mod:`marl.rollout`). Truncated episodes are bootstrapped with the critic's value of the final
observation.
"""

from __future__ import annotations

import numpy as np
import torch

from marl.config import TrainConfig
from marl.rollout import GroupRollout


# ---------------------------------------------------------------------------- value normalizer
class RunningMeanStd:
    """Running mean and variance (parallel Welford); normalizes value targets."""

    def __init__(self) -> None:
        self.mean = 0.0
        self.var = 1.0
        self.count = 1e-4

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().double()
        batch_mean, batch_var, n = x.mean().item(), x.var(unbiased=False).item(), x.numel()
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean += delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.var = m2 / total
        self.count = total

    @property
    def std(self) -> float:
        return float(np.sqrt(self.var + 1e-8))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean

    def state_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.mean, self.var, self.count = state["mean"], state["var"], state["count"]


# ---------------------------------------------------------------------------------------- GAE
def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    next_value: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns over ``(T, ...)``; ``dones[t]`` cuts the trace after step ``t``."""
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(rewards.shape[0])):
        following = next_value if t == rewards.shape[0] - 1 else values[t + 1]
        nonterminal = 1.0 - dones[t]
        delta = rewards[t] + gamma * following * nonterminal - values[t]
        last = delta + gamma * gae_lambda * nonterminal * last
        advantages[t] = last
    return advantages, advantages + values


# ------------------------------------------------------------------------------------- losses
def policy_loss(
    new_log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor, clip: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clipped surrogate loss, approximate KL and clip fraction."""
    log_ratio = new_log_prob - old_log_prob
    ratio = log_ratio.exp()
    loss = torch.max(-advantages * ratio, -advantages * ratio.clamp(1.0 - clip, 1.0 + clip)).mean()
    with torch.no_grad():
        approx_kl = ((ratio - 1.0) - log_ratio).mean()
        clip_fraction = ((ratio - 1.0).abs() > clip).float().mean()
    return loss, approx_kl, clip_fraction


def value_loss(
    new_value: torch.Tensor, old_value: torch.Tensor, target: torch.Tensor, clip: float | None
) -> torch.Tensor:
    """Squared error to ``target``; with ``clip``, the max with the clipped prediction's error."""
    unclipped = (new_value - target).pow(2)
    if clip is None:
        return 0.5 * unclipped.mean()
    clipped_value = old_value + (new_value - old_value).clamp(-clip, clip)
    return 0.5 * torch.max(unclipped, (clipped_value - target).pow(2)).mean()


def _max_weights(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """How ``torch.max(a, b)`` passes its gradient: all to the larger, half each on a tie."""
    to_a = (a > b).to(a.dtype) + 0.5 * (a == b).to(a.dtype)
    return to_a, 1.0 - to_a


def _inside(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Where ``x.clamp(low, high)`` passes its gradient (the bounds included)."""
    return ((x >= low) & (x <= high)).to(x.dtype)


class FusedPPOLoss(torch.autograd.Function):
    """:func:`policy_loss`, :func:`value_loss` and the entropy bonus of one minibatch as one
    autograd node: the forward pass also works out the loss's derivative with respect to each
    row's log-probability, value and entropy (the chain rule through ``max``, ``clamp``,
    ``exp`` and ``mean`` as autograd applies it), and the backward pass only scales them.
    Autograd would record some thirty small operations per minibatch and replay them
    backwards; this does the same arithmetic in a few whole-tensor ones (a test checks the
    loss and gradients against the plain functions, ties and clip bounds included).

    Returns the loss and ``(loss, policy, value, entropy, approx_kl, clip_fraction)`` (no grad).
    """

    @staticmethod
    def forward(ctx, new_log_prob, entropy, new_value, mb, cfg):
        clip, scale = cfg.clip_coef, 1.0 / max(new_log_prob.numel(), 1)
        adv, log_ratio = mb["advantages"], new_log_prob - mb["log_probs"]
        ratio = log_ratio.exp()
        unclipped, clipped = -adv * ratio, -adv * ratio.clamp(1.0 - clip, 1.0 + clip)
        pg_loss = torch.max(unclipped, clipped).mean()
        to_unclipped, to_clipped = _max_weights(unclipped, clipped)
        weight = to_unclipped + to_clipped * _inside(ratio, 1.0 - clip, 1.0 + clip)
        d_log_prob = (-scale) * adv * weight * ratio
        error = new_value - mb["targets"]
        if cfg.clip_value_loss:
            old, v_clip = mb["old_values"], cfg.value_clip_coef
            step = new_value - old
            clipped_error = old + step.clamp(-v_clip, v_clip) - mb["targets"]
            squared, clipped_squared = error * error, clipped_error * clipped_error
            v_loss = 0.5 * torch.max(squared, clipped_squared).mean()
            to_squared, to_clipped_sq = _max_weights(squared, clipped_squared)
            inside = _inside(step, -v_clip, v_clip)
            d_value = to_squared * error + to_clipped_sq * inside * clipped_error
        else:
            v_loss, d_value = 0.5 * (error * error).mean(), error
        d_value = d_value * (cfg.vf_coef * scale)
        entropy_mean = entropy.mean()
        loss = pg_loss - cfg.ent_coef * entropy_mean + cfg.vf_coef * v_loss
        approx_kl = ((ratio - 1.0) - log_ratio).mean()
        clip_fraction = ((ratio - 1.0).abs() > clip).float().mean()
        ctx.save_for_backward(d_log_prob, d_value)
        ctx.d_entropy = -cfg.ent_coef * scale
        ctx.entropy_shape = entropy.shape
        parts = torch.stack([loss, pg_loss, v_loss, entropy_mean, approx_kl, clip_fraction])
        ctx.mark_non_differentiable(parts)
        return loss, parts

    @staticmethod
    def backward(ctx, grad_loss, _grad_parts):
        d_log_prob, d_value = ctx.saved_tensors
        d_entropy = (grad_loss * ctx.d_entropy).expand(ctx.entropy_shape)
        return grad_loss * d_log_prob, d_entropy, grad_loss * d_value, None, None


def minibatch_values(module, mb: dict[str, torch.Tensor]) -> torch.Tensor:
    """The critic's output for each row of ``mb``; with ``states`` (see :func:`row_batch`),
    computed once per distinct world-step of the minibatch and shared by its rows."""
    if "states" not in mb:
        return module.value(mb["critic_in"], mb["agent"])
    rows = mb["state_row"]
    present = torch.zeros(mb["states"].shape[0], dtype=torch.bool, device=rows.device)
    present[rows] = True
    distinct = present.nonzero().squeeze(1)
    position = present.cumsum(0) - 1  # a world-step's place among the distinct ones
    # No agent ids here (row_batch shares states only without them): no agent index needed.
    values = module.value(mb["states"].index_select(0, distinct), None)
    return values.index_select(0, position.index_select(0, rows))


def ppo_loss(module, mb: dict[str, torch.Tensor], cfg: TrainConfig):
    """Total PPO loss of one minibatch, and ``(loss, policy, value, entropy, approx_kl,
    clip_fraction)`` detached."""
    new_log_prob, entropy = module.evaluate(mb["obs"], mb["agent"], mb["actions"], mb.get("masks"))
    new_value = minibatch_values(module, mb)
    return FusedPPOLoss.apply(new_log_prob, entropy, new_value, mb, cfg)


def ppo_loss_recurrent(module, mb: dict[str, torch.Tensor], cfg: TrainConfig):
    """PPO loss over whole sequences ``(m, T, ...)`` for a GRU actor; only valid steps count."""
    out = module.actor_sequence(mb["obs"], mb["agent"], mb["h0"], mb["starts"])
    valid = mb["valid"]
    mask = mb["masks"][valid] if "masks" in mb else None
    new_log_prob, entropy = module.log_prob_entropy(out[valid], mb["actions"][valid], mask)
    t = valid.shape[1]
    agent = mb["agent"].unsqueeze(1).expand(-1, t)[valid]
    new_value = module.value(mb["critic_in"][valid], agent)
    rows = {k: mb[k][valid] for k in ("log_probs", "advantages", "old_values", "targets")}
    return FusedPPOLoss.apply(new_log_prob, entropy, new_value, rows, cfg)


# ------------------------------------------------------------------------------------- update
def prepare_group_batch(
    rollout: GroupRollout,
    cfg: TrainConfig,
    value_norm: RunningMeanStd | None,
    filter_state: dict[str, float],
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """GAE, value-norm update, flattening and sample selection for one group (CPU tensors)."""

    def denorm(x):
        return value_norm.denormalize(x) if value_norm is not None else x

    values = denorm(rollout.values)
    rewards = rollout.rewards + cfg.gamma * rollout.truncated * denorm(rollout.bootstrap)
    advantages, returns = compute_gae(
        rewards, values, rollout.dones, denorm(rollout.next_value), cfg.gamma, cfg.gae_lambda
    )
    t, b, n = rollout.rewards.shape
    keep = rollout.alive.reshape(-1) > 0.5
    flat_adv = advantages.reshape(-1)
    stats = {
        "explained_variance": explained_variance(
            values.reshape(-1)[keep], returns.reshape(-1)[keep]
        )
    }
    if cfg.adv_filter > 0.0 and keep.any():
        peak = flat_adv[keep].abs().max().item()
        filter_state["max"] = max(filter_state.get("max", 0.0) * cfg.adv_filter_decay, peak)
        small = flat_adv.abs() < cfg.adv_filter * filter_state["max"]
        stats["adv_filter_kept"] = float((keep & ~small).sum()) / max(int(keep.sum()), 1)
        keep = keep & ~small
    index = keep.nonzero().squeeze(-1)
    flat_returns = returns.reshape(-1)[index]
    if value_norm is not None:
        value_norm.update(flat_returns)
        targets = value_norm.normalize(flat_returns)
        old_values = value_norm.normalize(values.reshape(-1)[index])
    else:
        targets, old_values = flat_returns, values.reshape(-1)[index]
    adv = flat_adv[index]
    if cfg.norm_adv and adv.numel() > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    if rollout.hidden is not None:
        return sequence_batch(rollout, keep, adv, index, targets, old_values), stats
    return row_batch(rollout, cfg, index, adv, targets, old_values), stats


# Batch entries indexed by world-step (``state_row``), not by row: never shuffled or sliced.
WHOLE_KEYS = ("states",)


def row_batch(rollout, cfg, index, adv, targets, old_values) -> dict[str, torch.Tensor]:
    """Batch of the kept rows ``index`` of ``(T, B, N)``. When every agent of a world-step has
    the same critic input (MAPPO's global state, no agent ids) the batch holds that input once
    per world-step (``states``) and each row's world-step (``state_row``) instead of
    ``critic_in``, and the loss evaluates the critic once per distinct state."""
    t, b, n = rollout.rewards.shape
    batch = {
        "obs": rollout.obs.reshape(t * b * n, -1)[index],
        "actions": rollout.actions.reshape(t * b * n, *rollout.actions.shape[3:])[index],
        "log_probs": rollout.log_probs.reshape(-1)[index],
        "advantages": adv,
        "targets": targets.float(),
        "old_values": old_values.float(),
        "agent": torch.arange(n).repeat(t * b)[index],
    }
    critic_in = rollout.critic_in
    if (
        not cfg.agent_id
        and n > 1
        and torch.equal(critic_in, critic_in[:, :, :1].expand_as(critic_in))
    ):
        batch["states"] = critic_in[:, :, 0].reshape(t * b, -1)
        batch["state_row"] = index // n
    else:
        batch["critic_in"] = critic_in.reshape(t * b * n, -1)[index]
    if rollout.masks is not None:
        batch["masks"] = rollout.masks.reshape(t * b * n, -1)[index]
    return batch


def sequence_batch(rollout, keep, adv, index, targets, old_values) -> dict[str, torch.Tensor]:
    """Batch of whole sequences ``(B * N, T, ...)`` for a recurrent actor; ``valid`` marks rows
    that count in the loss (alive and not filtered)."""
    t, b, n = rollout.rewards.shape

    def columns(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(t, b * n, *x.shape[3:]).transpose(0, 1).contiguous()

    def scatter(values: torch.Tensor) -> torch.Tensor:
        full = torch.zeros(t * b * n, dtype=values.dtype)
        full[index] = values
        return columns(full.view(t, b, n))

    batch = {
        "obs": columns(rollout.obs),
        "critic_in": columns(rollout.critic_in),
        "actions": columns(rollout.actions),
        "log_probs": columns(rollout.log_probs),
        "advantages": scatter(adv),
        "targets": scatter(targets.float()),
        "old_values": scatter(old_values.float()),
        "valid": columns(keep.view(t, b, n)),
        "starts": columns(rollout.starts),
        "h0": rollout.hidden[0].reshape(b * n, -1).clone(),
        "agent": torch.arange(n).repeat(b),
    }
    if rollout.masks is not None:
        batch["masks"] = columns(rollout.masks)
    return batch


def explained_variance(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """1 - Var(target - prediction) / Var(target) (NaN when the target is constant)."""
    var = target.var().item() if target.numel() > 1 else 0.0
    if var == 0.0:
        return float("nan")
    return 1.0 - (target - prediction).var().item() / var


@torch.no_grad()
def clip_grad_norms_(parameter_sets, max_norm: float) -> None:
    """``torch.nn.utils.clip_grad_norm_(parameters, max_norm)`` on each set, the same arithmetic
    with one norm kernel for the gradients of every set (CPU or one device)."""
    sets = [[p.grad for p in parameters if p.grad is not None] for parameters in parameter_sets]
    norms = torch._foreach_norm([g for grads in sets for g in grads])
    start = 0
    for grads in sets:
        if grads:
            total = torch.linalg.vector_norm(torch.stack(norms[start : start + len(grads)]))
            start += len(grads)
            torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))


def ppo_update(
    module,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    cfg: TrainConfig,
    loss_fn=ppo_loss,
) -> dict[str, float]:
    """Minibatch epochs of clipped PPO on one group's batch (already on the update device)."""
    size = batch["advantages"].shape[0]
    if size == 0:
        return {}
    minibatch = max(1, size // cfg.minibatches)
    device = batch["advantages"].device
    # Clipped apart: a large critic gradient must not shrink the actor's step.
    parameter_sets = (module.actor_parameters(), module.critic_parameters())
    totals = torch.zeros(6, device=device)
    count = 0
    for _epoch in range(cfg.epochs):
        # One shuffle per epoch (index_select: a few times faster than indexing with a tensor);
        # minibatches are then contiguous slices (views, no copies).
        order = torch.randperm(size).to(device, non_blocking=True)
        shuffled = {k: v if k in WHOLE_KEYS else v.index_select(0, order) for k, v in batch.items()}
        epoch_kl = torch.zeros((), device=device)
        epoch_count = 0
        for start in range(0, size - minibatch + 1, minibatch):
            mb = {
                k: v if k in WHOLE_KEYS else v[start : start + minibatch]
                for k, v in shuffled.items()
            }
            loss, parts = loss_fn(module, mb, cfg)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.max_grad_norm > 0:
                clip_grad_norms_(parameter_sets, cfg.max_grad_norm)
            optimizer.step()
            totals += parts
            epoch_kl += parts[4]
            epoch_count += 1
            count += 1
        if cfg.target_kl > 0 and (epoch_kl / max(epoch_count, 1)).item() > cfg.target_kl:
            break
    values = (totals / max(count, 1)).tolist()
    names = ("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")
    return dict(zip(names, values, strict=True))
