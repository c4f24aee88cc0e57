"""``marl league``: run a self-play league, resume it after a stop or a kill, show its tables.

::

    marl league [SCENARIO] [--config FILE] [--dir DIR] [--rounds N] [--seed N] [-e NAME=VALUE]
                [--set FIELD=VALUE] [--add NAME=DIR] [--overwrite]
    marl league resume DIR [--rounds N]
    marl league show DIR
    marl league estimate DIR [--games N] [--player ID]

A new league runs in ``DIR`` (default ``leagues/<scenario>_s<seed>``): ``league.sqlite`` beside
``players/`` (weights), ``tb/`` (TensorBoard: ratings, exploiters' win rates, the payoff
heatmap). Each round prints a live line (players, top ratings, games/s, agent-steps/s). At the
end it prints the ratings table and writes ``payoff.png``, ``ratings.png`` and a replay of the
top main against the scripted baseline. ``resume`` continues a league from its last committed
round (``--rounds`` may extend it). Ctrl-C or SIGTERM finish the current round, commit it and
stop (exit 130 / 143); a second one stops at once, and it, like a SIGKILL, loses at most the
round under way. ``show`` prints the table and
writes the two figures of any league folder. ``estimate`` plays every player as it stands on
the match-ups whose outcome is least certain and writes the estimated payoff table
(:mod:`marl.league.estimate`).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time
from pathlib import Path

from marl.config import parse_int, read_config_data
from marl.league.config import LeagueConfig, league_config
from marl.league.store import DB_FILE, LeagueStoreError, Store
from marl.runs.folder import RunFolder, RunFolderError
from marl.validation import ConfigError
from policies import CheckpointError
from scenarios import ScenarioConfigError, UnknownScenarioError
from scenarios.replay import parse_overrides

# What a league writes in its folder: --overwrite removes these (and its replays), nothing else.
OUTPUTS = (
    DB_FILE,
    "players",
    "tb",
    "payoff.png",
    "ratings.png",
    "estimate.json",
    "payoff_estimate.png",
)
REPLAYS = "replay_*_vs_scripted.mp4"
FAILURES = (
    UnknownScenarioError,
    ScenarioConfigError,
    ConfigError,
    LeagueStoreError,
    RunFolderError,
    CheckpointError,
    ValueError,
    OSError,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marl league",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=fields_help(),
        description="Self-play league: mains, exploiters and fixed players; PFSP matchmaking; "
        "payoff table; OpenSkill, Elo and Nash ratings; SQLite state that resumes exactly. "
        "Also: marl league resume DIR [--rounds N]; marl league show DIR.",
    )
    parser.add_argument(
        "scenario", nargs="?", default=None, help="scenario id (default: swarm/pursuit-v0)"
    )
    parser.add_argument("--config", help="JSON or YAML file of league fields")
    parser.add_argument("--dir", help="league folder (default leagues/<scenario>_s<seed>)")
    parser.add_argument("--rounds", help="rounds to play (resume: the new total)")
    parser.add_argument("--seed", help="seed")
    parser.add_argument(
        "-e",
        dest="env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="scenario override (repeatable)",
    )
    parser.add_argument(
        "--set",
        dest="fields",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="league field (train.FIELD for PPO's)",
    )
    parser.add_argument(
        "--add",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="a fixed player from a run folder or checkpoint (repeatable)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a league in DIR")
    add_worker_options(parser)
    parser.add_argument("--no-replay", action="store_true", help="skip the final replay")
    return parser


def fields_help() -> str:
    """The league's fields with their defaults and help (``--set FIELD=VALUE``, ``--config``)."""
    import dataclasses

    lines = ["league fields (--set FIELD=VALUE, or keys of the --config file):"]
    for spec in dataclasses.fields(LeagueConfig):
        default = (
            spec.default if spec.default is not dataclasses.MISSING else spec.default_factory()
        )
        lines.append(f"  {spec.name} = {default!r}: {spec.metadata.get('help', '')}")
    lines.append(
        "PPO fields are marl train's (marl train --help), e.g. --set train.lr=0.001; "
        "defaults here: num_envs 48, num_steps 150, lr 0.003, hidden_sizes 64,64, "
        "anneal_lr false."
    )
    return "\n".join(lines)


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--num-workers",
        help="play the matches on this many workers, each with whole matches (train.num_workers)",
    )
    parser.add_argument(
        "--ray",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the workers as Ray actors (train.ray)",
    )
    parser.add_argument("--ray-address", help="Ray cluster to join (default: a local instance)")


