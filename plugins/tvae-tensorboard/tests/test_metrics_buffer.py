from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tvae_tensorboard import MetricsBuffer


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_seed_snippet_writes_scalars_readable_by_tensorboard(tmp_path: Path) -> None:
    buffer = MetricsBuffer(tensorboard_dir=str(tmp_path / "runs"))
    kl = torch.tensor(0.25)
    for global_step, loss in enumerate([1.0, 0.5, 0.25]):
        buffer.add("train/loss", loss, step=global_step)
        buffer.add("train/kl", kl.item(), step=global_step)
    buffer.flush()
    got = scalars(tmp_path / "runs")
    assert got["train/loss"] == [(0, 1.0), (1, 0.5), (2, 0.25)]
    assert got["train/kl"] == [(0, 0.25), (1, 0.25), (2, 0.25)]
    buffer.close()


def test_tensor_values_are_copied_to_the_host_at_flush(tmp_path: Path) -> None:
    with MetricsBuffer(tmp_path) as buffer:
        buffer.add("a", torch.tensor([2.5], requires_grad=True).sum(), step=3)
        buffer.add("b", 1, step=3)
        buffer.add("a", torch.tensor(4.0), step=4)
        assert len(buffer) == 3
    assert scalars(tmp_path) == {"a": [(3, 2.5), (4, 4.0)], "b": [(3, 1.0)]}


def test_nothing_is_created_before_the_first_flush(tmp_path: Path) -> None:
    buffer = MetricsBuffer(tmp_path / "tb")
    buffer.add("x", 1.0, step=0)
    assert not (tmp_path / "tb").exists()
    buffer.close()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_flushes_by_itself_when_full(tmp_path: Path) -> None:
    buffer = MetricsBuffer(tmp_path, max_pending=4)
    for step in range(10):
        buffer.add("x", float(step), step=step)
    assert buffer.written == 8 and len(buffer) == 2
    buffer.close()
    assert [v for _, v in scalars(tmp_path)["x"]] == [float(s) for s in range(10)]


def test_bad_values_are_named(tmp_path: Path) -> None:
    buffer = MetricsBuffer(tmp_path)
    with pytest.raises(
        ValueError, match="train/loss: value must be a number or a tensor, found str"
    ):
        buffer.add("train/loss", "low", step=0)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"z: a scalar needs a one-element tensor, found shape \(2,\)"
    ):
        buffer.add("z", torch.zeros(2), step=0)
    with pytest.raises(ValueError, match="tag must be a non-empty string"):
        buffer.add("", 1.0, step=0)
    with pytest.raises(ValueError, match="max_pending must be >= 1"):
        MetricsBuffer(tmp_path, max_pending=0)


def test_seed_logging_and_monitoring_snippet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guide's snippet with ``src.observability`` -> ``tvae_core`` and ``tvae_tensorboard``."""
    from tvae_core import get_logger, setup_logging
    from tvae_core.logging import shutdown_logging

    monkeypatch.chdir(tmp_path)
    try:
        setup_logging(log_dir="logs/")
        logger = get_logger(__name__)
        buffer = MetricsBuffer(tensorboard_dir="runs/")
        epoch, global_step, loss, kl = 2, 40, 0.5, torch.tensor(0.125)
        logger.info(f"Epoch {epoch}: loss={loss:.4f}")
        buffer.add("train/loss", loss, step=global_step)
        buffer.add("train/kl", kl.item(), step=global_step)
        buffer.flush()
    finally:
        shutdown_logging()
    assert "Epoch 2: loss=0.5000" in (tmp_path / "logs" / "tvae.log").read_text()
    assert scalars(tmp_path / "runs") == {"train/loss": [(40, 0.5)], "train/kl": [(40, 0.125)]}
