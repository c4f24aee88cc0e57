"""A training session: the config, the locked run folder, env, policy, optimizers and counters,
set up for a new run or loaded from a checkpoint, and the snapshots that checkpoints are made of.

:func:`open_session` does every check that can fail before training (config, resume rules, run
folder, memory, disk space, checkpoint contents) so that ``marl.train`` starts only a run that can
be saved. :func:`take_snapshot` captures the state at the end of an update cheaply (tensors
cloned, logs by reference and length); :func:`write_snapshot` turns one into checkpoint
``update_<n>``; :func:`restore` loads one back, rebuilding the environments by replay when the
checkpoint lies between two reset boundaries (see ``marl.train``'s docstring).
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

from marl.checkpoints import (
    TRAINER_FILE,
    Expected,
    Replay,
    TrainerState,
    encode_trainer,
    load_trainer,
    save_checkpoint,
)
from marl.collector import LocalCollector
from marl.config import ConfigError, coerce, config_from_dict, config_to_dict
from marl.envs import PETTINGZOO_PREFIX, make_env
from marl.ppo import RunningMeanStd, TrainConfig, critic_dim
from marl.run_folder import RunFolder
from policies import CheckpointError, NetConfig, Policy, check_compatible, group_spec
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

RESUME_SETTABLE = {"device", "progress", "tensorboard", "torch_threads", "total_steps"}
CONFIG_LIMIT = 1 << 20  # bytes of config.json read at most


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


# ------------------------------------------------------------------------------ resume config
def resume_config(run_dir: Path, given: dict[str, Any], allow_import: bool) -> TrainConfig:
    """The run's saved config with the fields ``given`` on the command line applied.

    A field given with its saved value is accepted; the fields in ``RESUME_SETTABLE`` may
    change; any other change is a :class:`ConfigError` naming the field. A ``pz:`` scenario of the
    saved config is imported only when ``given`` names the same id or ``allow_import`` is set.
    """
    path = run_dir / "config.json"
    if not path.exists():
        raise CheckpointError(
            f"{run_dir}: no config.json, so not a run folder (start a new run in it)"
        )
    saved = read_json(path, CONFIG_LIMIT)
    saved.pop("git_revision", None)
    try:
        cfg = config_from_dict(saved)
    except ConfigError as error:
        raise CheckpointError(f"{path}: {error}") from None
    changes: dict[str, Any] = {}
    for key, value in given.items():
        if key == "env_id":
            if value != cfg.env_id:
                raise ConfigError(
                    f"{run_dir} trains {cfg.env_id}, not {value}; start a new run for {value} "
                    f"(--init-from {run_dir} to start from this run's weights)"
                )
            continue
        if key == "run_dir":
            if value and os.path.realpath(value) != os.path.realpath(run_dir):
                raise ConfigError(f"config field 'run_dir': --resume {run_dir} writes there")
            continue
        new, old = coerce(key, value), getattr(cfg, key)
        if key == "env":
            new = {**cfg.env, **new}
        if new == old:
            continue
        if key not in RESUME_SETTABLE:
            raise ConfigError(
                f"config field {key!r} cannot change when resuming ({run_dir} has {old!r}, "
                f"given {new!r}); to train with it start a new run with --init-from {run_dir}"
            )
        changes[key] = new
    if cfg.env_id.startswith(PETTINGZOO_PREFIX) and not allow_import:
        if given.get("env_id") != cfg.env_id:
            module = cfg.env_id[len(PETTINGZOO_PREFIX) :]
            raise ConfigError(
                f"{path}: scenario {cfg.env_id} would import the Python module {module!r}; name "
                f"it on the command line (marl train {cfg.env_id} --resume {run_dir}) or pass "
                "--allow-import"
            )
    return config_from_dict(changes, base=cfg)


# ------------------------------------------------------------------------------------ session
@dataclass
class Session:
    """Everything one ``train`` call works on; the loop's state lives here, not in closures."""

    cfg: TrainConfig
    run_dir: Path
    folder: RunFolder
    venv: Any
    spec: dict
    policy: Policy
    device: torch.device
    optimizers: dict[str, torch.optim.Optimizer]
    value_norms: dict[str, RunningMeanStd]
    filter_state: dict[str, dict[str, float]]
    collector: LocalCollector
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


