"""Test doubles for the callbacks: a fake trainer with the attributes the core's contract lists."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from tvae_core import Control, save_checkpoint


def make_trainer(run_dir: Path | None, model: torch.nn.Module | None = None) -> SimpleNamespace:
    """A SimpleNamespace standing in for ``tvae_core.Trainer`` (files through the core's saver)."""
    model = model or torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    trainer = SimpleNamespace(
        model=model,
        optimizer=optimizer,
        run_dir=run_dir,
        control=Control(),
        epoch=0,
        global_step=0,
        config={"seed": 0},
        saved=[],
    )

    def save(path: Path) -> Path:
        trainer.saved.append(Path(path))
        state: dict[str, Any] = {
            "epoch": trainer.epoch,
            "model_state_dict": model.state_dict(),
            "optimizer_state_dict": optimizer.state_dict(),
            "config": trainer.config,
        }
        return save_checkpoint(state, path)

    trainer.save_checkpoint = save
    return trainer


@pytest.fixture
def fake_trainer(tmp_path: Path) -> SimpleNamespace:
    return make_trainer(tmp_path / "run")
