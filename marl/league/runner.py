"""Matches: many match-ups at once in one vector env batch, the learners' sides recorded for PPO.

A round's worlds are split into *slots* of ``slot_envs`` worlds. A :class:`Slot` assigns a
player to every group of the scenario (pursuers to one player, evaders to another; a self-play
slot gives every group to the same learner). :meth:`LocalMatchRunner.play` resets the batch with
the round's seed and steps it ``num_steps`` times. In each slot, each group acts through its
player: a learner samples and its inputs, actions, log-probabilities and values are recorded
(one rollout per learner and group, over every world where it plays that group: one forward
per step however many matches it plays); a frozen player (snapshot, checkpoint: sampled;
scripted, random) only acts. So only the sides of a match marked as learners get gradients.

Every episode that ends is a *game*: :class:`Game` names the players per group and their scores
from the scenario's ``outcome`` (pursuit: by how long the evaders stayed free);
a scenario without one scores the groups by their mean returns (1 the higher, 0.5 a tie).

A Ray runner implements :class:`MatchRunner` with the same inputs (weights, not live objects)
and returns the same :class:`RoundResult`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from marl.rollout import (
    GroupRollout,
    act_and_record,
    allocate_rollout,
    critic_input,
    critic_values,
    record_outcome,
)
from policies import NetworkPolicy, Policy


@dataclass(frozen=True)
class Slot:
    """One match-up: worlds ``[start, stop)`` and the player of every group."""

    index: int
    start: int
    stop: int
    sides: dict[str, str]  # group -> player id
    learner: str  # the learner the match was drawn for
    kind: str  # how its opponent was chosen (selfplay, pfsp, verification, ...)


@dataclass
class Game:
    """One finished episode of a slot."""

    round: int
    slot: int
    env_id: int
    sides: dict[str, str]
    scores: dict[str, float]
    returns: dict[str, float]
    length: int


@dataclass
class RoundResult:
    """What a runner returns: the learners' rollouts per (player, group), one per slot it
    played that group in, and the games that ended."""

    rollouts: dict[tuple[str, str], list[GroupRollout]] = field(default_factory=dict)
    games: list[Game] = field(default_factory=list)
    agent_steps: int = 0


class MatchRunner(Protocol):
    def play(
        self,
        round_index: int,
        seed: int,
        slots: list[Slot],
        learners: dict[str, NetworkPolicy],
        frozen: dict[str, Callable[[int], Policy]],
        num_steps: int,
    ) -> RoundResult:
        """Play ``slots`` for ``num_steps`` vector steps from a reset with ``seed``.
        ``frozen[pid](index)`` builds a frozen player's policy for one seat (a group in the
        worlds where that player plays it), ``index`` numbering the seats."""


def default_outcome(record: dict) -> dict[str, float]:
    """Scores of the groups by mean return: 1 for the highest, 0 for the lowest, 0.5 for ties
    (with more groups, the rank scaled to [0, 1])."""
    returns = record["return"]
    values = np.array([returns[g] for g in returns], np.float64)
    ranks = np.array([(values > v).sum() + 0.5 * ((values == v).sum() - 1) for v in values])
    scale = max(len(values) - 1, 1)
    return {g: float(1.0 - r / scale) for g, r in zip(returns, ranks, strict=True)}


class _Part:
    """A view of the vector env with ``count`` worlds, for allocating a seat's rollout."""

    def __init__(self, venv, count: int) -> None:
        self.num_envs, self.groups, self.state_space = count, venv.groups, venv.state_space
        self._masks = venv.action_mask()

    def action_mask(self):
        return self._masks


@dataclass
class _Seat:
    """A player on one group in every world where it plays that group this round (one forward
    per step, however many matches)."""

    group: str
    pid: str
    worlds: np.ndarray  # sorted world indices
    buffer: GroupRollout | None = None
    memory: dict | None = None
    policy: Any = None


def _slice(value: Any, worlds: np.ndarray) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _slice(v, worlds) for k, v in value.items()}
    return value[worlds]


