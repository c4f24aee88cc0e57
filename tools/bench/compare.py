"""Run a benchmark on two versions of the code side by side and print the ratio of their figures.

    python tools/bench/compare.py --base main -- tools/bench/envs.py --scenario swarm/spread-v0 \
        --agents 16 --worlds 64 --pettingzoo-agents --seconds 2

The base revision is checked out into a temporary git worktree; the benchmark script then runs
alternately from that tree and from this one (``--rounds`` windows each, every run pinned to the
same core), so that both sides see the same machine load. Every output line with a figure before
``agent-steps/s`` (or ``samples/s``) is matched between the two sides by its text before the figure;
the table gives both medians and their ratio (this tree over the base). These machines are shared
and noisy: single figures swing by 2x, ratios taken this way much less.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIGURE = re.compile(
    r"^(?P<label>.*?)\s+(?P<value>[\d,]+(?:\.\d+)?)\s+(?P<unit>agent-steps/s|samples/s)"
)


def run_once(tree: Path, script: list[str], core: int | None) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    command = [sys.executable, str(tree / script[0]), *script[1:]]
    pin = None
    if core is not None and hasattr(os, "sched_setaffinity"):

        def pin() -> None:
            os.sched_setaffinity(0, {core})

    done = subprocess.run(
        command, cwd=tree, env=env, capture_output=True, text=True, preexec_fn=pin, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{tree}: benchmark failed:\n{done.stderr[-2000:]}")
    figures = {}
    for line in done.stdout.splitlines():
        match = FIGURE.match(line.strip())
        if match:
            label = f"{match['label']} [{match['unit']}]"
            figures[label] = float(match["value"].replace(",", ""))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--rounds", type=int, default=3, help="windows per side")
    parser.add_argument("--core", type=int, default=None, help="core to pin (default: the last)")
    parser.add_argument("script", nargs=argparse.REMAINDER, help="-- SCRIPT [ARGS...]")
    args = parser.parse_args()
    script = args.script[1:] if args.script[:1] == ["--"] else args.script
    if not script:
        parser.error("give the benchmark script after --")
    core = args.core
    if core is None and hasattr(os, "sched_getaffinity"):
        core = sorted(os.sched_getaffinity(0))[-1]
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(base), args.base], cwd=ROOT, check=True
        )
        try:
            sides: dict[str, list[dict[str, float]]] = {"base": [], "this": []}
            for _ in range(args.rounds):
                sides["base"].append(run_once(base, script, core))
                sides["this"].append(run_once(ROOT, script, core))
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False
            )
    labels = [label for label in sides["this"][0] if label in sides["base"][0]]
    print(f"# {args.base} (base) vs this tree, {args.rounds} alternating windows, core {core}")
    print(f"{'':70s} {'base':>12s} {'this':>12s} {'ratio':>6s}")
    for label in labels:
        base_value = statistics.median(run[label] for run in sides["base"])
        this_value = statistics.median(run[label] for run in sides["this"])
        ratio = this_value / base_value
        print(f"{label[:70]:70s} {base_value:12,.0f} {this_value:12,.0f} {ratio:6.2f}")


if __name__ == "__main__":
    main()
