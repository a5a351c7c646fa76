"""The hooks tvae calls: each registers components by name, lazily.

tvae imports this module for ``tvae list``; it imports nothing heavy, and every factory is a
``"module:attribute"`` string with a description, so listing never imports torch.
"""

from __future__ import annotations

from tvae_core import RegisterFn, hookimpl

from tvae_example import __version__

__all__ = [
    "__version__",
    "tvae_register_callbacks",
    "tvae_register_losses",
    "tvae_register_metrics",
]


@hookimpl
def tvae_register_losses(register: RegisterFn) -> None:
    register(
        "centroid",
        "tvae_example.losses:CentroidLoss",
        description="Squared distance of the batch's latent centroid from the origin",
    )


@hookimpl
def tvae_register_metrics(register: RegisterFn) -> None:
    register(
        "latent_radius",
        "tvae_example.metrics:LatentRadius",
        description="Mean and max norm of the latent means: val/radius_mean, val/radius_max",
    )


@hookimpl
def tvae_register_callbacks(register: RegisterFn) -> None:
    register(
        "lr_logger",
        "tvae_example.callbacks:LrLogger",
        description="Record the learning rate of every epoch; write lr.csv to the run folder",
    )
