"""Torch networks, action distributions, the Policy protocol and the checkpoint format."""

from policies.checkpoint import CheckpointError, check_compatible, load_policy, write_policy
from policies.networks import GroupActorCritic, NetConfig
from policies.policy import NetworkPolicy, PolicyMismatchError, group_spec, space_to_dict
from policies.protocol import JointPolicy, Policy
from policies.random_policy import RandomPolicy

__all__ = [
    "CheckpointError",
    "GroupActorCritic",
    "JointPolicy",
    "NetConfig",
    "NetworkPolicy",
    "Policy",
    "PolicyMismatchError",
    "RandomPolicy",
    "check_compatible",
    "group_spec",
    "load_policy",
    "space_to_dict",
    "write_policy",
]
