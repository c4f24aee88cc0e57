"""Who plays each group: ``--policy [GROUP=]SOURCE`` parsed into a per-group assignment.

A SOURCE is ``scripted`` (the scenario's baseline), ``random`` (uniform actions) or a run folder
or checkpoint (loaded as untrusted data: safetensors weights, a checked JSON spec). Without
``GROUP=`` a source plays every group it can: a run its trained groups, a baseline all of them.
Later options override earlier ones for the groups they name. Every group must have a player.

Policies are built afresh for every evaluation pass (:meth:`Lineup.build`), so a random player
draws the same actions when a pass is replayed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from marl.envs import scripted_baseline
from policies import JointPolicy, NetworkPolicy, Policy, RandomPolicy, load_policy

BASELINES = ("scripted", "random")


@dataclass
class Lineup:
    """``sources[group]``: the source text playing each group (in the env's group order);
    ``mixes[group]``, where given, the source of each agent of that group instead (cross-play,
    held-out partners, one partner swapped)."""

    sources: dict[str, str]
    loaded: dict[str, NetworkPolicy] = field(default_factory=dict)
    mixes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def learned(self) -> list[str]:
        """Groups played (wholly or in part) by a run or checkpoint."""
        return [g for g in self.sources if any(s not in BASELINES for s in self._of(g))]

    def _of(self, group: str) -> tuple[str, ...]:
        return self.mixes.get(group) or (self.sources[group],)

    def label(self) -> str:
        """``pursuer=runs/p, evader=scripted`` (one source for all: just that source); a mixed
        group lists its agents' sources in runs: ``drone=[runs/a x4, scripted x4]``."""
        values = {s for g in self.sources for s in self._of(g)}
        if len(values) == 1:
            return next(iter(values))
        return ", ".join(f"{g}={self._group_label(g)}" for g in self.sources)

    def _group_label(self, group: str) -> str:
        if group not in self.mixes:
            return self.sources[group]
        runs: list[list] = []
        for source in self.mixes[group]:
            if runs and runs[-1][0] == source:
                runs[-1][1] += 1
            else:
                runs.append([source, 1])
        return "[" + ", ".join(f"{s} x{n}" for s, n in runs) + "]"

    def load(self, source: str, groups: dict, group: str) -> None:
        """Make ``source`` available to play ``group`` (a run is loaded and checked once)."""
        if source in BASELINES:
            return
        if source not in self.loaded:
            self.loaded[source] = _load(source, groups)
        if group not in self.loaded[source].groups:
            raise ValueError(
                f"{source}: it has no policy for group {group!r} "
                f"(it has {', '.join(self.loaded[source].groups)})"
            )

    def replaced(self, group: str, source: str) -> Lineup:
        """This lineup with ``group`` played wholly by ``source``."""
        mixes = {g: m for g, m in self.mixes.items() if g != group}
        return Lineup({**self.sources, group: source}, self.loaded, mixes)

    def mixed(self, group: str, agents: tuple[str, ...]) -> Lineup:
        """This lineup with agent ``i`` of ``group`` played by ``agents[i]``."""
        for source in agents:
            if source not in BASELINES and source not in self.loaded:
                raise ValueError(f"{source}: not a baseline nor a loaded run")
        return Lineup(dict(self.sources), self.loaded, {**self.mixes, group: tuple(agents)})

    def members(self, venv, seed: int) -> dict[str, Policy]:
        """Each distinct source's policy for ``venv`` (random players seeded with ``seed``)."""
        made: dict[str, Policy] = {}
        for group in self.sources:
            for source in self._of(group):
                if source not in made:
                    made[source] = self._make(source, venv, seed)
        return made

    def build(self, venv, seed: int, made: dict[str, Policy] | None = None) -> Policy:
        """The policy of this lineup for ``venv``, random players seeded with ``seed`` (of the
        source policies ``made`` when given)."""
        made = self.members(venv, seed) if made is None else made
        if not self.mixes:
            return JointPolicy({g: made[s] for g, s in self.sources.items()})
        agents = {
            g: self.mixes.get(g) or (s,) * venv.groups[g].n_agents for g, s in self.sources.items()
        }
        return MixedPolicy(made, agents)

    def _make(self, source: str, venv, seed: int) -> Policy:
        if source == "random":
            return RandomPolicy(venv.groups, seed)
        if source == "scripted":
            policy = scripted_baseline(venv)
            if policy is None:
                name = getattr(venv, "scenario_id", "this environment")
                raise ValueError(f"--policy: {name} has no scripted baseline")
            return policy
        return self.loaded[source]


class MixedPolicy:
    """Acts for every group with a source per agent: each distinct source acts once per step
    on the groups it plays (all its agents' observations, so it sees what it was trained on),
    and each agent's action is taken from its own source. The loop is over sources, not
    agents."""

    def __init__(self, made: dict[str, Policy], agents: dict[str, tuple[str, ...]]) -> None:
        self.made, self.agents = made, agents
        self.groups = tuple(agents)
        self.columns = {
            (g, s): np.array([a == s for a in row]) for g, row in agents.items() for s in set(row)
        }

    def act(self, obs, action_mask=None, deterministic: bool = True) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for source, policy in self.made.items():
            wanted = [g for g in self.groups if (g, source) in self.columns]
            if not wanted:
                continue
            mine = list(policy.groups)
            masks = None if action_mask is None else {g: action_mask.get(g) for g in mine}
            actions = policy.act({g: obs[g] for g in mine}, masks, deterministic=deterministic)
            for group in wanted:
                cols = self.columns[(group, source)]
                if group not in out:
                    out[group] = actions[group].copy()
                else:
                    out[group][:, cols] = actions[group][:, cols]
        return out

    def reset(self, env_ids=None) -> None:
        for policy in self.made.values():
            policy.reset(env_ids)


def parse_lineup(specs: list[str], groups: dict) -> Lineup:
    """The lineup of ``--policy`` options ``specs`` for an env with ``groups`` (name -> spec).
    One ``ValueError`` line for an unknown group, a source that plays none of the groups asked,
    or a group left without a player."""
    if not specs:
        raise ValueError("--policy: give at least one (scripted, random, or a run folder)")
    chosen: dict[str, str] = {}
    loaded: dict[str, NetworkPolicy] = {}
    for spec in specs:
        group, source = _split(spec, groups)
        if source not in BASELINES and source not in loaded:
            loaded[source] = _load(source, groups)
        can = list(groups) if source in BASELINES else list(loaded[source].groups)
        targets = [group] if group is not None else [g for g in groups if g in can]
        for target in targets:
            if target not in can:
                raise ValueError(
                    f"--policy {spec}: {source} has no policy for group {target!r} "
                    f"(it has {', '.join(can)})"
                )
            chosen[target] = source
    missing = [g for g in groups if g not in chosen]
    if missing:
        raise ValueError(
            f"--policy: group {missing[0]!r} has no player; add --policy {missing[0]}=scripted "
            "(or random, or a run folder)"
        )
    return Lineup({g: chosen[g] for g in groups}, loaded)


def _split(spec: str, groups: dict) -> tuple[str | None, str]:
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"--policy: expected [GROUP=]SOURCE, got {spec!r}")
    head, sep, tail = spec.partition("=")
    if sep and head in groups:
        if not tail:
            raise ValueError(f"--policy {spec}: no source after '='")
        return head, tail
    if sep and "/" not in head and not Path(spec).exists():
        raise ValueError(
            f"--policy {spec}: unknown group {head!r} (the scenario has {', '.join(groups)})"
        )
    return None, spec


def _load(source: str, groups: dict) -> NetworkPolicy:
    policy = load_policy(source)
    mine = {g: groups[g] for g in policy.groups if g in groups}
    if not mine:
        raise ValueError(
            f"--policy {source}: it plays {', '.join(policy.groups)}, the scenario has "
            f"{', '.join(groups)}"
        )
    policy.check_groups(mine if len(mine) == len(policy.groups) else groups, where=source)
    return policy
