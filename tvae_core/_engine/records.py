"""What a run records: the summary, lazy step logs, and the best value of each metric."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from tvae_core._plugins.contracts import DEFAULT_HIGHER_IS_BETTER, metric_directions


@dataclass
class RunSummary:
    """How a run ended; written to ``summary.json``."""

    status: str  # completed, stopped_early, interrupted, failed
    stop_reason: str
    epochs: int
    wall_s: float
    final: dict[str, float] = field(default_factory=dict)
    best: dict[str, float] = field(default_factory=dict)
    best_epoch: dict[str, int] = field(default_factory=dict)
    run_dir: str | None = None
    error: str | None = None
    #: ``{"epoch": E, "metrics": {...}}``: the epoch ``best.pt`` holds (E epochs completed).
    best_checkpoint: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "stop_reason": self.stop_reason,
            "epochs": self.epochs,
            "wall_s": round(self.wall_s, 3),
            "final": self.final,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "run_dir": self.run_dir,
            "error": self.error,
            "best_checkpoint": self.best_checkpoint,
        }


class StepLogs(Mapping[str, float]):
    """A step's values, turned into floats only when a callback reads them (a device sync)."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, torch.Tensor]) -> None:
        self._values = values

    def __getitem__(self, key: str) -> float:
        return float(self._values[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class BestMetrics:
    """The best value of each logged metric and the epoch it came from.

    Losses (``train/loss``, ``val/loss``, ``train/<term>``, ``val/<term>``) improve
    downwards. A metric's values follow its declared ``higher_is_better``
    (:func:`tvae_core._plugins.contracts.metric_directions`): a bool, or per returned key,
    None meaning a constant without a best; undeclared values are higher-is-better. Other
    keys (``lr``, logged loss weights, counters) have no best.
    """

    def __init__(self, metrics: Mapping[str, Any], loss_names: list[str]) -> None:
        self.directions: dict[str, bool | None] = {}
        self._defaults: dict[str, bool | None] = {}
        for name, metric in metrics.items():
            self._defaults[name], declared = metric_directions(name, metric)
            self.directions.update(declared)
        self.loss_names = {"loss", *loss_names}
        self.value: dict[str, float] = {}
        self.epoch: dict[str, int] = {}

    def learn(self, metric: str, keys: Iterable[str]) -> None:
        """Record the log keys a metric returned; those it did not declare take its default."""
        for key in keys:
            self.directions.setdefault(key, self._defaults.get(metric, DEFAULT_HIGHER_IS_BETTER))

    def direction(self, key: str) -> bool | None:
        """True if ``key`` improves upwards, False downwards, None if it has no best."""
        if key in self.directions:
            return self.directions[key]
        prefix, _, name = key.partition("/")
        if prefix in ("train", "val") and name in self.loss_names:
            return False
        return None

    def constants(self) -> set[str]:
        """Keys declared to have no best (ceilings and other constants)."""
        return {k for k, v in self.directions.items() if v is None}

    def update(self, logs: Mapping[str, float], epoch: int) -> None:
        for key, value in logs.items():
            higher = self.direction(key)
            if higher is None or not math.isfinite(value):
                continue
            old = self.value.get(key)
            if old is None or (value > old if higher else value < old):
                self.value[key] = value
                self.epoch[key] = epoch
