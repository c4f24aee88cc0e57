"""Observation layouts: a scenario names the blocks of an agent's observation once.

An observation is a flat float32 vector per agent. Its layout is a sequence of named blocks, each
either a plain vector (own state, lidar distances) or a set of entities (landmarks, the k nearest
neighbours) with one row of named features per entity and, optionally, a validity flag per entity
(``1`` where the slot holds an entity, ``0`` where it is padding). Everything that needs to know
where a block sits reads it from the layout: the scenario's buffers (``ObsBuffer``), the module
docstring's table (``ObsLayout.table``), ``marl scenarios --obs ID``, the neighbour-set encoder of
the learners (``ObsLayout.sets``, saved with a checkpoint as plain JSON) and the tests. No offset
is ever typed by hand.

    layout = ObsLayout(
        vector("own", ("x", "y", "vx", "vy"), "own position and velocity"),
        entities("landmarks", n, ("dx", "dy"), "every landmark, relative to the drone"),
        entities("neighbours", k, ("dx", "dy", "dvx", "dvy"), "k nearest drones", valid=True),
    )
    obs = layout.buffer(num_worlds, n_agents)       # ObsBuffer over one (B, N, size) array
    obs["own"]            # (B, N, 4) float32 view
    obs.complex("landmarks")[..., 0]                 # (B, N, n) complex64 view of (dx, dy)
    obs.valid("neighbours")                          # (B, N, k) view of the validity flags
    layout.read_complex(batch, "own")                # reading any observation array: (..., 2)

Scripted policies and tests read observations the same way (``read``, ``read_complex``,
``read_valid``), so they never depend on an offset either.

A set's features come first (``count x features``, entity-major) and its validity flags follow
immediately (``count``). Views are into one preallocated array: writing a view writes the
observation, with no copy per step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces


@dataclass(frozen=True)
class Block:
    """One named part of an observation.

    ``count`` is 0 for a plain vector (its size is ``len(columns)``) and the number of entity
    slots for a set (its size is ``count * len(columns)``, plus ``count`` flags when ``valid``).
    """

    name: str
    columns: tuple[str, ...]
    doc: str
    count: int = 0
    valid: bool = False

    @property
    def is_set(self) -> bool:
        return self.count > 0 or self.valid

    @property
    def features(self) -> int:
        return len(self.columns)

    @property
    def feature_size(self) -> int:
        return self.count * self.features if self.is_set else self.features

    @property
    def size(self) -> int:
        return self.feature_size + (self.count if self.valid else 0)


def vector(name: str, columns: Sequence[str] | int, doc: str) -> Block:
    """A plain block: one value per column (``columns`` as names, or a count for ``name_0``...)."""
    if isinstance(columns, int):
        columns = tuple(f"{name}_{i}" for i in range(columns))
    return Block(name, tuple(columns), doc)


def entities(
    name: str, count: int, columns: Sequence[str], doc: str, *, valid: bool = False
) -> Block:
    """A set of ``count`` entity slots with one value per column each; with ``valid``, a flag per
    slot follows (``1`` for an entity, ``0`` for padding). ``count`` may be 0 (an empty set)."""
    return Block(name, tuple(columns), doc, count=int(count), valid=valid)


@dataclass(frozen=True)
class EntitySet:
    """Where one set block sits in the flat observation (what a set encoder needs)."""

    name: str
    start: int
    count: int
    features: int
    valid_start: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "start": self.start,
            "count": self.count,
            "features": self.features,
            "valid_start": self.valid_start,
        }


class ObsLayout:
    """The blocks of one group's observation, in order; see the module docstring."""

    def __init__(self, *blocks: Block) -> None:
        names = [block.name for block in blocks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"observation layout: block names repeat: {', '.join(duplicates)}")
        for block in blocks:
            if block.count < 0 or not block.columns:
                raise ValueError(
                    f"observation layout: block {block.name!r} needs columns and count >= 0"
                )
        self.blocks = tuple(blocks)
        self._start: dict[str, int] = {}
        offset = 0
        for block in blocks:
            self._start[block.name] = offset
            offset += block.size
        self.size = offset
        self.space = spaces.Box(-np.inf, np.inf, (offset,), np.float32)

    def __iter__(self) -> Iterator[Block]:
        return iter(self.blocks)

    def __getitem__(self, name: str) -> Block:
        for block in self.blocks:
            if block.name == name:
                return block
        raise KeyError(f"observation layout has no block {name!r} (blocks: {self.names})")

    @property
    def names(self) -> list[str]:
        return [block.name for block in self.blocks]

    def start(self, name: str) -> int:
        """Offset of block ``name``'s first value."""
        self[name]
        return self._start[name]

    def slice(self, name: str) -> slice:
        """Where block ``name``'s features sit (its validity flags not included)."""
        start = self.start(name)
        return slice(start, start + self[name].feature_size)

    def valid_slice(self, name: str) -> slice:
        """Where block ``name``'s validity flags sit."""
        block = self[name]
        if not block.valid:
            raise KeyError(f"observation block {name!r} has no validity flags")
        start = self.start(name) + block.feature_size
        return slice(start, start + block.count)

    def sets(self) -> list[EntitySet]:
        """Every non-empty set block with validity flags: the neighbour sets an encoder pools."""
        return [
            EntitySet(
                block.name,
                self._start[block.name],
                block.count,
                block.features,
                self._start[block.name] + block.feature_size,
            )
            for block in self.blocks
            if block.valid and block.count > 0
        ]

    def buffer(self, num_worlds: int, n_agents: int) -> ObsBuffer:
        """A zeroed ``(num_worlds, n_agents, size)`` float32 observation with named views."""
        return ObsBuffer(self, np.zeros((num_worlds, n_agents, self.size), np.float32))

    def table(self) -> str:
        """The layout as a text table: offset, size, block, columns and doc line per block."""
        rows = [("offset", "size", "block", "content")]
        for block in self.blocks:
            start = self._start[block.name]
            columns = ", ".join(block.columns)
            if block.is_set:
                content = f"{block.count} x ({columns})"
                if block.valid:
                    content += ", then a valid flag per slot"
            else:
                content = columns
            rows.append((str(start), str(block.size), block.name, f"{content}: {block.doc}"))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [
            f"{row[0]:>{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}"
            for row in rows
        ]
        lines.append(f"{'':>{widths[0]}}  {self.size:>{widths[1]}}  total")
        return "\n".join(lines)

    def read(self, obs: np.ndarray, name: str) -> np.ndarray:
        """Block ``name``'s features in any observation array ``(..., size)`` (a batch the env
        returned, one agent's row): ``(..., size)`` for a vector, ``(..., count, features)``
        for a set. A view when it can be one."""
        block = self[name]
        values = obs[..., self.slice(name)]
        return (
            values.reshape(*obs.shape[:-1], block.count, block.features) if block.is_set else values
        )

    def read_complex(self, obs: np.ndarray, name: str) -> np.ndarray:
        """Block ``name``'s (x, y) column pairs as complex numbers: ``(..., size / 2)`` for a
        vector (e.g. position then velocity), ``(..., count, features / 2)`` for a set."""
        values = self.read(obs, name)
        if values.shape[-1] % 2:
            raise ValueError(f"observation block {name!r} has an odd number of columns")
        return values[..., 0::2] + 1j * values[..., 1::2]

    def read_valid(self, obs: np.ndarray, name: str) -> np.ndarray:
        """Block ``name``'s validity flags as booleans ``(..., count)``."""
        return obs[..., self.valid_slice(name)] > 0.5

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: every block's name, columns, count and validity flags."""
        return {
            "size": self.size,
            "blocks": [
                {"name": b.name, "columns": list(b.columns), "count": b.count, "valid": b.valid}
                for b in self.blocks
            ],
        }


