"""The report: ``results.json``, ``report.md``, a self-contained ``report.html`` (figures and
replays embedded), the PNG figures and the replays (GIF), all in one folder.

It answers four questions in order: how good (every figure's interquartile mean with its 95%
interval), against what (the same figures with each learned group replaced by the scripted
baseline and by random actions), how sure (episodes, seeds, the interval method) and what the
agents do (the best, median and worst episodes, replayed)."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import numpy as np

from marl.eval.figures import (
    frame_strip,
    interval_chart,
    partners_chart,
    score_distribution,
    value_heatmap,
)
from marl.eval.harness import Evaluation, Setup
from marl.eval.partners import CrossPlay, Partners
from marl.eval.sweep import sweep_figure
from policies.checkpoint import atomic_write_json
from worlds.render import save_replay

EMBED_LIMIT = 4 << 20  # replays larger than this are linked, not embedded


def write_report(
    out: Path,
    setup: Setup,
    main: Evaluation,
    others: list[tuple[str, Evaluation]],
    score: str,
    replays: dict,
    crossplay: CrossPlay | None = None,
    partners: Partners | None = None,
    coordination: dict | None = None,
    swept: dict | None = None,
) -> dict[str, Path]:
    """Write every file of the report into ``out``; returns them by kind."""
    out.mkdir(parents=True, exist_ok=True)
    extra = _extra_sections(out, crossplay, partners)
    if coordination:
        extra["coordination"] = _coordination_section(out, coordination)
    if swept:
        extra["sweep"] = _sweep_section(out, swept, score)
    rows = [("evaluated: " + main.lineup.label(), main)] + [(f"vs {k}", e) for k, e in others]
    names = list(main.figures)
    files = {
        "intervals": interval_chart(
            [(label, e.estimates) for label, e in rows], names, out / "intervals.png"
        ),
        "distribution": score_distribution(
            [(label, e.figures[score].ravel()) for label, e in rows if score in e.figures],
            score,
            out / "score_distribution.png",
        ),
    }
    shown = []
    for label in ("best", "median", "worst"):
        if label in replays:
            frames, episode = replays[label]["frames"], replays[label]["episode"]
            gif = save_replay(frames, out / f"replay_{label}.gif", fps=10)
            strip = frame_strip(
                frames, _caption(label, episode, score), out / f"frames_{label}.png"
            )
            files[f"replay_{label}"], files[f"frames_{label}"] = gif, strip
            shown.append((label, episode, gif, strip))
    files.update({kind: s["figure"] for kind, s in extra.items() if s["figure"] is not None})
    results = _results(setup, rows, score, shown)
    results.update({kind: section["json"] for kind, section in extra.items()})
    atomic_write_json(out / "results.json", json_safe(results))
    files["results"] = out / "results.json"
    markdown = _markdown(setup, rows, names, score, shown)
    markdown += "".join(section["markdown"] for section in extra.values())
    (out / "report.md").write_text(markdown)
    files["markdown"] = out / "report.md"
    page = _html(setup, rows, names, score, shown, files)
    page = page.replace("</body>", "".join(s["html"] for s in extra.values()) + "</body>")
    (out / "report.html").write_text(page)
    files["html"] = out / "report.html"
    return files


def json_safe(value):
    """``value`` with every non-finite float (an undefined figure, a measure a policy cannot
    give) as None, so ``results.json`` is strict JSON that any reader parses."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _extra_sections(out: Path, crossplay: CrossPlay | None, partners: Partners | None) -> dict:
    """Cross-play and held-out partners: figure, JSON, markdown and HTML of each given."""
    sections = {}
    if crossplay is not None:
        title = f"cross-play of {crossplay.group}: {crossplay.score} (IQM)"
        figure = value_heatmap(
            crossplay.matrix(), crossplay.runs, out / "crossplay.png", title, crossplay.score
        )
        gap = crossplay.gap()
        text = (
            f"Self-play minus cross-play gap of {crossplay.score}: {gap:.3g} (mean of the "
            "diagonal minus mean off it; cell (i, j): run i in the first half of the team, "
            "run j in the rest)."
        )
        sections["crossplay"] = {
            "figure": figure,
            "json": {
                "group": crossplay.group,
                "runs": crossplay.runs,
                "score": crossplay.score,
                "cells": [[c.as_dict() for c in row] for row in crossplay.cells],
                "gap": gap,
            },
            "markdown": f"\n## Cross-play\n\n{text}\n\n![cross-play](crossplay.png)\n",
            "html": f"<h2>Cross-play</h2><p>{html.escape(text)}</p>"
            f"<p><img alt='cross-play' src='{_embed(figure, 'image/png')}'></p>",
        }
    if partners is not None:
        sections["partners"] = _partners_section(out, partners)
    return sections


