"""A run folder is untrusted data: every hostile case fails with one CheckpointError line, in
``policies.load_policy``, ``marl play --policy`` and ``marl train --resume``, before anything is
allocated or imported, and never with a torch or numpy traceback."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import torch
from cli_runs import MPE, STEPS_PER_UPDATE, small_config
from safetensors.torch import load_file, save_file

from marl.cli import main as marl
from marl.train import train
from policies import CheckpointError, load_policy

CHECKPOINT = "checkpoints/update_000002"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("trained") / "run"
    train(small_config(run, total_steps=STEPS_PER_UPDATE * 2, tensorboard=False))
    return run


@pytest.fixture
def run(trained, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def edit_spec(run: Path, change) -> None:
    path = run / CHECKPOINT / "spec.json"
    spec = json.loads(path.read_text())
    change(spec)
    path.write_text(json.dumps(spec))


def edit_weights(run: Path, change) -> None:
    path = run / CHECKPOINT / "policy.safetensors"
    tensors = load_file(path)
    change(tensors)
    save_file(tensors, path)


def sparse(path: Path, size: int) -> None:
    path.unlink(missing_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size)


def latest_dotdot(run, outside):
    (run / "checkpoints/LATEST").write_text("../../outside\n")
    return "LATEST: names '../../outside', which is not a checkpoint name"


def latest_absolute(run, outside):
    (run / "checkpoints/LATEST").write_text(f"{outside}\n")
    return "which is not a checkpoint name"


def latest_huge(run, outside):
    sparse(run / "checkpoints/LATEST", 10 << 30)
    return "LATEST: too large (10.0 GiB"


def spec_huge(run, outside):
    sparse(run / CHECKPOINT / "spec.json", 10 << 30)
    return "spec.json: too large (10.0 GiB"


def spec_fifo(run, outside):
    (run / CHECKPOINT / "spec.json").unlink()
    os.mkfifo(run / CHECKPOINT / "spec.json")
    return "spec.json: not a regular file"


def spec_deeply_nested(run, outside):
    (run / CHECKPOINT / "spec.json").write_text("[" * 200_000)
    return "spec.json: corrupt JSON (nested too deeply)"


def checkpoint_links_out(run, outside):
    shutil.move(run / CHECKPOINT, outside / "update_000002")
    (run / CHECKPOINT).symlink_to(outside / "update_000002")
    return "points outside the run folder"


def checkpoints_folder_links_out(run, outside):
    shutil.move(run / "checkpoints", outside / "checkpoints")
    (run / "checkpoints").symlink_to(outside / "checkpoints")
    return "points outside the run folder"


def weights_link(run, outside):
    shutil.move(run / CHECKPOINT / "policy.safetensors", outside / "policy.safetensors")
    (run / CHECKPOINT / "policy.safetensors").symlink_to(outside / "policy.safetensors")
    return "policy.safetensors: is a symbolic link (refused)"


def agents_1e12(run, outside):
    edit_spec(run, lambda spec: spec["groups"]["agent"].update(n_agents=10**12))
    return "groups.agent.n_agents must be an integer in [1, 4096], got 1000000000000"


def hidden_1e12(run, outside):
    edit_spec(run, lambda spec: spec["network"].update(hidden_sizes=[10**12, 64]))
    return "network.hidden_sizes[0] must be an integer in [1, 8192]"


def observation_1e9(run, outside):
    space = {"type": "Box", "shape": [10**9], "low": None, "high": None}
    edit_spec(run, lambda spec: spec["groups"]["agent"].update(observation_space=space))
    return "groups.agent.observation_space.shape[0] must be an integer in [1, 1048576]"


def too_many_parameters(run, outside):
    edit_spec(run, lambda spec: spec["network"].update(hidden_sizes=[8192] * 8))
    return "the network would have more than 268,435,456 parameters"


def weights_nan(run, outside):
    nan = float("nan")
    edit_weights(run, lambda tensors: next(iter(tensors.values())).view(-1).__setitem__(0, nan))
    return "holds NaN or infinite values"


def weights_infinite(run, outside):
    edit_weights(run, lambda tensors: list(tensors.values())[-1].view(-1).__setitem__(0, 1e400))
    return "holds NaN or infinite values"


def weights_float64(run, outside):
    edit_weights(run, lambda tensors: tensors.update({k: v.double() for k, v in tensors.items()}))
    return "has dtype torch.float64, network expects torch.float32"


def weights_huge(run, outside):
    sparse(run / CHECKPOINT / "policy.safetensors", 10 << 30)
    return "policy.safetensors: too large (10.0 GiB"


HOSTILE = [
    latest_dotdot,
    latest_absolute,
    latest_huge,
    spec_huge,
    spec_fifo,
    spec_deeply_nested,
    checkpoint_links_out,
    checkpoints_folder_links_out,
    weights_link,
    agents_1e12,
    hidden_1e12,
    observation_1e9,
    too_many_parameters,
    weights_nan,
    weights_infinite,
    weights_float64,
    weights_huge,
]


def one_line_error(capsys, argv, prefix: str) -> str:
    code = marl(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith(prefix)
    return err


@pytest.mark.parametrize("case", HOSTILE, ids=lambda case: case.__name__)
@pytest.mark.parametrize("entry", ["load_policy", "marl play", "marl train --resume"])
def test_a_hostile_run_folder_fails_in_one_line(run, tmp_path, capsys, case, entry):
    outside = tmp_path / "outside"
    outside.mkdir()
    expected = case(run, outside)
    started = time.monotonic()
    if entry == "load_policy":
        with pytest.raises(CheckpointError) as caught:
            load_policy(run)
        message = str(caught.value)
        assert "\n" not in message
    elif entry == "marl play":
        out = tmp_path / "replay.gif"
        message = one_line_error(capsys, ["play", MPE, "--policy", str(run), "--out", str(out)], "")
        assert message.startswith("marl play: ") and not out.exists()
    else:
        message = one_line_error(capsys, ["train", MPE, "--resume", str(run)], "error: ")
        assert (run / "checkpoints").exists() or case is checkpoints_folder_links_out
    assert expected in message
    assert str(run) in message or case is latest_absolute
    assert time.monotonic() - started < 20  # nothing was read whole or allocated


def trainer_path(run: Path) -> Path:
    return run / CHECKPOINT / "trainer.safetensors"


def test_a_trainer_state_with_nan_moments_is_refused(run, capsys):
    tensors = load_file(trainer_path(run))
    from safetensors import safe_open

    with safe_open(trainer_path(run), "pt") as handle:
        metadata = handle.metadata()
    name = next(k for k in tensors if k.endswith("exp_avg"))
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    save_file(tensors, trainer_path(run), metadata=metadata)
    err = one_line_error(capsys, ["train", MPE, "--resume", str(run)], "error: ")
    assert f"{trainer_path(run)}: invalid trainer state (tensor {name} holds NaN" in err


def test_a_trainer_state_of_other_shapes_is_refused(run, capsys):
    tensors = load_file(trainer_path(run))
    from safetensors import safe_open

    with safe_open(trainer_path(run), "pt") as handle:
        metadata = handle.metadata()
    name = next(k for k in tensors if k.endswith("exp_avg_sq"))
    tensors[name] = torch.zeros(10**6)
    save_file(tensors, trainer_path(run), metadata=metadata)
    err = one_line_error(capsys, ["train", MPE, "--resume", str(run)], "error: ")
    assert f"invalid trainer state (tensor {name} has shape (1000000,)" in err


@pytest.fixture
def marker_module(tmp_path, monkeypatch):
    """A module that records being imported (it must never be)."""
    folder = tmp_path / "modules"
    folder.mkdir()
    marker = tmp_path / "imported"
    (folder / "evil_marker.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\ndef parallel_env(**kw):\n    raise 0\n"
    )
    monkeypatch.syspath_prepend(str(folder))
    yield marker
    sys.modules.pop("evil_marker", None)


def test_resuming_never_imports_a_module_the_user_did_not_name(run, capsys, marker_module):
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "env_id": "pz:evil_marker"}))
    err = one_line_error(capsys, ["train", "--resume", str(run)], "error: ")
    assert "scenario pz:evil_marker would import the Python module 'evil_marker'" in err
    assert "--allow-import" in err and "marl train pz:evil_marker --resume" in err
    assert not marker_module.exists() and "evil_marker" not in sys.modules
    # Naming another id than the run's is refused too, before any import.
    err = one_line_error(capsys, ["train", MPE, "--resume", str(run)], "error: ")
    assert f"{run} trains pz:evil_marker, not {MPE}" in err
    assert not marker_module.exists()


def test_loading_or_playing_a_policy_imports_nothing_its_spec_names(run, capsys, marker_module):
    edit_spec(run, lambda spec: spec.update(scenario="pz:evil_marker"))
    assert load_policy(run).scenario_id == "pz:evil_marker"
    out = run.parent / "replay.gif"
    assert marl(["play", MPE, "--policy", str(run), "--out", str(out), "-e", "max_cycles=3"]) == 0
    assert out.exists()
    assert not marker_module.exists() and "evil_marker" not in sys.modules
