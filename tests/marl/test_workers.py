"""Rollout workers (``marl train --num-workers W [--ray]``), tried the way users meet them: the
real CLI in subprocesses, a local Ray instance on 2 CPUs, a worker process SIGKILLed from outside
mid-run, the learner SIGKILLed and resumed; every run must end with the same bytes as its
unbroken, in-process twin."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from cli_runs import (
    MPE,
    SPREAD,
    final_checkpoint,
    run_killer,
    run_marl,
    start_marl,
    train_args,
)

import scenarios
from marl.envs import make_env

LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def descendants(pid: int) -> list[int]:
    """``pid``'s child processes, their children, and so on (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def listening_addresses(pids: list[int]) -> set[tuple[str, int, str]]:
    """(address in /proc/net hex, port, command) of every TCP socket that ``pids`` listen on."""
    listening = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == "0A":  # LISTEN
                address, port = parts[1].split(":")
                listening[parts[9]] = (address, int(port, 16))
    found = set()
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        for link in links:
            inode = link[len("socket:[") : -1] if link.startswith("socket:[") else None
            if inode in listening:
                found.add((*listening[inode], command_line(pid)[:60]))
    return found


@pytest.mark.parametrize("scenario_id", ["swarm/spread-v0", "swarm/pursuit-v0"])
def test_a_share_of_the_worlds_resets_as_those_worlds_of_the_whole_batch(scenario_id):
    whole = scenarios.make_vec(scenario_id, num_envs=8, seed=0)
    share = scenarios.make_vec(scenario_id, num_envs=4, seed=0)
    share.first_world = 4
    obs_whole, obs_share = whole.reset(seed=11), share.reset(seed=11)
    for group, obs in obs_whole.items():
        np.testing.assert_allclose(obs_share[group], obs[4:], rtol=0, atol=1e-5)
        assert not np.allclose(obs_share[group], obs[:4], atol=1e-3)  # not worlds 0..3


def test_a_share_of_pettingzoo_copies_is_seeded_as_those_copies():
    whole, share = make_env(MPE, 4, 0), make_env(MPE, 2, 0)
    share.first_world = 2
    obs_whole, obs_share = whole.reset(seed=3), share.reset(seed=3)
    for group, obs in obs_whole.items():
        np.testing.assert_array_equal(obs_share[group], obs[2:])


def test_ray_can_be_turned_on_and_off_when_resuming():
    from marl.arguments import parse_args

    for flag, value in (("--ray", True), ("--no-ray", False)):
        cfg, resume, given, _ = parse_args(["--resume", "RUN", flag])
        assert cfg is None and resume == "RUN" and given == {"ray": value}
    _, _, given, _ = parse_args(["--resume", "RUN", "--ray-address", "10.0.0.1:6379"])
    assert given == {"ray_address": "10.0.0.1:6379", "ray": True}
    _, _, given, _ = parse_args(["--resume", "RUN", "--ray-address", "h:1", "--no-ray"])
    assert given == {"ray_address": "h:1", "ray": False}


def test_bad_worker_settings_are_refused_in_one_line(tmp_path):
    uneven = run_marl([*train_args(SPREAD, 2, "--num-workers", "3"), "--run-dir", str(tmp_path)])
    assert uneven.returncode == 2
    assert "'num_workers'" in uneven.stderr and "num_envs 4" in uneven.stderr
    assert len(uneven.stderr.strip().splitlines()) == 1
    alone = run_marl([*train_args(SPREAD, 2, "--ray"), "--run-dir", str(tmp_path / "b")])
    assert alone.returncode == 2 and "'ray'" in alone.stderr and "num_workers" in alone.stderr
    # --ray-address alone means Ray too (here without workers: refused before connecting)
    joined = [*train_args(SPREAD, 2, "--ray-address", "127.0.0.1:1"), "--run-dir", str(tmp_path)]
    address = run_marl(joined)
    assert address.returncode == 2 and "'ray'" in address.stderr, address.stderr
    overlap = run_marl([*train_args(SPREAD, 2, "--async-rollouts", "true"), "--run-dir",
                        str(tmp_path / "c")])  # fmt: skip
    assert overlap.returncode == 2 and "'async_rollouts'" in overlap.stderr


