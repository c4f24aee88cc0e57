"""The drone-swarm family: point-mass drones in walled arenas (spread, coverage, formation,
pursuit). Each module registers one scenario."""
