"""The Policy protocol: one interface for everything that acts, and a joint policy of several.

Scripted baselines (beside their scenarios, numpy only), :class:`policies.RandomPolicy`, loaded
checkpoints and the learner's :class:`policies.NetworkPolicy` all implement :class:`Policy`;
``marl``'s evaluation, ``marl play`` and the trainer's fixed groups take any of them. A scripted
baseline conforms by shape alone (it cannot import this module).

A :class:`JointPolicy` assigns groups to different policies: ``JointPolicy({"pursuer": learned,
"evader": scripted})`` acts for both groups, each with its own policy.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Policy(Protocol):
    """What acts: for a batch of worlds, actions of every agent of the groups it controls.

    ``groups`` are the names of the groups it acts for. ``act`` takes ``obs`` with an array
    ``(B, N, obs_dim)`` per group (B worlds, N agents) and optional ``action_mask`` (group ->
    bool ``(B, N, n_actions)``), and returns an action array per group: int64 ``(B, N)`` for a
    Discrete space, float32 ``(B, N, act_dim)`` for a Box. A policy with recurrent state keeps
    it inside, per world; ``reset(env_ids)`` clears it for those worlds (all when None) and is
    called when their episodes end.
    """

    groups: Collection[str]

    def act(
        self,
        obs: dict[str, np.ndarray],
        action_mask: dict[str, np.ndarray] | None = None,
        deterministic: bool = True,
    ) -> dict[str, np.ndarray]:
        """Actions per group for the observations of the groups this policy acts for."""
        ...

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        """Clear the recurrent state of worlds ``env_ids`` (of all worlds when None)."""
        ...


class JointPolicy:
    """Acts for several groups, each assigned to its own policy (members may repeat).

    Each member is given the observations (and masks) of the groups it acts for, once per
    step, and the actions of the groups assigned to it are kept. ``reset`` reaches every
    member.
    """

    def __init__(self, assignment: Mapping[str, Policy]) -> None:
        if not assignment:
            raise ValueError("a joint policy needs at least one group")
        for group, policy in assignment.items():
            if group not in policy.groups:
                raise ValueError(
                    f"group {group!r}: its policy acts for {sorted(policy.groups)}, not for it"
                )
        self.assignment = dict(assignment)
        self.groups = tuple(assignment)
        members: dict[int, Policy] = {}
        for policy in assignment.values():
            members.setdefault(id(policy), policy)
        self.members = list(members.values())

    def act(
        self,
        obs: dict[str, np.ndarray],
        action_mask: dict[str, np.ndarray] | None = None,
        deterministic: bool = True,
    ) -> dict[str, np.ndarray]:
        """Every member acts once on its own groups' observations; the actions of the groups
        assigned to it are returned, in assignment order."""
        chosen: dict[int, dict[str, np.ndarray]] = {}
        for member in self.members:
            names = [g for g in member.groups if g in obs]
            masks = None
            if action_mask is not None:
                masks = {g: action_mask[g] for g in names if action_mask.get(g) is not None}
            chosen[id(member)] = member.act({g: obs[g] for g in names}, masks, deterministic)
        return {g: chosen[id(policy)][g] for g, policy in self.assignment.items()}

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        """Reset every member's recurrent state for worlds ``env_ids`` (all when None)."""
        for member in self.members:
            member.reset(env_ids)


__all__ = ["JointPolicy", "Policy"]
