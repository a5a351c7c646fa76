"""The tvae plugin module of tvae-geoopt: registers ``riemannian_adam`` and ``riemannian_sgd``.

Factories are registered lazily, so listing components imports neither torch nor geoopt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvae_core import hookimpl
from tvae_geoopt import __version__

if TYPE_CHECKING:
    from tvae_core import RegisterFn

__all__ = ["__version__", "tvae_register_optimizers"]

_IMPL = "tvae_geoopt._optimizers"


@hookimpl
def tvae_register_optimizers(register: RegisterFn) -> None:
    register(
        "riemannian_adam",
        f"{_IMPL}:RiemannianAdam",
        description="Riemannian Adam (geoopt) on manifold parameters, fused Adam on the rest",
    )
    register(
        "riemannian_sgd",
        f"{_IMPL}:RiemannianSGD",
        description="Riemannian SGD (geoopt) on manifold parameters, fused SGD on the rest",
    )
