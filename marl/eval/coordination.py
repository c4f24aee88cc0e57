"""Coordination measures from logged rollouts: influence, role diversity, spatial specialization.

- **Influence** (social influence, Jaques et al. 2019, measured by counterfactuals in the
  simulator instead of a learned model): for agent ``i`` at step ``t``, every action ``a`` it
  could take is tried in its own replica of the world (``VectorEnv.reset_replicas``: copies
  that stay alike, to float rounding, under identical actions); every replica then plays on
  greedily for a few steps, and ``influence(i -> j)`` is the KL divergence between agent
  ``j``'s policy after ``i``'s actual action and its policy marginalized over ``i``'s
  alternatives weighted by ``pi_i(a)``. Zero when ``j``'s policy does not depend on what ``i``
  does. Needs stochastic policies over discrete actions (learned or random).
- **Role diversity** (system neural diversity, Bettini et al. 2023): every agent's policy
  evaluated on the same observations (all agents' observations of a pass, pooled), as the mean
  pairwise total variation distance between their action distributions. Zero for identical
  policies (shared parameters without agent ids); up to 1.
- **Spatial specialization**: each agent's occupancy of a 4 x 4 grid over the arena in a pass,
  as the mean pairwise total variation distance between the agents' occupancies in each world,
  averaged over worlds. Zero when every agent visits the same places as often; 1 when they
  keep to disjoint regions. Needs world bodies named like the agent group.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from marl.envs import make_env
from policies import NetworkPolicy, RandomPolicy
from policies.distributions import mask_logits

GRID = 4
MAX_INFLUENCERS = 8  # agents whose alternatives are tried (replicas: points x agents x actions)
WINDOW = 200  # steps of an episode the measures look at (long episodes: their start)
MAX_POOL = 1024


def action_probs(policy, group: str, obs: np.ndarray, agents: np.ndarray, mask=None):
    """``(M, A)`` action probabilities of ``policy`` acting as agents ``agents (M,)`` of
    ``group`` on observations ``obs (M, D)``; None when the policy has none to give (scripted,
    continuous actions). Any policy can give them through a method of the same name,
    ``action_probs(group, obs, agents, mask)``."""
    if hasattr(policy, "action_probs"):
        return policy.action_probs(group, obs, agents, mask)
    if isinstance(policy, RandomPolicy):
        space = policy.spaces[group]
        if not hasattr(space, "n"):
            return None
        allowed = np.ones((len(obs), int(space.n))) if mask is None else mask.astype(np.float64)
        return allowed / allowed.sum(1, keepdims=True)
    if not isinstance(policy, NetworkPolicy) or policy.groups[group].action_kind != "discrete":
        return None
    module = policy.groups[group]
    with torch.no_grad():
        x = torch.as_tensor(obs, dtype=torch.float32, device=policy.device)
        index = torch.as_tensor(agents, dtype=torch.int64, device=policy.device)
        logits, _ = module.actor_out(x, index, None)
        if mask is not None:
            logits = mask_logits(logits, torch.as_tensor(mask, device=policy.device))
        return torch.softmax(logits.double(), -1).cpu().numpy()


def agent_sources(lineup, group: str, n: int) -> list[str]:
    return list(lineup.mixes.get(group) or (lineup.sources[group],) * n)


def role_diversity(obs: np.ndarray, sources: list[str], made: dict, group: str) -> float:
    """Mean pairwise total variation between agents' action distributions on pooled
    observations ``obs (M, D)``; NaN where some agent's policy gives no distribution."""
    n = len(sources)
    probs = []
    for i in range(n):
        p = action_probs(made[sources[i]], group, obs, np.full(len(obs), i))
        if p is None:
            return math.nan
        probs.append(p)
    if n < 2:
        return math.nan
    gaps = [0.5 * np.abs(probs[i] - probs[j]).sum(1).mean() for i in range(n) for j in range(i)]
    return float(np.mean(gaps))


def occupancy_specialization(occupancy: np.ndarray) -> float:
    """``occupancy (B, N, cells)`` visit counts: mean over worlds of the mean pairwise total
    variation distance between agents' visit distributions (agents that never moved on the
    grid are left out)."""
    totals = occupancy.sum(-1, keepdims=True)
    dist = np.divide(occupancy, totals, out=np.zeros_like(occupancy, np.float64), where=totals > 0)
    n = occupancy.shape[1]
    values = []
    for i in range(n):
        for j in range(i):
            both = (totals[:, i, 0] > 0) & (totals[:, j, 0] > 0)
            if both.any():
                values.append(0.5 * np.abs(dist[both, i] - dist[both, j]).sum(-1))
    return float(np.mean(np.concatenate(values))) if values else math.nan


