"""Bodies of every shape: boxes and convex polygons collide as themselves, are checked when added,
get pymunk's moments, and a reset world of them carries nothing of its past."""

import math

import numpy as np
import pymunk
import pytest

from worlds import DifferentialDrive, HolonomicPointMass, WorldBatch
from worlds.shapes import Box, Circle, Polygon

ARROW = [(0.6, 0.0), (-0.4, 0.4), (-0.4, -0.4)]


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"shape": Box(0.0, 1.0)}, "group 'car': box length must be a finite number > 0"),
        ({"shape": Box(1.0, float("nan"))}, "group 'car': box width must be a finite number > 0"),
        ({"shape": Circle(-0.1)}, "group 'car': radius must be"),
        ({"radius": 0.0}, "group 'car': radius must be"),
        (
            {"shape": Box(1, 1), "radius": 0.1},
            "group 'car': give exactly one of shape= and radius=",
        ),
        ({}, "group 'car': give exactly one"),
        ({"shape": Polygon([(0, 0), (1, 0)])}, "group 'car': polygon vertices must be 3 or more"),
        ({"shape": Polygon([(0, 0), (1, 0), (2, 0)])}, "group 'car': polygon .*degenerate"),
        ({"shape": Polygon([(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)])}, "group 'car': .*convex"),
        # A dart: one vertex turns the other way.
        ({"shape": Polygon([(1, 0), (-1, 1), (-0.2, 0), (-1, -1)])}, "group 'car': .*convex"),
        ({"shape": Polygon([(0, 0), (1, float("nan")), (0, 1)])}, "group 'car': .*finite"),
        ({"shape": "box"}, "group 'car': shape must be"),
    ],
)
def test_invalid_shapes_are_rejected_naming_group_and_field(keywords, message):
    world = WorldBatch(1, 4, 4)
    with pytest.raises(ValueError, match=message):
        world.add_group("car", 2, dynamics=HolonomicPointMass(1, 1), **keywords)
    assert "car" not in world.groups


def test_a_pentagram_is_not_convex():
    star = [(math.cos(a), math.sin(a)) for a in np.arange(5) * 4 * math.pi / 5]
    with pytest.raises(ValueError, match="group 'star': polygon vertices wind more than once"):
        WorldBatch(1, 4, 4).add_group(
            "star", 1, shape=Polygon(star), dynamics=DifferentialDrive(1, 1)
        )


def test_group_radius_is_the_bounding_radius_and_moments_come_from_pymunk():
    world = WorldBatch(1, 8, 8)
    box = world.add_group("box", 1, shape=Box(2.0, 1.0), mass=3.0, dynamics=DifferentialDrive(1, 1))
    arrow = world.add_group("arrow", 1, shape=Polygon(ARROW), dynamics=DifferentialDrive(1, 1))
    crate = world.add_group("crate", 1, shape=Box(2.0, 1.0), dynamics=HolonomicPointMass(1, 1))
    disc = world.add_group("disc", 1, radius=0.25, dynamics=HolonomicPointMass(1, 1))
    assert box.radius == pytest.approx(math.hypot(1.0, 0.5))
    assert arrow.radius == pytest.approx(0.6)  # the tip, farther than the rear corners
    assert disc.radius == 0.25 and disc.shape == Circle(0.25)
    assert box.bodies[0].moment == pytest.approx(pymunk.moment_for_box(3.0, (2.0, 1.0)))
    assert arrow.bodies[0].moment == pytest.approx(pymunk.moment_for_poly(1.0, ARROW))
    assert math.isinf(crate.bodies[0].moment)  # no heading: it never turns
    # Drawn in body coordinates with the length along the heading (+x).
    (outline,) = box.bodies[0].shapes
    vertices = outline.get_vertices()
    assert max(v.x for v in vertices) == pytest.approx(1.0)
    assert max(v.y for v in vertices) == pytest.approx(0.5)


