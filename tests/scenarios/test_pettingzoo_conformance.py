"""PettingZoo's own API tests, for every registered scenario."""

import types

import numpy as np
import pytest
from pettingzoo.test import api_test, max_cycles_test, parallel_api_test, render_test, seed_test

import scenarios

IDS = scenarios.registry_ids()


@pytest.mark.parametrize("scenario_id", IDS)
def test_parallel_api(scenario_id):
    parallel_api_test(scenarios.make(scenario_id), num_cycles=300)


@pytest.mark.parametrize("scenario_id", IDS)
def test_aec_api(scenario_id):
    api_test(scenarios.make_aec(scenario_id), num_cycles=300)


@pytest.mark.parametrize("scenario_id", IDS)
def test_seed(scenario_id):
    seed_test(lambda: scenarios.make_aec(scenario_id), num_cycles=300)
    first, second = scenarios.make(scenario_id), scenarios.make(scenario_id)
    obs_a, _ = first.reset(seed=7)
    obs_b, _ = second.reset(seed=7)
    obs_c, _ = second.reset(seed=8)
    agent = first.possible_agents[0]
    assert np.array_equal(obs_a[agent], obs_b[agent])
    assert not np.array_equal(obs_a[agent], obs_c[agent])


@pytest.mark.parametrize("scenario_id", IDS)
def test_max_cycles(scenario_id):
    module = types.SimpleNamespace(
        parallel_env=lambda max_cycles: scenarios.make(scenario_id, max_steps=max_cycles),
        env=lambda max_cycles: scenarios.make_aec(scenario_id, max_steps=max_cycles),
    )
    max_cycles_test(module)


@pytest.mark.parametrize("scenario_id", IDS)
def test_pettingzoo_render_test(scenario_id):
    render_test(lambda render_mode=None: scenarios.make_aec(scenario_id, render_mode=render_mode))


@pytest.mark.parametrize("scenario_id", IDS)
def test_render_rgb_array(scenario_id):
    env = scenarios.make(scenario_id, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.shape[0] >= 100 and len(np.unique(frame.reshape(-1, 3), axis=0)) > 3
    env.reset(seed=1)
    assert not np.array_equal(frame, env.render()), "a new episode should look different"
