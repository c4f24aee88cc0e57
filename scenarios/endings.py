"""The end of a vector step in compiled calls: who terminated, which worlds ended, what is
truncated, and the dead agents' observations zeroed.

Done one numpy call at a time (``done &= alive``, ``alive &= ~done``, an ``any`` per group, the
time limit, a ``logical_and`` per group for the truncations, a masked ``copyto`` per group) these
were about twenty small calls per step, each a few microseconds once the physics step has left
the caches cold; here they are two. ``VectorEnv.step`` uses them when the scenario terminates
agents and no group respawns (respawning groups decide who may still act: ``scenarios.respawn``).
"""

from __future__ import annotations

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
