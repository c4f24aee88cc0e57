"""Ratings: Nash averaging on games solved by hand, the three ratings agreeing on a clear record,
Elo's fit against its closed form, OpenSkill with unequal teams, self-play left out."""

import math
import random

import numpy as np
import pytest

from marl.league.payoff import PayoffTable
from marl.league.ratings import (
    Game,
    elo_fit,
    nash_average,
    openskill_ratings,
    rating_table,
)

ROCK_PAPER_SCISSORS = np.array([[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]])


def duel(winner: str, loser: str, score: float = 1.0) -> Game:
    return Game(((winner,), (loser,)), (score, 1.0 - score))


# ---------------------------------------------------------------------------- Nash averaging
def test_rock_paper_scissors_is_played_evenly_and_rated_equal():
    mixture, ratings = nash_average(ROCK_PAPER_SCISSORS, ["rock", "paper", "scissors"])
    np.testing.assert_allclose(mixture, [1 / 3] * 3, atol=1e-9)
    np.testing.assert_allclose(ratings, [0.0] * 3, atol=1e-9)


def test_a_clone_shares_its_original_mass_equally():
    # rock twice: every split of rock's 1/3 between the copies is an equilibrium; the
    # maximum-entropy one halves it, and the copies rate no differently from the original game.
    copies = [0, 0, 1, 2]
    mixture, ratings = nash_average(ROCK_PAPER_SCISSORS[np.ix_(copies, copies)])
    np.testing.assert_allclose(mixture, [1 / 6, 1 / 6, 1 / 3, 1 / 3], atol=1e-7)
    np.testing.assert_allclose(ratings, [0.0] * 4, atol=1e-7)


def test_a_transitive_game_puts_all_mass_on_the_best_player():
    win_rates = np.array([[0.5, 0.8, 0.9], [0.2, 0.5, 0.7], [0.1, 0.3, 0.5]])
    mixture, ratings = nash_average(win_rates)
    np.testing.assert_allclose(mixture, [1.0, 0.0, 0.0], atol=1e-9)
    # rating i = (2 P[i, best] - 1): the expected score margin against the best player
    np.testing.assert_allclose(ratings, [0.0, -0.6, -0.8], atol=1e-9)


def test_a_dominated_player_outside_a_cycle_gets_no_mass():
    # rock-paper-scissors plus a player that every one of them beats 3 games in 4
    win_rates = np.full((4, 4), 0.75)
    win_rates[:3, :3] = ROCK_PAPER_SCISSORS
    win_rates[3, :] = 0.25
    win_rates[3, 3] = 0.5
    mixture, ratings = nash_average(win_rates)
    np.testing.assert_allclose(mixture, [1 / 3, 1 / 3, 1 / 3, 0.0], atol=1e-9)
    np.testing.assert_allclose(ratings, [0.0, 0.0, 0.0, -0.5], atol=1e-9)


@pytest.mark.parametrize(
    ("payoff", "message"),
    [
        (np.zeros((2, 3)), "square"),
        (np.zeros((0, 0)), "square"),
        (np.array([[0.5, np.nan], [0.5, 0.5]]), r"finite.*\('a', 'b'\)"),
    ],
)
def test_nash_average_rejects_bad_matrices(payoff, message):
    with pytest.raises(ValueError, match=message):
        nash_average(payoff, ["a", "b"] if payoff.shape == (2, 2) else None)


# ---------------------------------------------------------------------------- a clear record
def clear_record() -> list[Game]:
    """champ beats everyone, chump loses to everyone, mid1 and mid2 trade wins 3 to 2."""
    games = []
    for round_ in range(10):
        games += [duel("champ", "mid1"), duel("champ", "mid2"), duel("champ", "chump")]
        games += [duel("mid1", "chump"), duel("mid2", "chump")]
        games.append(duel("mid1", "mid2") if round_ % 5 < 3 else duel("mid2", "mid1"))
    return games


PLAYERS = ["mid1", "chump", "champ", "mid2"]


def payoff_of(games: list[Game]) -> PayoffTable:
    table = PayoffTable(decay=1.0)
    for game in games:
        table.record(game.teams[0][0], game.teams[1][0], game.scores[0])
    return table


