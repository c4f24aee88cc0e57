import json

import pytest
import torch
from cli_runs import MPE, small_config
from safetensors.torch import load_file

from marl.config import ConfigError, TrainConfig
from marl.train import main, train
from policies import CheckpointError, load_policy


def final_weights(run_dir):
    folder = run_dir / "checkpoints" / (run_dir / "checkpoints" / "LATEST").read_text().strip()
    return load_file(folder / "policy.safetensors")


class Killed(Exception):
    pass


def checkpoint_bytes(run_dir, name=None):
    root = run_dir / "checkpoints"
    folder = root / (name or (root / "LATEST").read_text().strip())
    return {f: (folder / f).read_bytes() for f in ("policy.safetensors", "trainer.safetensors")}


@pytest.mark.parametrize("algo,recurrent", [("mappo", 0), ("ippo", 0), ("mappo", 8)])
@pytest.mark.parametrize("start", ["crash", "boundary"])
def test_resume_after_a_crash_equals_an_unbroken_run(tmp_path, algo, recurrent, start):
    unbroken = train(small_config(tmp_path / "a", algo=algo, recurrent=recurrent))
    assert unbroken.updates == 7

    def crash(update):
        if update == 5:  # between the boundaries at updates 4 and 6
            raise Killed

    with pytest.raises(Killed):
        train(small_config(tmp_path / "b", algo=algo, recurrent=recurrent), on_update=crash)
    # The crash lost nothing: the finished update 5 was saved, with the actions to replay.
    latest = tmp_path / "b/checkpoints/LATEST"
    assert latest.read_text().strip() == "update_000005"
    if start == "boundary":  # resume from the boundary checkpoint before it instead
        latest.write_text("update_000004\n")
    resumed = train(resume=tmp_path / "b", runtime={"env_id": MPE})
    assert resumed.global_step == unbroken.global_step
    a, b = final_weights(tmp_path / "a"), final_weights(tmp_path / "b")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)
    assert checkpoint_bytes(tmp_path / "a") == checkpoint_bytes(tmp_path / "b")
    # The equality is not trivial: the last update (7) changed the weights of update 6.
    before = load_file(tmp_path / "b/checkpoints/update_000006/policy.safetensors")
    assert any(not torch.equal(before[k], b[k]) for k in b)


def test_run_folder_has_config_tensorboard_and_a_loadable_policy(tmp_path):
    result = train(small_config(tmp_path / "r", total_steps=4 * 8 * 3 * 2))
    config = json.loads((tmp_path / "r/config.json").read_text())
    assert config["env_id"] == MPE and config["env"] == {"max_cycles": 10}
    assert list((tmp_path / "r/tb").iterdir())
    policy = load_policy(tmp_path / "r")
    assert policy.spec["scenario"] == MPE and policy.spec["scenario_config"] == {"max_cycles": 10}
    obs = {"agent": torch.zeros(2, 3, 18).numpy()}
    assert policy.act(obs)["agent"].shape == (2, 3)
    assert result.global_step == 4 * 8 * 3 * 2


def test_continuous_actions_train(tmp_path):
    cfg = small_config(
        tmp_path / "c",
        env={"max_cycles": 10, "continuous_actions": True},
        total_steps=4 * 8 * 3 * 2,
    )
    train(cfg)
    act = load_policy(tmp_path / "c").act({"agent": torch.zeros(2, 3, 18).numpy()})["agent"]
    assert act.shape == (2, 3, 5) and (act >= 0).all() and (act <= 1).all()


