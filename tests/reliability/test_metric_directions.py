"""Metrics declare how they improve; summary.json and the monitors follow (issue 12, item 11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reliability.support import PLUGINS, cli, toy_config, write_config
from tvae_core import PluginManager
from tvae_core._errors import PluginError

DIRECTION_PLUGIN = Path(__file__).parent / "direction_plugin.py"
ARGS = [*PLUGINS, "--plugin", str(DIRECTION_PLUGIN), "--plugin", "tvae_callbacks.plugin"]


def _run(capsys: pytest.CaptureFixture[str], tmp_path: Path, monitor: str) -> dict:
    config = toy_config(
        epochs=4,
        metrics=["scores"],
        callbacks=[{"name": "checkpoint", "monitor": monitor, "save_interval": None}],
        trainer={"val_every": 1},
    )
    path = write_config(tmp_path / "c.yaml", config)
    code, _, err = cli(capsys, *ARGS, "run", str(path), "--out", "out", "--name", "r")
    assert code == 0, err
    return json.loads((tmp_path / "out/r/summary.json").read_text())


def test_summary_best_follows_the_declared_direction(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    summary = _run(capsys, tmp_path, "val/falling")
    assert summary["best"]["val/falling"] == -4.0  # lower is better: the last one
    assert summary["best"]["val/rising"] == 4.0
    assert "val/ceiling" not in summary["best"]  # a constant has no best
    assert "val/ceiling" not in summary["best_epoch"]


@pytest.mark.parametrize(("monitor", "value"), [("val/falling", -4.0), ("val/rising", 4.0)])
def test_checkpoint_mode_follows_the_metric_and_summary_names_best_pt(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monitor: str, value: float
) -> None:
    summary = _run(capsys, tmp_path, monitor)
    best = summary["best_checkpoint"]
    # every validation improved in the declared direction: best.pt holds the last epoch
    assert best["epoch"] == 4
    assert best["metrics"][monitor] == value


def test_a_bad_registered_direction_fails_the_plugin(tmp_path: Path) -> None:
    source = DIRECTION_PLUGIN.read_text().replace('"ceiling": None}', '"ceiling": "up"}')
    bad = tmp_path / "bad_direction_plugin.py"
    bad.write_text(source)
    pm = PluginManager([str(bad)], autoload=False)
    with pytest.raises(PluginError):
        pm.registry.get("metric", "scores")


def test_the_ternary_metrics_declare_their_directions() -> None:
    pm = PluginManager(["tvae_ternary.plugin"], autoload=False)
    declared = {
        name: pm.registry.get("metric", name).higher_is_better_given
        for name in ("coverage", "hierarchy", "radial_accuracy", "triplet_accuracy")
    }
    assert declared == {
        "coverage": True,
        "hierarchy": {"hierarchy": False, "hierarchy_ceiling": None},
        "radial_accuracy": True,
        "triplet_accuracy": True,
    }
