"""Ground friction (``worlds.friction``) and the traction limits of ``DifferentialDrive``: a push
below the Coulomb limit moves nothing, a harder one accelerates by the difference, turning is
resisted the same way, the anchor's place does not matter, and a reset body forgets its joints'
warm start while the space's constraint list stays in the batch's order (same placements and
commands after any history: the same trajectory, bit for bit)."""

import numpy as np
import pytest
from pymunk._chipmunk_cffi import ffi
from pymunk._chipmunk_cffi import lib as cp

from worlds import DifferentialDrive, GroundFriction, HolonomicPointMass, Passive, WorldBatch
from worlds.friction import mean_radius
from worlds.shapes import Box, Circle

LIMIT = 30.0  # newtons
MASS = 10.0


def sliders(num_worlds=3, dt=0.1, substeps=4, **kwargs):
    world = WorldBatch(num_worlds, 20.0, 20.0, dt=dt, substeps=substeps, **kwargs)
    world.add_group(
        "crate",
        1,
        shape=Box(1.0, 1.0),
        mass=MASS,
        dynamics=HolonomicPointMass(1000.0, 100.0),
        ground_friction=GroundFriction(LIMIT, 5.0),
    )
    return world


def test_a_push_below_the_limit_moves_nothing_and_a_harder_one_accelerates_by_the_excess():
    world = sliders(3)
    world.reset_bodies("crate", np.arange(3), np.zeros((3, 1)), np.zeros((3, 1)))
    crate = world.groups["crate"]
    crate.command[:, 0, 0] = [0.5 * LIMIT, 0.99 * LIMIT, 1.5 * LIMIT]
    for _ in range(20):  # two seconds
        world.step()
    assert abs(crate.x[0, 0]) < 1e-9 and abs(crate.x[1, 0]) < 1e-9
    assert crate.vx[0, 0] == pytest.approx(0.0, abs=1e-9)
    # (F - limit) / m = 1.5 m/s^2 for 2 s, in 80 substeps (chipmunk moves a body by the
    # velocity of the substep before).
    acceleration = 0.5 * LIMIT / MASS
    h, n = 0.025, 80
    assert crate.vx[2, 0] == pytest.approx(acceleration * h * n, rel=1e-5)
    assert crate.x[2, 0] == pytest.approx(acceleration * h * h * n * (n - 1) / 2, rel=1e-5)


def test_a_sliding_body_stops_and_the_anchor_does_not_pull_it_anywhere():
    world = sliders(2)
    crate = world.groups["crate"]
    # Far from the world's origin, and the two worlds sit at other offsets in their space.
    world.reset_bodies(
        "crate", np.arange(2), np.array([[7.0], [-6.0]]), np.array([[5.0], [-8.0]]), vx=2.0
    )
    for _ in range(20):
        world.step()
    # Stopped after v / (limit / m) = 2/3 s, having slid v^2 / (2 limit / m) = 0.67 m.
    np.testing.assert_allclose(crate.x[:, 0], [7.0 + 2 / 3, -6.0 + 2 / 3], atol=0.03)
    still = crate.pos.copy()
    for _ in range(50):
        world.step()
    np.testing.assert_array_equal(crate.pos, still)
    assert np.all(crate.vx == 0.0) and np.all(crate.vy == 0.0)


def robot_on_the_floor(max_torque, friction_torque):
    world = WorldBatch(1, 10.0, 10.0, dt=0.1, substeps=4)
    drive = DifferentialDrive(1.0, 3.0, max_force=50.0, max_torque=max_torque)
    world.add_group(
        "robot",
        1,
        shape=Box(0.6, 0.6),
        mass=MASS,
        dynamics=drive,
        ground_friction=GroundFriction(1000.0, friction_torque),
    )
    world.reset_bodies("robot", [0], np.zeros((1, 1)), np.zeros((1, 1)))
    robot = world.groups["robot"]
    robot.command[0, 0] = (0.0, 3.0)  # turn in place
    return world, robot


def test_turning_is_resisted_up_to_the_torque_limit():
    world, robot = robot_on_the_floor(max_torque=4.0, friction_torque=5.0)
    for _ in range(10):
        world.step()
    assert abs(robot.angle[0, 0]) < 1e-9
    world, robot = robot_on_the_floor(max_torque=8.0, friction_torque=5.0)
    world.step()
    # (8 - 5) N m over I = m s^2 / 6 = 0.6 kg m^2: 5 rad/s^2, four substeps of 25 ms.
    assert robot.angvel[0, 0] == pytest.approx(5.0 * 0.1, rel=1e-6)


