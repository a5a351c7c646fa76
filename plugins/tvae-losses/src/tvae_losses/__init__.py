"""tvae-losses: the loss terms of a Ternary VAE, registered as tvae components.

- ``reconstruction`` (:class:`Reconstruction`): cross-entropy over trits.
- ``kl`` (:class:`KL`): Gaussian KL with free bits; its registry weight is beta.
- ``padic_ranking`` (:class:`PadicRanking`): 3-adic triplet ranking in Poincaré distance.
- ``radial`` (:class:`Radial`): hyperbolic radius towards R * ratio^valuation.
- ``geodesic`` (:class:`Geodesic`): in-batch pair distances towards R * ratio^v(|i - j|).

:func:`create_registry_from_training_config` builds a :class:`tvae_core.LossRegistry` from a
config, as the seed guide does. Names needing torch load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvae_core import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "Reconstruction": "tvae_losses.vae",
    "KL": "tvae_losses.vae",
    "gaussian_kl_per_dim": "tvae_losses.vae",
    "PadicRanking": "tvae_losses.geometric",
    "Radial": "tvae_losses.geometric",
    "Geodesic": "tvae_losses.geometric",
    "create_registry_from_training_config": "tvae_losses.registry",
}

__all__ = [
    "KL",
    "Geodesic",
    "PadicRanking",
    "Radial",
    "Reconstruction",
    "__version__",
    "create_registry_from_training_config",
    "gaussian_kl_per_dim",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)


if TYPE_CHECKING:
    from tvae_losses.geometric import Geodesic, PadicRanking, Radial
    from tvae_losses.registry import create_registry_from_training_config
    from tvae_losses.vae import KL, Reconstruction, gaussian_kl_per_dim
