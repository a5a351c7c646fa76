"""Checkpoints: atomic writes, safe reads (``weights_only=True``), run-state layout.

A tvae checkpoint is a plain dict of tensors, numbers, strings, lists and dicts — never a
pickled module — with the seed guide's keys plus the rest of the run's state::

    epoch                  completed epochs (the next epoch to run, 0-based)
    model_state_dict       optimizer_state_dict    config (resolved run config, plain data)
    scheduler_state_dict   global_step             loss_weights
    callbacks              rng                     best     plugins    tvae_version
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import torch

from tvae_core._errors import CheckpointError
from tvae_core._run import integrity
from tvae_core._run.atomic import write_atomic
from tvae_core._run.rundir import resolve_checkpoint

FORMAT_VERSION = 1
REQUIRED_KEYS = ("epoch", "model_state_dict", "optimizer_state_dict", "config")
#: At most this many values in a checkpoint besides its config (tensors count one each).
MAX_STATE_NODES = 2_000_000


def save_checkpoint(obj: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``obj`` to ``path`` atomically (:func:`tvae_core._run.atomic.write_atomic`).

    A reader sees either the previous file or the complete new one, never a partial write;
    if writing fails (disk full, permissions), the previous file is left as it was.
    """
    target = Path(path)
    record = (integrity.record_pending, integrity.record_done)
    return write_atomic(
        target,
        lambda fh: _save(dict(obj), fh),
        what="checkpoint",
        around_rename=record if integrity.records(target) else None,
    )


def _save(obj: dict[str, Any], fh: Any) -> None:
    """``torch.save``, letting an interrupt that lands inside it through as itself.

    A signal handler that raises (Ctrl-C, SIGTERM) while torch's writer is in C++ comes out
    as a ``RuntimeError`` whose context is the interrupt; the run must see the interrupt.
    """
    try:
        torch.save(obj, fh)
    except Exception as exc:
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, KeyboardInterrupt):
                raise cause from None
            if isinstance(cause, OSError):  # a full disk under torch's C++ writer
                raise cause from None
            cause = cause.__cause__ or cause.__context__
        if isinstance(exc, RuntimeError) and "inline_container" in str(exc):
            # torch's writer failed without saying why: say what the disk says
            raise _write_failure(fh, exc) from None
        raise


def _write_failure(fh: Any, exc: RuntimeError) -> OSError:
    import errno
    import os

    try:
        info = os.fstatvfs(fh.fileno())
        full = info.f_bavail * info.f_frsize < (1 << 20)
    except (OSError, AttributeError, ValueError):
        full = False
    if full:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    first = str(exc).strip().splitlines()[0][:160]
    return OSError(errno.EIO, f"torch could not write the file ({first})")


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint safely (no code runs from the file); one-line errors on any fault.

    ``path`` is a checkpoint file or a run folder (its ``checkpoints/last.pt``).
    """
    p = resolve_checkpoint(path).path
    integrity.check_archive(p)  # every record's CRC, before torch reads any
    integrity.verify_recorded(p)  # the hash the run recorded when it wrote the file
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # protocol notes from the safe unpickler
            obj = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            reason = (
                "it holds objects other than tensors and plain data (refused; nothing was executed)"
            )
        elif isinstance(exc, (EOFError, RuntimeError)) and (
            "zip" in text.lower() or "eof" in text.lower() or "archive" in text.lower()
        ):
            reason = "the file is truncated or not a torch checkpoint"
        else:  # a cut or damaged file fails in many ways (OSError, UnpicklingError, ...)
            reason = (
                "the file is truncated, damaged or not a torch checkpoint "
                f"({type(exc).__name__}: {text[:200]})"
            )
        raise CheckpointError(f"cannot load checkpoint: {reason}", source=str(p)) from None
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"not a tvae checkpoint (holds a {type(obj).__name__}, expected a dict)", source=str(p)
        )
    return obj


def check_run_checkpoint(ckpt: Mapping[str, Any], path: str | Path) -> None:
    """Raise a CheckpointError unless ``ckpt`` has the keys a run needs to resume."""
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(
            f"not a tvae run checkpoint: missing {', '.join(missing)}", source=str(path)
        )
    # A hand-edited or foreign file can hold the keys with other types; say so in one line.
    expected: dict[str, tuple[type, ...]] = {
        "epoch": (int,),
        "global_step": (int,),
        "model_state_dict": (Mapping,),
        "optimizer_state_dict": (Mapping,),
        "config": (Mapping,),
    }
    for key, types in expected.items():
        value = ckpt.get(key, 0)
        if not isinstance(value, types) or isinstance(value, bool):
            raise CheckpointError(
                f"not a tvae run checkpoint: {key} holds a {type(value).__name__}",
                source=str(path),
            )
    _check_bounded(ckpt, path)
    if ckpt["epoch"] < 0 or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor)
        for k, v in ckpt["model_state_dict"].items()
    ):
        raise CheckpointError(
            "not a tvae run checkpoint: a negative epoch or weights that are not tensors",
            source=str(path),
        )


def _check_bounded(ckpt: Mapping[str, Any], path: str | Path) -> None:
    """A checkpoint's plain data is bounded before anything walks, copies or formats it: its
    config as a config file's is, the rest (callback states, records) more loosely."""
    from tvae_core._config.limits import check_plain_data
    from tvae_core._errors import ConfigError

    try:
        check_plain_data(ckpt["config"], what="the checkpoint's config")
        check_plain_data(
            {k: v for k, v in ckpt.items() if k != "config"},
            max_nodes=MAX_STATE_NODES,
            max_depth=64,
            what="the checkpoint",
        )
    except ConfigError as exc:
        raise CheckpointError(exc.message, source=str(path)) from None


