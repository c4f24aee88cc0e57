"""The density of interest of ``swarm/coverage-v0`` on its grids: a mixture of Gaussians
evaluated on the density grid, the block sums that carry it to the coarser grid of the Lloyd
reference, and its picture. Plain functions over a batch of worlds; the scenario draws the
mixture."""

from __future__ import annotations

import numpy as np

from worlds.coverage import GridField


def mixture_density(
    field: GridField,
    mixture: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    floor: float,
    free_cells: np.ndarray,
) -> np.ndarray:
    """``floor + sum_m w_m exp(-|q - mu_m|^2 / (2 sigma_m^2))`` at the cell centres ``q`` of
    ``field``, zero where ``free_cells`` is False, normalized to sum 1 per world: ``(W, G * G)``
    float32 for the ``mixture`` ``(mu_x, mu_y, sigma, w)``, each ``(W, components)``.

    float32 throughout: this runs for every reset world. A Gaussian is separable,
    ``exp(-(dx^2 + dy^2) / 2s^2) = exp(-dx^2 / 2s^2) exp(-dy^2 / 2s^2)``: per-axis factors
    ``(W, components, G)``, combined over the components by a batched matrix product.
    """
    mu_x, mu_y, sigma, weight = mixture
    count, g = len(mu_x), field.grid_size
    precision = (-0.5 / sigma**2).astype(np.float32)[..., None]
    along_x = field.cx - mu_x.astype(np.float32)[..., None]
    along_y = field.cy - mu_y.astype(np.float32)[..., None]
    factors = np.stack([along_x, along_y])  # (2, worlds, components, G)
    factors *= factors
    factors *= precision
    np.exp(factors, out=factors)
    factors[1] *= weight.astype(np.float32)[..., None]
    density = np.matmul(factors[1].transpose(0, 2, 1), factors[0])  # (worlds, G rows, G)
    density = density.reshape(count, g * g)
    density += np.float32(floor)
    density *= free_cells
    return density / density.sum(axis=1, keepdims=True)


def block_sums(weights: np.ndarray, fine: int, coarse: int) -> np.ndarray:
    """Weights ``(W, fine * fine)`` on a fine grid summed over blocks of cells into a coarse
    grid ``(W, coarse * coarse)`` (``coarse`` divides ``fine``; both row by row)."""
    count, block = len(weights), fine // coarse
    # Over each block's rows (a middle axis), then its columns (strided adds).
    rows = np.add.reduce(weights.reshape(count, coarse, block, fine), axis=2)
    total = rows[..., 0::block].copy()
    for column in range(1, block):
        total += rows[..., column::block]
    return total.reshape(count, coarse * coarse)


def draw_density(canvas, field: GridField, env_index: int, covered: np.ndarray) -> None:
    """Shade the cells of world ``env_index`` that hold more than 5% of its peak density on a
    ``worlds.render.Canvas``: warm where ``covered`` ``(G * G,)`` is True, grey elsewhere."""
    values = field.values[env_index]
    peak = max(float(values.max()), 1e-12)
    half = field.cell / 2
    for cell in np.flatnonzero(values > 0.05 * peak).tolist():
        level = float(values[cell]) / peak
        centre = field.centres[cell]
        x, y = float(centre.real), float(centre.imag)
        shade = (
            (255, int(240 - 150 * level), int(220 - 200 * level))
            if covered[cell]
            else (int(250 - 60 * level), int(250 - 60 * level), int(246 - 60 * level))
        )
        corners = [(x - half, y - half), (x + half, y - half), (x + half, y + half)]
        canvas.polygon([*corners, (x - half, y + half)], fill=shade)
