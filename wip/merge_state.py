"""Per-world state of ``traffic/merge-v0``: the ring's (``RingState``: target lanes, setpoints,
cooldowns, IDM/MOBIL, books) on an open road. Cars move on to a lane's successor when they
pass its end, IDM and MOBIL look across lane ends, a car at the end of an exit lane finishes,
and finished IDM cars wait (parked) until their start lane has room again."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from scenarios.traffic import kernels as tk
from scenarios.traffic.common import HORIZON
from scenarios.traffic.idm import drive
from scenarios.traffic.ring_state import STEERING_GAINS, RingState

FINISH = 2.0
"""Metres before the end of an exit lane where a car's centre finishes."""


class MergeState(RingState):
    def __init__(self, cfg, road, num_worlds: int, n_learned: int) -> None:
        super().__init__(cfg, road, num_worlds, n_learned)
        shape = (num_worlds, cfg.n_cars)
        self.finished = np.zeros(shape, bool)
        self.done = np.zeros((num_worlds, n_learned), bool)
        self.ramp_credit = np.zeros(num_worlds)
        self.steps = np.zeros(num_worlds)
        self.ramp_failures = np.zeros(num_worlds)
        self.dead_end = road.dead_end & ~road.exit
        self.params = replace(cfg.idm, bias=cfg.merge_bias).array()
        self.decision_at = np.array(
            [_to_dead_end(road, lane) for lane in range(road.num_lanes)], np.float32
        )

    def reset(self, env_ids, lane, x, y, speed, personality) -> None:
        super().reset(env_ids, lane, x, y, speed, personality)
        self.finished[env_ids] = False
        self.done[env_ids] = False
        self.ramp_credit[env_ids] = 0.0
        self.steps[env_ids] = 0.0
        self.ramp_failures[env_ids] = 0.0

    def measure(self, x, y, angle, speed, present) -> None:
        """``RingState.measure`` on the open road: targets move on past a lane's end, and the
        leader searches follow successors and predecessors."""
        road, cfg = self.road, self.cfg
        coords = road.coordinates(x, y, angle, self.target)
        past = (coords.position.s > road.length[self.target]) & (road.successor[self.target] >= 0)
        if past.any():  # idempotent: a second measure of the same bodies moves nothing
            self.target[past] = road.successor[self.target[past]]
            coords = road.coordinates(x, y, angle, self.target)
        self.s, self.offset = coords.position.s, coords.position.d
        self.heading_error, self.x, self.y, self.angle = coords.heading_error, x, y, angle
        self.speed, self.present = speed, present
        lane = np.where(present, self.target, -1).astype(np.int32)
        for c, neighbours in enumerate((road.left, road.right)):
            cand = neighbours[self.target]
            self.candidates[..., c] = cand
            on = np.where(cand >= 0, cand, self.target)
            self.s_candidates[..., c] = road.coordinates(x, y, angle, on).position.s
        v0 = np.full(x.shape, cfg.v0, np.float32)
        eligible = present & (self.cooldown <= 0)
        drive(self.s, lane, speed, self.length, v0, self.s_candidates, self.candidates,
              eligible, road.length, road.loop, self.dead_end, self.params, self.accel,
              self.gap, self.lead_speed, self.leader, self.change, successor=road.successor,
              predecessor=road.predecessor)  # fmt: skip
        curvature = road.segment_curvature[self.target, coords.position.segment]
        tk.lane_keeping(self.offset, self.heading_error, curvature, speed, cfg.wheelbase,
                        STEERING_GAINS, self.steer)  # fmt: skip
        end = road.length[self.target] - FINISH
        self.finished = present & road.exit[self.target] & (self.s >= end)

    def book(self, steps, x, y, speed, touching, present, new_contact, crossed) -> None:
        super().book(steps, x, y, speed, touching, present, new_contact, crossed)
        live = steps > 0
        self.steps += live
        self.done |= self.finished[:, : self.n] & live[:, None]
        # A car standing at the very end of a dropped lane (it failed to merge in time).
        at_end = self.dead_end[self.target] & (self.s >= self.road.length[self.target] - 4.0)
        self.ramp_failures += live * (present & at_end & (speed < 0.5)).sum(1)

    def episode_figures(self, env_ids, n_learned: int) -> dict[str, np.ndarray]:
        figures = super().episode_figures(env_ids, n_learned)
        hours = np.maximum(self.steps[env_ids] * self.cfg.dt / 3600.0, 1e-9)
        figures["throughput_vph"] = self.books.crossings[env_ids] / hours
        figures["route_completion"] = self.done[env_ids].mean(1)
        figures["ramp_stops"] = self.ramp_failures[env_ids] * self.cfg.dt
        return figures

    def observe(self, obs, layout) -> None:
        super().observe(obs, layout)
        n = self.n
        ahead = self.decision_at[self.target[:, :n]] - self.s[:, :n]
        obs["ego"][..., 6] = np.clip(np.nan_to_num(ahead / HORIZON, posinf=1.0), 0, 1)

    # ------------------------------------------------------------------------------ respawns
    def room(self, b: int, lane: int) -> tuple[float, float]:
        """Bumper room behind the last car on start lane ``lane`` of world b, and its speed
        (inf and the spawn speed when the lane is empty)."""
        on = self.present[b] & (self.target[b] == lane)
        if not on.any():
            return np.inf, self.cfg.spawn_speed
        last = np.argmin(np.where(on, self.s[b], np.inf))
        return float(self.s[b, last]) - self.cfg.car_length, float(self.speed[b, last])

    def spawn_lane(self, b: int, starts: tuple[int, ...], ramp: int) -> tuple[int, float]:
        """A start lane of world b with room for a new car at a safe speed (-1 when none):
        the ramp every ``1 / ramp_share`` spawns (when it has room), else the main lane with
        the most room."""
        cfg = self.cfg
        self.ramp_credit[b] += cfg.ramp_share
        options = sorted(starts, key=lambda lane: -self.room(b, lane)[0])
        if self.ramp_credit[b] >= 1.0:
            options = [ramp] + [lane for lane in options if lane != ramp]
        for lane in options:
            room, lead_speed = self.room(b, lane)
            speed = min(cfg.spawn_speed, lead_speed + 2.0)
            if room >= cfg.min_gap + speed * cfg.time_headway + cfg.car_length:
                if lane == ramp:
                    self.ramp_credit[b] -= 1.0
                return lane, speed
        self.ramp_credit[b] -= cfg.ramp_share  # nothing placed: no credit earned
        return -1, 0.0

    def placed(self, b: int, i: int, lane: int, x: float, y: float, speed: float) -> None:
        """Car i of world b starts afresh on ``lane`` at ``(x, y)``."""
        self.target[b, i], self.cooldown[b, i] = lane, 0
        self.prev_x[b, i] = self.anchor_x[b, i] = x
        self.prev_y[b, i] = self.anchor_y[b, i] = y
        self.prev_speed[b, i], self.prev_accel[b, i] = speed, 0.0
        self.touching[b, i] = False
        self.present[b, i], self.s[b, i], self.speed[b, i] = True, 0.0, speed


def _to_dead_end(road, lane: int) -> float:
    """Arc length from the start of ``lane`` to the end of the dead-end (not exit) lane its
    successors lead to; inf when none."""
    total = 0.0
    for _ in range(road.num_lanes):
        total += float(road.length[lane])
        if road.dead_end[lane] and not road.exit[lane]:
            return total
        lane = int(road.successor[lane])
        if lane < 0 or road.loop[lane]:
            return np.inf
    return np.inf
