"""Acting in numpy (``policies.inference``) equals acting through torch: the same actions from
the same random stream, log-probabilities and values to float32 rounding, weights read live."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from policies import NetConfig, NetworkPolicy, group_spec


def make(agent_id=True, **net):
    space = gym.spaces.Box(-1, 1, (7,), np.float32)
    spec = {
        "groups": {"drone": group_spec(3, space, gym.spaces.Discrete(5), 11)},
        "network": NetConfig(hidden_sizes=(32, 16), agent_id=agent_id, **net).to_dict(),
    }
    torch.manual_seed(0)
    return NetworkPolicy(spec)


def through_torch(policy):
    """The same policy with its numpy path turned off."""
    module = policy.groups["drone"]
    module.numpy_mlp = lambda which: None
    return policy


@pytest.mark.parametrize("agent_id", [True, False])
@pytest.mark.parametrize("masked", [False, True])
def test_numpy_sampling_draws_what_torch_draws(agent_id, masked):
    fast, slow = make(agent_id), through_torch(make(agent_id))
    assert fast.groups["drone"].numpy_mlp("actor") is not None, "the numpy path is not taken"
    generator = np.random.default_rng(1)
    obs = torch.from_numpy(generator.normal(size=(40, 3, 7)).astype(np.float32)) * 3
    mask = None
    if masked:
        allowed = generator.random((40, 3, 5)) < 0.6
        allowed[..., 2] = True
        mask = torch.from_numpy(allowed)
    for deterministic in (False, True):
        torch.manual_seed(5)
        a_fast, lp_fast, env_fast, _ = fast.sample("drone", obs, mask, deterministic)
        state_after = torch.get_rng_state()
        torch.manual_seed(5)
        a_slow, lp_slow, env_slow, _ = slow.sample("drone", obs, mask, deterministic)
        assert torch.equal(torch.get_rng_state(), state_after), "the random stream moved apart"
        assert torch.equal(a_fast, a_slow) and torch.equal(env_fast, env_slow)
        assert a_fast.dtype == a_slow.dtype == torch.int64 and lp_fast.dtype == torch.float32
        torch.testing.assert_close(lp_fast, lp_slow, rtol=1e-5, atol=1e-5)
        if masked:
            assert mask.gather(-1, a_fast.unsqueeze(-1)).all(), "a masked action was drawn"


@pytest.mark.parametrize("agent_id", [True, False])
def test_numpy_values_follow_the_weights_as_they_train(agent_id):
    policy = make(agent_id)
    module = policy.groups["drone"]
    rows = torch.randn(60, 11)
    index = policy.agent_index("drone", 20)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.5)
    for _ in range(3):
        with torch.no_grad():
            fast = module.value(rows, index)
        slow = module.value(rows, index)  # with gradients: torch's own forward
        torch.testing.assert_close(fast, slow.detach(), rtol=1e-5, atol=1e-5)
        slow.square().mean().backward()  # the weights change in place: the views see it
        optimizer.step()
        optimizer.zero_grad()
    fresh = make(agent_id).groups["drone"]
    module.load_state_dict(fresh.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(module.value(rows, index), fresh.value(rows, index))


def test_encoders_and_gru_keep_the_torch_path():
    assert make(recurrent=8).groups["drone"].numpy_mlp("actor") is None
    assert make(activation="relu").groups["drone"].numpy_mlp("actor") is None
    assert make(activation="relu").groups["drone"].numpy_mlp("critic") is None
