"""The ``tvae`` command line.

Listing commands (``--help``, ``list``, ``plugins``, ``config``) import neither torch nor
any heavy plugin module. Errors a user can fix print one line and exit with code 2.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import typer

from tvae_core._errors import TvaeError, UsageError
from tvae_core._registry import KINDS

app = typer.Typer(
    name="tvae",
    help="Train Ternary VAEs: hyperbolic embeddings of the 3^n ternary operations.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
plugins_app = typer.Typer(
    help="List installed plugins (name, distribution, version, hooks, components, status).",
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode=None,
)
app.add_typer(plugins_app, name="plugins")


def _print_version(value: bool) -> None:
    if value:
        import tvae_core

        typer.echo(f"tvae {tvae_core.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        help="Print tvae's version and exit.",
    ),
) -> None:
    """Train Ternary VAEs: hyperbolic embeddings of the 3^n ternary operations."""


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


def _manager(plugins: list[str] | None) -> Any:
    """The command's plugin manager: the one start-up loaded, unless --plugin changes it."""
    if not plugins and _startup_manager is not None:
        return _startup_manager
    from tvae_core._plugins import PluginManager

    return PluginManager(plugins or [])


def _console() -> Any:
    from rich.console import Console

    return Console(emoji=False)  # ":name:" in a description is text, not an emoji


