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
