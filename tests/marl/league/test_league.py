"""The league in process: matchmaking by role, snapshots that stay frozen, resets, learner-only
gradients, and the database written per round."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from marl.league.config import league_config
from marl.league.league import League
from marl.league.payoff import PayoffTable
from marl.league.players import Player
from marl.league.roles import after_round, choose_opponent
from marl.validation import ConfigError
from policies import load_policy


def weights(policy) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in policy.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_pfsp_frequencies_follow_f_hard_on_a_constructed_payoff_table(small):
    cfg = league_config(small)
    me = Player("league_exploiter_0", "learner", "league_exploiter")
    frozen = [Player(f"snap{i}", "snapshot", "main", "main_0") for i in range(4)]
    payoff = PayoffTable(1.0)
    rates = {"snap0": 0.0, "snap1": 0.25, "snap2": 0.5, "snap3": 0.9}
    for pid, rate in rates.items():
        for k in range(20):  # 20 games each: exactly rate x 20 wins
            payoff.record(me.pid, pid, 1.0 if k < rate * 20 else 0.0)
    rng = np.random.default_rng(0)
    draws = [choose_opponent(cfg, rng, me, [me, *frozen], payoff)[0] for _ in range(20_000)]
    expected = np.array([(1 - x) ** 2 for x in rates.values()])
    expected /= expected.sum()
    seen = np.array([draws.count(pid) for pid in rates]) / len(draws)
    sigma = np.sqrt(expected * (1 - expected) / len(draws))
    assert np.all(np.abs(seen - expected) < 5 * sigma + 1e-12), (seen, expected)


def test_main_mix_follows_its_shares(small):
    cfg = league_config({**small, "selfplay": 0.35, "pfsp": 0.5, "verification": 0.15})
    main = Player("main_0", "learner", "main")
    exploiter = Player("main_exploiter_0", "learner", "main_exploiter")
    scripted = Player("scripted", "scripted", "fixed")
    payoff = PayoffTable(1.0)
    rng = np.random.default_rng(1)
    kinds = [
        choose_opponent(cfg, rng, main, [main, exploiter, scripted], payoff) for _ in range(10_000)
    ]
    share = {
        k: sum(1 for _, kind in kinds if kind == k) / len(kinds)
        for k in ("selfplay", "pfsp", "verification")
    }
    assert abs(share["selfplay"] - 0.35) < 0.025
    assert abs(share["pfsp"] - 0.5) < 0.025
    assert abs(share["verification"] - 0.15) < 0.02
    assert all(opp == "scripted" for opp, kind in kinds if kind == "pfsp")
    assert all(opp == "main_exploiter_0" for opp, kind in kinds if kind == "verification")


def test_exploiter_freeze_rule(small):
    cfg = league_config({**small, "snapshot_win_rate": 0.7, "min_games": 5, "exploiter_rounds": 50})
    main = Player("main_0", "learner", "main")
    me = Player("main_exploiter_0", "learner", "main_exploiter", since_reset=3)
    payoff = PayoffTable(1.0)
    rng = np.random.default_rng(0)
    for _ in range(4):
        payoff.record(me.pid, main.pid, 1.0)
    assert after_round(cfg, rng, me, [main, me], payoff, 3)[0] is False  # too few games
    payoff.record(me.pid, main.pid, 1.0)
    assert after_round(cfg, rng, me, [main, me], payoff, 3)[:2] == (True, True)
    for _ in range(10):
        payoff.record(me.pid, main.pid, 0.0)  # now loses: no early freeze, budget not spent
    assert after_round(cfg, rng, me, [main, me], payoff, 3)[0] is False
    me.since_reset = 50
    assert after_round(cfg, rng, me, [main, me], payoff, 3)[:2] == (True, True)


@pytest.fixture
def league_dir(tmp_path):
    return tmp_path / "league"


def test_rounds_train_only_learners_and_snapshots_stay_frozen(small, league_dir):
    cfg = league_config(
        {**small, "main_snapshot_every": 1, "exploiter_rounds": 1, "league_exploiter_reset": 1.0}
    )
    league = League.create(cfg, league_dir)
    try:
        init = {pid: weights(ln.policy) for pid, ln in league.learners.items()}
        info = league.play_round()
        # Every match is played with the sides mirrored (or is self-play).
        slots = info["slots"]
        for slot in slots:
            if len(set(slot.sides.values())) == 1:
                continue
            twin = [t for t in slots if t.start == slot.stop or t.stop == slot.start]
            mirrored = {
                g: slot.sides["evader" if g == "pursuer" else "pursuer"] for g in slot.sides
            }
            assert any(t.sides == mirrored for t in twin), slot
        # Only learners' sides are recorded for PPO, and every learner trained.
        seats = {(pid, g) for s in info["slots"] for g, pid in s.sides.items()}
        assert set(info["result"].rollouts) == {x for x in seats if x[0] in league.learners}
        main = league.learners["main_0"]
        assert not same(weights(main.policy), init["main_0"])
        # The rule froze the main (every round here) and both exploiters (round budget 1) ...
        snaps = [p for p in league.players if p.kind == "snapshot"]
        assert {p.parent for p in snaps} == {"main_0", "main_exploiter_0", "league_exploiter_0"}
        main_snap = next(p for p in snaps if p.parent == "main_0")
        frozen = weights(load_policy(league_dir / "players" / main_snap.pid))
        assert same(frozen, weights(main.policy))
        # ... and reset both exploiters to their initial weights.
        for pid in ("main_exploiter_0", "league_exploiter_0"):
            assert same(weights(league.learners[pid].policy), init[pid])
            assert league.player(pid).generation == 1
        league.play_round()
        assert not same(weights(main.policy), frozen)  # the main trained on ...
        assert same(weights(load_policy(league_dir / "players" / main_snap.pid)), frozen)
        # The frozen players kept their files; the database holds every game of both rounds.
        assert league.store.rounds_done() == 2
        assert len(league.store.games()) == len(league.games) > 0
        events = league.store.events()
        assert sum(1 for e in events if e[2] == "reset") == 4
    finally:
        league.close()


def test_frozen_players_are_not_changed_by_matches(small, league_dir):
    cfg = league_config({**small, "selfplay": 0.0, "pfsp": 1.0, "verification": 0.0})
    league = League.create(cfg, league_dir)
    try:
        info = league.play_round()
        fixed = {pid for s in info["slots"] for pid in s.sides.values()} - set(league.learners)
        assert fixed <= {"scripted", "random"} and fixed
        assert all(pid in league.learners for pid, _ in info["result"].rollouts)
    finally:
        league.close()


def test_config_errors_name_the_field(small):
    with pytest.raises(ConfigError, match="'slot_envs'"):
        league_config({**small, "slot_envs": 5})
    with pytest.raises(ConfigError, match="'train.lr'"):
        league_config({**small, "train": {"lr": float("nan")}})
    with pytest.raises(ConfigError, match="'train.seed'"):
        league_config({**small, "train": {"seed": 1}})
    with pytest.raises(ConfigError, match="unknown config field 'mainz'"):
        league_config({**small, "mainz": 2})
    with pytest.raises(ConfigError, match="'pfsp_p'"):
        league_config({**small, "pfsp_p": float("inf")})
    with pytest.raises(ConfigError, match="'rounds'"):
        league_config({**small, "rounds": 10**9})
    with pytest.raises(ConfigError, match="split evenly"):
        League.create(
            league_config({**small, "slot_envs": 3, "train": {**small["train"], "num_envs": 9}}),
            Path(tempfile.mkdtemp()) / "l",
        )
    with pytest.raises(ConfigError, match="'rounds'"):
        league_config({**small, "rounds": 10**9})


def test_one_group_scenario_is_refused(small, league_dir):
    cfg = league_config({**small, "scenario": "swarm/spread-v0", "env": {}})
    with pytest.raises(ValueError, match="needs two or more"):
        League.create(cfg, league_dir)


def test_mixed_team_sizes_play_a_league(small, league_dir):
    """Four pursuers against one evader: matches, games with unequal sides, ratings."""
    cfg = league_config({**small, "env": {"max_steps": 40, "n_pursuers": 4, "n_evaders": 1}})
    league = League.create(cfg, league_dir)
    try:
        for _ in range(2):
            info = league.play_round()
        assert league.venv.groups["pursuer"].n_agents == 4
        assert league.venv.groups["evader"].n_agents == 1
        games = league.store.games()
        # graded by how long the evader stayed free: 1 - t / 4 s for a capture at t
        assert games and all(0.0 <= g.scores["pursuer"] <= 1.0 for g in games)
        assert any(0.0 < g.scores["pursuer"] < 1.0 for g in games)
        assert all(g.scores["pursuer"] + g.scores["evader"] == pytest.approx(1.0) for g in games)
        for g in games:  # a capture ends the episode: the evader's share is its length
            if g.length < 40:
                assert g.scores["evader"] == pytest.approx(g.length / 40)
        rated = {row["player"] for row in info["ratings"]}
        assert rated == {p.pid for p in league.players}
        assert any(("main_0", "pursuer") == k for k in info["result"].rollouts) or any(
            ("main_0", "evader") == k for k in info["result"].rollouts
        )
    finally:
        league.close()


def test_fixed_share_draws_only_fixed_players(small):
    cfg = league_config({**small, "selfplay": 0.0, "pfsp": 0.0, "verification": 0.0, "fixed": 1.0})
    main = Player("main_0", "learner", "main")
    players = [
        main,
        Player("scripted", "scripted", "fixed"),
        Player("random", "random", "fixed"),
        Player("main_0-r9", "snapshot", "main", "main_0"),
    ]
    rng = np.random.default_rng(2)
    drawn = {choose_opponent(cfg, rng, main, players, PayoffTable(1.0)) for _ in range(500)}
    assert drawn == {("scripted", "fixed"), ("random", "fixed")}


def test_a_player_that_always_wins_rates_above_one_that_always_loses_in_every_rating():
    """Through the league's own path: runner games -> payoff table and rating games."""
    from marl.league.league import rated_games, record_game
    from marl.league.ratings import rating_table
    from marl.league.runner import Game

    payoff, games = PayoffTable(0.99), []
    pairs = [("scripted", "random"), ("scripted", "main_0"), ("main_0", "random")]
    for k in range(60):
        winner, loser = pairs[k % 3]
        for side in ("pursuer", "evader"):  # mirrored: the winner wins on either side
            other = "evader" if side == "pursuer" else "pursuer"
            games.append(
                Game(
                    k,
                    0,
                    0,
                    {side: winner, other: loser},
                    {side: 1.0, other: 0.0},
                    {side: 1.0, other: -1.0},
                    10,
                )
            )
    for game in games:
        record_game(payoff, game)
    rows = {
        r["player"]: r
        for r in rating_table(rated_games(games), ["main_0", "scripted", "random"], payoff)
    }
    for key in ("ordinal", "elo"):
        assert rows["scripted"][key] > rows["main_0"][key] > rows["random"][key], key
    # Nash averaging rates against the equilibrium (the winner alone): both others lose to it
    # every game, so they tie below it.
    assert rows["scripted"]["nash"] > rows["main_0"]["nash"] >= rows["random"]["nash"]


