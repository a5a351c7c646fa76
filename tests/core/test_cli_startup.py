"""The listing commands start fast: ``tvae config`` and ``tvae --help`` import no config
schema (pydantic), torch or plugin module, and ``tvae config`` not even typer, the plugin
layer (pluggy) or the entry points (issue 16, item 4; timings in benchmarks/README.md,
``python benchmarks/cli_startup.py``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tvae_core._config import default_config_text

_PROBE = """
import contextlib, io, json, sys
from tvae_core.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main({argv!r})
    except SystemExit:
        pass
heavy = ("pydantic", "torch", "torch._dynamo", "geoopt", "tvae_ternary", "tvae_core._config")
print(json.dumps({{"out": out.getvalue(), "imported": [m for m in heavy if m in sys.modules]}}))
"""


def _probe(argv: list[str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(argv=argv)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_tvae_config_prints_the_shipped_default_without_the_schema() -> None:
    result = _probe(["config"])
    assert result["out"] == default_config_text()
    assert result["imported"] == []


_LIGHT_PROBE = """
import contextlib, io, json, sys
from tvae_core.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    main({argv!r})
unneeded = ("typer", "importlib.metadata", "pluggy", "tvae_core.cli._app", "tvae_core._plugins.manager")
print(json.dumps({{"out": out.getvalue(), "imported": [m for m in unneeded if m in sys.modules]}}))
"""


def test_tvae_config_needs_neither_typer_nor_plugin_discovery() -> None:
    """No plugin can change the default config, so `tvae config` reads no entry point."""
    done = subprocess.run(
        [sys.executable, "-c", _LIGHT_PROBE.format(argv=["config"])],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"out": default_config_text(), "imported": []}


def test_the_command_line_package_loads_the_application_on_demand() -> None:
    from tvae_core import cli
    from tvae_core.cli import _app

    assert cli.app is _app.app
    assert "config" in cli.build_cli().commands


@pytest.mark.parametrize("argv", [["--help"], ["config", "--help"]])
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    result = _probe(argv)
    assert "Usage" in str(result["out"])
    assert result["imported"] == []
