"""What a run records: the summary, lazy step logs, and the best value of each metric."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from tvae_core._constants import VAL_PREFIX


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

    Loss values (``train/loss``, ``val/<term>``) improve downwards; a metric's direction comes
    from its ``higher_is_better`` attribute (a bool, or a mapping per key for metrics that
    return several values, None meaning "no best"), True by default. ``lr``, ``beta`` and
    other bookkeeping have no best.
    """

    def __init__(self, metrics: Mapping[str, Any], loss_names: list[str]) -> None:
        self.directions: dict[str, bool | None] = {}
        for name, metric in metrics.items():
            hib = getattr(metric, "higher_is_better", True)
            if isinstance(hib, Mapping):
                self.directions.update({f"{VAL_PREFIX}{k}": v for k, v in hib.items()})
            else:
                self.directions[f"{VAL_PREFIX}{name}"] = bool(hib)
        self.loss_names = {"loss", *loss_names}
        self.value: dict[str, float] = {}
        self.epoch: dict[str, int] = {}

    def update(self, logs: Mapping[str, float], epoch: int) -> None:
        for key, value in logs.items():
            if not math.isfinite(value):
                continue
            prefix, _, name = key.partition("/")
            if key in self.directions:
                higher = self.directions[key]
                if higher is None:
                    continue
            elif prefix in ("train", "val") and name in self.loss_names:
                higher = False
            elif prefix == "val":
                higher = True
            else:
                continue
            old = self.value.get(key)
            if old is None or (value > old if higher else value < old):
                self.value[key] = value
                self.epoch[key] = epoch
