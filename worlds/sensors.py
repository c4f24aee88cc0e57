"""Sensors over a batch of worlds: neighbours, range graphs, offsets to points (and the lidar,
from ``worlds.rays``).

Every function takes a body group's ``(B, N)`` state (world-local; positions and velocities as
complex ``x + iy`` where 2D arithmetic is involved, as ``BodyGroup.position`` gives them) and
answers for all agents of all worlds at once, in one compiled pass (``worlds.kernels``); each has
a ``*_reference`` twin in plain numpy that the tests compare it against.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from worlds.kernels import neighbours as _k


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
    num_worlds, n = pos.shape
    offset = np.empty((num_worlds, n, n), np.complex64)
    dist2 = np.empty((num_worlds, n, n), np.float32)
    _k.pairwise(pos, offset, dist2)
    return Pairwise(offset, dist2)


def pairwise_reference(pos: np.ndarray) -> Pairwise:
    """``pairwise`` in numpy (the reference the kernel is tested against)."""
    offset = (pos[:, None, :] - pos[:, :, None]).astype(np.complex64)
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
    points at the body itself. ``count`` ``(B, N)`` float32, when asked for (``count_within``):
    how many others are closer than that distance.
    """

    index: np.ndarray
    offset: np.ndarray
    velocity: np.ndarray
    dist: np.ndarray
    mask: np.ndarray
    count: np.ndarray | None = None

    @classmethod
    def empty(cls, num_worlds: int, n: int, k: int, *, count: bool = False, **views) -> Neighbours:
        """Buffers for ``nearest_neighbours(..., out=)``. ``views`` may supply any of
        ``offset``, ``velocity`` (complex64), ``mask`` (bool or float) ``(B, N, k)`` arrays to
        write into instead, e.g. an observation's blocks (``ObsBuffer.complex``/``valid``)."""
        shape = (num_worlds, n, k)
        return cls(
            views.get("index", np.zeros(shape, np.int32)),
            views.get("offset", np.zeros(shape, np.complex64)),
            views.get("velocity", np.zeros(shape, np.complex64)),
            views.get("dist", np.zeros(shape, np.float32)),
            views.get("mask", np.zeros(shape, bool)),
            np.zeros((num_worlds, n), np.float32) if count else None,
        )

    def outputs(self) -> tuple:
        """The arrays the kernel writes (float32 views of the complex ones), made once."""
        views = self.__dict__.get("_outputs")
        if views is None:
            count = self.count if self.count is not None else _no_count()
            views = self._outputs = (
                self.index,
                self.offset.real,
                self.offset.imag,
                self.velocity.real,
            ) + (self.velocity.imag, self.dist, self.mask, count)
        return views

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
    count_within: float | None = None,
    out: Neighbours | None = None,
) -> Neighbours:
    """k nearest other bodies of the same group in each world, optionally within ``radius``.

    ``pos`` and ``vel`` are complex ``(B, N)`` (a group's ``position`` and ``velocity``); dead
    bodies (``alive`` False) are never neighbours (nor counted). Neighbours are ranked by their
    float32 squared distance, then index; with up to 1024 bodies the distance's last
    ``bit_length(N - 1)`` bits make room for the index in an int32 key, so distances that agree to
    about one part in ``2 ** (23 - bit_length(N - 1))`` rank by index (``key_spec``).
    ``count_within=d`` also counts, for every body, the others closer than ``d``
    (``Neighbours.count``: overlaps, crowding). ``out``
    (``Neighbours.empty``) receives the result in place, so a step allocates nothing. One
    compiled pass per call (``worlds.kernels.neighbours``); ``nearest_neighbours_reference`` is
    the same in numpy.
    """
    num_worlds, n = pos.shape
    _check_shape("vel", vel, pos.shape)
    if out is None and 0 <= k < n:
        out = Neighbours.empty(num_worlds, n, k, count=count_within is not None)
    arguments = nearest_arguments(
        num_worlds, n, k, out, radius=radius, alive=alive, count_within=count_within
    )
    _k.nearest(pos.real, pos.imag, vel.real, vel.imag, *arguments)
    return out


def nearest_arguments(
    num_worlds: int,
    n: int,
    k: int,
    out: Neighbours,
    *,
    radius: float | None = None,
    alive: np.ndarray | None = None,
    count_within: float | None = None,
) -> tuple:
    """``worlds.kernels.neighbours.nearest``'s arguments after the positions and velocities,
    checked: what ``nearest_neighbours`` passes it. A scenario that calls that kernel from a
    kernel of its own (one compiled call for its sensors) makes them once, with ``out`` and
    ``alive`` kept from step to step."""
    if not 0 <= k < n:
        raise ValueError(f"k must be in [0, {n - 1}] for {n} bodies, got {k}")
    if alive is not None:
        _check_shape("alive", alive, (num_worlds, n))
    if count_within is not None and out.count is None:
        raise ValueError("nearest_neighbours: out has no count (use Neighbours.empty(count=True))")
    if out.__dict__.get("_checked") != (num_worlds, n, k):  # checked once per shape
        for name in ("index", "offset", "velocity", "dist", "mask"):
            _check_shape(f"out.{name}", getattr(out, name), (num_worlds, n, k))
        out._checked = (num_worlds, n, k)
    live = _no_alive(num_worlds, n) if alive is None else alive
    spec, key_type = _ranking(n)
    radius2, count_r2 = squared_radius(radius), squared_radius(count_within)
    return k, radius2, live, alive is not None, count_r2, spec, key_type, out.outputs()