def _sweep_section(out: Path, swept: dict, score: str) -> dict:
    evaluated = swept["lineups"]["evaluated"][0]
    names = [score] + [n for n in evaluated if not n.startswith("return/")][:5]
    figure = sweep_figure(swept, names, out / "sweep.png")
    field = swept["field"]
    lines = [f"| lineup | {field} | " + " | ".join(names) + " |", "|---" * (len(names) + 2) + "|"]
    for label, per_value in swept["lineups"].items():
        for value, row in zip(swept["values"], per_value, strict=True):
            cells = [_cell(_as_estimate(row.get(n))) for n in names]
            lines.append(f"| {label} | {value} | " + " | ".join(cells) + " |")
    text = f"The lineup and its baselines at other values of {field} (IQM [95% interval])."
    table = "\n".join(lines)
    return {
        "figure": figure,
        "json": swept,
        "markdown": f"\n## Generalization\n\n{text}\n\n{table}\n\n![sweep](sweep.png)\n",
        "html": f"<h2>Generalization</h2><p>{html.escape(text)}</p>{_html_table(lines)}"
        f"<p><img alt='sweep' src='{_embed(figure, 'image/png')}'></p>",
    }


def _html_table(lines: list[str]) -> str:
    """The HTML of a markdown table given as its lines (header, rule, rows), cells escaped."""

    def cells(line: str) -> list[str]:
        return [html.escape(c.strip()) for c in line.strip().strip("|").split(" | ")]

    head = "".join(f"<th>{c}</th>" for c in cells(lines[0]))
    rows = [f"<tr>{''.join(f'<td>{c}</td>' for c in cells(line))}</tr>" for line in lines[2:]]
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _as_estimate(row: dict | None):
    from marl.eval.stats import Estimate

    if not row:
        return Estimate(math.nan, math.nan, math.nan, 0)
    values = [math.nan if row[k] is None else row[k] for k in ("value", "low", "high")]
    return Estimate(*values, row["n"])


MEASURES = ("influence", "role_diversity", "spatial_specialization")


def _coordination_section(out: Path, coordination: dict) -> dict:
    """``coordination[group][label]``: the measures of one lineup (``marl.eval.coordination``)."""
    lines = ["| group | lineup | " + " | ".join(MEASURES) + " |", "|---" * 5 + "|"]
    figures_html, figures_md, first = "", "", None
    for group, by_lineup in coordination.items():
        for label, values in by_lineup.items():
            cells = [f"{values[m]:.3g}" if math.isfinite(values[m]) else "n/a" for m in MEASURES]
            lines.append(f"| {group} | {label} | " + " | ".join(cells) + " |")
        matrix = by_lineup["evaluated"]["influence_matrix"]
        if matrix is not None:
            names = [f"{group}_{i}" for i in range(len(matrix[0]))]
            path = value_heatmap(
                np.array(matrix),
                names,
                out / f"influence_{group}.png",
                f"influence of each {group} on each other (nats)",
                "KL (nats)",
                ("influencing agent", "influenced agent"),
                names[: len(matrix)],
            )
            first = first or path
            figures_md += f"\n![influence {group}]({path.name})\n"
            figures_html += (
                f"<p><img alt='influence {group}' src='{_embed(path, 'image/png')}'></p>"
            )
    text = (
        "Influence: KL between an agent's policy 5 steps after a partner's actual action and "
        "its policy averaged over the partner's alternatives (each tried in a replica of the "
        "world). Role diversity: mean pairwise total variation between agents' action "
        "distributions on the same observations. Spatial specialization: mean pairwise total "
        "variation between agents' occupancy of a 4 x 4 grid. The random lineup is chance level."
    )
    table = "\n".join(lines)
    return {
        "figure": first,
        "json": coordination,
        "markdown": f"\n## Coordination\n\n{text}\n\n{table}\n{figures_md}",
        "html": f"<h2>Coordination</h2><p>{html.escape(text)}</p>{_html_table(lines)}"
        f"{figures_html}",
    }


def _partners_section(out: Path, partners: Partners) -> dict:
    title = f"{partners.focal} in {partners.seats} seat(s) of {partners.group}"
    figure = partners_chart(partners.rows, out / "partners.png", title)
    lines = ["| background | focal | scripted | random | normalized |", "|---|---|---|---|---|"]
    for row in partners.rows:
        cells = [row["background"], *(_cell(row[k]) for k in ("focal", "scripted", "random"))]
        lines.append("| " + " | ".join(cells) + f" | {row['normalized']:.3g} |")
    text = (
        f"{title}, with partners it never trained with. Per-capita return of the focal seats, "
        "IQM [95% interval]; normalized: 0 is the worse baseline in the focal seats, 1 the better."
    )
    table = "\n".join(lines)
    return {
        "figure": figure,
        "json": {
            "group": partners.group,
            "focal": partners.focal,
            "seats": partners.seats,
            "rows": [
                {k: (v.as_dict() if hasattr(v, "as_dict") else v) for k, v in row.items()}
                for row in partners.rows
            ],
        },
        "markdown": f"\n## Held-out partners\n\n{text}\n\n{table}\n\n![partners](partners.png)\n",
        "html": f"<h2>Held-out partners</h2><p>{html.escape(text)}</p>{_html_table(lines)}"
        f"<p><img alt='partners' src='{_embed(figure, 'image/png')}'></p>",
    }