def run_main(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


def test_unknown_cli_field_is_one_line(capsys):
    code, err = run_main(capsys, [MPE, "--learning-rat", "3"])
    assert code == 2 and "unknown config field '--learning-rat'" in err and "\n" not in err


def test_unknown_field_in_config_file(tmp_path, capsys):
    path = tmp_path / "cfg.yaml"
    path.write_text("lr: 0.001\nbogus_field: 3\n")
    code, err = run_main(capsys, [MPE, "--config", str(path)])
    assert code == 2 and "unknown config field 'bogus_field'" in err and "\n" not in err
    with pytest.raises(ConfigError, match="bad value"):
        from marl.config import config_from_dict

        config_from_dict({"num_envs": "many"})


def test_resume_of_missing_run_dir(tmp_path, capsys):
    code, err = run_main(capsys, ["--resume", str(tmp_path / "nope")])
    assert code == 2 and "does not exist" in err and "nope" in err and "\n" not in err


def test_resume_from_corrupt_or_truncated_checkpoint(tmp_path, capsys):
    train(small_config(tmp_path / "r", total_steps=4 * 8 * 3 * 2))
    folder = tmp_path / "r/checkpoints/update_000002"
    data = (folder / "trainer.safetensors").read_bytes()
    (folder / "trainer.safetensors").write_bytes(data[: len(data) // 3])
    code, err = run_main(capsys, [MPE, "--resume", str(tmp_path / "r")])
    assert code == 2 and "trainer.safetensors: corrupt or truncated" in err and "\n" not in err
    (folder / "policy.safetensors").write_bytes(b"not a tensor file")
    code, err = run_main(capsys, [MPE, "--resume", str(tmp_path / "r")])
    assert code == 2 and "policy.safetensors: corrupt" in err and "\n" not in err


def test_incompatible_checkpoint_is_refused(tmp_path, capsys):
    train(small_config(tmp_path / "r", total_steps=4 * 8 * 3 * 2))
    argv = [
        MPE,
        "-e",
        "continuous_actions=true",
        "--init-from",
        str(tmp_path / "r"),
        "--run-dir",
        str(tmp_path / "s"),
        "--progress",
        "false",
    ]
    code, err = run_main(capsys, argv)
    assert (
        code == 2
        and "incompatible action_space" in err
        and "Discrete(5)" in err
        and "\n" not in err
    )
    with pytest.raises(CheckpointError, match="incompatible"):
        train(
            small_config(
                tmp_path / "t", env={"max_cycles": 10, "N": 4}, init_from=str(tmp_path / "r")
            )
        )


def test_help_is_generated_from_the_config(capsys):
    import dataclasses

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for spec in dataclasses.fields(TrainConfig):
        if spec.name not in ("env_id", "env"):
            assert f"--{spec.name.replace('_', '-')}" in out
            assert spec.metadata["help"].split()[0] in out


def test_cli_overrides_and_scenario_overrides(tmp_path):
    from marl.arguments import parse_args

    cfg, resume, _, _ = parse_args(
        [MPE, "--lr", "3e-4", "--hidden-sizes", "32,32", "-e", "N=2", "--anneal-lr", "false"]
    )
    assert cfg.lr == 3e-4 and cfg.hidden_sizes == (32, 32) and cfg.env == {"N": 2}
    assert cfg.anneal_lr is False and resume is None


def test_resume_after_sigkill_equals_an_unbroken_run(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    args = [
        MPE,
        "-e",
        "max_cycles=10",
        "--num-envs",
        "4",
        "--num-steps",
        "8",
        "--epochs",
        "2",
        "--minibatches",
        "2",
        "--steps",
        str(4 * 8 * 3 * 40),
        "--checkpoint-every",
        "4",
        "--progress",
        "false",
    ]
    train(small_config(tmp_path / "a", total_steps=4 * 8 * 3 * 40, checkpoint_every=4))
    env = dict(os.environ, PYTHONPATH=str(root))
    proc = subprocess.Popen(
        [sys.executable, "-m", "marl.train", *args, "--run-dir", str(tmp_path / "b")],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latest = tmp_path / "b/checkpoints/LATEST"
    deadline = time.time() + 60
    while not latest.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = latest.read_text().strip()
    assert killed_at != "update_000040"
    code = main([MPE, "--resume", str(tmp_path / "b"), "--progress", "false"])
    assert code == 0
    a, b = final_weights(tmp_path / "a"), final_weights(tmp_path / "b")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)


def test_unknown_scenario_and_scenario_field_are_one_line(capsys):
    code, err = run_main(capsys, ["swarm/nope-v0"])
    assert code == 2 and "swarm/nope-v0" in err and "\n" not in err
    code, err = run_main(capsys, ["swarm/spread-v0", "-e", "n_agentz=4"])
    assert code == 2 and "n_agentz" in err and "\n" not in err


def test_a_run_from_init_weights_resumes_from_its_own_copy_of_them(tmp_path):
    import shutil

    steps = 4 * 8 * 3
    train(small_config(tmp_path / "source", total_steps=steps * 2))
    shutil.copytree(tmp_path / "source", tmp_path / "source2")
    train(small_config(tmp_path / "c", total_steps=steps * 4, init_from=str(tmp_path / "source2")))

    def crash(update):
        raise Killed

    cfg = small_config(tmp_path / "b", total_steps=steps * 4, init_from=str(tmp_path / "source"))
    with pytest.raises(Killed):
        train(cfg, on_update=crash)
    shutil.rmtree(tmp_path / "b/checkpoints")  # as if killed before its first checkpoint
    shutil.rmtree(tmp_path / "source")  # the run does not read its source again
    train(resume=tmp_path / "b", runtime={"env_id": MPE})
    for name in ("policy.safetensors", "trainer.safetensors"):
        a = (tmp_path / "c/checkpoints/update_000004" / name).read_bytes()
        assert (tmp_path / "b/checkpoints/update_000004" / name).read_bytes() == a


def test_a_checkpoint_of_the_previous_format_still_resumes(tmp_path):
    """trainer.pt (torch.save, read with weights_only=True) from before trainer.safetensors."""
    from marl.runs.checkpoints import Expected, load_trainer

    steps = 4 * 8 * 3
    train(small_config(tmp_path / "a", total_steps=steps * 6, anneal_lr=False))
    train(small_config(tmp_path / "b", total_steps=steps * 4, anneal_lr=False))
    folder = tmp_path / "b/checkpoints/update_000004"
    policy = load_policy(folder)
    expected = Expected(
        params={g: list(m.parameters()) for g, m in policy.groups.items()},
        groups={"agent": (4, 3)},
        actions={},
        recurrent=0,
        max_replay_steps=16,
        rng_size=torch.get_rng_state().numel(),
    )
    state = load_trainer(folder, expected)
    legacy = {
        "optimizers": {g: {"state": m, "param_groups": []} for g, m in state.optimizers.items()},
        "value_norms": state.value_norms,
        "filter": state.filter,
        "update": state.update,
        "global_step": state.global_step,
        "recent": [[r, ep] for r, ep in state.recent],
        "curve": [list(c) for c in state.curve],
        "episodes": state.episodes,
        "torch_rng": state.torch_rng,
    }
    torch.save(legacy, folder / "trainer.pt")
    (folder / "trainer.safetensors").unlink()
    train(resume=tmp_path / "b", runtime={"env_id": MPE, "total_steps": steps * 6})
    a, b = final_weights(tmp_path / "a"), final_weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_exception_in_the_middle_of_an_update_saves_the_last_finished_one(tmp_path, monkeypatch):
    import marl.train

    train(small_config(tmp_path / "a", checkpoint_every=3))
    real, calls = marl.train.ppo_update, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:  # the fifth update: its rollout is collected, nothing updated yet
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(marl.train, "ppo_update", failing)
    with pytest.raises(RuntimeError, match="simulated"):
        train(small_config(tmp_path / "b", checkpoint_every=3))
    monkeypatch.setattr(marl.train, "ppo_update", real)
    # Update 4 (not a checkpoint boundary) was saved with the actions that rebuild its worlds.
    assert (tmp_path / "b/checkpoints/LATEST").read_text().strip() == "update_000004"
    train(resume=tmp_path / "b", runtime={"env_id": MPE})
    a, b = final_weights(tmp_path / "a"), final_weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
