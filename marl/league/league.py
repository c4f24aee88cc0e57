"""The league loop: rounds of matches, PPO updates of the learners, snapshots, resets, ratings.

A round (numbered from 0):

1. seeds: matchmaking draws from ``seed_for(seed, round, 1)``, torch from
   ``seed_for(seed, round, 2)``, the environments reset with ``seed_for(seed, round, 3)``;
2. matchmaking (:mod:`marl.league.roles`): the worlds are split into matches, dealt to the
   learners in turn; each gets an opponent by the learner's role and is played with the sides
   mirrored (its worlds split between the groups, the learner taking each in turn);
3. the runner plays every slot at once (:mod:`marl.league.runner`); each learner's PPO update
   (``marl.ppo``, the same as ``marl train``) runs on the slots it played, per group;
4. the games update the payoff table; frozen copies and resets follow the role rules;
5. ratings (OpenSkill, Elo fitted on the whole record, Nash averaging) are computed;
6. the learners' states and new snapshots are written, then the database records the round in
   one transaction (:mod:`marl.league.store`).

Exact resume. Everything a round draws comes from seeds derived from the round number, and
everything it carries into the next round is in the database or the files it names, so a
league killed at any moment (SIGKILL included) resumes from its last committed round and
writes the same database (but for ``timings``) and the same weights as an unbroken run.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from marl.envs import make_env, scripted_baseline
from marl.league.config import LeagueConfig, config_to_dict
from marl.league.payoff import PayoffTable
from marl.league.players import Learner, Player, seed_for, write_frozen
from marl.league.ratings import Game as RatedGame
from marl.league.ratings import rating_table
from marl.league.roles import after_round, choose_opponent
from marl.league.runner import Game, LocalMatchRunner, MatchRunner, Slot
from marl.league.store import Store
from marl.league.workers import frozen_players
from marl.ppo import ppo_loss, ppo_update, prepare_group_batch
from marl.rollout import merge_rollouts
from marl.runs.session import build_spec, resolve_device
from marl.validation import ConfigError
from policies import load_policy

LEARNER_ROLES = ("main", "main_exploiter", "league_exploiter")


@dataclass
class League:
    """A league's live state (rebuilt from its folder on resume)."""

    cfg: LeagueConfig
    root: Path
    store: Store
    venv: object
    spec: dict
    players: list[Player]
    learners: dict[str, Learner]
    payoff: PayoffTable
    games: list[Game] = field(default_factory=list)
    round: int = 0
    writer: object = None
    device: torch.device = torch.device("cpu")  # where the learners' updates run
    runner: MatchRunner | None = None  # plays the matches (a Ray runner may replace it)

    # ------------------------------------------------------------------ building
    @classmethod
    def create(cls, cfg: LeagueConfig, root: Path) -> League:
        """A new league in ``root`` (which holds no league yet)."""
        league = cls._open(cfg, root, Store(root, create=True))
        tcfg = cfg.train_config()
        index = 0
        for role, count in zip(
            LEARNER_ROLES, (cfg.mains, cfg.main_exploiters, cfg.league_exploiters), strict=True
        ):
            for k in range(count):
                player = Player(f"{role}_{k}", "learner", role)
                seed = seed_for(cfg.seed, 0, 100 + index)
                learner = Learner.create(player, league.spec, tcfg, seed, league.device)
                learner.save(root, "init")
                player.state = learner.save(root, "start")
                league.learners[player.pid] = learner
                league.players.append(player)
                index += 1
        if cfg.scripted and scripted_baseline(league.venv) is not None:
            league.players.append(Player("scripted", "scripted", "fixed"))
        if cfg.random:
            league.players.append(Player("random", "random", "fixed"))
        for name, path in cfg.add.items():
            policy = load_policy(path)
            policy.check_groups(league.venv.groups, where=f"{cfg.scenario} (player {name!r})")
            write_frozen(root, name, policy)
            league.players.append(Player(name, "checkpoint", "fixed"))
        for p in league.players:
            league.payoff.add_player(p.pid)
        league.store.start(config_to_dict(cfg), league.players)
        return league

    @classmethod
    def resume(cls, root: Path, cfg: LeagueConfig) -> League:
        """The league in ``root`` at its last committed round."""
        store = Store(root)
        league = cls._open(cfg, root, store)
        league.players = store.players()
        league.round = store.rounds_done()
        tcfg = cfg.train_config()
        for player in league.players:
            if player.kind == "learner":
                learner = Learner.create(player, league.spec, tcfg, 0, league.device)
                learner.load(root, player.state)
                league.learners[player.pid] = learner
        league.payoff = PayoffTable.from_rows(
            store.payoff_rows(), cfg.payoff_decay, [p.pid for p in league.players]
        )
        league.games = store.games()
        league._remove_stale()
        return league

    @classmethod
    def _open(cls, cfg: LeagueConfig, root: Path, store: Store) -> League:
        tcfg = cfg.train_config()
        torch.set_num_threads(tcfg.torch_threads)
        venv = make_env(cfg.scenario, tcfg.num_envs, cfg.seed, **cfg.env)
        if len(venv.groups) < 2:
            venv.close()
            raise ValueError(
                f"config field 'scenario': {cfg.scenario} has one group "
                f"({', '.join(venv.groups)}); a league needs two or more to match players"
            )
        if cfg.slot_envs % len(venv.groups):
            venv.close()
            raise ConfigError(
                f"config field 'slot_envs': {cfg.slot_envs} worlds do not split evenly between "
                f"the {len(venv.groups)} groups of {cfg.scenario} (a match is played with the "
                "sides mirrored)"
            )
        spec = build_spec(venv, tcfg, "")
        league = cls(cfg, root, store, venv, spec, [], {}, PayoffTable(cfg.payoff_decay))
        league.device = resolve_device(tcfg.device)
        if tcfg.num_workers:
            league.runner = league.worker_runner(tcfg)
        else:
            league.runner = LocalMatchRunner(venv, tcfg.algo)
        return league

    def worker_runner(self, tcfg):
        """Matches on ``train.num_workers`` workers (Ray actors with ``train.ray``); each owns
        whole matches, so its share of the worlds is a multiple of ``slot_envs``."""
        share = tcfg.num_envs // tcfg.num_workers
        if share % self.cfg.slot_envs:
            self.venv.close()
            raise ConfigError(
                f"config field 'train.num_workers': {tcfg.num_workers} workers get {share} "
                f"worlds each, not whole matches of slot_envs {self.cfg.slot_envs}"
            )
        from marl.league.workers import make_match_runner

        def kinds() -> dict[str, str]:
            return {p.pid: p.kind for p in self.players if p.frozen}

        data = config_to_dict(self.cfg)
        return make_match_runner(data, self.spec, self.root, tcfg, kinds)

    def close(self) -> None:
        if hasattr(self.runner, "close"):
            self.runner.close()
        self.venv.close()
        self.store.close()
        if self.writer is not None:
            self.writer.close()

    # ------------------------------------------------------------------ a round
    def player(self, pid: str) -> Player:
        return next(p for p in self.players if p.pid == pid)

    def frozen_factory(self):
        """``factory(pid)(slot)``: a fresh policy object of frozen player ``pid`` for a slot."""
        kinds = {p.pid: p.kind for p in self.players if p.frozen}
        return frozen_players(kinds, self.venv, self.root, self.cfg.seed, self.round, {})

    def matchmake(self, rng: np.random.Generator) -> list[Slot]:
        """Deal the matches (``slot_envs`` worlds each) to the learners in turn; each gets an
        opponent by its role. A match is played with the sides mirrored: its worlds are split
        evenly between the groups, the learner taking each group in turn (pursuers in half of
        them, evaders in the other half), so a pair's win rate does not depend on which side
        happened to be dealt. A self-play match gives every group to the learner."""
        tcfg = self.cfg.train_config()
        groups = list(self.venv.groups)
        part = self.cfg.slot_envs // len(groups)
        order = [p for p in self.players if p.kind == "learner"]
        slots: list[Slot] = []
        for match in range(tcfg.num_envs // self.cfg.slot_envs):
            me = order[match % len(order)]
            opponent, kind = choose_opponent(self.cfg, rng, me, self.players, self.payoff)
            start = match * self.cfg.slot_envs
            if opponent == me.pid:
                sides = dict.fromkeys(groups, me.pid)
                slots.append(
                    Slot(len(slots), start, start + self.cfg.slot_envs, sides, me.pid, kind)
                )
                continue
            for k, side in enumerate(groups):
                sides = {g: me.pid if g == side else opponent for g in groups}
                low = start + k * part
                slots.append(Slot(len(slots), low, low + part, sides, me.pid, kind))
        return slots

    def update(self, result) -> dict[str, float]:
        """Each learner's PPO update on the slots it played, per group."""
        tcfg = self.cfg.train_config()
        stats = {}
        for (pid, group), parts in sorted(result.rollouts.items()):
            learner = self.learners[pid]
            batch, _ = prepare_group_batch(
                merge_rollouts(parts),
                tcfg,
                learner.value_norms.get(group),
                learner.filter_state.setdefault(group, {}),
            )
            if self.device.type == "cuda":
                batch = {
                    k: v.pin_memory().to(self.device, non_blocking=True) for k, v in batch.items()
                }
            out = ppo_update(
                learner.policy.groups[group], learner.optimizers[group], batch, tcfg, ppo_loss
            )
            stats.update({f"{pid}/{group}/{k}": v for k, v in out.items()})
        for learner in self.learners.values():
            learner.sync()
        return stats

    def play_round(self) -> dict:
        """Play, learn and commit one round; returns what the live view shows."""
        tick = time.perf_counter()
        r = self.round
        rng = np.random.default_rng(seed_for(self.cfg.seed, r, 1))
        torch.manual_seed(seed_for(self.cfg.seed, r, 2))
        env_seed = seed_for(self.cfg.seed, r, 3)
        slots = self.matchmake(rng)
        learners = {pid: ln.actor for pid, ln in self.learners.items()}
        result = self.runner.play(
            r, env_seed, slots, learners, self.frozen_factory(), self.cfg.train_config().num_steps
        )
        stats = self.update(result)
        record_games(self.payoff, result.games)
        self.games.extend(result.games)
        events, new_players = self.role_rules(rng)
        ratings = rating_table(rated_games(self.games), [p.pid for p in self.players], self.payoff)
        self.commit(env_seed, slots, result, ratings, events, new_players, tick)
        self.round += 1
        return {
            "round": r,
            "result": result,
            "ratings": ratings,
            "stats": stats,
            "seconds": time.perf_counter() - tick,
            "events": events,
            "slots": slots,
        }

    def role_rules(self, rng) -> tuple[list[tuple[str, str, str]], list[Player]]:
        """Freeze and restart learners by their roles; returns the events and new players."""
        events, new_players = [], []
        tcfg = self.cfg.train_config()
        for player in [p for p in self.players if p.kind == "learner"]:
            player.since_reset += 1
            freeze, restart, why = after_round(
                self.cfg, rng, player, self.players, self.payoff, self.round
            )
            if freeze:
                copy = Player(
                    f"{player.pid}-r{self.round}",
                    "snapshot",
                    player.role,
                    player.pid,
                    self.round + 1,
                )
                write_frozen(self.root, copy.pid, self.learners[player.pid].policy)
                new_players.append(copy)
                events.append((copy.pid, "snapshot", why))
                player.since_reset = 0  # the round budget counts from the last freeze
            if restart:
                self.learners[player.pid].reset_to(
                    self.root / "players" / player.pid / "init", tcfg
                )
                player.generation += 1
                player.since_reset = 0
                events.append((player.pid, "reset", f"generation {player.generation}"))
        for copy in new_players:
            self.players.append(copy)
            self.payoff.add_player(copy.pid)
        return events, new_players

    def commit(self, env_seed, slots, result, ratings, events, new_players, tick) -> None:
        """Write the learners' states, then record the round in one transaction."""
        name = f"r{self.round:06d}"
        for learner in self.learners.values():
            learner.player.state = learner.save(self.root, name)
        slot_rows = [{"sides": s.sides, "learner": s.learner, "kind": s.kind} for s in slots]
        self.store.commit_round(
            self.round,
            env_seed,
            slot_rows,
            self.players,
            result.games,
            result.agent_steps,
            self.payoff.to_rows(),
            ratings,
            events,
            time.perf_counter() - tick,
        )
        self._remove_stale()

    def _remove_stale(self) -> None:
        """Remove learner state folders the database does not name (a killed round's, old
        rounds'), and unfinished temporary folders."""
        for pid, learner in self.learners.items():
            folder = self.root / "players" / pid
            keep = {"init", Path(learner.player.state).name}
            for entry in folder.iterdir() if folder.is_dir() else ():
                if entry.name not in keep:
                    shutil.rmtree(entry, ignore_errors=True)
        known = {p.pid for p in self.players}
        players_dir = self.root / "players"
        for entry in players_dir.iterdir() if players_dir.is_dir() else ():
            if entry.name not in known:
                shutil.rmtree(entry, ignore_errors=True)


def record_games(payoff: PayoffTable, games: list[Game]) -> None:
    """Games into the payoff table, every pair of groups played by different players, with
    the sides weighted equally. A pair's games are split by who played which group; each split
    counts for the same share of the pair's games, so a player that ends its games quickly on
    one side (and so finishes more of them in the same steps) is not rated by that side alone."""
    splits: dict[tuple, int] = {}
    for game in games:
        key = tuple(sorted(game.sides.items()))
        splits[key] = splits.get(key, 0) + 1
    per_pair: dict[frozenset, list[int]] = {}
    for key, count in splits.items():
        per_pair.setdefault(frozenset(p for _, p in key), []).append(count)
    for game in games:
        key = tuple(sorted(game.sides.items()))
        counts = per_pair[frozenset(p for _, p in key)]
        record_game(payoff, game, sum(counts) / (len(counts) * splits[key]))


def record_game(payoff: PayoffTable, game: Game, weight: float = 1.0) -> None:
    """A game into the payoff table: every pair of groups played by different players."""
    groups = sorted(game.sides)
    for i, a in enumerate(groups):
        for b in groups[i + 1 :]:
            pa, pb = game.sides[a], game.sides[b]
            score = min(max((game.scores[a] - game.scores[b] + 1.0) / 2.0, 0.0), 1.0)
            payoff.record(pa, pb, score, weight)


def rated_games(games: list[Game]) -> list[RatedGame]:
    """The match record as rating games: one side per group, groups in name order (self-play
    games left out)."""
    out = []
    for game in games:
        groups = sorted(game.sides)
        if len({game.sides[g] for g in groups}) < 2:
            continue
        teams = tuple((game.sides[g],) for g in groups)
        out.append(RatedGame(teams, tuple(game.scores[g] for g in groups)))
    return out
