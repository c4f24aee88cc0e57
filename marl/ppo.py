"""Shared-parameter PPO for groups of agents: IPPO and MAPPO in one file, read top to bottom.

1. ``TrainConfig``: every setting, one doc line each (the CLI is generated from it).
2. ``RunningMeanStd``: the value normalizer.
3. ``collect_rollout``: run the policy on the vector env for ``num_steps`` (one forward per group
   per step, batched over worlds and agents) and record what the update needs.
4. ``compute_gae``: generalized advantage estimation with per-agent episode ends.
5. ``policy_loss`` / ``value_loss``: clipped surrogate and clipped value loss.
6. ``ppo_update``: flatten, drop dead agents (and optionally small advantages), normalize, then
   minibatch epochs.

IPPO: each group's critic reads the agent's own observation. MAPPO: it reads the scenario's global
``state()`` (agent-specific when the env returns ``(B, N, state_dim)`` or a dict per group), with
the agent's one-hot id appended when ``agent_id`` is on. Truncated episodes are bootstrapped with
the critic's value of the final observation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from marl.validation import check_fields
from policies import Policy
from policies.spec import (
    ACTIVATIONS,
    CONTINUOUS,
    ENCODERS,
    MAX_AGENTS,
    MAX_DIM,
    MAX_LAYERS,
    MAX_WIDTH,
)
from scenarios.fields import Range, param


def _opt(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    items: Range | None = None,
    length: tuple[int, int] | None = None,
    pattern: str | None = None,
    **bounds: Any,
):
    """A config field: default, one-line help (the CLI's), and its valid values declared with it:
    ``low``/``high``/``low_open``/``high_open`` (a :class:`scenarios.fields.Range`; floats are
    always finite), ``choices`` or a regular-expression ``pattern`` for strings, and
    ``items``/``length`` for tuples of integers."""
    metadata: dict[str, Any] = {"help": help}
    if choices is not None:
        metadata["choices"] = choices
    if pattern is not None:
        metadata["pattern"] = pattern
    if items is not None:
        metadata.update(items=items, length=length or (1, MAX_LAYERS))
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return param(default, **bounds, **metadata)


# --------------------------------------------------------------------------------------- config
@dataclass
class TrainConfig:
    """Settings of one training run (saved as ``config.json`` in the run folder).

    Every field is checked when the config is built (type, range, choices):
    :class:`marl.validation.ConfigError` names the first bad field.
    """

    env_id: str = _opt(
        "swarm/spread-v0",
        "scenario id, or pz:MODULE for a PettingZoo ParallelEnv",
        pattern=r"[\w./:-]{1,200}",
    )
    env: dict = _opt({}, "scenario config overrides, e.g. {'n_agents': 5}")
    algo: str = _opt(
        "mappo",
        "mappo (critic reads the global state) or ippo (own observation)",
        choices=("mappo", "ippo"),
    )
    total_steps: int = _opt(
        500_000,
        "agent-steps to train: vector steps x worlds x agents (rounded up to whole updates)",
        low=1,
        high=10**12,
    )
    num_envs: int = _opt(
        64, "worlds simulated in parallel (the vector env's batch)", low=1, high=4096
    )
    num_steps: int = _opt(64, "vector steps per rollout (per update)", low=1, high=4096)
    seed: int = _opt(0, "seed of torch, numpy and the environments", low=0, high=2**32 - 1)
    device: str = _opt(
        "auto",
        "where the update runs: auto, cpu, cuda or cuda:N (rollouts stay on CPU)",
        pattern=r"auto|cpu|cuda(:\d{1,3})?",
    )
    torch_threads: int = _opt(
        1, "torch CPU threads (1 is fastest on small machines)", low=1, high=256
    )
    lr: float = _opt(3e-3, "Adam learning rate", low=0, high=1, low_open=True)
    anneal_lr: bool = _opt(
        True,
        "anneal the learning rate linearly to zero at total_steps (a run extended with --resume "
        "--steps follows the new total's line from where it stopped)",
    )
    gamma: float = _opt(0.99, "discount factor", low=0, high=1)
    gae_lambda: float = _opt(0.95, "GAE lambda", low=0, high=1)
    epochs: int = _opt(5, "passes over each rollout", low=1, high=100)
    minibatches: int = _opt(4, "minibatches per epoch (per group)", low=1, high=4096)
    clip_coef: float = _opt(0.2, "PPO ratio clip", low=0, high=10, low_open=True)
    clip_value_loss: bool = _opt(True, "clip the value loss around the old values")
    value_clip_coef: float = _opt(
        0.2, "value clip range (in normalized value units)", low=0, high=1000, low_open=True
    )
    ent_coef: float = _opt(0.003, "entropy bonus coefficient", low=0, high=10)
    vf_coef: float = _opt(0.5, "value loss coefficient", low=0, high=100)
    max_grad_norm: float = _opt(
        0.5, "gradient norm clip, applied to actor and critic apart (0: off)", low=0, high=1e6
    )
    norm_adv: bool = _opt(True, "normalize advantages over the batch")
    value_norm: bool = _opt(True, "normalize value targets with running mean and std")
    target_kl: float = _opt(
        0.0, "stop the epochs early above this approximate KL (0: never)", low=0, high=100
    )
    adv_filter: float = _opt(
        0.0,
        "drop samples with |adv| < this x running max |adv| (0: off)",
        low=0,
        high=1,
        high_open=True,
    )
    adv_filter_decay: float = _opt(
        0.99, "per-update decay of the running max |advantage|", low=0, high=1
    )
    hidden_sizes: tuple = _opt(
        (64, 64), "hidden layer sizes of actor and critic MLPs", items=Range(1, MAX_WIDTH)
    )
    activation: str = _opt(
        "tanh", "hidden activation: tanh, relu, elu or silu", choices=ACTIVATIONS
    )
    agent_id: bool = _opt(False, "append a one-hot agent id to actor and critic inputs")
    encoder: str = _opt(
        "none", "encoder of the k-neighbour block: none, deepsets or attention", choices=ENCODERS
    )
    knn_start: int = _opt(
        0, "first index of the k-neighbour block in the observation", low=0, high=MAX_DIM
    )
    knn_count: int = _opt(0, "neighbours in the block (k)", low=0, high=MAX_AGENTS)
    knn_features: int = _opt(0, "features per neighbour", low=0, high=MAX_DIM)
    encoder_dim: int = _opt(32, "width of the neighbour encoder", low=1, high=MAX_WIDTH)
    continuous: str = _opt(
        "squash", "continuous actions: squash (tanh) or clip to the Box", choices=CONTINUOUS
    )
    log_std_init: float = _opt(-0.5, "initial log std of continuous actions", low=-20, high=20)
    recurrent: int = _opt(
        0, "GRU state size of the actor (0: feed-forward actor)", low=0, high=MAX_WIDTH
    )
    run_dir: str = _opt("", "run folder (default: runs/<scenario>_<algo>_s<seed>_<time>)")
    checkpoint_every: int = _opt(
        10, "updates between checkpoints (envs reseed at each)", low=1, high=10_000
    )
    keep_checkpoints: int = _opt(2, "checkpoints kept in the run folder", low=1, high=1000)
    init_from: str = _opt("", "start from this run folder or checkpoint's weights")
    tensorboard: bool = _opt(True, "write TensorBoard logs to RUN_DIR/tb")
    progress: bool = _opt(True, "show a progress bar")
    compile: bool = _opt(False, "torch.compile the loss (optional speed-up)")

    def __post_init__(self) -> None:
        check_fields(self)


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


# ------------------------------------------------------------------------------------ rollout
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
    venv, algo: str, num_steps: int, pin: bool, recurrent: int = 0
) -> dict[str, GroupRollout]:
    """Preallocate every group's rollout tensors (pinned when the update runs on CUDA)."""
    t, b = num_steps, venv.num_envs
    state_dim = venv.state_space.shape[-1]
    masks = venv.action_mask()

    def zeros(*shape, dtype=torch.float32):
        tensor = torch.zeros(shape, dtype=dtype)
        return tensor.pin_memory() if pin else tensor

    out = {}
    for name, spec in venv.groups.items():
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


def initial_memory(venv, recurrent: int) -> dict[str, dict[str, torch.Tensor | None]]:
    """What a collector carries between steps: GRU state and episode-start flags per group."""
    memory = {}
    for name, spec in venv.groups.items():
        rows = venv.num_envs * spec.n_agents
        memory[name] = {
            "hidden": torch.zeros(rows, recurrent) if recurrent > 0 else None,
            "starts": torch.ones(venv.num_envs, spec.n_agents),
        }
    return memory


@torch.no_grad()
def critic_values(policy: Policy, group: str, critic_in: np.ndarray) -> torch.Tensor:
    """Critic outputs ``(B, N)`` for a numpy critic input ``(B, N, C)``."""
    b, n = critic_in.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(critic_in, dtype=np.float32)).view(b * n, -1)
    return policy.groups[group].value(x, policy.agent_index(group, b)).view(b, n)


