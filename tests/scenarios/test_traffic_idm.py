"""IDM and MOBIL (``scenarios.traffic.idm``) against hand computation on constructed cases."""

import math

import numpy as np
import pytest

from scenarios.traffic.idm import LANE_END, IDMParams, drive, idm_acceleration

LENGTH = 4.5
DEFAULT = IDMParams()


def run(cars, params=DEFAULT, lanes=2, lane_length=1000.0, loop=False, dead_end=False):
    """``drive`` on one world of cars ``(s, lane, speed, eligible)``; lane l's neighbours are
    l + 1 (left) and l - 1 (right), and a car's arc length is the same on every lane."""
    s, lane, speed, eligible = (np.array([c[k] for c in cars]) for k in range(4))
    n = len(cars)
    left = np.where(lane + 1 < lanes, lane + 1, -1)
    right = np.where(lane > 0, lane - 1, -1)
    out = {
        "accel": np.zeros((1, n)), "gap": np.zeros((1, n)), "lead_speed": np.zeros((1, n)),
        "leader": np.zeros((1, n), np.int32), "target": np.zeros((1, n), np.int32),
    }  # fmt: skip
    drive(
        s[None].astype(np.float32), lane[None].astype(np.int32), speed[None].astype(np.float32),
        np.full(n, LENGTH, np.float32), np.full((1, n), params.v0, np.float32),
        np.stack([s, s], -1)[None].astype(np.float32),
        np.stack([left, right], -1)[None].astype(np.int32), eligible[None].astype(bool),
        np.full(lanes, lane_length, np.float32), np.full(lanes, loop), np.full(lanes, dead_end),
        params.array(), *out.values(),
    )  # fmt: skip
    return {k: v[0] for k, v in out.items()}


def test_a_braking_leader_gives_the_gap_and_the_deceleration_of_the_formula():
    # Follower at 20 m/s, leader at 15 m/s, 30 m bumper to bumper (centres 34.5 m apart).
    out = run([(100.0, 0, 20.0, False), (134.5, 0, 15.0, False)])
    assert out["leader"][0] == 1 and out["gap"][0] == pytest.approx(30.0, abs=1e-5)
    desired = 2.0 + 20.0 * 1.5 + 20.0 * 5.0 / (2 * math.sqrt(1.0 * 1.5))  # 72.82 m
    expected = 1.0 * (1 - (20.0 / 30.0) ** 4 - (desired / 30.0) ** 2)  # -5.09 m/s^2
    assert out["accel"][0] == pytest.approx(expected, rel=1e-5)
    assert expected == pytest.approx(-5.0895, abs=1e-3)
    # The leader sees free road: 1 - (15/30)^4 minus the jam term (s0 + vT)^2 / inf^2.
    assert out["accel"][1] == pytest.approx(1 - 0.5**4, rel=1e-6)
    assert idm_acceleration(20.0, 15.0, 30.0, IDMParams()) == pytest.approx(expected, rel=1e-9)


def test_on_a_loop_the_first_car_follows_the_last_and_a_dropped_lane_ends_like_a_wall():
    out = run([(10.0, 0, 5.0, False), (220.0, 0, 5.0, False)], lanes=1, lane_length=230.0,
              loop=True)  # fmt: skip
    assert out["leader"].tolist() == [1, 0]
    assert out["gap"][1] == pytest.approx(230.0 - 210.0 - LENGTH, abs=1e-4)
    end = run([(80.0, 0, 10.0, False)], lanes=1, lane_length=100.0, dead_end=True)
    assert end["leader"][0] == LANE_END and end["lead_speed"][0] == 0.0
    assert end["gap"][0] == pytest.approx(100.0 - 80.0 - LENGTH / 2, abs=1e-4)


def test_mobil_changes_when_the_gain_beats_the_politeness_weighted_losses():
    slow_ahead = [(100.0, 0, 15.0, True), (140.0, 0, 13.0, False)]
    assert run(slow_ahead)["target"].tolist() == [1, -1]  # empty left lane: go
    # A car 35 m behind in the left lane at 16 m/s: it would brake a little for the newcomer.
    behind = (65.0, 1, 16.0, False)
    out = run([*slow_ahead, behind])
    own = idm_acceleration(15.0, 15.0, np.inf, IDMParams()) - out["accel"][0]  # 1.07
    after = idm_acceleration(16.0, 15.0, 35.0 - LENGTH, IDMParams())  # -0.22: safe
    loss = after - out["accel"][2]  # -1.14
    assert -4.0 < after < 0 and own > 0.1 and own + 1.0 * loss < 0.1
    assert run([*slow_ahead, behind], IDMParams(politeness=0.0))["target"][0] == 1
    assert run([*slow_ahead, behind], IDMParams(politeness=1.0))["target"][0] == -1
    # With the threshold above the selfish gain, nobody moves even into an empty lane.
    assert run(slow_ahead, IDMParams(threshold=1.2))["target"][0] == -1


def test_mobil_refuses_an_unsafe_change():
    slow_ahead = [(100.0, 0, 15.0, True), (140.0, 0, 13.0, False)]
    close_fast = (90.0, 1, 25.0, False)  # 5.5 m behind at +10 m/s: brakes beyond b_safe
    assert idm_acceleration(25.0, 15.0, 90.0 - 100.0 + 10.0 - LENGTH, IDMParams()) < -4.0
    assert run([*slow_ahead, close_fast], IDMParams(politeness=0.0))["target"][0] == -1
    overlapping = (101.0, 1, 15.0, False)  # alongside: no gap at all
    assert run([*slow_ahead, overlapping], IDMParams(politeness=0.0))["target"][0] == -1
