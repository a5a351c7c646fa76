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


#: The default run's validation logs (abridged): coverage comes first among its metrics.
DEFAULT_VAL = {
    "train/loss": 8.114,
    "train/reconstruction": 3.1,
    "val/reconstruction": 3.13,
    "val/loss": 4.972,
    "val/coverage": 0.2711,
    "val/hierarchy": -0.7681,
    "val/hierarchy_ceiling": -0.832,
    "val/radial_accuracy": 0.9464,
    "val/triplet_accuracy": 0.8557,
    "val/level_radial_accuracy": 0.4907,
    "lr": 1e-2,
    "beta": 0.001,
}
TRAIN_ONLY = {"train/loss": 7.5, "train/reconstruction": 3.0, "lr": 1e-2, "beta": 0.001}


def epoch_lines(width: int) -> list[str]:
    """The epoch bar's last frame after a validating epoch and after one without validation."""
    import re

    out = io.StringIO()
    cb = ProgressCallback(
        20, console=Console(file=out, force_terminal=True, width=width), refresh_s=0, hide=CONSTANTS
    )
    cb.on_fit_start(trainer(3))
    frames = []
    for epoch, logs in enumerate([DEFAULT_VAL, TRAIN_ONLY]):
        cb.on_epoch_start(epoch)
        cb.on_batch_end(0, {"train/loss": 1.0})
        cb.on_epoch_end(epoch, logs)
        text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out.getvalue()).replace("\r", "\n")
        frames.append([t.rstrip() for t in text.splitlines() if t.startswith("epoch")][-1])
    cb.close()
    return frames


@pytest.mark.parametrize("width", [80, 120])
def test_the_live_line_fits_the_terminal_and_keeps_coverage(width: int) -> None:
    validated, later = epoch_lines(width)
    for line in (validated, later):
        assert len(line) <= width, line
        assert "…" not in line, line  # whole values left out, none cut
        assert "coverage 0.2711" in line, line
    assert "train 8.114" in validated and "val 4.972" in validated
    # an epoch without validation shows the last validation's values, marked
    assert "train 7.5" in later and "(epoch 1) " in later
    if width >= 120:
        assert "hierarchy -0.7681" in validated


def test_plain_lines_keep_the_last_validation_marked_with_its_epoch() -> None:
    out = io.StringIO()
    cb = ProgressCallback(3, console=Console(file=out, width=300), hide=CONSTANTS)
    cb.on_fit_start(trainer(1))
    for epoch, logs in enumerate([DEFAULT_VAL, TRAIN_ONLY, TRAIN_ONLY]):
        cb.on_epoch_start(epoch)
        cb.on_epoch_end(epoch, logs)
    first, second, third = out.getvalue().splitlines()
    assert "(epoch" not in first and "val/coverage 0.2711" in first
    for line in (second, third):
        assert line.startswith("epoch ") and "train/loss 7.5  (epoch 1) val/loss 4.972" in line
        assert "val/coverage 0.2711" in line and "beta 0.001" in line


def test_format_summary_leaves_out_whole_values_least_important_first() -> None:
    from tvae_core._engine.progress import format_summary

    values = summarize_epoch(DEFAULT_VAL, hide=CONSTANTS)
    whole = format_summary(values)
    assert whole.startswith("train 8.114  val 4.972  coverage 0.2711  hierarchy -0.7681")
    assert format_summary(values, width=15) == "coverage 0.2711"
    assert format_summary(values, width=40) == "train 8.114  val 4.972  coverage 0.2711"
    stale = {k for k in values if k.startswith("val/")}
    assert format_summary(values, width=25, stale_epoch=5, stale=stale) == (
        "(epoch 5) coverage 0.2711"
    )