def observe_pass(setup, lineup, group: str, seed: int) -> dict:
    """One pass of ``max_steps`` steps (at most ``WINDOW``): pooled observations of ``group``
    and each world's occupancy grid per agent (None when the world has no bodies named like
    the group)."""
    worlds, _ = setup.batch()
    venv = make_env(setup.scenario, worlds, seed, **setup.config)
    try:
        policy = lineup.build(venv, seed)
        obs = venv.reset(seed=seed)
        policy.reset()
        bodies = getattr(getattr(venv, "world", None), "groups", {}).get(group)
        n = venv.groups[group].n_agents
        bodies = bodies if bodies is not None and bodies.n == n else None
        pooled, positions = [], []
        for _ in range(min(venv.cfg.max_steps, WINDOW)):
            pooled.append(obs[group].reshape(-1, obs[group].shape[-1]).copy())
            if bodies is not None:
                positions.append(np.where(bodies.parked[..., None], np.nan, bodies.pos))
            obs, _, _, _, info = venv.step(policy.act(obs, venv.action_mask(), setup.deterministic))
            ended = [e["env_id"] for e in info.get("episodes", ())]
            if ended:
                policy.reset(np.array(ended, np.int64))
    finally:
        venv.close()
    rng = np.random.default_rng(seed)
    every = np.concatenate(pooled)
    pool = every[rng.choice(len(every), min(MAX_POOL, len(every)), replace=False)]
    return {"obs": pool, "positions": np.stack(positions, 1) if positions else None}


def occupancy_grid(positions: np.ndarray) -> np.ndarray:
    """``positions (B, T, N, 2)`` (NaN where parked) to visit counts ``(B, N, GRID**2)`` on a
    grid over the positions' extent."""
    finite = np.isfinite(positions).all(-1)
    xy = positions[finite]
    low, high = xy.min(0), xy.max(0)
    span = np.where(high > low, high - low, 1.0)
    safe = np.where(finite[..., None], positions, low)
    cells = np.clip(((safe - low) / span * GRID).astype(np.int64), 0, GRID - 1)
    flat = cells[..., 0] * GRID + cells[..., 1]
    b, _, n = finite.shape
    out = np.zeros((b, n, GRID * GRID))
    worlds, _, agents = np.nonzero(finite)
    np.add.at(out, (worlds, agents, flat[finite]), 1.0)
    return out


def influence(setup, lineup, group: str, seed: int, world: int, points: int = 6, horizon: int = 5):
    """``(m, n)`` mean influence of agent ``i`` (row; the first ``MAX_INFLUENCERS``) on agent
    ``j`` (column) of ``group``: at ``points`` steps of world ``world``'s first episode for
    ``seed``, each action of each agent is tried in its own replica, every replica then plays
    on greedily for ``horizon`` steps (one step moves a body by a hair), and ``j``'s policy is
    compared. None when some agent's policy gives no action distribution. Replica 0 is the
    trunk: each replica takes its actions until its own branch step, alike until then."""
    probe = make_env(setup.scenario, 1, seed, **setup.config)
    try:
        spec, limit = probe.groups[group], probe.cfg.max_steps
    finally:
        probe.close()
    n = spec.n_agents
    if not hasattr(spec.action_space, "n") or n < 2 or limit <= horizon + 1:
        return None
    choices, m = int(spec.action_space.n), min(n, MAX_INFLUENCERS)
    times = sorted({int(t) for t in np.linspace(0, min(limit, WINDOW) - horizon - 1, points)})
    branch = np.array(
        [(k, i, a) for k in range(len(times)) for i in range(m) for a in range(choices)]
    )
    start = np.concatenate([[limit + 1], np.array(times)[branch[:, 0]]])  # the trunk never branches
    venv = make_env(setup.scenario, len(start), seed, **setup.config)
    try:
        made = lineup.members(venv, seed)
        sources = agent_sources(lineup, group, n)
        policy = lineup.build(venv, seed, made)
        obs, ended = venv.reset_replicas(seed, world), np.zeros(len(start), bool)
        policy.reset()
        out, valid = np.zeros((len(times), m, n)), np.zeros(len(times), bool)
        now: dict[int, tuple] = {}
        for t in range(times[-1] + horizon + 1):
            own = policy.act(obs, venv.action_mask(), deterministic=True)
            actions = {g: np.where(_rows(start > t, a), a[:1], a) for g, a in own.items()}
            if t in times:
                k = times.index(t)
                rows = 1 + np.flatnonzero(branch[:, 0] == k)
                probs = [
                    action_probs(made[sources[i]], group, obs[group][0, i][None], np.array([i]))
                    for i in range(m)
                ]
                if any(p is None for p in probs):
                    return None
                now[k] = (rows, probs, actions[group][0].copy())
                actions[group][rows, branch[rows - 1, 1]] = branch[rows - 1, 2]
            obs, _, _, _, info = venv.step(actions)
            for episode in info.get("episodes", ()):
                ended[episode["env_id"]] = True
            done = [k for k, t0 in enumerate(times) if t0 + horizon == t and k in now]
            for k in done:
                rows, probs, actual = now.pop(k)
                if not ended[rows].any():
                    out[k] = _branch_kl(
                        obs[group][rows], probs, actual, made, sources, group, choices
                    )
                    valid[k] = True
            if ended[0]:
                break
    finally:
        venv.close()
    return out[valid].mean(0) if valid.any() else np.full((m, n), np.nan)


