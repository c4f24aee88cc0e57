"""Learners: shared-parameter PPO/MAPPO, rollouts, training runs and their checkpoints."""
