"""The ternary components registered straight from their modules, as a ``--plugin`` file.

Benchmarks load it only when the installed plugins do not provide ``ternary_vae`` (for
example on a machine where the plugin distributions are not installed, only importable).
"""

from __future__ import annotations

from typing import Any

from tvae_core import hookimpl


@hookimpl
def tvae_register_datasets(register: Any) -> None:
    register("ternary_ops", "tvae_ternary.data:TernaryOpsDataset", description="3^n operations")


@hookimpl
def tvae_register_models(register: Any) -> None:
    register("ternary_vae", "tvae_ternary.model:TernaryVAE", description="hyperbolic MLP VAE")


@hookimpl
def tvae_register_losses(register: Any) -> None:
    register("reconstruction", "tvae_losses.vae:Reconstruction", description="trit cross-entropy")
    register("kl", "tvae_losses.vae:KL", description="Gaussian KL with free bits")
    register("padic_ranking", "tvae_losses.geometric:PadicRanking", description="3-adic triplets")
    register("radial", "tvae_losses.geometric:Radial", description="radius by valuation")


@hookimpl
def tvae_register_metrics(register: Any) -> None:
    register("coverage", "tvae_ternary.metrics:Coverage", description="exact decodes")
    register("hierarchy", "tvae_ternary.metrics:Hierarchy", description="Spearman(v, rho)")
    register("radial_accuracy", "tvae_ternary.metrics:RadialAccuracy", description="radius order")
    register("triplet_accuracy", "tvae_ternary.metrics:TripletAccuracy", description="d_c order")
