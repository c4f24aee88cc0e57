"""The scripted baselines of ``swarm/formation-v0`` (formulas in the scenario's
documentation): slot tracking with consensus, and boids. Both read the observation through its
layout, act for every drone of every world at once and have no memory (``reset`` does
nothing)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scenarios.layout import ObsBuffer, ObsLayout
from scenarios.swarm.common import thrust_action
from scenarios.swarm.formation import FormationConfig, observation_layout


class Seen(NamedTuple):
    """What drones observe ``(B, N)`` complex, and of their neighbours ``(B, N, k)``."""

    velocity: np.ndarray
    to_slot: np.ndarray
    to_leader: np.ndarray
    leader_velocity: np.ndarray
    wind: np.ndarray
    offset: np.ndarray
    """Neighbours' offsets."""
    relative: np.ndarray
    """Neighbours' relative velocities."""
    slot_offset: np.ndarray
    """Neighbours' slots relative to one's own."""
    valid: np.ndarray
    """1 for a neighbour, 0 for padding (float32)."""


def read(layout: ObsLayout, obs: np.ndarray) -> Seen:
    """The blocks of observations ``(B, N, layout.size)`` as complex vectors."""
    blocks = ObsBuffer(layout, np.ascontiguousarray(obs, np.float32))
    neighbours = blocks.complex("neighbours")
    return Seen(
        velocity=blocks.complex("own")[..., 1],
        to_slot=blocks.complex("slot")[..., 0],
        to_leader=blocks.complex("leader")[..., 0],
        leader_velocity=blocks.complex("leader_velocity")[..., 0],
        wind=blocks.complex("wind")[..., 0],
        offset=neighbours[..., 0],
        relative=neighbours[..., 1],
        slot_offset=neighbours[..., 2],
        valid=blocks.valid("neighbours"),
    )


def _to_action(cfg: FormationConfig, want: np.ndarray, velocity, wind) -> np.ndarray:
    """Desired velocity to actions: capped at max_speed, thrust toward it against the wind."""
    want = want * (cfg.max_speed / np.maximum(np.abs(want), cfg.max_speed))
    thrust = want - velocity - wind * np.float32(1.0 / (4 * cfg.max_force))
    return thrust_action(thrust.astype(np.complex64), cfg.continuous_actions)


class ConsensusFormationPolicy:
    """Scripted baseline: slot tracking plus consensus on formation errors with the observed
    neighbours, with the leader's velocity fed forward (formula in the scenario's documentation)."""

    groups = ("drone",)

    def __init__(self, cfg: FormationConfig, slot_gain: float = 1.0, consensus_gain: float = 0.5):
        self.cfg = cfg
        self.slot_gain = slot_gain
        self.consensus_gain = consensus_gain
        self.layout = observation_layout(cfg)

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        """Nothing to forget."""

    def act(self, obs: dict[str, np.ndarray], action_mask=None, deterministic: bool = True):
        seen = read(self.layout, obs["drone"])
        valid = seen.valid
        count = np.maximum(valid.sum(axis=-1), 1.0)
        disagreement = ((seen.offset - seen.slot_offset) * valid).sum(axis=-1) / count
        want = (
            seen.leader_velocity
            + self.slot_gain * seen.to_slot
            + self.consensus_gain * disagreement
        )
        return {"drone": _to_action(self.cfg, want, seen.velocity, seen.wind)}


class BoidsPolicy:
    """Reynolds' boids (separation, alignment, cohesion) plus attraction to the leader and its
    velocity fed forward (formula in the scenario's documentation). It flocks, it does not
    hold a shape."""

    groups = ("drone",)

    def __init__(
        self,
        cfg: FormationConfig,
        leader_gain: float = 0.3,
        alignment_gain: float = 0.5,
        cohesion_gain: float = 0.2,
        separation_gain: float = 0.05,
        separation_radius: float | None = None,
    ) -> None:
        self.cfg = cfg
        self.leader_gain = leader_gain
        self.alignment_gain = alignment_gain
        self.cohesion_gain = cohesion_gain
        self.separation_gain = separation_gain
        self.separation_radius = separation_radius or cfg.spacing
        self.layout = observation_layout(cfg)

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        """Nothing to forget."""

    def act(self, obs: dict[str, np.ndarray], action_mask=None, deterministic: bool = True):
        seen = read(self.layout, obs["drone"])
        offset, relative, valid = seen.offset, seen.relative, seen.valid
        count = np.maximum(valid.sum(axis=-1), 1.0)
        alignment = (relative * valid).sum(axis=-1) / count
        cohesion = (offset * valid).sum(axis=-1) / count
        distance2 = np.maximum(np.abs(offset) ** 2, 1e-4)
        close = valid * (distance2 < self.separation_radius**2)
        separation = -(offset * close / distance2).sum(axis=-1)
        want = (
            seen.leader_velocity
            + self.leader_gain * seen.to_leader
            + self.alignment_gain * alignment
            + self.cohesion_gain * cohesion
            + self.separation_gain * separation
        )
        return {"drone": _to_action(self.cfg, want, seen.velocity, seen.wind)}
