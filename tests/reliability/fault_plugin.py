"""A plugin that injects faults into toy runs, for the reliability tests.

Loaded with ``--plugin tests/reliability/fault_plugin.py`` beside the core's toy plugin.
It provides components that misbehave on request (a loss that turns non-finite or raises
at a given step, a model whose latent goes non-finite, a metric and a callback that raise)
and a ``chaos`` callback that kills its own process with SIGKILL at a planned moment.

The kill plan comes from the environment variable ``TVAE_CHAOS`` (absent: nothing happens),
so the same config runs unharmed in-process and crashes in a subprocess::

    step:K              SIGKILL after optimizer step K (global, counted from 1)
    epoch_end:E         SIGKILL in on_epoch_end of epoch E (metrics written, no checkpoint yet)
    save:N:F            SIGKILL during the N-th checkpoint write of the process (from 1),
                        after a fraction F of the file's bytes reached the disk
    replaced:N          SIGKILL right after the N-th checkpoint's rename, before the folder's fsync
    slow_save:S         sleep S seconds before each checkpoint write (a window for signals);
                        with ``TVAE_CHAOS_READY`` set, ``<ready>.saving`` marks the first sleep
    signal:NAME:K       send the process signal NAME (SIGINT, SIGTERM) after optimizer step K

Several plans may be joined with commas. ``TVAE_CHAOS_READY``, when set, names a file the
``chaos`` callback creates when training starts (so a harness can time external kills).
"""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tvae_core import Callback, hookimpl

PLAN_ENV = "TVAE_CHAOS"
READY_ENV = "TVAE_CHAOS_READY"


def _plan() -> dict[str, list[str]]:
    plan: dict[str, list[str]] = {}
    for item in filter(None, os.environ.get(PLAN_ENV, "").split(",")):
        kind, _, rest = item.partition(":")
        plan[kind] = rest.split(":")
    return plan


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)  # the signal is asynchronous; never go on


def _install_save_faults(plan: Mapping[str, list[str]]) -> None:
    """Wrap ``torch.save`` and the atomic writer's ``os.replace`` to crash mid-checkpoint."""
    if not ({"save", "replace", "slow_save", "replaced"} & set(plan)):
        return
    from tvae_core._run import atomic, checkpoint

    real_save, real_replace = torch.save, os.replace
    count = {"save": 0, "replace": 0}

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        count["save"] += 1
        if "slow_save" in plan:
            ready = os.environ.get(READY_ENV)
            if ready:
                Path(ready + ".saving").touch()
            time.sleep(float(plan["slow_save"][0]))
        if "save" in plan and count["save"] == int(plan["save"][0]) and hasattr(f, "write"):
            buf = io.BytesIO()
            real_save(obj, buf, *args, **kwargs)
            data = buf.getvalue()
            f.write(data[: int(len(data) * float(plan["save"][1]))])
            f.flush()
            os.fsync(f.fileno())
            _die()
        real_save(obj, f, *args, **kwargs)

    class _OsProxy:
        """The ``os`` module as the atomic writer sees it, crashing after a checkpoint's rename."""

        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        @staticmethod
        def replace(src: Any, dst: Any) -> None:
            real_replace(src, dst)
            if not str(dst).endswith(".pt"):  # run files go through the same writer
                return
            count["replace"] += 1
            if "replaced" in plan and count["replace"] == int(plan["replaced"][0]):
                _die()

    checkpoint.torch.save = save
    atomic.os = _OsProxy()  # type: ignore[assignment]


_install_save_faults(_plan())


class Chaos(Callback):
    """Kills the process at the step or epoch ``TVAE_CHAOS`` names; otherwise does nothing."""

    def __init__(self) -> None:
        self.plan = _plan()
        self.trainer: Any = None

    def on_fit_start(self, trainer: Any) -> None:
        self.trainer = trainer
        ready = os.environ.get(READY_ENV)
        if ready:
            Path(ready).write_text(str(trainer.global_step))

    def on_batch_end(self, batch_idx: int, logs: Mapping[str, float]) -> None:
        step = self.trainer.global_step
        if "step" in self.plan and step == int(self.plan["step"][0]):
            _die()
        if "signal" in self.plan and step == int(self.plan["signal"][1]):
            os.kill(os.getpid(), signal.Signals[self.plan["signal"][0]])

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        if "epoch_end" in self.plan and epoch == int(self.plan["epoch_end"][0]):
            _die()


