"""swarm/formation-v0: slots, observations, metrics and dropouts by hand; the baselines beat
a random policy."""

import math

import numpy as np
import pytest
from episodes import mean_metrics, random_policy, run_episodes

import scenarios
from scenarios.layout import ObsBuffer
from scenarios.swarm.common import polarization, procrustes_error
from scenarios.swarm.formation_baseline import BoidsPolicy, ConsensusFormationPolicy

CALM = dict(
    shapes=("line",),
    wind_force=0.0,
    gust_force=0.0,
    dropout_probability=0.0,
    switch_probability=0.0,
)


def constructed(n=3, **config):
    """One world, no wind, no dropouts, a line; the leader at (R, 0) flying counterclockwise."""
    venv = scenarios.make_vec(
        "swarm/formation-v0", num_envs=1, seed=0, n_agents=n, **{**CALM, **config}
    )
    venv.reset()
    venv.scenario.phase0[0] = 0.0
    venv.scenario.direction[0] = 1.0
    return venv


def place(venv, points, velocities=None):
    points = np.asarray(points, float)
    velocities = np.zeros_like(points) if velocities is None else np.asarray(velocities, float)
    venv.world.reset_bodies(
        "drone",
        np.array([0]),
        points[None, :, 0],
        points[None, :, 1],
        vx=velocities[None, :, 0],
        vy=velocities[None, :, 1],
    )


def sensed(venv):
    """The frame of the world as it stands (as the vector env makes it after a step)."""
    return venv.scenario.sense(venv.world, venv.episode)


def still(venv):
    return {"drone": np.zeros((1, venv.cfg.n_agents), np.int64)}


