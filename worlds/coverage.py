"""Scalar fields on a grid over each world, and the geometry of covering them with points.

A ``GridField`` holds one value per cell of a ``G x G`` grid over the square
``[-side/2, side/2]^2`` of every world, float32 ``(B, G * G)`` (row-major: cell ``j * G + i``
has centre ``(cx[i], cy[j])``). On top of it, for points given as complex ``(B, N)`` positions:

- ``sample``: the field's value at arbitrary points (the value of the cell they fall in);
- ``disc_cover``: which cells have their centre within a radius of some point, exact, built row
  by row from the chord each disc cuts through a grid row (a difference array and a cumulative
  sum): a few numpy calls on ``(B, N, rows)`` arrays, no ``(B, N, cells)`` distance table;
- ``nearest_point_distance2``: the squared distance from every cell centre to its nearest
  point, and ``voronoi_centroids``: the field-weighted centroid of each point's Voronoi cell
  (cells assigned to their nearest point), for locational costs and Lloyd's algorithm.

Knows nothing of agents or rewards: it is geometry over a batch of fields.
"""

from __future__ import annotations

import math

import numpy as np


class GridField:
    """A ``G x G`` float32 field per world over the square of side ``side`` centred on 0."""

    def __init__(self, num_worlds: int, grid_size: int, side: float, border: int = 1) -> None:
        """``border``: cells of zeros around the grid that ``sample_patch`` can read without
        clipping indices; give at least the patch's reach in cells plus one."""
        if grid_size < 2 or side <= 0:
            raise ValueError(f"need grid_size >= 2 and side > 0, got {grid_size}, {side}")
        self.num_worlds = num_worlds
        self.grid_size = g = int(grid_size)
        self.side = float(side)
        self.cell = self.side / g
        centres = (-self.side / 2 + (np.arange(g) + 0.5) * self.cell).astype(np.float32)
        self.cx = centres
        self.cy = centres
        grid_x, grid_y = np.meshgrid(centres, centres)
        self.centres = (grid_x.ravel() + 1j * grid_y.ravel()).astype(np.complex64)  # (G*G,)
        self.values = np.zeros((num_worlds, g * g), np.float32)
        self._values_by_column = np.zeros((g, num_worlds * g), np.float32)
        self.border = max(1, int(border))
        width = g + 2 * self.border
        self._bordered = np.zeros((num_worlds, width, width), np.float32)
        # Rows [centre-x, centre-y, 1] for distance tables by matrix product.
        self._centre_rows = np.stack([self.centres.real, self.centres.imag, np.ones(g * g)]).astype(
            np.float32
        )
        self._centre_norm2 = (np.abs(self.centres) ** 2).astype(np.float32)

    # ------------------------------------------------------------------------------ lookups
    def cell_index(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Column ``i``, row ``j`` of the cell holding each complex point, and whether the
        point lies on the grid at all."""
        fx = (points.real + self.side / 2) / self.cell
        fy = (points.imag + self.side / 2) / self.cell
        i = np.floor(fx).astype(np.int32)
        j = np.floor(fy).astype(np.int32)
        g = self.grid_size
        inside = (i >= 0) & (i < g) & (j >= 0) & (j < g)
        return i, j, inside

    def sample(self, points: np.ndarray, outside: float = 0.0) -> np.ndarray:
        """Field value at complex ``points`` ``(B, ...)`` (nearest cell); ``outside`` off-grid."""
        i, j, inside = self.cell_index(points)
        g = self.grid_size
        flat = np.clip(j, 0, g - 1) * g + np.clip(i, 0, g - 1)
        flat += (np.arange(points.shape[0], dtype=np.int32) * (g * g)).reshape(
            -1, *([1] * (points.ndim - 1))
        )
        values = self.values.ravel().take(flat)
        return np.where(inside, values, np.float32(outside))

    def sample_patch(
        self, points: np.ndarray, offsets_x: np.ndarray, offsets_y: np.ndarray
    ) -> np.ndarray:
        """Field values (nearest cell, 0 off the grid) at the patch of points
        ``(p.x + offsets_x[a], p.y + offsets_y[b])`` around each point of complex ``points``
        ``(B, N)`` for all ``B`` worlds: float32 ``(B, N, len(offsets_y), len(offsets_x))``.
        A grid of patch offsets needs only one cell index per row and per column. Samples off
        the grid read the zero border; indices are clamped onto it only when some point lies
        so far out that its patch would reach past the border."""
        g, border = self.grid_size, self.border
        width = g + 2 * border
        scale = np.float32(1 / self.cell)
        shift = np.float32(self.side / 2 / self.cell + border)
        fx = points.real * scale + shift
        fy = points.imag * scale + shift
        column = np.floor(fx[..., None] + offsets_x * scale).astype(np.int32)
        row = np.floor(fy[..., None] + offsets_y * scale).astype(np.int32)
        reach = max(np.abs(offsets_x).max(initial=0), np.abs(offsets_y).max(initial=0))
        slack = border - (reach * scale + 1)  # how far off the grid a point may be, in cells
        if not (
            slack >= 0
            and min(fx.min(), fy.min()) >= border - slack
            and max(fx.max(), fy.max()) <= border + g + slack
        ):
            np.clip(column, 0, width - 1, out=column)
            np.clip(row, 0, width - 1, out=row)
        row *= width
        row += (np.arange(points.shape[0], dtype=np.int32) * width * width).reshape(-1, 1, 1)
        flat = row[..., :, None] + column[..., None, :]
        return self._bordered.ravel().take(flat)

    # ---------------------------------------------------------------------------- coverage
    def disc_cover(self, points: np.ndarray, radius: float, mask: np.ndarray | None = None):
        """Cells whose centre lies within ``radius`` of some point: bool ``(B, G * G)``.

        ``points`` complex ``(B, N)``; ``mask`` ``(B, N)`` leaves points out where False.
        """
        g, num_worlds = self.grid_size, points.shape[0]
        columns = self.disc_cover_by_column(points, radius, mask)
        return columns.reshape(g, num_worlds, g).transpose(1, 2, 0).reshape(num_worlds, g * g)

    def covered_weight(
        self, points: np.ndarray, radius: float, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The field's sum over the cells ``disc_cover`` marks, ``(B,)`` float32, and those cells
        in column-major layout ``(G, B * G)`` (see ``disc_cover_by_column``), for a batch of all
        ``B`` worlds. Reads the field through ``refresh``'s copy: call it after writing
        ``values``."""
        columns = self.disc_cover_by_column(points, radius, mask)
        weight = np.multiply(columns, self._values_by_column)
        weight = np.add.reduce(weight.reshape(self.grid_size, self.num_worlds, -1), axis=0)
        return np.add.reduce(weight, axis=1), columns

    def refresh(self) -> None:
        """Update the copies of ``values`` that ``covered_weight`` and ``sample_patch`` read."""
        g = self.grid_size
        by_column = self.values.reshape(self.num_worlds, g, g).transpose(2, 0, 1)
        self._values_by_column = np.ascontiguousarray(by_column).reshape(g, -1)
        inner = slice(self.border, self.border + g)
        self._bordered[:, inner, inner] = self.values.reshape(self.num_worlds, g, g)

    def disc_cover_by_column(
        self, points: np.ndarray, radius: float, mask: np.ndarray | None = None
    ) -> np.ndarray:
        """``disc_cover`` laid out as ``(G, B * G)``: ``[i, b * G + j]`` is cell ``(i, j)`` of
        world ``b``, i the column (x) and j the row (y)."""
        g = self.grid_size
        num_worlds = points.shape[0]
        # Everything in float32 and in cell units (flat indices stay below 2**24, so exact).
        r = np.float32(radius / self.cell)
        reach = math.ceil(r + 0.5)
        scale, shift = np.float32(1 / self.cell), np.float32(self.side / 2 / self.cell)
        fx = points.real * scale + shift
        fy = points.imag * scale + shift
        rows = np.floor(fy)[..., None] + np.arange(-reach, reach + 1, dtype=np.float32)
        dy = rows + np.float32(0.5)
        dy -= fy[..., None]
        dy *= dy
        half2 = np.subtract(r * r, dy, out=dy)
        valid = half2 >= 0
        half = np.sqrt(np.maximum(half2, 0, out=half2), out=half2)
        # Columns whose centre i + 0.5 lies in [x - half, x + half].
        x = fx[..., None] - np.float32(0.5)
        first = np.ceil(x - half)
        last = np.add(x, half, out=half)
        np.floor(last, out=last)
        np.maximum(first, 0, out=first)
        np.minimum(last, g - 1, out=last)
        valid &= rows >= 0
        valid &= rows < g
        valid &= first <= last
        if mask is not None:
            valid &= mask[..., None]
        lines = num_worlds * g  # grid rows of all worlds
        rows += (np.arange(num_worlds, dtype=np.float32) * g).reshape(-1, 1, 1)
        first *= lines
        first += rows
        last += 1
        last *= lines
        last += rows
        # A difference array per grid row, +1 where a chord starts and -1 just after it ends,
        # laid out column-major over all rows of all worlds, then summed column by column: each
        # addition is one vector operation over every row of every world. (numpy's cumsum scans
        # element by element, and cost five times more here.) A loop over grid columns.
        counts = np.zeros((g + 1, lines), np.int16)
        flat = counts.reshape(-1)
        # Unbuffered adds with the array's own dtype (repeated indices add up): measured far
        # cheaper here than a bincount into int64 bins and a conversion.
        np.add.at(flat, first[valid].astype(np.int32), np.int16(1))
        np.subtract.at(flat, last[valid].astype(np.int32), np.int16(1))
        for column in range(1, g):
            np.add(counts[column], counts[column - 1], out=counts[column])
        return counts[:g] > 0

    def _relative_distance2(self, points: np.ndarray) -> np.ndarray:
        """``|p|^2 - 2 p . q`` ``(B, N, G * G)`` float32: the squared distance from cell centre
        ``q`` to point ``p`` less ``|q|^2``, which is the same for every point of a cell (so it
        ranks points as the distance does), in one matrix product."""
        rows = np.empty((*points.shape, 3), np.float32)
        rows[..., 0] = points.real
        rows[..., 1] = points.imag
        rows[..., :2] *= -2.0
        rows[..., 2] = points.real * points.real + points.imag * points.imag
        return rows @ self._centre_rows

    def nearest_point_distance2(self, points: np.ndarray) -> np.ndarray:
        """Squared distance from every cell centre to each point, ``(B, N, G * G)`` float32."""
        table = self._relative_distance2(points)
        table += self._centre_norm2
        return np.maximum(table, 0.0, out=table)

    def locational_cost(self, points: np.ndarray, weights: np.ndarray | None = None):
        """``H = sum_cells w(q) min_i |q - p_i|^2`` per world ``(B,)``, ``w`` the field."""
        weights = self.values if weights is None else weights
        nearest = np.minimum.reduce(self._relative_distance2(points), axis=1)
        nearest += self._centre_norm2
        np.maximum(nearest, 0.0, out=nearest)
        return np.einsum("bc,bc->b", weights, nearest, dtype=np.float64)

    def voronoi_centroids(self, points: np.ndarray, weights: np.ndarray | None = None):
        """Field-weighted centroid of each point's Voronoi cell and the cell's mass.

        Cells go to their nearest point (ties to all of the tied points). Returns complex
        ``(B, N)`` centroids (the point itself where its cell has no mass) and float ``(B, N)``
        masses.
        """
        weights = self.values if weights is None else weights
        table = self._relative_distance2(points)
        nearest = np.minimum.reduce(table, axis=1)
        owner = table == nearest[:, None, :]
        moments = np.empty((len(weights), weights.shape[1], 3), np.float32)
        moments[..., 0] = weights
        np.multiply(weights, self.centres.real, out=moments[..., 1])
        np.multiply(weights, self.centres.imag, out=moments[..., 2])
        sums = owner.astype(np.float32) @ moments  # (B, N, 3)
        mass = sums[..., 0]
        safe = np.maximum(mass, 1e-12)
        centroid = (sums[..., 1] + 1j * sums[..., 2]) / safe
        return np.where(mass > 1e-12, centroid, points).astype(np.complex64), mass

    def lloyd(self, points: np.ndarray, iterations: int, weights=None) -> np.ndarray:
        """``iterations`` of Lloyd's algorithm (each point to its Voronoi centroid)."""
        for _ in range(iterations):
            points, _ = self.voronoi_centroids(points, weights)
        return points
