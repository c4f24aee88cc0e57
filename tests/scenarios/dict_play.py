"""Helpers for the PettingZoo-layer tests: short episodes in which agents finish early, and
actions for the dict API (random, or from the scenario's scripted baseline)."""

import dataclasses

import numpy as np

import scenarios


def short_config(scenario_id: str, max_steps: int = 8) -> dict:
    """Config overrides for ``max_steps`` episodes in which, where the scenario has such agents,
    some finish early: evaders caught from further away, drones dropping out from the start,
    and in the junction new agents join (``JOINS``). Other respawning scenarios keep their
    default re-entry time, longer than these episodes: nobody joins there."""
    config_class = scenarios.scenario_class(scenario_id).config_class
    fields = {f.name for f in dataclasses.fields(config_class)}
    config = {"max_steps": max_steps}
    if "capture_radius" in fields:
        config["capture_radius"] = 0.9
    if "dropout_probability" in fields:
        config.update(dropout_probability=0.5, dropout_after=0.0)
    return config | JOINS.get(scenario_id, {})


JOINS = {
    # Quarter-second steps, re-entry after two of them, and sixteen fast cars that start close
    # behind each other (a headway of 0.1 s): random actions crash cars or run them off the
    # road early, and new cars enter their slots.
    "traffic/intersection-v0": dict(
        dt=0.25,
        reentry_seconds=0.5,
        n_cars=16,
        time_headway=0.1,
        initial_speed=30.0,
        entry_speed=30.0,
    ),
}


def action_config(scenario_id: str, continuous: bool) -> dict:
    """The config override for ``action_setups``' flag: ``continuous_actions`` set either way
    where the config offers it (a scenario may default to either), nothing otherwise."""
    fields = dataclasses.fields(scenarios.scenario_class(scenario_id).config_class)
    if "continuous_actions" in {f.name for f in fields}:
        return {"continuous_actions": continuous}
    return {}


def action_setups() -> list[tuple[str, bool]]:
    """(scenario id, continuous actions) for every registered scenario: its default actions
    (discrete where it offers both), and Box actions where its config offers
    ``continuous_actions``; ``action_config`` gives the matching override."""
    setups = []
    for scenario_id in scenarios.registry_ids():
        setups.append((scenario_id, False))
        fields = dataclasses.fields(scenarios.scenario_class(scenario_id).config_class)
        if "continuous_actions" in {f.name for f in fields}:
            setups.append((scenario_id, True))
    return setups


def random_actions(env, rng: np.random.Generator, agents=None) -> dict:
    """Uniform actions for ``agents`` (default: the live ones), of the types a policy's
    sampler gives: numpy integers for Discrete spaces, float32 arrays for Box spaces."""
    actions = {}
    for agent in env.agents if agents is None else agents:
        space = env.action_space(agent)
        if hasattr(space, "n"):
            actions[agent] = rng.integers(0, space.n)
        else:
            actions[agent] = rng.uniform(-1, 1, space.shape).astype(np.float32)
    return actions


def scripted_actions(env, policy, observations: dict) -> dict:
    """The scripted baseline's actions for the live agents: the dict observations become the
    group arrays the policy reads (zeros for finished agents), its arrays become a dict."""
    arrays = {
        group: np.zeros((1, spec.n_agents, *spec.observation_space.shape), np.float32)
        for group, spec in env.venv.groups.items()
    }
    for agent, row in observations.items():
        if agent in env.agents:
            group, i = env.slot_of(agent)  # respawning slots host agents of several names
            arrays[group][0, i] = row
    joint = policy.act(arrays)
    return {agent: joint[env.slot_of(agent)[0]][0, env.slot_of(agent)[1]] for agent in env.agents}
