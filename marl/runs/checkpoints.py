"""The learner's checkpoint: a policy checkpoint plus ``trainer.safetensors``, written atomically.

``checkpoints/update_<n>/`` holds ``policy.safetensors`` and ``spec.json`` (the policy, loadable
alone by ``policies.load_policy``) and ``trainer.safetensors``: the Adam moments, torch's RNG
state and, for a checkpoint between two environment reset boundaries, the actions given to the
environments since the boundary and the collector's recurrent memory, as tensors; every other
figure (update, agent-steps, value normalizers, advantage-filter maximum, recent episodes, the
return curve, the replay's boundary and observation digest) as JSON in the file's metadata. No
pickle: the file is read with safetensors, and its bytes depend only on its content, so two runs
that reach the same state write identical files. ``trainer.pt`` files of earlier versions (read
with ``torch.load(weights_only=True)``) still resume.

Writing (:func:`save_checkpoint`): the folder is assembled as ``.tmp-update_<n>``, renamed whole,
then ``LATEST`` is replaced; the oldest checkpoints beyond ``keep`` are removed last. A writer that
fails (disk full, file too large, read-only) removes its temporary files and raises
:class:`CheckpointWriteError`; ``LATEST`` still names the last good checkpoint.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from policies import CheckpointError, NetworkPolicy
from policies.checkpoint import (
    HEADER_SLACK,
    LATEST_FILE,
    atomic_write_bytes,
    commit_folder,
    fsync_folder,
    read_bounded,
    read_latest,
    write_policy,
)

TRAINER_FILE = "trainer.safetensors"
LEGACY_TRAINER_FILE = "trainer.pt"
TRAINER_FORMAT = "marl-worlds-trainer"
TRAINER_VERSION = 2
MAX_RECENT = 100


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written; the last good one is untouched."""


@dataclass
class Replay:
    """What rebuilds the environments of a checkpoint taken between two reset boundaries: reset
    with the boundary's seed, then step with ``actions`` (``{group: (steps, B, N, ...)}``)."""

    boundary: int
    actions: dict[str, np.ndarray]
    memory: dict[str, dict[str, torch.Tensor | None]]  # collector memory (GRU state, starts)
    digest: str  # of the observations the replay must reproduce

    @property
    def steps(self) -> int:
        return int(next(iter(self.actions.values())).shape[0]) if self.actions else 0


@dataclass
class TrainerState:
    """Everything besides the weights that a resumed run needs to continue exactly."""

    update: int
    global_step: int
    episodes: int
    optimizers: dict[str, dict[int, dict[str, torch.Tensor]]]  # group -> param index -> moments
    value_norms: dict[str, dict[str, float]]
    filter: dict[str, dict[str, float]]
    torch_rng: torch.Tensor
    recent: list[tuple[float, dict]] = field(default_factory=list)
    curve: list[tuple[int, float]] = field(default_factory=list)
    replay: Replay | None = None
    # With async_rollouts: the weights the rollout in flight was sampled with (the learner's
    # weights before this update's epochs), which a resumed run samples its next rollout with.
    behaviour: dict[str, torch.Tensor] | None = None


