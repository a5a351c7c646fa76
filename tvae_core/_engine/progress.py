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


def _priority(key: str, index: int) -> int:
    """Which values stay when the line is short of room: the first metric (coverage in the
    default run), then the losses, then the other metrics, then the logged weights."""
    if key == "train/loss":
        return 1
    if key == "val/loss":
        return 2
    if key.startswith("val/"):
        return 0 if index == 0 else 3 + index
    return 1000 + index


def format_summary(
    values: Mapping[str, float],
    width: int | None = None,
    stale_epoch: int | None = None,
    stale: Collection[str] = (),
) -> str:
    """``values`` as ``label value`` pairs fitted into ``width`` characters.

    When they do not all fit, whole pairs are left out, the least important first (see
    :func:`_priority`), never a value cut in two. The keys in ``stale`` are an earlier
    validation's (numbered ``stale_epoch``, from 1): the first of them shown is preceded by
    ``(epoch N)``. ``width`` None fits everything (plain lines).
    """
    keys = list(values)
    metrics = [k for k in keys if k.startswith("val/") and k != "val/loss"]
    metric_index = {k: i for i, k in enumerate(metrics)}
    ranked = sorted(
        keys,
        key=lambda k: (_priority(k, metric_index.get(k, keys.index(k))), keys.index(k)),
    )

    def render(chosen: Collection[str]) -> str:
        parts, marked = [], False
        for key in keys:
            if key not in chosen:
                continue
            text = f"{_short(key)} {_fmt(values[key])}"
            if key in stale and not marked and stale_epoch is not None:
                text, marked = f"(epoch {stale_epoch}) {text}", True
            parts.append(text)
        return "  ".join(parts)

    chosen: set[str] = set()
    for key in ranked:
        if width is None or len(render(chosen | {key})) <= width:
            chosen.add(key)
    return render(chosen)


class ProgressCallback(Callback):
    """Show training progress: epoch and step bars with live loss when on a terminal.

    On a terminal (rich): an epoch bar and a step bar with the latest step loss, the last
    epoch's key metrics, elapsed time and time left; the metrics are fitted to the
    terminal's width by leaving out the least important whole values (coverage stays
    longest), and on a terminal narrower than 100 columns the bars are shorter and the
    elapsed time is left out. Elsewhere (a file, CI): one plain line every
    ``every_n_epochs`` epochs and after the last one. On an epoch without validation both
    keep showing the last validation's values, marked ``(epoch N)``. Disabled, it does
    nothing. Works without a trainer too: bars are created on the first epoch if needed.

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
        self._info_width: int | None = None
        self._last_val: dict[str, float] = {}
        self._last_val_epoch: int | None = None
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

        # Fixed-width bars and counters; the metrics text takes what is left (fitted to it
        # by format_summary; the ellipsis is a safety net), never squeezing the bars. A
        # narrow terminal gets shorter bars and no elapsed time, so coverage still shows.
        narrow = self.console.width < 100
        bar = 8 if narrow else 16
        columns: list[Any] = [
            TextColumn("{task.description:>5}", table_column=fixed(5)),
            BarColumn(bar_width=bar, table_column=fixed(bar)),
            MofNCompleteColumn(table_column=fixed(9)),
        ]
        if not narrow:
            columns.append(TimeElapsedColumn(table_column=fixed(7)))
        columns += [
            TextColumn("left", table_column=fixed(4)),
            TimeRemainingColumn(table_column=fixed(7)),
        ]
        used = sum(c.get_table_column().min_width or 0 for c in columns) + len(columns)
        self._info_width = max(12, self.console.width - used - 1)
        self._progress = Progress(
            *columns,
            TextColumn(
                "{task.fields[info]}",
                table_column=Column(no_wrap=True, overflow="ellipsis", max_width=self._info_width),
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
        values, stale = self._with_last_validation(epoch, summarize_epoch(logs, hide=self.hide))
        self._summary = format_summary(values, self._info_width, self._last_val_epoch, stale)
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
            self._plain_line(epoch, values, stale), markup=False, highlight=False, soft_wrap=True
        )
        self.lines_printed += 1

    def _with_last_validation(
        self, epoch: int, values: dict[str, float]
    ) -> tuple[dict[str, float], set[str]]:
        """``values`` and, on an epoch that did not validate, the last validation's values
        (in their place after the training loss); the second item names those stale keys."""
        fresh = {k: v for k, v in values.items() if k.startswith("val/")}
        if fresh:
            self._last_val, self._last_val_epoch = fresh, epoch + 1
            return values, set()
        if not self._last_val:
            return values, set()
        merged: dict[str, float] = {}
        if "train/loss" in values:
            merged["train/loss"] = values["train/loss"]
        merged.update(self._last_val)
        merged.update({k: v for k, v in values.items() if k not in merged})
        return merged, set(self._last_val)

    def _plain_line(
        self, epoch: int, values: Mapping[str, float], stale: Collection[str] = ()
    ) -> str:
        total = self.total_epochs or "?"
        parts = [f"epoch {epoch + 1}/{total}"]
        marked = False
        for k, v in values.items():
            text = f"{k} {_fmt(v)}"
            if k in stale and not marked:
                text, marked = f"(epoch {self._last_val_epoch}) {text}", True
            parts.append(text)
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
