"""The base of the callbacks that watch one metric: reading it, tracking its best value.

:class:`MonitorCallback` is shared by ``early_stopping``, ``checkpoint`` and
``coverage_plateau``. Two spellings of a key are accepted because the seed guide logs
``val_loss`` by hand while the engine logs ``val/loss``: ``val_x`` and ``val/x`` (likewise
``train_x`` and ``train/x``) name the same metric, and whichever is present in the logs is
used. A callback may also accept the bare name (``coverage`` for ``val/coverage``, as a
hand-written loop logs it): :class:`CoveragePlateauCallback` does; loss monitors do not, since
a bare ``loss`` is the training step's.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any, Literal

from tvae_core import Callback, ConfigError, RunContext

Mode = Literal["min", "max"]

_PREFIXES = ("val", "train")


def key_aliases(monitor: str, bare: bool = False) -> tuple[str, ...]:
    """``monitor`` followed by its other spelling, if it has one (``val_loss`` <-> ``val/loss``).

    With ``bare``, a ``val`` key also matches its name without the prefix and a bare name
    matches both prefixed spellings (``coverage`` <-> ``val/coverage`` <-> ``val_coverage``).
    """
    for prefix in _PREFIXES:
        for sep, other in (("_", "/"), ("/", "_")):
            if monitor.startswith(prefix + sep):
                name = monitor[len(prefix) + 1 :]
                extra = (name,) if bare and prefix == "val" else ()
                return (monitor, f"{prefix}{other}{name}", *extra)
    if bare:
        return (monitor, f"val/{monitor}", f"val_{monitor}")
    return (monitor,)


def find_key(monitor: str, logs: Mapping[str, Any], bare: bool = False) -> str | None:
    """The key of ``logs`` that holds ``monitor`` under any spelling, or None if absent."""
    for key in key_aliases(monitor, bare):
        if key in logs:
            return key
    return None


def read_metric(
    monitor: str, logs: Mapping[str, Any], bare: bool = False
) -> tuple[str, float] | None:
    """``(key, value)`` of the monitored metric as a float, or None when this epoch lacks it.

    Raises:
        TypeError: the logged value is not a number (names the key).
    """
    key = find_key(monitor, logs, bare)
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


def check_monitor_logged(monitor: str, logs: Mapping[str, Any], owner: str) -> None:
    """Fail if ``logs`` are of the kind ``monitor`` belongs to (a validation's, for a ``val``
    key; any epoch's, for a ``train`` key or one without a prefix) and lack it."""
    prefix = next((p for p in _PREFIXES if monitor.startswith((p + "/", p + "_"))), "val")
    if not any(str(k).startswith((prefix + "/", prefix + "_")) for k in logs):
        return  # not an epoch that logs it (validation every k epochs)
    keys = sorted(str(k) for k in logs)
    close = difflib.get_close_matches(monitor, keys, n=1, cutoff=0.6)
    if not close:  # the other spelling of a key may be closer (val_x for val/x)
        spelt = {alias: k for k in keys for alias in key_aliases(k)}
        close = [spelt[c] for c in difflib.get_close_matches(monitor, list(spelt), n=1)]
    guess = f"; did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(k for k in keys if k.startswith(prefix))[:300]
    raise ConfigError(
        f"monitor {monitor!r} is not in the epoch's logs{guess}",
        component=f"callback {owner}",
        hint=None if close else f"logged {prefix} keys: {shown}",
    )


def check_mode(mode: str | None) -> Mode | None:
    """``mode`` itself if it is ``"min"``, ``"max"`` or None; a one-line ValueError otherwise."""
    if mode is not None and mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', found {mode!r}")
    return mode  # type: ignore[return-value]


def loss_mode(monitor: str) -> Mode | None:
    """``"min"`` for a loss key (``val/loss``, ``train/loss``, ``val_loss``), None otherwise."""
    return "min" if any(k in ("val/loss", "train/loss") for k in key_aliases(monitor)) else None


def declared_mode(monitor: str, run: Any) -> Mode | None:
    """The mode the run's declared directions give ``monitor`` (None if it knows none).

    Inside ``tvae run`` the run answers ``direction(key)`` from the metrics' own
    ``higher_is_better`` (and losses improve downwards).
    """
    direction = getattr(run, "direction", None)
    if direction is None:
        return None
    for key in key_aliases(monitor):
        higher = direction(key)
        if higher is not None:
            return "max" if higher else "min"
    return None


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


class MonitorCallback(Callback):
    """A callback watching ``monitor``: its best value, the epoch of it, epochs since.

    Subclasses call :meth:`observe` with each epoch's logs; it updates ``best``,
    ``best_epoch`` and ``wait`` and says whether the value improved. ``wait`` counts
    **epochs**, not observations: the epochs since the best one (since the start of the
    count while no value was finite), so with a validation every 5 epochs a patience of 20
    is 20 epochs (4 validations). It is updated on the epochs that log the metric; the
    others neither reset nor check it. A checkpoint written when ``wait`` counted
    validations (no ``since_epoch`` in its state) is read with the count restarted from its
    ``best_epoch``, which is what the epoch count is. The state key holds the monitor and mode, so two instances
    watching different metrics keep their own state in a checkpoint; a resumed run that
    watches another metric (or the other way) starts its bookkeeping afresh.

    Args:
        monitor: The metric's log key.
        mode: ``min`` if lower is better, ``max`` if higher is better; None (the default)
            follows the direction the metric declares (``higher_is_better``), ``min`` for
            losses and for a key whose direction is unknown.
        min_delta: An improvement must beat the best value by more than this.
    """

    def __init__(self, monitor: str, mode: Literal["min", "max"] | None, min_delta: float) -> None:
        check_non_negative("min_delta", min_delta)
        self.monitor = monitor
        #: The mode as configured (None: follow the metric's declared direction).
        self.mode_setting = check_mode(mode)
        self.mode: Mode = self.mode_setting or loss_mode(monitor) or "min"
        self._mode_known = self.mode_setting is not None or loss_mode(monitor) is not None
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        #: Epochs completed when the patience count started: best_epoch, or the count's start.
        self.since_epoch = 0
        self._run: RunContext | None = None

    #: Whether the monitored key may also be logged without its ``val`` prefix.
    accepts_bare_key = False

    @property
    def state_key(self) -> str:
        # fixed at construction (restored before fit start): "auto" follows the metric
        return self._state_key_from(
            monitor=self.monitor, mode=self.mode if self._mode_known else "auto"
        )

    def on_fit_start(self, run: RunContext) -> None:
        self._run = run
        if not self._mode_known:
            declared = declared_mode(self.monitor, run)
            if declared is not None and declared != self.mode:
                # the direction the metric declares; bookkeeping of the other one is void
                self.mode, self.best, self.best_epoch, self.wait = declared, None, None, 0
                self.since_epoch = int(getattr(run, "epoch", 0) or 0)

    def on_fit_end(self, run: RunContext) -> None:
        self._run = None

    def improves(self, value: float) -> bool:
        """Whether ``value`` beats the best so far (see :func:`is_improvement`)."""
        return is_improvement(value, self.best, self.mode, self.min_delta)

    def observe(self, epoch: int, logs: Mapping[str, Any]) -> tuple[str, float, bool] | None:
        """``(key, value, improved)`` for this epoch's value, or None when it logged none.

        Raises:
            ConfigError: this epoch validated (or, for a ``train`` key, trained) and its logs
                lack the monitored key: a misspelt ``monitor``, named with the close match.
        """
        found = read_metric(self.monitor, logs, self.accepts_bare_key)
        if found is None:
            check_monitor_logged(self.monitor, logs, type(self).__name__)
            return None
        key, value = found
        improved = self.improves(value)
        if improved:
            self.best, self.best_epoch, self.wait = value, epoch + 1, 0  # numbered from 1
            self.since_epoch = epoch + 1
        else:
            if epoch < self.since_epoch:  # a loop numbering its epochs afresh
                self.since_epoch = epoch
            # epochs, not validations, since the best (or the count's start)
            self.wait = max(1, epoch + 1 - self.since_epoch)
        return key, value, improved

    def request_stop(self, reason: str) -> None:
        """Ask the run to stop (inside ``tvae run``; a hand-written loop polls should_stop)."""
        if self._run is not None:
            self._run.control.request_stop(reason)

    def monitor_state(self) -> dict[str, Any]:
        """The bookkeeping to save: monitor, mode, best, best_epoch, wait (epochs), since_epoch."""
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "since_epoch": self.since_epoch,
        }

    def load_monitor_state(self, state: Mapping[str, Any]) -> bool:
        """Restore :meth:`monitor_state` if it watched the same metric the same way."""
        if state.get("monitor", self.monitor) != self.monitor:
            return False
        if not self._mode_known and state.get("mode") in ("min", "max"):
            self.mode = state["mode"]  # checked against the declared direction at fit start
        elif state.get("mode", self.mode) != self.mode:
            return False
        best = state.get("best")
        self.best = None if best is None else float(best)
        self.best_epoch = state.get("best_epoch")
        self.wait = int(state.get("wait", 0))
        since = state.get("since_epoch")
        if since is None:  # saved when wait counted validations: count epochs from the best
            since = self.best_epoch if self.best_epoch is not None else 0
        self.since_epoch = int(since)
        return True
