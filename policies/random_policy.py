"""A policy of uniform random actions (a baseline, and a fixed opponent for training)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


class RandomPolicy:
    """Uniform random actions from each group's action space, from its own seeded generator.

    ``groups`` maps each group name to an object with an ``action_space`` (a
    ``scenarios.GroupSpec``, or anything shaped like one). Discrete actions are drawn among the
    allowed ones where an action mask is given. The batch size is read from the observations.
    It keeps no state between steps, so :meth:`reset` does nothing.
    """

    def __init__(self, groups: Mapping[str, Any], seed: int = 0) -> None:
        self.spaces = {name: spec.action_space for name, spec in groups.items()}
        self.groups = tuple(self.spaces)
        self.rng = np.random.default_rng(seed)

    def act(
        self,
        obs: dict[str, np.ndarray],
        action_mask: dict[str, np.ndarray] | None = None,
        deterministic: bool = True,
    ) -> dict[str, np.ndarray]:
        """Random actions for every group of ``obs`` this policy knows (``deterministic`` has no
        effect: the point of this policy is its randomness)."""
        actions = {}
        for name, space in self.spaces.items():
            if name not in obs:
                continue
            batch, n_agents = np.shape(obs[name])[:2]
            mask = None if action_mask is None else action_mask.get(name)
            if hasattr(space, "n") and mask is not None:
                scores = self.rng.random(np.shape(mask))
                scores[~np.asarray(mask, bool)] = -1.0
                actions[name] = scores.argmax(-1).astype(np.int64)
            elif hasattr(space, "n"):
                actions[name] = self.rng.integers(0, space.n, (batch, n_agents))
            else:
                shape = (batch, n_agents, *space.shape)
                actions[name] = self.rng.uniform(space.low, space.high, shape).astype(np.float32)
        return actions

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        """Nothing to clear: the actions do not depend on the past."""


__all__ = ["RandomPolicy"]
