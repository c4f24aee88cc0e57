"""warehouse/shelves-v0 by hand: an empty robot passes under shelves, a loaded one is stopped by
shelves and robots, every delivery is real, the shelves are conserved, and the scripted planner
delivers at a steady rate, far above random play."""

import math

import numpy as np
import pytest

import scenarios
from scenarios.core import ScenarioConfigError
from scenarios.warehouse import kernels as wk

ROW_OF_SHELVES = ".......\n.xxxxx.\n.......\n...g..."


def place(venv, x, y, angle):
    """Put world 0's robots at local (x, y) with heading angle (continuous-action envs)."""
    venv.world.reset_bodies(
        "robot", np.array([0]), np.array([x]), np.array([y]), angle=np.array([angle])
    )
    venv.scenario.ledger.measure(venv.scenario.robots, venv.episode, venv.cfg)


def drive(venv, wheels, steps):
    n = venv.groups["robot"].n_agents
    for _ in range(steps):
        action = np.zeros((1, n, 3), np.float32)
        action[0, :, :2] = wheels
        venv.step({"robot": action})
    return venv.scenario.robots


def continuous_env(n_robots=1):
    return scenarios.make_vec(
        "warehouse/shelves-v0",
        num_envs=1,
        seed=0,
        n_robots=n_robots,
        map_text=ROW_OF_SHELVES,
        continuous_actions=True,
    )


def test_an_empty_robot_drives_under_a_row_of_shelves():
    venv = continuous_env()
    venv.reset(seed=0)
    place(venv, [-3.0], [0.5], [0.0])  # row 1 (the shelves' row), west end, facing east
    robots = drive(venv, (0.5, 0.5), 12)
    assert robots.x[0, 0] > 2.0  # past all five shelves
    assert abs(robots.y[0, 0] - 0.5) < 0.05


def test_a_loaded_robot_stops_at_the_next_shelf():
    venv = continuous_env()
    venv.reset(seed=0)
    place(venv, [-2.0], [0.5], [0.0])  # in the first shelf's cell, facing east
    lift = np.array([[[0.0, 0.0, 1.0]]], np.float32)
    venv.step({"robot": lift})
    ledger = venv.scenario.ledger
    assert ledger.carried[0, 0] == 0 and ledger.slot_shelf[0, 0] == -1
    robots = drive(venv, (0.5, 0.5), 12)
    # Stopped by the second shelf (centre x=-1): its face at -1.4, the robot's half side 0.4.
    assert robots.x[0, 0] == pytest.approx(-1.8, abs=0.05)
    # 0.2 m from the first slot's centre: settled there, so it puts the shelf back.
    venv.step({"robot": np.array([[[0.0, 0.0, -1.0]]], np.float32)})
    assert ledger.carried[0, 0] == -1 and ledger.slot_shelf[0, 0] == 0
    assert venv.world.fixtures["shelf"].on[0, 0]


def test_a_loaded_robot_cannot_pass_through_a_robot():
    venv = continuous_env(n_robots=2)
    venv.reset(seed=0)
    place(venv, [-2.0, 0.0], [0.5, -0.5], [0.0, 0.0])
    venv.step({"robot": np.array([[[0, 0, 1.0], [0, 0, 0]]], np.float32)})  # robot 0 lifts
    assert venv.scenario.ledger.carried[0, 0] >= 0
    # Robot 0 backs out to the aisle below, then drives east into robot 1.
    place(venv, [-2.0, 0.0], [-0.5, -0.5], [0.0, 0.0])
    robots = drive(venv, [(0.5, 0.5), (0.0, 0.0)], 15)
    gap = robots.x[0, 1] - robots.x[0, 0]
    assert gap == pytest.approx(0.8, abs=0.05)  # touching, not overlapping


def check_books(venv):
    """Every shelf stands in exactly one slot or rides on exactly one robot, fixtures and
    collision modes agree with the books."""
    ledger, world = venv.scenario.ledger, venv.world
    for b in range(venv.num_envs):
        standing = ledger.slot_shelf[b][ledger.slot_shelf[b] >= 0]
        carried = ledger.carried[b][ledger.carried[b] >= 0]
        every = np.sort(np.concatenate([standing, carried]))
        np.testing.assert_array_equal(every, np.arange(ledger.slot_shelf.shape[1]))
        np.testing.assert_array_equal(world.fixtures["shelf"].on[b], ledger.slot_shelf[b] >= 0)
        np.testing.assert_array_equal(world.mode_of("robot")[b], ledger.carried[b] >= 0)
        assert ledger.requested[b].sum() == venv.cfg.requests


