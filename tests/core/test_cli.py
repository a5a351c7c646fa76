"""The CLI: each command's output (tables and --json), exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import TOY_CONFIG, TOY_PLUGIN
from tvae_core.cli import main

TOY = ["--plugin", str(TOY_PLUGIN)]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def toy_file(tmp_path: Path) -> Path:
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(TOY_CONFIG))
    return path


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TVAE_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("TVAE_NO_PLUGIN_COMMANDS", "1")
    monkeypatch.chdir(tmp_path)


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "list", "--json", *TOY)
    rows = json.loads(out)
    assert code == 0
    assert {"kind": "loss", "name": "mse", "plugin": "toy_plugin"}.items() <= next(
        r for r in rows if r["name"] == "mse"
    ).items()
    assert {"kind", "name", "plugin", "version", "description"} <= set(rows[0])


def test_list_kind_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "list", "optimizer")
    assert code == 0 and "adam" in out and "mse" not in out


def test_list_piped_prints_plain_aligned_columns(capsys: pytest.CaptureFixture[str]) -> None:
    """Not a terminal: one row per line, nothing drawn or folded, so grep and cut work."""
    code, out, _ = cli(capsys, "list", *TOY)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["kind", "name", "plugin", "version", "description"]
    assert not any(ch in out for ch in "│┃━─")
    name_at = lines[0].index("name")
    mse = next(line for line in lines if " mse " in line)
    assert mse.index("mse") == name_at and mse.startswith("loss")
    assert len(lines) == 1 + len(json.loads(cli(capsys, "list", "--json", *TOY)[1]))


def test_tables_on_a_terminal_are_rich_tables(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setenv("COLUMNS", "200")
    bad = tmp_path / "bad_plugin.py"
    bad.write_text("import not_a_module_anywhere\n")
    code, out, _ = cli(capsys, "plugins", *TOY, "--plugin", str(bad))
    assert code == 0 and "┃" in out
    row = next(line for line in out.splitlines() if "bad_plugin" in line)
    assert "failed: ModuleNotFoundError" in row


def test_a_command_loads_the_plugins_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start-up (plugin commands) and the command itself share one plugin manager.

    Start-up reads the ``--plugin`` values of the whole command line, so a command with its
    own ``--plugin`` reuses that manager too.
    """
    from tvae_core import PluginManager

    calls = []

    def discovered() -> list[Any]:
        calls.append(1)
        return []

    monkeypatch.delenv("TVAE_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.delenv("TVAE_NO_PLUGIN_COMMANDS")
    monkeypatch.setattr(PluginManager, "_entry_points", staticmethod(discovered))
    code, out, _ = cli(capsys, "list", "optimizer", "--json")
    assert code == 0 and "adam" in _names(json.loads(out)) and len(calls) == 1
    code, _, _ = cli(capsys, "list", "optimizer", "--json", "--plugin", "no:nothing")
    assert code == 0 and len(calls) == 2  # one more command, one more read


@pytest.mark.parametrize("command", [["--help"], ["list"], ["plugins"]])
def test_listing_commands_import_no_heavy_module(command: list[str]) -> None:
    """What makes `tvae list` slow to start: torch, geoopt, or pydantic (typer 0.27+ coercion)."""
    probe = (
        "import sys\nfrom tvae_core.cli import main\ntry:\n"
        f"    main({command!r})\nexcept SystemExit:\n    pass\n"
        "heavy = ('torch', 'geoopt', 'pydantic', 'numpy', 'matplotlib')\n"
        "print(*[m for m in heavy if m in sys.modules], file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVAE_")}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1:] in ([], [""]), done.stderr


def test_list_unknown_kind(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "list", "optimiser")
    assert code == 2
    assert err.strip() == "error: unknown component kind 'optimiser'; did you mean 'optimizer'?"


def test_plugins_json_shows_failed_plugin(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad_plugin.py"
    bad.write_text("import not_a_module_anywhere\n")
    code, out, _ = cli(capsys, "plugins", "--json", *TOY, "--plugin", str(bad))
    infos = {p["name"]: p for p in json.loads(out)}
    assert code == 0
    assert infos["toy_plugin"]["status"] == "loaded"
    assert "tvae_register_losses" in infos["toy_plugin"]["hooks"]
    assert "loss:mse" in infos["toy_plugin"]["components"]
    assert infos["bad_plugin"]["status"] == "failed"
    assert "ModuleNotFoundError" in infos["bad_plugin"]["error"]


def test_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "show", "scheduler", "warmup_cosine", "--json")
    data = json.loads(out)
    assert code == 0
    warm = next(s for s in data["settings"] if s["name"] == "warmup_epochs")
    assert warm == {
        "name": "warmup_epochs",
        "type": "int",
        "required": False,
        "default": 5,
        "description": "epochs of linear warm-up.",
    }


def test_show_unknown_component(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "show", "optimizer", "adan")
    assert code == 2 and "did you mean 'adam'" in err and "Traceback" not in err


def test_config_prints_the_default_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "config")
    assert code == 0
    assert yaml.safe_load(out)["model"]["name"] == "ternary_vae"


def test_validate_ok_and_constructor_complaint(
    capsys: pytest.CaptureFixture[str], toy_file: Path, tmp_path: Path
) -> None:
    code, out, _ = cli(capsys, "validate", str(toy_file), *TOY)
    assert code == 0 and "valid" in out
    code, _, err = cli(capsys, "validate", str(toy_file), *TOY, "--set", "losses[0].scale=-1")
    assert code == 2
    assert "losses[0]: loss 'mse' of plugin 'toy_plugin'" in err and "scale must be positive" in err


