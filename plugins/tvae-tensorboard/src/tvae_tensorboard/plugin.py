"""The tvae plugin module of tvae-tensorboard: the ``tensorboard`` callback.

Factories are lazy ``"module:attribute"`` strings with descriptions, so listing components
imports nothing heavy.
"""

from __future__ import annotations

from tvae_core import RegisterFn, hookimpl
from tvae_tensorboard import __version__

__all__ = ["__version__", "tvae_register_callbacks"]

_PKG = "tvae_tensorboard"


@hookimpl
def tvae_register_callbacks(register: RegisterFn) -> None:
    register(
        "tensorboard",
        f"{_PKG}.callback:TensorBoardCallback",
        description="TensorBoard: epoch scalars, hyperparameters, latent embedding projector",
    )