def test_every_rating_puts_the_winner_first_and_the_loser_last():
    games = clear_record()
    skill = openskill_ratings(games, PLAYERS)
    elo = elo_fit(games, PLAYERS)
    _, nash = nash_average(payoff_of(games).matrix(PLAYERS), PLAYERS)
    for rating in (
        {p: skill[p]["ordinal"] for p in PLAYERS},
        elo,
        dict(zip(PLAYERS, nash, strict=True)),
    ):
        others = [rating[p] for p in ("mid1", "mid2")]
        assert rating["champ"] > max(others)
        # Nash averaging rates against the equilibrium, champ alone, whom mid1, mid2 and chump
        # all lose to every time: their ratings tie at -1, so only "not above" holds there.
        assert rating["chump"] <= min(others)
    assert elo["chump"] < min(elo["mid1"], elo["mid2"])
    assert skill["chump"]["ordinal"] < min(skill[p]["ordinal"] for p in ("mid1", "mid2"))
    np.testing.assert_allclose(nash, [-1.0, -1.0, 0.0, -1.0], atol=1e-9)
    assert elo["mid1"] > elo["mid2"]  # 3 wins to 2
    assert all(math.isfinite(value) for value in elo.values())
    assert np.mean(list(elo.values())) == pytest.approx(1000.0)


def test_rating_table_gathers_the_three_ratings_best_first():
    games = clear_record()
    rows = rating_table(games, PLAYERS, payoff_of(games))
    assert [row["player"] for row in rows][0] == "champ"
    assert [row["player"] for row in rows][-1] == "chump"
    assert set(rows[0]) == {"player", "mu", "sigma", "ordinal", "elo", "nash"}
    ordinals = [row["ordinal"] for row in rows]
    assert ordinals == sorted(ordinals, reverse=True)
    champ = rows[0]
    assert champ["elo"] == pytest.approx(elo_fit(games, PLAYERS)["champ"])
    assert champ["nash"] == pytest.approx(0.0, abs=1e-9)
    assert rating_table(games, [], payoff_of(games)) == []


# ---------------------------------------------------------------------------- Elo fit
def test_elo_fit_does_not_depend_on_the_order_of_the_games():
    games = clear_record() + [duel("mid2", "champ", 0.5)]
    shuffled = games[:]
    random.Random(5).shuffle(shuffled)
    assert shuffled != games
    first, second = elo_fit(games, PLAYERS), elo_fit(shuffled, PLAYERS)
    for player in PLAYERS:
        assert second[player] == pytest.approx(first[player], abs=1e-6)


@pytest.mark.parametrize("fraction", [0.75, 0.9, 0.3])
def test_two_players_match_the_closed_form(fraction):
    wins = round(100 * fraction)
    games = [duel("a", "b")] * wins + [duel("b", "a")] * (100 - wins)
    elo = elo_fit(games, ["a", "b"], prior=1e-8)
    expected = 400.0 * math.log10(fraction / (1 - fraction))  # 190.85 Elo for 3 wins in 4
    assert elo["a"] - elo["b"] == pytest.approx(expected, abs=0.01)
    assert elo["a"] + elo["b"] == pytest.approx(2000.0)


def test_graded_scores_count_as_fractional_wins():
    graded = elo_fit([duel("a", "b", 0.75)] * 100, ["a", "b"], scale=100.0, prior=1e-8)
    assert graded["a"] - graded["b"] == pytest.approx(100.0 * math.log10(3.0), abs=0.01)


def test_elo_splits_a_three_sided_game_into_pairs_and_averages_teams():
    three_sided = Game((("a",), ("b",), ("c",)), (2.0, 1.0, 0.0))
    elo = elo_fit([three_sided] * 5, ["a", "b", "c"])
    assert elo["a"] > elo["b"] > elo["c"]
    # [a] against [b, c]: only the mean of b and c is pinned, and the prior splits it evenly
    team = elo_fit([Game((("a",), ("b", "c")), (1.0, 0.0))] * 4, ["a", "b", "c"])
    assert team["b"] == pytest.approx(team["c"], abs=1e-6) and team["a"] > team["b"]


