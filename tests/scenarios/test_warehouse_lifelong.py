"""warehouse/lifelong-v0 by hand: the maps, errands that are real (a completion is a settle at the
pick, then at the drop, by one robot), a stream of errands that is the world's own, the greedy
scheduler and the scheduler agents' choices, the deadlock and contact figures, and the PIBT
baseline: a simulated hour of 64 robots without a deadlock, far above random play."""

import math
import time

import numpy as np
import pytest

import scenarios
from scenarios.core import ScenarioConfigError
from scenarios.warehouse import lifelong_kernels as lk
from scenarios.warehouse.kernels import FORWARD, NOOP
from scenarios.warehouse.lifelong_common import floor_connected
from scenarios.warehouse.maps import LIFELONG_SIZES, lifelong_preset

ID = "warehouse/lifelong-v0"
CORRIDOR = "x......g/.#####../x......g"  # 3 x 8: a rack in the middle row


def place(venv, cells, headings, b=0):
    """Put world b's robots on grid ``cells`` ``(N, 2)`` facing ``headings``, at rest, with
    their grid targets there."""
    scenario, book = venv.scenario, venv.scenario.book
    cells = np.asarray(cells)
    headings = np.asarray(headings)
    x, y = scenario.map.centers(cells).T
    angle = headings * (0.5 * math.pi)
    venv.world.reset_bodies("robot", np.array([b]), x[None], y[None], angle=angle[None])
    book.target[b], book.heading[b] = cells, headings
    book.rows[b], book.cols[b] = cells[:, 0], cells[:, 1]
    book.last_x[b], book.last_y[b] = x, y
    book.still_steps[b] = 0
    if not venv.cfg.continuous_actions:
        command = scenario.robots.command
        command[b, :, 0], command[b, :, 1], command[b, :, 2] = x, y, angle


def give(venv, robot, pick, drop, b=0, slot=0):
    """Hand errand slot ``slot`` (pick and drop cells) to ``robot``, phase 0; every other errand
    waits and every other robot is idle."""
    book = venv.scenario.book
    index = {tuple(c): k for k, c in enumerate(book.endpoints.tolist())}
    book.pick[b, slot], book.drop[b, slot] = index[pick], index[drop]
    book.errand[b], book.assignee[b] = -1, -1
    book.assignee[b, slot] = robot
    book.errand[b, robot], book.phase[b, robot] = slot, 0


# --- maps -------------------------------------------------------------------------------------


def test_presets_are_larger_warehouses_with_endpoints_by_the_racks():
    small, large = (lifelong_preset(name) for name in ("warehouse-small", "warehouse-large"))
    assert small.shape == (29, 52) and large.shape == (63, 106)
    assert set(LIFELONG_SIZES) == {"warehouse-small", "warehouse-large"}
    for warehouse in (small, large):
        assert floor_connected(warehouse.floor)
        racks = ~warehouse.floor
        for row, col in warehouse.slots.tolist():  # every endpoint touches a rack above or below
            assert racks[row - 1, col] or racks[row + 1, col]
        assert set(warehouse.goals[:, 1].tolist()) == {0, warehouse.shape[1] - 1}
    assert len(small.slots) == 720 and len(small.goals) == 18


def test_a_text_map_is_the_world():
    venv = scenarios.make_vec(ID, num_envs=1, seed=0, n_robots=2, map_text=CORRIDOR)
    venv.reset(seed=0)
    assert venv.scenario.map.shape == (3, 8)
    assert venv.world.width == 8.0 and venv.world.height == 3.0
    # endpoints: the four x and g cells; "stations" errands go from an x to a g
    book = venv.scenario.book
    picks = {tuple(c) for c in book.endpoints[book.pick[0]].tolist()}
    drops = {tuple(c) for c in book.endpoints[book.drop[0]].tolist()}
    assert picks <= {(0, 0), (2, 0)} and drops <= {(0, 7), (2, 7)}


