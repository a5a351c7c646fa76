"""``CurriculumScheduler``: a difficulty that ramps from a start to an end value over epochs."""

from __future__ import annotations

import math
from typing import Literal

Schedule = Literal["linear", "cosine"]
SCHEDULES: tuple[str, ...] = ("linear", "cosine")


class CurriculumScheduler:
    """Difficulty per epoch: ``start_difficulty`` at epoch 0, ``end_difficulty`` from ``warmup_epochs`` on.

    In between it follows the ``schedule``: ``linear`` moves by equal steps; ``cosine``
    eases in and out (``start + (end - start) · (1 - cos(π t)) / 2`` with ``t =
    epoch / warmup_epochs``). Epochs are 0-based; ``warmup_epochs=0`` means full difficulty
    from the start. A start above the end ramps down. The scheduler is stateless: the
    difficulty depends on the epoch only, so a resumed run continues where it stopped.

    Args:
        start_difficulty: difficulty at epoch 0.
        end_difficulty: difficulty from epoch ``warmup_epochs`` on.
        warmup_epochs: epochs of the ramp; >= 0.
        schedule: shape of the ramp, ``linear`` or ``cosine``.
    """

    def __init__(
        self,
        start_difficulty: float = 0.1,
        end_difficulty: float = 1.0,
        warmup_epochs: int = 50,
        schedule: Schedule = "linear",
    ) -> None:
        for name, value in (
            ("start_difficulty", start_difficulty),
            ("end_difficulty", end_difficulty),
        ):
            if not math.isfinite(float(value)):
                raise ValueError(f"{name} must be a finite number, got {value}")
        if int(warmup_epochs) != warmup_epochs or warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be a whole number >= 0, got {warmup_epochs}")
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
        self.start_difficulty = float(start_difficulty)
        self.end_difficulty = float(end_difficulty)
        self.warmup_epochs = int(warmup_epochs)
        self.schedule: Schedule = schedule

    def progress(self, epoch: int) -> float:
        """How far along the ramp ``epoch`` is, in [0, 1]."""
        if self.warmup_epochs == 0:
            return 1.0
        return min(1.0, max(0.0, epoch / self.warmup_epochs))

    def get_difficulty(self, epoch: int) -> float:
        """The difficulty of 0-based ``epoch``."""
        t = self.progress(epoch)
        if self.schedule == "cosine":
            t = 0.5 * (1.0 - math.cos(math.pi * t))
        return self.start_difficulty + (self.end_difficulty - self.start_difficulty) * t

    def __repr__(self) -> str:
        return (
            f"CurriculumScheduler(start_difficulty={self.start_difficulty}, "
            f"end_difficulty={self.end_difficulty}, warmup_epochs={self.warmup_epochs}, "
            f"schedule={self.schedule!r})"
        )
