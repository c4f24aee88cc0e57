"""League matches on workers (``marl league --num-workers W [--ray]``): the same rounds, played
by W workers that each own an equal share of the round's worlds (whole matches).

Worker ``w`` builds a vector env of its share (seeded resets draw what those worlds draw in the
whole batch: ``VectorEnv.first_world``) and plays the slots that fall in it with a
:class:`marl.league.runner.LocalMatchRunner`, in its own sampling stream (seeded from the
round's seed and ``w``). It receives the learners' weights and the frozen players' kinds, not
live objects: it loads snapshots and checkpoints from the league folder itself, so on a Ray
cluster the workers need that folder (the same machine, or a shared filesystem). The league's
SQLite database, the updates and the ratings stay with the driver. In the learner's process or
as Ray actors, a round's result is the same, byte for byte; a lost Ray worker is replaced and
its round played again (a round starts from a seeded reset, so nothing else needs rebuilding).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch

from marl.envs import make_env, scripted_baseline
from marl.league.players import seed_for
from marl.league.runner import LocalMatchRunner, RoundResult, Slot
from marl.workers import InProcessShards, torch_threads
from policies import NetworkPolicy, RandomPolicy, load_policy


def frozen_players(
    kinds: dict[str, str], venv, root: Path, seed: int, round_index: int, cache: dict
) -> dict[str, Callable[[int], object]]:
    """``{pid: make(seat)}``: a fresh policy of each frozen player for one seat (scripted: the
    scenario's baseline; random: seeded by league seed, round and seat; snapshots and fixed
    checkpoints: loaded once from ``root/players/pid`` into ``cache``)."""

    def build(pid: str, kind: str):
        def make(seat: int):
            if kind == "scripted":
                return scripted_baseline(venv)
            if kind == "random":
                return RandomPolicy(venv.groups, seed_for(seed, round_index, 4, seat))
            if pid not in cache:
                cache[pid] = load_policy(root / "players" / pid)
            return cache[pid]

        return make

    return {pid: build(pid, kind) for pid, kind in kinds.items()}


class MatchWorker:
    """Worker ``index`` of ``count``: plays the slots in its share of the worlds."""

    def __init__(self, league: dict, spec: dict, root: str, index: int, count: int) -> None:
        from marl.league.config import league_config

        cfg = league_config(league)
        tcfg = cfg.train_config()
        share = tcfg.num_envs // count
        self.index, self.first, self.seed = index, index * share, cfg.seed
        self.root = Path(root)
        venv = make_env(cfg.scenario, share, cfg.seed, **cfg.env)
        venv.first_world = self.first
        self.venv = venv
        self.runner = LocalMatchRunner(venv, tcfg.algo)
        self.spec = spec
        self.learners: dict[str, NetworkPolicy] = {}
        self.cache: dict = {}

    def play(self, round_index, seed, slots, weights, kinds, num_steps) -> RoundResult:
        mine = [
            dataclasses.replace(s, start=s.start - self.first, stop=s.stop - self.first)
            for s in slots
        ]
        for pid, state in weights.items():
            if pid not in self.learners:
                with torch.random.fork_rng(devices=[]):
                    self.learners[pid] = NetworkPolicy(self.spec)
            self.learners[pid].load_state_dict(state)
        learners = {pid: self.learners[pid] for pid in weights}
        frozen = frozen_players(kinds, self.venv, self.root, self.seed, round_index, self.cache)
        for pid in [p for p in self.cache if p not in kinds]:
            del self.cache[pid]  # a snapshot that left the league
        with torch.random.fork_rng(devices=[]), torch_threads(1):
            torch.manual_seed(seed_for(seed, 7, self.index))
            result = self.runner.play(round_index, seed, mine, learners, frozen, num_steps)
        for game in result.games:
            game.env_id += self.first
        return result

    def ping(self) -> int:
        return self.index

    def close(self) -> None:
        self.venv.close()


class ShardedMatchRunner:
    """A :class:`marl.league.runner.MatchRunner` over ``count`` :class:`MatchWorker` (``shards``,
    in process or on Ray). ``kinds()`` names the frozen players and their kinds."""

    def __init__(self, shards, count: int, share: int, kinds: Callable[[], dict[str, str]]):
        self.shards, self.count, self.share, self.kinds = shards, count, share, kinds

    def play(self, round_index, seed, slots, learners, frozen, num_steps) -> RoundResult:
        del frozen  # the workers build their own from the players' kinds
        weights = {
            pid: {k: v.detach().cpu() for k, v in policy.state_dict().items()}
            for pid, policy in learners.items()
        }
        kinds = self.kinds()
        args = []
        for w in range(self.count):
            mine = [s for s in slots if s.start // self.share == w]
            args.append((round_index, seed, mine, weights, kinds, num_steps))
        result = RoundResult()
        for part in self.shards.call("play", args):
            for key, rollouts in part.rollouts.items():
                result.rollouts.setdefault(key, []).extend(rollouts)
            result.games.extend(part.games)
            result.agent_steps += part.agent_steps
        return result

    def close(self) -> None:
        self.shards.close()


def make_match_runner(league_data: dict, spec: dict, root: Path, tcfg, kinds) -> ShardedMatchRunner:
    """The workers of ``tcfg.num_workers`` (Ray actors with ``tcfg.ray``) behind one runner."""
    args = (league_data, spec, str(root))
    if tcfg.ray:
        from marl.ray_backend import RayShards

        shards = RayShards(args, tcfg.num_workers, tcfg.ray_address, worker=MatchWorker)
    else:
        shards = InProcessShards(args, tcfg.num_workers, worker=MatchWorker)
    share = tcfg.num_envs // tcfg.num_workers
    return ShardedMatchRunner(shards, tcfg.num_workers, share, kinds)


__all__ = ["MatchWorker", "ShardedMatchRunner", "Slot", "frozen_players", "make_match_runner"]
