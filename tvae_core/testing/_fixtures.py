"""The tiny fixtures: toy-size versions of the real dataset, model, losses and metric.

Batches carry ``x`` (B, n) float trits, ``index`` and ``valuation``; the model returns
``logits`` (B, n, 3), ``mu``, ``logvar``, ``z``, ``z_mean`` (on the unit Poincaré ball) and
``curvature`` (a scalar tensor, 1.0), the keys of the model contract.
:data:`tiny_plugin` registers them as ``tiny_ternary``, ``tiny_vae``, ``tiny_reconstruction``,
``tiny_kl`` and ``tiny_coverage``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tvae_core._config.schema import RunConfig
from tvae_core._engine.data import TensorDataset
from tvae_core._engine.losses import LossRegistry
from tvae_core._plugins.hookspecs import hookimpl
from tvae_core._plugins.interfaces import Callback, Control, RunOutcome
from tvae_core._plugins.registry import RegisterFn
from tvae_core._run.checkpoint import save_checkpoint


def tiny_trits(n_trits: int) -> torch.Tensor:
    """All 3^n operations as (3^n, n) float trits; position 0 is the least significant."""
    index = torch.arange(3**n_trits)
    powers = 3 ** torch.arange(n_trits)
    return ((index[:, None] // powers) % 3 - 1).to(torch.float32)


def tiny_valuation(n_trits: int) -> torch.Tensor:
    """The 3-adic valuation of each index 0..3^n-1, with v(0) = n."""
    index = torch.arange(3**n_trits)
    v = torch.zeros_like(index)
    for k in range(1, n_trits + 1):
        v += (index % 3**k == 0).long()
    return v


class TinyTernaryData(TensorDataset):
    """All 3^n ternary operations as ``x``, ``index`` and ``valuation`` tensors.

    Args:
        n_trits: trits per operation (1..8; keep it small in tests).
        batch_size: rows per training step.
    """

    def __init__(self, n_trits: int = 3, batch_size: int = 9) -> None:
        if not 1 <= n_trits <= 8:
            raise ValueError(f"n_trits must lie in 1..8 for the tiny dataset, got {n_trits}")
        tensors = {
            "x": tiny_trits(n_trits),
            "index": torch.arange(3**n_trits),
            "valuation": tiny_valuation(n_trits),
        }
        super().__init__(tensors, batch_size=batch_size)
        self.n_trits = n_trits

    def model_context(self) -> dict[str, Any]:
        return {"input_dim": 3**self.n_trits}


def tiny_batch(n_trits: int = 3) -> dict[str, torch.Tensor]:
    """Every operation of the tiny space as one batch."""
    return dict(TinyTernaryData(n_trits, batch_size=3**n_trits).eval_tensors)


class TinyVAE(torch.nn.Module):
    """A small MLP VAE whose latent lives on the unit Poincaré ball (curvature -1).

    Args:
        input_dim: number of operations 3^n (filled from the dataset).
        latent_dim: dimension of the latent ball.
        hidden: width of the hidden layers.
    """

    def __init__(self, input_dim: int = 27, latent_dim: int = 2, hidden: int = 16) -> None:
        super().__init__()
        n = round(math.log(input_dim, 3)) if input_dim > 0 else 0
        if n < 1 or 3**n != input_dim:
            raise ValueError(f"input_dim must be a power of 3, got {input_dim}")
        self.n_trits = n
        self.latent_dim = latent_dim
        self.encoder = torch.nn.Sequential(
            torch.nn.Linear(n, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 2 * latent_dim)
        )
        self.decoder = torch.nn.Sequential(
            torch.nn.Linear(latent_dim, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 3 * n)
        )

    @staticmethod
    def expmap0(v: torch.Tensor) -> torch.Tensor:
        """Map a tangent vector at the origin onto the unit ball."""
        norm = v.norm(dim=-1, keepdim=True).clamp_min(1e-7)
        return torch.tanh(norm).clamp_max(1 - 1e-5) * v / norm

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mu, logvar = self.encoder(batch["x"]).chunk(2, dim=-1)
        logvar = logvar.clamp(-8.0, 8.0)
        z_mean = self.expmap0(mu)
        if self.training:
            z = self.expmap0(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar))
        else:
            z = z_mean
        logits = self.decoder(z).view(len(z), self.n_trits, 3)
        curvature = torch.ones((), device=z.device)  # the model contract's scalar c
        out = {"logits": logits, "mu": mu, "logvar": logvar, "z": z, "z_mean": z_mean}
        return {**out, "curvature": curvature}


class TinyReconstruction:
    """Cross-entropy of the decoded trits."""

    requires = frozenset({"outputs.logits", "batch.x"})

    def __call__(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        target = (batch["x"] + 1).long()
        return torch.nn.functional.cross_entropy(outputs["logits"].transpose(1, 2), target)


class TinyKL:
    """KL divergence of the Gaussian posterior from the standard normal, per sample."""

    requires = frozenset({"outputs.mu", "outputs.logvar"})
    weight_log_key = "beta"

    def __call__(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        mu, logvar = outputs["mu"], outputs["logvar"]
        return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)).mean()


class TinyCoverage:
    """Fraction of operations whose decoded trits all match."""

    requires = frozenset({"outputs.logits", "batch.x"})
    higher_is_better = True

    def __call__(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> float:
        decoded = outputs["logits"].argmax(-1) - 1
        return float((decoded == batch["x"].long()).all(-1).float().mean())


class _TinyPlugin:
    """Registers the tiny fixtures, so that a test config can name them."""

    __name__ = "tiny"

    @hookimpl
    def tvae_register_datasets(self, register: RegisterFn) -> None:
        register("tiny_ternary", TinyTernaryData, description="All 3^n operations (tiny n)")

    @hookimpl
    def tvae_register_models(self, register: RegisterFn) -> None:
        register("tiny_vae", TinyVAE, description="A small MLP VAE with a Poincaré-ball latent")

    @hookimpl
    def tvae_register_losses(self, register: RegisterFn) -> None:
        register("tiny_reconstruction", TinyReconstruction)
        register("tiny_kl", TinyKL)

    @hookimpl
    def tvae_register_metrics(self, register: RegisterFn) -> None:
        register("tiny_coverage", TinyCoverage)


#: The plugin object that registers the tiny fixtures; :func:`run_tiny` adds it.
tiny_plugin = _TinyPlugin()

#: The run :func:`run_tiny` starts from: 2 epochs on the 27 operations of n = 3.
TINY_CONFIG: dict[str, Any] = {
    "seed": 0,
    "epochs": 2,
    "data": {"name": "tiny_ternary", "n_trits": 3, "batch_size": 9},
    "model": {"name": "tiny_vae", "latent_dim": 2, "hidden": 16},
    "optimizer": {"name": "adam", "lr": 1e-2},
    "scheduler": None,
    "losses": [{"name": "tiny_reconstruction", "weight": 1.0}],
    "metrics": ["tiny_coverage"],
    "callbacks": [],
    "trainer": {"device": "cpu", "progress": False, "val_every": 1},
    "plugins": {"required": []},
}


class _StandardNames:
    """The tiny loss and metric under the first-party names callbacks look for."""

    __name__ = "tiny_standard_names"

    @hookimpl
    def tvae_register_losses(self, register: RegisterFn) -> None:
        register("reconstruction", TinyReconstruction, description="tiny_reconstruction")
        register("kl", TinyKL, description="tiny_kl")

    @hookimpl
    def tvae_register_metrics(self, register: RegisterFn) -> None:
        register("coverage", TinyCoverage, description="tiny_coverage")


standard_names = _StandardNames()

#: The tiny run a callback is checked in: the names callbacks usually watch exist
#: (``kl``, ``val/coverage``), so a homeostat or a plateau detector has something to read.
CALLBACK_RUN: dict[str, Any] = {
    "losses": [{"name": "reconstruction"}, {"name": "kl", "weight": 0.01}],
    "metrics": ["coverage"],
}


@dataclass
class FakeRun:
    """A :class:`tvae_core.RunContext` without a trainer, to unit-test a callback's events.

    Set the attributes a test needs (``epoch``, ``run_dir``, ``rank``...), call the
    callback's events by hand, then read ``control`` (stop and save requests) and ``saved``
    (every path given to :meth:`save_checkpoint`). ``save_checkpoint`` writes a real
    checkpoint of ``model`` through the core's atomic writer; ``evaluate`` returns
    ``outputs`` and ``batch``; ``validate`` returns ``val_logs``. Set ``summary`` (a
    :class:`tvae_core.RunSummary`) before calling ``on_fit_end`` as the engine does.
    """

    run_dir: Path | None = None
    model: torch.nn.Module = field(default_factory=lambda: torch.nn.Linear(3, 2))
    config: RunConfig | Mapping[str, Any] = field(default_factory=lambda: {"seed": 0})
    losses: LossRegistry = field(default_factory=LossRegistry)
    callbacks: Sequence[Callback] = ()
    control: Control = field(default_factory=Control)
    epoch: int = 0
    global_step: int = 0
    steps_per_epoch: int = 1
    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)
    batch: dict[str, torch.Tensor] = field(default_factory=dict)
    val_logs: dict[str, float] = field(default_factory=dict)
    saved: list[Path] = field(default_factory=list)
    summary: RunOutcome | None = None
    #: What :meth:`direction` answers: True (higher is better) or False per log key.
    directions: dict[str, bool] = field(default_factory=dict)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def checkpoint_dir(self) -> Path | None:
        return self.run_dir / "checkpoints" if self.run_dir is not None and self.is_main else None

    def evaluate(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        return self.outputs, self.batch

    def validate(self) -> dict[str, float]:
        return dict(self.val_logs)

    def direction(self, key: str) -> bool | None:
        return self.directions.get(key)

    def save_checkpoint(self, path: str | Path) -> Path | None:
        if not self.is_main:
            return None
        target = Path(path)
        if self.checkpoint_dir is not None and target.parent == Path("."):
            target = self.checkpoint_dir / target
        self.saved.append(target)
        config = self.config.to_dict() if isinstance(self.config, RunConfig) else dict(self.config)
        state = {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "model_state_dict": self.model.state_dict(),
            "optimizer_state_dict": {},
            "config": config,
        }
        return save_checkpoint(state, target)