# ---------------------------------------------------------------------------------- encoding
def _plain(value: Any) -> Any:
    """JSON-ready copy of an episode record (numpy scalars to Python numbers)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _compact(actions: np.ndarray) -> np.ndarray:
    """Integer actions in the smallest dtype that holds them (restored to int64 on load)."""
    if actions.dtype.kind in "iu" and actions.size:
        low, high = int(actions.min()), int(actions.max())
        for dtype in (np.uint8, np.uint16, np.int32):
            info = np.iinfo(dtype)
            if info.min <= low and high <= info.max:
                return actions.astype(dtype)
    return actions


def encode_trainer(state: TrainerState) -> bytes:
    """The bytes of ``trainer.safetensors`` for ``state`` (deterministic)."""
    tensors: dict[str, torch.Tensor] = {"torch_rng": state.torch_rng.contiguous()}
    for group, params in state.optimizers.items():
        for index, moments in params.items():
            for key, tensor in moments.items():
                tensors[f"optimizer/{group}/{index}/{key}"] = tensor.detach().cpu().contiguous()
    replay = None
    if state.replay is not None:
        dtypes = {}
        for group, actions in state.replay.actions.items():
            dtypes[group] = str(actions.dtype)
            tensors[f"replay/actions/{group}"] = torch.from_numpy(
                np.ascontiguousarray(_compact(actions))
            )
        for group, memory in state.replay.memory.items():
            for key, tensor in memory.items():
                if tensor is not None:
                    tensors[f"replay/{key}/{group}"] = tensor.detach().cpu().contiguous()
        replay = {
            "boundary": state.replay.boundary,
            "steps": state.replay.steps,
            "digest": state.replay.digest,
            "action_dtypes": dtypes,
        }
    if state.behaviour is not None:
        for name, tensor in state.behaviour.items():
            tensors[f"behaviour/{name}"] = tensor.detach().cpu().contiguous()
    meta = {
        "behaviour": state.behaviour is not None,
        "update": state.update,
        "global_step": state.global_step,
        "episodes": state.episodes,
        "value_norms": state.value_norms,
        "filter": state.filter,
        "recent": [[r, _plain(ep)] for r, ep in state.recent],
        "curve": [[int(s), float(r)] for s, r in state.curve],
        "replay": replay,
    }
    # One metadata entry: safetensors writes several in a per-process random order.
    text = json.dumps({"version": TRAINER_VERSION, "state": meta}, sort_keys=True)
    return save_safetensors(tensors, metadata={TRAINER_FORMAT: text})


# ----------------------------------------------------------------------------------- writing
def write_latest(root: Path, name: str) -> None:
    """Point ``root/LATEST`` at checkpoint ``name`` (atomically)."""
    atomic_write_bytes(root / LATEST_FILE, (name + "\n").encode())
    fsync_folder(root)


def checkpoint_name(update: int) -> str:
    return f"update_{update:06d}"


def save_checkpoint(
    run_dir: Path, update: int, policy: NetworkPolicy, trainer: bytes, keep: int
) -> Path:
    """Write checkpoint ``update_<n>`` atomically, point LATEST at it, prune old ones.

    Raises :class:`CheckpointWriteError` (one line) when the file system refuses a write; the
    temporary folder is removed and LATEST still names the previous checkpoint.
    """
    root = Path(run_dir) / "checkpoints"
    name = checkpoint_name(update)
    tmp = root / f".tmp-{name}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        write_policy(tmp, policy)
        atomic_write_bytes(tmp / TRAINER_FILE, trainer)
        commit_folder(tmp, root / name)
        write_latest(root, name)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            last = read_latest(root)
        except CheckpointError:
            last = None
        kept = f"the last good checkpoint {last} is kept" if last else "no earlier checkpoint"
        raise CheckpointWriteError(
            f"{root / name}: cannot write checkpoint ({error.strerror or error}); {kept}"
        ) from None
    prune(root, keep, name)
    return root / name


def prune(root: Path, keep: int, newest: str) -> None:
    """Remove the oldest checkpoints beyond ``keep`` (never ``newest``); each is first renamed
    to a ``.trash-`` name so that a killed pruner leaves no half checkpoint under a real name."""
    old = sorted(p for p in root.glob("update_*") if p.is_dir() and not p.is_symlink())
    for stale in old[: max(0, len(old) - max(keep, 1))]:
        if stale.name == newest:
            continue
        trash = root / f".trash-{stale.name}"
        try:
            os.replace(stale, trash)
        except OSError:
            continue
        shutil.rmtree(trash, ignore_errors=True)


# ----------------------------------------------------------------------------------- reading
@dataclass
class Expected:
    """What a trainer file must match: the current optimizers' parameters, the env's groups,
    and the config's bounds on the replay log."""

    params: dict[str, list[torch.Tensor]]  # learning group -> parameters in optimizer order
    groups: dict[str, tuple[int, int]]  # learning group -> (num_envs, n_agents)
    actions: dict[str, tuple[tuple[int, ...], np.dtype]]  # every group -> step shape, dtype
    recurrent: int
    max_replay_steps: int
    rng_size: int
    weights: dict[str, tuple[tuple[int, ...], torch.dtype]] = field(default_factory=dict)


def trainer_limit(expected: Expected) -> int:
    """The largest trainer file that can hold the expected state."""
    moments = sum(3 * p.numel() * 4 + 64 for ps in expected.params.values() for p in ps)
    actions = sum(
        expected.max_replay_steps * int(np.prod(shape)) * 8
        for shape, _ in expected.actions.values()
    )
    memory = sum(b * n * (expected.recurrent + 1) * 4 for b, n in expected.groups.values())
    weights = sum(int(np.prod(shape)) * 8 + 128 for shape, _ in expected.weights.values())
    return moments + actions + memory + weights + expected.rng_size + 8 * HEADER_SLACK


class _Bad(Exception):
    pass


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise _Bad(message)


def _finite_number(value: Any, name: str) -> float:
    _check(
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
        f"{name} must be a finite number",
    )
    return float(value)


