"""A training session: the config, the locked run folder, env, policy, optimizers and counters,
set up for a new run or loaded from a checkpoint.

:func:`open_session` does every check that can fail before training (config, resume rules, run
folder, fixed groups, memory, disk space, checkpoint contents) so that ``marl.train`` starts only
a run that can be saved. Snapshots and checkpoints of a session are :mod:`marl.runs.snapshots`;
the resume rules are :mod:`marl.runs.resume`.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from marl.adam import Adam, fused_adam_works
from marl.collector import LocalCollector
from marl.config import TrainConfig, config_to_dict
from marl.envs import make_env
from marl.fixed import check_assignment, fixed_policy_factory
from marl.ppo import RunningMeanStd
from marl.rollout import critic_dim
from marl.runs.folder import RunFolder
from marl.runs.resume import CONFIG_LIMIT, resume_config
from marl.runs.snapshots import restore
from marl.validation import ConfigError
from policies import CheckpointError, NetworkPolicy, check_compatible, group_spec
from policies.checkpoint import (
    WEIGHTS_FILE,
    atomic_write_json,
    latest_checkpoint,
    load_weights,
    read_json,
    read_spec,
    read_tensors,
    resolve_checkpoint,
    weights_limit,
    write_policy,
)
from policies.spec import SpecError, check_spec


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


def group_sets(spec) -> list[dict[str, Any]]:
    """The entity sets of a group's observation layout, as plain records (none without one)."""
    layout = getattr(spec, "layout", None)
    return [entity_set.to_dict() for entity_set in layout.sets()] if layout is not None else []


def build_spec(
    venv, cfg: TrainConfig, revision: str, groups: list[str] | None = None
) -> dict[str, Any]:
    """The policy spec of the learning ``groups`` (every group when None): spaces, entity sets,
    network config, scenario id and config. With a set encoder every group needs an entity
    set (:class:`ConfigError` naming the field otherwise)."""
    state_dim = venv.state_space.shape[-1]
    specs = {}
    for name in venv.groups if groups is None else groups:
        spec = venv.groups[name]
        sets = group_sets(spec)
        if cfg.encoder != "none" and not sets:
            raise ConfigError(
                f"config field 'encoder': group {name!r} of {cfg.env_id} declares no entity set "
                f"in an observation layout for the {cfg.encoder} encoder to pool; use "
                "--encoder none"
            )
        c_dim = critic_dim(cfg.algo, spec.observation_space.shape[0], state_dim)
        specs[name] = group_spec(
            spec.n_agents, spec.observation_space, spec.action_space, c_dim, sets
        )
        specs[name]["agent_ids"] = list(spec.agent_ids)
    return {
        "groups": specs,
        "network": cfg.net_config().to_dict(),
        "scenario": cfg.env_id,
        "scenario_config": dict(cfg.env),
        "algo": cfg.algo,
        "git_revision": revision,
    }


def make_optimizer(module: torch.nn.Module, lr: float) -> Adam | torch.optim.Adam:
    """Adam with torch's fused kernel (:class:`marl.adam.Adam`: no ``torch.optim``, whose
    construction imports ``torch._dynamo``, about 1 s); ``torch.optim.Adam`` where this torch
    build has no fused kernel."""
    params = list(module.parameters())
    devices = {p.device for p in params}
    if all(fused_adam_works(device) for device in devices):
        return Adam(params, lr=lr, eps=1e-5)
    return torch.optim.Adam(params, lr=lr, eps=1e-5)


