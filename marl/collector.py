"""Rollout collection behind one small interface, so local and remote workers interchange.

A collector owns its environments and a CPU copy of the policy. The learner calls
``collect(weights, ...)`` with the newest weights (``None`` when the collector shares the learner's
own CPU policy object) and gets a :class:`marl.ppo.Rollout` back. A Ray worker would implement the
same methods and ship the rollout's tensors back.

For exact resume a collector also keeps the actions it gave its environments since the last
seeded reset (``action_log``), and can rebuild that state in a new process: ``replay`` resets with
the same seed and steps the environments with the logged actions (no policy involved), then
restores the recurrent memory; ``digest`` fingerprints the observations to check the result.

Groups that play a fixed policy (``marl train --fixed``) act through ``make_fixed(seed)``, a
fresh policy built at every seeded reset (a random one draws from that seed), so a replay that
rebuilds it with the same seed and lets it act on the replayed observations rebuilds its state
too; its actions must then equal the logged ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch

from marl.rollout import Rollout, allocate_rollout, collect_rollout, fixed_actions, initial_memory
from policies import NetworkPolicy, Policy


class RolloutCollector(Protocol):
    """What the learner needs from a source of experience."""

    def reset(self, seed: int | None) -> None:
        """Reset every environment (deterministically when ``seed`` is given)."""

    def collect(self, weights: dict[str, torch.Tensor] | None, num_steps: int) -> Rollout:
        """Run the policy with ``weights`` for ``num_steps`` vector steps."""

    def close(self) -> None:
        """Release the environments."""


def observation_digest(obs: dict[str, np.ndarray], alive: dict[str, np.ndarray]) -> str:
    """sha256 of observations and alive masks, every group in name order."""
    hasher = hashlib.sha256()
    for group in sorted(obs):
        hasher.update(group.encode())
        hasher.update(np.ascontiguousarray(obs[group], dtype=np.float32).tobytes())
        hasher.update(np.ascontiguousarray(alive[group], dtype=bool).tobytes())
    return hasher.hexdigest()


class LocalCollector:
    """Collects from one in-process vector env with a CPU policy for the learning groups (the
    groups of ``policy``) and, when some groups are fixed, ``make_fixed(seed)`` for the rest."""

    def __init__(
        self,
        venv,
        policy: NetworkPolicy,
        algo: str,
        pin_memory: bool = False,
        make_fixed: Callable[[int | None], Policy] | None = None,
    ) -> None:
        self.venv = venv
        self.policy = policy
        self.algo = algo
        self.pin_memory = pin_memory
        self.recurrent = policy.net_config.recurrent
        self.make_fixed = make_fixed
        self.fixed: Policy | None = None
        self.obs = None
        self.memory = None
        self.action_log: list[dict[str, np.ndarray]] = []
        self._buffers = None

    def reset(self, seed: int | None) -> None:
        self.obs = self.venv.reset(seed=seed)
        self.memory = initial_memory(self.venv, self.recurrent, list(self.policy.groups))
        self.action_log = []
        if self.make_fixed is not None:
            self.fixed = self.make_fixed(seed)

    def collect(self, weights: dict[str, torch.Tensor] | None, num_steps: int) -> Rollout:
        if weights is not None:
            self.policy.load_state_dict(weights)
        if self.obs is None:
            self.reset(None)
        if self._buffers is None or next(iter(self._buffers.values())).obs.shape[0] != num_steps:
            self._buffers = allocate_rollout(
                self.venv,
                self.algo,
                num_steps,
                self.pin_memory,
                self.recurrent,
                groups=list(self.policy.groups),
            )
        rollout, self.obs = collect_rollout(
            self.venv,
            self.policy,
            self.obs,
            self._buffers,
            self.algo,
            self.memory,
            self.action_log,
            self.fixed,
        )
        return rollout

    def replay(
        self,
        seed: int,
        actions: dict[str, np.ndarray],
        memory: dict[str, dict[str, torch.Tensor | None]],
    ) -> bool:
        """Reset with ``seed``, step with the logged ``actions`` (``{group: (steps, ...)}``),
        then take ``memory`` as the recurrent memory. The fixed groups' policy acts on the way
        (rebuilding its state); returns whether its actions equalled the logged ones."""
        self.reset(seed)
        steps = next(iter(actions.values())).shape[0] if actions else 0
        same = True
        for t in range(steps):
            joint = {g: np.ascontiguousarray(a[t]) for g, a in actions.items()}
            if self.fixed is not None:
                again = fixed_actions(
                    self.fixed, self.venv.groups, self.obs, self.venv.action_mask()
                )
                same = same and all(np.array_equal(a, joint[g]) for g, a in again.items())
            self.action_log.append({g: a.copy() for g, a in joint.items()})
            self.obs, _, _, _, info = self.venv.step(joint)
            if self.fixed is not None and info.get("episodes"):
                self.fixed.reset(np.array([e["env_id"] for e in info["episodes"]], np.int64))
        self.memory = {
            g: {k: None if v is None else v.clone() for k, v in m.items()}
            for g, m in memory.items()
        }
        return same

    def memory_copy(self) -> dict[str, dict[str, torch.Tensor | None]]:
        return {
            g: {k: None if v is None else v.detach().clone() for k, v in m.items()}
            for g, m in self.memory.items()
        }

    def digest(self) -> str:
        """sha256 of the current observations and alive masks (:func:`observation_digest`)."""
        return observation_digest(self.obs, self.venv.alive)

    def close(self) -> None:
        self.venv.close()
