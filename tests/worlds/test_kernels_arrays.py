"""The accumulation kernels equal numpy's ufuncs, NaN and mixed types included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from worlds.kernels.arrays import add_into, max_into, min_into


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 5), st.integers(1, 7), st.booleans())
def test_accumulation_kernels_equal_numpy(seed, rows, columns, with_nan):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, columns)).astype(np.float32)
    if with_nan:
        values[rng.random(values.shape) < 0.3] = np.nan
    flags = rng.random((rows, columns)) < 0.5
    for kernel, ufunc, start in (
        (add_into, np.add, 0.0),
        (min_into, np.minimum, np.inf),
        (max_into, np.maximum, -np.inf),
    ):
        for source in (values, flags, values[:, ::-1]):  # float32, bool, strided
            total = np.full((rows, columns), start)
            expected = total.copy()
            for _ in range(3):
                kernel(total, source)
                ufunc(expected, source, out=expected)
            np.testing.assert_array_equal(total, expected)


def test_copy_into_copies_strided_views():
    from worlds.kernels.arrays import copy_into

    source = np.arange(2 * 5 * 8, dtype=np.float32).reshape(2, 5, 8)[..., 1:5]
    target = np.zeros((2, 5, 9), np.float32)[..., 2:6]
    copy_into(target, source)
    np.testing.assert_array_equal(target, source)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.integers(1, 6), st.booleans())
def test_accumulate_in_one_call_equals_the_ufuncs(seed, rows, columns, with_nan):
    """``accumulate`` (a vector env's every accumulator in one call) does what the ufuncs do,
    pair by pair, over mixed types and shapes; an unused kind takes a (0, 0) pair."""
    from worlds.kernels.arrays import accumulate

    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, columns)).astype(np.float32)
    if with_nan:
        values[rng.random(values.shape) < 0.3] = np.nan
    flags = rng.random((rows, 1)) < 0.5
    empty = np.zeros((0, 0))
    sums = [np.zeros((rows, columns)), np.zeros((rows, 1))]
    low = np.full((rows, columns), np.inf, np.float32)
    high = np.full((rows, 1), -np.inf)
    expected = [a.copy() for a in (*sums, low, high)]
    for _ in range(3):
        accumulate(((sums[0], values), (sums[1], flags)), ((low, values),), ((high, flags),))
        np.add(expected[0], values, out=expected[0])
        np.add(expected[1], flags, out=expected[1])
        np.minimum(expected[2], values, out=expected[2])
        np.maximum(expected[3], flags, out=expected[3])
    for got, want in zip((*sums, low, high), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    before = low.copy()
    accumulate(((sums[0], values),), ((empty, empty),), ((empty, empty),))
    np.testing.assert_array_equal(low, before)


@given(st.integers(0, 2**32 - 1), st.sampled_from([np.int8, np.int64, np.uint8, np.uint32]))
@settings(max_examples=25, deadline=None)
def test_largest_equals_numpy_max_on_unsigned_views(seed, dtype):
    from worlds.kernels.arrays import largest

    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    values = rng.integers(info.min, info.max, (3, 5), dtype=dtype, endpoint=True)
    unsigned = values.view(np.dtype(dtype).newbyteorder("=").str.replace("i", "u"))
    assert largest(unsigned) == unsigned.max()
    assert largest(unsigned[:, ::2]) == unsigned[:, ::2].max()
    assert largest(unsigned[:0]) == 0
