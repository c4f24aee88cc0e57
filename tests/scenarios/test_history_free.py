"""A world carries nothing of its past: reset with a seed, restart under auto-reset, or sit in a
batch of any size, and the same seed and actions give the same trajectory, bit for bit.

Each test runs every registered scenario through real contacts (random full-thrust actions in
small arenas bump drones into each other and into walls), because the memory these tests guard
against lives in the physics solver (bias velocities, warm-started contact impulses, broadphase
order) and shows only after bodies touch.
"""

from __future__ import annotations

import numpy as np
import pytest
from dict_play import JOINS

import scenarios

IDS = scenarios.registry_ids()
SHORT = {"max_steps": 24}
# Scenarios whose bodies need a denser start (or another controller) to touch under random
# actions within the test, and
# whose agents must leave and new ones join within its short episodes (re-entry after 5 steps).
CROWDED = {
    "traffic/intersection-v0": JOINS["traffic/intersection-v0"],
    # The learned car's speed controller without FollowerStopper: random "faster" hits a leader.
    "traffic/ring-v0": {"controller": "speed"},
    "traffic/merge-v0": {
        "reentry_seconds": 0.5,
        "time_headway": 0.1,
        "initial_speed": 30.0,
        "spacing": 8.0,
        "dt": 0.25,
    },
}


def short(scenario_id: str) -> dict:
    return {**SHORT, **CROWDED.get(scenario_id, {})}


