"""``evaluate``: play a lineup and the baselines in its place, and estimate every figure.

Episodes come in strata, one per evaluation seed: each seed is a fresh vector env of
``num_envs`` worlds, each world playing ``per_world`` episodes (``marl.eval.episodes``). Every
figure (each group's return, each scenario metric) becomes an ``(episodes, seeds)`` array whose
interquartile mean and mean get 95% intervals from a stratified bootstrap
(``marl.eval.stats``, as the ``rliable`` package computes them).

The baselines: for each group played by a learned policy, the same lineup with that group
played by the scenario's scripted baseline, then by random actions; for a lineup of baselines
only, the other baseline. So every table answers "against what".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from marl.envs import make_env
from marl.eval.episodes import play_episodes, render_episodes
from marl.eval.sources import BASELINES, Lineup
from marl.eval.stats import Estimate, interval

MAX_EPISODES = 100_000


@dataclass
class Setup:
    """What to evaluate: scenario id and config, episodes in all, seeds (strata), batch size."""

    scenario: str
    config: dict
    episodes: int = 100
    seeds: tuple[int, ...] = (0, 1, 2)
    num_envs: int = 32
    deterministic: bool = True
    baselines: tuple[str, ...] = BASELINES  # those the scenario has (pz: envs: random only)

    def __post_init__(self) -> None:
        if not 1 <= self.episodes <= MAX_EPISODES:
            raise ValueError(f"--episodes: must be in [1, {MAX_EPISODES}], got {self.episodes}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"--seeds: give distinct seeds, got {list(self.seeds)}")
        if not 1 <= self.num_envs <= 4096:
            raise ValueError(f"--num-envs: must be in [1, 4096], got {self.num_envs}")

    def batch(self) -> tuple[int, int]:
        """``(worlds, episodes per world)`` per seed: at least ``episodes`` in all."""
        per_seed = math.ceil(self.episodes / len(self.seeds))
        worlds = min(self.num_envs, per_seed)
        return worlds, math.ceil(per_seed / worlds)


@dataclass
class Evaluation:
    """A lineup's episodes (all seeds) and the estimate of every figure."""

    lineup: Lineup
    episodes: list[dict]
    figures: dict[str, np.ndarray]  # name -> (episodes per seed, seeds)
    estimates: dict[str, dict[str, Estimate]] = field(default_factory=dict)  # name -> agg -> est


def figure_arrays(episodes: list[dict], seeds: tuple[int, ...]) -> dict[str, np.ndarray]:
    """``return/<group>`` and every metric as ``(episodes per seed, seeds)`` (NaN where an
    episode leaves a metric undefined)."""
    names = [f"return/{g}" for g in sorted({g for e in episodes for g in e["return"]})]
    names += sorted({m for e in episodes for m in e.get("metrics", {})})
    out = {}
    for name in names:
        columns = []
        for seed in seeds:
            rows = [e for e in episodes if e["seed"] == seed]
            columns.append([_value(e, name) for e in rows])
        out[name] = np.array(columns, np.float64).T
    return out


def _value(episode: dict, name: str) -> float:
    if name.startswith("return/"):
        return float(episode["return"].get(name[7:], math.nan))
    value = episode.get("metrics", {}).get(name)
    return math.nan if value is None else float(value)


def play_lineup(setup: Setup, lineup: Lineup) -> Evaluation:
    """Every seed's pass of ``lineup``; the figures and their estimates."""
    worlds, per_world = setup.batch()
    episodes: list[dict] = []
    for seed in setup.seeds:
        venv = make_env(setup.scenario, worlds, seed, **setup.config)
        try:
            policy = lineup.build(venv, seed)
            episodes += play_episodes(policy, venv, per_world, seed, setup.deterministic)
        finally:
            venv.close()
    figures = figure_arrays(episodes, setup.seeds)
    estimates = {
        name: {agg: interval(values, agg) for agg in ("iqm", "mean")}
        for name, values in figures.items()
    }
    return Evaluation(lineup, episodes, figures, estimates)


def baseline_lineups(
    lineup: Lineup, baselines: tuple[str, ...] = BASELINES
) -> list[tuple[str, Lineup]]:
    """``(label, lineup)`` of the comparisons: each learned group replaced by each of
    ``baselines`` (the scenario's: a ``pz:`` env has no scripted one); a lineup of baselines
    only is compared with each baseline playing every group."""
    out = []
    for group in lineup.learned():
        for baseline in baselines:
            out.append((f"{group}={baseline}", lineup.replaced(group, baseline)))
    if not lineup.learned():
        for baseline in baselines:
            other = Lineup(dict.fromkeys(lineup.sources, baseline))
            if other.sources != lineup.sources:
                out.append((baseline, other))
    return out


def score_name(lineup: Lineup, figures: dict) -> str:
    """The figure that ranks episodes (best, median, worst): the return of the first learned
    group, else of the first group."""
    groups = lineup.learned() or list(lineup.sources)
    name = f"return/{groups[0]}"
    return name if name in figures else next(iter(figures))


def pick_episodes(evaluation: Evaluation, name: str) -> dict[str, dict]:
    """The best, median and worst episode by figure ``name`` (ties: the earliest)."""
    scored = [(e, _value(e, name)) for e in evaluation.episodes]
    scored = [(e, v) for e, v in scored if math.isfinite(v)]
    if not scored:
        return {}
    order = sorted(range(len(scored)), key=lambda i: (scored[i][1], i))
    picks = {"worst": order[0], "median": order[len(order) // 2], "best": order[-1]}
    return {label: scored[i][0] for label, i in picks.items()}


def replay(setup: Setup, lineup: Lineup, picks: dict[str, dict], size: int = 320) -> dict:
    """Frames of each picked episode: its seed's pass replayed, that world rendered. Raises
    when a replayed episode's figures differ from the evaluated one's (not exact)."""
    worlds, per_world = setup.batch()
    out = {}
    for seed in sorted({e["seed"] for e in picks.values()}):
        mine = {label: e for label, e in picks.items() if e["seed"] == seed}
        targets = sorted({(e["world"], e["index"]) for e in mine.values()})
        config = dict(setup.config)
        if setup.scenario.startswith("pz:"):  # an outside env draws itself
            config["render_mode"] = "rgb_array"
        venv = make_env(setup.scenario, worlds, seed, **config)
        try:
            policy = lineup.build(venv, seed)
            frames, again = render_episodes(
                policy, venv, per_world, seed, targets, size, setup.deterministic
            )
        finally:
            venv.close()
        replayed = {(e["world"], e["index"]): e for e in again}
        for label, episode in mine.items():
            key = (episode["world"], episode["index"])
            if replayed[key]["return"] != episode["return"]:
                raise RuntimeError(f"replay of the {label} episode differs from its evaluation")
            out[label] = {"episode": episode, "frames": frames[key]}
    return out
