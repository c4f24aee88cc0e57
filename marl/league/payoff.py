"""The league's payoff table: how often each player beats each other, recent games weighing most.

AlphaStar keeps, per ordered pair of players ``(a, b)``, a decayed sum of ``a``'s scores against
``b`` and a decayed count of their games; the win rate is their ratio. Each game first multiplies
both ``(a, b)`` and ``(b, a)`` by ``decay``, then adds the game: ``a`` gets ``score`` (1 a win,
0.5 a draw, 0 a loss, anything between for graded outcomes) and ``b`` gets ``1 - score``, each
count one more game. With ``decay = 0.99`` a pair's table forgets a game's weight by half after
about 69 more of that pair's games, so a learner that improves is seen to improve. ``decay = 1``
keeps plain totals.

A pair never played reads 0.5, the rate that claims nothing. Self-play (``a == b``) is recorded
as one game scoring 0.5, the mean of ``score`` and ``1 - score``: the same policy on both sides
is even by symmetry.

``interval`` is the Wilson score interval of a rate with ``n`` the decayed game count, and
``most_uncertain`` picks the pair whose interval is widest: the match-up to play next when the
table itself is being estimated (an evaluation round rather than training).

The table saves as rows ``(a, b, score_sum, games)`` of Python floats, so
``PayoffTable.from_rows(table.to_rows(), table.decay, table.players)`` is the same table, bit for
bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

Pair = tuple[str, str]
Row = tuple[str, str, float, float]


class PayoffTable:
    """Decayed payoff between players (AlphaStar style): per ordered pair (a, b), a decayed
    sum of a's scores against b and a decayed count of games. Unplayed pairs read 0.5."""

    def __init__(self, decay: float = 0.99) -> None:
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"PayoffTable: decay must be in (0, 1], got {decay!r}")
        self.decay = float(decay)
        self.players: list[str] = []
        self._known: set[str] = set()
        self._score_sum: dict[Pair, float] = {}
        self._games: dict[Pair, float] = {}

    def add_player(self, pid: str) -> None:
        """Add a player (no games yet); adding one twice changes nothing."""
        if pid not in self._known:
            self._known.add(pid)
            self.players.append(pid)

    def record(self, a: str, b: str, score: float, weight: float = 1.0) -> None:
        """Record one game: ``score`` is a's score against b, in [0, 1]; ``weight`` (> 0) is
        what the game counts for (1 by default)."""
        score, weight = float(score), float(weight)
        if not 0.0 <= score <= 1.0:  # also false for NaN
            raise ValueError(f"PayoffTable.record: score must be in [0, 1], got {score!r}")
        if not 0.0 < weight < math.inf:
            raise ValueError(f"PayoffTable.record: weight must be positive, got {weight!r}")
        self.add_player(a)
        self.add_player(b)
        if a == b:
            self._add((a, a), 0.5, weight)
            return
        self._add((a, b), score, weight)
        self._add((b, a), 1.0 - score, weight)

    def _add(self, pair: Pair, score: float, weight: float) -> None:
        self._score_sum[pair] = self._score_sum.get(pair, 0.0) * self.decay + weight * score
        self._games[pair] = self._games.get(pair, 0.0) * self.decay + weight

    def games(self, a: str, b: str) -> float:
        """The decayed number of games of a against b (0.0 when unplayed)."""
        return self._games.get((a, b), 0.0)

    def score_sum(self, a: str, b: str) -> float:
        """The decayed sum of a's scores against b (0.0 when unplayed)."""
        return self._score_sum.get((a, b), 0.0)

    def win_rate(self, a: str, b: str) -> float:
        """a's mean score against b: decayed score sum over decayed games; 0.5 when unplayed."""
        games = self.games(a, b)
        return self.score_sum(a, b) / games if games > 0.0 else 0.5

    def win_rates(self, a: str, opponents: list[str]) -> np.ndarray:
        """a's win rate against each of ``opponents``, in their order."""
        return np.array([self.win_rate(a, b) for b in opponents], dtype=np.float64)

    def matrix(self, ids: list[str] | None = None) -> np.ndarray:
        """``win_rate(ids[i], ids[j])`` at ``[i, j]``; all players, in the order added, by default.
        Off the diagonal ``M + M.T == 1`` for every pair played (and 0.5 + 0.5 for the others)."""
        ids = self.players if ids is None else ids
        return np.array([[self.win_rate(a, b) for b in ids] for a in ids], dtype=np.float64)

    def interval(self, a: str, b: str, z: float = 1.96) -> tuple[float, float]:
        """Wilson score interval of ``win_rate(a, b)`` with n the decayed game count;
        (0.0, 1.0) when unplayed. z = 1.96 is the 95% interval."""
        n = self.games(a, b)
        if n <= 0.0:
            return 0.0, 1.0
        rate = self.win_rate(a, b)
        z2 = z * z
        denominator = 1.0 + z2 / n
        center = (rate + z2 / (2.0 * n)) / denominator
        half = z * math.sqrt(rate * (1.0 - rate) / n + z2 / (4.0 * n * n)) / denominator
        return max(0.0, center - half), min(1.0, center + half)

    def most_uncertain(self, pairs: list[Pair]) -> Pair:
        """The pair whose interval is widest (the first of the widest on ties)."""
        if not pairs:
            raise ValueError("PayoffTable.most_uncertain: pairs is empty")
        widths = [high - low for low, high in (self.interval(a, b) for a, b in pairs)]
        return pairs[int(np.argmax(widths))]

    def to_rows(self) -> list[Row]:
        """Every recorded ordered pair as ``(a, b, score_sum, games)``, sorted by (a, b)."""
        return [
            (a, b, self._score_sum[(a, b)], self._games[(a, b)]) for a, b in sorted(self._games)
        ]

    @classmethod
    def from_rows(cls, rows: Iterable[Row], decay: float, players: list[str]) -> PayoffTable:
        """The table that ``to_rows`` saved: ``players`` in their order (any other player named
        in ``rows`` is added after them), each row's floats stored as they are."""
        table = cls(decay)
        for pid in players:
            table.add_player(pid)
        for a, b, score_sum, games in rows:
            score_sum, games = float(score_sum), float(games)
            if not (games >= 0.0 and 0.0 <= score_sum <= games * (1.0 + 1e-9)):
                raise ValueError(
                    f"PayoffTable.from_rows: row ({a!r}, {b!r}) needs 0 <= score_sum <= games, "
                    f"got score_sum={score_sum!r}, games={games!r}"
                )
            table.add_player(a)
            table.add_player(b)
            table._score_sum[(a, b)] = score_sum
            table._games[(a, b)] = games
        return table
