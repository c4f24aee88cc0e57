"""``marl train``: the training loop around :mod:`marl.ppo`, with logs, checkpoints and resume.

Run folder layout::

    RUN_DIR/config.json                   resolved TrainConfig (+ git revision)
    RUN_DIR/tb/                           TensorBoard event files
    RUN_DIR/checkpoints/LATEST            name of the newest checkpoint folder
    RUN_DIR/checkpoints/update_000010/    policy.safetensors, spec.json, trainer.pt

Exact resume: checkpoints are taken at update boundaries that are multiples of
``checkpoint_every``, and at each such boundary (also in an unbroken run) every environment is
reset with a seed derived from ``(seed, update)``. The checkpoint stores the weights, the optimizer
states, the value normalizers, the advantage-filter maximum and torch's RNG state (``trainer.pt``,
written with ``torch.save`` and read back with ``weights_only=True``). A resumed run therefore sees
the same data and draws the same random numbers as the unbroken run, and ends with equal weights.
"""

from __future__ import annotations

import collections
import io
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from marl.collector import LocalCollector
from marl.config import ConfigError, config_from_dict, config_to_dict, parse_args
from marl.envs import make_env
from marl.ppo import (
    RunningMeanStd,
    TrainConfig,
    critic_dim,
    ppo_loss,
    ppo_loss_recurrent,
    ppo_update,
    prepare_group_batch,
)
from policies import CheckpointError, NetConfig, Policy, check_compatible, group_spec
from policies.checkpoint import (
    LATEST_FILE,
    atomic_write_bytes,
    atomic_write_json,
    commit_folder,
    load_policy,
    load_weights,
    read_json,
    read_spec,
    read_tensors,
    resolve_checkpoint,
    write_policy,
)

TRAINER_FILE = "trainer.pt"
RESUME_SETTABLE = {"device", "progress", "tensorboard", "torch_threads"}