def nearest_neighbours_reference(
    pos: np.ndarray,
    vel: np.ndarray,
    k: int,
    *,
    radius: float | None = None,
    alive: np.ndarray | None = None,
    count_within: float | None = None,
) -> Neighbours:
    """``nearest_neighbours`` in numpy: candidates sorted by the same keys as the kernel's
    (``worlds.kernels.neighbours.key_spec``: distance, then index)."""
    num_worlds, n = pos.shape
    pair = pairwise_reference(pos)
    dist2 = _masked_dist2(pair, radius, alive)
    shift, lift, _, top, infinite, _ = (int(v) for v in _k.key_spec(n))
    keys = ((dist2.view(np.int32).astype(np.int64) >> shift) << (shift + lift)) | np.arange(n)
    keys[:, np.arange(n), np.arange(n)] = top
    index = np.argsort(keys, axis=-1, kind="stable")[..., :k]
    mask = np.take_along_axis(keys, index, axis=-1) < infinite
    dist2_k = np.take_along_axis(dist2, index, axis=-1)
    index = np.where(mask, index, np.arange(n).reshape(1, n, 1)).astype(np.int32)
    offset = np.where(mask, np.take_along_axis(pair.offset, index, axis=-1), 0)
    others = np.take_along_axis(np.broadcast_to(vel[:, None, :], (num_worlds, n, n)), index, -1)
    velocity = np.where(mask, others - vel[:, :, None], 0)
    dist = np.sqrt(np.where(mask, dist2_k, 0)).astype(np.float32)
    count = None
    if count_within is not None:
        close = _masked_dist2(pair, None, alive) < _squared(count_within)
        count = close.sum(axis=-1).astype(np.float32)
    return Neighbours(
        index, offset.astype(np.complex64), velocity.astype(np.complex64), dist, mask, count
    )


@functools.lru_cache(maxsize=32)
def _no_alive(num_worlds: int, n: int) -> np.ndarray:
    values = np.ones((num_worlds, n), dtype=bool)
    values.flags.writeable = False
    return values


def _check_shape(name: str, array: np.ndarray, shape: tuple[int, ...]) -> None:
    """A kernel writes and reads without bounds checks: refuse a wrong shape here."""
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")


@functools.lru_cache(maxsize=256)
def squared_radius(distance: float | None) -> np.float32:
    """A distance squared as the float32 the neighbour kernels compare with (-1: no limit)."""
    return np.float32(-1.0 if distance is None else np.float32(distance) ** 2)


_squared = squared_radius


@functools.lru_cache(maxsize=64)
def _ranking(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The key layout for ``n`` bodies, and an empty array of the keys' integer type."""
    spec = _k.key_spec(n)
    return spec, np.empty(0, np.int64 if spec[5] else np.int32)


@functools.lru_cache(maxsize=1)
def _no_count() -> np.ndarray:
    return np.zeros((0, 0), np.float32)


def _masked_dist2(pair: Pairwise, radius: float | None, alive: np.ndarray | None) -> np.ndarray:
    """Squared distances with self, out-of-range and dead neighbours set to +inf."""
    dist2 = pair.dist2.copy()
    n = dist2.shape[-1]
    dist2[:, np.arange(n), np.arange(n)] = np.inf
    if radius is not None:
        dist2[dist2 > _squared(radius)] = np.inf
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


def range_graph(
    pos: np.ndarray, radius: float, alive: np.ndarray | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """``within_range`` straight from positions ``(B, N)`` complex, in one compiled pass (no
    pairwise offsets are made); ``out`` a bool ``(B, N, N)`` to fill in place."""
    num_worlds, n = pos.shape
    if alive is not None:
        _check_shape("alive", alive, pos.shape)
    adjacent = np.empty((num_worlds, n, n), bool) if out is None else out
    _check_shape("out", adjacent, (num_worlds, n, n))
    live = _no_alive(num_worlds, n) if alive is None else alive
    _k.within(pos, _squared(radius), live, alive is not None, adjacent)
    return adjacent


def point_offsets(
    pos: np.ndarray, points: np.ndarray, out: np.ndarray | None = None, nearest=None
) -> tuple[np.ndarray, np.ndarray]:
    """Offsets from every body ``pos`` ``(B, N)`` to every point ``points`` ``(B, L)`` (both
    complex): ``(B, N, L)`` complex64 ``points[b, l] - pos[b, i]``, and each point's distance to
    its closest body ``(B, L)`` float32, in one compiled pass. ``out`` and ``nearest`` receive
    them in place (``out`` may be a strided view, e.g. an observation block)."""
    num_worlds, n = pos.shape
    if points.ndim != 2 or points.shape[0] != num_worlds:
        raise ValueError(f"points must be ({num_worlds}, L) like pos's worlds, got {points.shape}")
    count = points.shape[1]
    offset = np.empty((num_worlds, n, count), np.complex64) if out is None else out
    closest = np.empty((num_worlds, count), np.float32) if nearest is None else nearest
    _check_shape("out", offset, (num_worlds, n, count))
    _check_shape("nearest", closest, (num_worlds, count))
    _k.point_offsets(pos, points, offset, closest)
    return offset, closest


# The lidar moved to worlds.rays (a compiled kernel with a numpy reference); still importable here.
from worlds.rays import lidar as lidar  # noqa: E402
