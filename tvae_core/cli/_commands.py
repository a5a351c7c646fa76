"""The core's commands registered on the application, in the order ``tvae --help`` lists them."""

from tvae_core.cli._app import app, build_cli, main
from tvae_core.cli._configs import config_cmd, validate
from tvae_core.cli._evaluate import evaluate
from tvae_core.cli._listing import list_, show
from tvae_core.cli._plugins import new_plugin
from tvae_core.cli._run import run
from tvae_core.cli._runs import runs_app
from tvae_core.cli._sweep import sweep

app.command("run")(run)
app.add_typer(runs_app, name="runs")
app.command("evaluate")(evaluate)
app.command("sweep")(sweep)
app.command("list")(list_)
app.command("new-plugin")(new_plugin)
app.command("show")(show)
app.command("validate")(validate)
app.command("config")(config_cmd)

__all__ = ["app", "build_cli", "main"]
