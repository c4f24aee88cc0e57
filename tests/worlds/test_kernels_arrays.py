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