def _count(value: Any, name: str) -> int:
    _check(
        isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**62,
        f"{name} must be a non-negative integer",
    )
    return value


def _tensor(tensors: dict, key: str, shape: tuple, dtype: torch.dtype) -> torch.Tensor:
    tensor = tensors.get(key)
    _check(tensor is not None, f"tensor {key} is missing")
    _check(
        tuple(tensor.shape) == tuple(shape) and tensor.dtype == dtype,
        f"tensor {key} has shape {tuple(tensor.shape)} and dtype {tensor.dtype}, expected "
        f"{tuple(shape)} and {dtype}",
    )
    if tensor.is_floating_point():
        _check(bool(torch.isfinite(tensor).all()), f"tensor {key} holds NaN or infinite values")
    return tensor


def _decode_optimizers(tensors: dict, expected: Expected) -> dict:
    optimizers = {}
    for group, params in expected.params.items():
        moments = {}
        for index, param in enumerate(params):
            prefix = f"optimizer/{group}/{index}/"
            if prefix + "step" not in tensors:
                continue  # a parameter that has not been stepped yet
            moments[index] = {
                "step": _tensor(tensors, prefix + "step", (), torch.float32),
                "exp_avg": _tensor(tensors, prefix + "exp_avg", param.shape, torch.float32),
                "exp_avg_sq": _tensor(tensors, prefix + "exp_avg_sq", param.shape, torch.float32),
            }
        optimizers[group] = moments
    return optimizers


def _decode_replay(meta: Any, tensors: dict, expected: Expected) -> Replay | None:
    if meta is None:
        return None
    _check(isinstance(meta, dict), "replay must be an object")
    steps = _count(meta.get("steps"), "replay.steps")
    _check(steps <= expected.max_replay_steps, "replay.steps exceeds one checkpoint segment")
    digest = meta.get("digest")
    _check(isinstance(digest, str) and len(digest) == 64, "replay.digest must be a sha256 digest")
    dtypes = meta.get("action_dtypes")
    _check(isinstance(dtypes, dict), "replay.action_dtypes must be an object")
    actions, memory = {}, {}
    for group, (shape, dtype) in expected.actions.items():
        key = f"replay/actions/{group}"
        stored = tensors.get(key)
        _check(stored is not None, f"tensor {key} is missing")
        _check(
            tuple(stored.shape) == (steps, *shape),
            f"tensor {key} has shape {tuple(stored.shape)}, expected {(steps, *shape)}",
        )
        _check(dtypes.get(group) == str(np.dtype(dtype)), f"replay actions of {group}: dtype")
        array = stored.numpy()
        if np.dtype(dtype).kind == "f":
            _check(array.dtype == dtype, f"tensor {key} has dtype {array.dtype}")
            _check(bool(np.isfinite(array).all()), f"tensor {key} holds NaN or infinite values")
        else:
            _check(array.dtype.kind in "iu", f"tensor {key} must hold integers")
        actions[group] = array.astype(dtype)
    for group, (b, n) in expected.groups.items():
        hidden = None
        if expected.recurrent > 0:
            hidden = _tensor(
                tensors, f"replay/hidden/{group}", (b * n, expected.recurrent), torch.float32
            )
        starts = _tensor(tensors, f"replay/starts/{group}", (b, n), torch.float32)
        memory[group] = {"hidden": hidden, "starts": starts}
    return Replay(_count(meta.get("boundary"), "replay.boundary"), actions, memory, digest)


