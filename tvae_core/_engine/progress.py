"""Progress display for ``tvae run``: live bars on a terminal, one plain line per epoch otherwise.

The engine calls ``on_batch_end`` every step with lazy logs, where reading a value waits for
the device. So the display reads the step loss only when it redraws, at most once every
``refresh_s`` seconds of wall time; other steps cost one clock read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from tvae_core._plugins.interfaces import Callback, RunContext

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


def _read(logs: Mapping[str, Any], key: str) -> float | None:
    if key not in logs:
        return None
    try:
        return float(logs[key])
    except (TypeError, ValueError):
        return None


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, sec = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes}:{sec:02d}"


def _short(key: str) -> str:
    """A compact label for the live display: ``train/loss`` -> ``train``, ``val/coverage`` -> ``coverage``."""
    if key in ("train/loss", "val/loss"):
        return key.split("/")[0]
    return key.rpartition("/")[2]


def summarize_epoch(
    logs: Mapping[str, Any], max_metrics: int = 4, hide: Collection[str] = ()
) -> dict[str, float]:
    """The values worth a glance: train/val loss, the first validation metrics, logged weights.

    Validation metrics are the ``val/*`` keys that are not loss terms (a term has a
    ``train/*`` twin), in the order the run logs them (its ``metrics`` section's), without
    the keys in ``hide`` (constants such as a metric's ceiling). Logged loss weights are the
    keys without a prefix other than ``lr`` (``beta``).
    """
    out: dict[str, float] = {}
    for key in ("train/loss", "val/loss"):
        value = _read(logs, key)
        if value is not None:
            out[key] = value
    terms = {k[len("train/") :] for k in logs if k.startswith("train/")}
    metrics = [
        k
        for k in logs
        if k.startswith("val/")
        and k != "val/loss"
        and k[len("val/") :] not in terms
        and k not in hide
    ]
    for key in metrics[:max_metrics]:
        value = _read(logs, key)
        if value is not None:
            out[key] = value
    for key in logs:
        if "/" not in key and key not in ("lr", "loss") and key not in hide:
            value = _read(logs, key)
            if value is not None:
                out[key] = value
    return out


class ProgressCallback(Callback):
    """Show training progress: epoch and step bars with live loss when on a terminal.

    On a terminal (rich): an epoch bar and a step bar with the latest step loss, the last
    epoch's key metrics, elapsed time and time left. Elsewhere (a file, CI): one plain line
    every ``every_n_epochs`` epochs and after the last one. Disabled, it does nothing.
    Works without a trainer too: bars are created on the first epoch if needed.

    Args:
        total_epochs: The epoch count of the run, for the bar and the time left.
        enabled: Show anything at all.
        refresh_s: Minimum wall time between two redraws during an epoch.
        console: The rich console to draw on; default the one tvae's logging shares.
        every_n_epochs: In plain mode, print a line every this many epochs.
        hide: Log keys never shown (the run's constants, such as a metric's ceiling).
    """

    def __init__(
        self,
        total_epochs: int,
        enabled: bool = True,
        refresh_s: float = 0.1,
        console: Console | None = None,
        every_n_epochs: int = 1,
        hide: Collection[str] = (),
    ) -> None:
        if total_epochs < 0:
            raise ValueError(f"total_epochs must be >= 0, found {total_epochs}")
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, found {every_n_epochs}")
        self.total_epochs = total_epochs
        self.enabled = enabled
        self.refresh_s = refresh_s
        self.every_n_epochs = every_n_epochs
        self.hide = frozenset(hide)
        self._console = console
        self._steps: int | None = None
        self._progress: Progress | None = None
        self._epoch_task: TaskID | None = None
        self._step_task: TaskID | None = None
        self._last_draw = 0.0
        self._fit_t0: float | None = None
        self._first_epoch = 0
        self._epoch = 0
        self._summary = ""
        self._batches_done = 0
        self.lines_printed = 0

    @property
    def console(self) -> Console:
        if self._console is None:
            from tvae_core.logging import get_console

            self._console = get_console()
        return self._console

    @property
    def live(self) -> bool:
        """Whether it draws rich bars (enabled and on a terminal) rather than plain lines."""
        return self.enabled and self.console.is_terminal

    def on_fit_start(self, run: RunContext) -> None:
        if not self.enabled:
            return
        self._steps = run.steps_per_epoch
        self._first_epoch = run.epoch
        self._start()

    def _start(self) -> None:
        self._fit_t0 = time.perf_counter()
        if not self.live or self._progress is not None:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.table import Column

        def fixed(width: int) -> Column:
            return Column(no_wrap=True, min_width=width)

        # Fixed-width bars and counters; the metrics text takes what is left and is cut with
        # an ellipsis on a narrow terminal, never squeezing the bars.
        self._progress = Progress(
            TextColumn("{task.description:>5}", table_column=fixed(5)),
            BarColumn(bar_width=16, table_column=fixed(16)),
            MofNCompleteColumn(table_column=fixed(9)),
            TimeElapsedColumn(table_column=fixed(7)),
            TextColumn("left", table_column=fixed(4)),
            TimeRemainingColumn(table_column=fixed(7)),
            TextColumn(
                "{task.fields[info]}",
                table_column=Column(
                    no_wrap=True, overflow="ellipsis", max_width=max(12, self.console.width - 56)
                ),
            ),
            console=self.console,
            auto_refresh=False,
            transient=False,
        )
        self._progress.start()
        self._epoch_task = self._progress.add_task(
            "epoch", total=self.total_epochs or None, completed=self._first_epoch, info=""
        )
        self._step_task = self._progress.add_task("step", total=self._steps, info="")
        self._progress.refresh()

    def on_epoch_start(self, epoch: int) -> None:
        if not self.enabled:
            return
        if self._fit_t0 is None:
            self._first_epoch = epoch
            self._start()
        self._epoch = epoch
        if self._progress is not None and self._step_task is not None:
            self._progress.reset(self._step_task, total=self._steps, info="")
            self._draw()

    def on_batch_end(self, batch_idx: int, logs: Mapping[str, Any]) -> None:
        self._batches_done = batch_idx + 1
        if self._progress is None:
            return
        now = time.perf_counter()
        if now - self._last_draw < self.refresh_s:
            return
        loss = _read(logs, "train/loss")
        if loss is None:
            loss = _read(logs, "loss")
        info = f"loss {_fmt(loss)}" if loss is not None else ""
        assert self._step_task is not None
        self._progress.update(self._step_task, completed=batch_idx + 1, info=info)
        self._draw(now)

    def _draw(self, now: float | None = None) -> None:
        assert self._progress is not None
        self._progress.refresh()
        self._last_draw = time.perf_counter() if now is None else now

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        values = summarize_epoch(logs, hide=self.hide)
        self._summary = "  ".join(f"{_short(k)} {_fmt(v)}" for k, v in values.items())
        if self._progress is not None:
            assert self._epoch_task is not None and self._step_task is not None
            steps = self._steps or self._batches_done
            self._progress.update(self._step_task, total=steps, completed=steps)
            self._progress.update(self._epoch_task, completed=epoch + 1, info=self._summary)
            self._draw()
            return
        done = epoch + 1
        if done % self.every_n_epochs and done != self.total_epochs:
            return
        self.console.print(
            self._plain_line(epoch, values), markup=False, highlight=False, soft_wrap=True
        )
        self.lines_printed += 1

    def _plain_line(self, epoch: int, values: Mapping[str, float]) -> str:
        total = self.total_epochs or "?"
        parts = [f"epoch {epoch + 1}/{total}"]
        parts += [f"{k} {_fmt(v)}" for k, v in values.items()]
        if self._fit_t0 is not None:
            elapsed = time.perf_counter() - self._fit_t0
            parts.append(f"elapsed {_duration(elapsed)}")
            ran = epoch + 1 - self._first_epoch
            if self.total_epochs and ran > 0:
                left = elapsed / ran * max(0, self.total_epochs - epoch - 1)
                parts.append(f"left {_duration(left)}")
        return "  ".join(parts)

    def on_fit_end(self, run: RunContext) -> None:
        self.close()

    def on_exception(self, exc: BaseException) -> None:
        self.close()

    def close(self) -> None:
        """Stop the live display (idempotent); the last frame stays on screen."""
        if self._progress is not None:
            self._progress.refresh()
            self._progress.stop()
            self._progress = None
