"""A batch split over several pymunk spaces (``worlds_per_space``) behaves as one space does."""

from __future__ import annotations

import numpy as np

from worlds import HolonomicPointMass, WorldBatch


def make(num_worlds: int, worlds_per_space: int) -> WorldBatch:
    world = WorldBatch(
        num_worlds, 3.0, 3.0, dt=0.1, substeps=2, damping=0.5, worlds_per_space=worlds_per_space
    )
    world.geometry.add_walls(3.0, 3.0, thickness=0.2)
    world.add_group("a", 4, radius=0.2, dynamics=HolonomicPointMass(3.0, 2.0))
    world.add_group("b", 2, radius=0.15, dynamics=HolonomicPointMass(3.0, 2.0))
    return world


def run(world: WorldBatch, steps: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    b = world.num_worlds
    world.reset_bodies("a", np.arange(b), *rng.uniform(-1.2, 1.2, (2, b, 4)))
    world.reset_bodies("b", np.arange(b), *rng.uniform(-1.2, 1.2, (2, b, 2)))
    states = []
    for step in range(steps):
        for group in world.groups.values():
            group.command[...] = rng.uniform(-3, 3, group.command.shape)
        world.step()
        if step == steps // 2:  # one world restarts mid-run, another loses a body
            world.reset_bodies("a", np.array([3]), *rng.uniform(-1.2, 1.2, (2, 1, 4)))
            world.park_bodies("b", np.array([4]), np.array([1]))
        states.append(world._state.copy())
    return states


def test_shards_split_the_batch_into_spaces():
    world = make(7, 3)
    world.reset_bodies(
        "a", np.arange(7), np.zeros((7, 4)), np.linspace(-1, 1, 4)[None].repeat(7, 0)
    )
    assert [(s.first, s.last) for s in world.shards] == [(0, 3), (3, 6), (6, 7)]
    assert [len(s.space.bodies) for s in world.shards] == [18, 18, 6]
    assert len({id(s.space) for s in world.shards}) == 3
    # Every body row is in exactly one shard.
    rows = np.sort(np.concatenate([s.rows for s in world.shards]))
    np.testing.assert_array_equal(rows, np.arange(world.num_bodies))


def test_sharded_batch_follows_the_single_space_batch():
    """Same starts and forces: the same motion, contacts, restarts and parking (to float64
    rounding: a world's place in its space differs, so its coordinates round differently)."""
    one, split = make(7, 64), make(7, 3)
    assert len(one.shards) == 1 and len(split.shards) == 3
    parked_row = 7 * 4 + 4 * 2 + 1  # group b starts after a's 7 x 4 rows; world 4, body 1
    for a, b in zip(run(one, 30), run(split, 30), strict=True):
        # A parked body waits at a spot outside the worlds, which depends on the layout.
        a[parked_row], b[parked_row] = 0, 0
        np.testing.assert_allclose(a, b, atol=1e-4)
    assert split.groups["b"].parked[4, 1] and not split.groups["b"].parked[3].any()
    assert split.groups["b"].y[4, 1] <= -3 * 3.0  # below every world


def test_sharded_batch_is_deterministic_and_counts_contacts():
    first, second = make(5, 2), make(5, 2)
    first.track_contacts = second.track_contacts = True
    for a, b in zip(run(first, 25, seed=4), run(second, 25, seed=4), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first.groups["a"].contacts, second.groups["a"].contacts)
    # Pack the worlds of the last shard tight: its bodies must touch (contacts come per space).
    x = np.array([[-0.3, -0.1, 0.1, 0.3]] * 5)
    first.reset_bodies("a", np.arange(5), x, np.zeros((5, 4)))
    for group in first.groups.values():
        group.command[...] = 0.0
    first.step()
    assert first.groups["a"].contacts[4].sum() > 0


def test_placing_bodies_refuses_ids_out_of_range_and_wrong_shapes():
    """The compiled writes behind resets and teleports do not check bounds: ids and shapes
    are refused first, with the argument named, and nothing is written."""
    import pytest

    world = make(5, 2)
    world.reset_bodies("a", np.arange(5), np.zeros((5, 4)), np.zeros((5, 4)))
    before = world._state.copy()
    with pytest.raises(ValueError, match=r"env_ids must be in \[0, 5\)"):
        world.reset_bodies("a", np.array([5]), np.zeros((1, 4)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"env_ids must be in \[0, 5\)"):
        world.reset_bodies("b", np.array([-1]), np.zeros((1, 2)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"body_ids must be in \[0, 2\)"):
        world.place_bodies("b", np.array([0]), np.array([2]), np.zeros(1), np.zeros(1))
    with pytest.raises(ValueError, match="same length"):
        world.place_bodies("b", np.array([0, 1]), np.array([0]), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match=r"x must broadcast to \(2, 4\), got \(3,\)"):
        world.reset_bodies("a", np.array([0, 1]), np.zeros(3), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="non-finite"):
        world.reset_bodies("a", np.array([0]), np.full((1, 4), np.nan), np.zeros((1, 4)))
    np.testing.assert_array_equal(world._state, before)
