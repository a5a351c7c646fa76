"""The config layer: the run's schema, config files, ``--set`` overrides, settings schemas.

It needs pydantic and PyYAML, never torch or a plugin.
"""

from tvae_core._config.files import (
    build_config,
    default_config,
    default_config_dict,
    default_config_text,
    load_config,
    merge_with_default,
    read_config_file,
)
from tvae_core._config.flatten import flatten_config
from tvae_core._config.overrides import apply_overrides
from tvae_core._config.schema import (
    DEFAULT_GRAD_CLIP,
    ComponentConfig,
    LossConfig,
    OptimizerConfig,
    PluginsConfig,
    RunConfig,
    TrainerConfig,
)

__all__ = [
    "DEFAULT_GRAD_CLIP",
    "ComponentConfig",
    "LossConfig",
    "OptimizerConfig",
    "PluginsConfig",
    "RunConfig",
    "TrainerConfig",
    "apply_overrides",
    "build_config",
    "default_config",
    "default_config_dict",
    "default_config_text",
    "flatten_config",
    "load_config",
    "merge_with_default",
    "read_config_file",
]
