"""Agents that leave and join: the vector env's side of respawning groups (``GroupSpec.lives``).

A slot of a respawning group whose agent ended is *vacant* while it has lives left. At the start
of each step the vector env asks the scenario to fill vacant slots (``Scenario.spawn``, only for
the worlds that have one; what is random about new agents was drawn at the reset, so a world's
random stream never depends on its history); a filled slot's new agent is
alive again, joins with that step's observation and gets no reward for that step (its slot's
action was sent while it was vacant). For the learners a life is an episode of its own: the
termination that ended the last one cut the return, the new one starts fresh. A world's episode
ends at the time limit, or when no slot is alive and none has a life left.
"""

from __future__ import annotations

import numpy as np

from scenarios.core import Episode, GroupSpec


class Respawns:
    """Lives and births of the respawning groups of one vector env (None without any)."""

    def __init__(self, groups: dict[str, GroupSpec], num_envs: int, episode: Episode) -> None:
        self.limit = {g: s.lives for g, s in groups.items() if s.lives > 1}
        self.lives = {g: np.ones((num_envs, groups[g].n_agents), np.int64) for g in self.limit}
        self.born = {g: np.zeros((num_envs, groups[g].n_agents), bool) for g in self.limit}
        episode.lives, episode.born = self.lives, self.born
        self.any_born = False

    @classmethod
    def of(cls, groups: dict[str, GroupSpec], num_envs: int, episode: Episode):
        return cls(groups, num_envs, episode) if any(s.lives > 1 for s in groups.values()) else None

    def reset(self, rows) -> None:
        for group in self.limit:
            self.lives[group][rows] = 1
            self.born[group][rows] = False

    def can_act(self, group: str, alive: np.ndarray) -> np.ndarray:
        """Worlds ``(B,)`` where a slot of ``group`` is alive or may still be filled."""
        limit = self.limit.get(group)
        if limit is None:
            return alive.any(axis=1)
        return (alive | (self.lives[group] < limit)).any(axis=1)

    def spawn(self, scenario, world, alive: dict, ended_at: dict, some_dead: bool):
        """Let ``scenario`` fill vacant slots; returns whether any agent was born."""
        if self.any_born:
            for born in self.born.values():
                born[...] = False
            self.any_born = False
        if not some_dead:
            return False
        vacant = {g: ~alive[g] & (self.lives[g] < m) for g, m in self.limit.items()}
        worlds = np.flatnonzero(np.logical_or.reduce([v.any(axis=1) for v in vacant.values()]))
        if not worlds.size:
            return False
        filled = scenario.spawn(world, worlds, {g: v[worlds] for g, v in vacant.items()})
        for group, slots in vacant.items():
            new = filled.get(group)
            if new is None:
                continue
            new = np.asarray(new)
            if new.dtype != bool or new.shape != slots[worlds].shape:
                raise RuntimeError(
                    f"{scenario.scenario_id}: spawn must return bool {slots[worlds].shape} for "
                    f"group {group!r}, got {new.dtype} {new.shape}"
                )
            if (new & ~slots[worlds]).any():
                raise RuntimeError(
                    f"{scenario.scenario_id}: spawn filled a slot that is not vacant"
                )
            born = self.born[group]
            born[worlds] = new
            alive[group] |= born
            self.lives[group] += born
            ended_at[group][born] = 0
            self.any_born |= bool(new.any())
        return self.any_born

    def zero_rewards(self, rew: dict[str, np.ndarray]) -> None:
        """New agents get no reward for the step they joined in."""
        for group, born in self.born.items():
            rew[group][born] = 0.0
