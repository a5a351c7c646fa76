from __future__ import annotations

import io
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from rich.console import Console

from tvae_core._engine.progress import ProgressCallback, summarize_epoch
from tvae_core.testing import FakeRun

# In the order a run logs them: its metrics section's order (coverage, then hierarchy).
EPOCH_LOGS = {
    "train/loss": 0.5,
    "train/kl": 0.1,
    "val/loss": 0.4,
    "val/kl": 0.1,
    "val/coverage": 0.9,
    "val/hierarchy": -0.8,
    "val/hierarchy_ceiling": -0.83,
    "lr": 1e-3,
    "beta": 1.0,
}
#: What the engine hides: the keys metrics declare constant (higher_is_better None).
CONSTANTS = {"val/hierarchy_ceiling"}


class LazyLogs(Mapping[str, float]):
    """Step logs that count reads (each read of the engine's logs waits for the device)."""

    def __init__(self) -> None:
        self.reads = 0

    def __getitem__(self, key: str) -> float:
        self.reads += 1
        return 0.25

    def __iter__(self) -> Iterator[str]:
        return iter(["train/loss"])

    def __len__(self) -> int:
        return 1


def trainer(steps: int = 5) -> FakeRun:
    return FakeRun(steps_per_epoch=steps)


def drive(
    cb: ProgressCallback, epochs: int, steps: int, logs: Mapping[str, float] | None = None
) -> None:
    cb.on_fit_start(trainer(steps))
    for epoch in range(epochs):
        cb.on_epoch_start(epoch)
        for b in range(steps):
            cb.on_batch_end(b, logs if logs is not None else {"train/loss": 1.0})
        cb.on_epoch_end(epoch, EPOCH_LOGS)
    cb.on_fit_end(trainer(steps))


def test_summary_shows_losses_metrics_and_beta_but_not_terms_or_constants() -> None:
    assert list(summarize_epoch(EPOCH_LOGS, hide=CONSTANTS)) == [
        "train/loss",
        "val/loss",
        "val/coverage",
        "val/hierarchy",
        "beta",
    ]


def test_plain_mode_prints_one_line_per_epoch() -> None:
    out = io.StringIO()
    drive(ProgressCallback(3, console=Console(file=out, width=200)), epochs=3, steps=4)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("epoch 1/3  train/loss 0.5  val/loss 0.4  val/coverage 0.9")
    assert "elapsed 0:00" in lines[0] and "left 0:00" in lines[0]
    assert "\x1b[" not in out.getvalue()


def test_plain_mode_every_k_epochs_and_always_the_last() -> None:
    out = io.StringIO()
    drive(ProgressCallback(7, console=Console(file=out, width=200), every_n_epochs=3), 7, 2)
    assert [line.split()[1] for line in out.getvalue().splitlines()] == ["3/7", "6/7", "7/7"]


def test_terminal_mode_draws_bars_and_reads_logs_only_when_it_redraws() -> None:
    out = io.StringIO()
    cb = ProgressCallback(
        2, console=Console(file=out, force_terminal=True, width=160), refresh_s=3600
    )
    logs = LazyLogs()
    drive(cb, epochs=2, steps=500, logs=logs)
    assert logs.reads <= 1  # one redraw at most in the hour-long refresh window
    text = out.getvalue()
    assert "epoch" in text and "step" in text and "2/2" in text and "coverage 0.9" in text


def test_disabled_prints_nothing() -> None:
    out = io.StringIO()
    drive(ProgressCallback(2, enabled=False, console=Console(file=out, force_terminal=True)), 2, 3)
    assert out.getvalue() == ""


def test_without_a_trainer() -> None:
    out = io.StringIO()
    cb = ProgressCallback(2, console=Console(file=out, width=200))
    for epoch in range(2):
        cb.on_epoch_start(epoch)
        cb.on_batch_end(0, {"loss": 1.0})
        cb.on_epoch_end(epoch, {"val_loss": 1.0, "train/loss": 2.0})
    assert cb.lines_printed == 2


def test_steps_between_redraws_read_no_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a lazy log waits for the device: only a redraw may read, at most every refresh_s."""
    clock = {"now": 0.0}
    monkeypatch.setattr(time, "perf_counter", lambda: clock["now"])
    monkeypatch.setattr(time, "monotonic", lambda: clock["now"])
    cb = ProgressCallback(
        1, console=Console(file=io.StringIO(), force_terminal=True), refresh_s=0.1
    )
    cb.on_fit_start(trainer(10_000))  # type: ignore[arg-type]
    cb.on_epoch_start(0)
    logs = LazyLogs()
    for b in range(10_000):
        clock["now"] += 0.001  # 1 ms steps: 10 s in all, so at most ~100 redraws
        cb.on_batch_end(b, logs)
    cb.close()
    redraws = 10_000 * 0.001 / 0.1 + 1
    assert logs.reads <= 2 * redraws  # a membership test and a read per redraw


@pytest.mark.parametrize("kwargs", [{"total_epochs": -1}, {"total_epochs": 3, "every_n_epochs": 0}])
def test_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ProgressCallback(**kwargs)
