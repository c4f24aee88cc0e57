"""Pursuit's compiled stages against plain numpy on random worlds: the observation blocks (ranked
as a stable argsort ranks, both selection paths), the sensing tables, rewards, terminations and
start headings; the same bits on a second call, and worlds outside ``worlds`` left untouched
while the ones inside match a whole-batch call (a world never depends on the batch)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios.swarm import pursuit_kernels
from scenarios.swarm.pursuit import Pursuit, PursuitConfig
from worlds.kernels.visibility import box_lidar
from worlds.visibility import _inverse_directions, box_rows, room_extent, view_cone

cases = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**31 - 1),
        "batch": st.integers(1, 4),
        "n_pursuers": st.integers(1, 14),
        "n_evaders": st.integers(1, 12),
        "k_teammates": st.integers(0, 12),  # above NETWORK_MAX_K: the insertion path
        "k_opponents": st.integers(0, 12),
        "n_rays": st.sampled_from([0, 1, 8]),
    }
)


def kinematics(rng, batch, n):
    """float32 ``x, y, vx, vy`` on a coarse grid, so that equal distances (ties) are common."""
    return (rng.integers(-6, 7, (batch, n, 4)) * 0.25).astype(np.float32)


def setup(case):
    config = {k: v for k, v in case.items() if k not in ("seed", "batch")}
    scenario = Pursuit(PursuitConfig(**config))
    rng = np.random.default_rng(case["seed"])
    batch, n_p, n_e = case["batch"], case["n_pursuers"], case["n_evaders"]
    bodies = {"pursuer": kinematics(rng, batch, n_p), "evader": kinematics(rng, batch, n_e)}
    angle = rng.uniform(0, 2 * np.pi, (batch, n_p + n_e))
    heading = np.exp(1j * angle).astype(np.complex64)
    headings = {"pursuer": heading[:, :n_p].copy(), "evader": heading[:, n_p:].copy()}
    free = rng.random((batch, n_e)) < 0.7
    sees = {
        "pursuer": rng.random((batch, n_p, n_e)) < 0.5,
        "evader": rng.random((batch, n_e, n_p)) < 0.5,
    }
    offset = (bodies["evader"][:, None, :, 0] - bodies["pursuer"][:, :, None, 0]) + 1j * (
        bodies["evader"][:, None, :, 1] - bodies["pursuer"][:, :, None, 1]
    )
    table = np.abs(offset.astype(np.complex64))
    return scenario, bodies, headings, free, sees, table


def nearest_block(own, others, keys, k, slots):
    """Entity rows ``(N, slots, 5)`` (offsets and flag) of the ``k`` smallest finite ``keys``
    ``(N, M)``, ties by index."""
    block = np.zeros((own.shape[0], slots, 5), np.float32)
    for i in range(own.shape[0]):
        order = [j for j in np.argsort(keys[i], kind="stable") if np.isfinite(keys[i, j])][:k]
        for s, j in enumerate(order):
            block[i, s, :4] = others[j] - own[i]
            block[i, s, 4] = 1.0
    return block


def reference(scenario, team, bodies, headings, free, sees, table):
    """Team ``team``'s observations as numpy computes them."""
    cfg, layout = scenario.cfg, scenario.layout
    other = "evader" if team == "pursuer" else "pursuer"
    own, others = bodies[team], bodies[other]
    batch, n = own.shape[:2]
    obs = np.zeros((batch, n, layout.size), np.float32)
    k_mates = min(cfg.k_teammates, n - 1)
    distance = table if team == "pursuer" else table.transpose(0, 2, 1)
    for b in range(batch):
        obs[b, :, layout.start("own") : layout.start("own") + 4] = own[b]
        obs[b, :, layout.start("own") + 4] = headings[team][b].real
        obs[b, :, layout.start("own") + 5] = headings[team][b].imag
        delta = own[b, None, :, :2] - own[b, :, None, :2]
        dist2 = (delta[..., 0] * delta[..., 0] + delta[..., 1] * delta[..., 1]).astype(np.float32)
        if team == "pursuer":  # nobody leaves: the lowest bits give way to the index
            bits = scenario._index_bits["pursuer"]
            mates = (dist2.view(np.int32) >> bits).astype(np.float64)
        else:
            mates = np.where(free[b][None, :], dist2, np.inf).astype(np.float64)
        np.fill_diagonal(mates, np.inf)
        seen = np.where(sees[team][b], distance[b] * distance[b], np.inf)
        for name, rows, keys, k, slots in (
            ("teammates", own[b], mates, k_mates, cfg.k_teammates),
            ("opponents", others[b], seen, cfg.k_opponents, cfg.k_opponents),
        ):
            block = nearest_block(own[b], rows, keys, k, slots)
            start, valid = layout.start(name), layout.valid_slice(name).start
            obs[b, :, start : start + 4 * slots] = block[..., :4].reshape(n, -1)
            obs[b, :, valid : valid + slots] = block[..., 4]
    if cfg.n_rays:
        inv_x, inv_y, room, boxes, max_range = scenario._test_lidar
        rays = np.zeros((batch, n, cfg.n_rays), np.float32)
        x, y = np.ascontiguousarray(own[..., 0]), np.ascontiguousarray(own[..., 1])
        box_lidar(x, y, inv_x, inv_y, room, boxes, max_range, rays)
        obs[..., layout.start("lidar") : layout.start("lidar") + cfg.n_rays] = rays
    return obs


