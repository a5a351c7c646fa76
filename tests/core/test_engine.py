"""The training loop on the toy plugin: events, stopping, validation, resume, faults."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch

from tvae_core import (
    Callback,
    PluginError,
    RunContext,
    Trainer,
    TrainingError,
    build_config,
    hookimpl,
)
from tvae_core._engine.records import StepLogs
from tvae_core.testing import tiny_trainer


class Events(Callback):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_fit_start(self, trainer: Any) -> None:
        self.trainer = trainer
        self.seen.append("fit_start")

    def on_epoch_start(self, epoch: int) -> None:
        self.seen.append(f"epoch_start:{epoch}")

    def on_batch_end(self, batch_idx: int, logs: Mapping[str, float]) -> None:
        if batch_idx == 0:
            self.seen.append(f"batch_end:{sorted(logs)}")

    def on_validation_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        self.seen.append(f"validation_end:{epoch}")

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        self.seen.append(f"epoch_end:{epoch}")
        self.last_logs = dict(logs)

    def on_fit_end(self, trainer: Any) -> None:
        self.seen.append("fit_end")


class InterruptAt(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_start(self, epoch: int) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt


def fit(config: dict[str, Any], pm: Any, run_dir: Path | None = None, **kw: Any) -> Trainer:
    trainer = Trainer(build_config(config), plugins=pm, run_dir=run_dir, **kw)
    trainer.fit()
    return trainer


def test_events_in_documented_order(toy_config: dict[str, Any], toy_pm: Any) -> None:
    events = Events()
    trainer = fit(toy_config, toy_pm, callbacks=[events])
    assert events.seen[0] == "fit_start" and events.seen[-1] == "fit_end"
    assert events.seen[1:6] == [
        "epoch_start:0",
        "batch_end:['loss', 'train/loss', 'train/mse']",
        "epoch_end:0",
        "epoch_start:1",
        "batch_end:['loss', 'train/loss', 'train/mse']",
    ]
    assert "validation_end:1" in events.seen and "validation_end:0" not in events.seen
    assert {"train/loss", "train/mse", "val/loss", "val/toy_accuracy", "lr"} <= set(
        events.last_logs
    )
    assert trainer.summary.status == "completed"
    assert trainer.summary.epochs == 4


def test_run_directory_files(toy_config: dict[str, Any], toy_pm: Any, tmp_path: Path) -> None:
    fit(toy_config, toy_pm, run_dir=tmp_path / "run")
    run = tmp_path / "run"
    for name in ("config.yaml", "run.json", "metrics.jsonl", "summary.json", "checkpoints/last.pt"):
        assert (run / name).is_file(), name
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]  # numbered from 1
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["epochs"] == 4
    assert "val/toy_accuracy" in summary["final"] and "val/loss" in summary["best"]
    info = json.loads((run / "run.json").read_text())
    assert {
        "tvae",
        "torch",
        "python",
        "plugins",
        "seed",
        "start_time",
        "device",
        "world_size",
    } <= set(info)
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert {
        "epoch",
        "model_state_dict",
        "optimizer_state_dict",
        "config",
        "scheduler_state_dict",
        "rng",
        "callbacks",
        "global_step",
        "plugins",
    } <= set(ckpt)
    assert ckpt["epoch"] == 4


def test_callback_stop_is_recorded(toy_config: dict[str, Any], toy_pm: Any) -> None:
    toy_config["callbacks"] = [{"name": "recorder", "stop_after": 2}]
    trainer = fit(toy_config, toy_pm)
    assert trainer.summary.status == "stopped_early"
    assert trainer.summary.stop_reason == "recorder saw 2 epochs"
    assert trainer.summary.epochs == 2
    assert "val/toy_accuracy" in trainer.summary.final  # validated on the stopping epoch


def test_missing_required_key_is_caught_before_step_one(
    toy_config: dict[str, Any], toy_pm: Any
) -> None:
    toy_config["losses"] = [{"name": "mse"}, {"name": "needs_missing"}]
    with pytest.raises(
        PluginError, match=r"losses\[1\]: loss 'needs_missing' .* reads 'outputs.z_hyp'"
    ):
        Trainer(build_config(toy_config), plugins=toy_pm).setup()


def test_model_context_fills_unset_settings(toy_config: dict[str, Any], toy_pm: Any) -> None:
    toy_config["data"]["dim"] = 6
    trainer = Trainer(build_config(toy_config), plugins=toy_pm).setup()
    assert trainer.model.enc.in_features == 6


def test_same_seed_same_weights(toy_config: dict[str, Any], toy_pm: Any) -> None:
    a = fit(toy_config, toy_pm).model.state_dict()
    b = fit(toy_config, toy_pm).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_after_interrupt_gives_identical_weights(
    toy_config: dict[str, Any], toy_pm: Any, tmp_path: Path
) -> None:
    toy_config["epochs"] = 5
    reference = fit(toy_config, toy_pm, run_dir=tmp_path / "ref").model.state_dict()
    with pytest.raises(KeyboardInterrupt):
        fit(toy_config, toy_pm, run_dir=tmp_path / "cut", callbacks=[InterruptAt(3)])
    cut = tmp_path / "cut"
    assert json.loads((cut / "summary.json").read_text())["status"] == "interrupted"
    assert torch.load(cut / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 3
    resumed = fit(toy_config, toy_pm, run_dir=cut, resume_from=cut / "checkpoints" / "last.pt")
    assert resumed.epoch == 5
    state = resumed.model.state_dict()
    assert all(torch.equal(state[k], reference[k]) for k in reference)
    epochs = [
        json.loads(line)["epoch"] for line in (cut / "metrics.jsonl").read_text().splitlines()
    ]
    assert epochs == [1, 2, 3, 4, 5]
    assert resumed.callbacks.callbacks[0].seen == 5  # the callback's state was restored


def test_nonfinite_loss_stops_with_step_and_term(
    toy_config: dict[str, Any], toy_pm: Any, tmp_path: Path
) -> None:
    class Poison(Callback):
        def on_fit_start(self, trainer: Any) -> None:
            self.trainer = trainer

        def on_epoch_start(self, epoch: int) -> None:
            if epoch == 2:
                self.trainer.losses.set_weight("mse", float("nan"))

    with pytest.raises(
        TrainingError,
        match=r"non-finite loss at epoch 3, step 8 \(loss term .mse. has weight nan\); last good checkpoint: .*last.pt",
    ):
        fit(toy_config, toy_pm, run_dir=tmp_path / "run", callbacks=[Poison()])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 2


def test_nonfinite_skip_mode(toy_config: dict[str, Any], toy_pm: Any) -> None:
    class PoisonOnce(Callback):
        def on_fit_start(self, trainer: Any) -> None:
            self.trainer = trainer

        def on_batch_start(self, batch_idx: int, batch: Mapping[str, Any]) -> None:
            self.trainer.losses.set_weight("mse", float("nan") if batch_idx == 1 else 1.0)

    toy_config["trainer"]["on_nonfinite"] = "skip"
    trainer = fit(toy_config, toy_pm, callbacks=[PoisonOnce()])
    assert trainer.summary.status == "completed"
    assert trainer.summary.final["train/skipped_steps"] == 1.0


def test_bf16_mixed_precision_on_cpu(toy_config: dict[str, Any], toy_pm: Any) -> None:
    toy_config["trainer"]["precision"] = "bf16-mixed"
    trainer = fit(toy_config, toy_pm)
    assert trainer.summary.status == "completed"
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())


def test_16_mixed_needs_cuda(toy_config: dict[str, Any], toy_pm: Any) -> None:
    from tvae_core import ConfigError

    toy_config["trainer"]["precision"] = "16-mixed"
    toy_config["trainer"]["device"] = "cpu"
    with pytest.raises(ConfigError, match="'16-mixed' needs a CUDA device"):
        Trainer(build_config(toy_config), plugins=toy_pm).setup()


def test_step_logs_are_lazy() -> None:
    logs = StepLogs({"loss": torch.tensor(2.5)})
    assert logs["loss"] == 2.5
    assert list(logs) == ["loss"]


class RandomProbe:
    """A metric that draws from torch's random stream, as a sampled metric does (triplets)."""

    __name__ = "random_probe_plugin"

    @hookimpl
    def tvae_register_metrics(self, register: Any) -> None:
        register("random_probe", lambda: lambda outputs, batch: float(torch.rand(())))


