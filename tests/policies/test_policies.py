import ast
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from policies import (
    CheckpointError,
    JointPolicy,
    NetConfig,
    NetworkPolicy,
    Policy,
    RandomPolicy,
    check_compatible,
    group_spec,
    load_policy,
)
from policies.checkpoint import write_policy
from policies.networks import ObservationEncoder
from policies.spec import SpecError, check_spec

OBS = gym.spaces.Box(-np.inf, np.inf, (6,), np.float32)


def make_policy(action_space=None, **net) -> NetworkPolicy:
    action_space = action_space or gym.spaces.Discrete(4)
    spec = {
        "groups": {"drone": group_spec(3, OBS, action_space, 10)},
        "network": NetConfig(**net).to_dict(),
        "scenario": "test/none-v0",
        "scenario_config": {"n_agents": 3},
    }
    return NetworkPolicy(spec)


def save(policy: NetworkPolicy, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_policy(folder, policy)
    return folder


def test_round_trip_acts_the_same(tmp_path):
    torch.manual_seed(0)
    policy = make_policy()
    loaded = load_policy(save(policy, tmp_path / "ck"))
    obs = {"drone": np.random.default_rng(0).normal(size=(5, 3, 6)).astype(np.float32)}
    np.testing.assert_array_equal(policy.act(obs)["drone"], loaded.act(obs)["drone"])
    assert loaded.spec["scenario"] == "test/none-v0"
    assert loaded.act(obs)["drone"].dtype == np.int64


def test_action_mask_excludes_actions():
    torch.manual_seed(0)
    policy = make_policy()
    obs = {"drone": np.zeros((64, 3, 6), np.float32)}
    mask = np.zeros((64, 3, 4), bool)
    mask[..., 2] = True
    mask[:, 0, 3] = True
    for _ in range(5):
        act = policy.act(obs, {"drone": mask}, deterministic=False)["drone"]
        assert np.all(mask[np.arange(64)[:, None], np.arange(3)[None, :], act])


def test_continuous_actions_stay_in_bounds_and_log_probs_agree():
    box = gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32))
    for mode in ("squash", "clip"):
        torch.manual_seed(1)
        policy = make_policy(box, continuous=mode, log_std_init=1.0)
        obs = torch.randn(256, 3, 6)
        raw, log_prob, env_action, _ = policy.sample("drone", obs)
        assert env_action.shape == (256, 3, 2)
        assert torch.all(env_action >= torch.tensor([-2.0, 0.0]))
        assert torch.all(env_action <= torch.tensor([2.0, 1.0]))
        index = policy.agent_index("drone", 256)
        again, _ = policy.groups["drone"].evaluate(obs.view(-1, 6), index, raw.view(-1, 2), None)
        torch.testing.assert_close(again.view(256, 3), log_prob)


def test_agent_id_changes_the_output_per_agent():
    torch.manual_seed(0)
    policy = make_policy(agent_id=True)
    module = policy.groups["drone"]
    obs = torch.ones(3, 6)
    out, _ = module.actor_out(obs, torch.arange(3))
    assert not torch.allclose(out[0], out[1])


# Observation of 20: 2 own values, a set of 4 x 3 features with 4 valid flags, a set of 1 x 2
# features without flags.
SETS = [
    {"name": "neighbours", "start": 2, "count": 4, "features": 3, "valid_start": 14},
    {"name": "goal", "start": 18, "count": 1, "features": 2, "valid_start": None},
]


