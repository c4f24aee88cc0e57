"""The end of a vector step in compiled calls: who terminated, which worlds ended, what is
truncated, the dead agents' observations zeroed (``settle``, ``zero_dead``), and the figures of
the episodes that ended, reduced for their records (``figures``).

Done one numpy call at a time (``done &= alive``, ``alive &= ~done``, an ``any`` per group, the
time limit, a ``logical_and`` per group for the truncations, a masked ``copyto`` per group) these
were about twenty small calls per step, each a few microseconds once the physics step has left
the caches cold; here they are two. ``VectorEnv.step`` uses them when the scenario terminates
agents and no group respawns (respawning groups decide who may still act: ``scenarios.respawn``).
"""

from __future__ import annotations

import numpy as np
from numba import literal_unroll

from worlds.kernels import kernel


@kernel
def settle(groups, start, step, max_steps, ended):
    """For each group's ``(done, alive, ended_at, truncated)`` (``(B, N)`` each, in the tuple
    ``groups``): ``done &= alive``; the agents done leave (``alive`` False, ``ended_at`` their
    episode's step count ``step - start[b]``); ``truncated`` is who is still alive in a world
    whose episode reached ``max_steps``. ``ended[b]``: that world's time is up or none of its
    agents is alive. Returns how many agents were done, whether any agent is not alive, and how
    many worlds ended: what ``VectorEnv.step`` computed with numpy, value for value."""
    worlds = start.shape[0]
    for b in range(worlds):
        ended[b] = True  # no agent acting yet: cleared by the first one alive
    done_count, any_dead = 0, False
    for group in literal_unroll(groups):
        done, alive, ended_at, truncated = group
        for b in range(worlds):
            age = step - start[b]
            time_up = age >= max_steps
            for i in range(done.shape[1]):
                live = alive[b, i]
                if live and done[b, i]:
                    alive[b, i] = live = False
                    ended_at[b, i] = age
                    done_count += 1
                else:
                    done[b, i] = False
                if live:
                    ended[b] = False
                else:
                    any_dead = True
                truncated[b, i] = time_up and live
    ended_count = 0
    for b in range(worlds):
        if step - start[b] >= max_steps:
            ended[b] = True
        ended_count += ended[b]
    return done_count, any_dead, ended_count


@kernel
def restart(env_ids, groups, start, step):
    """Worlds ``env_ids`` start new episodes at ``step``: for each group's ``(alive, ended_at)``
    (``(B, N)`` each, in the tuple ``groups``) their agents are alive again and have not
    ended, and ``start[env_ids] = step``. Returns whether any agent of the batch is not alive
    and the earliest episode start: what ``VectorEnv._reset_worlds`` computed with numpy."""
    for k in range(env_ids.shape[0]):
        start[env_ids[k]] = step
    any_dead = False
    for group in literal_unroll(groups):
        alive, ended_at = group
        for k in range(env_ids.shape[0]):
            for i in range(alive.shape[1]):
                alive[env_ids[k], i] = True
                ended_at[env_ids[k], i] = 0
        for b in range(alive.shape[0]):
            for i in range(alive.shape[1]):
                any_dead |= not alive[b, i]
    return any_dead, start.min()


@kernel
def zero_dead(pairs):
    """For each ``(obs, alive)`` of the tuple ``pairs`` (``(B, N, D)`` and ``(B, N)``): the
    rows of agents not alive set to zero (``np.copyto(obs, 0, where=~alive[..., None])``)."""
    for pair in literal_unroll(pairs):
        obs, alive = pair
        zero = obs.dtype.type(0)
        for b in range(obs.shape[0]):
            for i in range(obs.shape[1]):
                if not alive[b, i]:
                    for k in range(obs.shape[2]):
                        obs[b, i, k] = zero


@kernel
def block_sum(row, start, count):
    """The float64 sum of ``row[start : start + count]``, ``count <= 128``, as numpy adds a
    block: in order below eight values, else eight running sums combined pairwise, then the
    rest in order."""
    if count < 8:
        total = 0.0
        for i in range(count):
            total += row[start + i]
        return total
    r = np.empty(8)
    for j in range(8):
        r[j] = row[start + j]
    i, whole = 8, count - count % 8
    while i < whole:
        for j in range(8):
            r[j] += row[start + i + j]
        i += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < count:
        total += row[start + i]
        i += 1
    return total


@kernel
def pairwise_sum(row, start, count):
    """The float64 sum of ``row[start : start + count]`` as numpy's ``add.reduce`` adds a
    contiguous row: blocks of up to 128 (``block_sum``), longer rows split in halves (a multiple
    of eight on the left) and added left + right. The halving runs on a stack of its own
    (numba's disk cache does not keep recursive functions), so records keep numpy's floats."""
    if count <= 128:
        return block_sum(row, start, count)
    starts, counts = np.empty(64, np.int64), np.empty(64, np.int64)
    stages, lefts = np.zeros(64, np.int64), np.empty(64)
    depth, value, returning = 0, 0.0, False
    starts[0], counts[0] = start, count
    while True:
        if returning:
            if depth < 0:
                return value
            if stages[depth] == 1:  # the left half is done: now the right
                lefts[depth], stages[depth] = value, 2
                half = counts[depth] // 2
                half -= half % 8
                starts[depth + 1], counts[depth + 1] = starts[depth] + half, counts[depth] - half
                stages[depth + 1] = 0
                depth += 1
                returning = False
            else:
                value = lefts[depth] + value
                depth -= 1
            continue
        if counts[depth] <= 128:
            value = block_sum(row, starts[depth], counts[depth])
            depth -= 1
            returning = True
            continue
        half = counts[depth] // 2
        half -= half % 8
        stages[depth] = 1
        starts[depth + 1], counts[depth + 1], stages[depth + 1] = starts[depth], half, 0
        depth += 1


MEAN, SUM, MIN, MAX = 0, 1, 2, 3
"""How ``figures`` reduces a world's row (``SUM`` also serves "last": this step's values)."""


@kernel
def figures(columns, env_ids, lengths, out):
    """``out[f, e]``: column ``f`` of the tuple ``columns`` (pairs ``(values (B, K), how)``)
    reduced over world ``env_ids[e]``'s row: ``SUM`` the row's mean (a per-agent total's mean
    over agents), ``MEAN`` that divided by the episode's length ``lengths[e]``, ``MIN`` and
    ``MAX`` the row's least and greatest (a NaN wins). The figures of an episode record in one
    call, equal to ``VectorEnv``'s numpy reductions (``pairwise_sum``)."""
    f = 0
    for column in literal_unroll(columns):
        values, how = column
        width = values.shape[1]
        for e in range(env_ids.shape[0]):
            row = values[env_ids[e]]
            if how >= MIN:
                best = row[0] + 0.0
                for i in range(1, width):
                    value = row[i] + 0.0
                    if np.isnan(value) or (value < best if how == MIN else value > best):
                        best = value
                    if np.isnan(best):
                        break
                out[f, e] = best
            else:
                total = pairwise_sum(row, 0, width) / width
                out[f, e] = total / lengths[e] if how == MEAN else total
        f += 1
