import gymnasium as gym
import numpy as np
import torch

from marl.envs import GroupSpec
from marl.ppo import TrainConfig, allocate_rollout, collect_rollout, initial_memory
from marl.train import build_spec, train
from policies import Policy


class MaskedVec:
    """Two worlds, two agents, 4 actions; agent 0 may only use action 2, agent 1 only 0 or 3."""

    num_envs = 2

    def __init__(self):
        box = gym.spaces.Box(-1, 1, (3,), np.float32)
        self.groups = {"bot": GroupSpec(2, box, gym.spaces.Discrete(4), ["bot_0", "bot_1"])}
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
    policy = Policy(build_spec(venv, TrainConfig(), "test"))
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


def test_neighbour_encoder_trains_on_spread(tmp_path):
    # spread-v0 with 3 drones: 4 + 2 * 3 = 10 floats, then 2 neighbours x 5 features.
    for kind in ("deepsets", "attention"):
        cfg = TrainConfig(
            env_id="swarm/spread-v0",
            num_envs=8,
            num_steps=16,
            total_steps=8 * 16 * 3 * 2,
            encoder=kind,
            knn_start=10,
            knn_count=2,
            knn_features=5,
            run_dir=str(tmp_path / kind),
            progress=False,
        )
        result = train(cfg)
        assert result.global_step == 8 * 16 * 3 * 2


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
