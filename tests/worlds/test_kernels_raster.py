"""Raster kernels (worlds.raster) against their numpy references and hand-checked grids."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worlds.raster import (
    Grid,
    patches,
    patches_reference,
    stamp_boxes,
    stamp_boxes_reference,
    stamp_discs,
    stamp_discs_reference,
)

# Cell sizes: powers of two put cell boundaries and centres on exact float32 values (bodies on
# boundaries, centres on a disc's rim); the others do not.
CELLS = [0.25, 0.5, 1.0, 0.1, 0.3, 1 / 3]


def random_setup(seed, num_worlds, n, cell_choice, rows, cols, on_boundaries):
    rng = np.random.default_rng(seed)
    cell = CELLS[cell_choice]
    x_min, y_min = (float(v) for v in np.round(rng.uniform(-3, 0, 2) / 0.25) * 0.25)
    grid = Grid(x_min, y_min, cell, rows, cols)
    # Bodies anywhere over the grid and a little beyond it.
    x = rng.uniform(x_min - 1, x_min + cols * cell + 1, (num_worlds, n)).astype(np.float32)
    y = rng.uniform(y_min - 1, y_min + rows * cell + 1, (num_worlds, n)).astype(np.float32)
    if on_boundaries:  # on cell boundaries and corners (exact for power-of-two cells)
        x = (x_min + np.round((x - x_min) / cell) * cell).astype(np.float32)
        y = (y_min + np.round((y - y_min) / cell) * cell).astype(np.float32)
    return rng, grid, x, y


setup_parameters = {
    "seed": st.integers(0, 2**32 - 1),
    "num_worlds": st.integers(1, 3),
    "n": st.integers(1, 6),
    "cell_choice": st.integers(0, len(CELLS) - 1),
    "rows": st.integers(1, 14),
    "cols": st.integers(1, 14),
    "on_boundaries": st.booleans(),
}


def stamp_options(rng, grid, x, mode, use_mask, use_out):
    options = {"mode": mode}
    if use_mask:
        options["mask"] = rng.random(x.shape) < 0.7
    if use_out:
        options["out"] = rng.normal(size=(x.shape[0], *grid.shape)).astype(np.float32)
    value = rng.normal(size=x.shape).astype(np.float32)
    return value, options


def copy_options(options):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in options.items()}


@settings(max_examples=50, deadline=None)
@given(
    **setup_parameters,
    mode=st.sampled_from(["max", "sum"]),
    use_mask=st.booleans(),
    use_out=st.booleans(),
    whole_cells=st.booleans(),
)
def test_stamp_discs_equals_reference(mode, use_mask, use_out, whole_cells, **parameters):
    rng, grid, x, y = random_setup(**parameters)
    radius = rng.uniform(0, 1.5, x.shape).astype(np.float32)
    if whole_cells:  # radii of whole cells: centres exactly on the rim
        radius = (np.round(radius / grid.cell) * grid.cell).astype(np.float32)
    value, options = stamp_options(rng, grid, x, mode, use_mask, use_out)
    # Exact, sums included: same float32 tests of each centre, values added in body order.
    got = stamp_discs(grid, x, y, radius, value, **copy_options(options))
    expected = stamp_discs_reference(grid, x, y, radius, value, **copy_options(options))
    assert got.dtype == np.float32 and got.shape == (x.shape[0], *grid.shape)
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=50, deadline=None)
@given(
    **setup_parameters,
    mode=st.sampled_from(["max", "sum"]),
    use_mask=st.booleans(),
    use_out=st.booleans(),
    axis_aligned=st.booleans(),
)
def test_stamp_boxes_equals_reference(mode, use_mask, use_out, axis_aligned, **parameters):
    rng, grid, x, y = random_setup(**parameters)
    angle = None if axis_aligned else rng.uniform(-4, 4, x.shape).astype(np.float32)
    half_length = rng.uniform(0, 1.5, x.shape).astype(np.float32)
    half_width = rng.uniform(0, 0.8, x.shape[1]).astype(np.float32)
    if axis_aligned:  # sizes of whole half cells: faces through cell centres
        half_length = (np.round(half_length / grid.cell * 2) * grid.cell / 2).astype(np.float32)
    value, options = stamp_options(rng, grid, x, mode, use_mask, use_out)
    args = (grid, x, y, angle, half_length, half_width, value)
    got = stamp_boxes(*args, **copy_options(options))
    expected = stamp_boxes_reference(*args, **copy_options(options))
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=50, deadline=None)
@given(**setup_parameters, size=st.integers(1, 7), nan_body=st.booleans())
def test_patches_equal_reference(size, nan_body, **parameters):
    rng, grid, x, y = random_setup(**parameters)
    if nan_body:
        x[0, 0] = np.nan
    field = rng.normal(size=(x.shape[0], *grid.shape)).astype(np.float32)
    got = patches(grid, field, x, y, size, fill=-7.0)
    expected = patches_reference(grid, field, x, y, size, fill=-7.0)
    assert got.shape == (*x.shape, size, size) and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    if nan_body:
        assert (got[0, 0] == -7.0).all()


@settings(max_examples=25, deadline=None)
@given(**setup_parameters, data=st.data())
def test_deterministic_and_independent_of_other_worlds(data, **parameters):
    rng, grid, x, y = random_setup(**parameters)
    radius = rng.uniform(0, 1.0, x.shape).astype(np.float32)
    value = rng.normal(size=x.shape).astype(np.float32)
    angle = rng.uniform(-4, 4, x.shape).astype(np.float32)
    subset = data.draw(st.lists(st.integers(0, x.shape[0] - 1), min_size=1, unique=True))

    def run(ix):
        discs = stamp_discs(grid, x[ix], y[ix], radius[ix], value[ix], mode="sum")
        both = stamp_boxes(grid, x[ix], y[ix], angle[ix], radius[ix], 0.2, 1.0, out=discs.copy())
        return discs, both, patches(grid, both, x[ix], y[ix], 4)

    every = slice(None)
    for whole, again, part in zip(run(every), run(every), run(subset), strict=True):
        assert whole.tobytes() == again.tobytes()
        assert whole[subset].tobytes() == part.tobytes()


def one_body_grid(stamp, *args, **kwargs):
    """Stamp one body into a 7 x 7 grid of unit cells centred on the origin (cell (3, 3) holds
    the origin); returns the grid as ints, after checking kernel and reference agree."""
    grid = Grid(-3.5, -3.5, 1.0, 7, 7)
    x = np.zeros((1, 1), np.float32)
    kernel_version, reference = stamp
    got = kernel_version(grid, x, x, *args, **kwargs)
    np.testing.assert_array_equal(got, reference(grid, x, x, *args, **kwargs))
    return got[0].astype(int)


DISCS = (stamp_discs, stamp_discs_reference)
BOXES = (stamp_boxes, stamp_boxes_reference)


def test_hand_checked_discs():
    # Radius below one cell: only the body's own cell centre is inside.
    assert one_body_grid(DISCS, 0.9).sum() == 1
    # Radius exactly one cell: the four neighbours' centres lie on the rim (boundary counts).
    plus = one_body_grid(DISCS, 1.0)
    assert plus.sum() == 5 and plus[3, 2:5].tolist() == [1, 1, 1] and plus[2:5, 3].sum() == 3
    # Radius sqrt(2): the full 3 x 3 block (corner centres at distance 1.414... < 1.4143).
    assert one_body_grid(DISCS, 1.4143)[2:5, 2:5].sum() == 9
    # Zero radius still covers the centre it sits on.
    assert one_body_grid(DISCS, 0.0)[3, 3] == 1


def test_hand_checked_boxes():
    # 2.2 long (along x), 1.2 wide: 3 columns by 1 row of centres.
    flat = one_body_grid(BOXES, None, 1.1, 0.6)
    assert flat.sum() == 3 and flat[3, 2:5].tolist() == [1, 1, 1]
    # Turned a quarter: 3 rows by 1 column.
    turned = one_body_grid(BOXES, np.pi / 2, 1.1, 0.6)
    assert turned.sum() == 3 and turned[2:5, 3].tolist() == [1, 1, 1]
    # Turned 45 degrees, half sizes 1.5 by 0.3: the diagonal cells (distance 1.414 along it).
    diagonal = one_body_grid(BOXES, np.pi / 4, 1.5, 0.3)
    assert diagonal.sum() == 3 and diagonal[2, 2] == diagonal[4, 4] == 1


def test_sum_counts_overlaps_and_max_keeps_the_largest():
    grid = Grid(0.0, 0.0, 1.0, 1, 4)  # centres at x = 0.5, 1.5, 2.5, 3.5
    x = np.array([[1.0, 2.0]], np.float32)
    y = np.full((1, 2), 0.5, np.float32)
    counts = stamp_discs(grid, x, y, 0.6, mode="sum")
    assert counts[0, 0].tolist() == [1, 2, 1, 0]
    highest = stamp_discs(grid, x, y, 0.6, np.array([[3.0, 5.0]]), mode="max")
    assert highest[0, 0].tolist() == [3, 5, 5, 0]
    # Into an existing grid: max keeps the larger, sum adds, a masked body adds nothing.
    base = np.full((1, 1, 4), 4.0, np.float32)
    stamp_discs(grid, x, y, 0.6, np.array([[3.0, 5.0]]), out=base)
    assert base[0, 0].tolist() == [4, 5, 5, 4]
    mask = np.array([[True, False]])
    stamp_discs(grid, x, y, 0.6, 1.0, mode="sum", mask=mask, out=base)
    assert base[0, 0].tolist() == [5, 6, 5, 4]


def test_hand_checked_patches():
    grid = Grid(0.0, 0.0, 1.0, 4, 5)
    field = np.arange(20, dtype=np.float32).reshape(1, 4, 5)  # field[row, col] = 5 row + col
    # Body in cell (row 1, col 2), and one exactly on the corner shared with cell (1, 2) from
    # below-left: floor puts it in (1, 2) too. Then the grid's top right corner cell.
    x = np.array([[2.5, 2.0, 4.9]], np.float32)
    y = np.array([[1.5, 1.0, 3.9]], np.float32)
    got = patches(grid, field, x, y, 3, fill=-1)
    np.testing.assert_array_equal(got[0, 0], field[0, 0:3, 1:4])
    np.testing.assert_array_equal(got[0, 1], field[0, 0:3, 1:4])
    assert got[0, 2].tolist() == [[13, 14, -1], [18, 19, -1], [-1, -1, -1]]
    # Even size: the body's cell is at [size // 2, size // 2].
    even = patches(grid, field, x[:, :1], y[:, :1], 2, fill=-1)
    assert even[0, 0].tolist() == [[1, 2], [6, 7]]
    # Far outside: all fill.
    far = patches(grid, field, np.array([[1e30]]), np.array([[-1e30]]), 3, fill=-1)
    assert (far == -1).all()


def test_centred_grid_covers_the_world():
    grid = Grid.centred(4.0, 3.0, 0.5)
    assert (grid.x_min, grid.y_min, grid.rows, grid.cols) == (-2.0, -1.5, 6, 8)
    assert grid.centre_x[0] == -1.75 and grid.centre_y[-1] == 1.25
    assert Grid.centred(1.0, 1.0, 0.3).shape == (4, 4)  # overhangs by 0.2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda g, z: stamp_discs(g, z, z[:, :2], 0.5), "y must have shape"),
        (lambda g, z: stamp_discs(g, z, z, np.ones((3,))), "radius must be a scalar"),
        (lambda g, z: stamp_discs(g, z, z, -1.0), "radius must be >= 0"),
        (lambda g, z: stamp_discs(g, z, z, 0.5, mode="mean"), "mode must be one of"),
        (lambda g, z: stamp_discs(g, z, z, 0.5, mask=np.ones((2, 4))), "mask must be a bool"),
        (lambda g, z: stamp_discs(g, z, z, 0.5, out=np.zeros((2, 4, 4))), "out must be"),
        (lambda g, z: stamp_discs("grid", z, z, 0.5), "grid must be a worlds.raster.Grid"),
        (lambda g, z: stamp_boxes(g, z, z.astype(str), 0, 1, 1), "y must hold real numbers"),
        (lambda g, z: stamp_boxes(g, z, z, 0, 1, -1), "half_width must be >= 0"),
        (lambda g, z: patches(g, np.zeros((2, 4, 5)), z, z, 3), "field must have shape"),
        (lambda g, z: patches(g, np.zeros((2, 4, 4)), z, z, 0), "size must be >= 1"),
        (lambda g, z: Grid(0, 0, 0.0, 4, 4), "Grid cell must be a finite number > 0"),
        (lambda g, z: Grid(0, 0, 1.0, 4.5, 4), "Grid rows must be an integer"),
    ],
)
def test_bad_arguments_name_the_argument(call, message):
    grid = Grid(0.0, 0.0, 1.0, 4, 4)
    with pytest.raises(ValueError, match=message) as error:
        call(grid, np.zeros((2, 4), np.float32))
    assert "\n" not in str(error.value)
