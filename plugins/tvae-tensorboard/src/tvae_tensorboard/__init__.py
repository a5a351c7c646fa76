"""tvae-tensorboard: TensorBoard logging for tvae runs.

- :class:`MetricsBuffer` buffers ``(tag, value, step)`` scalars and writes them in batches, as
  the seed guide uses it in hand-written loops::

      buffer = MetricsBuffer(tensorboard_dir="runs/")
      buffer.add("train/loss", loss, step=global_step)
      buffer.flush()

- :class:`TensorBoardCallback` (config name ``tensorboard``) writes a ``tvae run``'s epoch
  metrics, its hyperparameters and the latent embedding (projector) to
  ``<run_dir>/tensorboard``.

Names are imported on first use; neither imports torch or tensorboard until it writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvae_core import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "MetricsBuffer": "tvae_tensorboard.buffer",
    "TensorBoardCallback": "tvae_tensorboard.callback",
    "flatten_config": "tvae_tensorboard.callback",
}

__all__ = ["MetricsBuffer", "TensorBoardCallback", "__version__", "flatten_config"]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)


if TYPE_CHECKING:
    from tvae_tensorboard.buffer import MetricsBuffer
    from tvae_tensorboard.callback import TensorBoardCallback, flatten_config
