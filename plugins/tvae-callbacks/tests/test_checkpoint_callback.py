from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import torch
from tvae_callbacks import CheckpointCallback

from tvae_core import load_checkpoint


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.pt")) if folder.exists() else []


def hand_written(tmp_path: Path, **kwargs: object) -> tuple[CheckpointCallback, torch.nn.Linear]:
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    cb = CheckpointCallback(save_dir=str(tmp_path / "ckpt"), **kwargs)  # type: ignore[arg-type]
    return cb.attach(model, optimizer, config={"epochs": 6}), model


def test_periodic_files_carry_the_seed_keys_and_load_back(tmp_path: Path) -> None:
    cb, model = hand_written(tmp_path, save_interval=2, save_best=False)
    for epoch in range(6):
        cb.on_epoch_end(epoch, {"val_loss": 1.0 / (epoch + 1)})
    assert files(tmp_path / "ckpt") == ["epoch_0002.pt", "epoch_0004.pt", "epoch_0006.pt"]
    ckpt = load_checkpoint(tmp_path / "ckpt" / "epoch_0004.pt")
    assert ckpt["epoch"] == 4  # epochs completed: the seed's start_epoch for a resume
    assert ckpt["config"] == {"epochs": 6}
    assert ckpt["metrics"] == {"val_loss": pytest.approx(0.25)}
    fresh = torch.nn.Linear(4, 2)
    fresh.load_state_dict(ckpt["model_state_dict"])
    torch.optim.Adam(fresh.parameters()).load_state_dict(ckpt["optimizer_state_dict"])
    assert torch.equal(fresh.weight, model.weight)


def test_best_is_written_only_on_finite_real_improvement(tmp_path: Path) -> None:
    cb, _ = hand_written(tmp_path, save_interval=None, min_delta=0.05)
    written: list[int] = []
    for epoch, value in enumerate([3.0, 2.0, 1.99, math.nan, math.inf, 2.5, 1.0]):
        cb.on_epoch_end(epoch, {"val/loss": value})
        if (tmp_path / "ckpt" / "best.pt").exists():
            written.append(load_checkpoint(tmp_path / "ckpt" / "best.pt")["epoch"])
    assert files(tmp_path / "ckpt") == ["best.pt"]
    assert sorted(set(written)) == [1, 2, 7]
    assert cb.best == 1.0 and cb.best_epoch == 7


def test_keep_last_prunes_the_oldest_periodic_files(tmp_path: Path) -> None:
    cb, _ = hand_written(tmp_path, save_interval=1, keep_last=2, save_best=True)
    for epoch in range(5):
        cb.on_epoch_end(epoch, {"val/loss": 1.0})
    assert files(tmp_path / "ckpt") == ["best.pt", "epoch_0004.pt", "epoch_0005.pt"]


def test_retention_and_best_survive_a_resume(tmp_path: Path) -> None:
    cb, _ = hand_written(tmp_path, save_interval=1, keep_last=2)
    for epoch in range(3):
        cb.on_epoch_end(epoch, {"val/loss": 1.0 - epoch / 10})
    resumed, _ = hand_written(tmp_path, save_interval=1, keep_last=2)
    resumed.load_state_dict(cb.state_dict())
    assert resumed.best == pytest.approx(0.8)
    resumed.on_epoch_end(3, {"val/loss": 0.9})  # worse than the restored best: no best.pt
    assert load_checkpoint(tmp_path / "ckpt" / "best.pt")["epoch"] == 3
    assert files(tmp_path / "ckpt") == ["best.pt", "epoch_0003.pt", "epoch_0004.pt"]


def test_inside_the_trainer_it_uses_the_core_saver_and_the_run_folder(fake_trainer) -> None:
    cb = CheckpointCallback(save_interval=2)
    cb.on_fit_start(fake_trainer)
    for epoch in range(4):
        fake_trainer.epoch = epoch + 1
        cb.on_epoch_end(epoch, {"val/loss": 1.0})
    folder = fake_trainer.run_dir / "checkpoints"
    assert [p.name for p in fake_trainer.saved] == ["best.pt", "epoch_0002.pt", "epoch_0004.pt"]
    assert files(folder) == ["best.pt", "epoch_0002.pt", "epoch_0004.pt"]
    assert load_checkpoint(folder / "epoch_0004.pt")["epoch"] == 4


