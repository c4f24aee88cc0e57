"""Every registered scenario's scripted baseline is a Policy (``policies.Policy``: groups, act,
reset) acting for all of its scenario's groups with actions the env accepts, episode after
episode, in any batch size; evaluate and the league can take it like any other policy."""

import numpy as np
import pytest

import scenarios
from policies import Policy


@pytest.mark.parametrize("scenario_id", scenarios.registry_ids())
def test_the_scripted_baseline_is_a_policy_for_every_group(scenario_id):
    venv = scenarios.make_vec(scenario_id, num_envs=3, seed=0, max_steps=7)
    policy = venv.scenario.scripted_policy()
    assert isinstance(policy, Policy)
    assert set(policy.groups) == set(venv.groups)
    policy.reset()
    obs = venv.reset()
    episodes = 0
    for _ in range(16):  # two episodes and a bit in each world
        actions = policy.act(obs, action_mask=venv.action_mask())
        assert set(actions) == set(venv.groups)
        for group, spec in venv.groups.items():
            assert actions[group].shape == (3, spec.n_agents, *spec.action_space.shape)
            assert all(spec.action_space.contains(a) for a in actions[group][0])
        obs, _, _, _, info = venv.step(actions)
        episodes += len(info["episodes"])
        policy.reset(np.array([e["env_id"] for e in info["episodes"]], dtype=np.intp))
    assert episodes == 6
