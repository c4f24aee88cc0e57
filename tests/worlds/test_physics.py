"""The physics batch: walls hold, contacts are counted, dynamics limits hold, worlds stay apart."""

import math

import numpy as np
import pytest

from worlds import (
    DifferentialDrive,
    HolonomicPointMass,
    KinematicBicycle,
    PhysicsError,
    WorldBatch,
)


def point_mass_world(
    num_worlds=4, n=6, size=4.0, max_force=5.0, max_speed=2.0, damping=1.0, contacts=False
):
    world = WorldBatch(
        num_worlds, size, size, dt=0.1, substeps=2, damping=damping, track_contacts=contacts
    )
    world.geometry.add_walls(size, size)
    group = world.add_group(
        "ball", n, radius=0.1, dynamics=HolonomicPointMass(max_force, max_speed)
    )
    return world, group


def test_state_arrays_follow_reset(rng):
    world, group = point_mass_world()
    x = rng.uniform(-1.5, 1.5, (4, 6))
    y = rng.uniform(-1.5, 1.5, (4, 6))
    world.reset_bodies("ball", np.arange(4), x, y)
    np.testing.assert_allclose(group.x, x, atol=1e-5)
    np.testing.assert_allclose(group.y, y, atol=1e-5)
    # Resetting only world 2 leaves the others where they were.
    world.reset_bodies("ball", np.array([2]), np.zeros((1, 6)), np.zeros((1, 6)) + 1.0)
    np.testing.assert_allclose(group.x[[0, 1, 3]], x[[0, 1, 3]], atol=1e-5)
    np.testing.assert_allclose(group.y[2], 1.0)


def test_walls_hold_under_random_thrust(rng):
    size = 3.0
    world, group = point_mass_world(num_worlds=8, n=10, size=size, max_force=20.0, max_speed=3.0)
    world.reset_bodies(
        "ball", np.arange(8), rng.uniform(-1, 1, (8, 10)), rng.uniform(-1, 1, (8, 10))
    )
    # A body may sink into a wall by at most one substep of travel before the solver pushes it
    # back; it must never get through (the walls are 0.5 m thick).
    limit = size / 2 - 0.1 + 3.0 * 0.05
    for step in range(300):
        # Push mostly outward so that every body meets a wall often.
        group.command[..., 0] = np.sign(group.x) * 20 + rng.normal(0, 5, group.x.shape)
        group.command[..., 1] = np.sign(group.y) * 20 + rng.normal(0, 5, group.y.shape)
        world.step()
        assert np.abs(group.x).max() <= limit, f"step {step}: a body left through a wall"
        assert np.abs(group.y).max() <= limit, f"step {step}: a body left through a wall"
    group.command[...] = 0.0
    for _ in range(20):
        world.step()
    settled = size / 2 - 0.1 + 0.01
    assert np.abs(group.x).max() <= settled and np.abs(group.y).max() <= settled


def test_point_mass_respects_force_and_speed_limits():
    world, group = point_mass_world(num_worlds=2, n=1, max_force=2.0, max_speed=1.5)
    world.reset_bodies("ball", np.arange(2), np.full((2, 1), -1.5), np.zeros((2, 1)))
    group.command[..., 0] = 100.0  # far above the limit: clipped to 2 N on a 1 kg body
    world.step()
    # One step of 0.1 s at 2 m/s^2 from rest.
    np.testing.assert_allclose(group.vx, 0.2, rtol=1e-3)
    speeds = []
    for _ in range(20):
        world.step()
        speeds.append(np.hypot(group.vx, group.vy).max())
    assert max(speeds) <= 1.5 + 1e-4
    assert speeds[-1] == pytest.approx(1.5, rel=1e-3)


def test_damping_is_drag_on_free_bodies():
    world, group = point_mass_world(num_worlds=1, n=1, damping=0.5, max_speed=10.0)
    world.reset_bodies("ball", np.arange(1), np.zeros((1, 1)), np.zeros((1, 1)), vx=1.0)
    for _ in range(10):  # one second
        world.step()
    assert float(group.vx[0, 0]) == pytest.approx(0.5, rel=1e-3)


def test_contacts_are_counted():
    world, group = point_mass_world(num_worlds=2, n=3, contacts=True)
    # World 0: balls 0 and 1 overlap, ball 2 pressed against the right wall. World 1: apart.
    x = np.array([[0.0, 0.12, 1.85], [-1.0, 0.0, 1.0]])
    y = np.zeros((2, 3))
    world.reset_bodies("ball", np.arange(2), x, y)
    group.command[0, 2, 0] = 5.0
    for _ in range(3):
        world.step()
    assert group.contacts[0].tolist() == [1, 1, 0]
    assert group.static_contacts[0].tolist() == [0, 0, 1]
    assert group.contacts[1].sum() == 0 and group.static_contacts[1].sum() == 0
    # Pushed against the wall and held there.
    assert 1.85 < group.x[0, 2] <= 1.9 + 0.03


