"""marl-worlds: physics-backed multi-agent worlds, shared-parameter PPO/MAPPO and self-play."""

from setuptools import find_packages, setup

setup(
    name="marl-worlds",
    version="0.1.0",
    description="Physics-backed multi-agent simulation (pymunk) with PettingZoo and vector APIs, "
    "shared-parameter PPO/MAPPO, self-play leagues and coordination evaluation.",
    python_requires=">=3.10",
    packages=find_packages(include=["marl*", "worlds*", "scenarios*", "policies*"]),
    package_data={"marl": ["templates/*.txt"]},
    install_requires=[
        "numpy>=1.24",
        # Compiled sensor kernels (worlds/kernels).
        "numba>=0.60",
        "pymunk>=7",
        "pettingzoo>=1.24",
        "gymnasium>=0.29",
        "torch>=2.2",
        "tensorboard>=2.12",
        "safetensors>=0.4",
        "imageio>=2.31",
        "imageio-ffmpeg>=0.4",
        "pillow>=9",
        "pyyaml>=6",
        "tqdm>=4.60",
        # The self-play league: ratings (OpenSkill), Elo fit and Nash averaging (scipy),
        # payoff heatmap and rating curves (matplotlib).
        "openskill>=6",
        "scipy>=1.10",
        "matplotlib>=3.7",
        # marl eval: interval estimates (IQM, stratified bootstrap). rliable needs arch < 8,
        # and arch 7 fails to import with pandas 3.
        "rliable>=1.2",
        "pandas>=1.5,<3",
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "hypothesis>=6",
            "ruff>=0.4",
            "mpe2>=1.0",
            # multiwalker (its state() raises after an episode ends: tests/marl/test_envs.py).
            "pettingzoo[sisl]>=1.24",
            # Outside clients of the PettingZoo env (tests/scenarios/test_outside_clients.py).
            "supersuit>=3.9",
            "torchrl>=0.6",
            "ray[rllib]>=2.9",
            # RWARE itself: our layouts equal its own (tests/scenarios/test_warehouse_maps.py),
            # and tools/bench/warehouse.py runs beside it.
            "rware>=2.0",
        ],
        "ray": ["ray[default]>=2.9"],
    },
    entry_points={"console_scripts": ["marl=marl.cli:main"]},
)
