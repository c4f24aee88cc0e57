"""Rollout workers: a run's worlds split into equal shares, each stepped by its own worker.

``marl train --num-workers W`` gives worker ``w`` worlds ``w * B/W .. (w + 1) * B/W - 1`` of the
run's ``num_envs = B``: its own vector env of ``B/W`` worlds (seeded resets draw what those worlds
draw in the whole batch: ``VectorEnv.first_world``), its own CPU copy of the policy, and its own
sampling stream, seeded from the segment's seed, the steps since the reset and ``w``. A worker's
rollout is therefore a function of the weights it is sent and of nothing else in the process
that runs it: in the learner's process (:class:`InProcessShards`) or as a Ray actor
(:class:`marl.ray_backend.RayShards`), the run is the same, byte for byte. The learner
concatenates the shares along the world axis in worker order.

The learner keeps what it needs to rebuild any worker (the action log since the last seeded
reset, the recurrent memory): a lost Ray worker is replaced by a new one that replays its share
of the log, exactly as ``marl train --resume`` does, and the run goes on unchanged.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from marl.collector import LocalCollector, observation_digest
from marl.config import TrainConfig, config_from_dict
from marl.envs import make_env
from marl.fixed import fixed_policy_factory
from marl.rollout import Rollout, merge_rollouts
from policies import NetworkPolicy


def worker_seed(*parts: int) -> int:
    """A 31-bit seed from integers (a segment's seed, steps since its reset, a worker)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0] & 0x7FFFFFFF)


@contextlib.contextmanager
def torch_threads(count: int):
    """Run the block with ``count`` torch CPU threads, then restore the previous count (a
    policy's forward pass gives the same bits in every process that runs it this way)."""
    before = torch.get_num_threads()
    if before != count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class ShardWorker:
    """Worker ``index`` of ``count``: a :class:`LocalCollector` over its share of the worlds.

    A plain object: the learner's process runs it directly, or Ray runs it as an actor. Every
    method returns plain data (tensors, arrays, dicts) that Ray can ship.
    """

    def __init__(self, config: dict, spec: dict, run_dir: str, index: int, count: int) -> None:
        cfg: TrainConfig = config_from_dict(config)
        self.index = index
        share = cfg.num_envs // count
        self.first = index * share
        venv = make_env(cfg.env_id, share, cfg.seed, **cfg.env)
        venv.first_world = self.first
        make = fixed_policy_factory(cfg, venv, Path(run_dir), True)
        make_fixed = None
        if make is not None:

            def make_fixed(seed: int | None):
                return make(None if seed is None else worker_seed(seed, index))

        with torch.random.fork_rng(devices=[]):  # its initial weights are overwritten anyway:
            policy = NetworkPolicy(spec)  # the learner's random stream must not move
        self.collector = LocalCollector(venv, policy, cfg.algo, make_fixed=make_fixed)
        self.seed = 0
        self.steps = 0

    def reset(self, seed: int) -> dict[str, Any]:
        self.seed, self.steps = seed, 0
        self.collector.reset(seed)
        return self.view()

    def collect(self, weights: dict[str, torch.Tensor], num_steps: int) -> dict[str, Any]:
        """``num_steps`` vector steps with ``weights``: the rollout (episode ids are the run's
        world ids), the actions given, and the view after the last step."""
        with torch.random.fork_rng(devices=[]), torch_threads(1):
            torch.manual_seed(worker_seed(self.seed, self.steps, self.index))
            rollout = self.collector.collect(weights, num_steps)
        self.steps += num_steps
        for episode in rollout.episodes:
            episode["env_id"] = int(episode["env_id"]) + self.first
        log = self.collector.action_log[-num_steps:]
        actions = {g: np.stack([entry[g] for entry in log]) for g in log[0]} if log else {}
        return {"rollout": rollout, "actions": actions, **self.view()}

    def replay(self, seed: int, actions: dict[str, np.ndarray], memory: dict) -> dict[str, Any]:
        """Rebuild the state after ``actions`` (``{group: (steps, worlds, ...)}``) from a reset
        with ``seed`` (see ``LocalCollector.replay``)."""
        same = self.collector.replay(seed, actions, memory)
        self.seed = seed
        self.steps = next(iter(actions.values())).shape[0] if actions else 0
        return {"same": same, **self.view()}

    def view(self) -> dict[str, Any]:
        """What the learner mirrors: observations, alive flags and recurrent memory."""
        c = self.collector
        return {
            "obs": {g: o.copy() for g, o in c.obs.items()},
            "alive": {g: np.asarray(a, bool).copy() for g, a in c.venv.alive.items()},
            "memory": c.memory_copy(),
        }

    def ping(self) -> int:
        return self.index

    def close(self) -> None:
        self.collector.close()


class InProcessShards:
    """The workers in the learner's process, called one after another: ``count`` of ``worker``
    (:class:`ShardWorker` by default), built from ``args`` and then (index, count)."""

    def __init__(self, args: tuple, count: int, worker: type | None = None) -> None:
        worker = ShardWorker if worker is None else worker
        self.workers = [worker(*args, w, count) for w in range(count)]

    def call(self, method: str, args: list[tuple]) -> list[Any]:
        """``method(*args[w])`` on every worker ``w``; the results in worker order."""
        return [getattr(worker, method)(*a) for worker, a in zip(self.workers, args, strict=True)]

    def submit(self, method: str, args: list[tuple]) -> tuple[str, list[tuple]]:
        return method, args  # run when gathered: one process does one thing at a time

    def gather(self, handle: tuple[str, list[tuple]]) -> list[Any]:
        return self.call(*handle)

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


def _concat(parts: list[np.ndarray | torch.Tensor | None], dim: int = 0):
    if parts[0] is None:
        return None
    if isinstance(parts[0], torch.Tensor):
        return torch.cat(parts, dim=dim)
    return np.concatenate(parts, axis=dim)


class WorkerCollector:
    """The :class:`marl.collector.RolloutCollector` over ``count`` workers (``shards``: in process
    or on Ray): the learner's view of the run is the workers' shares joined along the world
    axis (observations, alive flags, recurrent memory, the action log since the last reset)."""

    policy = None  # the learner sends its weights with every collect

    def __init__(self, shards, cfg: TrainConfig, agents: dict[str, int]) -> None:
        self.shards = shards
        self.count = cfg.num_workers
        share = cfg.num_envs // self.count
        self.bounds = [(w * share, (w + 1) * share) for w in range(self.count)]
        self.agents = agents  # agents per world of each group (memory rows)
        self.obs: dict[str, np.ndarray] | None = None
        self.alive: dict[str, np.ndarray] = {}
        self.memory: dict[str, dict[str, torch.Tensor | None]] = {}
        self.action_log: list[dict[str, np.ndarray]] = []
        self.seed: int | None = None
        self.pending: tuple[Any, int] | None = None  # a submitted rollout not yet gathered

    def _join(self, views: list[dict[str, Any]]) -> None:
        self.obs = {g: _concat([v["obs"][g] for v in views]) for g in views[0]["obs"]}
        self.alive = {g: _concat([v["alive"][g] for v in views]) for g in views[0]["alive"]}
        self.memory = {
            g: {k: _concat([v["memory"][g][k] for v in views]) for k in memory}
            for g, memory in views[0]["memory"].items()
        }

    def reset(self, seed: int | None) -> None:
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0] & 0x7FFFFFFF)
        self.seed = seed
        self.action_log = []
        self._join(self.shards.call("reset", [(seed,)] * self.count))

    def collect(self, weights: dict[str, torch.Tensor] | None, num_steps: int) -> Rollout:
        self.submit(weights, num_steps)
        return self.gather()

    def submit(self, weights: dict[str, torch.Tensor] | None, num_steps: int) -> None:
        """Start a rollout with ``weights`` (copied now: the learner may change its own);
        :meth:`gather` returns it. Ray workers step while the learner goes on."""
        if weights is None:
            raise ValueError("WorkerCollector.collect: the workers need the learner's weights")
        if self.pending is not None:
            raise RuntimeError("WorkerCollector.submit: a rollout is already in flight")
        if self.obs is None:
            self.reset(None)
        weights = {k: v.detach().cpu().clone() for k, v in weights.items()}
        handle = self.shards.submit("collect", [(weights, num_steps)] * self.count)
        self.pending = (handle, num_steps)

    def gather(self) -> Rollout:
        """The rollout started by :meth:`submit`, the workers' shares joined."""
        handle, num_steps = self.pending
        self.pending = None
        outs = self.shards.gather(handle)
        self._join(outs)
        parts = [out["rollout"] for out in outs]
        groups = {g: merge_rollouts([p.groups[g] for p in parts]) for g in parts[0].groups}
        for t in range(num_steps):
            self.action_log.append(
                {g: _concat([out["actions"][g][t] for out in outs]) for g in outs[0]["actions"]}
            )
        episodes = [episode for p in parts for episode in p.episodes]
        return Rollout(groups, episodes, sum(p.agent_steps for p in parts))

    def shard_state(self, w: int) -> tuple[dict[str, np.ndarray], dict]:
        """Worker ``w``'s share of the action log and of the recurrent memory."""
        lo, hi = self.bounds[w]
        log = self.action_log
        actions = {g: np.stack([e[g][lo:hi] for e in log]) for g in log[0]} if log else {}
        memory = {
            g: {
                "hidden": _rows(m["hidden"], lo * self.agents[g], hi * self.agents[g]),
                "starts": m["starts"][lo:hi].clone(),
            }
            for g, m in self.memory.items()
        }
        return actions, memory

    def replay(self, seed: int, actions: dict[str, np.ndarray], memory: dict) -> bool:
        self.seed = seed
        self.action_log = []
        steps = next(iter(actions.values())).shape[0] if actions else 0
        for t in range(steps):
            self.action_log.append({g: a[t].copy() for g, a in actions.items()})
        self.memory = {g: dict(m) for g, m in memory.items()}
        args = [(seed, *self.shard_state(w)) for w in range(self.count)]
        outs = self.shards.call("replay", args)
        self._join(outs)
        return all(out["same"] for out in outs)

    def memory_copy(self) -> dict[str, dict[str, torch.Tensor | None]]:
        return {
            g: {k: None if v is None else v.clone() for k, v in m.items()}
            for g, m in self.memory.items()
        }

    def digest(self) -> str:
        return observation_digest(self.obs, self.alive)

    def close(self) -> None:
        self.shards.close()


def _rows(hidden: torch.Tensor | None, lo: int, hi: int) -> torch.Tensor | None:
    return None if hidden is None else hidden[lo:hi].clone()


def make_worker_collector(cfg: TrainConfig, spec: dict, run_dir: Path, venv) -> WorkerCollector:
    """The workers of ``cfg.num_workers`` (on Ray with ``cfg.ray``) behind one collector."""
    from marl.config import config_to_dict

    config = config_to_dict(cfg)
    agents = {g: venv.groups[g].n_agents for g in spec["groups"]}
    if cfg.ray:
        from marl.ray_backend import RayShards

        shards = RayShards((config, spec, str(run_dir)), cfg.num_workers, cfg.ray_address)
    else:
        shards = InProcessShards((config, spec, str(run_dir)), cfg.num_workers)
    collector = WorkerCollector(shards, cfg, agents)
    if cfg.ray:
        shards.recover = collector.shard_state  # what a replacement worker replays
        shards.seed = lambda: collector.seed
    return collector


__all__ = [
    "InProcessShards",
    "ShardWorker",
    "WorkerCollector",
    "make_worker_collector",
    "torch_threads",
    "worker_seed",
]
