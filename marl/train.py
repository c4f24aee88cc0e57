"""``marl train``: the training loop around :mod:`marl.ppo`, with logs, checkpoints and resume.

Run folder layout::

    RUN_DIR/config.json                   resolved TrainConfig (+ git revision)
    RUN_DIR/.lock                         writer lock (flock; released when the process ends)
    RUN_DIR/init/                         initial weights of an --init-from run (its own copy)
    RUN_DIR/fixed/<group>/                the policy a fixed group plays (--fixed GROUP=RUN_DIR)
    RUN_DIR/tb/                           TensorBoard event files
    RUN_DIR/checkpoints/LATEST            name of the newest checkpoint folder
    RUN_DIR/checkpoints/update_000010/    policy.safetensors, spec.json, trainer.safetensors

Exact resume. Every ``checkpoint_every`` updates (a *boundary*, also in an unbroken run) every
environment is reset with a seed derived from ``(seed, update)``, and a checkpoint is written.
A checkpoint stores the weights, the Adam moments, the value normalizers, the advantage-filter
maximum and torch's RNG state (:mod:`marl.runs.checkpoints`). A checkpoint taken between boundaries
(on Ctrl-C or SIGTERM, after a crash, or at the end of a run) also stores the actions given to the
environments since the last boundary and the collector's recurrent memory: resuming resets the
environments with the boundary's seed and replays those actions (environment steps only), checks
the observations against a digest stored with them, and continues. A resumed run therefore sees
the same data and draws the same random numbers as the unbroken run, and writes byte-identical
checkpoints.

Interrupts and crashes. SIGINT (Ctrl-C) and SIGTERM finish the current update, write a
checkpoint and stop (``marl train`` exits with 130 or 143); a second signal stops at once, after
saving the state of the last finished update. An exception in the loop also saves the last
finished update before it propagates. So at most the current update is lost; a SIGKILL loses at
most the updates since the last boundary.

Resume (``--resume RUN_DIR``) takes the run's saved config. Fields given again with their saved
value are accepted; ``device``, ``progress``, ``tensorboard`` and ``torch_threads`` may change;
``total_steps`` may change to extend (or shorten, down to what was trained) the run. With
``anneal_lr`` the learning rate always follows ``lr x (1 - update / total updates)`` for the
current total: an extended run continues on the new total's line from the update where it
stopped (so its rate steps up at that update, then falls to zero at the new end). A run killed
before its first checkpoint starts again from the beginning. Any other change is refused: a new
run with ``--init-from RUN_DIR`` starts from a run's weights with another config.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from marl.arguments import parse_args
from marl.config import TrainConfig
from marl.evaluate import episode_figures, format_figures
from marl.ppo import ppo_loss, ppo_loss_recurrent, ppo_update, prepare_group_batch
from marl.runs.checkpoints import CheckpointWriteError
from marl.runs.folder import RunFolderError
from marl.runs.session import Session, open_session
from marl.runs.snapshots import segment_seed, take_snapshot, write_snapshot
from marl.validation import ConfigError
from policies import CheckpointError

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass
class RunResult:
    """Summary of a finished (or stopped) run."""

    run_dir: Path
    global_step: int
    updates: int
    wall_time: float
    agent_steps_per_second: float
    curve: list[tuple[int, float]] = field(default_factory=list)  # (agent-steps, mean return)
    final_return: float = float("nan")  # mean over groups of the last 100 episodes' returns
    final_return_by_group: dict[str, float] = field(default_factory=dict)
    final_metrics: dict[str, float] = field(default_factory=dict)  # over episodes defining them
    final_metric_counts: dict[str, int] = field(default_factory=dict)
    episodes: int = 0
    recent_episodes: int = 0
    stopped_by: int | None = None  # the signal that stopped the run early
    checkpoint: Path | None = None  # the newest checkpoint written
    session_steps: int = 0  # agent-steps trained by this call (0: the run was already complete)

    def summary(self) -> str:
        """The ``marl train`` summary line: each group's return and the metrics."""
        if self.session_steps:
            speed = f"{self.agent_steps_per_second:,.0f} agent-steps/s"
        else:
            speed = "already complete (extend it with --resume RUN --steps N)"
        if not self.recent_episodes:
            return (
                f"run {self.run_dir}: {self.global_step:,} agent-steps; no episode finished yet; "
                f"{speed}"
            )
        figures = format_figures(
            self.final_return_by_group,
            self.final_metrics,
            self.final_metric_counts,
            self.recent_episodes,
        )
        return (
            f"run {self.run_dir}: {self.global_step:,} agent-steps; {figures} (last "
            f"{self.recent_episodes} episodes); {speed}"
        )


