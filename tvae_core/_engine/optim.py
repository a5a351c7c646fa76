"""Factories of the built-in optimizers and learning-rate schedules.

The optimizers are torch's own (``torch.optim.Adam``, ``AdamW``, ``SGD``), in subclasses
that differ in one thing: outside ``torch.compile`` they do not import ``torch._dynamo``.
torch's ``Optimizer`` wraps ``add_param_group`` (called by the constructor), ``zero_grad``,
``state_dict``, ``load_state_dict`` and ``step`` in decorators whose first call imports
``torch._dynamo`` (1.8-2.7 s on a shared 2-core CPU, about as long as ``import torch``) only to
tell the compiler to leave them alone. The subclasses call the functions under those
decorators when nothing is being compiled (``torch.compiler.is_compiling()``), and torch's
decorated methods when something is; the steps, states and hooks are torch's, bit for bit
(``tests/core/test_optim_no_dynamo.py``). Should a torch release wrap them otherwise, the
subclasses call torch's methods as they are (correct, only slower to start).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

#: torch's wrappers whose first call imports torch._dynamo: (file, function) of their code.
_DYNAMO_WRAPPERS = frozenset(
    {
        ("_compile.py", "inner"),  # torch._disable_dynamo
        ("optimizer.py", "_use_grad"),  # _use_grad_for_differentiable (step)
        ("optimizer.py", "wrapper"),  # profile_hook_step (torch re-adds it to our step)
    }
)


def _unwrapped(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` without the torch wrappers of :data:`_DYNAMO_WRAPPERS` around it."""
    while True:
        code = getattr(func, "__code__", None)
        inner = getattr(func, "__wrapped__", None)
        if code is None or inner is None:
            return func
        if (os.path.basename(code.co_filename), code.co_name) not in _DYNAMO_WRAPPERS:
            return func
        func = inner


class EagerStart(torch.optim.Optimizer):
    """A torch optimizer that does not import ``torch._dynamo`` outside ``torch.compile``.

    Public as :class:`tvae_core.optim.EagerStart`: it calls torch's own ``Optimizer``
    methods without their compiler wrappers, so it must come before torch's ``Optimizer`` in
    a subclass's MRO and after any class whose overrides should still run.
    """

    def _eager(self, name: str, *args: Any) -> Any:
        method = getattr(super(), name)
        if torch.compiler.is_compiling():
            return method(*args)
        return _unwrapped(method.__func__)(self, *args)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        self._eager("add_param_group", param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._eager("zero_grad", set_to_none)

    def state_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = self._eager("state_dict")
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._eager("load_state_dict", state_dict)

    def step(self, closure: Callable[[], float] | None = None) -> Any:
        method = super().step
        raw = _unwrapped(method.__func__)  # type: ignore[attr-defined]
        if torch.compiler.is_compiling() or raw is method.__func__:  # type: ignore[attr-defined]
            return method(closure)
        # what torch's _use_grad does around the step, but the compiler's graph break
        previous = torch.is_grad_enabled()
        try:
            torch.set_grad_enabled(self.defaults["differentiable"])
            return raw(self, closure)
        finally:
            torch.set_grad_enabled(previous)


class Adam(EagerStart, torch.optim.Adam):
    """``torch.optim.Adam`` that starts without importing ``torch._dynamo``."""


class AdamW(EagerStart, torch.optim.AdamW):
    """``torch.optim.AdamW`` that starts without importing ``torch._dynamo``."""


class SGD(EagerStart, torch.optim.SGD):
    """``torch.optim.SGD`` that starts without importing ``torch._dynamo``."""


def _fused_ok(params: list[Any]) -> bool | None:
    """Fused Adam kernels exist for floating tensors on CPU and CUDA in recent torch."""
    tensors = [
        p for group in params for p in (group["params"] if isinstance(group, dict) else [group])
    ]
    if not tensors or not all(
        isinstance(t, torch.Tensor) and t.is_floating_point() for t in tensors
    ):
        return None
    devices = {t.device.type for t in tensors}
    return True if devices <= {"cpu", "cuda"} and len(devices) == 1 else None


def adam(
    params: Iterable[Any],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    fused: bool | None = None,
) -> torch.optim.Optimizer:
    """Adam.

    Args:
        lr: learning rate.
        betas: coefficients of the running averages of the gradient and its square.
        eps: term added to the denominator for numerical stability.
        weight_decay: L2 penalty added to the gradient.
        fused: use the fused kernel; None picks it when every parameter allows it.
    """
    params = list(params)
    if fused is None:
        fused = _fused_ok(params)
    return Adam(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=fused)


def adamw(
    params: Iterable[Any],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    fused: bool | None = None,
) -> torch.optim.Optimizer:
    """AdamW.

    Args:
        lr: learning rate.
        betas: coefficients of the running averages of the gradient and its square.
        eps: term added to the denominator for numerical stability.
        weight_decay: decoupled weight decay.
        fused: use the fused kernel; None picks it when every parameter allows it.
    """
    params = list(params)
    if fused is None:
        fused = _fused_ok(params)
    return AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=fused)


def sgd(
    params: Iterable[Any],
    lr: float = 1e-2,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """SGD.

    Args:
        lr: learning rate.
        momentum: momentum factor.
        nesterov: use Nesterov momentum.
        weight_decay: L2 penalty added to the gradient.
    """
    return SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)


def constant(optimizer: torch.optim.Optimizer) -> LRScheduler:
    """Constant learning rate."""
    return LambdaLR(optimizer, lambda epoch: 1.0)


def cosine(
    optimizer: torch.optim.Optimizer, total_epochs: int = 100, min_lr_ratio: float = 0.0
) -> LRScheduler:
    """Cosine decay per epoch.

    Args:
        total_epochs: epochs of the decay; filled from the run's ``epochs`` when unset.
        min_lr_ratio: final learning rate as a fraction of the base rate.
    """
    return warmup_cosine(
        optimizer, warmup_epochs=0, total_epochs=total_epochs, min_lr_ratio=min_lr_ratio
    )


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    warmup_epochs: int = 5,
    total_epochs: int = 100,
    min_lr_ratio: float = 0.0,
    warmup_start_ratio: float = 0.1,
) -> LRScheduler:
    """Linear warm-up, then cosine decay, stepped per epoch.

    Args:
        warmup_epochs: epochs of linear warm-up.
        total_epochs: epochs of the whole schedule; filled from the run's ``epochs`` when unset.
        min_lr_ratio: final learning rate as a fraction of the base rate.
        warmup_start_ratio: first epoch's learning rate as a fraction of the base rate.
    """
    if warmup_epochs < 0 or total_epochs < 1:
        raise ValueError("warmup_epochs must be >= 0 and total_epochs >= 1")
    if not 0.0 <= min_lr_ratio <= 1.0:
        raise ValueError(f"min_lr_ratio must lie in [0, 1], got {min_lr_ratio}")

    def factor(epoch: int) -> float:
        if epoch < warmup_epochs:
            return warmup_start_ratio + (1.0 - warmup_start_ratio) * epoch / max(1, warmup_epochs)
        span = max(1, total_epochs - warmup_epochs)
        progress = min(1.0, (epoch - warmup_epochs) / span)
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
