"""The errors tvae raises on purpose.

Every error a user can fix is a :class:`TvaeError`; the CLI prints it as one line and exits
with its ``exit_code`` instead of a traceback::

    TvaeError                      base; exit code 1 unless a subclass says otherwise
    ├── UsageError                 bad command-line use (exit code 2)
    ├── ConfigError                a config file or override is wrong (exit code 2)
    │   └── SettingsError          a component's settings fail its schema (exit code 2)
    ├── PluginError                a plugin failed to load, register or behave (exit code 2)
    │   └── ComponentNotFound      no component of that kind and name (exit code 2)
    ├── CheckpointError            a checkpoint is missing, broken, hostile or mismatched (exit 2)
    └── TrainingError              training stopped on a fault (non-finite value, disk full)

Context travels as attributes, not inside the message: ``source`` (the config file),
``where`` (the key path, ``losses[2].margin``), ``component`` and ``plugin`` (what is at
fault) and ``hint`` (what to do). A layer that knows more context adds it with
:meth:`TvaeError.locate` and re-raises the same error; ``str(error)`` renders it all once::

    <source>: <where>: <component> of <plugin> <message>; <hint>
"""

from __future__ import annotations

from typing import Any

_CONTEXT = ("where", "component", "plugin", "hint", "source", "code")


class TvaeError(Exception):
    """Base of every error tvae raises for a problem the user can act on.

    Args:
        message: what is wrong, without the context below.
        where: the key path in the run's config (``losses[2].margin``, ``data``).
        component: the component at fault (``loss 'kl'``).
        plugin: the plugin that provides it (``plugin 'losses' (tvae-losses 0.1.0)``).
        hint: what to do about it.
        source: the config or checkpoint file the key path is in.
        code: a stable name of the problem for programs (``bad-factory``); not rendered.
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        component: str | None = None,
        plugin: str | None = None,
        hint: str | None = None,
        source: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.where = where
        self.component = component
        self.plugin = plugin
        self.hint = hint
        self.source = source

    def locate(self, where: str | None = None, *, source: str | None = None) -> TvaeError:
        """Fill in the key path and file where the caller knows them; inner context wins."""
        self.where = self.where or where
        self.source = self.source or source
        return self

    def __str__(self) -> str:
        text = self.message
        if self.component:
            who = f"{self.component} of {self.plugin}" if self.plugin else self.component
            text = f"{who} {text}"
        if self.where:
            text = f"{self.where}: {text}"
        if self.source:
            text = f"{self.source}: {text}"
        if self.hint:
            text = f"{text}; {self.hint}"
        return text

    @property
    def context(self) -> dict[str, str]:
        """The context attributes that are set, for ``--json`` output and tests."""
        return {k: v for k in _CONTEXT if (v := getattr(self, k)) is not None}

    def __reduce__(self) -> tuple[Any, ...]:  # keyword-only context survives pickling
        return (_rebuild, (type(self), self.message, self.context))


def describe(exc: BaseException, limit: int = 400) -> str:
    """One line for any exception: its type and its message's lines joined, cut at ``limit``."""
    text = "; ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _rebuild(cls: type[TvaeError], message: str, context: dict[str, str]) -> TvaeError:
    return cls(message, **context)


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