def observe(scenario, team, bodies, headings, free, sees, table, worlds, out):
    other = "evader" if team == "pursuer" else "pursuer"
    alive = np.ones(bodies["pursuer"].shape[:2], bool) if team == "pursuer" else free
    pursuit_kernels.observe_team(
        np.asarray(worlds, np.int64),
        bodies[team],
        headings[team],
        alive,
        scenario._index_bits[team],
        bodies[other],
        sees[team],
        (table, team == "evader"),
        scenario._test_lidar,
        scenario._offsets[team],
        out,
    )
    return out


def prepare(scenario):
    """The kernel arguments ``make_world`` would set, without building a world."""
    cfg = scenario.cfg
    bits = max(1, (cfg.n_pursuers - 1).bit_length())
    scenario._index_bits = {"pursuer": bits if bits <= 10 else 0, "evader": 0}
    scenario._offsets = {team: scenario._layout_offsets(team) for team in ("pursuer", "evader")}
    boxes = np.array([(ox, oy, h, h) for ox, oy, h in cfg.obstacles], np.float32).reshape(-1, 4)
    scenario._test_lidar = (
        *_inverse_directions(cfg.n_rays),
        room_extent((cfg.side / 2, cfg.side / 2)),
        box_rows(boxes),
        np.float32(cfg.lidar_range),
    )


@settings(max_examples=80, deadline=None)
@given(case=cases)
def test_observe_team_matches_numpy_and_leaves_other_worlds(case):
    scenario, bodies, headings, free, sees, table = setup(case)
    prepare(scenario)
    batch = case["batch"]
    for team in ("pursuer", "evader"):
        n = bodies[team].shape[1]
        expected = reference(scenario, team, bodies, headings, free, sees, table)
        whole = np.full((batch, n, scenario.layout.size), np.nan, np.float32)
        observe(scenario, team, bodies, headings, free, sees, table, range(batch), whole)
        np.testing.assert_array_equal(whole, expected)
        again = observe(scenario, team, bodies, headings, free, sees, table, range(batch), whole)
        np.testing.assert_array_equal(again, expected)
        subset = np.flatnonzero(np.random.default_rng(case["seed"]).random(batch) < 0.5)
        part = np.full_like(whole, 7.0)
        observe(scenario, team, bodies, headings, free, sees, table, subset, part)
        np.testing.assert_array_equal(part[subset], expected[subset])
        rest = np.setdiff1d(np.arange(batch), subset)
        assert (part[rest] == 7.0).all()