class ObsBuffer:
    """One preallocated observation array ``(B, N, size)`` with a view per block."""

    def __init__(self, layout: ObsLayout, array: np.ndarray) -> None:
        self.layout = layout
        self.array = array
        self._views: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        """Block ``name``'s features: ``(B, N, size)`` for a vector, ``(B, N, count, features)``
        for a set."""
        view = self._views.get(name)
        if view is None:
            block = self.layout[name]
            view = self.array[..., self.layout.slice(name)]
            if block.is_set:
                view = view.reshape(*self.array.shape[:2], block.count, block.features)
            self._views[name] = view
        return view

    def valid(self, name: str) -> np.ndarray:
        """Block ``name``'s validity flags ``(B, N, count)``."""
        key = name + "/valid"
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = self.array[..., self.layout.valid_slice(name)]
        return view

    def complex(self, name: str) -> np.ndarray:
        """Block ``name``'s features with each (x, y) column pair as one complex64: ``(B, N,
        size / 2)`` for a vector, ``(B, N, count, features / 2)`` for a set."""
        key = name + "/complex"
        view = self._views.get(key)
        if view is None:
            block = self.layout[name]
            if block.features % 2:
                raise ValueError(f"observation block {name!r} has an odd number of columns")
            flat = self.array[..., self.layout.slice(name)].view(np.complex64)
            if block.is_set:
                flat = flat.reshape(*self.array.shape[:2], block.count, block.features // 2)
            view = self._views[key] = flat
        return view
