"""What a person sees of a league: the live line per round, TensorBoard, the ratings table, the
figures and the replay of the top main against the scripted baseline."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from marl.league.figures import payoff_heatmap, ratings_over_time
from marl.league.payoff import PayoffTable
from marl.league.store import Store

HEATMAP_EVERY = 10  # rounds between heatmap images in TensorBoard
HEATMAP_PLAYERS = 30  # the heatmap shows the best-rated players (all are in the database)


class LiveView:
    """Prints one line per round and writes TensorBoard scalars (and the heatmap now and then)."""

    def __init__(self, league) -> None:
        self.league = league
        self.games = 0
        self.steps = 0
        self.matches = 0
        self.per_round = league.cfg.train_config().num_envs // league.cfg.slot_envs
        self.writer = None
        if league.cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(league.root / "tb"), purge_step=league.round)
            league.writer = self.writer

    def round(self, info: dict, elapsed: float) -> None:
        result, r = info["result"], info["round"]
        self.games += len(result.games)
        self.matches += self.per_round
        self.steps += result.agent_steps
        top = sorted(info["ratings"], key=lambda row: -row["ordinal"])[:3]
        best = ", ".join(f"{row['player']} {row['ordinal']:.1f}" for row in top)
        events = "; ".join(f"{pid} {kind}" for pid, kind, _ in info["events"])
        if self.league.cfg.progress:
            print(
                f"round {r + 1}/{self.league.cfg.rounds} | players {len(self.league.players)} | "
                f"top {best} | {self.matches / elapsed:.1f} matches/s, "
                f"{self.games / elapsed:.1f} games/s | "
                f"{self.steps / elapsed:,.0f} agent-steps/s" + (f" | {events}" if events else ""),
                file=sys.stderr,
                flush=True,
            )
        if self.writer is not None:
            self._log(info, r)

    def _log(self, info: dict, r: int) -> None:
        w, league = self.writer, self.league
        for row in info["ratings"]:
            for key in ("ordinal", "elo", "nash"):
                w.add_scalar(f"rating_{key}/{row['player']}", row[key], r)
        mains = [p.pid for p in league.players if p.role == "main" and not p.frozen]
        for p in league.players:
            if p.kind == "learner" and p.role != "main":
                rate = float(np.mean(league.payoff.win_rates(p.pid, mains)))
                w.add_scalar(f"exploiters/{p.pid}/win_rate_vs_mains", rate, r)
        for key, value in info["stats"].items():
            w.add_scalar(f"train/{key}", value, r)
        w.add_scalar("league/games", len(info["result"].games), r)
        if (r + 1) % HEATMAP_EVERY == 0 or r + 1 == league.cfg.rounds:
            path = write_figures(league.store, league.root)[0]
            from PIL import Image

            w.add_image("payoff", np.asarray(Image.open(path).convert("RGB")), r, dataformats="HWC")
        w.flush()


def latest_ratings(store: Store) -> list[tuple]:
    rows = store.ratings()
    if not rows:
        return []
    last = max(r[0] for r in rows)
    return sorted((r for r in rows if r[0] == last), key=lambda r: -(r[4] or 0.0))


def ratings_text(store: Store) -> str:
    """The ratings table after the last committed round."""
    rows = latest_ratings(store)
    kinds = {p.pid: f"{p.kind}/{p.role}" for p in store.players()}
    payoff = PayoffTable.from_rows(store.payoff_rows(), 1.0, [p.pid for p in store.players()])
    done = store.rounds_done()
    lines = [
        f"league after {done} rounds, {len(store.games())} games",
        f"{'player':24s} {'kind/role':28s} {'ordinal':>8s} {'mu':>7s} {'sigma':>6s} "
        f"{'elo':>7s} {'nash':>7s} {'games':>7s}",
    ]
    for _, pid, mu, sigma, ordinal, elo, nash in rows:
        games = sum(payoff.games(pid, other) for other in payoff.players if other != pid)
        lines.append(
            f"{pid:24s} {kinds.get(pid, '?'):28s} {ordinal:8.2f} {mu:7.2f} "
            f"{sigma:6.2f} {elo:7.1f} {nash:7.3f} {games:7.1f}"
        )
    return "\n".join(lines + sides_text(store, [r[1] for r in rows]))


SIDES_ROUNDS = 20  # the recent rounds the by-side table summarizes


def sides_text(store: Store, ranked: list[str]) -> list[str]:
    """The best-rated live main's mean score per group it played against each fixed player in
    the last rounds (an asymmetric game is won on one side and lost on the other)."""
    players = store.players()
    mains = [p.pid for p in players if p.role == "main" and not p.frozen]
    fixed = [p.pid for p in players if p.role == "fixed"]
    top = next((pid for pid in ranked if pid in mains), mains[0] if mains else None)
    if top is None or not fixed:
        return []
    since = store.rounds_done() - SIDES_ROUNDS
    lines = [
        f"{top} by side against the fixed players (last {SIDES_ROUNDS} rounds; mean score, "
        "1 = a full win):"
    ]
    games = [g for g in store.games() if g.round >= since]
    for opponent in fixed:
        cells = []
        for group in sorted({g for game in games for g in game.sides}):
            scores = [
                game.scores[group]
                for game in games
                if game.sides[group] == top and opponent in game.sides.values()
            ]
            if scores:
                cells.append(f"as {group} {np.mean(scores):.2f} ({len(scores)} games)")
        if cells:
            lines.append(f"  vs {opponent}: " + ", ".join(cells))
    return lines if len(lines) > 1 else []


def write_figures(store: Store, root: Path) -> list[Path]:
    """``payoff.png`` (players ordered by rating) and ``ratings.png`` in ``root``."""
    order = [r[1] for r in latest_ratings(store)] or [p.pid for p in store.players()]
    shown = order[:HEATMAP_PLAYERS]
    payoff = PayoffTable.from_rows(store.payoff_rows(), 1.0, order)
    matrix = np.array(
        [
            [payoff.win_rate(a, b) if payoff.games(a, b) > 0 and a != b else np.nan for b in shown]
            for a in shown
        ]
    )
    done = store.rounds_done()
    which = f", top {len(shown)} of {len(order)} by rating" if len(shown) < len(order) else ""
    heat = payoff_heatmap(
        matrix,
        shown,
        Path(root) / "payoff.png",
        f"payoff after {done} rounds{which} (row's win rate vs column)",
    )
    history: dict[str, list[tuple[int, float]]] = {}
    for r, pid, _mu, _sigma, ordinal, _elo, _nash in store.ratings():
        history.setdefault(pid, []).append((r + 1, ordinal))
    lines = ratings_over_time(history, Path(root) / "ratings.png", "OpenSkill ordinal")
    return [heat, lines]


def replay_top_main(league) -> Path | None:
    """A replay of the best-rated live main playing the first group against the scripted
    baseline on the others (None when the scenario has no baseline)."""
    from marl.envs import scripted_baseline
    from policies import JointPolicy
    from scenarios.replay import record_episode

    scripted = scripted_baseline(league.venv)
    if scripted is None:
        return None
    rows = latest_ratings(league.store)
    mains = [p.pid for p in league.players if p.role == "main" and not p.frozen]
    ranked = [r[1] for r in rows if r[1] in mains] or mains
    top = ranked[0]
    groups = list(league.venv.groups)
    policy = league.learners[top].policy
    joint = JointPolicy({g: policy if i == 0 else scripted for i, g in enumerate(groups)})
    path = league.root / f"replay_{top}_{groups[0]}_vs_scripted.mp4"
    record_episode(
        league.cfg.scenario, path, policy=joint, seed=league.cfg.seed, config=dict(league.cfg.env)
    )
    return path
