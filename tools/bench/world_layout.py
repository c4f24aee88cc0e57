"""Measure the two ways to hold B small worlds in pymunk: one Space with the worlds offset in
space, or B separate Spaces stepped in a loop. Same bodies, walls, forces and bulk reads in both.

    python tools/bench/world_layout.py [--worlds 64] [--bodies 16] [--steps 200]

Prints microseconds per step (2 substeps, bulk read after each) and body-steps/s for each layout,
and for the single Space both of chipmunk's broadphases (spatial hash with cells of 12 body radii,
and its bounding-box tree); for separate Spaces also with each space's substeps back to back
(world-major: the space stays in cache between its substeps).
The WorldBatch docstring quotes these figures; it keeps the faster layout.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pymunk
import pymunk.batch as pbatch

FIELDS_IN = pbatch.BodyFields.POSITION | pbatch.BodyFields.VELOCITY
FIELDS_OUT = pbatch.BodyFields.FORCE


def build(space: pymunk.Space, ox: float, oy: float, n: int, size: float, rng) -> None:
    half = size / 2
    for (ax, ay), (bx, by) in (
        ((-half, -half), (half, -half)),
        ((half, -half), (half, half)),
        ((half, half), (-half, half)),
        ((-half, half), (-half, -half)),
    ):
        space.add(pymunk.Segment(space.static_body, (ax + ox, ay + oy), (bx + ox, by + oy), 0.05))
    for _ in range(n):
        body = pymunk.Body(1.0, pymunk.moment_for_circle(1.0, 0, 0.1))
        body.position = (ox + rng.uniform(-0.9, 0.9) * half, oy + rng.uniform(-0.9, 0.9) * half)
        space.add(body, pymunk.Circle(body, 0.1))


def make_spaces(
    worlds: int,
    bodies: int,
    one_space: bool,
    size: float = 4.0,
    seed: int = 0,
    hash_cell: float = 0.0,
):
    rng = np.random.default_rng(seed)
    columns = math.ceil(math.sqrt(worlds))
    if one_space:
        space = pymunk.Space()
        space.damping = 0.5
        if hash_cell:
            space.use_spatial_hash(hash_cell, 4 * worlds * (bodies + 4) + 1000)
        for w in range(worlds):
            build(space, (w % columns) * size * 1.5, (w // columns) * size * 1.5, bodies, size, rng)
        return [space]
    spaces = []
    for _ in range(worlds):
        space = pymunk.Space()
        space.damping = 0.5
        build(space, 0.0, 0.0, bodies, size, rng)
        spaces.append(space)
    return spaces


def time_layout(worlds: int, bodies: int, steps: int, one_space: bool, hash_cell=0.0,
                world_major: bool = False) -> float:  # fmt: skip
    spaces = make_spaces(worlds, bodies, one_space, hash_cell=hash_cell)
    per_space = worlds * bodies // len(spaces)
    reads, writes, arrays = [], [], []
    rng = np.random.default_rng(1)
    for _ in spaces:
        read = pbatch.Buffer()
        out = np.zeros((per_space + 4) * 2)
        write = pbatch.Buffer()
        write.set_float_buf(out)
        reads.append(read)
        writes.append(write)
        arrays.append(out)
    forces = rng.uniform(-2, 2, (steps, per_space * 2))
    start = time.perf_counter()
    for step in range(steps):
        if world_major:  # each space's substeps back to back, while it is in cache
            for space, read, write, out in zip(spaces, reads, writes, arrays, strict=True):
                for _substep in range(2):
                    out[: per_space * 2] = forces[step]
                    pbatch.set_space_bodies(space, FIELDS_OUT, write)
                    space.step(0.05)
                    read.clear()
                    pbatch.get_space_bodies(space, FIELDS_IN, read)
            continue
        for _substep in range(2):
            for space, read, write, out in zip(spaces, reads, writes, arrays, strict=True):
                out[: per_space * 2] = forces[step]
                pbatch.set_space_bodies(space, FIELDS_OUT, write)
                space.step(0.05)
                read.clear()
                pbatch.get_space_bodies(space, FIELDS_IN, read)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, default=64)
    parser.add_argument("--bodies", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    layouts = (
        ("one Space, spatial hash", True, 1.2, False),
        ("one Space, bb-tree", True, 0.0, False),
        ("separate Spaces, bb-tree", False, 0.0, False),
        ("separate, substeps together", False, 0.0, True),
    )
    for label, one_space, hash_cell, world_major in layouts:
        seconds = time_layout(args.worlds, args.bodies, args.steps, one_space, hash_cell,
                              world_major)  # fmt: skip
        rate = args.worlds * args.bodies / seconds
        print(
            f"{label:28s} worlds={args.worlds:4d} bodies={args.bodies:3d} "
            f"{seconds * 1e6:9.1f} us/step {rate / 1e6:6.2f} M body-steps/s"
        )


if __name__ == "__main__":
    main()
