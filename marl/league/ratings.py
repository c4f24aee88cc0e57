"""Rating the league's players three ways, from its record of games and from its payoff table.

1. ``openskill_ratings``: OpenSkill's Plackett-Luce model (Weng & Lin 2011), a Bayesian rating
   with a skill ``mu`` and an uncertainty ``sigma`` per player, updated game by game in the order
   given. It rates teams of any sizes and games of more than two sides; ``ordinal = mu - 3 sigma``
   is what to sort by (a player rated on few games sits low until it has proven itself). Ranks
   come from the sides' scores, higher better, equal scores a tie. Per-member ``weights`` (e.g.
   how many agents each member controls) are passed on; OpenSkill rescales each side's weights to
   [1, 2] before using them.
2. ``elo_fit``: Elo as a Bradley-Terry model fitted to the whole record by maximum likelihood, so
   the order of the games does not matter (incremental Elo would rate the same record differently
   when shuffled). ``P(a beats b) = 1 / (1 + 10 ** ((R_b - R_a) / scale))``; a side's rating is
   the mean of its members' (weighted by ``weights`` when given). A game of more than two sides
   counts as every pairwise comparison of its sides. The score of side i against side j is
   ``s_i`` itself when both scores lie in [0, 1] and sum to 1 (graded outcomes such as
   ``(0.7, 0.3)`` keep their grade), else 1, 0.5 or 0 as ``s_i`` is above, equal to or below
   ``s_j``. An L2 prior of weight ``prior`` on the ratings in log-odds units
   (``R ln 10 / scale``) keeps an unbeaten or winless player finite; the ratings are then shifted
   to mean 1000. The fit is L-BFGS-B with the analytic gradient, finished by a few Newton steps
   (``_newton_polish`` says why); a shuffled record gives the same ratings to about 1e-10 Elo.
3. ``nash_average``: Nash averaging (Balduzzi et al. 2018, "Re-evaluating evaluation"). From a
   payoff matrix it forms the antisymmetric ``A = payoff - payoff.T``; for a win-rate matrix
   ``P`` (``P + P.T = 1``, as ``PayoffTable.matrix`` gives) that is ``A = 2P - 1``, each entry
   the expected score margin in [-1, 1]. The Nash equilibria of the symmetric zero-sum game
   ``A`` are the mixtures ``p`` with ``A p <= 0``; of those it takes the one of maximum entropy,
   which is unique. A player's rating ``(A p*)_i`` is its expected margin against that mixture:
   0 for every player in its support, below 0 for the others. Unlike a mean win rate it cannot
   be inflated by adding copies of a weak player (or of any player) to the pool.

Self-play: a player on more than one side of a game is left out of that game (no update from it),
the other players of the game still count; a game left with fewer than two sides counts for
nothing. ``rating_table`` gathers the three ratings of each player, best ordinal first.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from openskill.models import PlackettLuce
from scipy.linalg import null_space
from scipy.optimize import LinearConstraint, linprog, minimize
from scipy.sparse import csr_matrix, diags
from scipy.special import expit

from marl.league.payoff import PayoffTable


# ---------------------------------------------------------------------------- the record
@dataclass(frozen=True)
class Game:
    """One game: the player ids on each side (two or more sides, any sizes), each side's score
    (higher better: ``(1, 0)`` side 0 won, ``(0.5, 0.5)`` a draw) and optional per-member weights.
    Lists are accepted and stored as tuples. A player appears at most once per side; give its
    weight instead when it controls several agents."""

    teams: tuple[tuple[str, ...], ...]
    scores: tuple[float, ...]
    weights: tuple[tuple[float, ...], ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.teams, str) or any(isinstance(side, str) for side in self.teams):
            raise TypeError(f"Game: teams must be sequences of player ids, got {self.teams!r}")
        teams = tuple(tuple(side) for side in self.teams)
        scores = tuple(float(score) for score in self.scores)
        object.__setattr__(self, "teams", teams)
        object.__setattr__(self, "scores", scores)
        if len(teams) < 2 or any(len(side) == 0 for side in teams):
            raise ValueError(f"Game: needs two or more non-empty sides, got {teams!r}")
        if any(len(set(side)) != len(side) for side in teams):
            raise ValueError(f"Game: a player is listed twice on one side in {teams!r}")
        if len(scores) != len(teams) or not all(math.isfinite(score) for score in scores):
            raise ValueError(f"Game: needs one finite score per side, got {scores!r} for {teams!r}")
        if self.weights is not None:
            weights = tuple(tuple(float(w) for w in side) for side in self.weights)
            object.__setattr__(self, "weights", weights)
            shapes_match = [len(side) for side in weights] == [len(side) for side in teams]
            if not shapes_match or not all(w > 0 and math.isfinite(w) for s in weights for w in s):
                raise ValueError(
                    f"Game: weights must give one finite weight > 0 per member, got {weights!r}"
                )


def _without_shared(game: Game) -> Game | None:
    """The game without the players on more than one side of it; None if under two sides stay."""
    sides_of = Counter(pid for side in game.teams for pid in side)
    if all(count == 1 for count in sides_of.values()):
        return game
    teams, scores, weights = [], [], []
    for index, side in enumerate(game.teams):
        keep = [k for k, pid in enumerate(side) if sides_of[pid] == 1]
        if keep:
            teams.append(tuple(side[k] for k in keep))
            scores.append(game.scores[index])
            if game.weights is not None:
                weights.append(tuple(game.weights[index][k] for k in keep))
    if len(teams) < 2:
        return None
    return Game(tuple(teams), tuple(scores), tuple(weights) if game.weights is not None else None)


def _ranks(scores: tuple[float, ...]) -> list[int]:
    """Dense ranks, 0 the best; equal scores share a rank."""
    distinct = sorted(set(scores), reverse=True)
    return [distinct.index(score) for score in scores]


# ---------------------------------------------------------------------------- OpenSkill
def openskill_ratings(games: Iterable[Game], players: Iterable[str]) -> dict[str, dict[str, float]]:
    """Plackett-Luce ratings after the games in the given order: ``{"mu", "sigma", "ordinal"}``
    for every player of ``players`` (those that never played keep the prior, mu 25 and sigma
    25/3), then for any other player the games name, in order of appearance."""
    model = PlackettLuce()
    ratings = {pid: model.rating(name=pid) for pid in players}
    for game in games:
        kept = _without_shared(game)
        if kept is None:
            continue
        for pid in (pid for side in kept.teams for pid in side):
            if pid not in ratings:
                ratings[pid] = model.rating(name=pid)
        teams = [[ratings[pid] for pid in side] for side in kept.teams]
        weights = None if kept.weights is None else [list(side) for side in kept.weights]
        new_teams = model.rate(teams, ranks=_ranks(kept.scores), weights=weights)
        for side, new_side in zip(kept.teams, new_teams, strict=True):
            ratings.update(zip(side, new_side, strict=True))
    return {
        pid: {"mu": float(r.mu), "sigma": float(r.sigma), "ordinal": float(r.ordinal())}
        for pid, r in ratings.items()
    }


# ---------------------------------------------------------------------------- Elo
def _pair_score(mine: float, theirs: float) -> float:
    """Side i's score against side j (module docstring, item 2)."""
    if 0.0 <= mine <= 1.0 and 0.0 <= theirs <= 1.0 and abs(mine + theirs - 1.0) <= 1e-9:
        return mine
    return 1.0 if mine > theirs else 0.5 if mine == theirs else 0.0


