"""``tvae evaluate``: a trained model's validation metrics, without training."""

from __future__ import annotations

from pathlib import Path

import typer

from tvae_core.cli._app import JsonOpt, PluginOpt, SetOpt, manager, print_json, print_table


def evaluate(
    source: Path = typer.Argument(..., help="A run folder or a checkpoint file."),
    checkpoint: str = typer.Option(
        "last",
        "--checkpoint",
        "-c",
        help="With a run folder: 'last', 'best' (last.pt when the run wrote no best.pt), or a "
        "file name in its checkpoints/ or a path.",
    ),
    set_: list[str] | None = SetOpt,
    plugin: list[str] | None = PluginOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Compute a trained model's validation metrics without training (e.g. --set data.val_fraction=0.2)."""
    from tvae_core._experiments.evaluate import evaluate as run_evaluation
    from tvae_core._run.history import format_value

    result = run_evaluation(
        source, checkpoint=checkpoint, overrides=set_ or [], plugins=manager(plugin)
    )
    if json_out:
        print_json(result)
        return
    typer.echo(f"{result['checkpoint']} (epoch {result['epoch']}, on {result['device']})")
    metrics = result["metrics"]
    print_table(("metric", "value"), [(k, format_value(v)) for k, v in metrics.items()])
