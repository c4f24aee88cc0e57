"""Per-agent termination in the vector env, with a small scenario built for the test: the env
keeps the step count, the alive masks and the steps at which agents left, parks finished
agents' bodies, and reports episode-end figures."""

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from scenarios.core import GroupSpec, Reward, Scenario, ScenarioConfig
from scenarios.vector import VectorEnv
from worlds import HolonomicPointMass, WorldBatch


@dataclass(frozen=True)
class ExitConfig(ScenarioConfig):
    max_steps: int = 20


class Exit(Scenario):
    """Agent i of each world is done after i + 1 steps; reward 1 per step while acting."""

    config_class = ExitConfig
    scenario_id = "test/exit-v0"
    parked_bodies = {"runner": "runner"}

    def groups(self):
        obs = spaces.Box(-np.inf, np.inf, (3,), np.float32)
        return {"runner": GroupSpec("runner", 3, obs, spaces.Discrete(2))}

    def make_world(self, num_worlds):
        world = WorldBatch(num_worlds, 4, 4)
        self.runners = world.add_group("runner", 3, radius=0.1, dynamics=HolonomicPointMass(1, 1))
        self.obs = np.ones((num_worlds, 3, 3), np.float32)
        return world

    def reset(self, world, rng, env_ids):
        world.reset_bodies("runner", env_ids, np.array([[-1.0, 0.0, 1.0]]), np.zeros((1, 3)))

    def apply_actions(self, world, actions):
        self.runners.command[...] = (1.0, 0.0)  # everybody pushes east

    def observe(self, frame):
        return {"runner": self.obs}

    def reward(self, frame):
        ones = np.ones(self.obs.shape[:2], np.float32)
        return Reward({"runner": ones}, {"alive": ones})

    def terminated(self, frame):
        return {"runner": frame.episode.steps[:, None] >= np.arange(1, 4)}

    def episode_end(self, frame, env_ids):
        return {"left_at": frame.episode.ended_at["runner"][env_ids].mean(axis=1)}


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
    # Runner 0 left after step 1: its body is parked far below the arena and stays there,
    # though its command still pushes east.
    runners = venv.scenario.runners
    assert (runners.y[:, 0] < -4).all() and (runners.vx[:, 0] == 0).all()
    parked_at = runners.x[:, 0].copy()
    assert (runners.vx[:, 2] > 0).all()  # a runner still in moves
    obs, rew, terminated, truncated, info = venv.step(act)
    assert [e["length"] for e in info["episodes"]] == [3, 3]
    assert (runners.x[:, 0] != parked_at).all()  # placed back in the arena by the reset
    # The steps at which runners left: 1, 2 and 3.
    assert [e["metrics"]["left_at"] for e in info["episodes"]] == [2.0, 2.0]
    # Returns: 1, 2 and 3 steps of reward 1, averaged over the group.
    assert info["episodes"][0]["return"]["runner"] == 2.0
    assert not truncated["runner"].any()
    assert venv.alive["runner"].all()  # auto-reset brought everyone back
