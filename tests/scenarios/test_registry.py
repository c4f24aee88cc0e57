"""The registry matches the scenarios folder, and ids and configs fail with clear messages."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import scenarios

ROOT = Path(__file__).resolve().parents[2] / "scenarios"


def registered_in_folder() -> dict[str, str]:
    """Scenario ids found by reading every family module's @register decorators."""
    found = {}
    for folder in sorted(p.parent for p in ROOT.glob("*/__init__.py")):
        family = folder.name
        for path in sorted(folder.rglob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    for decorator in node.decorator_list:
                        if (
                            isinstance(decorator, ast.Call)
                            and getattr(decorator.func, "id", None) == "register"
                        ):
                            found[decorator.args[0].value] = f"{family}/{path.name}"
    return found


def test_folder_and_registry_agree():
    in_folder = registered_in_folder()
    assert in_folder, "no scenario modules found"
    assert sorted(in_folder) == scenarios.registry_ids()
    for scenario_id, where in in_folder.items():
        assert scenario_id.split("/")[0] == where.split("/")[0], (scenario_id, where)


@pytest.mark.parametrize("scenario_id", scenarios.registry_ids())
def test_every_scenario_documents_itself(scenario_id):
    cls = scenarios.scenario_class(scenario_id)
    module = __import__(cls.__module__, fromlist=["_"])
    assert module.__doc__ and module.__doc__.startswith(scenario_id)
    for section in ("Observation", "Reward", "Metrics"):
        assert section in module.__doc__, f"{scenario_id} docstring lacks {section}"
    assert cls(scenarios.scenario_class(scenario_id).config_class()).scripted_policy() is not None


def test_unknown_id_lists_close_matches():
    with pytest.raises(scenarios.UnknownScenarioError, match="did you mean swarm/spread-v0"):
        scenarios.make_vec("swarm/spred-v0")


def test_unknown_config_field_is_named():
    with pytest.raises(scenarios.ScenarioConfigError, match="'n_agent'.*did you mean n_agents"):
        scenarios.make_vec("swarm/spread-v0", n_agent=4)


def test_invalid_values_are_named():
    with pytest.raises(
        scenarios.ScenarioConfigError, match=r"n_agents must be in \[1, 1024\], got 0"
    ):
        scenarios.make("swarm/spread-v0", n_agents=0)
    with pytest.raises(scenarios.ScenarioConfigError, match="max_steps must be int"):
        scenarios.make("swarm/spread-v0", max_steps="ten")
    with pytest.raises(scenarios.ScenarioConfigError, match="continuous_actions must be bool"):
        scenarios.make("swarm/spread-v0", continuous_actions=1)


def test_register_rejects_malformed_and_duplicate_ids():
    with pytest.raises(ValueError, match="family/name-v0"):
        scenarios.register("Spread")
    with pytest.raises(ValueError, match="already registered"):
        scenarios.register("swarm/spread-v0")(type("Other", (scenarios.Scenario,), {}))


def test_one_scenario_imports_only_its_family():
    # A fresh process that builds spread imports the swarm family alone: not the warehouse
    # planners (scipy.optimize) nor the traffic roads. An unknown id still lists every family.
    code = (
        "import sys, scenarios\n"
        "scenarios.make_vec('swarm/spread-v0', num_envs=2).reset(seed=0)\n"
        "print(sorted(m for m in ('scenarios.warehouse', 'scenarios.traffic',"
        " 'scipy.optimize') if m in sys.modules))\n"
        "try:\n    scenarios.make_vec('swarm/spred-v0')\n"
        "except scenarios.registry.UnknownScenarioError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.splitlines()
    assert out[0] == "[]"
    assert "did you mean swarm/spread-v0" in out[1] and "warehouse/shelves-v0" in out[1]
