"""Fixtures that switch on and off per world, and bodies that switch collision modes: a robot
passes under a shelf until it is loaded, a switched-off fixture stops nothing, resets restore
everything (same actions, same trajectory)."""

import numpy as np
import pytest

from worlds.dynamics.diff_drive import DifferentialDrive
from worlds.shapes import Box
from worlds.world import WorldBatch


def make_world(num_worlds=2):
    world = WorldBatch(num_worlds, 10.0, 4.0, dt=0.1, substeps=4)
    world.geometry.add_walls(10.0, 4.0)
    world.add_group("robot", 2, shape=Box(0.8, 0.8), dynamics=DifferentialDrive(2.0, 3.0))
    world.add_fixtures("shelf", [(0.0, 0.0), (0.0, 1.5)], (0.8, 0.8))
    loaded = world.add_mode("robot", "loaded")
    world.set_collision("robot", "shelf", False)
    return world, loaded


def start(world, env_ids=None):
    env_ids = np.arange(world.num_worlds) if env_ids is None else env_ids
    e = len(env_ids)
    world.reset_bodies(
        "robot",
        env_ids,
        np.tile([-3.0, 3.0], (e, 1)),
        np.tile([0.0, 1.5], (e, 1)),
        angle=np.tile([0.0, np.pi], (e, 1)),
    )
    world.set_fixtures("shelf", np.repeat(env_ids, 2), np.tile([0, 1], e), True)


def drive(world, steps=40):
    robots = world.groups["robot"]
    robots.command[..., 0] = 1.5
    robots.command[..., 1] = 0.0
    xs = []
    for _ in range(steps):
        world.step()
        xs.append(robots.x.copy())
    return np.array(xs)


def test_unloaded_robots_pass_under_a_shelf_that_stops_loaded_ones():
    world, loaded = make_world()
    assert loaded == "robot.loaded"
    start(world)
    world.set_mode("robot", [1, 1], [0, 1], "loaded")  # world 1's robots carry shelves
    xs = drive(world)
    # World 0: both robots cross their row's shelf at x=0.
    assert xs[30, 0, 0] > 1.0 and xs[30, 0, 1] < -1.0
    # World 1: each stops at the shelf's face (half a shelf + half a robot from its centre).
    assert xs[-1, 1, 0] == pytest.approx(-0.8, abs=0.03)
    assert xs[-1, 1, 1] == pytest.approx(0.8, abs=0.03)
    np.testing.assert_array_equal(world.mode_of("robot"), [[0, 0], [1, 1]])


def test_a_fixture_switched_off_stops_nothing():
    world, _ = make_world()
    start(world)
    world.set_mode("robot", [0, 1], [0, 0], "loaded")
    world.set_fixtures("shelf", [1], [0], False)
    xs = drive(world, 30)
    assert xs[-1, 0, 0] < -0.7  # stopped by the shelf in world 0
    assert xs[-1, 1, 0] > 1.0  # drove through where the shelf was in world 1
    np.testing.assert_array_equal(world.fixtures["shelf"].on, [[1, 1], [0, 1]])


def test_reset_restores_modes_and_carries_nothing_of_the_past():
    fresh, _ = make_world()
    start(fresh)
    expected = drive(fresh, 30)
    world, _ = make_world()
    start(world)
    world.set_mode("robot", [0, 1], [0, 1], "loaded")
    world.set_fixtures("shelf", [0, 1], [1, 1], False)
    drive(world, 17)
    start(world)  # a new episode in both worlds
    np.testing.assert_array_equal(world.mode_of("robot"), 0)
    np.testing.assert_array_equal(drive(world, 30), expected)


def test_switch_errors_name_the_argument():
    world, _ = make_world()
    with pytest.raises(ValueError, match="add_fixtures\\('robot'\\): the name is taken"):
        world.add_fixtures("robot", [(0, 0)], (1, 1))
    with pytest.raises(ValueError, match="centers must be finite"):
        world.add_fixtures("bins", [(0, np.nan)], (1, 1))
    with pytest.raises(ValueError, match="size must be two finite numbers > 0"):
        world.add_fixtures("bins", [(0, 0)], (1, -1))
    with pytest.raises(ValueError, match="no body group 'pallet'"):
        world.add_mode("pallet", "heavy")
    with pytest.raises(ValueError, match="set_collision: group_a 'crate'"):
        world.set_collision("crate", "robot", False)
    start(world)
    with pytest.raises(ValueError, match="index must be in \\[0, 2\\)"):
        world.set_fixtures("shelf", [0], [2], True)
    with pytest.raises(ValueError, match="env_ids must be in \\[0, 2\\)"):
        world.set_mode("robot", [5], [0], "loaded")
    with pytest.raises(ValueError, match="unknown mode 'heavy'"):
        world.set_mode("robot", [0], [0], "heavy")
    with pytest.raises(RuntimeError, match="after the batch was finalized"):
        world.add_mode("robot", "late")
