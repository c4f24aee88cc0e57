"""Evaluation episodes: every world plays the same number of episodes, each one reproducible.

A pass (:func:`play_episodes`) resets a vector env with one seed and steps it until every world
has finished ``per_world`` episodes, keeping exactly the first ``per_world`` of each world. Taking
the first N episodes to finish instead would over-sample short episodes (a pursuer that catches
quickly ends more episodes in the same steps), biasing every mean toward them.

A pass is deterministic: the same policy (seeded the same way), seed and batch size give the
same episodes. So a replay of any episode is a second pass of its seed that renders that world
while it plays that episode (:func:`render_episodes`), the last frame taken just before the
world restarts (``VectorEnv.on_episode_end``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from policies import Policy


def play_episodes(
    policy: Policy,
    venv,
    per_world: int,
    seed: int,
    deterministic: bool = True,
    watch: Callable[[np.ndarray, np.ndarray, bool], None] | None = None,
) -> list[dict]:
    """The first ``per_world`` episodes of every world of ``venv`` after a reset with ``seed``,
    ordered by world then episode; each record (the env's, see ``scenarios.VectorEnv``) gains
    ``world``, ``index`` (its episode number in that world), ``seed`` and ``agent_returns``
    (group -> each agent's summed reward). ``watch(worlds,
    episode_index, ended)``, when given, is called after the reset and every step with the
    worlds still playing their counted episodes, and again for the worlds whose episode ends,
    before they restart (``ended`` True)."""
    if per_world < 1:
        raise ValueError(f"per_world: must be at least 1, got {per_world}")
    torch.manual_seed(seed)
    counts = np.zeros(venv.num_envs, np.int64)
    kept: list[dict] = []
    sums: dict[str, np.ndarray] = {}
    hook = getattr(venv, "on_episode_end", None) if watch is not None else None
    if watch is not None and hasattr(venv, "on_episode_end"):

        def ended(env_ids: np.ndarray) -> None:
            live = env_ids[counts[env_ids] < per_world]
            if len(live):
                watch(live, counts[live], True)

        venv.on_episode_end = ended
    try:
        obs = venv.reset(seed=seed)
        policy.reset()
        _watch_playing(watch, counts, per_world)
        while (counts < per_world).any():
            actions = policy.act(obs, venv.action_mask(), deterministic=deterministic)
            obs, rew, _, _, info = venv.step(actions)
            sums = sums or {g: np.zeros(np.shape(r), np.float64) for g, r in rew.items()}
            for group, values in rew.items():
                sums[group] += values
            episodes = info.get("episodes", ())
            for episode in episodes:
                world = int(episode["env_id"])
                if counts[world] < per_world:
                    agents = {g: v[world].tolist() for g, v in sums.items()}
                    index = int(counts[world])
                    tags = {"world": world, "index": index, "seed": seed, "agent_returns": agents}
                    kept.append({**episode, **tags})
                counts[world] += 1
                for values in sums.values():
                    values[world] = 0.0
            if episodes:
                policy.reset(np.array([e["env_id"] for e in episodes], np.int64))
            _watch_playing(watch, counts, per_world)
    finally:
        if watch is not None and hasattr(venv, "on_episode_end"):
            venv.on_episode_end = hook
    kept.sort(key=lambda e: (e["world"], e["index"]))
    return kept


def _watch_playing(watch, counts: np.ndarray, per_world: int) -> None:
    if watch is not None:
        playing = np.flatnonzero(counts < per_world)
        if len(playing):
            watch(playing, counts[playing], False)


def render_episodes(
    policy: Policy,
    venv,
    per_world: int,
    seed: int,
    targets: list[tuple[int, int]],
    size: int = 320,
    deterministic: bool = True,
) -> tuple[dict[tuple[int, int], list[np.ndarray]], list[dict]]:
    """Replay the pass of ``seed`` and render episodes ``targets`` (``(world, index)`` pairs):
    their frames, from the first after the reset to the last before the restart, and the
    pass's episodes (equal to the first pass's: check them to be sure the replay is exact)."""
    frames: dict[tuple[int, int], list[np.ndarray]] = {t: [] for t in targets}
    wanted = {world: [] for world, _ in targets}
    for world, index in targets:
        wanted[world].append(index)
    worlds = np.array(sorted(wanted), np.int64)

    def watch(playing: np.ndarray, index: np.ndarray, ended: bool) -> None:
        for world, k in zip(playing.tolist(), index.tolist(), strict=True):
            if k in wanted.get(world, ()):
                frames[(world, k)].append(venv.render(world, size=size))

    if len(worlds) and max(worlds) >= venv.num_envs:
        raise ValueError(f"targets: world {int(max(worlds))} is not in a batch of {venv.num_envs}")
    episodes = play_episodes(policy, venv, per_world, seed, deterministic, watch)
    return frames, episodes
