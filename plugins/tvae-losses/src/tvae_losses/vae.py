"""The VAE's own terms: reconstruction cross-entropy over trits and the Gaussian KL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch.nn import functional as F
from tvae_ternary.geometry import constant

Tensors = Mapping[str, torch.Tensor]


class Reconstruction:
    """Cross-entropy of the decoded trit logits (B, n, 3) against ``batch["x"]``.

    Args:
        reduction: "sum" adds the n trits' cross-entropies (the ELBO's term) and averages over
            the batch; "mean" averages over trits as well.
        label_smoothing: label smoothing of the cross-entropy (0 disables it).
    """

    requires = frozenset({"outputs.logits", "batch.x"})

    def __init__(
        self, reduction: Literal["sum", "mean"] = "sum", label_smoothing: float = 0.0
    ) -> None:
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {label_smoothing}")
        self.reduction = reduction
        self.label_smoothing = label_smoothing

    def __call__(self, outputs: Tensors, batch: Tensors) -> torch.Tensor:
        logits = outputs["logits"]
        target = batch["x"].round().long() + 1
        # Classes on dim 1, (B, 3, n): the softmax over 3 classes then runs along the trits
        # (vectorised), about 1.6x faster on CPU than over rows of 3; the same value.
        ce = F.cross_entropy(logits.transpose(-1, -2), target, label_smoothing=self.label_smoothing)
        return ce * constant(float(target.shape[-1]), ce) if self.reduction == "sum" else ce


def gaussian_kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per row and dimension, same shape as ``mu``."""
    # Cached 0-dim constants: the same numbers as 0.5 and 1.0 without a copy each (geometry).
    return (mu.pow(2) + logvar.exp() - constant(1.0, mu) - logvar) * constant(0.5, mu)


class KL:
    """KL divergence of the diagonal Gaussian posterior (tangent space) from N(0, I).

    Its registry weight is the beta that a homeostasis callback drives. Free bits: each latent
    dimension's batch-mean KL counts at least ``free_bits`` nats, so dimensions below that
    floor receive no gradient (they are free to carry information).

    Args:
        free_bits: floor (nats) of each dimension's batch-mean KL; 0 disables it.
    """

    requires = frozenset({"outputs.mu", "outputs.logvar"})
    # The run logs this term's weight as ``beta`` every epoch.
    weight_log_key = "beta"

    def __init__(self, free_bits: float = 0.0) -> None:
        if free_bits < 0:
            raise ValueError(f"free_bits must be >= 0, got {free_bits}")
        self.free_bits = free_bits

    def __call__(self, outputs: Tensors, batch: Tensors) -> torch.Tensor:
        per_dim = gaussian_kl_per_dim(outputs["mu"], outputs["logvar"]).mean(0)
        if self.free_bits > 0:
            per_dim = per_dim.clamp_min(self.free_bits)
        return per_dim.sum()
