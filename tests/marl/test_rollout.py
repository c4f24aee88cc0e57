import gymnasium as gym
import numpy as np
import pytest
import torch

from marl.config import TrainConfig
from marl.rollout import allocate_rollout, collect_rollout, initial_memory
from marl.runs.session import build_spec
from marl.train import main, train
from marl.validation import ConfigError
from policies import NetworkPolicy
from scenarios.core import GroupSpec
from scenarios.layout import ObsLayout, entities, vector


class MaskedVec:
    """Two worlds, two agents, 4 actions; agent 0 may only use action 2, agent 1 only 0 or 3."""

    num_envs = 2

    def __init__(self, layout=None):
        box = gym.spaces.Box(-1, 1, (3,), np.float32)
        self.groups = {"bot": GroupSpec("bot", 2, box, gym.spaces.Discrete(4), layout)}
        self.state_space = gym.spaces.Box(-1, 1, (6,), np.float32)
        self.mask = np.zeros((2, 2, 4), bool)
        self.mask[:, 0, 2] = True
        self.mask[:, 1, [0, 3]] = True
        self.seen = []

    def reset(self, seed=None):
        return {"bot": np.zeros((2, 2, 3), np.float32)}

    def step(self, actions):
        self.seen.append(actions["bot"].copy())
        zeros = np.zeros((2, 2), bool)
        obs = {"bot": np.random.default_rng(len(self.seen)).normal(size=(2, 2, 3)).astype("f4")}
        info = {"episodes": [], "final_obs": obs, "final_state": np.zeros((2, 6), "f4")}
        return obs, {"bot": np.ones((2, 2), "f4")}, {"bot": zeros}, {"bot": zeros}, info

    def state(self):
        return np.zeros((2, 6), np.float32)

    def action_mask(self):
        return {"bot": self.mask.copy()}

    @property
    def alive(self):
        return {"bot": np.ones((2, 2), bool)}


def test_rollout_respects_action_masks_and_stores_them():
    torch.manual_seed(0)
    venv = MaskedVec()
    policy = NetworkPolicy(build_spec(venv, TrainConfig(), "test"))
    buffers = allocate_rollout(venv, "mappo", 30, pin=False)
    rollout, _ = collect_rollout(
        venv, policy, venv.reset(), buffers, "mappo", initial_memory(venv, 0)
    )
    actions = np.stack(venv.seen)
    assert np.all(actions[:, :, 0] == 2)
    assert set(np.unique(actions[:, :, 1])) == {0, 3}
    assert rollout.groups["bot"].masks.shape == (30, 2, 2, 4)
    assert torch.equal(rollout.groups["bot"].masks[0], torch.from_numpy(venv.mask))
    assert rollout.agent_steps == 30 * 2 * 2


def test_the_set_encoder_reads_the_sets_of_the_layout():
    # 1 own value, then 1 neighbour of 1 feature with its valid flag: 3 floats.
    layout = ObsLayout(vector("own", ("x",), "own"), entities("near", 1, ("d",), "", valid=True))
    venv = MaskedVec(layout)
    spec = build_spec(venv, TrainConfig(encoder="deepsets", encoder_dim=4), "test")
    expected = {"name": "near", "start": 1, "count": 1, "features": 1, "valid_start": 2}
    assert spec["groups"]["bot"]["sets"] == [expected]
    policy = NetworkPolicy(spec)
    rollout, _ = collect_rollout(
        venv,
        policy,
        venv.reset(),
        allocate_rollout(venv, "mappo", 4, pin=False),
        "mappo",
        initial_memory(venv, 0),
    )
    assert rollout.agent_steps == 4 * 2 * 2


def test_the_set_encoder_without_a_set_is_a_one_line_error(capsys):
    with pytest.raises(ConfigError, match="config field 'encoder': group 'bot' of .* declares no"):
        build_spec(MaskedVec(), TrainConfig(encoder="attention"), "test")
    argv = ["pz:mpe2.simple_spread_v3", "--encoder", "deepsets", "--progress", "false"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: config field 'encoder': group 'agent' of pz:mpe2.simple_spread")
    assert "\n" not in err


@pytest.mark.parametrize(
    ("scenario", "env", "kind"),
    [
        ("swarm/spread-v0", {"n_agents": 3}, "deepsets"),
        ("swarm/spread-v0", {"n_agents": 3}, "attention"),
        ("swarm/pursuit-v0", {"max_steps": 20}, "deepsets"),  # two sets per group
    ],
)
def test_set_encoder_trains_on_the_layouts_sets(tmp_path, scenario, env, kind):
    import scenarios
    from policies import load_policy

    groups = scenarios.make_vec(scenario, **env).groups
    cfg = TrainConfig(
        env_id=scenario,
        env=env,
        num_envs=4,
        num_steps=8,
        total_steps=4 * 8 * 5 * 2,
        encoder=kind,
        encoder_dim=8,
        run_dir=str(tmp_path / kind),
        progress=False,
        tensorboard=False,
    )
    train(cfg)
    policy = load_policy(tmp_path / kind)
    for name, group in groups.items():
        sets = policy.spec["groups"][name]["sets"]
        assert sets == [s.to_dict() for s in group.layout.sets()]
        assert len(policy.groups[name].encoder.sets) == len(sets)


def test_two_groups_get_their_own_policies(tmp_path):
    from policies import load_policy

    cfg = TrainConfig(
        env_id="swarm/pursuit-v0",
        num_envs=8,
        num_steps=16,
        total_steps=8 * 16 * 5 * 2,
        run_dir=str(tmp_path / "run"),
        progress=False,
    )
    train(cfg)
    policy = load_policy(tmp_path / "run")
    assert set(policy.groups) == {"pursuer", "evader"}
    assert policy.groups["pursuer"] is not policy.groups["evader"]
    obs = {g: np.zeros((2, m.n_agents, 34), np.float32) for g, m in policy.groups.items()}
    actions = policy.act(obs)
    assert actions["pursuer"].shape == (2, 3) and actions["evader"].shape == (2, 2)


@pytest.mark.parametrize("agent_id", [False, True])
def test_critic_values_of_a_broadcast_state_equal_the_per_row_values(agent_id):
    from marl.rollout import critic_values

    spec = build_spec(MaskedVec(), TrainConfig(algo="mappo", agent_id=agent_id), "test")
    policy = NetworkPolicy(spec)
    state = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    shared = np.broadcast_to(state[:, None, :], (5, 2, 6))
    rows = torch.from_numpy(shared.copy())
    torch.testing.assert_close(
        critic_values(policy, "bot", shared), critic_values(policy, "bot", rows)
    )
    assert critic_values(policy, "bot", shared).shape == (5, 2)
