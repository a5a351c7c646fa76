"""Components that return the wrong kind of value (issue 12, item 19), for the reliability tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from tvae_core import hookimpl

KINDS = {
    "vector": lambda v: v.expand(4),
    "none": lambda v: None,
    "float": lambda v: float(v.detach()),
    "str": lambda v: "low",
    "int_tensor": lambda v: torch.ones((), dtype=torch.long),
    "dict_str": lambda v: {"a": "x"},
}


class BadReturnLoss:
    """MSE whose value is replaced by ``kind`` (see ``KINDS``) in training steps."""

    requires = frozenset({"outputs.recon", "batch.x"})

    def __init__(self, kind: str = "vector") -> None:
        self.kind = kind

    def __call__(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> Any:
        value = ((outputs["recon"] - batch["x"]) ** 2).mean()
        return KINDS[self.kind](value.reshape(1))


def bad_return_metric(kind: str = "str") -> Any:
    """A metric returning ``kind`` (see ``KINDS``)."""

    def metric(outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]) -> Any:
        return KINDS[kind](torch.zeros(1))

    return metric


@hookimpl
def tvae_register_losses(register: Any) -> None:
    register("bad_return_loss", BadReturnLoss, description="a loss returning the wrong kind")


@hookimpl
def tvae_register_metrics(register: Any) -> None:
    register(
        "bad_return_metric", bad_return_metric, description="a metric returning the wrong kind"
    )
