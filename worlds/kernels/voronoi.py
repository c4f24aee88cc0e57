"""Voronoi kernels over a grid field: the field-weighted centroids of each point's Voronoi
cell, Lloyd's algorithm built on them, and the nearest-point distance of the locational cost
(``worlds.coverage.GridField``).

Positions are complex64 ``(B, N)``; cell centres float32 ``cx``, ``cy`` ``(cells,)``. Points are
ranked per cell by ``|p|^2 - 2 p . q`` in float32, rounded as the references' matrix product
(``_centre_rows``) rounds it: ``fma(-2 py, cy, -2 px * cx) + |p|^2``, the fused multiply-add
emulated in float64 (the float32 product is exact there; only a double rounding, about one
case in 2^29, could differ from a true fused one). Cell sums run in float32 over 16
interleaved partial sums (cell ``c`` into ``c % 16``) folded pairwise, a fixed order; a
matrix library's may differ, so ``voronoi_centroids`` and ``lloyd`` match their references
to float32 rounding rather than bit for bit (bit for bit where the library sums that way).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from worlds.kernels import kernel

LANES = 16
"""Partial sums per moment in ``cell_sums``."""

EMPTY = np.float32(1e-12)
"""A Voronoi cell of at most this mass keeps its point."""


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (float32): LLVM's ``fma`` (one instruction where the CPU
    has it, a library call where not)."""
    signature = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        f32 = ir.FloatType()
        kind = ir.FunctionType(f32, [f32, f32, f32])
        function = builder.module.declare_intrinsic("llvm.fma", [f32], kind)
        return builder.call(function, args)

    return signature, codegen


@kernel(inline="always")
def relative_distance2(a0, a1, a2, cx, cy):
    """``a0 * cx + a1 * cy + a2`` (``a0 = -2 px``, ``a1 = -2 py``, ``a2 = |p|^2``) in float32,
    rounded as ``fma(a1, cy, a0 * cx) + a2``."""
    return fma(a1, cy, a0 * cx) + a2


@kernel(inline="always")
def point_terms(p):
    """``(-2 px, -2 py, px^2 + py^2)`` in float32 as the references compute them."""
    px, py = p.real, p.imag
    return px * np.float32(-2.0), py * np.float32(-2.0), px * px + py * py


@kernel(inline="always")
def nearest(points, b, cx, cy, near, owner, ties):
    """Per cell of world ``b``: the least ``relative_distance2`` over the points (``near``),
    the first point reaching it (``owner``) and how many do (``ties``)."""
    a0, a1, a2 = point_terms(points[b, 0])
    for c in range(cx.shape[0]):
        near[c] = relative_distance2(a0, a1, a2, cx[c], cy[c])
        owner[c] = 0
        ties[c] = 1
    for i in range(1, points.shape[1]):
        a0, a1, a2 = point_terms(points[b, i])
        for c in range(cx.shape[0]):
            d = relative_distance2(a0, a1, a2, cx[c], cy[c])
            closer = d < near[c]
            ties[c] = 1 if closer else ties[c] + (d == near[c])
            owner[c] = i if closer else owner[c]
            near[c] = d if closer else near[c]


@kernel(inline="always")
def cell_sums(points, b, cx, cy, moments, near, owner, ties, lanes):
    """Each point's sums of ``moments[b]`` ``(cells, 3)`` over the cells it is nearest to
    (a tied cell counts for every tied point) into ``lanes[:, :, 0]``."""
    lanes[:] = 0
    for c in range(cx.shape[0]):
        lane = c % LANES
        if ties[c] == 1:
            o = owner[c]
            for k in range(3):
                lanes[o, k, lane] += moments[b, c, k]
        else:
            for i in range(points.shape[1]):
                a0, a1, a2 = point_terms(points[b, i])
                if relative_distance2(a0, a1, a2, cx[c], cy[c]) == near[c]:
                    for k in range(3):
                        lanes[i, k, lane] += moments[b, c, k]
    width = LANES
    while width > 1:
        width //= 2
        for i in range(points.shape[1]):
            for k in range(3):
                for j in range(width):
                    lanes[i, k, j] = lanes[i, k, 2 * j] + lanes[i, k, 2 * j + 1]


@kernel
def centroids(points, iterations, cx, cy, moments, mass):
    """``iterations`` Lloyd steps in place on ``points`` ``(B, N)``: each point to the centroid
    of its Voronoi cell weighted by ``moments`` ``(B, cells, 3)`` (weight, weight * x,
    weight * y), or where it is when the cell's mass is at most ``EMPTY``. The last step's
    masses go to ``mass`` ``(B, N)``."""
    n, cells = points.shape[1], cx.shape[0]
    near = np.empty(cells, np.float32)
    owner = np.empty(cells, np.int32)
    ties = np.empty(cells, np.int32)
    lanes = np.empty((n, 3, LANES), np.float32)
    one = np.float32(1.0)
    for b in range(points.shape[0]):
        for _ in range(iterations):
            nearest(points, b, cx, cy, near, owner, ties)
            cell_sums(points, b, cx, cy, moments, near, owner, ties, lanes)
            for i in range(n):
                m = lanes[i, 0, 0]
                mass[b, i] = m
                if m > EMPTY:  # numpy's complex division by m + 0j: times 1 / m
                    scale = one / m
                    points[b, i] = complex(lanes[i, 1, 0] * scale, lanes[i, 2, 0] * scale)


@kernel
def nearest_distance2(points, cx, cy, norm2, out):
    """Squared distance from each cell centre to its nearest point, ``out`` float32
    ``(B, cells)``: the least ``relative_distance2`` plus ``norm2`` (``|q|^2``), at least 0."""
    zero = np.float32(0.0)
    for b in range(points.shape[0]):
        a0, a1, a2 = point_terms(points[b, 0])
        for c in range(cx.shape[0]):
            out[b, c] = relative_distance2(a0, a1, a2, cx[c], cy[c])
        for i in range(1, points.shape[1]):
            a0, a1, a2 = point_terms(points[b, i])
            for c in range(cx.shape[0]):
                d = relative_distance2(a0, a1, a2, cx[c], cy[c])
                out[b, c] = d if d < out[b, c] else out[b, c]
        for c in range(cx.shape[0]):
            d = out[b, c] + norm2[c]
            out[b, c] = d if d > zero else zero