def test_run_json_then_resume_last(
    capsys: pytest.CaptureFixture[str], toy_file: Path, tmp_path: Path
) -> None:
    code, out, _ = cli(
        capsys,
        "run",
        str(toy_file),
        *TOY,
        "--out",
        "out",
        "--name",
        "first",
        "--json",
        "--set",
        "trainer.progress=false",
    )
    summary = json.loads(out)
    assert code == 0 and summary["status"] == "completed" and summary["epochs"] == 4
    assert (tmp_path / "out" / "first" / "summary.json").is_file()
    code, out, _ = cli(
        capsys, "run", *TOY, "--out", "out", "--resume", "last", "--set", "epochs=6", "--json"
    )
    summary = json.loads(out)
    assert code == 0 and summary["epochs"] == 6
    assert summary["run_dir"].endswith("first")


def test_run_dry_run(capsys: pytest.CaptureFixture[str], toy_file: Path, tmp_path: Path) -> None:
    code, out, _ = cli(capsys, "run", str(toy_file), *TOY, "--dry-run", "--json")
    info = json.loads(out)
    assert code == 0 and info["train_batches_per_epoch"] == 4 and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "missing.yaml"], "missing.yaml: no such config file"),
        (
            ["run", "TOY", "--set", "model.hiden=3"],
            "--set model.hiden=3: unknown key 'hiden'; did you mean 'hidden'?",
        ),
        (
            ["run", "TOY", "--set", "optimizer.name=adan"],
            "--set optimizer.name=adan: no optimizer named 'adan'; did you mean 'adam'?",
        ),
        (
            ["run", "TOY", "--set", "plugins.required=['tvae-nonexistent>=1']"],
            "tvae-nonexistent is not installed",
        ),
        (
            ["run", "--resume", "last", "--out", "nowhere"],
            "no run with checkpoints/last.pt under nowhere/",
        ),
        (["run", "--resume", "nowhere.pt"], "nowhere.pt: no such checkpoint file"),
        (["run", "TOY", "--resume", "last"], "give either CONFIG or --resume"),
    ],
)
def test_usage_and_config_errors_exit_2_in_one_line(
    capsys: pytest.CaptureFixture[str], toy_file: Path, args: list[str], fragment: str
) -> None:
    args = [str(toy_file) if a == "TOY" else a for a in args]
    code, _, err = cli(capsys, *args, *TOY)
    assert code == 2, err
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "list", "--bogus")
    assert code == 2 and "No such option" in err


def test_console_script_end_to_end(toy_file: Path, tmp_path: Path) -> None:
    """The installed entry point: a real process, exit codes, no traceback."""
    env = {**os.environ, "TVAE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    exe = [sys.executable, "-m", "tvae_core"]
    ok = subprocess.run(
        [*exe, "run", str(toy_file), *TOY, "--out", str(tmp_path / "o"), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "completed"
    bad = subprocess.run(
        [*exe, "run", str(toy_file), *TOY, "--set", "epochs=zero"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2
    assert (
        "--set epochs=zero: Input should be a valid integer" in bad.stderr
        and "Traceback" not in bad.stderr
    )


def _names(rows: list[dict[str, Any]]) -> set[str]:
    return {r["name"] for r in rows}


def test_new_plugin_then_check_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = cli(capsys, "new-plugin", "centroid", "--dir", str(tmp_path))
    assert code == 0 and "pip install -e" in out
    project = tmp_path / "tvae-centroid"
    assert (project / "pyproject.toml").is_file()
    code, out, _ = cli(capsys, "plugins", "check", str(project), "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    assert any("centroid_latent_norm" in line for line in report["passed"])


def test_plugins_check_reports_a_broken_plugin(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken_hooks.py"
    broken.write_text(
        "from tvae_core import hookimpl\n\n@hookimpl\ndef tvae_register_loss(register):\n    pass\n"
    )
    code, out, _ = cli(capsys, "plugins", "check", str(broken))
    assert code == 1
    assert "tvae_register_loss" in out and "fix:" in out


def test_show_keeps_square_brackets_in_docs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plugin = tmp_path / "bracket_plugin.py"
    plugin.write_text(
        "from tvae_core import hookimpl\n\n"
        "def make(beta: float = 1.0) -> object:\n"
        '    """A loss.\n\n    Args:\n        beta: kept within [beta_min, beta_max].\n    """\n'
        "    return object()\n\n"
        "@hookimpl\ndef tvae_register_losses(register):\n    register('bracketed', make)\n"
    )
    code, out, _ = cli(capsys, "show", "loss", "bracketed", "--plugin", str(plugin))
    assert code == 0 and "[beta_min, beta_max]" in out


@pytest.mark.parametrize(
    ("given", "specs", "args"),
    [
        (["list", "--plugin", "a.py"], ["a.py"], ["list", "--plugin", "a.py"]),
        (["--plugin", "a.py", "hello", "-x"], ["a.py"], ["hello", "--plugin", "a.py", "-x"]),
        (["run", "--plugin=no:b", "-p", "c"], ["no:b", "c"], ["run", "--plugin=no:b", "-p", "c"]),
        (["--help"], [], ["--help"]),
    ],
)
def test_plugin_options_are_read_from_the_whole_command_line(
    given: list[str], specs: list[str], args: list[str]
) -> None:
    from tvae_core.cli._group import split_plugin_args

    assert split_plugin_args(given) == (specs, args)
