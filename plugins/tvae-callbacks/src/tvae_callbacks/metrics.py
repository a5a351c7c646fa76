"""Metrics logging: a console line every ``log_interval`` steps and per epoch, optional JSONL."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tvae_core import Callback, RunContext, is_main_process

_log = logging.getLogger("tvae.callbacks.metrics")


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def format_metrics(values: Mapping[str, float]) -> str:
    """``key value`` pairs joined by `` | ``, values to 4 significant digits."""
    return " | ".join(f"{k} {v:.4g}" for k, v in values.items())


class MetricsCallback(Callback):
    """Log a concise line of metrics every ``log_interval`` steps and after every epoch.

    Lines go to the ``tvae.callbacks.metrics`` logger (``tvae_core.setup_logging`` decides
    where; if nothing configured logging yet, the first line sets up the console). Step logs
    are read only on logging steps: the engine's step logs are lazy and reading one waits
    for the device. With ``log_dir``, a hand-written loop also gets ``<log_dir>/metrics.jsonl``
    (one JSON object per epoch); inside ``tvae run`` the core already writes the run's
    ``metrics.jsonl``, so a ``log_dir`` equal to the run folder writes nothing more.

    Args:
        log_interval: Log the step's values every this many optimizer steps.
        log_dir: Folder for ``metrics.jsonl`` in hand-written loops; None writes no file.
    """

    def __init__(self, log_interval: int = 100, log_dir: str | None = None) -> None:
        if log_interval < 1:
            raise ValueError(f"log_interval must be >= 1, found {log_interval}")
        self.log_interval = log_interval
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.step = 0
        self.epoch = 0
        self._run: RunContext | None = None

    @property
    def jsonl_path(self) -> Path | None:
        """The file this callback appends epochs to, or None when it writes none."""
        if self.log_dir is None:
            return None
        run_dir = self._run.run_dir if self._run is not None else None
        if run_dir is not None and Path(run_dir).resolve() == self.log_dir.resolve():
            return None
        return self.log_dir / "metrics.jsonl"

    def on_fit_start(self, run: RunContext) -> None:
        self._run = run
        self.step = run.global_step

    def on_fit_end(self, run: RunContext) -> None:
        self._run = None

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch

    def on_batch_end(self, batch_idx: int, logs: Mapping[str, Any]) -> None:
        self.step += 1
        if self.step % self.log_interval:
            return
        values = {k: v for k, v in ((k, _as_float(logs[k])) for k in logs) if v is not None}
        self._emit(
            f"step {self.step} (epoch {self.epoch + 1}, batch {batch_idx}) | {format_metrics(values)}"
        )

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any]) -> None:
        values = {k: v for k, v in ((k, _as_float(logs[k])) for k in logs) if v is not None}
        self._emit(f"epoch {epoch + 1} | {format_metrics(values)}")
        path = self.jsonl_path
        if path is None or not is_main_process(self._run):
            return
        record: dict[str, Any] = {"epoch": epoch + 1, "step": self.step}  # numbered from 1
        record.update({k: v if math.isfinite(v) else None for k, v in values.items()})
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def _emit(self, line: str) -> None:
        if not is_main_process(self._run):
            return
        from tvae_core.logging import logging_configured, setup_logging

        if not logging_configured():
            setup_logging()
        _log.info(line)

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step = int(state.get("step", self.step))
