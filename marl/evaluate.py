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


class RandomPolicy:
    """Uniform random actions from each group's action space (seeded)."""

    def __init__(self, venv, seed: int = 0) -> None:
        self.groups = venv.groups
        self.num_envs = venv.num_envs
        self.rng = np.random.default_rng(seed)

    def act(self, obs, action_mask=None, deterministic: bool = True):
        actions = {}
        for name, spec in self.groups.items():
            n = spec.n_agents
            if hasattr(spec.action_space, "n"):
                actions[name] = self.rng.integers(0, spec.action_space.n, (self.num_envs, n))
            else:
                low, high = spec.action_space.low, spec.action_space.high
                shape = (self.num_envs, n, *spec.action_space.shape)
                actions[name] = self.rng.uniform(low, high, shape).astype(np.float32)
        return actions


def evaluate(
    policy: Any,
    env_id: str,
    env_config: dict | None = None,
    episodes: int = 100,
    num_envs: int = 32,
    seed: int = 12345,
    deterministic: bool = True,
    venv=None,
) -> EvalResult:
    """Run ``policy.act`` until ``episodes`` episodes finish; ``policy`` may be a callable
    ``venv -> policy`` (for scripted or random baselines built around the env). A policy with
    ``check_groups`` (a loaded :class:`policies.Policy`) is first checked against the env's groups
    and spaces: a mismatch is one ``ValueError`` line naming the group, expected and got."""
    own_env = venv is None
    if venv is None:
        venv = make_env(env_id, num_envs, seed, **(env_config or {}))
    try:
        if isinstance(policy, type) or (callable(policy) and not hasattr(policy, "act")):
            policy = policy(venv)
        if hasattr(policy, "check_groups"):
            policy.check_groups(venv.groups, where=env_id)
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


def _play(policy, venv, episodes: int, seed: int, deterministic: bool) -> list[dict]:
    obs = venv.reset(seed=seed)
    if hasattr(policy, "reset_state"):
        policy.reset_state()
    finished: list[dict] = []
    while len(finished) < episodes:
        actions = policy.act(obs, venv.action_mask(), deterministic=deterministic)
        obs, _, terminated, truncated, info = venv.step(actions)
        finished.extend(info.get("episodes", ()))
        if hasattr(policy, "reset_state"):
            policy.reset_state({g: terminated[g] | truncated[g] for g in terminated})
    return finished[:episodes]
