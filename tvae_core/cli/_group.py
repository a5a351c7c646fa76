"""The root command group: core commands, plus plugin commands loaded only when they run.

``tvae --help`` lists a plugin command by its name and its distribution without importing
it; running it (or asking for its help) imports the function its entry point names, lets it
add the command to a scratch app, and takes the command of that name from there. An
exception of a plugin command becomes one line naming the command and its plugin.

``--plugin`` values are read from the whole command line before anything else, so that a
``--plugin my.py`` plugin's commands exist and ``no:NAME`` hides a plugin's commands; a
command that takes no ``--plugin`` option of its own is not shown those tokens.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from tvae_core._errors import PluginError, TvaeError, describe
from tvae_core._plugins.commands import CommandSpec
from tvae_core.cli._help import plugin_command_help

PLUGIN_FLAGS = ("--plugin", "-p")
# typer may carry its own copy of click: take the exceptions of the one it uses.
_clicks = sys.modules[typer.Exit.__module__]
_PASS_THROUGH = (_clicks.ClickException, _clicks.Exit, _clicks.Abort, KeyboardInterrupt)


def split_plugin_args(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(plugin specs, args)``: every ``--plugin`` value, and the arguments to parse.

    ``--plugin`` options written before the command name move after it (``tvae --plugin
    my.py list`` is ``tvae list --plugin my.py``); the others stay where they are.
    """
    specs: list[str] = []
    leading: list[str] = []
    rest = list(args)
    out: list[str] = []
    i, before_command = 0, True
    while i < len(rest):
        arg = rest[i]
        value = None
        if arg in PLUGIN_FLAGS and i + 1 < len(rest):
            value, width = rest[i + 1], 2
        elif arg.startswith("--plugin="):
            value, width = arg.partition("=")[2], 1
        if value is not None:
            specs.append(value)
            (leading if before_command else out).extend(rest[i : i + width])
            i += width
            continue
        if before_command and not arg.startswith("-"):
            before_command = False
            out.append(arg)
            out.extend(leading)
            leading = []
        else:
            out.append(arg)
        i += 1
    return specs, out + leading


def _strip_plugin_args(args: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(args):
        if args[i] in PLUGIN_FLAGS and i + 1 < len(args):
            i += 2
        elif args[i].startswith("--plugin="):
            i += 1
        else:
            out.append(args[i])
            i += 1
    return out


class TvaeGroup(TyperGroup):
    """The ``tvae`` group: typer's, plus plugin commands registered as :class:`CommandSpec`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plugin_commands: dict[str, CommandSpec] = {}
        self._loaded: dict[str, Any] = {}

    def add_plugin_command(self, spec: CommandSpec, loaded: Any | None = None) -> None:
        self.plugin_commands[spec.name] = spec
        if loaded is not None:
            self._loaded[spec.name] = _guarded(loaded, spec)

    def list_commands(self, ctx: Any) -> list[str]:
        core = list(super().list_commands(ctx))
        return core + [n for n in self.plugin_commands if n not in core]

    def get_command(self, ctx: Any, cmd_name: str) -> Any | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in self.plugin_commands:
            return command
        if cmd_name not in self._loaded:
            self._loaded[cmd_name] = _guarded(
                load_command(self.plugin_commands[cmd_name]), self.plugin_commands[cmd_name]
            )
        return self._loaded[cmd_name]

    def resolve_command(
        self, ctx: Any, args: list[str]
    ) -> tuple[str | None, Any | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name in self.plugin_commands and command is not None:
            takes_plugin = any(
                "--plugin" in getattr(p, "opts", ()) for p in getattr(command, "params", ())
            )
            if not takes_plugin:
                rest = _strip_plugin_args(rest)
        return name, command, rest

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            spec = self.plugin_commands.get(name)
            if spec is not None and name not in self._loaded:
                help_text = plugin_command_help(name, spec.distribution or spec.plugin)
            else:
                command = self.get_command(ctx, name)
                if command is None or command.hidden:
                    continue
                help_text = command.get_short_help_str(formatter.width - 6 - len(name))
            rows.append((name, help_text))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def load_command(spec: CommandSpec) -> Any:
    """Import a plugin command and return it as a click command."""
    import typer.main

    try:
        scratch = typer.Typer(rich_markup_mode=None, add_completion=False)
        spec.registrar()(scratch)
        group = (
            typer.main.get_group(scratch)
            if scratch.registered_commands or scratch.registered_groups
            else None
        )
        command = group.commands.get(spec.name) if group is not None else None
    except TvaeError:
        raise
    except (Exception, SystemExit) as exc:  # a sys.exit() while loading must not end tvae
        raise PluginError(
            f"cannot be loaded from {spec.target!r}: {describe(exc)}",
            component=f"command {spec.name!r}",
            plugin=spec.origin,
        ) from exc
    if command is None:
        raise PluginError(
            f"{spec.target!r} added no command named {spec.name!r}",
            component=f"command {spec.name!r}",
            plugin=spec.origin,
            hint="the entry point's name must be the name of the command it adds",
        )
    return command


def _guarded(command: Any, spec: CommandSpec) -> Any:
    """``command``, whose exceptions (other than tvae's and click's) become one line."""
    invoke = command.invoke

    def guarded_invoke(ctx: Any) -> Any:
        try:
            return invoke(ctx)
        except (TvaeError, *_PASS_THROUGH):
            raise
        except Exception as exc:
            raise TvaeError(
                f"raised {describe(exc)}", component=f"command {spec.name!r}", plugin=spec.origin
            ) from exc

    command.invoke = guarded_invoke
    return command
