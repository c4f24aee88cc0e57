"""Training throughput: the PPO update alone (samples/s) and the end-to-end loop (agent-steps/s).

Usage::

    python tools/bench/train.py                       # update at batch 4096 and 16384, end to end
    python tools/bench/train.py --skip-e2e            # update only
    python tools/bench/train.py --env-id pz:mpe2.simple_spread_v3 --e2e-steps 100000
    python tools/bench/train.py --skip-update --algo mappo   # MAPPO on spread end to end only

The update benchmark feeds one group's synthetic batch (18-float observations, 5 actions, 54-float
critic input, 3 agents) to ``marl.ppo.ppo_update`` with 2x64 MLPs and reports samples/s as
``batch x epochs / seconds`` (median of repeats). The end-to-end figure is ``marl.train.train``'s
agent-steps/s including rollouts and updates; the "with start-up" figure counts the same steps
over the whole ``train`` call (building env, policy and optimizers too). Peak memory is the
process's maximum resident set.

The code measured is this tree's, or the tree that ``PYTHONPATH`` names when it is set (as
``tools/bench/compare.py`` sets it): so that one copy of this script can measure two trees,

    python tools/bench/compare.py --base REV -- "$PWD/tools/bench/train.py" --skip-update
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from marl.config import TrainConfig  # noqa: E402
from marl.ppo import ppo_loss, ppo_update  # noqa: E402
from marl.runs.session import make_optimizer  # noqa: E402
from marl.train import train  # noqa: E402
from policies import NetConfig, NetworkPolicy, group_spec  # noqa: E402


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synthetic_batch(size: int, obs_dim: int = 18, critic_dim: int = 54, n_actions: int = 5):
    gen = torch.Generator().manual_seed(0)
    return {
        "obs": torch.randn(size, obs_dim, generator=gen),
        "critic_in": torch.randn(size, critic_dim, generator=gen),
        "actions": torch.randint(0, n_actions, (size,), generator=gen),
        "log_probs": torch.full((size,), -float(np.log(n_actions))),
        "advantages": torch.randn(size, generator=gen),
        "targets": torch.randn(size, generator=gen),
        "old_values": torch.zeros(size),
        "agent": torch.randint(0, 3, (size,), generator=gen),
    }


def bench_update(batch_size: int, epochs: int, minibatches: int, repeats: int, compile: bool):
    spec = {
        "groups": {
            "drone": group_spec(
                3, gym.spaces.Box(-1, 1, (18,), np.float32), gym.spaces.Discrete(5), 54
            )
        },
        "network": NetConfig(hidden_sizes=(64, 64)).to_dict(),
    }
    module = NetworkPolicy(spec).groups["drone"]
    optimizer = make_optimizer(module, 3e-4)
    cfg = TrainConfig(epochs=epochs, minibatches=minibatches)
    batch = synthetic_batch(batch_size)
    loss_fn = torch.compile(ppo_loss) if compile else ppo_loss
    ppo_update(module, optimizer, batch, cfg, loss_fn)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        ppo_update(module, optimizer, batch, cfg, loss_fn)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return batch_size * epochs / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the update benchmark")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (median)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the loss")
    parser.add_argument("--skip-e2e", action="store_true", help="only the update benchmark")
    parser.add_argument("--skip-update", action="store_true", help="only end to end")
    parser.add_argument(
        "--algo", choices=("mappo", "ippo", "both"), default="both", help="end to end: which"
    )
    parser.add_argument("--env-id", default="swarm/spread-v0", help="scenario for end to end")
    parser.add_argument("--num-envs", type=int, default=64, help="worlds for end to end")
    parser.add_argument("--num-steps", type=int, default=64, help="rollout length for end to end")
    parser.add_argument("--e2e-epochs", type=int, default=5, help="epochs for end to end")
    parser.add_argument("--e2e-minibatches", type=int, default=4, help="minibatches, end to end")
    parser.add_argument("--e2e-steps", type=int, default=500_000, help="agent-steps, end to end")
    parser.add_argument("-e", "--env", action="append", default=[], help="scenario NAME=VALUE")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    for size in () if args.skip_update else (4096, 16384):
        for minibatches in (1, 4):
            sps = bench_update(size, args.epochs, minibatches, args.repeats, args.compile)
            print(
                f"update  batch {size:6d}  minibatches {minibatches}  epochs {args.epochs}: "
                f"{sps:12,.0f} samples/s   peak RSS {peak_rss_mib():7.1f} MiB"
            )
    if args.skip_e2e:
        return 0
    overrides = {}
    for text in args.env:
        name, value = text.split("=", 1)
        overrides[name] = int(value) if value.lstrip("-").isdigit() else value
    for algo in ("mappo", "ippo") if args.algo == "both" else (args.algo,):
        with tempfile.TemporaryDirectory() as run_dir:
            cfg = TrainConfig(
                env_id=args.env_id,
                env=overrides,
                algo=algo,
                num_envs=args.num_envs,
                num_steps=args.num_steps,
                epochs=args.e2e_epochs,
                minibatches=args.e2e_minibatches,
                total_steps=args.e2e_steps,
                torch_threads=args.threads,
                run_dir=run_dir,
                progress=False,
                tensorboard=False,
                checkpoint_every=1000,
            )
            start = time.perf_counter()
            result = train(cfg)
            whole = time.perf_counter() - start
        # The label before the figure stays the same from run to run (compare.py matches it).
        print(
            f"end to end  {args.env_id} {algo}  {args.num_envs} worlds: "
            f"{result.agent_steps_per_second:10,.0f} agent-steps/s   "
            f"({result.global_step:,} agent-steps in {result.wall_time:.1f} s)   "
            f"peak RSS {peak_rss_mib():7.1f} MiB"
        )
        print(
            f"end to end with start-up  {args.env_id} {algo}  {args.num_envs} worlds: "
            f"{result.global_step / whole:10,.0f} agent-steps/s   ({whole:.1f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
