"""Torch networks, action distributions, the Policy and its checkpoint format."""

from policies.checkpoint import CheckpointError, check_compatible, load_policy, write_policy
from policies.networks import GroupActorCritic, NetConfig
from policies.policy import Policy, PolicyMismatchError, group_spec, space_to_dict

__all__ = [
    "CheckpointError",
    "GroupActorCritic",
    "NetConfig",
    "Policy",
    "PolicyMismatchError",
    "check_compatible",
    "group_spec",
    "load_policy",
    "space_to_dict",
    "write_policy",
]
