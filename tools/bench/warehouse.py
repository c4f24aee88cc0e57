"""warehouse/shelves-v0 against the ``rware`` package (RWARE 2.0), side by side in one run.

    python tools/bench/warehouse.py                          # medium, 16 worlds x 10 robots
    python tools/bench/warehouse.py --worlds 16 --robots 10 --seconds 6 --rounds 6

Ours: the vector env of ``--worlds`` worlds on RWARE's layout (``--layout``), physics included.
Theirs: ``gymnasium.make("rware-<layout>-<robots>ag-v2")``, one warehouse. Both take uniform
random actions from a pool drawn beforehand (no masks: a toggle that does nothing is a no-op on
both sides). Both run in
this process, pinned to one core, in alternating windows (``--rounds`` each). Prints the
agent-steps/s of each (medians over the rounds) and the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import scenarios  # noqa: E402


def ours(layout: str, worlds: int, robots: int, seed: int):
    venv = scenarios.make_vec(
        "warehouse/shelves-v0", num_envs=worlds, seed=seed, layout=layout, n_robots=robots
    )
    venv.reset(seed=seed)
    rng = np.random.default_rng(seed)
    pool = [{"robot": rng.integers(0, 5, (worlds, robots))} for _ in range(256)]
    state = {"i": 0}

    def run(steps: int) -> int:
        for _ in range(steps):
            venv.step(pool[state["i"] % 256])
            state["i"] += 1
        return steps * worlds * robots

    return run


def theirs(layout: str, robots: int, seed: int):
    import gymnasium as gym
    import rware  # noqa: F401 (registers the rware ids)

    env = gym.make(f"rware-{layout}-{robots}ag-v2", disable_env_checker=True)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    pool = [env.action_space.sample() for _ in range(256)]
    state = {"i": 0}

    def run(steps: int) -> int:
        for _ in range(steps):
            _, _, terminated, truncated, _ = env.step(pool[state["i"] % 256])
            if terminated or truncated:
                env.reset()
            state["i"] += 1
        return steps * robots

    return run


def window(run, seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += run(10)
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", default="medium", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--worlds", type=int, default=16)
    parser.add_argument("--robots", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=4.0, help="per side and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--core", type=int, default=0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
    sides = {
        "ours": ours(args.layout, args.worlds, args.robots, 0),
        "rware": theirs(args.layout, args.robots, 0),
    }
    for run in sides.values():
        window(run, 0.5)  # warm-up (compiled kernels load, caches fill)
    rates = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, run in sides.items():
            rates[name].append(window(run, args.seconds))
    ratios = [a / b for a, b in zip(rates["ours"], rates["rware"], strict=True)]
    print(
        f"warehouse/shelves-v0 {args.layout}, {args.worlds} worlds x {args.robots} robots: "
        f"{statistics.median(rates['ours']):,.0f} agent-steps/s"
    )
    print(
        f"rware-{args.layout}-{args.robots}ag-v2, 1 warehouse: "
        f"{statistics.median(rates['rware']):,.0f} agent-steps/s"
    )
    print(
        f"ratio (median of rounds): {statistics.median(ratios):.1f}x "
        f"(rounds: {', '.join(f'{r:.1f}' for r in ratios)})"
    )


if __name__ == "__main__":
    main()
