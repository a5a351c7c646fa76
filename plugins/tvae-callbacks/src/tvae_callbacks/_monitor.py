"""Reading a monitored metric out of epoch logs, and deciding what counts as an improvement.

Shared by the callbacks that watch one metric. Two spellings of a key are accepted because the
seed guide logs ``val_loss`` by hand while the engine logs ``val/loss``: ``val_x`` and
``val/x`` (likewise ``train_x`` and ``train/x``) name the same metric, and whichever is present
in the logs is used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

Mode = Literal["min", "max"]

_PREFIXES = ("val", "train")


def key_aliases(monitor: str) -> tuple[str, ...]:
    """``monitor`` followed by its other spelling, if it has one (``val_loss`` <-> ``val/loss``)."""
    for prefix in _PREFIXES:
        if monitor.startswith(prefix + "_"):
            return (monitor, f"{prefix}/{monitor[len(prefix) + 1 :]}")
        if monitor.startswith(prefix + "/"):
            return (monitor, f"{prefix}_{monitor[len(prefix) + 1 :]}")
    return (monitor,)


def find_key(monitor: str, logs: Mapping[str, Any]) -> str | None:
    """The key of ``logs`` that holds ``monitor`` under either spelling, or None if absent."""
    for key in key_aliases(monitor):
        if key in logs:
            return key
    return None


def read_metric(monitor: str, logs: Mapping[str, Any]) -> tuple[str, float] | None:
    """``(key, value)`` of the monitored metric as a float, or None when this epoch lacks it.

    Raises:
        TypeError: the logged value is not a number (names the key).
    """
    key = find_key(monitor, logs)
    if key is None:
        return None
    raw = logs[key]
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise TypeError(
            f"logs[{key!r}] must be a number to be monitored, found {type(raw).__name__}"
        ) from None
    return key, value


def check_mode(mode: str) -> Mode:
    """``mode`` itself if it is ``"min"`` or ``"max"``; a one-line ValueError otherwise."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', found {mode!r}")
    return mode  # type: ignore[return-value]


def check_non_negative(name: str, value: float) -> None:
    """A one-line ValueError unless ``value`` is a finite number >= 0."""
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, found {value!r}")


def is_improvement(value: float, best: float | None, mode: Mode, min_delta: float) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` in the direction of ``mode``.

    A non-finite value (NaN, ±inf) never counts as an improvement; the first finite value
    always does.
    """
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    if mode == "min":
        return value < best - min_delta
    return value > best + min_delta
