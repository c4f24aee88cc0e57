"""The ``marl`` command line: scenarios listing, replays, and one-line errors."""

import imageio.v2 as imageio
import pytest

from marl.cli import main


def test_scenarios_lists_the_registry(capsys):
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    assert "swarm/spread-v0" in out
    assert "group drone: 3 agents" in out
    assert "Discrete(5)" in out


def test_scenarios_shows_layout_and_config_ranges_for_a_changed_config():
    """The user's path: the installed ``marl`` command in a subprocess."""
    import subprocess

    done = subprocess.run(
        ["marl", "scenarios", "swarm/spread-v0", "--obs", "--config", "-e", "n_agents=5"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[0].startswith("swarm/spread-v0:") and "swarm/pursuit-v0" not in done.stdout
    # 5 landmarks of 2 values after the 4 own values; then 3 neighbours of 4 plus 3 flags.
    assert [line.split()[:3] for line in lines if line.split()[2:3] == ["landmarks"]] == [
        ["4", "10", "landmarks"]
    ]
    assert any(line.split() == ["29", "total"] for line in lines)
    (n_agents,) = [line for line in lines if line.strip().startswith("n_agents =")]
    assert "= 5" in n_agents and "in [1, 1024]" in n_agents and "Number of drones" in n_agents
    bad = subprocess.run(
        ["marl", "scenarios", "swarm/spread-v0", "-e", "n_agents=0"], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "marl scenarios: swarm/spread-v0: n_agents must be in [1, 1024], got 0"
    )


def test_play_writes_a_replay_of_the_baseline(tmp_path, capsys):
    out = tmp_path / "spread.gif"
    assert (
        main(
            [
                "play",
                "swarm/spread-v0",
                "--out",
                str(out),
                "--size",
                "120",
                "-e",
                "max_steps=12",
                "-e",
                "n_agents=4",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "(13 frames)" in printed  # the first observation and one frame per step
    assert "coverage=" in printed
    frames = imageio.mimread(out)  # GIF merges identical consecutive frames
    assert len(frames) > 5 and frames[0].shape[:2] == (120, 120)
    assert not (frames[0] == frames[-1]).all()  # the drones moved


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["play", "swarm/sprad-v0"], "did you mean swarm/spread-v0"),
        (["play", "swarm/spread-v0", "-e", "n_agent=2"], "unknown config field 'n_agent'"),
        (["play", "swarm/spread-v0", "-e", "n_agents"], "field=value"),
        (["play", "swarm/spread-v0", "--out", "x.avi"], "must end in .mp4 or .gif"),
    ],
)
def test_play_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_unknown_subcommand(capsys):
    assert main(["trian"]) == 2
    assert "unknown subcommand 'trian'" in capsys.readouterr().err


def tiny_run(run, env_id: str, env: dict):
    """Train two tiny updates of ``env_id`` into ``run``; returns the folder."""
    from marl.config import TrainConfig
    from marl.train import train

    cfg = TrainConfig(
        env_id=env_id,
        env=env,
        num_envs=2,
        num_steps=8,
        total_steps=2 * 8 * 3 * 2,
        epochs=1,
        minibatches=1,
        run_dir=str(run),
        progress=False,
        tensorboard=False,
    )
    train(cfg)
    return run


@pytest.fixture(scope="module")
def spread_run(tmp_path_factory):
    """A small trained run on swarm/spread-v0 with 3 drones."""
    run = tmp_path_factory.mktemp("runs") / "spread3"
    return tiny_run(run, "swarm/spread-v0", {"n_agents": 3, "max_steps": 10})


def test_a_policy_on_spaces_it_does_not_fit_is_one_line(spread_run, tmp_path, capsys):
    argv = ["play", "swarm/spread-v0", "--policy", str(spread_run), "-e", "n_agents=4"]
    assert main([*argv, "--out", str(tmp_path / "x.gif")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "marl play: group 'drone': policy expects observations Box(20,), swarm/spread-v0 gives "
        "Box(27,)"
    )
    argv = ["play", "pz:mpe2.simple_spread_v3", "--policy", str(spread_run)]
    assert main([*argv, "--out", str(tmp_path / "y.gif")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("marl play: policy has groups ['drone'], pz:mpe2.simple_spread_v3 has ['agent']")


def test_evaluate_names_the_group_whose_spaces_do_not_fit(spread_run):
    from marl.evaluate import evaluate
    from policies import PolicyMismatchError, load_policy

    with pytest.raises(PolicyMismatchError, match="group 'drone': policy expects observations"):
        evaluate(load_policy(spread_run), "swarm/spread-v0", {"n_agents": 4}, episodes=2)


def test_play_renders_a_policy_trained_on_a_pettingzoo_env(tmp_path, capsys):
    run = tiny_run(tmp_path / "mpe", "pz:mpe2.simple_spread_v3", {"max_cycles": 12})
    out = tmp_path / "mpe.gif"
    argv = ["play", "pz:mpe2.simple_spread_v3", "--policy", str(run), "--size", "96"]
    assert main([*argv, "--out", str(out)]) == 0
    assert "(13 frames)" in capsys.readouterr().out  # trained config: 12 steps
    frames = imageio.mimread(out)
    assert frames[0].shape[:2] == (96, 96) and not (frames[0] == frames[-1]).all()


def test_a_trained_policy_replay_does_not_overwrite_the_baseline_replay(
    spread_run, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    common = ["play", "swarm/spread-v0", "--size", "64", "-e", "max_steps=4"]
    assert main(common) == 0
    assert main([*common, "--policy", str(spread_run)]) == 0
    checkpoint = spread_run / "checkpoints" / "update_000002"
    assert main([*common, "--policy", str(checkpoint)]) == 0
    written = sorted(p.name for p in (tmp_path / "replays").iterdir())
    assert written == [
        "swarm_spread-v0.mp4",
        "swarm_spread-v0_spread3.mp4",
        "swarm_spread-v0_spread3_update_000002.mp4",
    ]


def test_play_summary_says_undefined_for_a_metric_the_episode_left_undefined():
    from scenarios.replay import summary

    record = {
        "path": "x.gif",
        "frames": 3,
        "return": {"evader": 0.1, "pursuer": -0.1},
        "metrics": {"capture_rate": 0.0, "time_to_capture": float("nan")},
    }
    assert summary(record) == (
        "wrote x.gif (3 frames); return evader=0.1, pursuer=-0.1; capture_rate=0, "
        "time_to_capture=undefined"
    )
