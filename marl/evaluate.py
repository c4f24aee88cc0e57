"""Play a policy (learned or scripted) on a scenario and average its episodes' figures.

Returns are reported per group (in a competitive scenario the pursuers' and the evaders' returns
are separate figures; their mean says nothing). A metric that a scenario leaves undefined in some
episodes (NaN, e.g. the time to capture when nothing was captured) is averaged over the episodes
where it is defined, and reported with that count: ``time_to_capture=12.3 (7 of 10 episodes)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from marl.envs import make_env
from policies import NetworkPolicy, Policy, PolicyMismatchError


@dataclass
class EvalResult:
    """Figures over the finished episodes: returns per group, scenario metrics (each averaged over
    the episodes that define it, ``metric_counts`` of them), and the mean over groups."""

    episodes: int
    mean_return: float
    return_by_group: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    metric_counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: every group's return and every metric, with counts where undefined."""
        return format_figures(self.return_by_group, self.metrics, self.metric_counts, self.episodes)


def episode_figures(
    episodes: list[dict],
) -> tuple[dict[str, float], dict[str, float], dict[str, int]]:
    """Mean return per group, and each metric's mean over the episodes where it is a finite
    number, with the count of those episodes; groups and metrics in name order (records read
    back from a checkpoint hold their keys sorted, so a resumed run prints what an unbroken one
    does)."""
    groups = sorted({g for episode in episodes for g in episode["return"]})
    returns = {
        g: float(np.mean([e["return"][g] for e in episodes if g in e["return"]])) for g in groups
    }
    names = sorted({n for episode in episodes for n in episode.get("metrics", {})})
    metrics, counts = {}, {}
    for name in names:
        values = [
            float(v)
            for e in episodes
            if (v := e.get("metrics", {}).get(name)) is not None and math.isfinite(float(v))
        ]
        counts[name] = len(values)
        metrics[name] = float(np.mean(values)) if values else float("nan")
    return returns, metrics, counts


def format_figures(
    returns: dict[str, float], metrics: dict[str, float], counts: dict[str, int], episodes: int
) -> str:
    """``return evader=-1.2, pursuer=1.2; capture_rate=0.4, time_to_capture=12.3 (7 of 10
    episodes)``: counts appear only for metrics that some episodes leave undefined."""
    text = "return " + ", ".join(f"{g}={v:.3g}" for g, v in returns.items())
    parts = []
    for name, value in metrics.items():
        count = counts.get(name, episodes)
        shown = f"{name}={value:.3g}" if count else f"{name}=undefined"
        if count < episodes:
            shown += f" ({count} of {episodes} episodes)"
        parts.append(shown)
    return text + ("; " + ", ".join(parts) if parts else "")


def check_policy(policy: Policy, groups: dict[str, Any], where: str) -> None:
    """Raise :class:`policies.PolicyMismatchError` (one line) unless ``policy`` is a Policy that
    acts for exactly the env's ``groups``; a network policy's spaces are checked too."""
    if not isinstance(policy, Policy):
        raise TypeError(f"{type(policy).__name__} is not a Policy (groups, act, reset)")
    if set(policy.groups) != set(groups):
        raise PolicyMismatchError(
            f"policy has groups {sorted(policy.groups)}, {where} has {sorted(groups)}"
        )
    if isinstance(policy, NetworkPolicy):
        policy.check_groups(groups, where=where)


def evaluate(
    policy: Policy,
    env_id: str,
    env_config: dict | None = None,
    episodes: int = 100,
    num_envs: int = 32,
    seed: int = 12345,
    deterministic: bool = True,
    venv=None,
) -> EvalResult:
    """Run ``policy`` (any :class:`policies.Policy`: learned, scripted, random or a
    :class:`policies.JointPolicy` of them) on ``env_id`` (or on ``venv`` when given) until
    ``episodes`` episodes finish, and average their figures. The policy must act for every
    group of the env: a mismatch of groups or spaces is one ``PolicyMismatchError`` line naming
    the group, expected and got."""
    own_env = venv is None
    if venv is None:
        venv = make_env(env_id, num_envs, seed, **(env_config or {}))
    try:
        check_policy(policy, venv.groups, env_id)
        finished = _play(policy, venv, episodes, seed, deterministic)
    finally:
        if own_env:
            venv.close()
    returns, metrics, counts = episode_figures(finished)
    return EvalResult(
        episodes=len(finished),
        mean_return=float(np.mean(list(returns.values()))) if returns else float("nan"),
        return_by_group=returns,
        metrics=metrics,
        metric_counts=counts,
    )


def _play(policy: Policy, venv, episodes: int, seed: int, deterministic: bool) -> list[dict]:
    obs = venv.reset(seed=seed)
    policy.reset()
    finished: list[dict] = []
    while len(finished) < episodes:
        actions = policy.act(obs, venv.action_mask(), deterministic=deterministic)
        obs, _, _, _, info = venv.step(actions)
        ended = info.get("episodes", ())
        finished.extend(ended)
        if ended:
            policy.reset(np.array([episode["env_id"] for episode in ended], np.int64))
    return finished[:episodes]
