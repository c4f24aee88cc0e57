"""Choosing the learner's next opponent: prioritized fictitious self-play (PFSP), and the mix.

AlphaStar (Vinyals et al. 2019) draws the opponent from the candidates with probability
proportional to ``f(x)``, ``x`` being the learner's win rate against that candidate
(``PayoffTable.win_rates``):

=============  ==================  =========================================================
weighting      f(x)                plays most
=============  ==================  =========================================================
``hard``       ``(1 - x) ** p``    the opponents it loses to (``p`` sharpens the focus)
``variance``   ``x (1 - x)``       the even match-ups, where a game says most
``linear``     ``1 - x``           the opponents it loses to, gently
``uniform``    ``1``               every candidate alike (plain fictitious self-play)
=============  ==================  =========================================================

When every weight is 0 (the learner beats every candidate under ``hard`` or ``linear``, or
every rate is 0 or 1 under ``variance``) the draw is uniform: the learner keeps playing its whole
pool rather than none of it.

``sample_kind`` draws what kind of game comes next from a mix such as
``{"self": 0.35, "pfsp": 0.5, "exploiter": 0.15}``. Both draw with ``rng.choice``, so a seeded
generator gives the same sequence on every run.
"""

from __future__ import annotations

import math

import numpy as np

WEIGHTINGS = ("hard", "variance", "linear", "uniform")


def pfsp_weights(win_rates: np.ndarray, weighting: str = "hard", p: float = 2.0) -> np.ndarray:
    """PFSP probabilities of each candidate from the learner's win rates against them:
    ``f(x)`` of the ``weighting`` (module docstring), normalized to sum 1; uniform when every
    ``f(x)`` is 0. ``p`` is the exponent of ``hard`` (checked, unused by the others)."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"pfsp_weights: weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    if not (math.isfinite(p) and p > 0):
        raise ValueError(f"pfsp_weights: p must be a finite number > 0, got {p!r}")
    x = np.asarray(win_rates, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(
            f"pfsp_weights: win_rates must be a non-empty 1-D array, got shape {x.shape}"
        )
    if not np.all((x >= 0.0) & (x <= 1.0)):  # also false for NaN
        raise ValueError(f"pfsp_weights: win_rates must be in [0, 1] (no NaN), got {x.tolist()}")
    if weighting == "hard":
        weights = (1.0 - x) ** p
    elif weighting == "variance":
        weights = x * (1.0 - x)
    elif weighting == "linear":
        weights = 1.0 - x
    else:
        weights = np.ones_like(x)
    total = weights.sum()
    if total <= 0.0:
        return np.full_like(x, 1.0 / x.size)
    return weights / total


def pfsp_choice(
    rng: np.random.Generator,
    candidates: list[str],
    win_rates: np.ndarray,
    weighting: str = "hard",
    p: float = 2.0,
) -> str:
    """One of ``candidates`` drawn with ``pfsp_weights(win_rates, weighting, p)``;
    ``win_rates[i]`` is the learner's rate against ``candidates[i]``."""
    if len(candidates) != len(win_rates):
        raise ValueError(
            f"pfsp_choice: {len(candidates)} candidates but {len(win_rates)} win_rates"
        )
    weights = pfsp_weights(win_rates, weighting, p)
    return candidates[int(rng.choice(len(candidates), p=weights))]


def sample_kind(rng: np.random.Generator, mix: dict[str, float]) -> str:
    """A key of ``mix`` drawn with probability proportional to its value (values finite and
    >= 0, sum > 0); the keys in the dict's order, so a seeded ``rng`` repeats its draws."""
    keys = list(mix)
    values = np.array([mix[key] for key in keys], dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values) & (values >= 0.0)) or values.sum() <= 0:
        raise ValueError(f"sample_kind: mix needs values >= 0 with a sum > 0, got {mix!r}")
    return keys[int(rng.choice(len(keys), p=values / values.sum()))]
