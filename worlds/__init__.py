"""worlds: a batch of 2D physics worlds on pymunk, with array state, sensors and rendering.

This package knows nothing of agents' goals, rewards or learning; it imports numpy, numba (the
compiled sensors of ``worlds.kernels``) and pymunk (and Pillow/imageio for pictures) only.
"""

from worlds.dynamics import (
    DifferentialDrive,
    Dynamics,
    HolonomicPointMass,
    KinematicBicycle,
    Passive,
    PoseTracking,
)
from worlds.friction import GroundFriction
from worlds.geometry import StaticGeometry
from worlds.world import BodyGroup, PhysicsError, WorldBatch
from worlds.zones import BoxZones, CircleZones

__all__ = [
    "BodyGroup",
    "BoxZones",
    "CircleZones",
    "DifferentialDrive",
    "GroundFriction",
    "Dynamics",
    "HolonomicPointMass",
    "KinematicBicycle",
    "Passive",
    "PhysicsError",
    "PoseTracking",
    "StaticGeometry",
    "WorldBatch",
]