def test_every_delivery_is_real_and_the_planner_delivers_steadily():
    # Longer episodes than the loop: a world that resets zeroes its books after the last step.
    venv = scenarios.make_vec("warehouse/shelves-v0", num_envs=2, seed=3, max_steps=1000)
    policy = venv.scenario.scripted_policy()
    ledger = venv.scenario.ledger
    obs = venv.reset(seed=3)
    deliveries = np.zeros((2, 4))
    for t in range(400):
        carried, requested = ledger.carried.copy(), ledger.requested.copy()
        obs, rewards, _, _, _ = venv.step(policy.act(obs, venv.action_mask()))
        check_books(venv)
        for b, n in np.argwhere(ledger.delivered > 0):
            shelf = carried[b, n]
            assert shelf >= 0 and ledger.carried[b, n] == shelf  # carried by that robot
            assert requested[b, shelf] and not ledger.requested[b, shelf]
            assert ledger.map.goal_cells[ledger.rows[b, n], ledger.cols[b, n]]
            assert rewards["robot"][b, n] == 1.0
        assert rewards["robot"].sum() == ledger.delivered.sum()
        deliveries[:, t // 100] += ledger.delivered.sum(axis=1)
    assert (deliveries >= 3).all(), deliveries  # every world, every 100 steps


def test_the_planner_far_outdelivers_random_play():
    def deliveries(policy_of):
        venv = scenarios.make_vec("warehouse/shelves-v0", num_envs=4, seed=11, max_steps=300)
        act = policy_of(venv)
        obs, total = venv.reset(seed=11), 0.0
        for _ in range(300):
            obs, rewards, _, _, _ = venv.step(act(obs, venv.action_mask()))
            total += rewards["robot"].sum()
        return total

    rng = np.random.default_rng(0)

    def random_policy(venv):
        def act(obs, mask):
            choice = rng.random(mask["robot"].shape) * mask["robot"]
            return {"robot": choice.argmax(axis=-1)}

        return act

    planned = deliveries(lambda venv: venv.scenario.scripted_policy().act)
    random = deliveries(random_policy)
    assert planned >= 60 and planned > 10 * max(random, 1.0), (planned, random)


def test_toggle_is_masked_where_it_does_nothing():
    venv = scenarios.make_vec(
        "warehouse/shelves-v0", num_envs=1, seed=0, n_robots=1, map_text=ROW_OF_SHELVES
    )
    venv.reset(seed=0)
    ledger = venv.scenario.ledger
    cases = (  # (cell, carried shelf, slot 0 holds its shelf, toggle allowed)
        ((1, 1), -1, True, True),  # empty, under a shelf: pick up
        ((2, 1), -1, True, False),  # empty, in the aisle
        ((1, 2), 0, False, False),  # loaded, under another standing shelf
        ((1, 1), 0, False, True),  # loaded, in a free slot: put down
    )
    for cell, carried, standing, expected in cases:
        x, y = ledger.map.centers(np.array(cell))
        venv.world.reset_bodies("robot", np.array([0]), np.array([[x]]), np.array([[y]]))
        ledger.target[0, 0] = cell
        ledger.carried[0, 0] = carried
        ledger.slot_shelf[0, 0] = 0 if standing else -1
        assert venv.action_mask()["robot"][0, 0, wk.TOGGLE] == expected, cell
        assert venv.action_mask()["robot"][0, 0, :4].all()


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"layout": "huge"}, "layout"),
        ({"map_text": "..x\n.qg"}, "map_text"),
        ({"map_text": "x.g", "n_robots": 4}, "n_robots"),
        ({"difficulty": "extreme"}, "difficulty"),
        ({"reward": "selfish"}, "reward"),
        ({"shaping_pickup": math.nan}, "shaping_pickup"),
    ],
)
def test_bad_configs_name_the_field(override, field):
    with pytest.raises(ScenarioConfigError, match=f"warehouse/shelves-v0: {field}"):
        scenarios.make_vec("warehouse/shelves-v0", num_envs=1, **override)


def test_pickup_shaping_is_paid_once_per_request():
    venv = scenarios.make_vec(
        "warehouse/shelves-v0",
        num_envs=1,
        seed=0,
        n_robots=1,
        shaping_pickup=1.0,
        map_text=ROW_OF_SHELVES,
    )
    venv.reset(seed=0)
    ledger = venv.scenario.ledger
    shelf = int(np.flatnonzero(ledger.requested[0])[0])
    cell = ledger.map.slots[ledger.shelf_slot[0, shelf]]
    x, y = ledger.map.centers(cell)
    venv.world.reset_bodies("robot", np.array([0]), np.array([[x]]), np.array([[y]]))
    ledger.target[0, 0] = cell
    paid = []
    for _ in range(3):  # lift, put down, lift again
        _, rewards, _, _, _ = venv.step({"robot": np.array([[wk.TOGGLE]])})
        paid.append(float(rewards["robot"][0, 0]))
    assert paid == [1.0, 0.0, 0.0]
    assert ledger.carried[0, 0] == shelf
