import numpy as np
import torch

from marl.config import TrainConfig
from marl.ppo import (
    RunningMeanStd,
    compute_gae,
    policy_loss,
    prepare_group_batch,
    value_loss,
)
from marl.rollout import GroupRollout


def reference_gae(rewards, values, dones, next_value, gamma, lam):
    t_max = len(rewards)
    adv = np.zeros(t_max)
    last = 0.0
    for t in reversed(range(t_max)):
        following = next_value if t == t_max - 1 else values[t + 1]
        delta = rewards[t] + gamma * following * (1 - dones[t]) - values[t]
        last = delta + gamma * lam * (1 - dones[t]) * last
        adv[t] = last
    return adv


def test_gae_matches_a_scalar_loop_and_cuts_at_dones():
    rng = np.random.default_rng(0)
    rewards, values = rng.normal(size=(8, 5)), rng.normal(size=(8, 5))
    dones = (rng.random((8, 5)) < 0.3).astype(float)
    next_value = rng.normal(size=5)
    adv, ret = compute_gae(
        *(torch.tensor(x) for x in (rewards, values, dones, next_value)), 0.9, 0.8
    )
    for column in range(5):
        expected = reference_gae(
            rewards[:, column], values[:, column], dones[:, column], next_value[column], 0.9, 0.8
        )
        np.testing.assert_allclose(adv[:, column].numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(ret.numpy(), adv.numpy() + values)
    # A done at the last step ignores the bootstrap value entirely.
    d = torch.zeros(3, 1)
    d[-1] = 1.0
    a1, _ = compute_gae(torch.ones(3, 1), torch.zeros(3, 1), d, torch.tensor([100.0]), 0.9, 0.8)
    a2, _ = compute_gae(torch.ones(3, 1), torch.zeros(3, 1), d, torch.tensor([-5.0]), 0.9, 0.8)
    torch.testing.assert_close(a1, a2)


def test_policy_loss_clips_the_ratio():
    old = torch.zeros(4)
    new = torch.log(torch.tensor([0.5, 1.0, 1.5, 3.0]))
    adv = torch.ones(4)
    loss, _, clip_fraction = policy_loss(new, old, adv, 0.2)
    # For positive advantages the objective is min(r, clip(r)) = [0.5, 1.0, 1.2, 1.2].
    torch.testing.assert_close(loss, -torch.tensor([0.5, 1.0, 1.2, 1.2]).mean())
    assert clip_fraction.item() == 0.75


def test_value_loss_clipping_takes_the_larger_error():
    new, old, target = torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([3.0])
    assert value_loss(new, old, target, None).item() == 0.5
    # Clipped prediction is 0.2: error 2.8^2 is larger than 1^2.
    torch.testing.assert_close(value_loss(new, old, target, 0.2), torch.tensor(0.5 * 2.8**2))


def test_running_mean_std_matches_numpy():
    rng = np.random.default_rng(1)
    chunks = [rng.normal(3.0, 2.0, size=n) for n in (10, 100, 7)]
    norm = RunningMeanStd()
    for chunk in chunks:
        norm.update(torch.tensor(chunk))
    everything = np.concatenate(chunks)
    assert abs(norm.mean - everything.mean()) < 1e-4
    assert abs(norm.var - everything.var()) < 1e-3


def rollout(t=4, b=3, n=2, alive=None):
    zeros = torch.zeros(t, b, n)
    return GroupRollout(
        obs=torch.randn(t, b, n, 5),
        critic_in=torch.randn(t, b, n, 7),
        actions=torch.zeros(t, b, n, dtype=torch.int64),
        log_probs=zeros.clone(),
        values=zeros.clone(),
        rewards=torch.randn(t, b, n),
        dones=zeros.clone(),
        alive=torch.ones(t, b, n) if alive is None else alive,
        bootstrap=zeros.clone(),
        truncated=zeros.clone(),
        masks=None,
        next_value=torch.zeros(b, n),
        starts=zeros.clone(),
        hidden=None,
    )


def test_dead_agents_are_left_out_of_the_batch():
    alive = torch.ones(4, 3, 2)
    alive[2:, 0, 1] = 0.0  # agent 1 of world 0 dies after step 1
    data = rollout(alive=alive)
    batch, _ = prepare_group_batch(data, TrainConfig(norm_adv=False, value_norm=False), None, {})
    assert batch["obs"].shape[0] == 4 * 3 * 2 - 2
    dead_obs = data.obs[2:, 0, 1]
    for row in dead_obs:
        assert not torch.any(torch.all(batch["obs"] == row, dim=1))
    assert set(batch["agent"].tolist()) == {0, 1}


def test_advantage_filter_drops_small_advantages():
    data = rollout(t=1, b=1, n=4)
    data.rewards[:] = torch.tensor([[[0.01, 1.0, -2.0, 0.1]]])
    cfg = TrainConfig(adv_filter=0.2, norm_adv=False, value_norm=False)
    state: dict = {}
    batch, stats = prepare_group_batch(data, cfg, None, state)
    assert sorted(batch["advantages"].tolist()) == [-2.0, 1.0]
    assert state["max"] == 2.0
    assert stats["adv_filter_kept"] == 0.5
