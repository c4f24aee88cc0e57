"""Acting without autograd: a feed-forward tanh MLP (``networks.mlp``) evaluated in numpy.

At rollout sizes (a few hundred rows, 64 units) torch spends most of an actor's or critic's
forward pass in its per-operation overhead, several microseconds a call on CPU; numpy's calls
cost about one. ``NumpyMLP`` reads the torch parameters' own memory (views, checked against
the parameters' addresses on every call), so an optimizer step or a weight load shows through
at once. It serves acting only (``NetworkPolicy.sample``, ``GroupActorCritic.value`` with
gradients off); the update keeps torch. The two agree to float32 rounding, not bit for bit
(BLAS sums in its own order); a run is exactly reproducible either way, since acting always
takes this path where it applies.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from policies.distributions import MASKED_LOGIT


class NumpyMLP:
    """``layers`` (Linear, activation, ..., Linear with tanh activations) in numpy. Inputs are
    ``features`` columns; a first layer wider than that takes a one-hot agent id as its last
    columns (``agent`` indices instead of the one-hot)."""

    def __init__(self, layers: nn.Sequential, features: int) -> None:
        self.linear = [layer for layer in layers if isinstance(layer, nn.Linear)]
        self.features = features
        self._pointers: tuple = ()
        self._weights: list[np.ndarray] = []
        self._biases: list[np.ndarray] = []

    @staticmethod
    def supports(layers: nn.Sequential) -> bool:
        """Whether ``layers`` is a CPU float32 tanh MLP this class evaluates."""
        from policies.networks import Tanh

        for index, layer in enumerate(layers):
            if index % 2 == 0 and not isinstance(layer, nn.Linear):
                return False
            if index % 2 == 1 and not isinstance(layer, Tanh):
                return False
        return all(p.device.type == "cpu" and p.dtype == torch.float32 for p in layers.parameters())

    def _bind(self) -> None:
        """Views of the parameters (again only when some parameter moved in memory)."""
        pointers = tuple(p.data_ptr() for layer in self.linear for p in (layer.weight, layer.bias))
        if pointers != self._pointers:
            self._weights = [layer.weight.detach().numpy() for layer in self.linear]
            self._biases = [layer.bias.detach().numpy() for layer in self.linear]
            self._pointers = pointers

    def __call__(self, x: np.ndarray, agent: np.ndarray | None) -> np.ndarray:
        """Outputs ``(M, out)`` float32 for inputs ``x`` ``(M, features)`` and, when the first
        layer takes ids, each row's agent index ``agent`` ``(M,)``."""
        self._bind()
        weights, biases, features = self._weights, self._biases, self.features
        first = weights[0]
        h = x @ first[:, :features].T
        h += biases[0]
        if first.shape[1] > features:
            h += first[:, features:].T[agent]  # the one-hot id's column of the first layer
        for weight, bias in zip(weights[1:], biases[1:], strict=True):
            np.tanh(h, out=h)
            h = h @ weight.T
            h += bias
        return h


def sample_discrete(
    logits: np.ndarray, mask: np.ndarray | None, deterministic: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Actions and their log-probabilities from ``logits`` ``(M, A)`` (written over), as
    ``distributions.categorical_sample`` draws them: the Gumbel-max trick on torch's global
    random stream (the same draws), or the largest logit when ``deterministic``."""
    if mask is not None:
        np.copyto(logits, np.float32(MASKED_LOGIT), where=~mask)
    if deterministic:
        action = logits.argmax(-1)
    else:
        uniform = torch.rand(logits.shape).numpy()
        np.maximum(uniform, np.float32(1e-20), out=uniform)
        noise = np.log(-np.log(uniform))
        action = (logits - noise).argmax(-1)
    top = logits.max(-1, keepdims=True)
    shifted = logits - top
    total = np.log(np.exp(shifted).sum(-1))
    chosen = np.take_along_axis(shifted, action[:, None], -1)[:, 0]
    return action, (chosen - total).astype(np.float32)
