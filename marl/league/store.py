"""The league's state in one embedded SQLite database, ``DIR/league.sqlite``, beside its weights.

Tables (every round's changes are written in one transaction, after the round's weights are on
disk, so the database always describes a round whose files exist):

- ``meta``: the config (JSON), the format version;
- ``players``: id, kind, role, lineage (parent, round created), generation, rounds since the last
  reset, and the folder of a learner's last committed state;
- ``rounds``: every committed round with its seed, games and agent-steps;
- ``games``: every finished episode: round, slot, world, the player of each group, scores,
  returns, length (the match record the ratings are computed from);
- ``payoff``: the decayed payoff table as it stands;
- ``ratings``: each player's OpenSkill mu, sigma and ordinal, Elo and Nash rating per round;
- ``events``: snapshots and resets (lineage);
- ``timings``: wall-clock seconds per round (the only table that differs between two runs of
  the same seed).

A database is read as untrusted data: values are type- and range-checked, player ids must be
plain names, and a learner's state folder must lie inside the league folder.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

from marl.league.players import KINDS, ROLES, Player
from marl.league.runner import Game
from policies.checkpoint import inside

DB_FILE = "league.sqlite"
FORMAT = 1
PLAYER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS players (
    seq INTEGER PRIMARY KEY, pid TEXT UNIQUE NOT NULL, kind TEXT NOT NULL, role TEXT NOT NULL,
    parent TEXT NOT NULL, created INTEGER NOT NULL, generation INTEGER NOT NULL,
    since_reset INTEGER NOT NULL, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (
    round INTEGER PRIMARY KEY, seed INTEGER NOT NULL, games INTEGER NOT NULL,
    agent_steps INTEGER NOT NULL, slots TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS games (
    id INTEGER PRIMARY KEY, round INTEGER NOT NULL, slot INTEGER NOT NULL, env_id INTEGER NOT NULL,
    sides TEXT NOT NULL, scores TEXT NOT NULL, returns TEXT NOT NULL, length INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS payoff (
    a TEXT NOT NULL, b TEXT NOT NULL, score REAL NOT NULL, games REAL NOT NULL,
    PRIMARY KEY (a, b));
CREATE TABLE IF NOT EXISTS ratings (
    round INTEGER NOT NULL, pid TEXT NOT NULL, mu REAL, sigma REAL, ordinal REAL, elo REAL,
    nash REAL, PRIMARY KEY (round, pid));
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, round INTEGER NOT NULL, pid TEXT NOT NULL, event TEXT NOT NULL,
    detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS timings (round INTEGER PRIMARY KEY, seconds REAL NOT NULL);
"""
# Tables whose contents are the league's result (equal for equal seeds, killed or not).
RESULT_TABLES = ("meta", "players", "rounds", "games", "payoff", "ratings", "events")


class LeagueStoreError(ValueError):
    """The league database is missing, corrupt or holds values it should not; names the file."""


