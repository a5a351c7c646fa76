"""tvae-example-plugin: the plugin the "Writing plugins" tutorial builds.

It adds a ``centroid`` loss, a ``latent_radius`` metric and an ``lr_logger`` callback. The
hooks live in :mod:`tvae_example.plugin`; the classes are importable from here for direct use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvae_core import lazy_exports

__version__ = "0.1.0"

__all__ = ["CentroidLoss", "LatentRadius", "LrLogger", "__version__"]

# Imported on first use: `import tvae_example` must not import torch.
_HOMES = {
    "CentroidLoss": "tvae_example.losses",
    "LatentRadius": "tvae_example.metrics",
    "LrLogger": "tvae_example.callbacks",
}

if TYPE_CHECKING:
    from tvae_example.callbacks import LrLogger
    from tvae_example.losses import CentroidLoss
    from tvae_example.metrics import LatentRadius

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
