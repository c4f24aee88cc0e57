"""marl.adam.Adam: the same steps and state_dict as torch.optim.Adam(fused=True)."""

import subprocess
import sys

import pytest
import torch

from marl.adam import Adam


def net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 2))


def train_steps(module, optimizer, steps: int, seed: int = 1, lr_schedule=None) -> None:
    gen = torch.Generator().manual_seed(seed)
    for i in range(steps):
        if lr_schedule is not None:
            optimizer.param_groups[0]["lr"] = lr_schedule(i)
        x = torch.randn(16, 5, generator=gen)
        optimizer.zero_grad(set_to_none=True)
        module(x).pow(2).mean().backward()
        optimizer.step()


def test_steps_equal_torch_fused_adam_bit_for_bit():
    a, b = net(0), net(0)
    ours = Adam(a.parameters(), lr=3e-3, eps=1e-5)
    ref = torch.optim.Adam(b.parameters(), lr=3e-3, eps=1e-5, fused=True)
    schedule = lambda i: 3e-3 * (1 - i / 20)  # noqa: E731
    train_steps(a, ours, 12, lr_schedule=schedule)
    train_steps(b, ref, 12, lr_schedule=schedule)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    ours_state, ref_state = ours.state_dict()["state"], ref.state_dict()["state"]
    assert ours_state.keys() == ref_state.keys()
    for i, moments in ref_state.items():
        assert set(ours_state[i]) == set(moments)
        for key, value in moments.items():
            assert ours_state[i][key].dtype == value.dtype
            assert torch.equal(ours_state[i][key], value), key


@pytest.mark.parametrize("source", ["ours", "torch"])
def test_state_dict_round_trip_continues_the_same_steps(source):
    a, b = net(0), net(0)
    first = Adam(a.parameters(), lr=1e-2) if source == "ours" else None
    first = first or torch.optim.Adam(a.parameters(), lr=1e-2, fused=True)
    train_steps(a, first, 5)
    b.load_state_dict(a.state_dict())
    second = Adam(b.parameters(), lr=1e-2)
    current = second.state_dict()
    saved = first.state_dict()["state"]
    current["state"] = {i: {k: v.clone() for k, v in m.items()} for i, m in saved.items()}
    second.load_state_dict(current)
    train_steps(a, first, 4, seed=2)
    train_steps(b, second, 4, seed=2)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_parameter_without_gradient_is_not_stepped():
    module = net(0)
    frozen = list(module.parameters())[0]
    before = frozen.detach().clone()
    opt = Adam(module.parameters(), lr=1e-2)
    frozen.requires_grad_(False)
    train_steps(module, opt, 3)
    assert torch.equal(frozen, before)
    assert 0 not in opt.state_dict()["state"] and 1 in opt.state_dict()["state"]
    assert float(opt.state_dict()["state"][1]["step"]) == 3.0


def test_making_the_learners_optimizer_does_not_import_dynamo():
    code = (
        "import sys, torch\n"
        "from marl.runs.session import make_optimizer\n"
        "module = torch.nn.Linear(3, 2)\n"
        "opt = make_optimizer(module, 1e-3)\n"
        "module(torch.ones(1, 3)).sum().backward()\n"
        "opt.step()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_builds_without_the_fused_kernel_fall_back_to_torch_optim(monkeypatch):
    """A torch without the fused Adam kernel for the device (older builds: CUDA only) gets
    torch.optim.Adam; with the kernel, the learner's own Adam."""
    import torch

    from marl.adam import Adam, fused_adam_works
    from marl.runs.session import make_optimizer

    module = torch.nn.Linear(3, 2)
    fused_adam_works.cache_clear()
    assert isinstance(make_optimizer(module, 1e-3), Adam)

    def missing(*args, **kwargs):
        raise NotImplementedError("no fused adam for this device")

    monkeypatch.setattr(torch, "_fused_adam_", missing)
    fused_adam_works.cache_clear()
    try:
        assert not fused_adam_works(torch.device("cpu"))
        assert isinstance(make_optimizer(module, 1e-3), torch.optim.Adam)
    finally:
        fused_adam_works.cache_clear()
