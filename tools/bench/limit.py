"""How close a scenario's full vector step comes to raw pymunk stepping the same bodies.

    python tools/bench/limit.py                      # every swarm scenario at 64x16, 512x4, 16x64
    python tools/bench/limit.py --scenario swarm/spread-v0 --sizes 64x16 256x16 --seconds 3
    python tools/bench/limit.py --between --sizes 64x16   # the scenarios against spread
    python tools/bench/limit.py --between --scenario swarm/spread-v0 --sizes 64x16 256x16
    python tools/bench/limit.py --between --raw --scenario swarm/spread-v0 --sizes 64x64 256x64
    python tools/bench/limit.py --floor --agents 4 16 64   # 256 against 64 worlds, and its reach

Two sides, measured in one process pinned to one core, in alternating windows (``--rounds``):

- **vector**: ``VectorEnv.step`` with random actions: action checks, the scenario's thrust and
  dynamics, physics, sensing, observations, rewards, metrics, episode bookkeeping and auto-reset.
- **raw pymunk**: the very same ``pymunk.Space`` (or spaces: a large batch is split into spaces
  of 64 worlds, ``worlds.shards``) of a second env of the same scenario and size, built and
  reset, then never stepped through the env: same bodies, shapes, walls, broadphase, dt and
  substeps. Each substep writes all bodies' forces in one ``pymunk.batch`` call and calls
  ``Space.step``; after the last substep one ``pymunk.batch`` call reads every body's position and
  velocity; every ``max_steps`` steps one call puts every body back where it started (the vector
  side's episode rhythm). The forces are the ones the vector side's dynamics wrote on a recorded
  run with random actions (a pool of 256 steps, replayed in order), so the bodies move at the
  same speeds and touch as often as they do in the scenario.

The raw side is what any scenario on pymunk must pay; the ratio ``vector / raw`` of agent-steps/s
is how much of that limit the whole step keeps. Figures are medians over the rounds; the ratio is
the median of the per-round ratios (each round times both sides back to back). ``--between``
times the scenarios' vector steps against each other the same way (the first is the reference),
and with one scenario, its sizes against the first (``--sizes 64x16 256x16``); ``--raw`` adds
raw pymunk on each case's spaces, against the first case's raw side (how the physics alone
fares between sizes or scenarios).

``--floor`` asks how far the vector step's throughput at 256 worlds can reach against 64 worlds
when the physics itself slows between the two. With ``T`` the vector step's seconds per step and
``R`` raw pymunk's on the same spaces, a step at 256 worlds pays at least ``R256`` for the physics
(raw pymunk steps those spaces with nothing else between steps, the best case for the caches)
and, for everything else, at least four times what the step pays beyond raw pymunk at 64 worlds
less three times its fixed per-step cost ``F``, which it pays once whatever the batch size (the
intercept of the whole step's time at 1, 2 and 4 worlds; it holds the physics' own fixed cost
too, which makes the reach generous). So, as long as the step's per-world cost beyond the
physics does not fall with the batch size, its 256-against-64 ratio is at most
``4 T64 / (R256 + 4 (T64 - R64) - 3 F)``: below 1 whenever ``3 F < R256 - 4 R64``, that is,
whenever raw pymunk slows between the sizes by more than the fixed cost can make up. The reach
is printed next to the measured ratios; a faster step (smaller ``T64 - R64``) lowers it. It is a
reach, not a proof: per-world costs that fall a little with the batch size (a numpy call over
longer arrays) can put the measured ratio a few hundredths above it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pymunk.batch as pbatch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import scenarios  # noqa: E402

SWARM = ["swarm/spread-v0", "swarm/pursuit-v0", "swarm/coverage-v0", "swarm/formation-v0"]
POOL = 256


def agent_config(scenario_id: str, agents: int) -> dict:
    """The config override that sets the agent count: the scenario's first ``n_*`` field."""
    cfg = scenarios.make_scenario(scenario_id).cfg
    field = next(f for f in vars(cfg) if f.startswith("n_"))
    return {field: agents}


