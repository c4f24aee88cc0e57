"""Vectorized sensors over a batch of worlds: neighbours and lidar, all in numpy.

Every function takes a body group's ``(B, N)`` state (world-local; positions and velocities as
complex ``x + iy`` where 2D arithmetic is involved, as ``BodyGroup.position`` gives them) and
answers for all agents of all worlds at once. Nothing here loops over agents or bodies.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@dataclass
class Pairwise:
    """Offsets from each body i to each other body j of a group in the same world.

    ``offset[b, i, j] = pos[b, j] - pos[b, i]`` as complex64 ``dx + i dy``, ``dist2`` its squared
    norm (float32); both ``(B, N, N)``.
    """

    offset: np.ndarray
    dist2: np.ndarray

    @property
    def dx(self) -> np.ndarray:
        return self.offset.real

    @property
    def dy(self) -> np.ndarray:
        return self.offset.imag


def pairwise(pos: np.ndarray) -> Pairwise:
    """All pairwise offsets of complex positions ``pos`` ``(B, N)`` (``x + iy``)."""
    offset = pos[:, None, :] - pos[:, :, None]
    dist2 = offset.real * offset.real
    dist2 += offset.imag * offset.imag
    return Pairwise(offset, dist2)


def as_complex(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x + iy`` as complex64, for callers holding separate coordinate arrays."""
    return (np.asarray(x, np.float32) + 1j * np.asarray(y, np.float32)).astype(np.complex64)


@dataclass
class Neighbours:
    """The k nearest neighbours of every body: index, offsets and a validity mask, ``(B, N, k)``.

    ``offset`` is the neighbour's position relative to the body and ``velocity`` its velocity
    relative to the body's, both complex64 (``.real`` is x, ``.imag`` is y). Where ``mask`` is
    False (fewer than k neighbours in range, or a dead neighbour) they are zero and the index
    points at the body itself.
    """

    index: np.ndarray
    offset: np.ndarray
    velocity: np.ndarray
    dist: np.ndarray
    mask: np.ndarray

    @property
    def dx(self) -> np.ndarray:
        return self.offset.real

    @property
    def dy(self) -> np.ndarray:
        return self.offset.imag

    @property
    def dvx(self) -> np.ndarray:
        return self.velocity.real

    @property
    def dvy(self) -> np.ndarray:
        return self.velocity.imag


def nearest_neighbours(
    pos: np.ndarray,
    vel: np.ndarray,
    k: int,
    *,
    radius: float | None = None,
    alive: np.ndarray | None = None,
    pair: Pairwise | None = None,
) -> Neighbours:
    """k nearest other bodies of the same group in each world, optionally within ``radius``.

    ``pos`` and ``vel`` are complex ``(B, N)`` (a group's ``position`` and ``velocity``); dead
    bodies (``alive`` False) are never neighbours. Without ``radius`` and ``alive`` (the common
    case), sorting uses one int32 key per pair that packs the squared distance's float32 bits
    (high bits, which rank as the float does) with the neighbour's index (low bits): an in-place
    sort of those keys ran about twice as fast as ``argsort`` of the distances here. Dropping
    the lowest mantissa bits to make room for the index only decides the order of neighbours
    whose squared distances agree to about one part in ``2**(23 - log2 N)``; no key depends on
    another world, so a world's neighbours never depend on the batch around it. With a radius
    or dead bodies, ``argsort`` of the masked distances.
    """
    num_worlds, n = pos.shape
    if not 0 <= k < n:
        raise ValueError(f"k must be in [0, {n - 1}] for {n} bodies, got {k}")
    pair = pair or pairwise(pos)
    index, dist2 = _nearest_index(pair, k, radius, alive)
    # Gather through flat indices: one take per quantity beats fancy indexing over 3 axes.
    row_base, world_base = _bases(num_worlds, n)
    flat = index + row_base  # (world * n + i) * n + j
    dist2_k = dist2.ravel().take(flat)
    offset = pair.offset.ravel().take(flat)
    velocity = vel.ravel().take(index + world_base)  # world * n + j
    velocity -= vel[:, :, None]
    if radius is None and alive is None:
        mask = _all_true(index.shape)  # k < n: there are always k others
        dist = np.sqrt(dist2_k)
    else:
        mask = np.isfinite(dist2_k)
        index = np.where(mask, index, np.arange(n).reshape(1, n, 1))
        offset = np.where(mask, offset, 0)
        velocity = np.where(mask, velocity, 0)
        dist = np.sqrt(np.where(mask, dist2_k, 0.0))
    return Neighbours(
        index,
        offset.astype(np.complex64, copy=False),
        velocity.astype(np.complex64, copy=False),
        dist,
        mask,
    )


