"""``marl league`` as users run it: the real command in a subprocess, killed at random moments,
resumed, and compared with an unbroken run of the same seed."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from cli_runs import environment, marl_command
from league_small import SMALL
from PIL import Image

from marl.league.store import Store


def league_file(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "league.json"
    path.write_text(json.dumps({**SMALL, "progress": True, **changes}))
    return path


def marl(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*marl_command(), *args],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=timeout,
    )


def files(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root/players``."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "players").rglob("*"))
        if p.is_file()
    }


def test_league_command_prints_ratings_and_writes_figures_and_replay(tmp_path):
    # The main plays the fixed players only, so that the by-side table has rows.
    config = league_file(tmp_path, fixed=1.0, selfplay=0.0, pfsp=0.0, verification=0.0)
    out = tmp_path / "lg"
    done = marl("league", "swarm/pursuit-v0", "--config", str(config), "--dir", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "round 3/3 | players" in done.stderr and "agent-steps/s" in done.stderr
    assert "league after 3 rounds" in done.stdout
    table = done.stdout.split("league after", 1)[1]
    for pid in ("main_0", "main_exploiter_0", "league_exploiter_0", "scripted", "random"):
        assert f"\n{pid} " in table
    by_side = table.split("by side against the fixed players", 1)[1]
    assert "as pursuer" in by_side or "as evader" in by_side
    for name in ("payoff.png", "ratings.png"):
        with Image.open(out / name) as image:
            assert image.size[0] > 300 and image.size[1] > 300
            pixels = np.asarray(image.convert("RGB"))
            assert pixels.std() > 10  # drawn, not blank
    replays = list(out.glob("replay_main_0_pursuer_vs_scripted.mp4"))
    assert replays and replays[0].stat().st_size > 1000
    shown = marl("league", "show", str(out))
    assert shown.returncode == 0 and "league after 3 rounds" in shown.stdout
    again = marl("league", "swarm/pursuit-v0", "--config", str(config), "--dir", str(out))
    assert again.returncode == 2 and "holds a league" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def rounds_in(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute("SELECT COUNT(*) FROM rounds").fetchone()[0]
    except sqlite3.Error:
        return 0


def kill_at_random(args: list[str], db: Path, after: int, delay: float) -> int:
    """Start ``marl args``, wait for ``after`` committed rounds plus ``delay`` s, SIGKILL it;
    returns the rounds committed when it died."""
    process = subprocess.Popen(
        [*marl_command(), *args],
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while rounds_in(db) < after and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return rounds_in(db)


def test_sigkill_at_random_moments_then_resume_equals_the_unbroken_league(tmp_path):
    rounds = 10
    config = league_file(
        tmp_path, rounds=rounds, main_snapshot_every=2, exploiter_rounds=2, progress=False
    )
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    base = ["league", "swarm/pursuit-v0", "--config", str(config), "--no-replay"]
    done = marl(*base, "--dir", str(whole))
    assert done.returncode == 0, done.stderr[-2000:]
    rng = np.random.default_rng(12)
    with sqlite3.connect(whole / "league.sqlite") as conn:  # kill inside a round: a random
        per_round = conn.execute("SELECT AVG(seconds) FROM timings").fetchone()[0]  # fraction
    committed = kill_at_random(
        [*base, "--dir", str(broken)],
        broken / "league.sqlite",
        1,
        float(rng.uniform(0, 0.8) * per_round),
    )
    kills = [committed]
    while committed < rounds - 1 and len(kills) < 4:
        after = committed + 1
        committed = kill_at_random(
            ["league", "resume", str(broken), "--no-replay"],
            broken / "league.sqlite",
            after,
            float(rng.uniform(0, 0.8) * per_round),
        )
        kills.append(committed)
    assert len(kills) >= 3, kills  # killed at least three times, each after some progress
    assert kills == sorted(kills) and kills[-1] < rounds
    done = marl("league", "resume", str(broken), "--no-replay")
    assert done.returncode == 0, done.stderr[-2000:]
    a, b = Store(whole), Store(broken)
    try:
        assert a.rounds_done() == b.rounds_done() == rounds
        dumped_a, dumped_b = a.dump(), b.dump()
        for table in dumped_a:
            assert dumped_a[table] == dumped_b[table], table
        assert any(e[2] == "snapshot" for e in a.events())
        assert any(e[2] == "reset" for e in a.events())
    finally:
        a.close()
        b.close()
    assert files(whole) == files(broken)


def test_sigint_commits_the_round_and_resume_extends(tmp_path):
    config = league_file(tmp_path, rounds=30, progress=False)
    out = tmp_path / "lg"
    process = subprocess.Popen(
        [
            *marl_command(),
            "league",
            "swarm/pursuit-v0",
            "--config",
            str(config),
            "--dir",
            str(out),
            "--no-replay",
        ],
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while rounds_in(out / "league.sqlite") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err[-2000:]
    assert "marl league resume" in err
    stopped = rounds_in(out / "league.sqlite")
    assert 1 <= stopped < 30
    done = marl("league", "resume", str(out), "--rounds", str(stopped + 1), "--no-replay")
    assert done.returncode == 0, done.stderr[-2000:]
    assert rounds_in(out / "league.sqlite") == stopped + 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["league", "swarm/nope-v0"], "nope"),
        (["league", "--set", "slot_envs=7"], "'slot_envs'"),
        (["league", "--set", "train.lr=nan"], "'train.lr'"),
        (["league", "swarm/spread-v0"], "two or more"),
        (["league", "resume", "/nonexistent/league"], "no league database"),
    ],
)
def test_bad_input_is_one_line_naming_the_problem(tmp_path, args, message):
    done = marl(*args, "--dir", str(tmp_path / "x")) if args[1] != "resume" else marl(*args)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr[-2000:]


def test_hostile_database_is_refused(tmp_path):
    out = tmp_path / "lg"
    done = marl(
        "league",
        "swarm/pursuit-v0",
        "--config",
        str(league_file(tmp_path, rounds=1)),
        "--dir",
        str(out),
        "--no-replay",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with sqlite3.connect(out / "league.sqlite") as conn:
        conn.execute("UPDATE players SET state='../../etc' WHERE pid='main_0'")
    resumed = marl("league", "resume", str(out), "--rounds", "2")
    assert resumed.returncode == 2 and "malformed" in resumed.stderr
    (out / "league.sqlite").write_bytes(b"not a database at all" * 100)
    resumed = marl("league", "resume", str(out), "--rounds", "2")
    assert resumed.returncode == 2 and "not a league database" in resumed.stderr


def test_the_readme_main_job_runs_as_written(tmp_path):
    """``marl league`` with no argument: the embedded default league, in the default folder."""
    done = subprocess.run(
        [*marl_command(), "league"],
        capture_output=True,
        text=True,
        env=environment(),
        cwd=tmp_path,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "leagues" / "swarm_pursuit-v0_s0"
    assert "league after 60 rounds" in done.stdout
    for name in (
        "league.sqlite",
        "payoff.png",
        "ratings.png",
        "replay_main_0_pursuer_vs_scripted.mp4",
    ):
        assert (out / name).stat().st_size > 1000, name
    assert list((out / "tb").iterdir())
    store = Store(out)
    try:
        roles = {p.role for p in store.players()}
        assert roles == {"main", "main_exploiter", "league_exploiter", "fixed"}
        assert any(e[2] == "snapshot" for e in store.events())
    finally:
        store.close()


def test_added_checkpoint_is_a_fixed_player_and_estimate_covers_every_pair(tmp_path):
    first = tmp_path / "first"
    config = league_file(tmp_path, rounds=1, main_snapshot_every=1)
    done = marl("league", "--config", str(config), "--dir", str(first), "--no-replay")
    assert done.returncode == 0, done.stderr[-2000:]
    veteran = first / "players" / "main_0-r0"
    league = tmp_path / "second"
    done = marl(
        "league",
        "--config",
        str(league_file(tmp_path, rounds=2)),
        "--dir",
        str(league),
        "--add",
        f"veteran={veteran}",
        "--no-replay",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\nveteran " in done.stdout
    store = Store(league)
    try:
        kinds = {p.pid: p.kind for p in store.players()}
        assert kinds["veteran"] == "checkpoint"
    finally:
        store.close()
    copied = files(league)
    assert any(name.startswith("players/veteran/") for name in copied)
    for path in sorted(first.rglob("*"), reverse=True):  # the source is gone: the copy plays
        path.unlink() if path.is_file() else path.rmdir()
    done = marl("league", "resume", str(league), "--rounds", "3", "--no-replay")
    assert done.returncode == 0, done.stderr[-2000:]
    done = marl("league", "estimate", str(league), "--games", "60")
    assert done.returncode == 0, done.stderr[-2000:]
    pairs = json.loads((league / "estimate.json").read_text())["pairs"]
    players = ["main_0", "main_exploiter_0", "league_exploiter_0", "scripted", "random", "veteran"]
    met = {(row["player"], row["opponent"]) for row in pairs if row["games"] > 0}
    assert met == {(a, b) for a in players for b in players if a != b}  # unplayed pairs first
    assert all(row["low"] <= row["win_rate"] <= row["high"] for row in pairs)
    assert (league / "payoff_estimate.png").stat().st_size > 1000
    done = marl("league", "estimate", str(league), "--games", "40", "--player", "veteran")
    assert done.returncode == 0, done.stderr[-2000:]
    pairs = json.loads((league / "estimate.json").read_text())["pairs"]
    met = {(row["player"], row["opponent"]) for row in pairs if row["games"] > 0}
    others = [p for p in players if p != "veteran"]
    assert met == {("veteran", b) for b in others} | {(b, "veteran") for b in others}
    rows = done.stdout.split("veteran against", 1)[1].splitlines()[1:]
    assert sorted(row.split()[0] for row in rows) == sorted(others)
    with Image.open(league / "payoff_estimate.png") as image:  # one row: a chart, not a grid
        width, height = image.size
        assert width > 500 and height < width and np.asarray(image).std() > 10
    done = marl("league", "estimate", str(league), "--player", "nobody")
    assert done.returncode == 2 and "'nobody'" in done.stderr, done.stderr[-2000:]
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "add, message",
    [
        ("main_0=somewhere", "'add'"),
        ("scripted=somewhere", "'add'"),
        ("vet=/nonexistent/run", "nonexistent"),
    ],
)
def test_bad_added_players_are_refused_in_one_line(tmp_path, add, message):
    done = marl(
        "league", "--config", str(league_file(tmp_path)), "--dir", str(tmp_path / "x"), "--add", add
    )
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_overwrite_removes_the_old_league_and_nothing_else(tmp_path):
    from marl.league.cli import open_folder

    root = tmp_path / "lg"
    (root / "players" / "main_0").mkdir(parents=True)
    (root / "tb").mkdir()
    for name in (
        "league.sqlite",
        "payoff.png",
        "estimate.json",
        "replay_main_0_pursuer_vs_scripted.mp4",
        "notes.txt",
    ):
        (root / name).write_text("old")
    folder = open_folder(root, new=True, overwrite=True)
    folder.release()
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == ["notes.txt"]