def test_worlds_do_not_touch_each_other(rng):
    world, group = point_mass_world(num_worlds=4, n=6)
    start_x = rng.uniform(-1, 1, (4, 6))
    start_y = rng.uniform(-1, 1, (4, 6))
    world.reset_bodies("ball", np.arange(4), start_x, start_y)
    group.command[0] = 50.0  # only world 0's balls are pushed, hard, into a corner
    for _ in range(30):
        world.step()
    np.testing.assert_allclose(group.x[1:], start_x[1:], atol=1e-5)
    np.testing.assert_allclose(group.y[1:], start_y[1:], atol=1e-5)


def test_differential_drive_moves_along_heading():
    world = WorldBatch(1, 10, 10, dt=0.1, substeps=4)
    group = world.add_group("robot", 2, radius=0.2, dynamics=DifferentialDrive(1.0, 2.0))
    world.reset_bodies(
        "robot",
        np.arange(1),
        np.array([[-3.0, 3.0]]),
        np.zeros((1, 2)),
        angle=np.array([[0.0, math.pi / 2]]),
    )
    group.command[0, :, 0] = 5.0  # clipped to 1 m/s
    for _ in range(10):
        world.step()
    # The servo reaches the commanded speed within the first substep (0.05 s of lag at most).
    assert -2.05 <= group.x[0, 0] < -2.0
    assert 0.95 <= group.y[0, 1] < 1.0
    np.testing.assert_allclose(group.vx[0], [1.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(group.vy[0], [0.0, 1.0], atol=1e-5)
    np.testing.assert_allclose(group.x[0, 1], 3.0, atol=1e-5)
    np.testing.assert_allclose(group.y[0, 0], 0.0, atol=1e-5)
    group.command[0, :, 0] = 0.0
    group.command[0, :, 1] = 1.0
    for _ in range(10):
        world.step()
    np.testing.assert_allclose(group.angle[0], [1.0, math.pi / 2 + 1.0], atol=1e-3)


def test_bicycle_turns_on_its_geometric_radius():
    wheelbase, steer = 0.5, 0.3
    world = WorldBatch(1, 40, 40, dt=0.05, substeps=4)
    group = world.add_group(
        "car", 1, radius=0.2, dynamics=KinematicBicycle(2.0, 1.0, 0.5, wheelbase)
    )
    world.reset_bodies("car", np.arange(1), np.zeros((1, 1)), np.zeros((1, 1)))
    group.command[0, 0] = [10.0, steer]  # accel clipped to 1 m/s^2; speed capped at 2 m/s
    xs, ys = [], []
    for step in range(200):
        world.step()
        if step > 60:  # at the speed cap
            xs.append(float(group.x[0, 0]))
            ys.append(float(group.y[0, 0]))
    assert np.abs(group.command[..., 0]).max() > 1  # the command itself was not altered
    # Points on the circle: fit centre and radius (algebraic least squares).
    xs, ys = np.array(xs), np.array(ys)
    a = np.c_[2 * xs, 2 * ys, np.ones_like(xs)]
    cx, cy, c = np.linalg.lstsq(a, xs**2 + ys**2, rcond=None)[0]
    radius = math.sqrt(c + cx**2 + cy**2)
    assert radius == pytest.approx(wheelbase / math.tan(steer), rel=0.02)


def test_non_finite_state_raises_instead_of_propagating():
    world, group = point_mass_world(num_worlds=2, n=2)
    world.reset_bodies("ball", np.arange(2), np.zeros((2, 2)) + [[-1, 1]], np.zeros((2, 2)))
    group.bodies[1].velocity = (float("nan"), 0.0)  # what a blow-up leaves behind
    with pytest.raises(PhysicsError, match="non-finite"):
        world.step()
    with pytest.raises(ValueError, match="non-finite"):
        world.reset_bodies("ball", np.arange(1), np.full((1, 2), np.nan), np.zeros((1, 2)))


def test_bad_construction_is_rejected():
    with pytest.raises(ValueError, match="num_worlds"):
        WorldBatch(0, 1, 1)
    world = WorldBatch(1, 2, 2)
    world.add_group("a", 1, radius=0.1, dynamics=HolonomicPointMass(1, 1))
    with pytest.raises(ValueError, match="already exists"):
        world.add_group("a", 1, radius=0.1, dynamics=HolonomicPointMass(1, 1))


def test_force_driven_bodies_keep_their_speed_beside_velocity_driven_ones():
    # Where one group's model commands velocities, every body's velocity is written each
    # substep: a force-driven group's must be its own, not zero.
    world = WorldBatch(1, 10, 10, dt=0.1, substeps=2)
    ball = world.add_group("ball", 1, radius=0.1, dynamics=HolonomicPointMass(10.0, 10.0))
    world.add_group("robot", 1, radius=0.1, dynamics=DifferentialDrive(1.0, 1.0))
    world.reset_bodies("ball", np.arange(1), np.zeros((1, 1)), np.zeros((1, 1)))
    world.reset_bodies("robot", np.arange(1), np.ones((1, 1)), np.ones((1, 1)))
    ball.command[0, 0] = (1.0, 0.0)  # 1 m/s^2 on a 1 kg body
    for _ in range(10):
        world.step()
    assert float(ball.vx[0, 0]) == pytest.approx(1.0, rel=1e-4)
    assert 0.45 < float(ball.x[0, 0]) < 0.55  # it travelled: half a metre in one second
