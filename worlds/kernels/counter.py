"""Counter-based random numbers for compiled kernels: splitmix64 turns a key plus a counter
into a well-spread 64-bit number, so a draw depends only on what it is for (a world's key, a
step, an agent, a slot) and never on how many draws came before it or on the batch. Scenarios
use it for streams inside an episode (warehouse requests, observation noise), with a key drawn
per world at the reset."""

from __future__ import annotations

import numpy as np

from worlds.kernels import kernel

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2^-53


@kernel
def mix64(value):
    """splitmix64 of ``value`` (uint64)."""
    z = value + GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX_1
    z = (z ^ (z >> np.uint64(27))) * _MIX_2
    return z ^ (z >> np.uint64(31))


@kernel
def unit(value):
    """A uniform float in [0, 1) from counter ``value`` (uint64)."""
    return float(mix64(value) >> np.uint64(11)) * _TO_UNIT


@kernel
def normal(value):
    """A standard normal from counter ``value`` (Box-Muller over two splitmix draws)."""
    u1 = 1.0 - unit(value)  # in (0, 1]
    u2 = unit(value ^ GOLDEN)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
