"""tvae sweep: the grid times seeds as run folders, the results table, reruns, mistakes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import TOY_CONFIG, TOY_PLUGIN
from tests.core.test_cli import cli
from tvae_core._experiments.sweep import aggregate, read_sweep_file, variants

TOY = ["--plugin", str(TOY_PLUGIN)]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TVAE_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("TVAE_NO_PLUGIN_COMMANDS", "1")
    monkeypatch.chdir(tmp_path)


def _files(tmp_path: Path, **sweep: Any) -> Path:
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(TOY_CONFIG))
    path = tmp_path / "lr.yaml"
    path.write_text(yaml.safe_dump({"base": "toy.yaml", **sweep}))
    return path


def test_variants_and_aggregate() -> None:
    assert variants({}) == [{}]
    assert variants({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    records = [
        {"status": "completed", "final": {"val/m": 1.0}},
        {"status": "stopped_early", "final": {"val/m": 3.0}},
        {"status": "failed", "final": {"val/m": 100.0}},
    ]
    stats = aggregate(records)["val/m"]
    assert stats["mean"] == 2.0 and stats["n"] == 2
    assert math.isclose(stats["std"], math.sqrt(2.0))  # sample std, n - 1


def test_grid_times_seeds_writes_runs_and_a_mean_std_table(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sweep = _files(
        tmp_path,
        set={"epochs": 2},
        grid={"optimizer.lr": [0.01, 0.02]},
        seeds=[0, 1],
    )
    code, out, err = cli(capsys, "sweep", str(sweep), "--out", "out", *TOY)
    assert code == 0, err
    names = ["lr-g0-s0", "lr-g0-s1", "lr-g1-s0", "lr-g1-s1"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["lr", *names]
    results = json.loads((tmp_path / "out" / "lr" / "results.json").read_text())
    grid = results["grid"]
    assert [v["params"] for v in grid["variants"]] == [
        {"optimizer.lr": 0.01},
        {"optimizer.lr": 0.02},
    ]
    for variant in grid["variants"]:
        values = [
            json.loads((tmp_path / "out" / r / "summary.json").read_text())["final"]["val/loss"]
            for r in variant["runs"]
        ]
        stats = variant["metrics"]["val/loss"]
        assert stats["values"] == values and stats["n"] == 2
        assert math.isclose(stats["mean"], sum(values) / 2)
    config = yaml.safe_load((tmp_path / "out" / "lr-g1-s1" / "config.yaml").read_text())
    assert config["optimizer"]["lr"] == 0.02 and config["seed"] == 1 and config["epochs"] == 2
    info = json.loads((tmp_path / "out" / "lr-g1-s1" / "sweep.json").read_text())
    assert info["params"] == {"optimizer.lr": 0.02} and info["seed"] == 1
    assert "v1: optimizer.lr=0.02" in out and "val/toy_accuracy" in out and "±" in out
    assert err.count("lr-g") == 4  # one progress line per run, on stderr
    # tvae runs lists them; the sweep's own folder is not a run.
    code, out, _ = cli(capsys, "runs", "out", "--json")
    assert sorted(r["name"] for r in json.loads(out)) == names


def test_a_rerun_reuses_finished_runs_and_resumes_unfinished_ones(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sweep = _files(tmp_path, set={"epochs": 3}, seeds=2)
    assert cli(capsys, "sweep", str(sweep), "--out", "out", *TOY)[0] == 0
    first = (tmp_path / "out" / "lr-s0" / "summary.json").read_text()
    # As if the second run had been killed after its second epoch: no summary, last.pt at 2.
    import torch

    from tvae_core import save_checkpoint

    killed = tmp_path / "out" / "lr-s1"
    (killed / "summary.json").unlink()
    state = torch.load(killed / "checkpoints" / "last.pt", weights_only=True)
    # written as a run writes it (checkpoints/SHA256SUMS records its hash)
    save_checkpoint({**state, "epoch": 2}, killed / "checkpoints" / "last.pt")
    code, _, err = cli(capsys, "sweep", str(sweep), "--out", "out", *TOY)
    assert code == 0, err
    assert "lr-s0: completed (reused)" in err and "lr-s1: completed (" in err
    assert (tmp_path / "out" / "lr-s0" / "summary.json").read_text() == first
    run = json.loads((killed / "run.json").read_text())
    assert run["resumed_from"] == str(Path("out") / "lr-s1" / "checkpoints" / "last.pt")
    epochs = [
        json.loads(line)["epoch"] for line in (killed / "metrics.jsonl").read_text().splitlines()
    ]
    assert epochs == [1, 2, 3]
    assert json.loads((killed / "summary.json").read_text())["status"] == "completed"


def test_sweep_file_mistakes_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cases = [
        ({"gird": {"optimizer.lr": [0.1]}}, "unknown key 'gird'; did you mean 'grid'?"),
        ({"grid": {"optimizer.lr": 0.1}}, "grid.optimizer.lr: expected a non-empty list"),
        ({"seeds": [0, 0]}, "seeds: expected a list of distinct seeds"),
        ({"grid": {"epochs": [2, 0]}}, "lr.yaml: grid variant 1 ({'epochs': 0}): epochs: "),
        ({"grid": {"optimizr.lr": [0.1]}}, "optimizr"),
    ]
    for body, message in cases:
        sweep = _files(tmp_path, **body)
        code, _, err = cli(capsys, "sweep", str(sweep), "--out", "out", *TOY)
        assert code == 2, (body, err)
        assert len(err.strip().splitlines()) == 1 and message in err, (body, err)
    assert not list((tmp_path / "out").glob("lr-*"))  # checked before anything trained


def test_search_without_a_backend_says_what_to_install(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sweep = _files(
        tmp_path,
        search={
            "trials": 2,
            "metric": "val/loss",
            "params": {"optimizer.lr": {"low": 0.001, "high": 0.1}},
        },
    )
    code, _, err = cli(capsys, "sweep", str(sweep), "--out", "out", *TOY, "--plugin", "no:optuna")
    assert code == 2 and "no installed plugin runs searches with backend 'optuna'" in err


def test_read_sweep_file_defaults(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text("seeds: 3\n")
    spec = read_sweep_file(path)
    assert spec["name"] == "plain" and spec["seeds"] == [0, 1, 2]