def _comparisons(games: Iterable[Game], index: dict[str, int]) -> tuple[csr_matrix, np.ndarray]:
    """One row per pairwise comparison: +member share for side i, -member share for side j (so
    the row times the ratings is ``R_i - R_j``), and side i's score against side j."""
    rows, cols, values, scores = [], [], [], []
    for game in games:
        kept = _without_shared(game)
        if kept is None:
            continue
        shares = []
        for k, side in enumerate(kept.teams):
            weights = np.ones(len(side)) if kept.weights is None else np.array(kept.weights[k])
            for pid in side:
                index.setdefault(pid, len(index))
            side_shares = zip(side, weights / weights.sum(), strict=True)
            shares.append([(index[pid], share) for pid, share in side_shares])
        for i in range(len(shares)):
            for j in range(i + 1, len(shares)):
                row = len(scores)
                for sign, side in ((1.0, shares[i]), (-1.0, shares[j])):
                    for col, share in side:
                        rows.append(row)
                        cols.append(col)
                        values.append(sign * share)
                scores.append(_pair_score(kept.scores[i], kept.scores[j]))
    matrix = csr_matrix((values, (rows, cols)), shape=(len(scores), len(index)))
    return matrix, np.array(scores, dtype=np.float64)


def _newton_polish(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    matrix: csr_matrix,
    prior: float,
    theta: np.ndarray,
) -> np.ndarray:
    """A few Newton steps from where L-BFGS-B stopped. A nearly unbeaten player's rating is held
    only by the small prior, so the loss is flat along it and L-BFGS-B stops some 1e-5 Elo short;
    Newton's steps, with the exact Hessian ``M^T diag(P (1 - P)) M + prior I``, land on the
    optimum to rounding, which is what makes the fit independent of the order of the games."""
    _, gradient = objective(theta)
    for _ in range(5):
        slope = expit(matrix @ theta)
        curvature = matrix.T @ diags(slope * (1.0 - slope)) @ matrix
        hessian = curvature.toarray() + prior * np.eye(len(theta))
        candidate = theta - np.linalg.solve(hessian, gradient)
        _, candidate_gradient = objective(candidate)
        if np.abs(candidate_gradient).max() >= np.abs(gradient).max():
            break  # at the optimum to rounding (or, far from it, a step that would not help)
        theta, gradient = candidate, candidate_gradient
    return theta