@pytest.mark.parametrize(("angle", "half_extent"), [(0.0, 1.0), (math.pi / 2, 0.25)])
def test_a_box_rests_against_a_wall_on_the_side_it_turns_to_it(angle, half_extent):
    # A crate without a heading keeps the angle it was placed with; pushed right into the wall
    # at x = 3 it stops where its own outline meets the wall.
    world = WorldBatch(1, 6, 6, dt=0.05, substeps=4)
    world.geometry.add_walls(6, 6)
    crate = world.add_group("crate", 1, shape=Box(2.0, 0.5), dynamics=HolonomicPointMass(5, 2))
    world.reset_bodies("crate", [0], np.zeros((1, 1)), np.zeros((1, 1)), angle=angle)
    assert crate.angle[0, 0] == pytest.approx(angle)
    crate.command[0, 0] = (5.0, 0.0)
    for _ in range(80):
        world.step()
    assert crate.x[0, 0] == pytest.approx(3.0 - half_extent, abs=0.02)
    assert crate.angle[0, 0] == pytest.approx(angle)


def shaped_world(num_worlds=2):
    world = WorldBatch(num_worlds, 3.0, 3.0, dt=0.1, substeps=2)
    world.geometry.add_walls(3.0, 3.0)
    cars = world.add_group("car", 4, shape=Box(0.6, 0.3), dynamics=DifferentialDrive(1.5, 2.0))
    crates = world.add_group("crate", 3, shape=Polygon(ARROW), dynamics=HolonomicPointMass(4, 2))
    return world, cars, crates


def place(world, rng):
    xs = np.linspace(-1.0, 1.0, 4)
    world.reset_bodies(
        "car",
        np.arange(2),
        np.tile(xs, (2, 1)),
        np.full((2, 4), -0.8),
        angle=rng.uniform(-math.pi, math.pi, (2, 4)),
    )
    world.reset_bodies("crate", np.arange(2), np.tile(xs[:3], (2, 1)), np.full((2, 3), 0.8))


def run(world, cars, crates, rng, steps):
    states = []
    for _ in range(steps):
        cars.command[...] = rng.uniform([-1.5, -2.0], [1.5, 2.0], cars.command.shape)
        crates.command[...] = rng.uniform(-4, 4, crates.command.shape)
        world.step()
        arrays = (cars.kinematics, cars.angle, cars.angvel, crates.kinematics, crates.angle)
        states.append(b"".join(array.tobytes() for array in arrays))
    return states


def test_reset_box_and_polygon_worlds_forget_their_contacts():
    used, used_cars, used_crates = shaped_world()
    place(used, np.random.default_rng(0))
    past = np.random.default_rng(1)
    for _ in range(200):  # drive until bodies touch each other and the walls
        run(used, used_cars, used_crates, past, 1)
        touching = used._touching_rows()
        if touching[: used_cars.n * 2].any() and touching[used_cars.n * 2 : -1].any():
            break
    # Reset while bodies touch: that is when chipmunk holds memory of them.
    assert used._touching_rows()[:-1].any(), "no contacts: the test would prove nothing"

    fresh, fresh_cars, fresh_crates = shaped_world()
    place(used, np.random.default_rng(5))
    place(fresh, np.random.default_rng(5))
    used_states = run(used, used_cars, used_crates, np.random.default_rng(7), 60)
    fresh_states = run(fresh, fresh_cars, fresh_crates, np.random.default_rng(7), 60)
    for step, (a, b) in enumerate(zip(used_states, fresh_states, strict=True)):
        assert a == b, f"step {step}: the reset world remembered its past"


def test_touching_rows_equal_the_arbiters_read_in_numpy():
    """The compiled ``touching_rows`` marks exactly the rows (and the static-geometry entry)
    that ``ContactTable.arbiter_rows`` lists, on a world whose bodies touch each other and
    the walls."""
    world, cars, crates = shaped_world()
    place(world, np.random.default_rng(0))
    rng, checked = np.random.default_rng(3), 0
    for _ in range(120):
        run(world, cars, crates, rng, 1)
        for table in world._contact_tables:
            table.touching = None
            rows, _ = table.arbiter_rows()
            expected = np.zeros(table.num_bodies + 1, bool)
            expected[rows.ravel()] = True
            np.testing.assert_array_equal(table.touching_rows(), expected)
            checked += expected[:-1].any() and expected[-1]
    assert checked > 10, "bodies seldom touched both each other and the walls"