class Store:
    """The database of one league folder."""

    def __init__(self, root: Path, create: bool = False) -> None:
        self.root = Path(root)
        self.path = self.root / DB_FILE
        if not create and not self.path.is_file():
            raise LeagueStoreError(f"{self.path}: no league database here")
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None)
            self.conn.execute("PRAGMA synchronous=FULL")
            if create:
                self.conn.executescript(SCHEMA)
            self._check_schema()
        except sqlite3.DatabaseError as error:
            raise LeagueStoreError(f"{self.path}: not a league database ({error})") from None

    def _check_schema(self) -> None:
        names = {
            r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        missing = sorted(set(RESULT_TABLES) - names)
        if missing:
            raise LeagueStoreError(f"{self.path}: tables missing: {', '.join(missing)}")

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------------ writing
    def start(self, config: dict[str, Any], players: list[Player]) -> None:
        """Record a new league: its config and first players (one transaction)."""
        with self._transaction() as c:
            c.execute("INSERT INTO meta VALUES ('format', ?)", (str(FORMAT),))
            c.execute(
                "INSERT INTO meta VALUES ('config', ?)", (json.dumps(config, sort_keys=True),)
            )
            for player in players:
                _upsert(c, player)

    def commit_round(
        self,
        round_index: int,
        seed: int,
        slots: list[dict],
        players: list[Player],
        games: list[Game],
        agent_steps: int,
        payoff_rows: list[tuple[str, str, float, float]],
        ratings: list[dict],
        events: list[tuple[str, str, str]],
        seconds: float,
    ) -> None:
        """Everything a round changed, in one transaction."""
        with self._transaction() as c:
            for player in players:
                _upsert(c, player)
            c.executemany(
                "INSERT INTO games (round, slot, env_id, sides, scores, returns, length) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        g.round,
                        g.slot,
                        g.env_id,
                        _dump(g.sides),
                        _dump(g.scores),
                        _dump(g.returns),
                        g.length,
                    )
                    for g in games
                ],
            )
            c.execute("DELETE FROM payoff")
            c.executemany("INSERT INTO payoff VALUES (?, ?, ?, ?)", payoff_rows)
            c.executemany(
                "INSERT INTO ratings VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        round_index,
                        r["player"],
                        r["mu"],
                        r["sigma"],
                        r["ordinal"],
                        r["elo"],
                        r["nash"],
                    )
                    for r in ratings
                ],
            )
            c.executemany(
                "INSERT INTO events (round, pid, event, detail) VALUES (?, ?, ?, ?)",
                [(round_index, *e) for e in events],
            )
            c.execute(
                "INSERT INTO rounds VALUES (?, ?, ?, ?, ?)",
                (round_index, seed, len(games), agent_steps, _dump(slots)),
            )
            c.execute("INSERT OR REPLACE INTO timings VALUES (?, ?)", (round_index, seconds))

    def _transaction(self):
        store = self

        class _Tx:
            def __enter__(self):
                store.conn.execute("BEGIN IMMEDIATE")
                return store.conn

            def __exit__(self, kind, *rest):
                store.conn.execute("COMMIT" if kind is None else "ROLLBACK")
                return False

        return _Tx()

    # ------------------------------------------------------------------ reading
    def config(self) -> dict[str, Any]:
        row = self.conn.execute("SELECT value FROM meta WHERE key='config'").fetchone()
        if row is None:
            raise LeagueStoreError(f"{self.path}: holds no config (the league never started)")
        try:
            data = json.loads(row[0])
        except (TypeError, ValueError):
            data = None
        if not isinstance(data, dict):
            raise LeagueStoreError(f"{self.path}: its config is not a JSON mapping")
        return data

    def rounds_done(self) -> int:
        """Rounds committed so far (rounds are numbered from 0)."""
        row = self.conn.execute("SELECT COUNT(*), MAX(round) FROM rounds").fetchone()
        count, last = row
        if count and last != count - 1:
            raise LeagueStoreError(f"{self.path}: rounds are not numbered 0..{count - 1}")
        return int(count)

    def players(self) -> list[Player]:
        rows = self.conn.execute(
            "SELECT pid, kind, role, parent, created, generation, since_reset, state "
            "FROM players ORDER BY seq"
        ).fetchall()
        return [self._player(row) for row in rows]

    def _player(self, row) -> Player:
        pid, kind, role, parent, created, generation, since_reset, state = row
        ok = (
            isinstance(pid, str)
            and PLAYER_ID.fullmatch(pid) is not None
            and kind in KINDS
            and role in ROLES
            and isinstance(parent, str)
            and all(
                isinstance(v, int) and 0 <= v < 2**40 for v in (created, generation, since_reset)
            )
            and isinstance(state, str)
        )
        if ok and state:
            ok = inside(self.root / state, self.root / "players")
        if not ok:
            raise LeagueStoreError(f"{self.path}: player row {str(row)[:80]} is malformed")
        return Player(pid, kind, role, parent, created, generation, since_reset, state)

    def payoff_rows(self) -> list[tuple[str, str, float, float]]:
        rows = self.conn.execute("SELECT a, b, score, games FROM payoff ORDER BY a, b").fetchall()
        for a, b, score, games in rows:
            if not (
                isinstance(score, float | int)
                and isinstance(games, float | int)
                and 0 <= score <= games < 1e12
            ):
                raise LeagueStoreError(f"{self.path}: payoff row {a}/{b} is malformed")
        return [(str(a), str(b), float(s), float(g)) for a, b, s, g in rows]

    def games(self) -> list[Game]:
        out = []
        for row in self.conn.execute(
            "SELECT round, slot, env_id, sides, scores, returns, length FROM games ORDER BY id"
        ):
            try:
                sides, scores, returns = (json.loads(x) for x in row[3:6])
                game = Game(
                    int(row[0]),
                    int(row[1]),
                    int(row[2]),
                    sides,
                    {g: float(v) for g, v in scores.items()},
                    {g: float(v) for g, v in returns.items()},
                    int(row[6]),
                )
            except (TypeError, ValueError, AttributeError):
                raise LeagueStoreError(f"{self.path}: a game row is malformed") from None
            out.append(game)
        return out

    def ratings(self) -> list[tuple]:
        return self.conn.execute(
            "SELECT round, pid, mu, sigma, ordinal, elo, nash FROM ratings ORDER BY round, pid"
        ).fetchall()

    def rounds(self) -> list[tuple]:
        return self.conn.execute(
            "SELECT round, seed, games, agent_steps, slots FROM rounds ORDER BY round"
        ).fetchall()

    def events(self) -> list[tuple]:
        return self.conn.execute(
            "SELECT round, pid, event, detail FROM events ORDER BY id"
        ).fetchall()

    def dump(self) -> dict[str, list]:
        """Every result table's rows (what two runs of the same seed share)."""
        return {
            table: self.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in RESULT_TABLES
        }


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _upsert(c: sqlite3.Connection, p: Player) -> None:
    c.execute(
        "INSERT INTO players (pid, kind, role, parent, created, generation, since_reset, state) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(pid) DO UPDATE SET kind=excluded.kind, "
        "role=excluded.role, parent=excluded.parent, created=excluded.created, "
        "generation=excluded.generation, since_reset=excluded.since_reset, state=excluded.state",
        (p.pid, p.kind, p.role, p.parent, p.created, p.generation, p.since_reset, p.state),
    )
