"""Per-world state of ``traffic/ring-v0`` over all cars (learned first, then IDM): target lanes,
setpoints, lane-change cooldowns, what IDM/MOBIL measured, and the episode's books.

``measure`` is a function of the bodies and this state only (the vector env may sense a step
twice: once, and again for the worlds that restarted); ``book`` changes the books once per step,
and the lane changes MOBIL picks are made in ``commands``, before the next physics step."""

from __future__ import annotations

import numpy as np

from scenarios.core import Reward
from scenarios.traffic import kernels as tk
from scenarios.traffic.common import HORIZON, SPEED_GAIN, Books, vehicle_sizes
from scenarios.traffic.idm import NO_LEADER, drive

TTC_CAP = 100.0
STEERING_GAINS = np.array([1.0, 1.0])
FS_WIDTHS, FS_DECELS = (4.5, 5.25, 6.0), (1.5, 1.0, 0.5)
"""FollowerStopper's band edges at no closing speed (m) and the decelerations (m/s^2) by
which they grow with it, Bhadani et al. 2018's values."""


def follower_stopper(setpoint, speed, gap, lead_speed, has_leader) -> np.ndarray:
    """FollowerStopper (Bhadani et al. 2018; the controller of Stern et al. 2018's automated
    car): the speed command is the ``setpoint`` on open road, falls to the leader's speed (if
    lower) as the bumper ``gap`` closes below a band whose edges grow with the closing speed,
    and to 0 below its lower edge. Arrays of the same shape; returns the command."""
    closing = np.minimum(lead_speed - speed, 0.0) ** 2
    edges = [w + closing / (2.0 * d) for w, d in zip(FS_WIDTHS, FS_DECELS, strict=True)]
    v = np.minimum(np.maximum(lead_speed, 0.0), setpoint)
    low = v * np.clip((gap - edges[0]) / (edges[1] - edges[0]), 0.0, 1.0)
    high = v + (setpoint - v) * np.clip((gap - edges[1]) / (edges[2] - edges[1]), 0.0, 1.0)
    command = np.where(gap <= edges[1], low, high)
    return np.where(has_leader, command, setpoint)


