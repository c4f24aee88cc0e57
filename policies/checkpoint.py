"""Checkpoint format: a folder with ``policy.safetensors`` (weights) and ``spec.json``.

``spec.json`` holds the format version, each group's spaces, the network config, the scenario id
and its config, the algorithm and the git revision: enough to rebuild the :class:`NetworkPolicy`
and its environment without the training code. A run folder keeps its checkpoints under
``checkpoints/<name>/`` and names the newest in ``checkpoints/LATEST``. Every file is written to a
temporary name and moved into place with ``os.replace``; a checkpoint folder is assembled under a
temporary name and renamed whole, so a killed writer never leaves a half checkpoint behind.

A checkpoint is untrusted data. ``LATEST`` must name a plain folder inside the run folder; files
are opened without following symbolic links and must be regular files of bounded size (read no
further than the bound); ``spec.json`` is checked field by field against
:mod:`policies.spec`'s limits before anything is allocated; weights must have the network's
names, shapes and dtypes and be finite. Every failure is a one-line :class:`CheckpointError`
naming the file. Weights are read with safetensors; nothing a file names is imported or run.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import stat
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from policies.policy import NetworkPolicy
from policies.spec import SpecError, check_spec

FORMAT = "marl-worlds-policy"
VERSION = 1
WEIGHTS_FILE = "policy.safetensors"
SPEC_FILE = "spec.json"
LATEST_FILE = "LATEST"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, truncated or does not fit; the message says which file."""


