"""The process around a run: devices, seeds, random-number states, interrupt signals."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
from collections.abc import Mapping
from typing import Any

import torch

from tvae_core._errors import ConfigError


class Interrupted(KeyboardInterrupt):
    """Raised in the loop when SIGINT or SIGTERM arrives."""


def resolve_device(spec: str) -> torch.device:
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device: {spec!r} asked for, but torch sees no CUDA device")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"trainer.device: {spec!r} asked for, but MPS is not available")
    return device


def rank_seed(seed: int, epoch: int, rank: int) -> int:
    """A torch seed for one rank's epoch of a distributed run, distinct across ranks."""
    return ((seed * 1_000_003 + epoch) * 1_009 + rank) % 2**63


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    try:
        import numpy as np

        legacy = np.random.get_state(legacy=True)
        assert isinstance(legacy, tuple)
        kind, keys, pos, has_gauss, gauss = legacy
        state["numpy"] = [kind, torch.from_numpy(keys.astype("int64")), pos, has_gauss, gauss]
    except ImportError:  # pragma: no cover
        pass
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        import numpy as np

        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype("uint32"), pos, has_gauss, gauss))


def interrupt_signals() -> contextlib.AbstractContextManager[Any]:
    """Turn SIGINT and SIGTERM into :class:`Interrupted`; a second signal exits at once."""
    if threading.current_thread() is not threading.main_thread():
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    state = {"count": 0}

    def handler(signum: int, frame: Any) -> None:
        state["count"] += 1
        if state["count"] > 1:
            os._exit(130)  # a second Ctrl-C: leave at once
        raise Interrupted(signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM):
        old = signal.signal(sig, handler)
        stack.callback(signal.signal, sig, old)
    return stack
