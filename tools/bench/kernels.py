"""Time the compiled sensor kernels against their numpy references, and their compile and
cached-load times.

    python tools/bench/kernels.py [--worlds 64] [--bodies 16] [--rays 32] [--boxes 8]
        [--segments 40] [--grid 64] [--lanes 8] [--vertices 32] [--rounds 9]

For each public function (``worlds.rays.lidar``, ``worlds.raster.stamp_discs``, ``stamp_boxes``,
``patches``, ``worlds.polyline.project``, ``nearest_lane``) the kernel and the numpy reference
run on the same inputs, alternating in short windows (``--rounds`` of each) so that both see the
same machine load; the table gives the median microseconds per call of each and their ratio.

Then each function's first call is timed in two fresh processes sharing an empty numba cache
directory (``NUMBA_CACHE_DIR``): the first process compiles the kernels and writes the cache,
the second loads them from it, which is what every later process on the machine pays. The
first row is numba's own start-up in a process (the first call of any kernel, timed on a tiny
one); kernels shared by several functions count for the first of them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from worlds import polyline, raster, rays  # noqa: E402


def make_cases(args) -> dict[str, tuple]:
    """name -> (kernel call, reference call), both without arguments, on shared inputs."""
    rng = np.random.default_rng(0)
    b, n, half = args.worlds, args.bodies, 8.0
    x = rng.uniform(-half, half, (b, n)).astype(np.float32)
    y = rng.uniform(-half, half, (b, n)).astype(np.float32)
    heading = rng.uniform(-np.pi, np.pi, (b, n)).astype(np.float32)
    segments = rng.uniform(-half, half, (args.segments, 4)).astype(np.float32)
    k = args.boxes
    boxes = {
        "box_x": rng.uniform(-half, half, (b, k)).astype(np.float32),
        "box_y": rng.uniform(-half, half, (b, k)).astype(np.float32),
        "box_angle": rng.uniform(-np.pi, np.pi, (b, k)).astype(np.float32),
        "box_half_length": 0.6,
        "box_half_width": 0.3,
    }
    lidar_kwargs = dict(segments=segments, circle_x=x, circle_y=y, circle_radius=0.2)
    lidar_kwargs |= dict(exclude_self=True, **boxes)
    lidar_args = (x, y, heading, args.rays, 5.0)
    grid = raster.Grid.centred(2 * half, 2 * half, 2 * half / args.grid)
    radius = rng.uniform(0.2, 0.8, (b, n)).astype(np.float32)
    field = rng.random((b, *grid.shape)).astype(np.float32)
    walk = rng.uniform(-1, 1, (args.lanes, args.vertices, 2)).cumsum(1) + rng.uniform(
        -half, half, (args.lanes, 1, 2)
    )
    lanes = polyline.Lanes(walk.astype(np.float32))
    lane_index = rng.integers(0, args.lanes, (b, n))
    box_stamp = (grid, x, y, heading, radius, 0.5 * radius)
    return {
        "lidar": (
            lambda: rays.lidar(*lidar_args, **lidar_kwargs),
            lambda: rays.lidar_reference(*lidar_args, **lidar_kwargs),
        ),
        "stamp_discs": (
            lambda: raster.stamp_discs(grid, x, y, radius),
            lambda: raster.stamp_discs_reference(grid, x, y, radius),
        ),
        "stamp_boxes": (
            lambda: raster.stamp_boxes(*box_stamp),
            lambda: raster.stamp_boxes_reference(*box_stamp),
        ),
        "patches": (
            lambda: raster.patches(grid, field, x, y, 11),
            lambda: raster.patches_reference(grid, field, x, y, 11),
        ),
        "project": (
            lambda: polyline.project(x, y, lanes, lane_index),
            lambda: polyline.project_reference(x, y, lanes, lane_index),
        ),
        "nearest_lane": (
            lambda: polyline.nearest_lane(x, y, lanes),
            lambda: polyline.nearest_lane_reference(x, y, lanes),
        ),
    }


def per_call_us(call, seconds: float) -> float:
    """Microseconds per call over a window of about ``seconds``."""
    calls, start = 0, time.perf_counter()
    while True:
        call()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return 1e6 * elapsed / calls


def bench(args) -> None:
    print(
        f"{args.worlds} worlds x {args.bodies} bodies, {args.rays} rays, {args.boxes} boxes, "
        f"{args.segments} segments; grid {args.grid}x{args.grid}; "
        f"{args.lanes} lanes x {args.vertices} vertices; median of {args.rounds} windows"
    )
    print(f"{'function':14s} {'kernel us':>11s} {'numpy us':>11s} {'numpy/kernel':>13s}")
    for name, (kernel_call, reference_call) in make_cases(args).items():
        kernel_call(), reference_call()  # compile or load, warm up
        kernel_times, reference_times = [], []
        for _ in range(args.rounds):
            kernel_times.append(per_call_us(kernel_call, args.window))
            reference_times.append(per_call_us(reference_call, args.window))
        kernel_us = statistics.median(kernel_times)
        reference_us = statistics.median(reference_times)
        ratio = reference_us / kernel_us
        print(f"{name:14s} {kernel_us:11.1f} {reference_us:11.1f} {ratio:12.1f}x")


def probe(args) -> None:
    """In a child process: seconds for each function's first call (compile or cache load),
    after numba's own start-up in the process, timed on the first call of a tiny kernel."""
    from worlds.kernels.raster import cell_index

    start = time.perf_counter()
    cell_index(0.0, 0.0, 1.0, 1, 1)
    first = {"(numba start)": time.perf_counter() - start}
    for name, (kernel_call, _) in make_cases(args).items():
        start = time.perf_counter()
        kernel_call()
        first[name] = time.perf_counter() - start
    print(json.dumps(first))


def compile_times(args) -> None:
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        command = [sys.executable, __file__, "--probe", *sys.argv[1:]]
        runs = []
        for _ in range(2):
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("\nfirst call in a fresh process (ms): compile with an empty cache, then load from it")
    print(f"{'function':14s} {'compile':>10s} {'cached':>10s}")
    for name in runs[0]:
        print(f"{name:14s} {1e3 * runs[0][name]:10.0f} {1e3 * runs[1][name]:10.1f}")
    kernels = [sum(v for k, v in run.items() if not k.startswith("(")) for run in runs]
    print(f"{'kernels only':14s} {1e3 * kernels[0]:10.0f} {1e3 * kernels[1]:10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (
        ("worlds", 64),
        ("bodies", 16),
        ("rays", 32),
        ("boxes", 8),
        ("segments", 40),
        ("grid", 64),
        ("lanes", 8),
        ("vertices", 32),
        ("rounds", 9),
    ):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--window", type=float, default=0.1, help="seconds per timing window")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-compile", action="store_true", help="skip the compile timing")
    args = parser.parse_args()
    if args.probe:
        probe(args)
        return
    bench(args)
    if not args.no_compile:
        compile_times(args)


if __name__ == "__main__":
    main()