def _caption(label: str, episode: dict, score: str) -> str:
    value = _score_of(episode, score)
    return (
        f"{label} episode: {score} = {value:.3g} (seed {episode['seed']}, world {episode['world']})"
    )


def _score_of(episode: dict, score: str) -> float:
    if score.startswith("return/"):
        return float(episode["return"][score[7:]])
    return float(episode["metrics"][score])


def _results(setup: Setup, rows, score: str, shown) -> dict:
    return {
        "scenario": setup.scenario,
        "config": setup.config,
        "episodes_per_lineup": len(rows[0][1].episodes),
        "seeds": list(setup.seeds),
        "deterministic": setup.deterministic,
        "interval": "95% percentile interval, stratified bootstrap over episodes within seeds",
        "score": score,
        "lineups": [
            {
                "label": label,
                "sources": evaluation.lineup.sources,
                "figures": {
                    name: {agg: est.as_dict() for agg, est in by.items()}
                    for name, by in evaluation.estimates.items()
                },
            }
            for label, evaluation in rows
        ],
        "replays": {
            label: {
                "seed": e["seed"],
                "world": e["world"],
                "index": e["index"],
                "score": _score_of(e, score),
                "file": gif.name,
            }
            for label, e, gif, _ in shown
        },
    }


def _cell(est) -> str:
    if not math.isfinite(est.value):
        return "undefined"
    return f"{est.value:.3g} [{est.low:.3g}, {est.high:.3g}]"


def _table_rows(rows, names) -> list[list[str]]:
    return [
        [label] + [_cell(e.estimates[n]["iqm"]) if n in e.estimates else "-" for n in names]
        for label, e in rows
    ]


def _markdown(setup: Setup, rows, names, score, shown) -> str:
    worlds, per_world = setup.batch()
    lines = [
        f"# Evaluation of {setup.scenario}",
        "",
        f"Lineup: {rows[0][1].lineup.label()}. Config: `{json.dumps(setup.config)}`.",
        f"{len(rows[0][1].episodes)} episodes per lineup: seeds {list(setup.seeds)}, "
        f"{worlds} worlds x {per_world} episodes each; "
        f"{'deterministic' if setup.deterministic else 'sampled'} actions.",
        "",
        "## How good, against what",
        "",
        "Interquartile mean [95% interval] per episode (stratified bootstrap over episodes "
        "within seeds, as `rliable` computes it).",
        "",
        "| lineup | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in _table_rows(rows, names)]
    lines += ["", "![intervals](intervals.png)", "", f"![{score}](score_distribution.png)", ""]
    if shown:
        lines += ["## What the agents do", ""]
        for label, episode, gif, strip in shown:
            lines += [
                f"### {_caption(label, episode, score)}",
                "",
                f"![{label}]({strip.name}) [replay]({gif.name})",
                "",
            ]
    return "\n".join(lines)


def _embed(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _html(setup: Setup, rows, names, score, shown, files) -> str:
    esc = html.escape
    worlds, per_world = setup.batch()
    head = "".join(f"<th>{esc(n)}</th>" for n in ["lineup", *names])
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>"
        for r in _table_rows(rows, names)
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Evaluation of {esc(setup.scenario)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
        "img{max-width:100%}</style></head><body>",
        f"<h1>Evaluation of {esc(setup.scenario)}</h1>",
        f"<p>Lineup: <b>{esc(rows[0][1].lineup.label())}</b>. Config: "
        f"<code>{esc(json.dumps(setup.config))}</code>.</p>",
        f"<p>{len(rows[0][1].episodes)} episodes per lineup: seeds {esc(str(list(setup.seeds)))},"
        f" {worlds} worlds x {per_world} episodes each.</p>",
        "<h2>How good, against what</h2><p>Interquartile mean [95% interval] per episode: "
        "stratified bootstrap over episodes within seeds, as <code>rliable</code> computes it."
        "</p>",
        f"<table><tr>{head}</tr>{body}</table>",
        f"<p><img alt='intervals' src='{_embed(files['intervals'], 'image/png')}'></p>",
        f"<p><img alt='score distribution' src='{_embed(files['distribution'], 'image/png')}'></p>",
    ]
    if shown:
        parts.append("<h2>What the agents do</h2>")
    for label, episode, gif, strip in shown:
        src = _embed(gif, "image/gif") if gif.stat().st_size <= EMBED_LIMIT else gif.name
        parts += [
            f"<h3>{esc(_caption(label, episode, score))}</h3>",
            f"<p><img alt='{label} replay' src='{src}'></p>",
            f"<p><img alt='{label} frames' src='{_embed(strip, 'image/png')}'></p>",
        ]
    parts.append("</body></html>")
    return "\n".join(parts)
