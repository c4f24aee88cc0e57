"""Our RWARE presets are RWARE's own warehouses, checked against the rware package: the same
shelf cells, goals and size for tiny, small, medium and large."""

import gymnasium as gym
import numpy as np
import pytest
import rware  # noqa: F401 (registers the rware ids)

from scenarios.warehouse.maps import RWARE_SIZES, WarehouseMap, preset_map


@pytest.mark.parametrize("name", sorted(RWARE_SIZES))
def test_presets_equal_rware_layouts(name):
    env = gym.make(f"rware-{name}-2ag-v2", disable_env_checker=True).unwrapped
    env.reset(seed=0)
    ours = preset_map(name)
    assert ours.shape == tuple(env.grid_size)
    theirs_shelves = sorted((int(s.y), int(s.x)) for s in env.shelfs)
    assert sorted(map(tuple, ours.slots.tolist())) == theirs_shelves
    assert sorted(map(tuple, ours.goals.tolist())) == sorted((y, x) for x, y in env.goals)
    np.testing.assert_array_equal(ours.slot_index < 0, env.highways.astype(bool))


def test_text_maps_refuse_what_they_cannot_read():
    with pytest.raises(ValueError, match="rows of one length"):
        WarehouseMap("x.g\nxx")
    with pytest.raises(ValueError, match="only 'x', 'g', '.', '#'"):
        WarehouseMap("x?g")
    with pytest.raises(ValueError, match="at least one shelf"):
        WarehouseMap("..g")


def test_cells_and_centres_round_trip():
    warehouse = preset_map("small")
    cells = np.argwhere(warehouse.floor)
    x, y = warehouse.centers(cells).T
    rows, cols = warehouse.cells_of(x + 0.3, y - 0.3)
    np.testing.assert_array_equal(np.stack([rows, cols], 1), cells)
