"""Geometry of ``swarm/formation-v0`` (formulas in the scenario's documentation), batch first:
the slot offsets of each commanded shape, the wind field, the swarm's progress along the
leader's path, and the picture of it all."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from scenarios.seeding import WorldRandom

if TYPE_CHECKING:
    from scenarios.swarm.formation import Formation, FormationConfig

SHAPES = ("line", "wedge", "ring")
"""The commanded shapes, in the order of their indices and of the observation's one-hot."""


def slot_offsets(
    shape: np.ndarray, rank: np.ndarray, count: np.ndarray, spacing: float
) -> np.ndarray:
    """Slot offsets in the leader's frame (``x`` forward, ``y`` left) as complex64 ``(B, N)``,
    for shape indices ``shape`` ``(B, 1)`` (see ``SHAPES``), ranks ``(B, N)`` and alive counts
    ``(B, 1)``; the formulas are in the module's documentation."""
    rank = rank.astype(np.float32)
    count = count.astype(np.float32)
    # Real float32 arithmetic into the (forward, left) pairs of a complex64 array: about a
    # third of the cost of building the three complex templates and choosing between them.
    out = np.empty((*rank.shape, 2), np.float32)
    forward, left = out[..., 0], out[..., 1]
    angle = rank * (np.float32(2 * math.pi) / np.maximum(count, 1.0))
    radius = np.maximum(count * np.float32(1 / (2 * math.pi)), 1.0)
    np.multiply(np.cos(angle), -radius, out=forward)  # ring: cos(pi + a) = -cos(a)
    np.multiply(np.sin(angle), -radius, out=left)
    is_line, is_wedge = shape == 0, shape == 1
    np.copyto(forward, np.float32(-1.0), where=is_line)
    np.copyto(left, rank - (count - 1.0) * 0.5, where=is_line)
    pair = np.floor(rank * np.float32(0.5))
    row = pair + 1.0
    np.copyto(forward, -row, where=is_wedge)
    np.copyto(left, row * (1.0 - 2.0 * (rank - 2.0 * pair)), where=is_wedge)
    out *= np.float32(spacing)
    return out.view(np.complex64)[..., 0]


class WindField:
    """The wind of a batch of worlds: a few sinusoidal waves over a steady part and one gust
    per episode. ``draw`` sets the worlds' parameters for a new episode; ``at`` evaluates the
    force anywhere; nothing changes in between."""

    def __init__(self, num_worlds: int, cfg: FormationConfig) -> None:
        self.cfg = cfg
        b, waves = num_worlds, max(cfg.wind_waves, 1)
        self.wave_vector = np.zeros((b, waves, 2), np.float32)  # kx, ky
        self.wave_rate = np.zeros((b, waves), np.float32)
        self.wave_phase = np.zeros((b, waves), np.float32)
        self.wave_direction = np.zeros((b, waves, 2), np.float32)  # ux, uy
        self.mean_wind = np.zeros(b, np.complex64)
        self.gust = np.zeros(b, np.complex64)
        self.gust_time = np.zeros(b, np.float32)

    def draw(self, rng: WorldRandom, env_ids: np.ndarray) -> None:
        """New wind for worlds ``env_ids`` from their random streams."""
        cfg = self.cfg
        count, waves = len(env_ids), max(cfg.wind_waves, 1)
        wavelength = rng.uniform(0.5, 1.5, (count, waves)) * cfg.side
        angle = rng.uniform(0, 2 * math.pi, (count, waves))
        self.wave_vector[env_ids, :, 0] = 2 * math.pi / wavelength * np.cos(angle)
        self.wave_vector[env_ids, :, 1] = 2 * math.pi / wavelength * np.sin(angle)
        self.wave_rate[env_ids] = rng.uniform(0.2, 1.0, (count, waves))
        self.wave_phase[env_ids] = rng.uniform(0, 2 * math.pi, (count, waves))
        angle = rng.uniform(0, 2 * math.pi, (count, waves))
        self.wave_direction[env_ids, :, 0] = np.cos(angle)
        self.wave_direction[env_ids, :, 1] = np.sin(angle)
        self.mean_wind[env_ids] = np.exp(1j * rng.uniform(0, 2 * math.pi, count))
        self.gust[env_ids] = np.exp(1j * rng.uniform(0, 2 * math.pi, count))
        self.gust_time[env_ids] = rng.uniform(0, cfg.max_steps * cfg.dt, count)

    def at(
        self, x: np.ndarray, y: np.ndarray, time: np.ndarray, worlds: slice = slice(None)
    ) -> np.ndarray:
        """Wind force (complex newtons) at local points ``(B, P)`` at times ``(B,)``, for the
        worlds ``worlds`` (all by default)."""
        cfg = self.cfg
        wave_vector = self.wave_vector[worlds]
        phase = x[..., None] * wave_vector[:, None, :, 0]
        phase += y[..., None] * wave_vector[:, None, :, 1]
        phase += (self.wave_rate[worlds] * time[:, None] + self.wave_phase[worlds])[:, None, :]
        # (B, P, M) @ (B, M, 2): the sum over the waves as one batched product.
        waves = (np.sin(phase) @ self.wave_direction[worlds]).view(np.complex64)[..., 0]
        scale = 0.5 * cfg.wind_force / cfg.wind_waves if cfg.wind_waves else 0.0
        gust_time = self.gust_time[worlds]
        gust = np.exp(-(((time - gust_time) / cfg.gust_seconds) ** 2)) * cfg.gust_force
        steady = 0.5 * cfg.wind_force * self.mean_wind[worlds] + gust * self.gust[worlds]
        return (waves * scale + steady[:, None]).astype(np.complex64)