@pytest.mark.parametrize("kind", ["deepsets", "attention"])
def test_set_encoders_are_permutation_invariant_and_skip_invalid_entities(kind):
    torch.manual_seed(0)
    encoder = ObservationEncoder(20, SETS, NetConfig(encoder=kind, encoder_dim=8))
    assert encoder.out_dim == 2 + 8 * 2
    obs = torch.randn(7, 20)
    obs[:, 14:18] = torch.tensor([1.0, 1.0, 1.0, 0.0])
    block = obs[:, 2:14].reshape(7, 4, 3)
    permuted = obs.clone()
    permuted[:, 2:14] = block[:, [2, 0, 1, 3]].reshape(7, 12)
    torch.testing.assert_close(encoder(obs), encoder(permuted), rtol=1e-5, atol=1e-5)
    padded = obs.clone()
    padded[:, 11:14] = 100.0  # the invalid fourth entity's features do not count
    torch.testing.assert_close(encoder(obs), encoder(padded), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(encoder(obs), encoder(obs + 1.0))
    empty = obs.clone()
    empty[:, 14:18] = 0.0  # no valid entity: zeros, not NaN
    assert torch.isfinite(encoder(empty)).all()
    torch.testing.assert_close(encoder(empty)[:, 2:10], torch.zeros(7, 8))


def test_a_network_policy_with_sets_round_trips_through_its_spec(tmp_path):
    torch.manual_seed(0)
    obs_space = gym.spaces.Box(-np.inf, np.inf, (20,), np.float32)
    spec = {
        "groups": {"drone": group_spec(3, obs_space, gym.spaces.Discrete(4), 10, SETS)},
        "network": NetConfig(encoder="attention", encoder_dim=8).to_dict(),
    }
    policy = NetworkPolicy(spec)
    loaded = load_policy(save(policy, tmp_path / "ck"))
    obs = {"drone": np.random.default_rng(0).normal(size=(5, 3, 20)).astype(np.float32)}
    np.testing.assert_array_equal(policy.act(obs)["drone"], loaded.act(obs)["drone"])
    assert loaded.spec["groups"]["drone"]["sets"] == SETS


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start": 19}, r"sets\[0\]: 4 x 3 features from 19 pass the observation's end"),
        ({"count": 10**9}, r"sets\[0\].count must be an integer in \[1, 4096\]"),
        ({"valid_start": 3}, "two entity sets share observation entries"),
        ({"extra": 1}, r"sets\[0\] must be an object with fields"),
    ],
)
def test_bad_entity_sets_in_a_spec_are_named(change, message):
    obs_space = gym.spaces.Box(-np.inf, np.inf, (20,), np.float32)
    sets = [dict(SETS[0], **change), SETS[1]]
    spec = {
        "groups": {"drone": group_spec(3, obs_space, gym.spaces.Discrete(4), 10, sets)},
        "network": NetConfig(encoder="deepsets").to_dict(),
    }
    with pytest.raises(SpecError, match=message):
        check_spec(spec)
    spec["groups"]["drone"]["sets"] = []
    with pytest.raises(SpecError, match="groups.drone.sets: the deepsets encoder needs"):
        check_spec(spec)


def test_net_config_is_checked_when_built():
    with pytest.raises(SpecError, match="network.hidden_sizes"):
        NetConfig(hidden_sizes=(0,))
    with pytest.raises(SpecError, match="network.encoder must be one of"):
        NetConfig(encoder="transformer")


def test_every_kind_of_policy_satisfies_the_protocol():
    groups = {"drone": type("Spec", (), {"action_space": gym.spaces.Discrete(4)})()}
    network, random = make_policy(), RandomPolicy(groups)
    for policy in (network, random, JointPolicy({"drone": random})):
        assert isinstance(policy, Policy)
        assert list(policy.groups) == ["drone"]
    assert not isinstance(object(), Policy)


def test_random_policy_honours_masks_and_shapes():
    box = gym.spaces.Box(-1.0, 2.0, (3,), np.float32)
    spaces = {"a": gym.spaces.Discrete(5), "b": box}
    groups = {g: type("Spec", (), {"action_space": s})() for g, s in spaces.items()}
    policy = RandomPolicy(groups, seed=3)
    obs = {"a": np.zeros((6, 2, 4), np.float32), "b": np.zeros((6, 3, 4), np.float32)}
    mask = np.zeros((6, 2, 5), bool)
    mask[..., [1, 4]] = True
    actions = policy.act(obs, {"a": mask})
    assert actions["a"].shape == (6, 2) and actions["a"].dtype == np.int64
    assert set(np.unique(actions["a"])) <= {1, 4}
    assert actions["b"].shape == (6, 3, 3) and actions["b"].dtype == np.float32
    assert (actions["b"] >= -1).all() and (actions["b"] <= 2).all()


def test_joint_policy_gives_each_group_its_own_policy():
    torch.manual_seed(0)
    learned = make_policy()
    groups = {"drone": type("Spec", (), {"action_space": gym.spaces.Discrete(4)})()}
    obs = {"drone": np.random.default_rng(0).normal(size=(4, 3, 6)).astype(np.float32)}
    joint = JointPolicy({"drone": learned})
    np.testing.assert_array_equal(joint.act(obs)["drone"], learned.act(obs)["drone"])
    with pytest.raises(ValueError, match="group 'car': its policy acts for \\['drone'\\]"):
        JointPolicy({"car": RandomPolicy(groups)})


def test_missing_path_is_a_one_line_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist") as info:
        load_policy(tmp_path / "nope")
    assert "\n" not in str(info.value)


