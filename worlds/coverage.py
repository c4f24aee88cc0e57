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

Knows nothing of agents or rewards: it is geometry over a batch of fields. ``disc_cover``,
``covered_weight``, ``cover_weight`` and ``sample_patch`` run compiled kernels
(``worlds.kernels.coverage``); the numpy versions they replaced stay beside them as
``*_reference``.
"""

from __future__ import annotations

import math

import numpy as np

from worlds.kernels import coverage as kernels
from worlds.kernels import voronoi
from worlds.kernels.arguments import check_shape


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
        # Rows of grid cells as bit masks in words of ``_word_bits`` bits (see ``_cover_bits``).
        self._word_bits = next((b for b in (8, 16) if g <= b), 32)
        self._words = -(-g // self._word_bits)
        self._word_dtype = np.dtype(f"<u{self._word_bits // 8}")
        self._values_padded = np.zeros(
            (num_worlds, g * self._words * self._word_bits, 1), np.float32
        )
        self._weights = np.zeros((num_worlds, g * g), np.float32)  # refresh's copy of values
        self._slot_key = None
        self._steps = np.zeros((0, 1, 1), np.float32)
        self.border = max(1, int(border))
        self.patch_scale = 1.0
        """Factor ``sample_patch`` applies to the values it reads (set before ``refresh``)."""
        width = g + 2 * self.border
        self._bordered = np.zeros((num_worlds, width, width), np.float32)
        self._patch_key = None  # sample_patch's offsets, and what it derived from them
        self._patch_worlds = np.zeros((0, 1), np.float32)  # each world's first bordered cell
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
        self,
        points: np.ndarray,
        offsets_x: np.ndarray,
        offsets_y: np.ndarray,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Field values times ``patch_scale`` (nearest cell, 0 off the grid) at the patch of points
        ``(p.x + offsets_x[a], p.y + offsets_y[b])`` around each point of complex ``points``
        ``(B, N)``: float32 ``(B, N, len(offsets_y), len(offsets_x))``, written into ``out``
        when given. Samples off the grid read the zero border (indices clamped onto it)."""
        steps_x, steps_y, *_ = patch = self.patch_arguments(offsets_x, offsets_y)
        points = np.asarray(points, np.complex64)
        check_shape("points", points, (self._weights.shape[0], None))
        if out is None:
            out = np.empty((*points.shape, len(steps_y), len(steps_x)), np.float32)
        check_shape("out", out, (*points.shape, len(steps_y), len(steps_x)))
        kernels.sample_patch(points, *patch, out)
        return out

    def patch_arguments(self, offsets_x: np.ndarray, offsets_y: np.ndarray) -> tuple:
        """``kernels.coverage.sample_patch``'s arguments after the points: the offsets in
        cells, the grid's scale and shift, and the bordered copy of the field that ``refresh``
        updates in place. A scenario that samples the same offsets every step works them out
        once and calls the kernel straight, without ``sample_patch``'s checks."""
        steps_x, steps_y, _ = self._patch_offsets(offsets_x, offsets_y)
        scale = np.float32(1 / self.cell)
        shift = np.float32(self.side / 2 / self.cell + self.border)
        return steps_x, steps_y, scale, shift, self._bordered

    def _patch_offsets(self, offsets_x: np.ndarray, offsets_y: np.ndarray):
        """Patch offsets in cells (float32 ``(A,)`` and ``(C,)``) and how far off the grid a
        point may lie before its patch reaches past the border; derived once per offsets."""
        key = (offsets_x.dtype.str, offsets_x.tobytes(), offsets_y.dtype.str, offsets_y.tobytes())
        if self._patch_key != key:  # the same offsets on every step: derive these once
            scale = np.float32(1 / self.cell)
            reach = max(np.abs(offsets_x).max(initial=0), np.abs(offsets_y).max(initial=0))
            self._patch_steps = (
                (offsets_x * scale).astype(np.float32).reshape(-1),
                (offsets_y * scale).astype(np.float32).reshape(-1),
                self.border - (reach * scale + 1),  # how far off the grid a point may be, in cells
            )
            self._patch_key = key
        return self._patch_steps

    def sample_patch_reference(
        self, points: np.ndarray, offsets_x: np.ndarray, offsets_y: np.ndarray
    ) -> np.ndarray:
        """``sample_patch`` in numpy: a transposed view of an array laid out (rows, columns,
        worlds, points). A grid of
        patch offsets needs only one cell index per row and per column; indices are built
        offset-major so that every operation runs along all the points at once. Samples off
        the grid read the zero border; indices are clamped onto it only when some point lies
        so far out that its patch would reach past the border."""
        g, border = self.grid_size, self.border
        width = g + 2 * border
        scale = np.float32(1 / self.cell)
        shift = np.float32(self.side / 2 / self.cell + border)
        fx = points.real * scale + shift
        fy = points.imag * scale + shift
        steps_x, steps_y, slack = self._patch_offsets(offsets_x, offsets_y)
        steps_x, steps_y = steps_x.reshape(-1, 1, 1), steps_y.reshape(-1, 1, 1)
        column = np.floor(fx + steps_x)
        row = np.floor(fy + steps_y)
        if not (
            slack >= 0
            and min(fx.min(), fy.min()) >= border - slack
            and max(fx.max(), fy.max()) <= border + g + slack
        ):
            np.clip(column, 0, width - 1, out=column)
            np.clip(row, 0, width - 1, out=row)
        if points.shape[0] * width * width >= 2**24:  # flat indices exact in float32 below
            row = row.astype(np.float64)
        row *= width
        if self._patch_worlds.shape[0] != points.shape[0] or self._patch_worlds.dtype != row.dtype:
            worlds = np.arange(points.shape[0], dtype=row.dtype) * (width * width)
            self._patch_worlds = worlds.reshape(-1, 1)
        row += self._patch_worlds
        flat = np.add(row[:, None], column[None]).astype(np.intp)  # (rows, columns, B, N)
        return self._bordered.ravel().take(flat).transpose(2, 3, 0, 1)

    # ---------------------------------------------------------------------------- coverage
    def disc_cover(self, points: np.ndarray, radius: float, mask: np.ndarray | None = None):
        """Cells whose centre lies within ``radius`` of some point: bool ``(B, G * G)``.

        ``points`` complex ``(B, N)``; ``mask`` ``(B, N)`` leaves points out where False.
        """
        return self.covered_weight(points, radius, mask)[1]

    def covered_weight(
        self, points: np.ndarray, radius: float, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The field's sum over the cells ``disc_cover`` marks, ``(B,)`` float32, and those cells
        as ``disc_cover`` returns them, for a batch of all ``B`` worlds. Reads the field through
        ``refresh``'s copy: call it after writing ``values``. The sum is taken in float64 over
        the covered cells in the order the discs first cover them."""
        points, mask = self._cover_arguments(points, mask)
        num_worlds = points.shape[0]
        weight = np.empty(num_worlds, np.float32)
        covered = np.empty((num_worlds, self.grid_size**2), bool)
        kernels.disc_cover(points, mask, *self._disc_scales(radius), covered, weight)
        return weight, covered

    def cover_weight(
        self,
        points: np.ndarray,
        radius: float,
        mask: np.ndarray | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``covered_weight``'s sum alone, ``(B,)`` float32 (into ``out`` when given), bit for
        bit, at a fraction of its cost: the covered cells are never spread out."""
        points, mask = self._cover_arguments(points, mask)
        if out is None:
            out = np.empty(points.shape[0], np.float32)
        check_shape("out", out, points.shape[:1])
        kernels.cover_weight(points, mask, *self._disc_scales(radius), out)
        return out

    def _disc_scales(self, radius: float) -> tuple:
        """The disc kernels' grid arguments: radius and scale in cells, the grid's half side in
        cells, its size, and ``refresh``'s copy of the field."""
        cell = self.cell
        return (
            np.float32(radius / cell),
            np.float32(1 / cell),
            np.float32(self.side / 2 / cell),
            self.grid_size,
            self._weights,
        )

    def _cover_arguments(self, points, mask) -> tuple[np.ndarray, np.ndarray]:
        """Points ``(B, N)`` complex64 for this field's ``B`` worlds and their bool mask."""
        points = np.asarray(points, np.complex64)
        check_shape("points", points, (self._weights.shape[0], None))
        mask = np.ones(points.shape, bool) if mask is None else np.asarray(mask, bool)
        check_shape("mask", mask, points.shape)
        return points, mask

    def disc_cover_reference(
        self, points: np.ndarray, radius: float, mask: np.ndarray | None = None
    ):
        """``disc_cover`` in numpy (row chords as bit masks, see ``_cover_bits``)."""
        g, num_worlds = self.grid_size, points.shape[0]
        bits = self._cover_bits(points, radius, mask)[..., :g]
        return bits.reshape(num_worlds, g * g).view(bool)

    def covered_weight_reference(
        self, points: np.ndarray, radius: float, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``covered_weight`` in numpy: a float32 matrix-vector product per world."""
        g, num_worlds = self.grid_size, points.shape[0]
        bits = self._cover_bits(points, radius, mask)
        # One float32 dot product per world (a batched matrix-vector product) against the field
        # padded to whole words of bits.
        weight = bits.reshape(num_worlds, 1, -1).astype(np.float32) @ self._values_padded
        covered = bits[..., :g].reshape(num_worlds, g * g).view(bool)
        return weight.reshape(num_worlds), covered

    def refresh(self) -> None:
        """Update the copies of ``values`` that ``covered_weight`` and ``sample_patch`` read
        (the latter scaled by ``patch_scale``, so that samples need no multiplication)."""
        g = self.grid_size
        grid = self.values.reshape(self.num_worlds, g, g)
        self._values_padded.reshape(self.num_worlds, g, -1)[..., :g] = grid
        np.copyto(self._weights, self.values)
        inner = slice(self.border, self.border + g)
        np.multiply(grid, np.float32(self.patch_scale), out=self._bordered[:, inner, inner])

    def disc_cover_by_column(
        self, points: np.ndarray, radius: float, mask: np.ndarray | None = None
    ) -> np.ndarray:
        """``disc_cover`` laid out as ``(G, B * G)``: ``[i, b * G + j]`` is cell ``(i, j)`` of
        world ``b``, i the column (x) and j the row (y)."""
        g, num_worlds = self.grid_size, points.shape[0]
        covered = self.disc_cover(points, radius, mask).reshape(num_worlds, g, g)
        return np.ascontiguousarray(covered.transpose(2, 0, 1)).reshape(g, num_worlds * g)

    def _cover_bits(
        self, points: np.ndarray, radius: float, mask: np.ndarray | None = None
    ) -> np.ndarray:
        """``disc_cover`` as uint8 0/1 ``(B, G, words * bits)``: ``[b, j, i]`` is cell ``(i, j)``
        of world ``b`` (row j, column i), columns past ``G`` zero.

        Each grid row of a world is a bit mask of its columns, in ``words`` unsigned words of
        ``bits`` bits (at most 32). A disc cuts a chord through each grid row near its point,
        columns ``[s, e)`` with ``s <= e``, whose mask is ``2^e - 2^s`` (exact in float64,
        empty when ``s == e``). Every (point, nearby row) writes its mask to a slot of its own,
        and an OR over the points merges the chords of each row; ``np.unpackbits`` expands the
        masks to cells. Arrays are laid out (rows, worlds, points) so that every elementwise
        operation runs along all the points at once. No ``(B, N, cells)`` table, no unbuffered
        ``ufunc.at`` and no loop over grid columns."""
        g, num_worlds, n = self.grid_size, points.shape[0], points.shape[1]
        bits, words = self._word_bits, self._words
        # Everything in float32 and in cell units (flat indices stay below 2**24, so exact).
        r = np.float32(radius / self.cell)
        reach = math.ceil(r + 0.5)
        scale, shift = np.float32(1 / self.cell), np.float32(self.side / 2 / self.cell)
        fx = points.real * scale + shift
        fy = points.imag * scale + shift
        rows = np.floor(fy) + self._row_steps(reach)  # (R, B, N) grid rows near each point
        dy = rows + np.float32(0.5)
        dy -= fy
        dy *= dy
        half2 = np.subtract(r * r, dy, out=dy)
        outside = half2 < 0
        half = np.sqrt(np.maximum(half2, 0, out=half2), out=half2)
        half -= outside  # rows the disc misses get a negative half chord: an empty interval
        if mask is not None:
            half -= ~mask * np.float32(2 * g + 2)
        # Columns whose centre i + 0.5 lies in [x - half, x + half]: [start, end).
        x = fx - np.float32(0.5)
        start = np.ceil(x - half)
        end = np.add(x, half, out=half)
        np.floor(end, out=end)
        end += 1
        # One slot per (point, row) in (points, worlds, rows) order; rows off the grid go to a
        # margin row on either side (colliding there only with one another), dropped below.
        np.maximum(rows, np.float32(-1), out=rows)
        np.minimum(rows, np.float32(g), out=rows)
        rows += self._slot_offsets(num_worlds, n)
        slots = rows.astype(np.intp).reshape(-1)
        masks = self._chord_masks(start, end, slots, (n, num_worlds, g + 2))
        lines = np.bitwise_or.reduce(masks, axis=1)[..., 1 : g + 1]  # (words, B, G)
        if words > 1:
            lines = lines.transpose(1, 2, 0)
        lines = np.ascontiguousarray(lines).reshape(-1).view(np.uint8)
        unpacked = np.unpackbits(lines, bitorder="little")
        return unpacked.reshape(num_worlds, g, words * bits)

    def _chord_masks(
        self, start: np.ndarray, end: np.ndarray, slots: np.ndarray, shape: tuple[int, int, int]
    ) -> np.ndarray:
        """Each chord's columns ``[start, end)`` as bit masks, word by word, written to its slot
        of a zeroed ``(words, points, worlds, rows)`` table."""
        bits, words = self._word_bits, self._words
        masks = np.zeros((words, *shape), self._word_dtype)
        for word in range(words):
            # The chord's columns in this word, [low, high), clamped so that low <= high.
            floor, ceiling = np.float32(word * bits), np.float32((word + 1) * bits)
            high = np.minimum(end, ceiling)
            np.maximum(high, floor, out=high)
            low = np.maximum(start, floor)
            np.minimum(low, high, out=low)
            if word:
                high -= floor
                low -= floor
            # Bits [low, high): 2^high - 2^low, exact in float64 (high <= 32).
            chord = np.ldexp(1.0, high.astype(np.int32))
            chord -= np.ldexp(1.0, low.astype(np.int32))
            masks[word].reshape(-1)[slots] = chord.reshape(-1).astype(self._word_dtype)
        return masks

    def _row_steps(self, reach: int) -> np.ndarray:
        """``(2 reach + 1, 1, 1)`` float32 ``-reach ... reach``, kept between calls."""
        if self._steps.shape[0] != 2 * reach + 1:
            self._steps = np.arange(-reach, reach + 1, dtype=np.float32).reshape(-1, 1, 1)
        return self._steps

    def _slot_offsets(self, num_worlds: int, n: int) -> np.ndarray:
        """``(B, N)`` float32: the first slot (row -1) of point ``n`` of world ``b`` in
        ``_cover_bits``' (points, worlds, G + 2 rows) layout, plus one."""
        key = (num_worlds, n)
        if self._slot_key != key:
            width = self.grid_size + 2
            offsets = (np.arange(n) * num_worlds)[None, :] + np.arange(num_worlds)[:, None]
            self._slots = (offsets * width + 1).astype(np.float32)
            self._slot_key = key
        return self._slots

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
        """``H = sum_cells w(q) min_i |q - p_i|^2`` per world ``(B,)``, ``w`` the field: the
        nearest distance from a kernel (``voronoi.nearest_distance2``), the float64 sum in
        numpy as the reference takes it."""
        weights = self.values if weights is None else weights
        nearest = np.empty((points.shape[0], self.grid_size**2), np.float32)
        cx, cy = self._centre_rows[0], self._centre_rows[1]
        points = np.asarray(points, np.complex64)
        voronoi.nearest_distance2(points, cx, cy, self._centre_norm2, nearest)
        return np.einsum("bc,bc->b", weights, nearest, dtype=np.float64)

    def voronoi_centroids(self, points: np.ndarray, weights: np.ndarray | None = None):
        """Field-weighted centroid of each point's Voronoi cell and the cell's mass.

        Cells go to their nearest point (ties to all of the tied points). Returns complex
        ``(B, N)`` centroids (the point itself where its cell has no mass) and float ``(B, N)``
        masses. A kernel (``voronoi.centroids``), to float32 rounding of the reference's.
        """
        return self._lloyd(points, 1, weights)

    def lloyd(self, points: np.ndarray, iterations: int, weights=None) -> np.ndarray:
        """``iterations`` of Lloyd's algorithm (each point to its Voronoi centroid), in a
        kernel (``voronoi.centroids``), to float32 rounding of ``lloyd_reference``."""
        return self._lloyd(points, iterations, weights)[0]

    def _lloyd(self, points: np.ndarray, iterations: int, weights):
        weights = self.values if weights is None else weights
        points = np.array(points, np.complex64)  # a copy: updated in place
        check_shape("weights", np.asarray(weights), (points.shape[0], self.grid_size**2))
        mass = np.zeros(points.shape, np.float32)
        cx, cy = self._centre_rows[0], self._centre_rows[1]
        voronoi.centroids(points, iterations, cx, cy, self._moments(weights), mass)
        return points, mass

    def locational_cost_reference(self, points: np.ndarray, weights: np.ndarray | None = None):
        """``H = sum_cells w(q) min_i |q - p_i|^2`` per world ``(B,)``, ``w`` the field.

        The nearest distance builds up one point at a time (a ``(B, 3) @ (3, cells)`` product
        and a minimum each) instead of from a ``(B, N, cells)`` table."""
        weights = self.values if weights is None else weights
        rows = np.empty((*points.shape, 3), np.float32)
        rows[..., 0] = points.real
        rows[..., 1] = points.imag
        rows[..., :2] *= -2.0
        rows[..., 2] = points.real * points.real + points.imag * points.imag
        nearest = rows[:, 0] @ self._centre_rows
        for i in range(1, points.shape[1]):
            np.minimum(nearest, rows[:, i] @ self._centre_rows, out=nearest)
        nearest += self._centre_norm2
        np.maximum(nearest, 0.0, out=nearest)
        return np.einsum("bc,bc->b", weights, nearest, dtype=np.float64)

    def voronoi_centroids_reference(self, points: np.ndarray, weights: np.ndarray | None = None):
        """Field-weighted centroid of each point's Voronoi cell and the cell's mass.

        Cells go to their nearest point (ties to all of the tied points). Returns complex
        ``(B, N)`` centroids (the point itself where its cell has no mass) and float ``(B, N)``
        masses.
        """
        weights = self.values if weights is None else weights
        return self._centroids(points, self._moments(weights), _VoronoiWork(points.shape, self))

    def lloyd_reference(self, points: np.ndarray, iterations: int, weights=None) -> np.ndarray:
        """``iterations`` of Lloyd's algorithm (each point to its Voronoi centroid)."""
        weights = self.values if weights is None else weights
        moments = self._moments(weights)  # the same for every iteration
        work = _VoronoiWork(points.shape, self)  # (B, N, cells) buffers reused by every one
        for _ in range(iterations):
            points, _ = self._centroids(points, moments, work)
        return points

    def _moments(self, weights: np.ndarray) -> np.ndarray:
        """``(B, cells, 3)`` float32: each cell's weight and its weight times x and y."""
        moments = np.empty((len(weights), weights.shape[1], 3), np.float32)
        moments[..., 0] = weights
        np.multiply(weights, self.centres.real, out=moments[..., 1])
        np.multiply(weights, self.centres.imag, out=moments[..., 2])
        return moments

    def _centroids(self, points: np.ndarray, moments: np.ndarray, work: _VoronoiWork):
        """``voronoi_centroids`` from ``_moments``, in ``work``'s buffers."""
        rows = work.rows
        rows[..., 0] = points.real
        rows[..., 1] = points.imag
        rows[..., :2] *= -2.0
        rows[..., 2] = points.real * points.real + points.imag * points.imag
        table = np.matmul(rows, self._centre_rows, out=work.table)  # as _relative_distance2
        nearest = np.minimum.reduce(table, axis=1, out=work.nearest)
        owner = np.equal(table, nearest[:, None, :], out=work.owner)
        np.copyto(work.owner_float, owner.view(np.uint8))
        sums = np.matmul(work.owner_float, moments, out=work.sums)  # (B, N, 3)
        mass = sums[..., 0].copy()
        safe = np.maximum(mass, 1e-12)
        centroid = (sums[..., 1] + 1j * sums[..., 2]) / safe
        return np.where(mass > 1e-12, centroid, points).astype(np.complex64), mass


class _VoronoiWork:
    """Buffers of one shape of points for ``GridField._centroids``: allocated once per call of
    ``lloyd`` rather than once per iteration (fresh arrays of a few MB cost page faults)."""

    def __init__(self, shape: tuple[int, ...], field: GridField) -> None:
        cells = field.grid_size**2
        self.rows = np.empty((*shape, 3), np.float32)
        self.table = np.empty((*shape, cells), np.float32)
        self.nearest = np.empty((shape[0], cells), np.float32)
        self.owner = np.empty((*shape, cells), bool)
        self.owner_float = np.empty((*shape, cells), np.float32)
        self.sums = np.empty((*shape, 3), np.float32)
