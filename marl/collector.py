"""Rollout collection behind one small interface, so local and remote workers interchange.

A collector owns its environments and a CPU copy of the policy. The learner calls
``collect(weights, ...)`` with the newest weights (``None`` when the collector shares the learner's
own CPU policy object) and gets a :class:`marl.ppo.Rollout` back. A Ray worker would implement the
same three methods and ship the rollout's tensors back.
"""

from __future__ import annotations

from typing import Protocol

import torch

from marl.ppo import Rollout, allocate_rollout, collect_rollout, initial_memory
from policies import Policy


class RolloutCollector(Protocol):
    """What the learner needs from a source of experience."""

    def reset(self, seed: int | None) -> None:
        """Reset every environment (deterministically when ``seed`` is given)."""

    def collect(self, weights: dict[str, torch.Tensor] | None, num_steps: int) -> Rollout:
        """Run the policy with ``weights`` for ``num_steps`` vector steps."""

    def close(self) -> None:
        """Release the environments."""


class LocalCollector:
    """Collects from one in-process vector env with a CPU policy."""

    def __init__(self, venv, policy: Policy, algo: str, pin_memory: bool = False) -> None:
        self.venv = venv
        self.policy = policy
        self.algo = algo
        self.pin_memory = pin_memory
        self.recurrent = policy.net_config.recurrent
        self.obs = None
        self.memory = None
        self._buffers = None

    def reset(self, seed: int | None) -> None:
        self.obs = self.venv.reset(seed=seed)
        self.memory = initial_memory(self.venv, self.recurrent)

    def collect(self, weights: dict[str, torch.Tensor] | None, num_steps: int) -> Rollout:
        if weights is not None:
            self.policy.load_state_dict(weights)
        if self.obs is None:
            self.reset(None)
        if self._buffers is None or next(iter(self._buffers.values())).obs.shape[0] != num_steps:
            self._buffers = allocate_rollout(
                self.venv, self.algo, num_steps, self.pin_memory, self.recurrent
            )
        rollout, self.obs = collect_rollout(
            self.venv, self.policy, self.obs, self._buffers, self.algo, self.memory
        )
        return rollout

    def close(self) -> None:
        self.venv.close()
