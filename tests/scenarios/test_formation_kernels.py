"""Formation's neighbours kernel against the numpy it replaced, on random neighbours and
dropouts: the block bit for bit (zeros and flag 0 for dropped neighbours), the rest of the
observation untouched, the same bits on a second call."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios.swarm import formation_kernels

cases = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**31 - 1),
        "batch": st.integers(1, 4),
        "n": st.integers(2, 12),
        "k": st.integers(1, 8),
        "dropped": st.booleans(),
    }
)


@settings(max_examples=60, deadline=None)
@given(case=cases)
def test_observe_neighbours_matches_numpy(case):
    rng = np.random.default_rng(case["seed"])
    b, n = case["batch"], case["n"]
    k = min(case["k"], n - 1)
    slots_in_block = k + int(rng.integers(0, 3))  # the layout may hold more than are found

    def complex_array(shape):
        return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)

    index = rng.integers(0, n, (b, n, k)).astype(np.int32)
    offset, velocity, slots = (
        complex_array((b, n, k)),
        complex_array((b, n, k)),
        complex_array((b, n)),
    )
    mask = rng.random((b, n, k)) < 0.9
    alive = rng.random((b, n)) < (0.7 if case["dropped"] else 1.0)
    start, size = 3, 3 + 7 * slots_in_block + 2
    flags = start + 6 * slots_in_block
    obs = rng.random((b, n, size)).astype(np.float32)
    expected = obs.copy()
    block = expected[..., start:flags].view(np.complex64).reshape(b, n, slots_in_block, 3)
    base = (np.arange(b) * n).reshape(b, 1, 1)
    slot_offset = slots.ravel().take(index + base) - slots[:, :, None]
    use_alive = not alive.all()
    keep = alive.ravel().take(index + base) if use_alive else None
    if keep is not None:
        offset_, velocity_, slot_offset = offset * keep, velocity * keep, slot_offset * keep
    else:
        offset_, velocity_ = offset, velocity
    block[:, :, :k, 0], block[:, :, :k, 1], block[:, :, :k, 2] = offset_, velocity_, slot_offset
    expected[..., flags : flags + k] = mask if keep is None else keep
    layout = np.array([start, flags, k], np.int64)
    for _ in range(2):
        formation_kernels.observe_neighbours(
            (index, offset, velocity, mask), alive, use_alive, slots, layout, obs
        )
        np.testing.assert_array_equal(obs, expected)
