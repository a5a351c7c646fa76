"""The tvae plugin module of tvae-mlflow: the ``mlflow`` callback.

Factories are lazy ``"module:attribute"`` strings with descriptions, so listing components
imports nothing heavy (mlflow is imported when a run starts).
"""

from __future__ import annotations

from tvae_core import RegisterFn, hookimpl
from tvae_mlflow import __version__

__all__ = ["__version__", "tvae_register_callbacks"]

_PKG = "tvae_mlflow"


@hookimpl
def tvae_register_callbacks(register: RegisterFn) -> None:
    register(
        "mlflow",
        f"{_PKG}.callback:MlflowCallback",
        description="MLflow tracking: config as params, epoch metrics, tags, run files as artifacts",
    )