# -------------------------------------------------------------------------------- signals
class StopSignals:
    """SIGINT and SIGTERM set ``signum`` (stop after this update); a second one raises
    KeyboardInterrupt. Installed only in the main thread; the old handlers come back on exit."""

    def __init__(self, doing: str = "finishing this update, then saving a checkpoint") -> None:
        self.signum: int | None = None
        self.doing = doing
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame) -> None:
        if self.signum is None:
            self.signum = signum
            name = signal.Signals(signum).name
            os.write(
                2,
                f"\n{name}: {self.doing} (send it again to stop sooner)\n".encode(),
            )
            return
        raise KeyboardInterrupt

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


# ------------------------------------------------------------------------------------- train
def train(
    cfg: TrainConfig | None = None,
    resume: str | Path | None = None,
    on_update: Callable[[int], None] | None = None,
    runtime: dict[str, Any] | None = None,
    *,
    overwrite: bool = False,
    allow_import: bool = False,
) -> RunResult:
    """Train per ``cfg`` (or continue the run folder ``resume``) and return a summary.

    ``on_update(update)`` is called after every update (after any checkpoint). ``runtime``
    holds the fields given when resuming (see the module docstring for which may change).
    ``overwrite`` lets a new run replace the run in its folder; ``allow_import`` lets a resumed
    ``pz:`` run import the module its saved config names. SIGINT/SIGTERM stop the run after the
    current update with a checkpoint (``RunResult.stopped_by`` says which).
    """
    s = open_session(cfg, resume, runtime, overwrite, allow_import)
    try:
        with StopSignals() as stop:
            return run_loop(s, on_update, stop)
    finally:
        s.collector.close()
        s.folder.release()


def run_loop(s: Session, on_update, stop: StopSignals) -> RunResult:
    cfg = s.cfg
    loss_fn = ppo_loss_recurrent if cfg.recurrent > 0 else ppo_loss
    loss_fn = torch.compile(loss_fn) if cfg.compile else loss_fn
    writer = bar = None
    if cfg.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        purge = s.global_step if s.resumed else None
        writer = SummaryWriter(str(s.run_dir / "tb"), purge_step=purge)
    if cfg.progress:
        from tqdm import tqdm

        bar = tqdm(
            total=s.num_updates * s.steps_per_update,
            initial=s.global_step,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            file=sys.stderr,
        )
    started = time.perf_counter()
    session_steps, stopped = 0, None
    snap, consistent = None, True
    try:
        for update in range(s.update, s.num_updates):
            snap, consistent = take_snapshot(s), False
            tick = time.perf_counter()
            stats, rollout = one_update(s, update, loss_fn)
            session_steps += rollout.agent_steps
            elapsed = time.perf_counter() - started
            sps = session_steps / max(elapsed, 1e-9)
            record(s, rollout, stats, writer, bar, sps, time.perf_counter() - tick)
            s.update, consistent = update + 1, True
            if s.update % cfg.checkpoint_every == 0 or s.update == s.num_updates:
                write_snapshot(s, take_snapshot(s))
            if on_update is not None:
                on_update(s.update)
            if stop.signum is not None and s.update < s.num_updates:
                stopped = stop.signum
                break
        if stopped is not None and s.saved_update != s.update:
            write_snapshot(s, take_snapshot(s))
    except CheckpointWriteError:
        raise
    except BaseException as error:
        last = take_snapshot(s) if consistent else snap
        if last is not None and last.update != (s.saved_update or 0):
            write_snapshot(s, last)
        if not isinstance(error, KeyboardInterrupt):
            raise
        stopped = stop.signum or signal.SIGINT
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
    return summarize(s, started, session_steps, stopped)


def one_update(s: Session, update: int, loss_fn):
    """Collect one rollout and run the PPO epochs on it (every group)."""
    cfg = s.cfg
    lr = cfg.lr * (1.0 - update / s.num_updates) if cfg.anneal_lr else cfg.lr
    for opt in s.optimizers.values():
        for group in opt.param_groups:
            group["lr"] = lr
    if cfg.async_rollouts:
        rollout = overlapped_rollout(s, update)
    else:
        if update % cfg.checkpoint_every == 0:
            s.collector.reset(segment_seed(cfg.seed, update))
        weights = None
        if s.collector.policy is not s.policy:
            weights = {k: v.detach().cpu() for k, v in s.policy.state_dict().items()}
        rollout = s.collector.collect(weights, cfg.num_steps)
    stats: dict[str, float] = {"lr": lr, "policy_lag": float(cfg.async_rollouts and update > 0)}
    for g, module in s.policy.groups.items():
        batch, extra = prepare_group_batch(
            rollout.groups[g], cfg, s.value_norms.get(g), s.filter_state[g]
        )
        if s.device.type == "cuda":
            batch = {k: v.pin_memory().to(s.device, non_blocking=True) for k, v in batch.items()}
        result = ppo_update(module, s.optimizers[g], batch, cfg, loss_fn)
        stats.update({f"{g}/{k}": v for k, v in {**result, **extra}.items()})
    return stats, rollout


