"""A buffer of scalars written to TensorBoard in batches."""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch.utils.tensorboard import SummaryWriter


class MetricsBuffer:
    """Collect ``(tag, value, step)`` scalars and write them to TensorBoard on :meth:`flush`.

    ``add`` costs a list append: a tensor value is kept as it is (detached) and all buffered
    tensors are copied to the host together at flush, so logging inside a training step
    does not wait for the device. The writer (``torch.utils.tensorboard.SummaryWriter``) is
    created on the first flush, so an unused buffer creates no file. The buffer flushes by
    itself when it holds ``max_pending`` values.

    Args:
        tensorboard_dir: Folder of the event files (created if needed).
        max_pending: Flush automatically once this many values are buffered.
    """

    def __init__(self, tensorboard_dir: str | Path, max_pending: int = 10_000) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, found {max_pending}")
        self.tensorboard_dir = Path(tensorboard_dir)
        self.max_pending = max_pending
        self._pending: list[tuple[str, Any, int, float]] = []
        self._writer: SummaryWriter | None = None
        self.written = 0

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def writer(self) -> SummaryWriter:
        """The underlying SummaryWriter (created on first use)."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard_dir.mkdir(parents=True, exist_ok=True)
            self._writer = SummaryWriter(log_dir=str(self.tensorboard_dir))
        return self._writer

    def add(self, tag: str, value: float | torch.Tensor, step: int) -> None:
        """Buffer one scalar; ``value`` is a number or a one-element tensor."""
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"tag must be a non-empty string, found {tag!r}")
        stored: Any
        if isinstance(value, (int, float)):
            stored = float(value)
        elif hasattr(value, "detach"):
            if value.numel() != 1:
                raise ValueError(
                    f"{tag}: a scalar needs a one-element tensor, found shape {tuple(value.shape)}"
                )
            stored = value.detach()
        else:
            try:
                stored = float(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{tag}: value must be a number or a tensor, found {type(value).__name__}"
                ) from None
        self._pending.append((tag, stored, int(step), time.time()))
        if len(self._pending) >= self.max_pending:
            self.flush()

    def _host_values(self) -> list[float]:
        tensors = [v for _, v, _, _ in self._pending if not isinstance(v, float)]
        host: list[float] = []
        if tensors:
            import torch

            host = torch.stack([t.reshape(()).float() for t in tensors]).cpu().tolist()
        it = iter(host)
        return [v if isinstance(v, float) else next(it) for _, v, _, _ in self._pending]

    def flush(self) -> None:
        """Write every buffered scalar and flush the event file to disk."""
        if self._pending:
            writer = self.writer
            for (tag, _, step, wall), value in zip(self._pending, self._host_values(), strict=True):
                writer.add_scalar(tag, value, global_step=step, walltime=wall)
            self.written += len(self._pending)
            self._pending.clear()
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file; a later :meth:`add` opens a new one."""
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> MetricsBuffer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
