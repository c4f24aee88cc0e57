"""Bounds on what a policy spec may ask for, checked before anything is allocated.

A spec comes from a file (``spec.json`` in a checkpoint) and is therefore untrusted: a spec asking
for 10^12 hidden units or agents must fail in one line, not inside torch. :func:`check_spec`
checks types, sizes and finiteness of every field :class:`policies.policy.Policy` reads, and the
parameter count the network would have. The training config declares its ranges with the same
limits, so a run can always be loaded.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

MAX_GROUPS = 64
MAX_AGENTS = 4096  # agents of one group
MAX_DIM = 1 << 20  # observation and critic input sizes
MAX_ACTIONS = 1 << 16  # choices of a Discrete action space
MAX_ACTION_DIM = 4096  # size of a Box action
MAX_LAYERS = 8
MAX_WIDTH = 8192  # hidden layer, GRU state and encoder sizes
MAX_PARAMETERS = 1 << 28  # 1 GiB of float32 weights
MAX_NAME = 200  # characters of a group name
MAX_SETS = 16  # entity sets of one group's observation

ACTIVATIONS = ("tanh", "relu", "elu", "silu")
ENCODERS = ("none", "deepsets", "attention")
CONTINUOUS = ("squash", "clip")


NETWORK_FIELDS = frozenset(
    {
        "hidden_sizes",
        "activation",
        "agent_id",
        "encoder",
        "encoder_dim",
        "continuous",
        "log_std_init",
        "recurrent",
    }
)
# Fields of specs written before the encoder read the observation layout (ignored when the
# encoder is off, refused otherwise).
LEGACY_NETWORK_FIELDS = frozenset({"knn_start", "knn_count", "knn_features"})
SET_FIELDS = ("name", "start", "count", "features", "valid_start")


class SpecError(ValueError):
    """A spec field is missing, of the wrong type or out of bounds; the message names it."""


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _int(where: str, value: Any, low: int, high: int) -> int:
    if not _is_int(value) or not low <= value <= high:
        raise SpecError(f"{where} must be an integer in [{low}, {high}], got {_short(value)}")
    return int(value)


def _choice(where: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SpecError(f"{where} must be one of {', '.join(choices)}, got {_short(value)}")
    return value


def _bounds(where: str, value: Any, size: int) -> None:
    if value is None:
        return
    if not isinstance(value, list) or len(value) != size:
        raise SpecError(f"{where} must be null or a list of {size} numbers")
    if not all(_is_number(v) and math.isfinite(v) for v in value):
        raise SpecError(f"{where} must hold finite numbers only")


def check_space(where: str, space: Any, max_size: int, discrete: bool) -> int:
    """Check a space description; returns its size (Box length or number of choices)."""
    if not isinstance(space, dict):
        raise SpecError(f"{where} must be an object, got {_short(space)}")
    kind = space.get("type")
    if kind == "Discrete" and discrete:
        return _int(f"{where}.n", space.get("n"), 1, MAX_ACTIONS)
    if kind != "Box":
        allowed = "Box or Discrete" if discrete else "Box"
        raise SpecError(f"{where}.type must be {allowed}, got {_short(kind)}")
    shape = space.get("shape")
    if not isinstance(shape, list) or len(shape) != 1:
        raise SpecError(f"{where}.shape must be a list of one size, got {_short(shape)}")
    size = _int(f"{where}.shape[0]", shape[0], 1, max_size)
    _bounds(f"{where}.low", space.get("low"), size)
    _bounds(f"{where}.high", space.get("high"), size)
    if space.get("low") is not None and space.get("high") is not None:
        if any(lo > hi for lo, hi in zip(space["low"], space["high"], strict=True)):
            raise SpecError(f"{where}: low must not exceed high")
    return size


def check_network(net: Any) -> dict[str, Any]:
    """Check the ``network`` entry (NetConfig fields); returns it with types normalised."""
    if not isinstance(net, dict):
        raise SpecError(f"network must be an object, got {_short(net)}")
    unknown = sorted(set(net) - NETWORK_FIELDS - LEGACY_NETWORK_FIELDS)
    if unknown:
        raise SpecError(f"network has unknown field {unknown[0]!r}")
    legacy = sorted(set(net) & LEGACY_NETWORK_FIELDS)
    if legacy and net.get("encoder", "none") != "none":
        raise SpecError(
            f"network.{legacy[0]}: a hand-placed neighbour block (an earlier version's spec) is "
            "no longer read; the encoder needs the groups' entity sets"
        )
    out = {k: v for k, v in net.items() if k not in LEGACY_NETWORK_FIELDS}
    sizes = net.get("hidden_sizes", [64, 64])
    if not isinstance(sizes, (list, tuple)) or not 1 <= len(sizes) <= MAX_LAYERS:
        raise SpecError(f"network.hidden_sizes must be a list of 1 to {MAX_LAYERS} sizes")
    out["hidden_sizes"] = [
        _int(f"network.hidden_sizes[{i}]", s, 1, MAX_WIDTH) for i, s in enumerate(sizes)
    ]
    _choice("network.activation", net.get("activation", "tanh"), ACTIVATIONS)
    _choice("network.encoder", net.get("encoder", "none"), ENCODERS)
    _choice("network.continuous", net.get("continuous", "squash"), CONTINUOUS)
    if not isinstance(net.get("agent_id", True), bool):
        raise SpecError(f"network.agent_id must be true or false, got {net['agent_id']!r}")
    _int("network.encoder_dim", net.get("encoder_dim", 32), 1, MAX_WIDTH)
    _int("network.recurrent", net.get("recurrent", 0), 0, MAX_WIDTH)
    log_std = net.get("log_std_init", -0.5)
    if not _is_number(log_std) or not -20.0 <= log_std <= 20.0:
        raise SpecError(f"network.log_std_init must be a number in [-20, 20], got {log_std!r}")
    return out


def _mlp(sizes: list[int]) -> int:
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def parameter_count(group: dict[str, Any], net: dict[str, Any]) -> int:
    """Parameters of one group's actor-critic (as built by ``policies.networks``)."""
    obs = group["observation_space"]["shape"][0]
    act = group["action_space"]
    out = act["n"] if act["type"] == "Discrete" else act["shape"][0] * 2
    ids = group["n_agents"] if net.get("agent_id", True) else 0
    hidden = list(net["hidden_sizes"])
    actor_in, total = obs + ids, 0
    if net.get("encoder", "none") != "none":
        dim, sets = net.get("encoder_dim", 32), group.get("sets") or []
        for entity_set in sets:
            total += _mlp([entity_set["features"], dim, dim]) + 4 * dim * dim + 4 * dim
        actor_in = obs - len(set_columns(sets)) + dim * len(sets) + ids
    recurrent = net.get("recurrent", 0)
    if recurrent > 0:
        total += _mlp([actor_in, hidden[0]]) + 3 * recurrent * (hidden[0] + recurrent + 2)
        total += _mlp([recurrent, *hidden[1:], out])
    else:
        total += _mlp([actor_in, *hidden, out])
    return total + _mlp([group["critic_dim"] + ids, *hidden, 1])


