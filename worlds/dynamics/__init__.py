"""Dynamics models: how a body group's command (an action in physical units) moves its bodies.

Each model is a small module. A model reads the batch's raw state views and writes velocity,
angular velocity and force for its group before every substep, all as ``(B, N)`` array operations.
"""

from worlds.dynamics.base import Dynamics
from worlds.dynamics.bicycle import KinematicBicycle
from worlds.dynamics.diff_drive import DifferentialDrive
from worlds.dynamics.passive import Passive
from worlds.dynamics.point_mass import HolonomicPointMass
from worlds.dynamics.pose import PoseTracking

__all__ = [
    "Dynamics",
    "HolonomicPointMass",
    "DifferentialDrive",
    "KinematicBicycle",
    "Passive",
    "PoseTracking",
]
