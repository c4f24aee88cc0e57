"""swarm/pursuit-v0: captures, termination, rewards and metrics by hand; view cones and
occlusion; each side's baseline beats a random policy."""

import numpy as np
import pytest
from episodes import mean_metrics, run_episodes

import scenarios
from scenarios.swarm.pursuit_baselines import EvasionPolicy, PurePursuitPolicy
from worlds.visibility import in_field_of_view, line_of_sight


def constructed(**config):
    settings = dict(n_pursuers=1, n_evaders=2, n_obstacles=0, arena_size=3.0)
    venv = scenarios.make_vec("swarm/pursuit-v0", num_envs=1, seed=0, **{**settings, **config})
    venv.reset()
    return venv


def place(venv, team, points, heading=None):
    points = np.asarray(points, float)
    venv.world.reset_bodies(team, np.array([0]), points[None, :, 0], points[None, :, 1])
    if heading is not None:
        venv.scenario.heading[team][0] = heading


def still(venv):
    return {team: np.zeros((1, spec.n_agents), np.int64) for team, spec in venv.groups.items()}


def test_capture_terminates_parks_and_scores_by_hand():
    venv = constructed()
    place(venv, "pursuer", [(0.0, 0.0)])
    place(venv, "evader", [(0.2, 0.0), (-1.0, 1.0)])
    obs, rew, terminated, truncated, info = venv.step(still(venv))
    assert terminated["evader"].tolist() == [[True, False]]
    assert not terminated["pursuer"].any() and info["episodes"] == []
    # One capture, both evaders free during the step: T = 1 - 0.01 * 1.
    assert rew["pursuer"][0, 0] == pytest.approx(0.99)
    np.testing.assert_allclose(rew["evader"][0], [-0.99, -0.99], rtol=1e-6)
    # The captured evader is parked outside its arena; its observation is zero from now on.
    assert abs(venv.scenario.teams["evader"].y[0, 0]) > 3.0
    place(venv, "pursuer", [(-1.0, 0.8)])
    obs, rew, terminated, truncated, info = venv.step(still(venv))
    assert (info["final_obs"]["evader"][0, 0] == 0).all()  # the world ended and restarted
    # The second capture ends the world: the pursuers are done too.
    assert terminated["evader"].tolist() == [[False, True]]
    assert terminated["pursuer"].all()
    assert rew["pursuer"][0, 0] == pytest.approx(1 - 0.01 * 0.5)
    (episode,) = info["episodes"]
    assert episode["length"] == 2
    metrics = episode["metrics"]
    assert metrics["capture_rate"] == 1.0
    assert metrics["time_to_capture"] == pytest.approx((0.1 + 0.2) / 2)
    assert metrics["survival_time"] == pytest.approx((0.1 + 0.2) / 2)