def test_elo_leaves_self_play_out_and_rates_the_unplayed_at_the_mean():
    elo = elo_fit([duel("a", "a")] * 10 + [duel("b", "c")] * 3, ["a", "b", "c", "idle"])
    assert elo["a"] == pytest.approx(1000.0) and elo["idle"] == pytest.approx(1000.0)
    assert elo["b"] - 1000.0 == pytest.approx(1000.0 - elo["c"])
    assert elo_fit([], ["x"]) == {"x": 1000.0}


# ---------------------------------------------------------------------------- OpenSkill
def test_openskill_rates_unequal_teams_and_the_winners_gain():
    after = openskill_ratings([Game((("a",), ("b", "c")), (0.0, 1.0))], ["a", "b", "c", "idle"])
    assert after["b"]["mu"] > 25.0 and after["c"]["mu"] > 25.0
    assert after["a"]["mu"] < 25.0
    assert after["b"]["mu"] == pytest.approx(after["c"]["mu"])
    assert after["idle"] == {"mu": 25.0, "sigma": 25.0 / 3, "ordinal": 0.0}
    for entry in after.values():
        assert entry["ordinal"] == pytest.approx(entry["mu"] - 3 * entry["sigma"])


def test_openskill_weights_move_the_heavier_member_more():
    game = Game((("a", "b"), ("c",)), (1.0, 0.0), weights=((1.0, 3.0), (1.0,)))
    after = openskill_ratings([game], ["a", "b", "c"])
    assert after["b"]["mu"] > after["a"]["mu"] > 25.0


def test_openskill_draws_between_equals_move_nobody():
    after = openskill_ratings([duel("a", "b", 0.5)], ["a", "b"])
    assert after["a"]["mu"] == pytest.approx(25.0) and after["b"]["mu"] == pytest.approx(25.0)


def test_openskill_follows_the_order_of_the_games():
    early = openskill_ratings([duel("a", "b"), duel("b", "a")], ["a", "b"])
    late = openskill_ratings([duel("b", "a"), duel("a", "b")], ["a", "b"])
    assert early["a"]["mu"] < late["a"]["mu"]  # the latest game weighs most


def test_self_play_leaves_the_shared_player_out():
    alone = openskill_ratings([duel("a", "a")], ["a"])
    assert alone["a"] == {"mu": 25.0, "sigma": 25.0 / 3, "ordinal": 0.0}
    shared = openskill_ratings([Game((("a", "b"), ("a", "c")), (1.0, 0.0))], ["a", "b", "c"])
    plain = openskill_ratings([duel("b", "c")], ["a", "b", "c"])
    assert shared == plain


def test_players_only_named_by_the_games_are_rated_too():
    after = openskill_ratings([duel("a", "new")], ["a"])
    assert list(after) == ["a", "new"] and after["new"]["mu"] < 25.0
    assert list(elo_fit([duel("a", "new")], ["a"])) == ["a", "new"]


@pytest.mark.parametrize(
    ("teams", "scores", "weights"),
    [
        ((("a",),), (1.0,), None),  # one side
        ((("a",), ()), (1.0, 0.0), None),  # an empty side
        ((("a",), ("b",)), (1.0,), None),  # a score missing
        ((("a",), ("b",)), (1.0, float("nan")), None),
        ((("a", "a"), ("b",)), (1.0, 0.0), None),  # twice on one side
        ((("a",), ("b",)), (1.0, 0.0), ((1.0,), (1.0, 2.0))),  # weights misshapen
        ((("a",), ("b",)), (1.0, 0.0), ((1.0,), (0.0,))),  # a weight of 0
    ],
)
def test_malformed_games_raise(teams, scores, weights):
    with pytest.raises(ValueError, match="Game"):
        Game(teams, scores, weights)


def test_a_side_given_as_a_string_raises():
    with pytest.raises(TypeError, match="teams"):
        Game(("alice", "bob"), (1.0, 0.0))


def test_lists_are_stored_as_tuples():
    game = Game([["a"], ["b", "c"]], [1, 0], [[1], [1, 2]])
    assert game.teams == (("a",), ("b", "c")) and game.scores == (1.0, 0.0)
    assert game.weights == ((1.0,), (1.0, 2.0))
