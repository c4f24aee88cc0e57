"""The scenario registry: ids like ``"swarm/spread-v0"`` mapped to Scenario classes.

``register`` is a class decorator; ``make`` gives a PettingZoo ParallelEnv over one world and
``make_vec`` the array-native vector env. Scenario modules are imported when the registry is first
used, so that ids resolve without importing every family by hand.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import re
import sys
import textwrap
from typing import Any

from scenarios.core import Scenario, build_config

_REGISTRY: dict[str, type[Scenario]] = {}
_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*/[a-z][a-z0-9_-]*-v\d+$")


class UnknownScenarioError(KeyError):
    """No scenario is registered under that id; the message lists close matches."""

    def __str__(self) -> str:
        return str(self.args[0])


def register(scenario_id: str):
    """Class decorator: register a Scenario subclass under ``family/name-vN``."""
    if not _ID_PATTERN.match(scenario_id):
        raise ValueError(f"scenario id must look like 'family/name-v0', got {scenario_id!r}")

    def decorate(cls: type[Scenario]) -> type[Scenario]:
        cls.scenario_id = scenario_id
        if cls.__module__ == "__main__":
            # Run as a script: the registry imports the module under its real name instead.
            return cls
        if scenario_id in _REGISTRY and _REGISTRY[scenario_id] is not cls:
            raise ValueError(f"scenario id {scenario_id!r} is already registered")
        cls.scenario_id = scenario_id
        _REGISTRY[scenario_id] = cls
        return cls

    return decorate


def observation_tables(scenario: Scenario) -> str:
    """The observation layout of each group as text tables (``ObsLayout.table``), one per
    distinct layout, each headed by the groups it belongs to when there are several groups."""
    groups = scenario.groups()
    tables: dict[str, list[str]] = {}
    for name, spec in groups.items():
        if spec.layout is not None:
            tables.setdefault(spec.layout.table(), []).append(name)
    if len(groups) == 1:
        return "\n".join(tables)
    return "\n".join(f"{', '.join(names)}:\n{table}" for table, names in tables.items())


def document(cls: type[Scenario]) -> type[Scenario]:
    """Write the default config's observation tables into the scenario module's docstring, at
    its ``{observation}`` placeholder: the documentation page shows the layout the code declares,
    never a copy typed by hand. Call it at the end of the scenario's module."""
    module = sys.modules[cls.__module__]
    if module.__doc__ and "{observation}" in module.__doc__:
        table = observation_tables(cls(cls.config_class()))
        module.__doc__ = module.__doc__.replace("{observation}", textwrap.indent(table, "    "))
    return cls


def families() -> list[str]:
    """The scenario families: every subpackage of ``scenarios`` (a folder with an
    ``__init__.py``), found from the folder, so a new family needs no list to edit."""
    import scenarios

    return sorted(m.name for m in pkgutil.iter_modules(scenarios.__path__) if m.ispkg)


def _load_families(only: str | None = None) -> None:
    """Import every family's modules (each registers its scenarios), or only the family
    ``only`` where it is one: looking up ``swarm/spread-v0`` does not import the warehouse
    planners and scipy with them (a quarter of a second at start-up)."""
    for family in [only] if only in families() else families():
        package = importlib.import_module(f"scenarios.{family}")
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"scenarios.{family}.{module.name}")


def registry_ids() -> list[str]:
    """Every registered scenario id, sorted."""
    _load_families()
    return sorted(_REGISTRY)


def scenario_class(scenario_id: str) -> type[Scenario]:
    """The Scenario class registered as ``scenario_id``; close matches listed when unknown."""
    if scenario_id not in _REGISTRY and isinstance(scenario_id, str) and "/" in scenario_id:
        _load_families(only=scenario_id.split("/", 1)[0])
    if scenario_id not in _REGISTRY and scenario_id not in registry_ids():
        ids = registry_ids()
        close = difflib.get_close_matches(str(scenario_id), ids, n=3, cutoff=0.75)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise UnknownScenarioError(
            f"unknown scenario {scenario_id!r}{hint} (registered: {', '.join(ids)})"
        )
    return _REGISTRY[scenario_id]


def make_scenario(scenario_id: str, **config: Any) -> Scenario:
    """The scenario object with its validated config (no world yet)."""
    cls = scenario_class(scenario_id)
    return cls(build_config(cls.config_class, scenario_id, config))


def make_vec(scenario_id: str, num_envs: int = 1, seed: int | None = None, **config: Any):
    """Array-native vector env of ``num_envs`` worlds; ``config`` overrides config fields."""
    from scenarios.vector import VectorEnv

    return VectorEnv(make_scenario(scenario_id, **config), num_envs=num_envs, seed=seed)


def make(scenario_id: str, render_mode: str | None = None, **config: Any):
    """PettingZoo ParallelEnv over one world; AEC via ``pettingzoo.utils.parallel_to_aec``."""
    from scenarios.pettingzoo_env import ParallelScenarioEnv

    return ParallelScenarioEnv(make_scenario(scenario_id, **config), render_mode=render_mode)


def make_aec(scenario_id: str, render_mode: str | None = None, **config: Any):
    """PettingZoo AEC env over one world (``parallel_to_aec`` of ``make``)."""
    from pettingzoo.utils import parallel_to_aec

    return parallel_to_aec(make(scenario_id, render_mode=render_mode, **config))


def describe(scenario_id: str, **config: Any) -> dict[str, Any]:
    """Groups, agent counts, spaces, config (defaults unless overridden) and the observation
    layouts of a scenario, for listings (``marl scenarios``)."""
    scenario = make_scenario(scenario_id, **config)
    return {
        "id": scenario_id,
        "scenario": scenario,
        "groups": {
            name: {
                "n_agents": spec.n_agents,
                "observation_space": str(spec.observation_space),
                "action_space": str(spec.action_space),
                "layout": spec.layout.to_dict() if spec.layout is not None else None,
            }
            for name, spec in scenario.groups().items()
        },
        "state_size": scenario.state_size(),
        "config": scenario.cfg,
        "summary": (scenario.__class__.__module__ and _summary(scenario)),
    }


def _summary(scenario: Scenario) -> str:
    module = importlib.import_module(type(scenario).__module__)
    paragraph = (module.__doc__ or "").strip().split("\n\n")[0]
    first = " ".join(line.strip() for line in paragraph.splitlines())
    return first.split(": ", 1)[1] if first.startswith(scenario.scenario_id + ":") else first
