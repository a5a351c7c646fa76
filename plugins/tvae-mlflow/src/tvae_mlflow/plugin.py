"""The tvae plugin registering the ``mlflow`` callback (lazily)."""

from __future__ import annotations

from tvae_core import RegisterFn, hookimpl


@hookimpl
def tvae_register_callbacks(register: RegisterFn) -> None:
    register(
        "mlflow",
        "tvae_mlflow.callback:MlflowCallback",
        description="MLflow tracking: config as params, epoch metrics, tags, run files as artifacts",
    )
