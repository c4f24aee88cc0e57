"""The league's figures (matplotlib, written as PNG): the payoff heatmap and ratings over time."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def payoff_heatmap(matrix: np.ndarray, names: list[str], path: Path, title: str = "") -> Path:
    """Row player's win rate against the column player, each cell labelled; unplayed pairs
    (NaN) grey."""
    plt = _pyplot()
    n = len(names)
    size = max(4.0, 0.55 * n + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    shown = np.ma.masked_invalid(matrix)
    cmap = plt.get_cmap("RdBu").copy()
    cmap.set_bad("#dddddd")
    image = ax.imshow(shown, cmap=cmap, vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("opponent")
    ax.set_ylabel("player")
    for i in range(n):
        for j in range(n):
            if np.isfinite(matrix[i, j]):
                value = matrix[i, j]
                color = "white" if abs(value - 0.5) > 0.3 else "black"
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="win rate (row vs column)")
    ax.set_title(title or "payoff: row player's win rate")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def ratings_over_time(history: dict[str, list[tuple[int, float]]], path: Path, label: str) -> Path:
    """One line per player of its rating after each round: live and fixed players in colour,
    named in the legend beside the plot; frozen snapshots (ids with ``-r``) as thin grey lines
    under one legend entry, so a league of a hundred players stays readable."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    snapshots = 0
    for name, points in history.items():
        if not points:
            continue
        rounds, values = zip(*points, strict=True)
        if "-r" in name:
            first = snapshots == 0
            snapshots += 1
            ax.plot(rounds, values, color="0.6", linewidth=0.7, alpha=0.6,
                    label="snapshots" if first else None, zorder=1)  # fmt: skip
        else:
            ax.plot(rounds, values, "-", label=name, linewidth=1.6, zorder=2)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("round")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(
        f"{label} over rounds" + (f" ({snapshots} snapshots in grey)" if snapshots else "")
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def row_chart(rows: list[dict], path: Path, title: str) -> Path:
    """One player's win rate against each opponent (``rows``: ``opponent``, ``win_rate``,
    ``low``, ``high``) as points with their intervals, opponents in the given order, the 0.5
    line drawn: above it the player wins."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.0, 0.22 * len(rows) + 1.4))
    for k, row in enumerate(rows):
        color = "#2166ac" if row["low"] > 0.5 else "#b2182b" if row["high"] < 0.5 else "0.4"
        ax.plot([row["low"], row["high"]], [k, k], color=color, linewidth=4, alpha=0.35)
        ax.plot([row["win_rate"]], [k], "o", color=color, markersize=4)
    ax.axvline(0.5, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [row["opponent"] for row in rows], fontsize=7)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("win rate (blue: above 0.5 with 95% confidence; red: below)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
