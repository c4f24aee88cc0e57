"""Exact resume, tried the way users do it: the ``marl`` command in subprocesses, killed with
SIGKILL at seeded random moments (before the first checkpoint, inside a checkpoint write, in the
middle of an update, several times in one run) or stopped with Ctrl-C / SIGTERM, and resumed with
``marl train --resume``; the resumed run must end with the same bytes as an unbroken one."""

from __future__ import annotations

import random
import signal
import time

import pytest
from cli_runs import (
    MPE,
    SPREAD,
    final_checkpoint,
    latest,
    run_killer,
    run_marl,
    start_marl,
    temporary_files,
    train_args,
)

UPDATES = 24
EVERY = 3


def resume_args(scenario: str, run_dir) -> list[str]:
    # A pz: run is resumed with its id on the command line (loading a run imports nothing that
    # the user did not name); a registered scenario needs no id.
    named = [scenario] if scenario.startswith("pz:") else []
    return ["train", *named, "--resume", str(run_dir), "--progress", "false"]


def kill_when_a_checkpoint_is_being_written(args, run_dir, rng) -> bool:
    """Start ``marl``; SIGKILL it when a temporary checkpoint folder appears (or, if no write is
    caught, at a random moment). Returns whether the kill landed inside a checkpoint write."""
    proc = start_marl(args)
    root = run_dir / "checkpoints"
    deadline = time.monotonic() + rng.uniform(1.5, 4.0)
    inside = False
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            inside = any(name.startswith(".tmp-") for name in (p.name for p in root.iterdir()))
        except OSError:
            inside = False
        if inside:
            break
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    return inside


@pytest.mark.parametrize("scenario", [MPE, SPREAD])
def test_sigkill_at_random_moments_then_resume_ends_byte_identical(tmp_path, scenario):
    args = train_args(scenario, UPDATES, "--checkpoint-every", str(EVERY))
    unbroken = run_marl([*args, "--run-dir", str(tmp_path / "a")])
    assert unbroken.returncode == 0, unbroken.stderr

    rng = random.Random(f"kills {scenario}")
    run_dir = tmp_path / "b"
    plan = [
        f"update:{rng.randint(1, EVERY)}",  # before the first checkpoint
        f"commit:{rng.randint(1, 2)}",  # inside a checkpoint write, before its folder is renamed
        f"update:{rng.randint(2, 2 * EVERY)}",  # in the middle of an update
        f"latest:{rng.randint(1, 2)}",  # folder renamed, LATEST not yet replaced
    ]
    resumed_from = []
    for index, point in enumerate(plan):
        argv = [*args, "--run-dir", str(run_dir)] if index == 0 else resume_args(scenario, run_dir)
        resumed_from.append(latest(run_dir))
        killed = run_killer(point, argv)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr)
        if index == 0:
            assert latest(run_dir) is None  # killed before its first checkpoint
        kind = point.split(":")[0]
        root = run_dir / "checkpoints"
        names = {p.name for p in root.iterdir()} if root.is_dir() else set()
        if kind == "commit":
            assert any(name.startswith(".tmp-update_") for name in names), names
        if kind == "latest":
            newest = max(n for n in names if n.startswith("update_"))
            assert newest > latest(run_dir)  # the new folder is there, LATEST still the old one
    resumed_from.append(latest(run_dir))
    kill_when_a_checkpoint_is_being_written(resume_args(scenario, run_dir), run_dir, rng)
    resumed_from.append(latest(run_dir))
    finished = run_marl(resume_args(scenario, run_dir))
    assert finished.returncode == 0, finished.stderr

    assert resumed_from[0] is None and resumed_from[1] is None  # resumed from config.json alone
    firsts = {f"update_{EVERY:06d}", None}
    assert any(name not in firsts for name in resumed_from), resumed_from  # a middle checkpoint
    assert temporary_files(run_dir) == []
    assert final_checkpoint(run_dir) == final_checkpoint(tmp_path / "a")


SIGNAL_ARGS = train_args(MPE, 9, "--checkpoint-every", "3", "--tensorboard", "true")


@pytest.fixture(scope="module")
def unbroken_nine(tmp_path_factory):
    """An unbroken run of ``SIGNAL_ARGS`` (9 updates, checkpoints every 3)."""
    run_dir = tmp_path_factory.mktemp("unbroken") / "a"
    result = run_marl([*SIGNAL_ARGS, "--run-dir", str(run_dir)])
    assert result.returncode == 0, result.stderr
    return final_checkpoint(run_dir)


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start(tmp_path, unbroken_nine):
    killed = run_killer("update:2", [*SIGNAL_ARGS, "--run-dir", str(tmp_path / "b")])
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "b/config.json").exists() and latest(tmp_path / "b") is None
    resumed = run_marl(resume_args(MPE, tmp_path / "b"))
    assert resumed.returncode == 0, resumed.stderr
    assert final_checkpoint(tmp_path / "b") == unbroken_nine


@pytest.mark.parametrize(
    ("point", "name", "code"),
    [("sigint:5", "SIGINT", 130), ("sigterm:4", "SIGTERM", 143), ("sigint2:5", "SIGINT", 130)],
)
def test_a_signal_saves_the_update_and_resume_is_exact(tmp_path, unbroken_nine, point, name, code):
    """The signal arrives in the middle of update N (counted from 1): the run finishes that
    update, saves it (between two checkpoint boundaries) and exits; a second Ctrl-C stops at
    once, after saving the last finished update."""
    run_dir = tmp_path / "b"
    stopped = run_killer(point, [*SIGNAL_ARGS, "--run-dir", str(run_dir)])
    assert stopped.returncode == code, stopped.stderr
    saved = int(point.split(":")[1]) - (1 if point.startswith("sigint2") else 0)
    assert latest(run_dir) == f"update_{saved:06d}" and saved % 3 != 0
    message = stopped.stderr.strip().splitlines()[-1]
    assert message == (
        f"stopped by {name}: saved update_{saved:06d} in {run_dir}; continue with: "
        f"marl train --resume {run_dir}"
    )
    resumed = run_marl(resume_args(MPE, run_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert final_checkpoint(run_dir) == unbroken_nine


def test_ctrl_c_from_outside_saves_and_names_the_run_folder(tmp_path):
    args = train_args(SPREAD, 60, "--checkpoint-every", "7")
    assert run_marl([*args, "--run-dir", str(tmp_path / "a")]).returncode == 0
    run_dir = tmp_path / "b"
    proc = start_marl([*args, "--run-dir", str(run_dir)])
    deadline = time.monotonic() + 60
    while latest(run_dir) is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(random.Random(7).uniform(0.0, 0.3))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("stopped by SIGINT: saved update_")
    assert f"in {run_dir}; continue with: marl train --resume {run_dir}" in err
    assert "RUN_DIR" not in err
    resumed = run_marl(resume_args(SPREAD, run_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert final_checkpoint(run_dir) == final_checkpoint(tmp_path / "a")