@dataclass
class Session:
    """Everything one ``train`` call works on; the loop's state lives here, not in closures."""

    cfg: TrainConfig
    run_dir: Path
    folder: RunFolder
    venv: Any
    spec: dict
    policy: NetworkPolicy
    device: torch.device
    optimizers: dict[str, Adam | torch.optim.Optimizer]
    value_norms: dict[str, RunningMeanStd]
    filter_state: dict[str, dict[str, float]]
    collector: Any  # LocalCollector, or marl.workers.WorkerCollector
    steps_per_update: int
    num_updates: int
    resumed: bool = False
    update: int = 0
    global_step: int = 0
    episodes: int = 0
    recent: collections.deque = field(default_factory=lambda: collections.deque(maxlen=100))
    curve: list[tuple[int, float]] = field(default_factory=list)
    saved_update: int | None = None
    checkpoint: Path | None = None
    # async_rollouts: the (CPU) weights that the rollout in flight is sampled with.
    behaviour: dict[str, torch.Tensor] | None = None


def check_memory(cfg: TrainConfig, venv, spec: dict) -> None:
    """Refuse in one line a rollout or action log larger than this machine's memory."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    per_step = sum(
        venv.num_envs * g["n_agents"] * (g["observation_space"]["shape"][0] + g["critic_dim"] + 16)
        for g in spec["groups"].values()
    )
    rollout = cfg.num_steps * per_step * 4
    if rollout > memory // 2:
        raise ConfigError(
            f"config fields 'num_envs' x 'num_steps': a rollout would take {rollout / 2**30:.1f} "
            f"GiB, over half of this machine's {memory / 2**30:.1f} GiB"
        )
    act = sum(
        venv.num_envs * g["n_agents"] * g["action_space"].get("shape", [1])[0] * 8
        for g in spec["groups"].values()
    )
    log = cfg.checkpoint_every * cfg.num_steps * act
    if log > memory // 4:
        raise ConfigError(
            f"config field 'checkpoint_every': the actions kept for exact resume between "
            f"checkpoints would take {log / 2**30:.1f} GiB; lower checkpoint_every"
        )


def checkpoint_bytes(s: Session) -> int:
    """About how many bytes one checkpoint takes (weights, Adam moments, replay log)."""
    weights = sum(t.numel() * t.element_size() for t in s.policy.state_dict().values())
    params = sum(p.numel() * 4 for m in s.policy.groups.values() for p in m.parameters())
    act = sum(
        s.venv.num_envs * spec.n_agents * max(1, int(np.prod(spec.action_space.shape))) * 4
        for spec in s.venv.groups.values()
    )
    return weights + 2 * params + s.cfg.checkpoint_every * s.cfg.num_steps * act + (64 << 10)


def open_session(
    cfg: TrainConfig | None,
    resume: str | Path | None,
    runtime: dict[str, Any] | None,
    overwrite: bool,
    allow_import: bool,
) -> Session:
    """Check the config and run folder, lock it, build env and policy, load the checkpoint."""
    if resume is not None:
        run_dir = Path(resume)
        if not run_dir.is_dir():
            raise CheckpointError(f"run dir {run_dir}: does not exist")
        cfg = resume_config(run_dir, dict(runtime or {}), allow_import)
    elif cfg is None:
        cfg = TrainConfig()
    if resume is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        default = Path("runs") / f"{cfg.env_id.replace('/', '_').replace(':', '_')}_{cfg.algo}"
        run_dir = Path(cfg.run_dir) if cfg.run_dir else Path(f"{default}_s{cfg.seed}_{stamp}")
    device = resolve_device(cfg.device)
    folder = RunFolder(run_dir)
    if resume is None:
        folder.open_new(overwrite)
    else:
        folder.open_existing()
    try:
        return build_session(cfg, run_dir, folder, device, resume is not None)
    except BaseException:
        if resume is None and not (run_dir / "config.json").exists():
            folder.abandon()
        else:
            folder.release()
        raise


def build_session(
    cfg: TrainConfig, run_dir: Path, folder: RunFolder, device: torch.device, resumed: bool
) -> Session:
    """Build env, policy, fixed groups, optimizers and collector; load the checkpoint or the
    initial weights; write ``config.json`` (a new run) once everything has passed its checks."""
    if device.type == "cpu":
        torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    venv = make_env(cfg.env_id, cfg.num_envs, cfg.seed, **cfg.env)
    revision = git_revision()
    spec = build_spec(venv, cfg, revision, check_assignment(cfg, venv))
    try:
        check_spec(spec)
    except SpecError as error:
        raise ConfigError(f"network too large for {cfg.env_id}: {error}") from None
    check_memory(cfg, venv, spec)
    policy = NetworkPolicy(spec).to(device)
    rollout_policy = policy if device.type == "cpu" else NetworkPolicy(spec)
    make_fixed = fixed_policy_factory(cfg, venv, run_dir, resumed)
    if cfg.num_workers:
        from marl.workers import make_worker_collector

        collector = make_worker_collector(cfg, spec, run_dir, venv)
    else:
        collector = LocalCollector(
            venv, rollout_policy, cfg.algo, pin_memory=device.type == "cuda", make_fixed=make_fixed
        )
    agents = sum(venv.groups[g].n_agents for g in policy.groups)
    steps_per_update = cfg.num_steps * cfg.num_envs * agents
    s = Session(
        cfg=cfg,
        run_dir=run_dir,
        folder=folder,
        venv=venv,
        spec=spec,
        policy=policy,
        device=device,
        optimizers={g: make_optimizer(m, cfg.lr) for g, m in policy.groups.items()},
        value_norms={g: RunningMeanStd() for g in policy.groups} if cfg.value_norm else {},
        filter_state={g: {} for g in policy.groups},
        collector=collector,
        steps_per_update=steps_per_update,
        num_updates=max(1, -(-cfg.total_steps // steps_per_update)),
        resumed=resumed,
    )
    load_state(s, revision)
    return s


def load_state(s: Session, revision: str) -> None:
    """Restore the newest checkpoint (or the initial weights), check the free space, and write
    ``config.json`` (a new run) or its extended ``total_steps`` (a resumed one)."""
    cfg, run_dir, resumed = s.cfg, s.run_dir, s.resumed
    latest = latest_checkpoint(run_dir) if resumed else None
    if latest is not None:
        restore(s, latest)
    elif cfg.init_from:
        load_initial_weights(s, resumed)
    s.folder.check_free_space(
        (cfg.keep_checkpoints + 1) * checkpoint_bytes(s) + (1 << 20),
        f"{cfg.keep_checkpoints} checkpoints (keep_checkpoints) and one being written",
    )
    if not resumed:
        atomic_write_json(
            run_dir / "config.json", {**config_to_dict(cfg), "git_revision": revision}
        )
    else:
        saved = read_json(run_dir / "config.json", CONFIG_LIMIT)
        if saved.get("total_steps") != cfg.total_steps:
            saved["total_steps"] = cfg.total_steps
            atomic_write_json(run_dir / "config.json", saved)
    if cfg.total_steps % s.steps_per_update:
        print(
            f"note: total_steps {cfg.total_steps:,} rounded up to whole updates of "
            f"{s.steps_per_update:,} agent-steps: {s.num_updates * s.steps_per_update:,} "
            f"agent-steps ({s.num_updates} updates)",
            file=sys.stderr,
        )


def load_initial_weights(s: Session, resumed: bool) -> None:
    """``--init-from``: load the source's weights and keep a copy in ``RUN_DIR/init`` (a resumed
    run reads that copy, never a path named by a file)."""
    own = s.run_dir / "init"
    source = own if resumed else resolve_checkpoint(s.cfg.init_from)
    if resumed and not (own / WEIGHTS_FILE).exists():
        raise CheckpointError(
            f"{own}: initial weights missing (the run stopped before saving them); start it "
            "again with --overwrite"
        )
    check_compatible(read_spec(source), s.spec["groups"], str(source))
    weights = source / WEIGHTS_FILE
    load_weights(s.policy, read_tensors(weights, weights_limit(s.policy)), weights)
    if not resumed:
        own.mkdir(exist_ok=True)
        write_policy(own, s.policy)