def test_traction_limits_the_drive_force_and_the_default_is_unlimited():
    world = WorldBatch(2, 10.0, 10.0, dt=0.1, substeps=4)
    robots = world.add_group(
        "robot", 1, shape=Box(0.6, 0.6), mass=MASS, dynamics=DifferentialDrive(2.0, 3.0)
    )
    limited = world.add_group(
        "limited",
        1,
        shape=Box(0.6, 0.6),
        mass=MASS,
        dynamics=DifferentialDrive(2.0, 3.0, max_force=40.0),
    )
    for name, y in (("robot", 2.0), ("limited", -2.0)):
        world.reset_bodies(name, np.arange(2), np.zeros((2, 1)), np.full((2, 1), y))
    robots.command[..., 0] = limited.command[..., 0] = 2.0
    world.step()
    np.testing.assert_allclose(robots.vx, 2.0, rtol=1e-6)  # the servo reaches it at once
    np.testing.assert_allclose(limited.vx, 40.0 / MASS * 0.1, rtol=1e-6)  # 4 m/s^2 for 0.1 s
    with pytest.raises(ValueError, match="max_force"):
        DifferentialDrive(1.0, 1.0, max_force=0.0)


def test_the_compiled_traction_servo_matches_its_numpy_reference():
    world = WorldBatch(3, 10.0, 10.0, dt=0.1, substeps=4, damping=0.9)
    drive = DifferentialDrive(2.0, 3.0, max_force=30.0, max_torque=2.0)
    robots = world.add_group("robot", 4, shape=Box(0.6, 0.4), mass=MASS, dynamics=drive)
    rng = np.random.default_rng(0)
    world.reset_bodies(
        "robot", np.arange(3), rng.uniform(-4, 4, (3, 4)), rng.uniform(-4, 4, (3, 4)),
        angle=rng.uniform(-3, 3, (3, 4)), vx=rng.uniform(-1, 1, (3, 4)),
    )  # fmt: skip
    for _ in range(5):
        robots.command[...] = rng.uniform(-4, 4, robots.command.shape)
        world.step()
    columns = ("vx", "vy", "angvel", "fx", "fy", "torque")
    drive.control(0.025)
    compiled = [drive.write[c].copy() for c in columns]
    drive.servo(robots.command[..., 0], robots.command[..., 1], 0.025)
    for name, got in zip(columns, compiled, strict=True):
        np.testing.assert_allclose(got, drive.write[name], rtol=1e-12, atol=1e-12, err_msg=name)
    assert np.abs(compiled[3]).max() > 1.0 and np.abs(compiled[5]).max() > 0.1


def test_bad_limits_are_refused_naming_the_group():
    world = WorldBatch(1, 10.0, 10.0)
    for bad in (GroundFriction(-1.0, 1.0), GroundFriction(1.0, float("nan")), "rough"):
        with pytest.raises(ValueError, match="group 'crate'.*ground_friction"):
            world.add_group("crate", 1, radius=0.3, dynamics=Passive(), ground_friction=bad)


def test_coulomb_limits_from_a_friction_coefficient():
    friction = GroundFriction.coulomb(0.5, 10.0, Box(1.0, 1.0), gravity=10.0)
    assert friction.force == 50.0
    # The mean distance of a unit square from its centre: (sqrt 2 + asinh 1) / 6.
    assert friction.torque == pytest.approx(50.0 * (np.sqrt(2) + np.arcsinh(1.0)) / 6, rel=1e-4)
    assert mean_radius(Circle(0.3)) == pytest.approx(0.2)


def constraint_order(space) -> list:
    """The space's constraints in the order chipmunk's solver visits them."""
    seen = []

    @ffi.callback("void(cpConstraint *, void *)")
    def visit(constraint, data):
        seen.append(constraint)

    cp.cpSpaceEachConstraint(space._space, visit, ffi.NULL)
    return seen


