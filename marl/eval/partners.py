"""Playing with others: cross-play, held-out partners and one partner swapped.

- **Cross-play** (``crossplay``): independently trained runs of one group paired with each
  other: in cell ``(i, j)`` the first half of the group's agents is played by run ``i``, the rest
  by run ``j`` (the diagonal is each run with itself). The self-play minus cross-play gap (mean
  of the diagonal minus mean off it) says how arbitrary the runs' learned conventions are: zero
  for runs that coordinate with anyone, large for runs that only understand themselves.
- **Held-out partners** (``heldout``, Melting Pot's idea for any scenario here): ``focal``
  agents of one group play with a background population they never trained with (scripted,
  random, other runs, league snapshots). The focal per-capita return is normalized per
  background so that the worse of the two baselines in the focal seats (scripted, random)
  scores 0 and the better 1.
- **One partner swapped** (``swap_one``): agent 0 of a learned group replaced by the scripted
  baseline, then by random actions; how much the team loses says how much it relies on that
  partner behaving as trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from marl.envs import make_env
from marl.eval.harness import Evaluation, Setup, play_lineup
from marl.eval.sources import BASELINES, Lineup
from marl.eval.stats import Estimate, interval


def group_sizes(setup: Setup) -> dict[str, int]:
    """Agents per group of the setup's scenario."""
    venv = make_env(setup.scenario, 1, 0, **setup.config)
    try:
        return {g: spec.n_agents for g, spec in venv.groups.items()}
    finally:
        venv.close()


@dataclass
class CrossPlay:
    """``cells[i][j]``: the score's estimate with run i in the first half, run j in the rest."""

    group: str
    runs: list[str]
    score: str
    cells: list[list[Estimate]]

    def matrix(self) -> np.ndarray:
        return np.array([[c.value for c in row] for row in self.cells], np.float64)

    def gap(self) -> float:
        """Mean of the diagonal (self-play) minus mean off it (cross-play)."""
        m = self.matrix()
        off = m[~np.eye(len(m), dtype=bool)]
        return float(np.mean(np.diag(m)) - np.mean(off)) if off.size else math.nan


def crossplay(setup: Setup, base: Lineup, group: str, runs: list[str], score: str) -> CrossPlay:
    """Every ordered pair of ``runs`` (sources of ``group``) in one team; the rest of ``base``
    unchanged. ``score``: the figure compared (e.g. ``return/drone`` or a metric)."""
    n = group_sizes(setup)[group]
    if n < 2:
        raise ValueError(f"--crossplay: group {group!r} has one agent; nobody to pair it with")
    if len(runs) < 2:
        raise ValueError("--crossplay: give at least two runs")
    half = n // 2
    cells = []
    for a in runs:
        row = []
        for b in runs:
            lineup = base.mixed(group, (a,) * half + (b,) * (n - half))
            row.append(_estimate(play_lineup(setup, lineup), score))
        cells.append(row)
    return CrossPlay(group, list(runs), score, cells)


def _estimate(evaluation: Evaluation, score: str) -> Estimate:
    if score not in evaluation.estimates:
        raise ValueError(f"--score: no figure {score!r} (has {', '.join(evaluation.estimates)})")
    return evaluation.estimates[score]["iqm"]


@dataclass
class Partners:
    """Per background source: the focal per-capita return, the same seats played by each
    baseline, and the focal score normalized between them."""

    group: str
    focal: str
    seats: int
    rows: list[dict]  # background, focal, scripted, random (Estimate), normalized (float)


def focal_return(evaluation: Evaluation, group: str, seats: int, seeds) -> np.ndarray:
    """Per-capita return of agents ``0 .. seats-1`` of ``group``, ``(episodes, seeds)``."""
    columns = []
    for seed in seeds:
        rows = [e for e in evaluation.episodes if e["seed"] == seed]
        columns.append([float(np.mean(e["agent_returns"][group][:seats])) for e in rows])
    return np.array(columns, np.float64).T


def heldout(
    setup: Setup, base: Lineup, group: str, focal: str, background: list[str], seats: int
) -> Partners:
    """``focal`` in the first ``seats`` agents of ``group``, each ``background`` source in the
    others; the same with the focal seats played by each baseline."""
    n = group_sizes(setup)[group]
    if not 1 <= seats < n:
        raise ValueError(
            f"--focal-agents: must be in [1, {n - 1}] for group {group!r}, got {seats}"
        )
    if not background:
        raise ValueError("--background: give at least one source")
    rows = []
    for other in background:
        scores = {}
        for who in (focal, *setup.baselines):
            lineup = base.mixed(group, (who,) * seats + (other,) * (n - seats))
            values = focal_return(play_lineup(setup, lineup), group, seats, setup.seeds)
            scores[who] = interval(values, "iqm")
        low = min(scores[b].value for b in setup.baselines)
        high = max(scores[b].value for b in setup.baselines)
        normalized = (scores[focal].value - low) / (high - low) if high > low else math.nan
        rows.append(
            {
                "background": other,
                "focal": scores[focal],
                "scripted": scores.get("scripted", Estimate(math.nan, math.nan, math.nan, 0)),
                "random": scores["random"],
                "normalized": normalized,
            }
        )
    return Partners(group, focal, seats, rows)


def swap_one(
    base: Lineup, sizes: dict[str, int], baselines: tuple[str, ...] = BASELINES
) -> list[tuple[str, Lineup]]:
    """``(label, lineup)`` with agent 0 of each learned group of more than one agent played by
    each baseline."""
    out = []
    for group in base.learned():
        n = sizes[group]
        if n < 2:
            continue
        current = base.mixes.get(group) or (base.sources[group],) * n
        for baseline in baselines:
            out.append((f"{group}[0]={baseline}", base.mixed(group, (baseline, *current[1:]))))
    return out