def load_model_state(model: torch.nn.Module, state: Mapping[str, Any], path: str | Path) -> None:
    """Load weights strictly; a mismatch names the first missing, unexpected or mis-shaped key."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shape = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state
        and hasattr(state[k], "shape")
        and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    shape += [
        f"{k}: dtype {state[k].dtype} vs {own[k].dtype}"
        for k in own
        if k in state and isinstance(state[k], torch.Tensor) and state[k].dtype != own[k].dtype
    ]
    bad = next(
        (
            k
            for k in own
            if k in state
            and isinstance(state[k], torch.Tensor)
            and state[k].is_floating_point()
            and not bool(torch.isfinite(state[k]).all())
        ),
        None,
    )
    if bad is not None and not (missing or unexpected or shape):
        raise CheckpointError(f"the checkpoint's weight {bad} holds NaN or Inf", source=str(path))
    if missing or unexpected or shape:
        parts = []
        if missing:
            parts.append(
                f"missing {missing[0]}"
                + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            )
        if unexpected:
            parts.append(
                f"unexpected {unexpected[0]}"
                + (f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else "")
            )
        if shape:
            parts.append(f"shape of {shape[0]}")
        raise CheckpointError(
            f"the checkpoint does not fit this model ({'; '.join(parts)})",
            hint="was it written for another architecture or settings?",
            source=str(path),
        )
    model.load_state_dict(state, strict=True)


def check_optimizer_state(
    optimizer: torch.optim.Optimizer, state: Mapping[str, Any], path: str | Path
) -> None:
    """Refuse optimizer state that does not fit ``optimizer``, before anything loads it.

    ``torch.optim.Optimizer.load_state_dict`` trusts the file: a moment of the wrong shape
    is broadcast or indexed out of bounds in the next step (a crash, or gigabytes of
    memory). Every group must list as many parameters as the optimizer's; every tensor of
    a parameter's state must have the parameter's shape and dtype (the
    ``step`` count excepted: one number) and be finite. One-line CheckpointError.
    """

    def refuse(what: str) -> NoReturn:
        raise CheckpointError(
            f"the optimizer state does not fit this optimizer: {what}",
            hint="was it written for another model or optimizer?",
            source=str(path),
        )

    groups, saved_state = state.get("param_groups"), state.get("state")
    if not isinstance(groups, list) or not isinstance(saved_state, Mapping):
        refuse("param_groups must be a list and state a mapping")
        return
    own_groups = optimizer.param_groups
    if len(groups) != len(own_groups):
        refuse(f"{len(groups)} parameter groups, the optimizer has {len(own_groups)}")
    params: dict[Any, torch.Tensor] = {}
    for i, (saved, own) in enumerate(zip(groups, own_groups, strict=True)):
        ids = saved.get("params") if isinstance(saved, Mapping) else None
        if not isinstance(ids, list) or len(ids) != len(own["params"]):
            n = len(ids) if isinstance(ids, list) else "no list of"
            refuse(f"group {i} has {n} parameters, the optimizer's has {len(own['params'])}")
            return
        for pid, param in zip(ids, own["params"], strict=True):
            if isinstance(pid, bool) or not isinstance(pid, int) or pid in params:
                refuse(f"group {i} lists the parameter id {pid!r} (not a new integer)")
            params[pid] = param
    for pid, entry in saved_state.items():
        if pid not in params:
            refuse(f"state for parameter {pid!r}, which no group lists")
        if not isinstance(entry, Mapping):
            refuse(f"state of parameter {pid} holds a {type(entry).__name__}, not a mapping")
        param = params[pid]
        for key, value in entry.items():
            if not isinstance(value, torch.Tensor):
                if isinstance(value, float) and not math.isfinite(value):
                    refuse(f"parameter {pid}'s {key} is {value}")
                continue
            where = f"parameter {pid}'s {key}"
            if key == "step":  # the step count: a 0-d (or 1-element) number
                if value.numel() != 1 or value.is_complex():
                    refuse(f"{where} has shape {list(value.shape)}, not a single number")
            else:
                if tuple(value.shape) != tuple(param.shape):
                    refuse(
                        f"{where} has shape {list(value.shape)}, the parameter {list(param.shape)}"
                    )
                if value.dtype != param.dtype:
                    refuse(f"{where} has dtype {value.dtype}, the parameter {param.dtype}")
            if (value.is_floating_point() or value.is_complex()) and not bool(
                torch.isfinite(value).all()
            ):
                refuse(f"{where} holds NaN or Inf")
