from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from tvae_callbacks import MetricsCallback


class LazyLogs(Mapping[str, float]):
    """Step logs that count reads, as the engine's lazy logs cost a device sync per read."""

    def __init__(self, values: dict[str, float]) -> None:
        self._data = values
        self.reads = 0

    def __getitem__(self, key: str) -> float:
        self.reads += 1
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def test_step_logs_are_read_only_on_logging_steps(caplog: pytest.LogCaptureFixture) -> None:
    cb = MetricsCallback(log_interval=10)
    logs = LazyLogs({"train/loss": 0.5, "train/kl": 0.25})
    cb.on_epoch_start(0)
    with caplog.at_level(logging.INFO, logger="tvae"):
        for batch_idx in range(25):
            cb.on_batch_end(batch_idx, logs)
    assert logs.reads == 2 * 2  # steps 10 and 20, two keys each
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "step 10 (epoch 1, batch 9) | train/loss 0.5 | train/kl 0.25",
        "step 20 (epoch 1, batch 19) | train/loss 0.5 | train/kl 0.25",
    ]


def test_epoch_line(caplog: pytest.LogCaptureFixture) -> None:
    cb = MetricsCallback()
    with caplog.at_level(logging.INFO, logger="tvae"):
        cb.on_epoch_end(3, {"train/loss": 0.123456, "val/coverage": 1.0, "note": "text"})
    assert caplog.records[-1].getMessage() == "epoch 4 | train/loss 0.1235 | val/coverage 1"


def test_hand_written_loop_writes_jsonl(tmp_path: Path) -> None:
    cb = MetricsCallback(log_interval=1, log_dir=str(tmp_path / "logs"))
    for epoch in range(3):
        cb.on_batch_end(0, {"loss": 1.0})
        cb.on_epoch_end(epoch, {"val_loss": 1.0 / (epoch + 1), "val/kl": math.nan})
    rows = [
        json.loads(line) for line in (tmp_path / "logs" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[2] == {"epoch": 3, "step": 3, "val_loss": pytest.approx(1 / 3), "val/kl": None}


def test_inside_the_trainer_the_run_jsonl_is_not_written_twice(fake_trainer) -> None:
    cb = MetricsCallback(log_dir=str(fake_trainer.run_dir))
    cb.on_fit_start(fake_trainer)
    cb.on_epoch_end(0, {"train/loss": 1.0})
    assert cb.jsonl_path is None
    assert not (fake_trainer.run_dir / "metrics.jsonl").exists()


def test_step_count_survives_a_resume() -> None:
    cb = MetricsCallback(log_interval=3)
    for i in range(4):
        cb.on_batch_end(i, {"loss": 1.0})
    resumed = MetricsCallback(log_interval=3)
    resumed.load_state_dict(cb.state_dict())
    assert resumed.step == 4


def test_log_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="log_interval must be >= 1"):
        MetricsCallback(log_interval=0)
