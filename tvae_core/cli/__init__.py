"""The ``tvae`` command line: one module per command, all on the application of :mod:`._app`.

``main`` is the console script's entry point; ``app`` the root ``typer.Typer`` with the
core's commands (registered by :mod:`._commands`); ``build_cli`` the click group with the
plugin commands added (lazily). Importing this package imports neither typer nor a command
module: ``tvae config`` prints the shipped default without them (no plugin can change it),
``tvae``, ``tvae -h`` and ``tvae --help`` print the root help from :mod:`._help` (with the
installed plugins' commands, read from their entry points), and every other command line
loads the application first.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

__all__ = ["app", "build_cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the app and turns tvae errors into one-line messages."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["config"]:
        from tvae_core.cli._default import default_config_text

        sys.stdout.write(default_config_text())
        return
    from tvae_core.cli import _help

    if _help.is_root_help(args):
        _help.main(args)
        return
    from tvae_core.cli import _commands

    _commands.main(argv)


def __getattr__(name: str) -> Any:
    if name in ("app", "build_cli"):
        from tvae_core.cli import _commands

        return getattr(_commands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    from tvae_core.cli._app import app, build_cli
