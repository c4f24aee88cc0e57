"""Shared parts of the drone-swarm family: action decoding, spawning, the velocity controller
that every scripted baseline ends with, and swarm-level figures (collisions, connectivity).

Everything works over the batch axis, with 2D vectors as complex numbers ``x + iy``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from scenarios.core import ScenarioConfig
from scenarios.fields import param
from scenarios.seeding import WorldRandom
from worlds.kernels import graph


@dataclass(frozen=True)
class DroneConfig(ScenarioConfig):
    """Config fields every drone-swarm scenario shares: bodies, drag, timing, action type."""

    continuous_actions: bool = False
    """Box(-1, 1, (2,)) thrust instead of Discrete(5)."""
    drone_radius: float = param(0.08, low=0.01, high=1.0)
    """Drone body radius in metres."""
    damping: float = param(0.25, low=0.0, high=1.0, low_open=True)
    """Fraction of velocity a drone keeps per second without thrust (drag)."""
    dt: float = param(0.1, low=0.001, high=1.0)
    """Seconds per environment step."""
    substeps: int = param(1, low=1, high=32)
    """Physics substeps per step."""


@dataclass(frozen=True)
class SwarmConfig(DroneConfig):
    """A swarm of identical drones: one thrust limit, speed cap and collision penalty."""

    max_force: float = param(3.0, low=0.0, high=1000.0, low_open=True)
    """Thrust limit in newtons (drones weigh 1 kg)."""
    max_speed: float = param(1.0, low=0.0, high=100.0, low_open=True)
    """Speed cap in m/s."""
    collision_penalty: float = param(1.0, low=0.0, high=1000.0)
    """Reward subtracted from a drone per other drone it overlaps."""
    contact_margin: float = param(0.01, low=0.0, high=1.0)
    """Extra distance under which two drones count as colliding."""


# Unit thrust directions of the discrete actions: none, +x, -x, +y, -y.
DIRECTIONS = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], dtype=np.float32)
DIRECTIONS_COMPLEX = (DIRECTIONS[:, 0] + 1j * DIRECTIONS[:, 1]).astype(np.complex64)


def thrust_space(continuous: bool) -> spaces.Space:
    """``Box(-1, 1, (2,))`` thrust fractions, or ``Discrete(5)`` (none, +x, -x, +y, -y)."""
    if continuous:
        return spaces.Box(-1.0, 1.0, (2,), np.float32)
    return spaces.Discrete(len(DIRECTIONS))


def write_thrust(act: np.ndarray, command: np.ndarray, max_force: float, continuous: bool) -> None:
    """Turn actions ``(B, N)`` int or ``(B, N, 2)`` float into thrust commands in newtons."""
    if continuous:
        np.clip(act, -1.0, 1.0, out=command)
        command *= max_force
    else:
        _thrust_table(max_force).take(act, axis=0, out=command, mode="clip")  # validated


@functools.lru_cache(maxsize=16)
def _thrust_table(max_force: float) -> np.ndarray:
    """The discrete actions' thrusts in newtons, ``(5, 2)`` float32 (one gather per step)."""
    table = DIRECTIONS * np.float32(max_force)
    table.flags.writeable = False
    return table


def spaced_draws(n: int) -> int:
    """How many uniform numbers per world ``spaced_points`` takes."""
    cells = math.ceil(math.sqrt(n))
    return cells * cells + 2 * n


