"""Per-world state of ``traffic/merge-v0``: the ring's (``RingState``: target lanes, setpoints,
cooldowns, IDM/MOBIL, books) on an open road with entries and exits.

Cars move on to a lane's successor when they pass its end, and IDM and MOBIL look across lane
ends. A car whose path ends (the ramp's) stops for the end ``stop_margin`` metres early (room
to pull out from standstill), its urge to leave grows as the end nears, and it merges
cooperatively (``idm.drive`` with ``bias`` and ``cooperation``); a car changing lanes is listed
on the lane it is leaving too while its body still covers part of it; MOBIL never moves a car
into a lane that ends when its own does not. A learned car that steers itself
(``continuous_actions``) has for target the lane its centre is on. A car at the end of an exit
lane finishes.
``entry_room`` and ``placed`` are the state's side of entering a car at an entry mid-episode."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from scenarios.core import Reward
from scenarios.traffic import kernels as tk
from scenarios.traffic.common import HORIZON
from scenarios.traffic.idm import drive
from scenarios.traffic.ring_state import STEERING_GAINS, RingState
from worlds.kernels import kernel

FINISH = 2.0
"""Metres before the end of an exit lane where a car's centre finishes."""


class MergeState(RingState):
    def __init__(self, cfg, road, num_worlds: int, n_learned: int, entries) -> None:
        super().__init__(cfg, road, num_worlds, n_learned)
        shape = (num_worlds, cfg.n_cars)
        self.entries = np.asarray(entries, np.int32)
        self.finished = np.zeros(shape, bool)
        self.stray = np.zeros(shape, bool)
        self.home = np.zeros(shape, np.int32)
        self.from_ramp = np.zeros(shape, bool)
        self.trips = np.zeros((num_worlds, n_learned), np.int64)  # cars the slot had, minus one
        self.entered = np.zeros((num_worlds, n_learned), np.int64)  # episode step it entered
        self.learned_started = np.zeros(num_worlds)
        self.learned_done = np.zeros(num_worlds)
        self.shadow_lane = np.full(shape, -1, np.int32)
        self.shadow_s = np.zeros(shape, np.float32)
        self.mobil_candidates = np.full((*shape, 2), -1, np.int32)
        self.follow_body = cfg.continuous_actions and not cfg.idm_agents
        self.noise_keys = np.zeros(num_worlds, np.uint64)
        self.steps = np.zeros(num_worlds, np.int64)
        figures = ("steps", "ramp_stop_steps", "ramp_crossings", "cars_off_road")
        self.figures = {name: np.zeros(num_worlds) for name in figures}
        self.dead_end = road.dead_end & ~road.exit
        self.ends_at = np.array([_path_end(road, lane) for lane in range(road.num_lanes)])
        # IDM stops a car stop_margin before the end of a lane that ends.
        self.idm_length = np.where(self.dead_end, road.length - cfg.stop_margin, road.length)
        self.idm_length = self.idm_length.astype(np.float32)
        self.params = replace(cfg.idm, bias=cfg.merge_bias, cooperation=cfg.cooperation).array()
        # MOBIL may not move a car into a lane whose path ends unless its own path ends too.
        ends = np.isfinite(self.ends_at)
        self.mobil_neighbours = [
            np.where((side >= 0) & (~ends[np.maximum(side, 0)] | ends), side, -1).astype(np.int32)
            for side in (road.left, road.right)
        ]

    def reset(self, env_ids, lane, x, y, speed, personality, home, from_ramp) -> None:
        super().reset(env_ids, lane, x, y, speed, personality)
        self.home[env_ids], self.from_ramp[env_ids] = home, from_ramp
        self.finished[env_ids] = self.stray[env_ids] = False
        self.trips[env_ids] = self.entered[env_ids] = 0
        self.learned_started[env_ids], self.learned_done[env_ids] = self.n, 0.0
        for values in self.figures.values():
            values[env_ids] = 0.0

    # -------------------------------------------------------------------------------- measure
    def measure(self, x, y, angle, speed, present) -> None:
        """``RingState.measure`` on the open road: targets move on past a lane's end, leader
        searches follow successors and predecessors, lane changers cast shadows, and cars
        whose lane ends merge (see the module docstring)."""
        road, cfg = self.road, self.cfg
        coords = road.coordinates(x, y, angle, self.target)
        # Idempotent: a second measure of the same bodies moves no target.
        past = (coords.position.s > road.length[self.target]) & (road.successor[self.target] >= 0)
        moved = past.any()
        if moved:
            self.target[past] = road.successor[self.target[past]]
        if self.follow_body:  # steered cars: the target is the lane the car is on
            n, d = self.n, coords.position.d[:, : self.n]
            target = self.target[:, :n]
            half = 0.5 * road.width[target]
            left, right = road.left[target], road.right[target]
            over = np.where(d > half, left, np.where(d < -half, right, -1))
            crossed = (over >= 0) & ~past[:, :n]
            if crossed.any():
                target[crossed] = over[crossed]
                self.cooldown[:, :n][crossed] = self.cooldown_steps
                moved = True
        if moved:
            coords = road.coordinates(x, y, angle, self.target)
        self.s, self.offset = coords.position.s, coords.position.d
        self.heading_error, self.x, self.y, self.angle = coords.heading_error, x, y, angle
        self.speed, self.present = speed, present
        self.measured_lane = self.target.copy()
        lane = np.where(present, self.target, -1).astype(np.int32)
        for c, neighbours in enumerate((road.left, road.right)):
            cand = neighbours[self.target]
            self.candidates[..., c] = cand
            self.mobil_candidates[..., c] = self.mobil_neighbours[c][self.target]
            on = np.where(cand >= 0, cand, self.target)
            self.s_candidates[..., c] = road.coordinates(x, y, angle, on).position.s
        # A car whose body still covers part of the next lane is listed there too.
        free = 0.5 * (road.width[self.target] - cfg.car_width)
        side = np.where(self.offset > free, 0, np.where(self.offset < -free, 1, -1))
        pick = np.maximum(side, 0)[..., None]
        shadow = np.take_along_axis(self.candidates, pick, -1)[..., 0]
        self.shadow_lane[...] = np.where(side >= 0, shadow, -1)
        self.shadow_s[...] = np.take_along_axis(self.s_candidates, pick, -1)[..., 0]
        v0 = np.full(x.shape, cfg.v0, np.float32)
        eligible = present & (self.cooldown <= 0)
        drive(self.s, lane, speed, self.length, v0, self.s_candidates, self.candidates,
              eligible, self.idm_length, road.loop, self.dead_end, self.params, self.accel,
              self.gap, self.lead_speed, self.leader, self.change, successor=road.successor,
              predecessor=road.predecessor, shadow_lane=self.shadow_lane,
              shadow_s=self.shadow_s, mobil_cand=self.mobil_candidates)  # fmt: skip
        curvature = road.segment_curvature[self.target, coords.position.segment]
        tk.lane_keeping(self.offset, self.heading_error, curvature, speed, self.wheelbase,
                        STEERING_GAINS, self.steer, self.approach)  # fmt: skip
        end = road.length[self.target] - FINISH
        self.finished = present & road.exit[self.target] & (self.s >= end)

    # ----------------------------------------------------------------------------------- books
    def book_merge(self, steps, speed, present, off_road, ramp_crossed) -> None:
        """The merge's own running figures of the step (once per step, as ``book``)."""
        live = (steps > 0).astype(float)
        figures = self.figures
        figures["steps"] += live
        self.learned_done += live * self.finished[:, : self.n].sum(1)
        # Cars standing in the last stop_margin + 5 m of a lane that ends (waiting to merge).
        near = self.s >= self.road.length[self.target] - self.cfg.stop_margin - 5.0
        waiting = present & self.dead_end[self.target] & near & (speed < 0.5)
        figures["ramp_stop_steps"] += live * waiting.sum(1)
        figures["ramp_crossings"] += live * ramp_crossed
        figures["cars_off_road"] += live * (off_road & present).sum(1)

    def episode_figures(self, env_ids, n_learned: int) -> dict[str, np.ndarray]:
        figures = super().episode_figures(env_ids, n_learned)
        mine = {name: values[env_ids] for name, values in self.figures.items()}
        hours = np.maximum(mine["steps"] * self.cfg.dt / 3600.0, 1e-9)
        figures["throughput_vph"] = self.books.crossings[env_ids] / hours
        figures["ramp_throughput_vph"] = mine["ramp_crossings"] / hours
        done, started = self.learned_done[env_ids], self.learned_started[env_ids]
        figures["route_completion"] = 100.0 * done / started
        figures["ramp_stops"] = mine["ramp_stop_steps"] * self.cfg.dt
        figures["cars_off_road"] = mine["cars_off_road"]
        return figures

    # ---------------------------------------------------------------------------- observation
    def observe(self, obs, layout) -> None:
        super().observe(obs, layout)
        n, k = self.n, layout["vehicles"].count
        if self.cfg.obs_noise > 0 and k:
            rows = obs["vehicles"].reshape(*obs["ego"].shape[:2], k, 8)
            tk.perturb_vehicles(rows, obs.valid("vehicles"), self.noise_keys, self.steps,
                                self.cfg.obs_noise)  # fmt: skip
        ahead = self.ends_at[self.target[:, :n]] - self.s[:, :n]
        obs["ego"][..., 6] = np.clip(np.nan_to_num(ahead / HORIZON, posinf=1.0), 0, 1)

    def reward(self, frame, cfg, out) -> Reward:
        reward = super().reward(frame, cfg, out)
        goal = (cfg.goal_reward * self.finished[:, : self.n]).astype(np.float32)
        out += goal
        reward.terms["goal"] = goal
        return reward

    # -------------------------------------------------------------------------------- entries
    def entry_room(self) -> tuple[np.ndarray, np.ndarray]:
        """Per world and entry ``(B, K)``: the distance from the start of the entry lane (where
        an entering car's rear goes) to the rear of the first car on its way (on the
        lane, or, when it is empty, on the lanes it leads to; a lane changer counts on both
        its lanes, and on the lane it was on before this step's changes), inf when there is
        none, and that car's speed."""
        road = self.road
        room = np.empty((self.s.shape[0], len(self.entries)))
        speed = np.empty(room.shape)
        _entry_room(self.present, self.target, self.measured_lane, self.shadow_lane, self.s,
                    self.shadow_s, self.speed, self.entries, road.length, road.successor,
                    self.length, room, speed)  # fmt: skip
        return room, speed

    def entry_speed(self, room: np.ndarray, lead_speed: np.ndarray) -> np.ndarray:
        """The speed a car enters at behind a car ``room`` ahead at ``lead_speed``: the spawn
        speed, or less, so that comfortable braking keeps it ``min_gap`` behind."""
        cfg = self.cfg
        room = np.maximum(room - cfg.min_gap, 0.0)
        return np.minimum(cfg.spawn_speed, np.sqrt(lead_speed**2 + 2 * cfg.comfort_decel * room))

    def placed(self, env_ids, car_ids, lane, x, y, speed) -> None:
        """Cars ``car_ids[k]`` of worlds ``env_ids[k]`` start afresh on ``lane[k]`` at ``x, y``
        with ``speed`` (their bodies are placed by the caller)."""
        at = (env_ids, car_ids)
        self.target[at] = self.measured_lane[at] = lane
        self.cooldown[at] = 0
        self.prev_x[at] = self.anchor_x[at] = x
        self.prev_y[at] = self.anchor_y[at] = y
        self.prev_speed[at], self.prev_accel[at] = speed, 0.0
        self.accel_cmd[at] = 0.0
        self.touching[at] = self.finished[at] = self.stray[at] = False
        self.shadow_lane[at] = -1
        self.from_ramp[at] = self.ends_at[lane] < np.inf
        learned = car_ids < self.n
        self.setpoint[env_ids[learned], car_ids[learned]] = speed[learned]
        self.present[at], self.s[at], self.speed[at] = True, self.length[car_ids] / 2, speed
        # Until the next measure: straight on at its speed (no stale command from before).
        self.offset[at] = self.heading_error[at] = 0.0
        self.accel[at], self.steer[at], self.change[at] = 0.0, 0.0, -1
        self.leader[at], self.gap[at], self.lead_speed[at] = -1, np.inf, speed


