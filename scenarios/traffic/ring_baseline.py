"""The IDM/MOBIL baseline of ``traffic/ring-v0``, read from the observation alone."""

from __future__ import annotations

import numpy as np

from scenarios.core import ScriptedPolicy
from scenarios.traffic.common import HORIZON, setpoint_action
from scenarios.traffic.idm import idm_acceleration


class IDMPolicy(ScriptedPolicy):
    """Discrete: keep, faster or slower, whichever setpoint makes the speed controller
    accelerate closest to IDM (``common.setpoint_action``); or MOBIL's advice (``ego.mobil``)
    when it says change lane. Continuous: IDM's acceleration from the gap and the leader's
    speed, and pure pursuit to the second point of the lane ahead. Stateless."""

    groups = ("car",)

    def __init__(self, cfg, layout) -> None:
        self.cfg, self.layout = cfg, layout

    def act(self, obs, action_mask=None, deterministic: bool = True):
        cfg, o = self.cfg, obs["car"]
        ego = self.layout.read(o, "ego")
        speed, gap = ego[..., 0] * cfg.v0, ego[..., 4] * HORIZON
        lead = ego[..., 5] * cfg.v0
        gap = np.where(ego[..., 4] >= 1.0, np.inf, gap)
        accel = idm_acceleration(speed, lead, gap, cfg.idm)
        if not cfg.continuous_actions:
            # The setpoint whose speed controller comes closest to IDM; MOBIL's advice first.
            action = setpoint_action(cfg, speed, ego[..., 10] * cfg.v0, accel)
            advice = ego[..., 9]
            action = np.where(advice > 0.5, 3, np.where(advice < -0.5, 4, action))
            if action_mask is not None and "car" in action_mask:
                legal = np.take_along_axis(action_mask["car"], action[..., None], -1)[..., 0]
                action = np.where(legal, action, 0)
            return {"car": action.astype(np.int64)}
        throttle = np.where(accel > 0, accel / cfg.max_accel, accel / cfg.max_decel)
        points = self.layout.read(o, "lane_ahead")
        px, py = points[..., 2], points[..., 3]
        curvature = 2 * py / np.maximum(px * px + py * py, 1e-6)
        steer = np.arctan(cfg.wheelbase * curvature) / cfg.max_steer
        action = np.stack([throttle, steer], -1).clip(-1, 1).astype(np.float32)
        return {"car": action}