class LocalMatchRunner:
    """Plays the slots on one in-process vector env, built once and reset every round."""

    def __init__(self, venv, algo: str) -> None:
        self.venv = venv
        self.algo = algo
        self.scenario = getattr(venv, "scenario", None)

    def outcome(self, record: dict) -> dict[str, float]:
        """The groups' scores of a finished episode: the scenario's ``outcome``, or
        :func:`default_outcome` where it has none (returns None) or is not a scenario here."""
        scores = None
        if self.scenario is not None and hasattr(self.scenario, "outcome"):
            scores = self.scenario.outcome(record)
        return default_outcome(record) if scores is None else scores

    def play(self, round_index, seed, slots, learners, frozen, num_steps) -> RoundResult:
        venv = self.venv
        obs = venv.reset(seed=seed)
        seats = self._seats(slots, learners, frozen, num_steps)
        result = RoundResult()
        owner = np.empty(venv.num_envs, np.int64)
        for slot in slots:
            owner[slot.start : slot.stop] = slot.index
        for t in range(num_steps):
            actions = self._act(seats, obs, t)
            obs, rew, terminated, truncated, info = venv.step(actions)
            outcome = (rew, terminated, truncated, info)
            for seat in seats:
                if seat.buffer is not None:
                    part = tuple(_slice(x, seat.worlds) for x in outcome[:3])
                    finals = {
                        k: _slice(info.get(k), seat.worlds) for k in ("final_obs", "final_state")
                    }
                    record_outcome(
                        seat.policy,
                        {seat.group: seat.buffer},
                        {seat.group: seat.memory},
                        t,
                        (*part, finals),
                        self.algo,
                    )
            ended = info.get("episodes", ())
            if ended:
                self._games(round_index, slots, owner, seats, ended, result)
        self._bootstrap(seats, learners, obs)
        for seat in seats:
            if seat.buffer is not None:
                result.rollouts.setdefault((seat.pid, seat.group), []).append(seat.buffer)
        agents = sum(spec.n_agents for spec in venv.groups.values())
        result.agent_steps = num_steps * venv.num_envs * agents
        return result

    def _seats(self, slots, learners, frozen, num_steps) -> list[_Seat]:
        where: dict[tuple[str, str], list[int]] = {}
        for slot in slots:
            for group in self.venv.groups:
                where.setdefault((slot.sides[group], group), []).extend(
                    range(slot.start, slot.stop)
                )
        seats = []
        for index, ((pid, group), worlds) in enumerate(where.items()):
            seat = _Seat(group, pid, np.array(sorted(worlds), np.int64))
            if pid in learners:
                part = _Part(self.venv, len(worlds))
                seat.buffer = allocate_rollout(part, self.algo, num_steps, False, groups=[group])[
                    group
                ]
                n = self.venv.groups[group].n_agents
                seat.memory = {"hidden": None, "starts": torch.ones(len(worlds), n)}
                seat.policy = learners[pid]
            else:
                seat.policy = frozen[pid](index)
            seats.append(seat)
        return seats

    def _act(self, seats: list[_Seat], obs: dict, t: int) -> dict[str, np.ndarray]:
        venv = self.venv
        state = venv.state() if self.algo != "ippo" else None
        masks = venv.action_mask()
        alive = venv.alive
        actions = {}
        for group, spec in venv.groups.items():
            discrete = hasattr(spec.action_space, "n")
            shape = (venv.num_envs, spec.n_agents) + (() if discrete else spec.action_space.shape)
            actions[group] = np.zeros(shape, np.int64 if discrete else np.float32)
        for seat in seats:
            g, worlds = seat.group, seat.worlds
            sub_obs = {g: obs[g][worlds]}
            sub_masks = None if masks is None or masks.get(g) is None else {g: masks[g][worlds]}
            if seat.buffer is not None:
                chosen = act_and_record(
                    seat.policy,
                    {g: seat.buffer},
                    {g: seat.memory},
                    t,
                    sub_obs,
                    _slice(state, worlds),
                    sub_masks,
                    {g: alive[g][worlds]},
                    self.algo,
                )[g]
            else:
                chosen = frozen_act(seat.policy, g, sub_obs[g], sub_masks)
            actions[g][worlds] = chosen
        return actions

    def _games(self, round_index, slots, owner, seats, ended, result: RoundResult) -> None:
        for record in ended:
            env_id = int(record["env_id"])
            slot = slots[int(owner[env_id]) - slots[0].index]
            scores = self.outcome(record)
            result.games.append(
                Game(
                    round_index,
                    slot.index,
                    env_id,
                    dict(slot.sides),
                    {g: float(scores[g]) for g in self.venv.groups},
                    {g: float(v) for g, v in record["return"].items()},
                    int(record["length"]),
                )
            )
        ended_ids = np.array(sorted(int(r["env_id"]) for r in ended), np.int64)
        for seat in seats:
            if seat.buffer is None:
                mine = ended_ids[np.isin(ended_ids, seat.worlds)]
                if len(mine):
                    seat.policy.reset(np.searchsorted(seat.worlds, mine))

    @torch.no_grad()
    def _bootstrap(self, seats, learners, obs) -> None:
        state = self.venv.state() if self.algo != "ippo" else None
        for seat in seats:
            if seat.buffer is None:
                continue
            worlds = seat.worlds
            c_in = critic_input(
                self.algo, seat.group, obs[seat.group][worlds], _slice(state, worlds)
            )
            seat.buffer.next_value.copy_(critic_values(learners[seat.pid], seat.group, c_in))


@torch.no_grad()
def frozen_act(policy, group: str, obs: np.ndarray, masks: dict | None) -> np.ndarray:
    """A frozen player's actions for one group: a network samples from its own policy for that
    group alone; any other Policy acts on that group's observations."""
    if isinstance(policy, NetworkPolicy):
        x = torch.from_numpy(np.ascontiguousarray(obs, dtype=np.float32))
        mask = None if masks is None else torch.from_numpy(masks[group])
        _, _, action, _ = policy.sample(group, x, mask)
        return action.numpy()
    return policy.act({group: obs}, masks, deterministic=False)[group]