def test_line_slots_observation_and_procrustes_error_by_hand():
    venv = constructed()
    scenario = venv.scenario
    radius, spacing = scenario.cfg.radius, scenario.cfg.spacing
    assert radius == pytest.approx(1.5) and spacing == pytest.approx(0.4)
    # Leader at (1.5, 0) heading +y: the line lies one spacing behind it (y = -0.4), rank 0 on
    # the right (+x).
    slots = [(1.9, -0.4), (1.5, -0.4), (1.1, -0.4)]
    drones = [(0.0, 0.5), (0.0, 0.0), (0.0, -0.5)]
    place(venv, drones)
    frame = sensed(venv)
    obs = scenario.observe(frame)["drone"][0]
    np.testing.assert_allclose(
        np.stack([frame.slots[0].real, frame.slots[0].imag], -1), slots, atol=1e-6
    )
    layout = venv.groups["drone"].layout
    # The order and sizes of the blocks (the observation of swarm/formation-v0 never changes).
    blocks = [(block.name, block.size) for block in layout]
    assert blocks == [
        ("own", 4),
        ("slot", 2),
        ("leader", 2),
        ("leader_velocity", 2),
        ("wind", 2),
        ("shape", 3),
        ("neighbours", 7 * 4),
    ]
    assert obs.shape == (3, 15 + 7 * 4)
    expected = {
        "own": [0, 0.5, 0, 0],
        "slot": [1.9, -0.9],
        "leader": [1.5, -0.5],
        "leader_velocity": [0, 0.4],
        "wind": [0, 0],
        "shape": [1, 0, 0],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(obs[0, layout.slice(name)], values, atol=1e-6, err_msg=name)
    # Drone 0's neighbours: drone 1 (0.5 below, slot 0.4 to the left), then drone 2.
    neighbours = obs[0, layout.slice("neighbours")].reshape(4, 6)
    np.testing.assert_allclose(neighbours[0], [0, -0.5, 0, 0, -0.4, 0], atol=1e-6)
    np.testing.assert_allclose(neighbours[1], [0, -1.0, 0, 0, -0.8, 0], atol=1e-6)
    np.testing.assert_allclose(obs[0, layout.valid_slice("neighbours")], [1, 1, 0, 0])
    reward, terms = scenario.reward(frame)
    slot_error = np.mean([math.dist(p, s) for p, s in zip(drones, slots, strict=True)])
    np.testing.assert_allclose(reward["drone"][0], [-slot_error] * 3, rtol=1e-6)
    assert terms["formation"].shape == (1, 1)  # a team term
    metrics = scenario.metrics(frame)
    assert metrics["slot_error"][0] == pytest.approx(slot_error, rel=1e-6)
    # Centred, the drones are a vertical line of half-length 0.5 and the slots a horizontal one
    # of 0.4: the best rotation (a quarter turn) leaves 0.1 at both ends.
    assert metrics["formation_error"][0] == pytest.approx(math.sqrt(0.02 / 3), rel=1e-5)


def test_procrustes_and_polarization_helpers_by_hand():
    targets = np.array([[0, 1, 1 + 1j, 2j]], np.complex64)
    moved = targets * np.exp(1j * 0.7) + (3 - 2j)
    mask = np.ones((1, 4), bool)
    assert procrustes_error(moved.astype(np.complex64), targets, mask)[0] == pytest.approx(
        0.0, abs=1e-5
    )
    off = moved.copy()
    off[0, 3] = 100  # a masked-out body does not count
    mask[0, 3] = False
    assert procrustes_error(off.astype(np.complex64), targets, mask)[0] == pytest.approx(
        0.0, abs=1e-5
    )
    velocity = np.array([[1, 1j, 1, -5]], np.complex64)
    assert polarization(velocity, mask)[0] == pytest.approx(math.sqrt(5) / 3)
    assert polarization(velocity, np.ones((1, 4), bool))[0] == pytest.approx(
        abs(1 + 1j + 1 - 1) / 4
    )


def test_polarization_and_collisions_by_hand():
    venv = constructed(collision_penalty=2.0)
    scenario = venv.scenario
    # Drones 0 and 1 overlap (0.1 apart, radius 0.08); all fly at 0.5 m/s.
    place(venv, [(0.0, 0.0), (0.1, 0.0), (-1.0, 1.0)], [(0.5, 0), (0, 0.5), (0.5, 0)])
    frame = sensed(venv)
    reward, terms = scenario.reward(frame)
    reward = reward["drone"][0]
    assert reward[0] - reward[2] == pytest.approx(-2.0)
    assert reward[1] - reward[2] == pytest.approx(-2.0)
    assert terms["collision"][0].tolist() == [-2.0, -2.0, 0.0]
    metrics = scenario.metrics(frame)
    assert metrics["collisions"][0] == pytest.approx(2 / 3)
    assert metrics["polarization"][0] == pytest.approx(math.sqrt(5) / 3, rel=1e-5)


def test_progress_is_the_centroid_angle_over_the_leader_angle():
    venv = constructed(max_steps=1)
    scenario = venv.scenario
    place(venv, [(0.9, 0.3), (1.1, 0.3), (1.0, 0.6)])  # centroid (1.0, 0.4)
    scenario.progress.previous_centroid[0] = 1.0 + 0j
    *_, info = venv.step(still(venv))
    (episode,) = info["episodes"]
    leader_angle = 0.4 * 0.1 / 1.5  # speed * dt / radius
    assert episode["metrics"]["progress"] == pytest.approx(math.atan2(0.4, 1.0) / leader_angle)
    assert episode["metrics"]["dropped"] == 0.0


def test_progress_advances_once_per_step_however_often_the_world_is_sensed():
    venv = constructed(max_steps=10)
    progress = venv.scenario.progress
    place(venv, [(0.9, 0.3), (1.1, 0.3), (1.0, 0.6)])  # centroid (1.0, 0.4)
    progress.previous_centroid[0] = 1.0 + 0j
    sensed(venv)  # a world just reset (step 0) does not advance
    assert progress.travel[0] == 0.0
    venv.step(still(venv))
    travel = float(progress.travel[0])
    assert travel == pytest.approx(math.atan2(0.4, 1.0), rel=1e-5)
    # The vector env senses again in a step where other worlds reset: nothing moves on.
    venv.world.reset_bodies("drone", np.array([0]), np.array([[0.0, 0.1, 0.2]]), np.zeros((1, 3)))
    sensed(venv)
    assert progress.travel[0] == travel


def test_dropout_terminates_parks_and_the_others_reslot():
    venv = constructed(max_steps=20)
    scenario = venv.scenario
    scenario.drop_step[0] = [99, 1, 99]
    place(venv, [(1.9, -0.4), (1.5, -0.4), (1.1, -0.4)])
    obs, rew, terminated, truncated, info = venv.step(still(venv))
    assert terminated["drone"].tolist() == [[False, True, False]]
    assert venv.alive["drone"].tolist() == [[True, False, True]]
    parked = complex(scenario.drones.position[0, 1])
    assert parked.imag < -scenario.cfg.side  # parked outside the arena
    actions = {"drone": np.ones((1, 3), np.int64)}  # full thrust +x for everyone
    obs, rew, terminated, truncated, info = venv.step(actions)
    assert complex(scenario.drones.position[0, 1]) == parked  # no thrust, no wind: it stays
    assert rew["drone"][0, 1] == 0 and (obs["drone"][0, 1] == 0).all()
    # Two drones left: a line of two, ranks 0 and 1 now drones 0 and 2.
    leader, heading = scenario.leader[0, 0], scenario.leader_velocity[0, 0] / 0.4
    spacing = scenario.cfg.spacing
    expected = leader + heading * spacing * np.array([-1 - 0.5j, -1 + 0.5j])
    np.testing.assert_allclose(scenario.slots[0, [0, 2]], expected, atol=1e-5)
    # Drone 0 now sees only drone 2, whose slot is one spacing to the left.
    seen = ObsBuffer(venv.groups["drone"].layout, obs["drone"])
    np.testing.assert_allclose(seen.valid("neighbours")[0, 0], [1, 0, 0, 0])
    slot_offset = seen.complex("neighbours")[0, 0, 0, 2]  # (offset, velocity, slot offset)
    assert slot_offset == pytest.approx(expected[1] - expected[0], abs=1e-5)
    assert scenario.metrics(sensed(venv))["dropped"][0].tolist() == [False, True, False]


def test_observation_size_does_not_depend_on_agent_count():
    small = scenarios.make_scenario("swarm/formation-v0", n_agents=8)
    large = scenarios.make_scenario("swarm/formation-v0", n_agents=32)
    small_space = small.groups()["drone"].observation_space
    assert small_space.shape == large.groups()["drone"].observation_space.shape
    # A policy built for 8 drones acts for 32.
    venv = scenarios.make_vec("swarm/formation-v0", num_envs=2, seed=0, n_agents=32)
    actions = ConsensusFormationPolicy(small.cfg).act(venv.reset())
    assert actions["drone"].shape == (2, 32)
    venv.step(actions)


def test_invalid_shape_is_named():
    with pytest.raises(scenarios.ScenarioConfigError, match="shapes must be"):
        scenarios.make_vec("swarm/formation-v0", shapes=("line", "square"))


def evaluate(policy_name, continuous=False):
    worlds = 8
    venv = scenarios.make_vec(
        "swarm/formation-v0",
        num_envs=worlds,
        seed=3,
        max_steps=120,
        continuous_actions=continuous,
    )
    policy = {"consensus": ConsensusFormationPolicy, "boids": BoidsPolicy}.get(policy_name)
    act = policy(venv.cfg).act if policy else random_policy(venv, seed=7)
    return mean_metrics(run_episodes(venv, act, worlds))


@pytest.mark.parametrize("continuous", [False, True])
def test_baselines_beat_random(continuous):
    consensus = evaluate("consensus", continuous)
    boids = evaluate("boids", continuous)
    random = evaluate("random", continuous)
    assert consensus["formation_error"] < 0.25 * random["formation_error"]
    assert boids["polarization"] > random["polarization"] + 0.3
    assert consensus["progress"] > 0.8 and random["progress"] < 0.3