def _decode_state(meta: dict, tensors: dict, expected: Expected) -> TrainerState:
    groups = list(expected.params)
    norms = meta.get("value_norms")
    _check(isinstance(norms, dict) and set(norms) <= set(groups), "value_norms: unknown groups")
    value_norms = {}
    for group, norm in norms.items():
        _check(isinstance(norm, dict), f"value_norms.{group} must be an object")
        values = {
            k: _finite_number(norm.get(k), f"value_norms.{group}.{k}")
            for k in ("mean", "var", "count")
        }
        _check(values["var"] >= 0 and values["count"] > 0, f"value_norms.{group}: bad var/count")
        value_norms[group] = values
    filters = meta.get("filter")
    _check(isinstance(filters, dict) and set(filters) <= set(groups), "filter: unknown groups")
    filter_state = {}
    for group, values in filters.items():
        _check(isinstance(values, dict) and set(values) <= {"max"}, f"filter.{group}: bad keys")
        filter_state[group] = {
            k: _finite_number(v, f"filter.{group}.{k}") for k, v in values.items()
        }
    recent = meta.get("recent")
    _check(isinstance(recent, list) and len(recent) <= MAX_RECENT, "recent must be a short list")
    episodes = []
    for item in recent:
        _check(isinstance(item, list) and len(item) == 2 and isinstance(item[1], dict), "recent")
        _check(isinstance(item[0], (int, float)) and not isinstance(item[0], bool), "recent")
        _check(isinstance(item[1].get("return"), dict), "recent: episode without returns")
        episodes.append((float(item[0]), item[1]))
    curve = meta.get("curve")
    _check(isinstance(curve, list), "curve must be a list")
    points = []
    for item in curve:
        _check(isinstance(item, list) and len(item) == 2, "curve: bad point")
        _check(isinstance(item[1], (int, float)) and not isinstance(item[1], bool), "curve")
        points.append((_count(item[0], "curve step"), float(item[1])))
    rng = _tensor(tensors, "torch_rng", (expected.rng_size,), torch.uint8)
    return TrainerState(
        update=_count(meta.get("update"), "update"),
        global_step=_count(meta.get("global_step"), "global_step"),
        episodes=_count(meta.get("episodes"), "episodes"),
        optimizers=_decode_optimizers(tensors, expected),
        value_norms=value_norms,
        filter=filter_state,
        torch_rng=rng,
        recent=episodes,
        curve=points,
        replay=_decode_replay(meta.get("replay"), tensors, expected),
        behaviour=_decode_behaviour(meta.get("behaviour", False), tensors, expected),
    )


def _decode_behaviour(present: Any, tensors: dict, expected: Expected):
    _check(isinstance(present, bool), "behaviour must be true or false")
    if not present:
        return None
    return {
        name: _tensor(tensors, f"behaviour/{name}", shape, dtype)
        for name, (shape, dtype) in expected.weights.items()
    }


def load_trainer(folder: Path, expected: Expected) -> TrainerState:
    """Read and check a checkpoint's trainer state against ``expected``; any problem is one
    :class:`CheckpointError` naming the file."""
    path = Path(folder) / TRAINER_FILE
    if not path.exists() and (Path(folder) / LEGACY_TRAINER_FILE).exists():
        return _load_legacy(Path(folder) / LEGACY_TRAINER_FILE, expected)
    data = read_bounded(path, trainer_limit(expected))
    try:
        tensors = load_safetensors(data)
        metadata = _metadata(data)
    except Exception as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path}: corrupt or truncated trainer state ({first})") from None
    try:
        _check(TRAINER_FORMAT in metadata, f"not a {TRAINER_FORMAT} file")
        content = json.loads(metadata[TRAINER_FORMAT])
        _check(isinstance(content, dict), "metadata must be a JSON object")
        _check(content.get("version") == TRAINER_VERSION, "unknown format version")
        meta = content.get("state")
        _check(isinstance(meta, dict), "state must be a JSON object")
        return _decode_state(meta, tensors, expected)
    except (_Bad, ValueError, TypeError, KeyError, RecursionError) as error:
        raise CheckpointError(f"{path}: invalid trainer state ({error})") from None


def _metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file (its header is a length and a JSON object)."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size].decode("utf-8"))
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise ValueError("metadata is not an object")
    return metadata


def _load_legacy(path: Path, expected: Expected) -> TrainerState:
    """A ``trainer.pt`` of format version 1 (``torch.load(weights_only=True)``, no replay)."""
    data = read_bounded(path, trainer_limit(expected))
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path}: corrupt or truncated trainer state ({first})") from None
    try:
        _check(isinstance(state, dict), "not a trainer state")
        tensors: dict[str, torch.Tensor] = {"torch_rng": state["torch_rng"]}
        for group, opt in state["optimizers"].items():
            for index, moments in opt["state"].items():
                for key, tensor in moments.items():
                    tensors[f"optimizer/{group}/{index}/{key}"] = tensor
        meta = {k: state[k] for k in ("update", "global_step", "episodes", "value_norms")}
        meta.update(filter=state["filter"], replay=None)
        meta["recent"] = [list(r) for r in state["recent"]]
        meta["curve"] = [list(c) for c in state["curve"]]
        return _decode_state(meta, tensors, expected)
    except (_Bad, ValueError, TypeError, KeyError, AttributeError) as error:
        raise CheckpointError(f"{path}: invalid trainer state ({error})") from None


__all__ = [
    "CheckpointWriteError",
    "Expected",
    "Replay",
    "TRAINER_FILE",
    "TrainerState",
    "checkpoint_name",
    "encode_trainer",
    "load_trainer",
    "prune",
    "save_checkpoint",
    "write_latest",
]
