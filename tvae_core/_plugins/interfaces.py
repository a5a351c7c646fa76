"""What plugins implement and what they are given: callbacks, the run they see, datasets.

A callback is a plain object with event methods. Order of events in a run (each called on
every callback, in config order, then the ones given in code)::

    on_fit_start(run)                      once; the callback may keep ``run``
      on_load_checkpoint(checkpoint)       when resuming, before the first epoch
      per epoch:
        on_epoch_start(epoch)
          per step:
            on_batch_start(batch_idx, batch)
            on_after_backward(batch_idx)   gradients are unscaled and not yet clipped
            on_batch_end(batch_idx, logs)  logs: lazy mapping; reading a value syncs the device
        on_validation_end(epoch, logs)     only on validation epochs; logs hold val/*
        on_epoch_end(epoch, logs)          logs hold train/*, val/* (if validated), lr, ...
        should_stop()                      polled after on_epoch_end
        on_save_checkpoint(checkpoint)     for every checkpoint written; add state to it
    on_exception(exc)                      when the loop raises (also on KeyboardInterrupt)
    on_fit_end(run)                        once, also after a stop or failure; the summary
                                           is written: run.summary, RUN/summary.json

``run`` is a :class:`RunContext`: what a callback may read (the config, the run folder,
rank, epoch, step, the model, the loss weights) and do (stop or save through
:class:`Control`, evaluate, validate, save a checkpoint); never the trainer itself. A
callback asks the loop to stop through ``run.control`` or by returning True from
``should_stop()`` with a ``stop_reason`` attribute. Its ``state_dict()`` is stored in every
checkpoint under its :attr:`Callback.state_key` and given back to ``load_state_dict`` on
resume, whatever the callbacks' order.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, overload, runtime_checkable

if TYPE_CHECKING:
    import torch

    from tvae_core._config.schema import RunConfig

#: Epoch and step log keys: ``train/<name>``, ``val/<name>``, ``lr`` and what components add.
TRAIN_PREFIX = "train/"
VAL_PREFIX = "val/"

Batch = dict[str, "torch.Tensor"]


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


class LossWeights(Protocol):
    """The run's loss terms as a callback sees them: names and mutable weights."""

    def __contains__(self, name: object) -> bool: ...

    def names(self) -> list[str]: ...

    def weight(self, name: str) -> float: ...

    def set_weight(self, name: str, weight: float) -> None: ...


class RunOutcome(Protocol):
    """How a run ended, as ``summary.json`` records it (a :class:`tvae_core.RunSummary`)."""

    status: str  # completed, stopped_early, interrupted, failed
    stop_reason: str
    epochs: int
    wall_s: float
    final: dict[str, float]
    best: dict[str, float]