def elo_fit(
    games: Iterable[Game], players: Iterable[str], scale: float = 400.0, prior: float = 1e-3
) -> dict[str, float]:
    """Elo ratings (mean 1000) fitted to the whole record by maximum likelihood (module
    docstring, item 2): every player of ``players``, then any other player the games name."""
    if not (scale > 0 and prior > 0):
        raise ValueError(f"elo_fit: scale and prior must be > 0, got {scale!r} and {prior!r}")
    index = {pid: k for k, pid in enumerate(dict.fromkeys(players))}
    matrix, scores = _comparisons(games, index)
    if not index:
        return {}
    transposed = matrix.T.tocsr()

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        margin = matrix @ theta
        loss = scores * np.logaddexp(0.0, -margin) + (1.0 - scores) * np.logaddexp(0.0, margin)
        value = loss.sum() + 0.5 * prior * theta @ theta
        return float(value), transposed @ (expit(margin) - scores) + prior * theta

    result = minimize(
        objective,
        np.zeros(len(index)),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 10_000, "ftol": 0.0, "gtol": 1e-10},
    )
    theta = _newton_polish(objective, matrix, prior, result.x)
    ratings = theta * scale / math.log(10.0)
    ratings += 1000.0 - ratings.mean()
    return {pid: float(ratings[k]) for pid, k in index.items()}


