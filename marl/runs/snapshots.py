"""Snapshots of a training session, and the checkpoints made of them.

:func:`take_snapshot` captures the state at the end of an update cheaply (tensors cloned, logs by
reference and length); :func:`write_snapshot` turns one into checkpoint ``update_<n>``;
:func:`restore` loads one back, rebuilding the environments by replay when the checkpoint lies
between two reset boundaries (see ``marl.train``'s docstring), and checking that the replay
rebuilt the same observations (and, with fixed groups, the same fixed actions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from marl.runs.checkpoints import (
    TRAINER_FILE,
    Expected,
    Replay,
    TrainerState,
    encode_trainer,
    load_trainer,
    save_checkpoint,
)
from marl.validation import ConfigError
from policies import CheckpointError, check_compatible
from policies.checkpoint import WEIGHTS_FILE, load_weights, read_spec, read_tensors, weights_limit

if TYPE_CHECKING:
    from marl.runs.session import Session


def segment_seed(seed: int, update: int) -> int:
    """Environment seed for the checkpoint segment that starts at ``update``."""
    return int(np.random.SeedSequence([seed, update]).generate_state(1)[0] & 0x7FFFFFFF)


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
    behaviour: dict[str, torch.Tensor] | None = None


def take_snapshot(s: Session) -> Snapshot:
    """The session's state now (see :class:`Snapshot`)."""
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
        behaviour=None if s.behaviour is None else {k: v.clone() for k, v in s.behaviour.items()},
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
        behaviour=snap.behaviour,
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
    groups = {g: (s.venv.num_envs, s.venv.groups[g].n_agents) for g in s.policy.groups}
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
        weights={k: (tuple(v.shape), v.dtype) for k, v in s.policy.state_dict().items()},
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
    s.behaviour = state.behaviour if s.cfg.async_rollouts else None
    every, replay = s.cfg.checkpoint_every, state.replay
    if replay is None:
        if state.update % every != 0:  # a legacy end-of-run checkpoint: continue from a reset
            s.collector.reset(segment_seed(s.cfg.seed, state.update))
        return
    boundary = state.update - state.update % every
    if replay.boundary != boundary or replay.steps != (state.update - boundary) * s.cfg.num_steps:
        raise CheckpointError(f"{where}: replay does not match update {state.update}")
    same = s.collector.replay(segment_seed(s.cfg.seed, boundary), replay.actions, replay.memory)
    if not same or s.collector.digest() != replay.digest:
        raise CheckpointError(
            f"{where}: replaying the logged actions did not rebuild the environments of update "
            f"{state.update} (the scenario, its code or a fixed group's policy changed?); resume "
            "from an earlier checkpoint"
        )
