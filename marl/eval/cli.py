"""``marl eval SCENARIO --policy [GROUP=]SOURCE ... [--episodes N] [--out DIR]``.

Plays the lineup (each group by a run folder, a checkpoint, ``scripted`` or ``random``) and the
baselines in the place of each learned group, over several seeds, and writes a report to
``--out`` (default ``evals/<scenario>``): ``report.html`` (self-contained), ``report.md``,
``results.json``, the PNG figures and GIF replays of the best, median and worst episodes.
Examples::

    marl eval swarm/coverage-v0 --policy runs/coverage
    marl eval swarm/pursuit-v0 --policy pursuer=runs/p --policy evader=scripted --episodes 300
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scenarios.replay import parse_overrides

REPORT_FILES = ("report.html", "report.md", "results.json")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marl eval",
        description="Evaluate policies per group against the baselines and write a report "
        "(HTML, markdown, JSON, figures, replays).",
        epilog="examples:\n" + __doc__.split("Examples::", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenario", help="registered scenario id or pz:MODULE")
    parser.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="[GROUP=]SOURCE",
        help="who plays: a run folder, a checkpoint, scripted or random (repeatable)",
    )
    parser.add_argument("--episodes", default="96", help="episodes per lineup, in all")
    parser.add_argument(
        "--seeds", default="0,1,2", help="evaluation seeds (strata), comma-separated"
    )
    parser.add_argument("--num-envs", default="32", help="worlds per batch")
    parser.add_argument("-e", "--env", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--out", default=None, help="report folder (default evals/<scenario>)")
    parser.add_argument("--overwrite", action="store_true", help="replace a report in --out")
    parser.add_argument("--sample", action="store_true", help="sample actions (default: greedy)")
    parser.add_argument("--no-replay", action="store_true", help="skip the replays")
    parser.add_argument(
        "--crossplay",
        metavar="[GROUP=]RUN,RUN,...",
        help="pair independently trained runs of a group: half the team each",
    )
    parser.add_argument(
        "--score", help="the figure cross-play compares (default the group's return)"
    )
    parser.add_argument(
        "--focal", metavar="[GROUP=]SOURCE", help="held-out partners: the focal policy"
    )
    parser.add_argument(
        "--background",
        metavar="SOURCE,SOURCE,...",
        default="scripted,random",
        help="held-out partners: the background population (default scripted,random)",
    )
    parser.add_argument("--focal-agents", help="held-out partners: focal seats (default half)")
    parser.add_argument(
        "--sweep",
        metavar="FIELD=VALUE,VALUE,...",
        help="generalization: evaluate at other values of a scenario field (n_agents=8,16,32)",
    )
    parser.add_argument(
        "--no-coordination",
        action="store_true",
        help="skip influence, role diversity and spatial specialization",
    )
    return parser


def _int(name: str, text: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected an integer, got {text!r}") from None


def _group_and_list(text: str, lineup, sizes: dict, option: str) -> tuple[str, list[str]]:
    """``GROUP=A,B`` or ``A,B`` (the group: the lineup's first learned one, else its first)."""
    head, sep, tail = str(text).partition("=")
    if sep and head in sizes:
        group, items = head, tail
    else:
        group, items = (lineup.learned() or list(sizes))[0], str(text)
    values = [v for v in items.split(",") if v]
    if not values:
        raise ValueError(f"{option}: expected [GROUP=]SOURCE[,SOURCE...], got {text!r}")
    return group, values


def prepare(args):
    """Everything checked before any episode is played: ``(setup, lineup, out, plans)``."""
    from marl.envs import make_env, scripted_baseline
    from marl.eval.harness import Setup
    from marl.eval.sources import parse_lineup

    seeds = tuple(_int("--seeds", s) for s in str(args.seeds).split(","))
    out = Path(args.out or f"evals/{args.scenario.replace('/', '_').replace(':', '_')}")
    if any((out / name).exists() for name in REPORT_FILES) and not args.overwrite:
        raise ValueError(f"--out {out}: a report is already there; pass --overwrite to replace it")
    overrides = parse_overrides(args.env)
    probe = make_env(args.scenario, 1, 0, **overrides)
    try:
        groups = probe.groups
        lineup = parse_lineup(args.policy, groups)
        baselines = ("scripted", "random") if scripted_baseline(probe) is not None else ("random",)
    finally:
        probe.close()
    if "scripted" not in baselines and "scripted" in lineup.sources.values():
        raise ValueError(f"--policy: {args.scenario} has no scripted baseline")
    config = dict(overrides)
    for policy in lineup.loaded.values():
        if policy.scenario_id == args.scenario:
            config = {**policy.scenario_config, **overrides}
            break
    episodes, num_envs = _int("--episodes", args.episodes), _int("--num-envs", args.num_envs)
    setup = Setup(args.scenario, config, episodes, seeds, num_envs, not args.sample, baselines)
    sizes = {g: spec.n_agents for g, spec in groups.items()}
    plans = {}
    if args.crossplay:
        group, runs = _group_and_list(args.crossplay, lineup, sizes, "--crossplay")
        for source in runs:
            lineup.load(source, groups, group)
        plans["crossplay"] = (group, runs, args.score or f"return/{group}")
    if args.focal:
        group, focal = _group_and_list(args.focal, lineup, sizes, "--focal")
        background = [b for b in str(args.background).split(",") if b]
        for source in [*focal, *background]:
            lineup.load(source, groups, group)
        seats = _int("--focal-agents", args.focal_agents or str(max(sizes[group] // 2, 1)))
        if not 1 <= seats < sizes[group]:
            raise ValueError(
                f"--focal-agents: must be in [1, {sizes[group] - 1}] for group {group!r}, "
                f"got {seats}"
            )
        plans["partners"] = (group, focal[0], background, seats)
    if args.sweep:
        from marl.eval.sweep import parse_sweep

        field, values = parse_sweep(args.sweep)
        for value in values:  # a bad value is refused now, not after the first evaluations
            make_env(args.scenario, 1, 0, **{**config, field: value}).close()
        plans["sweep"] = (field, values)
    return setup, lineup, out, plans


def _sweep(setup, lineup, field: str, values: list) -> dict:
    from marl.eval.sweep import sweep

    return sweep(setup, lineup, field, values)


def _coordination(setup, lineup) -> dict:
    """The measures of each group of more than one agent (the learned ones when any), for the
    lineup and for random actions in that group (chance level)."""
    from marl.eval.coordination import measure
    from marl.eval.partners import group_sizes

    if setup.scenario.startswith("pz:"):
        return {}
    sizes = group_sizes(setup)
    groups = [g for g in (lineup.learned() or list(sizes)) if sizes[g] > 1]
    out = {}
    for g in groups:
        chance = measure(setup, lineup.replaced(g, "random"), g, influence_of=False)
        chance["influence"] = 0.0  # uniform policies react to nothing: zero by construction
        out[g] = {"evaluated": measure(setup, lineup, g), "random": chance}
    return out


def run(args) -> int:
    from marl.eval.harness import baseline_lineups, pick_episodes, play_lineup, replay, score_name
    from marl.eval.partners import crossplay, group_sizes, heldout, swap_one
    from marl.eval.report import write_report

    setup, lineup, out, plans = prepare(args)
    main = play_lineup(setup, lineup)
    sizes = group_sizes(setup)
    compared = baseline_lineups(lineup, setup.baselines) + swap_one(lineup, sizes, setup.baselines)
    others = [(label, play_lineup(setup, other)) for label, other in compared]
    cross = crossplay(setup, lineup, *plans["crossplay"]) if "crossplay" in plans else None
    partners = heldout(setup, lineup, *plans["partners"]) if "partners" in plans else None
    coordination = None if args.no_coordination else _coordination(setup, lineup)
    swept = _sweep(setup, lineup, *plans["sweep"]) if "sweep" in plans else None
    score = score_name(lineup, main.figures)
    replays = {}
    if not args.no_replay:
        replays = replay(setup, lineup, pick_episodes(main, score))
    files = write_report(
        out, setup, main, others, score, replays, cross, partners, coordination, swept
    )
    print((out / "report.md").read_text().split("## What")[0].rstrip())
    for path in files.values():
        print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from policies import CheckpointError
    from scenarios import ScenarioConfigError, UnknownScenarioError

    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except (
        UnknownScenarioError,
        ScenarioConfigError,
        CheckpointError,
        ValueError,
        OSError,
    ) as error:
        print(f"marl eval: {error}", file=sys.stderr)
        return 2