# --- errands ----------------------------------------------------------------------------------


def check_open_errands(book, errands):
    for b in range(book.pick.shape[0]):
        held = book.assignee[b][book.assignee[b] >= 0]
        busy = np.flatnonzero(book.errand[b] >= 0)
        assert sorted(held.tolist()) == busy.tolist()  # one errand per busy robot, and back
        assert (book.assignee[b, book.errand[b, busy]] == busy).all()
        assert book.pick.shape[1] == errands
        assert np.isin(book.pick[b], book.pick_set).all()
        assert np.isin(book.drop[b], book.drop_set).all()


def test_every_completion_is_a_settle_at_the_pick_then_at_the_drop():
    venv = scenarios.make_vec(ID, num_envs=2, seed=5, max_steps=1000)  # no reset inside
    policy = venv.scenario.scripted_policy()
    book, robots, cfg = venv.scenario.book, venv.scenario.robots, venv.cfg
    obs = venv.reset(seed=5)
    picked_serial = {}
    completions = picks = 0
    for _ in range(400):
        errand, phase, serial = book.errand.copy(), book.phase.copy(), book.serial.copy()
        pick, drop = book.pick.copy(), book.drop.copy()
        obs, rewards, *_ = venv.step(policy.act(obs))
        check_open_errands(book, cfg.errands)
        speed = np.hypot(robots.vx, robots.vy)
        for kind, flags in (("pick", book.picked), ("drop", book.completed)):
            for b, n in np.argwhere(flags > 0).tolist():
                e = errand[b, n]
                assert e >= 0 and phase[b, n] == (kind == "drop")
                cell = book.endpoints[(pick if kind == "pick" else drop)[b, e]]
                x, y = venv.scenario.map.centers(cell)
                assert math.hypot(robots.x[b, n] - x, robots.y[b, n] - y) < cfg.settle
                assert speed[b, n] < cfg.settle / cfg.dt
                if kind == "pick":
                    picked_serial[(b, n)] = serial[b, e]
                    picks += 1
                else:  # the same robot picked this very errand before
                    assert picked_serial.pop((b, n)) == serial[b, e]
                    assert book.serial[b, e] > serial[b].max()  # its slot holds a new errand
                    assert rewards["robot"][b, n] == 1.0
                    completions += 1
        assert rewards["robot"].sum() == book.completed.sum()
    assert completions >= 100 and picks >= completions, (completions, picks)


def errand_stream(num_envs, seed, steps, policy="baseline"):
    """World 0's errands by stream number: {serial: (pick, drop)}."""
    venv = scenarios.make_vec(ID, num_envs=num_envs, seed=seed, max_steps=1000)
    book = venv.scenario.book
    rng = np.random.default_rng(1)
    act = venv.scenario.scripted_policy().act
    if policy == "random":

        def act(obs):
            return {"robot": rng.integers(0, 4, (num_envs, venv.cfg.n_robots))}

    obs = venv.reset(seed=seed)
    seen = {}
    for _ in range(steps):
        for e in range(book.pick.shape[1]):
            seen[int(book.serial[0, e])] = (int(book.pick[0, e]), int(book.drop[0, e]))
        obs = venv.step(act(obs))[0]
    return seen


def test_the_stream_is_the_worlds_own():
    alone = errand_stream(1, 7, 200)
    crowd = errand_stream(4, 7, 200)
    assert len(alone) > 40
    assert alone == crowd  # the same errands whatever runs beside world 0
    # A pure function of the world's key and the errand's number: random play that completes
    # nothing sees the first errands of the same stream.
    idle = errand_stream(1, 7, 5, policy="random")
    assert all(alone[k] == v for k, v in idle.items())
    other = errand_stream(1, 8, 5)
    assert sum(other[k] != alone[k] for k in other) > len(other) // 2


# --- schedulers -------------------------------------------------------------------------------