def worker_fields(args, data: dict) -> dict:
    """``--num-workers``, ``--ray`` and ``--ray-address`` as the train fields they set."""
    given = {"num_workers": args.num_workers, "ray": args.ray, "ray_address": args.ray_address}
    given = {k: v for k, v in given.items() if v is not None}
    if given.get("ray_address") and "ray" not in given:
        given["ray"] = True  # --ray-address ADDR alone: the matches run on that cluster
    if given:
        data["train"] = {**dict(data.get("train") or {}), **given}
    return data


def config_from_args(args) -> LeagueConfig:
    data = read_config_data(args.config) if args.config else {}
    if args.scenario:
        data["scenario"] = args.scenario
    for key in ("rounds", "seed"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    for item in args.add:
        name, sep, path = item.partition("=")
        if not sep:
            raise ConfigError(f"--add: expected NAME=DIR, got {item[:60]!r}")
        data["add"] = {**dict(data.get("add") or {}), name: path}
    if args.env:
        data["env"] = {**dict(data.get("env") or {}), **parse_overrides(args.env)}
    for key, value in parse_overrides(args.fields).items():
        if key.startswith("train."):
            data["train"] = {**dict(data.get("train") or {}), key[6:]: value}
        else:
            data[key] = value
    return league_config(worker_fields(args, data))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["show"]:
            return show_main(argv[1:])
        if argv[:1] == ["resume"]:
            return resume_main(argv[1:])
        if argv[:1] == ["estimate"]:
            return estimate_main(argv[1:])
        args = build_parser().parse_args(argv)
        cfg = config_from_args(args)
        root = Path(
            args.dir or cfg.run_dir or f"leagues/{cfg.scenario.replace('/', '_')}_s{cfg.seed}"
        )
        return run(cfg, root, new=True, overwrite=args.overwrite, replay=not args.no_replay)
    except FAILURES as error:
        text = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"marl league: {text}", file=sys.stderr)
        return 2


def resume_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="marl league resume")
    parser.add_argument("dir")
    parser.add_argument("--rounds")
    parser.add_argument("--no-replay", action="store_true")
    parser.add_argument(
        "--ray", action=argparse.BooleanOptionalAction, default=None, help="matches on Ray actors"
    )
    parser.add_argument("--ray-address", help="Ray cluster to join (default: a local instance)")
    args = parser.parse_args(argv)
    root = Path(args.dir)
    store = Store(root)
    data = store.config()
    store.close()
    if args.rounds is not None:
        data["rounds"] = args.rounds
    args.num_workers = None  # the league's split of the worlds is part of its results
    data = worker_fields(args, data)
    return run(league_config(data), root, new=False, replay=not args.no_replay)


def open_folder(root: Path, new: bool, overwrite: bool) -> RunFolder:
    folder = RunFolder(root)
    if not new and not (root / DB_FILE).is_file():
        raise LeagueStoreError(f"{root / DB_FILE}: no league database here")
    folder.create()
    folder.lock()
    if new and (root / DB_FILE).exists():
        if not overwrite and _started(root):
            folder.release()
            raise RunFolderError(
                f"league folder {root}: holds a league; continue it with marl league resume "
                f"{root}, or pass --overwrite to replace it"
            )
        for path in [root / name for name in OUTPUTS] + sorted(root.glob(REPLAYS)):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    folder.probe()
    return folder


def check_scenario(cfg: LeagueConfig) -> None:
    """Refuse, before any file is written, a scenario that is unknown, misconfigured or has
    fewer than two groups to match players on."""
    from marl.envs import make_env

    venv = make_env(cfg.scenario, 1, cfg.seed, **cfg.env)
    groups = list(venv.groups)
    venv.close()
    if len(groups) < 2:
        raise ConfigError(
            f"config field 'scenario': {cfg.scenario} has one group ({groups[0]}); a league "
            "needs two or more to match players"
        )
    if cfg.slot_envs % len(groups):
        raise ConfigError(
            f"config field 'slot_envs': {cfg.slot_envs} worlds do not split evenly between the "
            f"{len(groups)} groups of {cfg.scenario} (a match is played with the sides mirrored)"
        )


