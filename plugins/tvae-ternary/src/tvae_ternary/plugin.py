"""The tvae plugin module of tvae-ternary.

Registers the ``ternary_ops`` dataset, the ``ternary_vae`` model, the domain metrics, the
``latent_plot`` callback; the commands ``tvae plot`` and ``tvae export`` are entry points of
the group ``tvae.commands`` (see pyproject.toml), found without importing this. Factories are
lazy ``"module:attribute"`` strings with descriptions, so listing components imports nothing
heavy (neither torch nor geoopt nor matplotlib).
"""

from __future__ import annotations

from tvae_core import RegisterFn, hookimpl
from tvae_ternary import __version__

__all__ = [
    "__version__",
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
        higher_is_better=True,
    )
    register(
        "hierarchy",
        f"{_PKG}.metrics:Hierarchy",
        description="Spearman(valuation, hyperbolic radius) and its tie ceiling (negative is good)",
        higher_is_better={"hierarchy": False, "hierarchy_ceiling": None},
    )
    register(
        "radial_accuracy",
        f"{_PKG}.metrics:RadialAccuracy",
        description="Fraction of pairs with v(i) > v(j) and rho(z_i) < rho(z_j)",
        higher_is_better=True,
    )
    register(
        "triplet_accuracy",
        f"{_PKG}.metrics:TripletAccuracy",
        description="Fraction of a fixed triplet sample ordered in d_c as by the 3-adic distance",
        higher_is_better=True,
    )
    register(
        "level_radial_accuracy",
        f"{_PKG}.metrics:LevelRadialAccuracy",
        description="Worst adjacent level pair's fraction ordered by radius (each pair logged)",
        higher_is_better=True,
    )
    register(
        "depth_triplet_accuracy",
        f"{_PKG}.metrics:DepthTripletAccuracy",
        description="Worst depth's closest-comparison triplet accuracy (each depth logged)",
        higher_is_better=True,
    )
    register(
        "level_radius",
        f"{_PKG}.metrics:LevelRadius",
        description="Mean, min and max hyperbolic radius of every valuation level (no best)",
        # Every key a level can return (valuations up to 22 in any base: MAX_VALUATION).
        higher_is_better={
            f"radius_v{k}_{stat}": None for k in range(23) for stat in ("mean", "min", "max")
        },
    )


@hookimpl
def tvae_register_callbacks(register: RegisterFn) -> None:
    register(
        "latent_plot",
        f"{_PKG}.plotting:LatentPlotCallback",
        description="Draw the latent Poincaré disk coloured by valuation during training",
    )
