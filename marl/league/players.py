"""The league's players: records, live learners with their optimizer state, and frozen copies.

A :class:`Player` is a row of the league's database: an id, a kind (``learner`` that keeps
training, ``snapshot`` frozen from a learner, ``scripted`` the scenario's baseline, ``random``,
or ``checkpoint`` a policy the user added), a role (``main``, ``main_exploiter``,
``league_exploiter`` or ``fixed``) and its lineage (the learner a snapshot was taken from, the
round it was taken). Every player can play every group of the scenario.

A :class:`Learner` holds the live policy (one network per group), its Adam moments, value
normalizers and advantage-filter state. Its files live in ``DIR/players/<id>/``:

- ``init/``: the initial weights (an exploiter's reset returns to them);
- ``r<round>/``: the state at the end of that round (``policy.safetensors``, ``spec.json``,
  ``trainer.safetensors`` with the optimizer moments and, in its metadata, the normalizers);
  the database names the folder of the last committed round, older ones are removed.

A snapshot's folder ``DIR/players/<id>/`` holds a copy of the weights written when it was
taken: it never refers to the live learner's tensors, so training on cannot change it.
Every file is read as untrusted data (bounded reads, shapes and finiteness checked).
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save as save_safetensors

from marl.config import TrainConfig
from marl.ppo import RunningMeanStd
from marl.runs.session import make_optimizer
from policies import CheckpointError, NetworkPolicy, load_policy
from policies.checkpoint import (
    atomic_write_bytes,
    commit_folder,
    read_tensors,
    write_policy,
)

ROLES = ("main", "main_exploiter", "league_exploiter", "fixed")
KINDS = ("learner", "snapshot", "scripted", "random", "checkpoint")
TRAINER_FILE = "trainer.safetensors"


@dataclass
class Player:
    """One member of the league (a row of the ``players`` table)."""

    pid: str
    kind: str
    role: str
    parent: str = ""  # the learner a snapshot was taken from
    created: int = 0  # round at which it joined
    generation: int = 0  # learners: resets so far
    since_reset: int = 0  # learners: rounds since the last reset (or start)
    state: str = ""  # learners: folder of the last committed state, relative to DIR

    @property
    def frozen(self) -> bool:
        return self.kind != "learner"


def seed_for(*parts: int) -> int:
    """A 31-bit seed derived from integers (league seed, round, index ...)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0] & 0x7FFFFFFF)