@dataclass
class Snapshot:
    """The state at the end of an update, cheap to take every update: tensors cloned, the
    action log and curve kept by reference and length (they only grow until a boundary)."""

    update: int
    global_step: int
    episodes: int
    weights: dict[str, torch.Tensor]
    optimizers: dict[str, dict[int, dict[str, torch.Tensor]]]
    value_norms: dict[str, dict[str, float]]
    filter: dict[str, dict[str, float]]
    torch_rng: torch.Tensor
    recent: list[tuple[float, dict]]
    curve_length: int
    log: list
    log_length: int
    memory: dict | None
    digest: str | None


def take_snapshot(s: Session) -> Snapshot:
    between = s.update % s.cfg.checkpoint_every != 0 and s.collector.obs is not None
    return Snapshot(
        update=s.update,
        global_step=s.global_step,
        episodes=s.episodes,
        weights={k: v.detach().clone() for k, v in s.policy.state_dict().items()},
        optimizers={
            g: {
                i: {k: v.detach().clone() for k, v in moments.items()}
                for i, moments in opt.state_dict()["state"].items()
            }
            for g, opt in s.optimizers.items()
        },
        value_norms={g: n.state_dict() for g, n in s.value_norms.items()},
        filter={g: dict(v) for g, v in s.filter_state.items()},
        torch_rng=torch.get_rng_state(),
        recent=list(s.recent),
        curve_length=len(s.curve),
        log=s.collector.action_log,
        log_length=len(s.collector.action_log),
        memory=s.collector.memory_copy() if between else None,
        digest=s.collector.digest() if between else None,
    )


def write_snapshot(s: Session, snap: Snapshot) -> Path:
    """Write ``snap`` as checkpoint ``update_<n>`` (the policy takes the snapshot's weights)."""
    replay = None
    if snap.memory is not None:
        log = snap.log[: snap.log_length]
        actions = {g: np.stack([entry[g] for entry in log]) for g in log[0]} if log else {}
        boundary = snap.update - snap.update % s.cfg.checkpoint_every
        replay = Replay(boundary, actions, snap.memory, snap.digest)
    state = TrainerState(
        update=snap.update,
        global_step=snap.global_step,
        episodes=snap.episodes,
        optimizers=snap.optimizers,
        value_norms=snap.value_norms,
        filter=snap.filter,
        torch_rng=snap.torch_rng,
        recent=snap.recent,
        curve=s.curve[: snap.curve_length],
        replay=replay,
    )
    s.policy.load_state_dict(snap.weights)
    path = save_checkpoint(
        s.run_dir, snap.update, s.policy, encode_trainer(state), s.cfg.keep_checkpoints
    )
    s.saved_update, s.checkpoint = snap.update, path
    return path


def expected_trainer(s: Session) -> Expected:
    """What a trainer file of this session must match."""
    params = {g: list(m.parameters()) for g, m in s.policy.groups.items()}
    groups = {g: (s.venv.num_envs, spec.n_agents) for g, spec in s.venv.groups.items()}
    actions = {}
    for g, spec in s.venv.groups.items():
        discrete = hasattr(spec.action_space, "n")
        shape = (s.venv.num_envs, spec.n_agents, *(() if discrete else spec.action_space.shape))
        actions[g] = (shape, np.dtype(np.int64 if discrete else np.float32))
    return Expected(
        params=params,
        groups=groups,
        actions=actions,
        recurrent=s.cfg.recurrent,
        max_replay_steps=s.cfg.checkpoint_every * s.cfg.num_steps,
        rng_size=int(torch.get_rng_state().numel()),
    )


