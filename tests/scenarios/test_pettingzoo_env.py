"""The PettingZoo layer's own contract, for every registered scenario: dict keys are exactly the
live agents."""

import numpy as np
import pytest
from dict_play import scripted_actions

import scenarios

IDS = scenarios.registry_ids()
# Scenarios whose scripted baseline makes agents leave in these seeds (captures, dropouts).
AGENTS_LEAVE = {"swarm/pursuit-v0", "swarm/formation-v0"}


# ------------------------------------------------------------------------------ dict keys
@pytest.mark.parametrize("scenario_id", IDS)
def test_dicts_hold_exactly_the_live_agents(scenario_id):
    """Reset and every step of three episodes back to back, played by the scripted baseline:
    each dict holds exactly the agents live before the step, the finished ones leave
    ``agents`` and never return, and every agent's info carries the episode record at the end."""
    env = scenarios.make(scenario_id)
    policy = env.venv.scenario.scripted_policy()
    max_steps = env.venv.cfg.max_steps
    departures = 0  # steps after which some agents had left and others played on
    for episode in range(3):
        observations, infos = env.reset(seed=episode)
        assert list(observations) == list(infos) == env.agents == env.possible_agents
        steps = 0
        while env.agents:
            live = list(env.agents)
            outputs = env.step(scripted_actions(env, policy, observations))
            observations, rewards, terminations, truncations, infos = outputs
            steps += 1
            for output in outputs:
                assert list(output) == live
            done = [a for a in live if terminations[a] or truncations[a]]
            assert env.agents == [a for a in live if a not in done]
            assert all(np.isfinite(observations[a]).all() for a in live)
            departures += bool(done) and bool(env.agents)
            if not env.agents:
                record = infos[live[0]]["episode"]
                assert all(infos[a]["episode"] is record for a in live)
                assert record["length"] == steps
            else:
                assert all(info == {} for info in infos.values())
        assert steps == max_steps or all(terminations.values()), "an episode ended early"
    if scenario_id in AGENTS_LEAVE:
        assert departures > 0, "no agent left mid-episode: the test missed the partial path"
