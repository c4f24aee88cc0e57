"""The compiled reset (``worlds.kernels.resets``, ``placement.reset_groups``' fast path) leaves
every body, buffer and flag exactly as the general path does: batches driven alike step to the
same bytes, with resets while bodies touch, several worlds at once, group by group within one
step, parked bodies, and several spaces; bad input is refused with nothing written."""

import numpy as np
import pytest

from worlds import HolonomicPointMass, WorldBatch, placement
from worlds import world as world_module
from worlds.shapes import Box

SIDE = 2.0


def crowded_world(num_worlds=5, worlds_per_space=2, boxes=False):
    """Two groups of drones packed into small arenas: they touch each other and the walls."""
    world = WorldBatch(num_worlds, SIDE, SIDE, dt=0.1, worlds_per_space=worlds_per_space)
    world.geometry.add_walls(SIDE, SIDE)
    shape = {"shape": Box(0.3, 0.2)} if boxes else {"radius": 0.15}
    world.add_group("a", 5, dynamics=HolonomicPointMass(6.0, 2.0), **shape)
    world.add_group("b", 3, dynamics=HolonomicPointMass(6.0, 2.0), radius=0.2)
    return world


def spots(rng, worlds, n):
    return rng.uniform(-0.8, 0.8, (worlds, n)), rng.uniform(-0.8, 0.8, (worlds, n))


def drive(world, fast, steps=120):
    """Random thrust, with resets of every kind along the way; the bytes of each step, how
    many compiled resets ran, and how many reset bodies were touching something."""
    rng, states, touched = np.random.default_rng(11), [], 0
    calls = {"reset_rows": 0, "park_rows": 0}

    def counted(name):
        real = getattr(placement, name)

        def call(*arguments):
            calls[name] += 1
            return real(*arguments)

        return call

    with pytest.MonkeyPatch.context() as patch:
        if fast:
            for name in calls:
                patch.setattr(placement, name, counted(name))
        else:
            patch.setattr(placement, "_reset_compiled", lambda *arguments: False)
            patch.setattr(world_module, "park_compiled", lambda *arguments: False)
        x, y = spots(rng, world.num_worlds, 8)
        world.reset_bodies(("a", "b"), np.arange(world.num_worlds), x, y)
        a, b = world.groups["a"], world.groups["b"]
        for step in range(steps):
            a.command[...] = rng.uniform(-6, 6, a.command.shape)
            b.command[...] = rng.uniform(-6, 6, b.command.shape)
            world.step()
            kind = step % 6
            worlds = np.sort(
                rng.choice(world.num_worlds, min(1 + step % 3, world.num_worlds), replace=False)
            )
            if kind == 0:  # both groups of a few worlds in one call
                x, y = spots(rng, len(worlds), 8)
                world.reset_bodies(("b", "a"), worlds, x[:, [5, 6, 7, 0, 1, 2, 3, 4]], y,
                                   vx=0.5, vy=-0.25)  # fmt: skip
            elif kind == 2:  # group by group in one step: the second sees the first's forgets
                x, y = spots(rng, len(worlds), 8)
                world.reset_bodies("a", worlds, x[:, :5], y[:, :5], angle=0.3)
                world.reset_bodies("b", worlds, x[:, 5:], y[:, 5:])
            elif kind == 3:  # park some, reset them later (kind 0 or 2)
                world.park_bodies("a", worlds, np.zeros(len(worlds), int))
            elif kind == 4:  # a single placement that revives, then a reset in the same step
                one = np.ones(1)
                world.place_bodies("b", worlds[:1], [1], one * 0.1, one * 0.2, revive=True)
                x, y = spots(rng, 1, 5)
                world.reset_bodies("a", worlds[:1], x, y)
            # Which rows touched, less those forgotten: read by the first reset of the step
            # (the compiled one reads the arbiters itself), or here when none ran.
            touching = world._touching_rows()
            touched += int(touching[:-1].sum())
            arrays = (world._read, world._state, world._parked, touching, a.contacts, b.contacts)
            states.append(b"".join(np.ascontiguousarray(v).tobytes() for v in arrays))
            states[-1] += repr(sorted(world._parked_rows.tolist())).encode()
    return states, calls, touched


@pytest.mark.parametrize("boxes", [False, True])
def test_the_compiled_reset_leaves_the_same_bytes_as_the_general_path(boxes):
    fast, calls, touched = drive(crowded_world(boxes=boxes), fast=True)
    slow, none, _ = drive(crowded_world(boxes=boxes), fast=False)
    assert calls["reset_rows"] > 60 and calls["park_rows"] > 15, "the compiled path was not taken"
    assert none == {"reset_rows": 0, "park_rows": 0}, "the general path was not taken"
    assert touched > 200, "bodies seldom touched: forgetting was hardly exercised"
    for step, (one, other) in enumerate(zip(fast, slow, strict=True)):
        assert one == other, f"step {step}: the compiled reset left other bytes"


def test_the_compiled_reset_equals_a_fresh_world():
    """A world reset while its bodies touch steps exactly as a new batch placed alike."""
    used = crowded_world(num_worlds=2, worlds_per_space=1)
    drive(used, fast=True, steps=40)
    assert used._touching_rows()[:-1].any(), "nothing touches: the test would prove nothing"
    fresh = crowded_world(num_worlds=2, worlds_per_space=1)
    x, y = spots(np.random.default_rng(3), 2, 8)
    for world in (used, fresh):
        world.reset_bodies(("a", "b"), [0, 1], x, y)
    for _ in range(30):
        for world in (used, fresh):
            world.groups["a"].command[...] = 4.0
            world.groups["b"].command[...] = -4.0
            world.step()
        np.testing.assert_array_equal(used._state, fresh._state)


@pytest.mark.parametrize(
    ("env_ids", "x", "message"),
    [
        ([0, 5], np.zeros((2, 8)), r"reset_bodies\(\('a', 'b'\)\): env_ids must be in \[0, 5\)"),
        ([-1], np.zeros((1, 8)), r"env_ids must be in \[0, 5\)"),
        ([1], np.full((1, 8), np.nan), "non-finite position or velocity"),
        ([1], np.full((1, 8), np.inf), "non-finite position or velocity"),
    ],
)
def test_bad_resets_are_refused_and_nothing_is_written(env_ids, x, message):
    world = crowded_world()
    drive(world, fast=True, steps=10)
    before = (world._read.copy(), world._state.copy(), world._parked.copy())
    with pytest.raises(ValueError, match=message):
        world.reset_bodies(("a", "b"), env_ids, x, np.zeros_like(x))
    with pytest.raises(ValueError, match="non-finite position or velocity"):
        world.reset_bodies("a", [2], np.zeros((1, 5)), np.zeros((1, 5)), vx=float("nan"))
    with pytest.raises(ValueError, match=r"park_bodies\('b'\): body_ids must be in \[0, 3\)"):
        world.park_bodies("b", [1, 2], [0, 3])
    with pytest.raises(ValueError, match=r"park_bodies\('a'\): env_ids must be in \[0, 5\)"):
        world.park_bodies("a", [1, 7], [0, 0])
    for kept, now in zip(before, (world._read, world._state, world._parked), strict=True):
        np.testing.assert_array_equal(kept, now)
