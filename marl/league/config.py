"""A league's settings: :class:`LeagueConfig`, checked when built, saved in the league's database.

The learners' PPO settings are a :class:`marl.config.TrainConfig` (``train`` holds its fields:
``num_envs`` worlds in all, ``num_steps`` vector steps per round, ``lr``, ``epochs`` ...), so a
league trains with the same update as ``marl train`` and rejects the same bad values. Unknown
fields anywhere raise :class:`ConfigError` naming the field.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from marl.config import TrainConfig, _opt, coerce, parse_bool, parse_int
from marl.validation import ConfigError, check_fields

# A league's default PPO settings: the learners' rate does not anneal (exploiters restart).
TRAIN_DEFAULTS: dict[str, Any] = {
    "num_envs": 48,
    "num_steps": 150,
    "anneal_lr": False,
    "lr": 3e-3,
    "hidden_sizes": (64, 64),
    "tensorboard": False,
    "progress": False,
}
# Fields of TrainConfig that a league sets itself (from its own fields) or has no use for.
TRAIN_OWN = ("env_id", "env", "seed", "run_dir", "fixed", "init_from", "total_steps")
TRAIN_UNSUPPORTED = {"recurrent": 0}


@dataclass
class LeagueConfig:
    """Settings of one league (saved in ``league.sqlite``)."""

    scenario: str = _opt(
        "swarm/pursuit-v0",
        "scenario id; it needs two or more groups (the sides of a match)",
        pattern=r"[\w./-]{1,200}",
    )
    env: dict = _opt({}, "scenario config overrides, e.g. {'n_pursuers': 4}")
    seed: int = _opt(0, "seed of matchmaking, torch and the environments", low=0, high=2**32 - 1)
    rounds: int = _opt(
        60,
        "rounds to play: every learner plays its matches and updates once",
        low=1,
        high=10**7,
    )
    slot_envs: int = _opt(
        8,
        "worlds per match (train.num_envs is split into matches; each match's worlds are split "
        "evenly between the groups, sides mirrored)",
        low=1,
        high=4096,
    )
    mains: int = _opt(1, "main agents (never reset)", low=1, high=16)
    main_exploiters: int = _opt(1, "main exploiters (play the mains)", low=0, high=16)
    league_exploiters: int = _opt(1, "league exploiters (play the whole league)", low=0, high=16)
    scripted: bool = _opt(True, "add the scenario's scripted baseline as a fixed player")
    add: dict = _opt(
        {}, "fixed players from checkpoints: NAME=RUN_DIR or checkpoint folder (copied in)"
    )
    random: bool = _opt(True, "add a uniform random player as a fixed player")
    selfplay: float = _opt(0.35, "mains: share of matches against themselves", low=0, high=1)
    pfsp: float = _opt(0.5, "mains: share of PFSP matches over all frozen players", low=0, high=1)
    fixed: float = _opt(
        0.0,
        "mains: share of PFSP matches over the fixed players only (scripted, random, added)",
        low=0,
        high=1,
    )
    verification: float = _opt(
        0.15, "mains: share against exploiters or forgotten snapshots", low=0, high=1
    )
    pfsp_weighting: str = _opt(
        "hard",
        "PFSP weighting f(x) of the win rate x: hard (1-x)^p, variance x(1-x), linear 1-x, uniform",
        choices=("hard", "variance", "linear", "uniform"),
    )
    pfsp_p: float = _opt(2.0, "exponent p of f_hard(x) = (1 - x)^p", low=0, high=100, low_open=True)
    snapshot_win_rate: float = _opt(
        0.7, "an exploiter is frozen when it beats its targets above this rate", low=0, high=1
    )
    min_games: float = _opt(
        8.0, "decayed games against a target before its win rate counts", low=0, high=1e9
    )
    exploiter_rounds: int = _opt(
        20, "an exploiter is frozen (and reset) after this many rounds at most", low=1, high=10**7
    )
    main_snapshot_every: int = _opt(
        10,
        "a main is frozen (a copy added to the league) every this many rounds",
        low=1,
        high=10**7,
    )
    league_exploiter_reset: float = _opt(
        0.25, "probability that a frozen league exploiter restarts", low=0, high=1
    )
    payoff_decay: float = _opt(
        0.99, "decay of the payoff counts per game of a pair", low=0, high=1, low_open=True
    )
    train: dict = _opt({}, "PPO settings (marl train's fields: num_envs, num_steps, lr, ...)")
    run_dir: str = _opt("", "league folder (default: leagues/<scenario>_s<seed>_<time>)")
    tensorboard: bool = _opt(True, "write TensorBoard logs to DIR/tb")
    progress: bool = _opt(True, "print a live line per round (players, ratings, speed)")

    def __post_init__(self) -> None:
        check_fields(self)
        if self.selfplay + self.pfsp + self.fixed + self.verification <= 0:
            raise ConfigError(
                "config fields 'selfplay', 'pfsp', 'fixed', 'verification': one must be > 0"
            )
        for name, path in self.add.items():
            if (
                not PLAYER_NAME.fullmatch(name)
                or name in RESERVED
                or "-r" in name
                or re.fullmatch(r"(main|main_exploiter|league_exploiter)_\d+", name)
            ):
                raise ConfigError(
                    f"config field 'add': {name[:60]!r} is not a free player name (letters, "
                    "digits, _ . -; not scripted, random, a learner's name or NAME-rN)"
                )
            if not isinstance(path, str) or not 0 < len(path) <= 4096:
                raise ConfigError(f"config field 'add': {name}: expected a folder path")
        cfg = self.train_config()
        slots, rest = divmod(cfg.num_envs, self.slot_envs)
        if rest:
            raise ConfigError(
                f"config field 'slot_envs': {self.slot_envs} does not divide train.num_envs "
                f"{cfg.num_envs}"
            )
        if slots < self.learners:
            raise ConfigError(
                f"config field 'slot_envs': {slots} slots of {self.slot_envs} worlds for "
                f"{self.learners} learners; every learner needs a slot (raise train.num_envs)"
            )

    @property
    def learners(self) -> int:
        return self.mains + self.main_exploiters + self.league_exploiters

    def train_config(self) -> TrainConfig:
        """The learners' PPO settings as a checked TrainConfig."""
        values = dict(TRAIN_DEFAULTS)
        for key, value in self.train.items():
            if key in TRAIN_OWN:
                raise ConfigError(f"config field 'train.{key}': set by the league, not here")
            values[key] = coerce(key, value)
        for key, fixed in TRAIN_UNSUPPORTED.items():
            if values.get(key, fixed) != fixed:
                raise ConfigError(f"config field 'train.{key}': leagues take {fixed} only")
        try:
            return TrainConfig(env_id=self.scenario, env=dict(self.env), seed=self.seed, **values)
        except ConfigError as error:
            raise ConfigError(
                str(error).replace("config field '", "config field 'train.")
            ) from None


