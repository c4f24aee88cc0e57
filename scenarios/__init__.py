"""scenarios: scenario families over ``worlds``, a registry, and the PettingZoo and vector APIs.

import scenarios
venv = scenarios.make_vec("swarm/spread-v0", num_envs=64, seed=0, n_agents=16)
env = scenarios.make("swarm/spread-v0")          # PettingZoo ParallelEnv
"""

from scenarios.core import (
    GroupSpec,
    Reward,
    Scenario,
    ScenarioConfig,
    ScenarioConfigError,
    ScriptedPolicy,
    check,
)
from scenarios.registry import (
    UnknownScenarioError,
    describe,
    make,
    make_aec,
    make_scenario,
    make_vec,
    register,
    registry_ids,
    scenario_class,
)

__all__ = [
    "GroupSpec",
    "Reward",
    "Scenario",
    "ScenarioConfig",
    "ScenarioConfigError",
    "ScriptedPolicy",
    "UnknownScenarioError",
    "check",
    "describe",
    "make",
    "make_aec",
    "make_scenario",
    "make_vec",
    "register",
    "registry_ids",
    "scenario_class",
]
