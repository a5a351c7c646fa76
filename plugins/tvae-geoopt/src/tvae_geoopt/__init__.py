"""Riemannian optimizers for tvae: geoopt on manifold parameters, fused torch on the rest.

``RiemannianAdam`` and ``RiemannianSGD`` are drop-ins for geoopt's optimizers of the same
names (``RiemannianAdam(model.parameters(), lr=1e-3)``): parameters that are
``geoopt.ManifoldParameter``s get geoopt's Riemannian update, every other tensor gets
torch's own (fused) Adam or SGD with the same hyperparameters, behind one
``torch.optim.Optimizer``. In a tvae config they are the optimizers ``riemannian_adam``
and ``riemannian_sgd``.

The names are imported on first use, so that importing the plugin does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvae_core import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "RiemannianAdam": "tvae_geoopt.optimizers",
    "RiemannianSGD": "tvae_geoopt.optimizers",
    "SplitOptimizer": "tvae_geoopt.split",
    "is_manifold_tensor": "tvae_geoopt.split",
}

__all__ = ["RiemannianAdam", "RiemannianSGD", "SplitOptimizer", "__version__", "is_manifold_tensor"]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)


if TYPE_CHECKING:
    from tvae_geoopt.optimizers import RiemannianAdam, RiemannianSGD
    from tvae_geoopt.split import SplitOptimizer, is_manifold_tensor
