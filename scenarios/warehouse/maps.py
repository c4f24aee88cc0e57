"""Warehouse maps: text layouts (``x`` shelf, ``g`` goal station, ``.`` floor, ``#`` wall) and
RWARE's presets.

A map is a grid of square cells, row 0 at the top. Cell ``(row, col)`` has its centre at local
``x = (col - (W - 1) / 2) * cell``, ``y = ((H - 1) / 2 - row) * cell`` (the world's origin is the
map's centre, y up). Headings follow the grid: 0 east, 1 north, 2 west, 3 south, the angle
``heading * pi / 2``.

RWARE (Papoudakis et al., 2021; rware 2.0) builds its warehouses from three numbers:
``shelf_columns`` blocks of two shelf columns side by side, ``shelf_rows`` blocks of
``column_height`` shelves, one-cell aisles ("highways") between the blocks and around them, and
two goal cells in the middle of the bottom row, with the two columns above them kept free.
``rware_map`` writes that layout as text; the presets are RWARE's sizes:

    tiny    10 x 11   (1 row of blocks, 3 columns)     small   10 x 20   (2 rows, 3 columns)
    medium  16 x 20   (2 rows, 5 columns)              large   16 x 29   (3 rows, 5 columns)

(width x height in cells). A shelf stands on a cell that is not a highway; a loaded robot drives
only on highways, goals and free shelf cells; an unloaded one anywhere on the floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

STEP = np.array([(0, 1), (-1, 0), (0, -1), (1, 0)], dtype=np.int64)
"""(d_row, d_col) of one cell forward, per heading (0 east, 1 north, 2 west, 3 south)."""

RWARE_SIZES = {"tiny": (1, 3), "small": (2, 3), "medium": (2, 5), "large": (3, 5)}
"""Preset name -> (shelf_rows, shelf_columns), RWARE's."""