def test_save_dir_overrides_the_run_folder(fake_trainer, tmp_path: Path) -> None:
    cb = CheckpointCallback(save_dir=str(tmp_path / "elsewhere"), save_interval=1, save_best=False)
    cb.on_fit_start(fake_trainer)
    cb.on_epoch_end(0, {})
    assert files(tmp_path / "elsewhere") == ["epoch_0001.pt"]


def test_without_a_model_anywhere_the_first_save_says_to_attach_one(tmp_path: Path) -> None:
    cb = CheckpointCallback(save_dir=str(tmp_path), save_interval=1)
    with pytest.raises(RuntimeError, match=r"call checkpoint\.attach\(model, optimizer, config\)"):
        cb.on_epoch_end(0, {"val_loss": 1.0})
    assert files(tmp_path) == []


def test_a_hand_loop_without_attach_saves_its_model_found_by_name(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    config = {"epochs": 3}
    cb = CheckpointCallback(save_dir=str(tmp_path), save_interval=1, save_best=False)
    cb.on_epoch_end(0, {"val_loss": 1.0})
    assert (cb.model, cb.optimizer, cb.config) == (model, optimizer, config)
    saved = torch.load(tmp_path / "epoch_0001.pt", weights_only=False)
    assert saved["config"] == {"epochs": 3}
    assert torch.equal(saved["model_state_dict"]["weight"], model.weight.detach())


def test_without_a_folder_inside_the_trainer_it_warns(fake_trainer) -> None:
    fake_trainer.run_dir = None
    cb = CheckpointCallback()
    with pytest.warns(UserWarning, match="no folder"):
        cb.on_fit_start(fake_trainer)
    cb.on_epoch_end(9, {"val/loss": 1.0})
    assert fake_trainer.saved == []


def test_a_rank_other_than_0_neither_warns_nor_saves(fake_trainer) -> None:
    # Under tvae run --nproc N a rank other than 0 has no run folder; rank 0 saves.
    fake_trainer.rank = 1
    fake_trainer.run_dir = None
    cb = CheckpointCallback(save_interval=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cb.on_fit_start(fake_trainer)
        cb.on_epoch_end(0, {"val/loss": 1.0})
        cb.on_epoch_end(1, {"val/loss": 0.5})
    assert fake_trainer.saved == []
    assert cb.best == 0.5  # it still keeps the bookkeeping, as rank 0 does


@pytest.mark.slow
def test_tvae_run_with_two_ranks_warns_nothing_about_checkpoints(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    import yaml

    from tests.conftest import TOY_CONFIG, TOY_PLUGIN

    cfg = {
        **TOY_CONFIG,
        "epochs": 2,
        "callbacks": [{"name": "checkpoint", "save_interval": 1}],
        "data": {"name": "toy_data", "size": 40, "batch_size": 8},
        "trainer": {"val_every": 1, "progress": False, "device": "cpu"},
    }
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "TVAE_NO_PLUGIN_COMMANDS": "1"}
    cmd = [sys.executable, "-m", "tvae_core", "run", "toy.yaml", "--nproc", "2"]
    cmd += ["--out", "runs", "--name", "r", "--plugin", str(TOY_PLUGIN)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "saves nothing" not in out.stdout + out.stderr
    assert files(tmp_path / "runs" / "r" / "checkpoints")[:2] == ["best.pt", "epoch_0001.pt"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"save_interval": 0}, "save_interval must be >= 1 or None"),
        ({"keep_last": 0}, "keep_last must be >= 1 or None"),
        ({"mode": "up"}, "mode must be 'min' or 'max'"),
        ({"min_delta": math.nan}, "min_delta must be a finite number"),
    ],
)
def test_bad_settings_are_one_line_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CheckpointCallback(**kwargs)  # type: ignore[arg-type]
