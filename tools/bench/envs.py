"""Environment throughput: agent-steps/s and env-steps/s of every registered scenario.

    python tools/bench/envs.py                       # every scenario, agents x worlds grid
    python tools/bench/envs.py --scenario swarm/spread-v0 --agents 16 --worlds 64

For each scenario, each agent count (4, 16, 64) and each world count (1, 16, 64) it prints one
line for the vector API, and for one world a line for the PettingZoo parallel API (which is one
world by design), with the time split of a step into physics (pymunk step and bulk state I/O),
scenario (observations, rewards, metrics: the sensors and numpy) and the rest (validation,
episode bookkeeping, auto-reset, PettingZoo dicts), and the peak memory the stepping allocates
(tracemalloc, numpy and Python) beside the process's peak resident size. Actions are random
(uniform over the action space). Throughput is the best of three windows without the timing
wrappers; the split comes from a separate instrumented window (whose wrappers add about a
microsecond per wrapped call to the "python" part). The process is pinned to one core unless
``--no-pin``.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc

import numpy as np

import scenarios


class Split:
    """Wraps a few bound methods of an env, while enabled, to add up the time spent in each
    part. The wrappers are removed again on ``disable``: throughput is timed without them."""

    def __init__(self, venv) -> None:
        self.seconds = {"physics": 0.0, "scenario": 0.0}
        self.targets = [(venv.world, "step", "physics")] + [
            (venv.scenario, hook, "scenario")
            for hook in ("observe", "reward", "metrics", "apply_actions")
        ]

    def enable(self) -> None:
        self.seconds = {name: 0.0 for name in self.seconds}
        for owner, name, part in self.targets:
            setattr(owner, name, self._timed(getattr(owner, name), part))

    def disable(self) -> dict[str, float]:
        for owner, name, _ in self.targets:
            delattr(owner, name)  # the instance attribute; the class's method shows again
        return dict(self.seconds)

    def _timed(self, inner, part: str):
        seconds = self.seconds

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                seconds[part] += time.perf_counter() - start

        return timed


def action_sampler(venv, rng):
    pools = {}
    for group, spec in venv.groups.items():
        space = spec.action_space
        shape = (256, venv.num_envs, spec.n_agents)
        if hasattr(space, "n"):
            pools[group] = rng.integers(0, space.n, shape)
        else:
            pools[group] = rng.uniform(-1, 1, (*shape, *space.shape)).astype(np.float32)
    step = 0

    def sample():
        nonlocal step
        step += 1
        return {g: pool[step % 256] for g, pool in pools.items()}

    return sample


def measure(run, chunk: int, seconds: float, split: Split, windows: int = 3) -> dict:
    """Time ``run(chunk)`` repeatedly: the throughput is the best of ``windows`` uninstrumented
    windows (the least disturbed by other work on the machine, as ``timeit`` does); the time
    split comes from one more, instrumented window; the peak memory from a last short pass."""
    best = float("inf")
    for _ in range(windows):
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / windows:
            run(chunk)
            steps += chunk
        best = min(best, (time.perf_counter() - start) / steps)
    split.enable()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds / windows:
        run(chunk)
        steps += chunk
    instrumented = (time.perf_counter() - start) / steps
    parts = {name: value / steps for name, value in split.disable().items()}
    tracemalloc.start()
    run(chunk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"step": best, "instrumented": instrumented, "parts": parts, "peak": peak}


def bench_vector(scenario_id: str, agents: int, worlds: int, seconds: float) -> dict:
    venv = scenarios.make_vec(
        scenario_id, num_envs=worlds, seed=0, **agent_config(scenario_id, agents)
    )
    venv.reset()
    sample = action_sampler(venv, np.random.default_rng(0))
    split = Split(venv)

    def run(count):
        for _ in range(count):
            venv.step(sample())

    run(20)
    n_agents = sum(spec.n_agents for spec in venv.groups.values())
    return report(measure(run, 10, seconds, split), worlds, n_agents)


def bench_pettingzoo(scenario_id: str, agents: int, seconds: float) -> dict:
    env = scenarios.make(scenario_id, **agent_config(scenario_id, agents))
    env.reset(seed=0)
    spaces = {a: env.action_space(a) for a in env.possible_agents}
    for space in spaces.values():
        space.seed(0)
    pool = [{a: s.sample() for a, s in spaces.items()} for _ in range(256)]
    split = Split(env.venv)

    everyone = len(env.possible_agents)

    def run(count):
        for i in range(count):
            if not env.agents:
                env.reset()
            actions = pool[i % 256]  # a policy's dict; filtered only once agents are done
            if len(env.agents) < everyone:
                actions = {a: actions[a] for a in env.agents}
            env.step(actions)

    run(20)
    return report(measure(run, 50, seconds, split), 1, len(env.possible_agents))


def agent_config(scenario_id: str, agents: int) -> dict:
    """The config override that sets the agent count: the scenario's first ``n_*`` field."""
    cfg = scenarios.make_scenario(scenario_id).cfg
    field = next(f for f in vars(cfg) if f.startswith("n_"))
    return {field: agents}


