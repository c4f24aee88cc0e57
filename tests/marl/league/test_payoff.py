"""PayoffTable: decay arithmetic by hand, unplayed pairs, Wilson intervals, rows round trip."""

import math

import numpy as np
import pytest

from marl.league.payoff import PayoffTable


def test_decay_arithmetic_matches_a_hand_computed_sequence():
    table = PayoffTable(decay=0.5)
    table.record("a", "b", 1.0)  # (a,b): 1 of 1;  (b,a): 0 of 1
    table.record("a", "b", 0.0)  # (a,b): 0.5*1 + 0 = 0.5 of 1.5;  (b,a): 0 + 1 = 1 of 1.5
    table.record("b", "a", 0.5)  # (b,a): 0.5 + 0.5 = 1 of 1.75;  (a,b): 0.25 + 0.5 = 0.75 of 1.75
    assert table.players == ["a", "b"]
    assert table.games("a", "b") == 1.75 and table.games("b", "a") == 1.75
    assert table.score_sum("a", "b") == 0.75 and table.score_sum("b", "a") == 1.0
    assert table.win_rate("a", "b") == pytest.approx(3 / 7)
    assert table.win_rate("b", "a") == pytest.approx(4 / 7)
    np.testing.assert_allclose(table.matrix(), [[0.5, 3 / 7], [4 / 7, 0.5]])
    np.testing.assert_allclose(table.win_rates("b", ["a", "b"]), [4 / 7, 0.5])


def test_without_decay_the_table_keeps_plain_totals():
    table = PayoffTable(decay=1.0)
    for score in (1.0, 1.0, 0.0, 0.5):
        table.record("a", "b", score)
    assert table.games("a", "b") == 4.0
    assert table.win_rate("a", "b") == 2.5 / 4


def test_unplayed_pairs_read_even_with_the_widest_interval():
    table = PayoffTable()
    table.add_player("a")
    table.add_player("b")
    table.add_player("a")  # idempotent
    assert table.players == ["a", "b"]
    assert table.games("a", "b") == 0.0
    assert table.win_rate("a", "b") == 0.5
    assert table.win_rate("x", "y") == 0.5  # never added either
    assert table.interval("a", "b") == (0.0, 1.0)
    np.testing.assert_array_equal(table.matrix(), [[0.5, 0.5], [0.5, 0.5]])


def test_self_play_counts_one_even_game():
    table = PayoffTable(decay=0.9)
    table.record("a", "a", 1.0)
    table.record("a", "a", 0.0)
    assert table.players == ["a"]
    assert table.win_rate("a", "a") == pytest.approx(0.5)
    assert table.games("a", "a") == pytest.approx(0.9 + 1.0)


def test_wilson_interval_matches_the_textbook_value():
    table = PayoffTable(decay=1.0)
    for k in range(10):
        table.record("a", "b", 1.0 if k < 7 else 0.0)
    # Wilson 95% for 7 of 10: center (0.7 + z^2/20) / (1 + z^2/10) = 0.644492,
    # half-width 1.96 sqrt(0.021 + z^2/400) / (1 + z^2/10) = 0.247719.
    low, high = table.interval("a", "b")
    assert low == pytest.approx(0.396773, abs=1e-6)
    assert high == pytest.approx(0.892211, abs=1e-6)


def test_interval_narrows_with_games_and_contains_the_rate():
    table = PayoffTable(decay=1.0)
    widths = []
    for games in (10, 100, 1000):
        for k in range(games):
            table.record("a", f"b{games}", 1.0 if k % 10 < 7 else 0.0)
        low, high = table.interval("a", f"b{games}")
        rate = table.win_rate("a", f"b{games}")
        assert rate == pytest.approx(0.7) and low < rate < high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    # a tenfold sample shrinks the interval by about sqrt(10)
    assert widths[1] / widths[2] == pytest.approx(math.sqrt(10), rel=0.05)


def test_a_sure_rate_still_gets_an_interval_inside_0_1():
    table = PayoffTable(decay=1.0)
    for _ in range(5):
        table.record("a", "b", 1.0)
    low, high = table.interval("a", "b")
    assert 0.0 < low < 1.0 and high == pytest.approx(1.0)


def test_most_uncertain_picks_the_unplayed_then_the_least_played_pair():
    table = PayoffTable(decay=1.0)
    for _ in range(50):
        table.record("a", "b", 0.5)
    for _ in range(5):
        table.record("a", "c", 0.5)
    table.add_player("d")
    assert table.most_uncertain([("a", "b"), ("a", "c"), ("a", "d")]) == ("a", "d")
    assert table.most_uncertain([("a", "b"), ("a", "c")]) == ("a", "c")
    assert table.most_uncertain([("a", "d"), ("b", "d")]) == ("a", "d")  # tie: the first
    with pytest.raises(ValueError, match="pairs"):
        table.most_uncertain([])


def test_rows_round_trip_exactly():
    rng = np.random.default_rng(7)
    table = PayoffTable(decay=0.97)
    ids = ["p0", "p1", "p2", "p3"]
    for _ in range(300):
        a, b = rng.choice(ids, size=2)
        table.record(str(a), str(b), float(rng.random()))
    table.add_player("idle")
    rows = table.to_rows()
    assert rows == sorted(rows)
    assert all(type(value) is float for row in rows for value in row[2:])
    copy = PayoffTable.from_rows(rows, table.decay, table.players)
    assert copy.to_rows() == rows
    assert copy.players == table.players
    np.testing.assert_array_equal(copy.matrix(), table.matrix())
    table.record("p0", "p1", 0.25)
    copy.record("p0", "p1", 0.25)
    assert copy.to_rows() == table.to_rows()


@pytest.mark.parametrize("score", [float("nan"), -0.1, 1.1])
def test_a_score_outside_0_1_raises(score):
    table = PayoffTable()
    with pytest.raises(ValueError, match="score"):
        table.record("a", "b", score)
    assert table.to_rows() == []


@pytest.mark.parametrize("decay", [0.0, -0.5, 1.5, float("nan")])
def test_a_decay_outside_0_1_raises(decay):
    with pytest.raises(ValueError, match="decay"):
        PayoffTable(decay)


def test_rows_with_more_score_than_games_raise():
    with pytest.raises(ValueError, match="score_sum"):
        PayoffTable.from_rows([("a", "b", 3.0, 2.0)], 0.99, ["a", "b"])
