"""Checkpointing: periodic ``epoch_XXXX.pt`` files, ``best.pt`` on improvement, retention."""

from __future__ import annotations

import logging
import re
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch

from tvae_callbacks._monitor import MonitorCallback
from tvae_core import RunContext, is_main_process

_log = logging.getLogger("tvae.callbacks.checkpoint")
_PERIODIC = re.compile(r"epoch_[0-9]{4,}\.pt")


def _plain_config(config: Any) -> Any:
    """The config as plain data (``to_dict()``, ``model_dump()`` or a mapping), or None."""
    if config is None:
        return None
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if hasattr(config, "model_dump"):
        return config.model_dump(mode="json")
    if isinstance(config, Mapping):
        return dict(config)
    raise TypeError(f"config must be a mapping or have to_dict(), found {type(config).__name__}")


#: Modules whose frames are the callbacks' own dispatch, not the loop that called the events.
_OWN_MODULES = ("tvae_callbacks", "tvae_core")


def _loop_namespace() -> dict[str, Any] | None:
    """The names visible in the hand-written loop that called the event (locals over globals).

    The first frame up the stack outside tvae's callback modules (a CallbackList forwards
    events through ``tvae_core``) is the loop's.
    """
    frame = sys._getframe(1)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if module.split(".")[0] not in _OWN_MODULES:
            return {**frame.f_globals, **frame.f_locals}
        frame = frame.f_back  # type: ignore[assignment]
    return None


