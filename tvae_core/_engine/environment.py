"""The process around a run: device, distributed ranks, precision, seeds, RNG states, signals.

:class:`Environment` is what the loop asks "where and how do I compute": it owns the process
group it creates (and only that one), the autocast context and the gradient scaler.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tvae_core._config.schema import TrainerConfig
from tvae_core._errors import ConfigError


class Interrupted(KeyboardInterrupt):
    """Raised in the loop when SIGINT, SIGTERM or SIGHUP arrives."""


#: The signals that interrupt a run (SIGHUP: the terminal went away).
INTERRUPTS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def resolve_device(spec: str) -> torch.device:
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"{spec!r} asked for, but torch sees no CUDA device", where="trainer.device"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{spec!r} asked for, but MPS is not available", where="trainer.device")
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
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`Interrupted`; a second signal exits at once."""
    if threading.current_thread() is not threading.main_thread():
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    state = {"count": 0}

    def handler(signum: int, frame: Any) -> None:
        state["count"] += 1
        if state["count"] > 1:
            os._exit(130)  # a second Ctrl-C: leave at once
        raise Interrupted(signal.Signals(signum).name)

    for sig in INTERRUPTS:
        old = signal.signal(sig, handler)
        stack.callback(signal.signal, sig, old)
    return stack


def interrupt_again() -> contextlib.AbstractContextManager[Any]:
    """While the state of an interrupted run is saved: another signal raises
    :class:`Interrupted` at once (the write cleans up after itself), never waits for it."""
    if threading.current_thread() is not threading.main_thread():
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(signal.Signals(signum).name)

    for sig in INTERRUPTS:
        old = signal.signal(sig, handler)
        stack.callback(signal.signal, sig, old)
    return stack


def compile_cache_dir() -> Path:
    """Where inductor keeps compiled kernels between runs: ``$TORCHINDUCTOR_CACHE_DIR``, else
    ``tvae/inductor`` under the user cache (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        return Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "tvae" / "inductor"


def keep_compile_cache() -> Path:
    """Point inductor at :func:`compile_cache_dir` (its own default, under /tmp, is lost at a
    reboot): a second run of the same step loads its kernels instead of compiling them."""
    path = compile_cache_dir()
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(path)
    return path


class Environment:
    """Device, ranks and precision of one run, from its ``trainer`` section.

    :meth:`start` joins or creates the process group under torchrun (``WORLD_SIZE`` > 1:
    NCCL on CUDA, gloo on the CPU) and picks the device; :meth:`close` destroys the group if
    :meth:`start` created it.
    """

    def __init__(self, config: TrainerConfig) -> None:
        self.config = config
        self.world_size, self.rank = 1, 0
        self.device = torch.device("cpu")
        self.scaler: Any = None
        self._autocast_dtype: torch.dtype | None = None
        self._owns_process_group = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def start(self) -> Environment:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        device_spec = self.config.device
        if world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                use_cuda = torch.cuda.is_available() and device_spec != "cpu"
                if use_cuda:
                    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
                dist.init_process_group("nccl" if use_cuda else "gloo")
                self._owns_process_group = True
            self.world_size, self.rank = dist.get_world_size(), dist.get_rank()
            if device_spec.startswith("cuda:"):
                raise ConfigError(
                    f"{device_spec!r} would put every rank on one GPU",
                    where="trainer.device",
                    hint="under torchrun use 'cuda' or 'auto' (each rank takes the GPU of its LOCAL_RANK)",
                )
            if device_spec in ("auto", "cuda") and torch.cuda.is_available():
                device_spec = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        self.device = resolve_device(device_spec)
        if self.config.num_threads:
            torch.set_num_threads(self.config.num_threads)
        self._setup_precision()
        return self

    def _setup_precision(self) -> None:
        precision = self.config.precision
        if precision == "bf16-mixed":
            self._autocast_dtype = torch.bfloat16
        elif precision == "16-mixed":
            if self.device.type != "cuda":
                raise ConfigError(
                    "'16-mixed' needs a CUDA device (it uses a GradScaler)",
                    where="trainer.precision",
                    hint="on this device use 'bf16-mixed' or '32'",
                )
            self._autocast_dtype = torch.float16
            self.scaler = torch.amp.GradScaler("cuda")

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The forward pass's mixed-precision context (a no-op at precision ``32``)."""
        if self._autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._autocast_dtype)

    @property
    def compile_mode(self) -> str | None:
        """What ``trainer.compile`` compiles here: None (eager), "step" or "forward".

        Under DDP the whole step compiles as "forward" does, the wrapper alone: DDP's gradient
        all-reduce runs from hooks that a graph of the step's own would have to keep.
        """
        mode = self.config.compile
        if mode is False:
            return None
        if mode == "forward" or self.world_size > 1:
            return "forward"
        return "step"

    def wrap(self, model: torch.nn.Module) -> Any:
        """The module the loop calls: DDP across ranks, compiled with ``trainer.compile: forward``.

        (``step`` compiles the forward together with the losses: :mod:`tvae_core._engine.step`.)
        """
        forward: Any = model
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            forward = DDP(model, device_ids=ids)
        if self.compile_mode == "forward":
            # Compiling the DDP wrapper (not the bare module) keeps DDP's gradient all-reduce.
            keep_compile_cache()
            forward = torch.compile(forward)
        return forward

    def mean_over_ranks(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.world_size > 1:
            import torch.distributed as dist

            tensor = tensor.clone()
            dist.all_reduce(tensor)
            tensor /= self.world_size
        return tensor

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (a stop decision all ranks must share)."""
        if self.world_size > 1:
            import torch.distributed as dist

            where = self.device if self.device.type == "cuda" else "cpu"
            value = torch.tensor([1.0 if flag else 0.0], device=where)
            dist.broadcast(value, 0)
            return bool(value.item())
        return flag

    def close(self) -> None:
        """Destroy the process group if :meth:`start` created it (not one the caller made)."""
        if self._owns_process_group:
            import gc

            import torch.distributed as dist

            gc.collect()  # a DDP wrapper in a reference cycle still holds the group
            with contextlib.suppress(Exception):
                dist.destroy_process_group()
            self._owns_process_group = False