def collect_rollout(
    venv,
    policy: Policy,
    obs: dict[str, np.ndarray],
    buffers: dict[str, GroupRollout],
    algo: str,
    memory: dict[str, dict[str, torch.Tensor | None]],
    action_log: list[dict[str, np.ndarray]] | None = None,
) -> tuple[Rollout, dict[str, np.ndarray]]:
    """Run ``policy`` (on CPU) for ``T`` vector steps from ``obs``; fill ``buffers`` in place.

    ``memory`` (from :func:`initial_memory`) is updated in place. Each step's environment actions
    are appended to ``action_log`` when given (what an exact resume replays). Returns the rollout
    and the observation to continue from.
    """
    num_steps = next(iter(buffers.values())).obs.shape[0]
    episodes: list[dict] = []
    for t in range(num_steps):
        state = venv.state() if algo != "ippo" else None
        masks = venv.action_mask()
        alive = venv.alive
        actions = {}
        for group, buf in buffers.items():
            obs_t = torch.from_numpy(obs[group])
            buf.obs[t].copy_(obs_t)
            mask = None
            if buf.masks is not None:
                mask = torch.from_numpy(masks[group])
                buf.masks[t].copy_(mask)
            carry = memory[group]
            buf.starts[t].copy_(carry["starts"])
            if buf.hidden is not None:
                buf.hidden[t].copy_(carry["hidden"].view(buf.hidden.shape[1:]))
            raw, log_prob, env_action, carry["hidden"] = policy.sample(
                group, obs_t, mask, hidden=carry["hidden"]
            )
            buf.actions[t].copy_(raw)
            buf.log_probs[t].copy_(log_prob)
            c_in = critic_input(algo, group, obs[group], state)
            buf.critic_in[t].copy_(torch.from_numpy(np.ascontiguousarray(c_in)))
            buf.values[t].copy_(critic_values(policy, group, c_in))
            buf.alive[t].copy_(torch.from_numpy(alive[group]))
            actions[group] = env_action.numpy()
        if action_log is not None:
            action_log.append({g: np.array(a, copy=True) for g, a in actions.items()})
        obs, rew, terminated, truncated, info = venv.step(actions)
        episodes.extend(info.get("episodes", ()))
        for group, buf in buffers.items():
            term, trunc = terminated[group], truncated[group]
            buf.rewards[t].copy_(torch.from_numpy(rew[group]))
            done = torch.from_numpy(term | trunc).float()
            buf.dones[t].copy_(done)
            carry = memory[group]
            carry["starts"] = done
            if carry["hidden"] is not None:
                carry["hidden"] = carry["hidden"] * (1.0 - done).reshape(-1, 1)
            cut = trunc & ~term
            buf.truncated[t].copy_(torch.from_numpy(cut))
            if cut.any():
                final_state = info.get("final_state")
                c_in = critic_input(algo, group, info["final_obs"][group], final_state)
                buf.bootstrap[t].copy_(critic_values(policy, group, c_in))
            else:
                buf.bootstrap[t].zero_()
    state = venv.state() if algo != "ippo" else None
    for group, buf in buffers.items():
        c_in = critic_input(algo, group, obs[group], state)
        buf.next_value.copy_(critic_values(policy, group, c_in))
    agent_steps = num_steps * venv.num_envs * sum(s.n_agents for s in venv.groups.values())
    return Rollout(dict(buffers), episodes, agent_steps), obs


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