def crates_and_pushers(num_worlds=4, worlds_per_space=2):
    world = WorldBatch(num_worlds, 8.0, 8.0, dt=0.1, substeps=4, worlds_per_space=worlds_per_space)
    world.geometry.add_walls(8.0, 8.0)
    world.add_group("pusher", 2, radius=0.3, mass=5.0, dynamics=HolonomicPointMass(200.0, 3.0))
    crate = Box(1.2, 0.8)
    world.add_group(
        "crate",
        3,
        shape=crate,
        mass=100.0,
        dynamics=Passive(),
        ground_friction=GroundFriction.coulomb(0.1, 100.0, crate),
    )
    return world


def place(world, env_ids, vx=0.0):
    """Pushers at the sides, crates in the middle, sliding at ``vx`` (their joints then hold a
    warm start: friction acts at its limit)."""
    e = len(env_ids)
    world.reset_bodies(
        "pusher", env_ids, np.tile([-3.0, 3.0], (e, 1)), np.tile([0.1, -0.2], (e, 1))
    )
    world.reset_bodies(
        "crate",
        env_ids,
        np.tile([-1.0, 1.0, 0.0], (e, 1)),
        np.tile([-2.0, 0.0, 2.2], (e, 1)),
        angle=np.tile([0.0, 0.3, 1.2], (e, 1)),
        vx=np.tile([vx, vx, 0.5 * vx], (e, 1)),
    )


def run(world, steps, seed):
    """Pushers shove the crates about; returns the bodies' state per step as bytes."""
    rng = np.random.default_rng(seed)
    trace = []
    pushers = world.groups["pusher"]
    for _ in range(steps):
        force = rng.uniform(-1.0, 1.0, pushers.command.shape) * 200.0
        force[..., 0] -= 150.0 * np.sign(pushers.x)  # toward the crates
        pushers.command[...] = force
        world.step()
        trace.append(
            b"".join(g.kinematics.tobytes() + g.angle.tobytes() for g in world.groups.values())
        )
    return trace


def impulses(world) -> np.ndarray:
    joints = world.ground.group_joints(world, world.groups["crate"])
    return np.array([joint.impulse for pair in joints for joint in pair])


def test_a_reset_body_forgets_its_joints_and_the_solver_order_stays_the_batchs():
    fresh = crates_and_pushers()
    place(fresh, np.arange(4), vx=1.0)
    expected = run(fresh, 30, seed=1)

    used = crates_and_pushers()
    place(used, np.arange(4), vx=-1.5)  # the other way: a warm start would brake them
    run(used, 5, seed=7)
    place(used, np.array([3]), vx=-1.5)  # a partial reset: joints replaced inside a shard
    run(used, 4, seed=8)
    place(used, np.array([2, 0]), vx=-1.5)
    run(used, 3, seed=9)
    sliding = np.abs(used.groups["crate"].vx) > 0.05
    assert sliding.sum() >= 9  # of 12: their joints hold warm starts
    assert (impulses(used)[0::2] > 0).sum() >= 9
    place(used, np.arange(4), vx=1.0)
    assert not impulses(used).any()
    assert run(used, 30, seed=1) == expected
    crates = used.groups["crate"].bodies  # world by world, crate by crate
    for shard in used.shards:
        seen = constraint_order(shard.space)
        assert len(seen) == 2 * 2 * 3  # two worlds x three crates x two joints
        # Pivot then gear per crate, crate by crate, world by world: the batch's order.
        assert [cp.cpConstraintIsPivotJoint(c) for c in seen] == [1, 0] * 6
        bodies = [cp.cpConstraintGetBodyB(c) for c in seen]
        assert bodies == [b._body for b in crates[3 * shard.first : 3 * shard.last] for _ in "pg"]


def test_without_forgetting_the_warm_start_the_history_shows(monkeypatch):
    """The test above can fail: keep the old joints and the trajectory differs."""
    fresh = crates_and_pushers(2, 2)
    place(fresh, np.arange(2), vx=1.0)
    expected = run(fresh, 30, seed=1)
    used = crates_and_pushers(2, 2)
    monkeypatch.setattr(used.ground, "forget", lambda world, rows: None)
    place(used, np.arange(2), vx=-1.5)
    run(used, 5, seed=7)
    place(used, np.arange(2), vx=1.0)
    assert impulses(used)[0::2].min() > 0
    assert run(used, 30, seed=1) != expected
