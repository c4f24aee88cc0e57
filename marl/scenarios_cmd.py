"""``marl scenarios``: the registry, with each scenario's groups, agent counts and spaces."""

from __future__ import annotations

import argparse
import dataclasses
import json

import scenarios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="marl scenarios", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--config", action="store_true", help="also list each config field")
    args = parser.parse_args(argv)
    entries = [scenarios.describe(scenario_id) for scenario_id in scenarios.registry_ids()]
    if args.json:
        for entry in entries:
            entry["config"] = dataclasses.asdict(entry["config"])
        print(json.dumps(entries, indent=2))
        return 0
    for entry in entries:
        print(f"{entry['id']}: {entry['summary']}")
        for group, spec in entry["groups"].items():
            print(f"  group {group}: {spec['n_agents']} agents")
            print(f"    observation {spec['observation_space']}")
            print(f"    action      {spec['action_space']}")
        print(f"  state size {entry['state_size']}")
        if args.config:
            for field in dataclasses.fields(entry["config"]):
                print(f"    {field.name} = {getattr(entry['config'], field.name)!r}")
    return 0
