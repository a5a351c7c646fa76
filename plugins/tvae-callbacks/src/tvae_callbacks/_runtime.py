"""What a callback needs to know about the process it runs in."""

from __future__ import annotations

from typing import Any


def is_main_process(trainer: Any | None = None) -> bool:
    """True on the process that writes files: rank 0 under distributed training, else always.

    Uses the trainer's ``rank`` attribute when it has one, else ``torch.distributed``.
    """
    rank = getattr(trainer, "rank", None)
    if isinstance(rank, int):
        return rank == 0
    import sys

    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return int(dist.get_rank()) == 0
    return True
