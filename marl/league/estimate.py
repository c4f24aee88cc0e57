"""``marl league estimate DIR --games N``: estimate the payoff table where it is least certain.

Every player of the league plays as it stands (learners with their last committed weights, all
sampled, nobody learning) in a fresh, undecayed payoff table. Each batch fills the vector env's
slots with the match-ups whose win rate is least certain (the widest Wilson intervals, unplayed
pairs first), each side alternating between the groups, until ``N`` games are played. With
``--player ID`` only that player's match-ups are played: its row of the table against every
other player, e.g. the final main against each of its own snapshots and the fixed players.
The league itself is not changed: the estimate goes to ``DIR/estimate.json`` (win rate, games
and interval per ordered pair) and ``DIR/payoff_estimate.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from marl.envs import make_env, scripted_baseline
from marl.league.config import league_config
from marl.league.figures import payoff_heatmap, row_chart
from marl.league.league import record_games
from marl.league.payoff import PayoffTable
from marl.league.players import seed_for
from marl.league.runner import LocalMatchRunner, Slot
from marl.league.store import Store
from policies import RandomPolicy, load_policy

MAX_GAMES = 10**7


def uncertain_slots(
    table: PayoffTable,
    ids: list[str],
    groups: list[str],
    slots: int,
    slot_envs: int,
    batch: int,
    focus: str | None = None,
) -> list[Slot]:
    """The ``slots`` least certain pairs of distinct players (widest interval first, ties in
    player order), one per slot, played with the sides mirrored: the slot's worlds are split
    evenly between the groups, the first of the pair taking each group in turn (so a pair's
    estimate does not depend on which side it was dealt). With ``focus``, only the pairs that
    include that player. ``batch`` rotates which group takes the odd worlds."""
    pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :] if focus in (None, a, b)]

    def width(pair: tuple[str, str]) -> float:
        low, high = table.interval(*pair)
        return high - low

    ranked = sorted(pairs, key=lambda p: -width(p))  # stable: ties stay in player order
    part = slot_envs // len(groups)
    if part < 1:
        raise ValueError(
            f"slot_envs: {slot_envs} worlds cannot be split among {len(groups)} groups"
        )
    out = []
    for index in range(slots):
        a, b = ranked[index % len(ranked)]
        for k in range(len(groups)):
            side = groups[(k + batch) % len(groups)]
            sides = {g: a if g == side else b for g in groups}
            start = index * slot_envs + k * part
            out.append(Slot(len(out), start, start + part, sides, a, "estimate"))
    return out


def estimate(root: Path, games: int, seed: int = 0, focus: str | None = None) -> PayoffTable:
    """Play at least ``games`` games on the least certain match-ups (with ``focus``, only those
    of that player against every other); returns the table."""
    if not 1 <= games <= MAX_GAMES:
        raise ValueError(f"--games: must be in [1, {MAX_GAMES}], got {games}")
    store = Store(root)
    try:
        cfg = league_config(store.config())
        players = store.players()
    finally:
        store.close()
    tcfg = cfg.train_config()
    torch.set_num_threads(tcfg.torch_threads)
    venv = make_env(cfg.scenario, tcfg.num_envs, seed, **cfg.env)
    try:
        ids = [p.pid for p in players]
        if len(ids) < 2:
            raise ValueError(f"{root}: the league has fewer than two players")
        if focus is not None and focus not in ids:
            raise ValueError(f"--player: the league has no player {focus!r}")
        factory = _factory(root, players, venv, seed)
        table = PayoffTable(1.0)
        for pid in ids:
            table.add_player(pid)
        runner = LocalMatchRunner(venv, tcfg.algo)
        played, batch = 0, 0
        while played < games:
            torch.manual_seed(seed_for(seed, batch, 2))
            slots = uncertain_slots(
                table,
                ids,
                list(venv.groups),
                tcfg.num_envs // cfg.slot_envs,
                cfg.slot_envs,
                batch,
                focus,
            )
            result = runner.play(
                batch, seed_for(seed, batch, 3), slots, {}, factory, tcfg.num_steps
            )
            record_games(table, result.games)
            played += len(result.games)
            batch += 1
        return table
    finally:
        venv.close()


def _factory(root: Path, players, venv, seed: int) -> dict:
    cache = {}

    def build(player):
        def make(slot: int):
            if player.kind == "scripted":
                return scripted_baseline(venv)
            if player.kind == "random":
                return RandomPolicy(venv.groups, seed_for(seed, 4, slot))
            if player.pid not in cache:
                own = player.state if player.kind == "learner" else f"players/{player.pid}"
                cache[player.pid] = load_policy(root / own)
            return cache[player.pid]

        return make

    return {p.pid: build(p) for p in players}


def write_estimate(table: PayoffTable, root: Path, focus: str | None = None) -> list[Path]:
    """``estimate.json`` and ``payoff_estimate.png`` in ``root``: the heatmap of every pair,
    or with ``focus``, that player's win rate against each opponent with its interval."""
    ids = list(table.players)
    rows = []
    for a in ids:
        for b in ids:
            if a != b and table.games(a, b) > 0:
                low, high = table.interval(a, b)
                rows.append(
                    {
                        "player": a,
                        "opponent": b,
                        "win_rate": table.win_rate(a, b),
                        "games": table.games(a, b),
                        "low": low,
                        "high": high,
                    }
                )
    path = root / "estimate.json"
    path.write_text(json.dumps({"pairs": rows}, indent=1))
    if focus is not None:
        mine = [r for r in rows if r["player"] == focus]
        games = int(sum(r["games"] for r in mine))
        title = f"{focus} against each opponent: estimated win rate, 95% interval ({games} games)"
        return [path, row_chart(mine, root / "payoff_estimate.png", title)]
    matrix = np.array(
        [
            [table.win_rate(a, b) if a != b and table.games(a, b) > 0 else np.nan for b in ids]
            for a in ids
        ]
    )
    games = int(sum(r["games"] for r in rows) / 2)
    heat = payoff_heatmap(
        matrix,
        ids,
        root / "payoff_estimate.png",
        f"estimated payoff, {games} games (row's win rate vs column)",
    )
    return [path, heat]
