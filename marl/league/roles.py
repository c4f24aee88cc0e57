"""Roles: whom each learner plays, when it is frozen into the league, and when it restarts.

AlphaStar's league (Vinyals et al. 2019), with the payoff table's win rates ``x`` of the learner
against each candidate:

- **main** (never reset): a draw from ``selfplay`` / ``pfsp`` / ``verification`` (default 35% /
  50% / 15%). Self-play: against itself, both sides learning. PFSP: over every frozen player
  (snapshots, scripted, random, added checkpoints) with ``f_hard(x) = (1 - x)^p``. Optionally
  (``fixed``, default 0) PFSP over the fixed players alone, so that a main keeps meeting the
  scripted baseline however many snapshots the league holds. Verification:
  the exploiters (live, or their snapshots) the main has not yet beaten (``x < 0.3``, or fewer
  than ``min_games`` decayed games against it), by
  ``f_var(x) = x (1 - x)``; without one, the main's own snapshots it does not beat above 0.7
  ("forgotten"); without those, self-play. A copy is frozen every ``main_snapshot_every`` rounds.
- **main exploiter**: a live main while it wins at least 10% against it, else PFSP (``f_var``)
  over that main's snapshots. Frozen when it beats every main above ``snapshot_win_rate`` (after
  ``min_games`` decayed games) or after ``exploiter_rounds`` rounds; then reset to its initial
  weights.
- **league exploiter**: PFSP (``f_hard``) over every frozen player. Frozen when it beats all of
  them above ``snapshot_win_rate`` or after ``exploiter_rounds`` rounds; then reset with
  probability ``league_exploiter_reset``.
"""

from __future__ import annotations

import numpy as np

from marl.league.config import LeagueConfig
from marl.league.matchmaking import pfsp_choice, sample_kind
from marl.league.payoff import PayoffTable
from marl.league.players import Player

VERIFY_BELOW = 0.3
MAIN_EXPLOITER_FLOOR = 0.1


def choose_opponent(
    cfg: LeagueConfig,
    rng: np.random.Generator,
    me: Player,
    players: list[Player],
    payoff: PayoffTable,
) -> tuple[str, str]:
    """The opponent of learner ``me`` for one match and how it was chosen."""
    if me.role == "main":
        return _main_opponent(cfg, rng, me, players, payoff)
    if me.role == "main_exploiter":
        return _main_exploiter_opponent(rng, me, players, payoff)
    frozen = [p.pid for p in players if p.frozen]
    return _pfsp(rng, me, frozen, payoff, cfg.pfsp_weighting, cfg.pfsp_p, "pfsp")


def _pfsp(rng, me, candidates, payoff, weighting, p, kind) -> tuple[str, str]:
    if not candidates:
        return me.pid, "selfplay"
    rates = payoff.win_rates(me.pid, candidates)
    return pfsp_choice(rng, candidates, rates, weighting, p), kind


def _main_opponent(cfg, rng, me, players, payoff) -> tuple[str, str]:
    mix = {"selfplay": cfg.selfplay, "pfsp": cfg.pfsp, "verification": cfg.verification}
    if cfg.fixed > 0:  # drawn only when asked for: the default draws stay AlphaStar's
        mix["fixed"] = cfg.fixed
    kind = sample_kind(rng, mix)
    if kind == "selfplay":
        return me.pid, "selfplay"
    if kind in ("pfsp", "fixed"):
        pool = [p.pid for p in players if p.frozen and (kind == "pfsp" or p.role == "fixed")]
        return _pfsp(rng, me, pool, payoff, cfg.pfsp_weighting, cfg.pfsp_p, kind)
    exploiters = [
        p.pid
        for p in players
        if p.role in ("main_exploiter", "league_exploiter")
        and (
            payoff.games(me.pid, p.pid) < cfg.min_games
            or payoff.win_rate(me.pid, p.pid) < VERIFY_BELOW
        )
    ]
    if exploiters:
        return _pfsp(rng, me, exploiters, payoff, "variance", 1.0, "verification")
    forgotten = [
        p.pid
        for p in players
        if p.kind == "snapshot"
        and p.parent == me.pid
        and payoff.win_rate(me.pid, p.pid) < cfg.snapshot_win_rate
    ]
    if forgotten:
        return _pfsp(rng, me, forgotten, payoff, cfg.pfsp_weighting, cfg.pfsp_p, "forgotten")
    return me.pid, "selfplay"


def _main_exploiter_opponent(rng, me, players, payoff) -> tuple[str, str]:
    mains = [p.pid for p in players if p.role == "main" and not p.frozen]
    target = mains[int(rng.integers(len(mains)))]
    if payoff.win_rate(me.pid, target) >= MAIN_EXPLOITER_FLOOR:
        return target, "main"
    history = [p.pid for p in players if p.kind == "snapshot" and p.parent == target]
    if not history:
        return target, "main"
    return _pfsp(rng, me, history, payoff, "variance", 1.0, "main-history")


def targets(me: Player, players: list[Player]) -> list[str]:
    """Whom an exploiter must beat to be frozen early: the live mains (main exploiter) or every
    frozen player (league exploiter)."""
    if me.role == "main_exploiter":
        return [p.pid for p in players if p.role == "main" and not p.frozen]
    return [p.pid for p in players if p.frozen]


def beats_all(cfg: LeagueConfig, me: Player, players: list[Player], payoff: PayoffTable) -> bool:
    """Whether ``me`` beats each of its targets above ``snapshot_win_rate`` with at least
    ``min_games`` decayed games against each."""
    aims = targets(me, players)
    return bool(aims) and all(
        payoff.games(me.pid, t) >= cfg.min_games
        and payoff.win_rate(me.pid, t) > cfg.snapshot_win_rate
        for t in aims
    )


def after_round(
    cfg: LeagueConfig,
    rng: np.random.Generator,
    me: Player,
    players: list[Player],
    payoff: PayoffTable,
    round_index: int,
) -> tuple[bool, bool, str]:
    """Whether learner ``me`` is frozen now, whether it then restarts, and why."""
    if me.role == "main":
        due = (round_index + 1) % cfg.main_snapshot_every == 0
        return due, False, "periodic" if due else ""
    if beats_all(cfg, me, players, payoff):
        why = "beats its targets"
    elif me.since_reset >= cfg.exploiter_rounds:
        why = "round budget"
    else:
        return False, False, ""
    if me.role == "main_exploiter":
        return True, True, why
    return True, bool(rng.random() < cfg.league_exploiter_reset), why