JSON_LIMIT = 16 << 20  # bytes of spec.json or config.json read at most
LATEST_LIMIT = 256
HEADER_SLACK = 1 << 20  # safetensors header and alignment beyond the tensors' own bytes
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync, then ``os.replace``.

    On failure (disk full, file too large, read-only) the temporary file is removed and the
    ``OSError`` propagates; ``path`` keeps its old content.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON atomically."""
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def _size(count: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count} bytes"


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``, refusing symbolic links, devices, FIFOs and files
    over ``limit`` bytes before reading them (:class:`CheckpointError` naming the file)."""
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: file is missing") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise CheckpointError(f"{path}: is a symbolic link (refused)") from None
        raise CheckpointError(f"{path}: cannot read ({error.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CheckpointError(f"{path}: not a regular file")
        if info.st_size > limit:
            raise CheckpointError(
                f"{path}: too large ({_size(info.st_size)}, at most {_size(limit)} expected)"
            )
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise CheckpointError(f"{path}: too large (more than {_size(limit)})")
        return b"".join(chunks)
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read ({error.strerror})") from None
    finally:
        os.close(fd)


def parse_json(path: Path, data: bytes) -> dict:
    """Parse JSON bytes read from ``path`` into an object (:class:`CheckpointError` if not)."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        first = str(error).splitlines()[0]
        raise CheckpointError(f"{path}: corrupt or truncated JSON ({first})") from None
    except RecursionError:
        raise CheckpointError(f"{path}: corrupt JSON (nested too deeply)") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return value


def read_json(path: Path, limit: int = JSON_LIMIT) -> dict:
    """Read a JSON object of at most ``limit`` bytes, raising :class:`CheckpointError` naming the
    file on any problem."""
    path = Path(path)
    return parse_json(path, read_bounded(path, limit))


def read_tensors(path: Path, limit: int = 1 << 32) -> dict[str, torch.Tensor]:
    """Load a safetensors file of at most ``limit`` bytes, raising :class:`CheckpointError` if it
    is missing, too large or corrupt."""
    path = Path(path)
    data = read_bounded(path, limit)
    try:
        return load_safetensors(data)
    except Exception as error:  # safetensors raises its own error types for bad bytes
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        problem = f"corrupt or truncated safetensors file ({message})"
        raise CheckpointError(f"{path}: {problem}") from None


def policy_tensors(policy: NetworkPolicy) -> dict[str, torch.Tensor]:
    """The policy's parameters and buffers as contiguous CPU tensors."""
    return {k: v.detach().cpu().contiguous() for k, v in policy.state_dict().items()}


def write_policy(folder: Path, policy: NetworkPolicy) -> None:
    """Write ``policy.safetensors`` and ``spec.json`` into ``folder`` (which must exist)."""
    folder = Path(folder)
    atomic_write_bytes(folder / WEIGHTS_FILE, save_safetensors(policy_tensors(policy)))
    spec = dict(policy.spec, format=FORMAT, version=VERSION)
    atomic_write_json(folder / SPEC_FILE, spec)


def fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (where the platform allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit_folder(tmp: Path, final: Path) -> None:
    """Move a fully written temporary checkpoint folder to its final name, replacing any old one.

    An old folder of that name is first renamed to a ``.trash-`` name, so that a writer killed
    at any moment leaves either folder whole (stale ``.tmp-``/``.trash-`` names are removed by
    the next writer).
    """
    tmp, final = Path(tmp), Path(final)
    trash = final.with_name(f".trash-{final.name}")
    if final.exists():
        if trash.exists():
            shutil.rmtree(trash)
        os.replace(final, trash)
    os.replace(tmp, final)
    fsync_folder(final.parent)
    if trash.exists():
        shutil.rmtree(trash, ignore_errors=True)


def checkpoint_name(text: str, source: Path) -> str:
    """Check a checkpoint name read from a file: a plain folder name, never a path."""
    if not _NAME.fullmatch(text) or ".." in text:
        raise CheckpointError(f"{source}: names {text[:40]!r}, which is not a checkpoint name")
    return text


def read_latest(root: Path) -> str | None:
    """The checkpoint name in ``root/LATEST`` (None when there is no LATEST file)."""
    latest = Path(root) / LATEST_FILE
    if not latest.exists() and not latest.is_symlink():
        return None
    data = read_bounded(latest, LATEST_LIMIT)
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise CheckpointError(f"{latest}: not a checkpoint name (binary data)") from None
    return checkpoint_name(text, latest)


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` resolves (symbolic links followed) to ``root`` or below it."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
    except ValueError:
        return False
    return True


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The checkpoint folder that ``run_dir/checkpoints/LATEST`` names (None without LATEST).

    ``checkpoints`` and the named folder must stay inside the run folder (no ``..``, absolute
    path, or symbolic link pointing out), checked before anything there is read.
    """
    run_dir = Path(run_dir)
    root = run_dir / "checkpoints"
    if not root.is_dir():
        return None
    if not inside(root, run_dir):
        raise CheckpointError(f"{root}: points outside the run folder {run_dir} (refused)")
    name = read_latest(root)
    if name is None:
        return None
    folder = root / name
    if not folder.is_dir():
        raise CheckpointError(f"{root / LATEST_FILE}: names checkpoint {name!r}, which is missing")
    if folder.is_symlink() or not inside(folder, root):
        raise CheckpointError(f"{folder}: points outside the run folder {run_dir} (refused)")
    return folder


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """Turn a run folder, a checkpoint folder or a weights file into a checkpoint folder
    (inside a run folder, the one ``checkpoints/LATEST`` names: see :func:`latest_checkpoint`)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: does not exist")
    if path.is_file():
        if path.name == WEIGHTS_FILE or path.name == SPEC_FILE:
            return path.parent
        raise CheckpointError(f"{path}: not a checkpoint (expected {WEIGHTS_FILE} or a folder)")
    folder = latest_checkpoint(path)
    if folder is not None:
        return folder
    if (path / SPEC_FILE).exists() or (path / WEIGHTS_FILE).exists():
        return path
    raise CheckpointError(f"{path}: not a run folder or checkpoint (no checkpoints/{LATEST_FILE})")


def read_spec(folder: Path) -> dict:
    """Read and check a checkpoint's ``spec.json`` (bounded read, every size checked)."""
    path = Path(folder) / SPEC_FILE
    spec = read_json(path)
    if spec.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} spec")
    if spec.get("version") != VERSION:
        raise CheckpointError(f"{path}: format version {spec.get('version')!r} is not {VERSION}")
    try:
        check_spec(spec)
    except SpecError as error:
        raise CheckpointError(f"{path}: {error}") from None
    return spec


def build_policy(spec: dict, source: Path) -> NetworkPolicy:
    """A :class:`NetworkPolicy` from a checked spec (:class:`CheckpointError` if it cannot be
    built)."""
    try:
        return NetworkPolicy(spec)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{source}: invalid spec ({first})") from None


def weights_limit(policy: NetworkPolicy) -> int:
    """The largest ``policy.safetensors`` that can hold ``policy``'s weights."""
    state = policy.state_dict()
    data = sum(t.numel() * t.element_size() for t in state.values())
    return data + HEADER_SLACK + 256 * len(state)


def load_policy(path: str | os.PathLike, device: str | torch.device = "cpu") -> NetworkPolicy:
    """Load a :class:`NetworkPolicy` from a run folder (its latest checkpoint) or a checkpoint
    folder.

    Raises :class:`CheckpointError` with a one-line message naming the file when the path is
    missing, the spec or weights are corrupt, truncated, oversized, hold NaN or infinity, or do
    not fit the spec. Nothing named by the files is imported.
    """
    folder = resolve_checkpoint(path)
    spec = read_spec(folder)
    policy = build_policy(spec, folder / SPEC_FILE)
    weights = folder / WEIGHTS_FILE
    load_weights(policy, read_tensors(weights, weights_limit(policy)), weights)
    return policy.to(device).eval()


def load_weights(policy: NetworkPolicy, tensors: dict[str, torch.Tensor], source: Path) -> None:
    """Copy ``tensors`` into ``policy``, raising :class:`CheckpointError` on any mismatch (names,
    shapes, dtypes) or on NaN or infinite values."""
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
        if tensor.dtype != expected[name].dtype:
            raise CheckpointError(
                f"{source}: tensor {name} has dtype {tensor.dtype}, network expects "
                f"{expected[name].dtype}"
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{source}: tensor {name} holds NaN or infinite values")
    policy.load_state_dict(tensors)


def check_compatible(spec: dict, groups: dict[str, dict], source: str = "checkpoint") -> None:
    """Raise :class:`CheckpointError` when a checkpoint's groups or spaces differ from ``groups``.

    ``groups`` maps group name to a spec entry as built by :func:`policies.policy.group_spec`.
    The entity sets count only where the network encodes them.
    """
    saved = spec["groups"]
    keys = ["n_agents", "observation_space", "action_space", "critic_dim"]
    if spec["network"].get("encoder", "none") != "none":
        keys.append("sets")
    if set(saved) != set(groups):
        raise CheckpointError(
            f"{source}: incompatible groups: checkpoint has {sorted(saved)}, "
            f"environment has {sorted(groups)}"
        )
    for name, want in groups.items():
        have = saved[name]
        for key in keys:
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
    "build_policy",
    "check_compatible",
    "commit_folder",
    "latest_checkpoint",
    "load_policy",
    "load_weights",
    "read_bounded",
    "read_json",
    "read_latest",
    "read_spec",
    "read_tensors",
    "resolve_checkpoint",
    "weights_limit",
    "write_policy",
]