class RingState:
    def __init__(
        self, cfg, road, num_worlds: int, n_learned: int, controller: str = "speed"
    ) -> None:
        self.cfg, self.road, self.n, self.controller = cfg, road, n_learned, controller
        shape = (num_worlds, cfg.n_cars)
        self.target = np.zeros(shape, np.int32)
        self.setpoint = np.full((num_worlds, n_learned), cfg.v0, np.float32)
        self.cooldown = np.zeros(shape, np.int32)
        self.cooldown_steps = int(round(cfg.lane_change_cooldown / cfg.dt))
        self.accel_cmd = np.zeros(shape, np.float32)
        self.prev_x, self.prev_y = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        self.anchor_x, self.anchor_y = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        self.prev_speed, self.prev_accel = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        self.touching = np.zeros(shape, bool)
        self.personality = np.zeros((num_worlds, n_learned, 5), np.float32)
        self.books = Books.zeros(num_worlds)
        self.params = cfg.idm.array()
        self.size = vehicle_sizes(cfg, n_learned, cfg.n_cars)
        self.length = self.size[:, 0].astype(np.float32)
        self.wheelbase = 0.6 * self.size[:, 0].astype(np.float64)
        # The heading toward the lane that keeps a vehicle's corners within about 1.2 m of
        # where its centre line goes (about 29 degrees for a car, 12 for a 12 m truck).
        self.approach = np.arcsin(np.minimum(1.0, 2.4 / self.size[:, 0].astype(np.float64)))
        self.distances = cfg.lane_spacing * np.arange(1, cfg.lane_points + 1, dtype=np.float64)
        out = {k: np.zeros(shape, np.float64) for k in ("accel", "gap", "lead_speed")}
        self.accel, self.gap, self.lead_speed = out["accel"], out["gap"], out["lead_speed"]
        self.leader, self.change = np.zeros(shape, np.int32), np.zeros(shape, np.int32)
        self.steer = np.zeros(shape, np.float64)
        self.candidates = np.full((*shape, 2), -1, np.int32)
        self.s_candidates = np.zeros((*shape, 2), np.float32)
        poly = road.polylines
        self._lanes = (poly.vertices[0], poly.counts[0], poly.start_s[0], road.length, road.loop)

    # ---------------------------------------------------------------------------------- reset
    def points(self, lane: np.ndarray, s: np.ndarray):
        """Points and headings of lanes ``lane`` ``(E, N)`` at arc lengths ``s`` ``(E, N, P)``."""
        out = [np.zeros(s.shape) for _ in range(3)]
        tk.lane_points(*self._lanes, lane, s.astype(np.float64), *out)
        return out

    def reset(self, env_ids, lane, x, y, speed, personality) -> None:
        self.target[env_ids] = lane
        self.setpoint[env_ids] = speed[:, : self.n]
        self.cooldown[env_ids] = 0
        for name in ("accel_cmd", "prev_accel"):
            getattr(self, name)[env_ids] = 0.0
        self.prev_speed[env_ids] = speed
        self.prev_x[env_ids], self.prev_y[env_ids] = x, y
        self.anchor_x[env_ids], self.anchor_y[env_ids] = x, y
        self.touching[env_ids] = False
        self.personality[env_ids] = personality
        self.books.clear(env_ids)

    # -------------------------------------------------------------------------------- measure
    def measure(self, x, y, angle, speed, present) -> None:
        """Lane coordinates on the target lanes, IDM and MOBIL for every car, the steering."""
        road, cfg = self.road, self.cfg
        coords = road.coordinates(x, y, angle, self.target)
        self.s, self.offset = coords.position.s, coords.position.d
        self.heading_error, self.x, self.y, self.angle = coords.heading_error, x, y, angle
        self.speed, self.present = speed, present
        lane = np.where(present, self.target, -1).astype(np.int32)
        for c, neighbours in enumerate((road.left, road.right)):
            cand = neighbours[self.target]
            self.candidates[..., c] = cand
            if road.num_lanes > 1:
                on = np.where(cand >= 0, cand, self.target)
                self.s_candidates[..., c] = road.coordinates(x, y, angle, on).position.s
        v0 = np.full(x.shape, cfg.v0, np.float32)
        eligible = present & (self.cooldown <= 0)
        drive(self.s, lane, speed, self.length, v0, self.s_candidates, self.candidates,
              eligible, road.length, road.loop, road.dead_end, self.params, self.accel,
              self.gap, self.lead_speed, self.leader, self.change)  # fmt: skip
        curvature = road.segment_curvature[self.target, coords.position.segment]
        tk.lane_keeping(self.offset, self.heading_error, curvature, speed, self.wheelbase,
                        STEERING_GAINS, self.steer, self.approach)  # fmt: skip

    def time_to_collision(self, speed) -> np.ndarray:
        """Least time to collision with a leader that is closer each step ``(B,)``, capped."""
        closing = speed - self.lead_speed
        hit = (self.leader != -1) & (closing > 1e-3) & self.present
        ttc = np.where(hit, np.maximum(self.gap, 0) / np.where(hit, closing, 1), TTC_CAP)
        return np.minimum(ttc.min(1), TTC_CAP)

    # ------------------------------------------------------------------------------- commands
    def commands(self, actions, continuous: bool, idm_agents: bool = False):
        """Acceleration and steering of every car; lane changes (MOBIL's for IDM cars, the
        meta-actions' for learned ones) take effect here, once per step. With ``idm_agents``
        the learned cars drive as IDM cars (their actions are ignored)."""
        cfg, n = self.cfg, self.n
        accel = self.accel.astype(np.float32)
        steer = self.steer.astype(np.float32)
        change = self.change.copy()
        if idm_agents:
            pass  # IDM's acceleration and MOBIL's lane changes, as for every other car
        elif continuous:
            change[:, :n] = -1
            a = actions[..., 0]
            accel[:, :n] = np.where(a > 0, a * cfg.max_accel, a * cfg.max_decel)
            steer[:, :n] = actions[..., 1] * cfg.max_steer
        else:
            step = np.where(
                actions == 1, cfg.speed_step, np.where(actions == 2, -cfg.speed_step, 0)
            )
            speed = self.speed[:, :n]
            if self.controller == "follower_stopper":
                # No wind-up while FollowerStopper holds the car below its setpoint: "faster"
                # raises it no more than a step above the car's speed.
                room = np.maximum(speed + cfg.speed_step - self.setpoint, 0.0)
                step = np.where(actions == 1, np.minimum(step, room), step)
            np.clip(self.setpoint + step, 0.0, 1.2 * cfg.v0, out=self.setpoint)
            command = self.setpoint
            if self.controller == "follower_stopper":
                command = follower_stopper(
                    self.setpoint,
                    self.speed[:, :n],
                    self.gap[:, :n],
                    self.lead_speed[:, :n],
                    self.leader[:, :n] != NO_LEADER,  # a car, or the end of a dropped lane
                )
            # A speed controller toward the command (as highway-env's; with "speed", no
            # car-following: the policy brakes).
            accel[:, :n] = SPEED_GAIN * (command - self.speed[:, :n])
            change[:, :n] = -1
            legal = self.action_mask()
            for action, c in ((3, 0), (4, 1)):
                go = (actions == action) & legal[..., action]
                change[:, :n] = np.where(go, self.candidates[:, :n, c], change[:, :n])
        moved = change >= 0
        self.target[moved] = change[moved]
        self.cooldown[moved] = self.cooldown_steps + 1
        np.maximum(self.cooldown - 1, 0, out=self.cooldown)
        np.clip(accel, -cfg.max_decel, cfg.max_accel, out=accel)
        self.accel_cmd[...] = accel
        return accel, steer

    def action_mask(self) -> np.ndarray:
        """Legal meta-actions of the learned cars ``(B, n, 5)``."""
        n = self.n
        mask = np.ones((*self.target.shape[:1], n, 5), bool)
        for action, c in ((3, 0), (4, 1)):
            cand = self.candidates[:, :n, c]
            at = self.s_candidates[:, :n, c]
            length = self.road.length[np.maximum(cand, 0)]
            inside = self.road.loop[np.maximum(cand, 0)] | ((at >= 0) & (at < length))
            mask[..., action] = (cand >= 0) & inside & (self.cooldown[:, :n] <= 0)
        return mask

    # ----------------------------------------------------------------------------------- books
    def book(self, steps, x, y, speed, touching, present, new_contact, crossed) -> None:
        cfg, books = self.cfg, self.books
        live = (steps > 0).astype(float)
        v = np.where(present, speed, 0.0).astype(float)
        books.speed_sum += live * v.sum(1)
        books.speed_sq_sum += live * (v * v).sum(1)
        books.samples += live * present.sum(1)
        books.km += live * v.sum(1) * cfg.dt / 1000.0
        books.delay_s += live * (np.where(present, 1.0 - v / cfg.v0, 0.0)).sum(1) * cfg.dt
        books.collisions += live * new_contact.sum(1)
        books.agent_collisions += live * new_contact[:, : self.n].sum(1)
        books.crossings += live * crossed
        moved = np.hypot(x - self.anchor_x, y - self.anchor_y) > 0.5
        self.anchor_x[moved], self.anchor_y[moved] = x[moved], y[moved]
        books.last_move = np.where(moved.any(1), steps, books.last_move)
        stuck = (steps - books.last_move) * cfg.dt >= cfg.gridlock_seconds
        books.gridlocks += live * stuck
        books.last_move = np.where(stuck, steps, books.last_move)
        accel = (speed - self.prev_speed) / cfg.dt
        self.prev_accel[...] = np.where(steps[:, None] > 0, accel, 0.0)
        self.prev_speed[...], self.prev_x[...], self.prev_y[...] = speed, x, y
        self.touching[...] = touching

    def episode_figures(self, env_ids, n_learned: int) -> dict[str, np.ndarray]:
        books, cfg = self.books, self.cfg
        samples = np.maximum(books.samples[env_ids], 1)
        mean = books.speed_sum[env_ids] / samples
        variance = np.maximum(books.speed_sq_sum[env_ids] / samples - mean * mean, 0.0)
        km = books.km[env_ids]
        hours = np.maximum(books.samples[env_ids] / cfg.n_cars * cfg.dt / 3600.0, 1e-9)
        return {
            "speed_std_all": np.sqrt(variance),
            "collisions_per_1000km": books.collisions[env_ids] / np.maximum(km, 1e-3) * 1000.0,
            "collisions_per_agent_episode": books.agent_collisions[env_ids] / n_learned,
            "throughput_vph": books.crossings[env_ids] / hours,
            "delay_s_per_km": books.delay_s[env_ids] / np.maximum(km, 1e-3),
            "gridlocks": books.gridlocks[env_ids].copy(),
        }

    # ---------------------------------------------------------------------------- observation
    def observe(self, obs, layout) -> None:
        cfg, n, road = self.cfg, self.n, self.road
        ego = obs["ego"]
        target = self.target[:, :n]
        ego[..., 0] = self.speed[:, :n] / cfg.v0
        ego[..., 1] = self.accel_cmd[:, :n] / cfg.max_accel
        ego[..., 2] = self.offset[:, :n]
        ego[..., 3] = self.heading_error[:, :n]
        free = self.leader[:, :n] == -1
        ego[..., 4] = np.where(free, 1.0, np.minimum(np.maximum(self.gap[:, :n], 0) / HORIZON, 1))
        ego[..., 5] = np.where(free, self.speed[:, :n], self.lead_speed[:, :n]) / cfg.v0
        to_end = np.where(road.dead_end[target], road.length[target] - self.s[:, :n], HORIZON)
        ego[..., 6] = np.clip(to_end / HORIZON, 0, 1)
        mask = self.action_mask()
        ego[..., 7], ego[..., 8] = mask[..., 3], mask[..., 4]
        change = self.change[:, :n]
        ego[..., 9] = np.where(change < 0, 0, np.where(change == self.candidates[:, :n, 0], 1, -1))
        ego[..., 10] = self.setpoint / cfg.v0
        obs["personality"][...] = self.personality
        if layout["vehicles"].count:
            rows = obs["vehicles"].reshape(*ego.shape[:2], layout["vehicles"].count, 8)
            tk.nearest_vehicles(self.x, self.y, self.angle, self.speed, self.size, self.present,
                                rows, obs.valid("vehicles"))  # fmt: skip
        tk.ego_lane_points(*self._lanes, target, self.s[:, :n], self.x, self.y, self.angle,
                           self.distances, obs["lane_ahead"])  # fmt: skip

    # --------------------------------------------------------------------------------- reward
    def reward(self, frame, cfg, out) -> Reward:
        n, w = self.n, self.personality
        speed = np.where(frame.present, frame.speed, 0.0)
        count = np.maximum(frame.present.sum(1, keepdims=True), 1)
        mean = speed.sum(1, keepdims=True) / count
        if cfg.team_reward == "speed":
            team = mean / cfg.v0
        else:
            team = frame.crossed[:, None].copy()
        spread = np.where(frame.present, (speed - mean) ** 2, 0).sum(1, keepdims=True) / count
        waves = -cfg.wave_weight * np.sqrt(spread) / (0.1 * cfg.v0)
        own = frame.speed[:, :n] / cfg.v0
        half = self.road.width[self.target[:, :n]] / 2
        hit = (frame.new_contact[:, :n] | frame.off_road[:, :n]).astype(np.float32)
        terms = {
            "team": team.astype(np.float32),
            "waves": waves,
            "progress": (w[..., 1] * own).astype(np.float32),
            "collision": -w[..., 0] * hit,
            "comfort": (-w[..., 2] * np.minimum((frame.jerk[:, :n] / 10.0) ** 2, 10.0)),
            "lane_keeping": (-w[..., 3] * np.minimum((self.offset[:, :n] / half) ** 2, 10.0)),
            "speed_preference": -(np.maximum(own - w[..., 4], 0.0) ** 2),
        }
        terms = {k: v.astype(np.float32) for k, v in terms.items()}
        out[...] = sum(terms.values())
        return Reward({"car": out}, terms)