def test_a_scenario_without_an_outcome_is_scored_by_mean_returns():
    from marl.envs import make_env
    from marl.league.runner import LocalMatchRunner, default_outcome

    record = {"return": {"pursuer": 1.5, "evader": -0.5}, "metrics": {"survival_time": 7.5}}
    venv = make_env("swarm/pursuit-v0", 1, 0)
    try:
        runner = LocalMatchRunner(venv, "mappo")
        # pursuit's own rule: 7.5 s free of the 15 s limit (150 steps of 0.1 s)
        assert runner.outcome(record) == {"pursuer": 0.5, "evader": 0.5}
        runner.scenario.outcome = lambda episode: None  # a scenario without one
        assert runner.outcome(record) == {"pursuer": 1.0, "evader": 0.0}
    finally:
        venv.close()
    tie = {"return": {"a": 2.0, "b": 2.0, "c": 1.0}}
    assert default_outcome(tie) == {"a": 0.75, "b": 0.75, "c": 0.0}


def test_payoff_weights_the_two_sides_of_a_pair_equally_however_many_games_each_ended():
    """A player that wins quickly as pursuer finishes four games there while it loses the one
    long game as evader: its win rate is the mean of the sides (0.5), not of the games (0.8)."""
    from marl.league.league import record_games
    from marl.league.runner import Game

    def game(pursuer, evader, caught):
        sides = {"pursuer": pursuer, "evader": evader}
        return Game(0, 0, 0, sides, {"pursuer": caught, "evader": 1 - caught}, {}, 10)

    games = [game("main_0", "scripted", 1.0) for _ in range(4)]
    games += [game("scripted", "main_0", 1.0), game("main_0", "main_0", 0.5)]
    games += [game("random", "scripted", 0.0) for _ in range(3)]  # one side only: weight 1
    payoff = PayoffTable(1.0)
    record_games(payoff, games)
    assert payoff.win_rate("main_0", "scripted") == pytest.approx(0.5)
    assert payoff.games("main_0", "scripted") == pytest.approx(5.0)
    assert payoff.win_rate("random", "scripted") == pytest.approx(0.0)
    assert payoff.games("random", "scripted") == pytest.approx(3.0)
    assert payoff.win_rate("main_0", "main_0") == pytest.approx(0.5)


def test_estimate_plays_every_pair_on_both_sides_in_equal_worlds():
    from marl.league.estimate import uncertain_slots

    table = PayoffTable(1.0)
    ids = ["a", "b", "c"]
    for pid in ids:
        table.add_player(pid)
    for batch in range(2):
        slots = uncertain_slots(table, ids, ["pursuer", "evader"], 3, 8, batch, focus="c")
        assert [s.stop - s.start for s in slots] == [4] * 6
        assert [s.start for s in slots] == list(range(0, 24, 4))  # the whole batch, no overlap
        for first, second in zip(slots[::2], slots[1::2], strict=True):
            assert first.sides["pursuer"] == second.sides["evader"] != first.sides["evader"]
            assert first.sides["evader"] == second.sides["pursuer"]
            assert "c" in first.sides.values()
