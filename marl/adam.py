"""Adam without ``torch.optim``: the update of ``torch.optim.Adam(fused=True)``, bit for bit.

Constructing any ``torch.optim`` optimizer imports ``torch._dynamo`` (about 1 s of start-up on
these machines, more than the updates of a short run), and its ``step`` adds Python overhead to
every minibatch. This class calls the same fused kernel (``torch._fused_adam_``) directly and
keeps the same ``state_dict`` layout (``state``: parameter index -> ``step``, ``exp_avg``,
``exp_avg_sq``; ``param_groups``: one group), so the checkpoints of either read in the other.
No weight decay, AMSGrad or maximize: the learner uses none of them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import torch


class Adam:
    """Adam over ``params`` (one parameter group) with torch's fused kernel."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        self.param_groups: list[dict[str, Any]] = [
            {"params": self.params, "lr": lr, "betas": tuple(betas), "eps": eps}
        ]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def _moments(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = {
                "step": torch.zeros((), dtype=torch.float32, device=p.device),
                "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
            }
        return state

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step of the parameters that have a gradient (grouped by device and dtype,
        as torch's fused Adam does)."""
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        batches: dict[tuple, list[list[torch.Tensor]]] = {}
        for p in self.params:
            if p.grad is None:
                continue
            state = self._moments(p)
            tensors = (p, p.grad, state["exp_avg"], state["exp_avg_sq"], state["step"])
            lists = batches.setdefault((p.device, p.dtype), [[], [], [], [], []])
            for items, tensor in zip(lists, tensors, strict=True):
                items.append(tensor)
        for params, grads, exp_avgs, exp_avg_sqs, steps in batches.values():
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                amsgrad=False,
                lr=float(group["lr"]),
                beta1=beta1,
                beta2=beta2,
                weight_decay=0.0,
                eps=group["eps"],
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: moments}, "param_groups": [...]}``, as torch.optim writes it (the
        moments are this optimizer's own tensors, not copies)."""
        index = {id(p): i for i, p in enumerate(self.params)}
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        group["params"] = list(range(len(self.params)))
        state = {index[id(p)]: dict(moments) for p, moments in self.state.items()}
        return {"state": dict(sorted(state.items())), "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take the moments (copied to each parameter's device and dtype; ``step`` stays a
        float32 scalar) and the group's hyperparameters of ``state_dict``."""
        groups = state_dict.get("param_groups") or []
        if len(groups) > 1:
            raise ValueError(f"expected one parameter group, got {len(groups)}")
        if groups and len(groups[0].get("params", self.params)) != len(self.params):
            raise ValueError("loaded state dict has a different number of parameters")
        self.state = {}
        for i, moments in state_dict["state"].items():
            p = self.params[int(i)]
            self.state[p] = {
                "step": torch.as_tensor(moments["step"], dtype=torch.float32).to(p.device).clone(),
                "exp_avg": moments["exp_avg"].to(p.device, p.dtype, copy=True),
                "exp_avg_sq": moments["exp_avg_sq"].to(p.device, p.dtype, copy=True),
            }
        if groups:
            for key in ("lr", "betas", "eps"):
                if key in groups[0]:
                    self.param_groups[0][key] = groups[0][key]


@functools.lru_cache(maxsize=8)
def fused_adam_works(device: torch.device) -> bool:
    """Whether this torch build has the fused Adam kernel for ``device`` (older builds have it
    for CUDA only, or not at all): one step of a one-element parameter, tried once."""
    if not hasattr(torch, "_fused_adam_"):
        return False
    try:
        p = torch.zeros(1, device=device, requires_grad=True)
        p.grad = torch.ones(1, device=device)
        Adam([p], lr=0.1).step()
    except (RuntimeError, NotImplementedError):
        return False
    return bool(torch.isfinite(p.detach()).all())
