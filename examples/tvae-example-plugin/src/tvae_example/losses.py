"""The ``centroid`` loss."""

from __future__ import annotations

from collections.abc import Mapping

import torch


class CentroidLoss:
    """Squared distance of the batch's latent centroid from the origin.

    Keeps the cloud of embeddings centred, so that a point's radius (its distance from the
    origin) measures how deep in the 3-adic hierarchy it sits rather than where the cloud
    drifted to.

    Args:
        key: the model output to centre (``z_mean`` for tvae-ternary's TernaryVAE).
    """

    def __init__(self, key: str = "z_mean") -> None:
        if not key:
            raise ValueError("key must name a model output, e.g. 'z_mean'")
        self.key = key
        # The engine checks these keys against the model before the first step.
        self.requires = frozenset({f"outputs.{key}"})

    def __call__(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        return outputs[self.key].mean(dim=0).pow(2).sum()
