"""``OptunaPruning``: a trial's per-epoch validation metric goes to Optuna, which may stop it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tvae_core import Callback, Control, RunContext

if TYPE_CHECKING:
    import optuna


class OptunaPruning(Callback):
    """Report ``monitor`` to ``trial`` after each validation; stop the run when it is pruned.

    The step is Optuna's 0-based step index (the epoch number - 1, so ``n_warmup_steps: N``
    exempts the first N epochs); messages and ``pruned_at`` use tvae's 1-based epoch, as
    ``metrics.jsonl`` does. A pruned run stops after its epoch like any run a callback stops (status ``stopped_early``, its checkpoint
    written), with the reason saying that Optuna pruned it; :attr:`pruned_at` is the epoch.
    A value that is not finite is not reported (Optuna would refuse it), and a trial that
    reports nothing is never pruned.

    Args:
        trial: the Optuna trial the run belongs to.
        monitor: the metric key to report (``val/triplet_accuracy``).
        report: False only records; the sweep turns reporting off for a trial's runs after
            its first seed, so that Optuna judges each trial on one curve.
    """

    def __init__(self, trial: optuna.trial.Trial, monitor: str, report: bool = True) -> None:
        self.trial = trial
        self.monitor = monitor
        self.report = report
        self.pruned_at: int | None = None
        self.reported: dict[int, float] = {}
        self._control: Control | None = None

    def on_fit_start(self, run: RunContext) -> None:
        self._control = run.control

    def on_validation_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        if not self.report or self.monitor not in logs or self.pruned_at is not None:
            return
        value = float(logs[self.monitor])
        if not math.isfinite(value):
            return
        self.trial.report(value, step=epoch)
        self.reported[epoch] = value
        if self.trial.should_prune():
            self.pruned_at = epoch + 1  # 1-based, as tvae numbers epochs
            if self._control is not None:
                self._control.request_stop(
                    f"pruned by Optuna at epoch {epoch + 1} ({self.monitor} = {value:.6g})"
                )

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "reported": {str(k): v for k, v in self.reported.items()}}
