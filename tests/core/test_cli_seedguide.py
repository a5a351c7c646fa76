"""CLI rough edges met with the seed guide in hand (issue 17, item 7)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

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
def toy_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TVAE_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("TVAE_NO_PLUGIN_COMMANDS", "1")
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(TOY_CONFIG))
    return path


@pytest.mark.parametrize(
    ("given", "kind"), [("losses", "loss"), ("metrics", "metric"), ("presets", "preset")]
)
def test_list_takes_plural_kinds(
    capsys: pytest.CaptureFixture[str], toy_file: Path, given: str, kind: str
) -> None:
    code, out, err = cli(capsys, "list", given, "--json", *TOY)
    assert code == 0, err
    rows = json.loads(out)
    assert rows and {r["kind"] for r in rows} == {kind}


def test_show_takes_a_plural_kind(capsys: pytest.CaptureFixture[str], toy_file: Path) -> None:
    code, out, err = cli(capsys, "show", "losses", "mse", "--json", *TOY)
    assert code == 0, err
    assert json.loads(out)["kind"] == "loss"
    code, _, err = cli(capsys, "show", "lossez", "mse", *TOY)
    assert code == 2
    assert err.strip() == "error: unknown component kind 'lossez'; did you mean 'loss'?"


def test_validate_without_config_validates_the_default(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tvae_ternary")
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "validate", "--set", "data.n_trits=3", "--set", "callbacks=[]")
    assert code == 0, err
    assert out.startswith("the default config: valid (")


def test_a_set_typo_is_blamed_on_the_set_not_the_file(
    capsys: pytest.CaptureFixture[str], toy_file: Path
) -> None:
    code, _, err = cli(capsys, "validate", str(toy_file), "--set", "epochz=3", *TOY)
    assert code == 2
    assert err.strip() == "error: --set epochz=3: unknown key 'epochz'; did you mean 'epochs'?"
    code, _, err = cli(capsys, "validate", str(toy_file), "--set", "model.hiden=3", *TOY)
    assert code == 2 and err.startswith("error: --set model.hiden=3: unknown key 'hiden'")
    code, _, err = cli(capsys, "validate", str(toy_file), "--set", "losses.mse.weight=-1", *TOY)
    assert code == 2 and err.startswith("error: --set losses.mse.weight=-1: ")
    # ... and a mistake in the file is still the file's
    toy_file.write_text(yaml.safe_dump({**TOY_CONFIG, "epochz": 3}))
    code, _, err = cli(capsys, "validate", str(toy_file), "--set", "epochs=3", *TOY)
    assert code == 2 and err.startswith(f"error: {toy_file}: epochz: unknown key")


def test_the_run_summary_is_plain_text_when_piped(capsys: pytest.CaptureFixture[str]) -> None:
    from tvae_core.cli._run import _print_summary

    summary = SimpleNamespace(
        status="completed",
        stop_reason="reached epochs=2",
        epochs=2,
        wall_s=1.25,
        final={"val/loss": 0.5, "val/coverage": 1.0, "train/loss": 0.4},
        best={"val/loss": 0.25},
        run_dir="runs/x",
    )
    _print_summary(summary)
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "completed: reached epochs=2 (2 epochs, 1.2 s)",
        "metric        final  best",
        "val/coverage  1",
        "val/loss      0.5    0.25",
        "run folder: runs/x",
    ]
    assert not set(out) & set("─│┏┃━┡┩└┘┌┐")


def test_the_builtins_plugin_has_a_version(
    capsys: pytest.CaptureFixture[str], toy_file: Path
) -> None:
    from importlib.metadata import version

    code, out, _ = cli(capsys, "plugins", "--json", *TOY)
    builtins = next(p for p in json.loads(out) if p["name"] == "builtins")
    assert code == 0 and builtins["version"] == version("tvae-core")
    code, out, _ = cli(capsys, "list", "optimizer", "--json", *TOY)
    assert {r["version"] for r in json.loads(out) if r["plugin"] == "builtins"} == {
        version("tvae-core")
    }
