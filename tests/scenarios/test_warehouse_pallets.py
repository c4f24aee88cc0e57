"""warehouse/pallets-v0 by hand: one robot cannot move a pallet and two side by side can, an item
carried alone is delivered once and only by the robot that picked it, the dispatcher's choice
becomes the next request, the baseline far outdelivers random play, and the competitive variant
plays both teams through the PettingZoo API."""

import math

import numpy as np
import pytest
from dict_play import scripted_actions
from pettingzoo.test import parallel_api_test

import scenarios
from scenarios.core import ScenarioConfigError
from scenarios.warehouse import pallets_kernels as pk
from scenarios.warehouse.pallets import HANDLE

ID = "warehouse/pallets-v0"


def place(venv, group, env, xs, ys, angles):
    venv.world.reset_bodies(
        group, np.array([env]), np.array([xs]), np.array([ys]), angle=np.array([angles])
    )


def wheels(venv, rows):
    """Continuous actions ``(B, N, 3)`` from per-world rows of (left, right, handle)."""
    return {"robot": np.array(rows, np.float32)}


def test_one_robot_cannot_move_a_pallet_and_two_side_by_side_can():
    venv = scenarios.make_vec(ID, num_envs=2, seed=0, n_robots=2, n_pallets=1)
    venv.reset(seed=0)
    behind = -0.5 * venv.cfg.pallet_length - 0.5 * venv.cfg.robot_size - 0.01
    for env in (0, 1):
        place(venv, "pallet", env, [0.0], [1.0], [0.0])
    place(venv, "robot", 0, [behind, 5.0], [1.0, -3.0], [0.0, 0.0])  # one behind, centred
    place(venv, "robot", 1, [behind, behind], [0.7, 1.3], [0.0, 0.0])  # two side by side
    pallets, robots = venv.scenario.pallets, venv.scenario.robots
    start = venv.world.groups["pallet"].pos.copy()
    full = [(1.0, 1.0, 0.0)]
    for _ in range(25):  # five seconds at full speed command: the wheels at their grip
        venv.step(wheels(venv, [full + [(0.0, 0.0, 0.0)], full * 2]))
    moved = np.hypot(*(pallets.pos - start).transpose(2, 0, 1))[:, 0]
    assert moved[0] < 0.005  # a few millimetres as the contact settles
    assert abs(pallets.angle[0, 0]) < 0.01
    assert abs(robots.x[0, 0] - behind) < 0.02  # it pushed all along, and got nowhere
    assert moved[1] > 1.0 and pallets.x[1, 0] > 1.0  # two push it east, clearly


def test_pallet_progress_rewards_the_pushers_by_the_metres_gained():
    venv = scenarios.make_vec(ID, num_envs=1, seed=0, n_robots=3, n_pallets=1)
    venv.reset(seed=0)
    ledger, pallets = venv.scenario.ledger, venv.scenario.pallets
    dock = venv.scenario.hall.docks[ledger.pallet_dock[0, 0], :2]
    behind = -0.5 * venv.cfg.pallet_length - 0.5 * venv.cfg.robot_size - 0.01
    place(venv, "pallet", 0, [0.0], [1.0], [0.0])
    place(venv, "robot", 0, [behind, behind, 5.0], [0.7, 1.3, -3.0], [0.0, 0.0, 0.0])
    venv.measure()  # the request's distance to its dock, from here
    before = math.dist((0.0, 1.0), dock)
    progress = np.zeros(3)
    for _ in range(15):  # no item picked up or delivered: the reward is the progress term
        _, rewards, *_ = venv.step(wheels(venv, [[(1, 1, 0), (1, 1, 0), (0, 0, 0)]]))
        progress += rewards["robot"][0]
    gained = before - math.dist((pallets.x[0, 0], pallets.y[0, 0]), dock)
    assert abs(gained) > 0.05
    expected = venv.cfg.shaping_progress * gained
    np.testing.assert_allclose(progress, [expected, expected, 0.0], rtol=1e-4, atol=1e-6)


def drive_to(venv, target, handle_row, steps=200):
    """Drive robot 0 of world 0 to ``target`` by turn-then-go; the other robots act by
    ``handle_row`` (their (left, right, handle)). Returns once it is within 0.15 m and slow."""
    robots = venv.scenario.robots
    for _ in range(steps):
        x, y, angle = robots.x[0, 0], robots.y[0, 0], robots.angle[0, 0]
        gap = math.dist((x, y), target)
        if gap < 0.15 and math.hypot(robots.vx[0, 0], robots.vy[0, 0]) < 0.05:
            return
        error = (math.atan2(target[1] - y, target[0] - x) - angle + math.pi) % (2 * math.pi)
        error -= math.pi
        speed = min(1.0, gap) * max(math.cos(error), 0.0) ** 2
        spin = float(np.clip(2.0 * error, -1, 1))
        venv.step(wheels(venv, [[(speed - spin, speed + spin, 0.0), handle_row]]))
    raise AssertionError("the robot did not reach its target")