def overlapped_rollout(s: Session, update: int):
    """``async_rollouts``: this update's rollout, sampled with the weights from before the
    previous update's epochs (``s.behaviour``: a lag of one update; none for the first); the
    next rollout is submitted, with the weights from before this update's epochs, before they
    run. A checkpoint stores those weights, so a resumed run samples what the unbroken one did."""
    cfg, collector = s.cfg, s.collector
    if collector.pending is None:  # nothing in flight: the run's first update in this process
        if update % cfg.checkpoint_every == 0:
            collector.reset(segment_seed(cfg.seed, update))
        collector.submit(s.behaviour or current_weights(s), cfg.num_steps)
    rollout = collector.gather()
    s.behaviour = current_weights(s)
    following = update + 1
    if following < s.num_updates:
        if following % cfg.checkpoint_every == 0:
            collector.reset(segment_seed(cfg.seed, following))
        collector.submit(s.behaviour, cfg.num_steps)
    return rollout


def current_weights(s: Session) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in s.policy.state_dict().items()}


def record(s: Session, rollout, stats, writer, bar, sps: float, seconds: float) -> None:
    """Count the update's steps and episodes; log them; move the progress bar."""
    s.global_step += rollout.agent_steps
    for ep in rollout.episodes:
        s.recent.append((float(np.mean(list(ep["return"].values()))), ep))
    s.episodes += len(rollout.episodes)
    mean_return = float(np.mean([r for r, _ in s.recent])) if s.recent else float("nan")
    s.curve.append((s.global_step, mean_return))
    if writer is not None:
        log_update(writer, s.global_step, rollout.episodes, stats, sps, seconds)
    if bar is not None:
        bar.update(rollout.agent_steps)
        bar.set_postfix(ret=f"{mean_return:.2f}", sps=f"{sps:,.0f}", refresh=False)


def summarize(s: Session, started: float, session_steps: int, stopped: int | None) -> RunResult:
    wall = time.perf_counter() - started
    episodes = [ep for _, ep in s.recent]
    returns, metrics, counts = episode_figures(episodes)
    return RunResult(
        run_dir=s.run_dir,
        global_step=s.global_step,
        updates=s.num_updates,
        wall_time=wall,
        agent_steps_per_second=session_steps / max(wall, 1e-9),
        curve=s.curve,
        final_return=float(np.mean([r for r, _ in s.recent])) if s.recent else float("nan"),
        final_return_by_group=returns,
        final_metrics=metrics,
        final_metric_counts=counts,
        episodes=s.episodes,
        recent_episodes=len(episodes),
        stopped_by=stopped,
        checkpoint=s.checkpoint,
        session_steps=session_steps,
    )


def log_update(writer, step, episodes, stats, sps, collect_time) -> None:
    """Write one update's episode figures (returns, reward terms, metrics) and losses; a metric
    is averaged over the episodes that define it (NaN elsewhere)."""
    if episodes:
        returns, metrics, _ = episode_figures(episodes)
        for g, value in returns.items():
            writer.add_scalar(f"return/{g}", value, step)
        writer.add_scalar("episode/length", np.mean([e["length"] for e in episodes]), step)
        names = {n for e in episodes for n in e.get("reward_terms", {})}
        for name in sorted(names):
            values = [e["reward_terms"][name] for e in episodes if name in e["reward_terms"]]
            writer.add_scalar(f"reward_terms/{name}", np.mean(values), step)
        for name, value in metrics.items():
            if math.isfinite(value):
                writer.add_scalar(f"metrics/{name}", value, step)
    for name, value in stats.items():
        writer.add_scalar(f"train/{name}", value, step)
    writer.add_scalar("perf/agent_steps_per_second", sps, step)
    writer.add_scalar("perf/collect_seconds", collect_time, step)


# -------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    """``marl train`` entry point: returns the exit status; errors print one line."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        cfg, resume, given, flags = parse_args(argv)
        if resume is not None:
            result = train(resume=resume, runtime=given, allow_import=flags["allow_import"])
        else:
            result = train(cfg, overwrite=flags["overwrite"])
    except (ConfigError, CheckpointError, RunFolderError, ValueError, KeyError) as error:
        # Config, checkpoint, run folder and scenario errors (unknown id or field): one line.
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (nothing more was saved)", file=sys.stderr)
        return 130
    if result.stopped_by is not None:
        name = signal.Signals(result.stopped_by).name
        where = result.checkpoint.name if result.checkpoint else "no checkpoint"
        print(
            f"stopped by {name}: saved {where} in {result.run_dir}; continue with: "
            f"marl train --resume {result.run_dir}",
            file=sys.stderr,
        )
        return EXIT_CODES.get(result.stopped_by, 130)
    print(result.summary())
    return 0


__all__ = ["RunResult", "main", "train"]

if __name__ == "__main__":
    sys.exit(main())
