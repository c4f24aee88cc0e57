"""Config loading and the argparse CLI generated from :class:`marl.ppo.TrainConfig`.

Every dataclass field becomes ``--field-name VALUE`` (underscores also accepted); booleans take
true/false; tuples take comma-separated values; scenario overrides are ``-e name=value``
(repeatable; the value is parsed as JSON when it can be, else kept as a string). A config file
(JSON, or YAML read with ``yaml.safe_load``) holds the same field names; ``env`` holds overrides.
Unknown fields anywhere raise :class:`ConfigError` naming the field.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import numbers
from pathlib import Path
from typing import Any

from marl.ppo import TrainConfig
from marl.validation import ConfigError
from scenarios.fields import field_range
from scenarios.replay import parse_overrides

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


def load_config_file(path: str) -> dict[str, Any]:
    """Read a JSON or YAML (safe_load) config file into a dict."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {path}: does not exist")
    text = file.read_text(encoding="utf-8")
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
    for key in data:
        if key not in FIELDS:
            raise ConfigError(f"config file {path}: unknown config field {key!r}")
    return data


def allowed(spec: dataclasses.Field) -> str:
    """``; in [1, 4096]`` for a field whose range is declared (shown in ``--help``)."""
    bounds = field_range(spec)
    if bounds is not None and (bounds.low is not None or bounds.high is not None):
        return f"; {bounds.describe()}"
    if "items" in spec.metadata:
        return f"; each {spec.metadata['items'].describe()}"
    return ""


def build_parser() -> argparse.ArgumentParser:
    """The ``marl train`` parser, one option per config field with its doc line as help."""
    parser = argparse.ArgumentParser(
        prog="marl train",
        description="Train shared-parameter MAPPO/IPPO on a scenario (or pz:MODULE for any "
        "PettingZoo ParallelEnv, e.g. pz:mpe2.simple_spread_v3). Steps count agent-steps.",
        epilog="Scenario overrides: -e NAME=VALUE (repeatable), e.g. -e n_agents=5. "
        "Precedence: defaults < --config file < command line. --resume RUN_DIR continues a run "
        "from its last checkpoint with the saved config: fields given again must keep their "
        "saved value, except device, progress, tensorboard, torch_threads and --steps (which "
        "extends the run; with --anneal-lr the rate then follows the new total's line from the "
        "update where the run stopped, so it steps up there and reaches zero at the new end). "
        "Ctrl-C or SIGTERM saves a checkpoint at the end of the current update and exits "
        "(130/143); a second one exits sooner.",
    )
    parser.add_argument("scenario", nargs="?", help="scenario id (not needed with --resume)")
    parser.add_argument("--config", help="JSON or YAML file of config fields")
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue this run from its last checkpoint (or from the start if it has none); "
        "--steps N extends it to N agent-steps",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="a new run may replace the run in RUN_DIR (its config.json, checkpoints/, tb/, init/)",
    )
    parser.add_argument(
        "--allow-import",
        action="store_true",
        help="with --resume: import the pz: module that the run's config.json names, without "
        "naming it on the command line",
    )
    parser.add_argument(
        "-e", "--env", action="append", default=[], metavar="NAME=VALUE", help="scenario override"
    )
    aliases = {"total_steps": ["--steps"]}
    for name, spec in FIELDS.items():
        if name in ("env_id", "env"):
            continue
        flags = [f"--{name.replace('_', '-')}"]
        if "_" in name:
            flags.append(f"--{name}")
        flags += aliases.get(name, [])
        default = spec.default
        parser.add_argument(
            *flags,
            dest=name,
            default=None,
            metavar=type(default).__name__.upper() if default is not None else "VALUE",
            help=f"{spec.metadata['help']} (default: {default}{allowed(spec)})",
        )
    return parser


def parse_args(
    argv: list[str],
) -> tuple[TrainConfig | None, str | None, dict[str, Any], dict[str, bool]]:
    """Parse ``marl train`` arguments: the config (None with ``--resume``: the run's saved one
    applies), the run folder to resume, the fields given, and the flags (overwrite,
    allow_import)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        raise ConfigError(f"unknown config field {unknown[0]!r} (see --help)")
    data: dict[str, Any] = load_config_file(args.config) if args.config else {}
    env = dict(data.get("env", {}) or {})
    try:
        env.update(parse_overrides(args.env))
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if env:
        data["env"] = env
    for name in FIELDS:
        value = getattr(args, name, None)
        if value is not None and name not in ("env_id", "env"):
            data[name] = value
    if args.scenario:
        data["env_id"] = args.scenario
    elif not args.resume and "env_id" not in data:
        raise ConfigError("missing SCENARIO (e.g. swarm/spread-v0 or pz:mpe2.simple_spread_v3)")
    flags = {"overwrite": args.overwrite, "allow_import": args.allow_import}
    if args.resume is not None:
        if args.overwrite:
            raise ConfigError("--overwrite starts a new run; it cannot go with --resume")
        for key, value in data.items():
            coerce(key, value)  # unknown fields and bad values fail here, in one line
        return None, args.resume, data, flags
    return config_from_dict(data), args.resume, data, flags
