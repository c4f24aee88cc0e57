"""Learning benchmark: train each swarm scenario with ``marl train`` over seeds, then compare the
learned policy with the random policy and the scripted baseline on the same held-out episodes.

Usage::

    python tools/bench/learning.py --out runs/learning-bench          # all four, seeds 0 1 2
    python tools/bench/learning.py --scenarios swarm/spread-v0 --seeds 0 --steps 1000000
    python tools/bench/learning.py --out runs/learning-bench --train-args "--lr 1e-3 --epochs 10"

Each run is the real CLI in a subprocess, ``marl train SCENARIO --steps N --seed S`` with the
default config (plus ``--train-args`` when given), into ``OUT/runs/<scenario>_s<seed>``. A run
whose folder holds its evaluation (``bench.json``, for the same steps and episodes) is skipped; a
run folder without it continues with ``marl train --resume`` (a killed run resumes, a finished one
returns at once, a shorter one is extended). Then the trained policy (deterministic actions), the
uniform random policy and the scenario's scripted baseline play the same ``--episodes`` episodes
(seeded ``--eval-seed``, never a training seed). The CLI runs as ``python -m marl.cli train``
from this checkout, with its folder first on ``PYTHONPATH``: the figures are this tree's code, not
whichever tree an installed ``marl`` command points at.

Pursuit trains its pursuers against the scripted evaders (``marl train --fixed
evader=scripted``), and the table reports the pursuers: learned, random and scripted pursuers each
play against the scripted evaders.

The table gives, per scenario, the mean +- standard deviation over seeds of the return (the
scenario's main group) and of its main figure (``BENCHMARKS``); the scripted baseline is
deterministic and has no spread, the random policy is drawn once per seed. Results go to
``OUT/results.json`` and ``OUT/table.md`` (the table of the scenarios named in that call).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import scenarios  # noqa: E402
from marl.envs import make_env  # noqa: E402
from marl.evaluate import EvalResult, evaluate  # noqa: E402
from policies import JointPolicy, Policy, RandomPolicy, load_policy  # noqa: E402


@dataclass(frozen=True)
class Benchmark:
    """What a scenario is scored on: the group whose return counts, its main figure, and which
    direction of that figure is better."""

    group: str
    main_figure: str
    higher_is_better: bool = True
    opponent: str | None = None
    """A group that plays the scenario's scripted baseline, in training and in every evaluation."""


BENCHMARKS = {
    "swarm/spread-v0": Benchmark("drone", "coverage"),
    "swarm/coverage-v0": Benchmark("drone", "coverage"),
    "swarm/formation-v0": Benchmark("drone", "formation_error", higher_is_better=False),
    "swarm/pursuit-v0": Benchmark("pursuer", "capture_rate", opponent="evader"),
}
DEFAULT_STEPS = 2_000_000
EVAL_WORLDS = 32


# ----------------------------------------------------------------------------------- policies
def play(scenario: str, make_policy: Callable[[Any], Policy], args) -> EvalResult:
    """Evaluate ``make_policy(venv)`` on the held-out episodes of ``scenario``. The policy is
    made for the env it plays on: a scripted baseline may read its own scenario's state (the
    coverage baseline reads the density field)."""
    venv = make_env(scenario, EVAL_WORLDS, args.eval_seed)
    try:
        policy = make_policy(venv)
        return evaluate(policy, scenario, episodes=args.episodes, seed=args.eval_seed, venv=venv)
    finally:
        venv.close()


def against_scripted(benchmark: Benchmark, policy: Policy) -> Callable[[Any], Policy]:
    """``venv -> policy``: ``policy`` for ``benchmark.group``, joined with the env's scripted
    baseline for the opponent group when there is one."""

    def make(venv) -> Policy:
        if benchmark.opponent is None:
            return policy
        scripted = venv.scenario.scripted_policy()
        return JointPolicy({benchmark.group: policy, benchmark.opponent: scripted})

    return make


def figures(result: EvalResult, benchmark: Benchmark) -> dict[str, float | str]:
    """The scored group's return, the main figure, and the whole summary line."""
    return {
        "return": result.return_by_group[benchmark.group],
        "main_figure": result.metrics[benchmark.main_figure],
        "summary": result.summary(),
    }


# ---------------------------------------------------------------------------------- training
def train_command(scenario: str, run_dir: Path, seed: int, steps: int, args) -> list[str]:
    """A new run, or ``--resume`` where the folder already holds one."""
    opponent = BENCHMARKS[scenario].opponent
    common = ["--steps", str(steps), "--torch-threads", str(args.torch_threads)]
    common += ["--progress", "False", "--tensorboard", "False"]
    base = [sys.executable, "-m", "marl.cli", "train"]
    if (run_dir / "config.json").exists():
        return [*base, "--resume", str(run_dir), *common]
    extra = shlex.split(args.train_args)
    if opponent is not None:
        extra = ["--fixed", f"{opponent}=scripted", *extra]
    return [*base, scenario, "--seed", str(seed), "--run-dir", str(run_dir), *common, *extra]


