"""The training run's settings: :class:`TrainConfig`, and its conversion from and to plain data.

Every field declares its default, its one-line help (``marl train --help`` is generated from it,
:mod:`marl.arguments`) and its valid values; a config is checked when it is built and a bad value
raises :class:`ConfigError` naming the field. The network's settings are fields here too
(:meth:`TrainConfig.net_config` turns them into the ``policies.NetConfig`` a checkpoint stores).
A config file (JSON, or YAML read with ``yaml.safe_load``) holds the same field names; ``env``
holds scenario overrides and ``fixed`` the groups that play a fixed policy. Unknown fields
anywhere raise :class:`ConfigError` naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marl.validation import ConfigError, check_fields
from policies import NetConfig
from policies.spec import (
    ACTIVATIONS,
    CONTINUOUS,
    ENCODERS,
    MAX_GROUPS,
    MAX_LAYERS,
    MAX_NAME,
    MAX_WIDTH,
)
from scenarios.fields import Range, param


def _opt(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    items: Range | None = None,
    length: tuple[int, int] | None = None,
    pattern: str | None = None,
    **bounds: Any,
):
    """A config field: default, one-line help (the CLI's), and its valid values declared with it:
    ``low``/``high``/``low_open``/``high_open`` (a :class:`scenarios.fields.Range`; floats are
    always finite), ``choices`` or a regular-expression ``pattern`` for strings, and
    ``items``/``length`` for tuples of integers."""
    metadata: dict[str, Any] = {"help": help}
    if choices is not None:
        metadata["choices"] = choices
    if pattern is not None:
        metadata["pattern"] = pattern
    if items is not None:
        metadata.update(items=items, length=length or (1, MAX_LAYERS))
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return param(default, **bounds, **metadata)


@dataclass
class TrainConfig:
    """Settings of one training run (saved as ``config.json`` in the run folder).

    Every field is checked when the config is built (type, range, choices):
    :class:`marl.validation.ConfigError` names the first bad field.
    """

    env_id: str = _opt(
        "swarm/spread-v0",
        "scenario id, or pz:MODULE for a PettingZoo ParallelEnv",
        pattern=r"[\w./:-]{1,200}",
    )
    env: dict = _opt({}, "scenario config overrides, e.g. {'n_agents': 5}")
    algo: str = _opt(
        "mappo",
        "mappo (critic reads the global state) or ippo (own observation)",
        choices=("mappo", "ippo"),
    )
    total_steps: int = _opt(
        500_000,
        "agent-steps to train: vector steps x worlds x agents (rounded up to whole updates)",
        low=1,
        high=10**12,
    )
    num_envs: int = _opt(
        64, "worlds simulated in parallel (the vector env's batch)", low=1, high=4096
    )
    num_steps: int = _opt(64, "vector steps per rollout (per update)", low=1, high=4096)
    seed: int = _opt(0, "seed of torch, numpy and the environments", low=0, high=2**32 - 1)
    device: str = _opt(
        "auto",
        "where the update runs: auto, cpu, cuda or cuda:N (rollouts stay on CPU)",
        pattern=r"auto|cpu|cuda(:\d{1,3})?",
    )
    torch_threads: int = _opt(
        1, "torch CPU threads (1 is fastest on small machines)", low=1, high=256
    )
    num_workers: int = _opt(
        0,
        "rollout workers, each stepping an equal share of the num_envs worlds with its own CPU "
        "copy of the policy (0: the learner's process steps them all); on Ray with --ray, "
        "else in this process (the same results)",
        low=0,
        high=1024,
    )
    ray: bool = _opt(False, "run the rollout workers as Ray actors (needs num_workers >= 1)")
    async_rollouts: bool = _opt(
        False,
        "workers collect the next rollout while the learner updates on this one, with the "
        "weights from before the update (a policy lag of exactly one update; needs num_workers)",
    )
    ray_address: str = _opt(
        "",
        "Ray cluster to join (empty: start a local Ray instance on 127.0.0.1, dashboard off)",
        pattern=r"[\w.:/\[\]-]{0,300}",
    )
    lr: float = _opt(5e-3, "Adam learning rate", low=0, high=1, low_open=True)
    anneal_lr: bool = _opt(
        True,
        "anneal the learning rate linearly to zero at total_steps (a run extended with --resume "
        "--steps follows the new total's line from where it stopped)",
    )
    gamma: float = _opt(0.95, "discount factor", low=0, high=1)
    gae_lambda: float = _opt(0.95, "GAE lambda", low=0, high=1)
    epochs: int = _opt(5, "passes over each rollout", low=1, high=100)
    minibatches: int = _opt(4, "minibatches per epoch (per group)", low=1, high=4096)
    clip_coef: float = _opt(0.2, "PPO ratio clip", low=0, high=10, low_open=True)
    clip_value_loss: bool = _opt(True, "clip the value loss around the old values")
    value_clip_coef: float = _opt(
        0.2, "value clip range (in normalized value units)", low=0, high=1000, low_open=True
    )
    ent_coef: float = _opt(0.003, "entropy bonus coefficient", low=0, high=10)
    vf_coef: float = _opt(0.5, "value loss coefficient", low=0, high=100)
    max_grad_norm: float = _opt(
        0.5, "gradient norm clip, applied to actor and critic apart (0: off)", low=0, high=1e6
    )
    norm_adv: bool = _opt(True, "normalize advantages over the batch")
    value_norm: bool = _opt(True, "normalize value targets with running mean and std")
    target_kl: float = _opt(
        0.0, "stop the epochs early above this approximate KL (0: never)", low=0, high=100
    )
    adv_filter: float = _opt(
        0.0,
        "drop samples with |adv| < this x running max |adv| (0: off)",
        low=0,
        high=1,
        high_open=True,
    )
    adv_filter_decay: float = _opt(
        0.99, "per-update decay of the running max |advantage|", low=0, high=1
    )
    hidden_sizes: tuple = _opt(
        (64, 64), "hidden layer sizes of actor and critic MLPs", items=Range(1, MAX_WIDTH)
    )
    activation: str = _opt(
        "tanh", "hidden activation: tanh, relu, elu or silu", choices=ACTIVATIONS
    )
    agent_id: bool = _opt(False, "append a one-hot agent id to actor and critic inputs")
    encoder: str = _opt(
        "none",
        "encoder of the entity sets that the scenario's observation layout declares (e.g. the "
        "k nearest neighbours; each set pooled by its own encoder): none, deepsets or attention",
        choices=ENCODERS,
    )
    encoder_dim: int = _opt(32, "width of each entity-set encoder", low=1, high=MAX_WIDTH)
    continuous: str = _opt(
        "squash", "continuous actions: squash (tanh) or clip to the Box", choices=CONTINUOUS
    )
    log_std_init: float = _opt(-0.5, "initial log std of continuous actions", low=-20, high=20)
    recurrent: int = _opt(
        0, "GRU state size of the actor (0: feed-forward actor)", low=0, high=MAX_WIDTH
    )
    fixed: dict = _opt(
        {},
        "groups that play a fixed policy instead of learning: GROUP=scripted (the scenario's "
        "baseline), GROUP=random or GROUP=RUN_DIR (a trained run's policy for that group, "
        "greedy); repeatable",
    )
    run_dir: str = _opt("", "run folder (default: runs/<scenario>_<algo>_s<seed>_<time>)")
    checkpoint_every: int = _opt(
        10, "updates between checkpoints (envs reseed at each)", low=1, high=10_000
    )
    keep_checkpoints: int = _opt(2, "checkpoints kept in the run folder", low=1, high=1000)
    init_from: str = _opt("", "start from this run folder or checkpoint's weights")
    tensorboard: bool = _opt(True, "write TensorBoard logs to RUN_DIR/tb")
    progress: bool = _opt(True, "show a progress bar")
    compile: bool = _opt(False, "torch.compile the loss (optional speed-up)")

    def __post_init__(self) -> None:
        check_fields(self)
        if len(self.fixed) > MAX_GROUPS:
            raise ConfigError(f"config field 'fixed': at most {MAX_GROUPS} groups")
        for group, source in self.fixed.items():
            if not re.fullmatch(rf"\w{{1,{MAX_NAME}}}", group):
                raise ConfigError(f"config field 'fixed': {group[:60]!r} is not a group name")
            if not isinstance(source, str) or not 0 < len(source) <= 4096:
                raise ConfigError(
                    f"config field 'fixed': group {group!r} takes scripted, random or a run "
                    f"folder, got {str(source)[:60]!r}"
                )
        if self.async_rollouts and self.num_workers < 1:
            raise ConfigError(
                "config field 'async_rollouts': rollouts overlap the update on workers; set "
                "num_workers >= 1"
            )
        if self.ray and self.num_workers < 1:
            raise ConfigError("config field 'ray': Ray runs rollout workers; set num_workers >= 1")
        if self.num_workers and self.num_envs % self.num_workers:
            raise ConfigError(
                f"config field 'num_workers': {self.num_workers} workers cannot share "
                f"num_envs {self.num_envs} worlds equally (use a divisor of num_envs)"
            )

    def net_config(self) -> NetConfig:
        """The network settings of this run, as a checkpoint's spec stores them."""
        names = [spec.name for spec in dataclasses.fields(NetConfig)]
        return NetConfig(**{name: getattr(self, name) for name in names})


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def parse_bool(text: str) -> bool:
    lowered = str(text).lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_int(value: Any) -> int:
    """An integer from an int, an integral float, or text such as ``2_000_000`` or ``1e6``."""
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            return int(text)
        except ValueError:
            value = float(text)
    if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    raise ValueError("expected an integer")


def coerce(name: str, value: Any) -> Any:
    """Convert ``value`` (from a file or the command line) to field ``name``'s type."""
    if name not in FIELDS:
        raise ConfigError(f"unknown config field {name!r}")
    default = FIELDS[name].default
    if default is dataclasses.MISSING:
        default = FIELDS[name].default_factory()
    try:
        if isinstance(default, bool):
            return value if isinstance(value, bool) else parse_bool(value)
        if isinstance(default, int):
            return parse_int(value)
        if isinstance(default, float):
            if isinstance(value, bool):
                raise ValueError("expected a number, got a boolean")
            return float(value)
        if isinstance(default, tuple):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(parse_int(v) for v in items if str(v).strip())
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ValueError("expected a mapping")
            return dict(value)
        if not isinstance(value, str):
            raise ValueError("expected a string")
        return value
    except (TypeError, ValueError, OverflowError) as error:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise ConfigError(f"config field {name!r}: bad value {shown} ({error})") from None


def config_from_dict(data: dict[str, Any], base: TrainConfig | None = None) -> TrainConfig:
    """Build a config from a plain dict, starting from ``base``; unknown keys raise."""
    values = dataclasses.asdict(base) if base is not None else {}
    for key, value in data.items():
        values[key] = coerce(key, value)
    return TrainConfig(**{k: coerce(k, v) for k, v in values.items()})


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """JSON-ready dict of the config."""
    data = dataclasses.asdict(cfg)
    data["hidden_sizes"] = list(cfg.hidden_sizes)
    return data


CONFIG_FILE_LIMIT = 1 << 20  # bytes: a config file is a few hundred


def read_config_data(path: str) -> dict[str, Any]:
    """A JSON or YAML (``yaml.safe_load``) config file's mapping, unchecked (ConfigError when the
    file is missing, over a MiB, unparsable or not a mapping)."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {path}: does not exist")
    if file.stat().st_size > CONFIG_FILE_LIMIT:
        raise ConfigError(f"config file {path}: larger than {CONFIG_FILE_LIMIT} bytes")
    text = file.read_text(encoding="utf-8", errors="replace")
    try:
        if file.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"config file {path}: cannot parse ({first})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of config fields")
    return data


def load_config_file(path: str) -> dict[str, Any]:
    """Read a JSON or YAML (safe_load) config file of TrainConfig fields into a dict."""
    data = read_config_data(path)
    for key in data:
        if key not in FIELDS:
            raise ConfigError(f"config file {path}: unknown config field {key!r}")
    return data
