"""The ``latent_radius`` metric."""

from __future__ import annotations

from collections.abc import Mapping

import torch


class LatentRadius:
    """Mean and largest Euclidean norm of the latent means over the evaluation set.

    Returns a mapping, so it is logged as ``val/radius_mean`` and ``val/radius_max``.
    Points near the ball's boundary (norm close to 1 for curvature 1) lose float32
    precision: watch ``radius_max``.

    Args:
        key: the model output to measure.
    """

    def __init__(self, key: str = "z_mean") -> None:
        self.key = key
        self.requires = frozenset({f"outputs.{key}"})
        # Neither value is better larger or smaller: keep them out of summary.json's "best".
        self.higher_is_better = {"radius_mean": None, "radius_max": None}

    def __call__(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> dict[str, float]:
        norms = outputs[self.key].norm(dim=-1)
        return {"radius_mean": float(norms.mean()), "radius_max": float(norms.max())}
