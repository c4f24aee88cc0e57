"""Ray under the same loop: rollout workers as actors, a local instance bound to 127.0.0.1.

``start_ray(address)`` joins the cluster at ``address``, or starts a local Ray instance on
demand: dashboard off, and every server of it (GCS, raylet, object manager, workers, runtime-env
agent) bound to the loopback interface. Ray binds its servers to the node's IP (every interface
for some of them) unless the node is the loopback one, and it only takes loopback as the node
address when it runs as a single machine (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``; the name
notwithstanding, it is the switch on Linux too), so that is what the local instance sets.

:class:`RayShards` runs workers (``marl.workers.ShardWorker``, ``marl.league.workers.MatchWorker``)
as actors, one CPU each. A worker that dies (its process killed, its node lost) is replaced: the
new actor replays the worker's share of the action log since the last seeded reset (``recover``;
a league's match worker needs none: every round starts from a seeded reset), then takes the call
again, so the run goes on with the same results.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

LOCAL_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
MAX_REPLACEMENTS = 8  # per call: a worker that keeps dying is an error, not bad luck


def start_ray(address: str = "", num_cpus: int | None = None):
    """Connect to Ray: the cluster at ``address``, or a local instance on 127.0.0.1 (started
    once per process, dashboard off). Returns the ``ray`` module."""
    if not address:
        os.environ[LOCAL_ONLY] = "0"  # before ray is imported: its constants read it then
    import ray

    if ray.is_initialized():
        return ray
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        return ray
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False  # in case ray was imported before the line above
    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        dashboard_host="127.0.0.1",
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {LOCAL_ONLY: "0"}},
    )
    return ray


def _actor_class(ray, worker: type):
    class Actor(worker):
        def __init__(self, *args) -> None:
            import torch

            torch.set_num_threads(1)
            super().__init__(*args)

        def pid(self) -> int:
            return os.getpid()

    Actor.__name__ = Actor.__qualname__ = worker.__name__
    return ray.remote(num_cpus=1, max_restarts=0)(Actor)


class RayShards:
    """``count`` worker actors (:class:`marl.workers.ShardWorker` by default); ``call`` runs a
    method on all of them at once and gathers the results in worker order, replacing workers
    that died."""

    def __init__(self, args: tuple, count: int, address: str = "", worker: type | None = None):
        if worker is None:
            from marl.workers import ShardWorker as worker
        self.ray = start_ray(address)
        self.args = args  # the worker's constructor arguments before (index, count)
        self.count = count
        self.actor = _actor_class(self.ray, worker)
        self.workers = [self._spawn(w) for w in range(count)]
        self.replaced = 0
        # recover(w) -> (actions, memory): worker w's share of the state since the last reset,
        # set by marl.workers.make_worker_collector; seed() -> that reset's seed.
        self.recover: Callable[[int], tuple[dict, dict]] | None = None
        self.seed: Callable[[], int | None] = lambda: None
        self.call("ping", [()] * count)  # every worker built (a lost one is replaced)

    def _spawn(self, w: int):
        return self.actor.remote(*self.args, w, self.count)

    def pids(self) -> list[int]:
        return self.ray.get([worker.pid.remote() for worker in self.workers])

    def call(self, method: str, args: list[tuple]) -> list[Any]:
        return self.gather(self.submit(method, args))

    def submit(self, method: str, args: list[tuple]) -> tuple:
        """Start ``method(*args[w])`` on every worker ``w``; :meth:`gather` waits for them."""
        if method == "collect":  # one copy of the weights in the object store for all
            weights = self.ray.put(args[0][0])
            args = [(weights, *a[1:]) for a in args]
        refs = [getattr(w, method).remote(*a) for w, a in zip(self.workers, args, strict=True)]
        return method, args, refs

    def gather(self, handle: tuple) -> list[Any]:
        """The results of a :meth:`submit`, in worker order; a worker that died is replaced
        (rebuilt from the learner's state) and given its call again."""
        method, args, refs = handle
        out = []
        for w, ref in enumerate(refs):
            for attempt in range(MAX_REPLACEMENTS + 1):
                try:
                    out.append(self.ray.get(ref))
                    break
                except self.ray.exceptions.RayActorError as error:
                    if attempt == MAX_REPLACEMENTS:
                        raise RuntimeError(
                            f"rollout worker {w} died {attempt + 1} times in one call: {error}"
                        ) from None
                    ref = self._replace(w, method, args[w])
        return out

    def _replace(self, w: int, method: str, args: tuple):
        """A new actor for worker ``w`` in the state the learner holds, then the call again."""
        print(f"rollout worker {w} was lost; starting a replacement", file=sys.stderr)
        self.replaced += 1
        worker = self.workers[w] = self._spawn(w)
        seed = self.seed()
        if method != "reset" and seed is not None and self.recover is not None:
            actions, memory = self.recover(w)
            self.ray.get(worker.replay.remote(seed, actions, memory))
        return getattr(worker, method).remote(*args)

    def close(self) -> None:
        for worker in self.workers:
            try:
                self.ray.kill(worker)
            except Exception:  # noqa: BLE001 (already gone)
                pass


__all__ = ["RayShards", "start_ray"]
