"""The tvae plugin module of tvae-callbacks: ``early_stopping``, ``checkpoint``, ``metrics``, ``coverage_plateau``.

Factories are lazy ``"module:attribute"`` strings with descriptions, so listing components
imports nothing heavy.
"""

from __future__ import annotations

from tvae_callbacks import __version__
from tvae_core import RegisterFn, hookimpl

__all__ = ["__version__", "tvae_register_callbacks"]

_PKG = "tvae_callbacks"


@hookimpl
def tvae_register_callbacks(register: RegisterFn) -> None:
    register(
        "early_stopping",
        f"{_PKG}.early_stopping:EarlyStoppingCallback",
        description="Stop when a monitored metric has not improved for `patience` epochs",
    )
    register(
        "checkpoint",
        f"{_PKG}.checkpoint:CheckpointCallback",
        description="Save epoch_XXXX.pt every `save_interval` epochs and best.pt on improvement",
    )
    register(
        "metrics",
        f"{_PKG}.metrics:MetricsCallback",
        description="Log a line of metrics every `log_interval` steps and after every epoch",
    )
    register(
        "coverage_plateau",
        f"{_PKG}.coverage:CoveragePlateauCallback",
        description="Stop when coverage reaches `threshold` or stops rising for `patience` epochs",
    )