def random_actions(venv, rng):
    pools = {}
    for group, spec in venv.groups.items():
        space, shape = spec.action_space, (POOL, venv.num_envs, spec.n_agents)
        if hasattr(space, "n"):
            pools[group] = rng.integers(0, space.n, shape)
        else:
            pools[group] = rng.uniform(-1, 1, (*shape, *space.shape)).astype(np.float32)
    return [{g: pool[i] for g, pool in pools.items()} for i in range(POOL)]


class VectorSide:
    def __init__(self, scenario_id: str, worlds: int, config: dict) -> None:
        self.venv = scenarios.make_vec(scenario_id, num_envs=worlds, seed=0, **config)
        self.venv.reset()
        self.actions = random_actions(self.venv, np.random.default_rng(0))
        self.agents = sum(spec.n_agents for spec in self.venv.groups.values())
        self.i = 0

    def record_forces(self) -> list[np.ndarray]:
        """The batch's force buffer at every substep over ``POOL`` steps (what the dynamics
        wrote), as the first space is about to step."""
        world, forces = self.venv.world, []
        first = world.shards[0]
        inner = first._set  # the bulk write every path of a substep ends with

        def recording() -> None:
            forces.append(world._write.copy())
            inner()

        first._set = recording
        try:
            self.run(POOL)
        finally:
            first._set = inner
        if len(forces) < POOL:
            raise RuntimeError("recorded no forces: the world's step no longer writes through")
        return forces

    def run(self, steps: int) -> None:
        step, actions = self.venv.step, self.actions
        for _ in range(steps):
            step(actions[self.i % POOL])
            self.i += 1


class RawSide:
    """Raw pymunk on the same spaces: batch force writes, ``Space.step``, one batch read."""

    def __init__(self, scenario_id: str, worlds: int, config: dict, forces) -> None:
        venv = scenarios.make_vec(scenario_id, num_envs=worlds, seed=1, **config)
        venv.reset()
        world = venv.world
        self.venv = venv  # keeps the spaces alive
        self.dt, self.substeps = world.dt, world.substeps
        self.max_steps = venv.cfg.max_steps
        fields = pbatch.BodyFields
        self.force_fields = fields.FORCE
        self.state_fields = fields.POSITION | fields.VELOCITY
        # One entry per space (a large batch is split over several: worlds.shards).
        self.spaces = []
        for shard in world.shards:
            rows = np.concatenate([np.arange(r.start, r.stop) for r, _ in shard.blocks])
            pool = [self._buffer(written[rows][:, -2:]) for written in forces]  # fx, fy
            read = self._buffer(np.zeros((rows.size, 4)))
            read[0].clear()  # a get appends after the buffer's count
            pbatch.get_space_bodies(shard.space, self.state_fields, read[0])
            start = read[1].copy()
            start[:, 2:] = 0.0
            self.spaces.append((shard.space, pool, read, self._buffer(start)))
        self.agents = sum(spec.n_agents for spec in venv.groups.values())
        self.i = 0
        self.k = 0

    @staticmethod
    def _buffer(values: np.ndarray) -> tuple[pbatch.Buffer, np.ndarray]:
        """A pymunk batch buffer over float64 ``values`` plus spare rows (the static body)."""
        array = np.zeros((values.shape[0] + 4, values.shape[1]))
        array[: values.shape[0]] = values
        buffer = pbatch.Buffer()
        buffer.set_float_buf(array.reshape(-1))
        return buffer, array

    def run(self, steps: int) -> None:
        sub_dt = self.dt / self.substeps
        count = len(self.spaces[0][1])
        for _ in range(steps):
            for space, pool, read, _ in self.spaces:
                for substep in range(self.substeps):
                    force = pool[(self.k + substep) % count][0]
                    pbatch.set_space_bodies(space, self.force_fields, force)
                    space.step(sub_dt)
                read[0].clear()
                pbatch.get_space_bodies(space, self.state_fields, read[0])
            self.k += self.substeps
            self.i += 1
            if self.i % self.max_steps == 0:
                for space, _, _, start in self.spaces:
                    pbatch.set_space_bodies(space, self.state_fields, start[0])


