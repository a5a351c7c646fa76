"""``tvae validate`` and ``tvae config``: check a config, print the default one or its schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from tvae_core.cli._app import PluginOpt, SetOpt, manager


def validate(
    config: Path = typer.Argument(..., help="The config file to check."),
    plugin: list[str] | None = PluginOpt,
    set_: list[str] | None = SetOpt,
) -> None:
    """Resolve plugins and build every component of CONFIG without training."""
    from tvae_core._config import load_config
    from tvae_core._engine.trainer import Trainer

    cfg = load_config(config, set_ or [])
    Trainer(cfg, plugins=manager(plugin), source=str(config)).setup()
    typer.echo(
        f"{config}: valid ({len(cfg.losses)} losses, {len(cfg.metrics)} metrics, {len(cfg.callbacks)} callbacks)"
    )


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
        from tvae_core._plugins.config_schema import config_schema

        sys.stdout.write(json.dumps(config_schema(manager(plugin)), indent=2) + "\n")
        return
    from tvae_core._config import default_config_text

    sys.stdout.write(default_config_text())
