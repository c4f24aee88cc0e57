"""Visibility kernels against their numpy references on random worlds: equal bits (the kernels
do the same float32 arithmetic), the same bits again on a second call, and a world's result
independent of the worlds around it."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from worlds.kernels.visibility import complex_abs
from worlds.visibility import (
    box_lidar,
    box_lidar_reference,
    in_field_of_view,
    in_field_of_view_reference,
    line_of_sight,
    line_of_sight_reference,
)

worlds = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**31 - 1),
        "batch": st.integers(1, 5),
        "n": st.integers(1, 12),
    }
)


def random_points(rng, batch, n, reach=3.0):
    """float32 positions, some of them on box edges and walls exactly (the NaN cases of rays
    along an axis)."""
    x = rng.uniform(-reach, reach, (batch, n)).astype(np.float32)
    y = rng.uniform(-reach, reach, (batch, n)).astype(np.float32)
    edges = np.array([0.6, 1.4, -1.2, -0.8, 2.5, -2.5, 0.0], np.float32)
    on_edge = rng.random((batch, n)) < 0.2
    x[on_edge] = rng.choice(edges, on_edge.sum())
    return x, y


def random_boxes(rng):
    count = int(rng.integers(0, 4))
    centres = rng.uniform(-2, 2, (count, 2))
    halves = rng.uniform(0.05, 0.6, (count, 2))
    boxes = np.concatenate([centres, halves], axis=1).astype(np.float32)
    if count:
        boxes[0] = (1.0, 0.5, 0.4, 0.3)  # edges at x = 0.6 and 1.4
    return boxes


@settings(max_examples=60, deadline=None)
@given(world=worlds, rays=st.integers(1, 24), max_range=st.floats(0.1, 6.0), room=st.booleans())
def test_box_lidar_matches_reference(world, rays, max_range, room):
    rng = np.random.default_rng(world["seed"])
    x, y = random_points(rng, world["batch"], world["n"])
    boxes = random_boxes(rng)
    extent = (2.5, 2.5) if room else None
    fast = box_lidar(x, y, rays, max_range, room=extent, boxes=boxes)
    slow = box_lidar_reference(x, y, rays, max_range, room=extent, boxes=boxes)
    assert fast.dtype == np.float32 and fast.shape == slow.shape
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(box_lidar(x, y, rays, max_range, room=extent, boxes=boxes), fast)
    keep = rng.random(world["batch"]) < 0.5
    part = box_lidar(x[keep], y[keep], rays, max_range, room=extent, boxes=boxes)
    np.testing.assert_array_equal(part, fast[keep])


@settings(max_examples=60, deadline=None)
@given(world=worlds, targets=st.integers(1, 8), segments=st.integers(0, 6))
def test_line_of_sight_matches_reference(world, targets, segments):
    rng = np.random.default_rng(world["seed"])
    ox, oy = random_points(rng, world["batch"], world["n"])
    tx, ty = random_points(rng, world["batch"], targets)
    observer = (ox + 1j * oy).astype(np.complex64)
    target = (tx + 1j * ty).astype(np.complex64)
    target[:, 0] = observer[:, 0]  # a zero-length sight line
    walls = rng.uniform(-3, 3, (segments, 4)).astype(np.float32)
    if segments:
        walls[0] = (0.6, -3.0, 0.6, 3.0)  # through the points placed on x = 0.6
    fast = line_of_sight(observer, target, walls)
    assert fast.dtype == bool
    np.testing.assert_array_equal(fast, line_of_sight_reference(observer, target, walls))
    keep = rng.random(world["batch"]) < 0.5
    np.testing.assert_array_equal(line_of_sight(observer[keep], target[keep], walls), fast[keep])


@settings(max_examples=60, deadline=None)
@given(
    world=worlds,
    targets=st.integers(1, 8),
    half_angle=st.floats(0.01, 3.3),
    view_range=st.floats(0.1, 5.0),
)
def test_field_of_view_matches_reference(world, targets, half_angle, view_range):
    rng = np.random.default_rng(world["seed"])
    shape = (world["batch"], world["n"], targets)
    offset = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64) * 2
    heading = np.exp(1j * rng.uniform(0, 2 * np.pi, shape[:2])).astype(np.complex64)
    offset[..., 0] = 0  # at the observer
    fast = in_field_of_view(offset, heading, half_angle, view_range)
    slow = in_field_of_view_reference(offset, heading, half_angle, view_range)
    np.testing.assert_array_equal(fast, slow)
    keep = rng.random(world["batch"]) < 0.5
    part = in_field_of_view(offset[keep], heading[keep], half_angle, view_range)
    np.testing.assert_array_equal(part, fast[keep])


def test_complex_abs_is_numpys(rng):
    values = (rng.normal(size=5000) + 1j * rng.normal(size=5000)).astype(np.complex64)
    values *= rng.uniform(0, 4, 5000).astype(np.float32)
    values[:3] = (0, 3e-20j, 1e20)
    got = np.array([complex_abs(z.real, z.imag) for z in values], np.float32)
    np.testing.assert_array_equal(got, np.abs(values))


def test_public_functions_refuse_wrong_shapes_before_their_kernels():
    """Kernels read without bounds checks: a mismatched shape is a one-line error first."""
    import pytest

    from worlds.coverage import GridField
    from worlds.visibility import box_lidar, in_field_of_view, line_of_sight

    with pytest.raises(ValueError, match="y must have shape"):
        box_lidar(np.zeros((2, 3)), np.zeros((2, 4)), 8, 1.0, room=(1.0, 1.0))
    with pytest.raises(ValueError, match="out must have shape"):
        box_lidar(np.zeros((2, 3)), np.zeros((2, 3)), 8, 1.0, out=np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="target must have shape"):
        line_of_sight(np.zeros((2, 3), np.complex64), np.zeros((3, 3), np.complex64), None)
    with pytest.raises(ValueError, match="heading must have shape"):
        in_field_of_view(np.zeros((2, 3, 4), np.complex64), np.ones((2, 4)), 1.0, 1.0)
    field = GridField(2, 8, 2.0)
    with pytest.raises(ValueError, match="points must have shape"):
        field.cover_weight(np.zeros((3, 5), np.complex64), 0.2)
    with pytest.raises(ValueError, match="mask must have shape"):
        field.covered_weight(np.zeros((2, 5), np.complex64), 0.2, np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="weights must have shape"):
        field.lloyd(np.zeros((3, 5), np.complex64), 2)
