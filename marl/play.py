"""``marl play SCENARIO [--policy RUN_DIR]``: render one episode to a replay file (MP4 or GIF).

Without ``--policy`` the scenario's scripted baseline plays; with it, the trained policy saved in
that run folder (or checkpoint) plays on the scenario and config it was trained on, with any
``-e field=value`` overrides on top (a policy trained on 8 drones can be shown on 32 when its
observation size allows it).
"""

from __future__ import annotations

import sys

from scenarios import ScenarioConfigError, UnknownScenarioError
from scenarios.replay import default_path, parse_overrides, record_episode, replay_parser, summary


def main(argv: list[str] | None = None) -> int:
    parser = replay_parser("marl play", __doc__.splitlines()[0])
    parser.add_argument(
        "--policy",
        default=None,
        metavar="RUN_DIR",
        help="trained run folder or checkpoint; default: the scripted baseline",
    )
    args = parser.parse_args(argv)
    out = args.out or default_path(args.scenario)
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
    print(summary(result))
    return 0
