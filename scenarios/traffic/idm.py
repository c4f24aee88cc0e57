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
change) and the change is safe, ``a_n' >= -b_safe`` and ``a_c' >= -b_safe`` with positive gaps
to both new neighbours (accelerations weighed no lower than ``-MOBIL_MAX_DECEL``).
The better of left and right wins; a car closer to the car ahead than its own length has no
room to pull out and stays. Decisions are made car by car: a car that changes joins its
new lane at once, so no later car of the same step picks the same gap.

**Merging** (for lanes that end, as an on-ramp's acceleration lane; off unless asked for):
MOBIL's ``bias`` toward leaving such a lane grows as the end nears (plus the deceleration that
stopping at the end would take: a mandatory lane change), and with ``cooperation`` the car
lines up behind the car ahead of it on the lane it must change to, and the car behind it there
yields (treats it as its leader while it moves), each only when that takes braking of at most
``cooperation``, and is urged to change lanes away when the merging car would slow it (as
drivers let a merging car in, or move over for it). A
car changing lanes can be listed on the lane it is leaving too (``shadow_lane``), while its body
still covers part of it: cars there keep it as their leader until it has left.

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
MOBIL_MAX_DECEL = 9.0
"""m/s^2: MOBIL weighs no acceleration below minus this (IDM's braking grows without bound as
a gap closes; beyond this a car crashes anyway: MovSim's b_max), so that a car in a hopeless
spot (at a lane's end) does not make any change in front of it look like a huge gain."""
STANDING = 1.0
"""m/s: cars yield to a merging car only while it moves (one standing at the end of its lane
waits for a gap: a car that never merges must not stop the lane beside it)."""


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
    added to the incentive of every change out of a lane whose path ends, together with the
    deceleration that stopping at the end would take, ``v^2 / (2 (distance - s0))``, so that
    the urge grows as the end nears (0: plain MOBIL)."""
    cooperation: float = 0.0
    """Cooperative merging, m/s^2 (0: off): the hardest braking a car whose lane ends accepts
    to line up behind the car ahead on the lane it must change to, and that the car behind it
    there accepts to let it in (see the module docstring)."""

    def array(self) -> np.ndarray:
        """The kernel's parameter vector (everything but ``v0``, which is per car)."""
        return np.array(
            [self.time_headway, self.min_gap, self.max_accel, self.comfort_decel, self.delta,
             self.politeness, self.threshold, self.safe_decel, self.bias, self.cooperation],
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
def _sort_lanes(s, lane, shadow_lane, shadow_s, members, sorted_s, counts, rank):
    """One world's cars by lane, each lane's in increasing ``s`` (``members[l, :counts[l]]``,
    their arc lengths ``sorted_s``); ``rank[i]``: car i's place in its lane. A car with a
    ``shadow_lane`` (>= 0) is listed there too, at ``shadow_s``."""
    counts[:] = 0
    n = s.size
    keys = np.empty(2 * n)
    keys[:n] = s
    keys[n:] = shadow_s
    order = np.argsort(keys, kind="mergesort")
    for k in range(order.size):
        entry = order[k]
        i = entry if entry < n else entry - n
        lane_i = lane[i] if entry < n else (shadow_lane[i] if lane[i] >= 0 else -1)
        if lane_i >= 0:
            members[lane_i, counts[lane_i]] = i
            sorted_s[lane_i, counts[lane_i]] = keys[entry]
            if entry < n:
                rank[i] = counts[lane_i]
            counts[lane_i] += 1


@kernel
def _insert(lane, i, s_at, members, sorted_s, counts):
    """List car i on ``lane`` at arc length ``s_at`` (it has just changed to it)."""
    n = counts[lane]
    k = np.searchsorted(sorted_s[lane, :n], s_at, side="right")
    for j in range(n, k, -1):
        members[lane, j] = members[lane, j - 1]
        sorted_s[lane, j] = sorted_s[lane, j - 1]
    members[lane, k], sorted_s[lane, k] = i, s_at
    counts[lane] = n + 1


@kernel
def _ahead(lane, k, offset, skip, members, sorted_s, counts, lane_length, loop, successor):
    """The first car but ``skip`` from place ``k`` of ``lane`` on (following successors past a
    lane's end, wrapping once on a loop) and its distance (its arc length plus ``offset``);
    -1, inf when there is none within eight lanes."""
    for _ in range(8):
        n = counts[lane]
        while k < n and members[lane, k] == skip:
            k += 1
        if k < n:
            return members[lane, k], sorted_s[lane, k] + offset
        if loop[lane]:
            k = 0
            while k < n and members[lane, k] == skip:
                k += 1
            if k == n:
                return -1, np.inf
            return members[lane, k], sorted_s[lane, k] + lane_length[lane] + offset
        nxt = successor[lane]
        if nxt < 0:
            return -1, np.inf
        offset += lane_length[lane]
        lane, k = nxt, 0
    return -1, np.inf


@kernel
def _behind(lane, k, offset, skip, members, sorted_s, counts, lane_length, loop, predecessor):
    """The first car but ``skip`` from place ``k`` of ``lane`` back (following predecessors
    past a lane's start, wrapping once on a loop) and its distance (``offset`` minus its arc
    length)."""
    for _ in range(8):
        n = counts[lane]
        while k >= 0 and members[lane, k] == skip:
            k -= 1
        if k >= 0:
            return members[lane, k], offset - sorted_s[lane, k]
        if loop[lane]:
            k = n - 1
            while k >= 0 and members[lane, k] == skip:
                k -= 1
            if k < 0:
                return -1, np.inf
            return members[lane, k], offset - (sorted_s[lane, k] - lane_length[lane])
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
def _around(lane, s_at, i, members, sorted_s, counts, lane_length, loop, successor,
            predecessor):  # fmt: skip
    """The cars just ahead and just behind car i at arc length ``s_at`` on ``lane`` (not its
    own; car i itself, listed there as a shadow, is passed over), and their centre distances
    from it; -1 and inf where there is none."""
    n = counts[lane]
    k = np.searchsorted(sorted_s[lane, :n], s_at, side="right")
    ahead, ahead_dist = _ahead(
        lane, k, -s_at, i, members, sorted_s, counts, lane_length, loop, successor
    )
    behind, behind_dist = _behind(
        lane, k - 1, s_at, i, members, sorted_s, counts, lane_length, loop, predecessor
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
        lane_i, r + 1, -s[i], -1, members, sorted_s, counts, lane_length, loop, successor
    )
    follower, follow_dist = _behind(
        lane_i, r - 1, s[i], -1, members, sorted_s, counts, lane_length, loop, predecessor
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
          predecessor=None, shadow_lane=None, shadow_s=None, mobil_cand=None):  # fmt: skip
    """IDM accelerations and MOBIL decisions of every car of every world, in one pass.

    Per car ``(B, N)``: arc length ``s`` on its ``lane`` (-1: not on the road, ignored),
    ``speed``, desired speed ``v0``; ``length`` ``(N,)``; for MOBIL ``eligible`` cars, the
    candidate lanes ``lane_cand`` ``(B, N, 2)`` (left, right; -1 none) and the car's arc length
    projected on each ``s_cand``. Per lane: ``lane_length``, ``loop``, ``dead_end`` (its end
    is a standing car), and optionally the lane a car continues on, ``successor``, and the one
    it came from, ``predecessor`` (-1 none; default none: leaders stay within a lane). Optional
    per car: ``shadow_lane`` ``(B, N)`` (-1 none), a lane the car is leaving and still covers,
    where it is listed too at ``shadow_s``; ``mobil_cand`` ``(B, N, 2)``, the lanes MOBIL may
    pick (default ``lane_cand``; ``lane_cand`` still names the lane a merging car heads for).
    Writes ``accel``, the bumper ``gap`` to the leader (inf on free road), ``lead_speed``,
    ``leader`` (``NO_LEADER``, ``LANE_END`` or the car: the one whose IDM response the car
    follows, a car on the next lane when merging cooperatively) and ``target`` (the lane MOBIL
    picks, -1 to stay).
    """
    none = np.full(lane_length.shape[0], -1, np.int64)
    successor = none if successor is None else np.asarray(successor, np.int64)
    predecessor = none if predecessor is None else np.asarray(predecessor, np.int64)
    if shadow_lane is None:
        shadow_lane = np.full(s.shape, -1, np.int32)
        shadow_s = np.zeros(s.shape, np.float32)
    mobil_cand = lane_cand if mobil_cand is None else mobil_cand
    _drive(s, lane, speed, length, v0, s_cand, lane_cand, eligible, lane_length, loop,
           dead_end, params, accel, gap, lead_speed, leader, target, successor,
           predecessor, shadow_lane, shadow_s, mobil_cand)  # fmt: skip


@kernel
def _drive(s, lane, speed, length, v0, s_cand, lane_cand, eligible, lane_length, loop,
           dead_end, params, accel, gap, lead_speed, leader, target, successor,
           predecessor, shadow_lane, shadow_s, mobil_cand):  # fmt: skip
    """``drive``'s compiled pass."""
    worlds, n = s.shape
    lanes = lane_length.shape[0]
    members = np.zeros((lanes, 3 * n), np.int64)  # each car, its shadow, and lane changes
    sorted_s = np.zeros((lanes, 3 * n), np.float64)
    counts = np.zeros(lanes, np.int64)
    rank = np.zeros(n, np.int64)
    follower = np.full(n, -1, np.int64)
    own_gap, own_lead_speed = np.zeros(n), np.zeros(n)
    boxed = np.zeros(n, np.bool_)
    to_end = np.zeros(n)
    urged = np.zeros(n)
    links = (successor, predecessor)
    cooperation = params[9] if params.shape[0] > 9 else 0.0
    for b in range(worlds):
        _sort_lanes(s[b], lane[b], shadow_lane[b], shadow_s[b], members, sorted_s, counts, rank)
        for i in range(n):
            target[b, i] = -1
            urged[i] = 0.0
            if lane[b, i] < 0:
                accel[b, i], gap[b, i], lead_speed[b, i], leader[b, i] = 0.0, np.inf, 0.0, -1
                continue
            found = _own_leader(
                i, s[b], lane[b], members, sorted_s, counts, rank, lane_length, loop, *links
            )
            lead, dist, follower[i] = found[0], found[1], found[2]
            bumper = dist - 0.5 * (length[i] + length[lead]) if lead >= 0 else np.inf
            to_end[i] = _end_ahead(lane[b, i], s[b, i], lane_length, loop, dead_end, successor)
            lead, bumper = _with_end(lead, bumper, to_end[i] - 0.5 * length[i])
            v_lead = speed[b, lead] if lead >= 0 else (0.0 if lead == LANE_END else speed[b, i])
            leader[b, i], gap[b, i], lead_speed[b, i] = lead, bumper, v_lead
            own_gap[i], own_lead_speed[i] = bumper, v_lead
            boxed[i] = lead >= 0 and bumper < length[i]  # no room to pull out
            accel[b, i] = idm(speed[b, i], v_lead, bumper, v0[b, i], params)
        if cooperation > 0.0:
            for i in range(n):
                if lane[b, i] >= 0 and to_end[i] < np.inf:
                    _cooperate(
                        b, i, s_cand, lane_cand, speed, length, v0, to_end, accel, gap,
                        lead_speed, leader, urged, members, sorted_s, counts, lane_length, loop,
                        dead_end, params, successor, predecessor, cooperation,
                    )  # fmt: skip
        for i in range(n):
            if eligible[b, i] and lane[b, i] >= 0 and not boxed[i]:
                target[b, i] = _mobil(
                    b, i, lane[b, i], s_cand, mobil_cand, speed, length, v0, accel, own_gap,
                    own_lead_speed, follower, to_end[i], urged[i], members, sorted_s, counts,
                    lane_length, loop, dead_end, params, successor, predecessor,
                )  # fmt: skip
                if target[b, i] >= 0:
                    c = 0 if target[b, i] == mobil_cand[b, i, 0] else 1
                    _insert(target[b, i], i, s_cand[b, i, c], members, sorted_s, counts)


@kernel
def _merge_lane(b, i, s_cand, lane_cand, to_end, lane_length, loop, dead_end, successor):
    """Which candidate (0 left, 1 right) car i, on a lane whose path ends ``to_end`` ahead,
    must change to: the one whose own path ends farthest beyond that (-1 none)."""
    best, best_end = -1, to_end
    for c in range(2):
        cand = lane_cand[b, i, c]
        at = s_cand[b, i, c]
        if cand < 0 or (not loop[cand] and (at < 0.0 or at >= lane_length[cand])):
            continue
        end = _end_ahead(cand, at, lane_length, loop, dead_end, successor)
        if end > best_end:
            best, best_end = c, end
    return best


@kernel
def _cooperate(b, i, s_cand, lane_cand, speed, length, v0, to_end, accel, gap, lead_speed,
               leader, urged, members, sorted_s, counts, lane_length, loop, dead_end, params,
               successor, predecessor, cooperation):  # fmt: skip
    """Cooperative merging around car i, whose lane ends ``to_end[i]`` ahead: it follows the
    car ahead of it on the lane it must change to, and the car behind it there follows it
    (while car i moves), each where that is its harder braking yet at most ``cooperation``;
    that car, if car i slows it, is urged to change lanes away (``urged``)."""
    c = _merge_lane(b, i, s_cand, lane_cand, to_end[i], lane_length, loop, dead_end, successor)
    if c < 0:
        return
    ahead, ahead_dist, behind, behind_dist = _around(
        lane_cand[b, i, c], s_cand[b, i, c], i, members, sorted_s, counts, lane_length, loop,
        successor, predecessor,
    )  # fmt: skip
    if ahead >= 0:
        front = ahead_dist - 0.5 * (length[i] + length[ahead])
        a = idm(speed[b, i], speed[b, ahead], front, v0[b, i], params)
        if -cooperation <= a < accel[b, i]:
            accel[b, i], leader[b, i], gap[b, i] = a, ahead, front
            lead_speed[b, i] = speed[b, ahead]
    if behind >= 0:
        back = behind_dist - 0.5 * (length[i] + length[behind])
        a = idm(speed[b, behind], speed[b, i], back, v0[b, behind], params)
        if a < accel[b, behind]:
            urged[behind] = cooperation
            if a >= -cooperation and speed[b, i] > STANDING:
                accel[b, behind], leader[b, behind] = a, i
                gap[b, behind], lead_speed[b, behind] = back, speed[b, i]


@kernel
def _bounded(a):
    """An acceleration as MOBIL weighs it: no harder braking than ``MOBIL_MAX_DECEL``."""
    return max(a, -MOBIL_MAX_DECEL)


@kernel
def _mobil(b, i, own_lane, s_cand, lane_cand, speed, length, v0, accel, gap, lead_speed, follower,
           to_end, urged, members, sorted_s, counts, lane_length, loop, dead_end, params,
           successor, predecessor):  # fmt: skip
    """MOBIL for car i of world b: the candidate lane with the largest incentive above the
    threshold among the safe ones, or -1. ``gap`` and ``lead_speed`` are per car of the world,
    along its own lane; ``to_end``: how far car i's path ends ahead (inf: it does not);
    ``urged``: a bias to change lanes at all (cooperative merging)."""
    politeness, threshold, safe = params[5], params[6], params[7]
    v = speed[b, i]
    bias = urged
    if params.shape[0] > 8 and params[8] > 0.0 and to_end < np.inf:
        # A mandatory change: the urge grows as the end nears.
        room = max(to_end - 0.5 * length[i] - params[1], 0.5)
        bias += params[8] + v * v / (2.0 * room)
    # The old follower's gain: it would follow car i's leader (or the lane end) instead.
    old, old_gain = follower[i], 0.0
    if old >= 0 and old != i:
        joined = gap[old] + length[i] + gap[i]
        after = idm(speed[b, old], lead_speed[i], joined, v0[b, old], params)
        old_gain = _bounded(after) - _bounded(accel[b, old])
    best, best_lane = threshold, -1
    for c in range(2):
        cand = lane_cand[b, i, c]
        if cand < 0:
            continue
        at = s_cand[b, i, c]
        if not loop[cand] and (at < 0.0 or at >= lane_length[cand]):
            continue
        ahead, ahead_dist, behind, behind_dist = _around(
            cand, at, i, members, sorted_s, counts, lane_length, loop, successor, predecessor
        )
        front = ahead_dist - 0.5 * (length[i] + length[ahead]) if ahead >= 0 else np.inf
        end = _end_ahead(cand, at, lane_length, loop, dead_end, successor)
        ahead, front = _with_end(ahead, front, end - 0.5 * length[i])
        back = behind_dist - 0.5 * (length[i] + length[behind]) if behind >= 0 else np.inf
        if front <= 0.0 or back <= 0.0:
            continue
        v_ahead = speed[b, ahead] if ahead >= 0 else (0.0 if ahead == LANE_END else v)
        own = idm(v, v_ahead, front, v0[b, i], params)
        if own < -safe:  # nor for itself
            continue
        own_gain = own - _bounded(accel[b, i])
        new_gain = 0.0
        if behind >= 0:
            after = idm(speed[b, behind], v, back, v0[b, behind], params)
            if after < -safe:
                continue
            new_gain = after - _bounded(accel[b, behind])
        incentive = own_gain + politeness * (new_gain + old_gain) + bias
        if incentive > best:
            best, best_lane = incentive, cand
    return best_lane
