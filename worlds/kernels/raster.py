"""Raster kernels: stamp discs and oriented boxes into per-world grids, cut egocentric patches.

``worlds.raster`` checks the arguments and calls these; its ``*_reference`` functions are the
numpy versions they are tested against. A body covers the cells whose centre lies inside its
shape (boundary included); cell centres come in as float32 arrays (computed once by
``worlds.raster.Grid``) and every test of a centre against a shape is the same float32
arithmetic as in the reference, so both cover the same cells. A kernel visits only the cells of
a body's bounding box (plus a margin of two cells for rounding), not the whole grid.
"""

from __future__ import annotations

import math

import numpy as np

from worlds.kernels import kernel


@kernel
def stamp_discs(x, y, radius, value, mask, x_min, y_min, cell, centre_x, centre_y, add, out):
    """Stamp a disc per body (``(B, N)`` arrays; ``mask`` False skips a body) into ``out``
    ``(B, rows, cols)``: each covered cell becomes ``max(cell, value)``, or ``cell + value``
    when ``add``; bodies are visited in index order."""
    num_worlds, n = x.shape
    rows, cols = out.shape[1], out.shape[2]
    for b in range(num_worlds):
        grid = out[b]
        for i in range(n):
            if not mask[b, i]:
                continue
            px, py, r = x[b, i], y[b, i], radius[b, i]
            first_col, end_col = _span(px - np.float64(r), px + np.float64(r), x_min, cell, cols)
            first_row, end_row = _span(py - np.float64(r), py + np.float64(r), y_min, cell, rows)
            r2 = r * r
            v = value[b, i]
            for row in range(first_row, end_row):
                dy = centre_y[row] - py
                dy2 = dy * dy
                for col in range(first_col, end_col):
                    dx = centre_x[col] - px
                    if dx * dx + dy2 <= r2:
                        _accumulate(grid, row, col, v, add)


@kernel
def stamp_boxes(
    x,
    y,
    angle,
    half_length,
    half_width,
    value,
    mask,
    x_min,
    y_min,
    cell,
    centre_x,
    centre_y,
    add,
    out,
):
    """As ``stamp_discs`` for boxes centred on the bodies, ``half_length`` along ``angle``."""
    num_worlds, n = x.shape
    rows, cols = out.shape[1], out.shape[2]
    for b in range(num_worlds):
        grid = out[b]
        for i in range(n):
            if not mask[b, i]:
                continue
            px, py = x[b, i], y[b, i]
            hl, hw = half_length[b, i], half_width[b, i]
            c = np.float32(math.cos(np.float64(angle[b, i])))
            s = np.float32(math.sin(np.float64(angle[b, i])))
            reach_x = abs(np.float64(c)) * hl + abs(np.float64(s)) * hw
            reach_y = abs(np.float64(s)) * hl + abs(np.float64(c)) * hw
            first_col, end_col = _span(px - reach_x, px + reach_x, x_min, cell, cols)
            first_row, end_row = _span(py - reach_y, py + reach_y, y_min, cell, rows)
            v = value[b, i]
            for row in range(first_row, end_row):
                oy = centre_y[row] - py
                for col in range(first_col, end_col):
                    ox = centre_x[col] - px
                    lx = ox * c + oy * s
                    ly = oy * c - ox * s
                    if abs(lx) <= hl and abs(ly) <= hw:
                        _accumulate(grid, row, col, v, add)


@kernel
def _accumulate(grid, row, col, v, add):
    if add:
        grid[row, col] += v
    elif v > grid[row, col]:
        grid[row, col] = v


@kernel
def _span(low, high, origin, cell, count):
    """Cells ``[first, end)`` along one axis whose centres may lie in ``[low, high]``, with a
    margin of two cells; empty for NaN bounds."""
    a = (low - origin) / cell - 0.5
    z = (high - origin) / cell - 0.5
    if not (a <= z):
        return 0, 0
    a = min(max(a, -4.0), count + 4.0)
    z = min(max(z, -4.0), count + 4.0)
    return max(int(math.floor(a)) - 2, 0), min(int(math.ceil(z)) + 3, count)


@kernel
def patches(field, x, y, x_min, y_min, cell, fill, out):
    """``out[b, i]`` ``(P, P)``: the window of ``field[b]`` ``(rows, cols)`` whose cell
    ``[P // 2, P // 2]`` is the cell holding body ``(x, y)[b, i]``; ``fill`` off the grid."""
    num_worlds, n = x.shape
    rows, cols = field.shape[1], field.shape[2]
    size = out.shape[2]
    half = size // 2
    for b in range(num_worlds):
        for i in range(n):
            row0 = cell_index(y[b, i], y_min, cell, rows, size) - half
            col0 = cell_index(x[b, i], x_min, cell, cols, size) - half
            for a in range(size):
                row = row0 + a
                for c in range(size):
                    col = col0 + c
                    if 0 <= row < rows and 0 <= col < cols:
                        out[b, i, a, c] = field[b, row, col]
                    else:
                        out[b, i, a, c] = fill


@kernel
def cell_index(v, origin, cell, count, size):
    """``floor((v - origin) / cell)`` in float64, clipped to ``[-size - 2, count + size + 2]``
    (a window around a body that far off sees only fill); NaN goes to the low end."""
    low = -size - 2.0
    f = (np.float64(v) - origin) / cell
    if not (f >= low):
        f = low
    f = min(f, count + size + 2.0)
    return int(math.floor(f))
