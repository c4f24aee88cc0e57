"""The ``marl`` command: ``marl scenarios``, ``play``, ``train``, ``league``, ``eval``, ``new``.

Each subcommand lives in its own module with a ``main(argv) -> int``; this file only dispatches,
so ``marl SUBCOMMAND --help`` is that module's generated help.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS = {
    "scenarios": ("marl.scenarios_cmd", "list registered scenarios with agents and spaces"),
    "play": ("marl.play", "render an episode (scripted baseline or a trained policy) to MP4/GIF"),
    "train": ("marl.train", "train shared-parameter PPO / MAPPO on a scenario"),
    "league": (
        "marl.league.cli",
        "run a self-play league (also: resume DIR, show DIR, estimate DIR)",
    ),
    "eval": ("marl.eval.cli", "evaluate policies per group against baselines; write a report"),
    "new": ("marl.new", "write a new scenario from the template (marl new scenario FAMILY/NAME)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: marl SUBCOMMAND [options]\n\nsubcommands:")
        for name, (_, summary) in SUBCOMMANDS.items():
            print(f"  {name:10s} {summary}")
        print("\nmarl SUBCOMMAND --help shows a subcommand's options.")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(
            f"marl: unknown subcommand {name!r} (choose from {', '.join(SUBCOMMANDS)})",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return module.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
