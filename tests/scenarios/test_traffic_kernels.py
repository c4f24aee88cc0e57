"""The traffic family's compiled kernels against plain numpy references on random worlds."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios.traffic.kernels import nearest_vehicles


def nearest_reference(x, y, angle, speed, size, present, n, k):
    worlds, total = x.shape
    rows, valid = np.zeros((worlds, n, k, 8)), np.zeros((worlds, n, k))
    for b in range(worlds):
        for i in range(n):
            d = (x[b] - x[b, i]) ** 2 + (y[b] - y[b, i]) ** 2
            d[~present[b]] = np.inf
            d[i] = np.inf
            order = np.argsort(d, kind="stable")[:k]
            c, s = np.cos(angle[b, i]), np.sin(angle[b, i])
            for slot, j in enumerate(o for o in order if np.isfinite(d[o])):
                dx, dy = x[b, j] - x[b, i], y[b, j] - y[b, i]
                cj, sj = np.cos(angle[b, j]), np.sin(angle[b, j])
                dvx = speed[b, j] * cj - speed[b, i] * c
                dvy = speed[b, j] * sj - speed[b, i] * s
                rows[b, i, slot] = (c * dx + s * dy, -s * dx + c * dy, c * cj + s * sj,
                                    c * sj - s * cj, c * dvx + s * dvy, -s * dvx + c * dvy,
                                    *size[j])  # fmt: skip
                valid[b, i, slot] = 1.0
    return rows, valid


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3), st.integers(2, 12), st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_nearest_vehicles_equals_the_numpy_reference(worlds, total, k, seed):
    rng = np.random.default_rng(seed)
    n = rng.integers(1, total + 1)
    x, y = (rng.integers(-5, 5, (worlds, total)).astype(float) for _ in range(2))  # ties too
    angle, speed = rng.uniform(-3, 3, (worlds, total)), rng.uniform(0, 20, (worlds, total))
    size = rng.uniform(1, 10, (total, 2)).astype(np.float32)
    present = rng.random((worlds, total)) < 0.8
    rows, valid = np.zeros((worlds, n, k, 8)), np.zeros((worlds, n, k))
    nearest_vehicles(x, y, angle, speed, size, present, rows, valid)
    want_rows, want_valid = nearest_reference(x, y, angle, speed, size, present, n, k)
    np.testing.assert_array_equal(valid, want_valid)
    np.testing.assert_allclose(rows, want_rows, atol=1e-9)
