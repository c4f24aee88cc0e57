"""Play a policy (learned or scripted) on a scenario and average its episodes' figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from marl.envs import make_env


@dataclass
class EvalResult:
    """Means over the finished episodes: return (averaged over groups) and scenario metrics."""

    episodes: int
    mean_return: float
    return_by_group: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


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
    ``venv -> policy`` (for scripted or random baselines built around the env)."""
    own_env = venv is None
    if venv is None:
        venv = make_env(env_id, num_envs, seed, **(env_config or {}))
    if isinstance(policy, type) or (callable(policy) and not hasattr(policy, "act")):
        policy = policy(venv)
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
    if own_env:
        venv.close()
    finished = finished[:episodes]
    groups = finished[0]["return"].keys() if finished else []
    by_group = {g: float(np.mean([e["return"][g] for e in finished])) for g in groups}
    names = {n for e in finished for n in e.get("metrics", {})}
    metrics = {
        n: float(np.mean([e["metrics"][n] for e in finished if n in e["metrics"]])) for n in names
    }
    return EvalResult(
        episodes=len(finished),
        mean_return=float(np.mean(list(by_group.values()))) if by_group else float("nan"),
        return_by_group=by_group,
        metrics=metrics,
    )
