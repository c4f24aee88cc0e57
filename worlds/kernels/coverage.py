"""Grid field kernels: disc coverage with its weight, and patch sampling
(``worlds.coverage.GridField``).

Positions are complex64 ``(B, N)``; grid coordinates are float32 in cell units,
``f = p * scale + shift``, computed as the numpy references compute them, so that the covered
cells and the sampled cells are exactly theirs.
"""

from __future__ import annotations

import math

import numpy as np

from worlds.kernels import kernel

WORD_GRID = 62
"""Grids up to this many cells per side mark each row's chords as bits of one word."""


@kernel
def disc_cover(points, mask, radius, scale, shift, grid, weights, covered, weight):
    """Cells of a ``grid x grid`` field (row-major) whose centre lies within ``radius`` (cells)
    of some point where ``mask`` ``(B, N)`` is True: ``covered`` bool ``(B, grid * grid)``, and
    the sum of ``weights`` ``(B, grid * grid)`` over them into ``weight`` ``(B,)`` (four float64
    partial sums over the cells in order, by cell index modulo 4, rounded to float32 once).

    Each point's disc cuts a chord through every grid row near it: with ``d`` the row centre's
    offset from the point, columns ``[ceil(x - h), floor(x + h) + 1)``, ``h = sqrt(r^2 - d^2)``
    (a row the disc misses gets ``h - 1``: an empty chord), ``x`` the point's column less 0.5;
    all in float32 as ``GridField._cover_bits`` does. Up to ``WORD_GRID`` cells per side the
    chords are OR-ed into one bit mask per row (no loop over the columns: chord lengths vary
    from row to row, and a loop over them mispredicts), then spread out into ``covered``."""
    cells = grid * grid
    rows = np.zeros(grid if grid <= WORD_GRID else 0, np.uint64)
    unit = np.uint64(1)
    for b in range(points.shape[0]):
        if grid <= WORD_GRID:
            rows[:] = 0
            for i in range(points.shape[1]):
                if mask[b, i]:
                    chords(points[b, i], radius, scale, shift, grid, rows, covered, b)
            for r in range(grid):
                word = rows[r]
                for c in range(grid):
                    covered[b, r * grid + c] = (word >> np.uint64(c)) & unit
        else:
            for cell in range(cells):
                covered[b, cell] = False
            for i in range(points.shape[1]):
                if mask[b, i]:
                    chords(points[b, i], radius, scale, shift, grid, rows, covered, b)
        weight[b] = covered_sum(weights, covered, b, cells)


@kernel(inline="always")
def chords(point, radius, scale, shift, grid, rows, covered, b):
    """One point's disc: its chord of every grid row it reaches, as bits of ``rows`` when it
    has a word per row, else straight into ``covered[b]`` (see ``disc_cover``)."""
    half_cell, one, zero = np.float32(0.5), np.float32(1.0), np.float32(0.0)
    r2 = radius * radius
    reach = math.ceil(np.float64(radius) + 0.5)
    fx = point.real * scale + shift
    fy = point.imag * scale + shift
    x = fx - half_cell
    base = np.floor(fy)
    unit, empty = np.uint64(1), np.uint64(0)
    for step in range(-reach, reach + 1):
        row = base + np.float32(step)
        if row < 0 or row >= grid:
            continue
        dy = (row + half_cell) - fy
        half2 = r2 - dy * dy
        half = np.sqrt(half2) if half2 >= 0 else -one
        start = max(np.ceil(x - half), zero)
        end = min(np.floor(x + half) + one, np.float32(grid))
        if rows.shape[0]:
            low, high = np.uint64(start), np.uint64(max(end, zero))
            bits = ((unit << high) - unit) ^ ((unit << low) - unit)
            rows[int(row)] |= bits if high > low else empty
        else:
            offset = int(row) * grid
            for column in range(int(start), int(end)):
                covered[b, offset + column] = True


@kernel
def covered_sum(weights, covered, b, cells):
    """``sum(weights[b] * covered[b])`` in four float64 partial sums (by cell index modulo 4:
    independent additions the processor overlaps), rounded to float32."""
    s0 = s1 = s2 = s3 = 0.0
    top = cells - cells % 4
    for cell in range(0, top, 4):
        s0 += weights[b, cell] if covered[b, cell] else 0.0
        s1 += weights[b, cell + 1] if covered[b, cell + 1] else 0.0
        s2 += weights[b, cell + 2] if covered[b, cell + 2] else 0.0
        s3 += weights[b, cell + 3] if covered[b, cell + 3] else 0.0
    for cell in range(top, cells):
        s0 += weights[b, cell] if covered[b, cell] else 0.0
    return np.float32((s0 + s1) + (s2 + s3))


@kernel
def sample_patch(points, steps_x, steps_y, scale, shift, bordered, out):
    """``bordered[b, row, column]`` ``(B, W, W)`` at ``row = floor(fy + steps_y[c])`` and
    ``column = floor(fx + steps_x[a])`` (clamped to the array) for each point's grid
    coordinates ``fx, fy``: ``out[b, n, c, a]`` ``(B, N, len(steps_y), len(steps_x))``."""
    last = bordered.shape[1] - 1
    for b in range(points.shape[0]):
        for i in range(points.shape[1]):
            fx = points[b, i].real * scale + shift
            fy = points[b, i].imag * scale + shift
            for c in range(steps_y.shape[0]):
                row = min(max(int(np.floor(fy + steps_y[c])), 0), last)
                for a in range(steps_x.shape[0]):
                    column = min(max(int(np.floor(fx + steps_x[a])), 0), last)
                    out[b, i, c, a] = bordered[b, row, column]
