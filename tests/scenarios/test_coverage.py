"""swarm/coverage-v0: grid geometry against brute force, hand-computed observations, rewards and
metrics on a constructed world, and Lloyd's baseline against a random policy."""

import numpy as np
import pytest
from episodes import mean_metrics, random_policy, run_episodes

import scenarios
from scenarios.swarm.common import algebraic_connectivity, is_connected
from worlds.coverage import GridField
from worlds.geometry import StaticGeometry
from worlds.sensors import lidar
from worlds.visibility import box_lidar


def random_field(seed, num_worlds=3, grid=12, side=2.4):
    rng = np.random.default_rng(seed)
    field = GridField(num_worlds, grid, side)
    field.values[:] = rng.random(field.values.shape)
    field.refresh()
    n = int(rng.integers(1, 7))
    points = rng.uniform(-1.4, 1.4, (num_worlds, n)) + 1j * rng.uniform(-1.4, 1.4, (num_worlds, n))
    return field, points.astype(np.complex64)


@pytest.mark.parametrize("seed", range(6))
def test_grid_geometry_matches_brute_force(seed):
    field, points = random_field(seed)
    radius = 0.1 + 0.1 * seed
    distance = np.abs(field.centres[None, None, :] - points[..., None].astype(np.complex128))
    assert np.array_equal(field.disc_cover(points, radius), (distance <= radius).any(axis=1))
    weight, _ = field.covered_weight(points, radius)
    expected = (field.values * (distance <= radius).any(axis=1)).sum(axis=1)
    np.testing.assert_allclose(weight, expected, rtol=1e-5)
    nearest = (distance**2).min(axis=1)
    cost = field.locational_cost(points)
    np.testing.assert_allclose(cost, (field.values * nearest).sum(axis=1), rtol=1e-4)
    owner = distance.argmin(axis=1)
    centroid, mass = field.voronoi_centroids(points)
    for b in range(len(points)):
        for i in range(points.shape[1]):
            mine = owner[b] == i
            if mine.any():
                w = field.values[b, mine]
                assert mass[b, i] == pytest.approx(w.sum(), rel=1e-4)
                c = (w * field.centres[mine]).sum() / w.sum()
                assert abs(centroid[b, i] - c) < 1e-4


def test_patch_sampling_reads_the_cell_under_each_point_and_zero_off_grid():
    field, points = random_field(1, grid=8, side=2.0)
    offsets = np.array([-1.3, -0.2, 0.0, 0.4], np.float32)
    patch = field.sample_patch(points, offsets, offsets[:3])
    for b in range(len(points)):
        for i in range(points.shape[1]):
            for row, dy in enumerate(offsets[:3]):
                for column, dx in enumerate(offsets):
                    x = points[b, i].real + dx + 1.0
                    y = points[b, i].imag + dy + 1.0
                    cx, cy = int(np.floor(x / 0.25)), int(np.floor(y / 0.25))
                    inside = 0 <= cx < 8 and 0 <= cy < 8
                    expected = field.values[b, cy * 8 + cx] if inside else 0.0
                    assert patch[b, i, row, column] == pytest.approx(expected)


def test_box_lidar_matches_segment_lidar():
    rng = np.random.default_rng(4)
    boxes = np.array([[0.5, 0.2, 0.2, 0.1], [-0.6, -0.4, 0.15, 0.3]], np.float32)
    geometry = StaticGeometry()
    for cx, cy, half_w, half_h in boxes:
        geometry.add_box((cx, cy), (2 * half_w, 2 * half_h))
    h = 1.5
    room = [(-h, -h, h, -h), (h, -h, h, h), (h, h, -h, h), (-h, h, -h, -h)]
    segments = np.concatenate([np.array(room, np.float32), geometry.lidar_segments()])
    x, y = rng.uniform(-1.45, 1.45, (2, 3, 40)).astype(np.float32)
    fast = box_lidar(x, y, 12, 1.2, room=(h, h), boxes=boxes)
    slow = lidar(x, y, None, 12, 1.2, segments=segments)
    inside = np.zeros(x.shape, bool)
    for cx, cy, half_w, half_h in boxes:
        inside |= (np.abs(x - cx) <= half_w) & (np.abs(y - cy) <= half_h)
    np.testing.assert_allclose(fast[~inside], slow[~inside], atol=1e-5)
    assert (fast[inside] == 0).all()


