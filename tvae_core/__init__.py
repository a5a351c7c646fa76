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

This package is the public API (with :mod:`tvae_core.testing` for plugin tests). The layers
behind it are private packages whose names say what they hold::

    _config    the run's schema, config files, --set overrides, component settings schemas
    _plugins   hooks, component contracts and interfaces, the registry, plugin loading
    _run       the run folder on disk: atomic writes, checkpoints, finding a run's checkpoint
    _engine    the trainer: building a run, its environment, the step, evaluation, state
    _experiments  runs of runs: tvae sweep's grids and searches, tvae evaluate
    _tools     tvae new-plugin's scaffold and tvae plugins check
    cli        the tvae command line, one module per command

Every name but the errors and ``__version__`` is imported on first use: those that need
torch (the engine, :class:`LossRegistry`, :class:`TensorDataset`), so that listing plugins
stays fast, and the plugin layer (``hookimpl``, :class:`Callback`, :class:`PluginManager`
...), so that ``tvae config`` imports nothing it does not print.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from tvae_core._lazy import lazy_exports
from tvae_core._version import __version__

_LAZY = {
    # the plugin layer (pluggy, dataclasses, inspect): 20-30 ms that `tvae config` and any
    # `import tvae_core.<submodule>` that does not need it are spared
    "KINDS": "tvae_core._plugins.contracts",
    "Problem": "tvae_core._plugins.contracts",
    "hookimpl": "tvae_core._plugins.hookspecs",
    "hookspec": "tvae_core._plugins.hookspecs",
    "Callback": "tvae_core._plugins.interfaces",
    "CallbackList": "tvae_core._plugins.interfaces",
    "Control": "tvae_core._plugins.interfaces",
    "Dataset": "tvae_core._plugins.interfaces",
    "LossWeights": "tvae_core._plugins.interfaces",
    "RunContext": "tvae_core._plugins.interfaces",
    "is_main_process": "tvae_core._plugins.interfaces",
    "PluginInfo": "tvae_core._plugins.manager",
    "PluginManager": "tvae_core._plugins.manager",
    "Component": "tvae_core._plugins.registry",
    "RegisterFn": "tvae_core._plugins.registry",
    "Registry": "tvae_core._plugins.registry",
    "DEFAULT_GRAD_CLIP": "tvae_core._config.schema",
    "LossRegistry": "tvae_core._engine.losses",
    "LossResult": "tvae_core._engine.losses",
    "LossTerm": "tvae_core._engine.losses",
    "TensorDataset": "tvae_core._engine.data",
    "Trainer": "tvae_core._engine.trainer",
    "RunSummary": "tvae_core._engine.records",
    "model_from_checkpoint": "tvae_core._engine.trainer",
    "build_loss_registry": "tvae_core._engine.build",
    "save_checkpoint": "tvae_core._run.checkpoint",
    "load_checkpoint": "tvae_core._run.checkpoint",
    "resolve_checkpoint": "tvae_core._run.rundir",
    "CheckpointRef": "tvae_core._run.rundir",
    "RunConfig": "tvae_core._config.schema",
    "build_config": "tvae_core._config.files",
    "load_config": "tvae_core._config.files",
    "default_config": "tvae_core._config.files",
    "flatten_config": "tvae_core._config.flatten",
    "Sweep": "tvae_core._experiments.sweep",
    "run_sweep": "tvae_core._experiments.sweep",
    "setup_logging": "tvae_core.logging",
    "get_logger": "tvae_core.logging",
}

__all__ = [
    "DEFAULT_GRAD_CLIP",
    "KINDS",
    "Callback",
    "CallbackList",
    "CheckpointError",
    "CheckpointRef",
    "Component",
    "ComponentNotFound",
    "ConfigError",
    "Control",
    "Dataset",
    "LossRegistry",
    "LossResult",
    "LossTerm",
    "LossWeights",
    "PluginError",
    "PluginInfo",
    "PluginManager",
    "Problem",
    "RegisterFn",
    "Registry",
    "RunConfig",
    "RunContext",
    "RunSummary",
    "SettingsError",
    "Sweep",
    "TensorDataset",
    "Trainer",
    "TrainingError",
    "TvaeError",
    "UsageError",
    "__version__",
    "build_config",
    "build_loss_registry",
    "default_config",
    "flatten_config",
    "get_logger",
    "hookimpl",
    "hookspec",
    "is_main_process",
    "lazy_exports",
    "load_checkpoint",
    "load_config",
    "model_from_checkpoint",
    "resolve_checkpoint",
    "run_sweep",
    "save_checkpoint",
    "setup_logging",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)


if TYPE_CHECKING:
    from tvae_core._config.files import build_config, default_config, load_config
    from tvae_core._config.flatten import flatten_config
    from tvae_core._config.schema import DEFAULT_GRAD_CLIP, RunConfig
    from tvae_core._engine.build import build_loss_registry
    from tvae_core._engine.data import TensorDataset
    from tvae_core._engine.losses import LossRegistry, LossResult, LossTerm
    from tvae_core._engine.records import RunSummary
    from tvae_core._engine.trainer import Trainer, model_from_checkpoint
    from tvae_core._experiments.sweep import Sweep, run_sweep
    from tvae_core._plugins.contracts import KINDS, Problem
    from tvae_core._plugins.hookspecs import hookimpl, hookspec
    from tvae_core._plugins.interfaces import (
        Callback,
        CallbackList,
        Control,
        Dataset,
        LossWeights,
        RunContext,
        is_main_process,
    )
    from tvae_core._plugins.manager import PluginInfo, PluginManager
    from tvae_core._plugins.registry import Component, RegisterFn, Registry
    from tvae_core._run.checkpoint import load_checkpoint, save_checkpoint
    from tvae_core._run.rundir import CheckpointRef, resolve_checkpoint
    from tvae_core.logging import get_logger, setup_logging
