"""A run folder is user data: resume extends it, nothing overwrites it by accident, one writer at
a time, and a folder that cannot be written fails in one line before training."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import time
from pathlib import Path

import pytest
from cli_runs import (
    MPE,
    STEPS_PER_UPDATE,
    final_bytes,
    latest,
    run_marl,
    small_config,
    start_marl,
    temporary_files,
    train_args,
)
from safetensors.torch import load_file

from marl.runs.folder import RunFolder, RunFolderError
from marl.train import main, train
from policies import load_policy


def run_main(capsys, argv):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.err.strip(), captured.out


# ------------------------------------------------------------------------------ extending a run
def test_resume_with_more_steps_extends_the_run(tmp_path, capsys):
    run = tmp_path / "r"
    train(small_config(run, total_steps=STEPS_PER_UPDATE * 4, checkpoint_every=2))
    argv = [MPE, "--resume", str(run), "--steps", str(STEPS_PER_UPDATE * 7), "--progress", "false"]
    code, err, out = run_main(capsys, argv)
    assert code == 0, err
    assert latest(run) == "update_000007"
    assert json.loads((run / "config.json").read_text())["total_steps"] == STEPS_PER_UPDATE * 7
    assert f"{STEPS_PER_UPDATE * 7:,} agent-steps" in out and "already complete" not in out
    before = run / "checkpoints" / "update_000007" / "policy.safetensors"
    latest_bytes = before.read_bytes()
    code, err, out = run_main(capsys, [MPE, "--resume", str(run), "--progress", "false"])
    assert code == 0, err
    assert "already complete (extend it with --resume RUN --steps N)" in out
    assert before.read_bytes() == latest_bytes and latest(run) == "update_000007"


def test_an_extended_run_equals_an_unbroken_one_without_annealing(tmp_path):
    """Extending continues exactly (the end-of-run checkpoint at update 5 sits between two
    boundaries and replays its actions); with a constant learning rate the extended run is the
    unbroken longer run, byte for byte."""
    long = small_config(tmp_path / "a", total_steps=STEPS_PER_UPDATE * 8, anneal_lr=False)
    train(long)
    short = small_config(tmp_path / "b", total_steps=STEPS_PER_UPDATE * 5, anneal_lr=False)
    train(short)
    runtime = {"env_id": MPE, "total_steps": STEPS_PER_UPDATE * 8}
    train(resume=tmp_path / "b", runtime=runtime)
    assert final_bytes(tmp_path / "a") == final_bytes(tmp_path / "b")


def test_resume_refuses_fewer_steps_than_trained(tmp_path, capsys):
    run = tmp_path / "r"
    train(small_config(run, total_steps=STEPS_PER_UPDATE * 4))
    code, err, _ = run_main(capsys, [MPE, "--resume", str(run), "--steps", str(STEPS_PER_UPDATE)])
    assert code == 2 and "\n" not in err
    assert "'total_steps'" in err and f"{STEPS_PER_UPDATE * 4:,} agent-steps" in err
    assert latest(run) == "update_000004"


def test_resume_accepts_fields_given_with_their_saved_values(tmp_path, capsys):
    run = tmp_path / "r"
    train(small_config(run, total_steps=STEPS_PER_UPDATE * 2))
    argv = [MPE, "--resume", str(run), "-e", "max_cycles=10", "--lr", "0.005", "--num-envs", "4"]
    argv += ["--run-dir", str(run), "--steps", str(STEPS_PER_UPDATE * 3), "--progress", "false"]
    code, err, _ = run_main(capsys, argv)
    assert code == 0, err
    assert latest(run) == "update_000003"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["--lr", "0.001"], "config field 'lr' cannot change when resuming"),
        (["-e", "max_cycles=12"], "config field 'env' cannot change when resuming"),
        (["--num-envs", "8"], "config field 'num_envs' cannot change when resuming"),
    ],
)
def test_resume_refuses_a_real_change_and_says_what_to_do(tmp_path, capsys, given, message):
    run = tmp_path / "r"
    train(small_config(run, total_steps=STEPS_PER_UPDATE * 2))
    code, err, _ = run_main(capsys, [MPE, "--resume", str(run), *given])
    assert code == 2 and "\n" not in err
    assert message in err and f"--init-from {run}" in err


def test_resume_with_another_scenario_is_an_error(tmp_path, capsys):
    run = tmp_path / "r"
    train(small_config(run, total_steps=STEPS_PER_UPDATE * 2))
    code, err, _ = run_main(capsys, ["swarm/spread-v0", "--resume", str(run)])
    assert code == 2 and "\n" not in err
    assert f"{run} trains {MPE}, not swarm/spread-v0" in err


def test_help_says_how_the_learning_rate_behaves_when_a_run_is_extended(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--steps (which extends the run; with --anneal-lr the rate then follows the new" in out
    assert "reaches zero at the new end" in out


# --------------------------------------------------------------------------- no silent overwrite
def test_a_new_run_refuses_a_folder_that_holds_a_run(tmp_path, capsys):
    run = tmp_path / "r"
    train(small_config(run, total_steps=STEPS_PER_UPDATE * 2))
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    argv = [MPE, "-e", "max_cycles=10", "--num-envs", "2", "--run-dir", str(run)]
    code, err, _ = run_main(capsys, [*argv, "--progress", "false"])
    assert code == 2 and "\n" not in err
    assert f"run folder {run}: already holds a run (config.json, checkpoints, tb)" in err
    assert "--overwrite" in err and "--resume" in err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_overwrite_replaces_the_run_and_nothing_else(tmp_path, capsys):
    run = tmp_path / "r"
    train(small_config(run, total_steps=STEPS_PER_UPDATE * 4))
    (run / "notes.txt").write_text("mine")
    old_events = set((run / "tb").iterdir())
    argv = [MPE, "-e", "max_cycles=10", "--num-envs", "2", "--num-steps", "8", "--steps", "48"]
    argv += ["--run-dir", str(run), "--overwrite", "--progress", "false"]
    code, err, _ = run_main(capsys, argv)
    assert code == 0, err
    assert (run / "notes.txt").read_text() == "mine"
    assert json.loads((run / "config.json").read_text())["num_envs"] == 2
    assert latest(run) == "update_000001" and not (run / "checkpoints/update_000004").exists()
    assert not old_events & set((run / "tb").iterdir())


# ------------------------------------------------------------------------------- one writer
def test_one_writer_per_run_folder_and_a_killed_one_leaves_no_lock(tmp_path):
    run = tmp_path / "r"
    proc = start_marl(train_args(MPE, 5000, "--checkpoint-every", "4", "--run-dir", str(run)))
    deadline = time.monotonic() + 60
    while latest(run) is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()[1]
    for argv in (
        ["train", MPE, "--resume", str(run)],
        train_args(MPE, 2, "--run-dir", str(run), "--overwrite"),
    ):
        second = run_marl(argv)
        assert second.returncode == 2
        assert second.stderr.strip() == (
            f"error: run folder {run}: in use by another marl train (pid {proc.pid}); wait for "
            "it to end or stop it"
        )
    proc.kill()
    proc.communicate()
    trained = int(latest(run).split("_")[1])
    steps = str((trained + 1) * STEPS_PER_UPDATE)
    resumed = run_marl(["train", MPE, "--resume", str(run), "--steps", steps])
    assert resumed.returncode == 0, resumed.stderr
    assert latest(run) == f"update_{trained + 1:06d}"


# ---------------------------------------------------------------------------- unwritable folders
def test_a_run_folder_that_cannot_be_created_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    base = [MPE, "--num-envs", "2", "--progress", "false", "--run-dir"]
    code, err, _ = run_main(capsys, [*base, str(tmp_path / "file" / "run")])
    assert code == 2 and "\n" not in err and "Traceback" not in err
    assert f"run folder {tmp_path / 'file' / 'run'}: cannot be created" in err
    code, err, _ = run_main(capsys, [*base, str(tmp_path / "file")])
    assert code == 2 and f"run folder {tmp_path / 'file'}: exists and is not a folder" in err


def read_only_folders(tmp_path: Path) -> tuple[Path, Path]:
    """An existing folder this process cannot write, and a path below it. Not root: chmod. Root
    ignores permission bits, so it gets sysfs, which refuses new files and folders even to root."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder, folder / "run"
    return Path("/sys"), Path("/sys/marl-test-run")


