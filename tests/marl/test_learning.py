"""Learning test: MAPPO and IPPO on swarm/spread-v0 (3 drones), trained in parallel processes.

Each run is seed-fixed; the trained policies are evaluated deterministically against the
uniform-random policy and the scenario's scripted greedy baseline on the same evaluation seeds.
"""

from concurrent.futures import ProcessPoolExecutor

import pytest

from marl.config import TrainConfig
from marl.envs import make_env, scripted_baseline
from marl.evaluate import evaluate
from marl.train import train
from policies import RandomPolicy, load_policy

SCENARIO = "swarm/spread-v0"
ENV = {"n_agents": 3}
STEPS = 3_000_000


def spread_config(algo: str, run_dir: str) -> TrainConfig:
    return TrainConfig(
        env_id=SCENARIO,
        env=dict(ENV),
        algo=algo,
        total_steps=STEPS,
        num_envs=64,
        num_steps=50,
        lr=5e-3,
        ent_coef=0.003,
        gamma=0.95,
        epochs=5,
        minibatches=4,
        agent_id=False,
        seed=1,
        run_dir=run_dir,
        progress=False,
        tensorboard=False,
        checkpoint_every=1000,
    )


def train_and_evaluate(algo: str, run_dir: str) -> dict:
    train(spread_config(algo, run_dir))
    result = evaluate(load_policy(run_dir), SCENARIO, ENV, episodes=128, seed=777)
    return {"return": result.mean_return, "coverage": result.metrics["coverage"]}


@pytest.fixture(scope="module")
def baselines():
    venv = make_env(SCENARIO, 32, 777, **ENV)
    greedy = evaluate(scripted_baseline(venv), SCENARIO, episodes=128, seed=777, venv=venv)
    venv = make_env(SCENARIO, 32, 777, **ENV)
    random = evaluate(RandomPolicy(venv.groups), SCENARIO, episodes=128, seed=777, venv=venv)
    return greedy, random


def test_mappo_and_ippo_learn_to_spread(tmp_path, baselines):
    greedy, random = baselines
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = {
            algo: pool.submit(train_and_evaluate, algo, str(tmp_path / algo))
            for algo in ("mappo", "ippo")
        }
        results = {algo: future.result() for algo, future in futures.items()}
    gap = greedy.mean_return - random.mean_return
    print(f"random {random.mean_return:.2f}, coverage {random.metrics['coverage']:.3f}")
    print(f"greedy {greedy.mean_return:.2f}, coverage {greedy.metrics['coverage']:.3f}")
    print(f"learned {results}")
    for algo, result in results.items():
        summary = (
            f"{algo}: {result}, greedy {greedy.mean_return:.2f}/{greedy.metrics['coverage']:.2f}"
        )
        # A wide margin: at least half of the way from random to the scripted baseline.
        assert result["return"] > random.mean_return + 0.5 * gap, summary
        assert result["coverage"] >= 0.8 * greedy.metrics["coverage"], summary
