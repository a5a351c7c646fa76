"""``tvae plugins``, ``tvae plugins check`` and ``tvae new-plugin``: plugins and their authors."""

from __future__ import annotations

from pathlib import Path

import typer

from tvae_core.cli._app import (
    JsonOpt,
    PluginOpt,
    manager,
    plugins_app,
    print_json,
    print_table,
)


@plugins_app.callback()
def plugins_cmd(
    ctx: typer.Context,
    plugin: list[str] | None = PluginOpt,
    json_out: bool = JsonOpt,
) -> None:
    """List plugins with their status; failed ones show their error."""
    if ctx.invoked_subcommand is not None:
        return
    pm = manager(plugin)
    infos = pm.plugins()
    if json_out:
        print_json([i.as_dict() for i in infos])
        return
    print_table(
        ("name", "distribution", "version", "status", "hooks", "components"),
        [
            (
                i.name,
                i.distribution or "",
                i.version or "",
                i.status if i.status != "failed" else f"failed: {i.error or ''}",
                ", ".join(h.removeprefix("tvae_") for h in i.hooks),
                ", ".join(i.components),
            )
            for i in infos
        ],
        style=lambda col, value: "red" if col == "status" and value.startswith("failed") else None,
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

    report = check_plugin(spec)
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
    from tvae_core._tools.scaffold import create_plugin, next_steps

    typer.echo(next_steps(create_plugin(name, directory)))