@settings(max_examples=60, deadline=None)
@given(case=cases, fov=st.sampled_from([90.0, 120.0, 250.0, 360.0]))
def test_sense_tables_and_world_subsets(case, fov):
    scenario, bodies, headings, free, _, table = setup(case)
    batch, n_p, n_e = case["batch"], case["n_pursuers"], case["n_evaders"]
    segments = box_rows(np.array([(-0.3, -1.0, -0.3, 1.0), (0.5, 0.2, 1.5, 0.2)]))
    cones = tuple(view_cone(np.radians(f) / 2, 2.0)[:2] for f in (fov, 360.0))
    range2 = view_cone(np.pi, 2.0)[2]

    def sense(worlds, out, heads):
        pursuit_kernels.sense(
            np.asarray(worlds, np.int64),
            bodies["pursuer"],
            bodies["evader"],
            heads,
            free,
            segments,
            cones,
            range2,
            np.float32(0.5),
            out,
        )
        return out

    def empty(fill):
        return (
            np.full((batch, n_p, n_e), fill, bool),
            np.full((batch, n_e, n_p), fill, bool),
            np.full((batch, n_e), fill, bool),
            np.full(batch, fill, bool),
            np.full((batch, n_p, n_e), -1.0 if fill else np.nan, np.float32),
        )

    heads = (headings["pursuer"].copy(), headings["evader"].copy())
    whole = sense(range(batch), empty(False), heads)
    np.testing.assert_array_equal(whole[4], table)
    np.testing.assert_array_equal(whole[2], free & (table.min(axis=1) <= np.float32(0.5)))
    assert not (whole[0] & ~free[:, None, :]).any() and not (whole[1] & ~free[..., None]).any()
    np.testing.assert_array_equal(whole[3], whole[0].any(axis=(1, 2)))
    subset = np.flatnonzero(np.random.default_rng(case["seed"]).random(batch) < 0.5)
    rest = np.setdiff1d(np.arange(batch), subset)
    fresh = (headings["pursuer"].copy(), headings["evader"].copy())
    part = sense(subset, empty(True), fresh)
    for got, want, heading, before, full in zip(
        part[:2], whole[:2], fresh, headings.values(), heads, strict=True
    ):
        np.testing.assert_array_equal(got[subset], want[subset])
        assert got[rest].all()
        np.testing.assert_array_equal(heading[subset], full[subset])
        np.testing.assert_array_equal(heading[rest], before[rest])
    for got, want in zip(part[2:], whole[2:], strict=True):
        np.testing.assert_array_equal(got[subset], want[subset])
        assert (got[rest] == (-1.0 if got.dtype == np.float32 else True)).all()


@settings(max_examples=60, deadline=None)
@given(case=cases, capture_reward=st.floats(0, 10), time_penalty=st.floats(0, 1))
def test_rewards_and_terminations_match_numpy(case, capture_reward, time_penalty):
    rng = np.random.default_rng(case["seed"])
    batch, n_p, n_e = case["batch"], case["n_pursuers"], case["n_evaders"]
    free = rng.random((batch, n_e)) < 0.6
    captured = free & (rng.random((batch, n_e)) < 0.3)
    team = (np.zeros((batch, n_p), np.float32), np.zeros((batch, n_e), np.float32))
    capture, time = np.zeros((2, batch, 1), np.float32)
    pursuit_kernels.rewards(
        captured, free, np.float32(capture_reward), np.float32(-time_penalty), team, capture, time
    )
    counts = captured.sum(axis=1, keepdims=True).astype(np.float32)
    want_capture = counts * np.float32(capture_reward)
    fraction = free.mean(axis=1, keepdims=True).astype(np.float32)
    want_time = fraction * np.float32(-time_penalty)
    np.testing.assert_array_equal(capture, want_capture)
    np.testing.assert_array_equal(time, want_time)
    np.testing.assert_array_equal(team[0], np.broadcast_to(want_capture + want_time, (batch, n_p)))
    np.testing.assert_array_equal(
        team[1], np.broadcast_to(-(want_capture + want_time), (batch, n_e))
    )
    done_p, done_e = np.ones((batch, n_p), bool), np.ones((batch, n_e), bool)
    pursuit_kernels.terminations(free, captured, done_p, done_e)
    np.testing.assert_array_equal(done_e, captured)
    left = (free & ~captured).any(axis=1)
    np.testing.assert_array_equal(done_p, np.broadcast_to(~left[:, None], (batch, n_p)))


@settings(max_examples=60, deadline=None)
@given(case=cases)
def test_face_centre_matches_numpy(case):
    rng = np.random.default_rng(case["seed"])
    batch, n_p, n_e = case["batch"], case["n_pursuers"], case["n_evaders"]
    places = rng.uniform(-3, 3, (batch, n_p + n_e)) + 1j * rng.uniform(-3, 3, (batch, n_p + n_e))
    places[rng.random(places.shape) < 0.1] = 0.0
    env_ids = np.flatnonzero(rng.random(batch + 2) < 0.6)[:batch]
    places = places[: len(env_ids)]
    total = batch + 2
    headings = (np.ones((total, n_p), np.complex64), np.ones((total, n_e), np.complex64))
    pursuit_kernels.face_centre(places, env_ids.astype(np.int64), headings)
    for heading, part in ((headings[0], places[:, :n_p]), (headings[1], places[:, n_p:])):
        toward = -part / np.maximum(np.abs(part), 1e-6)
        expected = np.where(np.abs(part) > 1e-6, toward, 1).astype(np.complex64)
        np.testing.assert_array_equal(heading[env_ids], expected)
        assert (np.delete(heading, env_ids, axis=0) == 1).all()


