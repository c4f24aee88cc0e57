"""Action distributions written as plain tensor functions (no torch.distributions overhead).

Discrete actions use a categorical over logits, with invalid actions masked to a large negative
logit. Continuous actions use a diagonal Gaussian whose sample (the "raw" action) is what the
learner stores; the environment receives either ``tanh(raw)`` rescaled to the Box bounds
("squash", with the change-of-variables correction in the log-probability) or ``raw`` clipped to
the bounds ("clip", the log-probability of the unclipped sample, as in most PPO code).
"""

from __future__ import annotations

import math

import torch

MASKED_LOGIT = -1e8
LOG_2PI = math.log(2.0 * math.pi)


def mask_logits(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Return logits with the actions that ``mask`` marks False pushed to a large negative value."""
    if mask is None:
        return logits
    return logits.masked_fill(~mask, MASKED_LOGIT)


def categorical_sample(logits: torch.Tensor) -> torch.Tensor:
    """Draw one action per row with the Gumbel-max trick (one kernel, torch's global RNG)."""
    uniform = torch.rand_like(logits).clamp_(1e-20, 1.0)
    return torch.argmax(logits - torch.log(-torch.log(uniform)), dim=-1)


def gaussian_sample(mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Sample a raw action from the diagonal Gaussian."""
    return mean + log_std.exp() * torch.randn_like(mean)


def gaussian_log_prob(
    mean: torch.Tensor, log_std: torch.Tensor, raw: torch.Tensor, squash: bool
) -> torch.Tensor:
    """Log-probability of the raw action, with the tanh correction when ``squash``."""
    z = (raw - mean) * torch.exp(-log_std)
    log_prob = (-0.5 * z * z - log_std - 0.5 * LOG_2PI).sum(-1)
    if squash:
        # log(1 - tanh(u)^2) written stably: 2 * (log 2 - u - softplus(-2u)).
        correction = 2.0 * (math.log(2.0) - raw - torch.nn.functional.softplus(-2.0 * raw))
        log_prob = log_prob - correction.sum(-1)
    return log_prob


def gaussian_entropy(log_std: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Entropy of the (unsquashed) Gaussian, broadcast to the batch ``shape``."""
    per_dim = 0.5 + 0.5 * LOG_2PI + log_std
    return per_dim.sum(-1).expand(shape)


def to_env_action(
    raw: torch.Tensor, low: torch.Tensor, high: torch.Tensor, squash: bool
) -> torch.Tensor:
    """Map a raw Gaussian action to the environment's Box: tanh-rescale or clip."""
    if squash:
        return low + (torch.tanh(raw) + 1.0) * 0.5 * (high - low)
    return torch.maximum(torch.minimum(raw, high), low)
