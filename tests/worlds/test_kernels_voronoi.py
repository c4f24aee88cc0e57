"""Voronoi kernels (``worlds.kernels.voronoi``) against their numpy references on random
fields: centroids, masses, Lloyd's points and the locational cost within float32 rounding
(the references' matrix products may sum in another order; where they sum as the kernels
do, as here on most machines, the results are equal), ties to every tied point, the same
bits on a second call, and a world's result independent of the worlds around it."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from worlds.coverage import GridField

fields = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**31 - 1),
        "batch": st.integers(1, 6),
        "n": st.integers(1, 20),
        "grid": st.sampled_from([2, 4, 7, 10, 16, 17, 32]),
        "side": st.floats(0.5, 20.0),
        "sparse": st.booleans(),
    }
)


def make(spec):
    rng = np.random.default_rng(spec["seed"])
    field = GridField(spec["batch"], spec["grid"], spec["side"])
    values = rng.random(field.values.shape).astype(np.float32)
    if spec["sparse"]:  # empty Voronoi cells keep their points
        values *= rng.random(values.shape) < 0.2
    field.values[:] = values
    reach = 0.6 * spec["side"]
    shape = (spec["batch"], spec["n"])
    points = rng.uniform(-reach, reach, shape) + 1j * rng.uniform(-reach, reach, shape)
    return rng, field, points.astype(np.complex64)


def close(actual, expected, side):
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * side)


@settings(max_examples=60, deadline=None)
@given(spec=fields)
def test_centroids_and_cost_match_references(spec):
    rng, field, points = make(spec)
    centroid, mass = field.voronoi_centroids(points)
    ref_centroid, ref_mass = field.voronoi_centroids_reference(points)
    assert centroid.dtype == np.complex64 and mass.dtype == np.float32
    close(centroid, ref_centroid, spec["side"])
    np.testing.assert_allclose(mass, ref_mass, rtol=1e-5, atol=1e-6)
    cost = field.locational_cost(points)
    np.testing.assert_allclose(cost, field.locational_cost_reference(points), rtol=1e-6)
    keep = rng.random(spec["batch"]) < 0.5
    keep[rng.integers(spec["batch"])] = True
    part = GridField(int(keep.sum()), field.grid_size, field.side)
    part.values[:] = field.values[keep]
    part_centroid, part_mass = part.voronoi_centroids(points[keep])
    np.testing.assert_array_equal(part_centroid, centroid[keep])
    np.testing.assert_array_equal(part_mass, mass[keep])
    np.testing.assert_array_equal(part.locational_cost(points[keep]), cost[keep])


@settings(max_examples=40, deadline=None)
@given(spec=fields, iterations=st.integers(0, 6))
def test_lloyd_matches_reference_and_its_own_steps(spec, iterations):
    _, field, points = make(spec)
    weights = field.values.copy()
    moved = field.lloyd(points, iterations, weights)
    close(moved, field.lloyd_reference(points, iterations, weights), spec["side"])
    step = points
    for _ in range(iterations):  # one kernel step at a time: the same bits
        step, _ = field.voronoi_centroids(step, weights)
    np.testing.assert_array_equal(moved, step)
    np.testing.assert_array_equal(field.lloyd(points, iterations, weights), moved)


def test_tied_cells_count_for_every_tied_point():
    field = GridField(1, 4, 4.0)  # cell centres at -1.5, -0.5, 0.5, 1.5
    field.values[:] = 1.0
    # The last two points coincide: each of their cells is tied, and counts for both.
    points = np.array([[-1.0 + 0j, 1.0 + 0j, 1.0 + 0j]], np.complex64)
    centroid, mass = field.voronoi_centroids(points)
    ref_centroid, ref_mass = field.voronoi_centroids_reference(points)
    np.testing.assert_array_equal(mass, ref_mass)
    np.testing.assert_array_equal(centroid, ref_centroid)
    assert mass[0, 1] == mass[0, 2] == 8.0
