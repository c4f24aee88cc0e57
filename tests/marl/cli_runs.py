"""Helpers of the tests that run ``marl`` in subprocesses, as users do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KILLER = Path(__file__).with_name("killer.py")
MPE = "pz:mpe2.simple_spread_v3"
SPREAD = "swarm/spread-v0"
# Small runs: 4 worlds x 8 steps x 3 agents = 96 agent-steps per update.
SCENARIO_ARGS = {MPE: ["-e", "max_cycles=10"], SPREAD: ["-e", "n_agents=3", "-e", "max_steps=20"]}
SMALL = ["--num-envs", "4", "--num-steps", "8", "--epochs", "2", "--minibatches", "2"]
STEPS_PER_UPDATE = 4 * 8 * 3


def marl_command() -> list[str]:
    """The ``marl`` console script of this Python environment."""
    script = Path(sys.executable).parent / "marl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "marl.cli"]


def environment() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path)


def train_args(scenario: str, updates: int, *extra: str) -> list[str]:
    return [
        "train",
        scenario,
        *SCENARIO_ARGS[scenario],
        *SMALL,
        "--steps",
        str(updates * STEPS_PER_UPDATE),
        "--progress",
        "false",
        *extra,
    ]


def run_marl(args: list[str], timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run the console script to the end; stdout and stderr captured as text."""
    return subprocess.run(
        [*marl_command(), *args],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def start_marl(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [*marl_command(), *args],
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def run_killer(point: str, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``marl args`` through ``killer.py`` (see there): the real CLI, stopped at ``point``."""
    return subprocess.run(
        [sys.executable, str(KILLER), point, *args],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def latest(run_dir: Path) -> str | None:
    path = run_dir / "checkpoints" / "LATEST"
    return path.read_text().strip() if path.exists() else None


def final_checkpoint(run_dir: Path) -> dict[str, bytes]:
    """The newest checkpoint's name and the bytes of its weights and trainer state."""
    name = latest(run_dir)
    folder = run_dir / "checkpoints" / name
    return {
        "name": name.encode(),
        "policy.safetensors": (folder / "policy.safetensors").read_bytes(),
        "trainer.safetensors": (folder / "trainer.safetensors").read_bytes(),
    }


def temporary_files(run_dir: Path) -> list[str]:
    return sorted(
        str(p.relative_to(run_dir))
        for p in run_dir.rglob("*")
        if p.name.startswith((".tmp-", ".trash-")) or p.name.endswith(".tmp")
    )


def small_config(run_dir, **changes):
    """An in-process run like ``train_args``'s: MPE simple spread, 96 agent-steps per update."""
    from marl.config import TrainConfig

    base = dict(
        env_id=MPE,
        env={"max_cycles": 10},
        num_envs=4,
        num_steps=8,
        total_steps=STEPS_PER_UPDATE * 7,
        checkpoint_every=2,
        epochs=2,
        minibatches=2,
        run_dir=str(run_dir),
        progress=False,
    )
    base.update(changes)
    return TrainConfig(**base)


def final_bytes(run_dir: Path) -> dict[str, bytes]:
    """Alias of :func:`final_checkpoint` for in-process runs."""
    return final_checkpoint(run_dir)
