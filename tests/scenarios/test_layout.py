"""Observation layouts: offsets, views into one buffer, tables, sets; and, for every registered
scenario, the layout is the observation (sizes, validity flags, padding, documentation page)."""

import importlib

import numpy as np
import pytest

import scenarios
from scenarios.layout import ObsLayout, entities, vector
from scenarios.registry import observation_tables


def small_layout() -> ObsLayout:
    return ObsLayout(
        vector("own", ("x", "y", "vx", "vy"), "own state"),
        entities("landmarks", 3, ("dx", "dy"), "landmarks"),
        entities("neighbours", 2, ("dx", "dy", "dvx", "dvy"), "neighbours", valid=True),
        vector("lidar", 5, "ray distances"),
    )


def test_offsets_follow_the_declared_order():
    layout = small_layout()
    assert layout.size == 4 + 6 + (8 + 2) + 5
    assert layout.slice("landmarks") == slice(4, 10)
    assert layout.slice("neighbours") == slice(10, 18)
    assert layout.valid_slice("neighbours") == slice(18, 20)
    assert layout.slice("lidar") == slice(20, 25)
    assert layout["lidar"].columns == tuple(f"lidar_{i}" for i in range(5))
    assert layout.space.shape == (25,)
    (found,) = layout.sets()
    assert (found.name, found.start, found.count, found.features, found.valid_start) == (
        "neighbours",
        10,
        2,
        4,
        18,
    )


def test_an_empty_set_takes_no_room():
    layout = ObsLayout(
        vector("own", 2, "own"),
        entities("landmarks", 0, ("dx", "dy"), "none"),
        entities("neighbours", 0, ("dx", "dy"), "none", valid=True),
        vector("lidar", 3, "rays"),
    )
    assert layout.size == 5 and layout.slice("lidar") == slice(2, 5)
    assert layout.sets() == []  # nothing for an encoder to pool
    obs = layout.buffer(2, 3)
    assert obs["landmarks"].shape == (2, 3, 0, 2) and obs.valid("neighbours").shape == (2, 3, 0)


def test_buffer_views_write_the_one_array():
    layout = small_layout()
    obs = layout.buffer(2, 3)
    obs["own"][1, 2] = [1, 2, 3, 4]
    obs.complex("landmarks")[0, 1, 2, 0] = 5 + 6j
    obs.complex("neighbours")[1, 0, 1] = [7 + 8j, 9 + 10j]
    obs.valid("neighbours")[1, 0] = [0, 1]
    array = obs.array
    assert array[1, 2, 0:4].tolist() == [1, 2, 3, 4]
    assert array[0, 1, 8:10].tolist() == [5, 6]  # third landmark
    assert array[1, 0, 14:18].tolist() == [7, 8, 9, 10]  # second neighbour
    assert array[1, 0, 18:20].tolist() == [0, 1]
    assert np.count_nonzero(array) == 4 + 2 + 4 + 1


def test_bad_layouts_and_names_fail_clearly():
    with pytest.raises(ValueError, match="repeat: own"):
        ObsLayout(vector("own", 2, "a"), vector("own", 3, "b"))
    with pytest.raises(KeyError, match="no block 'lidr'"):
        small_layout().slice("lidr")
    with pytest.raises(KeyError, match="no validity flags"):
        small_layout().valid_slice("landmarks")
    with pytest.raises(ValueError, match="odd number of columns"):
        ObsLayout(vector("three", 3, "c")).buffer(1, 1).complex("three")


def test_table_lists_every_block_with_its_offset():
    lines = small_layout().table().splitlines()
    assert lines[0].split() == ["offset", "size", "block", "content"]
    assert lines[3].split()[:3] == ["10", "10", "neighbours"]
    assert "valid flag" in lines[3]
    assert lines[-1].split() == ["25", "total"]


@pytest.fixture(params=scenarios.registry_ids())
def scenario_id(request):
    return request.param


def test_every_group_declares_its_observation_layout(scenario_id):
    scenario = scenarios.make_scenario(scenario_id)
    for name, spec in scenario.groups().items():
        assert spec.layout is not None, f"{scenario_id}: group {name} declares no layout"
        assert spec.observation_space.shape == (spec.layout.size,)


def test_documentation_page_shows_the_declared_layout(scenario_id):
    cls = scenarios.scenario_class(scenario_id)
    page = importlib.import_module(cls.__module__).__doc__
    table = observation_tables(cls(cls.config_class()))
    assert "{observation}" not in page
    assert "\n".join("    " + line for line in table.splitlines()) in page


def with_sets(scenario_id: str) -> bool:
    groups = scenarios.make_scenario(scenario_id).groups().values()
    return any(spec.layout.sets() for spec in groups)


@pytest.mark.parametrize("scenario_id", [i for i in scenarios.registry_ids() if with_sets(i)])
def test_set_padding_is_zero_and_flags_are_zero_or_one(scenario_id):
    """Over random play, every set slot whose valid flag is 0 holds zeros (for the scenarios
    whose observations hold sets; a raster-only one such as warehouse/shelves-v0 has none)."""
    venv = scenarios.make_vec(scenario_id, num_envs=3, seed=1)
    obs = venv.reset()
    rng = np.random.default_rng(0)
    seen_entity = False
    for _ in range(40):
        for group, spec in venv.groups.items():
            for found in spec.layout.sets():
                flags = obs[group][..., found.valid_start : found.valid_start + found.count]
                assert np.isin(flags, (0.0, 1.0)).all()
                rows = obs[group][..., found.start : found.start + found.count * found.features]
                rows = rows.reshape(*rows.shape[:2], found.count, found.features)
                assert (rows[flags == 0] == 0).all(), (group, found.name)
                seen_entity |= bool((flags == 1).any())
        actions = {
            g: rng.integers(0, s.action_space.n, (3, s.n_agents))
            if hasattr(s.action_space, "n")  # Box actions (a continuous default): uniform
            else rng.uniform(-1, 1, (3, s.n_agents, *s.action_space.shape)).astype(np.float32)
            for g, s in venv.groups.items()
        }
        obs = venv.step(actions)[0]
    assert seen_entity