def test_the_greedy_scheduler_takes_the_nearest_pair_first():
    venv = scenarios.make_vec(ID, num_envs=1, seed=0, n_robots=2, map_text=CORRIDOR)
    venv.reset(seed=0)
    book = venv.scenario.book
    index = {tuple(c): k for k, c in enumerate(book.endpoints.tolist())}
    # Robot 0 at (0, 3): 3 moves from pick A (0, 0), 6 from B (2, 7). Robot 1 at (1, 0): 1 move
    # from A, 8 from B. Robots in index order would pair 0-A, 1-B (11 moves); nearest pair first
    # pairs 1-A (1 move), then 0-B (6).
    place(venv, [(0, 3), (1, 0)], [0, 0])
    book.errand[0], book.assignee[0] = -1, -1
    book.pick[0] = index[(2, 7)]
    book.pick[0, 0] = index[(0, 0)]
    lk.assign_greedy(
        np.array([0]), book.rows, book.cols, book.books, book.ends, book.unreachable,
        book.odometer,
    )  # fmt: skip
    assert book.errand[0].tolist() == [1, 0]
    assert book.assignee[0].tolist() == [1, 0, -1]
    way_to_drop = book.dist[book.drop[0, 1], 2 * 8 + 7]
    assert book.shortest[0].tolist() == [6 + way_to_drop, 1 + book.dist[book.drop[0, 0], 0]]


def test_scheduler_agents_choose_among_their_nearest_errands():
    venv = scenarios.make_vec(
        ID, num_envs=1, seed=0, learn="scheduler", n_robots=2, map_text=CORRIDOR
    )
    venv.reset(seed=0)
    book, layout = venv.scenario.book, venv.scenario.layout
    index = {tuple(c): k for k, c in enumerate(book.endpoints.tolist())}
    assert venv.groups["robot"].action_space.n == venv.cfg.k_options + 1
    place(venv, [(0, 3), (1, 0)], [0, 0])
    book.errand[0], book.assignee[0] = -1, -1
    book.pick[0] = [index[(0, 0)], index[(2, 0)], index[(2, 7)]]
    obs = venv.step({"robot": np.zeros((1, 2), np.int64)})[0]  # wait: options are sensed
    assert (book.errand[0] < 0).all()  # the env gives nobody an errand
    valid = layout.read_valid(obs["robot"], "options")[0]
    rows = layout.read(obs["robot"], "options")[0]
    np.testing.assert_array_equal(valid, [[1, 1, 1, 0], [1, 1, 1, 0]])
    np.testing.assert_array_equal(rows[0, :, 2], [3, 5, 6, 0])  # metres to each pick, nearest first
    np.testing.assert_array_equal(rows[1, :, 2], [1, 1, 8, 0])
    np.testing.assert_array_equal(book.options[0], [[0, 1, 2, -1], [0, 1, 2, -1]])
    np.testing.assert_array_equal(venv.action_mask()["robot"][0, :, 1:], valid > 0)
    # both take their first option, errand 0: the nearer, robot 1, gets it
    venv.step({"robot": np.array([[1, 1]])})
    assert book.errand[0].tolist() == [-1, 0] and book.assignee[0].tolist() == [1, -1, -1]
    assert venv.action_mask()["robot"][0, 1].tolist() == [True, False, False, False, False]
    venv.step({"robot": np.array([[1, 0]])})  # robot 0's first option is now errand 1
    assert book.errand[0].tolist() == [1, 0]


# --- figures ----------------------------------------------------------------------------------


def test_a_still_robot_with_an_errand_counts_as_deadlocked():
    venv = scenarios.make_vec(
        ID, num_envs=1, seed=0, n_robots=1, map_text=CORRIDOR, stuck_seconds=2.0
    )
    venv.reset(seed=0)
    place(venv, [(1, 7)], [2])
    give(venv, 0, (0, 0), (0, 7))
    counts = []
    for _ in range(7):
        venv.step({"robot": np.array([[NOOP]])})
        counts.append(venv.scenario.book.metrics["deadlocks"][0])
    assert counts == [0, 0, 0, 0, 1, 1, 1]  # 5 steps of 0.4 s: still for 2 s


