"""The array-native vector env: B worlds of one scenario stepped together.

This is what learners, the league, evaluation and the benchmarks use. Everything is an array with
the batch axis first; episode information arrives only when an episode ends. Episode rules (time
limit, auto-reset, per-agent masking, episode statistics) live here once, not in each scenario.

Arrays returned by ``reset`` and ``step`` are buffers that the next call overwrites: copy what you
keep (a rollout buffer does anyway).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces

from scenarios.accumulators import EpisodeSums
from scenarios.core import Episode, Frame, GroupSpec, Scenario
from scenarios.endings import MAX, MEAN, MIN, SUM, figures, restart, settle, zero_dead
from scenarios.respawn import Respawns
from scenarios.seeding import WorldRandom, replica_generators, world_generators
from worlds.kernels.arrays import largest

MAX_WORLDS = 65_536
"""Most worlds in one vector env."""
MAX_AGENTS = 1 << 20
"""Most agents in one vector env, over all its worlds (about a million)."""


_HOW = {"mean": MEAN, "sum": SUM, "min": MIN, "max": MAX}
_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def check_batch_size(scenario_id: str, num_envs: Any, agents_per_world: int) -> None:
    """Refuse a batch that is not a sane size, in one line naming ``num_envs``."""
    if isinstance(num_envs, (bool, np.bool_)) or not isinstance(num_envs, (int, np.integer)):
        raise ValueError(f"{scenario_id}: num_envs must be an integer, got {num_envs!r}")
    if not 1 <= num_envs <= MAX_WORLDS:
        raise ValueError(f"{scenario_id}: num_envs must be in [1, {MAX_WORLDS}], got {num_envs}")
    if num_envs * agents_per_world > MAX_AGENTS:
        raise ValueError(
            f"{scenario_id}: num_envs {num_envs} x {agents_per_world} agents per world exceeds "
            f"{MAX_AGENTS:,} agents in one batch; use fewer worlds or agents"
        )


def _first_agent(group: str, bad: np.ndarray) -> str:
    """``"drone_2 of world 0"`` for the first True of a ``(B, N)`` mask."""
    world, agent = np.argwhere(bad)[0]
    return f"{group}_{agent} of world {world}"


class VectorEnv:
    """``num_envs`` worlds of ``scenario``; see ``scenarios.make_vec``.

    ``step`` takes ``{group: actions}`` with actions ``(B, N)`` int for a Discrete space or
    ``(B, N, act_dim)`` float for a Box, and returns ``obs, rew, terminated, truncated, info``.
    With ``autoreset`` a world whose episode ended is reset inside ``step``: its returned obs is
    the new episode's first, and ``info["final_obs"]`` / ``info["final_state"]`` hold the ended
    episode's last (valid in the rows of worlds that ended). ``info["episodes"]`` lists one plain
    record per ended world: env_id, length, return per group (mean over agents of summed reward),
    reward_terms (summed, mean over agents) and metrics (reduced per ``metric_reduce``).
    """

    def __init__(
        self,
        scenario: Scenario,
        num_envs: int,
        seed: int | None = None,
        autoreset: bool = True,
    ) -> None:
        self.scenario = scenario
        self.scenario_id = scenario.scenario_id
        self.groups: dict[str, GroupSpec] = scenario.groups()
        check_batch_size(self.scenario_id, num_envs, sum(s.n_agents for s in self.groups.values()))
        self.cfg = scenario.cfg
        self.num_envs = num_envs
        self.autoreset = autoreset
        # Called with the ids of the worlds whose episodes just ended, before they restart:
        # a renderer takes their last frame here (``marl.eval``). None: nothing is called.
        self.on_episode_end: Callable[[np.ndarray], None] | None = None
        self.world = scenario.make_world(num_envs)
        state_size = scenario.state_size()
        self.state_space = spaces.Box(-np.inf, np.inf, (state_size,), np.float32)
        # One random stream per world (scenarios.seeding): world i's episodes depend only on
        # the seed and i, not on the batch size or on what the other worlds do.
        self._generators = world_generators(seed, num_envs)
        # Index of world 0 in a larger batch that this is a share of (``marl.workers``).
        self.first_world = 0
        self.alive = self._per_agent(bool, True)
        # Episode lengths without a per-step array update: the batch's step count minus the step
        # at which each world's episode started (``Episode.steps``).
        self._episode_start = np.zeros(num_envs, np.int64)
        self.episode = Episode(
            self.cfg.max_steps, self.alive, self._per_agent(np.int64), 0, self._episode_start
        )
        self._respawns = Respawns.of(self.groups, num_envs, self.episode)
        self._parked = {
            group: body for group, body in scenario.parked_bodies.items() if group in self.groups
        }
        self._frame: Frame | None = None
        agents = {g: s.n_agents for g, s in self.groups.items()}
        self._sums = EpisodeSums(self.scenario_id, num_envs, agents, scenario.metric_reduce)
        self._final_obs = {
            g: np.zeros((num_envs, s.n_agents, *s.observation_space.shape), np.float32)
            for g, s in self.groups.items()
        }
        self._final_state = np.zeros((num_envs, state_size), np.float32)
        self._truncated = self._per_agent(bool)
        self._ended = np.zeros(num_envs, bool)
        self._never_terminated = self._per_agent(bool)
        self._action_checks = [
            (g, s.action_space, (num_envs, s.n_agents, *s.action_space.shape))
            + (isinstance(s.action_space, spaces.Discrete),)
            for g, s in self.groups.items()
        ]
        self._all_worlds = np.arange(num_envs)
        self._obs: dict[str, np.ndarray] | None = None
        self._restart_obs: dict[str, np.ndarray] | None = None
        self._some_dead = False
        self._steps_to_time_limit = 0
        self._truncation_flagged = False

    def _per_agent(self, dtype, fill=0) -> dict[str, np.ndarray]:
        """A ``(B, N)`` array per group, filled with ``fill``."""
        return {
            g: np.full((self.num_envs, s.n_agents), fill, dtype) for g, s in self.groups.items()
        }

    # -------------------------------------------------------------------------------- reset
    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Reset every world; with ``seed``, world ``i`` restarts its random stream from
        ``(seed, i)``. Whatever the env did before, the same seed and actions give the same
        trajectory, bit for bit (physics memory included: see ``worlds.world``)."""
        if seed is not None:
            self._generators = world_generators(seed, self.num_envs, self.first_world)
        self._reset_worlds(self._all_worlds)
        self._frame = self.scenario.sense(self.world, self.episode)
        self._obs = self._observe(self._frame)
        return self._obs

    def reset_replicas(self, seed: int, world: int) -> dict[str, np.ndarray]:
        """Reset every world as world ``world`` of a batch seeded with ``seed``: copies that
        stay alike under identical actions (counterfactual branches: change one action in one
        copy and compare, ``marl.eval.coordination``). Alike, not bit-equal: worlds that share
        a physics space sit at different offsets in it (``worlds.shards``), so positions
        differ in the last bits."""
        self._generators = replica_generators(seed, world, self.num_envs)
        return self.reset()

    @property
    def _step_count(self) -> int:
        return self.episode._step_count

    def _reset_worlds(self, env_ids: np.ndarray) -> None:
        generators = self._generators
        every = len(env_ids) == self.num_envs  # the whole batch (ids in order): slices
        rng = WorldRandom(generators if every else [generators[i] for i in env_ids])
        self.scenario.reset(self.world, rng, env_ids)
        rows = slice(None) if every else env_ids
        if self._respawns is not None:
            self._respawns.reset(rows)
        self._sums.reset(rows)
        # Alive again, not ended, started now: one compiled call (endings.restart).
        ids = self._all_worlds if every else np.asarray(env_ids, np.int64)
        groups = tuple(zip(self.alive.values(), self.episode.ended_at.values(), strict=True))
        some_dead, first = restart(ids, groups, self._episode_start, self._step_count)
        self._some_dead = bool(some_dead)
        self._steps_to_time_limit = self.cfg.max_steps - (self._step_count - int(first))

    def _observe(self, frame: Frame) -> dict[str, np.ndarray]:
        """The scenario's observations with the rows of dead agents zeroed."""
        obs = self.scenario.observe(frame)
        if self._some_dead:
            # (B, N, -1): a view of the env's own buffers, whatever each agent's shape
            zero_dead(tuple((obs[g].reshape(*a.shape, -1), a) for g, a in self.alive.items()))
        return obs

    def _observe_restarted(self, obs: dict[str, np.ndarray], env_ids: np.ndarray):
        """This step's observations with the rows of the worlds ``env_ids`` (just reset) replaced
        by their new episodes' first. The other worlds keep exactly what the step observed:
        observing them again could differ (a scenario may move bodies after ``observe``, e.g.
        parking a captured evader), and whether a world ends must not change its neighbours'
        observations. The step's rows are kept in a buffer of the env's own."""
        in_place = self.scenario.observes_restarted_only
        kept = self._restart_obs
        if kept is None and not in_place:
            kept = self._restart_obs = {g: np.empty_like(o) for g, o in obs.items()}
        if not in_place:
            for group, values in obs.items():
                np.copyto(kept[group], values)
        self.episode.restarted = env_ids  # a scenario may sense these worlds alone
        try:
            self._frame = self.scenario.sense(self.world, self.episode)
            # In place, the other worlds' rows stay as this step observed (and masked) them;
            # the restarted worlds' agents are all alive: nothing to mask.
            fresh = self.scenario.observe(self._frame) if in_place else self._observe(self._frame)
        finally:
            self.episode.restarted = None
        if in_place:  # only the restarted rows were rewritten, in this step's arrays
            if any(fresh[group] is not values for group, values in obs.items()):
                raise RuntimeError(
                    f"{self.scenario_id}: observes_restarted_only, but observe returned new "
                    "arrays when the restarted worlds were observed again"
                )
            return fresh
        for group, values in kept.items():
            values[env_ids] = fresh[group][env_ids]
        return kept

    # --------------------------------------------------------------------------------- step
    def step(self, actions: dict[str, np.ndarray]):
        if self._obs is None:
            raise RuntimeError(f"{self.scenario_id}: call reset() before step()")
        self._check_actions(actions)
        scenario, world = self.scenario, self.world
        respawns = self._respawns
        if respawns is not None:
            self._spawn(respawns)
        scenario.apply_actions(world, actions)
        world.step()
        self.episode._step_count += 1
        self._frame = frame = scenario.sense(world, self.episode)
        obs = self._observe(frame)
        rew, terms = scenario.reward(frame)
        if respawns is not None and respawns.any_born:
            respawns.zero_rewards(rew)
        terminated = scenario.terminated(frame)
        if self._some_dead:
            for group, alive in self.alive.items():
                rew[group] *= alive
        # Steps until the oldest episode hits the time limit: while it is positive and nobody
        # can terminate, no world can end and the end-of-step checks are skipped.
        self._steps_to_time_limit -= 1
        if terminated is None and self._steps_to_time_limit > 0:
            terminated = self._never_terminated
            if self._truncation_flagged:
                for truncated in self._truncated.values():
                    truncated[...] = False
                self._truncation_flagged = False
            ended = None
        else:
            if terminated is not None and respawns is None:
                ended = self._settle(terminated)
            else:
                ended = self._settle_in_numpy(terminated, respawns)
                terminated = self._never_terminated if terminated is None else terminated
            self._truncation_flagged = True
        metrics = scenario.metrics(frame)
        self._sums.add(rew, terms, metrics)  # returns, terms and metrics: one compiled call
        info: dict[str, Any] = {
            "episodes": [],
            "final_obs": self._final_obs,
            "final_state": self._final_state,
        }
        if ended is not None:
            ended_ids = np.flatnonzero(ended)
            info = self._end_episodes(ended_ids, obs, frame, metrics)
            if self.autoreset:
                obs = self._observe_restarted(obs, ended_ids)
        self._obs = obs
        return obs, rew, terminated, self._truncated, info

    def _spawn(self, respawns: Respawns) -> None:
        """New agents in the vacant slots of respawning groups (``scenarios.respawn``)."""
        alive, ended_at = self.alive, self.episode.ended_at
        if respawns.spawn(self.scenario, self.world, alive, ended_at, self._some_dead):
            self._some_dead = not all(a.all() for a in alive.values())

    def _check_actions(self, actions: dict[str, np.ndarray]) -> None:
        if not isinstance(actions, dict) or actions.keys() != self.groups.keys():
            got = sorted(actions) if isinstance(actions, dict) else type(actions).__name__
            raise ValueError(
                f"{self.scenario_id}: actions must be a dict with exactly the groups "
                f"{sorted(self.groups)}, got {got}"
            )
        for group, space, expected, discrete in self._action_checks:
            act = actions[group]
            if not isinstance(act, np.ndarray) or act.shape != expected:
                shape = getattr(act, "shape", type(act).__name__)
                raise ValueError(
                    f"{self.scenario_id}: actions[{group!r}] must be an array of shape "
                    f"{expected}, got {shape}"
                )
            if discrete:
                if act.dtype.kind not in "iu":
                    raise ValueError(
                        f"{self.scenario_id}: actions[{group!r}] must be integers for "
                        f"Discrete({space.n}), got dtype {act.dtype}"
                    )
                # Viewed as unsigned, negative actions become huge: one reduction checks both ends.
                unsigned = act.view(_UNSIGNED[act.itemsize])
                if largest(unsigned.reshape(len(unsigned), -1)) >= space.n:
                    bad = (act < 0) | (act >= space.n)
                    raise ValueError(
                        f"{self.scenario_id}: actions[{group!r}] out of range [0, {space.n}): "
                        f"{_first_agent(group, bad)} has {act[bad][0]}"
                    )
            else:
                if act.dtype.kind != "f":
                    raise ValueError(
                        f"{self.scenario_id}: actions[{group!r}] must be floating point, "
                        f"got dtype {act.dtype}"
                    )
                # One reduction: NaN and inf propagate into the sum (checked exactly if it is not
                # finite, since huge finite actions can overflow it).
                if not math.isfinite(np.add.reduce(act, axis=None)) and not np.isfinite(act).all():
                    bad = ~np.isfinite(act).reshape(*expected[:2], -1).all(axis=-1)
                    raise ValueError(
                        f"{self.scenario_id}: actions[{group!r}] contains NaN or infinity "
                        f"({_first_agent(group, bad)})"
                    )

    def _settle(self, terminated: dict[str, np.ndarray]) -> np.ndarray | None:
        """Terminations, ended worlds and truncations in one compiled call (``endings.settle``);
        the bodies of agents that left are parked. The ended worlds, or None."""
        groups = tuple(
            (terminated[g], alive, self.episode.ended_at[g], self._truncated[g])
            for g, alive in self.alive.items()
        )
        ended = self._ended
        done, self._some_dead, count = settle(
            groups, self._episode_start, self._step_count, self.cfg.max_steps, ended
        )
        if done:
            # The agents of a world that ended and restarts now are placed by its reset: parking
            # them first would be undone (a renderer of the last frame still sees them parked).
            skip = count and self.autoreset and self.on_episode_end is None
            for group in self.alive:  # in the groups' order, as _apply_terminations parks
                body, leaving = self._parked.get(group), terminated[group]
                if body and skip:
                    leaving = leaving & ~ended[:, None]
                env_ids, agent_ids = np.nonzero(leaving) if body else ((), ())
                if len(env_ids):
                    self.world.park_bodies(body, env_ids, agent_ids)
        return ended if count else None

    def _settle_in_numpy(self, terminated, respawns) -> np.ndarray | None:
        """As ``_settle`` where no agent terminates or a group respawns."""
        time_up = self._step_count - self._episode_start >= self.cfg.max_steps
        if terminated is None:
            ended = time_up
        else:
            self._apply_terminations(terminated)
            if respawns is None:
                still_acting = [a.any(axis=1) for a in self.alive.values()]
            else:
                still_acting = [respawns.can_act(g, a) for g, a in self.alive.items()]
            ended = time_up | ~np.logical_or.reduce(still_acting)
        for group, truncated in self._truncated.items():
            np.logical_and(time_up[:, None], self.alive[group], out=truncated)
        return ended if ended.any() else None

    def _apply_terminations(self, terminated: dict[str, np.ndarray]) -> None:
        """Agents that terminated this step leave the episode: they are no longer alive, the
        step is written in ``Episode.ended_at``, and their bodies are parked out of the way."""
        for group, alive in self.alive.items():
            done = terminated[group]
            done &= alive
            if not done.any():
                continue
            alive &= ~done
            env_ids, agent_ids = np.nonzero(done)
            self.episode.ended_at[group][env_ids, agent_ids] = (
                self._step_count - self._episode_start[env_ids]
            )
            body = self._parked.get(group)
            if body is not None:
                self.world.park_bodies(body, env_ids, agent_ids)
        self._some_dead = not all(a.all() for a in self.alive.values())

    def _end_episodes(
        self,
        env_ids: np.ndarray,
        obs: dict[str, np.ndarray],
        frame: Frame,
        metrics: dict[str, np.ndarray],
    ) -> dict[str, Any]:
        for group, final in self._final_obs.items():
            final[env_ids] = obs[group][env_ids]
        state = self.scenario.state(frame)
        if state is not None:
            self._final_state[env_ids] = state[env_ids]
        end_figures = self.scenario.episode_end(frame, env_ids)
        episodes = self._episode_records(env_ids, metrics, end_figures)
        if self.on_episode_end is not None:
            self.on_episode_end(env_ids)
        if self.autoreset:
            self._reset_worlds(env_ids)
        return {
            "episodes": episodes,
            "final_obs": self._final_obs,
            "final_state": self._final_state,
        }

    def _episode_records(
        self, env_ids: np.ndarray, step_metrics: dict[str, np.ndarray], end_figures: dict
    ) -> list[dict[str, Any]]:
        """One plain record per ended world; every figure reduced for all of them at once:
        the accumulated metrics, the "last" metrics from this step's ``step_metrics``, and the
        scenario's ``episode_end`` figures (one value per ended world)."""
        count = len(env_ids)
        lengths = self._step_count - self._episode_start[env_ids]
        worlds, reduce = self.num_envs, self.scenario.metric_reduce
        names = [n for n in step_metrics if reduce.get(n, "mean") == "last"]
        columns = [(np.reshape(step_metrics[n], (worlds, -1)), SUM) for n in names]
        for name, values in self._sums.metrics.items():
            names.append(name)
            columns.append((values.reshape(worlds, -1), _HOW[reduce.get(name, "mean")]))
        sums = [*self._sums.returns.values(), *self._sums.terms.values()]
        columns += [(values.reshape(worlds, -1), SUM) for values in sums]
        table = np.empty((len(columns), count))
        if columns:  # every figure of every ended world in one compiled call
            figures(tuple(columns), env_ids, lengths, table)
        table = table.tolist()
        metrics = dict(zip(names, table, strict=False))
        for name, values in end_figures.items():
            metrics[name] = np.asarray(values, np.float64).reshape(count).tolist()
        returns = dict(zip(self._sums.returns, table[len(names) :], strict=False))
        terms = dict(zip(self._sums.terms, table[len(names) + len(returns) :], strict=True))

        def rows(figures: dict[str, list[float]]) -> list[dict[str, float]]:
            """Per world, the dict of its figures (built in C: no comprehension per world)."""
            names, columns = list(figures), zip(*figures.values(), strict=True)
            built = [dict(zip(names, row, strict=True)) for row in columns]
            return built or [{} for _ in range(count)]

        return [
            {"env_id": env_id, "length": length, "return": r, "reward_terms": t, "metrics": m}
            for env_id, length, r, t, m in zip(
                env_ids.tolist(),
                lengths.tolist(),
                rows(returns),
                rows(terms),
                rows(metrics),
                strict=True,
            )
        ]

    # ----------------------------------------------------------------------------- queries
    def state(self) -> np.ndarray:
        """Global state ``(B, state_size)`` for a centralized critic."""
        state = self.scenario.state(self._current_frame())
        if state is None:
            raise NotImplementedError(f"{self.scenario_id} offers no global state")
        return state

    def action_mask(self) -> dict[str, np.ndarray] | None:
        """Legal actions ``{group: bool (B, N, n_actions)}``, or None without masks."""
        return self.scenario.action_mask(self._current_frame())

    def measure(self) -> Frame:
        """A fresh frame of the worlds as they are now (``Scenario.sense``), for tests and tools
        that place bodies by hand and call the scenario's hooks; the step makes its own."""
        return self.scenario.sense(self.world, self.episode)

    def _current_frame(self) -> Frame:
        if self._frame is None:
            raise RuntimeError(f"{self.scenario_id}: call reset() before state() or action_mask()")
        return self._frame

    def render(self, env_index: int = 0, size: int = 480) -> np.ndarray:
        """World ``env_index`` as an RGB array ``(H, W, 3)``."""
        from worlds.render import draw_world

        canvas = draw_world(self.world, env_index, size=size)
        self.scenario.render_extra(self._current_frame(), canvas, env_index)
        return canvas.array()

    def close(self) -> None:
        self.world = None
