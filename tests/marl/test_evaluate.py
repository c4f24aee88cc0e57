"""Competitive scenarios report each group's return; metrics that an episode may leave undefined
are averaged over the episodes that define them, with the count."""

from __future__ import annotations

import math
import re

import pytest

from marl.envs import make_env
from marl.evaluate import episode_figures, evaluate, format_figures
from marl.train import main
from policies import RandomPolicy


def test_figures_by_hand():
    nan = float("nan")
    episodes = [
        {"return": {"pursuer": 1.0, "evader": -1.0}, "metrics": {"ttc": 10.0, "rate": 1.0}},
        {"return": {"pursuer": 0.0, "evader": 0.0}, "metrics": {"ttc": nan, "rate": 0.0}},
        {"return": {"pursuer": 2.0, "evader": -2.0}, "metrics": {"ttc": 20.0, "rate": 0.5}},
        {"return": {"pursuer": 1.0, "evader": -1.0}, "metrics": {"ttc": nan, "rate": 0.5}},
    ]
    returns, metrics, counts = episode_figures(episodes)
    assert returns == {"evader": -1.0, "pursuer": 1.0}
    assert metrics == {"rate": 0.5, "ttc": 15.0} and counts == {"rate": 4, "ttc": 2}
    assert format_figures(returns, metrics, counts, 4) == (
        "return evader=-1, pursuer=1; rate=0.5, ttc=15 (2 of 4 episodes)"
    )
    none = [{"return": {"a": 0.0}, "metrics": {"ttc": nan}}]
    returns, metrics, counts = episode_figures(none)
    assert math.isnan(metrics["ttc"]) and counts == {"ttc": 0}
    expected = "return a=0; ttc=undefined (0 of 1 episodes)"
    assert format_figures(returns, metrics, counts, 1) == expected


def test_evaluate_reports_each_team_and_defined_metrics_on_pursuit():
    venv = make_env("swarm/pursuit-v0", 8, 12345, max_steps=60)
    result = evaluate(RandomPolicy(venv.groups), "swarm/pursuit-v0", episodes=16, venv=venv)
    assert set(result.return_by_group) == {"pursuer", "evader"}
    assert result.return_by_group["pursuer"] != result.return_by_group["evader"]
    defined = result.metric_counts["time_to_capture"]
    assert 0 < defined < 16  # some episodes end without a capture
    assert math.isfinite(result.metrics["time_to_capture"])
    assert result.metric_counts["capture_rate"] == 16
    summary = result.summary()
    assert re.search(r"time_to_capture=[\d.]+ \(\d+ of 16 episodes\)", summary), summary
    assert summary.startswith("return evader=") and ", pursuer=" in summary


def test_the_train_summary_line_reports_each_team(tmp_path, capsys):
    argv = ["swarm/pursuit-v0", "-e", "max_steps=30", "--num-envs", "4", "--num-steps", "30"]
    argv += ["--steps", "2000", "--run-dir", str(tmp_path / "r"), "--progress", "false"]
    assert main([*argv, "--tensorboard", "false"]) == 0
    line = capsys.readouterr().out.strip()
    assert re.match(
        rf"run {re.escape(str(tmp_path / 'r'))}: [\d,]+ agent-steps; return evader=\S+, "
        r"pursuer=\S+; capture_rate=\S+, survival_time=\S+, time_to_capture=",
        line,
    ), line
    assert "mean return" not in line and "(last " in line


def test_evaluate_of_a_one_group_policy_on_two_groups_names_them(tmp_path):
    from marl.config import TrainConfig
    from marl.train import train
    from policies import PolicyMismatchError, load_policy

    cfg = TrainConfig(
        env_id="swarm/spread-v0",
        env={"n_agents": 2, "max_steps": 5},
        num_envs=2,
        num_steps=5,
        total_steps=20,
        epochs=1,
        minibatches=1,
        run_dir=str(tmp_path / "r"),
        progress=False,
        tensorboard=False,
    )
    train(cfg)
    with pytest.raises(PolicyMismatchError, match=r"policy has groups \['drone'\]"):
        evaluate(load_policy(tmp_path / "r"), "swarm/pursuit-v0", episodes=1, num_envs=1)


def test_evaluate_takes_any_policy_including_a_joint_one():
    from marl.envs import scripted_baseline
    from policies import JointPolicy, Policy

    venv = make_env("swarm/pursuit-v0", 4, 1, max_steps=20)
    scripted, random = scripted_baseline(venv), RandomPolicy(venv.groups)
    assert isinstance(scripted, Policy) and isinstance(random, Policy)
    joint = JointPolicy({"pursuer": scripted, "evader": random})
    result = evaluate(joint, "swarm/pursuit-v0", episodes=4, venv=venv)
    assert set(result.return_by_group) == {"pursuer", "evader"} and result.episodes == 4
    with pytest.raises(TypeError, match="function is not a Policy"):
        evaluate(lambda venv: random, "swarm/pursuit-v0", episodes=1, venv=venv)