PLAYER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,59}")
RESERVED = ("scripted", "random")
FIELDS = {f.name: f for f in dataclasses.fields(LeagueConfig)}


def league_config(data: dict[str, Any]) -> LeagueConfig:
    """Build a config from plain data (a file, the command line, the database); unknown
    fields raise ConfigError naming them."""
    values = {}
    for key, value in data.items():
        if key not in FIELDS:
            raise ConfigError(f"unknown config field {key!r}")
        values[key] = _coerce(key, value)
    return LeagueConfig(**values)


def _coerce(key: str, value: Any) -> Any:
    """A command-line string converted to the field's type (other values pass to the check)."""
    kind = FIELDS[key].default
    if not isinstance(value, str) or isinstance(kind, str) or kind is dataclasses.MISSING:
        return value
    try:
        if isinstance(kind, bool):
            return parse_bool(value)
        if isinstance(kind, int):
            return parse_int(value)
        return float(value)
    except (TypeError, ValueError, OverflowError) as error:
        raise ConfigError(f"config field {key!r}: bad value {value[:60]!r} ({error})") from None


def config_to_dict(cfg: LeagueConfig) -> dict[str, Any]:
    """JSON-ready plain data of ``cfg``."""
    data = dataclasses.asdict(cfg)
    data["train"] = {k: list(v) if isinstance(v, tuple) else v for k, v in data["train"].items()}
    return data
