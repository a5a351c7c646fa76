"""The tvae plugin registering the ``tensorboard`` callback (lazily)."""

from __future__ import annotations

from tvae_core import RegisterFn, hookimpl


@hookimpl
def tvae_register_callbacks(register: RegisterFn) -> None:
    register(
        "tensorboard",
        "tvae_tensorboard.callback:TensorBoardCallback",
        description="TensorBoard: epoch scalars, hyperparameters, latent embedding projector",
    )
