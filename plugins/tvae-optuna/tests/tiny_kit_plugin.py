"""The core's tiny fixtures as a plugin module, for processes that load it with --plugin."""

from __future__ import annotations

from tvae_core.testing import tiny_plugin

tvae_register_datasets = tiny_plugin.tvae_register_datasets
tvae_register_models = tiny_plugin.tvae_register_models
tvae_register_losses = tiny_plugin.tvae_register_losses
tvae_register_metrics = tiny_plugin.tvae_register_metrics
