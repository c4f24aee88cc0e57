"""Scripted baselines of ``swarm/pursuit-v0`` (see its documentation page): pure pursuit with lead
for the pursuers, distance-maximizing evasion for the evaders, and their combination.

Each reads the observation through the scenario's layout and acts for every drone of every world
at once; each side can also play alone against a learned opponent (self-play, league).
"""

from __future__ import annotations

import numpy as np

from scenarios.core import ScriptedPolicy
from scenarios.layout import ObsLayout
from scenarios.swarm.common import steer, thrust_action
from scenarios.swarm.pursuit import PursuitConfig, observation_layout
from worlds.visibility import ray_directions


def _own(o: np.ndarray, layout: ObsLayout) -> tuple[np.ndarray, np.ndarray]:
    """Own position and velocity, complex ``(B, N)``."""
    own = layout.read_complex(o, "own")
    return own[..., 0], own[..., 1]


def _opponents(o: np.ndarray, layout: ObsLayout):
    """Seen opponents' offsets and relative velocities, complex ``(B, N, k)``, and which slots
    hold one ``(B, N, k)`` bool."""
    rows = layout.read_complex(o, "opponents")
    return rows[..., 0], rows[..., 1], layout.read_valid(o, "opponents")


class PurePursuitPolicy(ScriptedPolicy):
    """Pursuers' baseline: pure pursuit with lead, arena sweep when nothing is in sight."""

    groups = ("pursuer",)

    def __init__(self, cfg: PursuitConfig, gain: float = 3.0) -> None:
        self.cfg = cfg
        self.gain = gain
        self.layout = observation_layout(cfg)

    def act(self, obs: dict[str, np.ndarray], action_mask=None, deterministic: bool = True):
        cfg = self.cfg
        o = obs["pursuer"]
        position, velocity = _own(o, self.layout)
        if cfg.k_opponents:
            offsets, relatives, valid = _opponents(o, self.layout)
            offset, relative, seen = offsets[..., 0], relatives[..., 0], valid[..., 0]
        else:
            offset = relative = np.zeros(o.shape[:2], np.complex64)
            seen = np.zeros(o.shape[:2], bool)
        evader_velocity = relative + velocity
        lead = np.abs(offset) / cfg.pursuer_speed
        chase = position + offset + evader_velocity * np.minimum(lead, 1.5)
        # Sweep: a point ahead on a circle of radius 0.3 side, direction by the drone's index.
        angle = np.angle(position)
        direction = np.where(np.arange(o.shape[1]) % 2 == 0, 1.0, -1.0)
        sweep = 0.3 * cfg.side * np.exp(1j * (angle + 0.6 * direction))
        goal = np.where(seen, chase, sweep)
        action = steer(
            position,
            velocity,
            goal,
            gain=self.gain,
            max_speed=cfg.pursuer_speed,
            continuous=cfg.continuous_actions,
        )
        return {"pursuer": action}


class EvasionPolicy(ScriptedPolicy):
    """Evaders' baseline: go where the minimum distance to the seen pursuers will be largest.

    Candidates are ``n_directions`` headings at full speed for ``horizon`` seconds (kept inside
    the arena, away from obstacles); each is scored by its minimum distance to the seen
    pursuers' positions extrapolated over the same horizon; the best one wins.
    """

    groups = ("evader",)

    def __init__(self, cfg: PursuitConfig, horizon: float = 0.8, n_directions: int = 16) -> None:
        self.cfg = cfg
        self.horizon = horizon
        self.directions = ray_directions(n_directions).astype(np.complex128)
        self.layout = observation_layout(cfg)

    def act(self, obs: dict[str, np.ndarray], action_mask=None, deterministic: bool = True):
        cfg = self.cfg
        o = obs["evader"].astype(np.float64)
        position, velocity = _own(o, self.layout)
        offset, relative, valid = _opponents(o, self.layout)  # (B, N, k)
        # Pursuers' positions after the horizon, relative to the evader now.
        threat = offset + (relative + velocity[..., None]) * self.horizon
        reach = cfg.evader_speed * self.horizon
        step = self.directions * reach  # (D,)
        limit = cfg.side / 2 - 2 * cfg.drone_radius
        target = position[..., None] + step  # (B, N, D)
        inside = np.clip(target.real, -limit, limit) + 1j * np.clip(target.imag, -limit, limit)
        moved = inside - position[..., None]
        gap = np.abs(moved[..., :, None] - threat[..., None, :])  # (B, N, D, k)
        gap = np.where(valid[..., None, :], gap, np.inf).min(axis=-1)
        score = np.minimum(gap, 10.0) + 0.3 * np.abs(moved)  # prefer moving when tied
        for ox, oy, half in cfg.obstacles:
            blocked = (np.abs(inside.real - ox) < half + 0.15) & (
                np.abs(inside.imag - oy) < half + 0.15
            )
            score = np.where(blocked, score - 5.0, score)
        best = np.take_along_axis(moved, score.argmax(axis=-1)[..., None], axis=-1)[..., 0]
        seen = valid.any(axis=-1)
        desired = best / np.maximum(np.abs(best), 1e-9) * cfg.evader_speed
        thrust = np.where(seen, desired - velocity, -velocity)
        return {"evader": thrust_action(thrust.astype(np.complex64), cfg.continuous_actions)}


class PursuitBaseline(ScriptedPolicy):
    """Acts for both teams by combining one policy per team (e.g. a scripted side against a
    learned one): ``PursuitBaseline(PurePursuitPolicy(cfg), EvasionPolicy(cfg))``."""

    groups = ("pursuer", "evader")

    def __init__(self, pursuer_policy, evader_policy) -> None:
        self.policies = {"pursuer": pursuer_policy, "evader": evader_policy}

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        """Reset both sides."""
        for policy in self.policies.values():
            policy.reset(env_ids)

    def act(self, obs: dict[str, np.ndarray], action_mask=None, deterministic: bool = True):
        """Actions of the teams whose observations are given (both, or one of them when the
        other team plays another policy)."""
        return {
            team: policy.act(obs, action_mask, deterministic)[team]
            for team, policy in self.policies.items()
            if team in obs
        }
