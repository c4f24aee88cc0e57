"""Learning test: one learned car among 21 IDM cars on Sugiyama's ring (22 cars, 230 m) damps
the stop-and-go waves, as the automated car of Stern et al. (2018) did among 21 human drivers.

The learned car drives through the ring's meta-actions and its FollowerStopper controller (the
controller of Stern et al.'s car): the policy sets the speed the car holds, the controller keeps
it from hitting its leader. It is trained by MAPPO (the critic reads the ring's state: every
car's position and speed) on a seed-fixed, CI-sized budget (0.5M agent-steps, about a minute and
a half), with a team reward on the mean speed minus the speed spread (``wave_weight``), a
neutral personality, two decisions a second (``dt`` 0.5 s, as highway-env's policies decide at
1 Hz over a finer simulation) and its leader in its ego block (no neighbour block:
``k_vehicles`` 0). On the same evaluation episodes it must lower the speed standard deviation
(over cars and time) below half the all-IDM ring's (the learned car driven by IDM like the
others) and well below what holding its start speed or pressing at random gives, keep the
ring's mean speed within 20% of the all-IDM ring's, and not collide.

Measured (0.5M agent-steps, seeds 1 to 4): learned 0.72, 0.63, 0.84 and 0.66 m/s against
all-IDM 2.31, holding the start speed 1.67 and random 1.75; mean speed 2.34 to 2.45 m/s against
all-IDM 2.71. With the neighbour block (k 6) seeds 1 to 4 gave 1.25, 0.63, 0.49 and 1.47."""

import numpy as np

from marl.config import TrainConfig
from marl.envs import make_env
from marl.evaluate import evaluate
from marl.train import train
from policies import RandomPolicy, load_policy

SCENARIO = "traffic/ring-v0"
ENV = {"dt": 0.5, "substeps": 5, "max_steps": 400, "speed_step": 1.0, "wave_weight": 0.2,
       "personality": "neutral", "k_vehicles": 0}  # fmt: skip


class HoldStartSpeed:
    """Always "keep": the learned car holds the speed it started with (FollowerStopper keeps
    it behind its leader)."""

    groups = ("car",)

    def reset(self, *args, **kwargs) -> None:
        pass

    def act(self, obs, action_mask=None, deterministic: bool = True):
        return {"car": np.zeros(obs["car"].shape[:2], np.int64)}


def figures(policy, **overrides) -> dict:
    result = evaluate(policy, SCENARIO, {**ENV, **overrides}, episodes=16, num_envs=16, seed=777)
    return result.metrics


def test_one_learned_car_damps_the_stop_and_go_waves_of_twenty_one_idm_cars(tmp_path):
    config = TrainConfig(env_id=SCENARIO, env=ENV, algo="mappo", total_steps=500_000,
                         num_envs=32, num_steps=128, gamma=0.99, seed=1,
                         run_dir=str(tmp_path / "run"), progress=False,
                         tensorboard=False)  # fmt: skip
    train(config)
    learned = figures(load_policy(config.run_dir))
    idm = figures(HoldStartSpeed(), idm_agents=True)  # the learned car drives as IDM
    hold = figures(HoldStartSpeed())
    random = figures(RandomPolicy(make_env(SCENARIO, 1, 0, **ENV).groups))
    keys = ("speed_std_all", "mean_speed", "collisions_per_1000km")
    rows = {"learned": learned, "all-IDM": idm, "hold": hold, "random": random}
    summary = " | ".join(f"{name}: " + ", ".join(f"{k} {m[k]:.3g}" for k in keys)
                         for name, m in rows.items())  # fmt: skip
    print(summary)
    assert learned["speed_std_all"] < 0.5 * idm["speed_std_all"], summary
    assert learned["speed_std_all"] < 0.75 * min(hold["speed_std_all"],
                                                 random["speed_std_all"]), summary  # fmt: skip
    assert learned["mean_speed"] > 0.8 * idm["mean_speed"], summary  # damped, not crawling
    assert learned["collisions_per_1000km"] == 0.0, summary
