import numpy as np
import pytest
import torch

from marl.config import TrainConfig
from marl.ppo import (
    FusedPPOLoss,
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


@pytest.mark.parametrize("clip_value_loss", [True, False])
def test_fused_loss_matches_the_plain_functions_and_their_gradients(clip_value_loss):
    """FusedPPOLoss against policy_loss + value_loss + the entropy bonus through autograd, with
    ties (ratio 1, zero advantages, value steps on the clip bound) among random rows."""
    cfg = TrainConfig(clip_value_loss=clip_value_loss, value_clip_coef=0.25, ent_coef=0.01)
    gen = torch.Generator().manual_seed(3)
    m = 300
    old_log_prob = torch.randn(m, generator=gen) - 1.0
    new_log_prob = old_log_prob + 0.4 * torch.randn(m, generator=gen)
    new_log_prob[:20] = old_log_prob[:20]  # ratio exactly 1
    advantages = torch.randn(m, generator=gen)
    advantages[20:40] = 0.0  # both surrogates equal
    old_values = torch.randn(m, generator=gen)
    new_value = old_values + 0.5 * torch.randn(m, generator=gen)
    new_value[40:50] = old_values[40:50] + 0.25  # on the clip bound
    new_value[50:60] = old_values[50:60] - 0.25
    new_value[60:70] = old_values[60:70]
    targets = torch.randn(m, generator=gen)
    # Clipped and unclipped errors of equal size and opposite sign: a tie outside the clip.
    old_values[70:80], new_value[70:80], targets[70:80] = 0.0, 1.0, 0.625
    mb = {
        "log_probs": old_log_prob,
        "advantages": advantages,
        "old_values": old_values,
        "targets": targets,
    }
    entropy = torch.rand(m, generator=gen) + 0.5

    def leaves():
        return [x.clone().requires_grad_(True) for x in (new_log_prob, entropy, new_value)]

    plain = leaves()
    pg, kl, cf = policy_loss(plain[0], old_log_prob, advantages, cfg.clip_coef)
    clip = cfg.value_clip_coef if clip_value_loss else None
    vl = value_loss(plain[2], old_values, targets, clip)
    ent = plain[1].mean()
    loss = pg - cfg.ent_coef * ent + cfg.vf_coef * vl
    loss.backward()
    fused = leaves()
    fused_loss, parts = FusedPPOLoss.apply(*fused, mb, cfg)
    fused_loss.backward()
    expected = torch.stack([loss, pg, vl, ent, kl, cf]).detach()
    torch.testing.assert_close(parts, expected, rtol=1e-6, atol=1e-7)
    assert not parts.requires_grad
    for a, b in zip(fused, plain, strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-9)


def test_fused_loss_takes_an_expanded_entropy():
    """A Gaussian's entropy is one value expanded over the rows: its gradient sums back."""
    log_std = torch.zeros(2, requires_grad=True)
    entropy = (0.5 + log_std).sum().expand(10)
    zeros = torch.zeros(10)
    mb = {"log_probs": zeros, "advantages": zeros, "old_values": zeros, "targets": zeros}
    cfg = TrainConfig(ent_coef=0.5)
    log_prob, value = torch.zeros(10, requires_grad=True), torch.zeros(10, requires_grad=True)
    loss, _ = FusedPPOLoss.apply(log_prob, entropy, value, mb, cfg)
    loss.backward()
    torch.testing.assert_close(log_std.grad, torch.full((2,), -0.5))


def test_clip_grad_norms_equals_torch_clip_grad_norm_on_each_set():
    from marl.ppo import clip_grad_norms_

    gen = torch.Generator().manual_seed(0)
    sizes = [(4, 3), (3,), (5, 2), (1,)]
    for scale in (0.01, 10.0):  # under and over the max norm
        params = [torch.zeros(s, requires_grad=True) for s in sizes]
        grads = [scale * torch.randn(s, generator=gen) for s in sizes]
        expected = [g.clone() for g in grads]
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        sets = (params[:2], params[2:])
        clip_grad_norms_(sets, 0.5)
        reference = [torch.zeros(s, requires_grad=True) for s in sizes]
        for p, g in zip(reference, expected, strict=True):
            p.grad = g
        for parameters in (reference[:2], reference[2:]):
            torch.nn.utils.clip_grad_norm_(parameters, 0.5)
        for p, q in zip(params, reference, strict=True):
            assert torch.equal(p.grad, q.grad)


def shared_state_rollout(t=4, b=3, n=3, c=7):
    out = rollout(t, b, n)
    state = torch.randn(t, b, 1, c)
    out.critic_in = state.expand(t, b, n, c).clone()
    return out


def test_a_shared_critic_input_is_kept_once_per_world_step():
    ro = shared_state_rollout()
    ro.alive[1, 2, 0] = 0.0  # a dead row is left out; its world-step stays
    batch, _ = prepare_group_batch(ro, TrainConfig(agent_id=False), None, {})
    assert "critic_in" not in batch and batch["states"].shape == (12, 7)
    expected = ro.critic_in.reshape(36, 7)[ro.alive.reshape(-1) > 0.5]
    torch.testing.assert_close(batch["states"][batch["state_row"]], expected)
    # With agent ids, or critic inputs that differ between agents: one row each, as before.
    batch, _ = prepare_group_batch(ro, TrainConfig(agent_id=True), None, {})
    assert "states" not in batch and batch["critic_in"].shape == (35, 7)
    ro.critic_in[0, 0, 1, 0] += 1.0
    batch, _ = prepare_group_batch(ro, TrainConfig(agent_id=False), None, {})
    assert "states" not in batch and batch["critic_in"].shape == (35, 7)


def test_the_loss_with_shared_states_equals_the_loss_over_every_row():
    import gymnasium as gym

    from marl.ppo import ppo_loss
    from policies import NetConfig, NetworkPolicy, group_spec

    ro = shared_state_rollout(t=6, b=4, n=3, c=7)
    ro.obs = torch.randn(6, 4, 3, 5)
    ro.actions = torch.randint(0, 4, (6, 4, 3))
    cfg = TrainConfig(agent_id=False)
    batch, _ = prepare_group_batch(ro, cfg, None, {})
    rows = dict(batch, critic_in=batch["states"][batch["state_row"]])
    del rows["states"], rows["state_row"]
    spec = {
        "groups": {"a": group_spec(3, gym.spaces.Box(-1, 1, (5,)), gym.spaces.Discrete(4), 7)},
        "network": NetConfig(hidden_sizes=(16, 16), agent_id=False).to_dict(),
    }
    module = NetworkPolicy(spec).groups["a"]
    order = torch.randperm(72)[:40]  # a minibatch: some world-steps with 1, 2 or 3 rows
    results = []
    for b in (batch, rows):
        mb = {k: v if k == "states" else v[order] for k, v in b.items()}
        module.zero_grad()
        loss, parts = ppo_loss(module, mb, cfg)
        loss.backward()
        results.append((parts, [p.grad.clone() for p in module.critic.parameters()]))
    (parts_a, grads_a), (parts_b, grads_b) = results
    torch.testing.assert_close(parts_a, parts_b)
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(a, b)
