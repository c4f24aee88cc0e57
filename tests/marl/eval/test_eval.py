"""``marl eval``: episodes per world, exact replays, lineups, and the report through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_runs import ROOT, run_marl

from marl.envs import make_env
from marl.eval.episodes import play_episodes, render_episodes
from marl.eval.harness import Setup, baseline_lineups, pick_episodes, play_lineup
from marl.eval.sources import Lineup, parse_lineup

PURSUIT = "swarm/pursuit-v0"
SHORT = {"max_steps": 40}


@pytest.fixture(scope="module")
def pursuer_run(tmp_path_factory):
    """A short run whose pursuers learned against the scripted evaders."""
    run = tmp_path_factory.mktemp("runs") / "p"
    done = run_marl(
        [
            "train",
            PURSUIT,
            "-e",
            "max_steps=40",
            "--fixed",
            "evader=scripted",
            "--num-envs",
            "4",
            "--num-steps",
            "20",
            "--epochs",
            "1",
            "--minibatches",
            "1",
            "--steps",
            "480",
            "--progress",
            "false",
            "--run-dir",
            str(run),
        ],
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return run


def test_every_world_contributes_its_first_episodes_not_the_first_to_finish():
    venv = make_env(PURSUIT, 6, 3, **SHORT)
    try:
        policy = Lineup({"pursuer": "scripted", "evader": "random"}).build(venv, 3)
        episodes = play_episodes(policy, venv, 3, seed=3)
    finally:
        venv.close()
    assert [(e["world"], e["index"]) for e in episodes] == [
        (w, k) for w in range(6) for k in range(3)
    ]
    for episode in episodes:  # each agent's own return, averaging to the group's
        for group, values in episode["agent_returns"].items():
            assert np.mean(values) == pytest.approx(episode["return"][group], rel=1e-5, abs=1e-6)
    lengths = np.array([e["length"] for e in episodes]).reshape(6, 3)
    assert lengths.min() < lengths.max()  # episodes of unequal length, each world counted alike


def test_a_replayed_pass_renders_the_evaluated_episodes_exactly():
    venv = make_env(PURSUIT, 5, 11, **SHORT)
    try:
        lineup = Lineup({"pursuer": "scripted", "evader": "random"})  # random: seeded per pass
        first = play_episodes(lineup.build(venv, 11), venv, 2, seed=11)
        targets = [(1, 0), (3, 1), (4, 1)]
        frames, again = render_episodes(lineup.build(venv, 11), venv, 2, 11, targets, size=64)
    finally:
        venv.close()
    assert [(e["return"], e["metrics"]) for e in again] == [
        (e["return"], e["metrics"]) for e in first
    ]
    by_key = {(e["world"], e["index"]): e for e in first}
    for key in targets:
        assert len(frames[key]) == by_key[key]["length"] + 1  # after the reset, after each step
        assert frames[key][0].shape == (64, 64, 3)
        assert not np.array_equal(frames[key][0], frames[key][-1])


def test_lineups_are_parsed_per_group_and_refused_in_one_line(pursuer_run):
    groups = make_env(PURSUIT, 1, 0).groups
    lineup = parse_lineup([str(pursuer_run), "evader=scripted"], groups)
    assert lineup.sources == {"pursuer": str(pursuer_run), "evader": "scripted"}
    assert lineup.learned() == ["pursuer"]
    assert [label for label, _ in baseline_lineups(lineup)] == [
        "pursuer=scripted",
        "pursuer=random",
    ]
    assert parse_lineup(["random", "pursuer=scripted"], groups).sources == {
        "pursuer": "scripted",
        "evader": "random",
    }
    for specs, words in [
        ([str(pursuer_run)], "'evader' has no player"),
        (["drone=scripted"], "unknown group 'drone'"),
        ([f"evader={pursuer_run}", "pursuer=random"], "no policy for group 'evader'"),
        ([], "at least one"),
    ]:
        with pytest.raises(ValueError, match=words) as caught:
            parse_lineup(specs, groups)
        assert "\n" not in str(caught.value)


def test_best_median_and_worst_are_ordered_by_the_score():
    setup = Setup(PURSUIT, SHORT, episodes=12, seeds=(0, 1), num_envs=3)
    evaluation = play_lineup(setup, Lineup({"pursuer": "scripted", "evader": "random"}))
    assert evaluation.figures["capture_rate"].shape == (6, 2)  # episodes per seed, seeds
    picks = pick_episodes(evaluation, "return/pursuer")
    scores = {k: e["return"]["pursuer"] for k, e in picks.items()}
    every = sorted(e["return"]["pursuer"] for e in evaluation.episodes)
    assert scores["worst"] == every[0] and scores["best"] == every[-1]
    assert scores["median"] == every[len(every) // 2]


def _no_constants(name: str):
    raise AssertionError(f"results.json holds {name}: not strict JSON")


def test_results_are_strict_json_with_undefined_figures_as_null():
    from marl.eval.report import json_safe

    data = {"a": float("nan"), "b": [1.0, float("inf"), {"c": -float("inf")}], "d": "x", "e": 2}
    text = json.dumps(json_safe(data), allow_nan=False)
    assert json.loads(text) == {"a": None, "b": [1.0, None, {"c": None}], "d": "x", "e": 2}


@pytest.fixture(scope="module")
def report(pursuer_run, tmp_path_factory):
    """``marl eval`` of the trained pursuers against scripted evaders, with cross-play and
    held-out partners: the report folder, the finished process and its arguments."""
    out = tmp_path_factory.mktemp("eval") / "report"
    args = [
        "eval",
        PURSUIT,
        "--policy",
        f"pursuer={pursuer_run}",
        "--policy",
        "evader=scripted",
        "--episodes",
        "16",
        "--seeds",
        "0,1",
        "--num-envs",
        "4",
        "--crossplay",
        f"pursuer={pursuer_run},scripted",
        "--focal",
        f"pursuer={pursuer_run}",
        "--background",
        "scripted,random",
        "--out",
        str(out),
    ]
    return out, run_marl(args, timeout=600), args


def test_marl_eval_writes_a_report_of_the_lineup_against_the_baselines(report, pursuer_run):
    out, done, args = report
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text(), parse_constant=_no_constants)
    assert [row["label"] for row in results["lineups"]] == [
        f"evaluated: pursuer={pursuer_run}, evader=scripted",
        "vs pursuer=scripted",
        "vs pursuer=random",
        "vs pursuer[0]=scripted",
        "vs pursuer[0]=random",
    ]
    assert results["config"]["max_steps"] == 40  # the run's own scenario config
    assert results["episodes_per_lineup"] == 16
    for row in results["lineups"]:
        rate = row["figures"]["capture_rate"]["iqm"]
        assert 0.0 <= rate["low"] <= rate["value"] <= rate["high"] <= 1.0
    replays = results["replays"]
    assert replays["worst"]["score"] <= replays["median"]["score"] <= replays["best"]["score"]
    for name in ("intervals.png", "score_distribution.png", "frames_best.png", "replay_worst.gif"):
        assert (out / name).stat().st_size > 2000, name
    page = (out / "report.html").read_text()
    # two figures, three frame strips, the pursuers' influence matrix, cross-play, partners
    assert page.count("src='data:image/png;base64,") == 8
    cross = results["crossplay"]
    assert cross["runs"] == [str(pursuer_run), "scripted"] and len(cross["cells"]) == 2
    diagonal = [cross["cells"][0][0]["value"], cross["cells"][1][1]["value"]]
    off = [cross["cells"][0][1]["value"], cross["cells"][1][0]["value"]]
    assert cross["gap"] == pytest.approx(np.mean(diagonal) - np.mean(off))
    (row,) = [r for r in results["partners"]["rows"] if r["background"] == "scripted"]
    low, high = sorted([row["scripted"]["value"], row["random"]["value"]])
    assert row["normalized"] == pytest.approx((row["focal"]["value"] - low) / (high - low))
    measures = results["coordination"]["pursuer"]
    assert measures["evaluated"]["influence"] >= 0.0
    assert len(measures["evaluated"]["influence_matrix"]) == 3
    assert measures["random"]["influence"] == 0.0 and measures["random"]["role_diversity"] == 0.0
    assert 0.0 <= measures["evaluated"]["spatial_specialization"] <= 1.0
    assert page.count("src='data:image/gif;base64,") == 3
    assert "| vs pursuer=random |" in (out / "report.md").read_text()
    assert "capture_rate" in done.stdout
    again = run_marl(args, timeout=120)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


SPREAD = "swarm/spread-v0"
SPREAD_SHORT = {"n_agents": 4, "max_steps": 25}


def test_crossplay_of_a_convention_free_scripted_team_has_no_gap():
    from marl.eval.partners import crossplay

    setup = Setup(SPREAD, SPREAD_SHORT, episodes=8, seeds=(0, 1), num_envs=4)
    base = Lineup({"drone": "scripted"})
    same = crossplay(setup, base, "drone", ["scripted", "scripted"], "return/drone")
    assert same.gap() == 0.0
    assert np.all(same.matrix() == same.matrix()[0, 0])
    mixed = crossplay(setup, base, "drone", ["scripted", "random"], "return/drone")
    m = mixed.matrix()
    assert m[0, 0] == same.matrix()[0, 0]  # the diagonal is each source with itself
    assert m[1, 1] < m[0, 1] < m[0, 0]  # half a scripted team is between the two
    assert mixed.gap() != 0.0


def test_held_out_partners_normalize_between_the_baselines_in_the_focal_seats():
    from marl.eval.partners import heldout

    setup = Setup(SPREAD, SPREAD_SHORT, episodes=8, seeds=(0, 1), num_envs=4)
    partners = heldout(setup, Lineup({"drone": "scripted"}), "drone", "scripted", ["random"], 2)
    (row,) = partners.rows
    assert row["scripted"].value > row["random"].value
    assert row["focal"] == row["scripted"]  # the focal policy is the scripted one
    assert row["normalized"] == 1.0
    partners = heldout(setup, Lineup({"drone": "scripted"}), "drone", "random", ["scripted"], 1)
    assert partners.rows[0]["normalized"] == 0.0


def test_a_mixed_team_takes_each_agents_action_from_its_own_source():
    venv = make_env(SPREAD, 3, 0, **SPREAD_SHORT)
    try:
        lineup = Lineup({"drone": "scripted"})
        obs = venv.reset(seed=0)
        scripted = lineup.build(venv, 5).act(obs)["drone"]
        random = Lineup({"drone": "random"}).build(venv, 5).act(obs)["drone"]
        mixed = lineup.mixed("drone", ("random", "scripted", "random", "scripted"))
        both = mixed.build(venv, 5).act(obs)["drone"]
    finally:
        venv.close()
    assert np.array_equal(both[:, [1, 3]], scripted[:, [1, 3]])
    assert np.array_equal(both[:, [0, 2]], random[:, [0, 2]])
    assert mixed.label() == "drone=[random x1, scripted x1, random x1, scripted x1]"


def test_marl_eval_on_an_outside_pettingzoo_env(tmp_path):
    from cli_runs import MPE, train_args

    run = tmp_path / "mpe"
    done = run_marl([*train_args(MPE, 2), "--run-dir", str(run)], timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "report"
    args = [
        "eval",
        MPE,
        "--policy",
        str(run),
        "--episodes",
        "6",
        "--seeds",
        "0,1",
        "--out",
        str(out),
    ]
    done = run_marl(args, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert results["config"] == {"max_cycles": 10}  # the run's own
    labels = [row["label"] for row in results["lineups"]]
    assert labels == [
        f"evaluated: {run}",
        "vs agent=random",
        "vs agent[0]=random",
    ]  # no scripted one
    figure = results["lineups"][0]["figures"]["return/agent"]["iqm"]
    assert figure["low"] <= figure["value"] <= figure["high"] and figure["n"] == 6
    replays = results["replays"]  # drawn by the env itself, replayed exactly
    assert replays["worst"]["score"] <= replays["median"]["score"] <= replays["best"]["score"]
    assert (out / "replay_best.gif").stat().st_size > 2000
    refused = run_marl(["eval", MPE, "--policy", "scripted", "--out", str(tmp_path / "x")])
    assert refused.returncode == 2 and "no scripted baseline" in refused.stderr


def test_a_sweep_evaluates_the_lineup_and_baselines_at_each_value():
    from marl.eval.sweep import parse_sweep, sweep

    assert parse_sweep("n_agents=3,6") == ("n_agents", [3, 6])
    for bad in ("n_agents", "=3", "n_agents="):
        with pytest.raises(ValueError, match="--sweep"):
            parse_sweep(bad)
    setup = Setup(SPREAD, {"max_steps": 20}, episodes=4, seeds=(0,), num_envs=4)
    result = sweep(setup, Lineup({"drone": "scripted"}), "n_agents", [2, 5])
    assert list(result["lineups"]) == ["evaluated", "random"]
    small, large = result["lineups"]["evaluated"]
    assert small["return/drone"]["n"] == large["return/drone"]["n"] == 4
    assert small["return/drone"]["value"] != large["return/drone"]["value"]
    scripted, random = result["lineups"]["evaluated"][1], result["lineups"]["random"][1]
    assert scripted["return/drone"]["value"] > random["return/drone"]["value"]


def test_a_bad_sweep_value_is_refused_before_anything_is_played(tmp_path):
    args = [
        "eval",
        SPREAD,
        "--policy",
        "scripted",
        "--sweep",
        "n_agents=4,0",
        "--out",
        str(tmp_path),
    ]
    done = run_marl(args, timeout=60)
    assert done.returncode == 2 and "n_agents" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "results.json").exists()


def test_the_report_page_renders_in_a_headless_browser(report, tmp_path):
    """Every embedded figure and replay decodes (its natural width, read by the page itself),
    and the page is not blank. Needs chromium (Debian's package), as the issue asks."""
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium installed: the page cannot be rendered here")
    out, done, _ = report
    assert done.returncode == 0, done.stderr[-2000:]
    page = (out / "report.html").read_text()
    probe = (
        "<script>window.addEventListener('load', () => { document.title = 'widths:' + "
        "Array.from(document.images).map(i => i.naturalWidth).join(','); });</script>"
    )
    (tmp_path / "page.html").write_text(page.replace("</body>", probe + "</body>"))
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [*command, "--virtual-time-budget=5000", "--dump-dom", (tmp_path / "page.html").as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    widths = [int(w) for w in dom.split("<title>widths:", 1)[1].split("</title>", 1)[0].split(",")]
    assert len(widths) == page.count("<img ") and all(w > 100 for w in widths), widths
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            *command,
            "--window-size=1100,1600",
            f"--screenshot={shot}",
            (out / "report.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), np.float64)
    assert pixels.std() > 20  # text, tables and figures, not an empty page


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--seeds", "0,x"], "--seeds"),
        (["--episodes", "nan"], "--episodes"),
        (["--episodes", "0"], "--episodes"),
        (["--num-envs", "100000"], "--num-envs"),
        (["--policy", "pursuer=scripted"], "'evader' has no player"),
        (["--policy", "scripted", "--focal-agents", "3", "--focal", "pursuer=random"], "--focal-"),
        (["--policy", "scripted", "-e", "n_pursuers=nan"], "n_pursuers"),
    ],
)
def test_bad_input_is_refused_in_one_line_naming_the_field(tmp_path, extra, words):
    args = ["eval", PURSUIT, *extra, "--out", str(tmp_path / "r")]
    if "--policy" not in extra:
        args += ["--policy", "scripted"]
    done = run_marl(args, timeout=60)
    assert done.returncode == 2 and words in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_a_hostile_run_folder_is_refused_without_running_anything(tmp_path):
    hostile = tmp_path / "run"
    (hostile / "checkpoints" / "latest").mkdir(parents=True)
    spec = {"groups": "__import__('os').system('touch pwned')"}
    (hostile / "checkpoints" / "latest" / "spec.json").write_text(json.dumps(spec))
    (hostile / "checkpoints" / "latest" / "policy.safetensors").write_bytes(b"not tensors")
    done = run_marl(["eval", PURSUIT, "--policy", str(hostile), "--out", str(tmp_path / "r")])
    assert done.returncode == 2 and str(hostile) in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "pwned").exists() and not (ROOT / "pwned").exists()
