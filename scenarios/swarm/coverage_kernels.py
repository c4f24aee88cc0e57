"""Compiled stages of ``swarm/coverage-v0``: one call writes every drone's own state, its
neighbours in communication range and its lidar into the observation (the density patch has a
kernel of its own, ``worlds.kernels.coverage.sample_patch``); one writes the reward and its
terms. They follow ``worlds.kernels``' conventions (float32 as the numpy they replaced
computes, world by world, caller-owned outputs)."""

from __future__ import annotations

import numpy as np

from worlds.kernels import kernel
from worlds.kernels.coverage import cover_weight
from worlds.kernels.graph import connected
from worlds.kernels.neighbours import nearest, within
from worlds.kernels.visibility import ray_box_distances
from worlds.sensors import nearest_arguments, squared_radius
from worlds.visibility import _inverse_directions, box_rows, room_extent


@kernel
def observe(kinematics, near, comms, lidar, layout, obs):
    """Into ``obs`` ``(B, N, size)``: ``kinematics`` ``(B, N, 4)`` at ``layout[0]``; the
    first ``layout[3]`` nearest drones ``near = (offset, velocity, dist)`` (complex64, complex64
    and float32 ``(B, N, k)``) as ``dx, dy, dvx, dvy`` from ``layout[1]`` with flags from
    ``layout[2]``, zeros (flag 0) where farther than ``comms``; lidar distances from
    ``layout[4]`` (none when -1), ``lidar = (inv_x, inv_y, room, boxes, max_range)``."""
    offset, velocity, dist = near
    inv_x, inv_y, room, boxes, max_range = lidar
    own, start, valid, found, rays = layout[0], layout[1], layout[2], layout[3], layout[4]
    zero = np.float32(0.0)
    for b in range(obs.shape[0]):
        for i in range(obs.shape[1]):
            for c in range(4):
                obs[b, i, own + c] = kinematics[b, i, c]
            for s in range(found):
                seen = dist[b, i, s] <= comms
                o, v = offset[b, i, s], velocity[b, i, s]
                obs[b, i, start + 4 * s] = o.real if seen else zero
                obs[b, i, start + 4 * s + 1] = o.imag if seen else zero
                obs[b, i, start + 4 * s + 2] = v.real if seen else zero
                obs[b, i, start + 4 * s + 3] = v.imag if seen else zero
                obs[b, i, valid + s] = 1.0 if seen else 0.0
            if rays >= 0:
                px, py = kinematics[b, i, 0], kinematics[b, i, 1]
                ray_box_distances(px, py, inv_x, inv_y, room, boxes, max_range, obs, b, i, rays)


@kernel
def gain(coverage, steps, previous, out):
    """``out[b, 0] = coverage[b] - previous[b]`` (float32), then ``previous[b] = coverage[b]``
    where the world's episode has taken a step (``steps[b] > 0``)."""
    for b in range(coverage.shape[0]):
        out[b, 0] = coverage[b] - previous[b]
        if steps[b] > 0:
            previous[b] = coverage[b]


@kernel
def sense(position, velocity, steps, neighbours, graph, cover, out):
    """``Coverage.sense``'s measurements in one call, each by the kernel its sensor calls, in
    the same order, so the values are those of the sensors one by one: the nearest drones
    with the overlap counts (``nearest_neighbours``), the communication graph
    (``range_graph``) and whether it is connected (``is_connected``), the covered weight
    (``GridField.cover_weight``) and its gain into ``out`` (``gain``). The arguments are
    ``sense_arguments``'."""
    k, near2, live, use_alive, count_r2, spec, keys, outputs = neighbours
    radius2, adjacent, anyone, linked = graph
    mask, radius, scale, shift, grid, weights, weight, previous = cover
    px, py, vx, vy = position.real, position.imag, velocity.real, velocity.imag
    nearest(px, py, vx, vy, k, near2, live, use_alive, count_r2, spec, keys, outputs)
    within(position, radius2, live, False, adjacent)
    connected(adjacent, anyone, False, linked)
    cover_weight(position, mask, radius, scale, shift, grid, weights, weight)
    gain(weight, steps, previous, out)


def sense_arguments(scenario) -> tuple:
    """``sense``'s ``neighbours``, ``graph`` and ``cover`` for a ``Coverage`` scenario with its
    world made: what the sensors' wrappers work out and check at every call, once (the
    buffers and the field's copy of the density never change place)."""
    cfg, near, field = scenario.cfg, scenario._near, scenario.field
    num_worlds, n = scenario._adjacent.shape[:2]
    limit = 2 * cfg.drone_radius + cfg.contact_margin
    neighbours = nearest_arguments(num_worlds, n, scenario.k_search, near, count_within=limit)
    anyone = np.ones((num_worlds, 0), bool)
    radius2 = squared_radius(cfg.comms_radius)
    graph = (radius2, scenario._adjacent, anyone, scenario._connected)
    mask = np.ones((num_worlds, n), bool)
    scales = field._disc_scales(cfg.sensing_radius)
    return neighbours, graph, (mask, *scales, scenario._coverage, scenario.coverage)


@kernel
def reward(gain, overlaps, connected, scales, terms, out):
    """The reward ``out`` ``(B, N)`` and its terms ``(coverage (B, 1), collision (B, N),
    connectivity (B, 1))``, float32 as ``Coverage.reward_reference`` computes them:
    ``coverage = gain * scales[0]``, ``collision = overlaps * scales[1]``, ``connectivity``
    0 where the world's graph is ``connected`` else ``scales[2]``, and ``out`` their sum
    (coverage plus collision, then plus connectivity)."""
    coverage, collision, connectivity = terms
    for b in range(out.shape[0]):
        gained = gain[b, 0] * scales[0]
        link = np.float32(0.0) if connected[b] else scales[2]
        coverage[b, 0], connectivity[b, 0] = gained, link
        for i in range(out.shape[1]):
            hit = overlaps[b, i] * scales[1]
            collision[b, i] = hit
            out[b, i] = (gained + hit) + link


def observe_arguments(scenario) -> tuple[np.ndarray, tuple]:
    """``observe``'s ``layout`` and ``lidar`` for a ``Coverage`` scenario with its world made."""
    cfg, layout = scenario.cfg, scenario.layout
    offsets = np.array(
        [
            layout.start("own"),
            layout.start("neighbours"),
            layout.valid_slice("neighbours").start,
            scenario.k_found,
            layout.start("lidar") if cfg.n_rays else -1,
        ],
        np.int64,
    )
    lidar = (
        *_inverse_directions(cfg.n_rays),
        room_extent((cfg.side / 2, cfg.side / 2)),
        box_rows(scenario.obstacle_boxes),
        np.float32(cfg.lidar_range),
    )
    return offsets, lidar
