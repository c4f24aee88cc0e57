"""A small pursuit league for the tests: 3 learners, 3 slots of 4 worlds, 40 steps a round."""

SMALL = {
    "scenario": "swarm/pursuit-v0",
    "env": {"max_steps": 40},
    "seed": 3,
    "rounds": 3,
    "slot_envs": 4,
    "tensorboard": False,
    "progress": False,
    "train": {
        "num_envs": 12,
        "num_steps": 40,
        "epochs": 2,
        "minibatches": 2,
        "hidden_sizes": [32, 32],
    },
}
