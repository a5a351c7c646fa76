"""The ``tvae`` application: its options, output helpers, plugin commands and entry point.

Each command lives in a module of its own beside this one and imports what it needs inside
its function, so that listing commands (``--help``, ``list``, ``plugins``, ``config``)
import neither torch nor any heavy plugin module. A :class:`tvae_core.TvaeError` is
rendered here, once, as one line, with its exit code.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import typer

from tvae_core._errors import TvaeError, describe
from tvae_core.cli._group import TvaeGroup, split_plugin_args
from tvae_core.cli._help import ABOUT, VERSION_HELP

# Its help, its options' and its commands' (registered by ._commands) are ._help's data,
# which `tvae --help` prints without typer.
app = typer.Typer(
    cls=TvaeGroup,
    name="tvae",
    help=ABOUT,
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for the user's shell
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
plugins_app = typer.Typer(  # `tvae plugins`: ._commands adds it to app, with its help
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from tvae_core._version import __version__

        typer.echo(f"tvae {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        help=VERSION_HELP,
    ),
) -> None:
    """The root's options: only ``--version`` (its help is the app's, ``._help.ABOUT``)."""


PluginOpt = typer.Option(
    None,
    "--plugin",
    "-p",
    help="Load a plugin by module name or .py path; 'no:NAME' blocks one. Repeatable.",
)
SetOpt = typer.Option(
    None, "--set", "-s", help="Override a config value: KEY.PATH=VALUE. Repeatable."
)
JsonOpt = typer.Option(False, "--json", help="Print JSON for programs instead of a table.")


def manager(plugins: list[str] | None) -> Any:
    """The command's plugin manager: the start-up one when it was made for these ``--plugin``s."""
    if _startup_manager is not None and list(plugins or []) == _startup_manager.specs:
        return _startup_manager
    from tvae_core._plugins.manager import PluginManager

    return PluginManager(plugins or [])


def console() -> Any:
    from rich.console import Console

    return Console(emoji=False)  # ":name:" in a description is text, not an emoji


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    style: Callable[[str, str], str | None] | None = None,
) -> None:
    """A table for people: rich's box table on a terminal, plain aligned columns otherwise.

    Piped output (``tvae list | grep loss``) keeps one row per line with nothing folded or
    drawn, and skips importing and laying out rich, which is most of a listing command's
    start-up. ``style(column, value)`` may name a rich style for a cell on a terminal.
    """
    if not sys.stdout.isatty():
        widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
            for line in (columns, *rows)
        ]
        sys.stdout.write("\n".join(lines) + "\n")
        return
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(
            *(
                Text(v, style=(style(c, v) if style else None) or "")
                for c, v in zip(columns, row, strict=True)
            )
        )
    console().print(table)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# -- plugin commands and the entry point ------------------------------------------------------
def core_commands() -> list[str]:
    """The names of the core's commands (no plugin may take one)."""
    import typer.main

    return list(typer.main.get_group(app).commands)


def plugin_command_specs(
    pm: Any, core: list[str] | None = None
) -> tuple[list[Any], dict[str, Any]]:
    """Every plugin command (resolved: refused ones marked) and the loaded hook commands.

    ``core`` names the core's commands when the caller has them (building the click group
    again only to read its names costs 5-15 ms of every command's start).
    """
    import typer.main

    from tvae_core._plugins.commands import CommandSpec, entry_point_commands, resolve

    specs = entry_point_commands(pm)
    loaded: dict[str, Any] = {}
    if pm.requested:
        for info, hook in pm.command_hooks():
            scratch = typer.Typer(rich_markup_mode=None, add_completion=False)
            try:
                with contextlib.redirect_stdout(sys.stderr):
                    hook(app=scratch)
                group = typer.main.get_group(scratch)
            except SystemExit as exc:  # must not end every command
                info.notes.append(f"tvae_add_commands called sys.exit({exc.code!r})")
                continue
            except Exception as exc:
                info.notes.append(f"tvae_add_commands raised {describe(exc)}")
                continue
            for name, command in group.commands.items():
                spec = CommandSpec(
                    name, info.name, info.distribution, info.version, "command-line", hook
                )
                specs.append(spec)
                loaded[f"{info.name}:{name}"] = command
    return resolve(specs, core_commands() if core is None else core), loaded


def build_cli(plugins: list[str] | None = None) -> TvaeGroup:
    """The ``tvae`` click group with the plugin commands of the installed and given plugins.

    Nothing is imported for an installed plugin's command until it runs; ``--plugin`` ones
    are imported to ask their ``tvae_add_commands`` hook. The plugin manager made here is
    kept for the command itself (one load of the plugins per process).
    """
    global _startup_manager
    import typer.main

    # get_command, not get_group: it adds --install-completion / --show-completion and
    # registers typer's shell-completion classes (without them `_TVAE_COMPLETE` fails).
    group = typer.main.get_command(app)
    assert isinstance(group, TvaeGroup)
    if os.environ.get("TVAE_NO_PLUGIN_COMMANDS"):
        return group
    from tvae_core._plugins.manager import PluginManager

    try:
        pm = PluginManager(plugins or [])
        specs, loaded = plugin_command_specs(pm, list(group.commands))
    except TvaeError:
        return group  # a bad --plugin value: the command reports it
    for spec in specs:
        if spec.refused is None:
            group.add_plugin_command(spec, loaded.get(f"{spec.plugin}:{spec.name}"))
    _startup_manager = pm
    return group


given_args: list[str] | None = None  # the arguments main() got: `run --nproc` passes them on
# The plugin manager made at start-up for the command line's --plugin values (None before
# main(), or when TVAE_NO_PLUGIN_COMMANDS is set).
_startup_manager: Any = None


def _interrupt_on_signals() -> Callable[[], None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt from the start (exit 130, one line), as
    SIGINT does: a command stopped while it starts up ends as one stopped later does. The
    training loop installs its own handlers over these. Returns what puts the old ones back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    old = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) in (signal.SIG_DFL, None):
            old[sig] = signal.signal(sig, handler)

    def restore() -> None:
        for sig, previous in old.items():
            signal.signal(sig, previous)

    return restore


def json_error(exc: TvaeError, text: str) -> dict[str, Any]:
    """What ``--json`` prints on stdout for an error: its text, kind, exit code and context."""
    return {
        "message": text,
        "type": type(exc).__name__,
        "exit_code": exc.exit_code,
        **{k: v for k, v in exc.context.items() if isinstance(v, str)},
    }


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the app and turns tvae errors into one-line messages."""
    global given_args, _startup_manager
    given_args = list(sys.argv[1:] if argv is None else argv)
    _startup_manager = None
    plugins, args = split_plugin_args(given_args)
    from tvae_core.logging import show_warnings

    show_warnings()
    restore = _interrupt_on_signals()
    try:
        group = build_cli(plugins)
        code = group.main(args=args, prog_name="tvae", standalone_mode=False)
        # Without standalone mode click returns a typer.Exit's code instead of exiting.
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except TvaeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        typer.echo(f"error: {'; '.join(lines)}", err=True)  # always one line
        if "--json" in args:  # a program reading stdout gets the error as JSON too
            print_json({"error": json_error(exc, "; ".join(lines))})
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt as exc:
        name = exc.args[0] if exc.args and isinstance(exc.args[0], str) else "SIGINT"
        typer.echo(f"interrupted by {name}", err=True)
        sys.exit(130)
    except Exception as exc:
        # Usage errors of the click layer inside typer (bad option, missing argument).
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        raise
    finally:
        restore()