def test_connectivity_figures_by_hand():
    path = np.zeros((2, 3, 3), bool)
    path[0, 0, 1] = path[0, 1, 0] = path[0, 1, 2] = path[0, 2, 1] = True  # 0 - 1 - 2
    path[1, 0, 1] = path[1, 1, 0] = True  # 2 alone
    assert is_connected(path).tolist() == [True, False]
    # Laplacian of a 3-path has eigenvalues 0, 1, 3; of a disconnected graph, 0 twice.
    np.testing.assert_allclose(algebraic_connectivity(path), [1.0, 0.0], atol=1e-9)
    alive = np.array([[True, True, True], [True, True, False]])
    assert is_connected(path, alive).tolist() == [True, True]


def constructed(**config):
    """One world, a uniform density on a 4 x 4 grid of 0.5 m cells (arena side 2)."""
    settings = dict(
        n_agents=3,
        arena_size=2.0,
        grid_size=4,
        reference_grid=2,
        sensing_radius=0.3,
        comms_radius=0.8,
        k_neighbours=3,
        patch_size=3,
        patch_spacing=0.5,
        n_rays=4,
        lidar_range=1.5,
    )
    venv = scenarios.make_vec("swarm/coverage-v0", num_envs=1, seed=0, **{**settings, **config})
    venv.reset()
    scenario = venv.scenario
    scenario.field.values[0] = 1 / 16
    scenario.field.refresh()
    return venv


def place(venv, points):
    points = np.asarray(points, float)
    venv.world.reset_bodies("drone", np.array([0]), points[None, :, 0], points[None, :, 1])


def sensed(venv):
    """The frame of the world as it stands (as the vector env makes it after a step)."""
    return venv.scenario.sense(venv.world, venv.episode)