def episode_end_reference(alive, ended_at, steps, dt, env_ids):
    """The numpy ``Pursuit.episode_end`` that ``episode_figures`` replaced."""
    caught, capture_step = ~alive[env_ids], ended_at[env_ids]
    count = caught.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        time_to_capture = np.where(
            count > 0, (capture_step * caught).sum(axis=1) * dt / count, np.nan
        )
    survival = np.where(caught, capture_step, steps[env_ids][:, None]) * dt
    return caught.mean(axis=1), time_to_capture, survival.mean(axis=1)


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_evaders=st.one_of(st.integers(1, 40), st.integers(120, 256)),  # every summation path
    dt=st.floats(1e-3, 1.0),
    caught_share=st.floats(0, 1),
)
def test_episode_figures_match_numpy(seed, n_evaders, dt, caught_share):
    rng = np.random.default_rng(seed)
    batch = 5
    steps = rng.integers(1, 1000, batch)
    alive = rng.random((batch, n_evaders)) >= caught_share
    ended_at = np.where(alive, 0, rng.integers(1, 1000, (batch, n_evaders)))
    env_ids = np.flatnonzero(rng.random(batch) < 0.6).astype(np.int64)
    figures = np.empty((3, len(env_ids)))
    pursuit_kernels.episode_figures(alive, ended_at, steps, dt, env_ids, figures)
    want = episode_end_reference(alive, ended_at, steps, dt, env_ids)
    for got, expected in zip(figures, want, strict=True):
        np.testing.assert_array_equal(got, expected)


@settings(max_examples=60, deadline=None)
@given(case=cases, ties=st.booleans())
def test_spawn_matches_numpy(case, ties):
    """The places and headings of the numpy reset ``spawn`` replaced (keys drawn coarse when
    ``ties``: a stable argsort's order)."""
    rng = np.random.default_rng(case["seed"])
    n_p, n_e = case["n_pursuers"], case["n_evaders"]
    total, slots = n_p + n_e, Pursuit(PursuitConfig(n_pursuers=n_p, n_evaders=n_e)).cfg.spawn_slots
    batch = case["batch"] + 2
    env_ids = np.flatnonzero(rng.random(batch) < 0.6).astype(np.int64)
    draws = rng.random((len(env_ids), len(slots) + 2 * total))
    if ties:
        draws[:, : len(slots)] = np.round(draws[:, : len(slots)] * 8) / 8
    headings = (np.ones((batch, n_p), np.complex64), np.ones((batch, n_e), np.complex64))
    x, y = np.empty((2, len(env_ids), total))
    pursuit_kernels.spawn(draws, slots, env_ids, headings, x, y)
    order = np.argsort(draws[:, : len(slots)], axis=1, kind="stable")[:, :total]
    jitter = -1.0 + 2.0 * draws[:, len(slots) :]
    places = slots[order] + 0.1 * (jitter[:, :total] + 1j * jitter[:, total:])
    np.testing.assert_array_equal(x, places.real)
    np.testing.assert_array_equal(y, places.imag)
    expected = (np.ones((batch, n_p), np.complex64), np.ones((batch, n_e), np.complex64))
    pursuit_kernels.face_centre(places, env_ids, expected)
    for got, want in zip(headings, expected, strict=True):
        np.testing.assert_array_equal(got, want)


@settings(max_examples=40, deadline=None)
@given(case=cases)
def test_state_rows_match_numpy(case):
    _, bodies, _, free, _, _ = setup(case)
    n_p, n_e = case["n_pursuers"], case["n_evaders"]
    state = np.full((case["batch"], 4 * n_p + 5 * n_e), np.nan, np.float32)
    pursuit_kernels.state_rows(bodies["pursuer"], bodies["evader"], free, state)
    columns = [bodies[team][..., c] for team in ("pursuer", "evader") for c in range(4)]
    np.testing.assert_array_equal(state, np.concatenate([*columns, free], axis=1))