@dataclass
class RunResult:
    """Summary of a finished run."""

    run_dir: Path
    global_step: int
    updates: int
    wall_time: float
    agent_steps_per_second: float
    curve: list[tuple[int, float]] = field(default_factory=list)  # (agent-steps, mean return)
    final_return: float = float("nan")  # mean over groups of the last 100 episodes' returns
    final_return_by_group: dict[str, float] = field(default_factory=dict)
    final_metrics: dict[str, float] = field(default_factory=dict)
    episodes: int = 0


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ConfigError(f"config field 'device': expected auto, cpu or cuda, got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("config field 'device': cuda requested but no CUDA device is available")
    return torch.device(name)


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def segment_seed(seed: int, update: int) -> int:
    """Environment seed for the checkpoint segment that starts at ``update``."""
    return int(np.random.SeedSequence([seed, update]).generate_state(1)[0] & 0x7FFFFFFF)


def build_spec(venv, cfg: TrainConfig, revision: str) -> dict[str, Any]:
    """The policy spec: groups and spaces, network config, scenario id and config."""
    net = NetConfig(
        hidden_sizes=tuple(cfg.hidden_sizes),
        activation=cfg.activation,
        agent_id=cfg.agent_id,
        encoder=cfg.encoder,
        knn_start=cfg.knn_start,
        knn_count=cfg.knn_count,
        knn_features=cfg.knn_features,
        encoder_dim=cfg.encoder_dim,
        continuous=cfg.continuous,
        log_std_init=cfg.log_std_init,
        recurrent=cfg.recurrent,
    )
    state_dim = venv.state_space.shape[-1]
    groups = {}
    for name, spec in venv.groups.items():
        c_dim = critic_dim(cfg.algo, spec.observation_space.shape[0], state_dim)
        groups[name] = group_spec(spec.n_agents, spec.observation_space, spec.action_space, c_dim)
        groups[name]["agent_ids"] = list(getattr(spec, "agent_ids", []))
    return {
        "groups": groups,
        "network": net.to_dict(),
        "scenario": cfg.env_id,
        "scenario_config": dict(cfg.env),
        "algo": cfg.algo,
        "git_revision": revision,
    }


def make_optimizer(module: torch.nn.Module, lr: float) -> torch.optim.Adam:
    """Adam, fused where this torch build supports it (measured faster on CPU too)."""
    try:
        return torch.optim.Adam(module.parameters(), lr=lr, eps=1e-5, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(module.parameters(), lr=lr, eps=1e-5)


# ------------------------------------------------------------------------------- checkpoints
def save_checkpoint(run_dir: Path, update: int, policy: Policy, trainer: dict, keep: int) -> Path:
    """Write checkpoint ``update_<n>`` atomically, point LATEST at it, prune old ones."""
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    name = f"update_{update:06d}"
    tmp = root / f".tmp-{name}"
    tmp.mkdir(exist_ok=True)
    write_policy(tmp, policy)
    buffer = io.BytesIO()
    torch.save(trainer, buffer)
    atomic_write_bytes(tmp / TRAINER_FILE, buffer.getvalue())
    commit_folder(tmp, root / name)
    atomic_write_bytes(root / LATEST_FILE, (name + "\n").encode())
    old = sorted(p for p in root.glob("update_*") if p.is_dir())
    for stale in old[: max(0, len(old) - max(keep, 1))]:
        if stale.name != name:
            shutil.rmtree(stale, ignore_errors=True)
    return root / name


def load_trainer_state(folder: Path) -> dict:
    path = folder / TRAINER_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: file is missing")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path}: corrupt or truncated trainer state ({first})") from None


# ------------------------------------------------------------------------------------- train
def train(
    cfg: TrainConfig | None = None,
    resume: str | Path | None = None,
    on_update: Callable[[int], None] | None = None,
    runtime: dict[str, Any] | None = None,
) -> RunResult:
    """Train per ``cfg`` (or continue the run folder ``resume``) and return a summary.

    ``on_update(update)`` is called after every update (after any checkpoint). ``runtime``
    may change device/progress/tensorboard/torch_threads when resuming.
    """
    if resume is not None:
        run_dir = Path(resume)
        if not run_dir.is_dir():
            raise CheckpointError(f"run dir {run_dir}: does not exist")
        saved = read_json(run_dir / "config.json")
        saved.pop("git_revision", None)
        cfg = config_from_dict(saved)
        bad = sorted(set(runtime or {}) - RESUME_SETTABLE)
        if bad:
            raise ConfigError(f"config field {bad[0]!r} cannot change when resuming")
        cfg = config_from_dict(runtime or {}, base=cfg)
    elif cfg is None:
        cfg = TrainConfig()
    if cfg.algo not in ("mappo", "ippo"):
        raise ConfigError(f"config field 'algo': expected mappo or ippo, got {cfg.algo!r}")
    for name in ("num_envs", "num_steps", "epochs", "minibatches", "checkpoint_every"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"config field {name!r}: must be >= 1, got {getattr(cfg, name)}")
    device = resolve_device(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)

    venv = make_env(cfg.env_id, cfg.num_envs, cfg.seed, **cfg.env)
    revision = git_revision()
    spec = build_spec(venv, cfg, revision)
    if resume is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        default = Path("runs") / f"{cfg.env_id.replace('/', '_').replace(':', '_')}_{cfg.algo}"
        run_dir = Path(cfg.run_dir) if cfg.run_dir else Path(f"{default}_s{cfg.seed}_{stamp}")
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            run_dir / "config.json", {**config_to_dict(cfg), "git_revision": revision}
        )

    policy = Policy(spec).to(device)
    if cfg.init_from:
        source = resolve_checkpoint(cfg.init_from)
        check_compatible(read_spec(source), spec["groups"], str(source))
        load_weights(policy, read_tensors(source / "policy.safetensors"), source)
    optimizers = {g: make_optimizer(m, cfg.lr) for g, m in policy.groups.items()}
    value_norms = {g: RunningMeanStd() for g in policy.groups} if cfg.value_norm else {}
    filter_state = {g: {} for g in policy.groups}
    start_update, global_step = 0, 0
    recent: collections.deque = collections.deque(maxlen=100)
    curve: list[tuple[int, float]] = []
    episodes_seen = 0

    if resume is not None:
        folder = resolve_checkpoint(run_dir)
        check_compatible(read_spec(folder), spec["groups"], str(folder))
        load_weights(policy, read_tensors(folder / "policy.safetensors"), folder)
        state = load_trainer_state(folder)
        for g, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][g])
        for g, norm in value_norms.items():
            norm.load_state_dict(state["value_norms"][g])
        filter_state = {g: dict(v) for g, v in state["filter"].items()}
        start_update, global_step = state["update"], state["global_step"]
        recent.extend(tuple(r) for r in state["recent"])
        curve = [tuple(c) for c in state["curve"]]
        episodes_seen = state["episodes"]
        torch.set_rng_state(state["torch_rng"])

    pin = device.type == "cuda"
    rollout_policy = policy if device.type == "cpu" else Policy(spec)
    collector = LocalCollector(venv, rollout_policy, cfg.algo, pin_memory=pin)
    agents_per_step = cfg.num_envs * sum(s.n_agents for s in venv.groups.values())
    steps_per_update = cfg.num_steps * agents_per_step
    num_updates = max(1, -(-cfg.total_steps // steps_per_update))
    loss_fn = ppo_loss_recurrent if cfg.recurrent > 0 else ppo_loss
    loss_fn = torch.compile(loss_fn) if cfg.compile else loss_fn

    writer = None
    if cfg.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run_dir / "tb"), purge_step=global_step or None)
    bar = None
    if cfg.progress:
        from tqdm import tqdm

        bar = tqdm(
            total=num_updates * steps_per_update,
            initial=global_step,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            file=sys.stderr,
        )

    def trainer_state(update: int) -> dict:
        return {
            "optimizers": {g: o.state_dict() for g, o in optimizers.items()},
            "value_norms": {g: n.state_dict() for g, n in value_norms.items()},
            "filter": filter_state,
            "update": update,
            "global_step": global_step,
            "recent": [list(r) for r in recent],
            "curve": [list(c) for c in curve],
            "episodes": episodes_seen,
            "torch_rng": torch.get_rng_state(),
        }

    started = time.perf_counter()
    session_steps = 0
    try:
        for update in range(start_update, num_updates):
            if update % cfg.checkpoint_every == 0:
                collector.reset(segment_seed(cfg.seed, update))
            lr = cfg.lr * (1.0 - update / num_updates) if cfg.anneal_lr else cfg.lr
            for opt in optimizers.values():
                for group in opt.param_groups:
                    group["lr"] = lr
            weights = None
            if rollout_policy is not policy:
                weights = {k: v.detach().cpu() for k, v in policy.state_dict().items()}
            tick = time.perf_counter()
            rollout = collector.collect(weights, cfg.num_steps)
            collect_time = time.perf_counter() - tick
            stats: dict[str, float] = {}
            for g, module in policy.groups.items():
                batch, extra = prepare_group_batch(
                    rollout.groups[g], cfg, value_norms.get(g), filter_state[g]
                )
                if pin:
                    batch = {
                        k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()
                    }
                result = ppo_update(module, optimizers[g], batch, cfg, loss_fn)
                stats.update({f"{g}/{k}": v for k, v in {**result, **extra}.items()})
            global_step += rollout.agent_steps
            session_steps += rollout.agent_steps
            for ep in rollout.episodes:
                recent.append((float(np.mean(list(ep["return"].values()))), ep))
            episodes_seen += len(rollout.episodes)
            mean_return = float(np.mean([r for r, _ in recent])) if recent else float("nan")
            curve.append((global_step, mean_return))
            elapsed = time.perf_counter() - started
            sps = session_steps / max(elapsed, 1e-9)
            if writer is not None:
                log_update(writer, global_step, rollout.episodes, stats, lr, sps, collect_time)
            if bar is not None:
                bar.update(rollout.agent_steps)
                bar.set_postfix(ret=f"{mean_return:.2f}", sps=f"{sps:,.0f}", refresh=False)
            done = update + 1
            if done % cfg.checkpoint_every == 0 or done == num_updates:
                save_checkpoint(run_dir, done, policy, trainer_state(done), cfg.keep_checkpoints)
            if on_update is not None:
                on_update(done)
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        collector.close()
    return summarize(
        run_dir, global_step, num_updates, started, session_steps, curve, recent, episodes_seen
    )


