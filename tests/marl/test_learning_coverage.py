"""Learning test on the coverage scenario: MAPPO, 8 drones, default learner settings.

A short seed-fixed run must get at least halfway from the random policy to Lloyd's algorithm on
both of the scenario's main figures, the final coverage and the locational cost ratio.
"""

from marl.config import TrainConfig
from marl.envs import make_env, scripted_baseline
from marl.evaluate import evaluate
from marl.train import train
from policies import RandomPolicy, load_policy

SCENARIO = "swarm/coverage-v0"
ENV = {"n_agents": 8}


def test_mappo_gets_halfway_from_random_to_lloyd_on_coverage(tmp_path):
    run_dir = str(tmp_path / "coverage")
    train(
        TrainConfig(
            env_id=SCENARIO,
            env=dict(ENV),
            algo="mappo",
            total_steps=4_000_000,
            seed=0,
            run_dir=run_dir,
            progress=False,
            tensorboard=False,
        )
    )
    venv = make_env(SCENARIO, 32, 777, **ENV)
    lloyd = evaluate(scripted_baseline(venv), SCENARIO, episodes=128, seed=777, venv=venv)
    venv = make_env(SCENARIO, 32, 777, **ENV)
    random = evaluate(RandomPolicy(venv.groups), SCENARIO, episodes=128, seed=777, venv=venv)
    learned = evaluate(load_policy(run_dir), SCENARIO, ENV, 128, seed=777)
    for name in ("coverage", "cost_ratio"):
        start, goal = random.metrics[name], lloyd.metrics[name]
        reached = (learned.metrics[name] - start) / (goal - start)
        print(f"{name}: random {start:.3f}, Lloyd {goal:.3f}, MAPPO {learned.metrics[name]:.3f}")
        assert reached >= 0.5, f"{name}: only {reached:.2f} of the way from random to Lloyd's"