class RunContext(Protocol):
    """What a callback may read and do in a run: the members below, and nothing else.

    A callback gets one at ``on_fit_start`` and ``on_fit_end``; inside ``tvae run`` it is a
    view of the trainer (:class:`RunView`), in tests :class:`tvae_core.testing.FakeRun`.
    """

    @property
    def config(self) -> RunConfig:
        """The run's resolved configuration (read it; changing it changes nothing)."""

    @property
    def run_dir(self) -> Path | None:
        """The run's folder; None without one (library use) and on ranks other than 0."""

    @property
    def checkpoint_dir(self) -> Path | None:
        """The run's ``checkpoints/`` folder; None when ``run_dir`` is."""

    @property
    def rank(self) -> int:
        """This process's rank under distributed training (0 otherwise)."""

    @property
    def world_size(self) -> int:
        """The number of training processes (1 without distributed training)."""

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run's files (rank 0)."""

    @property
    def device(self) -> torch.device:
        """The device the model and the batches are on."""

    @property
    def epoch(self) -> int:
        """Completed epochs (the 0-based index of the epoch about to run)."""

    @property
    def global_step(self) -> int:
        """Optimizer steps taken so far."""

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch on this rank (the dataset's ``num_train_batches()``)."""

    @property
    def model(self) -> torch.nn.Module:
        """The model being trained (not its DDP or compiled wrapper)."""

    @property
    def losses(self) -> LossWeights:
        """The loss terms; ``set_weight`` takes effect from the next step."""

    @property
    def callbacks(self) -> Sequence[Callback]:
        """Every callback of the run, in the order events reach them."""

    @property
    def control(self) -> Control:
        """Where to ask the loop to stop (``request_stop``) or save (``request_save``)."""

    @property
    def summary(self) -> RunOutcome | None:
        """How the run ended; None until ``on_fit_end``, when it is also in ``summary.json``."""

    def evaluate(self) -> tuple[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor]]:
        """The model's outputs (eval mode) over the evaluation set, and that set's tensors."""

    def validate(self) -> dict[str, float]:
        """``val/loss``, ``val/<term>`` and every metric over the evaluation set, now."""

    def save_checkpoint(self, path: str | Path) -> Path | None:
        """Write the run's full state; a bare file name goes into ``checkpoint_dir``.

        Returns the file written, or None on ranks that write no files.
        """

    def direction(self, key: str) -> bool | None:
        """How the logged ``key`` improves: True upwards, False downwards, None unknown.

        From the metrics' declared ``higher_is_better`` (losses improve downwards).
        """


class RunView:
    """A :class:`RunContext` showing only the protocol's members of the run behind it.

    The trainer hands callbacks one of these, so that what a callback may use is exactly
    what is documented, whatever else the trainer holds.
    """

    __slots__ = ("_run",)

    def __init__(self, run: RunContext) -> None:
        self._run = run

    @property
    def config(self) -> RunConfig:
        return self._run.config

    @property
    def run_dir(self) -> Path | None:
        return self._run.run_dir

    @property
    def checkpoint_dir(self) -> Path | None:
        return self._run.checkpoint_dir

    @property
    def rank(self) -> int:
        return self._run.rank

    @property
    def world_size(self) -> int:
        return self._run.world_size

    @property
    def is_main(self) -> bool:
        return self._run.is_main

    @property
    def device(self) -> torch.device:
        return self._run.device

    @property
    def epoch(self) -> int:
        return self._run.epoch

    @property
    def global_step(self) -> int:
        return self._run.global_step

    @property
    def steps_per_epoch(self) -> int:
        return self._run.steps_per_epoch

    @property
    def model(self) -> torch.nn.Module:
        return self._run.model

    @property
    def losses(self) -> LossWeights:
        return self._run.losses

    @property
    def callbacks(self) -> Sequence[Callback]:
        return tuple(self._run.callbacks)

    @property
    def control(self) -> Control:
        return self._run.control

    @property
    def summary(self) -> RunOutcome | None:
        return self._run.summary

    def evaluate(self) -> tuple[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor]]:
        return self._run.evaluate()

    def validate(self) -> dict[str, float]:
        return self._run.validate()

    def save_checkpoint(self, path: str | Path) -> Path | None:
        return self._run.save_checkpoint(path)

    def direction(self, key: str) -> bool | None:
        """How the logged ``key`` improves: True upwards, False downwards, None unknown.

        From the metrics' declared ``higher_is_better`` (losses improve downwards); a
        callback's ``mode`` default follows it.
        """
        return self._run.direction(key)


def is_main_process(run: RunContext | None = None) -> bool:
    """True on the process that writes files: rank 0 under distributed training, else always.

    Asks ``run`` when a callback has one (inside ``tvae run``), else ``torch.distributed``
    if a process group is up (a hand-written distributed loop).
    """
    if run is not None:
        return bool(run.is_main)
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return int(dist.get_rank()) == 0
    return True


