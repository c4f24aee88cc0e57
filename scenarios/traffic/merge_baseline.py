"""The IDM/MOBIL baseline of ``traffic/merge-v0``, read from the observation alone."""

from __future__ import annotations

import numpy as np

from scenarios.core import ScriptedPolicy
from scenarios.traffic.common import HORIZON, setpoint_action
from scenarios.traffic.idm import idm_acceleration


class MergePolicy(ScriptedPolicy):
    """IDM's acceleration from the observed leader (``ego.gap``, ``ego.lead_speed``: the one
    IDM responds to) and MOBIL's advice (``ego.mobil``). Discrete: the lane change MOBIL
    advises where legal, else keep, faster or slower, whichever setpoint makes the speed
    controller's acceleration (clipped as the env clips it) closest to IDM's. Continuous:
    IDM's acceleration, and pure pursuit of the second lane-ahead point, moved one lane width
    to the side MOBIL advises while it does (the target lane follows the car's body, so the
    point moves on to the new lane once the car is there); while changing, IDM follows the
    nearest seen cars ahead on both lanes instead of the observed leader (which may be the
    end of the lane being left). Stateless."""

    groups = ("car",)

    def __init__(self, cfg, layout, lane_width: float) -> None:
        self.cfg, self.layout, self.lane_width = cfg, layout, lane_width

    def act(self, obs, action_mask=None, deterministic: bool = True):
        cfg, o = self.cfg, obs["car"]
        ego = self.layout.read(o, "ego")
        speed, gap = ego[..., 0] * cfg.v0, ego[..., 4] * HORIZON
        gap = np.where(ego[..., 4] >= 1.0, np.inf, gap)
        accel = idm_acceleration(speed, ego[..., 5] * cfg.v0, gap, cfg.idm)
        advice = np.round(ego[..., 9])
        if cfg.continuous_actions:
            changing = advice != 0
            if changing.any() and self.layout["vehicles"].count:
                # Changing lanes: IDM behind the nearest cars ahead on both lanes (from the
                # vehicles seen), not the end of the lane being left.
                own = self._leader(o, speed, np.zeros_like(advice))
                new = self._leader(o, speed, self.lane_width * advice)
                both = np.minimum(idm_acceleration(speed, own[1], own[0], cfg.idm),
                                  idm_acceleration(speed, new[1], new[0], cfg.idm))  # fmt: skip
                accel = np.where(changing, both, accel)
            throttle = np.where(accel > 0, accel / cfg.max_accel, accel / cfg.max_decel)
            points = self.layout.read(o, "lane_ahead")
            px, py = points[..., 2], points[..., 3] + self.lane_width * advice
            curvature = 2 * py / np.maximum(px * px + py * py, 1e-6)
            steer = np.arctan(cfg.wheelbase * curvature) / cfg.max_steer
            action = np.stack([throttle, steer], -1).clip(-1, 1).astype(np.float32)
            return {"car": action}
        action = setpoint_action(cfg, speed, ego[..., 10] * cfg.v0, accel)
        action = np.where(advice > 0, 3, np.where(advice < 0, 4, action))
        if action_mask is not None and "car" in action_mask:
            legal = np.take_along_axis(action_mask["car"], action[..., None], -1)[..., 0]
            action = np.where(legal, action, 0)
        return {"car": action.astype(np.int64)}

    def _leader(self, o, speed, lateral):
        """Bumper gap to the nearest seen car ahead whose lateral offset (own frame) is within
        half a lane of ``lateral``, and its speed (inf and own speed when none)."""
        rows = self.layout.read(o, "vehicles")
        valid = self.layout.read_valid(o, "vehicles")
        dx, dy = rows[..., 0], rows[..., 1]
        near = valid & (dx > 0) & (np.abs(dy - lateral[..., None]) < self.lane_width / 2)
        bumper = np.where(near, dx - 0.5 * (rows[..., 6] + self.cfg.car_length), np.inf)
        k = np.argmin(bumper, -1)[..., None]
        gap = np.take_along_axis(bumper, k, -1)[..., 0]
        lead = speed + np.take_along_axis(rows[..., 4], k, -1)[..., 0]
        return gap, np.where(np.isfinite(gap), lead, speed)
