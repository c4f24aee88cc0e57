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
    be passed through; a world with at most one counted node is connected)."""
    num_worlds, n = adjacent.shape[0], adjacent.shape[1]
    seen = np.empty(n, np.bool_)
    stack = np.empty(n, np.int64)
    for b in range(num_worlds):
        first = -1
        for i in range(n):
            seen[i] = False
            if first < 0 and (not use_alive or alive[b, i]):
                first = i
        if first < 0:
            out[b] = True
            continue
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
        reached = True
        for i in range(n):
            if not seen[i] and (not use_alive or alive[b, i]):
                reached = False
        out[b] = reached
