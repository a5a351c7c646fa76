"""A loss that is NaN on rank 1 at the first step of every epoch (for the DDP fault test)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from tvae_core import hookimpl


class NaNOnRankOne:
    """Mean squared error, except NaN on rank 1 at each epoch's first step."""

    requires = frozenset({"outputs.recon", "batch.x"})

    def __init__(self) -> None:
        self.rank = int(os.environ.get("RANK", "0"))
        self.calls = 0

    def __call__(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        loss = ((outputs["recon"] - batch["x"]) ** 2).mean()
        if torch.is_grad_enabled():  # training steps only, not validation
            self.calls += 1
            if self.rank == 1 and self.calls % 3 == 1:  # 3 steps per epoch in the test
                return loss * float("nan")
        return loss


@hookimpl
def tvae_register_losses(register: Any) -> None:
    register("nan_on_rank_one", NaNOnRankOne)
