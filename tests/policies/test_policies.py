import ast
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from policies import CheckpointError, NetConfig, Policy, check_compatible, group_spec, load_policy
from policies.checkpoint import write_policy
from policies.networks import SetEncoder

OBS = gym.spaces.Box(-np.inf, np.inf, (6,), np.float32)


def make_policy(action_space=None, **net) -> Policy:
    action_space = action_space or gym.spaces.Discrete(4)
    spec = {
        "groups": {"drone": group_spec(3, OBS, action_space, 10)},
        "network": NetConfig(**net).to_dict(),
        "scenario": "test/none-v0",
        "scenario_config": {"n_agents": 3},
    }
    return Policy(spec)


def save(policy: Policy, folder: Path) -> Path:
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


@pytest.mark.parametrize("kind", ["deepsets", "attention"])
def test_set_encoder_is_permutation_invariant(kind):
    torch.manual_seed(0)
    cfg = NetConfig(encoder=kind, knn_start=2, knn_count=4, knn_features=3, encoder_dim=8)
    encoder = SetEncoder(2 + 12 + 1, cfg)
    obs = torch.randn(7, 15)
    block = obs[:, 2:14].reshape(7, 4, 3)
    permuted = torch.cat([obs[:, :2], block[:, [2, 0, 3, 1]].reshape(7, 12), obs[:, 14:]], 1)
    torch.testing.assert_close(encoder(obs), encoder(permuted), rtol=1e-5, atol=1e-5)
    assert encoder(obs).shape == (7, encoder.out_dim)
    assert not torch.allclose(encoder(obs), encoder(obs + 1.0))


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


def test_recurrent_act_keeps_and_resets_state():
    torch.manual_seed(0)
    policy = make_policy(recurrent=8)
    obs = {"drone": np.random.default_rng(0).normal(size=(4, 3, 6)).astype(np.float32)}
    policy.act(obs)
    assert policy._act_hidden["drone"].abs().sum() > 0
    policy.reset_state({"drone": np.ones((4, 3), bool)})
    assert policy._act_hidden["drone"].abs().sum() == 0
