"""Early stopping: stop when a monitored metric has not improved for ``patience`` epochs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from tvae_callbacks._monitor import check_mode, check_non_negative, is_improvement, read_metric
from tvae_core import Callback

if TYPE_CHECKING:
    from tvae_core import Trainer


class EarlyStoppingCallback(Callback):
    """Stop training when the monitored metric stops improving.

    Patience counts epochs that logged the metric: with validation every k epochs, epochs
    without ``val/*`` keys neither count nor reset the count. A non-finite value (NaN, inf)
    never counts as an improvement. Works inside ``tvae run`` (it also asks the loop to stop
    through ``trainer.control``) and in a hand-written loop (poll :meth:`should_stop`).

    Args:
        patience: Epochs without improvement (among those that logged the metric) before stopping.
        monitor: The metric to watch; ``val_loss`` and ``val/loss`` name the same key.
        mode: ``min`` if lower is better, ``max`` if higher is better.
        min_delta: An improvement must beat the best value by more than this.
    """

    def __init__(
        self,
        patience: int = 20,
        monitor: str = "val/loss",
        mode: Literal["min", "max"] = "min",
        min_delta: float = 1e-4,
    ) -> None:
        if patience < 0:
            raise ValueError(f"patience must be >= 0, found {patience}")
        check_non_negative("min_delta", min_delta)
        self.patience = patience
        self.monitor = monitor
        self.mode = check_mode(mode)
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.stop_reason: str | None = None
        self._trainer: Trainer | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        self._trainer = trainer

    def on_fit_end(self, trainer: Trainer) -> None:
        self._trainer = None

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any]) -> None:
        found = read_metric(self.monitor, logs)
        if found is None or self.stopped_epoch is not None:
            return
        key, value = found
        if is_improvement(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        self.stopped_epoch = epoch
        if self.best is None:
            self.stop_reason = (
                f"early stopping: {key} was never finite in {self.wait} epochs (last {value})"
            )
        else:
            self.stop_reason = (
                f"early stopping: {key} did not improve by more than {self.min_delta:g} for "
                f"{self.wait} epochs (best {self.best:.6g} at epoch {self.best_epoch})"
            )
        if self._trainer is not None:
            self._trainer.control.request_stop(self.stop_reason)

    def should_stop(self) -> bool:
        return self.stopped_epoch is not None

    def state_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "stop_reason": self.stop_reason,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if (
            state.get("monitor", self.monitor) != self.monitor
            or state.get("mode", self.mode) != self.mode
        ):
            # A resumed run that watches another metric, or the other way, starts afresh.
            return
        best = state.get("best")
        self.best = None if best is None else float(best)
        self.best_epoch = state.get("best_epoch")
        # A run resumed after an early stop trains on: the restored count stops it again at
        # the next epoch without improvement, an improvement resets it.
        self.wait = int(state.get("wait", 0))