@dataclass
class Learner:
    """A live learner: its policy and the update's state."""

    player: Player
    policy: NetworkPolicy  # trained, on the update's device
    optimizers: dict
    value_norms: dict[str, RunningMeanStd]
    filter_state: dict[str, dict[str, float]] = field(default_factory=dict)
    actor: NetworkPolicy | None = None  # the CPU copy that plays (``policy`` itself on CPU)

    @classmethod
    def create(
        cls, player: Player, spec: dict, cfg: TrainConfig, seed: int, device=None
    ) -> Learner:
        """A fresh learner with weights drawn from ``seed`` (on the CPU, so that the draw does
        not depend on the device), trained on ``device``."""
        torch.manual_seed(seed)
        actor = NetworkPolicy(spec)
        device = torch.device("cpu") if device is None else torch.device(device)
        policy = actor if device.type == "cpu" else copy.deepcopy(actor).to(device)
        learner = cls(player, policy, {}, {}, actor=actor)
        learner.fresh_optimizers(cfg)
        return learner

    def sync(self) -> None:
        """Copy the trained weights into the CPU policy that plays."""
        if self.actor is not None and self.actor is not self.policy:
            self.actor.load_state_dict({k: v.cpu() for k, v in self.policy.state_dict().items()})

    def fresh_optimizers(self, cfg: TrainConfig) -> None:
        self.optimizers = {g: make_optimizer(m, cfg.lr) for g, m in self.policy.groups.items()}
        self.value_norms = {g: RunningMeanStd() for g in self.policy.groups if cfg.value_norm}
        self.filter_state = {g: {} for g in self.policy.groups}

    def reset_to(self, folder: Path, cfg: TrainConfig) -> None:
        """Back to the weights in ``folder`` (its ``init/``) with a fresh optimizer."""
        fresh = load_policy(folder)
        self.policy.load_state_dict(fresh.state_dict())
        self.sync()
        self.fresh_optimizers(cfg)

    # ------------------------------------------------------------------ persistence
    def save(self, root: Path, name: str) -> str:
        """Write the learner's state to ``root/players/<id>/<name>`` (atomically); returns
        that folder relative to ``root``."""
        final = root / "players" / self.player.pid / name
        tmp = final.with_name(f".tmp-{name}")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        write_policy(tmp, self.policy)
        tensors, meta = {}, {}
        for group, opt in self.optimizers.items():
            for index, moments in opt.state_dict()["state"].items():
                for key in ("exp_avg", "exp_avg_sq"):
                    tensors[f"{group}/{index}/{key}"] = moments[key].detach().cpu().contiguous()
                tensors[f"{group}/{index}/step"] = (
                    torch.as_tensor(moments["step"], dtype=torch.float32).reshape(1).cpu()
                )
        meta["value_norms"] = {g: n.state_dict() for g, n in self.value_norms.items()}
        meta["filter"] = self.filter_state
        data = save_safetensors(tensors or {"empty": torch.zeros(1)}, {"meta": json.dumps(meta)})
        atomic_write_bytes(tmp / TRAINER_FILE, data)
        commit_folder(tmp, final)
        return str(final.relative_to(root))

    def load(self, root: Path, relative: str) -> None:
        """Take the state saved by :meth:`save` (CheckpointError on anything malformed)."""
        folder = root / relative
        fresh = load_policy(folder)
        if fresh.spec["groups"].keys() != self.policy.spec["groups"].keys():
            raise CheckpointError(f"{folder}: its groups differ from the league's")
        self.policy.load_state_dict(fresh.state_dict())
        self.sync()
        path = folder / TRAINER_FILE
        limit = 4 * sum(p.numel() * 4 for p in self.policy.parameters()) + (1 << 20)
        tensors = read_tensors(path, limit)
        meta = _trainer_meta(path)
        for group, opt in self.optimizers.items():
            params = list(self.policy.groups[group].parameters())
            state = {}
            for index, param in enumerate(params):
                key = f"{group}/{index}"
                if f"{key}/step" not in tensors:
                    continue
                moments = {k: tensors.get(f"{key}/{k}") for k in ("exp_avg", "exp_avg_sq")}
                for name, tensor in moments.items():
                    if tensor is None or tensor.shape != param.shape:
                        raise CheckpointError(f"{path}: {key}/{name} is missing or misshapen")
                state[index] = {"step": tensors[f"{key}/step"][0], **moments}
            opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})
        for group, norm in self.value_norms.items():
            values = meta.get("value_norms", {}).get(group)
            if not isinstance(values, dict):
                raise CheckpointError(f"{path}: no value normalizer for group {group!r}")
            norm.load_state_dict(
                {k: _finite(values.get(k), path) for k in ("mean", "var", "count")}
            )
        filters = meta.get("filter", {})
        self.filter_state = {
            g: {k: _finite(v, path) for k, v in dict(filters.get(g, {})).items()}
            for g in self.policy.groups
        }


def _finite(value, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise CheckpointError(f"{path}: expected a finite number, got {str(value)[:40]!r}")
    return float(value)


def _trainer_meta(path: Path) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            text = (handle.metadata() or {}).get("meta", "{}")
        meta = json.loads(text)
    except Exception as error:
        raise CheckpointError(f"{path}: unreadable trainer metadata ({error})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: trainer metadata is not a mapping")
    return meta


def write_frozen(root: Path, pid: str, policy: NetworkPolicy) -> Path:
    """Write a copy of ``policy``'s weights as player ``pid``'s (atomically)."""
    final = root / "players" / pid
    tmp = final.with_name(f".tmp-{pid}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    write_policy(tmp, policy)
    commit_folder(tmp, final)
    return final
