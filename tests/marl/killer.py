"""Run the ``marl`` command in this process and kill or signal it at an exact point.

Used by the resume tests: ``python killer.py POINT ARGS...`` runs ``marl ARGS...`` (the same
``marl.cli.main`` as the console script) after wrapping one function of the real code so that, on
its N-th call in this process, the process does one of:

- ``update:N``   SIGKILL itself as the N-th PPO update starts (its rollout is collected: mid-update)
- ``commit:N``   SIGKILL itself in the N-th checkpoint write, files written, folder not yet renamed
- ``latest:N``   SIGKILL itself in the N-th checkpoint write, folder renamed, LATEST not yet updated
- ``sigint:N`` / ``sigterm:N``  send itself SIGINT / SIGTERM as the N-th PPO update starts
- ``sigint2:N``  send itself SIGINT twice as the N-th PPO update starts (Ctrl-C pressed twice)

PPO updates are counted per group (one call per group and update).
"""

import os
import signal
import sys


def arm(point: str) -> None:
    import marl.runs.checkpoints
    import marl.train

    kind, count = point.split(":")
    count = int(count)
    calls = [0]
    actions = {
        "update": [signal.SIGKILL],
        "commit": [signal.SIGKILL],
        "latest": [signal.SIGKILL],
        "sigint": [signal.SIGINT],
        "sigterm": [signal.SIGTERM],
        "sigint2": [signal.SIGINT, signal.SIGINT],
    }[kind]

    def wrap(original):
        def wrapper(*args, **kwargs):
            calls[0] += 1
            if calls[0] == count:
                for sig in actions:
                    os.kill(os.getpid(), sig)
            return original(*args, **kwargs)

        return wrapper

    if kind == "commit":
        marl.runs.checkpoints.commit_folder = wrap(marl.runs.checkpoints.commit_folder)
    elif kind == "latest":
        marl.runs.checkpoints.write_latest = wrap(marl.runs.checkpoints.write_latest)
    else:
        marl.train.ppo_update = wrap(marl.train.ppo_update)


if __name__ == "__main__":
    arm(sys.argv[1])
    from marl.cli import main

    sys.exit(main(sys.argv[2:]))
