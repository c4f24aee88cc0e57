"""Play one episode of a scenario with a policy and write it to a replay file (MP4 or GIF).

``record_episode`` is what ``marl play`` and each scenario's ``__main__`` call. The policy is any
object with ``act(obs, action_mask=None, deterministic=True) -> {group: actions}`` acting on the
vector env's arrays; the default is the scenario's scripted baseline.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from scenarios.registry import make_scenario
from scenarios.vector import VectorEnv


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["n_agents=8", "continuous_actions=true"]`` to a dict; values are JSON literals
    (numbers, true/false, null, quoted strings) or else plain strings. Nothing is evaluated."""
    overrides = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"scenario override must look like field=value, got {item!r}")
        key, text = item.split("=", 1)
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        overrides[key.strip()] = value
    return overrides


def record_episode(
    scenario_id: str,
    path: str | Path,
    *,
    policy=None,
    seed: int = 0,
    size: int = 480,
    fps: int = 10,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one episode in one world, render every step, save to ``path``; returns the episode
    record (return, reward terms, metrics) with ``"path"`` added."""
    scenario = make_scenario(scenario_id, **(config or {}))
    venv = VectorEnv(scenario, num_envs=1, seed=seed, autoreset=False)
    policy = policy if policy is not None else scenario.scripted_policy()
    if policy is None:
        raise ValueError(f"{scenario_id} has no scripted policy; pass a trained one")
    return record_frames(
        venv, policy, lambda: venv.render(0, size=size), path, seed=seed, fps=fps, name=scenario_id
    )


def record_frames(
    venv, policy, render, path: str | Path, *, seed: int = 0, fps: int = 10, name: str = "env"
) -> dict[str, Any]:
    """Play one episode of world 0 of ``venv`` (a vector env that does not auto-reset) with
    ``policy``, calling ``render()`` for a frame after the reset and after every step; save the
    frames to ``path``. ``policy`` is a Policy (``groups``, ``act``, ``reset``) that acts for
    every group of the env (else one ``ValueError`` line naming both)."""
    from worlds.render import save_replay

    if set(policy.groups) != set(venv.groups):
        raise ValueError(
            f"policy has groups {sorted(policy.groups)}, {name} has {sorted(venv.groups)}"
        )
    policy.reset()
    obs = venv.reset(seed=seed)
    frames = [render()]
    episode = None
    while episode is None:
        actions = policy.act(obs, action_mask=venv.action_mask(), deterministic=True)
        obs, _, _, _, info = venv.step(actions)
        frames.append(render())
        if info["episodes"]:
            episode = info["episodes"][0]
    written = save_replay(frames, path, fps=fps)
    return {**episode, "path": str(written), "frames": len(frames)}


def replay_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The options every replay command shares: scenario, output, seed, frame size, overrides."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("scenario", help="scenario id, e.g. swarm/spread-v0 (see marl scenarios)")
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
    return parser


_UNSAFE = re.compile(r"[^\w.-]")


def default_path(scenario_id: str, policy: str | Path | None = None) -> str:
    """``replays/<scenario>.mp4`` for the scripted baseline; with a trained policy (a run folder,
    checkpoint folder or weights file) the run's name is added, so the two never overwrite each
    other: ``replays/<scenario>_<run>.mp4`` (``..._<run>_update_000040.mp4`` for a checkpoint)."""
    base = _UNSAFE.sub("_", scenario_id)
    if policy is None:
        return f"replays/{base}.mp4"
    source = Path(policy).resolve()
    if source.is_file():
        source = source.parent
    label = source.name
    if source.parent.name == "checkpoints":
        label = f"{source.parent.parent.name}_{source.name}"
    return f"replays/{base}_{_UNSAFE.sub('_', label)}.mp4"


def main(argv: list[str] | None = None) -> int:
    """Render one episode of a scenario's scripted baseline (``python -m scenarios.replay``)."""
    parser = replay_parser(
        "python -m scenarios.replay",
        "Render one episode of a scenario's scripted baseline to MP4/GIF.",
    )
    args = parser.parse_args(argv)
    try:
        result = record_episode(
            args.scenario,
            args.out or default_path(args.scenario),
            seed=args.seed,
            size=args.size,
            fps=args.fps,
            config=parse_overrides(args.env),
        )
    except (KeyError, ValueError, OSError) as error:
        print(f"replay: {error}", file=sys.stderr)
        return 2
    print(summary(result))
    return 0


def summary(result: dict[str, Any]) -> str:
    """``wrote PATH (N frames); return ...; metric=...``, groups and metrics in name order, as
    the training summaries list them (a metric the episode left undefined, NaN in its record,
    reads ``undefined``)."""
    metrics = ", ".join(
        f"{k}={v:.3g}" if v == v else f"{k}=undefined" for k, v in sorted(result["metrics"].items())
    )
    returns = ", ".join(f"{k}={v:.3g}" for k, v in sorted(result["return"].items()))
    text = f"wrote {result['path']} ({result['frames']} frames); return {returns}"
    return f"{text}; {metrics}" if metrics else text


if __name__ == "__main__":
    raise SystemExit(main())
