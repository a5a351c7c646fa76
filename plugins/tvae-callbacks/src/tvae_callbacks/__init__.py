"""tvae-callbacks: early stopping, checkpointing, metrics logging and coverage plateau.

The callbacks work inside ``tvae run`` (named in the config's ``callbacks`` section as
``early_stopping``, ``checkpoint``, ``metrics``, ``coverage_plateau``) and in a hand-written
loop, as the seed guide uses them::

    from tvae_callbacks import CallbackList, EarlyStoppingCallback, CheckpointCallback

    callbacks = CallbackList([EarlyStoppingCallback(patience=20, monitor="val_loss"),
                              CheckpointCallback(save_dir="checkpoints/", model=model)])
    callbacks.on_epoch_end(epoch, {"val_loss": val_loss})
    if callbacks.should_stop():
        ...

Classes that need torch are imported on first use, so that ``tvae list`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvae_core import Callback, CallbackList, lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "EarlyStoppingCallback": "tvae_callbacks.early_stopping",
    "CheckpointCallback": "tvae_callbacks.checkpoint",
    "MetricsCallback": "tvae_callbacks.metrics",
    "CoveragePlateauCallback": "tvae_callbacks.coverage",
}

__all__ = [
    "Callback",
    "CallbackList",
    "CheckpointCallback",
    "CoveragePlateauCallback",
    "EarlyStoppingCallback",
    "MetricsCallback",
    "__version__",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)


if TYPE_CHECKING:
    from tvae_callbacks.checkpoint import CheckpointCallback
    from tvae_callbacks.coverage import CoveragePlateauCallback
    from tvae_callbacks.early_stopping import EarlyStoppingCallback
    from tvae_callbacks.metrics import MetricsCallback
