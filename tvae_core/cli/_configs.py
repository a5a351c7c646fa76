"""``tvae validate`` and ``tvae config``: check a config, print the default one, a preset or the schema; how a CONFIG argument (a file or a preset) is read."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from tvae_core._errors import UsageError
from tvae_core.cli._app import PluginOpt, SetOpt, manager


def looks_like_a_preset(config: Path) -> bool:
    """A bare name (no folder, no .yaml/.yml/.toml) that is not a file: a preset's name."""
    text = str(config)
    return (
        not config.exists()
        and "/" not in text
        and "\\" not in text
        and config.suffix.lower() not in (".yaml", ".yml", ".toml")
    )


def preset_or_error(pm: Any, name: str) -> Any:
    """The preset ``name`` of the loaded plugins, or a one-line error with the close match."""
    import difflib

    preset = pm.registry.preset(name)
    if preset is not None:
        return preset
    names = sorted({p.name for p in pm.registry.presets()})
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"presets: {', '.join(names) or 'none'}"
    raise UsageError(f"{name}: no such config file or preset", hint=hint)


def load_run_config(config: Path | None, sets: list[str], pm: Any) -> tuple[Any, str | None]:
    """The run config CONFIG means (a file, a preset, or the default) and its source."""
    from tvae_core._config import apply_overrides, build_config, load_config, merge_with_default
    from tvae_core._config.overrides import blame_overrides
    from tvae_core._errors import TvaeError

    if config is not None and looks_like_a_preset(config):
        preset = preset_or_error(pm, str(config))
        source: str | None = f"preset {preset.qualified_name}"
        data = apply_overrides(merge_with_default(preset.data()), sets)
        try:
            cfg = build_config(data, source=source)
        except TvaeError as exc:
            raise blame_overrides(exc, data, sets) from None
    else:
        cfg = load_config(config, sets)
        source = str(config) if config is not None else None
    if sets:  # a component's setting given by --set: its error names the --set, not the file
        from tvae_core._engine.build import plan_run

        try:
            plan_run(cfg, pm, source=source)
        except TvaeError as exc:
            raise blame_overrides(exc, cfg.to_dict(), sets) from None
    return cfg, source


def validate(
    config: Path | None = typer.Argument(
        None,
        help="The config file (or preset) to check; none checks the default run, as "
        "`tvae run` without one trains it.",
        show_default=False,
    ),
    plugin: list[str] | None = PluginOpt,
    set_: list[str] | None = SetOpt,
) -> None:
    """Resolve plugins and build every component of CONFIG without training."""
    from tvae_core._engine.trainer import Trainer

    pm = manager(plugin)
    cfg, source = load_run_config(config, set_ or [], pm)
    Trainer(cfg, plugins=pm, source=source).setup()
    shown = config if config is not None else "the default config"
    typer.echo(
        f"{shown}: valid ({len(cfg.losses)} losses, {len(cfg.metrics)} metrics, {len(cfg.callbacks)} callbacks)"
    )


def config_cmd(
    name: str | None = typer.Argument(
        None, help="A preset (`tvae list preset`); none prints the default run.", show_default=False
    ),
    schema: bool = typer.Option(
        False,
        "--schema",
        help="Print the JSON Schema (draft 2020-12) of a config file instead, with the "
        "installed components' settings.",
    ),
    plugin: list[str] | None = PluginOpt,
) -> None:
    """Print the default config (or a preset) as YAML, ready to edit and pass to `tvae run`."""
    if schema:
        if name is not None:
            raise UsageError(
                "give either a preset NAME or --schema", hint="the schema covers every config"
            )
        from tvae_core._plugins.config_schema import config_schema

        sys.stdout.write(json.dumps(config_schema(manager(plugin)), indent=2) + "\n")
        return
    if name is None:
        # the shipped file as it is, read without importing the config schema (pydantic):
        # the same text as tvae_core._config.default_config_text(), 0.2-0.4 s sooner
        from tvae_core.cli._default import default_config_text

        sys.stdout.write(default_config_text())
        return
    text = preset_or_error(manager(plugin), name).text()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
