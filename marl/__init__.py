"""marl: learners (shared-parameter PPO / MAPPO), rollouts, and the ``marl`` command line."""
