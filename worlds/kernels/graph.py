"""Graph kernels: whether each world's graph is connected (``scenarios.swarm.common``'s
``is_connected``; its numpy reference is ``is_connected_reference``).

Graphs are dense bool adjacency tables ``(B, N, N)``, symmetric; a world is searched from its
first counted node by a depth-first walk over the table, so the cost is ``N^2`` per world with
no matrix products.
"""

from __future__ import annotations

import numpy as np

from worlds.kernels import kernel


@kernel
def connected(adjacent, alive, use_alive, out):
    """``out[b]``: whether every counted node of world ``b`` (all, or those ``alive`` when
    ``use_alive``) is reachable from the first counted one through ``adjacent`` (any node may
    be passed through; a world with at most one counted node is connected). Up to 64 nodes the
    rows become bit masks and the reached set grows by whole rows, without a data-dependent
    branch per entry; above that, a depth-first walk."""
    num_worlds, n = adjacent.shape[0], adjacent.shape[1]
    rows = np.empty(n, np.uint64)
    seen = np.empty(n, np.bool_)
    stack = np.empty(n, np.int64)
    for b in range(num_worlds):
        first, counted = -1, np.uint64(0)
        for i in range(n):
            if not use_alive or alive[b, i]:
                counted |= np.uint64(1) << np.uint64(i % 64)
                if first < 0:
                    first = i
        if first < 0:
            out[b] = True
        elif n <= 64:
            out[b] = reaches_bits(adjacent, b, first, counted, rows)
        else:
            out[b] = reaches_walk(adjacent, alive, use_alive, b, first, seen, stack)


@kernel(inline="always")
def reaches_bits(adjacent, b, first, counted, rows):
    """Whether node ``first`` reaches every node of the mask ``counted`` (``N <= 64``)."""
    n, zero = adjacent.shape[1], np.uint64(0)
    for i in range(n):
        row = zero
        for j in range(n):
            row |= np.uint64(adjacent[b, i, j]) << np.uint64(j)
        rows[i] = row
    reached, grown = zero, np.uint64(1) << np.uint64(first)
    while grown != reached:
        reached = grown
        for i in range(n):
            grown |= rows[i] if (reached >> np.uint64(i)) & np.uint64(1) else zero
    return reached & counted == counted


@kernel(inline="always")
def reaches_walk(adjacent, alive, use_alive, b, first, seen, stack):
    """Whether node ``first`` reaches every counted node, by a depth-first walk."""
    n = adjacent.shape[1]
    seen[:] = False
    seen[first] = True
    stack[0] = first
    top = 1
    while top > 0:
        top -= 1
        i = stack[top]
        for j in range(n):
            if adjacent[b, i, j] and not seen[j]:
                seen[j] = True
                stack[top] = j
                top += 1
    for i in range(n):
        if not seen[i] and (not use_alive or alive[b, i]):
            return False
    return True
