"""Per-agent termination in the vector env, with a small scenario built for the test."""

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from scenarios.core import GroupSpec, Scenario, ScenarioConfig
from scenarios.vector import VectorEnv
from worlds import HolonomicPointMass, WorldBatch


@dataclass(frozen=True)
class ExitConfig(ScenarioConfig):
    max_steps: int = 20


class Exit(Scenario):
    """Agent i of each world is done after i + 1 steps; reward 1 per step while acting."""

    config_class = ExitConfig
    scenario_id = "test/exit-v0"

    def groups(self):
        obs = spaces.Box(-np.inf, np.inf, (3,), np.float32)
        return {"runner": GroupSpec("runner", 3, obs, spaces.Discrete(2))}

    def make_world(self, num_worlds):
        world = WorldBatch(num_worlds, 4, 4)
        self.runners = world.add_group("runner", 3, radius=0.1, dynamics=HolonomicPointMass(1, 1))
        self.age = np.zeros((num_worlds, 3), np.int64)
        self.obs = np.ones((num_worlds, 3, 3), np.float32)
        return world

    def reset(self, world, rng, env_ids):
        self.age[env_ids] = 0
        world.reset_bodies("runner", env_ids, np.array([[-1.0, 0.0, 1.0]]), np.zeros((1, 3)))

    def apply_actions(self, world, actions):
        self.age += 1

    def observe(self, world):
        return {"runner": self.obs}

    def reward(self, world):
        self.reward_terms = {"alive": np.ones_like(self.age, np.float32)}
        return {"runner": np.ones(self.age.shape, np.float32)}

    def terminated(self, world):
        return {"runner": self.age >= np.arange(1, 4)}


def test_finished_agents_are_masked_and_the_world_ends_when_all_are_done():
    venv = VectorEnv(Exit(ExitConfig()), num_envs=2, seed=0)
    venv.reset()
    act = {"runner": np.zeros((2, 3), np.int64)}
    obs, rew, terminated, truncated, info = venv.step(act)
    assert terminated["runner"][0].tolist() == [True, False, False]
    assert rew["runner"][0].tolist() == [1, 1, 1]  # the last step still pays
    obs, rew, terminated, truncated, info = venv.step(act)
    assert venv.alive["runner"][0].tolist() == [False, False, True]
    assert rew["runner"][0].tolist() == [0, 1, 1]  # a finished agent earns nothing
    assert terminated["runner"][0].tolist() == [False, True, False]  # reported once
    assert (obs["runner"][:, 0] == 0).all() and (obs["runner"][:, 2] == 1).all()
    obs, rew, terminated, truncated, info = venv.step(act)
    assert [e["length"] for e in info["episodes"]] == [3, 3]
    # Returns: 1, 2 and 3 steps of reward 1, averaged over the group.
    assert info["episodes"][0]["return"]["runner"] == 2.0
    assert not truncated["runner"].any()
    assert venv.alive["runner"].all()  # auto-reset brought everyone back
