"""One world through the PettingZoo parallel API: ``swarm/spread-v0`` against mpe2's
``simple_spread_v3`` with the same number of agents, side by side in one run.

    python tools/bench/single_world.py                  # 3 and 10 agents
    python tools/bench/single_world.py --agents 10 --seconds 6 --rounds 6

Both sides run in this process, pinned to one core, in alternating windows (``--rounds`` each):
``env.step`` with a policy's dict of random actions (drawn beforehand, the same pool every
window), resetting whenever the episode is over; both episodes last ``--episode`` steps (mpe2's
``max_cycles``, our ``max_steps``). Prints agent-steps/s for each (medians over the rounds) and
the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import scenarios  # noqa: E402


class Side:
    def __init__(self, env, seed: int) -> None:
        self.env = env
        env.reset(seed=seed)
        spaces = {a: env.action_space(a) for a in env.possible_agents}
        for i, space in enumerate(spaces.values()):
            space.seed(seed + i)
        self.pool = [{a: s.sample() for a, s in spaces.items()} for _ in range(256)]
        self.agents = len(env.possible_agents)
        self.i = 0

    def run(self, steps: int) -> None:
        env, pool = self.env, self.pool
        for _ in range(steps):
            if not env.agents:
                env.reset()
            env.step(pool[self.i % 256])
            self.i += 1


def window(side: Side, seconds: float) -> float:
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        side.run(25)
        steps += 25
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[3, 10])
    parser.add_argument("--episode", type=int, default=25, help="steps per episode, both sides")
    parser.add_argument("--seconds", type=float, default=4.0, help="per side and agent count")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--core", type=int, default=None, help="core to pin (default: first)")
    args = parser.parse_args()
    from mpe2 import simple_spread_v3

    if hasattr(os, "sched_setaffinity"):
        core = args.core if args.core is not None else sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {core})
    print(f"# pinned to one core; {args.rounds} alternating windows; {args.episode}-step episodes")
    for n in args.agents:
        ours = Side(scenarios.make("swarm/spread-v0", n_agents=n, max_steps=args.episode), 0)
        mpe = Side(simple_spread_v3.parallel_env(N=n, max_cycles=args.episode), 0)
        ours.run(50)
        mpe.run(50)
        rounds = [
            (window(ours, args.seconds / args.rounds), window(mpe, args.seconds / args.rounds))
            for _ in range(args.rounds)
        ]
        o = statistics.median(a for a, _ in rounds)
        m = statistics.median(b for _, b in rounds)
        ratio = statistics.median(b / a for a, b in rounds)
        for name, step in (("swarm/spread-v0", o), ("mpe2 simple_spread_v3", m)):
            figure = f"{n / step:>11,.0f} agent-steps/s ({step * 1e6:7.1f} us)"
            print(f"{name:21s} {n:3d} agents {figure}")
        print(f"ratio (ours / mpe2)   {n:3d} agents {ratio:.1f}x", flush=True)


if __name__ == "__main__":
    main()
