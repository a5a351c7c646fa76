"""``tvae run``: train from a config, resume a run, or launch several processes with torchrun."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from tvae_core._errors import UsageError
from tvae_core.cli import _app
from tvae_core.cli._app import (
    JsonOpt,
    PluginOpt,
    SetOpt,
    console,
    manager,
    print_json,
    print_table,
)
from tvae_core.cli._configs import load_run_config


def run(
    config: Path | None = typer.Argument(
        None,
        help="YAML or TOML config, or a preset's name (`tvae list preset`); none runs the default.",
        show_default=False,
    ),
    plugin: list[str] | None = PluginOpt,
    set_: list[str] | None = SetOpt,
    out: Path | None = typer.Option(
        None, "--out", help="Parent folder of run folders (default: trainer.out_dir, 'runs')."
    ),
    name: str | None = typer.Option(
        None, "--name", help="The run's folder name (default: from the time)."
    ),
    resume: str | None = typer.Option(
        None,
        "--resume",
        help="'last' (newest run under --out, or --name's) or a checkpoint file or run folder.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Build every component and stop before training."
    ),
    print_config: bool = typer.Option(
        False, "--print-config", help="Print the resolved config (after --set) as YAML and exit."
    ),
    json_out: bool = JsonOpt,
    nproc: int | None = typer.Option(
        None,
        "--nproc",
        min=1,
        help="Train with N processes on this machine (DDP through torchrun: one per GPU, "
        "or CPU processes over gloo); each takes data.batch_size rows per step.",
    ),
) -> None:
    """Train a model; results go to OUT/NAME/."""
    if nproc is not None and nproc > 1 and not dry_run and "WORLD_SIZE" not in os.environ:
        raise typer.Exit(_relaunch_with_torchrun(nproc))
    from tvae_core._config import apply_overrides, build_config, load_config
    from tvae_core._engine.trainer import Trainer
    from tvae_core._run.branch import Branch, config_changes, is_latest
    from tvae_core._run.checkpoint import check_run_checkpoint, load_checkpoint
    from tvae_core._run.rundir import RunDir, find_latest_run, resolve_checkpoint
    from tvae_core._run.trust import drop_checkpoint_paths
    from tvae_core.logging import get_logger

    pm = manager(plugin)
    sets = set_ or []
    resume_path: Path | None = None
    resume_state = None
    run_path: Path | None = None
    branch: Branch | None = None
    if resume is not None:
        if config is not None:
            raise UsageError(
                "give either CONFIG or --resume",
                hint="a resumed run keeps its own config (change values with --set)",
            )
        if resume == "last":
            out_dir = out if out is not None else Path(load_config().trainer.out_dir)
            ref = resolve_checkpoint(find_latest_run(out_dir, name))
        else:
            ref = resolve_checkpoint(resume)
        resume_path, run_path = ref.path, ref.run_dir
        resume_state = load_checkpoint(resume_path)
        check_run_checkpoint(resume_state, resume_path)
        # The file chooses no place to write: its paths are dropped, their defaults apply.
        trusted, dropped = drop_checkpoint_paths(resume_state["config"])
        if dropped:
            get_logger("tvae.run").warning(
                "ignoring %s from %s: a resumed run writes only inside its own folder "
                "(give them again with --set)",
                ", ".join(dropped[:8]) + (" ..." if len(dropped) > 8 else ""),
                resume_path,
            )
        cfg = build_config(apply_overrides(trusted, sets), source=str(resume_path))
        source = None
        if run_path is not None:
            # An earlier checkpoint, or other settings, make a new run: the original stays.
            changes = config_changes(
                build_config(trusted, source=str(resume_path)).to_dict(), cfg.to_dict()
            )
            earlier = not is_latest(resume_path, resume_state, run_path)
            if changes or earlier:
                branch = Branch(run_path, resume_path, resume_state["epoch"], changes, earlier)
    else:
        cfg, source = load_run_config(config, sets, pm)
    if print_config:
        sys.stdout.write(cfg.to_yaml())
        return
    if dry_run:
        trainer = Trainer(cfg, plugins=pm, source=source).setup()
        n_params = sum(p.numel() for p in trainer.model.parameters())
        info = {
            "config": str(config) if config else "<default config>",
            "device": str(trainer.device),
            "parameters": n_params,
            "train_batches_per_epoch": trainer.dataset.num_train_batches(),
            "losses": trainer.losses.weights,
            "metrics": list(trainer.metrics),
            "callbacks": [type(c).__name__ for c in trainer.callbacks],
        }
        if json_out:
            print_json(info)
        else:
            for k, v in info.items():
                typer.echo(f"{k}: {v}")
            typer.echo("dry run: every component built; no training done")
        return
    is_main = int(os.environ.get("RANK", "0")) == 0
    run_dir = None
    if is_main:
        if branch is not None:
            if branch.epoch >= cfg.epochs:
                raise UsageError(
                    f"{resume_path} is at epoch {branch.epoch} of {cfg.epochs}; nothing to train",
                    hint=f"train longer with --set epochs={branch.epoch + max(1, cfg.epochs)}",
                )
            # with --resume last, --name named the run to go on from, not the branch
            run_dir = branch.folder(out, name if resume != "last" else None)
            get_logger("tvae.run").warning(
                "starting a new run %s from %s: %s (%s is left as it is)",
                run_dir.path,
                resume_path,
                branch.reason(),
                run_path,
            )
        elif run_path is not None:
            run_dir = RunDir(run_path)
        else:
            run_dir = RunDir.create(out if out is not None else cfg.trainer.out_dir, name)
    trainer = Trainer(
        cfg,
        plugins=pm,
        run_dir=run_dir,
        resume_from=resume_path,
        resume_state=resume_state,
        source=source,
    )
    try:
        summary = trainer.fit()
    except KeyboardInterrupt as exc:
        from tvae_core._engine.environment import Interrupted

        if not isinstance(exc, Interrupted):  # before the loop took the signals over
            name = exc.args[0] if exc.args and isinstance(exc.args[0], str) else "SIGINT"
            typer.echo(f"interrupted by {name} before training started", err=True)
            raise typer.Exit(130) from None
        if is_main:
            where = run_dir.path if run_dir else "-"
            again = "".join(f" --plugin {p}" for p in plugin or [])  # the exact command to go on
            saved = (
                f"state saved in {where}"
                if trainer.interrupt_saved
                else f"interrupted again before its state was saved; {where}/checkpoints/last.pt "
                "holds the last completed epoch"
            )
            typer.echo(
                f"interrupted; {saved}; continue with: tvae run --resume {where}{again}", err=True
            )
        raise typer.Exit(130) from None
    if not is_main:
        return
    if json_out:
        print_json(summary.as_dict())
        return
    _print_summary(summary)


def _print_summary(summary: Any) -> None:
    title = (
        f"{summary.status}: {summary.stop_reason} ({summary.epochs} epochs, {summary.wall_s:.1f} s)"
    )
    keys = sorted(k for k in summary.final if k.startswith("val/"))
    if not sys.stdout.isatty():  # piped: plain lines, no box drawing
        sys.stdout.write(title + "\n")
        print_table(
            ("metric", "final", "best"),
            [
                (
                    k,
                    f"{summary.final[k]:.6g}",
                    "" if summary.best.get(k) is None else f"{summary.best[k]:.6g}",
                )
                for k in keys
            ],
        )
        if summary.run_dir:
            sys.stdout.write(f"run folder: {summary.run_dir}\n")
        return
    from rich.table import Table

    out = console()
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("final", justify="right")
    table.add_column("best", justify="right")
    for key in sorted(k for k in summary.final if k.startswith("val/")):
        best = summary.best.get(key)
        table.add_row(key, f"{summary.final[key]:.6g}", "" if best is None else f"{best:.6g}")
    out.print(table)
    if summary.run_dir:
        out.print(f"run folder: {summary.run_dir}")


def _relaunch_with_torchrun(nproc: int) -> int:
    """Run this same ``tvae run`` command (minus ``--nproc``) as ``nproc`` torchrun workers."""
    import subprocess

    args = list(_app.given_args if _app.given_args is not None else sys.argv[1:])
    kept: list[str] = []
    skip_next = False
    for arg in args:
        if skip_next:
            skip_next = False
        elif arg == "--nproc":
            skip_next = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "tvae_core",
        *kept,
    ]
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:  # the workers got the same SIGINT and save their state
        return 130
