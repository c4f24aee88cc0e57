"""Test helpers shared by the scenario tests: random actions, and playing until episodes end."""

from collections.abc import Callable

import numpy as np


def random_actions(venv, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Uniform actions for every group: integers for Discrete spaces, [-1, 1] floats for Box."""
    actions = {}
    for group, spec in venv.groups.items():
        space = spec.action_space
        if hasattr(space, "n"):
            actions[group] = rng.integers(0, space.n, (venv.num_envs, spec.n_agents))
        else:
            shape = (venv.num_envs, spec.n_agents, *space.shape)
            actions[group] = rng.uniform(-1, 1, shape).astype(np.float32)
    return actions


def random_policy(venv, seed: int) -> Callable:
    """``act(obs)`` drawing ``random_actions`` from a seeded generator."""
    rng = np.random.default_rng(seed)
    return lambda obs: random_actions(venv, rng)


def run_episodes(venv, act: Callable, count: int) -> list[dict]:
    """Step ``venv`` with ``act(obs)`` until ``count`` episodes have finished; their records."""
    obs = venv.reset()
    episodes = []
    while len(episodes) < count:
        obs, _, _, _, info = venv.step(act(obs))
        episodes += info["episodes"]
    return episodes


def mean_metrics(episodes: list[dict], mean: Callable = np.mean) -> dict[str, float]:
    """Each metric averaged over the episodes."""
    return {name: mean([e["metrics"][name] for e in episodes]) for name in episodes[0]["metrics"]}
