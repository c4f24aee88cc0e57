"""A vector env's episode accumulators: each group's return, each reward term's sum and each
metric's sum, minimum or maximum, per world, added every step in one compiled call.

Arrays keep the scenario's per-agent (or per-landmark) axes here; they are reduced over those
axes only when an episode ends (``VectorEnv._episode_records``). "last" metrics are not
accumulated: they are read from the scenario when the episode ends.
"""

from __future__ import annotations

import operator

import numpy as np

from worlds.kernels.arrays import accumulate

REDUCERS = {
    "mean": (np.add, 0.0),
    "sum": (np.add, 0.0),
    "min": (np.minimum, np.inf),
    "max": (np.maximum, -np.inf),
    "last": (None, np.nan),
}
"""How each ``metric_reduce`` entry combines steps, and its starting value."""

_KIND = {"mean": 0, "sum": 0, "min": 1, "max": 2}  # which tuple of ``accumulate``
_EMPTY = np.zeros((0, 0))
_NO_PAIRS = ((_EMPTY, _EMPTY),)


def _getter(names: list[str]):
    """A function from a dict to the tuple of its values at ``names`` (C speed)."""
    if len(names) == 1:
        name = names[0]
        return lambda values: (values[name],)
    if not names:
        return lambda values: ()
    return operator.itemgetter(*names)


class EpisodeSums:
    """Per-world running totals of the episodes of ``num_envs`` worlds. ``returns``,
    ``terms`` and ``metrics`` map names to float64 (or, for a float metric's minimum or
    maximum, its own type) arrays of the scenario's shapes; ``terms`` and ``metrics`` are
    filled at the first ``add``."""

    def __init__(
        self, scenario_id: str, num_envs: int, groups: dict[str, int], metric_reduce: dict
    ) -> None:
        self.scenario_id = scenario_id
        self.rows = num_envs
        self.metric_reduce = metric_reduce
        self.returns = {g: np.zeros((num_envs, n)) for g, n in groups.items()}
        self.terms: dict[str, np.ndarray] = {}
        self.metrics: dict[str, np.ndarray] = {}
        self._planned = False
        self._sources: tuple = ()
        self._arguments: tuple = ()

    def reset(self, rows) -> None:
        """Start the episodes of worlds ``rows`` (an index or a slice) from nothing."""
        for values in self.returns.values():
            values[rows] = 0.0
        for values in self.terms.values():
            values[rows] = 0.0
        for name, values in self.metrics.items():
            values[rows] = REDUCERS[self.metric_reduce.get(name, "mean")][1]

    def add(self, rewards: dict, terms: dict, metrics: dict) -> None:
        """Add one step: every group's ``rewards``, every reward term and metric."""
        if not self._planned:
            self._plan(terms, metrics)
        sources = self._rewards(rewards) + self._terms(terms) + self._metrics(metrics)
        if len(sources) != len(self._sources) or not all(map(operator.is_, sources, self._sources)):
            self._bind(sources)
        accumulate(*self._arguments)

    def _plan(self, terms: dict, metrics: dict) -> None:
        """The accumulators, from the first step's terms and metrics."""
        for name, values in terms.items():
            self.terms[name] = np.zeros(np.shape(values))
        kinds = []
        for name, values in metrics.items():
            how = self.metric_reduce.get(name, "mean")
            if how not in REDUCERS:
                raise ValueError(f"{self.scenario_id}: metric {name!r} has unknown reduce {how!r}")
            if how == "last":
                continue
            # A minimum or maximum is exact in the metric's own float type (and cheaper than
            # with a cast); sums and means add in float64.
            same = how in ("min", "max") and np.asarray(values).dtype.kind == "f"
            dtype = np.asarray(values).dtype if same else np.float64
            self.metrics[name] = np.full(np.shape(values), REDUCERS[how][1], dtype)
            kinds.append(_KIND[how])
        self._totals = [*self.returns.values(), *self.terms.values(), *self.metrics.values()]
        self._names = [*self.returns, *self.terms, *self.metrics]
        self._kinds = [0] * (len(self.returns) + len(self.terms)) + kinds
        self._rewards = _getter(list(self.returns))
        self._terms = _getter(list(self.terms))
        self._metrics = _getter(list(self.metrics))
        self._planned = True

    def _bind(self, sources: tuple) -> None:
        """The kernel's pairs for these source arrays (checked once per new array)."""
        pairs: tuple[list, list, list] = ([], [], [])
        for name, total, kind, values in zip(
            self._names, self._totals, self._kinds, sources, strict=True
        ):
            values = np.asarray(values)
            if values.shape != total.shape:
                raise ValueError(
                    f"{self.scenario_id}: {name!r} has shape {values.shape} this step, "
                    f"{total.shape} before"
                )
            pairs[kind].append((total.reshape(self.rows, -1), values.reshape(self.rows, -1)))
        self._arguments = tuple(tuple(p) or _NO_PAIRS for p in pairs)
        self._sources = sources