def test_compiled_resets_equal_the_python_calls_bit_for_bit():
    """Resets, single placements and parking through the compiled chipmunk calls
    (``worlds.kernels.chipmunk``) leave every body exactly as pymunk's own calls do: two
    batches driven alike, one of them made to take the Python path, step to equal bytes,
    with resets while bodies touch (the contacts they forget) along the way."""
    from worlds.kernels import chipmunk

    assert chipmunk.available(), "the compiled path is not taken here: nothing is compared"
    runs = []
    for compiled in (True, False):
        world, cars, crates = shaped_world(num_worlds=3)
        if not compiled:
            world._compiled_tables = None  # placement.compiled_tables: the Python calls
        place(world, np.random.default_rng(0))
        world.reset_bodies("car", np.array([2]), np.zeros((1, 4)) + [[-1, -0.3, 0.3, 1]],
                           np.full((1, 4), 0.2))  # fmt: skip
        world.reset_bodies("crate", np.array([2]), np.zeros((1, 3)) + [[-1, 0, 1]],
                           np.full((1, 3), -0.5))  # fmt: skip
        rng, states, touched = np.random.default_rng(1), [], 0
        for step in range(90):
            states += run(world, cars, crates, rng, 1)
            touched += bool(world._touching_rows()[:-1].any())
            if step % 15 == 7:  # one world restarts, touching or not
                place(world, np.random.default_rng(step))
            if step == 40:
                world.park_bodies("car", np.array([1, 2]), np.array([0, 3]))
            if step == 60:
                one = np.ones(1)
                world.place_bodies("crate", [0], [1], one * 0.1, one * 0.2, vx=one, vy=-one)
        runs.append((states, touched))
    (compiled_states, touched), (python_states, _) = runs
    assert touched > 20, "bodies seldom touched: forgetting was hardly exercised"
    for step, (a, b) in enumerate(zip(compiled_states, python_states, strict=True)):
        assert a == b, f"step {step}: the compiled calls left other bytes"


def place_together(world, rng):
    """``place`` in one ``reset_bodies`` call for both groups (columns side by side)."""
    xs = np.linspace(-1.0, 1.0, 4)
    angle = np.zeros((2, 7))
    angle[:, :4] = rng.uniform(-math.pi, math.pi, (2, 4))
    x = np.tile(np.concatenate([xs, xs[:3]]), (2, 1))
    y = np.tile([-0.8] * 4 + [0.8] * 3, (2, 1))
    world.reset_bodies(("car", "crate"), np.arange(2), x, y, angle=angle)


def test_one_reset_of_several_groups_equals_a_call_per_group():
    """Resetting two groups in one call leaves the same bytes, step after step, as a call per
    group (through the compiled chipmunk calls and through pymunk's), with resets while bodies
    touch; a bad group list is refused by name."""
    runs = []
    for together, compiled in ((False, True), (True, True), (True, False)):
        world, cars, crates = shaped_world(num_worlds=3)
        if not compiled:
            world._compiled_tables = None
        reset = place_together if together else place
        reset(world, np.random.default_rng(0))
        rng, states, touched = np.random.default_rng(1), [], 0
        for step in range(90):
            states += run(world, cars, crates, rng, 1)
            touched += bool(world._touching_rows()[:-1].any())
            if step % 15 == 7:
                reset(world, np.random.default_rng(step))
        runs.append((states, touched))
    assert runs[0][1] > 20, "bodies seldom touched: forgetting was hardly exercised"
    for states, _ in runs[1:]:
        for step, (a, b) in enumerate(zip(runs[0][0], states, strict=True)):
            assert a == b, f"step {step}: one call for both groups left other bytes"
    with pytest.raises(ValueError, match="distinct"):
        world.reset_bodies(("car", "car"), [0], np.zeros((1, 8)), np.zeros((1, 8)))
    with pytest.raises(ValueError, match="unknown group 'boat'"):
        world.reset_bodies(("car", "boat"), [0], np.zeros((1, 8)), np.zeros((1, 8)))
