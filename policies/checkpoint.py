"""Checkpoint format: a folder with ``policy.safetensors`` (weights) and ``spec.json``.

``spec.json`` holds the format version, each group's spaces, the network config, the scenario id
and its config, the algorithm and the git revision: enough to rebuild the :class:`Policy` and its
environment without the training code. A run folder keeps its checkpoints under
``checkpoints/<name>/`` and names the newest in ``checkpoints/LATEST``. Every file is written to a
temporary name and moved into place with ``os.replace``; a checkpoint folder is assembled under a
temporary name and renamed whole, so a killed writer never leaves a half checkpoint behind.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from policies.policy import Policy

FORMAT = "marl-worlds-policy"
VERSION = 1
WEIGHTS_FILE = "policy.safetensors"
SPEC_FILE = "spec.json"
LATEST_FILE = "LATEST"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, truncated or does not fit; the message says which file."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync, then ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON atomically."""
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> dict:
    """Read a JSON object, raising :class:`CheckpointError` naming the file on any problem."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: file is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: corrupt or truncated JSON ({error})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file, raising :class:`CheckpointError` if it is missing or corrupt."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: file is missing") from None
    try:
        return load_safetensors(data)
    except Exception as error:  # safetensors raises its own error types for bad bytes
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        problem = f"corrupt or truncated safetensors file ({message})"
        raise CheckpointError(f"{path}: {problem}") from None


def policy_tensors(policy: Policy) -> dict[str, torch.Tensor]:
    """The policy's parameters and buffers as contiguous CPU tensors."""
    return {k: v.detach().cpu().contiguous() for k, v in policy.state_dict().items()}


def write_policy(folder: Path, policy: Policy) -> None:
    """Write ``policy.safetensors`` and ``spec.json`` into ``folder`` (which must exist)."""
    folder = Path(folder)
    atomic_write_bytes(folder / WEIGHTS_FILE, save_safetensors(policy_tensors(policy)))
    spec = dict(policy.spec, format=FORMAT, version=VERSION)
    atomic_write_json(folder / SPEC_FILE, spec)


def commit_folder(tmp: Path, final: Path) -> None:
    """Move a fully written temporary checkpoint folder to its final name, replacing any old one."""
    final = Path(final)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """Turn a run folder, a checkpoint folder or a weights file into a checkpoint folder."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: does not exist")
    if path.is_file():
        if path.name == WEIGHTS_FILE or path.name == SPEC_FILE:
            return path.parent
        raise CheckpointError(f"{path}: not a checkpoint (expected {WEIGHTS_FILE} or a folder)")
    latest = path / "checkpoints" / LATEST_FILE
    if latest.is_file():
        name = latest.read_text(encoding="utf-8").strip()
        folder = path / "checkpoints" / name
        if not name or not folder.is_dir():
            raise CheckpointError(f"{latest}: names checkpoint {name!r}, which is missing")
        return folder
    if (path / SPEC_FILE).exists() or (path / WEIGHTS_FILE).exists():
        return path
    raise CheckpointError(f"{path}: not a run folder or checkpoint (no checkpoints/{LATEST_FILE})")


def read_spec(folder: Path) -> dict:
    """Read and check a checkpoint's ``spec.json``."""
    spec = read_json(Path(folder) / SPEC_FILE)
    if spec.get("format") != FORMAT:
        raise CheckpointError(f"{Path(folder) / SPEC_FILE}: not a {FORMAT} spec")
    if spec.get("version") != VERSION:
        raise CheckpointError(
            f"{Path(folder) / SPEC_FILE}: format version {spec.get('version')} is not {VERSION}"
        )
    for key in ("groups", "network"):
        if not isinstance(spec.get(key), dict):
            raise CheckpointError(f"{Path(folder) / SPEC_FILE}: missing {key!r}")
    return spec


def load_policy(path: str | os.PathLike, device: str | torch.device = "cpu") -> Policy:
    """Load a :class:`Policy` from a run folder (its latest checkpoint) or a checkpoint folder.

    Raises :class:`CheckpointError` with a one-line message naming the file when the path is
    missing, the spec or weights are corrupt or truncated, or the weights do not fit the spec.
    """
    folder = resolve_checkpoint(path)
    spec = read_spec(folder)
    try:
        policy = Policy(spec)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{folder / SPEC_FILE}: invalid spec ({error})") from None
    tensors = read_tensors(folder / WEIGHTS_FILE)
    load_weights(policy, tensors, folder / WEIGHTS_FILE)
    return policy.to(device).eval()


def load_weights(policy: Policy, tensors: dict[str, torch.Tensor], source: Path) -> None:
    """Copy ``tensors`` into ``policy``, raising :class:`CheckpointError` on any mismatch."""
    expected = policy.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(
            f"{source}: weights do not match the network (missing {missing[:3]}, extra {extra[:3]})"
        )
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"{source}: tensor {name} has shape {tuple(tensor.shape)}, "
                f"network expects {tuple(expected[name].shape)}"
            )
    policy.load_state_dict(tensors)


def check_compatible(spec: dict, groups: dict[str, dict], source: str = "checkpoint") -> None:
    """Raise :class:`CheckpointError` when a checkpoint's groups or spaces differ from ``groups``.

    ``groups`` maps group name to a spec entry as built by :func:`policies.policy.group_spec`.
    """
    saved = spec["groups"]
    if set(saved) != set(groups):
        raise CheckpointError(
            f"{source}: incompatible groups: checkpoint has {sorted(saved)}, "
            f"environment has {sorted(groups)}"
        )
    for name, want in groups.items():
        have = saved[name]
        for key in ("n_agents", "observation_space", "action_space", "critic_dim"):
            if _normalize(have.get(key)) != _normalize(want.get(key)):
                raise CheckpointError(
                    f"{source}: incompatible {key} for group {name!r}: checkpoint "
                    f"{_describe(have.get(key))}, environment {_describe(want.get(key))}"
                )


def _normalize(value):
    return json.loads(json.dumps(value))


def _describe(value) -> str:
    if isinstance(value, dict) and value.get("type") == "Box":
        return f"Box{tuple(value['shape'])}"
    if isinstance(value, dict) and value.get("type") == "Discrete":
        return f"Discrete({value['n']})"
    return str(value)


__all__ = [
    "CheckpointError",
    "atomic_write_bytes",
    "atomic_write_json",
    "check_compatible",
    "commit_folder",
    "load_policy",
    "load_weights",
    "read_json",
    "read_spec",
    "read_tensors",
    "resolve_checkpoint",
    "write_policy",
]
