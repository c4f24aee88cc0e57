"""Generalization: the lineup and its baselines at other values of one scenario field than it
was trained at (``--sweep n_agents=8,16,32``; traffic densities; personality settings), every
figure estimated at each value, drawn as a curve with its 95% band per lineup."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from marl.eval.figures import COLORS, _pyplot
from marl.eval.harness import Setup, baseline_lineups, play_lineup
from marl.eval.sources import Lineup
from scenarios.replay import parse_overrides


def parse_sweep(text: str) -> tuple[str, list]:
    """``"n_agents=8,16,32"`` to ``("n_agents", [8, 16, 32])`` (values as JSON literals)."""
    field, sep, values = str(text).partition("=")
    items = [v for v in values.split(",") if v.strip()]
    if not sep or not field.strip() or not items:
        raise ValueError(f"--sweep: expected FIELD=VALUE,VALUE,..., got {text!r}")
    parsed = [parse_overrides([f"{field}={v}"])[field.strip()] for v in items]
    return field.strip(), parsed


def sweep(setup: Setup, lineup: Lineup, field: str, values: list) -> dict:
    """``{"field", "values", "lineups": {label: [ {figure: Estimate.as_dict()} per value ]}}``:
    the lineup (``evaluated``) and the baselines in place of its learned groups (or the other
    baseline) at each value of ``field``."""
    rows: dict[str, list[dict]] = {}
    for value in values:
        here = replace(setup, config={**setup.config, field: value})
        for label, member in [("evaluated", lineup), *baseline_lineups(lineup, setup.baselines)]:
            evaluation = play_lineup(here, member)
            rows.setdefault(label, []).append(
                {name: by["iqm"].as_dict() for name, by in evaluation.estimates.items()}
            )
    return {"field": field, "values": values, "lineups": rows}


def sweep_figure(result: dict, names: list[str], path: Path) -> Path:
    """One panel per figure: IQM against the swept value, a 95% band per lineup."""
    plt = _pyplot()
    cols = min(3, len(names))
    lines = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(lines, cols, figsize=(4.4 * cols, 3.2 * lines), squeeze=False)
    values = result["values"]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    x = np.array(values, np.float64) if numeric else np.arange(len(values), dtype=np.float64)
    for ax, name in zip(axes.flat, names, strict=False):
        for k, (label, per_value) in enumerate(result["lineups"].items()):
            est = [row.get(name) or {} for row in per_value]
            mid = np.array([_num(e.get("value")) for e in est])
            low = np.array([_num(e.get("low")) for e in est])
            high = np.array([_num(e.get("high")) for e in est])
            color = COLORS[k % len(COLORS)]
            ax.plot(x, mid, "o-", color=color, label=label)
            ax.fill_between(x, low, high, color=color, alpha=0.2)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(result["field"])
        if not numeric:
            ax.set_xticks(x, [str(v) for v in values], fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"generalization over {result['field']} (IQM, 95% band)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _num(value) -> float:
    return math.nan if value is None else float(value)
