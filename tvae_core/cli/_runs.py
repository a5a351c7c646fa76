"""``tvae runs [DIR]`` and ``tvae runs compare RUN...``: the run history under a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from tvae_core.cli._app import JsonOpt, print_json, print_table


class _ListByDefault(TyperGroup):
    """``tvae runs [DIR]`` lists, ``tvae runs compare RUN...`` compares.

    An argument that is not a sub-command's name (a folder) or an option goes to ``list``,
    so the group reads as one command with a sub-command beside it.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        completing = ctx.resilient_parsing  # shell completion offers the sub-commands
        if not completing and (
            not args or (args[0].startswith("-") and args[0] not in ("--help", "-h"))
        ):
            args = ["list", *args]
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "list", self.commands["list"], args
        return super().resolve_command(ctx, args)


runs_app = typer.Typer(  # its help is ._help's, given where ._commands adds it to the app
    cls=_ListByDefault,
    rich_markup_mode=None,
)


@runs_app.command("list")
def runs_list(
    directory: Path = typer.Argument(Path("runs"), help="The folder to look in (and below)."),
    metric: list[str] | None = typer.Option(
        None,
        "--metric",
        "-m",
        help="A metric column to show (default: the key metrics). Repeatable.",
    ),
    json_out: bool = JsonOpt,
) -> None:
    """List runs: name, status, epochs, wall time, start and key final metrics."""
    from tvae_core._run.history import find_runs, read_run, runs_table

    runs = [read_run(p) for p in find_runs(directory)]
    if json_out:
        print_json(runs)
        return
    if not runs:
        typer.echo(f"no runs under {directory}/", err=True)
        return
    columns, rows = runs_table(runs, metric)
    print_table(
        columns,
        rows,
        style=lambda col, value: (
            {"failed": "red", "interrupted": "yellow"}.get(value) if col == "status" else None
        ),
    )


@runs_app.command("compare")
def runs_compare(
    runs: list[Path] = typer.Argument(..., help="Two or more run folders."),
    all_metrics: bool = typer.Option(
        False, "--all", help="Show every final metric, loss terms and train/* included."
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Show the runs' config differences and final metrics side by side."""
    from tvae_core._run.history import compare_runs, format_value

    data = compare_runs(runs)
    if json_out:
        print_json(data)
        return
    names = data["runs"]
    rows = [["status", *data["status"]], ["epochs", *map(format_value, data["epochs"])]]
    rows += [[k, *map(format_value, v)] for k, v in data["config"].items()]
    if not data["config"]:
        rows.append(["(config)", *["identical"] * len(names)])
    shown = [k for k in data["final"] if all_metrics or k.startswith("val/")]
    rows += [[k, *map(format_value, data["final"][k])] for k in shown]
    print_table(["", *names], rows)