def spaced_points(
    rng: WorldRandom | None,
    count: int,
    n: int,
    reach: float,
    spacing: float,
    uniforms: np.ndarray | None = None,
):
    """``(count, n)`` points in the square ``[-reach, reach]^2`` at least ``spacing`` apart,
    drawn on a jittered grid (so that drones never start overlapping). Each world's numbers
    are its grid slots' sort keys, then its x jitters, then its y jitters: one ``rng.random``
    draw, or ``uniforms`` ``(count, spaced_draws(n))`` drawn by the caller with its own."""
    cells = math.ceil(math.sqrt(n))
    cell = 2 * reach / cells
    if uniforms is None:
        uniforms = rng.random((count, spaced_draws(n)))
    slots = np.argsort(uniforms[:, : cells * cells], axis=1)[:, :n]
    jitter = max(cell - spacing, 0.0) / 2
    low, high = np.asarray(-jitter, float), np.asarray(jitter, float)
    jitters = low + (high - low) * uniforms[:, cells * cells :].reshape(count, 2, n)
    jitter_x, jitter_y = jitters.transpose(1, 0, 2)
    x = -reach + (slots % cells + 0.5) * cell + jitter_x
    y = -reach + (slots // cells + 0.5) * cell + jitter_y
    return x, y


def steer(
    position: np.ndarray,
    velocity: np.ndarray,
    goal: np.ndarray,
    *,
    gain: float,
    max_speed: float,
    continuous: bool,
    extra: np.ndarray | None = None,
) -> np.ndarray:
    """Proportional velocity controller toward complex ``goal``: ``v* = gain * (goal - p)``
    (plus ``extra``, a desired velocity term), capped at ``max_speed``; thrust toward
    ``v* - v``. Returns actions: a ``(..., 2)`` float32 thrust fraction, or the discrete
    direction that best matches the thrust (none when it is small)."""
    want = gain * (goal - position)
    if extra is not None:
        want = want + extra
    want = want * (max_speed / np.maximum(np.abs(want), max_speed))
    thrust = want - velocity
    return thrust_action(thrust, continuous)


def thrust_action(thrust: np.ndarray, continuous: bool) -> np.ndarray:
    """Complex desired thrust ``(...)`` to actions (see ``steer``)."""
    size = np.abs(thrust)
    if continuous:
        unit = np.minimum(1.0, 4.0 * size) / np.maximum(size, 1e-6)
        scaled = thrust * unit
        return np.stack([scaled.real, scaled.imag], -1).astype(np.float32)
    score = thrust.real[..., None] * DIRECTIONS[:, 0] + thrust.imag[..., None] * DIRECTIONS[:, 1]
    action = score.argmax(axis=-1)
    action[size < 0.1] = 0
    return action.astype(np.int64)


def overlap_counts(dist2: np.ndarray, limit: float, ones: np.ndarray) -> np.ndarray:
    """Number of other bodies each body overlaps, ``(B, N)`` float32, from squared pairwise
    distances ``(B, N, N)`` (zero on the diagonal); ``ones`` is a float32 ``(N,)`` of ones."""
    touching = dist2 < limit * limit  # includes each body itself
    # Row sums through a matrix product: numpy reductions over a short last axis are slow.
    return touching.astype(np.float32) @ ones - 1.0


def is_connected(
    adjacent: np.ndarray, alive: np.ndarray | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """Whether each world's graph ``(B, N, N)`` (symmetric, bool) is connected: ``(B,)`` bool,
    into ``out`` when given. With ``alive`` only alive nodes count (a world with at most one
    alive node is connected). One compiled walk per world (``worlds.kernels.graph``);
    ``is_connected_reference`` is the same in numpy."""
    adjacent = np.asarray(adjacent, bool)
    num_worlds = adjacent.shape[0]
    if out is None:
        out = np.empty(num_worlds, bool)
    use_alive = alive is not None
    live = np.asarray(alive, bool) if use_alive else np.ones((num_worlds, 0), bool)
    graph.connected(adjacent, live, use_alive, out)
    return out


def is_connected_reference(adjacent: np.ndarray, alive: np.ndarray | None = None) -> np.ndarray:
    """``is_connected`` in numpy.

    Reachability by repeated squaring of ``A + I`` (float32 batched matrix products): measured
    about 20 times cheaper than the eigenvalues for 64 worlds of 16. With ``alive`` only alive
    nodes count (a world with at most one alive node is connected).
    """
    num_worlds, n, _ = adjacent.shape
    if alive is None:
        return _reaches_all_from_first(adjacent)
    reach = adjacent.astype(np.float32)
    reach[:, np.arange(n), np.arange(n)] = 1.0
    for _ in range(max(1, math.ceil(math.log2(max(n - 1, 1))))):
        reach = reach @ reach
        np.minimum(reach, 1.0, out=reach)
    both = alive[:, :, None] & alive[:, None, :]
    return ~((reach == 0) & both).any(axis=(1, 2))


def _reaches_all_from_first(adjacent: np.ndarray) -> np.ndarray:
    """``is_connected`` without ``alive``: whether node 0 reaches every node (the graph is
    symmetric), from row 0 of ``(A + I)^(2^k)``, ``2^k >= N - 1``: ``k - 1`` squarings of the
    whole matrix and one row-times-matrix product, stopping early once node 0 reaches every
    node of every world. Entries only grow (non-negative integers), so they are clamped to 1
    only when the next product could overflow float32 (an infinite entry times a zero one is
    NaN, which would read as unreachable)."""
    num_worlds, n, _ = adjacent.shape
    if n <= 1:
        return np.ones(num_worlds, bool)
    reach = adjacent.astype(np.float32)
    reach += np.eye(n, dtype=np.float32)
    squarings = math.ceil(math.log2(n - 1))
    bound = math.log(n + 1)  # log of the largest possible entry (row sums <= n + 1)
    for step in range(squarings - 1):
        if step and reach[:, 0].min() > 0:
            return np.ones(num_worlds, bool)
        if 2 * bound + math.log(n) > 80:  # the product could pass float32's e^88: clamp first
            np.minimum(reach, 1.0, out=reach)
            bound = math.log(n + 1)
        reach = reach @ reach
        bound *= 2
    first = reach[:, :1] @ reach if squarings else reach[:, :1]
    return (first.reshape(num_worlds, n) > 0).all(axis=1)


def algebraic_connectivity(adjacent: np.ndarray) -> np.ndarray:
    """Second smallest eigenvalue of each world's graph Laplacian ``L = D - A``: ``(B,)``.

    Zero exactly when the graph is disconnected; larger for better-knit graphs (Fiedler).
    """
    weights = adjacent.astype(np.float64)
    laplacian = -weights
    n = weights.shape[-1]
    laplacian[:, np.arange(n), np.arange(n)] += weights.sum(axis=-1)
    if n < 2:
        return np.zeros(weights.shape[0])
    return np.maximum(np.linalg.eigvalsh(laplacian)[:, 1], 0.0)


def procrustes_error(positions: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RMS distance between complex ``positions`` and ``targets`` ``(B, N)`` after the best
    rotation and translation of the targets, over the bodies where ``mask`` is True: ``(B,)``.

    In 2D the alignment has a closed form: with both sets centred on their masked means,
    ``a = p - mean(p)`` and ``b = t - mean(t)``, the best rotation is ``u = c / |c|`` with
    ``c = sum a conj(b)``, and the error is ``sqrt(mean |a - u b|^2)`` (summed as residuals
    rather than as ``sum |a|^2 + sum |b|^2 - 2 |c|``, whose cancellation float32 and the square
    root would magnify). Zero for worlds with fewer than two masked bodies.
    """
    weight = mask.astype(np.float32)
    count = np.maximum(np.add.reduce(weight, axis=1), 1.0)
    a = positions - (np.add.reduce(positions * weight, axis=1) / count)[:, None]
    b = targets - (np.add.reduce(targets * weight, axis=1) / count)[:, None]
    b *= weight
    c = np.add.reduce(a * np.conj(b), axis=1)
    size = np.abs(c)
    rotation = np.where(size > 0, c / np.maximum(size, 1e-30), 1.0).astype(a.dtype)
    a -= rotation[:, None] * b
    a *= weight
    residual = np.add.reduce(a.real * a.real + a.imag * a.imag, axis=1)
    return np.sqrt(residual / count)


def polarization(velocity: np.ndarray, mask: np.ndarray, min_speed: float = 1e-3) -> np.ndarray:
    """Order parameter ``|mean of v_i / |v_i||`` over the masked bodies, ``(B,)``: 1 when all
    fly the same way, near ``1 / sqrt(N)`` for random headings. Bodies slower than
    ``min_speed`` count with a zero heading (0 for a world with no masked body)."""
    speed = np.abs(velocity)
    heading = velocity / np.maximum(speed, min_speed) * ((speed >= min_speed) & mask)
    count = np.maximum(np.add.reduce(mask, axis=1), 1)
    return np.abs(np.add.reduce(heading, axis=1)) / count
