"""``tvae plugins``, ``tvae plugins check`` and ``tvae new-plugin``: plugins and their authors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tvae_core.cli._app import (
    JsonOpt,
    PluginOpt,
    core_commands,
    manager,
    plugin_command_specs,
    plugins_app,
    print_json,
    print_table,
)


def _status(info: Any) -> str:
    if info.status in ("failed", "incompatible"):
        fix = f"; {info.fix}" if info.fix else ""
        return f"{info.status}: {info.error or ''}{fix}"
    return str(info.status)


@plugins_app.callback()
def plugins_cmd(
    ctx: typer.Context,
    plugin: list[str] | None = PluginOpt,
    json_out: bool = JsonOpt,
) -> None:
    """List plugins: status (failed and incompatible ones say why and how to fix it),
    hooks, components, commands, and notes such as a name two plugins register."""
    if ctx.invoked_subcommand is not None:
        return
    from tvae_core._plugins.commands import annotate

    pm = manager(plugin)
    pm.plugins()
    annotate(pm.infos, plugin_command_specs(pm)[0])
    infos = list(pm.infos.values())
    if json_out:
        print_json([i.as_dict() for i in infos])
        return
    print_table(
        ("name", "distribution", "version", "status", "hooks", "components", "notes"),
        [
            (
                i.name,
                i.distribution or "",
                i.version or "",
                _status(i),
                ", ".join(h.removeprefix("tvae_") for h in i.hooks),
                ", ".join([*i.components, *(f"command:{c}" for c in i.commands)]),
                "; ".join(i.notes),
            )
            for i in infos
        ],
        style=lambda col, value: (
            "red"
            if col == "status" and value.startswith(("failed", "incompatible"))
            else ("yellow" if col == "notes" and value else None)
        ),
    )


@plugins_app.command("check")
def plugins_check(
    spec: str | None = typer.Argument(
        None,
        help="Entry-point name, distribution, project folder, .py file or module (default: all installed).",
        show_default=False,
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Check a plugin for its author: hooks, signatures, component interfaces, settings schemas."""
    from tvae_core._tools.plugin_check import check_plugin

    report = check_plugin(spec, reserved_commands=core_commands())
    if json_out:
        print_json(report.as_dict())
    else:
        typer.echo(report.render())
    if not report.ok:
        raise typer.Exit(1)


def new_plugin(
    name: str = typer.Argument(
        ..., help="The plugin's name, e.g. 'centroid' (distribution tvae-centroid)."
    ),
    directory: Path = typer.Option(Path("."), "--dir", help="Where to create the project folder."),
) -> None:
    """Create a ready-to-install plugin package with an example loss, callback and tests."""
    from tvae_core._errors import UsageError
    from tvae_core._tools.scaffold import create_plugin, next_steps

    try:
        project = create_plugin(name, directory)
    except OSError as exc:  # a folder that cannot be written (/proc, read-only, a file)
        where = exc.filename or directory
        raise UsageError(
            f"cannot create the plugin's files: {where}: {exc.strerror or exc}",
            where="new-plugin",
            hint="pick a --dir you can write to",
        ) from None
    typer.echo(next_steps(project))
