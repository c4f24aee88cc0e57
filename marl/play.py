"""``marl play SCENARIO [--policy RUN_DIR]``: render one episode to a replay file (MP4 or GIF).

Without ``--policy`` the scenario's scripted baseline plays (replay ``replays/<scenario>.mp4``);
with it, the trained policy saved in that run folder (or checkpoint) plays, on the scenario's
config it was trained with when SCENARIO is the run's scenario, with any ``-e field=value``
overrides on top (a policy trained on 8 drones can be shown on 32 when its observation size allows
it). Its replay is ``replays/<scenario>_<run>.mp4``, so it never overwrites the baseline's.
SCENARIO may be ``pz:MODULE`` for a run trained on a PettingZoo env: the env renders itself
(``render_mode="rgb_array"``). A policy whose groups or spaces do not fit the scenario is refused
in one line naming the group, what the policy expects and what the scenario gives. A run trained
with ``--fixed GROUP=POLICY`` plays its learned groups against the fixed policies it trained
against (the scenario's baseline, random actions, or the copy in ``RUN_DIR/fixed/GROUP``).
"""

from __future__ import annotations

import sys

from scenarios import ScenarioConfigError, UnknownScenarioError, make_scenario
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
    check_spaces(policy, venv.groups, scenario_id)

    def render():
        frame = np.asarray(venv.envs[0].render(), dtype=np.uint8)
        if frame.ndim != 3:
            raise ValueError(f"{scenario_id}: render() returned no RGB frame")
        return np.asarray(Image.fromarray(frame[..., :3]).resize((size, size)))

    try:
        return record_frames(venv, policy, render, out, seed=seed, fps=fps, name=scenario_id)
    finally:
        venv.close()


def check_spaces(policy, groups: dict, where: str) -> None:
    """Check every network policy in ``policy`` (a joint policy's members too) against the
    env's ``groups`` and spaces: ``PolicyMismatchError`` in one line naming the group."""
    from policies import JointPolicy, NetworkPolicy

    members = policy.members if isinstance(policy, JointPolicy) else [policy]
    for member in members:
        if isinstance(member, NetworkPolicy):
            mine = {g: groups[g] for g in member.groups if g in groups}
            member.check_groups(mine if len(mine) == len(member.groups) else groups, where=where)


def with_fixed_groups(policy, run: str, scenario_id: str, config: dict, seed: int):
    """``policy`` joined with the fixed policies of run folder ``run`` when it was trained with
    ``--fixed`` (its checkpoint holds only the learning groups); ``policy`` itself otherwise."""
    from pathlib import Path

    import scenarios
    from marl.fixed import fixed_policy_factory
    from marl.runs.resume import resume_config
    from marl.validation import ConfigError
    from policies import JointPolicy

    run_dir = Path(run)
    if not (run_dir / "config.json").is_file():
        return policy
    try:  # naming the scenario on the command line lets a pz: run's id through
        cfg = resume_config(run_dir, {"env_id": scenario_id}, allow_import=False)
    except ConfigError:
        return policy  # trained on another scenario: no fixed groups to join
    if not cfg.fixed:
        return policy
    venv = scenarios.make_vec(scenario_id, num_envs=1, seed=seed, **config)
    fixed = fixed_policy_factory(cfg, venv, run_dir, resumed=True)(seed)
    learned = {group: policy for group in policy.groups if group not in cfg.fixed}
    return JointPolicy({**learned, **fixed.assignment})


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
            policy = with_fixed_groups(policy, args.policy, args.scenario, config, args.seed)
        options = dict(seed=args.seed, size=args.size, fps=args.fps, config=config)
        if args.scenario.startswith("pz:"):
            result = record_pettingzoo(args.scenario, out, policy, **options)
        else:
            if policy is not None:
                groups = make_scenario(args.scenario, **config).groups()
                check_spaces(policy, groups, args.scenario)
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
