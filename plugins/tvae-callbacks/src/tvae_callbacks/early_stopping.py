"""Early stopping: stop when a monitored metric has not improved for ``patience`` epochs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from tvae_callbacks._monitor import MonitorCallback


class EarlyStoppingCallback(MonitorCallback):
    """Stop training when the monitored metric stops improving.

    Patience counts epochs, not validations: it stops at the first epoch that logs the
    metric ``patience`` or more epochs after the best one (after the start, while no value
    was finite). With ``trainer.val_every: 5``, ``patience: 20`` stops at the 4th validation
    without improvement; epochs without ``val/*`` keys are counted but never stop the run by
    themselves. A hand-written loop passes each ``on_epoch_end`` its epoch index, the
    count's clock. A non-finite value (NaN, inf)
    never counts as an improvement. Works inside ``tvae run`` (it also asks the loop to stop
    through ``run.control``) and in a hand-written loop (poll :meth:`should_stop`).

    Args:
        patience: Epochs since the best value (checked when the metric is logged) before
            stopping; 0 stops at the first value that does not improve.
        monitor: The metric to watch; ``val_loss`` and ``val/loss`` name the same key.
        mode: ``min`` if lower is better, ``max`` if higher is better; unset, the direction
            the monitored metric declares (``min`` for losses).
        min_delta: An improvement must beat the best value by more than this.
    """

    def __init__(
        self,
        patience: int = 20,
        monitor: str = "val/loss",
        mode: Literal["min", "max"] | None = None,
        min_delta: float = 1e-4,
    ) -> None:
        if patience < 0:
            raise ValueError(f"patience must be >= 0, found {patience}")
        super().__init__(monitor, mode, min_delta)
        self.patience = patience
        self.stopped_epoch: int | None = None
        self.stop_reason: str | None = None

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any]) -> None:
        if self.stopped_epoch is not None:
            return
        seen = self.observe(epoch, logs)
        if seen is None or seen[2] or self.wait < self.patience:
            return
        key, value, _ = seen
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
        self.request_stop(self.stop_reason)

    def should_stop(self) -> bool:
        return self.stopped_epoch is not None

    def state_dict(self) -> dict[str, Any]:
        return {
            **self.monitor_state(),
            "stopped_epoch": self.stopped_epoch,
            "stop_reason": self.stop_reason,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        # A run resumed after an early stop trains on: the restored count stops it again at
        # the next epoch without improvement, an improvement resets it.
        self.load_monitor_state(state)
