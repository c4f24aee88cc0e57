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
    the sum of ``weights`` ``(B, grid * grid)`` over them into ``weight`` ``(B,)`` (a float64 sum
    per grid column over the rows in order, then of the columns' sums in order, rounded to
    float32 once: ``covered_sum``).

    Each point's disc cuts a chord through every grid row near it: with ``d`` the row centre's
    offset from the point, columns ``[ceil(x - h), floor(x + h) + 1)``, ``h = sqrt(r^2 - d^2)``
    (a row the disc misses gets ``h - 1``: an empty chord), ``x`` the point's column less 0.5;
    all in float32 as ``GridField._cover_bits`` does. Up to ``WORD_GRID`` cells per side the
    chords are OR-ed into one bit mask per row (no loop over the columns: chord lengths vary
    from row to row, and a loop over them mispredicts), then spread out into ``covered``."""
    cells = grid * grid
    rows = np.zeros(grid if grid <= WORD_GRID else 0, np.uint64)
    columns = np.empty(grid)
    lows, highs = np.empty(rows.shape[0], np.int32), np.empty(rows.shape[0], np.int32)
    unit = np.uint64(1)
    for b in range(points.shape[0]):
        if grid <= WORD_GRID:
            rows[:] = 0
            for i in range(points.shape[1]):
                if mask[b, i]:
                    chords(points[b, i], radius, scale, shift, grid, rows, covered, b, lows, highs)
            for r in range(grid):
                word = rows[r]
                for c in range(grid):
                    covered[b, r * grid + c] = (word >> np.uint64(c)) & unit
        else:
            for cell in range(cells):
                covered[b, cell] = False
            for i in range(points.shape[1]):
                if mask[b, i]:
                    chords(points[b, i], radius, scale, shift, grid, rows, covered, b, lows, highs)
        weight[b] = covered_sum(weights, covered, b, grid, columns)


@kernel
def cover_weight(points, mask, radius, scale, shift, grid, weights, weight):
    """``disc_cover``'s ``weight`` alone, bit for bit (the same sums in the same order), without
    spreading the covered cells out: up to ``WORD_GRID`` cells a side the sum reads the rows'
    bit masks (``row_bits_sum``); larger grids go through ``disc_cover``."""
    count = points.shape[0]
    if grid > WORD_GRID:
        covered = np.empty((count, grid * grid), np.bool_)
        disc_cover(points, mask, radius, scale, shift, grid, weights, covered, weight)
        return
    rows = np.zeros(grid, np.uint64)
    columns = np.empty(grid)
    lows, highs = np.empty(grid, np.int32), np.empty(grid, np.int32)
    unused = np.zeros((1, 0), np.bool_)
    for b in range(count):
        rows[:] = 0
        for i in range(points.shape[1]):
            if mask[b, i]:
                chords(points[b, i], radius, scale, shift, grid, rows, unused, 0, lows, highs)
        weight[b] = row_bits_sum(weights, rows, b, grid, columns)


@kernel(inline="always")
def chords(point, radius, scale, shift, grid, rows, covered, b, lows, highs):
    """One point's disc: its chord of every grid row it reaches, as bits of ``rows`` when it
    has a word per row, else straight into ``covered[b]`` (see ``disc_cover``). Only the rows
    on the grid whose centre lies within ``radius`` plus a margin (1e-3 cells) of the point's
    are visited: the float32 test ``half2 >= 0`` decides the rows near that edge exactly as
    the reference's ``ceil(radius + 0.5)`` rows either side of the point's row do."""
    r2 = radius * radius
    fx = point.real * scale + shift
    fy = point.imag * scale + shift
    x = fx - np.float32(0.5)
    centre, reach = np.float64(fy) - 0.5, np.float64(radius) + 1e-3
    first = max(math.ceil(centre - reach), 0)
    last = min(math.floor(centre + reach), grid - 1)
    if rows.shape[0] == 0:
        for index in range(first, last + 1):
            start, end = chord(index, fy, x, r2)
            offset = index * grid
            for column in range(int(start), int(min(end, np.float32(grid)))):
                covered[b, offset + column] = True
        return
    # Two passes, so that the first (the float work of every row) runs as vector instructions:
    # each row's chord as [low, high) column numbers in int32, then its bits OR-ed into rows.
    count = last + 1 - first
    for k in range(count):
        start, end = chord(first + k, fy, x, r2)
        end = min(end, np.float32(grid))
        lows[k] = np.int32(start)
        highs[k] = np.int32(max(end, start))
    one_bit = np.uint64(1)
    for k in range(count):
        high, low = np.uint64(highs[k]), np.uint64(lows[k])
        rows[first + k] |= ((one_bit << high) - one_bit) ^ ((one_bit << low) - one_bit)


@kernel(inline="always")
def chord(index, fy, x, r2):
    """Grid row ``index``'s chord of the disc ``r2`` (squared radius) around ``(x + 0.5, fy)``
    (cells) as float32 ``[start, end)`` before ``end`` is clamped to the grid; ``start >= end``
    where the disc misses the row."""
    half_cell, one, zero = np.float32(0.5), np.float32(1.0), np.float32(0.0)
    dy = (np.float32(index) + half_cell) - fy
    half2 = r2 - dy * dy
    # sqrt(half2), or -1 where the disc misses the row (an empty chord), branch-free.
    half = np.sqrt(max(half2, zero)) - np.float32(half2 < zero)
    return max(np.ceil(x - half), zero), np.floor(x + half) + one


@kernel(inline="always")
def covered_sum(weights, covered, b, grid, columns):
    """``sum(weights[b] * covered[b])``: per grid column a float64 sum over the rows in order
    (into ``columns``, ``(grid,)``: independent additions, side by side), then the columns'
    sums in order, rounded to float32. The cells left out add 0.0 (no branch on them)."""
    columns[:] = 0.0
    for r in range(grid):
        base = r * grid
        for c in range(grid):
            value = np.float64(weights[b, base + c])
            columns[c] += value if covered[b, base + c] else 0.0
    return column_total(columns)


@kernel(inline="always")
def row_bits_sum(weights, rows, b, grid, columns):
    """``covered_sum`` over the cells set in the row bit masks ``rows`` ``(grid,)`` uint64 (bit
    ``c`` of ``rows[r]`` is cell ``r * grid + c``), in the same order."""
    columns[:] = 0.0
    for r in range(grid):
        word = np.int64(rows[r])
        base = r * grid
        for c in range(grid):
            value = np.float64(weights[b, base + c])
            columns[c] += value if (word >> c) & 1 else 0.0
    return column_total(columns)


@kernel(inline="always")
def column_total(columns):
    """The columns' float64 sums added in order, rounded to float32."""
    total = 0.0
    for c in range(columns.shape[0]):
        total += columns[c]
    return np.float32(total)


