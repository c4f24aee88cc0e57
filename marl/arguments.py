"""The ``marl train`` command line, generated from :class:`marl.config.TrainConfig`.

Every dataclass field becomes ``--field-name VALUE`` (underscores also accepted) with its doc line
and declared range as help; booleans take true/false; tuples take comma-separated values; scenario
overrides are ``-e name=value`` and fixed groups ``--fixed group=policy`` (both repeatable; an
override's value is parsed as JSON when it can be, else kept as a string). Precedence: defaults <
``--config`` file < command line.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from marl.config import FIELDS, TrainConfig, coerce, config_from_dict, load_config_file
from marl.validation import ConfigError
from scenarios.fields import field_range
from scenarios.replay import parse_overrides

MAPPINGS = ("env", "fixed")  # fields given as repeatable NAME=VALUE options
FLAGS = ("ray",)  # booleans given as bare flags (--ray)
EPILOG = (
    "Scenario overrides: -e NAME=VALUE (repeatable), e.g. -e n_agents=5. "
    "Precedence: defaults < --config file < command line. --resume RUN_DIR continues a run "
    "from its last checkpoint with the saved config: fields given again must keep their "
    "saved value, except device, progress, tensorboard, torch_threads, ray, ray_address and "
    "--steps (which "
    "extends the run; with --anneal-lr the rate then follows the new total's line from the "
    "update where the run stopped, so it steps up there and reaches zero at the new end). "
    "Ctrl-C or SIGTERM saves a checkpoint at the end of the current update and exits "
    "(130/143); a second one exits sooner."
)


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
        epilog=EPILOG,
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
        help="a new run may replace the run in RUN_DIR (its config.json, checkpoints/, tb/, "
        "init/, fixed/)",
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
    parser.add_argument(
        "--fixed",
        action="append",
        default=[],
        metavar="GROUP=POLICY",
        help=f"{FIELDS['fixed'].metadata['help']}, e.g. --fixed evader=scripted; the run trains "
        "the other groups and its config records the assignment",
    )
    ray_help = FIELDS["ray"].metadata["help"]  # --ray / --no-ray (default: unset)
    parser.add_argument("--ray", action=argparse.BooleanOptionalAction, help=ray_help)
    aliases = {"total_steps": ["--steps"]}
    for name, spec in FIELDS.items():
        if name in ("env_id", *MAPPINGS, *FLAGS):
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


def env_overrides(items: list[str]) -> dict[str, Any]:
    """``-e NAME=VALUE`` options as a dict (values parsed as JSON where they can be)."""
    try:
        return parse_overrides(items)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def fixed_groups(items: list[str]) -> dict[str, str]:
    """``--fixed GROUP=POLICY`` options as a dict of group to policy (kept as text)."""
    fixed = {}
    for item in items:
        group, sign, source = item.partition("=")
        if not sign or not group.strip() or not source.strip():
            raise ConfigError(
                f"config field 'fixed': expected GROUP=POLICY (scripted, random or a run "
                f"folder), got {item[:60]!r}"
            )
        fixed[group.strip()] = source.strip()
    return fixed


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
    for name, given in (("env", env_overrides(args.env)), ("fixed", fixed_groups(args.fixed))):
        mapping = {**(data.get(name) or {}), **given}
        if mapping:
            data[name] = mapping
    for name in FIELDS:
        value = getattr(args, name, None)
        if value is not None and name not in ("env_id", *MAPPINGS):
            data[name] = value
    if data.get("ray_address") and "ray" not in data:
        data["ray"] = True  # --ray-address ADDR alone: the workers run on that cluster
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