def report(measured: dict, worlds: int, n_agents: int) -> dict:
    step, parts = measured["step"], measured["parts"]
    physics, scenario = parts["physics"], parts["scenario"]
    return {
        "env_steps_per_s": worlds / step,
        "agent_steps_per_s": worlds * n_agents / step,
        "us_per_step": step * 1e6,
        "physics_us": physics * 1e6,
        "scenario_us": scenario * 1e6,
        "rest_us": (measured["instrumented"] - physics - scenario) * 1e6,
        "peak_step_mib": measured["peak"] / 2**20,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def line(api: str, scenario_id: str, agents: int, worlds: int, r: dict) -> str:
    return (
        f"{scenario_id:18s} {api:10s} agents={agents:3d} worlds={worlds:3d} "
        f"{r['agent_steps_per_s']:>11,.0f} agent-steps/s {r['env_steps_per_s']:>9,.0f} env-steps/s "
        f"| {r['us_per_step']:7.1f} us/step = physics {r['physics_us']:6.1f} + scenario "
        f"{r['scenario_us']:6.1f} + python {r['rest_us']:6.1f} "
        f"| step peak {r['peak_step_mib']:6.2f} MiB, rss {r['rss_mib']:5.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", help="scenario id (repeatable); all")
    parser.add_argument("--agents", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--worlds", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--seconds", type=float, default=1.5, help="timing per configuration")
    parser.add_argument(
        "--pettingzoo-agents",
        type=int,
        nargs="*",
        default=[10],
        help="extra agent counts for the one-world PettingZoo line",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    args = parser.parse_args()
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    ids = args.scenario or scenarios.registry_ids()
    print(f"# one core pinned: {not args.no_pin}; random actions; {args.seconds}s per line")
    for scenario_id in ids:
        for agents in args.agents:
            if not fits(scenario_id, agents):
                continue
            for worlds in args.worlds:
                r = bench_vector(scenario_id, agents, worlds, args.seconds)
                print(line("vector", scenario_id, agents, worlds, r), flush=True)
            if 1 in args.worlds:
                r = bench_pettingzoo(scenario_id, agents, args.seconds)
                print(line("pettingzoo", scenario_id, agents, 1, r), flush=True)
        for agents in args.pettingzoo_agents:
            if agents not in args.agents and fits(scenario_id, agents):
                r = bench_pettingzoo(scenario_id, agents, args.seconds)
                print(line("pettingzoo", scenario_id, agents, 1, r), flush=True)


def fits(scenario_id: str, agents: int) -> bool:
    """Whether the scenario takes this agent count in its default config (64 cars do not fit
    the default 230 m ring); prints the scenario's one-line refusal when it does not."""
    try:
        scenarios.make_scenario(scenario_id, **agent_config(scenario_id, agents))
    except ValueError as error:
        print(f"{scenario_id:<22} agents={agents:>3}: not run ({error})", flush=True)
        return False
    return True


if __name__ == "__main__":
    main()