def _nearest_index(
    pair: Pairwise, k: int, radius: float | None, alive: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest others' indices ``(B, N, k)`` int32 and the squared distances they were
    ranked by (masked to infinity out of range or dead); see ``nearest_neighbours``."""
    num_worlds, n, _ = pair.dist2.shape
    index_bits = max(1, int(n - 1).bit_length())
    if radius is None and alive is None and index_bits <= 10:
        # The bits of a non-negative float32, read as an int32, rank as the float does: the
        # key keeps the squared distance's bits above the index bits. Self gets the largest key
        # (sorts last). Each key depends on its own pair only, never on the other worlds.
        dist2 = pair.dist2
        keys = np.right_shift(dist2.view(np.int32), index_bits)
        keys <<= index_bits
        keys |= _index_grid(num_worlds, n, index_bits)  # the index; all ones on the diagonal
        keys.sort(axis=-1)
        return np.bitwise_and(keys[..., :k], (1 << index_bits) - 1), dist2
    dist2 = _masked_dist2(pair, radius, alive)
    return np.argsort(dist2, axis=-1, kind="stable")[..., :k].astype(np.int32), dist2


@functools.lru_cache(maxsize=32)
def _all_true(shape: tuple[int, ...]) -> np.ndarray:
    values = np.ones(shape, dtype=bool)
    values.flags.writeable = False
    return values


@functools.lru_cache(maxsize=32)
def _index_grid(num_worlds: int, n: int, index_bits: int) -> np.ndarray:
    """int32 ``(B, N, N)`` holding j at ``[b, i, j]`` and all index bits set on the diagonal."""
    grid = np.broadcast_to(np.arange(n, dtype=np.int32), (num_worlds, n, n)).copy()
    grid[:, np.arange(n), np.arange(n)] = np.iinfo(np.int32).max
    grid.flags.writeable = False
    return grid


@functools.lru_cache(maxsize=32)
def _bases(num_worlds: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Offsets that turn a neighbour index into flat indices of (B, N, N) and (B, N) arrays."""
    rows = np.arange(num_worlds * n, dtype=np.int32)
    return (
        (rows * n).reshape(num_worlds, n, 1),
        (np.arange(num_worlds, dtype=np.int32) * n).reshape(num_worlds, 1, 1),
    )


def _masked_dist2(pair: Pairwise, radius: float | None, alive: np.ndarray | None) -> np.ndarray:
    """Squared distances with self, out-of-range and dead neighbours set to +inf."""
    dist2 = pair.dist2.copy()
    n = dist2.shape[-1]
    dist2[:, np.arange(n), np.arange(n)] = np.inf
    if radius is not None:
        dist2[dist2 > radius * radius] = np.inf
    if alive is not None:
        dist2[~np.broadcast_to(alive[:, None, :], dist2.shape)] = np.inf
    return dist2


def within_range(pair: Pairwise, radius: float, alive: np.ndarray | None = None) -> np.ndarray:
    """Adjacency ``(B, N, N)``: j is within ``radius`` of i (self excluded, dead excluded)."""
    adjacent = pair.dist2 <= radius * radius
    n = adjacent.shape[-1]
    adjacent[:, np.arange(n), np.arange(n)] = False
    if alive is not None:
        adjacent &= alive[:, None, :] & alive[:, :, None]
    return adjacent


# The lidar moved to worlds.rays (a compiled kernel with a numpy reference); still importable here.
from worlds.rays import lidar as lidar  # noqa: E402