def restore(s: Session, folder: Path) -> None:
    """Load checkpoint ``folder`` into the session; rebuild the envs by replay when needed."""
    check_compatible(read_spec(folder), s.spec["groups"], str(folder))
    weights = folder / WEIGHTS_FILE
    load_weights(s.policy, read_tensors(weights, weights_limit(s.policy)), weights)
    state = load_trainer(folder, expected_trainer(s))
    where = folder / TRAINER_FILE
    if state.update > s.num_updates:
        trained = state.global_step
        raise ConfigError(
            f"config field 'total_steps': {s.cfg.total_steps:,} is less than the {trained:,} "
            f"agent-steps {s.run_dir} has trained; give --steps {trained} or more"
        )
    for g, opt in s.optimizers.items():
        current = opt.state_dict()
        current["state"] = state.optimizers[g]
        opt.load_state_dict(current)
    for g, norm in s.value_norms.items():
        if g in state.value_norms:
            norm.load_state_dict(state.value_norms[g])
    s.filter_state = {g: dict(state.filter.get(g, {})) for g in s.policy.groups}
    s.update, s.global_step, s.episodes = state.update, state.global_step, state.episodes
    s.recent.extend(state.recent)
    s.curve = list(state.curve)
    s.saved_update, s.checkpoint = state.update, folder
    torch.set_rng_state(state.torch_rng)
    every, replay = s.cfg.checkpoint_every, state.replay
    if replay is None:
        if state.update % every != 0:  # a legacy end-of-run checkpoint: continue from a reset
            s.collector.reset(segment_seed(s.cfg.seed, state.update))
        return
    boundary = state.update - state.update % every
    if replay.boundary != boundary or replay.steps != (state.update - boundary) * s.cfg.num_steps:
        raise CheckpointError(f"{where}: replay does not match update {state.update}")
    s.collector.replay(segment_seed(s.cfg.seed, boundary), replay.actions, replay.memory)
    if s.collector.digest() != replay.digest:
        raise CheckpointError(
            f"{where}: replaying the logged actions did not rebuild the environments of update "
            f"{state.update} (scenario or its code changed?); resume from an earlier checkpoint"
        )


# --------------------------------------------------------------------------------- set-up
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
    if device.type == "cpu":
        torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    venv = make_env(cfg.env_id, cfg.num_envs, cfg.seed, **cfg.env)
    revision = git_revision()
    spec = build_spec(venv, cfg, revision)
    try:
        check_spec(spec)
    except SpecError as error:
        raise ConfigError(f"network too large for {cfg.env_id}: {error}") from None
    check_memory(cfg, venv, spec)
    policy = Policy(spec).to(device)
    rollout_policy = policy if device.type == "cpu" else Policy(spec)
    agents = sum(g.n_agents for g in venv.groups.values())
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
        collector=LocalCollector(venv, rollout_policy, cfg.algo, pin_memory=device.type == "cuda"),
        steps_per_update=steps_per_update,
        num_updates=max(1, -(-cfg.total_steps // steps_per_update)),
        resumed=resumed,
    )
    latest = latest_checkpoint(run_dir) if resumed else None
    if latest is not None:
        restore(s, latest)
    elif cfg.init_from:
        load_initial_weights(s, resumed)
    folder.check_free_space(
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
    if cfg.total_steps % steps_per_update:
        print(
            f"note: total_steps {cfg.total_steps:,} rounded up to whole updates of "
            f"{steps_per_update:,} agent-steps: {s.num_updates * steps_per_update:,} agent-steps "
            f"({s.num_updates} updates)",
            file=sys.stderr,
        )
    return s


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


__all__ = [
    "RESUME_SETTABLE",
    "Session",
    "Snapshot",
    "build_spec",
    "make_optimizer",
    "open_session",
    "restore",
    "segment_seed",
    "take_snapshot",
    "write_snapshot",
]
