"""League matches on workers (``marl league --num-workers 2 [--ray]``), tried through the CLI: a
league whose matches run on a local Ray instance (2 CPUs), SIGKILLed at seeded random moments
and resumed with ``--ray`` each time, ends with the database and weights of the same league
played on in-process workers without a break; and a split that would cut a match is refused."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
from league_small import SMALL
from test_league_cli import files, kill_at_random, marl

from marl.league.store import Store

ROUNDS = 10
WORKERS = {
    **SMALL,
    "rounds": ROUNDS,
    "main_snapshot_every": 2,
    "exploiter_rounds": 2,
    "train": {**SMALL["train"], "num_envs": 16},  # 4 matches of 4 worlds: 2 per worker
}


def test_ray_league_killed_and_resumed_equals_in_process_workers(tmp_path):
    config = tmp_path / "league.json"
    config.write_text(json.dumps(WORKERS))
    base = ["league", "--config", str(config), "--no-replay", "--num-workers", "2"]
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    done = marl(*base, "--dir", str(whole))
    assert done.returncode == 0, done.stderr[-2000:]

    rng = np.random.default_rng(5)
    with sqlite3.connect(whole / "league.sqlite") as conn:  # kill inside a round
        per_round = conn.execute("SELECT AVG(seconds) FROM timings").fetchone()[0]
    db = broken / "league.sqlite"
    first = [*base, "--ray", "--dir", str(broken)]
    kills = [kill_at_random(first, db, 1, rng.uniform(0, 0.8) * per_round)]
    while kills[-1] < ROUNDS - 1 and len(kills) < 3:
        resume = ["league", "resume", str(broken), "--no-replay", "--ray"]
        kills.append(kill_at_random(resume, db, kills[-1] + 1, rng.uniform(0, 0.8) * per_round))
    assert len(kills) >= 2 and kills == sorted(kills) and kills[-1] < ROUNDS, kills
    done = marl("league", "resume", str(broken), "--no-replay", "--ray")
    assert done.returncode == 0, done.stderr[-2000:]

    a, b = Store(whole), Store(broken)
    try:
        assert a.rounds_done() == b.rounds_done() == ROUNDS
        dumped_a, dumped_b = a.dump(), b.dump()
        config_a, config_b = a.config(), b.config()
    finally:
        a.close()
        b.close()
    for table in dumped_a:
        if table != "meta":  # meta holds the config, which says where the matches ran
            assert dumped_a[table] == dumped_b[table], table
    assert config_b["train"].pop("ray") is True and config_a["train"].pop("ray", False) is False
    assert config_a == config_b
    assert files(whole) == files(broken)
    assert any(e[2] == "snapshot" for e in Store(whole).events())


def test_workers_that_would_split_a_match_are_refused(tmp_path):
    config = tmp_path / "league.json"
    config.write_text(json.dumps(WORKERS))
    done = marl("league", "--config", str(config), "--dir", str(tmp_path / "x"),
                "--num-workers", "8", "--no-replay")  # fmt: skip
    assert done.returncode == 2
    assert "'train.num_workers'" in done.stderr and "2 worlds each" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