class CheckpointCallback(MonitorCallback):
    """Save checkpoints every ``save_interval`` epochs and whenever the monitored metric improves.

    Periodic files are ``epoch_XXXX.pt`` (XXXX = epochs completed), the best one ``best.pt``,
    written only on a finite improvement larger than ``min_delta``. Inside ``tvae run`` each
    file is the core's full training state (``run.save_checkpoint``), written atomically
    into ``save_dir`` or the run's ``checkpoints/``. In a hand-written loop pass ``model=`` and
    ``optimizer=`` (or call :meth:`attach`) and each file is a dict with the seed guide's keys
    ``epoch`` (epochs completed), ``model_state_dict``, ``optimizer_state_dict`` and ``config``,
    plus the epoch's ``metrics``. A loop that gives neither (the seed guide's) has its
    ``model``, ``optimizer`` and ``config`` found by those names where it calls the event,
    once, with a log line saying so; if it has no ``model``, the first save fails with one
    line saying to call :meth:`attach`.

    Args:
        save_dir: Folder for the files; default the run's ``checkpoints/`` folder.
        save_interval: Save ``epoch_XXXX.pt`` every this many epochs; None saves none.
        save_best: Save ``best.pt`` when the monitored metric improves.
        monitor: The metric deciding ``best.pt``; ``val_loss`` and ``val/loss`` name the same key.
        mode: ``min`` if lower is better, ``max`` if higher is better; unset, the direction
            the monitored metric declares (``min`` for losses).
        min_delta: An improvement must beat the best value by more than this.
        keep_last: Keep only this many periodic files (oldest deleted first); None keeps all.
        model: Hand-written loops only: the model whose weights to save.
        optimizer: Hand-written loops only: the optimizer whose state to save.
        config: Hand-written loops only: the run's config (a mapping or an object with to_dict()).
    """

    def __init__(
        self,
        save_dir: str | None = None,
        save_interval: int | None = 10,
        save_best: bool = True,
        monitor: str = "val/loss",
        mode: Literal["min", "max"] | None = None,
        min_delta: float = 0.0,
        keep_last: int | None = None,
        *,
        model: torch.nn.Module | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        config: Any = None,
    ) -> None:
        if save_interval is not None and save_interval < 1:
            raise ValueError(f"save_interval must be >= 1 or None, found {save_interval}")
        if keep_last is not None and keep_last < 1:
            raise ValueError(f"keep_last must be >= 1 or None, found {keep_last}")
        super().__init__(monitor, mode, min_delta)
        self.save_dir = Path(save_dir) if save_dir is not None else None
        self.save_interval = save_interval
        self.save_best = save_best
        self.keep_last = keep_last
        self.model = model
        self.optimizer = optimizer
        self.config = config
        self.periodic: list[str] = []
        self._warned = False

    def attach(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None = None,
        config: Any = None,
    ) -> CheckpointCallback:
        """Give a hand-written loop's model (and optimizer, config) to save; returns self."""
        self.model, self.optimizer = model, optimizer
        if config is not None:
            self.config = config
        return self

    @property
    def directory(self) -> Path | None:
        """Where files go: ``save_dir``, else the run's ``checkpoints/``, else None."""
        if self.save_dir is not None:
            return self.save_dir
        return self._run.checkpoint_dir if self._run is not None else None

    def on_fit_start(self, run: RunContext) -> None:
        super().on_fit_start(run)
        if self.directory is None and run.is_main:
            self._warn("the run has no folder and no save_dir was given")

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any]) -> None:
        done = epoch + 1
        if self.save_interval is not None and done % self.save_interval == 0:
            name = f"epoch_{done:04d}.pt"
            # Listed before saving, so that the file's own callback state names it (a run
            # resumed from it prunes it in turn); pruned after, so that a failed save leaves
            # the older files in place.
            previous = self.periodic
            self.periodic = [p for p in previous if p != name] + [name]
            if self._save(name, done, logs):
                self._prune()
            else:
                self.periodic = previous
        if not self.save_best:
            return
        seen = self.observe(epoch, logs)
        if seen is not None and seen[2]:
            self._save("best.pt", done, logs)

    def _save(self, filename: str, done: int, logs: Mapping[str, Any]) -> bool:
        if not is_main_process(self._run):
            return False
        directory = self.directory
        if directory is None:
            self._warn("the run has no folder and no save_dir was given")
            return False
        path = directory / filename
        if self._run is not None:
            self._run.save_checkpoint(path)
            return True
        model = self.model if self.model is not None else self._adopt_loop_objects()
        from tvae_core import save_checkpoint

        state: dict[str, Any] = {
            "epoch": done,
            "model_state_dict": model.state_dict(),
            "config": _plain_config(self.config),
            "metrics": {k: float(v) for k, v in logs.items() if _is_number(v)},
        }
        if self.optimizer is not None:
            state["optimizer_state_dict"] = self.optimizer.state_dict()
        save_checkpoint(state, path)
        return True

    def _adopt_loop_objects(self) -> torch.nn.Module:
        """Take the calling loop's ``model``, ``optimizer`` and ``config`` (the seed guide's
        names), or fail with one line saying to call :meth:`attach`."""
        names = _loop_namespace() or {}
        model, optimizer = names.get("model"), names.get("optimizer")
        if not isinstance(model, torch.nn.Module):
            raise RuntimeError(
                "CheckpointCallback has no model to save: call "
                "checkpoint.attach(model, optimizer, config) (or pass model= and optimizer=) "
                "before the first epoch"
            )
        self.model = model
        if self.optimizer is None and isinstance(optimizer, torch.optim.Optimizer):
            self.optimizer = optimizer
        config = names.get("config")
        if self.config is None and config is not None:
            try:
                _plain_config(config)
            except TypeError:
                config = None
            self.config = config
        found = ", ".join(
            n
            for n, v in (("model", model), ("optimizer", self.optimizer), ("config", self.config))
            if v is not None and v is names.get(n)
        )
        _log.info(
            "CheckpointCallback saves the loop's %s (found by name; attach() chooses others)", found
        )
        return model

    def _prune(self) -> None:
        if self.keep_last is None or not is_main_process(self._run):
            return
        directory = self.directory
        while len(self.periodic) > self.keep_last:
            old = self.periodic.pop(0)
            if directory is not None and _own_file_name(old):
                (directory / old).unlink(missing_ok=True)

    def _warn(self, why: str) -> None:
        if not self._warned:
            self._warned = True
            message = f"CheckpointCallback saves nothing: {why}"
            _log.warning(message)
            warnings.warn(message, stacklevel=3)

    def state_dict(self) -> dict[str, Any]:
        return {**self.monitor_state(), "periodic": list(self.periodic)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        # Only names of files this callback writes: a checkpoint from elsewhere must not
        # make the next prune delete any other file (an absolute path, ../x, a folder).
        periodic = state.get("periodic", [])
        self.periodic = [
            p for p in (periodic if isinstance(periodic, list) else []) if _own_file_name(p)
        ]
        self.load_monitor_state(state)


def _own_file_name(name: Any) -> bool:
    """Whether ``name`` is a periodic file's bare name, ``epoch_NNNN.pt`` (no folder part)."""
    return isinstance(name, str) and _PERIODIC.fullmatch(name) is not None


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
