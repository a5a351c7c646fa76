"""The errors tvae raises on purpose.

Every error a user can fix is a :class:`TvaeError`; the CLI prints its one-line message and
exits with its ``exit_code`` instead of a traceback::

    TvaeError                      base; exit code 1 unless a subclass says otherwise
    ├── UsageError                 bad command-line use (exit code 2)
    ├── ConfigError                a config file or override is wrong (exit code 2)
    │   └── SettingsError          a component's settings fail its schema (exit code 2)
    ├── PluginError                a plugin failed to load, register or behave (exit code 2)
    │   └── ComponentNotFound      no component of that kind and name (exit code 2)
    ├── CheckpointError            a checkpoint is missing, broken, hostile or mismatched (exit 2)
    └── TrainingError              training stopped on a fault (non-finite value, disk full)
"""

from __future__ import annotations


class TvaeError(Exception):
    """Base of every error tvae raises for a problem the user can act on."""

    exit_code = 1


class UsageError(TvaeError):
    """The command line asks for something impossible."""

    exit_code = 2


class ConfigError(TvaeError):
    """A config file, a key path in it, or a ``--set`` override is wrong."""

    exit_code = 2


class SettingsError(ConfigError):
    """A component's settings do not satisfy its schema."""


class PluginError(TvaeError):
    """A plugin failed to import, to register, or a run needs a part of a failed plugin."""

    exit_code = 2


class ComponentNotFound(PluginError):
    """No component of the requested kind and name is registered."""


class CheckpointError(TvaeError):
    """A checkpoint cannot be read, is not a tvae checkpoint, or does not fit the model."""

    exit_code = 2


class TrainingError(TvaeError):
    """Training stopped because of a fault in the run (non-finite values, I/O failure)."""

    exit_code = 1
