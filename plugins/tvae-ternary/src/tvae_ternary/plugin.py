"""The tvae plugin module of tvae-ternary.

Registers the ``ternary_ops`` dataset, the ``ternary_vae`` model, the domain metrics, the
``latent_plot`` callback and the commands ``tvae plot`` and ``tvae export``. Factories are
lazy ``"module:attribute"`` strings with descriptions, so listing components imports nothing
heavy (neither torch nor geoopt nor matplotlib).
"""

from __future__ import annotations

from tvae_core import RegisterFn, hookimpl
from tvae_ternary import __version__

__all__ = [
    "__version__",
    "tvae_add_commands",
    "tvae_register_callbacks",
    "tvae_register_datasets",
    "tvae_register_metrics",
    "tvae_register_models",
]

_PKG = "tvae_ternary"


@hookimpl
def tvae_register_datasets(register: RegisterFn) -> None:
    register(
        "ternary_ops",
        f"{_PKG}.data:TernaryOpsDataset",
        description="All 3^n ternary operations (x trits, index, valuation) as in-memory tensors",
    )


@hookimpl
def tvae_register_models(register: RegisterFn) -> None:
    register(
        "ternary_vae",
        f"{_PKG}.model:TernaryVAE",
        description="MLP VAE of the ternary operations with a Poincaré-ball latent",
    )


@hookimpl
def tvae_register_metrics(register: RegisterFn) -> None:
    register(
        "coverage",
        f"{_PKG}.metrics:Coverage",
        description="Fraction of operations decoded back exactly from their posterior mean",
    )
    register(
        "hierarchy",
        f"{_PKG}.metrics:Hierarchy",
        description="Spearman(valuation, hyperbolic radius) and its tie ceiling (negative is good)",
    )
    register(
        "radial_accuracy",
        f"{_PKG}.metrics:RadialAccuracy",
        description="Fraction of pairs with v(i) > v(j) and rho(z_i) < rho(z_j)",
    )
    register(
        "triplet_accuracy",
        f"{_PKG}.metrics:TripletAccuracy",
        description="Fraction of a fixed triplet sample ordered in d_c as by the 3-adic distance",
    )


@hookimpl
def tvae_register_callbacks(register: RegisterFn) -> None:
    register(
        "latent_plot",
        f"{_PKG}.plotting:LatentPlotCallback",
        description="Draw the latent Poincaré disk coloured by valuation during training",
    )


@hookimpl
def tvae_add_commands(app: object) -> None:
    from tvae_ternary.export import register_export_command

    register_export_command(app)
    try:
        from tvae_ternary.plotting import register_plot_command
    except ImportError:  # plotting is optional; the rest of the plugin works without it
        return
    register_plot_command(app)
