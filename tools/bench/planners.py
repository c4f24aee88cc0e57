"""Milliseconds per decision of the warehouse planners: PIBT and windowed prioritized planning.

    python tools/bench/planners.py                       # 16 and 64 robots, 30 x 39 warehouse
    python tools/bench/planners.py --robots 64 --steps 1000 --cross-aisle 2

A decision is one ``step`` call: the actions of all the robots of one world for one step. Each
planner runs a lifelong loop on ``warehouse_grid`` (RWARE's proportions: shelf blocks of 8 x 2,
one-cell aisles; ``--cross-aisle 2`` widens the aisles between the rows of blocks) from the same
random start: the actions are executed on the grid (``grid_step``, which must report no
conflict), and a robot that reaches its goal gets a new random one. The distances to every
passable cell are computed first (one batched BFS, timed apart), as an environment would for its
shelves and stations. Prints, per planner and robot count: the median, mean, 95th percentile
and largest time of a decision, the goals reached per 100 steps, and the longest a robot kept its
cell short of its goal.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scenarios.warehouse.pibt import PIBTPlanner  # noqa: E402
from scenarios.warehouse.planning import DistanceCache, grid_step, warehouse_grid  # noqa: E402
from scenarios.warehouse.prioritized import PrioritizedPlanner  # noqa: E402

PLANNERS = {"pibt": PIBTPlanner, "prioritized": PrioritizedPlanner}


def lifelong(planner, passable: np.ndarray, robots: int, steps: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    cells = np.argwhere(passable)
    start = rng.choice(len(cells), size=robots, replace=False)
    states = np.column_stack([cells[start], rng.integers(0, 4, robots)])
    goals = cells[rng.integers(0, len(cells), robots)]
    times, reached = np.empty(steps), 0
    still, longest = np.zeros(robots, dtype=np.int64), 0
    for t in range(steps):
        begin = time.perf_counter()
        actions = planner.step(states, goals)
        times[t] = time.perf_counter() - begin
        new, conflicts = grid_step(states, actions, passable)
        if conflicts:
            raise AssertionError(f"step {t}: {conflicts}")
        moved = (new[:, :2] != states[:, :2]).any(axis=1)
        states = new
        arrived = (states[:, :2] == goals).all(axis=1)
        still = np.where(moved | arrived, 0, still + 1)
        longest = max(longest, int(still.max()))
        reached += int(arrived.sum())
        goals[arrived] = cells[rng.integers(0, len(cells), int(arrived.sum()))]
    ms = times * 1e3
    return {
        "median": np.median(ms),
        "mean": ms.mean(),
        "p95": np.percentile(ms, 95),
        "max": ms.max(),
        "goals": 100 * reached / steps,
        "longest": longest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robots", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--steps", type=int, default=500, help="decisions per run")
    parser.add_argument("--planners", nargs="+", choices=sorted(PLANNERS), default=list(PLANNERS))
    parser.add_argument("--cross-aisle", type=int, default=1, help="width of the cross aisles")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    passable = warehouse_grid(cross_aisle=args.cross_aisle)
    distances = DistanceCache(passable)
    begin = time.perf_counter()
    distances.prefetch(np.argwhere(passable))
    bfs_ms = (time.perf_counter() - begin) * 1e3
    height, width = passable.shape
    print(f"warehouse {height} x {width}, {passable.sum()} passable cells, {args.steps} steps")
    print(f"distances to all {len(distances)} cells: {bfs_ms:.0f} ms\n")
    print(f"{'planner':<12}{'robots':>7}{'median':>8}{'mean':>8}{'p95':>8}{'max':>8}", end="")
    print(f"{'goals/100':>11}{'longest wait':>14}")
    for name in args.planners:
        for robots in args.robots:
            planner = PLANNERS[name](passable, distances=distances)
            row = lifelong(planner, passable, robots, args.steps, args.seed)
            print(f"{name:<12}{robots:>7}", end="")
            print("".join(f"{row[k]:>8.2f}" for k in ("median", "mean", "p95", "max")), end=" ")
            print(f"{row['goals']:>10.1f}{row['longest']:>14}")
    print("\ntimes in ms per decision (all robots, one step)")


if __name__ == "__main__":
    main()
