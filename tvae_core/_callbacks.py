"""Callbacks: plain objects with event methods, and the control object they steer the loop by.

Order of events in a run (each called on every callback, in config order)::

    on_fit_start(trainer)                  once; the callback may keep ``trainer``
      on_load_checkpoint(checkpoint)       when resuming, before the first epoch
      per epoch:
        on_epoch_start(epoch)
          per step:
            on_batch_start(batch_idx, batch)
            on_after_backward(batch_idx)   gradients are unscaled and not yet clipped
            on_batch_end(batch_idx, logs)  logs: lazy mapping; reading a value syncs the device
        on_validation_end(epoch, logs)     only on validation epochs; logs hold val/*
        on_epoch_end(epoch, logs)          logs hold train/*, val/* (if validated), lr, beta
        should_stop()                      polled after on_epoch_end
        on_save_checkpoint(checkpoint)     for every checkpoint written; add state to it
    on_exception(exc)                      when the loop raises (also on KeyboardInterrupt)
    on_fit_end(trainer)                    once, also after a stop or failure; the run's
                                           summary is written: trainer.summary, summary.json

A callback asks the loop to stop or to save through ``trainer.control``
(:class:`Control`) or by returning True from ``should_stop()`` with a ``stop_reason``
attribute. Its ``state_dict()`` is stored in every checkpoint under its position and class
name, and given back to ``load_state_dict`` on resume.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tvae_core._engine import Trainer


@dataclass
class Control:
    """Requests from callbacks to the training loop, read by the loop after each event."""

    stop_requested: bool = False
    stop_reason: str | None = None
    save_requested: list[str] = field(default_factory=list)

    def request_stop(self, reason: str) -> None:
        """Stop after the current epoch; ``reason`` ends up in ``summary.json``."""
        if not self.stop_requested:
            self.stop_requested = True
            self.stop_reason = reason

    def request_save(self, filename: str) -> None:
        """Write a checkpoint named ``filename`` in the run's ``checkpoints/`` after this epoch."""
        if filename not in self.save_requested:
            self.save_requested.append(filename)


class Callback:
    """Base class of callbacks: every event is a no-op unless overridden."""

    #: Set by a callback whose ``should_stop()`` returns True, to say why.
    stop_reason: str | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        """Called once before the first epoch (after a resume's state is restored)."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """Called once at the end of training, whatever ended it."""

    def on_epoch_start(self, epoch: int) -> None:
        """Called before the first step of ``epoch`` (0-based)."""

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        """Called after an epoch's training and validation with the epoch's metrics."""

    def on_batch_start(self, batch_idx: int, batch: Mapping[str, Any]) -> None:
        """Called before the forward pass of each step."""

    def on_batch_end(self, batch_idx: int, logs: Mapping[str, float]) -> None:
        """Called after each optimizer step."""

    def on_after_backward(self, batch_idx: int) -> None:
        """Called after backward, before gradient clipping and the optimizer step."""

    def on_validation_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        """Called after validation with the ``val/*`` metrics."""

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Called with each checkpoint dict before it is written."""

    def on_load_checkpoint(self, checkpoint: Mapping[str, Any]) -> None:
        """Called with the checkpoint a run resumes from."""

    def on_exception(self, exc: BaseException) -> None:
        """Called when training raises (including KeyboardInterrupt)."""

    def should_stop(self) -> bool:
        """True asks the loop to stop after this epoch."""
        return False

    def state_dict(self) -> dict[str, Any]:
        """State to store in checkpoints (tensors, numbers, strings, lists, dicts only)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class CallbackList(Callback):
    """Several callbacks behaving as one: each event goes to each callback in order."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self.callbacks: list[Callback] = list(callbacks)

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)

    def on_fit_start(self, trainer: Trainer) -> None:
        for cb in self.callbacks:
            cb.on_fit_start(trainer)

    def on_fit_end(self, trainer: Trainer) -> None:
        for cb in self.callbacks:
            cb.on_fit_end(trainer)

    def on_epoch_start(self, epoch: int) -> None:
        for cb in self.callbacks:
            cb.on_epoch_start(epoch)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_batch_start(self, batch_idx: int, batch: Mapping[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_batch_start(batch_idx, batch)

    def on_batch_end(self, batch_idx: int, logs: Mapping[str, float]) -> None:
        for cb in self.callbacks:
            cb.on_batch_end(batch_idx, logs)

    def on_after_backward(self, batch_idx: int) -> None:
        for cb in self.callbacks:
            cb.on_after_backward(batch_idx)

    def on_validation_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        for cb in self.callbacks:
            cb.on_validation_end(epoch, logs)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_save_checkpoint(checkpoint)

    def on_load_checkpoint(self, checkpoint: Mapping[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_load_checkpoint(checkpoint)

    def on_exception(self, exc: BaseException) -> None:
        for cb in self.callbacks:
            cb.on_exception(exc)

    def should_stop(self) -> bool:
        """True if any callback asks to stop; ``stop_reason`` is the first one's reason."""
        for cb in self.callbacks:
            if cb.should_stop():
                self.stop_reason = cb.stop_reason or f"{type(cb).__name__} requested a stop"
                return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {f"{i}:{type(cb).__name__}": cb.state_dict() for i, cb in enumerate(self.callbacks)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for i, cb in enumerate(self.callbacks):
            key = f"{i}:{type(cb).__name__}"
            if key in state:
                cb.load_state_dict(state[key])