def test_observation_layout_is_as_documented():
    venv = constructed()
    place(venv, [(-0.25, -0.25), (0.25, -0.25), (0.75, 0.75)])
    layout = venv.groups["drone"].layout
    # The order and sizes of the blocks (the observation of swarm/coverage-v0 never changes).
    blocks = [(block.name, block.size) for block in layout]
    assert blocks == [("own", 4), ("density", 9), ("neighbours", 5 * 3), ("lidar", 4)]
    obs = venv.scenario.observe(sensed(venv))["drone"][0]
    assert obs.shape == (3, 4 + 9 + 5 * 3 + 4)
    np.testing.assert_allclose(obs[0, layout.slice("own")], [-0.25, -0.25, 0, 0], atol=1e-6)
    # Density patch of drone 2 (at the cell centre (0.75, 0.75), top right): 16 * 1/16 = 1
    # on the grid, 0 past the arena's edge (row by row from the bottom, x fastest).
    density = obs[2, layout.slice("density")]  # one column (phi) per point
    np.testing.assert_allclose(density, [1, 1, 0, 1, 1, 0, 0, 0, 0], atol=1e-6)
    # Drone 0: drone 1 within comms (0.5 m), drone 2 not (1.41 m > 0.8): one valid neighbour.
    neighbours = obs[0, layout.slice("neighbours")].reshape(3, 4)
    np.testing.assert_allclose(neighbours[0], [0.5, 0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(neighbours[1:], 0.0)
    np.testing.assert_allclose(obs[0, layout.valid_slice("neighbours")], [1, 0, 0])
    # Lidar rays +x, +y, -x, -y against the walls at +-1: drone 2 sees 0.25 and 0.25.
    lidar = layout.slice("lidar")
    np.testing.assert_allclose(obs[2, lidar], [0.25, 0.25, 1.5, 1.5], atol=1e-5)
    np.testing.assert_allclose(obs[0, lidar], [1.25, 1.25, 0.75, 0.75], atol=1e-5)


def test_without_rays_there_is_no_lidar_block_and_without_neighbours_an_empty_one():
    scenario = scenarios.make_scenario("swarm/coverage-v0", n_rays=0, k_neighbours=0)
    layout = scenario.groups()["drone"].layout
    assert [(block.name, block.size) for block in layout] == [
        ("own", 4),
        ("density", 25),
        ("neighbours", 0),
    ]


def test_reward_and_metrics_match_hand_computation():
    venv = constructed(collision_penalty=2.0, disconnect_penalty=0.5, coverage_reward=10.0)
    scenario = venv.scenario
    # Drones 0 and 1 overlap (0.1 apart); drone 2 is out of comms range: the graph splits.
    place(venv, [(-0.25, -0.25), (-0.15, -0.25), (0.75, 0.75)])
    scenario.coverage[0] = 0.0  # the coverage the gain is measured from
    frame = sensed(venv)
    reward, terms = scenario.reward(frame)
    # Cells covered (centres within 0.3): (-0.25, -0.25) and (0.75, 0.75): 2 of 16 cells.
    assert frame.coverage[0] == pytest.approx(2 / 16)
    gain = 10 * 2 / 16
    np.testing.assert_allclose(
        reward["drone"][0], [gain - 2 - 0.5, gain - 2 - 0.5, gain - 0.5], atol=1e-5
    )
    assert terms["coverage"].shape == terms["connectivity"].shape == (1, 1)  # team terms
    assert terms["coverage"][0, 0] == pytest.approx(gain)
    assert terms["connectivity"][0, 0] == pytest.approx(-0.5)
    assert terms["collision"][0].tolist() == [-2.0, -2.0, 0.0]
    metrics = scenario.metrics(frame)
    assert np.mean(metrics["collisions"][0]) == pytest.approx(2 / 3)
    assert np.min(metrics["min_separation"][0]) == pytest.approx(0.1, abs=1e-5)
    assert not metrics["connected"][0]


def test_the_coverage_gain_is_measured_from_the_last_step():
    venv = constructed(coverage_reward=1.0, disconnect_penalty=0.0)
    scenario = venv.scenario
    place(venv, [(-0.25, -0.25), (0.25, -0.25), (0.75, 0.75)])  # 3 cells covered
    scenario.coverage[0] = 1 / 16  # the launch coverage, as reset measured it
    still = {"drone": np.zeros((1, 3), np.int64)}
    # The vector env senses again after resetting worlds whose episode ended: that leaves a
    # world just reset (step 0) with its launch coverage, and moves no other world's.
    sensed(venv)
    _, reward, _, _, _ = venv.step(still)
    np.testing.assert_allclose(reward["drone"][0], [2 / 16] * 3, atol=1e-6)
    sensed(venv)
    _, reward, _, _, _ = venv.step(still)
    assert reward["drone"][0].tolist() == [0.0, 0.0, 0.0]
    assert scenario.coverage[0] == pytest.approx(3 / 16)


def test_episode_end_figures_by_hand():
    venv = constructed(max_steps=1)
    scenario = venv.scenario
    scenario.lloyd_cost[0] = 0.05
    # Drones sit still at three cell centres; the path 0 - 1 - 2 has lambda_2 = 1.
    place(venv, [(-0.75, -0.75), (-0.25, -0.75), (0.25, -0.75)])
    _, _, _, _, info = venv.step({"drone": np.zeros((1, 3), np.int64)})
    (episode,) = info["episodes"]
    # Squared distance from each cell centre to its nearest drone, row by row from the bottom:
    # (0, 0, 0, 0.25), (0.25, 0.25, 0.25, 0.5), (1, 1, 1, 1.25), (2.25, 2.25, 2.25, 2.5).
    cost = (0.25 + 1.25 + 4.25 + 9.25) / 16
    assert episode["metrics"]["cost_ratio"] == pytest.approx(cost / 0.05, rel=1e-5)
    assert episode["metrics"]["algebraic_connectivity"] == pytest.approx(1.0, abs=1e-6)
    assert episode["metrics"]["connected"] == 1.0


def test_observation_size_does_not_depend_on_the_swarm_size():
    small = scenarios.make_scenario("swarm/coverage-v0", n_agents=8)
    large = scenarios.make_scenario("swarm/coverage-v0", n_agents=32)
    assert (
        small.groups()["drone"].observation_space.shape
        == large.groups()["drone"].observation_space.shape
    )


def test_config_errors_name_the_field():
    with pytest.raises(scenarios.ScenarioConfigError, match="reference_grid"):
        scenarios.make_scenario("swarm/coverage-v0", grid_size=30, reference_grid=16)
    with pytest.raises(
        scenarios.ScenarioConfigError, match=r"n_agents must be in \[2, 256\], got 1"
    ):
        scenarios.make_scenario("swarm/coverage-v0", n_agents=1)


def evaluate(policy_name, n=8, episodes_wanted=16, **config):
    venv = scenarios.make_vec("swarm/coverage-v0", num_envs=16, seed=5, n_agents=n, **config)
    if policy_name == "lloyd":
        act = venv.scenario.scripted_policy().act
    else:
        act = random_policy(venv, seed=3)
    return mean_metrics(run_episodes(venv, act, episodes_wanted))


@pytest.mark.parametrize("continuous", [False, True])
def test_lloyd_baseline_beats_random_by_a_wide_margin(continuous):
    lloyd = evaluate("lloyd", continuous_actions=continuous)
    random = evaluate("random", continuous_actions=continuous)
    assert lloyd["cost_ratio"] < 1.15 and random["cost_ratio"] > 2.0
    assert lloyd["coverage"] > random["coverage"] + 0.2
    assert lloyd["collisions"] < random["collisions"]


def test_obstacles_block_the_lidar_and_carry_no_density():
    venv = scenarios.make_vec("swarm/coverage-v0", num_envs=2, seed=0, n_obstacles=4)
    obs = venv.reset()
    scenario = venv.scenario
    assert (scenario.field.values[:, ~scenario.free_cells] == 0).all()
    assert np.isfinite(obs["drone"]).all()


@pytest.mark.parametrize("grid", [4, 9, 16, 32, 33, 70])
def test_disc_cover_bit_masks_match_brute_force_for_any_word_layout(grid):
    # Grid rows are bit masks of 8, 16 or (several) 32-bit words: check each layout, with points
    # on and off the grid and a mask.
    rng = np.random.default_rng(grid)
    field = GridField(4, grid, 2.0)
    field.values[:] = rng.random(field.values.shape)
    field.refresh()
    points = rng.uniform(-1.5, 1.5, (4, 7)) + 1j * rng.uniform(-1.5, 1.5, (4, 7))
    points = points.astype(np.complex64)
    mask = rng.random((4, 7)) < 0.7
    radius = 2 * field.cell
    distance = np.abs(field.centres[None, None, :] - points[..., None].astype(np.complex128))
    for m in (None, mask):
        near = distance <= radius
        if m is not None:
            near &= m[..., None]
        expected = near.any(axis=1)
        assert np.array_equal(field.disc_cover(points, radius, m), expected)
        weight, covered = field.covered_weight(points, radius, m)
        assert np.array_equal(covered, expected)
        np.testing.assert_allclose(weight, (field.values * expected).sum(axis=1), rtol=1e-5)
        columns = field.disc_cover_by_column(points, radius, m)
        assert np.array_equal(
            columns.reshape(grid, 4, grid).transpose(1, 2, 0), expected.reshape(4, grid, grid)
        )


@pytest.mark.parametrize("n", [1, 2, 3, 5, 16, 17, 40])
def test_is_connected_matches_the_laplacian_spectrum(n):
    # Reachability from node 0 (squarings, a last row product, early exit) against the Fiedler
    # value, on random graphs with and without self-loops, paths and a path cut at its end.
    rng = np.random.default_rng(n)
    for p in (0.05, 0.15, 0.4):
        adjacent = rng.random((100, n, n)) < p
        adjacent |= adjacent.transpose(0, 2, 1)
        adjacent[::2, np.arange(n), np.arange(n)] = True
        expected = algebraic_connectivity(adjacent) > 1e-9 if n > 1 else np.ones(100, bool)
        assert np.array_equal(is_connected(adjacent), expected)
    if n > 1:
        path = np.zeros((2, n, n), bool)
        i = np.arange(n - 1)
        path[:, i, i + 1] = path[:, i + 1, i] = True
        path[1, n - 2, n - 1] = path[1, n - 1, n - 2] = False
        assert is_connected(path).tolist() == [True, False]
        assert is_connected(np.ones((3, n, n), bool)).all()
