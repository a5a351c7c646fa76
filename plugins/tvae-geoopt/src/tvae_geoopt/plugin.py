"""The tvae plugin module of tvae-geoopt: the optimizers ``riemannian_adam`` and ``riemannian_sgd``.

Factories are lazy ``"module:attribute"`` strings with descriptions, so listing components
imports nothing heavy.
"""

from __future__ import annotations

from tvae_core import RegisterFn, hookimpl
from tvae_geoopt import __version__

__all__ = ["__version__", "tvae_register_optimizers"]

_PKG = "tvae_geoopt"


@hookimpl
def tvae_register_optimizers(register: RegisterFn) -> None:
    register(
        "riemannian_adam",
        f"{_PKG}.optimizers:RiemannianAdam",
        description="Riemannian Adam (geoopt) on manifold parameters, fused Adam on the rest",
    )
    register(
        "riemannian_sgd",
        f"{_PKG}.optimizers:RiemannianSGD",
        description="Riemannian SGD (geoopt) on manifold parameters, fused SGD on the rest",
    )
