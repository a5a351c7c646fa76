"""End to end: the callbacks in real tiny training runs, including an interrupted one resumed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from tvae_homeostasis import HomeostasisCallback

from tvae_core import Callback, ConfigError, Trainer
from tvae_core.testing import tiny_trainer

HOMEOSTASIS = {
    "name": "homeostasis",
    "target_kl": 1.0,
    "kl_tolerance": 0.2,
    "gain": 0.5,
    "loss": "tiny_kl",
    "monitor": "train/tiny_kl",
}
CONFIG: dict[str, Any] = {
    "epochs": 6,
    "losses": [
        {"name": "tiny_reconstruction", "weight": 1.0},
        {"name": "tiny_kl", "weight": 0.5},
    ],
    "callbacks": [HOMEOSTASIS],
}


class InterruptAt(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_start(self, epoch: int) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt


def _trainer(config: dict[str, Any], run_dir: Path, **kw: Any) -> Trainer:
    return tiny_trainer(config, ["tvae_homeostasis.plugin"], run_dir=run_dir, **kw)


def _homeostasis(trainer: Trainer) -> HomeostasisCallback:
    callback = trainer.callbacks.callbacks[0]
    assert isinstance(callback, HomeostasisCallback)
    return callback


def _epochs(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_homeostasis_adapts_the_kl_weight_in_a_real_run(tmp_path: Path):
    trainer = _trainer(CONFIG, tmp_path)
    summary = trainer.fit()
    assert summary.status == "completed"
    callback = _homeostasis(trainer)
    assert callback.controller.updates == 6
    kls = [record["train/tiny_kl"] for record in _epochs(tmp_path)]
    assert max(kls) < 0.8  # the tiny VAE's KL stays below the band [0.8, 1.2] ...
    assert trainer.losses.weight("tiny_kl") < 0.5 * 0.8**6  # ... so β fell every epoch
    assert trainer.losses.weight("tiny_kl") == callback.beta
    last = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert last["loss_weights"]["tiny_kl"] == callback.beta


def test_interrupted_run_resumes_with_the_same_betas(tmp_path: Path):
    reference = _trainer(CONFIG, tmp_path / "ref")
    reference.fit()
    with pytest.raises(KeyboardInterrupt):
        _trainer(CONFIG, tmp_path / "cut", callbacks=[InterruptAt(3)]).fit()
    resumed = _trainer(CONFIG, tmp_path / "cut", resume_from=tmp_path / "cut")
    resumed.fit()
    expected = _homeostasis(reference).controller.state_dict()
    assert _homeostasis(resumed).controller.state_dict() == expected
    assert resumed.losses.weight("tiny_kl") == reference.losses.weight("tiny_kl")


def test_curriculum_ramps_a_weight_in_a_real_run(tmp_path: Path):
    seen: list[float] = []

    class Watch(Callback):
        def on_fit_start(self, trainer: Any) -> None:
            self.losses = trainer.losses

        def on_batch_end(self, batch_idx: int, logs: Any) -> None:
            if batch_idx == 0:
                seen.append(self.losses.weight("tiny_kl"))

    config = {
        **CONFIG,
        "epochs": 4,
        "callbacks": [{"name": "curriculum", "losses": {"tiny_kl": 0.5}, "warmup_epochs": 3}],
    }
    assert _trainer(config, tmp_path, callbacks=[Watch()]).fit().status == "completed"
    assert seen == pytest.approx([0.05, 0.2, 0.35, 0.5])


def test_a_run_without_the_driven_loss_fails_with_the_reason(tmp_path: Path):
    config = {**CONFIG, "callbacks": [{**HOMEOSTASIS, "loss": "kl"}]}
    with pytest.raises(ConfigError, match="the run has no loss named 'kl'"):
        _trainer(config, tmp_path).fit()