@pytest.mark.parametrize(
    ("scenario", "overlap"), [(MPE, "false"), (SPREAD, "false"), (SPREAD, "true")]
)
def test_workers_sigkilled_learner_resumes_byte_identical(tmp_path, scenario, overlap):
    """Two in-process workers; the learner is SIGKILLed mid-update (between checkpoints, so
    resume replays every worker's share of the log) and before a checkpoint completes. With
    ``--async-rollouts`` the checkpoints also hold the weights the next rollout samples with."""
    args = train_args(
        scenario, 12, "--checkpoint-every", "3", "--num-workers", "2", "--async-rollouts", overlap
    )
    unbroken = run_marl([*args, "--run-dir", str(tmp_path / "a")])
    assert unbroken.returncode == 0, unbroken.stderr
    plain = run_marl([*train_args(scenario, 12, "--checkpoint-every", "3"), "--run-dir",
                      str(tmp_path / "plain")])  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    # Two workers are another run than one batch (their own sampling streams): not the same
    # bytes; nor are overlapped rollouts (sampled one update behind) the synchronous ones.
    assert final_checkpoint(tmp_path / "plain") != final_checkpoint(tmp_path / "a")
    if overlap == "true":
        sync = [*train_args(scenario, 12, "--checkpoint-every", "3", "--num-workers", "2")]
        assert run_marl([*sync, "--run-dir", str(tmp_path / "sync")]).returncode == 0
        assert final_checkpoint(tmp_path / "sync") != final_checkpoint(tmp_path / "a")

    rng = random.Random(f"workers {scenario}")
    run_dir = tmp_path / "b"
    resume = ["train", *([scenario] if scenario == MPE else []), "--resume", str(run_dir)]
    plan = [  # SIGTERM saves the update it finishes: a checkpoint between boundaries
        (f"update:{rng.randint(5, 8)}", -signal.SIGKILL),
        (f"sigterm:{rng.randint(2, 3)}", 143),
        (f"commit:{rng.randint(1, 2)}", -signal.SIGKILL),
    ]
    for index, (point, code) in enumerate(plan):
        argv = [*args, "--run-dir", str(run_dir)] if index == 0 else resume
        killed = run_killer(point, argv)
        assert killed.returncode == code, (point, killed.stderr)
    finished = run_marl([*resume, "--progress", "false", "--no-ray"])  # as it ran: in process
    assert finished.returncode == 0, finished.stderr
    assert final_checkpoint(run_dir) == final_checkpoint(tmp_path / "a")


def test_ray_workers_equal_in_process_workers_survive_a_lost_worker_and_bind_to_loopback(
    tmp_path,
):
    """``--ray --num-workers 2`` on a local Ray instance (2 CPUs): while it trains, every socket
    its processes listen on is bound to 127.0.0.1; one rollout worker is SIGKILLed from outside;
    the run replaces it, finishes, and ends with the bytes of the in-process run."""
    args = train_args(SPREAD, 150, "--checkpoint-every", "7", "--num-workers", "2")
    local = run_marl([*args, "--run-dir", str(tmp_path / "local")], timeout=300)
    assert local.returncode == 0, local.stderr

    proc = start_marl([*args, "--ray", "--run-dir", str(tmp_path / "ray")])
    workers, sockets = [], set()
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and not workers:
        time.sleep(0.2)
        tree = descendants(proc.pid)
        workers = [p for p in tree if "ShardWorker" in command_line(p)]
    assert workers, "no rollout worker process appeared"
    while proc.poll() is None and time.monotonic() < deadline:  # training: a checkpoint is out
        if (tmp_path / "ray" / "checkpoints" / "LATEST").exists():
            break
        time.sleep(0.05)
    time.sleep(random.Random(0).uniform(0.2, 1.0))
    sockets = listening_addresses([proc.pid, *descendants(proc.pid)])
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err

    assert sockets, "found no listening socket of the Ray processes"
    assert {s for s in sockets if s[0] not in LOOPBACK} == set()
    assert "was lost; starting a replacement" in err
    assert final_checkpoint(tmp_path / "ray") == final_checkpoint(tmp_path / "local")