def test_an_item_carried_alone_reaches_its_zone_and_counts_once_for_its_carrier():
    venv = scenarios.make_vec(
        ID, num_envs=1, seed=0, n_robots=2, n_pallets=0, n_orders=1, n_pick_spots=1,
        n_drop_zones=1, max_steps=400,
    )  # fmt: skip
    venv.reset(seed=0)
    ledger, hall = venv.scenario.ledger, venv.scenario.hall
    assert ledger.order_state[0, 0] == pk.WAITING  # requested: waiting at the spot
    spot, zone = hall.spots[0], hall.zones[0]
    # Robot 1 waits inside the drop zone, handling all along: it carries nothing to deliver.
    place(venv, "robot", 0, [spot[0] + 2.0, zone[0]], [spot[1], zone[1]], [0.0, 0.0])
    other = (0.0, 0.0, 1.0)
    venv.step(wheels(venv, [[(0, 0, 1), other]]))
    assert ledger.carrying[0, 0] == -1  # 2 m from the spot: nothing to pick up
    drive_to(venv, spot, other)
    _, rewards, *_ = venv.step(wheels(venv, [[(0, 0, 1), other]]))
    assert ledger.carrying[0, 0] == 0 and ledger.order_state[0, 0] == pk.CARRIED
    assert rewards["robot"][0, 0] == pytest.approx(venv.cfg.shaping_pickup)
    _, rewards, *_ = venv.step(wheels(venv, [[(0, 0, 1), other]]))  # not in the zone
    assert ledger.carrying[0, 0] == 0 and rewards["robot"].sum() == 0
    drive_to(venv, zone[:2], other)
    _, rewards, _, _, info = venv.step(wheels(venv, [[(0, 0, 1), other]]))
    assert ledger.carrying[0, 0] == -1 and ledger.order_state[0, 0] == pk.EMPTY
    np.testing.assert_array_equal(rewards["robot"], [[venv.cfg.item_reward, 0.0]])
    delivered_at = int(venv.episode.steps[0])
    venv.step(wheels(venv, [[(0, 0, 0), (0, 0, 0)]]))
    assert ledger.order_state[0, 0] == pk.WAITING  # the next request
    episodes = []
    while not episodes:  # to the episode's end: one delivery in its figures
        episodes = venv.step(wheels(venv, [[(0, 0, 1), other]]))[4]["episodes"]
    figures = episodes[0]["metrics"]
    assert figures["item_deliveries"] == 1 and figures["deliveries"] == 1
    assert figures["latency_s"] == pytest.approx(delivered_at * venv.cfg.dt)
    assert figures["deliveries_per_hour"] == pytest.approx(3600 / (400 * venv.cfg.dt))
    assert 0.9 < figures["path_ratio"] < 1.5
    assert episodes[0]["reward_terms"]["item"] == pytest.approx(venv.cfg.item_reward / 2)


def test_the_dispatchers_choice_becomes_the_next_request():
    venv = scenarios.make_vec(
        ID, num_envs=1, seed=0, adversary=True, n_robots=2, n_pallets=0, n_orders=2
    )
    venv.reset(seed=0)
    ledger, hall = venv.scenario.ledger, venv.scenario.hall
    zones = venv.cfg.n_drop_zones
    busy = set(ledger.order_spot[0].tolist())
    mask = venv.action_mask()["dispatcher"][0, 0].reshape(-1, zones)
    np.testing.assert_array_equal(
        mask.all(axis=1), [s not in busy for s in range(venv.cfg.n_pick_spots)]
    )
    # Robot 0 takes order 0 and delivers it (placed at its spot, then inside its zone).
    spot, zone = hall.spots[ledger.order_spot[0, 0]], hall.zones[ledger.order_zone[0, 0]]
    still = {"robot": np.zeros((1, 2, 3), np.float32), "dispatcher": np.zeros((1, 1), np.int64)}
    still["robot"][0, 0, 2] = 1.0
    place(venv, "robot", 0, [spot[0], 0.0], [spot[1], 0.0], [0.0, 0.0])
    venv.step(still)
    place(venv, "robot", 0, [zone[0], 0.0], [zone[1], 0.0], [0.0, 0.0])
    venv.step(still)
    assert ledger.order_state[0, 0] == pk.EMPTY
    # Ask for the spot that still holds order 1's item, zone 1: the next free spot instead.
    taken = int(ledger.order_spot[0, 1])
    still["dispatcher"][0, 0] = taken * zones + 1
    still["robot"][0, 0, 2] = 0.0
    _, rewards, *_ = venv.step(still)
    assert ledger.order_state[0, 0] == pk.WAITING
    assert ledger.order_spot[0, 0] == (taken + 1) % venv.cfg.n_pick_spots
    assert ledger.order_zone[0, 0] == 1


