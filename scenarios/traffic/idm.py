"""IDM car-following and MOBIL lane changes, vectorized over ``(B, N)`` cars on a lane graph.

**IDM** (Treiber, Hennecke and Helbing, 2000): a car at speed ``v`` behind a leader at speed
``v_l`` with bumper gap ``s`` accelerates at

    a_IDM = a_max [1 - (v / v0)^delta - (s* / s)^2]
    s*    = s0 + max(0, v T + v (v - v_l) / (2 sqrt(a_max b)))

with desired speed ``v0``, time headway ``T``, jam distance ``s0``, maximum acceleration
``a_max`` and comfortable deceleration ``b``. A lane that ends (a dropped lane) acts as a
standing leader at its end; on a closed loop the leader of the car farthest round is the first.

**MOBIL** (Kesting, Treiber and Helbing, 2007): a car changes to a neighbouring lane when
``a_c' - a_c + p [(a_n' - a_n) + (a_o' - a_o)] > threshold`` (its own gain plus the politeness
``p`` times the gains of the new follower ``n`` and the old follower ``o``; primes after the
change) and the change is safe, ``a_n' >= -b_safe`` with positive gaps to both new neighbours.
The better of left and right wins.

Leaders and followers are found per lane by sorting arc lengths: each world's cars are sorted
once, split by lane, and a car's neighbours in another lane found by binary search of its arc
length projected on that lane (``drive``, one compiled pass over all worlds). Given each lane's
``successor`` and ``predecessor``, the searches continue past a lane's end into the lane after it
(leaders, a dead end ahead) and past its start into the lane before it (followers), so a car
sees across a junction; without them the search stays within a lane (enough for ring roads).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worlds.kernels import kernel

NO_LEADER, LANE_END = -1, -2
"""``leader`` values of ``drive`` without a car ahead: free road, or the end of the lane."""


@dataclass(frozen=True)
class IDMParams:
    """IDM and MOBIL parameters (Treiber's usual values for cars on a highway)."""

    v0: float = 30.0
    time_headway: float = 1.5
    min_gap: float = 2.0
    max_accel: float = 1.0
    comfort_decel: float = 1.5
    delta: float = 4.0
    politeness: float = 0.2
    threshold: float = 0.1
    safe_decel: float = 4.0
    bias: float = 0.0
    """MOBIL's bias, m/s^2, toward leaving a lane that ends ahead (a ramp's acceleration lane):
    added to the incentive of every change out of a dead-end lane (0: plain MOBIL)."""

    def array(self) -> np.ndarray:
        """The kernel's parameter vector (everything but ``v0``, which is per car)."""
        return np.array(
            [self.time_headway, self.min_gap, self.max_accel, self.comfort_decel, self.delta,
             self.politeness, self.threshold, self.safe_decel, self.bias],
            np.float64,
        )  # fmt: skip


def idm_acceleration(v, v_lead, gap, p: IDMParams, v0=None) -> np.ndarray:
    """IDM's acceleration in numpy (the reference the kernels follow), broadcast over arrays."""
    v0 = p.v0 if v0 is None else v0
    dynamic = v * p.time_headway + v * (v - v_lead) / (2 * np.sqrt(p.max_accel * p.comfort_decel))
    desired = p.min_gap + np.maximum(dynamic, 0.0)
    free = (np.asarray(v, float) / v0) ** p.delta
    return p.max_accel * (1 - free - (desired / np.maximum(gap, 0.01)) ** 2)


@kernel
def idm(v, v_lead, gap, v0, params):
    """IDM's acceleration of one car (``params`` as ``IDMParams.array``)."""
    headway, jam, a_max, b, delta = params[0], params[1], params[2], params[3], params[4]
    dynamic = v * headway + v * (v - v_lead) / (2.0 * np.sqrt(a_max * b))
    desired = jam + max(dynamic, 0.0)
    return a_max * (1.0 - (v / v0) ** delta - (desired / max(gap, 0.01)) ** 2)


@kernel
def _sort_lanes(s, lane, members, sorted_s, counts, rank):
    """One world's cars by lane, each lane's in increasing ``s`` (``members[l, :counts[l]]``,
    their arc lengths ``sorted_s``); ``rank[i]``: car i's place in its lane."""
    counts[:] = 0
    order = np.argsort(s, kind="mergesort")
    for k in range(order.size):
        i = order[k]
        lane_i = lane[i]
        if lane_i >= 0:
            members[lane_i, counts[lane_i]] = i
            sorted_s[lane_i, counts[lane_i]] = s[i]
            rank[i] = counts[lane_i]
            counts[lane_i] += 1


@kernel
def _ahead(lane, k, offset, members, sorted_s, counts, lane_length, loop, successor):
    """The first car from place ``k`` of ``lane`` on (following successors past a lane's end,
    wrapping once on a loop) and its distance (its arc length plus ``offset``); -1, inf when
    there is none within eight lanes."""
    for _ in range(8):
        n = counts[lane]
        if k < n:
            return members[lane, k], sorted_s[lane, k] + offset
        if loop[lane]:
            if n == 0:
                return -1, np.inf
            return members[lane, 0], sorted_s[lane, 0] + lane_length[lane] + offset
        nxt = successor[lane]
        if nxt < 0:
            return -1, np.inf
        offset += lane_length[lane]
        lane, k = nxt, 0
    return -1, np.inf


@kernel
def _behind(lane, k, offset, members, sorted_s, counts, lane_length, loop, predecessor):
    """The first car from place ``k`` of ``lane`` back (following predecessors past a lane's
    start, wrapping once on a loop) and its distance (``offset`` minus its arc length)."""
    for _ in range(8):
        n = counts[lane]
        if k >= 0:
            return members[lane, k], offset - sorted_s[lane, k]
        if loop[lane]:
            if n == 0:
                return -1, np.inf
            return members[lane, n - 1], offset - (sorted_s[lane, n - 1] - lane_length[lane])
        prev = predecessor[lane]
        if prev < 0:
            return -1, np.inf
        offset += lane_length[prev]
        lane, k = prev, counts[prev] - 1
    return -1, np.inf


@kernel
def _end_ahead(lane, s_at, lane_length, loop, dead_end, successor):
    """Distance from ``s_at`` on ``lane`` to the end of the first dead-end lane along its
    successors (inf when there is none within eight lanes)."""
    offset = -s_at
    for _ in range(8):
        if loop[lane]:
            return np.inf
        offset += lane_length[lane]
        if dead_end[lane]:
            return offset
        lane = successor[lane]
        if lane < 0:
            return np.inf
    return np.inf


@kernel
def _around(lane, s_at, members, sorted_s, counts, lane_length, loop, successor, predecessor):
    """The cars just ahead and just behind arc length ``s_at`` on ``lane`` (a car not on it),
    and their centre distances from it; -1 and inf where there is none."""
    n = counts[lane]
    k = np.searchsorted(sorted_s[lane, :n], s_at, side="right")
    ahead, ahead_dist = _ahead(
        lane, k, -s_at, members, sorted_s, counts, lane_length, loop, successor
    )
    behind, behind_dist = _behind(
        lane, k - 1, s_at, members, sorted_s, counts, lane_length, loop, predecessor
    )
    return ahead, ahead_dist, behind, behind_dist


@kernel
def _own_leader(i, s, lane, members, sorted_s, counts, rank, lane_length, loop, successor,
                predecessor):  # fmt: skip
    """Car i's leader and follower along its lane and the lanes before and after it, and their
    centre distances (-1, inf when none; on a loop a lone car follows itself, a lane length
    away)."""
    lane_i, r = lane[i], rank[i]
    leader, lead_dist = _ahead(
        lane_i, r + 1, -s[i], members, sorted_s, counts, lane_length, loop, successor
    )
    follower, follow_dist = _behind(
        lane_i, r - 1, s[i], members, sorted_s, counts, lane_length, loop, predecessor
    )
    return leader, lead_dist, follower, follow_dist


@kernel
def _with_end(leader, gap, to_end):
    """The leader and bumper gap after counting the end of a dropped lane ``to_end`` ahead
    (bumper to the end; inf when none) as a standing car."""
    if to_end < np.inf and (leader == -1 or to_end < gap):
        return LANE_END, to_end
    return leader, gap


def drive(s, lane, speed, length, v0, s_cand, lane_cand, eligible, lane_length, loop,
          dead_end, params, accel, gap, lead_speed, leader, target, successor=None,
          predecessor=None):  # fmt: skip
    """IDM accelerations and MOBIL decisions of every car of every world, in one pass.

    Per car ``(B, N)``: arc length ``s`` on its ``lane`` (-1: not on the road, ignored),
    ``speed``, desired speed ``v0``; ``length`` ``(N,)``; for MOBIL ``eligible`` cars, the
    candidate lanes ``lane_cand`` ``(B, N, 2)`` (left, right; -1 none) and the car's arc length
    projected on each ``s_cand``. Per lane: ``lane_length``, ``loop``, ``dead_end`` (its end
    is a standing car), and optionally the lane a car continues on, ``successor``, and the one
    it came from, ``predecessor`` (-1 none; default none: leaders stay within a lane). Writes
    ``accel``, the bumper ``gap`` to the leader (inf on free road), ``lead_speed``, ``leader``
    (``NO_LEADER``, ``LANE_END`` or the car) and ``target`` (the lane MOBIL picks, -1 to stay).
    """
    none = np.full(lane_length.shape[0], -1, np.int64)
    successor = none if successor is None else np.asarray(successor, np.int64)
    predecessor = none if predecessor is None else np.asarray(predecessor, np.int64)
    _drive(s, lane, speed, length, v0, s_cand, lane_cand, eligible, lane_length, loop,
           dead_end, params, accel, gap, lead_speed, leader, target, successor,
           predecessor)  # fmt: skip


@kernel
def _drive(s, lane, speed, length, v0, s_cand, lane_cand, eligible, lane_length, loop,
           dead_end, params, accel, gap, lead_speed, leader, target, successor,
           predecessor):  # fmt: skip
    """``drive``'s compiled pass."""
    worlds, n = s.shape
    lanes = lane_length.shape[0]
    members = np.zeros((lanes, n), np.int64)
    sorted_s = np.zeros((lanes, n), np.float64)
    counts = np.zeros(lanes, np.int64)
    rank = np.zeros(n, np.int64)
    follower = np.full(n, -1, np.int64)
    links = (successor, predecessor)
    for b in range(worlds):
        _sort_lanes(s[b], lane[b], members, sorted_s, counts, rank)
        for i in range(n):
            target[b, i] = -1
            if lane[b, i] < 0:
                accel[b, i], gap[b, i], lead_speed[b, i], leader[b, i] = 0.0, np.inf, 0.0, -1
                continue
            found = _own_leader(
                i, s[b], lane[b], members, sorted_s, counts, rank, lane_length, loop, *links
            )
            lead, dist, follower[i] = found[0], found[1], found[2]
            bumper = dist - 0.5 * (length[i] + length[lead]) if lead >= 0 else np.inf
            to_end = _end_ahead(lane[b, i], s[b, i], lane_length, loop, dead_end, successor)
            lead, bumper = _with_end(lead, bumper, to_end - 0.5 * length[i])
            v_lead = speed[b, lead] if lead >= 0 else (0.0 if lead == LANE_END else speed[b, i])
            leader[b, i], gap[b, i], lead_speed[b, i] = lead, bumper, v_lead
            accel[b, i] = idm(speed[b, i], v_lead, bumper, v0[b, i], params)
        for i in range(n):
            if eligible[b, i] and lane[b, i] >= 0:
                target[b, i] = _mobil(
                    b, i, lane[b, i], s_cand, lane_cand, speed, length, v0, accel, gap, lead_speed,
                    follower, members, sorted_s, counts, lane_length, loop, dead_end, params,
                    successor, predecessor,
                )  # fmt: skip


@kernel
def _mobil(b, i, own_lane, s_cand, lane_cand, speed, length, v0, accel, gap, lead_speed, follower,
           members, sorted_s, counts, lane_length, loop, dead_end, params, successor,
           predecessor):  # fmt: skip
    """MOBIL for car i of world b: the candidate lane with the largest incentive above the
    threshold among the safe ones, or -1."""
    politeness, threshold, safe = params[5], params[6], params[7]
    bias = params[8] if params.shape[0] > 8 and dead_end[own_lane] else 0.0
    v = speed[b, i]
    # The old follower's gain: it would follow car i's leader (or the lane end) instead.
    old, old_gain = follower[i], 0.0
    if old >= 0 and old != i:
        joined = gap[b, old] + length[i] + gap[b, i]
        old_gain = idm(speed[b, old], lead_speed[b, i], joined, v0[b, old], params) - accel[b, old]
    best, best_lane = threshold, -1
    for c in range(2):
        cand = lane_cand[b, i, c]
        if cand < 0:
            continue
        at = s_cand[b, i, c]
        if not loop[cand] and (at < 0.0 or at >= lane_length[cand]):
            continue
        ahead, ahead_dist, behind, behind_dist = _around(
            cand, at, members, sorted_s, counts, lane_length, loop, successor, predecessor
        )
        front = ahead_dist - 0.5 * (length[i] + length[ahead]) if ahead >= 0 else np.inf
        to_end = _end_ahead(cand, at, lane_length, loop, dead_end, successor)
        ahead, front = _with_end(ahead, front, to_end - 0.5 * length[i])
        back = behind_dist - 0.5 * (length[i] + length[behind]) if behind >= 0 else np.inf
        if front <= 0.0 or back <= 0.0:
            continue
        v_ahead = speed[b, ahead] if ahead >= 0 else (0.0 if ahead == LANE_END else v)
        own_gain = idm(v, v_ahead, front, v0[b, i], params) - accel[b, i]
        new_gain = 0.0
        if behind >= 0:
            after = idm(speed[b, behind], v, back, v0[b, behind], params)
            if after < -safe:
                continue
            new_gain = after - accel[b, behind]
        incentive = own_gain + politeness * (new_gain + old_gain) + bias
        if incentive > best:
            best, best_lane = incentive, cand
    return best_lane