def _rows(mask: np.ndarray, like: np.ndarray) -> np.ndarray:
    return mask.reshape(-1, *([1] * (like.ndim - 1)))


def _branch_kl(next_obs, now, actual, made, sources, group, actions_n) -> np.ndarray:
    """``(m, n)``: KL of j's later policy after i's actual action from its mixture over i's
    alternatives. ``next_obs (m * A, n, D)``: the branches of one step, by (i, a)."""
    n, m = next_obs.shape[1], len(now)
    result = np.zeros((m, n))
    for j in range(n):
        probs = action_probs(made[sources[j]], group, next_obs[:, j], np.full(len(next_obs), j))
        probs = probs.reshape(m, actions_n, -1)  # (i, a, action of j)
        for i in range(m):
            if i == j:
                continue
            weights = now[i][0]
            mixture = (weights[:, None] * probs[i]).sum(0)
            chosen = probs[i, actual[i]]
            kl = float(np.sum(chosen * (np.log(chosen + 1e-12) - np.log(mixture + 1e-12))))
            result[i, j] = max(kl, 0.0)  # KL >= 0; rounding leaves -1e-16
    return result


def measure(setup, lineup, group: str, worlds: int = 1, influence_of: bool = True) -> dict:
    """Influence (mean over ordered pairs, and the ``(m, n)`` matrix) in the first ``worlds``
    worlds of each seed (not measured, NaN, without ``influence_of``), role diversity and
    spatial specialization over a pass of each seed, for ``group`` of ``lineup``, all within
    the first ``WINDOW`` steps of an episode. Measures a policy cannot give are NaN."""
    matrices, diversity, special = [], [], []
    for seed in setup.seeds:
        for world in range(worlds if influence_of else 0):
            m = influence(setup, lineup, group, seed, world)
            if m is not None and np.isfinite(m).all():
                matrices.append(m)
        logged = observe_pass(setup, lineup, group, seed)
        probe = make_env(setup.scenario, 1, seed, **setup.config)
        try:
            made = lineup.members(probe, seed)
            n = probe.groups[group].n_agents
        finally:
            probe.close()
        diversity.append(
            role_diversity(logged["obs"], agent_sources(lineup, group, n), made, group)
        )
        if logged["positions"] is not None:
            special.append(occupancy_specialization(occupancy_grid(logged["positions"])))
    matrix = np.mean(matrices, 0) if matrices else None
    off = None if matrix is None else matrix[~np.eye(*matrix.shape, dtype=bool)]
    return {
        "influence": float(off.mean()) if off is not None and off.size else math.nan,
        "influence_matrix": None if matrix is None else matrix.tolist(),
        "role_diversity": float(np.mean(diversity)) if diversity else math.nan,
        "spatial_specialization": float(np.mean(special)) if special else math.nan,
    }
