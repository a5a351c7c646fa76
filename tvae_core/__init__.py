"""tvae: a plugin-based trainer for Ternary VAEs.

The core defines the contract; plugins provide every real component. A plugin is a module
with hook implementations, published through the ``tvae.plugins`` entry-point group::

    # pyproject.toml
    [project.entry-points."tvae.plugins"]
    my_plugin = "my_package.plugin"

    # my_package/plugin.py
    from tvae_core import hookimpl

    @hookimpl
    def tvae_register_losses(register):
        register("my_loss", "my_package.losses:MyLoss", description="What it penalises")

Names that need torch (the engine, :class:`LossRegistry`, :class:`TensorDataset`) are
imported on first use, so that listing plugins stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvae_core._callbacks import Callback, CallbackList, Control
from tvae_core._constants import DEFAULT_GRAD_CLIP
from tvae_core._errors import (
    CheckpointError,
    ComponentNotFound,
    ConfigError,
    PluginError,
    SettingsError,
    TrainingError,
    TvaeError,
    UsageError,
)
from tvae_core._hookspecs import hookimpl, hookspec
from tvae_core._lazy import lazy_exports
from tvae_core._plugins import PluginInfo, PluginManager
from tvae_core._registry import KINDS, Component, RegisterFn, Registry

__version__ = "0.1.0"

_LAZY = {
    "LossRegistry": "tvae_core._losses",
    "LossResult": "tvae_core._losses",
    "LossTerm": "tvae_core._losses",
    "Dataset": "tvae_core._data",
    "TensorDataset": "tvae_core._data",
    "Trainer": "tvae_core._engine",
    "RunSummary": "tvae_core._engine",
    "save_checkpoint": "tvae_core._checkpoint",
    "load_checkpoint": "tvae_core._checkpoint",
    "RunConfig": "tvae_core._config",
    "Sweep": "tvae_core._sweep",
    "flatten_config": "tvae_core._runs",
    "load_config": "tvae_core._config",
    "default_config": "tvae_core._config",
    "build_loss_registry": "tvae_core._build",
    "setup_logging": "tvae_core.logging",
    "model_from_checkpoint": "tvae_core._export",
    "export_embeddings": "tvae_core._export",
    "get_logger": "tvae_core.logging",
}

__all__ = [
    "DEFAULT_GRAD_CLIP",
    "KINDS",
    "Callback",
    "CallbackList",
    "CheckpointError",
    "Component",
    "ComponentNotFound",
    "ConfigError",
    "Control",
    "Dataset",
    "LossRegistry",
    "LossResult",
    "LossTerm",
    "PluginError",
    "PluginInfo",
    "PluginManager",
    "RegisterFn",
    "Registry",
    "RunConfig",
    "RunSummary",
    "SettingsError",
    "Sweep",
    "TensorDataset",
    "Trainer",
    "TrainingError",
    "TvaeError",
    "UsageError",
    "__version__",
    "build_loss_registry",
    "default_config",
    "export_embeddings",
    "flatten_config",
    "get_logger",
    "hookimpl",
    "hookspec",
    "lazy_exports",
    "load_checkpoint",
    "load_config",
    "model_from_checkpoint",
    "save_checkpoint",
    "setup_logging",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)


if TYPE_CHECKING:
    from tvae_core._build import build_loss_registry
    from tvae_core._checkpoint import load_checkpoint, save_checkpoint
    from tvae_core._config import RunConfig, default_config, load_config
    from tvae_core._data import Dataset, TensorDataset
    from tvae_core._engine import RunSummary, Trainer
    from tvae_core._export import export_embeddings, model_from_checkpoint
    from tvae_core._losses import LossRegistry, LossResult, LossTerm
    from tvae_core._runs import flatten_config
    from tvae_core._sweep import Sweep
    from tvae_core.logging import get_logger, setup_logging
