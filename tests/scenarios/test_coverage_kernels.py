"""Coverage's observation kernel against the numpy it replaced, on random neighbours: own
state, neighbours in range (zeros and flag 0 beyond it) and lidar, bit for bit; the patch
columns untouched; the same bits on a second call; the scenario's density patch against
``sample_patch_reference``. The reward kernel against its numpy reference."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import scenarios
from scenarios.swarm import coverage_kernels
from worlds.visibility import box_lidar

cases = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**31 - 1),
        "n_agents": st.integers(2, 12),
        "k_neighbours": st.integers(0, 14),
        "n_rays": st.sampled_from([0, 1, 8]),
        "n_obstacles": st.sampled_from([0, 2]),
        "arena_size": st.sampled_from([0.0, 6.0]),
        "patch_size": st.sampled_from([1, 3, 5, 8]),
        "patch_spacing": st.sampled_from([0.05, 0.15, 0.6]),
    }
)


@settings(max_examples=40, deadline=None)
@given(case=cases)
def test_observe_matches_numpy(case):
    config = {k: v for k, v in case.items() if k != "seed"}
    if config["n_obstacles"]:
        config["arena_size"] = 6.0  # room for the launch area inside the obstacles' ring
    venv = scenarios.make_vec("swarm/coverage-v0", num_envs=3, seed=case["seed"], **config)
    venv.reset()
    scenario, cfg = venv.scenario, venv.cfg
    near, drones, batch = venv._frame.near, scenario.drones, 3
    rng = np.random.default_rng(case["seed"])
    near.dist[...] = rng.uniform(0, 2 * cfg.comms_radius, near.dist.shape).astype(np.float32)
    near.dist[rng.random(near.dist.shape) < 0.2] = np.float32(cfg.comms_radius)  # the edge
    obs = scenario.layout.buffer(batch, cfg.n_agents)
    obs.array[...] = rng.random(obs.array.shape)
    expected = obs.array.copy()
    expected[..., : scenario.layout.start("own") + 4][..., -4:] = drones.kinematics
    k = scenario.k_found
    if k:
        in_range = near.dist[..., :k] <= np.float32(cfg.comms_radius)
        block = expected[..., scenario.layout.slice("neighbours")].reshape(
            batch, -1, cfg.k_neighbours, 4
        )
        block[..., :k, 0:2] = (
            (near.offset[..., :k] * in_range).view(np.float32).reshape(batch, -1, k, 2)
        )
        block[..., :k, 2:4] = (
            (near.velocity[..., :k] * in_range).view(np.float32).reshape(batch, -1, k, 2)
        )
        expected[..., scenario.layout.slice("neighbours")] = block.reshape(batch, cfg.n_agents, -1)
        valid = scenario.layout.valid_slice("neighbours")
        expected[..., valid.start : valid.start + k] = in_range
    if cfg.n_rays:
        lidar = box_lidar(
            drones.x,
            drones.y,
            cfg.n_rays,
            cfg.lidar_range,
            room=(cfg.side / 2,) * 2,
            boxes=scenario.obstacle_boxes,
        )
        expected[..., scenario.layout.slice("lidar")] = lidar
    for _ in range(2):
        coverage_kernels.observe(
            drones.kinematics,
            (near.offset, near.velocity, near.dist),
            np.float32(cfg.comms_radius),
            scenario._lidar,
            scenario._obs_offsets,
            obs.array,
        )
        np.testing.assert_array_equal(obs.array, expected)
    # The scenario's own observe: the patch through the kernel called with the arguments it
    # worked out once, against the numpy reference.
    observed = scenario.observe(venv._frame)["drone"]
    patch = scenario.field.sample_patch_reference(
        drones.position, scenario.patch_steps, scenario.patch_steps
    )
    np.testing.assert_array_equal(
        observed[..., scenario.layout.slice("density")], patch.reshape(batch, cfg.n_agents, -1)
    )


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_agents=st.integers(2, 12),
    scales=st.tuples(*[st.floats(0.0, 50.0, width=32)] * 3),
)
def test_reward_matches_numpy(seed, n_agents, scales):
    # The compiled reward and its terms against Coverage.reward_reference, bit for bit, on
    # random gains, overlap counts and connectivity (ties at zero included), over two calls.
    venv = scenarios.make_vec(
        "swarm/coverage-v0",
        num_envs=4,
        seed=seed,
        n_agents=n_agents,
        coverage_reward=scales[0],
        collision_penalty=scales[1],
        disconnect_penalty=scales[2],
    )
    venv.reset()
    scenario, frame = venv.scenario, venv._frame
    rng = np.random.default_rng(seed)
    for _ in range(2):
        frame.gain[...] = rng.normal(0, 0.1, frame.gain.shape) * (rng.random((4, 1)) < 0.8)
        frame.overlaps[...] = rng.integers(0, 3, frame.overlaps.shape)
        frame.connected[...] = rng.random(4) < 0.5
        got, terms = scenario.reward(frame)
        want, want_terms = scenario.reward_reference(frame)
        assert got["drone"].dtype == want["drone"].dtype == np.float32
        np.testing.assert_array_equal(got["drone"].view(np.int32), want["drone"].view(np.int32))
        assert list(terms) == list(want_terms)
        for name, value in want_terms.items():
            assert terms[name].dtype == value.dtype and terms[name].shape == value.shape, name
            np.testing.assert_array_equal(terms[name], value, err_msg=name)


@settings(max_examples=25, deadline=None)
@given(case=cases)
def test_sense_equals_the_sensors_one_by_one(case):
    """``coverage_kernels.sense`` (one compiled call) measures what the public sensors measure
    called one by one (``nearest_neighbours``, ``range_graph``, ``is_connected``,
    ``GridField.cover_weight`` and the gain), bit for bit, over steps with resets."""
    from scenarios.swarm.common import is_connected
    from worlds.sensors import nearest_neighbours, range_graph

    config = {k: v for k, v in case.items() if k not in ("seed", "patch_size", "patch_spacing")}
    if config["n_obstacles"]:
        config["arena_size"] = 6.0
    venv = scenarios.make_vec("swarm/coverage-v0", num_envs=3, seed=case["seed"], max_steps=7,
                              **config)  # fmt: skip
    venv.reset()
    scenario, cfg, rng = venv.scenario, venv.cfg, np.random.default_rng(case["seed"])
    drones, checked = scenario.drones, 0
    for _ in range(12):
        venv.step({"drone": rng.integers(0, 5, (3, cfg.n_agents))})
        previous = scenario.coverage.copy()
        frame = scenario.sense(venv.world, venv.episode)
        fused = [np.copy(a) for a in (*frame.near.outputs(), frame.adjacent, frame.connected,
                                      frame.coverage, frame.gain, scenario.coverage)]  # fmt: skip
        scenario.coverage[...] = previous
        limit = 2 * cfg.drone_radius + cfg.contact_margin
        near = nearest_neighbours(
            drones.position, drones.velocity, scenario.k_search, count_within=limit
        )
        adjacent = range_graph(drones.position, cfg.comms_radius)
        coverage = scenario.field.cover_weight(drones.position, cfg.sensing_radius)
        gain = np.empty((3, 1), np.float32)
        coverage_kernels.gain(coverage, venv.episode.steps, scenario.coverage, gain)
        one_by_one = (*near.outputs(), adjacent, is_connected(adjacent), coverage, gain,
                      scenario.coverage)  # fmt: skip
        for ours, theirs in zip(fused, one_by_one, strict=True):
            np.testing.assert_array_equal(ours, theirs)
        checked += int(near.mask.any()) + int(adjacent.any())
    assert checked > 0 or cfg.n_agents == 2, "no neighbour was ever found: nothing compared"
