"""The plugin registers its callbacks lazily and the seed guide's callback snippets run as written."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from tvae_core import PluginManager, SettingsError


def test_registers_the_four_callbacks_with_settings_schemas() -> None:
    registry = PluginManager().registry
    for name in ("early_stopping", "checkpoint", "metrics", "coverage_plateau"):
        component = registry.get("callback", name)
        assert component.plugin == "callbacks"
        assert component.description
    settings = registry.get("callback", "early_stopping").validate(
        {"monitor": "val/loss", "patience": 5}, "callbacks[1]"
    )
    assert settings == {"patience": 5, "monitor": "val/loss", "mode": None, "min_delta": 1e-4}
    with pytest.raises(
        SettingsError,
        match=r"callbacks\[1\].patients: unknown key 'patients'; did you mean 'patience'",
    ):
        registry.get("callback", "early_stopping").validate({"patients": 5}, "callbacks[1]")


def test_listing_imports_no_torch() -> None:
    code = (
        "import sys\nfrom tvae_core import PluginManager\n"
        "pm = PluginManager(); [c.description for c in pm.registry.all('callback')]\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_seed_guide_callback_snippets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # The guide's imports, with src.training.callbacks -> tvae_callbacks.
    from tvae_callbacks import (
        CallbackList,
        CheckpointCallback,
        CoveragePlateauCallback,
        EarlyStoppingCallback,
        MetricsCallback,
    )

    early_stop = EarlyStoppingCallback(patience=20, monitor="val_loss", mode="min", min_delta=1e-4)
    checkpoint = CheckpointCallback(
        save_dir="checkpoints/", save_interval=10, save_best=True, monitor="val_loss"
    )
    coverage = CoveragePlateauCallback(patience=10, threshold=0.95, min_improvement=0.01)
    assert (early_stop.patience, checkpoint.save_interval, coverage.threshold) == (20, 10, 0.95)

    model = torch.nn.Linear(3, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    dataloader = [torch.randn(8, 3, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    callbacks = CallbackList(
        [
            EarlyStoppingCallback(patience=20, monitor="val_loss"),
            CheckpointCallback(save_dir="checkpoints/", save_interval=10),
            MetricsCallback(log_interval=100),
        ]
    )
    stopped_at = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for epoch in range(100):
            callbacks.on_epoch_start(epoch)
            for batch_idx, batch in enumerate(dataloader):
                optimizer.zero_grad()
                loss = (model(batch) - batch).pow(2).mean()
                loss.backward()
                optimizer.step()
                callbacks.on_batch_end(batch_idx, {"loss": loss.item()})
            val_loss = 1.0 if epoch >= 5 else 2.0 - epoch / 10  # plateaus after epoch 5
            callbacks.on_epoch_end(epoch, {"val_loss": val_loss})
            if callbacks.should_stop():
                stopped_at = epoch
                break
    assert stopped_at == 25
    assert callbacks.stop_reason is not None and "val_loss did not improve" in callbacks.stop_reason
    # The guide gives the checkpoint callback no model: it saves the loop's model and
    # optimizer, found by those names, without a warning.
    assert not [w for w in caught if "CheckpointCallback" in str(w.message)]
    assert sorted(p.name for p in Path("checkpoints").iterdir()) == [
        "best.pt",
        "epoch_0010.pt",
        "epoch_0020.pt",
    ]
    saved = torch.load("checkpoints/epoch_0020.pt", weights_only=False)
    assert saved["epoch"] == 20 and set(saved["model_state_dict"]) == {"weight", "bias"}
    assert saved["optimizer_state_dict"]["param_groups"][0]["lr"] == 0.1
    for path in Path("checkpoints").iterdir():
        path.unlink()

    saving = CheckpointCallback(save_dir="checkpoints/", save_interval=10).attach(model, optimizer)
    for epoch in range(10):
        saving.on_epoch_end(epoch, {"val_loss": 1.0})
    assert sorted(p.name for p in Path("checkpoints").iterdir()) == ["best.pt", "epoch_0010.pt"]