def run_one(scenario: str, seed: int, steps: int, args) -> dict:
    """Train (or finish) one run and evaluate it, unless its folder already holds the result."""
    benchmark = BENCHMARKS[scenario]
    run_dir = Path(args.out).resolve() / "runs" / f"{scenario.replace('/', '_')}_s{seed}"
    done = run_dir / "bench.json"
    key = {
        "steps": steps,
        "episodes": args.episodes,
        "eval_seed": args.eval_seed,
        "train_args": args.train_args,
    }
    if done.exists():
        cached = json.loads(done.read_text())
        if all(cached.get(k) == v for k, v in key.items()):
            print(f"{scenario} seed {seed}: already measured ({done})", flush=True)
            return cached
    command = train_command(scenario, run_dir, seed, steps, args)
    print("$", shlex.join(command), flush=True)
    started = time.perf_counter()
    # This checkout's code, whatever an installed ``marl`` command or package points at.
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": path})
    seconds = time.perf_counter() - started
    config = json.loads((run_dir / "config.json").read_text())
    policy = load_policy(run_dir)
    learned = play(scenario, against_scripted(benchmark, policy), args)
    groups = scenarios.make_scenario(scenario).groups()
    random_policy = RandomPolicy({benchmark.group: groups[benchmark.group]}, seed)
    if benchmark.opponent is None:
        random_policy = RandomPolicy(groups, seed)
    random = play(scenario, against_scripted(benchmark, random_policy), args)
    result = {
        **key,
        "scenario": scenario,
        "seed": seed,
        "train_seconds": seconds,
        "train_command": "marl " + shlex.join(command[3:]),
        "config": config,
        "learned": figures(learned, benchmark),
        "random": figures(random, benchmark),
    }
    done.write_text(json.dumps(result, indent=1, default=str))
    print(f"{scenario} seed {seed}: learned {learned.summary()}", flush=True)
    return result


# ------------------------------------------------------------------------------------- table
def mean_and_spread(values: list[float]) -> str:
    """``mean ± standard deviation`` over seeds (the value alone for one seed)."""
    if len(values) == 1:
        return f"{values[0]:.3g}"
    return f"{np.mean(values):.3g} ± {np.std(values):.2g}"


def table(rows: list[dict]) -> str:
    """The markdown table: one row per scenario."""
    lines = [
        "| scenario | agent-steps | seeds | return: learned | random | scripted "
        "| main figure | learned | random | scripted |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        benchmark = BENCHMARKS[row["scenario"]]
        runs = row["runs"]
        direction = "higher" if benchmark.higher_is_better else "lower"
        name = f"{benchmark.main_figure} ({direction} is better)"
        if benchmark.opponent:
            name += f", against scripted {benchmark.opponent}s"
        scenario = row["scenario"] + (f" ({benchmark.group}s)" if benchmark.opponent else "")
        cells = [
            scenario,
            f"{row['steps']:,}",
            str(len(runs)),
            mean_and_spread([r["learned"]["return"] for r in runs]),
            mean_and_spread([r["random"]["return"] for r in runs]),
            f"{row['scripted']['return']:.3g}",
            name,
            mean_and_spread([r["learned"]["main_figure"] for r in runs]),
            mean_and_spread([r["random"]["main_figure"] for r in runs]),
            f"{row['scripted']['main_figure']:.3g}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=list(BENCHMARKS), choices=BENCHMARKS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--steps",
        nargs="+",
        type=int,
        default=[DEFAULT_STEPS],
        help="agent-steps per run: one figure for every scenario, or one per scenario",
    )
    parser.add_argument("--out", default="runs/learning-bench", help="folder of runs and results")
    parser.add_argument("--episodes", type=int, default=128, help="evaluation episodes")
    parser.add_argument("--eval-seed", type=int, default=10_007, help="evaluation episodes' seed")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--train-args", default="", help="extra marl train options, quoted")
    args = parser.parse_args(argv)
    if len(args.steps) not in (1, len(args.scenarios)):
        parser.error(f"--steps takes 1 or {len(args.scenarios)} figures (one per scenario)")
    steps = dict(zip(args.scenarios, args.steps * len(args.scenarios), strict=False))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for scenario in args.scenarios:
        benchmark = BENCHMARKS[scenario]
        runs = [run_one(scenario, seed, steps[scenario], args) for seed in args.seeds]
        scripted = play(scenario, lambda venv: venv.scenario.scripted_policy(), args)
        rows.append(
            {
                "scenario": scenario,
                "steps": steps[scenario],
                "runs": runs,
                "scripted": figures(scripted, benchmark),
            }
        )
        (out / "results.json").write_text(json.dumps(rows, indent=1, default=str))
    text = table(rows)
    (out / "table.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