def test_corrupt_weights_name_the_file(tmp_path):
    folder = save(make_policy(), tmp_path / "ck")
    (folder / "policy.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="policy.safetensors: corrupt") as info:
        load_policy(folder)
    assert "\n" not in str(info.value)


def test_truncated_weights_name_the_file(tmp_path):
    folder = save(make_policy(), tmp_path / "ck")
    data = (folder / "policy.safetensors").read_bytes()
    (folder / "policy.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="policy.safetensors: corrupt or truncated"):
        load_policy(folder)


def test_truncated_spec_names_the_file(tmp_path):
    folder = save(make_policy(), tmp_path / "ck")
    text = (folder / "spec.json").read_text()
    (folder / "spec.json").write_text(text[: len(text) // 2])
    with pytest.raises(CheckpointError, match="spec.json: corrupt or truncated JSON"):
        load_policy(folder)


def test_weights_of_another_network_are_rejected(tmp_path):
    folder = save(make_policy(hidden_sizes=(32,)), tmp_path / "small")
    other = save(make_policy(hidden_sizes=(64, 64)), tmp_path / "big")
    (other / "policy.safetensors").write_bytes((folder / "policy.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="weights do not match|has shape"):
        load_policy(other)


def test_incompatible_spaces_are_named():
    spec = make_policy().spec
    other_obs = gym.spaces.Box(-1, 1, (9,), np.float32)
    env_groups = {"drone": group_spec(3, other_obs, gym.spaces.Discrete(4), 10)}
    with pytest.raises(CheckpointError, match="observation_space.*Box\\(6,\\).*Box\\(9,\\)"):
        check_compatible(spec, env_groups, "ck")
    with pytest.raises(CheckpointError, match="incompatible groups"):
        check_compatible(spec, {"car": env_groups["drone"]}, "ck")


def test_policies_imports_only_torch_numpy_gymnasium():
    allowed = {"torch", "numpy", "gymnasium", "safetensors", "policies", "__future__"}
    stdlib = set(sys.stdlib_module_names)
    root = Path(__file__).resolve().parents[2] / "policies"
    for file in root.glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in allowed | stdlib, f"{file.name} imports {name}"


def test_gru_sequence_matches_stepwise_acting_with_resets():
    torch.manual_seed(0)
    policy = make_policy(recurrent=8)
    module = policy.groups["drone"]
    obs = torch.randn(5, 6, 6)  # 5 sequences (rows), 6 steps
    starts = torch.zeros(5, 6)
    starts[1, 3] = 1.0
    starts[:, 0] = 1.0
    agent = torch.tensor([0, 1, 2, 0, 1])
    sequence = module.actor_sequence(obs, agent, torch.zeros(5, 8), starts)
    hidden = torch.zeros(5, 8)
    for t in range(6):
        hidden = hidden * (1 - starts[:, t : t + 1])
        out, hidden = module.actor_out(obs[:, t], agent, hidden)
        torch.testing.assert_close(sequence[:, t], out)
    # The reset matters: without it row 1's later outputs differ.
    no_reset = module.actor_sequence(obs, agent, torch.zeros(5, 8), torch.zeros(5, 6))
    assert not torch.allclose(no_reset[1, 4], sequence[1, 4])


def test_recurrent_reset_clears_only_the_given_worlds():
    torch.manual_seed(0)
    policy = make_policy(recurrent=8)
    fresh = make_policy(recurrent=8)
    fresh.load_state_dict(policy.state_dict())
    rng = np.random.default_rng(0)
    steps = [{"drone": rng.normal(size=(4, 3, 6)).astype(np.float32)} for _ in range(3)]
    for obs in steps[:2]:
        policy.act(obs)
    policy.reset(np.array([1, 3]))
    # Worlds 1 and 3 now act as a fresh policy does on its first step; 0 and 2 remember.
    after, first = policy.act(steps[2])["drone"], fresh.act(steps[2])["drone"]
    hidden, start = policy._act_hidden["drone"], fresh._act_hidden["drone"]
    torch.testing.assert_close(hidden[[1, 3]], start[[1, 3]])
    assert not torch.allclose(hidden[[0, 2]], start[[0, 2]])
    np.testing.assert_array_equal(after[[1, 3]], first[[1, 3]])
    policy.reset()
    assert policy._act_hidden == {}


def test_tanh_activation_matches_torch_tanh_and_its_gradient():
    from policies.networks import Tanh, tanh

    x = torch.linspace(-12.0, 12.0, 4001).reshape(-1, 1) * torch.ones(1, 3)
    x[::7] *= 1e-4  # small values, where tanh(x) ~ x
    leaf = x.clone().requires_grad_(True)
    y = Tanh()(leaf)
    torch.testing.assert_close(y, torch.tanh(x), rtol=3e-7, atol=1e-7)
    y.sum().backward()
    torch.testing.assert_close(leaf.grad, 1.0 - torch.tanh(x) ** 2, rtol=1e-6, atol=1e-6)
    double = torch.randn(20, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(tanh, (double,))
    strided = torch.randn(8, 10)[:, ::2]  # not contiguous
    torch.testing.assert_close(tanh(strided), torch.tanh(strided))
    with torch.inference_mode():
        torch.testing.assert_close(tanh(x), torch.tanh(x), rtol=3e-7, atol=1e-7)
    half = torch.randn(5, 3).to(torch.bfloat16)  # what numpy cannot take: torch's own tanh
    assert torch.equal(tanh(half), torch.tanh(half))


@pytest.mark.parametrize("agent_id", [False, True])
def test_discrete_evaluate_agrees_with_the_actor_output_and_its_gradient(agent_id):
    """GroupActorCritic.evaluate's (actions, rows) layout gives the log-probabilities, entropy
    and gradients of the plain path (log_prob_entropy of actor_out), with and without masks."""
    spec = {
        "groups": {"a": group_spec(3, gym.spaces.Box(-1, 1, (6,)), gym.spaces.Discrete(5), 9)},
        "network": NetConfig(hidden_sizes=(16, 16), agent_id=agent_id).to_dict(),
    }
    module = NetworkPolicy(spec).groups["a"]
    torch.nn.init.normal_(module.actor[-1].weight)  # logits far from uniform
    gen = torch.Generator().manual_seed(0)
    obs, index = torch.randn(200, 6, generator=gen), torch.randint(0, 3, (200,), generator=gen)
    actions = torch.randint(0, 5, (200,), generator=gen)
    mask = torch.rand(200, 5, generator=gen) > 0.4
    mask[torch.arange(200), actions] = True
    for m in (None, mask):
        grads = []
        for fast in (True, False):
            module.zero_grad()
            if fast:
                log_prob, entropy = module.evaluate(obs, index, actions, m)
            else:
                out = module.actor_out(obs, index)[0]
                log_prob, entropy = module.log_prob_entropy(out, actions, m)
            (log_prob.sum() + entropy.sum()).backward()
            grads.append(([p.grad.clone() for p in module.actor.parameters()], log_prob, entropy))
        (fast_grads, lp_a, ent_a), (slow_grads, lp_b, ent_b) = grads
        torch.testing.assert_close(lp_a, lp_b, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ent_a, ent_b, rtol=1e-5, atol=1e-5)
        for a, b in zip(fast_grads, slow_grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_an_mlp_with_in_place_tanh_matches_torch_tanh_forward_and_backward():
    import copy

    from policies.networks import Tanh, mlp

    torch.manual_seed(0)
    net = mlp([5, 16, 16, 3], "tanh", 1.0)
    assert sum(isinstance(layer, Tanh) and layer.inplace for layer in net) == 2
    reference = copy.deepcopy(net)
    for i, layer in enumerate(reference):
        if isinstance(layer, Tanh):
            reference[i] = torch.nn.Tanh()
    assert net.state_dict().keys() == reference.state_dict().keys()
    x = torch.randn(64, 5)
    out, expected = net(x), reference(x)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    out.pow(2).sum().backward()
    expected.pow(2).sum().backward()
    for p, q in zip(net.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(net(x), reference(x), rtol=1e-6, atol=1e-6)
    inputs = torch.randn(4, 3)
    kept = inputs.clone()
    assert Tanh(inplace=True)(inputs) is inputs
    torch.testing.assert_close(inputs, torch.tanh(kept))


def test_columns_linear_is_the_transposed_layer_with_its_gradients_row_major():
    from policies.networks import columns_linear

    gen = torch.Generator().manual_seed(0)
    layer = torch.nn.Linear(16, 5)
    x = torch.randn(300, 16, generator=gen)
    weight = torch.randn(5, 300, generator=gen)
    grads = []
    for fast in (True, False):
        layer.zero_grad()
        leaf = x.clone().requires_grad_(True)
        out = columns_linear(leaf, layer) if fast else layer(leaf).t()
        torch.testing.assert_close(out, layer(x).t())
        (out * weight).sum().backward()
        grads.append((leaf.grad, layer.weight.grad.clone(), layer.bias.grad.clone()))
    for fast, plain in zip(*grads, strict=True):
        torch.testing.assert_close(fast, plain)
    assert grads[0][0].is_contiguous()  # what the layers below it read
    with torch.no_grad():
        torch.testing.assert_close(columns_linear(x, layer), layer(x).t())
