"""The core's commands registered on the application, with the names, order and help that
:data:`tvae_core.cli._help.COMMANDS` gives them (``tvae --help`` prints it without typer)."""

from typing import Any

import typer

from tvae_core.cli._app import app, build_cli, main, plugins_app
from tvae_core.cli._configs import config_cmd, validate
from tvae_core.cli._evaluate import evaluate
from tvae_core.cli._help import COMMANDS
from tvae_core.cli._listing import list_, show
from tvae_core.cli._plugins import new_plugin
from tvae_core.cli._run import run
from tvae_core.cli._runs import runs_app
from tvae_core.cli._sweep import sweep

_TARGETS: dict[str, Any] = {  # a command's function, or a typer app of sub-commands
    "run": run,
    "evaluate": evaluate,
    "sweep": sweep,
    "list": list_,
    "new-plugin": new_plugin,
    "show": show,
    "validate": validate,
    "config": config_cmd,
    "plugins": plugins_app,
    "runs": runs_app,
}
for _name, _help_text in COMMANDS:
    _target = _TARGETS[_name]
    if isinstance(_target, typer.Typer):
        app.add_typer(_target, name=_name, help=_help_text)
    else:
        app.command(_name, help=_help_text)(_target)

__all__ = ["app", "build_cli", "main"]