def rware_map(shelf_rows: int, shelf_columns: int, column_height: int = 8) -> str:
    """RWARE's warehouse layout as text: ``x`` shelf, ``g`` goal, ``.`` highway."""
    height = (column_height + 1) * shelf_rows + 2
    width = 3 * shelf_columns + 1
    rows = []
    for y in range(height):
        line = []
        for x in range(width):
            middle = x in (width // 2 - 1, width // 2)
            if y == height - 1 and middle:
                line.append("g")
            elif (
                x % 3 == 0
                or y % (column_height + 1) == 0
                or y == height - 1
                or (y > height - (column_height + 3) and middle)
            ):
                line.append(".")
            else:
                line.append("x")
        rows.append("".join(line))
    return "\n".join(rows)


@dataclass(frozen=True)
class WarehouseMap:
    """A parsed map: ``text`` (one line per row) and the size of a cell in metres."""

    text: str
    cell: float = 1.0

    def __post_init__(self) -> None:
        lines = self.lines
        if not lines or len({len(line) for line in lines}) != 1:
            raise ValueError("a warehouse map needs rows of one length (one line per row)")
        unknown = set("".join(lines)) - set("xg.#")
        if unknown:
            raise ValueError(
                f"a warehouse map may hold only 'x', 'g', '.', '#', got {sorted(unknown)}"
            )
        if not (self.chars == "x").any() or not (self.chars == "g").any():
            raise ValueError("a warehouse map needs at least one shelf 'x' and one goal 'g'")

    @cached_property
    def lines(self) -> list[str]:
        return [line.strip() for line in self.text.strip().splitlines() if line.strip()]

    @cached_property
    def chars(self) -> np.ndarray:
        return np.array([list(line) for line in self.lines])

    @property
    def shape(self) -> tuple[int, int]:
        return self.chars.shape

    @property
    def width(self) -> float:
        return self.shape[1] * self.cell

    @property
    def height(self) -> float:
        return self.shape[0] * self.cell

    @cached_property
    def floor(self) -> np.ndarray:
        """Cells a robot may stand on ``(H, W)`` bool (all but walls)."""
        return self.chars != "#"

    @cached_property
    def slots(self) -> np.ndarray:
        """Shelf cells ``(S, 2)`` (row, col), row-major: where shelves stand and may be put."""
        return np.argwhere(self.chars == "x")

    @cached_property
    def goals(self) -> np.ndarray:
        """Goal station cells ``(G, 2)`` (row, col), row-major."""
        return np.argwhere(self.chars == "g")

    @cached_property
    def slot_index(self) -> np.ndarray:
        """Slot number of each cell ``(H, W)`` int32, -1 where no shelf may stand."""
        index = np.full(self.shape, -1, np.int32)
        index[self.slots[:, 0], self.slots[:, 1]] = np.arange(len(self.slots))
        return index

    @cached_property
    def goal_cells(self) -> np.ndarray:
        """Whether each cell is a goal ``(H, W)`` bool."""
        return self.chars == "g"

    def centers(self, cells: np.ndarray) -> np.ndarray:
        """Local centres ``(..., 2)`` (x, y) of cells ``(..., 2)`` (row, col)."""
        h, w = self.shape
        cells = np.asarray(cells, dtype=np.float64)
        x = (cells[..., 1] - (w - 1) / 2) * self.cell
        y = ((h - 1) / 2 - cells[..., 0]) * self.cell
        return np.stack([x, y], axis=-1)

    def cells_of(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (row, col) of the cells holding local points ``(x, y)``, clipped to the map."""
        h, w = self.shape
        col = np.rint(np.asarray(x) / self.cell + (w - 1) / 2).astype(np.int64)
        row = np.rint((h - 1) / 2 - np.asarray(y) / self.cell).astype(np.int64)
        return np.clip(row, 0, h - 1), np.clip(col, 0, w - 1)


def preset_map(name: str, cell: float = 1.0) -> WarehouseMap:
    """One of RWARE's sizes (``RWARE_SIZES``) as a ``WarehouseMap``."""
    rows, columns = RWARE_SIZES[name]
    return WarehouseMap(rware_map(rows, columns), cell)


LIFELONG_SIZES = {
    "warehouse-small": {"rack_rows": 9, "rack_columns": 4},
    "warehouse-large": {"rack_rows": 15, "rack_columns": 8, "aisle": 3, "margin": 6},
}
"""Preset name -> ``lifelong_map`` arguments: 29 x 52 cells (small: 720 endpoints, 18 stations)
and 63 x 106 cells (large: 2,400 endpoints, 42 stations; its three-row aisles and six-column
margins carry the traffic of 256 robots to the stations), height x width."""


def lifelong_map(
    rack_rows: int,
    rack_columns: int,
    rack_length: int = 10,
    aisle: int = 2,
    cross_aisle: int = 2,
    margin: int = 3,
    station_every: int = 3,
) -> str:
    """A warehouse in the style of the League of Robot Runners' maps, as text: rows of racks
    ``#`` (``rack_length`` cells long, one deep; ``rack_columns`` of them side by side with
    ``cross_aisle`` floor columns between), ``aisle`` floor rows between rack rows and above the
    first, ``margin`` floor columns on each side, an endpoint ``x`` on every floor cell right above
    or below a rack cell (where goods are picked or put), and a station ``g`` in the outer column
    on each side every ``station_every`` rows (where goods leave)."""
    height = aisle + rack_rows * (1 + aisle)
    width = 2 * margin + rack_columns * (rack_length + cross_aisle) - cross_aisle
    grid = [["."] * width for _ in range(height)]
    for i in range(rack_rows):
        row = aisle + i * (1 + aisle)
        for j in range(rack_columns):
            first = margin + j * (rack_length + cross_aisle)
            for col in range(first, first + rack_length):
                grid[row][col] = "#"
                for side in (row - 1, row + 1):
                    if 0 <= side < height and grid[side][col] == ".":
                        grid[side][col] = "x"
    for row in range(1, height - 1, station_every):
        grid[row][0] = grid[row][width - 1] = "g"
    return "\n".join("".join(line) for line in grid)


def lifelong_preset(name: str, cell: float = 1.0) -> WarehouseMap:
    """One of ``LIFELONG_SIZES`` as a ``WarehouseMap`` (``x``: endpoints, ``g``: stations)."""
    return WarehouseMap(lifelong_map(**LIFELONG_SIZES[name]), cell)