def window(side, seconds: float, chunk: int = 10) -> float:
    """Seconds per step over one window of about ``seconds``."""
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        side.run(chunk)
        steps += chunk
    return (time.perf_counter() - start) / steps


def measure(scenario_id: str, worlds: int, agents: int, seconds: float, rounds: int) -> dict:
    config = agent_config(scenario_id, agents)
    vector = VectorSide(scenario_id, worlds, config)
    raw = RawSide(scenario_id, worlds, config, vector.record_forces())
    vector.run(20)
    raw.run(20)
    per_round = []
    for _ in range(rounds):
        v = window(vector, seconds / rounds)
        r = window(raw, seconds / rounds)
        per_round.append((v, r))
    v_step = statistics.median(v for v, _ in per_round)
    r_step = statistics.median(r for _, r in per_round)
    return {
        "vector": worlds * vector.agents / v_step,
        "raw": worlds * raw.agents / r_step,
        "ratio": statistics.median(r / v for v, r in per_round),
        "vector_us": v_step * 1e6,
        "raw_us": r_step * 1e6,
    }


def compare(cases: list[tuple[str, str]], seconds: float, rounds: int, raw: bool) -> None:
    """The vector step of several (scenario, size) cases in alternating windows: each one's
    agent-steps/s (median over rounds) and its ratio to the first case's (median of per-round
    ratios). With ``raw``, raw pymunk on each case's spaces too, against the first case's raw
    side: what the physics alone does between sizes."""
    sides = []
    for scenario_id, size in cases:
        worlds, agents = (int(v) for v in size.split("x"))
        vector = VectorSide(scenario_id, worlds, agent_config(scenario_id, agents))
        pair = [("vector", vector)]
        if raw:
            config = agent_config(scenario_id, agents)
            pair.append(
                ("raw pymunk", RawSide(scenario_id, worlds, config, vector.record_forces()))
            )
        sides.append((scenario_id, worlds, pair))
    for _, _, pair in sides:
        for _, side in pair:
            side.run(20)
    rates = {(i, kind): [] for i, (_, _, pair) in enumerate(sides) for kind, _ in pair}
    for _ in range(rounds):
        for i, (_, worlds, pair) in enumerate(sides):
            for kind, side in pair:
                rates[i, kind].append(worlds * side.agents / window(side, seconds / rounds))
    first = f"{cases[0][0]} at {cases[0][1]}"
    for i, (scenario_id, worlds, pair) in enumerate(sides):
        for kind, side in pair:
            rate, reference = rates[i, kind], rates[0, kind]
            ratio = statistics.median(r / f for r, f in zip(rate, reference, strict=True))
            print(
                f"{scenario_id:18s} {worlds:4d} worlds x {side.agents:3d} agents: {kind:10s} "
                f"{statistics.median(rate):>11,.0f} agent-steps/s, {ratio:.2f} of {first}'s",
                flush=True,
            )


def alternate(sides: list, seconds: float, rounds: int) -> list[float]:
    """Median seconds per step of each side, timed in alternating windows."""
    for side in sides:
        side.run(20)
    times: list[list[float]] = [[] for _ in sides]
    for _ in range(rounds):
        for side, taken in zip(sides, times, strict=True):
            taken.append(window(side, seconds / rounds))
    return [statistics.median(taken) for taken in times]


