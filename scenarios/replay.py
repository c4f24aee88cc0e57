"""Play one episode of a scenario with a policy and write it to a replay file (MP4 or GIF).

``record_episode`` is what ``marl play`` and each scenario's ``__main__`` call. The policy is any
object with ``act(obs, action_mask=None, deterministic=True) -> {group: actions}`` acting on the
vector env's arrays; the default is the scenario's scripted baseline.
"""

from __future__ import annotations

import argparse
import json
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
    from worlds.render import save_replay

    scenario = make_scenario(scenario_id, **(config or {}))
    venv = VectorEnv(scenario, num_envs=1, seed=seed, autoreset=False)
    policy = policy if policy is not None else scenario.scripted_policy()
    if policy is None:
        raise ValueError(f"{scenario_id} has no scripted policy; pass a trained one")
    obs = venv.reset(seed=seed)
    frames = [venv.render(0, size=size)]
    episode = None
    while episode is None:
        actions = policy.act(obs, action_mask=venv.action_mask(), deterministic=True)
        obs, _, _, _, info = venv.step(actions)
        frames.append(venv.render(0, size=size))
        if info["episodes"]:
            episode = info["episodes"][0]
    written = save_replay(frames, path, fps=fps)
    return {**episode, "path": str(written), "frames": len(frames)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scenarios.replay",
        description="Render one episode of a scenario's scripted baseline to MP4/GIF.",
    )
    parser.add_argument("scenario", help="scenario id, e.g. swarm/spread-v0")
    parser.add_argument("--out", default=None, help="replay file (.mp4 or .gif)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "-e",
        "--env",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="scenario config override (repeatable)",
    )
    args = parser.parse_args(argv)
    out = args.out or f"replays/{args.scenario.replace('/', '_')}.mp4"
    result = record_episode(args.scenario, out, seed=args.seed, config=parse_overrides(args.env))
    print(_summary(result))
    return 0


def _summary(result: dict[str, Any]) -> str:
    metrics = ", ".join(f"{k}={v:.3g}" for k, v in result["metrics"].items())
    returns = ", ".join(f"{k}={v:.3g}" for k, v in result["return"].items())
    return f"wrote {result['path']} ({result['frames']} frames); return {returns}; {metrics}"


if __name__ == "__main__":
    raise SystemExit(main())
