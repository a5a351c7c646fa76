"""The ``lr_logger`` callback."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from typing import Any

from tvae_core import Callback, RunContext


class LrLogger(Callback):
    """Record the learning rate of every epoch and write ``lr.csv`` into the run folder.

    The history is part of the callback's state, so a resumed run's file is complete.

    Args:
        filename: name of the CSV file in the run folder.
    """

    def __init__(self, filename: str = "lr.csv") -> None:
        if not filename or "/" in filename:
            raise ValueError(f"filename must be a plain file name, got {filename!r}")
        self.filename = filename
        self.history: list[tuple[int, float]] = []

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        if "lr" in logs:
            self.history.append((epoch, float(logs["lr"])))

    def on_fit_end(self, run: RunContext) -> None:
        if run.run_dir is None:  # no run folder, or not the main process
            return
        with open(run.run_dir / self.filename, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["epoch", "lr"])
            writer.writerows(self.history)

    def state_dict(self) -> dict[str, Any]:
        return {"history": [[epoch, lr] for epoch, lr in self.history]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history = [(int(epoch), float(lr)) for epoch, lr in state["history"]]