def deliveries(act, num_envs=4, steps=600, **config):
    venv = scenarios.make_vec(ID, num_envs=num_envs, seed=11, max_steps=steps, **config)
    obs = venv.reset(seed=11)
    items = pallets = 0.0
    for _ in range(steps):
        obs = venv.step(act(venv, obs))[0]
        items += venv.scenario.ledger.items.sum()
        pallets += venv.scenario.ledger.pallets_done.sum()
    return items, pallets


def test_the_baseline_far_outdelivers_random_play():
    policy = {}

    def baseline(venv, obs):
        if venv not in policy:
            policy[venv] = venv.scenario.scripted_policy()
        return policy[venv].act(obs, venv.action_mask())

    rng = np.random.default_rng(0)

    def random(venv, obs):
        return {"robot": rng.uniform(-1, 1, (venv.num_envs, venv.cfg.n_robots, 3))
                .astype(np.float32)}  # fmt: skip

    items, pallets = deliveries(baseline)
    random_items, random_pallets = deliveries(random)
    assert pallets >= 2  # teams of two push pallets into their docks
    assert items + pallets >= 20, (items, pallets)
    assert items + pallets > 10 * max(random_items + random_pallets, 1.0)


def test_the_competitive_variant_plays_both_teams_through_pettingzoo():
    env = scenarios.make(ID, adversary=True, max_steps=300)
    parallel_api_test(env, num_cycles=50)
    assert {"robot_0", "dispatcher_0"} <= set(env.possible_agents)
    policy = env.venv.scenario.scripted_policy()
    assert set(policy.groups) == {"robot", "dispatcher"}
    observations, _ = env.reset(seed=5)
    ledger, weight = env.venv.scenario.ledger, env.venv.cfg.congestion_weight
    denied = 0.0
    while env.agents:
        actions = scripted_actions(env, policy, observations)
        observations, rewards, *_ = env.step(actions)
        errands = ledger.metrics["deliveries"][0]
        expected = -errands + weight * ledger.metrics["contacts"][0]
        assert rewards["dispatcher_0"] == pytest.approx(expected)
        denied += errands
    assert denied >= 3  # the robots delivered: the dispatcher lost that much


def test_the_handling_action_is_masked_where_it_does_nothing():
    venv = scenarios.make_vec(
        ID, num_envs=1, seed=0, continuous_actions=False, n_robots=1, n_pallets=0,
        n_orders=1, n_pick_spots=1, n_drop_zones=1,
    )  # fmt: skip
    venv.reset(seed=0)
    spot = venv.scenario.hall.spots[0]
    place(venv, "robot", 0, [spot[0] + 1.0], [spot[1]], [0.0])
    assert not venv.action_mask()["robot"][0, 0, HANDLE]
    place(venv, "robot", 0, [spot[0] + 0.2], [spot[1]], [0.0])
    assert venv.action_mask()["robot"][0, 0, HANDLE]
    assert venv.action_mask()["robot"][0, 0, :HANDLE].all()
    venv.step({"robot": np.array([[HANDLE]])})
    assert venv.scenario.ledger.carrying[0, 0] == 0
    assert not venv.action_mask()["robot"][0, 0, HANDLE]  # loaded, far from its zone


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"pallet_friction": 0.002}, "pallet_friction"),  # one robot could move a pallet
        ({"n_robots": 1}, "n_robots"),  # nobody to push with
        ({"n_orders": 5}, "n_orders"),  # more than the pick spots
        ({"hall_width": 8.0}, "n_docks"),  # two docks do not fit along the south wall
        ({"reward": "selfish"}, "reward"),
        ({"max_speed": 5.0, "dt": 1.0}, "max_speed"),  # a substep's travel too long
        ({"traction": math.nan}, "traction"),
    ],
)
def test_bad_configs_name_the_field(override, field):
    with pytest.raises(ScenarioConfigError, match=f"{ID}: {field}"):
        scenarios.make_vec(ID, num_envs=1, **override)
