"""Resuming a run: its saved config, and which fields may change (``marl train --resume``).

A resumed run takes the run's ``config.json``. Fields given again with their saved value are
accepted; ``RESUME_SETTABLE`` may change (``total_steps`` extends or shortens the run); any other
change is refused in one line naming the field. A ``pz:`` scenario of the saved config is imported
only when the command names the same id (or with ``--allow-import``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from marl.config import TrainConfig, coerce, config_from_dict
from marl.envs import PETTINGZOO_PREFIX
from marl.validation import ConfigError
from policies import CheckpointError
from policies.checkpoint import read_json

RESUME_SETTABLE = {
    "device",
    "progress",
    "tensorboard",
    "torch_threads",
    "total_steps",
    "ray",
    "ray_address",
}
CONFIG_LIMIT = 1 << 20  # bytes of config.json read at most
# Fields of configs written before the encoder read the observation layout: dropped while the
# encoder is off (their defaults then), refused otherwise.
LEGACY_FIELDS = ("knn_start", "knn_count", "knn_features")


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
    for key in LEGACY_FIELDS:
        if key in saved and saved.get("encoder", "none") == "none":
            saved.pop(key)
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