class FaultyLoss:
    """Mean squared error that misbehaves from optimizer step ``at_step`` on (counted from 0).

    Args:
        at_step: the first step (calls in training mode) that misbehaves; -1 never.
        mode: "nan" or "inf" returns that value, "raise" raises a RuntimeError,
            "nan_grad" keeps the value finite but makes its gradient NaN.
        times: how many calls misbehave (0: every call from ``at_step`` on).
    """

    requires = frozenset({"outputs.recon", "batch.x"})

    def __init__(self, at_step: int = -1, mode: str = "nan", times: int = 0) -> None:
        if mode not in ("nan", "inf", "raise", "nan_grad"):
            raise ValueError(f"mode must be nan, inf, raise or nan_grad, not {mode!r}")
        self.at_step, self.mode, self.times = at_step, mode, times
        self.calls = 0

    def __call__(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        value = ((outputs["recon"] - batch["x"]) ** 2).mean()
        if not torch.is_grad_enabled():
            return value  # evaluation passes stay clean
        step = self.calls
        self.calls += 1
        bad = 0 <= self.at_step <= step and (self.times == 0 or step < self.at_step + self.times)
        if not bad:
            return value
        if self.mode == "raise":
            raise RuntimeError(f"faulty loss gave up at step {step}")
        if self.mode == "nan_grad":
            return value + _nan_grad(value)
        return value * float(self.mode)


def _nan_grad(value: torch.Tensor) -> torch.Tensor:
    """Zero in value, NaN in gradient: d/dx sqrt(x) at x = 0 times 0 is 0 * inf."""
    zero = (value - value.detach()).abs()  # 0, with a gradient path to the model
    return torch.sqrt(zero) * 0.0


class LatentNaNModel(torch.nn.Module):
    """The toy autoencoder whose latent ``h`` goes NaN from training step ``at_step`` on.

    Args:
        in_dim: input width (from the dataset).
        hidden: latent width.
        at_step: the first training forward pass (from 0) whose latent is NaN; -1 never.
    """

    def __init__(self, in_dim: int, hidden: int = 8, at_step: int = -1) -> None:
        super().__init__()
        self.enc = torch.nn.Linear(in_dim, hidden)
        self.dec = torch.nn.Linear(hidden, in_dim)
        self.at_step = at_step
        self.calls = 0

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        h = torch.tanh(self.enc(batch["x"]))
        if self.training and torch.is_grad_enabled():
            if 0 <= self.at_step <= self.calls:
                h = h + float("nan")
            self.calls += 1
        return {"recon": self.dec(h), "h": h}


def raising_metric(at_call: int = 0) -> Any:
    """A metric that raises a ValueError from its ``at_call``-th evaluation (from 0).

    Args:
        at_call: the first evaluation that raises.
    """
    calls = {"n": 0}

    def metric(outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]) -> float:
        calls["n"] += 1
        if calls["n"] > at_call:
            raise ValueError("metric exploded")
        return 0.5

    return metric


class RaisingCallback(Callback):
    """Raises a RuntimeError in ``on_epoch_end`` of epoch ``at_epoch``.

    Args:
        at_epoch: the epoch (0-based) whose end raises.
    """

    def __init__(self, at_epoch: int = 0) -> None:
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        if epoch == self.at_epoch:
            raise RuntimeError(f"callback broke at epoch {epoch}")


@hookimpl
def tvae_register_losses(register: Any) -> None:
    register("faulty_mse", FaultyLoss, description="MSE that turns non-finite or raises on request")


@hookimpl
def tvae_register_models(register: Any) -> None:
    register(
        "latent_nan_model",
        LatentNaNModel,
        description="toy autoencoder with a NaN latent on request",
    )


@hookimpl
def tvae_register_metrics(register: Any) -> None:
    register("raising_metric", raising_metric, description="a metric that raises")


@hookimpl
def tvae_register_callbacks(register: Any) -> None:
    register("chaos", Chaos, description="SIGKILL at a planned moment (TVAE_CHAOS)")
    register("raising_callback", RaisingCallback, description="a callback that raises")
