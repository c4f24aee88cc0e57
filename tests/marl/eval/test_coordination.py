"""Coordination measures on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from marl.config import TrainConfig
from marl.envs import make_env
from marl.eval.coordination import (
    influence,
    measure,
    observe_pass,
    occupancy_specialization,
    role_diversity,
)
from marl.eval.harness import Setup
from marl.eval.sources import Lineup
from marl.runs.session import build_spec
from policies import NetworkPolicy

SPREAD = "swarm/spread-v0"
ENV = {"n_agents": 3, "max_steps": 30}
SETUP = Setup(SPREAD, ENV, episodes=8, seeds=(0,), num_envs=4)


def network(seed: int, sharpness: float = 1.0, agent_id: bool = False) -> NetworkPolicy:
    """A fresh policy for spread whose last actor layer is scaled by ``sharpness`` (a trained
    policy is far from uniform; a fresh one, with its small output gain, is nearly uniform)."""
    venv = make_env(SPREAD, 1, 0, **ENV)
    torch.manual_seed(seed)
    policy = NetworkPolicy(
        build_spec(venv, TrainConfig(env_id=SPREAD, env=ENV, agent_id=agent_id), "")
    )
    venv.close()
    with torch.no_grad():
        last = [
            m for m in policy.groups["drone"].actor.modules() if isinstance(m, torch.nn.Linear)
        ][-1]
        last.weight.mul_(sharpness)
    return policy


def test_agents_whose_policies_ignore_each_other_have_zero_influence():
    matrix = influence(SETUP, Lineup({"drone": "random"}), "drone", 0, 0)
    assert matrix.shape == (3, 3) and np.all(matrix == 0.0)


class Linear:
    """Softmax of a fixed linear map of the observation: every agent reacts to everything it
    sees, its partners' relative positions included."""

    groups = ("drone",)

    def __init__(self, dim: int, scale: float, seed: int = 0) -> None:
        self.weights = np.random.default_rng(seed).normal(0.0, scale, (dim, 5))

    def action_probs(self, group, obs, agents, mask=None):
        logits = np.asarray(obs, np.float64) @ self.weights
        e = np.exp(logits - logits.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def act(self, obs, action_mask=None, deterministic=True):
        flat = obs["drone"].reshape(-1, obs["drone"].shape[-1])
        best = self.action_probs("drone", flat, None).argmax(-1)
        return {"drone": best.reshape(obs["drone"].shape[:2]).astype(np.int64)}

    def reset(self, env_ids=None):
        pass


def test_a_policy_that_reacts_to_its_partners_has_positive_influence():
    dim = make_env(SPREAD, 1, 0, **ENV).groups["drone"].observation_space.shape[0]
    reacting = Lineup({"drone": "lin"}, {"lin": Linear(dim, 0.3, seed=1)})
    matrix = influence(SETUP, reacting, "drone", 0, 0)
    off = matrix[~np.eye(3, dtype=bool)]
    assert np.all(np.diag(matrix) == 0.0)
    assert off.min() > 1e-4 and off.mean() > 1e-3, matrix
    assert influence(SETUP, reacting, "drone", 0, 0).tolist() == matrix.tolist()  # deterministic
    calm = Lineup({"drone": "lin"}, {"lin": Linear(dim, 0.01, seed=1)})  # nearly uniform
    assert influence(SETUP, calm, "drone", 0, 0).mean() < 0.01 * matrix.mean()


def test_identical_policies_have_zero_role_diversity_and_different_ones_do_not():
    venv = make_env(SPREAD, 1, 0, **ENV)
    a, b = network(0, 300.0), network(1, 300.0)
    lineup = Lineup({"drone": "a"}, {"a": a, "b": b})
    obs = observe_pass(SETUP, lineup, "drone", 0)["obs"]
    made = {"a": a, "b": b}
    assert role_diversity(obs, ["a", "a", "a"], made, "drone") == 0.0
    mixed = role_diversity(obs, ["a", "b", "a"], made, "drone")
    assert 0.05 < mixed <= 1.0
    with_ids = network(2, 300.0, agent_id=True)  # one network, an agent id per agent
    assert role_diversity(obs, ["c"] * 3, {"c": with_ids}, "drone") > 0.0
    venv.close()


def test_spatial_specialization_is_zero_for_shared_places_and_one_for_disjoint_ones():
    same = np.zeros((2, 3, 16))
    same[:, :, [0, 5]] = [4.0, 2.0]
    assert occupancy_specialization(same) == 0.0
    apart = np.zeros((2, 3, 16))
    for agent in range(3):
        apart[:, agent, agent * 4] = 7.0
    assert occupancy_specialization(apart) == pytest.approx(1.0)


def test_measure_reports_every_measure_and_chance_for_random_actions():
    values = measure(SETUP, Lineup({"drone": "random"}), "drone", worlds=1)
    assert values["influence"] == 0.0 and values["role_diversity"] == 0.0
    assert 0.0 < values["spatial_specialization"] <= 1.0
    scripted = measure(SETUP, Lineup({"drone": "scripted"}), "drone", worlds=1)
    assert np.isnan(scripted["influence"]) and np.isnan(scripted["role_diversity"])
    assert 0.0 < scripted["spatial_specialization"] <= 1.0
