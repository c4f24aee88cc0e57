"""Learning test: MAPPO on warehouse/shelves-v0 (RWARE's tiny warehouse, 2 robots), seed-fixed,
on a CI-sized budget. The trained policy (deterministic actions), the uniform-random policy and
the scripted planner play the same evaluation episodes; the learned robots must get at least
half of the way from random to the planner on deliveries.

The run uses the pick-up and return shaping (0.5 each, paid once per request and per delivered
shelf): with RWARE's sparse reward alone the same run delivers 2.2 per episode, a fifth of the
way (measured once; the README gives the longer curve)."""

import pytest

from marl.config import TrainConfig
from marl.envs import make_env, scripted_baseline
from marl.evaluate import evaluate
from marl.train import train
from policies import RandomPolicy, load_policy

SCENARIO = "warehouse/shelves-v0"
ENV = {"n_robots": 2, "max_steps": 200, "shaping_pickup": 0.5, "shaping_return": 0.5}


def deliveries(policy, venv) -> float:
    result = evaluate(policy, SCENARIO, ENV, episodes=64, seed=777, venv=venv)
    return result.metrics["deliveries"]


@pytest.fixture(scope="module")
def baselines():
    scripted = deliveries(scripted_baseline(venv := make_env(SCENARIO, 32, 777, **ENV)), venv)
    random = deliveries(RandomPolicy((venv := make_env(SCENARIO, 32, 777, **ENV)).groups), venv)
    return scripted, random


def test_mappo_learns_to_deliver_shelves(tmp_path, baselines):
    scripted, random = baselines
    config = TrainConfig(
        env_id=SCENARIO,
        env=dict(ENV),
        algo="mappo",
        total_steps=1_500_000,
        num_envs=64,
        num_steps=64,
        seed=1,
        run_dir=str(tmp_path / "run"),
        progress=False,
        tensorboard=False,
    )
    train(config)
    learned = deliveries(load_policy(config.run_dir), make_env(SCENARIO, 32, 777, **ENV))
    summary = f"learned {learned:.2f}, random {random:.2f}, scripted {scripted:.2f}"
    print(summary)
    assert scripted > 10 * max(random, 0.1), summary
    assert learned > random + 0.5 * (scripted - random), summary
