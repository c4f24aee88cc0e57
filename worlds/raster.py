"""Grids for observations: stamp bodies into per-world grids, cut egocentric patches.

A ``Grid`` is ``rows x cols`` square cells of side ``cell`` whose lower-left corner is
``(x_min, y_min)`` in world-local coordinates; cell ``(row, col)`` covers
``x_min + col * cell <= x < x_min + (col + 1) * cell`` and likewise in y with ``row``, so row 0 is
the bottom (lowest y). Grid arrays are ``(B, rows, cols)`` float32, one grid per world.

- ``stamp_discs`` / ``stamp_boxes``: each body covers the cells whose **centre** lies inside its
  disc or oriented box (boundary included) and writes its value there. ``mode="max"`` keeps the
  larger of the cell and the value (occupancy, heights; the order of bodies does not matter);
  ``mode="sum"`` adds (counts, densities; bodies are added in index order, so float sums are
  reproducible). Stamping accumulates into ``out`` when given (several calls build one grid:
  discs then boxes), else into a new grid of zeros.
- ``patches``: for each body a ``(P, P)`` window of a per-world grid, not rotated, whose cell
  ``[P // 2, P // 2]`` is the cell holding the body (``floor((x - x_min) / cell)`` in float64);
  window rows grow with y as the grid's do. Cells off the grid read ``fill``, as do all cells
  for a body with a NaN position.

Each function runs a compiled kernel (``worlds.kernels.raster``); the ``*_reference``
functions are the same in numpy over ``(B, N, rows, cols)``, and agree with the kernels exactly.
Positions, radii and sizes are float32. A body's cells are found from its bounding box with a
margin of two cells, which covers float32 rounding unless a cell is smaller than about 1e-6 of
the coordinates.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from worlds.kernels import arguments as check
from worlds.kernels import raster as _kernels

MODES = ("max", "sum")


@dataclasses.dataclass(frozen=True)
class Grid:
    """``rows x cols`` cells of side ``cell`` from the lower-left corner ``(x_min, y_min)``."""

    x_min: float
    y_min: float
    cell: float
    rows: int
    cols: int
    centre_x: np.ndarray = dataclasses.field(init=False, repr=False, compare=False)
    centre_y: np.ndarray = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("x_min", "y_min"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float, np.number)) and math.isfinite(value)):
                raise ValueError(f"Grid {name} must be a finite number, got {value!r}")
        check.positive("Grid cell", self.cell)
        check.count("Grid rows", self.rows, 1)
        check.count("Grid cols", self.cols, 1)
        object.__setattr__(self, "centre_x", self._centres(self.x_min, self.cols))
        object.__setattr__(self, "centre_y", self._centres(self.y_min, self.rows))

    def _centres(self, origin: float, count: int) -> np.ndarray:
        """Cell centres ``origin + (k + 0.5) * cell`` computed in float64, rounded to float32."""
        centres = (float(origin) + (np.arange(count) + 0.5) * float(self.cell)).astype(np.float32)
        centres.flags.writeable = False
        return centres

    @classmethod
    def centred(cls, width: float, height: float, cell: float) -> Grid:
        """A grid over the world ``[-width/2, width/2] x [-height/2, height/2]`` (world-local
        coordinates), with enough cells to cover it (the last row and column may overhang)."""
        cell = check.positive("cell", cell)
        cols = max(1, math.ceil(check.positive("width", width) / cell - 1e-9))
        rows = max(1, math.ceil(check.positive("height", height) / cell - 1e-9))
        return cls(-0.5 * width, -0.5 * height, cell, rows, cols)

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.cols


def stamp_discs(
    grid: Grid,
    x: np.ndarray,
    y: np.ndarray,
    radius: np.ndarray | float,
    value: np.ndarray | float = 1.0,
    *,
    mode: str = "max",
    mask: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Stamp a disc of ``radius`` (scalar, ``(N,)`` or ``(B, N)``, >= 0) around each body
    ``(x, y)`` ``(B, N)`` with ``value`` (same forms) into ``out`` (see the module docstring).
    Bodies where ``mask`` ``(B, N)`` is False are left out. Returns the grid."""
    x, y, (radius, value), mask, out, add = _stamp_arguments(
        grid, x, y, {"radius": radius, "value": value}, mask, out, mode
    )
    _kernels.stamp_discs(
        x, y, radius, value, mask, *_frame(grid), grid.centre_x, grid.centre_y, add, out
    )
    return out