@kernel
def _entry_room(present, target, measured, shadow, s, shadow_s, speed, entries, lane_length,
                successor, length, room, room_speed):  # fmt: skip
    """``MergeState.entry_room``'s compiled pass (``room``, ``room_speed`` ``(B, K)`` out)."""
    worlds, n = s.shape
    lanes = lane_length.shape[0]
    first_s, first_v = np.empty(lanes), np.empty(lanes)  # the first car's rear, its speed
    for b in range(worlds):
        first_s[:] = np.inf
        first_v[:] = 0.0
        for i in range(n):
            if not present[b, i]:
                continue
            for lane, at in ((target[b, i], s[b, i]), (measured[b, i], s[b, i]),
                             (shadow[b, i], shadow_s[b, i])):  # fmt: skip
                rear = at - 0.5 * length[i]
                if lane >= 0 and rear < first_s[lane]:
                    first_s[lane], first_v[lane] = rear, speed[b, i]
        for k in range(entries.size):
            lane, offset = entries[k], 0.0
            room[b, k], room_speed[b, k] = np.inf, 0.0
            for _ in range(lanes):
                if first_s[lane] < np.inf:
                    room[b, k] = offset + first_s[lane]
                    room_speed[b, k] = first_v[lane]
                    break
                if successor[lane] < 0:
                    break
                offset += lane_length[lane]
                lane = successor[lane]


def _path_end(road, lane: int) -> float:
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
