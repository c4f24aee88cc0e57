"""Interval estimates of aggregate scores for evaluation reports.

An evaluation produces one score per episode, possibly grouped into strata (for example one
column per evaluation seed). :func:`interval` turns such a sample into a point estimate of an
aggregate, the interquartile mean (IQM) or the mean, together with a percentile-bootstrap
confidence interval, as recommended by Agarwal et al. (2021), "Deep Reinforcement Learning at
the Edge of the Statistical Precipice" (NeurIPS), whose ``rliable`` library does the work.

Why the IQM: it is the mean of the middle 50% of the scores (a 25% trimmed mean), so a few
extreme episodes cannot move it the way they move the mean, yet it uses half of the data
rather than the one or two central values the median uses, which makes it statistically more
efficient (narrower intervals for the same number of episodes).

The bootstrap is rliable's stratified bootstrap: scores are laid out as rliable's
``(runs, tasks)`` matrix with runs = episodes and tasks = strata, and each bootstrap replicate
resamples episodes with replacement within each stratum. The interval is the percentile
interval of the replicated aggregate.

Note on rliable 1.2.0: its ``StratifiedBootstrap`` draws its resampling indices from NumPy's
global random state (``np.random.choice``) and ignores the ``random_state`` it is given, so
``rly.get_interval_estimates(..., random_state=...)`` is not reproducible. This module uses a
subclass that draws from the bootstrap's own ``RandomState(seed)`` instead, and otherwise
follows ``get_interval_estimates`` step by step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from rliable import library as rly
from rliable import metrics

__all__ = ["AGGREGATES", "Estimate", "interval"]

#: Aggregates :func:`interval` accepts, by name.
AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {
    "iqm": metrics.aggregate_iqm,
    "mean": metrics.aggregate_mean,
}

_MIN_REPS = 100
_MAX_REPS = 10**6


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a confidence interval.

    Attributes:
        value: the aggregate of the finite scores (NaN when there are none).
        low: lower end of the confidence interval.
        high: upper end of the confidence interval.
        n: number of finite scores used.
    """

    value: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict:
        """Return ``{"value", "low", "high", "n"}`` with NaN written as None (JSON-safe)."""

        def clean(x: float) -> float | None:
            return None if math.isnan(x) else float(x)

        return {
            "value": clean(self.value),
            "low": clean(self.low),
            "high": clean(self.high),
            "n": int(self.n),
        }


class _SeededStratifiedBootstrap(rly.StratifiedBootstrap):
    """rliable's stratified bootstrap, drawing indices from its own random generator.

    rliable 1.2.0 calls ``np.random.choice`` (global state) in ``update_indices``; this draws
    the same indices from ``self.generator`` so that a seed makes the interval reproducible.
    """

    def update_indices(self) -> tuple[np.ndarray, ...]:
        indices = self.generator.choice(self._num_items, self._args_shape, replace=True)
        return (indices, *self._strata_indices)


def _check_args(aggregate: str, confidence: float, reps: int, seed: int) -> None:
    if not isinstance(aggregate, str) or aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {sorted(AGGREGATES)}, got {aggregate!r}")
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, Real)
        or not 0.0 < confidence < 1.0
    ):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    if isinstance(reps, bool) or not isinstance(reps, Integral):
        raise ValueError(f"reps must be an integer, got {reps!r}")
    if not _MIN_REPS <= reps <= _MAX_REPS:
        raise ValueError(f"reps must be in [{_MIN_REPS}, {_MAX_REPS}], got {reps}")
    if isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")


def _as_float_array(scores) -> np.ndarray:
    """Convert ``scores`` to a float array of ndim 1 or 2, or raise a one-line ValueError."""
    try:
        arr = np.asarray(scores)
    except (TypeError, ValueError) as exc:  # e.g. ragged nested lists
        raise ValueError(f"scores must be a numeric array: {exc}") from None
    if arr.ndim > 2:
        raise ValueError(f"scores must have ndim 1 or 2 (episodes[, strata]), got {arr.ndim}")
    if arr.dtype.kind not in "biufO":
        raise ValueError(f"scores must be numeric, got dtype {arr.dtype}")
    try:
        arr = arr.astype(float)
    except (TypeError, ValueError):
        raise ValueError("scores must be numeric, got non-numeric entries") from None
    return np.atleast_1d(arr)


def _finite_matrix(arr: np.ndarray) -> np.ndarray:
    """Drop non-finite scores and return an ``(episodes, strata)`` matrix.

    A 1-D input is one stratum. In a 2-D input each column keeps its finite entries; if the
    columns are then of unequal length they are pooled into a single stratum.
    """
    if arr.ndim == 1:
        return arr[np.isfinite(arr)].reshape(-1, 1)
    columns = [col[np.isfinite(col)] for col in arr.T]
    if columns and len({len(col) for col in columns}) == 1:
        return np.stack(columns, axis=1)
    pooled = np.concatenate(columns) if columns else np.empty(0)
    return pooled.reshape(-1, 1)


def interval(
    scores,
    aggregate: str = "iqm",
    confidence: float = 0.95,
    reps: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Point estimate and stratified-bootstrap percentile interval of an aggregate score.

    Args:
        scores: array-like of shape ``(episodes,)`` or ``(episodes, strata)``; strata are e.g.
            evaluation seeds, and episodes are resampled within each stratum. Non-finite
            entries (a metric undefined in some episodes) are dropped, per stratum; strata of
            unequal remaining length are pooled into one.
        aggregate: ``"iqm"`` (interquartile mean over all scores) or ``"mean"`` (mean of the
            per-stratum means, which is the overall mean when strata have equal length).
        confidence: coverage of the interval, in (0, 1).
        reps: number of bootstrap replicates, in [100, 10**6].
        seed: seed of the bootstrap's ``RandomState``; the same inputs and seed give the same
            result.

    Returns:
        An :class:`Estimate`. With no finite score it is ``Estimate(nan, nan, nan, 0)``; when
        all finite scores are equal (including a single score) the interval is that value.

    Raises:
        ValueError: on an unknown aggregate, or confidence, reps, seed or scores out of range.
    """
    _check_args(aggregate, confidence, reps, seed)
    matrix = _finite_matrix(_as_float_array(scores))
    n = int(matrix.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    if np.all(matrix == matrix.flat[0]):
        value = float(matrix.flat[0])
        return Estimate(value, value, value, n)

    func = AGGREGATES[aggregate]

    def statistic(x: np.ndarray) -> np.ndarray:
        return np.array([func(x)])

    # Same steps as rly.get_interval_estimates, with a reproducible generator.
    bootstrap = _SeededStratifiedBootstrap(matrix, seed=np.random.RandomState(seed))
    (low, high) = bootstrap.conf_int(
        statistic, reps=int(reps), size=float(confidence), method="percentile"
    )[:, 0]
    return Estimate(float(func(matrix)), float(low), float(high), n)
