"""The experiment commands of the ``tvae`` command line: ``runs``, ``evaluate``, ``sweep``.

Each command's work lives in its own module (:mod:`tvae_core._runs`,
:mod:`tvae_core._evaluate`, :mod:`tvae_core._sweep`), imported when the command runs, so that
``tvae --help`` imports nothing but typer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from tvae_core._errors import UsageError


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


runs_app = typer.Typer(
    cls=_ListByDefault,
    help="List the runs under a folder (default: runs), or compare runs: tvae runs compare RUN RUN...",
    rich_markup_mode=None,
)

JsonOpt = typer.Option(False, "--json", help="Print JSON for programs instead of a table.")
PluginOpt = typer.Option(
    None,
    "--plugin",
    "-p",
    help="Load a plugin by module name or .py path; 'no:NAME' blocks one. Repeatable.",
)
SetOpt = typer.Option(
    None, "--set", "-s", help="Override a config value: KEY.PATH=VALUE. Repeatable."
)


def _cli() -> Any:
    from tvae_core import cli

    return cli


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
    from tvae_core._runs import find_runs, read_run, runs_table

    runs = [read_run(p) for p in find_runs(directory)]
    cli = _cli()
    if json_out:
        cli._print_json(runs)
        return
    if not runs:
        typer.echo(f"no runs under {directory}/", err=True)
        return
    columns, rows = runs_table(runs, metric)
    cli._print_table(
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
    from tvae_core._runs import compare_runs, format_value

    data = compare_runs(runs)
    cli = _cli()
    if json_out:
        cli._print_json(data)
        return
    names = data["runs"]
    rows = [["status", *data["status"]], ["epochs", *map(format_value, data["epochs"])]]
    rows += [[k, *map(format_value, v)] for k, v in data["config"].items()]
    if not data["config"]:
        rows.append(["(config)", *["identical"] * len(names)])
    shown = [k for k in data["final"] if all_metrics or k.startswith("val/")]
    rows += [[k, *map(format_value, data["final"][k])] for k in shown]
    cli._print_table(["", *names], rows)


def evaluate(
    source: Path = typer.Argument(..., help="A run folder or a checkpoint file."),
    checkpoint: str | None = typer.Option(
        None,
        "--checkpoint",
        "-c",
        help="With a run folder: 'last' (default), 'best' or a checkpoint path.",
    ),
    set_: list[str] | None = SetOpt,
    plugin: list[str] | None = PluginOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Compute a trained model's validation metrics without training (e.g. --set data.val_fraction=0.2)."""
    from tvae_core._evaluate import evaluate as run_evaluation

    cli = _cli()
    result = run_evaluation(
        source, checkpoint=checkpoint, overrides=set_ or [], plugins=cli._manager(plugin)
    )
    if json_out:
        cli._print_json(result)
        return
    typer.echo(f"{result['checkpoint']} (epoch {result['epoch']}, on {result['device']})")
    metrics = result["metrics"]
    from tvae_core._runs import format_value

    cli._print_table(("metric", "value"), [(k, format_value(v)) for k, v in metrics.items()])


def sweep(
    file: Path = typer.Argument(..., help="The sweep file (YAML): base, set, grid, seeds, search."),
    out: Path = typer.Option(
        Path("runs"), "--out", help="Parent folder of the sweep's runs and of DIR/<sweep>/."
    ),
    worker: bool = typer.Option(
        False,
        "--worker",
        help="Join the sweep's search study as one more worker (same storage), run its trials, "
        "and exit; the grid is left to the main process.",
    ),
    max_trials: int | None = typer.Option(
        None, "--max-trials", min=1, help="With --worker: run at most this many trials."
    ),
    set_: list[str] | None = SetOpt,
    plugin: list[str] | None = PluginOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Run a sweep: a grid over config paths times seeds, and/or a search (tvae-optuna)."""
    from tvae_core._sweep import print_results, run_sweep

    if max_trials is not None and not worker:
        raise UsageError(
            "--max-trials goes with --worker (the sweep file's search.trials sets the total)"
        )
    cli = _cli()
    results = run_sweep(
        file,
        out,
        overrides=set_ or [],
        plugins=cli._manager(plugin),
        plugin_args=list(plugin or []),
        worker=worker,
        max_trials=max_trials,
    )
    if json_out:
        cli._print_json(results)
    elif not worker:
        print_results(results, cli._print_table)


def register(app: typer.Typer) -> None:
    """Add the experiment commands to the root application."""
    app.add_typer(runs_app, name="runs")
    app.command("evaluate")(evaluate)
    app.command("sweep")(sweep)
