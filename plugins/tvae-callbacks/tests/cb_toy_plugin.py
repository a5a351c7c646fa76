"""A toy tvae plugin for this package's end-to-end tests: points with a valuation, an autoencoder
whose code is ``z_mean``, a loss and a metric. Loaded by path, so it needs no other plugin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from tvae_core import TensorDataset, hookimpl


class Points(TensorDataset):
    """``size`` random points with an ``index`` and a ``valuation`` column."""

    def __init__(self, size: int = 48, dim: int = 4, batch_size: int = 16) -> None:
        gen = torch.Generator().manual_seed(7)
        index = torch.arange(size)
        super().__init__(
            {"x": torch.randn(size, dim, generator=gen), "index": index, "valuation": index % 3},
            batch_size=batch_size,
        )
        self.dim = dim

    def model_context(self) -> dict[str, Any]:
        return {"in_dim": self.dim}


class Autoencoder(torch.nn.Module):
    """Linear encoder to a 2-D ``z_mean`` and back."""

    def __init__(self, in_dim: int, latent_dim: int = 2) -> None:
        super().__init__()
        self.enc = torch.nn.Linear(in_dim, latent_dim)
        self.dec = torch.nn.Linear(latent_dim, in_dim)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        z = 0.5 * torch.tanh(self.enc(batch["x"]))
        return {"z_mean": z, "recon": self.dec(z)}


def mse() -> Any:
    """Mean squared reconstruction error."""

    def loss(
        outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        return ((outputs["recon"] - batch["x"]) ** 2).mean()

    return loss


def coverage() -> Any:
    """Share of rows reconstructed within 1.0."""

    def metric(outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]) -> float:
        return float(((outputs["recon"] - batch["x"]).abs().amax(-1) < 1.0).float().mean())

    return metric


@hookimpl
def tvae_register_datasets(register: Any) -> None:
    register("points", Points)


@hookimpl
def tvae_register_models(register: Any) -> None:
    register("autoencoder", Autoencoder)


@hookimpl
def tvae_register_losses(register: Any) -> None:
    register("mse", mse)


@hookimpl
def tvae_register_metrics(register: Any) -> None:
    register("coverage", coverage)
