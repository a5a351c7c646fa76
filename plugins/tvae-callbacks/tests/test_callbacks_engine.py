"""The callbacks inside real ``tvae_core.Trainer`` runs (the core's tiny testing kit, no other plugin)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tvae_core import Trainer, load_checkpoint
from tvae_core.testing import tiny_trainer


def fit(callbacks: list[dict[str, Any]], run_dir: Path, epochs: int = 6, **kw: Any) -> Trainer:
    # The tiny run (27 operations in 3 batches of 9, ``tiny_reconstruction`` and the metric
    # ``tiny_coverage``) with a scheduler, so that checkpoints carry its state.
    config = {
        "seed": 2,
        "epochs": epochs,
        "scheduler": {"name": "constant"},
        "callbacks": callbacks,
        "trainer": {"val_every": 1},
    }
    trainer = tiny_trainer(config, ["tvae_callbacks.plugin"], run_dir=run_dir, **kw)
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


def test_under_tvae_run_patience_counts_epochs_with_validation_every_k(tmp_path: Path) -> None:
    # val_every 2, patience 4: best at the first validation (epoch 2), stopped 4 epochs
    # later at the 2nd validation without improvement (epoch 6), not at the 4th (epoch 10).
    stop = {"name": "early_stopping", "patience": 4, "min_delta": 10.0}
    trainer = tiny_trainer(
        {"seed": 2, "epochs": 12, "callbacks": [stop], "trainer": {"val_every": 2}},
        ["tvae_callbacks.plugin"],
        run_dir=tmp_path / "run",
    )
    trainer.fit()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "stopped_early", summary
    assert trainer.epoch == 6
    assert (
        "for 4 epochs (best" in summary["stop_reason"] and "at epoch 2)" in summary["stop_reason"]
    )


def test_coverage_plateau_with_the_seed_spelling(tmp_path: Path) -> None:
    # The seed guide's ``val_x`` spelling finds the engine's ``val/x`` key.
    fit(
        [{"name": "coverage_plateau", "monitor": "val_tiny_coverage", "threshold": 0.01}],
        tmp_path / "run",
    )
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "stopped_early"
    assert summary["stop_reason"].startswith("coverage target reached: val/tiny_coverage")


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
    assert ckpt["epoch"] == 4 and ckpt["scheduler_state_dict"] is not None and "callbacks" in ckpt
    state = next(v for k, v in ckpt["callbacks"].items() if k.startswith("CheckpointCallback"))
    assert state["periodic"] == ["epoch_0002.pt", "epoch_0004.pt"]
    # metrics.jsonl is the core's alone: one line per epoch, even with the metrics callback.
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 6
    # Resuming (from the latest state, epoch 6) to 8 keeps pruning the files of the first
    # part. (An earlier checkpoint of this folder is refused: it would overwrite epochs 5-6.)
    fit(
        [{"name": "checkpoint", "save_interval": 2, "keep_last": 2}],
        run,
        epochs=8,
        resume_from=folder / "last.pt",
    )
    assert sorted(p.name for p in folder.glob("epoch_*.pt")) == ["epoch_0006.pt", "epoch_0008.pt"]
