"""Sensors against brute force on random worlds."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from worlds import CircleZones
from worlds.geometry import StaticGeometry
from worlds.sensors import as_complex, lidar, nearest_neighbours, pairwise, within_range


def brute_neighbours(x, y, b, i, radius=None, alive=None):
    candidates = []
    for j in range(x.shape[1]):
        if j == i or (alive is not None and not alive[b, j]):
            continue
        d = math.hypot(float(x[b, j] - x[b, i]), float(y[b, j] - y[b, i]))
        if radius is None or d <= radius:
            candidates.append((d, j))
    return sorted(candidates)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(2, 24),
    batch=st.integers(1, 4),
    use_radius=st.booleans(),
    use_alive=st.booleans(),
)
def test_nearest_neighbours_match_brute_force(seed, n, batch, use_radius, use_alive):
    rng = np.random.default_rng(seed)
    x, y, vx, vy = (rng.normal(size=(batch, n)).astype(np.float32) for _ in range(4))
    k = int(rng.integers(1, n))
    radius = 1.0 if use_radius else None
    alive = rng.random((batch, n)) > 0.3 if use_alive else None
    near = nearest_neighbours(as_complex(x, y), as_complex(vx, vy), k, radius=radius, alive=alive)
    for b in range(batch):
        for i in range(n):
            expected = brute_neighbours(x, y, b, i, radius, alive)
            for slot in range(k):
                if slot < len(expected):
                    distance, j = expected[slot]
                    assert near.mask[b, i, slot]
                    # Equal distances may come in either order; the distance must match.
                    assert abs(near.dist[b, i, slot] - distance) < 1e-5 * max(1.0, distance)
                    j = near.index[b, i, slot]
                    assert near.dx[b, i, slot] == np.float32(x[b, j] - x[b, i])
                    assert near.dvy[b, i, slot] == np.float32(vy[b, j] - vy[b, i])
                else:
                    assert not near.mask[b, i, slot]
                    assert near.dx[b, i, slot] == 0 and near.dvx[b, i, slot] == 0


def test_within_range_is_symmetric_and_excludes_self(rng):
    x, y = rng.normal(size=(3, 9)).astype(np.float32), rng.normal(size=(3, 9)).astype(np.float32)
    adjacent = within_range(pairwise(as_complex(x, y)), 0.8)
    assert not adjacent[:, np.arange(9), np.arange(9)].any()
    assert (adjacent == adjacent.transpose(0, 2, 1)).all()
    d = np.hypot(x[:, :, None] - x[:, None, :], y[:, :, None] - y[:, None, :])
    np.testing.assert_array_equal(adjacent, (d <= 0.8) & ~np.eye(9, dtype=bool))


def march(ox, oy, angle, max_range, circles, segments, step=1e-3):
    """Walk along the ray until it is inside a circle or has crossed a segment."""
    dx, dy = math.cos(angle), math.sin(angle)
    for cx, cy, r in circles:
        if math.hypot(ox - cx, oy - cy) <= r:
            return 0.0
    t = 0.0
    px, py = ox, oy
    while t < max_range:
        t2 = t + step
        qx, qy = ox + t2 * dx, oy + t2 * dy
        for cx, cy, r in circles:
            if math.hypot(qx - cx, qy - cy) <= r:
                return t2
        for ax, ay, bx, by in segments:
            if _crosses(px, py, qx, qy, ax, ay, bx, by):
                return t2
        t, px, py = t2, qx, qy
    return max_range


def _crosses(px, py, qx, qy, ax, ay, bx, by):
    def side(ux, uy, vx, vy, wx, wy):
        return (vx - ux) * (wy - uy) - (vy - uy) * (wx - ux)

    return (
        side(ax, ay, bx, by, px, py) * side(ax, ay, bx, by, qx, qy) <= 0
        and side(px, py, qx, qy, ax, ay) * side(px, py, qx, qy, bx, by) <= 0
    )


def test_lidar_matches_ray_marching(rng):
    geometry = StaticGeometry()
    geometry.add_walls(4.0, 4.0)
    geometry.add_box((0.8, -0.5), (0.4, 0.6), angle=0.3)
    segments = geometry.lidar_segments()
    batch, n, rays, max_range = 2, 4, 12, 2.5
    x = rng.uniform(-1.5, 1.5, (batch, n)).astype(np.float32)
    y = rng.uniform(-1.5, 1.5, (batch, n)).astype(np.float32)
    heading = rng.uniform(-3, 3, (batch, n)).astype(np.float32)
    radius = 0.25
    ranges = lidar(
        x,
        y,
        heading,
        rays,
        max_range,
        segments=segments,
        circle_x=x,
        circle_y=y,
        circle_radius=radius,
        exclude_self=True,
    )
    assert ranges.shape == (batch, n, rays)
    for b in range(batch):
        for i in range(n):
            circles = [(x[b, j], y[b, j], radius) for j in range(n) if j != i]
            for r in range(rays):
                angle = float(heading[b, i]) + 2 * math.pi * r / rays
                expected = march(
                    float(x[b, i]), float(y[b, i]), angle, max_range, circles, segments.tolist()
                )
                assert abs(ranges[b, i, r] - expected) < 2e-3, (b, i, r)


def test_lidar_sees_the_walls_at_known_distances():
    geometry = StaticGeometry()
    geometry.add_walls(4.0, 2.0)
    ranges = lidar(
        np.zeros((1, 1)), np.zeros((1, 1)), None, 4, 10.0, segments=geometry.lidar_segments()
    )
    np.testing.assert_allclose(ranges[0, 0], [2.0, 1.0, 2.0, 1.0], atol=1e-5)


def test_zones_report_who_is_inside():
    zones = CircleZones(1, 2, radius=[0.5, 1.0])
    zones.x[0] = [0.0, 3.0]
    inside = zones.inside(np.array([[0.1, 3.9, 2.5, 0.0]]), np.array([[0.1, 0.0, 0.0, 0.6]]))
    assert inside[0].tolist() == [[True, False, False, False], [False, True, True, False]]
