"""The seed guide's callbacks blocks, as typed, with only the imports changed (issue 17, item 3).

The guide's "Using Callbacks" block is a fragment of a loop: it runs here inside
``for epoch in ...``, with its ``# ... training step ...`` comment filled in and the
``val_loss`` it leaves to the reader computed after the batches. Everything else is its text.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

#: The guide's block, verbatim but for ``src.training.callbacks`` -> ``tvae_callbacks``.
USING_CALLBACKS = """
from tvae_callbacks import (
    CallbackList,
    EarlyStoppingCallback,
    CheckpointCallback,
    MetricsCallback,
)

callbacks = CallbackList([
    EarlyStoppingCallback(patience=20, monitor="val_loss"),
    CheckpointCallback(save_dir="checkpoints/", save_interval=10),
    MetricsCallback(log_interval=100),
])

# In training loop
callbacks.on_epoch_start(epoch)

for batch_idx, batch in enumerate(dataloader):
    # ... training step ...
    callbacks.on_batch_end(batch_idx, {"loss": loss.item()})

callbacks.on_epoch_end(epoch, {"val_loss": val_loss})

if callbacks.should_stop():
    break
"""

#: The training step the guide elides, and the validation loss it leaves to the reader.
STEP = """optimizer.zero_grad()
    loss = (model(batch) - batch).pow(2).mean()
    loss.backward()
    optimizer.step()"""
VALIDATION = "val_loss = 1.0 if epoch >= 5 else 2.0 - epoch / 10  # plateaus after epoch 5\n"

COVERAGE_BLOCK = """
from tvae_callbacks import CoveragePlateauCallback

coverage = CoveragePlateauCallback(
    patience=10,
    threshold=0.95,        # Target coverage
    min_improvement=0.01,
)
"""


def _as_loop(block: str, epochs: int) -> str:
    """The block's setup, then its loop part inside ``for epoch in range(epochs)``."""
    setup, body = block.split("# In training loop\n")
    body = body.replace("# ... training step ...", STEP)
    body = body.replace("callbacks.on_epoch_end", VALIDATION + "callbacks.on_epoch_end")
    return f"{setup}stopped_at = None\nfor epoch in range({epochs}):\n" + textwrap.indent(
        body.replace("    break", "    stopped_at = epoch\n    break"), "    "
    )


def _namespace() -> dict[str, Any]:
    model = torch.nn.Linear(3, 3)
    return {
        "__name__": "seed_guide",
        "model": model,
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
        "config": {"epochs": 100, "optimizer": {"lr": 0.1}},
        "dataloader": [
            torch.randn(8, 3, generator=torch.Generator().manual_seed(i)) for i in range(4)
        ],
    }


def test_the_guide_block_saves_checkpoints_without_attach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace = _namespace()
    exec(compile(_as_loop(USING_CALLBACKS, 100), "seed-guide", "exec"), namespace)
    # Early stopping stops 20 epochs after the plateau's start (epoch 5, numbered from 0).
    assert namespace["stopped_at"] == 25
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["best.pt", "epoch_0010.pt", "epoch_0020.pt"]
    saved = torch.load(tmp_path / "checkpoints" / "epoch_0020.pt", weights_only=False)
    assert saved["epoch"] == 20 and saved["config"] == namespace["config"]
    assert saved["optimizer_state_dict"]["param_groups"][0]["lr"] == 0.1
    assert saved["metrics"] == {"val_loss": 1.0}
    best = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=False)
    assert best["epoch"] == 6 and best["metrics"] == {"val_loss": 1.0}  # the plateau's first


def test_the_guide_block_without_a_model_fails_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace = _namespace()
    namespace["net"] = namespace.pop("model")
    code = _as_loop(USING_CALLBACKS, 3).replace("model(batch)", "net(batch)")
    with pytest.raises(
        RuntimeError, match=r"call checkpoint\.attach\(model, optimizer, config\)"
    ) as err:
        exec(compile(code, "seed-guide", "exec"), namespace)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("key", ["coverage", "val_coverage", "val/coverage"])
def test_the_guide_coverage_plateau_stops_on_a_bare_coverage_key(key: str) -> None:
    namespace: dict[str, Any] = {"__name__": "seed_guide"}
    exec(COVERAGE_BLOCK, namespace)
    coverage = namespace["coverage"]
    stopped_at = None
    for epoch in range(100):
        value = min(0.5, 0.1 * (epoch + 1))  # rises to 0.5 by epoch 4, then stalls
        coverage.on_epoch_end(epoch, {key: value})
        if coverage.should_stop():
            stopped_at = epoch
            break
    assert stopped_at == 14  # 10 epochs without a gain of 0.01 after epoch 4
    assert coverage.stop_reason.startswith(f"coverage plateau: {key} gained less than 0.01")


def test_the_guide_coverage_plateau_stops_at_its_target_on_a_bare_key() -> None:
    namespace: dict[str, Any] = {"__name__": "seed_guide"}
    exec(COVERAGE_BLOCK, namespace)
    coverage = namespace["coverage"]
    coverage.on_epoch_end(0, {"coverage": 0.5})
    assert not coverage.should_stop()
    coverage.on_epoch_end(1, {"coverage": 0.96})
    assert coverage.should_stop() and "coverage target reached" in coverage.stop_reason


def test_a_bare_loss_key_is_not_the_validation_loss() -> None:
    # Only coverage takes the bare name: a bare "loss" is the training step's, not val/loss.
    from tvae_callbacks import EarlyStoppingCallback

    early = EarlyStoppingCallback(patience=1, monitor="val/loss")
    for epoch in range(5):
        early.on_epoch_end(epoch, {"loss": 1.0})
    assert not early.should_stop() and early.best is None