def test_view_cone_and_occlusion_decide_what_pursuers_see():
    venv = constructed(n_obstacles=1, n_evaders=2, arena_size=4.0)
    scenario = venv.scenario
    (ox, oy, half) = scenario.cfg.obstacles[0]
    # The pursuer faces +x; evader 0 is ahead in the open, evader 1 behind it.
    place(venv, "pursuer", [(-1.5, -1.5)], heading=1 + 0j)
    place(venv, "evader", [(-0.5, -1.5), (-1.9, -1.5)])
    layout = venv.groups["pursuer"].layout
    seen, valid = layout.slice("opponents"), layout.valid_slice("opponents")
    obs = scenario.observe(venv.measure())["pursuer"][0, 0]
    np.testing.assert_allclose(obs[seen][:4], [1.0, 0.0, 0.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(obs[valid], [1.0, 0.0])  # only one seen
    # Behind the obstacle (on the line through its centre), out of sight though in the cone.
    place(venv, "pursuer", [(ox - half - 0.4, oy)], heading=1 + 0j)
    place(venv, "evader", [(ox + half + 0.4, oy), (-1.9, -1.9)])
    obs = scenario.observe(venv.measure())["pursuer"][0, 0]
    np.testing.assert_allclose(obs[valid], [0.0, 0.0])


def test_visibility_helpers_by_hand():
    offset = np.array([[[1 + 0j, -1 + 0j, 1 + 1j, 3 + 0j]]], np.complex64)
    heading = np.array([[1 + 0j]], np.complex64)
    cone = in_field_of_view(offset, heading, np.radians(60), 2.0)
    assert cone.tolist() == [[[True, False, True, False]]]  # 45 deg in, 0 in, 180 out, range
    narrow = in_field_of_view(offset, heading, np.radians(30), 2.0)
    assert narrow.tolist() == [[[True, False, False, False]]]
    wall = np.array([[0.5, -1.0, 0.5, 1.0]], np.float32)  # x = 0.5, from y = -1 to 1
    observer = np.array([[0j]], np.complex64)
    targets = np.array([[1 + 0j, 0.4 + 0j, 1 + 3j]], np.complex64)
    assert line_of_sight(observer, targets, wall).tolist() == [[[False, True, True]]]


def test_observation_size_does_not_depend_on_team_sizes():
    small = scenarios.make_scenario("swarm/pursuit-v0", n_pursuers=3, n_evaders=1)
    large = scenarios.make_scenario("swarm/pursuit-v0", n_pursuers=12, n_evaders=6)
    for team in ("pursuer", "evader"):
        assert (
            small.groups()[team].observation_space.shape
            == large.groups()[team].observation_space.shape
        )


def play(pursuers, evaders, episodes_wanted=24):
    venv = scenarios.make_vec("swarm/pursuit-v0", num_envs=12, seed=2)
    cfg = venv.scenario.cfg
    rng = np.random.default_rng(1)

    def act(obs):
        actions = {}
        for team, policy in (("pursuer", pursuers), ("evader", evaders)):
            if policy is None:
                actions[team] = rng.integers(0, 5, (12, venv.groups[team].n_agents))
            else:
                actions[team] = policy(cfg).act(obs)[team]
        return actions

    return mean_metrics(run_episodes(venv, act, episodes_wanted), mean=np.nanmean)


def test_pursuer_baseline_captures_far_more_than_random():
    baseline = play(PurePursuitPolicy, EvasionPolicy)
    random = play(None, EvasionPolicy)
    assert baseline["capture_rate"] > 0.8 and random["capture_rate"] < 0.4


def test_evader_baseline_survives_far_longer_than_random():
    baseline = play(PurePursuitPolicy, EvasionPolicy)
    random = play(PurePursuitPolicy, None)
    assert baseline["survival_time"] > 1.7 * random["survival_time"]


def test_scripted_policy_acts_for_both_teams():
    venv = scenarios.make_vec("swarm/pursuit-v0", num_envs=2, seed=0, continuous_actions=True)
    actions = venv.scenario.scripted_policy().act(venv.reset())
    assert actions["pursuer"].shape == (2, 3, 2) and actions["evader"].shape == (2, 2, 2)
    venv.step(actions)


def test_restarted_worlds_observed_in_place_equal_the_copying_path():
    """Pursuit re-observes only the worlds that restarted, in place: the observations, rewards
    and episode records equal those of the env's copying path, step for step."""
    import numpy as np

    import scenarios
    from scenarios.swarm.pursuit import Pursuit

    def run(in_place: bool):
        env = scenarios.make_vec("swarm/pursuit-v0", num_envs=6, seed=2)
        env.scenario.observes_restarted_only = in_place  # instance attribute: this env only
        env.reset()
        rng = np.random.default_rng(5)
        out, restarts = [], 0
        for _ in range(120):
            actions = {
                g: rng.integers(0, s.action_space.n, (6, s.n_agents)) for g, s in env.groups.items()
            }
            obs, rew, _, _, info = env.step(actions)
            restarts += len(info["episodes"])
            out.append(({g: o.copy() for g, o in obs.items()}, repr(info["episodes"])))
        return out, restarts

    copied, restarts = run(False)
    in_place, _ = run(True)
    assert restarts > 0 and Pursuit.observes_restarted_only
    for (obs_a, eps_a), (obs_b, eps_b) in zip(copied, in_place, strict=True):
        assert eps_a == eps_b
        for group in obs_a:
            np.testing.assert_array_equal(obs_a[group], obs_b[group])


def test_episodes_end_the_same_whether_or_not_the_last_frame_is_watched():
    # Without a last-frame callback the env skips parking the agents of a world that ends and
    # restarts in the same step (its reset places them); with one it parks them first, so the
    # frame shows them gone. Episodes back to back must not tell the two apart.
    runs = []
    for watched in (False, True):
        venv = scenarios.make_vec("swarm/pursuit-v0", num_envs=8, seed=3, n_pursuers=6)
        seen = []
        if watched:
            venv.on_episode_end = lambda ids, seen=seen: seen.append(ids.copy())
        obs = venv.reset(seed=3)
        rng = np.random.default_rng(0)
        trace, ended = [], 0
        for _ in range(300):
            acts = {g: rng.integers(0, 5, (8, s.n_agents)) for g, s in venv.groups.items()}
            obs, rew, term, trunc, info = venv.step(acts)
            trace += [obs[g].copy() for g in sorted(obs)] + [rew[g].copy() for g in sorted(rew)]
            trace += [term[g].copy() for g in sorted(term)]
            trace.append(repr(info["episodes"]))
            ended += len(info["episodes"])
        assert ended >= 8 and (not watched or len(seen) > 0)
        runs.append(trace)
    assert len(runs[0]) == len(runs[1])
    for a, b in zip(*runs, strict=True):
        if isinstance(a, str):
            assert a == b
        else:
            np.testing.assert_array_equal(a, b)
