"""Spaces of a ``WorldBatch``: the worlds are split into shards of at most ``worlds_per_space``
consecutive worlds, each shard one ``pymunk.Space`` (the worlds of a shard kept apart by spatial
offset, as the module docstring of ``worlds.world`` explains).

Why shards: chipmunk's cost per body grows with the number of bodies in a space (its step walks
every body, shape and contact several times; once they no longer fit the caches, every walk
waits on memory). Measured with ``tools/bench/limit.py``'s raw pymunk side, one core: 64 agents
per world, 5.4M agent-steps/s for 64 worlds in one space, 2.2M for 256; in shards of 64 worlds
each space stays small and the batch runs at the pace of its shard. Every shard costs a few
microseconds per substep of calls, so shards are not smaller than needed.

The batch's raw float64 read and write buffers keep one row per body in the batch's body order
(group by group, world by world); a shard's bodies are a contiguous block of rows in each group,
and its space lists them group by group. With one shard the space reads and writes the batch's
buffers directly; with several, each shard has buffers of its own and copies its blocks (one
contiguous copy per group) after each read and before each write.
"""

from __future__ import annotations

import math

import numpy as np
import pymunk
import pymunk.batch as pbatch

from worlds.bodies import BulkBodies

# The batch buffers get a few spare rows: the static body is visited as the last row, and the C
# side reallocates a wrapped buffer that comes within two slots of its end.
SPARE_ROWS = 4
WORLDS_PER_SPACE = 64


class Shard:
    """Worlds ``first`` to ``last - 1`` of a batch, in one ``pymunk.Space``."""

    def __init__(self, first: int, last: int, settings: dict) -> None:
        self.first, self.last = first, last
        self.space = pymunk.Space()
        for name, value in settings.items():
            setattr(self.space, name, value)
        self.blocks: list[tuple[slice, slice]] = []  # (batch rows, shard rows) per group
        self.rows = np.zeros(0, np.intp)  # batch row of each of the shard's bodies, in order

    @property
    def worlds(self) -> int:
        return self.last - self.first

    def bind(self, groups, read, write, fields: tuple, alone: bool) -> None:
        """Map the shard's bodies to batch rows and make its bulk readers and writers.
        ``read``/``write`` are the batch's raw buffers; ``alone``: the only shard."""
        blocks, start = [], 0
        for group in groups:
            count = group.n * self.worlds
            first_row = group.start + self.first * group.n
            blocks.append((slice(first_row, first_row + count), slice(start, start + count)))
            start += count
        self.blocks = blocks
        self.rows = np.concatenate([np.arange(b.start, b.stop) for b, _ in blocks])
        self.alone = alone
        if alone:
            self.read, self.write = read, write
        else:
            self.read = np.zeros((start + SPARE_ROWS, read.shape[1]))
            self.write = np.zeros((start + SPARE_ROWS, write.shape[1]))
        self.batch_read, self.batch_write = read, write
        read_fields, write_fields = fields
        read_buffer, write_buffer = pbatch.Buffer(), pbatch.Buffer()
        read_buffer.set_float_buf(self.read.reshape(-1))
        write_buffer.set_float_buf(self.write.reshape(-1))
        self._get = BulkBodies(self.space, read_fields, read_buffer, False)
        self._set = BulkBodies(self.space, write_fields, write_buffer, True)
        self._put = BulkBodies(self.space, read_fields, read_buffer, True)
        self._clean = False
        try:
            self._step = pbatch.lib.cpSpaceStep
            self._pointer = self.space._space
            self._direct = not self.space.threaded
        except AttributeError:  # pragma: no cover - other pymunk internals
            self._direct = False

    def get(self) -> None:
        """Read the shard's bodies into the batch's read buffer."""
        self._get()
        if not self.alone:
            for batch_rows, rows in self.blocks:
                self.batch_read[batch_rows] = self.read[rows]

    def set(self) -> None:
        """Write the batch's command buffer to the shard's bodies."""
        if not self.alone:
            for batch_rows, rows in self.blocks:
                self.write[rows] = self.batch_write[batch_rows]
        self._set()

    def put(self) -> None:
        """Write the batch's read buffer (positions, velocities) back to the shard's bodies."""
        if not self.alone:
            for batch_rows, rows in self.blocks:
                self.read[rows] = self.batch_read[batch_rows]
        self._put()

    def set_step_get(self, dt: float) -> None:
        """``set``, ``step`` and ``get`` in one call (a world step's substep)."""
        if self.alone and self._clean:
            self._set()
            self._step(self._pointer, dt)
            self._get()
            return
        self.set()
        self.step(dt)
        self.get()

    def step(self, dt: float) -> None:
        """``Space.step`` without its Python bookkeeping when there is none to do (no pending
        adds, removes or post-step callbacks; the batch adds nothing after it is built, so once
        a step found none, later ones skip the check)."""
        if self._clean:
            self._step(self._pointer, dt)
            return
        space = self.space
        if self._direct and not (
            space._add_later
            or space._remove_later
            or space._post_step_callbacks
            or space._bodies_to_check
        ):
            self._clean = True
            self._step(self._pointer, dt)
        else:
            space.step(dt)  # the first step also checks every body's mass and moment


def make_shards(num_worlds: int, worlds_per_space: int, settings: dict) -> list[Shard]:
    """Consecutive shards of ``worlds_per_space`` worlds (the last may hold fewer)."""
    size = max(1, int(worlds_per_space))
    return [
        Shard(first, min(first + size, num_worlds), settings)
        for first in range(0, num_worlds, size)
    ]


def world_origins(
    num_worlds: int, worlds_per_space: int, width: float, height: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each world's origin in its shard's space: a square grid per shard, cells far enough apart
    that no body reaches a neighbour. A world's origin depends only on its place in its shard
    (and the shard size), not on the batch size."""
    gap = 0.5 * max(width, height)
    columns = math.ceil(math.sqrt(min(num_worlds, max(1, int(worlds_per_space)))))
    local = np.arange(num_worlds) % max(1, int(worlds_per_space))
    return (local % columns) * (width + gap), (local // columns) * (height + gap)


def split_rows(shards: list[Shard], groups, rows: np.ndarray) -> list[tuple[Shard, np.ndarray]]:
    """The shards that hold batch ``rows``, each with its rows."""
    if len(shards) == 1:
        return [(shards[0], rows)]
    worlds = np.empty(rows.shape, np.intp)
    num_worlds = shards[-1].last
    for group in groups:
        inside = (rows >= group.start) & (rows < group.start + group.n * num_worlds)
        worlds[inside] = (rows[inside] - group.start) // group.n
    which = worlds // shards[0].worlds
    return [(shards[i], rows[which == i]) for i in np.unique(which).tolist()]
