"""The seed's ``create_registry_from_training_config``: a config's losses as a LossRegistry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tvae_core import LossRegistry, PluginManager, RunConfig


def create_registry_from_training_config(
    config: RunConfig | Mapping[str, Any], plugins: PluginManager | None = None
) -> LossRegistry:
    """Build the :class:`tvae_core.LossRegistry` of a config's ``losses`` section.

    Every loss is resolved through the plugin registry (so third-party losses work too), its
    settings validated and its ``weight`` given to the registry. ``config`` is what
    :func:`tvae_core.load_config` returns, or plain config data (merged into the default
    config like a config file); ``plugins`` is an optional :class:`tvae_core.PluginManager`,
    by default one over the installed plugins.
    """
    from tvae_core import build_loss_registry
    from tvae_core._config import build_config, merge_with_default

    if isinstance(config, Mapping):
        config = build_config(merge_with_default(config), source="<config mapping>")
    return build_loss_registry(config, plugins)
