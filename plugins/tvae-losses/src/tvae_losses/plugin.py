"""The tvae plugin module of tvae-losses: ``reconstruction``, ``kl``, ``padic_ranking``, ``padic_isosceles``, ``radial``, ``geodesic``.

Factories are lazy ``"module:attribute"`` strings with descriptions, so listing components
imports nothing heavy.
"""

from __future__ import annotations

from tvae_core import RegisterFn, hookimpl
from tvae_losses import __version__

__all__ = ["__version__", "tvae_register_losses"]

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
        "padic_isosceles",
        f"{_PKG}.geometric:PadicIsosceles",
        description="Rows at one 3-adic distance from an anchor kept at one Poincaré distance",
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