def stamp_boxes(
    grid: Grid,
    x: np.ndarray,
    y: np.ndarray,
    angle: np.ndarray | float | None,
    half_length: np.ndarray | float,
    half_width: np.ndarray | float,
    value: np.ndarray | float = 1.0,
    *,
    mode: str = "max",
    mask: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Stamp an oriented box centred on each body: ``half_length`` along ``angle`` (radians;
    0 when None), ``half_width`` across (scalars, ``(N,)`` or ``(B, N)``, >= 0). Otherwise as
    ``stamp_discs``."""
    sizes = {"angle": 0.0 if angle is None else angle, "half_length": half_length}
    sizes |= {"half_width": half_width, "value": value}
    x, y, (angle, half_length, half_width, value), mask, out, add = _stamp_arguments(
        grid, x, y, sizes, mask, out, mode
    )
    frame = (*_frame(grid), grid.centre_x, grid.centre_y)
    _kernels.stamp_boxes(x, y, angle, half_length, half_width, value, mask, *frame, add, out)
    return out


def patches(
    grid: Grid,
    field: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    size: int,
    fill: float = 0.0,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The ``(size, size)`` window of ``field`` ``(B, rows, cols)`` around each body ``(x, y)``
    ``(B, N)``: returns ``(B, N, size, size)`` float32 (see the module docstring)."""
    field, x, y, size, fill = _patch_arguments(grid, field, x, y, size, fill)
    shape = (*x.shape, size, size)
    out = _out("out", out, shape, None)
    _kernels.patches(field, x, y, *_frame(grid), fill, out)
    return out


def _frame(grid: Grid) -> tuple[float, float, float]:
    return float(grid.x_min), float(grid.y_min), float(grid.cell)


def _check_grid(grid) -> None:
    if not isinstance(grid, Grid):
        raise ValueError(f"grid must be a worlds.raster.Grid, got {type(grid).__name__}")


def _stamp_arguments(grid, x, y, per_body: dict, mask, out, mode) -> tuple:
    """Checked float32 ``x, y``, the per-body arrays, a bool mask, the output grid (zeros when
    None) and whether to add."""
    _check_grid(grid)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    x = check.floats("x", x, (None, None))
    y = check.floats("y", y, x.shape)
    arrays = [check.per_body(name, value, x.shape) for name, value in per_body.items()]
    for name, array in zip(per_body, arrays, strict=True):
        if name in ("radius", "half_length", "half_width") and (array < 0).any():
            raise ValueError(f"{name} must be >= 0")
    if mask is None:
        mask = np.ones(x.shape, bool)
    else:
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise ValueError(f"mask must be a bool array, got dtype {mask.dtype}")
        check.check_shape("mask", mask, x.shape)
        mask = np.ascontiguousarray(mask)
    out = _out("out", out, (x.shape[0], *grid.shape), 0.0)
    return x, y, arrays, mask, out, mode == "sum"


def _patch_arguments(grid, field, x, y, size, fill) -> tuple:
    _check_grid(grid)
    x = check.floats("x", x, (None, None))
    y = check.floats("y", y, x.shape)
    field = check.floats("field", field, (x.shape[0], *grid.shape))
    size = check.count("size", size, 1)
    try:
        fill = np.float32(fill)
    except (TypeError, ValueError):
        raise ValueError(f"fill must be a number, got {fill!r}") from None
    return field, x, y, size, fill


def _out(name: str, out, shape: tuple[int, ...], initial: float | None) -> np.ndarray:
    """A new float32 array of ``shape`` (filled with ``initial`` unless None), or ``out``
    checked to be one."""
    if out is None:
        return (
            np.empty(shape, np.float32) if initial is None else np.full(shape, initial, np.float32)
        )
    if not (isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == shape):
        raise ValueError(f"{name} must be a float32 array of shape {shape}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    return out


def stamp_discs_reference(grid, x, y, radius, value=1.0, *, mode="max", mask=None, out=None):
    """``stamp_discs`` in numpy, over ``(B, N, rows, cols)``."""
    x, y, (radius, value), mask, out, add = _stamp_arguments(
        grid, x, y, {"radius": radius, "value": value}, mask, out, mode
    )
    dx = grid.centre_x[None, None, None, :] - x[..., None, None]
    dy = grid.centre_y[None, None, :, None] - y[..., None, None]
    covered = dx * dx + dy * dy <= (radius * radius)[..., None, None]
    return _accumulate_reference(covered & mask[..., None, None], value, add, out)


def stamp_boxes_reference(
    grid, x, y, angle, half_length, half_width, value=1.0, *, mode="max", mask=None, out=None
):
    """``stamp_boxes`` in numpy, over ``(B, N, rows, cols)``."""
    sizes = {"angle": 0.0 if angle is None else angle, "half_length": half_length}
    sizes |= {"half_width": half_width, "value": value}
    x, y, (angle, half_length, half_width, value), mask, out, add = _stamp_arguments(
        grid, x, y, sizes, mask, out, mode
    )
    wide = angle.astype(np.float64)
    c = np.cos(wide).astype(np.float32)[..., None, None]
    s = np.sin(wide).astype(np.float32)[..., None, None]
    ox = grid.centre_x[None, None, None, :] - x[..., None, None]
    oy = grid.centre_y[None, None, :, None] - y[..., None, None]
    lx = ox * c + oy * s
    ly = oy * c - ox * s
    covered = (np.abs(lx) <= half_length[..., None, None]) & (
        np.abs(ly) <= half_width[..., None, None]
    )
    return _accumulate_reference(covered & mask[..., None, None], value, add, out)


def _accumulate_reference(covered, value, add, out) -> np.ndarray:
    """Fold the bodies' values ``(B, N)`` into ``out`` where ``covered`` ``(B, N, rows, cols)``:
    the running sum in body order (``cumsum`` adds one after another, as the kernel does), or
    the maximum."""
    if add:
        terms = np.where(covered, value[..., None, None], np.float32(0))
        stacked = np.concatenate([out[:, None], terms], axis=1)
        out[...] = np.cumsum(stacked, axis=1, dtype=np.float32)[:, -1]
    else:
        terms = np.where(covered, value[..., None, None], -np.inf).astype(np.float32)
        np.maximum(out, terms.max(axis=1, initial=-np.inf), out=out)
    return out


def patches_reference(grid, field, x, y, size, fill=0.0):
    """``patches`` in numpy: fancy indexing with clipped indices, then ``fill`` off the grid."""
    field, x, y, size, fill = _patch_arguments(grid, field, x, y, size, fill)
    half = size // 2
    rows = _cell_index(y, grid.y_min, grid.cell, grid.rows, size)[..., None] - half
    cols = _cell_index(x, grid.x_min, grid.cell, grid.cols, size)[..., None] - half
    rows = rows + np.arange(size)
    cols = cols + np.arange(size)
    valid_rows = (rows >= 0) & (rows < grid.rows)
    valid_cols = (cols >= 0) & (cols < grid.cols)
    world = np.arange(x.shape[0])[:, None, None, None]
    rows_in = np.clip(rows, 0, grid.rows - 1)[..., :, None]
    cols_in = np.clip(cols, 0, grid.cols - 1)[..., None, :]
    values = field[world, rows_in, cols_in]
    valid = valid_rows[..., :, None] & valid_cols[..., None, :]
    return np.where(valid, values, fill).astype(np.float32)


def _cell_index(v, origin, cell, count, size) -> np.ndarray:
    """As ``worlds.kernels.raster.cell_index`` over an array."""
    low = -size - 2.0
    f = (v.astype(np.float64) - float(origin)) / float(cell)
    f = np.minimum(np.where(f >= low, f, low), count + size + 2.0)
    return np.floor(f).astype(np.int64)