class PathProgress:
    """The angle the alive drones' centroid has travelled around the path centre, per world:
    ``travel`` ``(B,)`` float32, the sum of the centroid's turns from step to step (positive in
    the leader's direction of travel)."""

    def __init__(self, num_worlds: int) -> None:
        self.previous_centroid = np.zeros(num_worlds, np.complex64)
        self.travel = np.zeros(num_worlds, np.float32)
        self.step = np.zeros(num_worlds, np.int64)
        """The episode step each world was last advanced to."""

    def restart(self, env_ids: np.ndarray, centroid: np.ndarray) -> None:
        """New episodes in worlds ``env_ids``, their swarms' centroids at ``centroid``."""
        self.previous_centroid[env_ids] = centroid
        self.travel[env_ids] = 0.0
        self.step[env_ids] = 0

    def advance(
        self,
        steps: np.ndarray,
        direction: np.ndarray,
        position: np.ndarray,
        alive: np.ndarray,
        count: np.ndarray,
    ) -> None:
        """Add the centroid's turn since the last step in the worlds not yet at ``steps``
        ``(B,)``; the centroid is the mean ``position`` ``(B, N)`` over the ``alive`` drones,
        ``count`` ``(B,)`` of them (at least 1). Advancing twice in one step changes nothing."""
        advance = steps > self.step
        if not advance.any():
            return
        centroid = (np.add.reduce(position * alive, axis=1) / count).astype(np.complex64)
        turn = np.angle(centroid * np.conj(self.previous_centroid))
        self.travel += direction * turn.astype(np.float32) * advance
        np.copyto(self.previous_centroid, centroid, where=advance)
        np.copyto(self.step, steps, where=advance)


def draw_formation(canvas, scenario: Formation, env_index: int) -> None:
    """Draw world ``env_index`` of ``scenario`` on a ``worlds.render.Canvas``: the leader's
    path, the wind on a 7 x 7 grid, the slots of the drones still flying, the leader."""
    from worlds.render import GROUP_COLORS  # rendering only: keep Pillow off the import

    cfg, e = scenario.cfg, env_index
    path = cfg.radius * np.exp(1j * np.linspace(0, 2 * math.pi, 65))
    for a, b in zip(path[:-1], path[1:], strict=True):
        canvas.line(a.real, a.imag, b.real, b.imag, (186, 189, 182))
    # Wind arrows on a 7 x 7 grid: a wind of max_force draws a quarter of the arena side.
    grid = (np.arange(7) - 3) * (cfg.side / 8)
    gx, gy = np.meshgrid(grid, grid)
    points = [gx.reshape(1, -1).astype(np.float32), gy.reshape(1, -1).astype(np.float32)]
    wind = scenario.wind_field.at(*points, scenario.time[e : e + 1], slice(e, e + 1))[0]
    for x, y, w in zip(gx.ravel(), gy.ravel(), wind, strict=True):
        tip = complex(x, y) + w * (cfg.side / 4 / cfg.max_force)
        canvas.line(float(x), float(y), tip.real, tip.imag, (114, 159, 207), width=2)
        canvas.circle(tip.real, tip.imag, 0.03, fill=(114, 159, 207))
    drones = scenario.drones
    flying = ~drones.parked[e]
    for i in np.flatnonzero(flying):
        slot = complex(scenario.slots[e, i])
        canvas.circle(slot.real, slot.imag, cfg.drone_radius, fill=None, outline=(78, 154, 6))
        canvas.line(
            float(drones.x[e, i]), float(drones.y[e, i]), slot.real, slot.imag, (200, 220, 190)
        )
        canvas.circle(
            float(drones.x[e, i]), float(drones.y[e, i]), cfg.drone_radius, GROUP_COLORS[0]
        )
    leader = complex(scenario.leader[e, 0])
    canvas.circle(leader.real, leader.imag, 1.5 * cfg.drone_radius, fill=(245, 121, 0))
    shape = SHAPES[int(scenario.shape[e, 0])]
    alive = int(flying.sum())
    canvas.text(-cfg.side / 2, cfg.side / 2, f"{shape}, drones {alive}/{cfg.n_agents}")
