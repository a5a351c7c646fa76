"""``tvae --help`` as data: the core's commands and options, and the text typer prints of them.

The application (:mod:`._app`, :mod:`._commands`) registers its commands from
:data:`COMMANDS`, with their help, and :func:`main` prints the root help from the same data
and the installed ``tvae.commands`` entry points without importing typer, click or the
plugin layer (pluggy): ``tvae``, ``tvae -h`` and ``tvae --help`` are the commands a new user
types first, and typer alone is most of their start-up on a loaded machine. The text is
laid out as click lays out a group's help (``tests/core/test_cli_help_text.py`` compares the
two at several terminal widths, plugin commands included).
"""

from __future__ import annotations

import os
import sys
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tvae_core._plugins.commands import CommandSpec

ABOUT = "Train Ternary VAEs: hyperbolic embeddings of the 3^n ternary operations."
USAGE = "Usage: tvae [OPTIONS] COMMAND [ARGS]..."
VERSION_HELP = "Print tvae's version and exit."

#: The core's commands and their help, in the order ``tvae --help`` lists them: typer lists
#: a group (``plugins``, ``runs``: a ``typer.Typer`` of sub-commands) after every command.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("run", "Train a model; results go to OUT/NAME/."),
    (
        "evaluate",
        "Compute a trained model's validation metrics without training "
        "(e.g. --set data.val_fraction=0.2).",
    ),
    (
        "sweep",
        "Run a sweep: a grid over config paths times seeds, and/or a search (tvae-optuna).",
    ),
    (
        "list",
        "List registered components and presets: kind, name, plugin, version, description.",
    ),
    (
        "new-plugin",
        "Create a ready-to-install plugin package with an example loss, callback and tests.",
    ),
    ("show", "Show a component's settings: types, defaults and docs."),
    ("validate", "Resolve plugins and build every component of CONFIG without training."),
    (
        "config",
        "Print the default config (or a preset) as YAML, ready to edit and pass to `tvae run`.",
    ),
    (
        "plugins",
        "List installed plugins (name, distribution, version, hooks, components, status).",
    ),
    (
        "runs",
        "List the runs under a folder (default: runs), or compare runs: "
        "tvae runs compare RUN RUN...",
    ),
)

#: The root's options and their help (the completion ones are typer's, ``-h`` click's).
OPTIONS: tuple[tuple[str, str], ...] = (
    ("--version", VERSION_HELP),
    ("--install-completion", "Install completion for the current shell."),
    (
        "--show-completion",
        "Show completion for the current shell, to copy it or customize the installation.",
    ),
    ("-h, --help", "Show this message and exit."),
)

ENV_NO_PLUGIN_COMMANDS = "TVAE_NO_PLUGIN_COMMANDS"
#: Set by a shell asking for completions: typer answers it, not this module.
ENV_COMPLETE = "_TVAE_COMPLETE"


def plugin_command_help(name: str, owner: str) -> str:
    """What ``tvae --help`` says of a plugin command it has not imported."""
    return f"A command of {owner} (tvae {name} --help)."


def short_help(text: str, limit: int) -> str:
    """A command's help as its group lists it, in at most ``limit`` characters (as the click
    that typer runs on shortens it): its first paragraph up to the first word ending in a
    period that fits; else all of it when it fits; else its words up to the last that
    leaves room for ``...``, and ``...``.
    """
    words = text.split("\n\n", 1)[0].split()
    length = -1
    for i, word in enumerate(words):
        length += len(word) + 1
        if length > limit or (length == limit and i < len(words) - 1 and word[-1] != "."):
            break
        if word[-1] == ".":
            return " ".join(words[: i + 1])
    else:
        return " ".join(words)
    while i > 0 and len(" ".join(words[:i])) + 3 > limit:
        i -= 1
    return " ".join(words[:i]) + "..."


class _Wrapper(textwrap.TextWrapper):
    """textwrap's wrapper, but a word longer than a line is cut where the line ends."""

    def _handle_long_word(
        self, reversed_chunks: list[str], cur_line: list[str], cur_len: int, width: int
    ) -> None:
        room = max(width - cur_len, 1)
        cur_line.append(reversed_chunks[-1][:room])
        reversed_chunks[-1] = reversed_chunks[-1][room:]


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    wrapper = _Wrapper(
        width, initial_indent=indent, subsequent_indent=indent, replace_whitespace=False
    )
    return wrapper.wrap(text)


def _definitions(rows: list[tuple[str, str]], width: int) -> list[str]:
    """Two columns, indented by two: a term and its text, wrapped in the space left."""
    column = min(max(len(term) for term, _ in rows), 30) + 2
    text_width = max(width - column - 2, 10)
    lines = []
    for term, text in rows:
        wrapped = _wrap(text, text_width) or [""]
        if len(term) <= column - 2:
            lines.append(f"  {term.ljust(column)}{wrapped[0]}")
        else:  # too long a term: its text starts on the next line
            lines += [f"  {term}", " " * (column + 2) + wrapped[0]]
        lines += [" " * (column + 2) + line for line in wrapped[1:]]
    return lines


def help_width() -> int:
    """The width click lays help out in: the terminal's less two, within 50 to 78."""
    import shutil

    return max(min(shutil.get_terminal_size().columns, 80) - 2, 50)


def help_text(plugin_rows: list[tuple[str, str]], width: int) -> str:
    """The root help (no final newline), with ``(name, help)`` of each plugin command."""
    commands = [(name, short_help(text, width - 6 - len(name))) for name, text in COMMANDS]
    parts = [
        USAGE,
        "\n".join(_wrap(ABOUT, width, "  ")),
        "Options:\n" + "\n".join(_definitions(list(OPTIONS), width)),
        "Commands:\n" + "\n".join(_definitions(commands + plugin_rows, width)),
    ]
    return "\n\n".join(parts)


def installed_plugin_commands() -> list[CommandSpec]:
    """The installed plugins' commands that ``tvae`` adds (the refused ones left out)."""
    if os.environ.get(ENV_NO_PLUGIN_COMMANDS):
        return []
    from tvae_core._plugins.commands import installed_commands, resolve
    from tvae_core._plugins.discovery import (
        COMMANDS_GROUP,
        ENV_DISABLE_AUTOLOAD,
        PLUGINS_GROUP,
        discover_groups,
        env_flag,
    )

    if env_flag(ENV_DISABLE_AUTOLOAD):
        return []
    found = discover_groups({PLUGINS_GROUP: False, COMMANDS_GROUP: True})
    specs = installed_commands(found[PLUGINS_GROUP], found[COMMANDS_GROUP])
    core = [name for name, _ in COMMANDS]
    return [spec for spec in resolve(specs, core) if spec.refused is None]


def is_root_help(argv: list[str]) -> bool:
    """Whether ``argv`` asks only for the root help, which :func:`main` can print itself."""
    return argv in ([], ["--help"], ["-h"]) and ENV_COMPLETE not in os.environ


def main(argv: list[str]) -> None:
    """Print the root help: on stdout (exit 0) when asked for, on stderr (exit 2) for a bare
    ``tvae``, as click does for a group run without a command."""
    try:
        rows = [
            (spec.name, plugin_command_help(spec.name, spec.distribution or spec.plugin))
            for spec in installed_plugin_commands()
        ]
        text = help_text(rows, help_width()) + "\n"
    except KeyboardInterrupt:
        sys.stderr.write("interrupted by SIGINT\n")
        sys.exit(130)
    if argv:
        sys.stdout.write(text)
        return
    sys.stderr.write(text)
    sys.exit(2)
