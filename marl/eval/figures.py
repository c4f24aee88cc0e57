"""The report's figures (matplotlib, PNG): every figure's IQM with its 95% interval per lineup,
the score's distribution per lineup, and a strip of frames from each replayed episode."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from marl.league.figures import _pyplot

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#7f7f7f")


def interval_chart(rows: list[tuple[str, dict]], names: list[str], path: Path) -> Path:
    """One panel per figure name: a point per lineup (its IQM) with the 95% interval as a bar.
    ``rows``: ``(lineup label, {name: {"iqm": Estimate}})``."""
    plt = _pyplot()
    cols = min(3, len(names))
    lines = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(
        lines, cols, figsize=(4.2 * cols, 0.5 * len(rows) * lines + 1.4 * lines), squeeze=False
    )
    for ax, name in zip(axes.flat, names, strict=False):
        for k, (_, estimates) in enumerate(rows):
            est = estimates[name]["iqm"]
            if not math.isfinite(est.value):
                continue
            color = COLORS[k % len(COLORS)]
            ax.plot([est.low, est.high], [k, k], color=color, linewidth=6, alpha=0.35)
            ax.plot([est.value], [k], "o", color=color)
        ax.set_yticks(range(len(rows)), [_short(label) for label, _ in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(name, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.suptitle("interquartile mean with 95% stratified-bootstrap interval", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def score_distribution(rows: list[tuple[str, np.ndarray]], name: str, path: Path) -> Path:
    """Histogram of ``name`` per episode, one outline per lineup."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    finite = [v[np.isfinite(v)] for _, v in rows]
    every = np.concatenate(finite) if finite else np.zeros(1)
    low, high = (float(every.min()), float(every.max())) if every.size else (0.0, 1.0)
    bins = np.linspace(low, high if high > low else low + 1.0, 31)
    for k, ((label, _), values) in enumerate(zip(rows, finite, strict=True)):
        ax.hist(
            values,
            bins=bins,
            histtype="step",
            linewidth=1.8,
            color=COLORS[k % 7],
            label=_short(label),
        )
    ax.set_xlabel(name)
    ax.set_ylabel("episodes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def frame_strip(frames: list[np.ndarray], title: str, path: Path, count: int = 5) -> Path:
    """``count`` frames spread evenly over an episode, first and last included, side by side."""
    plt = _pyplot()
    picks = sorted({round(i * (len(frames) - 1) / max(count - 1, 1)) for i in range(count)})
    fig, axes = plt.subplots(1, len(picks), figsize=(2.6 * len(picks), 2.9), squeeze=False)
    for ax, index in zip(axes.flat, picks, strict=True):
        ax.imshow(frames[index])
        ax.set_title(f"step {index}", fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def value_heatmap(
    matrix: np.ndarray,
    labels: list[str],
    path: Path,
    title: str,
    unit: str,
    axes: tuple[str, str] = ("first half of the team", "second half of the team"),
    rows: list[str] | None = None,
) -> Path:
    """Cell ``(i, j)`` labelled with its value; columns are ``labels``, rows ``rows`` (the same
    by default); ``axes``: what rows and columns are."""
    plt = _pyplot()
    rows = labels if rows is None else rows
    n = len(labels)
    size = max(3.6, 0.9 * n + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1.4, size))
    image = ax.imshow(matrix, cmap="viridis")
    short = [_short(label, 24) for label in labels]
    ax.set_xticks(range(n), short, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [_short(label, 24) for label in rows], fontsize=8)
    ax.set_ylabel(axes[0])
    ax.set_xlabel(axes[1])
    middle = np.nanmean(matrix) if np.isfinite(matrix).any() else 0.0
    for i in range(len(rows)):
        for j in range(n):
            if np.isfinite(matrix[i, j]):
                color = "white" if matrix[i, j] < middle else "black"
                ax.text(
                    j, i, f"{matrix[i, j]:.3g}", ha="center", va="center", fontsize=8, color=color
                )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=unit)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def partners_chart(rows: list[dict], path: Path, title: str) -> Path:
    """Per background: the focal per-capita return and the two baselines in the focal seats,
    IQM with 95% interval."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 0.9 * len(rows) + 1.6))
    for k, row in enumerate(rows):
        for m, (who, color) in enumerate(
            (("focal", COLORS[0]), ("scripted", COLORS[1]), ("random", COLORS[3]))
        ):
            est = row[who]
            y = k + (m - 1) * 0.22
            if math.isfinite(est.value):
                ax.plot([est.low, est.high], [y, y], color=color, linewidth=5, alpha=0.35)
                ax.plot([est.value], [y], "o", color=color, label=who if k == 0 else None)
    ax.set_yticks(
        range(len(rows)), [_short("with " + r["background"], 30) for r in rows], fontsize=8
    )
    ax.invert_yaxis()
    ax.set_xlabel("per-capita return of the focal seats")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _short(label: str, width: int = 38) -> str:
    return label if len(label) <= width else "..." + label[-(width - 3) :]
