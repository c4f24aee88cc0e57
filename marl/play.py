"""``marl play SCENARIO [--policy RUN_DIR]``: render one episode to a replay file (MP4 or GIF).

Without ``--policy`` the scenario's scripted baseline plays (replay ``replays/<scenario>.mp4``);
with it, the trained policy saved in that run folder (or checkpoint) plays, on the scenario's
config it was trained with when SCENARIO is the run's scenario, with any ``-e field=value``
overrides on top (a policy trained on 8 drones can be shown on 32 when its observation size allows
it). Its replay is ``replays/<scenario>_<run>.mp4``, so it never overwrites the baseline's.
SCENARIO may be ``pz:MODULE`` for a run trained on a PettingZoo env: the env renders itself
(``render_mode="rgb_array"``). A policy whose groups or spaces do not fit the scenario is refused
in one line naming the group, what the policy expects and what the scenario gives.
"""

from __future__ import annotations

import sys

from scenarios import ScenarioConfigError, UnknownScenarioError
from scenarios.replay import (
    default_path,
    parse_overrides,
    record_episode,
    record_frames,
    replay_parser,
    summary,
)


def record_pettingzoo(scenario_id: str, out: str, policy, *, seed, size, fps, config) -> dict:
    """One episode of a ``pz:`` env with a trained policy, rendered by the env itself."""
    import numpy as np
    from PIL import Image

    from marl.envs import make_pettingzoo

    if policy is None:
        raise ValueError(f"{scenario_id} has no scripted baseline; pass --policy RUN_DIR")
    config = {**config, "render_mode": "rgb_array"}
    venv = make_pettingzoo(scenario_id, 1, seed, autoreset=False, **config)

    def render():
        frame = np.asarray(venv.envs[0].render(), dtype=np.uint8)
        if frame.ndim != 3:
            raise ValueError(f"{scenario_id}: render() returned no RGB frame")
        return np.asarray(Image.fromarray(frame[..., :3]).resize((size, size)))

    try:
        return record_frames(venv, policy, render, out, seed=seed, fps=fps, name=scenario_id)
    finally:
        venv.close()


def main(argv: list[str] | None = None) -> int:
    from policies import CheckpointError

    parser = replay_parser("marl play", __doc__.splitlines()[0])
    parser.add_argument(
        "--policy",
        default=None,
        metavar="RUN_DIR",
        help="trained run folder or checkpoint; default: the scripted baseline",
    )
    args = parser.parse_args(argv)
    out = args.out or default_path(args.scenario, args.policy)
    try:
        config = parse_overrides(args.env)
        policy = None
        if args.policy:
            from policies import load_policy

            policy = load_policy(args.policy)
            if policy.scenario_id == args.scenario:
                config = {**policy.scenario_config, **config}
        options = dict(seed=args.seed, size=args.size, fps=args.fps, config=config)
        if args.scenario.startswith("pz:"):
            result = record_pettingzoo(args.scenario, out, policy, **options)
        else:
            result = record_episode(args.scenario, out, policy=policy, **options)
    except (
        UnknownScenarioError,
        ScenarioConfigError,
        CheckpointError,
        ValueError,
        OSError,
    ) as error:
        print(f"marl play: {error}", file=sys.stderr)
        return 2
    print(summary(result))
    return 0
