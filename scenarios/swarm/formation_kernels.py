"""Compiled stage of ``swarm/formation-v0``: every drone's neighbours block (offsets, relative
velocities and slot offsets of its nearest drones) in one pass. It follows ``worlds.kernels``'
conventions (float32 as the numpy it replaced computes, world by world, caller-owned outputs)."""

from __future__ import annotations

import numpy as np

from worlds.kernels import kernel


@kernel
def observe_neighbours(near, alive, use_alive, slots, layout, obs):
    """Into ``obs`` ``(B, N, size)`` from ``layout = (start, flags, found)``: for each of the
    first ``found`` nearest drones ``near = (index, offset, velocity, mask)`` ``(B, N, k)``,
    ``dx, dy, dvx, dvy`` and the slot offset ``slots[j] - slots[i]`` (complex64 ``(B, N)``),
    and its flag: the neighbour's ``alive`` when ``use_alive`` (zeros for a dropped one), else
    ``mask``."""
    index, offset, velocity, mask = near
    start, valid, found = layout[0], layout[1], layout[2]
    zero = np.float32(0.0)
    for b in range(obs.shape[0]):
        for i in range(obs.shape[1]):
            for s in range(found):
                j = index[b, i, s]
                keep = alive[b, j] if use_alive else True
                o, v = offset[b, i, s], velocity[b, i, s]
                dsx = slots[b, j].real - slots[b, i].real
                dsy = slots[b, j].imag - slots[b, i].imag
                at = start + 6 * s
                obs[b, i, at] = o.real if keep else zero
                obs[b, i, at + 1] = o.imag if keep else zero
                obs[b, i, at + 2] = v.real if keep else zero
                obs[b, i, at + 3] = v.imag if keep else zero
                obs[b, i, at + 4] = dsx if keep else zero
                obs[b, i, at + 5] = dsy if keep else zero
                flag = keep if use_alive else mask[b, i, s]
                obs[b, i, valid + s] = 1.0 if flag else 0.0
