"""What the world owns besides physics: who collides with whom, and bodies parked out of play."""

import numpy as np
import pytest

from worlds import DifferentialDrive, HolonomicPointMass, KinematicBicycle, WorldBatch


def three_groups(rules=()):
    world = WorldBatch(1, 10, 10, dt=0.1, substeps=2, track_contacts=True)
    world.geometry.add_walls(10, 10)
    for name, n in (("a", 2), ("b", 1), ("c", 1)):
        world.add_group(name, n, radius=0.2, dynamics=HolonomicPointMass(1, 5))
    for rule in rules:
        world.set_collision(*rule)
    # Head on at 1 m/s: a0 against b on the line y = 0, a1 against c on the line y = 2.
    world.reset_bodies("a", [0], np.array([[-2.0, 2.0]]), np.array([[0.0, 2.0]]), vx=[[1, -1]])
    world.reset_bodies("b", [0], np.array([[2.0]]), np.array([[0.0]]), vx=-1.0)
    world.reset_bodies("c", [0], np.array([[-2.0]]), np.array([[2.0]]), vx=1.0)
    return world


def test_groups_set_apart_pass_through_each_other_while_others_bounce():
    world = three_groups([("a", "b", False)])
    a, b, c = (world.groups[name] for name in "abc")
    touched = np.zeros(2, dtype=int)
    for _ in range(40):  # four seconds: the pairs meet near x = 0 after two
        world.step()
        touched += a.contacts[0]
    assert a.x[0, 0] == pytest.approx(2.0, abs=1e-3) and b.x[0, 0] == pytest.approx(-2.0, abs=1e-3)
    assert c.x[0, 0] < -0.2 and a.x[0, 1] > 0.2  # bounced back
    assert touched.tolist()[0] == 0 and touched[1] > 0


def test_everything_collides_by_default():
    world = three_groups()
    a, b = world.groups["a"], world.groups["b"]
    for _ in range(40):
        world.step()
    assert a.x[0, 0] < -0.2 and b.x[0, 0] > 0.2


def test_a_group_set_apart_from_itself_passes_through_its_own_bodies():
    world = three_groups([("a", "a", False), ("a", "c", False)])
    a = world.groups["a"]
    world.reset_bodies("a", [0], np.array([[-2.0, 2.0]]), np.array([[3.0, 3.0]]), vx=[[1, -1]])
    for _ in range(40):
        world.step()
    np.testing.assert_allclose(a.x[0], [2.0, -2.0], atol=1e-3)


def test_a_group_set_apart_from_static_geometry_leaves_through_the_walls():
    world = WorldBatch(1, 10, 10, dt=0.1, substeps=2)
    world.geometry.add_walls(10, 10)
    for name in ("ghost", "ball"):
        world.add_group(name, 1, radius=0.2, dynamics=HolonomicPointMass(1, 5))
    world.set_collision("ghost", "static", False)
    world.reset_bodies("ghost", [0], np.array([[3.0]]), np.array([[0.0]]), vx=1.0)
    world.reset_bodies("ball", [0], np.array([[3.0]]), np.array([[2.0]]), vx=1.0)
    for _ in range(40):
        world.step()
    assert world.groups["ghost"].x[0, 0] == pytest.approx(7.0, abs=1e-3)
    assert world.groups["ball"].x[0, 0] < 5.0 - 0.2 + 0.01


def test_collision_rules_are_checked():
    world = WorldBatch(1, 4, 4)
    world.add_group("a", 1, radius=0.1, dynamics=HolonomicPointMass(1, 1))
    with pytest.raises(ValueError, match="set_collision: group_b 'z' is not one of 'a', 'static'"):
        world.set_collision("a", "z", False)
    with pytest.raises(ValueError, match="both be 'static'"):
        world.set_collision("static", "static", False)
    with pytest.raises(ValueError, match="'static' already exists"):
        world.add_group("static", 1, radius=0.1, dynamics=HolonomicPointMass(1, 1))
    world.step()
    with pytest.raises(RuntimeError, match="after the batch was finalized"):
        world.set_collision("a", "static", False)
    many = WorldBatch(1, 4, 4)
    for index in range(32):
        many.add_group(f"g{index}", 1, radius=0.01, dynamics=HolonomicPointMass(1, 1))
    many.step()  # without rules there is no limit on groups
    many = WorldBatch(1, 4, 4)
    for index in range(32):
        many.add_group(f"g{index}", 1, radius=0.01, dynamics=HolonomicPointMass(1, 1))
    many.set_collision("g0", "g1", False)
    with pytest.raises(ValueError, match="at most 31 body groups"):
        many.step()