def set_columns(sets: list[dict[str, Any]]) -> set[int]:
    """The observation indices that entity sets take (features and validity flags)."""
    columns: set[int] = set()
    for entity_set in sets:
        start, count = entity_set["start"], entity_set["count"]
        columns.update(range(start, start + count * entity_set["features"]))
        if entity_set.get("valid_start") is not None:
            columns.update(range(entity_set["valid_start"], entity_set["valid_start"] + count))
    return columns


def check_sets(where: str, sets: Any, obs_size: int) -> None:
    """Check a group's entity sets (plain JSON from ``ObsLayout.sets()``): known fields, sizes,
    every block inside an observation of ``obs_size``, no two blocks sharing an index."""
    if sets is None:
        return
    if not isinstance(sets, list) or len(sets) > MAX_SETS:
        raise SpecError(f"{where} must be a list of at most {MAX_SETS} entity sets")
    taken = 0
    for index, entity_set in enumerate(sets):
        at = f"{where}[{index}]"
        if not isinstance(entity_set, dict) or set(entity_set) != set(SET_FIELDS):
            raise SpecError(f"{at} must be an object with fields {', '.join(SET_FIELDS)}")
        name = entity_set["name"]
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
            raise SpecError(f"{at}.name must be 1 to {MAX_NAME} characters")
        start = _int(f"{at}.start", entity_set["start"], 0, obs_size - 1)
        count = _int(f"{at}.count", entity_set["count"], 1, MAX_AGENTS)
        features = _int(f"{at}.features", entity_set["features"], 1, MAX_DIM)
        if start + count * features > obs_size:
            raise SpecError(
                f"{at}: {count} x {features} features from {start} pass the "
                f"observation's end ({obs_size})"
            )
        if entity_set["valid_start"] is not None:
            _int(f"{at}.valid_start", entity_set["valid_start"], 0, obs_size - count)
        taken += count * features + (count if entity_set["valid_start"] is not None else 0)
    if len(set_columns(sets)) != taken:
        raise SpecError(f"{where}: two entity sets share observation entries")


def check_spec(spec: Any) -> None:
    """Raise :class:`SpecError` naming the first field of ``spec`` that a Policy cannot be built
    from safely (types, sizes, finiteness, total parameter count)."""
    if not isinstance(spec, dict):
        raise SpecError("the spec must be a JSON object")
    net = check_network(spec.get("network"))
    groups = spec.get("groups")
    if not isinstance(groups, dict) or not 1 <= len(groups) <= MAX_GROUPS:
        raise SpecError(f"groups must be an object of 1 to {MAX_GROUPS} groups")
    total = 0
    for name, group in groups.items():
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
            raise SpecError(f"group name {_short(name)} must be 1 to {MAX_NAME} characters")
        where = f"groups.{name}"
        if not isinstance(group, dict):
            raise SpecError(f"{where} must be an object")
        _int(f"{where}.n_agents", group.get("n_agents"), 1, MAX_AGENTS)
        obs = check_space(
            f"{where}.observation_space", group.get("observation_space"), MAX_DIM, False
        )
        check_sets(f"{where}.sets", group.get("sets"), obs)
        if net.get("encoder", "none") != "none" and not group.get("sets"):
            raise SpecError(f"{where}.sets: the {net['encoder']} encoder needs an entity set")
        check_space(f"{where}.action_space", group.get("action_space"), MAX_ACTION_DIM, True)
        _int(f"{where}.critic_dim", group.get("critic_dim"), 1, MAX_DIM)
        total += parameter_count(group, net)
        if total > MAX_PARAMETERS:
            raise SpecError(
                f"the network would have more than {MAX_PARAMETERS:,} parameters (from {where} on)"
            )
    for key in ("scenario", "algo", "git_revision"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise SpecError(f"{key} must be a string, got {_short(spec[key])}")
    if spec.get("scenario_config") is not None and not isinstance(spec["scenario_config"], dict):
        raise SpecError("scenario_config must be an object")


__all__ = [
    "MAX_AGENTS",
    "MAX_DIM",
    "MAX_LAYERS",
    "MAX_PARAMETERS",
    "MAX_SETS",
    "MAX_WIDTH",
    "SpecError",
    "check_network",
    "check_sets",
    "check_spec",
    "parameter_count",
]
