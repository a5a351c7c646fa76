"""``tvae sweep``: a grid over config paths times seeds, and/or a search (tvae-optuna)."""

from __future__ import annotations

from pathlib import Path

import typer

from tvae_core._errors import UsageError
from tvae_core.cli._app import JsonOpt, PluginOpt, SetOpt, manager, print_json, print_table


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
    from tvae_core._experiments.sweep import print_results, run_sweep

    if max_trials is not None and not worker:
        raise UsageError(
            "goes with --worker",
            where="--max-trials",
            hint="the sweep file's search.trials sets the total",
        )
    results = run_sweep(
        file,
        out,
        overrides=set_ or [],
        plugins=manager(plugin),
        plugin_args=list(plugin or []),
        worker=worker,
        max_trials=max_trials,
    )
    if json_out:
        print_json(results)
    elif not worker:
        print_results(results, print_table)
