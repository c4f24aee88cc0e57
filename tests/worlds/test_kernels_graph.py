"""The connectivity kernel against its numpy reference on random graphs: the same answers
(discrete: exactly), again on a second call, and a world's answer independent of the worlds
around it."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios.swarm.common import is_connected, is_connected_reference

graphs = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**31 - 1),
        "batch": st.integers(1, 6),
        "n": st.integers(1, 80),  # above 64: the depth-first walk
        "density": st.floats(0.0, 0.4),
        "with_alive": st.booleans(),
    }
)


def random_graphs(rng, batch, n, density):
    """Symmetric bool tables ``(B, N, N)`` with a false diagonal; some worlds a random
    geometric graph (clusters, near the connectivity threshold), some random edges."""
    points = rng.uniform(0, 1, (batch, n, 2))
    dist = np.linalg.norm(points[:, :, None] - points[:, None, :], axis=-1)
    geometric = dist < density * 1.5
    edges = rng.random((batch, n, n)) < density * density
    table = np.where(rng.random((batch, 1, 1)) < 0.5, geometric, edges)
    table = table | table.transpose(0, 2, 1)
    table[:, np.arange(n), np.arange(n)] = False
    return table


@settings(max_examples=120, deadline=None)
@given(case=graphs)
@pytest.mark.filterwarnings("error::RuntimeWarning")  # an overflow to inf can read as NaN
def test_is_connected_matches_reference(case):
    rng = np.random.default_rng(case["seed"])
    batch, n = case["batch"], case["n"]
    adjacent = random_graphs(rng, batch, n, case["density"])
    alive = rng.random((batch, n)) < 0.7 if case["with_alive"] else None
    fast = is_connected(adjacent, alive)
    assert fast.dtype == bool and fast.shape == (batch,)
    np.testing.assert_array_equal(fast, is_connected_reference(adjacent, alive))
    np.testing.assert_array_equal(is_connected(adjacent, alive), fast)
    for b in range(batch):  # a world alone gives the same answer
        one = is_connected(adjacent[b : b + 1], None if alive is None else alive[b : b + 1])
        assert one[0] == fast[b]
