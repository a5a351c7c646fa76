"""tvae-tensorboard: TensorBoard logging for tvae runs.

- :class:`MetricsBuffer` buffers ``(tag, value, step)`` scalars and writes them in batches, as
  the seed guide uses it in hand-written loops::

      buffer = MetricsBuffer(tensorboard_dir="runs/")
      buffer.add("train/loss", loss, step=global_step)
      buffer.flush()

- :class:`TensorBoardCallback` (config name ``tensorboard``) writes a ``tvae run``'s epoch
  metrics, its hyperparameters and the latent embedding (projector) to
  ``<run_dir>/tensorboard``.

Neither imports torch or tensorboard until it writes.
"""

from __future__ import annotations

from tvae_tensorboard.buffer import MetricsBuffer
from tvae_tensorboard.callback import TensorBoardCallback, flatten_config

__version__ = "0.1.0"

__all__ = ["MetricsBuffer", "TensorBoardCallback", "__version__", "flatten_config"]
