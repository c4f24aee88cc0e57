"""The neighbour kernels and the world-step kernels against their numpy references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worlds import HolonomicPointMass, WorldBatch
from worlds.sensors import (
    Neighbours,
    as_complex,
    nearest_neighbours,
    nearest_neighbours_reference,
    pairwise,
    pairwise_reference,
    point_offsets,
    range_graph,
    within_range,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def bodies(draw, max_worlds=5, max_n=24):
    """Random worlds: positions on a coarse grid now and then (exact ties of distances)."""
    worlds = draw(st.integers(1, max_worlds))
    n = draw(st.integers(1, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):
        x, y = rng.integers(-3, 4, (2, worlds, n)) * 0.25  # many equal distances
    else:
        x, y = rng.uniform(-2, 2, (2, worlds, n))
    pos = as_complex(x, y)
    vel = as_complex(*rng.uniform(-1, 1, (2, worlds, n)))
    alive = rng.random((worlds, n)) > draw(st.sampled_from([0.0, 0.3, 0.8]))
    return pos, vel, alive


def assert_same(a: Neighbours, b: Neighbours) -> None:
    np.testing.assert_array_equal(a.index, b.index)
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.offset, b.offset)
    np.testing.assert_array_equal(a.velocity, b.velocity)
    np.testing.assert_array_equal(a.dist, b.dist)
    if b.count is not None:
        np.testing.assert_array_equal(a.count, b.count)


@SETTINGS
@given(
    bodies(),
    st.integers(0, 23),
    st.sampled_from([None, 0.7, 1.5]),
    st.booleans(),
    st.sampled_from([None, 0.3, 1.0]),
)
def test_nearest_neighbours_equal_the_numpy_reference(data, k, radius, use_alive, count_within):
    pos, vel, alive = data
    n = pos.shape[1]
    k = min(k, n - 1)  # up to n - 1: both the network (k <= 8) and the sorted path
    alive = alive if use_alive else None
    kwargs = {"radius": radius, "alive": alive, "count_within": count_within}
    got = nearest_neighbours(pos, vel, k, **kwargs)
    assert_same(got, nearest_neighbours_reference(pos, vel, k, **kwargs))
    # Same input, same bits; and each world alone gives what it gave in the batch.
    assert_same(nearest_neighbours(pos, vel, k, **kwargs), got)
    world = pos.shape[0] - 1
    alone = nearest_neighbours(
        pos[world:],
        vel[world:],
        k,
        radius=radius,
        alive=None if alive is None else alive[world:],
        count_within=count_within,
    )
    np.testing.assert_array_equal(alone.index, got.index[world:])
    np.testing.assert_array_equal(alone.offset, got.offset[world:])


def test_nearest_neighbours_hand_checked():
    # Four bodies on a line at x = 0, 1, 3, 3.5 (one world).
    pos = as_complex(np.array([[0.0, 1.0, 3.0, 3.5]]), np.zeros((1, 4)))
    vel = as_complex(np.array([[0.0, 1.0, 0.0, 0.0]]), np.zeros((1, 4)))
    near = nearest_neighbours(pos, vel, 2, count_within=1.01)
    np.testing.assert_array_equal(near.index[0], [[1, 2], [0, 2], [3, 1], [2, 1]])
    np.testing.assert_allclose(near.dist[0], [[1, 3], [1, 2], [0.5, 2], [0.5, 2.5]])
    np.testing.assert_allclose(near.offset[0, 1].real, [-1, 2])
    np.testing.assert_allclose(near.velocity[0, 0].real, [1, 0])  # body 1 moves at +1
    np.testing.assert_array_equal(near.count[0], [1, 1, 1, 1])
    ranged = nearest_neighbours(pos, vel, 2, radius=1.5)
    np.testing.assert_array_equal(ranged.mask[0], [[1, 0], [1, 0], [1, 0], [1, 0]])
    np.testing.assert_array_equal(ranged.index[0, :, 1], [0, 1, 2, 3])  # missing: itself
    dead = nearest_neighbours(pos, vel, 1, alive=np.array([[True, False, True, True]]))
    np.testing.assert_array_equal(dead.index[0, :, 0], [2, 0, 3, 2])


def test_nearest_neighbours_writes_into_strided_views():
    rng = np.random.default_rng(3)
    pos = as_complex(*rng.uniform(-1, 1, (2, 4, 9)))
    vel = as_complex(*rng.uniform(-1, 1, (2, 4, 9)))
    block = np.zeros((4, 9, 3, 5), np.float32)  # as an observation block: dx dy dvx dvy valid
    pairs = block[..., :4].copy().view(np.complex64)
    out = Neighbours.empty(
        4, 9, 3, count=True, offset=pairs[..., 0], velocity=pairs[..., 1], mask=block[..., 4]
    )
    nearest_neighbours(pos, vel, 3, count_within=0.5, out=out)
    want = nearest_neighbours_reference(pos, vel, 3, count_within=0.5)
    np.testing.assert_array_equal(pairs[..., 0], want.offset)
    np.testing.assert_array_equal(pairs[..., 1], want.velocity)
    np.testing.assert_array_equal(block[..., 4], want.mask.astype(np.float32))
    with pytest.raises(ValueError, match="count"):
        nearest_neighbours(pos, vel, 3, count_within=0.5, out=Neighbours.empty(4, 9, 3))
    with pytest.raises(ValueError, match="k must be"):
        nearest_neighbours(pos, vel, 9)


@SETTINGS
@given(bodies(), st.sampled_from([0.0, 0.5, 2.0]), st.booleans())
def test_range_graph_pairwise_and_point_offsets_equal_numpy(data, radius, use_alive):
    pos, vel, alive = data
    alive = alive if use_alive else None
    reference = pairwise_reference(pos)
    got = pairwise(pos)
    np.testing.assert_array_equal(got.offset, reference.offset)
    np.testing.assert_array_equal(got.dist2, reference.dist2)
    np.testing.assert_array_equal(
        range_graph(pos, radius, alive), within_range(reference, radius, alive)
    )
    points = vel * 2  # any complex (B, L)
    offset, nearest = point_offsets(pos, points)
    np.testing.assert_array_equal(offset, (points[:, None, :] - pos[:, :, None]))
    np.testing.assert_allclose(nearest, np.abs(offset).min(axis=1), rtol=1e-6)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.booleans(), st.integers(1, 4))
def test_point_mass_control_equals_numpy(seed, limit_force, substeps):
    """The compiled controller writes the forces its numpy reference writes (to rounding)."""
    rng = np.random.default_rng(seed)
    world = WorldBatch(3, 4.0, 4.0, dt=0.1, substeps=substeps, damping=0.3)
    dynamics = HolonomicPointMass(2.0, 0.8, limit_force=limit_force)
    group = world.add_group("a", 5, radius=0.1, dynamics=dynamics)
    world.reset_bodies("a", np.arange(3), *rng.uniform(-1.5, 1.5, (2, 3, 5)))
    for _ in range(3):
        group.command[...] = rng.uniform(-4, 4, group.command.shape)
        world.step()
        sub_dt = world.dt / world.substeps
        dynamics.control(sub_dt)
        got = dynamics.force.copy()
        dynamics.control_reference(sub_dt)
        np.testing.assert_allclose(got, dynamics.force, rtol=1e-5, atol=1e-6)
        speed = np.abs(dynamics.velocity * world.space.damping**sub_dt + got * sub_dt)
        assert (speed <= 0.8 * (1 + 1e-6)).all()  # the cap holds


def test_wrong_shapes_are_refused_before_any_kernel_runs():
    """Kernels read and write without bounds checks: the sensors check every shape first."""
    pos = as_complex(np.zeros((2, 5)), np.zeros((2, 5)))
    with pytest.raises(ValueError, match="vel must have shape"):
        nearest_neighbours(pos, pos[:, :4], 2)
    with pytest.raises(ValueError, match="alive must have shape"):
        nearest_neighbours(pos, pos, 2, alive=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="out.index must have shape"):
        nearest_neighbours(pos, pos, 2, out=Neighbours.empty(2, 5, 3))
    with pytest.raises(ValueError, match="points must be"):
        point_offsets(pos, pos[:1])
    with pytest.raises(ValueError, match="out must have shape"):
        point_offsets(pos, pos, out=np.zeros((2, 5, 4), np.complex64))
    with pytest.raises(ValueError, match="out must have shape"):
        range_graph(pos, 1.0, out=np.zeros((2, 5, 4), bool))