DYNAMICS = {
    "point mass": lambda: HolonomicPointMass(2, 1),
    "differential drive": lambda: DifferentialDrive(1, 1),
    "bicycle": lambda: KinematicBicycle(1, 1, 0.5, 0.4),
}


@pytest.mark.parametrize("model", DYNAMICS)
def test_a_parked_body_stays_at_its_spot_under_commands_until_reset(model):
    world = WorldBatch(3, 6, 6, dt=0.1, substeps=2)
    world.geometry.add_walls(6, 6)
    group = world.add_group("robot", 3, radius=0.2, dynamics=DYNAMICS[model]())
    start_x = np.tile([-1.0, 0.0, 1.0], (3, 1))
    world.reset_bodies("robot", np.arange(3), start_x, np.zeros((3, 3)))
    world.park_bodies("robot", [1, 2], [0, 2])
    expected = np.zeros((3, 3), bool)
    expected[1, 0] = expected[2, 2] = True
    np.testing.assert_array_equal(group.parked, expected)
    spot = group.kinematics.copy()
    group.command[...] = 1.0  # forward and turning, or thrust up and right
    for _ in range(20):
        world.step()
        np.testing.assert_array_equal(group.kinematics[expected], spot[expected])
        np.testing.assert_array_equal(group.angle[expected], 0.0)
    assert np.all(np.abs(group.x[~expected] - start_x[~expected]) > 0.05)  # the others moved

    world.reset_bodies("robot", [1], start_x[1:2], np.zeros((1, 3)))
    assert not group.parked[1].any() and group.parked[2, 2]
    for _ in range(5):
        world.step()
    assert abs(group.x[1, 0] - start_x[1, 0]) > 0.05  # it moves again
    np.testing.assert_array_equal(group.kinematics[2, 2], spot[2, 2])  # still parked
    world.reset_bodies("robot", [2], start_x[2:3], np.zeros((1, 3)))
    assert not group.parked.any() and not world._any_parked  # the step is back to no checks


def test_each_parked_body_takes_its_own_spot_whatever_was_parked_before():
    """A body's parking spot depends on nothing but the body: parked first in a fresh batch, or
    after others, it reads back ``park_spots``' local position; no two parked bodies share a
    spot; the bodies not parked do not move."""
    from worlds.placement import park_spots

    def fresh():
        world = WorldBatch(4, 6, 6, dt=0.1)
        world.geometry.add_walls(6, 6)
        world.add_group("drone", 2, radius=0.2, dynamics=HolonomicPointMass(2, 1))
        robots = world.add_group("robot", 3, radius=0.2, dynamics=HolonomicPointMass(2, 1))
        world.reset_bodies(("drone", "robot"), np.arange(4), np.tile(np.linspace(-2, 2, 5), (4, 1)),
                           np.zeros((4, 5)))  # fmt: skip
        return world, robots

    orders = ([(2, 1)], [(0, 0), (3, 2), (2, 1)], [(1, 1), (2, 1)])
    places = []
    for order in orders:
        world, robots = fresh()
        before = robots.kinematics.copy()
        for env, body in order:
            world.park_bodies("robot", [env], [body])
        x, y = park_spots(world, "robot", np.array([2]), np.array([1]))
        np.testing.assert_allclose(robots.x[2, 1], x[0], atol=1e-5)
        np.testing.assert_allclose(robots.y[2, 1], y[0], atol=1e-5)
        parked = robots.parked
        np.testing.assert_array_equal(robots.kinematics[~parked], before[~parked])
        spots = {
            (float(a), float(b)) for a, b in zip(robots.x[parked], robots.y[parked], strict=True)
        }
        assert len(spots) == parked.sum()  # each its own (local spots differ between worlds too)
        places.append(robots.kinematics[2, 1].tobytes())
    assert len(set(places)) == 1
