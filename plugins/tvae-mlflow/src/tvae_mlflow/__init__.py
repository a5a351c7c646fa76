"""tvae-mlflow: track tvae runs in MLflow.

:class:`MlflowCallback` (config name ``mlflow``) logs a run's resolved config as parameters,
its epoch metrics, tags (tvae and plugin versions, seed, status) and its files as artifacts,
through :class:`mlflow.MlflowClient` against any tracking URI. mlflow is imported when a run
starts, not when tvae lists its plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvae_core import lazy_exports

__version__ = "0.1.0"

_LAZY = {"MlflowCallback": "tvae_mlflow.callback", "tracking_uri": "tvae_mlflow.callback"}

__all__ = ["MlflowCallback", "__version__", "tracking_uri"]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)

if TYPE_CHECKING:
    from tvae_mlflow.callback import MlflowCallback, tracking_uri
