"""Grid field kernels against their numpy references on random worlds: the same covered cells
and sampled values (exactly), the covered weight within float32 rounding (and the weight
alone, ``cover_weight``, bit for bit as ``covered_weight`` sums it), the same bits on a
second call, and a world's result independent of the worlds around it."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from worlds.coverage import GridField

fields = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**31 - 1),
        "batch": st.integers(1, 5),
        "n": st.integers(1, 12),
        "grid": st.sampled_from([4, 7, 8, 16, 24, 32, 33, 40, 62, 63, 64]),
        "side": st.floats(0.5, 20.0),
    }
)


def make_field(rng, spec, border=1):
    field = GridField(spec["batch"], spec["grid"], spec["side"], border=border)
    field.values[:] = rng.random(field.values.shape).astype(np.float32)
    field.patch_scale = 3.0
    field.refresh()
    return field


def subset(field, keep):
    """A field of the worlds ``keep`` of ``field`` only."""
    part = GridField(int(keep.sum()), field.grid_size, field.side, border=field.border)
    part.values[:] = field.values[keep]
    part.patch_scale = field.patch_scale
    part.refresh()
    return part


def random_points(rng, spec, margin=1.2):
    reach = margin * spec["side"] / 2
    shape = (spec["batch"], spec["n"])
    points = rng.uniform(-reach, reach, shape) + 1j * rng.uniform(-reach, reach, shape)
    return points.astype(np.complex64)


@settings(max_examples=80, deadline=None)
@given(spec=fields, radius_cells=st.floats(0.1, 6.0), masked=st.booleans())
def test_disc_cover_matches_reference(spec, radius_cells, masked):
    rng = np.random.default_rng(spec["seed"])
    field = make_field(rng, spec)
    points = random_points(rng, spec)
    radius = radius_cells * field.cell
    mask = rng.random(points.shape) < 0.7 if masked else None
    weight, covered = field.covered_weight(points, radius, mask)
    ref_weight, ref_covered = field.covered_weight_reference(points, radius, mask)
    np.testing.assert_array_equal(covered, ref_covered)
    np.testing.assert_array_equal(field.disc_cover(points, radius, mask), ref_covered)
    assert weight.dtype == np.float32
    np.testing.assert_allclose(weight, ref_weight, rtol=2e-6, atol=1e-6)
    again, _ = field.covered_weight(points, radius, mask)
    np.testing.assert_array_equal(again, weight)
    keep = rng.random(spec["batch"]) < 0.5
    keep[rng.integers(spec["batch"])] = True
    part_mask = None if mask is None else mask[keep]
    part, part_covered = subset(field, keep).covered_weight(points[keep], radius, part_mask)
    np.testing.assert_array_equal(part, weight[keep])
    np.testing.assert_array_equal(part_covered, covered[keep])


@settings(max_examples=80, deadline=None)
@given(spec=fields, radius_cells=st.floats(0.1, 6.0), masked=st.booleans(), extra=st.integers(0, 9))
def test_cover_weight_is_covered_weights_sum_bit_for_bit(spec, radius_cells, masked, extra):
    # Batches of up to 14 worlds, grids with and without a word per row.
    rng = np.random.default_rng(spec["seed"])
    spec = {**spec, "batch": spec["batch"] + extra}
    field = make_field(rng, spec)
    points = random_points(rng, spec)
    radius = radius_cells * field.cell
    mask = rng.random(points.shape) < 0.7 if masked else None
    weight, _ = field.covered_weight(points, radius, mask)
    out = np.full(spec["batch"], np.nan, np.float32)
    assert field.cover_weight(points, radius, mask, out=out) is out
    np.testing.assert_array_equal(out, weight)
    keep = rng.random(spec["batch"]) < 0.5
    keep[rng.integers(spec["batch"])] = True
    part_mask = None if mask is None else mask[keep]
    part = subset(field, keep).cover_weight(points[keep], radius, part_mask)
    np.testing.assert_array_equal(part, weight[keep])


@settings(max_examples=80, deadline=None)
@given(spec=fields, size=st.integers(1, 7), spacing=st.floats(0.01, 2.0), far=st.booleans())
def test_sample_patch_matches_reference(spec, size, spacing, far):
    rng = np.random.default_rng(spec["seed"])
    steps = ((np.arange(size) - (size - 1) / 2) * spacing).astype(np.float32)
    reach = int(np.ceil(np.abs(steps).max() * spec["grid"] / spec["side"])) + 2
    field = make_field(rng, spec, border=reach)
    points = random_points(rng, spec, margin=4.0 if far else 1.1)  # far: clamped indices
    fast = field.sample_patch(points, steps, steps[::-1].copy())
    slow = field.sample_patch_reference(points, steps, steps[::-1].copy())
    np.testing.assert_array_equal(fast, slow)
    out = np.full_like(fast, np.nan)
    field.sample_patch(points, steps, steps[::-1].copy(), out)
    np.testing.assert_array_equal(out, fast)
    keep = rng.random(spec["batch"]) < 0.5
    keep[rng.integers(spec["batch"])] = True
    part = subset(field, keep).sample_patch(points[keep], steps, steps[::-1].copy())
    np.testing.assert_array_equal(part, fast[keep])
