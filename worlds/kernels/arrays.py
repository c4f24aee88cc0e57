"""Elementwise accumulation for small arrays of mixed types: ``total += values`` (``min``,
``max``) where ``total`` is float64 and ``values`` float32 or bool. A numpy ufunc with a cast
costs about a microsecond on a few elements (its buffered loop); these cost a third of that.
Both arrays are 2-D of the same shape, any strides."""

from __future__ import annotations

import numpy as np
from numba import literal_unroll

from worlds.kernels import kernel


@kernel
def add_into(total, values):
    for i in range(total.shape[0]):
        for j in range(total.shape[1]):
            total[i, j] += values[i, j]


@kernel
def min_into(total, values):
    """As ``numpy.minimum``: a NaN on either side wins."""
    for i in range(total.shape[0]):
        for j in range(total.shape[1]):
            value = values[i, j]
            if value < total[i, j] or np.isnan(value):
                total[i, j] = value


@kernel
def max_into(total, values):
    """As ``numpy.maximum``: a NaN on either side wins."""
    for i in range(total.shape[0]):
        for j in range(total.shape[1]):
            value = values[i, j]
            if value > total[i, j] or np.isnan(value):
                total[i, j] = value


@kernel
def copy_into(target, source):
    """``target[...] = source`` for 3-D arrays of one shape, any strides (numpy's strided copy
    of a few thousand floats costs several times more)."""
    for i in range(target.shape[0]):
        for j in range(target.shape[1]):
            for k in range(target.shape[2]):
                target[i, j, k] = source[i, j, k]


@kernel
def accumulate(adds, mins, maxs):
    """Every pair ``(total, values)`` of the tuple ``adds``: ``total += values``; of ``mins``
    and ``maxs``: ``min_into`` and ``max_into``. Pairs are 2-D of one shape (checked by the
    caller: nothing is checked here), of any types; an empty tuple is not allowed (pass a
    pair of ``(0, 0)`` arrays). A vector env's every episode accumulator in one call per step
    (``scenarios.accumulators``): a call each cost several times more, mostly in cache misses
    after the physics step."""
    for pair in literal_unroll(adds):
        add_into(pair[0], pair[1])
    for pair in literal_unroll(mins):
        min_into(pair[0], pair[1])
    for pair in literal_unroll(maxs):
        max_into(pair[0], pair[1])


@kernel
def largest(values):
    """The largest entry of a 2-D array (any strides; 0 when empty): one pass, no ufunc set-up.
    On an unsigned view of signed actions it checks both ends of a range at once."""
    top = values.dtype.type(0)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            top = max(top, values[i, j])
    return top
