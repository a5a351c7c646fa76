"""tvae runs, runs compare, evaluate, config --schema, run --print-config, --version, completion."""

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
from tests.core.test_cli import cli
from tvae_core import flatten_config
from tvae_core._run.history import find_runs, read_run

TOY = ["--plugin", str(TOY_PLUGIN)]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TVAE_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("TVAE_NO_PLUGIN_COMMANDS", "1")
    monkeypatch.chdir(tmp_path)


def _train(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, *sets: str) -> Path:
    config = tmp_path / "toy.yaml"
    config.write_text(yaml.safe_dump(TOY_CONFIG))
    args = ["run", str(config), *TOY, "--out", str(tmp_path / "runs"), "--name", name, "--json"]
    for s in sets:
        args += ["--set", s]
    code, _, err = cli(capsys, *args)
    assert code == 0, err
    return tmp_path / "runs" / name


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two toy runs (lr 0.01 and 0.02) trained once for the module's tests."""
    from tvae_core import PluginManager, Trainer, build_config

    root = tmp_path_factory.mktemp("history") / "runs"
    for name, lr in (("a", 0.01), ("b", 0.02)):
        data = {**TOY_CONFIG, "optimizer": {"name": "adam", "lr": lr}}
        pm = PluginManager([str(TOY_PLUGIN)], autoload=False)
        Trainer(build_config(data), plugins=pm, run_dir=root / name).fit()
    return root


def test_runs_json_lists_every_run_with_status_and_final_metrics(
    capsys: pytest.CaptureFixture[str], two_runs: Path
) -> None:
    code, out, _ = cli(capsys, "runs", str(two_runs.parent), "--json")
    runs = json.loads(out)
    assert code == 0 and [r["name"] for r in runs] == ["a", "b"]
    for run in runs:
        summary = json.loads((Path(run["path"]) / "summary.json").read_text())
        assert run["status"] == "completed" == summary["status"]
        assert run["epochs"] == 4 and run["final"] == summary["final"]
        assert "val/toy_accuracy" in run["key_metrics"]


def test_runs_table_and_a_chosen_metric_column(
    capsys: pytest.CaptureFixture[str], two_runs: Path
) -> None:
    code, out, _ = cli(capsys, "runs", str(two_runs), "--metric", "val/loss")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["name", "status", "epochs", "wall_s", "start", "val/loss"]
    assert lines[1].split()[:3] == ["a", "completed", "4/4"]


def test_runs_without_a_folder_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "runs", "nowhere")
    assert code == 2 and err.strip().startswith("error: nowhere: no such folder")


def test_a_run_without_a_summary_is_unfinished(tmp_path: Path) -> None:
    run = tmp_path / "x" / "killed"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"start_time": "2026-01-01T00:00:00+00:00"}))
    (run / "metrics.jsonl").write_text('{"epoch": 1}\n{"epoch": 2}\n')
    assert find_runs(tmp_path) == [run]
    record = read_run(run)
    assert record["status"] == "unfinished" and record["epochs"] == 2


def test_runs_compare_shows_config_differences_and_metrics(
    capsys: pytest.CaptureFixture[str], two_runs: Path
) -> None:
    code, out, _ = cli(
        capsys, "runs", "compare", str(two_runs / "a"), str(two_runs / "b"), "--json"
    )
    data = json.loads(out)
    assert code == 0 and data["runs"] == ["a", "b"]
    assert data["config"] == {"optimizer.lr": [0.01, 0.02]}
    assert set(data["final"]["val/toy_accuracy"]) <= {
        json.loads((two_runs / n / "summary.json").read_text())["final"]["val/toy_accuracy"]
        for n in "ab"
    }
    code, out, _ = cli(capsys, "runs", "compare", str(two_runs / "a"), str(two_runs / "b"))
    assert code == 0 and "optimizer.lr" in out and "val/toy_accuracy" in out


