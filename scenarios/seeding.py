"""One random stream per world, so that a world's episodes never depend on the batch around it.

A vector env of B worlds seeded with ``s`` gives world ``i`` its own generator, seeded from
``SeedSequence(s)`` with spawn key ``(i,)``. A scenario's ``reset(world, rng, env_ids)`` receives a
:class:`WorldRandom` over the worlds being reset: it has the ``numpy.random.Generator`` methods
scenarios use, and row ``k`` of every draw comes from world ``env_ids[k]``'s own stream. So world
0 of ``make_vec(id, num_envs=64, seed=s)`` replays world 0 of ``num_envs=1`` (and the PettingZoo
env) draw for draw, and a world that restarts draws its next episode whatever the other worlds
did, or which of them restarted with it.

Cost: one generator call per world and draw site at reset (about 0.6 us each), none per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def world_generators(seed: int | None, count: int, first: int = 0) -> list[np.random.Generator]:
    """Generators of worlds ``first .. first + count - 1`` for ``seed`` (fresh entropy when
    None): a batch that holds worlds ``first ..`` of a larger one (a rollout worker's share,
    ``marl.workers``) draws what those worlds draw in the whole batch."""
    root = np.random.SeedSequence(seed)
    return [
        np.random.Generator(np.random.PCG64(np.random.SeedSequence(root.entropy, spawn_key=(i,))))
        for i in range(first, first + count)
    ]


def replica_generators(seed: int | None, world: int, count: int) -> list[np.random.Generator]:
    """``count`` independent generators, each in the state of world ``world``'s for ``seed``."""
    state = world_generators(seed, world + 1)[world].bit_generator.state
    generators = []
    for _ in range(count):
        generator = np.random.Generator(np.random.PCG64())
        generator.bit_generator.state = state
        generators.append(generator)
    return generators


class WorldRandom:
    """Draws for a reset of some worlds, each row from its own world's generator.

    ``size`` (an int or a tuple) must start with the number of worlds being reset; arguments
    such as ``low`` may be scalars or arrays that broadcast to ``size``. Every draw takes one
    call per world for its uniform doubles (``Generator.random``, about 0.6 us) and transforms
    them for all worlds at once: ``uniform`` as numpy's own ``low + (high - low) * u``,
    ``integers`` as ``low + floor(u * span)`` (bias below ``span / 2**53``), ``normal`` by the
    Box-Muller transform, ``choice`` through ``integers`` or the cumulative ``p``. Numpy's
    per-call ``uniform`` and ``choice`` cost 2 and 8 us a world, which is what a batch of 64
    worlds pays twenty times per reset. ``each(function)`` stacks ``function(generator)`` over
    the worlds for anything else.
    """

    def __init__(self, generators: Sequence[np.random.Generator]) -> None:
        self.generators = list(generators)
        self.count = len(self.generators)

    # ------------------------------------------------------------------------- the methods
    def random(self, size: int | tuple[int, ...] | None = None) -> np.ndarray:
        return self._uniforms(self._shape(size))

    def uniform(self, low: Any = 0.0, high: Any = 1.0, size=None) -> np.ndarray:
        low, high = np.asarray(low, float), np.asarray(high, float)
        return low + (high - low) * self._uniforms(self._shape(size))

    def integers(self, low: Any, high: Any = None, size=None, *, endpoint: bool = False):
        if high is None:
            low, high = 0, low
        low, high = np.asarray(low, np.int64), np.asarray(high, np.int64)
        span = high - low + (1 if endpoint else 0)
        if np.any(span <= 0):
            raise ValueError(f"WorldRandom.integers: empty range [{low}, {high})")
        draws = np.floor(self._uniforms(self._shape(size)) * span).astype(np.int64)
        return low + np.minimum(draws, span - 1)

    def normal(self, loc: Any = 0.0, scale: Any = 1.0, size=None) -> np.ndarray:
        return np.asarray(loc, float) + np.asarray(scale, float) * self.standard_normal(size)

    def standard_normal(self, size=None) -> np.ndarray:
        shape = self._shape(size)
        pairs = self._uniforms((*shape, 2))
        radius = np.sqrt(-2.0 * np.log1p(-pairs[..., 0]))  # 1 - u is in (0, 1]
        return radius * np.cos(2.0 * np.pi * pairs[..., 1])

    def choice(self, a: Any, size=None, p: Any = None) -> np.ndarray:
        options = np.arange(a) if isinstance(a, (int, np.integer)) else np.asarray(a)
        if options.ndim != 1 or len(options) == 0:
            raise ValueError("WorldRandom.choice: a must be a non-empty 1-D sequence or a count")
        if p is None:
            return options[self.integers(0, len(options), size)]
        cumulative = np.cumsum(np.asarray(p, float))
        if len(cumulative) != len(options) or not np.isclose(cumulative[-1], 1.0):
            raise ValueError("WorldRandom.choice: p must have one probability per option, sum 1")
        picks = np.searchsorted(cumulative, self._uniforms(self._shape(size)), side="right")
        return options[np.minimum(picks, len(options) - 1)]

    def each(self, function: Callable[[np.random.Generator], Any]) -> np.ndarray:
        """``function(generator)`` for every world being reset, stacked on a first axis."""
        return np.stack([np.asarray(function(g)) for g in self.generators])

    # ------------------------------------------------------------------------------ helpers
    def _shape(self, size: int | tuple[int, ...] | None) -> tuple[int, ...]:
        if type(size) is tuple and size and size[0] == self.count:
            if all(type(s) is int for s in size):
                return size  # the common case, checked in one pass
        shape = (size,) if isinstance(size, (int, np.integer)) else tuple(size or ())
        if not shape or shape[0] != self.count:
            raise ValueError(
                f"WorldRandom: size must start with the number of worlds being reset "
                f"({self.count}), got {size!r}"
            )
        return tuple(int(s) for s in shape)

    def _uniforms(self, shape: tuple[int, ...]) -> np.ndarray:
        """Uniform doubles in [0, 1) of ``shape``; row k from world k's generator."""
        values = np.empty((self.count, math.prod(shape[1:])))
        for generator, row in zip(self.generators, values, strict=True):
            generator.random(out=row)
        return values.reshape(shape)


__all__ = ["WorldRandom", "world_generators"]