def _started(root: Path) -> bool:
    """Whether ``root`` holds a league that committed its start (a league killed while it was
    being created holds none, and is replaced)."""
    try:
        store = Store(root)
    except LeagueStoreError:
        return True
    try:
        store.config()
        return True
    except LeagueStoreError:
        return False
    finally:
        store.close()


def run(
    cfg: LeagueConfig, root: Path, *, new: bool, overwrite: bool = False, replay: bool = True
) -> int:
    """Run (or resume) the league in ``root`` to ``cfg.rounds`` rounds."""
    from marl.league.league import League
    from marl.train import EXIT_CODES, StopSignals

    if new:
        check_scenario(cfg)
    folder = open_folder(root, new, overwrite)
    try:
        league = League.create(cfg, root) if new else League.resume(root, cfg)
        try:
            try:
                with StopSignals("finishing this round, then committing it") as stop:
                    stopped = loop(league, stop)
            except KeyboardInterrupt:  # a second Ctrl-C: the round under way is not committed
                stopped = signal.SIGINT
            if stopped is not None:
                print(
                    f"stopped after round {league.round}; continue with marl league resume {root}",
                    file=sys.stderr,
                )
                return EXIT_CODES.get(stopped, 130)
            finish(league, replay)
        finally:
            league.close()
    finally:
        folder.release()
    return 0


def loop(league, stop) -> int | None:
    from marl.league.live import LiveView

    view = LiveView(league)
    started = time.perf_counter()
    while league.round < league.cfg.rounds:
        info = league.play_round()
        view.round(info, time.perf_counter() - started)
        if stop.signum is not None and league.round < league.cfg.rounds:
            return stop.signum
    return None


def finish(league, replay: bool) -> None:
    from marl.league.live import ratings_text, write_figures

    print(ratings_text(league.store))
    for path in write_figures(league.store, league.root):
        print(f"wrote {path}")
    if replay:
        from marl.league.live import replay_top_main

        path = replay_top_main(league)
        if path is not None:
            print(f"wrote {path}")


def estimate_main(argv: list[str]) -> int:
    from marl.league.estimate import estimate, write_estimate

    parser = argparse.ArgumentParser(prog="marl league estimate")
    parser.add_argument("dir")
    parser.add_argument("--games", default="500", help="games to play (at least)")
    parser.add_argument("--seed", default="0")
    parser.add_argument("--player", help="play only this player against every other")
    args = parser.parse_args(argv)
    root = Path(args.dir)
    folder = open_folder(root, new=False, overwrite=False)
    try:
        table = estimate(root, parse_int(args.games), parse_int(args.seed), args.player)
        for path in write_estimate(table, root, args.player):
            print(f"wrote {path}")
    finally:
        folder.release()
    print(estimate_text(table) if args.player is None else row_text(table, args.player))
    return 0


def row_text(table, pid: str) -> str:
    """``pid``'s estimated win rate against each opponent, with its 95% interval."""
    lines = [f"{pid} against {'opponent':24s} {'win rate':>8s} {'95% interval':>14s} {'games':>6s}"]
    pad = " " * (len(pid) + 9)
    for b in table.players:
        if b != pid and table.games(pid, b) > 0:
            low, high = table.interval(pid, b)
            rate, games = table.win_rate(pid, b), table.games(pid, b)
            lines.append(f"{pad}{b:24s} {rate:8.2f} {f'[{low:.2f}, {high:.2f}]':>14s} {games:6.0f}")
    return "\n".join(lines)


def estimate_text(table) -> str:
    """Each player's mean estimated win rate over the opponents it met."""
    lines = [f"{'player':24s} {'mean win rate':>13s} {'opponents':>9s} {'games':>7s}"]
    for a in table.players:
        met = [b for b in table.players if b != a and table.games(a, b) > 0]
        if met:
            rate = sum(table.win_rate(a, b) for b in met) / len(met)
            games = sum(table.games(a, b) for b in met)
            lines.append(f"{a:24s} {rate:13.2f} {len(met):9d} {games:7.0f}")
    return "\n".join(lines)


def show_main(argv: list[str]) -> int:
    from marl.league.live import ratings_text, write_figures

    parser = argparse.ArgumentParser(prog="marl league show")
    parser.add_argument("dir")
    args = parser.parse_args(argv)
    store = Store(Path(args.dir))
    try:
        print(ratings_text(store))
        for path in write_figures(store, Path(args.dir)):
            print(f"wrote {path}")
    finally:
        store.close()
    return 0
