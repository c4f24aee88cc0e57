"""``marl scenarios``: the registry, with each scenario's groups, agent counts and spaces.

``marl scenarios`` lists every scenario; name ids to list only those. ``--config`` adds each
config field with its value, valid range and doc line; ``--obs`` each group's observation layout
(offset, size and meaning of every block); ``-e NAME=VALUE`` shows them for a changed config.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import scenarios
from scenarios.fields import field_docs, field_range
from scenarios.registry import observation_tables
from scenarios.replay import parse_overrides


def config_lines(cfg) -> list[str]:
    """One line per config field: ``name = value  (range)  doc``."""
    docs = field_docs(type(cfg))
    rows = []
    for spec in dataclasses.fields(cfg):
        bounds = field_range(spec)
        rows.append(
            (
                f"{spec.name} = {getattr(cfg, spec.name)!r}",
                bounds.describe() if bounds is not None else "",
                docs.get(spec.name, ""),
            )
        )
    width = max(len(row[0]) for row in rows)
    range_width = max(len(row[1]) for row in rows)
    return [f"{a:<{width}}  {b:<{range_width}}  {c}".rstrip() for a, b, c in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="marl scenarios", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("ids", nargs="*", metavar="ID", help="scenario ids (default: all)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--config", action="store_true", help="list each config field")
    parser.add_argument("--obs", action="store_true", help="show each group's observation layout")
    parser.add_argument(
        "-e", "--env", action="append", default=[], metavar="NAME=VALUE", help="config override"
    )
    args = parser.parse_args(argv)
    try:
        overrides = parse_overrides(args.env)
        ids = args.ids or scenarios.registry_ids()
        entries = [scenarios.describe(scenario_id, **overrides) for scenario_id in ids]
    except (KeyError, ValueError) as error:
        print(f"marl scenarios: {error}", file=sys.stderr)
        return 2
    if args.json:
        for entry in entries:
            entry["config"] = dataclasses.asdict(entry["config"])
            entry.pop("scenario")
        print(json.dumps(entries, indent=2))
        return 0
    for entry in entries:
        print(f"{entry['id']}: {entry['summary']}")
        for group, spec in entry["groups"].items():
            print(f"  group {group}: {spec['n_agents']} agents")
            print(f"    observation {spec['observation_space']}")
            print(f"    action      {spec['action_space']}")
        print(f"  state size {entry['state_size']}")
        if args.obs:
            print("  observation layout:")
            print(
                "\n".join(
                    "    " + line for line in observation_tables(entry["scenario"]).split("\n")
                )
            )
        if args.config:
            print("  config:")
            print("\n".join("    " + line for line in config_lines(entry["config"])))
    return 0
