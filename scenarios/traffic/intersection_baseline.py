"""The IDM baseline of ``traffic/intersection-v0``, read from the observation alone."""

from __future__ import annotations

import numpy as np

from scenarios.core import ScriptedPolicy
from scenarios.traffic.common import HORIZON, setpoint_action
from scenarios.traffic.idm import idm_acceleration


class JunctionIDMPolicy(ScriptedPolicy):
    """IDM toward the desired speed (``ego.desired``) behind what is ahead (``ego.gap``: the
    leader, or the stop line without the right of way). Discrete: keep, faster or slower,
    whichever setpoint makes the speed controller accelerate closest to IDM. Continuous: IDM's
    acceleration directly, and pure pursuit to the second point of the route ahead.
    Stateless."""

    groups = ("car",)

    def __init__(self, cfg, layout) -> None:
        self.cfg, self.layout = cfg, layout

    def act(self, obs, action_mask=None, deterministic: bool = True):
        cfg, o = self.cfg, obs["car"]
        ego = self.layout.read(o, "ego")
        speed, lead = ego[..., 0] * cfg.v0, ego[..., 5] * cfg.v0
        gap = np.where(ego[..., 4] >= 1.0, np.inf, ego[..., 4] * HORIZON)
        desired = np.maximum(ego[..., 8] * cfg.v0, 0.1)
        accel = idm_acceleration(speed, lead, gap, cfg.idm, v0=desired)
        if not cfg.continuous_actions:
            action = setpoint_action(cfg, speed, ego[..., 9] * cfg.v0, accel)
            return {"car": action.astype(np.int64)}
        throttle = np.where(accel > 0, accel / cfg.max_accel, accel / cfg.max_decel)
        points = self.layout.read(o, "lane_ahead")
        px, py = points[..., 2], points[..., 3]
        curvature = 2 * py / np.maximum(px * px + py * py, 1e-6)
        steer = np.arctan(cfg.wheelbase * curvature) / cfg.max_steer
        return {"car": np.stack([throttle, steer], -1).clip(-1, 1).astype(np.float32)}