def floor_reach(t64: float, r64: float, r256: float, fixed: float) -> float:
    """The 256-against-64 ratio of agent-steps/s the vector step can reach, given raw pymunk's
    times on the same spaces and the step's fixed cost (module docstring)."""
    return 4 * t64 / (r256 + 4 * (t64 - r64) - 3 * fixed)


def floor(scenario_id: str, agents: int, seconds: float, rounds: int) -> None:
    """256 against 64 worlds: the vector step, raw pymunk, the step's fixed cost and the reach."""
    config = agent_config(scenario_id, agents)
    small = [VectorSide(scenario_id, worlds, config) for worlds in (1, 2, 4)]
    pairs = []
    for worlds in (64, 256):
        vector = VectorSide(scenario_id, worlds, config)
        pairs += [vector, RawSide(scenario_id, worlds, config, vector.record_forces())]
    t64, r64, t256, r256, *few = alternate(pairs + small, seconds, rounds)
    fixed = float(np.polyfit([1, 2, 4], few, 1)[1])
    n = pairs[0].agents
    print(
        f"{scenario_id:18s} {n:3d} agents: 256 against 64 worlds: vector {t64 * 4 / t256:.2f} "
        f"({256 * n / t256:,.0f} vs {64 * n / t64:,.0f} agent-steps/s), raw pymunk "
        f"{r64 * 4 / r256:.2f} ({256 * n / r256:,.0f} vs {64 * n / r64:,.0f}); raw pymunk's "
        f"slowdown {(r256 - 4 * r64) * 1e6:.0f} us a step against 3 x the fixed cost "
        f"{fixed * 1e6:.1f} us = {3 * fixed * 1e6:.0f} us: the vector step reaches about "
        f"{floor_reach(t64, r64, r256, fixed):.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", help="scenario id (repeatable)")
    parser.add_argument("--sizes", nargs="+", default=["64x16", "512x4", "16x64"])
    parser.add_argument(
        "--floor",
        action="store_true",
        help="256 against 64 worlds for each --agents count, with the reach raw pymunk leaves it",
    )
    parser.add_argument("--agents", type=int, nargs="+", default=[4, 16, 64], help="--floor")
    parser.add_argument("--seconds", type=float, default=4.0, help="per side and size")
    parser.add_argument("--rounds", type=int, default=8, help="alternating windows per side")
    parser.add_argument("--core", type=int, default=None, help="core to pin (default: first)")
    parser.add_argument(
        "--raw",
        action="store_true",
        help="with --between: raw pymunk on each case's spaces too, against the first's raw side",
    )
    parser.add_argument(
        "--between",
        action="store_true",
        help="compare the scenarios' vector steps with each other instead (first = reference)",
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        core = args.core if args.core is not None else sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {core})
    print(f"# pinned to one core; {args.rounds} alternating windows, {args.seconds}s per side")
    if args.floor:
        for scenario_id in args.scenario or ["swarm/spread-v0"]:
            for agents in args.agents:
                floor(scenario_id, agents, args.seconds, args.rounds)
        return
    if args.between:
        ids = args.scenario or SWARM
        if len(ids) == 1:  # one scenario: its sizes against the first size
            compare([(ids[0], size) for size in args.sizes], args.seconds, args.rounds, args.raw)
        else:
            for size in args.sizes:
                compare([(i, size) for i in ids], args.seconds, args.rounds, args.raw)
        return
    for scenario_id in args.scenario or SWARM:
        for size in args.sizes:
            worlds, agents = (int(v) for v in size.split("x"))
            r = measure(scenario_id, worlds, agents, args.seconds, args.rounds)
            print(
                f"{scenario_id:18s} {worlds:4d} worlds x {agents:3d} agents: "
                f"vector {r['vector']:>11,.0f} agent-steps/s ({r['vector_us']:8.1f} us/step), "
                f"raw pymunk {r['raw']:>11,.0f} agent-steps/s ({r['raw_us']:8.1f} us/step), "
                f"ratio {r['ratio']:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