# ---------------------------------------------------------------------------- Nash averaging
def _nash_support(antisymmetric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every player that some Nash equilibrium plays, and an equilibrium playing all of them.

    One LP over the cone ``{p >= 0 : A p <= 0}`` (the equilibria, unnormalized): maximize
    ``sum(y)`` with ``0 <= y <= 1`` and ``y <= p``. The cone is closed under sums and scaling, so
    ``y_i = 1`` exactly for the players some equilibrium plays and 0 for the others."""
    n = len(antisymmetric)
    identity = np.eye(n)
    inequalities = np.block([[antisymmetric, np.zeros((n, n))], [-identity, identity]])
    result = linprog(
        np.concatenate([np.zeros(n), -np.ones(n)]),
        A_ub=inequalities,
        b_ub=np.zeros(2 * n),
        bounds=[(0, None)] * n + [(0, 1)] * n,
        method="highs",
    )
    if result.status != 0:
        raise RuntimeError(f"nash_average: the support LP failed: {result.message}")
    support = result.x[n:] > 0.5
    start = np.where(support, result.x[:n], 0.0)
    return support, start / start.sum()


def _max_entropy(antisymmetric: np.ndarray, support: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The equilibrium of maximum entropy, given the support and one equilibrium on all of it.

    Every equilibrium ``q`` scores exactly 0 against each player of the support (equilibria of
    a symmetric zero-sum game are interchangeable), so ``A[S, S] q = 0`` and ``sum(q) = 1`` hold
    on the whole set; the search runs over that affine set, ``q = start + N z`` with ``N`` a
    basis of its directions, where only ``q >= 0`` and ``A[other, S] q <= 0`` remain as
    inequalities (SLSQP). Most payoff matrices have a single equilibrium: ``N`` is empty."""
    inside = antisymmetric[np.ix_(support, support)]
    directions = null_space(np.vstack([inside, np.ones(len(inside))]), rcond=1e-10)
    if directions.shape[1] == 0:
        return start
    origin, outside = start[support], antisymmetric[np.ix_(~support, support)]

    def negative_entropy(z: np.ndarray) -> tuple[float, np.ndarray]:
        q = origin + directions @ z
        log_q = np.log(np.maximum(q, 1e-300))
        return float(q @ log_q), directions.T @ (log_q + 1.0)

    result = minimize(
        negative_entropy,
        np.zeros(directions.shape[1]),
        jac=True,
        method="SLSQP",
        constraints=[
            {"type": "ineq", "fun": lambda z: origin + directions @ z, "jac": lambda z: directions},
            {
                "type": "ineq",
                "fun": lambda z: -outside @ (origin + directions @ z),
                "jac": lambda z: -outside @ directions,
            },
        ],
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    if not result.success:  # SLSQP gives up on large, flat sets (many unplayed pairs)
        result = _max_entropy_interior(negative_entropy, directions, origin, outside)
    if not result.success:
        warnings.warn(
            f"nash_average: the entropy search failed ({result.message}); returning an "
            "equilibrium of the same support that may not be the maximum-entropy one",
            RuntimeWarning,
            stacklevel=3,
        )
        return start
    mixture = np.zeros(len(antisymmetric))
    mixture[support] = np.clip(origin + directions @ result.x, 0.0, None)
    return mixture / mixture.sum()


def _max_entropy_interior(negative_entropy, directions, origin, outside):
    """The same search by an interior-point method (slower than SLSQP, about 0.3 s at 40
    players, but it converges where SLSQP stops on flat sets); success only when the point is
    feasible."""
    constraints = [LinearConstraint(directions, -origin, np.inf)]
    if len(outside):
        constraints.append(LinearConstraint(-outside @ directions, outside @ origin, np.inf))
    result = minimize(
        negative_entropy,
        np.zeros(directions.shape[1]),
        jac=True,
        method="trust-constr",
        constraints=constraints,
        options={"gtol": 1e-10, "xtol": 1e-12, "maxiter": 3000},
    )
    q = origin + directions @ result.x
    feasible = q.min() >= -1e-9 and (not len(outside) or (outside @ q).max() <= 1e-9)
    result.success = bool(result.status in (1, 2) and feasible)
    return result


def nash_average(payoff: np.ndarray, ids: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nash averaging of a square payoff matrix (module docstring, item 3): the maximum-entropy
    Nash mixture ``p*`` of ``A = payoff - payoff.T`` and the ratings ``A @ p*``. ``ids`` names
    the rows, for the error messages."""
    payoff = np.asarray(payoff, dtype=np.float64)
    if payoff.ndim != 2 or payoff.shape[0] != payoff.shape[1] or payoff.shape[0] == 0:
        raise ValueError(
            f"nash_average: payoff must be a non-empty square matrix, got {payoff.shape}"
        )
    if ids is not None and len(ids) != len(payoff):
        raise ValueError(f"nash_average: {len(ids)} ids for a {len(payoff)}-player payoff matrix")
    if not np.all(np.isfinite(payoff)):
        i, j = np.argwhere(~np.isfinite(payoff))[0]
        where = f"({ids[i]!r}, {ids[j]!r})" if ids is not None else f"[{i}, {j}]"
        raise ValueError(f"nash_average: payoff must be finite, got {payoff[i, j]} at {where}")
    antisymmetric = payoff - payoff.T
    support, start = _nash_support(antisymmetric)
    mixture = _max_entropy(antisymmetric, support, start)
    return mixture, antisymmetric @ mixture


# ---------------------------------------------------------------------------- all three
def rating_table(
    games: Iterable[Game], players: Iterable[str], payoff: PayoffTable
) -> list[dict[str, float | str]]:
    """One row per player of ``players``: ``player``, OpenSkill ``mu``, ``sigma``, ``ordinal``,
    the fitted ``elo``, and ``nash``, its Nash-averaging rating on ``payoff.matrix(players)``;
    sorted by ordinal, best first."""
    games, players = list(games), list(dict.fromkeys(players))
    if not players:
        return []
    skill = openskill_ratings(games, players)
    elo = elo_fit(games, players)
    _, nash = nash_average(payoff.matrix(players), players)
    rows: list[dict[str, float | str]] = [
        {"player": pid, **skill[pid], "elo": elo[pid], "nash": float(nash[k])}
        for k, pid in enumerate(players)
    ]
    return sorted(rows, key=lambda row: -row["ordinal"])
