"""The callbacks inside real ``tvae_core.Trainer`` runs (toy plugin, no other plugin needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tvae_core import PluginManager, load_checkpoint
from tvae_core._config import build_config
from tvae_core._engine import Trainer

TOY = Path(__file__).with_name("cb_toy_plugin.py")


def config(callbacks: list[dict[str, Any]], epochs: int = 6) -> Any:
    return build_config(
        {
            "seed": 2,
            "epochs": epochs,
            "data": {"name": "points", "size": 48, "batch_size": 16},
            "model": {"name": "autoencoder"},
            "optimizer": {"name": "adam", "lr": 0.01},
            "scheduler": {"name": "constant"},
            "losses": [{"name": "mse"}],
            "metrics": ["coverage"],
            "callbacks": callbacks,
            "trainer": {"val_every": 1, "progress": False},
            "plugins": {"required": []},
        }
    )


def fit(callbacks: list[dict[str, Any]], run_dir: Path, epochs: int = 6, **kw: Any) -> Trainer:
    pm = PluginManager([str(TOY), "tvae_callbacks.plugin"], autoload=False)
    trainer = Trainer(config(callbacks, epochs), plugins=pm, run_dir=run_dir, **kw)
    trainer.fit()
    return trainer


def test_early_stopping_ends_the_run_and_the_reason_reaches_the_summary(tmp_path: Path) -> None:
    # min_delta 10 makes every epoch after the first a non-improvement.
    trainer = fit([{"name": "early_stopping", "patience": 2, "min_delta": 10.0}], tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "stopped_early"
    assert summary["stop_reason"].startswith(
        "early stopping: val/loss did not improve by more than 10"
    )
    assert trainer.epoch == 3


def test_coverage_plateau_with_the_seed_spelling(tmp_path: Path) -> None:
    fit(
        [{"name": "coverage_plateau", "monitor": "val_coverage", "threshold": 0.01}],
        tmp_path / "run",
    )
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "stopped_early"
    assert summary["stop_reason"].startswith("coverage target reached: val/coverage")


def test_checkpoints_are_full_core_state_and_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    fit([{"name": "checkpoint", "save_interval": 2, "keep_last": 2}, {"name": "metrics"}], run)
    folder = run / "checkpoints"
    assert sorted(p.name for p in folder.glob("*.pt")) == [
        "best.pt",
        "epoch_0004.pt",
        "epoch_0006.pt",
        "last.pt",
    ]
    ckpt = load_checkpoint(folder / "epoch_0004.pt")
    assert ckpt["epoch"] == 4 and "scheduler_state_dict" in ckpt and "callbacks" in ckpt
    state = next(v for k, v in ckpt["callbacks"].items() if k.endswith("CheckpointCallback"))
    assert state["periodic"] == ["epoch_0002.pt", "epoch_0004.pt"]
    # metrics.jsonl is the core's alone: one line per epoch, even with the metrics callback.
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 6
    # Resuming from epoch 4 to 8 keeps pruning the files of the first part.
    fit(
        [{"name": "checkpoint", "save_interval": 2, "keep_last": 2}],
        run,
        epochs=8,
        resume_from=folder / "epoch_0004.pt",
    )
    assert sorted(p.name for p in folder.glob("epoch_*.pt")) == ["epoch_0006.pt", "epoch_0008.pt"]
