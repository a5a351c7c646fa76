"""The tvae plugin module of tvae-losses: registers every loss lazily (no torch at import)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvae_core import hookimpl

if TYPE_CHECKING:
    from tvae_core import RegisterFn

__all__ = ["tvae_register_losses"]

_PKG = "tvae_losses"


@hookimpl
def tvae_register_losses(register: RegisterFn) -> None:
    register(
        "reconstruction",
        f"{_PKG}.vae:Reconstruction",
        description="Cross-entropy of the decoded trit logits against the input trits",
    )
    register(
        "kl",
        f"{_PKG}.vae:KL",
        description="Gaussian KL of the posterior from N(0, I), with free bits (its weight is beta)",
    )
    register(
        "padic_ranking",
        f"{_PKG}.geometric:PadicRanking",
        description="Triplet margin loss ordering Poincaré distances by the 3-adic distance",
    )
    register(
        "radial",
        f"{_PKG}.geometric:Radial",
        description="Hyperbolic radius towards R * ratio^valuation (high valuation at the centre)",
    )
    register(
        "geodesic",
        f"{_PKG}.geometric:Geodesic",
        description="All in-batch pair distances towards R * ratio^v(|i - j|)",
    )
