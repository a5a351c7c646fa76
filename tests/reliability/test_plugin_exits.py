"""A plugin's ``sys.exit()`` or ``print()`` does not take tvae's commands with it, and
``--json`` errors reach stdout as JSON (issue 12, item 20)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TOY_PLUGIN
from tests.reliability.support import cli, one_line, toy_config, write_config

EXIT_IN_HOOK = """
import sys
from tvae_core import hookimpl

@hookimpl
def tvae_register_losses(register):
    sys.exit(3)
"""
EXIT_IN_CALLBACK = """
import sys
from tvae_core import Callback, hookimpl

class Quit(Callback):
    def on_epoch_end(self, epoch, logs):
        sys.exit(0)

@hookimpl
def tvae_register_callbacks(register):
    register("quit", Quit, description="calls sys.exit(0)")
"""
EXIT_IN_COMMANDS = """
import sys
from tvae_core import hookimpl

@hookimpl
def tvae_add_commands(app):
    sys.exit(4)
"""
PRINTS = """
print("hello from import")
from tvae_core import hookimpl

@hookimpl
def tvae_register_metrics(register):
    print("hello from a hook")
"""


def _plugin(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return str(path)


def test_sys_exit_in_a_registration_hook_fails_only_the_plugin(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plugin = _plugin(tmp_path, "exits", EXIT_IN_HOOK)
    code, out, err = cli(capsys, "--plugin", plugin, "list")
    assert code == 0, err
    assert "adam" in out
    code, out, _ = cli(capsys, "--plugin", plugin, "plugins")
    assert code == 0 and "tvae_register_losses called sys.exit(3)" in out
    config = write_config(tmp_path / "c.yaml", toy_config(epochs=1))
    code, _, err = cli(capsys, "-p", plugin, "-p", str(TOY_PLUGIN), "run", str(config))
    assert code == 0, err  # a run that does not need it works


def test_sys_exit_in_a_command_hook_ends_no_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TVAE_NO_PLUGIN_COMMANDS")
    plugin = _plugin(tmp_path, "exits_in_commands", EXIT_IN_COMMANDS)
    code, out, err = cli(capsys, "--plugin", plugin, "list")
    assert code == 0, err
    assert "adam" in out


def test_sys_exit_in_a_callback_fails_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plugin = _plugin(tmp_path, "quits", EXIT_IN_CALLBACK)
    config = write_config(tmp_path / "c.yaml", toy_config(epochs=2, callbacks=[{"name": "quit"}]))
    code, _, err = cli(
        capsys, "-p", plugin, "-p", str(TOY_PLUGIN), "run", str(config), "--out", "o", "--name", "r"
    )
    assert code == 1
    line = one_line(err)
    assert "callback 'quit' of plugin 'quits'" in line and "called sys.exit(0)" in line
    summary = json.loads(Path("o/r/summary.json").read_text())
    assert summary["status"] == "failed" and "sys.exit(0)" in summary["error"]


def test_a_plugin_that_prints_keeps_json_output_clean(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plugin = _plugin(tmp_path, "prints", PRINTS)
    config = write_config(tmp_path / "c.yaml", toy_config(epochs=1))
    args = ["-p", plugin, "-p", str(TOY_PLUGIN), "run", str(config), "--json"]
    code, out, err = cli(capsys, *args, "--out", "o", "--name", "r")
    assert code == 0, err
    assert json.loads(out)["status"] == "completed"
    assert "hello from import" in err and "hello from a hook" in err


def test_a_json_error_is_a_json_object_on_stdout(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = cli(capsys, "run", "nosuch.yaml", "--json")
    assert code == 2
    assert one_line(err) == "error: nosuch.yaml: no such config file"
    assert json.loads(out) == {
        "error": {
            "message": "nosuch.yaml: no such config file",
            "type": "ConfigError",
            "exit_code": 2,
            "source": "nosuch.yaml",
        }
    }
    bad = write_config(tmp_path / "b.yaml", {**toy_config(), "epochs": "many"})
    code, out, _ = cli(capsys, "-p", str(TOY_PLUGIN), "run", str(bad), "--json")
    assert code == 2
    error = json.loads(out)["error"]
    assert error["where"] == "epochs" and error["exit_code"] == 2
