"""A tiny plugin used by the core's tests: a toy dataset, model, loss, metric and callback.

It needs nothing from the first-party plugins, so the core is tested on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from tvae_core import Callback, TensorDataset, hookimpl


class ToyData(TensorDataset):
    """Random points on a sphere with a label; deterministic from ``size``."""

    def __init__(self, size: int = 64, dim: int = 4, batch_size: int = 16) -> None:
        gen = torch.Generator().manual_seed(1234)
        x = torch.randn(size, dim, generator=gen)
        super().__init__({"x": x, "index": torch.arange(size)}, batch_size=batch_size)
        self.dim = dim

    def model_context(self) -> dict[str, Any]:
        return {"in_dim": self.dim}


class ToyModel(torch.nn.Module):
    """A linear autoencoder with dropout, so the RNG matters for resume checks."""

    def __init__(self, in_dim: int, hidden: int = 8, dropout: float = 0.1) -> None:
        super().__init__()
        self.enc = torch.nn.Linear(in_dim, hidden)
        self.dec = torch.nn.Linear(hidden, in_dim)
        self.drop = torch.nn.Dropout(dropout)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        h = self.drop(torch.tanh(self.enc(batch["x"])))
        return {"recon": self.dec(h), "h": h}


class MSE:
    """Mean squared reconstruction error."""

    requires = frozenset({"outputs.recon", "batch.x"})

    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.scale = scale

    def __call__(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        return self.scale * ((outputs["recon"] - batch["x"]) ** 2).mean()


class NeedsMissing(MSE):
    """A loss reading an output the toy model never produces."""

    requires = frozenset({"outputs.z_hyp"})


def toy_metric() -> Any:
    """Fraction of rows reconstructed within 0.5."""

    def metric(outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]) -> float:
        err = (outputs["recon"] - batch["x"]).abs().amax(-1)
        return float((err < 0.5).float().mean())

    return metric


class Recorder(Callback):
    """Records events; stops after ``stop_after`` epochs when given."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.events: list[str] = []
        self.seen = 0
        self.stop_after = stop_after

    def on_fit_start(self, trainer: Any) -> None:
        self.events.append("fit_start")

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        self.events.append(f"epoch_end:{epoch}")
        self.seen += 1

    def should_stop(self) -> bool:
        if self.stop_after is not None and self.seen >= self.stop_after:
            self.stop_reason = f"recorder saw {self.seen} epochs"
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"seen": self.seen}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.seen = int(state["seen"])


@hookimpl
def tvae_register_datasets(register: Any) -> None:
    register("toy_data", ToyData)


@hookimpl
def tvae_register_models(register: Any) -> None:
    register("toy_model", ToyModel)


@hookimpl
def tvae_register_losses(register: Any) -> None:
    register("mse", MSE)
    register("needs_missing", NeedsMissing)


@hookimpl
def tvae_register_metrics(register: Any) -> None:
    register("toy_accuracy", toy_metric)


@hookimpl
def tvae_register_callbacks(register: Any) -> None:
    register("recorder", Recorder)
