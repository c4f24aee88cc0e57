"""A league round against plain training of the same size, side by side in one run.

    python tools/bench/league.py                      # the default pursuit league, 6 windows
    python tools/bench/league.py --windows 10 --num-envs 96

Side ``league``: ``League.play_round()`` of the default pursuit league (a main, a main exploiter,
a league exploiter, scripted and random; matches of 8 worlds with sides mirrored): every match at
once in one vector batch, three learners' PPO updates, payoff, ratings and the round's commit.
Side ``train``: ``marl.train``'s ``one_update`` on the same scenario, worlds, steps and PPO
settings, with both groups learning in one run: one rollout and one update.

Both sides run in this process, pinned to one core, in alternating windows (one round or update
each, after one unmeasured warm-up each). Prints agent-steps/s per side (medians) and the median
of the per-window ratios league / train. The league's ratings cost grows with its record of
games; the first rounds measured here are its cheapest.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from marl.config import TrainConfig  # noqa: E402
from marl.league.config import TRAIN_DEFAULTS, league_config  # noqa: E402
from marl.league.league import League  # noqa: E402
from marl.ppo import ppo_loss  # noqa: E402
from marl.runs.session import open_session  # noqa: E402
from marl.train import one_update  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=6)
    parser.add_argument("--num-envs", type=int, default=48)
    parser.add_argument("--num-steps", type=int, default=150)
    parser.add_argument("--core", type=int, default=0, help="the core both sides are pinned to")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
    torch.set_num_threads(1)
    sizes = {"num_envs": args.num_envs, "num_steps": args.num_steps}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = league_config(
            {"rounds": 10**6, "tensorboard": False, "progress": False, "train": sizes}
        )
        league = League.create(cfg, Path(tmp) / "league")
        train_fields = {k: v for k, v in TRAIN_DEFAULTS.items() if k not in sizes}
        tcfg = TrainConfig(
            env_id=cfg.scenario,
            run_dir=str(Path(tmp) / "run"),
            total_steps=10**9,
            checkpoint_every=10_000,
            **train_fields,
            **sizes,
        )
        session = open_session(tcfg, None, None, True, False)
        per_step = {"league": [], "train": []}
        try:
            for window in range(args.windows + 1):
                start = time.perf_counter()
                info = league.play_round()
                league_s = time.perf_counter() - start
                start = time.perf_counter()
                _, rollout = one_update(session, window, ppo_loss)
                train_s = time.perf_counter() - start
                if window:  # the first window warms both up
                    per_step["league"].append(info["result"].agent_steps / league_s)
                    per_step["train"].append(rollout.agent_steps / train_s)
        finally:
            league.close()
            session.collector.close()
            session.folder.release()
    ratios = [a / b for a, b in zip(per_step["league"], per_step["train"], strict=True)]
    for side, values in per_step.items():
        print(
            f"{side:7s} {statistics.median(values):10,.0f} agent-steps/s "
            f"(median of {len(values)}; {min(values):,.0f}-{max(values):,.0f})"
        )
    print(f"league / train: {statistics.median(ratios):.2f} (median of per-window ratios)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