def test_a_swap_is_a_wait_cycle_and_a_crash_a_contact():
    venv = scenarios.make_vec(
        ID, num_envs=1, seed=0, n_robots=2, map_text=CORRIDOR, collision_penalty=0.5
    )
    venv.reset(seed=0)
    place(venv, [(0, 2), (0, 3)], [0, 2])  # face to face in the top row
    book = venv.scenario.book
    contacts, penalties = 0, 0.0
    for step in range(5):
        action = FORWARD if step == 0 else NOOP
        _, rewards, *_ = venv.step({"robot": np.full((1, 2), action)})
        assert book.metrics["wait_cycles"][0] == 2  # each wants the cell the other stands in
        contacts += book.metrics["contacts"][0]
        penalties += rewards["robot"].sum()
    assert contacts >= 2 and penalties == pytest.approx(-0.5 * contacts)


def test_the_observation_points_the_way():
    venv = scenarios.make_vec(ID, num_envs=1, seed=0, n_robots=1, map_text=CORRIDOR)
    venv.reset(seed=0)
    place(venv, [(1, 7)], [1])  # east end of the middle row, facing north
    give(venv, 0, (2, 0), (0, 7))
    book = venv.scenario.book
    book.pick[0, 1] = len(book.endpoints) - 2  # a waiting errand picks at the station (0, 7)
    obs = venv.step({"robot": np.array([[NOOP]])})[0]
    layout = venv.scenario.layout
    target = layout.read(obs["robot"], "target")[0, 0]
    # The pick (2, 0) is 1 m south (behind) and 7 m west (left); the way there is 8 moves (down
    # the east end, along the bottom row). A first move west or south both take one move off;
    # the robot's own heading, then left, is tried first: west, to its left.
    np.testing.assert_allclose(target, [-1, 7, 8, 0, 1, 1, 0], atol=1e-5)
    view = layout.read(obs["robot"], "view")[0, 0].reshape(-1, len(lk.CHANNELS))
    side = 2 * venv.cfg.view_radius + 1
    channel = {name: view[:, i] for i, name in enumerate(lk.CHANNELS)}
    assert channel["blocked"][(side // 2) * side + side // 2] == 0.0  # its own cell
    # floor in view: rows 0-2 x cols 4-7 but the rack's (1, 4) and (1, 5)
    assert channel["blocked"].sum() == side * side - (3 * 4 - 2)
    ahead, behind = 2 * side + 3, 4 * side + 3  # (0, 7) and (2, 7), the robot facing north
    assert np.flatnonzero(channel["station"]).tolist() == [ahead, behind]
    assert np.flatnonzero(channel["open_errand"]).tolist() == [ahead]
    assert channel["robot"].sum() == 0 and channel["target"].sum() == 0  # the pick is far


# --- the baseline -----------------------------------------------------------------------------


def test_the_pibt_baseline_runs_an_hour_of_64_robots_without_deadlock():
    steps = round(3600 / 0.4)
    venv = scenarios.make_vec(ID, num_envs=1, seed=0, n_robots=64, max_steps=steps)
    policy = venv.scenario.scripted_policy()
    book, cfg = venv.scenario.book, venv.cfg
    obs = venv.reset(seed=0)
    longest_wait, planning = 0, 0.0
    for _ in range(steps):
        start = time.perf_counter()
        actions = policy.act(obs)
        planning += time.perf_counter() - start
        obs, _, _, _, info = venv.step(actions)
        busy = book.errand >= 0
        longest_wait = max(longest_wait, int((book.still_steps * busy).max()))
        assert not book.in_cycle.any()
    figures = info["episodes"][0]["metrics"]
    print(
        f"\n64 robots, one hour: {figures['deliveries_per_hour']:.0f} deliveries per hour, "
        f"throughput {figures['throughput']:.3f} per step, latency {figures['latency_s']:.1f} s, "
        f"path ratio {figures['path_ratio']:.3f}, longest wait with an errand "
        f"{longest_wait * cfg.dt:.1f} s, planner {planning / steps * 1e3:.2f} ms per decision"
    )
    assert figures["deadlocks"] == 0 and figures["wait_cycles"] == 0
    assert longest_wait * cfg.dt < cfg.stuck_seconds
    assert figures["deliveries_per_hour"] > 5000 and figures["throughput"] > 0.5
    assert figures["path_ratio"] < 1.3


def test_prioritized_planning_drives_the_fleet_too():
    """The second motion baseline: space-time A* against a reservation table (windowed), 64
    robots for 600 steps: a steady stream of errands, no deadlock, no wait-for cycle."""
    from scenarios.warehouse.lifelong_baseline import LifelongPlanner

    venv = scenarios.make_vec(ID, num_envs=1, seed=0, n_robots=64, max_steps=600)
    policy = LifelongPlanner(venv.scenario, motion="prioritized")
    obs = venv.reset(seed=0)
    for _ in range(600):
        obs, _, _, _, info = venv.step(policy.act(obs))
        assert not venv.scenario.book.in_cycle.any()
    figures = info["episodes"][0]["metrics"]
    assert figures["deadlocks"] == 0 and figures["wait_cycles"] == 0
    assert figures["throughput"] > 0.5, figures
    with pytest.raises(ValueError, match="motion must be pibt or prioritized"):
        LifelongPlanner(venv.scenario, motion="astar").act(obs)


def completions(venv, act, steps):
    obs, total = venv.reset(seed=11), 0.0
    for _ in range(steps):
        obs, rewards, *_ = venv.step(act(obs, venv.action_mask()))
        total += rewards["robot"].sum()
    return total


@pytest.mark.parametrize("config", [{}, {"continuous_actions": True}, {"learn": "scheduler"}])
def test_the_baseline_far_outdoes_random_play(config):
    """Random motion completes almost nothing. A random scheduler (the env drives) does nearly
    as well as the nearest-first baseline, whose options are already the nearest errands
    (136 against 131 here): that mode's baseline is only checked to complete steadily."""
    venv = scenarios.make_vec(ID, num_envs=2, seed=11, max_steps=300, **config)
    planned = completions(venv, venv.scenario.scripted_policy().act, 300)
    rng = np.random.default_rng(0)
    space = venv.groups["robot"].action_space

    def random_policy(obs, mask):
        if mask is not None:
            return {"robot": (rng.random(mask["robot"].shape) * mask["robot"]).argmax(-1)}
        if hasattr(space, "n"):
            return {"robot": rng.integers(0, space.n, (2, venv.cfg.n_robots))}
        return {"robot": rng.uniform(-1, 1, (2, venv.cfg.n_robots, 2)).astype(np.float32)}

    random = completions(venv, random_policy, 300)
    assert planned >= 80, planned
    if "learn" not in config:
        assert planned > 10 * max(random, 1.0), (planned, random)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"layout": "huge"}, "layout"),
        ({"map_text": "x.q/..g"}, "map_text"),
        ({"map_text": "x#g/.#."}, "map_text"),  # two floors that never meet
        ({"map_text": "x.g", "n_robots": 4}, "n_robots"),
        ({"map_text": "x.g", "stream": "random"}, "stream"),
        ({"stream": "sometimes"}, "stream"),
        ({"learn": "everything"}, "learn"),
        ({"learn": "scheduler", "continuous_actions": True}, "continuous_actions"),
        ({"reward": "selfish"}, "reward"),
        ({"shaping_progress": math.nan}, "shaping_progress"),
    ],
)
def test_bad_configs_name_the_field(override, field):
    with pytest.raises(ScenarioConfigError, match=f"{ID}: {field}"):
        scenarios.make_vec(ID, num_envs=1, **override)
