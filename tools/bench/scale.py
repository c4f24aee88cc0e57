"""Scale-out: end-to-end training speed on Ray rollout workers against the local run.

    python tools/bench/scale.py                                   # spread, 64 worlds x 3 drones
    python tools/bench/scale.py --env-id pz:mpe2.simple_spread_v3 --num-envs 16 -e max_cycles=25
    python tools/bench/scale.py --workers 1 2 --rounds 3 --updates 12

Every round trains the same config once per setting, one after another (alternating, so a
noisy neighbour hits them alike): ``local`` (the learner's process steps every world: no
workers), and ``ray xW`` (``--ray --num-workers W``: W actors on the local Ray instance, one CPU
each, synchronous), and with ``--overlap`` ``ray xW async`` (``--async-rollouts``: the next
rollout is collected while the learner updates). A setting's figure is the median over rounds
of its steady agent-steps/s (updates after ``--warmup``: actors start and compile their kernels
first); its ratio to local is the median of the per-round ratios. Each update is also split
into rollout seconds (collect: the workers' steps plus shipping weights and rollouts; with
overlap, the wait for them) and learner seconds (the PPO epochs).

The model of N workers, from the 1-worker figures: a synchronous update takes
``T(N) = c1 / N + x + u`` (``c1``: one worker's rollout time; ``x``: what does not shrink with N,
shipping and gathering, estimated from 2 workers as ``c2 - c1 / 2``; ``u``: the learner's
update), so agent-steps/s is ``S / T(N)`` for ``S`` agent-steps per update. An asynchronous
mode (``--async-rollouts``: the next batch's rollouts while the learner updates) takes about
``max(c1 / N + x, u)``.
The local Ray instance runs on this machine's cores: measured figures above 2 workers need a
machine with more of them (``--ray-address`` of a cluster).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from marl.collector import LocalCollector  # noqa: E402
from marl.config import TrainConfig  # noqa: E402
from marl.train import train  # noqa: E402
from marl.workers import WorkerCollector  # noqa: E402
from scenarios.replay import parse_overrides  # noqa: E402

COLLECT_SECONDS: list[float] = []


def timed(collect):
    def wrapper(self, *args, **kwargs):
        tick = time.perf_counter()
        try:
            return collect(self, *args, **kwargs)
        finally:
            COLLECT_SECONDS.append(time.perf_counter() - tick)

    return wrapper


LocalCollector.collect = timed(LocalCollector.collect)
WorkerCollector.gather = timed(WorkerCollector.gather)  # collect = submit + gather


def run(args, workers: int, ray_address: str, overlap: bool = False) -> dict[str, float]:
    """One training run; steady agent-steps/s and seconds per update (rollout, learner)."""
    stamps: list[float] = []
    COLLECT_SECONDS.clear()
    with tempfile.TemporaryDirectory() as folder:
        cfg = TrainConfig(
            env_id=args.env_id,
            env=parse_overrides(args.env),
            num_envs=args.num_envs,
            num_steps=args.num_steps,
            total_steps=args.updates * args.num_envs * args.num_steps * args.agents,
            num_workers=workers,
            ray=workers > 0,
            async_rollouts=overlap,
            ray_address=ray_address,
            run_dir=str(Path(folder) / "run"),
            tensorboard=False,
            progress=False,
            checkpoint_every=10_000,
        )
        result = train(cfg, on_update=lambda _: stamps.append(time.perf_counter()))
    steady = stamps[args.warmup :]
    per_update = (steady[-1] - steady[0]) / (len(steady) - 1)
    collect = statistics.median(COLLECT_SECONDS[args.warmup + 1 :])
    steps = result.global_step / len(stamps)
    return {"sps": steps / per_update, "update": per_update, "collect": collect, "steps": steps}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-id", default="swarm/spread-v0")
    parser.add_argument("-e", "--env", action="append", default=[], help="scenario NAME=VALUE")
    parser.add_argument("--agents", type=int, default=3, help="learning agents per world")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--num-steps", type=int, default=64)
    parser.add_argument("--updates", type=int, default=14)
    parser.add_argument("--warmup", type=int, default=3, help="updates left out of the figures")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ray-address", default="")
    parser.add_argument("--overlap", action="store_true", help="also each W with --async-rollouts")
    args = parser.parse_args(argv)
    settings = [0, *args.workers, *([-w for w in args.workers] if args.overlap else [])]
    figures: dict[int, list[dict]] = {w: [] for w in settings}
    for _ in range(args.rounds):
        for w in settings:
            figures[w].append(run(args, abs(w), args.ray_address, overlap=w < 0))
    print(
        f"# {args.env_id}, {args.num_envs} worlds x {args.num_steps} steps per update; "
        f"medians of {args.rounds} alternating rounds"
    )
    local = figures[0]
    for w in settings:
        runs = figures[w]
        ratio = statistics.median(r["sps"] / loc["sps"] for r, loc in zip(runs, local, strict=True))
        name = "local" if w == 0 else f"ray x{abs(w)}" + (" async" if w < 0 else "")
        print(
            f"{name:14s} {statistics.median(r['sps'] for r in runs):>9,.0f} agent-steps/s "
            f"({ratio:.2f}x local); per update {statistics.median(r['update'] for r in runs):.3f}"
            f" s: rollout {statistics.median(r['collect'] for r in runs):.3f} s, learner "
            f"{statistics.median(r['update'] - r['collect'] for r in runs):.3f} s"
        )
    if 1 in figures and 2 in figures:
        model(figures)
    return 0


def model(figures: dict[int, list[dict]]) -> None:
    c1 = statistics.median(r["collect"] for r in figures[1])
    c2 = statistics.median(r["collect"] for r in figures[2])
    u = statistics.median(r["update"] - r["collect"] for r in figures[1])
    steps = figures[1][0]["steps"]
    fixed = max(c2 - c1 / 2, 0.0)
    print(
        f"model: one worker's rollout c1 = {c1:.3f} s, fixed x = {fixed:.3f} s, learner "
        f"u = {u:.3f} s per update of {steps:,.0f} agent-steps"
    )
    for n in (1, 2, 4, 8, 16, 32):
        sync = steps / (c1 / n + fixed + u)
        overlap = steps / max(c1 / n + fixed, u)
        print(f"  N={n:<3d} synchronous {sync:>9,.0f} agent-steps/s; overlapped {overlap:>9,.0f}")


if __name__ == "__main__":
    sys.exit(main())
