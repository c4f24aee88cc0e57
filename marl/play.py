"""``marl play SCENARIO [--policy RUN_DIR]``: render one episode to a replay file (MP4 or GIF).

Without ``--policy`` the scenario's scripted baseline plays; with it, the trained policy saved in
that run folder (or checkpoint) plays on the scenario and config it was trained on, with any
``-e field=value`` overrides on top (a policy trained on 8 drones can be shown on 32 when its
observation size allows it).
"""

from __future__ import annotations

import argparse
import sys

from scenarios import ScenarioConfigError, UnknownScenarioError
from scenarios.replay import _summary, parse_overrides, record_episode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="marl play", description=__doc__.splitlines()[0])
    parser.add_argument("scenario", help="scenario id, e.g. swarm/spread-v0 (see marl scenarios)")
    parser.add_argument(
        "--policy",
        default=None,
        metavar="RUN_DIR",
        help="trained run folder or checkpoint; default: the scripted baseline",
    )
    parser.add_argument(
        "--out", default=None, help="replay file, .mp4 or .gif (default replays/<scenario>.mp4)"
    )
    parser.add_argument("--seed", type=int, default=0, help="episode seed")
    parser.add_argument("--size", type=int, default=480, help="frame size in pixels")
    parser.add_argument("--fps", type=int, default=10, help="frames per second of the replay")
    parser.add_argument(
        "-e",
        "--env",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="scenario config override, repeatable (e.g. -e n_agents=8)",
    )
    args = parser.parse_args(argv)
    out = args.out or f"replays/{args.scenario.replace('/', '_')}.mp4"
    try:
        config = parse_overrides(args.env)
        policy = None
        if args.policy:
            from policies import load_policy

            policy = load_policy(args.policy)
            config = {**dict(getattr(policy, "scenario_config", {}) or {}), **config}
        result = record_episode(
            args.scenario,
            out,
            policy=policy,
            seed=args.seed,
            size=args.size,
            fps=args.fps,
            config=config,
        )
    except (UnknownScenarioError, ScenarioConfigError, ValueError, OSError) as error:
        print(f"marl play: {error}", file=sys.stderr)
        return 2
    print(_summary(result))
    return 0