@kernel
def sample_patch(points, steps_x, steps_y, scale, shift, bordered, out):
    """``bordered[b, row, column]`` ``(B, W, W)`` at ``row = floor(fy + steps_y[c])`` and
    ``column = floor(fx + steps_x[a])`` (clamped to the array) for each point's grid
    coordinates ``fx, fy``: ``out[b, n, c, a]`` ``(B, N, len(steps_y), len(steps_x))``."""
    columns = np.empty(steps_x.shape[0], np.int64)
    for b in range(points.shape[0]):
        for i in range(points.shape[1]):
            patch_columns(points[b, i], steps_x, scale, shift, bordered, columns)
            fy = points[b, i].imag * scale + shift
            last = bordered.shape[1] - 1
            for c in range(steps_y.shape[0]):
                row = min(max(int(np.floor(fy + steps_y[c])), 0), last)
                for a in range(steps_x.shape[0]):
                    out[b, i, c, a] = bordered[b, row, columns[a]]


@kernel(inline="always")
def patch_columns(point, steps_x, scale, shift, bordered, columns):
    """The bordered columns of one point's patch (the same for every row of it)."""
    last = bordered.shape[2] - 1
    fx = point.real * scale + shift
    for a in range(steps_x.shape[0]):
        columns[a] = min(max(int(np.floor(fx + steps_x[a])), 0), last)