def sample(space, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if hasattr(space, "n"):
        return rng.integers(0, space.n, shape)
    return rng.uniform(-1.0, 1.0, shape + space.shape).astype(np.float32)


def batch_actions(venv, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        g: sample(s.action_space, (venv.num_envs, s.n_agents), rng) for g, s in venv.groups.items()
    }


def snapshot(obs, rew=None, terminated=None, truncated=None) -> list[bytes]:
    parts = [obs[g].tobytes() for g in sorted(obs)]
    for values in (rew, terminated, truncated):
        if values is not None:
            parts += [values[g].tobytes() for g in sorted(values)]
    return parts


@pytest.mark.parametrize("scenario_id", IDS)
def test_reset_with_a_seed_forgets_everything_the_env_did_before(scenario_id):
    used = scenarios.make_vec(scenario_id, num_envs=4, seed=0, **short(scenario_id))
    used.reset()
    past = np.random.default_rng(1)
    for step in range(200):  # a reset in the middle, then on until bodies touch
        if step == 17:
            used.reset(seed=5)
        used.step(batch_actions(used, past))
        if step > 30 and used.world._touching_rows()[:-1].any():
            break
    # The physics keeps memory only of contacts in the last step: there must be some.
    assert used.world._touching_rows()[:-1].any()

    fresh = scenarios.make_vec(scenario_id, num_envs=4, seed=123, **short(scenario_id))
    assert snapshot(used.reset(seed=42)) == snapshot(fresh.reset(seed=42))
    rng_used, rng_fresh = np.random.default_rng(7), np.random.default_rng(7)
    episodes_used, episodes_fresh = [], []
    for _ in range(60):  # more than two episodes of every world
        a = used.step(batch_actions(used, rng_used))
        b = fresh.step(batch_actions(fresh, rng_fresh))
        assert snapshot(*a[:4]) == snapshot(*b[:4])
        episodes_used += a[4]["episodes"]
        episodes_fresh += b[4]["episodes"]
    assert len(episodes_used) >= 8
    assert repr(episodes_used) == repr(episodes_fresh)  # NaN metrics compare as text


def agreed_actions(venv, episode: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
    """Actions of world w at step t of its episode e, the same in every run (a function of
    (w, e, t) only)."""
    rows = [np.random.default_rng([w, int(episode[w]), int(t[w])]) for w in range(venv.num_envs)]
    return {
        g: np.stack([sample(s.action_space, (s.n_agents,), rng) for rng in rows])
        for g, s in venv.groups.items()
    }


def world_episodes(venv, steps: int, chaos_rng, *, random_first: bool, worlds=None):
    """Run ``venv``; record every world's finished episodes as lists of per-step snapshots.
    Worlds in ``worlds`` (default all) play ``agreed_actions``, except in their first episode
    when ``random_first``; the others, and those first episodes, play random actions from
    ``chaos_rng``."""
    b = venv.num_envs
    worlds = range(b) if worlds is None else worlds
    episode, t = np.zeros(b, int), np.zeros(b, int)
    records: dict[tuple[int, int], list] = {}
    obs = venv.reset()
    for w in range(b):
        records[(w, 0)] = [[obs[g][w].tobytes() for g in sorted(obs)]]
    for _ in range(steps):
        actions = agreed_actions(venv, episode, t)
        chaotic = [w for w in range(b) if w not in worlds or (random_first and episode[w] == 0)]
        if chaotic:
            chaos = batch_actions(venv, chaos_rng)
            for g in actions:
                actions[g][chaotic] = chaos[g][chaotic]
        obs, rew, terminated, truncated, info = venv.step(actions)
        ended = {e["env_id"] for e in info["episodes"]}
        for w in range(b):
            last = info["final_obs"] if w in ended else obs
            row = [last[g][w].tobytes() for g in sorted(obs)]
            row += [v[g][w].tobytes() for v in (rew, terminated, truncated) for g in sorted(v)]
            records[(w, int(episode[w]))].append(row)
            t[w] += 1
            if w in ended:
                records[(w, int(episode[w]))].append("end")
                episode[w] += 1
                t[w] = 0
                records[(w, int(episode[w]))] = [[obs[g][w].tobytes() for g in sorted(obs)]]
    return {key: rows for key, rows in records.items() if rows[-1] == "end"}


@pytest.mark.parametrize("scenario_id", IDS)
def test_a_restarting_world_carries_nothing_of_its_last_episode(scenario_id):
    # Two runs whose first episodes differ in every world (other actions, so other contacts,
    # other lengths where agents can be captured), then the same actions per world and step.
    runs = [
        world_episodes(
            scenarios.make_vec(scenario_id, num_envs=3, seed=9, **short(scenario_id)),
            110,
            np.random.default_rng(seed),
            random_first=True,
        )
        for seed in (1, 2)
    ]
    first = [w for w in range(3) if runs[0][(w, 0)] != runs[1][(w, 0)]]
    assert first == [0, 1, 2], "the first episodes must differ for the test to mean anything"
    later = sorted(k for k in set(runs[0]) & set(runs[1]) if k[1] >= 1)
    assert len(later) >= 6  # at least two later episodes per world
    for key in later:
        assert runs[0][key] == runs[1][key], f"world {key[0]}, episode {key[1]}"


@pytest.mark.parametrize("scenario_id", IDS)
def test_a_world_does_not_depend_on_how_many_worlds_run_beside_it(scenario_id):
    alone = world_episodes(
        scenarios.make_vec(scenario_id, num_envs=1, seed=4, **short(scenario_id)),
        90,
        None,
        random_first=False,
    )
    crowd = world_episodes(
        scenarios.make_vec(scenario_id, num_envs=6, seed=4, **short(scenario_id)),
        90,
        np.random.default_rng(3),  # the other worlds act at random all along
        random_first=False,
        worlds={0},
    )
    episodes = sorted(k for k in alone if k[0] == 0)
    assert len(episodes) >= 3
    for key in episodes:
        assert alone[key] == crowd[key], f"episode {key[1]}"


@pytest.mark.parametrize("scenario_id", IDS)
def test_the_pettingzoo_env_replays_world_zero_of_the_vector_env(scenario_id):
    env = scenarios.make(scenario_id, **short(scenario_id))
    venv = scenarios.make_vec(scenario_id, num_envs=5, seed=0, **short(scenario_id))
    observations, _ = env.reset(seed=11)
    obs = venv.reset(seed=11)
    rng = np.random.default_rng(0)
    steps, first = 0, set(env.agents)
    joined = set()  # agents that joined in slots of respawning groups
    while env.agents:
        actions = batch_actions(venv, rng)
        joint = {}
        for agent in env.agents:  # slots of respawning groups host agents of several names
            group, i = env.slot_of(agent)
            value = actions[group][0, i]
            joint[agent] = int(value) if np.ndim(value) == 0 else value
            np.testing.assert_array_equal(observations[agent], obs[group][0, i])
        observations, rewards, *_ = env.step(joint)
        obs, rew, terminated, truncated, info = venv.step(actions)
        if info["episodes"] and info["episodes"][0]["env_id"] == 0:
            obs = info["final_obs"]
        for agent, value in rewards.items():
            group, i = env.slot_of(agent)
            assert value == rew[group][0, i]
        joined |= set(observations) - first
        steps += 1
    assert steps >= 5
    assert bool(joined) == (scenario_id in JOINS), "new agents joined, or none did"
