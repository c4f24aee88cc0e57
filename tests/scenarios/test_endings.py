"""The compiled end of a step (``scenarios.endings``) equals the numpy it replaced, value for
value, on random groups; and a vector env that terminates agents gives the same steps through
it as through the numpy path."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import scenarios
from scenarios.endings import (
    MAX,
    MEAN,
    MIN,
    SUM,
    figures,
    pairwise_sum,
    restart,
    settle,
    zero_dead,
)


def settle_reference(groups, start, step, max_steps):
    """The numpy that ``VectorEnv.step`` ran before ``settle`` (its ``_settle_in_numpy``)."""
    time_up = step - start >= max_steps
    done_count, acting = 0, []
    for done, alive, ended_at, truncated in groups:
        done &= alive
        done_count += int(done.sum())
        alive &= ~done
        env_ids, agent_ids = np.nonzero(done)
        ended_at[env_ids, agent_ids] = step - start[env_ids]
        acting.append(alive.any(axis=1))
        np.logical_and(time_up[:, None], alive, out=truncated)
    ended = time_up | ~np.logical_or.reduce(acting)
    any_dead = not all(alive.all() for _, alive, _, _ in groups)
    return done_count, any_dead, ended


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.lists(st.integers(1, 5), min_size=1,
       max_size=3))  # fmt: skip
def test_restart_equals_numpy(seed, worlds, agents):
    """``restart`` equals the numpy ``VectorEnv._reset_worlds`` ran: the worlds' agents alive
    and not ended, their start the step, whether anyone is dead and the earliest start."""
    rng = np.random.default_rng(seed)
    step = int(rng.integers(0, 50))
    env_ids = np.flatnonzero(rng.random(worlds) < 0.5).astype(np.int64)
    ours = [(rng.random((worlds, n)) < 0.6, rng.integers(0, 9, (worlds, n))) for n in agents]
    theirs = [tuple(a.copy() for a in group) for group in ours]
    start = rng.integers(0, step + 1, worlds)
    start_reference = start.copy()
    dead, first = restart(env_ids, tuple(ours), start, step)
    for alive, ended_at in theirs:
        alive[env_ids] = True
        ended_at[env_ids] = 0
    start_reference[env_ids] = step
    assert dead == (not all(alive.all() for alive, _ in theirs))
    assert first == start_reference.min()
    np.testing.assert_array_equal(start, start_reference)
    for mine, reference in zip(ours, theirs, strict=True):
        for a, b in zip(mine, reference, strict=True):
            np.testing.assert_array_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.lists(st.integers(1, 5), min_size=1,
       max_size=3), st.integers(1, 9))  # fmt: skip
def test_settle_equals_numpy(seed, worlds, agents, max_steps):
    rng = np.random.default_rng(seed)
    step = int(rng.integers(0, 3 * max_steps))
    start = rng.integers(0, step + 1, worlds)

    def groups():
        made = []
        for n in agents:
            made.append((
                rng.random((worlds, n)) < 0.3,  # done
                rng.random((worlds, n)) < 0.7,  # alive
                rng.integers(0, 9, (worlds, n)),  # ended_at
                rng.random((worlds, n)) < 0.5,  # truncated
            ))  # fmt: skip
        return made

    ours = groups()
    theirs = [tuple(a.copy() for a in g) for g in ours]
    ended = np.zeros(worlds, bool)
    count, dead, ended_count = settle(tuple(ours), start, step, max_steps, ended)
    want_count, want_dead, want_ended = settle_reference(theirs, start, step, max_steps)
    assert (count, dead, ended_count) == (want_count, want_dead, int(want_ended.sum()))
    np.testing.assert_array_equal(ended, want_ended)
    for mine, reference in zip(ours, theirs, strict=True):
        for a, b in zip(mine, reference, strict=True):
            np.testing.assert_array_equal(a, b)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.integers(1, 5), st.integers(1, 6))
def test_zero_dead_equals_masked_copy(seed, worlds, n, size):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(worlds, n, size)).astype(np.float32)
    alive = rng.random((worlds, n)) < 0.5
    expected = obs.copy()
    np.copyto(expected, 0.0, where=~alive[..., None])
    zero_dead(((obs, alive), (obs[:, :, ::2], np.ones((worlds, n), bool))))
    np.testing.assert_array_equal(obs, expected)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 700), st.sampled_from(["f8", "f4", "?"]))
def test_pairwise_sum_equals_numpy_bit_for_bit(seed, width, dtype):
    """numpy's pairwise float64 sum of a row, blocks and halves included (past 128 values)."""
    rng = np.random.default_rng(seed)
    rows = (rng.normal(size=(2, width)) * 10 ** rng.uniform(-4, 4, (2, width))).astype(dtype)
    expected = np.add.reduce(rows, axis=1, dtype=np.float64)
    assert [pairwise_sum(row, 0, width) for row in rows] == expected.tolist()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(1, 40), st.booleans())
def test_figures_equal_the_numpy_reductions(seed, worlds, width, with_nan):
    """Each kind of figure of the ended worlds equals the numpy the records used before."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(worlds, width))
    if with_nan:
        values[rng.random(values.shape) < 0.2] = np.nan
    env_ids = np.flatnonzero(rng.random(worlds) < 0.6)
    lengths = rng.integers(1, 50, len(env_ids))
    columns = ((values, MEAN), (values, SUM), (values.astype(np.float32), MIN), (values, MAX))
    out = np.empty((4, len(env_ids)))
    figures(columns, env_ids, lengths, out)
    rows = values[env_ids]
    mean = np.add.reduce(rows, axis=1, dtype=np.float64) / width
    expected = [mean / lengths, mean, np.minimum.reduce(rows.astype(np.float32), axis=1),
                np.maximum.reduce(rows, axis=1)]  # fmt: skip
    for got, want in zip(out, expected, strict=True):
        np.testing.assert_array_equal(got, np.asarray(want, np.float64))


def test_pursuit_steps_equal_through_the_numpy_path():
    """Two pursuit batches, one settling each step in numpy: the same observations, rewards,
    terminations, truncations and episode records over enough steps for captures and resets."""
    fast = scenarios.make_vec("swarm/pursuit-v0", num_envs=6, seed=3, n_pursuers=6, max_steps=20)
    slow = scenarios.make_vec("swarm/pursuit-v0", num_envs=6, seed=3, n_pursuers=6, max_steps=20)
    slow._settle = lambda terminated: slow._settle_in_numpy(terminated, None)
    fast.reset(), slow.reset()
    rng, captures, ends = np.random.default_rng(0), 0, 0
    for _ in range(120):
        actions = {g: rng.integers(0, 5, (6, s.n_agents)) for g, s in fast.groups.items()}
        a, b = fast.step(actions), slow.step({g: v.copy() for g, v in actions.items()})
        for one, other in zip(a[:4], b[:4], strict=True):
            for group in one:
                np.testing.assert_array_equal(one[group], other[group])
        assert repr(a[4]["episodes"]) == repr(b[4]["episodes"])  # NaN figures too
        captures += int(a[2]["evader"].sum())
        ends += len(a[4]["episodes"])
    assert captures > 5 and ends > 5  # the path under test ran: agents left, worlds ended