def _print_table(
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
    _console().print(table)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# -- run ---------------------------------------------------------------------------------------
@app.command()
def run(
    config: Path | None = typer.Argument(
        None, help="YAML or TOML config; none runs the embedded default.", show_default=False
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
    from tvae_core._checkpoint import load_checkpoint
    from tvae_core._config import apply_overrides, build_config, load_config
    from tvae_core._engine import Trainer
    from tvae_core._rundir import RunDir, find_latest_run

    pm = _manager(plugin)
    sets = set_ or []
    resume_path: Path | None = None
    resume_state = None
    run_path: Path | None = None
    if resume is not None:
        if config is not None:
            raise UsageError(
                "give either CONFIG or --resume: a resumed run keeps its own config (change values with --set)"
            )
        if resume == "last":
            out_dir = out if out is not None else Path(load_config().trainer.out_dir)
            run_path = find_latest_run(out_dir, name)
            resume_path = run_path / "checkpoints" / "last.pt"
        else:
            p = Path(resume)
            if p.is_dir():
                run_path, resume_path = p, p / "checkpoints" / "last.pt"
            else:
                resume_path = p
                if p.parent.name == "checkpoints" and (p.parent.parent / "run.json").exists():
                    run_path = p.parent.parent
        resume_state = load_checkpoint(resume_path)
        from tvae_core._checkpoint import check_run_checkpoint

        check_run_checkpoint(resume_state, resume_path)
        cfg = build_config(apply_overrides(resume_state["config"], sets), source=str(resume_path))
    else:
        cfg = load_config(config, sets)
    source = str(config) if config is not None else None
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
            _print_json(info)
        else:
            for k, v in info.items():
                typer.echo(f"{k}: {v}")
            typer.echo("dry run: every component built; no training done")
        return
    is_main = int(os.environ.get("RANK", "0")) == 0
    run_dir = None
    if is_main:
        if run_path is not None:
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
    except KeyboardInterrupt:
        if is_main:
            where = run_dir.path if run_dir else "-"
            again = "".join(f" --plugin {p}" for p in plugin or [])  # the exact command to go on
            typer.echo(
                f"interrupted; state saved in {where}; continue with: tvae run --resume {where}{again}",
                err=True,
            )
        raise typer.Exit(130) from None
    if not is_main:
        return
    if json_out:
        _print_json(summary.as_dict())
        return
    _print_summary(summary)


def _print_summary(summary: Any) -> None:
    from rich.table import Table

    console = _console()
    table = Table(
        title=f"{summary.status}: {summary.stop_reason} ({summary.epochs} epochs, {summary.wall_s:.1f} s)"
    )
    table.add_column("metric")
    table.add_column("final", justify="right")
    table.add_column("best", justify="right")
    for key in sorted(k for k in summary.final if k.startswith("val/")):
        best = summary.best.get(key)
        table.add_row(key, f"{summary.final[key]:.6g}", "" if best is None else f"{best:.6g}")
    console.print(table)
    if summary.run_dir:
        console.print(f"run folder: {summary.run_dir}")


def _relaunch_with_torchrun(nproc: int) -> int:
    """Run this same ``tvae run`` command (minus ``--nproc``) as ``nproc`` torchrun workers."""
    import subprocess

    args = list(_argv if _argv is not None else sys.argv[1:])
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


# -- listing -----------------------------------------------------------------------------------
def _kinds(incomplete: str) -> list[str]:
    """Shell completion of a component kind."""
    return [k for k in KINDS if k.startswith(incomplete)]


@app.command("list")
def list_(
    kind: str | None = typer.Argument(
        None, help=f"One of: {', '.join(KINDS)}.", show_default=False, autocompletion=_kinds
    ),
    plugin: list[str] | None = PluginOpt,
    json_out: bool = JsonOpt,
) -> None:
    """List registered components: kind, name, plugin, version, description."""
    from tvae_core._registry import components_table

    if kind is not None:
        kind = kind.rstrip("s") if kind.rstrip("s") in KINDS else kind
        if kind not in KINDS:
            import difflib

            close = difflib.get_close_matches(kind, KINDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; kinds: {', '.join(KINDS)}"
            raise UsageError(f"unknown component kind {kind!r}{hint}")
    pm = _manager(plugin)
    rows = components_table(
        sorted(pm.registry.all(kind), key=lambda c: (KINDS.index(c.kind), c.name, c.plugin))
    )
    if json_out:
        _print_json(rows)
        return
    names = [r["name"] for r in rows]
    _print_table(
        ("kind", "name", "plugin", "version", "description"),
        [
            (
                r["kind"],
                r["qualified_name"] if names.count(r["name"]) > 1 else r["name"],
                r["plugin"],
                r["version"] or "",
                r["description"],
            )
            for r in rows
        ],
    )
    failed = pm.failed()
    if failed:
        typer.echo(f"{len(failed)} plugin(s) failed to load; see `tvae plugins`", err=True)


@plugins_app.callback()
def plugins_cmd(
    ctx: typer.Context,
    plugin: list[str] | None = PluginOpt,
    json_out: bool = JsonOpt,
) -> None:
    """List plugins with their status; failed ones show their error."""
    if ctx.invoked_subcommand is not None:
        return
    pm = _manager(plugin)
    infos = pm.plugins()
    if json_out:
        _print_json([i.as_dict() for i in infos])
        return
    _print_table(
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
    from tvae_core._plugin_check import check_plugin

    report = check_plugin(spec)
    if json_out:
        _print_json(report.as_dict())
    else:
        typer.echo(report.render())
    if not report.ok:
        raise typer.Exit(1)


@app.command("new-plugin")
def new_plugin(
    name: str = typer.Argument(
        ..., help="The plugin's name, e.g. 'centroid' (distribution tvae-centroid)."
    ),
    directory: Path = typer.Option(Path("."), "--dir", help="Where to create the project folder."),
) -> None:
    """Create a ready-to-install plugin package with an example loss, callback and tests."""
    from tvae_core._scaffold import create_plugin, next_steps

    typer.echo(next_steps(create_plugin(name, directory)))


@app.command()
def show(
    kind: str = typer.Argument(..., help=f"One of: {', '.join(KINDS)}.", autocompletion=_kinds),
    name: str = typer.Argument(..., help="The component's name (or plugin:name)."),
    plugin: list[str] | None = PluginOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Show a component's settings: types, defaults and docs."""
    if kind not in KINDS:
        raise UsageError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
    pm = _manager(plugin)
    component = pm.registry.get(kind, name)
    model = component.settings_model()
    settings = []
    for field_name, f in model.model_fields.items():
        ann = f.annotation
        type_s = getattr(ann, "__name__", None) or str(ann).replace("typing.", "")
        settings.append(
            {
                "name": field_name,
                "type": type_s,
                "required": f.is_required(),
                "default": None if f.is_required() else f.get_default(call_default_factory=True),
                "description": f.description or "",
            }
        )
    data = {
        "kind": component.kind,
        "name": component.name,
        "plugin": component.plugin,
        "distribution": component.distribution,
        "version": component.version,
        "description": component.description,
        "factory": component.factory_ref
        if isinstance(component.factory_ref, str)
        else f"{component.factory_ref.__module__}:{component.factory_ref.__qualname__}",
        "settings": settings,
    }
    if json_out:
        _print_json(data)
        return
    typer.echo(f"{kind} {component.name} — {data['description']}")
    typer.echo(f"from {component.origin}; factory {data['factory']}")
    _print_table(
        ("setting", "type", "default", "description"),
        [
            (
                s["name"],
                s["type"],
                "(required)" if s["required"] else repr(s["default"]),
                s["description"],
            )
            for s in settings
        ],
    )


@app.command()
def validate(
    config: Path = typer.Argument(..., help="The config file to check."),
    plugin: list[str] | None = PluginOpt,
    set_: list[str] | None = SetOpt,
) -> None:
    """Resolve plugins and build every component of CONFIG without training."""
    from tvae_core._config import load_config
    from tvae_core._engine import Trainer

    cfg = load_config(config, set_ or [])
    Trainer(cfg, plugins=_manager(plugin), source=str(config)).setup()
    typer.echo(
        f"{config}: valid ({len(cfg.losses)} losses, {len(cfg.metrics)} metrics, {len(cfg.callbacks)} callbacks)"
    )


@app.command("config")
def config_cmd(
    schema: bool = typer.Option(
        False,
        "--schema",
        help="Print the JSON Schema (draft 2020-12) of a config file instead, with the "
        "installed components' settings.",
    ),
    plugin: list[str] | None = PluginOpt,
) -> None:
    """Print the default config as YAML, ready to edit and pass to `tvae run`."""
    if schema:
        from tvae_core._schema import config_schema

        sys.stdout.write(json.dumps(config_schema(_manager(plugin)), indent=2) + "\n")
        return
    from tvae_core._config import default_config_text

    sys.stdout.write(default_config_text())


@app.command()
def export(
    source: Path = typer.Argument(..., help="A run folder or a checkpoint file."),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="The .npz to write (default: <run>/embeddings.npz or beside the checkpoint).",
    ),
    plugin: list[str] | None = PluginOpt,
) -> None:
    """Write the posterior means of every operation (and their decoding) to an .npz."""
    from tvae_core._export import export_embeddings

    path = export_embeddings(source, out, plugins=_manager(plugin))
    typer.echo(f"wrote {path}")


from tvae_core import _cli_experiments  # noqa: E402  (runs, evaluate, sweep)

_cli_experiments.register(app)


# -- entry point -------------------------------------------------------------------------------
def _add_plugin_commands() -> None:
    global _startup_manager
    if os.environ.get("TVAE_NO_PLUGIN_COMMANDS"):
        return
    try:
        from tvae_core._plugins import PluginManager

        pm = PluginManager([])
        pm.add_commands(app)
    except TvaeError:
        return
    _startup_manager = pm  # commands without --plugin reuse it: plugins load once per process


_argv: list[str] | None = None  # the arguments main() got: `run --nproc` passes them on
# The plugin manager that added plugin commands at start-up (None before main() or when
# TVAE_NO_PLUGIN_COMMANDS is set).
_startup_manager: Any = None


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the app and turns tvae errors into one-line messages."""
    global _argv, _startup_manager
    _argv = list(sys.argv[1:] if argv is None else argv)
    _startup_manager = None
    _add_plugin_commands()
    try:
        code = app(args=argv, prog_name="tvae", standalone_mode=False)
        # Without standalone mode click returns a typer.Exit's code instead of exiting.
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except TvaeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        typer.echo(f"error: {'; '.join(lines)}", err=True)  # always one line
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        # Usage errors of the click layer inside typer (bad option, missing argument).
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