def test_runs_compare_needs_run_folders(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = cli(capsys, "runs", "compare", str(tmp_path), str(tmp_path))
    assert code == 2 and "not a run folder" in err


def test_flatten_config_keys_components_by_name_and_index_when_repeated() -> None:
    flat = flatten_config(
        {
            "model": {"name": "m", "hidden_dims": [4, 4]},
            "losses": [{"name": "kl", "weight": 0.5}, {"name": "mse"}],
            "callbacks": [{"name": "c", "x": 1}, {"name": "c", "x": 2}],
            "plugins": {"required": ["a>=1"]},
        }
    )
    assert flat == {
        "model.name": "m",
        "model.hidden_dims": [4, 4],
        "losses.kl.weight": 0.5,
        "losses.mse": True,
        "callbacks.0.name": "c",
        "callbacks.0.x": 1,
        "callbacks.1.name": "c",
        "callbacks.1.x": 2,
        "plugins.required": ["a>=1"],
    }


# -- evaluate -----------------------------------------------------------------------------------
def test_evaluate_reproduces_the_runs_final_metrics_exactly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The toy model has dropout and trains with the RNG: validation must not depend on it.
    run = _train(capsys, tmp_path, "e", "trainer.val_every=3")
    code, out, err = cli(capsys, "evaluate", str(run), *TOY, "--json")
    assert code == 0, err
    result = json.loads(out)
    final = json.loads((run / "summary.json").read_text())["final"]
    assert result["epoch"] == 4
    assert result["metrics"] == {k: v for k, v in final.items() if k.startswith("val/")}


def test_evaluate_best_another_split_and_mistakes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = _train(capsys, tmp_path, "f")
    code, out, _ = cli(capsys, "evaluate", str(run / "checkpoints" / "last.pt"), *TOY, "--json")
    assert code == 0 and json.loads(out)["run"] == str(run)
    code, out, _ = cli(capsys, "evaluate", str(run), *TOY, "--set", "data.size=32", "--json")
    assert code == 0 and json.loads(out)["data"]["size"] == 32
    # The toy run wrote no best.pt: best is last.pt (the core's resolver, as tvae export).
    code, out, _ = cli(capsys, "evaluate", str(run), *TOY, "--checkpoint", "best", "--json")
    assert code == 0 and json.loads(out)["checkpoint"] == str(run / "checkpoints" / "last.pt")
    code, _, err = cli(capsys, "evaluate", str(run), *TOY, "--checkpoint", "nothing.pt")
    assert code == 2 and "no checkpoint 'nothing.pt'" in err
    code, _, err = cli(capsys, "evaluate", str(run / "checkpoints" / "last.pt"), "-c", "best")
    assert code == 2 and "give --checkpoint with a run folder" in err
    code, _, err = cli(capsys, "evaluate", str(tmp_path / "nowhere"), *TOY)
    assert code == 2 and "no such run folder or checkpoint file" in err
    code, out, _ = cli(capsys, "evaluate", str(run), *TOY)
    assert code == 0 and "val/toy_accuracy" in out


# -- config conveniences ------------------------------------------------------------------------
def test_print_config_prints_the_resolved_config(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "toy.yaml"
    config.write_text(yaml.safe_dump(TOY_CONFIG))
    code, out, _ = cli(capsys, "run", str(config), *TOY, "--set", "epochs=7", "--print-config")
    printed = yaml.safe_load(out)
    assert code == 0 and printed["epochs"] == 7 and printed["data"]["name"] == "toy_data"
    assert not (tmp_path / "runs").exists()  # nothing trained


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import tvae_core

    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.strip() == f"tvae {tvae_core.__version__}"


def _schema(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = cli(capsys, "config", "--schema", *args)
    assert code == 0, err
    return dict(json.loads(out))


def test_config_schema_is_valid_json_schema_with_component_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = _schema(capsys, *TOY)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert not list(validator.iter_errors(TOY_CONFIG))
    bad = {**TOY_CONFIG, "losses": [{"name": "mse", "scael": 2.0}]}
    errors = list(validator.iter_errors(bad))
    assert errors and "'scael' was unexpected" in errors[0].message
    bad = {**TOY_CONFIG, "optimizer": {"name": "adam", "lr": "fast"}}
    assert [list(e.absolute_path) for e in validator.iter_errors(bad)] == [["optimizer", "lr"]]
    bad = {**TOY_CONFIG, "metrics": ["toy_acuracy"]}
    assert list(validator.iter_errors(bad))
    bad = {**TOY_CONFIG, "trainer": {"val_every": 0}}
    assert list(validator.iter_errors(bad))
    assert not list(validator.iter_errors({"epochs": 3}))  # every section is optional


def test_the_default_config_validates_against_the_schema(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from tvae_core import PluginManager, default_config

    monkeypatch.delenv("TVAE_DISABLE_PLUGIN_AUTOLOAD")
    pm = PluginManager()
    if ("dataset", "ternary_ops") not in pm.registry:
        pytest.skip("tvae-ternary is not installed")
    schema = _schema(capsys)
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(default_config().to_dict()))
    assert not errors, errors[0].message


def test_shell_completion_completes_commands_and_kinds(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVAE_")}
    probe = "from tvae_core.cli import main\nmain()\n"

    def complete(words: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", probe],
            env={
                **env,
                "_TVAE_COMPLETE": "complete_bash",
                "COMP_WORDS": words,
                "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
            },
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        return done.stdout.split()

    assert complete("tvae sw") == ["sweep"]
    assert complete("tvae runs co") == ["compare"]
    assert complete("tvae list met") == ["metric"]


# -- what a run records about itself ------------------------------------------------------------
def test_a_run_writes_run_log_and_its_environment_in_run_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import logging

    run = _train(capsys, tmp_path, "logged", "epochs=2")
    lines = (run / "run.log").read_text().splitlines()
    assert "run logged: from scratch" in lines[0]
    assert [line.split("tvae.run: ")[1].split()[:2] for line in lines[1:3]] == [
        ["epoch", "1/2"],
        ["epoch", "2/2"],
    ]
    assert "completed: reached epochs=2" in lines[-1]
    assert not any(isinstance(h, logging.FileHandler) for h in logging.getLogger("tvae").handlers)
    info = json.loads((run / "run.json").read_text())
    for key in ("git_commit", "git_dirty", "hostname", "geoopt", "cuda", "cudnn", "torch"):
        assert key in info
    assert info["hostname"] and info["git_commit"] is None  # tmp_path is no repository
    # A resumed run appends to the same log.
    code, _, _ = cli(capsys, "run", "--resume", str(run), *TOY, "--set", "epochs=3", "--json")
    assert code == 0
    text = (run / "run.log").read_text()
    assert "from epoch 2" in text and "epoch 3/3" in text
