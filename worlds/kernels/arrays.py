"""Elementwise accumulation for small arrays of mixed types: ``total += values`` (``min``,
``max``) where ``total`` is float64 and ``values`` float32 or bool. A numpy ufunc with a cast
costs about a microsecond on a few elements (its buffered loop); these cost a third of that.
Both arrays are 2-D of the same shape, any strides."""

from __future__ import annotations

import numpy as np

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