def test_a_read_only_run_folder_is_one_line(tmp_path, capsys):
    folder, below = read_only_folders(tmp_path)
    base = [MPE, "--num-envs", "2", "--progress", "false", "--run-dir"]
    code, err, _ = run_main(capsys, [*base, str(folder)])
    assert code == 2 and "\n" not in err
    assert err.startswith(f"error: run folder {folder}: not writable (")
    code, err, _ = run_main(capsys, [*base, str(below)])
    assert code == 2 and "\n" not in err
    assert err.startswith(f"error: run folder {below}: cannot be created (")


def test_a_full_disk_while_checkpointing_keeps_the_last_good_checkpoint(tmp_path):
    """A real kernel write failure: the resumed process may not write files over 48 KiB
    (RLIMIT_FSIZE; SIGXFSZ ignored, so write() fails with EFBIG), and its weights are larger."""
    run = tmp_path / "r"
    train(small_config(run, total_steps=STEPS_PER_UPDATE * 2, hidden_sizes=(96, 96)))
    good = (run / "checkpoints/update_000002/policy.safetensors").read_bytes()

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (48 << 10, 48 << 10))

    steps = str(STEPS_PER_UPDATE * 4)
    result = run_marl(
        ["train", MPE, "--resume", str(run), "--steps", steps], preexec_fn=limit_file_size
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {run / 'checkpoints/update_000004'}: cannot write checkpoint (File too large); "
        "the last good checkpoint update_000002 is kept"
    )
    assert latest(run) == "update_000002"
    assert temporary_files(run) == []
    policy = load_policy(run)
    saved = load_file(run / "checkpoints/update_000002/policy.safetensors")
    assert all(policy.state_dict()[k].equal(v) for k, v in saved.items())
    assert (run / "checkpoints/update_000002/policy.safetensors").read_bytes() == good


