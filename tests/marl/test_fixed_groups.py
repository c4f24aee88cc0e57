"""Groups assigned to different policies in one run: ``marl train --fixed GROUP=POLICY`` trains
the other groups while the fixed ones play a scripted, random or trained policy; the run resumes
exactly; mistakes are one line naming the field."""

from __future__ import annotations

import json
import re
import signal

import numpy as np
import pytest
from cli_runs import final_checkpoint, latest, run_killer, run_marl

from marl.train import main
from policies import load_policy

PURSUIT = "swarm/pursuit-v0"
# 4 worlds x 8 steps x 3 learning pursuers = 96 agent-steps per update.
SMALL = ["-e", "max_steps=20", "--num-envs", "4", "--num-steps", "8", "--epochs", "2"]
SMALL += ["--minibatches", "2", "--progress", "false", "--tensorboard", "false"]


def pursuit_args(run_dir, updates: int, *extra: str) -> list[str]:
    steps = str(updates * 4 * 8 * 3)
    return [PURSUIT, *SMALL, "--steps", steps, "--run-dir", str(run_dir), *extra]


@pytest.mark.parametrize("kind", ["scripted", "random"])
def test_a_fixed_group_plays_while_the_other_learns(tmp_path, capsys, kind):
    run_dir = tmp_path / kind
    assert main(pursuit_args(run_dir, 3, "--fixed", f"evader={kind}")) == 0
    line = capsys.readouterr().out.strip()
    assert re.match(r"run .*: 288 agent-steps; return evader=\S+, pursuer=\S+; ", line), line
    assert json.loads((run_dir / "config.json").read_text())["fixed"] == {"evader": kind}
    policy = load_policy(run_dir)
    assert list(policy.groups) == ["pursuer"]  # the checkpoint holds the learning group only
    trainer = (run_dir / "checkpoints" / latest(run_dir) / "trainer.safetensors").read_bytes()
    assert b"optimizer/pursuer/" in trainer and b"optimizer/evader/" not in trainer


def test_a_fixed_group_can_play_a_trained_run_copied_into_the_run(tmp_path):
    evaders = tmp_path / "evaders"
    assert main(pursuit_args(evaders, 2, "--fixed", "pursuer=scripted")) == 0
    assert list(load_policy(evaders).groups) == ["evader"]
    run_dir = tmp_path / "pursuers"
    assert main(pursuit_args(run_dir, 2, "--fixed", f"evader={evaders}")) == 0
    copy = load_policy(run_dir / "fixed" / "evader")
    original = load_policy(evaders)
    obs = {"evader": np.random.default_rng(0).normal(size=(3, 2, 34)).astype(np.float32)}
    np.testing.assert_array_equal(copy.act(obs)["evader"], original.act(obs)["evader"])
    # A resumed run reads its own copy, not the folder its config names.
    (evaders / "checkpoints" / "LATEST").write_text("missing\n")
    assert main(["--resume", str(run_dir), "--steps", str(3 * 96), "--progress", "false"]) == 0


def test_play_shows_the_learned_group_against_its_fixed_opponent(tmp_path):
    """The user's path: ``marl play`` on a run whose checkpoint holds only the learning group
    plays it against the fixed policy the run trained against, through the real command."""
    run_dir = tmp_path / "run"
    assert main(pursuit_args(run_dir, 2, "--fixed", "evader=scripted")) == 0
    out = tmp_path / "play.gif"
    played = run_marl(
        ["play", PURSUIT, "--policy", str(run_dir), "--out", str(out), "--size", "96"]
    )
    assert played.returncode == 0, played.stderr
    assert re.search(r"return evader=\S+, pursuer=\S+", played.stdout), played.stdout
    assert out.stat().st_size > 0
    # A run trained on another scenario is refused in one line, not joined to anything.
    other = run_marl(["play", "swarm/spread-v0", "--policy", str(run_dir), "--out", str(out)])
    assert other.returncode == 2 and len(other.stderr.strip().splitlines()) == 1
    assert "policy has groups ['pursuer']" in other.stderr


def test_fixed_group_mistakes_are_one_line_naming_the_field(tmp_path, capsys):
    spread = tmp_path / "spread"
    spread_args = ["swarm/spread-v0", "-e", "n_agents=2", "-e", "max_steps=5", "--steps", "20"]
    spread_args += ["--num-envs", "2", "--num-steps", "5", "--progress", "false"]
    assert main([*spread_args, "--run-dir", str(spread)]) == 0
    wider = tmp_path / "wider"  # evaders that see 3 teammates: observations of 39
    assert main(pursuit_args(wider, 1, "-e", "k_teammates=3", "--fixed", "pursuer=random")) == 0
    capsys.readouterr()
    cases = {
        "ghost=random": "config field 'fixed': swarm/pursuit-v0 has no group 'ghost' "
        "(groups: pursuer, evader)",
        "evader=random --fixed pursuer=scripted": "config field 'fixed': every group of "
        "swarm/pursuit-v0 is fixed (pursuer, evader); leave at least one to learn",
        f"evader={spread}": f"config field 'fixed': group 'evader': {spread} has no policy for "
        "it (it has drone)",
        f"evader={wider}": f"config field 'fixed': {wider}: group 'evader': policy expects "
        "observations Box(39,), swarm/pursuit-v0 gives Box(34,)",
        "evader": "config field 'fixed': expected GROUP=POLICY (scripted, random or a run "
        "folder), got 'evader'",
        f"evader={tmp_path / 'nowhere'}": "config field 'fixed': group 'evader': "
        f"{tmp_path / 'nowhere'}: does not exist",
    }
    for index, (given, message) in enumerate(cases.items()):
        run_dir = tmp_path / f"bad{index}"
        options = [option for part in given.split(" --fixed ") for option in ("--fixed", part)]
        assert main(pursuit_args(run_dir, 1, *options)) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"error: {message}", given
        assert not (run_dir / "config.json").exists()


def test_the_pettingzoo_adapter_has_no_scripted_baseline(tmp_path, capsys):
    args = ["pz:mpe2.simple_tag_v3", "-e", "max_cycles=10", "--fixed", "adversary=scripted"]
    assert main([*args, "--run-dir", str(tmp_path / "r"), "--progress", "false"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: config field 'fixed': group 'adversary': pz:mpe2.simple_tag_v3 has no scripted "
        "baseline"
    )


@pytest.mark.parametrize("kind", ["random", "scripted"])
def test_resume_with_a_fixed_group_ends_byte_identical(tmp_path, kind):
    """The real command, SIGKILLed mid-update and between boundaries, then resumed."""
    args = ["train", *pursuit_args(tmp_path / "a", 10, "--fixed", f"evader={kind}")]
    args += ["--checkpoint-every", "3"]
    unbroken = run_marl(args)
    assert unbroken.returncode == 0, unbroken.stderr
    run_dir = tmp_path / "b"
    broken = [a if a != str(tmp_path / "a") else str(run_dir) for a in args]
    killed = run_killer("update:5", broken)  # after the checkpoint of update 3
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert latest(run_dir) == "update_000003"
    stopped = run_killer("sigint:2", ["train", "--resume", str(run_dir), "--progress", "false"])
    assert stopped.returncode == 130, stopped.stderr
    assert latest(run_dir) == "update_000005"  # between two boundaries: replayed on resume
    finished = run_marl(["train", "--resume", str(run_dir), "--progress", "false"])
    assert finished.returncode == 0, finished.stderr
    assert final_checkpoint(run_dir) == final_checkpoint(tmp_path / "a")
