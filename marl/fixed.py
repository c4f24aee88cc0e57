"""Groups that play a fixed policy while the others learn (``marl train --fixed GROUP=POLICY``).

``cfg.fixed`` maps a group to ``scripted`` (the scenario's baseline), ``random`` (uniform random
actions) or a run folder (that run's policy for the group, greedy). The run trains the other groups
only: its rollouts, PPO update and checkpoints hold the learning groups, while the environment
steps with every group's actions; ``config.json`` records the assignment.

A run folder named here is read as untrusted data (``policies.load_policy``: bounded reads, sizes
checked before allocation, finite weights), and its policy for the group is copied into
``RUN_DIR/fixed/<group>/`` when the run starts: a resumed run reads that copy, never the path
named in its config, so the opponent cannot change under a resumed run.

Exact resume: :func:`fixed_policy_factory` gives the collector a function ``make(seed)`` that
builds the joint fixed policy afresh at every seeded reset (a random policy draws from a seed
derived from it), so a replay rebuilds the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from marl.config import TrainConfig
from marl.envs import scripted_baseline
from marl.validation import ConfigError
from policies import (
    CheckpointError,
    JointPolicy,
    NetworkPolicy,
    Policy,
    PolicyMismatchError,
    RandomPolicy,
    load_policy,
    write_policy,
)
from policies.checkpoint import SPEC_FILE

FIXED_FOLDER = "fixed"


def check_assignment(cfg: TrainConfig, venv) -> list[str]:
    """The learning groups of ``cfg`` on ``venv``; :class:`ConfigError` naming the field when a
    fixed group is not one of the env's or when no group is left to learn."""
    groups = list(venv.groups)
    for group in cfg.fixed:
        if group not in venv.groups:
            raise ConfigError(
                f"config field 'fixed': {cfg.env_id} has no group {group!r} (groups: "
                f"{', '.join(groups)})"
            )
    learning = [g for g in groups if g not in cfg.fixed]
    if not learning:
        raise ConfigError(
            f"config field 'fixed': every group of {cfg.env_id} is fixed ({', '.join(groups)}); "
            "leave at least one to learn"
        )
    return learning


def scripted_policy(cfg: TrainConfig, venv, group: str) -> Policy:
    """The scenario's scripted baseline as a Policy (ConfigError when it has none)."""
    scripted = scripted_baseline(venv)
    if scripted is None:
        raise ConfigError(
            f"config field 'fixed': group {group!r}: {cfg.env_id} has no scripted baseline"
        )
    return scripted


def load_fixed_run(cfg: TrainConfig, venv, group: str, run_dir: Path, resumed: bool):
    """The policy of a fixed group read from a run folder (a new run copies it into
    ``RUN_DIR/fixed/<group>``; a resumed run reads that copy)."""
    own = run_dir / FIXED_FOLDER / group
    if resumed and not (own / SPEC_FILE).exists():
        raise CheckpointError(
            f"{own}: the fixed policy of group {group!r} is missing (the run stopped before "
            "saving it); start it again with --overwrite"
        )
    source = own if resumed else Path(cfg.fixed[group])
    try:
        policy = load_policy(source)
    except CheckpointError as error:
        raise CheckpointError(f"config field 'fixed': group {group!r}: {error}") from None
    if group not in policy.groups:
        raise ConfigError(
            f"config field 'fixed': group {group!r}: {source} has no policy for it (it has "
            f"{', '.join(policy.groups)})"
        )
    policy = policy.restricted_to([group])
    try:
        policy.check_groups({group: venv.groups[group]}, where=cfg.env_id)
    except PolicyMismatchError as error:
        raise ConfigError(f"config field 'fixed': {source}: {error}") from None
    if not resumed:
        own.mkdir(parents=True, exist_ok=True)
        write_policy(own, policy)
    return policy


def fixed_policy_factory(
    cfg: TrainConfig, venv, run_dir: Path, resumed: bool
) -> Callable[[int | None], Policy] | None:
    """``make(seed)``: the joint policy of the fixed groups, built afresh for each seeded reset
    (None when no group is fixed). Every check that can fail happens here, before training."""
    if not cfg.fixed:
        return None
    check_assignment(cfg, venv)
    loaded: dict[str, NetworkPolicy] = {}
    for group, source in cfg.fixed.items():
        if source == "scripted":
            scripted_policy(cfg, venv, group)
        elif source != "random":
            loaded[group] = load_fixed_run(cfg, venv, group, run_dir, resumed)
    random_groups = {g: venv.groups[g] for g, source in cfg.fixed.items() if source == "random"}

    def make(seed: int | None) -> Policy:
        base = cfg.seed if seed is None else seed
        random_seed = int(np.random.SeedSequence([base, 1]).generate_state(1)[0])
        shared: dict[str, Policy] = {}
        if random_groups:
            shared["random"] = RandomPolicy(random_groups, seed=random_seed)
        if "scripted" in cfg.fixed.values():
            shared["scripted"] = scripted_policy(cfg, venv, "")
        for policy in loaded.values():
            policy.reset()
        assignment = {
            g: loaded[g] if g in loaded else shared[source] for g, source in cfg.fixed.items()
        }
        return JointPolicy(assignment)

    return make


__all__ = ["FIXED_FOLDER", "check_assignment", "fixed_policy_factory"]
