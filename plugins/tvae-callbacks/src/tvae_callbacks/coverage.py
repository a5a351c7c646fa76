"""Coverage plateau: stop when coverage reaches its target or stops rising."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tvae_callbacks._monitor import MonitorCallback, check_non_negative, read_metric

# Absorbs float rounding in differences such as 0.07 - 0.06.
_EPS = 1e-12


class CoveragePlateauCallback(MonitorCallback):
    """Stop when coverage reaches ``threshold`` or gains less than ``min_improvement`` for ``patience`` epochs.

    Coverage is a fraction in [0, 1] (the share of operations decoded exactly); a finite
    value outside that range is an error, since it is most likely a percentage. NaN counts as
    an epoch without gain. Patience counts epochs, not validations (see
    :class:`~tvae_callbacks.EarlyStoppingCallback`): with ``trainer.val_every: 5``,
    ``patience: 10`` is 2 validations without gain. ``stop_reason`` says
    whether the target was reached or coverage stalled.

    Args:
        patience: Epochs without a gain of ``min_improvement`` before stopping (counted in
            epochs, checked when coverage is logged).
        threshold: Stop as soon as coverage is at least this fraction.
        min_improvement: The gain over the best coverage so far that resets the patience count.
        monitor: The coverage key; ``val/coverage``, ``val_coverage`` and (as a hand-written
            loop logs it) a bare ``coverage`` name the same key.
    """

    accepts_bare_key = True

    def __init__(
        self,
        patience: int = 10,
        threshold: float = 0.95,
        min_improvement: float = 0.01,
        monitor: str = "val/coverage",
    ) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, found {patience}")
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be a fraction in (0, 1], found {threshold!r}")
        check_non_negative("min_improvement", min_improvement)
        super().__init__(monitor, "max", min_improvement)
        self.patience = patience
        self.threshold = threshold
        self.min_improvement = min_improvement
        self.stopped_epoch: int | None = None
        self.stop_reason: str | None = None

    def improves(self, value: float) -> bool:
        # A gain of exactly min_improvement counts (``>=``), unlike min_delta elsewhere.
        return math.isfinite(value) and (
            self.best is None or value - self.best >= self.min_improvement - _EPS
        )

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any]) -> None:
        if self.stopped_epoch is not None:
            return
        found = read_metric(self.monitor, logs, self.accepts_bare_key)
        if found is not None and math.isfinite(found[1]) and not 0.0 <= found[1] <= 1.0:
            raise ValueError(
                f"CoveragePlateauCallback: {found[0]} = {found[1]:g} at epoch {epoch + 1} is not a "
                "fraction in [0, 1] (is it a percentage?)"
            )
        seen = self.observe(epoch, logs)
        if seen is None:
            return
        key, value, _ = seen
        if math.isfinite(value) and value >= self.threshold:
            self._stop(
                epoch,
                f"coverage target reached: {key} = {value:.4f} >= threshold {self.threshold:g} "
                f"at epoch {epoch + 1}",
            )
        elif self.wait >= self.patience:
            best = (
                "never finite"
                if self.best is None
                else f"best {self.best:.4f} at epoch {self.best_epoch}"
            )
            self._stop(
                epoch,
                f"coverage plateau: {key} gained less than {self.min_improvement:g} for "
                f"{self.wait} epochs ({best}, threshold {self.threshold:g} not reached)",
            )

    def _stop(self, epoch: int, reason: str) -> None:
        self.stopped_epoch, self.stop_reason = epoch, reason
        self.request_stop(reason)

    def should_stop(self) -> bool:
        return self.stopped_epoch is not None

    def state_dict(self) -> dict[str, Any]:
        return self.monitor_state()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.load_monitor_state(state)