def test_free_space_is_checked_against_what_the_checkpoints_need(tmp_path):
    folder = RunFolder(tmp_path)
    free = shutil.disk_usage(tmp_path).free
    folder.check_free_space(min(free, 1 << 20), "2 checkpoints")
    with pytest.raises(RunFolderError) as caught:
        folder.check_free_space(free + (1 << 40), "2 checkpoints")
    message = str(caught.value)
    assert message.startswith(f"run folder {tmp_path}: ") and "free, 2 checkpoints need" in message
    assert "\n" not in message


def test_resume_removes_what_a_killed_writer_left_behind(tmp_path):
    run = tmp_path / "r"
    train(small_config(run, total_steps=STEPS_PER_UPDATE * 2))
    leftovers = [
        run / "checkpoints/.tmp-update_000004",
        run / "checkpoints/.trash-update_000002",
        run / "checkpoints/.LATEST.tmp",
        run / ".config.json.tmp",
    ]
    leftovers[0].mkdir()
    (leftovers[0] / ".policy.safetensors.tmp").write_bytes(b"half")
    leftovers[1].mkdir()
    leftovers[2].write_text("update_0")
    leftovers[3].write_text("{")
    assert temporary_files(run)
    train(resume=run, runtime={"env_id": MPE, "total_steps": STEPS_PER_UPDATE * 3})
    assert temporary_files(run) == []
    assert latest(run) == "update_000003"