def test_validation_draws_from_its_own_seeded_stream() -> None:
    def trained(val_every: int) -> Trainer:
        config = {"epochs": 4, "metrics": ["tiny_coverage", "random_probe"]}
        trainer = tiny_trainer(
            {**config, "trainer": {"val_every": val_every}}, [RandomProbe()], overrides=["seed=3"]
        )
        trainer.fit()
        return trainer

    every, every_other = trained(1), trained(2)
    # Training (the tiny VAE samples z) does not depend on how often the run validates ...
    for p, q in zip(every.model.parameters(), every_other.model.parameters(), strict=True):
        assert torch.equal(p, q)
    # ... and a validation is a function of the weights: validating again gives its values.
    assert every.summary is not None and every_other.summary is not None
    final = every.summary.final["val/random_probe"]
    assert final == every_other.summary.final["val/random_probe"]
    assert every.validate()["val/random_probe"] == final


def test_on_fit_end_sees_the_summary_and_its_file(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    class AtTheEnd(Callback):
        def on_fit_end(self, run: RunContext) -> None:
            assert run.run_dir is not None and run.summary is not None
            seen["status"] = run.summary.status
            seen["file"] = json.loads((run.run_dir / "summary.json").read_text())["status"]

    summary = tiny_trainer(run_dir=tmp_path / "run", callbacks=[AtTheEnd()]).fit()
    assert seen == {"status": "completed", "file": "completed"} and summary.status == "completed"