def ppo_loss(module, mb: dict[str, torch.Tensor], cfg: TrainConfig):
    """Total PPO loss of one minibatch and its parts."""
    new_log_prob, entropy = module.evaluate(mb["obs"], mb["agent"], mb["actions"], mb.get("masks"))
    pg_loss, approx_kl, clip_fraction = policy_loss(
        new_log_prob, mb["log_probs"], mb["advantages"], cfg.clip_coef
    )
    new_value = module.value(mb["critic_in"], mb["agent"])
    clip = cfg.value_clip_coef if cfg.clip_value_loss else None
    v_loss = value_loss(new_value, mb["old_values"], mb["targets"], clip)
    entropy = entropy.mean()
    loss = pg_loss - cfg.ent_coef * entropy + cfg.vf_coef * v_loss
    return loss, pg_loss, v_loss, entropy, approx_kl, clip_fraction


def ppo_loss_recurrent(module, mb: dict[str, torch.Tensor], cfg: TrainConfig):
    """PPO loss over whole sequences ``(m, T, ...)`` for a GRU actor; only valid steps count."""
    out = module.actor_sequence(mb["obs"], mb["agent"], mb["h0"], mb["starts"])
    valid = mb["valid"]
    mask = mb["masks"][valid] if "masks" in mb else None
    new_log_prob, entropy = module.log_prob_entropy(out[valid], mb["actions"][valid], mask)
    pg_loss, approx_kl, clip_fraction = policy_loss(
        new_log_prob, mb["log_probs"][valid], mb["advantages"][valid], cfg.clip_coef
    )
    t = valid.shape[1]
    agent = mb["agent"].unsqueeze(1).expand(-1, t)[valid]
    new_value = module.value(mb["critic_in"][valid], agent)
    clip = cfg.value_clip_coef if cfg.clip_value_loss else None
    v_loss = value_loss(new_value, mb["old_values"][valid], mb["targets"][valid], clip)
    entropy = entropy.mean()
    loss = pg_loss - cfg.ent_coef * entropy + cfg.vf_coef * v_loss
    return loss, pg_loss, v_loss, entropy, approx_kl, clip_fraction


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
    agent = torch.arange(n).repeat(t * b)[index]
    batch = {
        "obs": rollout.obs.reshape(t * b * n, -1)[index],
        "critic_in": rollout.critic_in.reshape(t * b * n, -1)[index],
        "actions": rollout.actions.reshape(t * b * n, *rollout.actions.shape[3:])[index],
        "log_probs": rollout.log_probs.reshape(-1)[index],
        "advantages": adv,
        "targets": targets.float(),
        "old_values": old_values.float(),
        "agent": agent,
    }
    if rollout.masks is not None:
        batch["masks"] = rollout.masks.reshape(t * b * n, -1)[index]
    return batch, stats


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
        # One shuffle per epoch; minibatches are then contiguous slices (views, no copies).
        order = torch.randperm(size).to(device, non_blocking=True)
        shuffled = {k: v[order] for k, v in batch.items()}
        epoch_kl = torch.zeros((), device=device)
        epoch_count = 0
        for start in range(0, size - minibatch + 1, minibatch):
            mb = {k: v[start : start + minibatch] for k, v in shuffled.items()}
            loss, pg, vl, ent, kl, cf = loss_fn(module, mb, cfg)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.max_grad_norm > 0:
                for parameters in parameter_sets:
                    torch.nn.utils.clip_grad_norm_(parameters, cfg.max_grad_norm)
            optimizer.step()
            totals += torch.stack([loss.detach(), pg.detach(), vl.detach(), ent.detach(), kl, cf])
            epoch_kl += kl
            epoch_count += 1
            count += 1
        if cfg.target_kl > 0 and (epoch_kl / max(epoch_count, 1)).item() > cfg.target_kl:
            break
    values = (totals / max(count, 1)).tolist()
    names = ("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")
    return dict(zip(names, values, strict=True))
