"""A run's state in a checkpoint: what is saved after an epoch and restored on ``--resume``.

The checkpoint layout is documented in :mod:`tvae_core._run.checkpoint`; restoring is
strict: weights that do not fit the model, or optimizer state that does not fit the
optimizer, are a :class:`tvae_core.CheckpointError`, never a silent partial load.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import torch

from tvae_core._config.schema import RunConfig
from tvae_core._engine.build import RunParts
from tvae_core._engine.environment import rng_state, set_rng_state
from tvae_core._engine.records import BestMetrics
from tvae_core._errors import CheckpointError, TrainingError, describe
from tvae_core._plugins.interfaces import CallbackList
from tvae_core._run.checkpoint import (
    FORMAT_VERSION,
    check_optimizer_state,
    check_run_checkpoint,
    load_model_state,
)
from tvae_core._run.rundir import monotonic
from tvae_core._version import __version__


@dataclass
class Counters:
    """How far a run is: completed epochs, optimizer steps, the best metrics so far."""

    best: BestMetrics
    epoch: int = 0
    global_step: int = 0
    last_logs: dict[str, float] = field(default_factory=dict)
    #: ``{"epoch": E, "metrics": {...}}`` of the epoch ``best.pt`` was last saved at.
    best_checkpoint: dict[str, Any] | None = None
    #: Seconds of training before this process (the earlier ones of a resumed run).
    wall_before: float = 0.0
    #: When this process started training (``perf_counter``), None before it does.
    started: float | None = None

    def wall_s(self) -> float:
        """Seconds of training so far, across resumes."""
        here = monotonic() - self.started if self.started is not None else 0.0
        return self.wall_before + here


def capture(
    parts: RunParts,
    callbacks: CallbackList,
    counters: Counters,
    config: RunConfig,
    plugin_versions: Mapping[str, str | None],
) -> dict[str, Any]:
    """The full checkpoint of the run at the last completed epoch (callbacks add theirs)."""
    ckpt: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "epoch": counters.epoch,
        "global_step": counters.global_step,
        "model_state_dict": parts.model.state_dict(),
        "optimizer_state_dict": parts.optimizer.state_dict(),
        "scheduler_state_dict": parts.scheduler.state_dict()
        if parts.scheduler is not None
        else None,
        "loss_weights": parts.losses.weights,
        "callbacks": callbacks.state_dict(),
        "rng": rng_state(),
        "best": dict(counters.best.value),
        "best_epoch": dict(counters.best.epoch),
        "best_checkpoint": counters.best_checkpoint,
        "wall_s": counters.wall_s(),
        "config": config.to_dict(),
        "plugins": dict(plugin_versions),
        "tvae_version": __version__,
        "torch_version": str(torch.__version__),
    }
    callbacks.on_save_checkpoint(ckpt)
    check_loadable(ckpt)
    return ckpt


#: What ``torch.load(..., weights_only=True)`` reads back (besides tensors and containers).
_PLAIN = (str, int, float, bool, complex, bytes, type(None), torch.Size, torch.dtype, torch.device)


def _not_loadable(value: Any, depth: int = 0) -> tuple[str, str] | None:
    """``(path, type name)`` of the first part of ``value`` a safe load refuses, or None."""
    if isinstance(value, torch.Tensor) or type(value) in _PLAIN:
        return None
    if depth > 64:
        return ("", "structure nested more than 64 deep")
    if type(value) in (dict, OrderedDict):
        for k, v in value.items():
            if type(k) not in _PLAIN:
                return (f"[{k!r}]"[:80], f"{type(k).__name__} key")
            found = _not_loadable(v, depth + 1)
            if found is not None:
                return (f"[{k!r}]"[:80] + found[0], found[1])
        return None
    if type(value) in (list, tuple, set):
        for i, v in enumerate(value):
            found = _not_loadable(v, depth + 1)
            if found is not None:
                return (f"[{i}]" + found[0], found[1])
        return None
    return ("", type(value).__name__)


def check_loadable(ckpt: Mapping[str, Any]) -> None:
    """Refuse, at save time, state a resume could not load (``weights_only=True``).

    A callback state holding a numpy scalar or a ``Path`` used to save fine and make every
    checkpoint of the run unreadable; now the save fails in one line naming the callback.
    """
    for key, value in ckpt.items():
        found = _not_loadable(value)
        if found is None:
            continue
        where, what = found
        if key == "callbacks" and where.startswith("["):
            owner = where[1:].split("]", 1)[0]
            place = f"the state of callback {owner}"
        else:
            place = f"the checkpoint's {key!r}"
        raise TrainingError(
            f"{place} is not checkpoint-safe: it holds a {what} at {key}{where} "
            "(a checkpoint holds tensors and plain data only; it could not be resumed)",
            hint="store it as a number, a string, a list, a dict or a tensor "
            "(float(x), str(path), x.tolist())",
        )


def restore(
    ckpt: Mapping[str, Any],
    path: str | Path,
    parts: RunParts,
    callbacks: CallbackList,
    counters: Counters,
) -> None:
    """Restore what :func:`capture` saved, strictly; then tell the callbacks."""
    check_run_checkpoint(ckpt, path)
    check_state_types(ckpt, path, parts)
    check_optimizer_state(parts.optimizer, ckpt["optimizer_state_dict"], path)
    load_model_state(parts.model, ckpt["model_state_dict"], path)
    try:
        parts.optimizer.load_state_dict(ckpt["optimizer_state_dict"])
        if parts.scheduler is not None and ckpt.get("scheduler_state_dict") is not None:
            parts.scheduler.load_state_dict(ckpt["scheduler_state_dict"])
    except (ValueError, KeyError, RuntimeError, TypeError, AttributeError, IndexError) as exc:
        raise CheckpointError(
            f"the optimizer or scheduler state does not fit: {describe(exc, 200)}",
            source=str(path),
        ) from None
    parts.losses.load_state_dict({"weights": ckpt.get("loss_weights", {})})
    callbacks.load_state_dict(ckpt.get("callbacks", {}))
    if "rng" in ckpt:
        try:
            set_rng_state(ckpt["rng"])
        except (ValueError, KeyError, RuntimeError, TypeError, AttributeError, IndexError) as exc:
            raise CheckpointError(
                f"the checkpoint's rng state cannot be restored ({describe(exc, 200)})",
                source=str(path),
            ) from None
    counters.epoch = int(ckpt["epoch"])
    counters.global_step = int(ckpt.get("global_step", 0))
    # Keys declared to have no best (a ceiling) keep none, whatever an older version saved.
    constants = counters.best.constants()
    counters.best.value = {k: v for k, v in ckpt.get("best", {}).items() if k not in constants}
    counters.best.epoch = {
        k: v for k, v in ckpt.get("best_epoch", {}).items() if k not in constants
    }
    counters.best_checkpoint = _best_checkpoint(ckpt.get("best_checkpoint"))
    wall = ckpt.get("wall_s", 0.0)
    counters.wall_before = float(wall) if _is_number(wall) and 0 <= wall < 1e12 else 0.0
    callbacks.on_load_checkpoint(ckpt)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_state_types(ckpt: Mapping[str, Any], path: str | Path, parts: RunParts) -> None:
    """Refuse run state of the wrong shape (a hand-edited or foreign checkpoint) in one line,
    before any of it is loaded: rng, best, loss weights, scheduler and callback states."""

    def refuse(what: str) -> NoReturn:
        raise CheckpointError(
            f"not a tvae run checkpoint: {what}",
            hint="was it edited by hand, or written by something else?",
            source=str(path),
        )

    rng = ckpt.get("rng")
    if "rng" in ckpt:
        if not isinstance(rng, Mapping) or not isinstance(rng.get("torch"), torch.Tensor):
            refuse("rng must map 'torch' to a byte tensor")
        py = rng.get("python") if isinstance(rng, Mapping) else None
        if not (
            isinstance(py, (list, tuple)) and len(py) == 3 and isinstance(py[1], (list, tuple))
        ):
            refuse("rng's 'python' state must be [version, [ints], gauss]")
    for key in ("best", "best_epoch"):
        value = ckpt.get(key, {})
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and _is_number(v) for k, v in value.items()
        ):
            refuse(f"{key} must map metric names to numbers")
    weights = ckpt.get("loss_weights", {})
    if not isinstance(weights, Mapping) or not all(
        isinstance(k, str) and _is_number(v) and math.isfinite(v) and v >= 0
        for k, v in weights.items()
    ):
        refuse("loss_weights must map loss terms to finite numbers >= 0")
    states = ckpt.get("callbacks", {})
    if not isinstance(states, Mapping) or not all(
        isinstance(k, str) and (v is None or isinstance(v, Mapping)) for k, v in states.items()
    ):
        refuse("callbacks must map each callback to a mapping of its state")
    saved = ckpt.get("scheduler_state_dict")
    if parts.scheduler is not None and saved is not None:
        if not isinstance(saved, Mapping):
            refuse(f"scheduler_state_dict holds a {type(saved).__name__}, not a mapping")
        for key, own in parts.scheduler.state_dict().items():
            value = saved.get(key, own)
            if (_is_number(own) and _is_number(value)) or own is None or value is None:
                continue
            if type(value) is not type(own):
                refuse(
                    f"the scheduler's {key!r} holds a {type(value).__name__}, "
                    f"not a {type(own).__name__}"
                )


def _best_checkpoint(saved: Any) -> dict[str, Any] | None:
    """The saved ``best_checkpoint`` record if it is well-formed plain data, else None."""
    if not isinstance(saved, Mapping) or not isinstance(saved.get("epoch"), int):
        return None
    metrics = saved.get("metrics")
    if not isinstance(metrics, Mapping):
        return None
    return {
        "epoch": int(saved["epoch"]),
        "metrics": {str(k): float(v) for k, v in metrics.items() if isinstance(v, (int, float))},
    }


def version_changes(ckpt: Mapping[str, Any], plugins_now: Mapping[str, str | None]) -> list[str]:
    """What changed in tvae and its plugins since ``ckpt`` was written, one line each."""
    changes = []
    saved_core = ckpt.get("tvae_version")
    if saved_core and saved_core != __version__:
        changes.append(f"tvae-core {saved_core} wrote the checkpoint; this is {__version__}")
    saved = ckpt.get("plugins") or {}
    for name, version in sorted(saved.items()):
        if name not in plugins_now:
            changes.append(f"plugin {name!r} ({version}) is not loaded any more")
        elif plugins_now[name] != version:
            changes.append(f"plugin {name!r} was {version} and is now {plugins_now[name]}")
    changes += [
        f"plugin {n!r} ({v}) is new" for n, v in sorted(plugins_now.items()) if n not in saved
    ]
    return changes