def summarize(run_dir, global_step, updates, started, session_steps, curve, recent, episodes):
    wall = time.perf_counter() - started
    by_group: dict[str, list[float]] = collections.defaultdict(list)
    metrics: dict[str, list[float]] = collections.defaultdict(list)
    for _, ep in recent:
        for g, value in ep["return"].items():
            by_group[g].append(value)
        for name, value in ep.get("metrics", {}).items():
            metrics[name].append(value)
    return RunResult(
        run_dir=Path(run_dir),
        global_step=global_step,
        updates=updates,
        wall_time=wall,
        agent_steps_per_second=session_steps / max(wall, 1e-9),
        curve=curve,
        final_return=float(np.mean([r for r, _ in recent])) if recent else float("nan"),
        final_return_by_group={g: float(np.mean(v)) for g, v in by_group.items()},
        final_metrics={k: float(np.mean(v)) for k, v in metrics.items()},
        episodes=episodes,
    )


def log_update(writer, step, episodes, stats, lr, sps, collect_time) -> None:
    """Write one update's episode figures (returns, reward terms, metrics) and losses."""
    if episodes:
        groups = episodes[0]["return"].keys()
        for g in groups:
            writer.add_scalar(f"return/{g}", np.mean([e["return"][g] for e in episodes]), step)
        writer.add_scalar("episode/length", np.mean([e["length"] for e in episodes]), step)
        for key in ("reward_terms", "metrics"):
            names = {n for e in episodes for n in e.get(key, {})}
            for name in sorted(names):
                values = [e[key][name] for e in episodes if name in e.get(key, {})]
                writer.add_scalar(f"{key}/{name}", np.mean(values), step)
    for name, value in stats.items():
        writer.add_scalar(f"train/{name}", value, step)
    writer.add_scalar("train/lr", lr, step)
    writer.add_scalar("perf/agent_steps_per_second", sps, step)
    writer.add_scalar("perf/collect_seconds", collect_time, step)


def main(argv: list[str] | None = None) -> int:
    """``marl train`` entry point: returns the exit status; errors print one line."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        cfg, resume, given = parse_args(argv)
        if resume is not None:
            runtime = {k: v for k, v in given.items() if k != "env_id"}
            result = train(resume=resume, runtime=runtime)
        else:
            result = train(cfg)
    except (ConfigError, CheckpointError, ValueError, KeyError) as error:
        # Config, checkpoint and scenario errors (unknown id or field) end in one line.
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; continue with --resume RUN_DIR", file=sys.stderr)
        return 130
    print(
        f"run {result.run_dir}: {result.global_step} agent-steps, mean return "
        f"{result.final_return:.3f} (last 100 episodes), {result.agent_steps_per_second:,.0f} "
        f"agent-steps/s"
    )
    return 0


__all__ = ["RunResult", "load_policy", "main", "train"]

if __name__ == "__main__":
    sys.exit(main())