class Callback:
    """Base class of callbacks: every event is a no-op unless overridden."""

    #: Set by a callback whose ``should_stop()`` returns True, to say why.
    stop_reason: str | None = None

    @property
    def state_key(self) -> str:
        """The key of this callback's state in checkpoints; unique within a run.

        The class name by default. A callback that a run may hold twice with different
        settings (two early stoppings on different metrics) includes them: see
        :meth:`_state_key_from`. Two callbacks with one key are told apart by order.
        """
        return type(self).__qualname__

    def _state_key_from(self, **settings: Any) -> str:
        """``ClassName[a=1,b=x]``: a state key that tells instances with other settings apart."""
        inner = ",".join(f"{k}={v}" for k, v in settings.items())
        return f"{type(self).__qualname__}[{inner}]"

    def on_fit_start(self, run: RunContext) -> None:
        """Called once before the first epoch (after a resume's state is restored)."""

    def on_fit_end(self, run: RunContext) -> None:
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


class CallbackList(Callback, Sequence[Callback]):
    """Several callbacks behaving as one: each event goes to each callback in order."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self.callbacks: list[Callback] = list(callbacks)

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    @overload
    def __getitem__(self, index: int) -> Callback: ...

    @overload
    def __getitem__(self, index: slice) -> list[Callback]: ...

    def __getitem__(self, index: int | slice) -> Callback | list[Callback]:
        return self.callbacks[index]

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)

    def on_fit_start(self, run: RunContext) -> None:
        for cb in self.callbacks:
            cb.on_fit_start(run)

    def on_fit_end(self, run: RunContext) -> None:
        for cb in self.callbacks:
            cb.on_fit_end(run)

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

    def state_keys(self) -> list[str]:
        """Each callback's key in checkpoints: its ``state_key``, ``#2``, ``#3`` on repeats."""
        seen: dict[str, int] = {}
        keys = []
        for cb in self.callbacks:
            key = cb.state_key
            seen[key] = seen.get(key, 0) + 1
            keys.append(key if seen[key] == 1 else f"{key}#{seen[key]}")
        return keys

    def state_dict(self) -> dict[str, Any]:
        return {
            key: cb.state_dict() for key, cb in zip(self.state_keys(), self.callbacks, strict=True)
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Give each callback the state saved under its key; callbacks without one start afresh.

        Checkpoints written before state keys (keys ``"<position>:<ClassName>"``) are read by
        class name, in order: the first saved ``EarlyStoppingCallback`` goes to the first
        one of the run, and so on.
        """
        by_position: dict[str, list[Any]] = {}
        for key, value in state.items():
            position, sep, name = key.partition(":")
            if sep and position.isdigit():
                by_position.setdefault(name, []).append((int(position), value))
        queues = {name: [v for _, v in sorted(items)] for name, items in by_position.items()}
        for key, cb in zip(self.state_keys(), self.callbacks, strict=True):
            if key in state:
                cb.load_state_dict(state[key])
            elif queues.get(type(cb).__name__):
                cb.load_state_dict(queues[type(cb).__name__].pop(0))


@runtime_checkable
class Dataset(Protocol):
    """What the engine needs from a dataset component (a ``TensorDataset`` has all of it)."""

    batch_size: int

    def setup(self, *, device: torch.device, seed: int, rank: int = 0, world_size: int = 1) -> None:
        """Move the data to ``device`` and remember the run's seed and this rank's shard."""

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        """The training batches of ``epoch``; shuffling depends only on (seed, epoch)."""

    def num_train_batches(self) -> int:
        """How many batches :meth:`train_batches` yields per epoch on this rank."""

    def eval_batches(self) -> Iterator[Batch]:
        """The evaluation set in a fixed order (all of it, on every rank)."""

    def model_context(self) -> dict[str, Any]:
        """Values a model factory takes from the data when the config leaves them unset."""


#: The methods of :class:`Dataset`, checked on every dataset a run builds.
DATASET_METHODS = ("setup", "train_batches", "num_train_batches", "eval_batches", "model_context")
